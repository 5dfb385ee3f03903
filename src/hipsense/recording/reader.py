"""Reading ``.hsr`` recordings: streaming, damage-tolerant, safe on a file still being written.

The reader never loads the whole file: it reads one record header, then that record's payload,
and when something does not check out it scans forward in 1 MiB windows for the next sync word
whose header CRC is valid. Damage is *reported* (:class:`DamageReport`), never raised; the only
errors are a file that is not a recording at all, and a file from a newer format version.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from hipsense.body.calibration import Calibration
from hipsense.errors import InputFormatError
from hipsense.recording.format import (
    FILE_HEADER_SIZE,
    FLAG_ZLIB,
    FORMAT_MAJOR,
    FORMAT_MINOR,
    MAGIC,
    RECORD_HEADER_SIZE,
    SYNC,
    RecordType,
    SessionMetadata,
    decode_json,
    decode_raw,
    decode_samples,
    event_from_dict,
    marker_from_dict,
    parse_record_header,
)
from hipsense.types import Marker, RawNotification, SampleBlock, SensorEvent

SCAN_WINDOW_BYTES = 1 << 20
# A damaged header still counts as ours when at most this many magic bytes differ.
MAX_MAGIC_BYTES_DAMAGED = 2

RecordValue = (
    SessionMetadata
    | Calibration
    | Marker
    | SensorEvent
    | list[RawNotification]
    | SampleBlock
    | dict[str, Any]
)


@dataclass
class Record:
    """One intact record: its type, byte offset in the file and (decompressed) payload."""

    kind: int
    offset: int
    payload: bytes

    def value(self) -> RecordValue:
        """The decoded payload (see :class:`RecordType` for which class each kind gives)."""
        kind = self.kind
        if kind == RecordType.SAMPLES:
            return decode_samples(self.payload)
        if kind == RecordType.RAW:
            return decode_raw(self.payload)
        d = decode_json(self.payload)
        if kind == RecordType.METADATA:
            return SessionMetadata.from_dict(d)
        if kind == RecordType.CALIBRATION:
            return Calibration.from_dict(d)
        if kind == RecordType.MARKER:
            return marker_from_dict(d)
        if kind == RecordType.EVENT:
            return event_from_dict(d)
        return d


@dataclass
class DamageReport:
    """What a pass over a recording found besides intact records.

    Attributes
    ----------
    damaged : byte ranges ``[start, end)`` that could not be read (bad CRC, garbage).
    incomplete : byte range of a partial last record (a crash, or a file still being
        written), or None. Not damage: nothing after it was lost.
    header_damaged : the 16-byte file header failed its CRC (records were still read).
    records_ok : intact records found.
    unknown_records : intact records of a type this version does not know (skipped).
    undecodable_records : intact records whose payload could not be decoded (counted in
        ``damaged`` too).
    """

    damaged: list[tuple[int, int]] = field(default_factory=list)
    incomplete: tuple[int, int] | None = None
    header_damaged: bool = False
    records_ok: int = 0
    unknown_records: int = 0
    undecodable_records: int = 0

    @property
    def damaged_count(self) -> int:
        """Number of separate damaged regions."""
        return len(self.damaged)

    @property
    def damaged_bytes(self) -> int:
        """Total size of the damaged regions."""
        return sum(end - start for start, end in self.damaged)

    @property
    def clean(self) -> bool:
        """True when nothing was damaged and the file ends on a record boundary."""
        return not self.damaged and self.incomplete is None and not self.header_damaged

    def add_damage(self, start: int, end: int) -> None:
        """Record ``[start, end)`` as damaged, merging with an adjacent previous range."""
        if self.damaged and self.damaged[-1][1] >= start:
            self.damaged[-1] = (self.damaged[-1][0], max(end, self.damaged[-1][1]))
        else:
            self.damaged.append((start, end))

    def describe(self) -> str:
        """One line for the user."""
        parts = [f"{self.records_ok} intact records"]
        if self.header_damaged:
            parts.append("file header damaged")
        if self.damaged:
            ranges = ", ".join(f"{a}-{b}" for a, b in self.damaged[:5])
            more = f" (+{len(self.damaged) - 5} more)" if len(self.damaged) > 5 else ""
            parts.append(
                f"{self.damaged_count} damaged region(s), {self.damaged_bytes} bytes "
                f"lost at bytes {ranges}{more}"
            )
        if self.incomplete:
            a, b = self.incomplete
            parts.append(f"incomplete last record at bytes {a}-{b} (recording cut short)")
        if self.unknown_records:
            parts.append(f"{self.unknown_records} records of newer types skipped")
        return "; ".join(parts)


class RecordingReader:
    """Iterate the records of a ``.hsr`` file in order, with constant memory.

    Parameters
    ----------
    path : the recording.

    Raises
    ------
    InputFormatError
        if the file is not a hipsense recording, or was written by a newer format version.

    Examples
    --------
    >>> with RecordingReader("session.hsr") as rec:  # doctest: +SKIP
    ...     for item in rec.items():
    ...         print(type(item).__name__)
    ...     print(rec.damage.describe())
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._fh: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise InputFormatError(f"{self.path}: cannot read ({exc.strerror})") from None
        self.damage = DamageReport()
        self.format_version: tuple[int, int] | None = None
        self._header_checked = False
        self._header_damaged = False
        try:
            self._check_header()
        except InputFormatError:
            self._fh.close()
            raise

    # -- context manager ------------------------------------------------------------------
    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    # -- file header ----------------------------------------------------------------------
    def _check_header(self) -> bool:
        """Validate the file header once it is complete; False while it is still partial."""
        if self._header_checked:
            return True
        self._fh.seek(0)
        head = self._fh.read(FILE_HEADER_SIZE)
        name = str(self.path)
        if len(head) < FILE_HEADER_SIZE:
            if head != MAGIC[: len(head)] and not head.startswith(MAGIC):
                raise InputFormatError(f"{name}: not a hipsense recording (.hsr) file")
            return False
        magic = head[:8]
        differing = sum(a != b for a, b in zip(magic, MAGIC, strict=True))
        if differing > MAX_MAGIC_BYTES_DAMAGED:
            raise InputFormatError(
                f"{name}: not a hipsense recording (.hsr) file (it starts with {magic[:8]!r})"
            )
        major = int.from_bytes(head[8:10], "little")
        minor = int.from_bytes(head[10:12], "little")
        crc_ok = zlib.crc32(head[:12]) == int.from_bytes(head[12:16], "little")
        if crc_ok and differing == 0:
            if major > FORMAT_MAJOR:
                raise InputFormatError(
                    f"{name}: written by a newer hipsense (recording format {major}.{minor}); "
                    f"this hipsense reads format {FORMAT_MAJOR}.x: upgrade hipsense "
                    "(pip install --upgrade hipsense) to read it"
                )
            self.format_version = (major, minor)
        else:
            # The version bytes cannot be trusted; read the records as our own version.
            self.format_version = (FORMAT_MAJOR, FORMAT_MINOR)
            self._header_damaged = True
        self._header_checked = True
        return True

    # -- records --------------------------------------------------------------------------
    def records(self) -> Iterator[Record]:
        """Every intact record, in file order; resets and fills :attr:`damage`.

        On a file being written, one pass sees the records complete so far and reports the
        partial last one as ``damage.incomplete``; iterate again later to see more.
        """
        self.damage = DamageReport()
        if not self._check_header():
            size = os.fstat(self._fh.fileno()).st_size
            if size:
                self.damage.incomplete = (0, size)
            return
        self.damage.header_damaged = self._header_damaged
        if self._header_damaged:
            self.damage.add_damage(0, FILE_HEADER_SIZE)
        fh = self._fh
        size = os.fstat(fh.fileno()).st_size
        pos = FILE_HEADER_SIZE
        while pos < size:
            fh.seek(pos)
            head = fh.read(RECORD_HEADER_SIZE)
            if len(head) < RECORD_HEADER_SIZE:
                n = min(len(head), len(SYNC))
                if head[:n] == SYNC[:n]:
                    self.damage.incomplete = (pos, size)
                else:
                    self.damage.add_damage(pos, size)
                return
            parsed = parse_record_header(head)
            if parsed is None:
                nxt = self._resync(pos + 1, size)
                self.damage.add_damage(pos, size if nxt is None else nxt)
                if nxt is None:
                    return
                pos = nxt
                continue
            kind, flags, length, payload_crc = parsed
            end = pos + RECORD_HEADER_SIZE + length
            if end > size:
                self.damage.incomplete = (pos, size)
                return
            payload = fh.read(length)
            if len(payload) != length or zlib.crc32(payload) != payload_crc:
                self.damage.add_damage(pos, end)
                pos = end
                continue
            if flags & FLAG_ZLIB:
                try:
                    payload = zlib.decompress(payload)
                except zlib.error:
                    self.damage.add_damage(pos, end)
                    pos = end
                    continue
            pos = end
            if kind not in RecordType._value2member_map_:
                self.damage.unknown_records += 1
                continue
            self.damage.records_ok += 1
            yield Record(kind, pos - RECORD_HEADER_SIZE - length, payload)

    def _resync(self, start: int, size: int) -> int | None:
        """Offset of the next valid record header (or partial header at EOF) after ``start``."""
        fh = self._fh
        window = start
        while window < size:
            fh.seek(window)
            chunk = fh.read(SCAN_WINDOW_BYTES + RECORD_HEADER_SIZE)
            at_eof = window + len(chunk) >= size
            i = 0
            while True:
                j = chunk.find(SYNC, i)
                if j < 0 or (j >= SCAN_WINDOW_BYTES and not at_eof):
                    break
                if j + RECORD_HEADER_SIZE > len(chunk):
                    return window + j  # a partial header at the end of the file
                if parse_record_header(chunk[j : j + RECORD_HEADER_SIZE]) is not None:
                    return window + j
                i = j + 1
            if at_eof:
                return None
            window += SCAN_WINDOW_BYTES
        return None

    def items(self) -> Iterator[RecordValue]:
        """Decoded values of every intact record (see :meth:`Record.value`), in order.

        A record that passes its CRC but cannot be decoded is counted as damaged.
        """
        for record in self.records():
            try:
                value = record.value()
            except (ValueError, KeyError, TypeError, IndexError, InputFormatError):
                self.damage.records_ok -= 1
                self.damage.undecodable_records += 1
                end = record.offset + RECORD_HEADER_SIZE + len(record.payload)
                self.damage.add_damage(record.offset, end)
                continue
            yield value

    def metadata(self) -> SessionMetadata:
        """The session metadata (the first metadata record; later ones update fields).

        Raises
        ------
        InputFormatError
            if the file has no intact metadata record.
        """
        for record in self.records():
            if record.kind == RecordType.METADATA:
                value = record.value()
                assert isinstance(value, SessionMetadata)
                return value
        raise InputFormatError(f"{self.path}: no intact session metadata record")


def read_all(path: str | Path) -> tuple[list[RecordValue], DamageReport]:
    """Every decoded record of a (small) recording and the damage report; for tests and tools."""
    with RecordingReader(path) as reader:
        values = list(reader.items())
        return values, reader.damage
