"""The ``.hsr`` session file: layout, record types and payload codecs.

A recording is one append-only file::

    file header (16 bytes)
        magic        8 bytes  b"\\x89HSR\\r\\n\\x1a\\n"  (catches text-mode and 7-bit mangling)
        major        u16 LE   format version; a reader refuses a newer major
        minor        u16 LE   additions a reader may skip (new record types)
        header_crc   u32 LE   CRC32 of the 12 bytes above
    record*
        sync         4 bytes  b"HSr\\x1e"
        type         u8       see :class:`RecordType`
        flags        u8       bit 0: payload is zlib-compressed
        reserved     u16      0
        length       u32 LE   payload bytes
        payload_crc  u32 LE   CRC32 of the payload as stored
        header_crc   u32 LE   CRC32 of the 16 bytes above
        payload      length bytes

The header CRC makes the length trustworthy: a reader that finds a valid header can skip a
record whose payload is damaged, and a valid header whose payload runs past the end of the file
is an *incomplete* last record (a crash or a file still being written), not damage. Anything
else is damage: the reader scans forward for the next sync word whose header CRC checks.

Payloads: JSON (UTF-8) for metadata, calibration, markers, events and summaries; an *array
bundle* for bulk data: ``u32 LE json_length``, a JSON header naming each array (name, numpy
dtype string, shape) plus any scalar fields, then the arrays' bytes back to back in that order.
Bulk records hold about half a second of data, so the per-record overhead (about 150 bytes
with the JSON header) stays well under 1 %.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from hipsense.errors import InputFormatError
from hipsense.types import (
    ConnectionStart,
    Marker,
    RawNotification,
    SampleBlock,
    SensorEvent,
    check_role,
)

MAGIC = b"\x89HSR\r\n\x1a\n"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0
FILE_HEADER = struct.Struct("<8sHHI")
FILE_HEADER_SIZE = FILE_HEADER.size  # 16

SYNC = b"HSr\x1e"
RECORD_HEADER = struct.Struct("<4sBBHII")  # sync, type, flags, reserved, length, payload_crc
RECORD_HEADER_SIZE = RECORD_HEADER.size + 4  # + header_crc = 20
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
FLAG_ZLIB = 0x01

SUFFIX = ".hsr"


class RecordType(IntEnum):
    """Kinds of record; values are stored in the file and never reused."""

    METADATA = 1
    CALIBRATION = 2
    MARKER = 3
    EVENT = 4
    RAW = 5
    SAMPLES = 6
    SUMMARY = 7


@dataclass
class SensorInfo:
    """One sensor of a session, as known when recording started.

    ``rate_hz`` is the nominal output rate; firmware and battery are None when unknown.
    """

    role: str
    protocol: str = "unknown"
    address: str = ""
    rate_hz: float | None = None
    firmware: str | None = None
    battery_pct: float | None = None


@dataclass
class SessionMetadata:
    """What a recording is about; the first record of every file.

    Attributes
    ----------
    subject : pseudonym or name of the person measured ("" if not given).
    created_utc : ISO 8601 UTC time the recording started.
    software_version : hipsense version that wrote it.
    source : ``ble``, ``simulator`` or ``csv-import``.
    sensors : one :class:`SensorInfo` per role.
    session_start_ns : host ``time.monotonic_ns()`` at session time 0 (live sessions; the
        clock stage needs it to map raw notifications onto the session clock again).
    extra : anything else JSON-ready (scenario name, seed, operator notes...).
    """

    subject: str = ""
    created_utc: str = ""
    software_version: str = ""
    source: str = "ble"
    sensors: list[SensorInfo] = field(default_factory=list)
    session_start_ns: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation."""
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> SessionMetadata:
        """Inverse of :meth:`to_dict`; unknown keys (from newer versions) are ignored."""
        known = {f for f in SensorInfo.__dataclass_fields__}
        sensors = [SensorInfo(**{k: v for k, v in s.items() if k in known}) for s in d["sensors"]]
        return SessionMetadata(
            subject=str(d.get("subject", "")),
            created_utc=str(d.get("created_utc", "")),
            software_version=str(d.get("software_version", "")),
            source=str(d.get("source", "")),
            sensors=sensors,
            session_start_ns=None
            if d.get("session_start_ns") is None
            else int(d["session_start_ns"]),
            extra=dict(d.get("extra", {})),
        )

    def rates_hz(self) -> dict[str, float]:
        """Nominal rate of each role whose rate is known."""
        return {s.role: float(s.rate_hz) for s in self.sensors if s.rate_hz}


