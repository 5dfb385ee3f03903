"""Movesense GATT SensorData Protocol (GSP): subscribe to ``/Meas/IMU6`` or ``/Meas/IMU9``.

Wire format (little-endian, IEEE-754 float32)
---------------------------------------------
* Service ``34802252-7185-4d5d-b431-630e7050e8f0``; the host writes commands to
  ``34800001-...`` and receives packets on ``34800002-...`` (same base).
* Commands: ``00`` HELLO, ``01 ref`` + ASCII resource path SUBSCRIBE (``/Meas/IMU6/104``),
  ``02 ref`` UNSUBSCRIBE. ``ref`` is a byte the client picks; every packet of that
  subscription carries it back.
* Packets: byte 0 type (2 = DATA, 3 = DATA_PART2), byte 1 ref. A DATA frame is a u32
  millisecond timestamp (sensor clock, first sample) followed by the sample arrays one sensor
  after the other: n acc vectors (m/s^2), n gyro vectors (deg/s), for IMU9 n magnetometer
  vectors (uT). Nothing states n: it is ``(len - 6) / (12 * sensors)``. Sample i was taken
  at ``timestamp + i * 1000 / rate`` ms. The frame carries no rate either, so a decoder is
  built for one measurement at one rate (:func:`spec_for`).
* A frame longer than a notification (IMU9 at 8 samples: 294 bytes > 244 at ATT MTU 247)
  is sent as DATA with the first bytes and DATA_PART2 whose bytes after its own 2-byte
  header continue the frame.
* Battery: not in GSP (the device reports it through its REST-like API), and the GSP
  firmware has no standard Battery Service to read.

Ambiguity: a first part whose length happens to be a whole number of samples (an ATT MTU
with ``MTU - 9`` a multiple of 24 for IMU6 or 36 for IMU9; not 23, 185 or 247) looks like
a short frame. Give the decoder ``samples_per_frame`` when such an MTU is in use.

Sources
-------
Movesense GATT SensorData protocol documentation, movesense.com/docs/esw/gatt_sensordata_protocol,
and the gatt_sensordata_app sample client (UUIDs, command bytes, packet types, frame layout,
units, 8 samples per IMU notification at 104 Hz). See ``firmware_notes/movesense.md``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hipsense.sensors.protocols.base import (
    DEG_TO_RAD,
    STANDARD_GRAVITY_M_S2,
    BatteryStatus,
    DecodedSamples,
    GattWrite,
    ProtocolDecoder,
    ProtocolSpec,
    TimestampUnwrapper,
)

SERVICE_UUID = "34802252-7185-4d5d-b431-630e7050e8f0"
WRITE_CHAR_UUID = "34800001-7185-4d5d-b431-630e7050e8f0"
NOTIFY_CHAR_UUID = "34800002-7185-4d5d-b431-630e7050e8f0"

CMD_HELLO = 0x00
CMD_SUBSCRIBE = 0x01
CMD_UNSUBSCRIBE = 0x02
PACKET_DATA = 0x02
PACKET_DATA_PART2 = 0x03

HEADER_LEN = 2
"""Packet type and ref."""
FRAME_HEADER_LEN = HEADER_LEN + 4
"""Header plus the u32 millisecond timestamp."""
VECTOR_LEN = 12
"""One x, y, z float32 vector."""
TIME_TICK_S = 1e-3

SENSORS_PER_MEASUREMENT = {"IMU6": 2, "IMU9": 3}
"""Vectors per sample: acc and gyro, plus magnetometer for IMU9."""
DEFAULT_MEASUREMENT = "IMU6"
SUPPORTED_RATES_HZ = (13.0, 26.0, 52.0, 104.0, 208.0, 416.0, 833.0, 1666.0)
DEFAULT_RATE_HZ = 104.0
SAMPLES_PER_FRAME = 8
"""Samples per IMU frame at 104 Hz (the sample client)."""
DEFAULT_REF = 0x2A
"""The ref hipsense puts in its SUBSCRIBE (any byte works; one subscription per sensor)."""

# Plausibility: twice the largest range of the Movesense IMU (acc +-16 g, gyro +-2000 deg/s,
# magnetometer +-4900 uT). A frame outside is garbage that happened to have a valid length.
ACC_LIMIT_M_S2 = 32.0 * STANDARD_GRAVITY_M_S2
GYR_LIMIT_DEG_S = 4000.0
MAG_LIMIT_UT = 10_000.0
_LIMITS = (ACC_LIMIT_M_S2, GYR_LIMIT_DEG_S, MAG_LIMIT_UT)
_LIMITS_ARRAY = np.array(_LIMITS, dtype=np.float32)

_PATH = re.compile(r"/Meas/(IMU6|IMU9)/(\d+)")


def resource_path(measurement: str = DEFAULT_MEASUREMENT, rate_hz: float = DEFAULT_RATE_HZ) -> str:
    """``/Meas/IMU6/104``: the resource a SUBSCRIBE names; raises ValueError if unsupported."""
    if measurement not in SENSORS_PER_MEASUREMENT:
        raise ValueError(f"Movesense measurement {measurement!r}: use IMU6 or IMU9")
    if float(rate_hz) not in SUPPORTED_RATES_HZ:
        raise ValueError(f"Movesense IMU rate {rate_hz} Hz unsupported; use {SUPPORTED_RATES_HZ}")
    return f"/Meas/{measurement}/{int(rate_hz)}"


def parse_resource_path(path: str) -> tuple[str, float] | None:
    """(measurement, rate Hz) of an IMU resource path, None for anything else."""
    m = _PATH.fullmatch(path)
    if m is None or float(m[2]) not in SUPPORTED_RATES_HZ:
        return None
    return m[1], float(m[2])


def frame_length(measurement: str, n_samples: int) -> int:
    """Bytes of a whole DATA frame of ``n_samples`` samples."""
    return FRAME_HEADER_LEN + VECTOR_LEN * SENSORS_PER_MEASUREMENT[measurement] * n_samples


def min_att_mtu(measurement: str, n_samples: int = SAMPLES_PER_FRAME) -> int:
    """Smallest ATT MTU carrying one frame as DATA plus at most one DATA_PART2."""
    # 2 * (mtu - 3) - HEADER_LEN >= frame length
    return (frame_length(measurement, n_samples) + HEADER_LEN + 1) // 2 + 3


class MovesenseDecoder(ProtocolDecoder):
    """Decoder of one GSP IMU subscription, reassembling DATA + DATA_PART2.

    Parameters
    ----------
    measurement : ``"IMU6"`` (acc, gyro) or ``"IMU9"`` (plus magnetometer).
    rate_hz : the subscribed rate (spaces the samples of a frame; the frame does not say).
    ref : the ref byte of the subscription; packets with another ref are malformed here.
    samples_per_frame : samples of a whole frame, if known. Then a DATA shorter than that
        always waits for its DATA_PART2; if None, any DATA with whole samples is a frame.

    Attributes
    ----------
    frames_decoded : whole frames decoded (one per subscription period).
    frames_reassembled : of which joined from DATA + DATA_PART2.
    """

    def __init__(
        self,
        measurement: str = DEFAULT_MEASUREMENT,
        rate_hz: float = DEFAULT_RATE_HZ,
        ref: int = DEFAULT_REF,
        samples_per_frame: int | None = None,
    ) -> None:
        super().__init__()
        resource_path(measurement, rate_hz)  # validates both
        self.measurement = measurement
        self.rate_hz = float(rate_hz)
        self.ref = int(ref) & 0xFF
        self.sensors = SENSORS_PER_MEASUREMENT[measurement]
        self.sample_len = VECTOR_LEN * self.sensors
        self.min_payload = self.sample_len * (samples_per_frame or 1)
        self.period_ms = 1000.0 / self.rate_hz
        self.frames_decoded = 0
        self.frames_reassembled = 0
        self._time = TimestampUnwrapper(32)

    def reset(self) -> None:
        """Forget a pending first part and the timestamp unwrapping state."""
        super().reset()
        self._time = TimestampUnwrapper(32)

    def _whole(self, frame_len: int) -> bool:
        payload = frame_len - FRAME_HEADER_LEN
        return payload >= self.min_payload and payload % self.sample_len == 0

    def _feed(self, data: bytes, host_time_ns: int) -> DecodedSamples:
        if not data:
            return DecodedSamples.empty()
        kind = data[0]
        if kind not in (PACKET_DATA, PACKET_DATA_PART2):
            self._malformed(
                len(data), f"movesense: packet type {kind} is neither DATA (2) nor DATA_PART2 (3)"
            )
            return DecodedSamples.empty()
        if len(data) < HEADER_LEN or data[1] != self.ref:
            got = "no ref" if len(data) < HEADER_LEN else f"ref {data[1]}"
            self._malformed(len(data), f"movesense: {got}, this subscription's ref is {self.ref}")
            return DecodedSamples.empty()
        if kind == PACKET_DATA:
            return self._first_part(data, host_time_ns)
        return self._second_part(data, host_time_ns)

    def _first_part(self, data: bytes, host_time_ns: int) -> DecodedSamples:
        if self._pending:
            lost = len(self._pending)
            self._pending = b""
            self._malformed(
                lost, f"movesense: a {lost}-byte DATA never got its DATA_PART2 (a new DATA came)"
            )
        if self._whole(len(data)):
            return self._decode(data, len(data), host_time_ns)
        self._pending = data  # the rest comes as DATA_PART2
        return DecodedSamples.empty()

    def _second_part(self, data: bytes, host_time_ns: int) -> DecodedSamples:
        if not self._pending:
            self._malformed(len(data), "movesense: DATA_PART2 without a DATA before it")
            return DecodedSamples.empty()
        first = self._pending
        self._pending = b""
        frame = first + data[HEADER_LEN:]
        if not self._whole(len(frame)):
            self._malformed(
                len(first) + len(data),
                f"movesense: DATA + DATA_PART2 make {len(frame)} bytes, not "
                f"{FRAME_HEADER_LEN} + a whole number of {self.sample_len}-byte samples",
            )
            return DecodedSamples.empty()
        out = self._decode(frame, len(first) + len(data), host_time_ns)
        self.frames_reassembled += bool(len(out))
        return out

    def _decode(self, frame: bytes, n_bytes: int, host_time_ns: int) -> DecodedSamples:
        """Decode a whole frame that arrived as ``n_bytes`` of notifications."""
        n = (len(frame) - FRAME_HEADER_LEN) // self.sample_len
        v = np.frombuffer(frame, dtype="<f4", offset=FRAME_HEADER_LEN).reshape(self.sensors, n, 3)
        problem = _implausible(v)
        if problem:
            self._malformed(n_bytes, f"movesense: {problem} in a {n}-sample frame")
            return DecodedSamples.empty()
        self.bytes_accepted += n_bytes
        t_ms = self._time.unwrap_one(int.from_bytes(frame[HEADER_LEN:FRAME_HEADER_LEN], "little"))
        self.frames_decoded += 1
        t_s = (t_ms + np.arange(n, dtype=np.float64) * self.period_ms) * TIME_TICK_S
        return self._samples(v, t_s, host_time_ns)

    def _samples(
        self,
        v: npt.NDArray[np.float32],
        sensor_time_s: npt.NDArray[np.float64],
        host_time_ns: int | npt.NDArray[np.int64],
    ) -> DecodedSamples:
        """(sensors, N, 3) float32 vectors -> samples in SI units."""
        n = v.shape[1]
        return DecodedSamples(
            acc_m_s2=v[0].astype(np.float64),
            gyr_rad_s=v[1].astype(np.float64) * DEG_TO_RAD,
            host_time_ns=np.broadcast_to(np.asarray(host_time_ns, dtype=np.int64), (n,)).copy(),
            mag_uT=v[2].astype(np.float64) if self.sensors == 3 else None,
            sensor_time_s=sensor_time_s,
        )

    def feed_many(
        self, notifications: Sequence[bytes], host_times_ns: Sequence[int]
    ) -> DecodedSamples:
        """Same result as ``feed`` on each; a burst of whole, equal DATA frames is vectorised."""
        out = self._feed_uniform(notifications, host_times_ns)
        return out if out is not None else super().feed_many(notifications, host_times_ns)

    def _feed_uniform(
        self, notifications: Sequence[bytes], host_times_ns: Sequence[int]
    ) -> DecodedSamples | None:
        """Runs of equal whole DATA frames, or of equal (DATA, DATA_PART2) pairs; else None."""
        if self._pending or len(notifications) < 2:
            return None
        lengths = [len(notifications[0]), len(notifications[1])]
        parts = 1 if self._whole(lengths[0]) else 2
        length = lengths[0] if parts == 1 else lengths[0] + lengths[1] - HEADER_LEN
        if (
            not self._whole(length)
            or len(notifications) % parts
            or any(len(b) != lengths[k % parts] for k, b in enumerate(notifications))
        ):
            return None
        if parts == 1:
            body = b"".join(notifications)
            hosts = np.asarray(host_times_ns, dtype=np.int64)
        else:
            seconds = notifications[1::2]
            if any(b[0] != PACKET_DATA_PART2 or b[1] != self.ref for b in seconds):
                return None
            firsts = notifications[::2]
            body = b"".join(a + b[HEADER_LEN:] for a, b in zip(firsts, seconds, strict=True))
            hosts = np.asarray(host_times_ns, dtype=np.int64)[1::2]  # completed by PART2
        n = (length - FRAME_HEADER_LEN) // self.sample_len
        dtype = np.dtype(
            [("kind", "u1"), ("ref", "u1"), ("t", "<u4"), ("v", "<f4", (self.sensors, n, 3))]
        )
        frames = np.frombuffer(body, dtype=dtype)
        if (
            not bool(np.all(frames["kind"] == PACKET_DATA))
            or not bool(np.all(frames["ref"] == self.ref))
            or _implausible(frames["v"])
        ):
            return None  # the per-notification path counts what is wrong, one by one
        n_bytes = sum(lengths) * (len(notifications) // parts)
        self.bytes_received += n_bytes
        self.bytes_accepted += n_bytes
        self.frames_decoded += frames.shape[0]
        self.frames_reassembled += frames.shape[0] if parts == 2 else 0
        t_ms = self._time.unwrap(frames["t"])
        t_s = ((t_ms[:, None] + np.arange(n) * self.period_ms) * TIME_TICK_S).ravel()
        v = np.moveaxis(frames["v"], 1, 0).reshape(self.sensors, -1, 3)
        out = self._samples(v, t_s, np.repeat(hosts, n))
        self.records_decoded += len(out)
        return out


def _implausible(v: npt.NDArray[np.float32]) -> str | None:
    """Why float32 vectors (..., sensors, N, 3) cannot be measurements, or None."""
    sensors = v.shape[-3]
    # One reduction on the hot path; NaN fails the comparison like a value out of range.
    peak = np.abs(v).max(axis=(-2, -1), initial=0.0).reshape(-1, sensors)
    if bool(np.all(peak <= _LIMITS_ARRAY[:sensors])):
        return None
    if not bool(np.all(np.isfinite(v))):
        return "non-finite values"
    k = int(np.argmax(np.any(peak > _LIMITS_ARRAY[:sensors], axis=0)))
    return f"values beyond {_LIMITS[k]:g} ({['acc', 'gyro', 'mag'][k]})"


# --- encoders (the virtual sensor's side) -------------------------------------------------------


def encode_frames(
    t_ms: npt.ArrayLike,
    acc_m_s2: npt.ArrayLike,
    gyr_rad_s: npt.ArrayLike,
    mag_uT: npt.ArrayLike | None = None,
    samples_per_frame: int = SAMPLES_PER_FRAME,
    ref: int = DEFAULT_REF,
) -> list[bytes]:
    """Whole DATA frames (before any split) for N consecutive samples.

    Parameters
    ----------
    t_ms : (N,) sensor time of each sample in milliseconds; a frame carries its first
        sample's, rounded, modulo 2**32.
    acc_m_s2, gyr_rad_s : (N, 3); the gyro is sent in deg/s as the device does.
    mag_uT : (N, 3) for IMU9 frames; None gives IMU6 frames.
    samples_per_frame : samples per frame (the last frame may be shorter).

    Examples
    --------
    >>> [len(f) for f in encode_frames(np.arange(10) * 9.6, np.zeros((10, 3)), np.zeros((10, 3)))]
    [198, 54]
    """
    acc = np.atleast_2d(np.asarray(acc_m_s2, dtype=np.float64))
    parts = [acc, np.atleast_2d(np.asarray(gyr_rad_s, dtype=np.float64)) / DEG_TO_RAD]
    if mag_uT is not None:
        parts.append(np.atleast_2d(np.asarray(mag_uT, dtype=np.float64)))
    if any(p.shape != acc.shape or p.shape[1:] != (3,) for p in parts):
        raise ValueError("acc, gyr (and mag) must all be (N, 3)")
    vectors = np.stack(parts).astype("<f4")  # (sensors, N, 3)
    t = np.rint(np.asarray(t_ms, dtype=np.float64)).astype(np.int64) % (1 << 32)
    out = []
    for a in range(0, acc.shape[0], samples_per_frame):
        header = struct.pack("<BBI", PACKET_DATA, ref, int(t[a]))
        out.append(header + vectors[:, a : a + samples_per_frame].tobytes())
    return out


def split_frame(frame: bytes, max_len: int) -> list[bytes]:
    """One frame as notifications of at most ``max_len`` bytes (ATT MTU - 3).

    A frame that fits is sent as it is; otherwise DATA carries the first ``max_len`` bytes and
    DATA_PART2 (type 3, same ref) the rest. Raises ValueError when even two do not suffice.
    """
    if len(frame) <= max_len:
        return [frame]
    rest = frame[max_len:]
    if HEADER_LEN + len(rest) > max_len:
        raise ValueError(f"a {len(frame)}-byte frame does not fit two {max_len}-byte packets")
    return [frame[:max_len], bytes([PACKET_DATA_PART2, frame[1]]) + rest]


def encode_notifications(
    t_ms: npt.ArrayLike,
    acc_m_s2: npt.ArrayLike,
    gyr_rad_s: npt.ArrayLike,
    mag_uT: npt.ArrayLike | None = None,
    att_mtu: int = 247,
    samples_per_frame: int = SAMPLES_PER_FRAME,
    ref: int = DEFAULT_REF,
) -> list[bytes]:
    """The notifications a sensor sends at ``att_mtu``: frames, split where needed."""
    frames = encode_frames(t_ms, acc_m_s2, gyr_rad_s, mag_uT, samples_per_frame, ref)
    return [part for f in frames for part in split_frame(f, att_mtu - 3)]


# --- commands -----------------------------------------------------------------------------------


def command_hello(ref: int = DEFAULT_REF) -> bytes:
    """``00 ref``: HELLO (hipsense does not need it; the virtual sensor accepts it)."""
    return bytes([CMD_HELLO, ref])


def command_subscribe(
    measurement: str = DEFAULT_MEASUREMENT, rate_hz: float = DEFAULT_RATE_HZ, ref: int = DEFAULT_REF
) -> bytes:
    """``01 ref /Meas/IMU6/104``: subscribe to an IMU resource under ``ref``."""
    return bytes([CMD_SUBSCRIBE, ref]) + resource_path(measurement, rate_hz).encode("ascii")


def command_unsubscribe(ref: int = DEFAULT_REF) -> bytes:
    """``02 ref``: end the subscription ``ref``."""
    return bytes([CMD_UNSUBSCRIBE, ref])


def parse_command(data: bytes) -> tuple[str, int, str] | None:
    """A write for the virtual sensor: ("hello" | "subscribe" | "unsubscribe", ref, path)."""
    if len(data) < 2:
        return None
    ref = data[1]
    if data[0] == CMD_HELLO and len(data) == 2:
        return ("hello", ref, "")
    if data[0] == CMD_UNSUBSCRIBE and len(data) == 2:
        return ("unsubscribe", ref, "")
    if data[0] == CMD_SUBSCRIBE and len(data) > 2:
        try:
            return ("subscribe", ref, data[2:].decode("ascii"))
        except UnicodeDecodeError:
            return None
    return None


def _no_battery(_data: bytes) -> BatteryStatus | None:
    return None


def spec_for(
    measurement: str = DEFAULT_MEASUREMENT,
    rate_hz: float = DEFAULT_RATE_HZ,
    ref: int = DEFAULT_REF,
    samples_per_frame: int | None = None,
) -> ProtocolSpec:
    """The Movesense descriptor for one IMU measurement at one rate.

    The rate is fixed per descriptor because the frames do not carry it and the BLE layer
    builds decoders without one. Registered: ``movesense`` (IMU6, 104 Hz) and
    ``movesense_imu9`` (IMU9, 104 Hz).

    Examples
    --------
    >>> spec_for("IMU9").name, spec_for("IMU6", 52.0).name
    ('movesense_imu9', 'movesense_52hz')
    """
    path = resource_path(measurement, rate_hz)
    name = "movesense" if measurement == DEFAULT_MEASUREMENT else f"movesense_{measurement.lower()}"
    if float(rate_hz) != DEFAULT_RATE_HZ:
        name += f"_{int(rate_hz)}hz"

    def start(_rate_hz: float) -> list[GattWrite]:
        # Only the descriptor's rate can be decoded: the requested one maps to it.
        return [GattWrite(WRITE_CHAR_UUID, command_subscribe(measurement, rate_hz, ref))]

    def stop() -> list[GattWrite]:
        return [GattWrite(WRITE_CHAR_UUID, command_unsubscribe(ref))]

    return ProtocolSpec(
        name=name,
        service_uuids=(SERVICE_UUID,),
        data_char_uuid=NOTIFY_CHAR_UUID,
        control_char_uuids={"command": WRITE_CHAR_UUID},
        battery_char_uuid=None,
        supported_rates_hz=(float(rate_hz),),
        default_rate_hz=float(rate_hz),
        name_patterns=("movesense",) if path == resource_path() else (),
        new_decoder=lambda: MovesenseDecoder(measurement, rate_hz, ref, samples_per_frame),
        start_commands=start,
        stop_commands=stop,
        battery_request=lambda: [],
        parse_battery=_no_battery,
        min_att_mtu=min_att_mtu(measurement),
    )


SPEC = spec_for()
SPEC_IMU9 = spec_for("IMU9")
