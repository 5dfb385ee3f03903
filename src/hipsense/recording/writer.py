"""Writing ``.hsr`` recordings: append-only, chunked, flushed and fsynced at least every second.

Bulk data (decoded samples per role, raw notifications) is buffered and sealed into one record
per ``chunk_s`` of data; markers, events and calibrations seal the buffers first, so the file
keeps the order of the calls. A background thread flushes and fsyncs every
``flush_interval_s`` (0.5 s by default), so a ``kill -9`` of the recorder, or a power cut,
loses at most about the last second; the reader treats the partial last record as
*incomplete*, not damaged.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from hipsense import __version__
from hipsense.body.calibration import Calibration
from hipsense.errors import InputFormatError
from hipsense.recording.format import (
    RecordType,
    SessionMetadata,
    encode_json,
    encode_raw,
    encode_record,
    encode_samples,
    event_to_dict,
    file_header,
    marker_to_dict,
)
from hipsense.types import Marker, RawNotification, SampleBlock, SensorEvent

DEFAULT_CHUNK_S = 0.5
DEFAULT_FLUSH_INTERVAL_S = 0.5
MAX_RAW_PER_RECORD = 4096


class RecordingWriter:
    """Write one session to a ``.hsr`` file.

    Parameters
    ----------
    path : file to create (refused if it exists, unless ``overwrite``).
    metadata : the session's metadata; ``created_utc`` and ``software_version`` are filled in
        when empty.
    chunk_s : seconds of data per bulk record.
    flush_interval_s : the background thread flushes and fsyncs this often (None: no thread,
        flush only when :meth:`flush` or :meth:`close` is called, or an ``add_*`` call finds
        the interval elapsed).
    sample_dtype : storage dtype of acc/gyr/mag (``"<f8"`` exact, ``"<f4"`` half the size);
        time is always float64.
    compress : zlib-compress bulk payloads when it makes them smaller.
    overwrite : replace an existing file.

    Thread safety: every method may be called from any thread.

    Examples
    --------
    >>> with RecordingWriter("s.hsr", SessionMetadata(subject="P01")) as rec:  # doctest: +SKIP
    ...     rec.add_samples(block)
    ...     rec.add_marker(Marker(3.0, 20.0, "active_extension", "left"))
    """

    def __init__(
        self,
        path: str | Path,
        metadata: SessionMetadata,
        chunk_s: float = DEFAULT_CHUNK_S,
        flush_interval_s: float | None = DEFAULT_FLUSH_INTERVAL_S,
        sample_dtype: str = "<f8",
        compress: bool = False,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        self.chunk_s = float(chunk_s)
        self.flush_interval_s = flush_interval_s
        self.sample_dtype = sample_dtype
        self.compress = compress
        self._lock = threading.RLock()
        self._samples: dict[str, list[SampleBlock]] = {}
        self._raw: list[RawNotification] = []
        self._pending: list[bytes] = []
        self._closed = False
        self.bytes_written = 0
        self._last_flush = time.monotonic()
        self._fh: BinaryIO = open(self.path, "wb" if overwrite else "xb")  # noqa: SIM115
        if not metadata.created_utc:
            metadata.created_utc = datetime.now(UTC).isoformat(timespec="seconds")
        if not metadata.software_version:
            metadata.software_version = __version__
        self.metadata = metadata
        self._pending.append(file_header())
        self._append(RecordType.METADATA, encode_json(metadata.to_dict()))
        self.flush()
        _fsync_directory(self.path.parent)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if flush_interval_s is not None:
            self._thread = threading.Thread(
                target=self._flush_loop, name=f"hsr-flush-{self.path.name}", daemon=True
            )
            self._thread.start()

    # -- context manager ------------------------------------------------------------------
    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- adding data ----------------------------------------------------------------------
    def add_samples(self, block: SampleBlock) -> None:
        """Buffer decoded samples of one sensor (sealed into records of ``chunk_s``)."""
        if len(block) == 0:
            return
        with self._lock:
            self._check_open()
            parts = self._samples.setdefault(block.role, [])
            parts.append(block)
            if parts[-1].time_s[-1] - parts[0].time_s[0] >= self.chunk_s:
                self._seal_samples(block.role, whole=False)
            self._maybe_flush()

    def add_raw(self, notification: RawNotification) -> None:
        """Buffer the bytes of one BLE notification."""
        with self._lock:
            self._check_open()
            self._raw.append(notification)
            span_ns = notification.host_time_ns - self._raw[0].host_time_ns
            if span_ns >= self.chunk_s * 1e9 or len(self._raw) >= MAX_RAW_PER_RECORD:
                self._seal_raw()
            self._maybe_flush()

    def add_marker(self, marker: Marker) -> None:
        """Write a marker (exercise segment, phase change or note)."""
        self._add_json(RecordType.MARKER, marker_to_dict(marker))

    def add_event(self, event: SensorEvent) -> None:
        """Write a sensor event (connect, disconnect, gap, battery...)."""
        self._add_json(RecordType.EVENT, event_to_dict(event))

    def set_calibration(self, calibration: Calibration) -> None:
        """Write the calibration in use from this point of the session on."""
        self._add_json(RecordType.CALIBRATION, calibration.to_dict())

    def add_summary(self, results: dict[str, Any]) -> None:
        """Write summary results (JSON-ready); the last one in a file is the current one."""
        self._add_json(RecordType.SUMMARY, results)

    def _add_json(self, kind: RecordType, value: dict[str, Any]) -> None:
        payload = encode_json(value)
        with self._lock:
            self._check_open()
            self._seal_all()
            self._append(kind, payload)
            self._maybe_flush()

    # -- sealing and flushing -------------------------------------------------------------
    def _append(self, kind: RecordType, payload: bytes) -> None:
        self._pending.append(encode_record(kind, payload, compress=self.compress))

    def _seal_samples(self, role: str, whole: bool) -> None:
        parts = self._samples.pop(role, [])
        if not parts:
            return
        block = SampleBlock.concat(parts)
        t = block.time_s
        start = 0
        while start < len(t):
            stop = int(np.searchsorted(t, t[start] + self.chunk_s, side="left"))
            stop = max(stop, start + 1)
            if stop >= len(t) and not whole:
                self._samples[role] = [block.slice(start, len(t))]
                return
            piece = block.slice(start, stop)
            self._append(RecordType.SAMPLES, encode_samples(piece, self.sample_dtype))
            start = stop

    def _seal_raw(self) -> None:
        if self._raw:
            self._append(RecordType.RAW, encode_raw(self._raw))
            self._raw = []

    def _seal_all(self) -> None:
        for role in list(self._samples):
            self._seal_samples(role, whole=True)
        self._seal_raw()

    def _maybe_flush(self) -> None:
        if (
            self.flush_interval_s is not None
            and time.monotonic() - self._last_flush >= 2 * self.flush_interval_s
        ):
            self.flush()  # the thread is late (GIL-heavy caller): do it here

    def flush(self) -> None:
        """Seal every buffer, write and fsync: everything added so far is on disk."""
        with self._lock:
            if self._closed:
                return
            self._seal_all()
            if self._pending:
                data = b"".join(self._pending)
                self._pending = []
                self._fh.write(data)
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self.bytes_written += len(data)
            self._last_flush = time.monotonic()

    def _flush_loop(self) -> None:
        assert self.flush_interval_s is not None
        while not self._stop.wait(self.flush_interval_s):
            try:
                self.flush()
            except (OSError, ValueError):
                return  # closed underneath us, or disk error: close() reports it

    def _check_open(self) -> None:
        if self._closed:
            raise InputFormatError(f"{self.path}: recording already closed")

    def close(self) -> None:
        """Flush everything and close the file (idempotent)."""
        if self._closed:
            return
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        self.flush()
        with self._lock:
            self._closed = True
            self._fh.close()


def _fsync_directory(directory: Path) -> None:
    """Make the new file's directory entry durable (POSIX; ignored where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def append_records(path: str | Path, kind: RecordType, value: dict[str, Any]) -> None:
    """Append one JSON record to an existing recording (e.g. summary results).

    A partial last record (a crash) is cut off first, so the new record follows the last
    intact one.
    """
    from hipsense.recording.reader import RecordingReader

    with RecordingReader(path) as reader:
        for _ in reader.records():
            pass
        incomplete = reader.damage.incomplete
    with open(path, "r+b") as fh:
        if incomplete is not None:
            fh.truncate(incomplete[0])
        fh.seek(0, os.SEEK_END)
        fh.write(encode_record(kind, encode_json(value)))
        fh.flush()
        os.fsync(fh.fileno())