def file_header() -> bytes:
    """The 16 bytes every recording starts with."""
    head = FILE_HEADER.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, 0)[:12]
    return head + struct.pack("<I", zlib.crc32(head))


def encode_record(kind: RecordType, payload: bytes, compress: bool = False) -> bytes:
    """Frame ``payload`` as one record (header + payload)."""
    flags = 0
    if compress:
        packed = zlib.compress(payload, 6)
        if len(packed) < len(payload):
            payload, flags = packed, FLAG_ZLIB
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"record payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    head = RECORD_HEADER.pack(SYNC, int(kind), flags, 0, len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def parse_record_header(buf: bytes) -> tuple[int, int, int, int] | None:
    """``(type, flags, length, payload_crc)`` of a 20-byte header, or None if it is not valid."""
    if len(buf) < RECORD_HEADER_SIZE or buf[:4] != SYNC:
        return None
    (header_crc,) = struct.unpack_from("<I", buf, 16)
    if zlib.crc32(buf[:16]) != header_crc:
        return None
    _, kind, flags, _, length, payload_crc = RECORD_HEADER.unpack_from(buf, 0)
    if length > MAX_PAYLOAD_BYTES:
        return None
    return kind, flags, length, payload_crc


# --- JSON payloads -------------------------------------------------------------------------


def encode_json(value: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (NaN is refused: it is not JSON)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")


def decode_json(payload: bytes) -> dict[str, Any]:
    """Inverse of :func:`encode_json`."""
    value = json.loads(payload.decode("utf-8"))
    if not isinstance(value, dict):
        raise InputFormatError("record payload is not a JSON object")
    return value


def marker_to_dict(marker: Marker) -> dict[str, Any]:
    """JSON-ready form of a :class:`Marker`."""
    return asdict(marker)


def marker_from_dict(d: dict[str, Any]) -> Marker:
    """Inverse of :func:`marker_to_dict`."""
    end = d.get("end_s")
    return Marker(
        float(d["start_s"]),
        None if end is None else float(end),
        str(d["exercise"]),
        d.get("side"),
        str(d.get("text", "")),
    )


def event_to_dict(event: SensorEvent) -> dict[str, Any]:
    """JSON-ready form of a :class:`SensorEvent`."""
    return asdict(event)


def event_from_dict(d: dict[str, Any]) -> SensorEvent:
    """Inverse of :func:`event_to_dict`."""
    return SensorEvent(
        str(d["role"]), str(d["kind"]), float(d["time_s"]), str(d["message"]), dict(d["detail"])
    )


# --- array bundles -------------------------------------------------------------------------


CONNECTION_START = "connection_start"
"""Kind of the EVENT record that stores a :class:`~hipsense.types.ConnectionStart`: the writer
seals the raw notifications before it, so the record sits between the last notification of
the old connection and the first of the new one (readers that do not know the kind see a
sensor event)."""


def connection_event(start: ConnectionStart, time_s: float) -> SensorEvent:
    """The EVENT record's form of ``start`` at session time ``time_s``."""
    return SensorEvent(
        start.role,
        CONNECTION_START,
        time_s,
        f"{start.role} sensor {start.address}: a new connection starts",
        {"address": start.address, "host_time_ns": int(start.host_time_ns)},
    )


def connection_start(event: SensorEvent) -> ConnectionStart:
    """The :class:`~hipsense.types.ConnectionStart` an EVENT record of kind
    :data:`CONNECTION_START` stores."""
    return ConnectionStart(
        event.role, str(event.detail.get("address", "")), int(event.detail.get("host_time_ns", 0))
    )


def encode_bundle(fields: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> bytes:
    """``fields`` (JSON scalars) + named arrays -> bytes (little-endian, C order)."""
    spec = []
    blobs = []
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        spec.append([name, a.dtype.str, list(a.shape)])
        blobs.append(a.tobytes())
    head = encode_json({**fields, "arrays": spec})
    return struct.pack("<I", len(head)) + head + b"".join(blobs)


def decode_bundle(payload: bytes) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """Inverse of :func:`encode_bundle`; arrays are read-only views of ``payload``."""
    (n,) = struct.unpack_from("<I", payload, 0)
    head = decode_json(payload[4 : 4 + n])
    offset = 4 + n
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, dtype_str, shape in head.pop("arrays"):
        dtype = np.dtype(dtype_str)
        count = int(np.prod(shape)) if shape else 1
        arr = np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(shape)
        arrays[name] = arr
        offset += count * dtype.itemsize
    if offset != len(payload):
        raise InputFormatError(f"array bundle: {len(payload) - offset} bytes left over")
    return head, arrays


def encode_samples(block: SampleBlock, dtype: str = "<f8") -> bytes:
    """A :class:`SampleBlock` as a bundle; time is always float64, signals in ``dtype``."""
    arrays: dict[str, npt.NDArray[Any]] = {
        "time_s": np.asarray(block.time_s, dtype="<f8"),
        "acc_m_s2": np.asarray(block.acc_m_s2, dtype=dtype),
        "gyr_rad_s": np.asarray(block.gyr_rad_s, dtype=dtype),
    }
    if block.mag_uT is not None:
        arrays["mag_uT"] = np.asarray(block.mag_uT, dtype=dtype)
    t = block.time_s
    fields = {"role": block.role, "n": len(block), "t0_s": float(t[0]), "t1_s": float(t[-1])}
    return encode_bundle(fields, arrays)


def decode_samples(payload: bytes) -> SampleBlock:
    """Inverse of :func:`encode_samples` (signals come back as float64)."""
    head, arrays = decode_bundle(payload)

    def f8(name: str) -> npt.NDArray[np.float64]:
        return np.asarray(arrays[name], dtype=np.float64)

    mag = f8("mag_uT") if "mag_uT" in arrays else None
    return SampleBlock(
        check_role(str(head["role"])), f8("time_s"), f8("acc_m_s2"), f8("gyr_rad_s"), mag
    )


def encode_raw(notes: list[RawNotification]) -> bytes:
    """A batch of notifications (any roles) as a bundle."""
    sources: list[tuple[str, str]] = []
    index: dict[tuple[str, str], int] = {}
    src = np.empty(len(notes), dtype="<u2")
    for i, n in enumerate(notes):
        key = (n.role, n.address)
        if key not in index:
            index[key] = len(sources)
            sources.append(key)
        src[i] = index[key]
    times = np.fromiter((n.host_time_ns for n in notes), dtype="<i8", count=len(notes))
    lengths = np.fromiter((len(n.data) for n in notes), dtype="<u4", count=len(notes))
    data = np.frombuffer(b"".join(n.data for n in notes), dtype="u1")
    fields = {
        "sources": [list(s) for s in sources],
        "n": len(notes),
        "t0_ns": int(times[0]) if len(notes) else 0,
        "t1_ns": int(times[-1]) if len(notes) else 0,
    }
    return encode_bundle(
        fields, {"source": src, "host_time_ns": times, "length": lengths, "data": data}
    )


def decode_raw(payload: bytes) -> list[RawNotification]:
    """Inverse of :func:`encode_raw`."""
    head, arrays = decode_bundle(payload)
    sources = [(check_role(r), str(a)) for r, a in head["sources"]]
    data = arrays["data"].tobytes()
    ends = np.cumsum(arrays["length"].astype(np.int64))
    starts = ends - arrays["length"]
    out = []
    for s, t, a, b in zip(
        arrays["source"].tolist(),
        arrays["host_time_ns"].tolist(),
        starts.tolist(),
        ends.tolist(),
        strict=True,
    ):
        role, address = sources[s]
        out.append(RawNotification(role, address, int(t), data[a:b]))
    return out
