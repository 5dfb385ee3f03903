"""Recorded sessions: the one recorder, and the store of the data directory's recordings.

:class:`SessionRecorder` writes one session's ``.hsr`` file from the items a live source and the
live session produce (samples, raw notifications, connection starts, sensor events with their
own times, markers, calibrations, angles and analysis results); ``hipsense record`` and the
service's recordings both go through it. :class:`SessionStore` lists, creates and deletes
recordings and keeps the SQLite index; its errors are storage errors
(:class:`~hipsense.errors.StorageError`), which the API maps to HTTP answers.

::

    <data-dir>/recordings/<name>.hsr    the session (RecordingWriter: append-only, crash-safe)
    <data-dir>/sessions.sqlite3         the index (SessionIndex; rebuilt from the files if lost)
    <data-dir>/exports/<name>/...       CSV / OpenSim exports made for downloads

A recording holds the raw notification bytes with their host receive times when the source
delivers them, the decoded samples, the user's and the protocols' markers, every calibration,
the sensor events and, when it ends, a summary (frames, angle ranges, analyzer results).
Session time in the file starts at 0 when the recording starts; the live session time of
that instant is kept in the metadata (``extra["live_time_offset_s"]``).

Names are checked (a strict pattern for new sessions, :func:`check_name` for lookups) and
resolved inside the data directory, so a request can never read or delete anything else.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from hipsense.body.calibration import Calibration
from hipsense.errors import (
    ConfigurationError,
    InputFormatError,
    RecordingConflictError,
    RecordingNotFoundError,
    StorageError,
)
from hipsense.recording.clients import ClientBook
from hipsense.recording.format import (
    SUFFIX,
    RecordType,
    SensorInfo,
    SessionMetadata,
    connection_event,
)
from hipsense.recording.index import INDEX_FILE, SessionIndex, SessionSummary, check_name
from hipsense.recording.reader import RecordingReader
from hipsense.recording.writer import RecordingWriter
from hipsense.types import (
    AnalysisEvent,
    AngleBlock,
    ConnectionStart,
    DeviceStatus,
    Marker,
    RawNotification,
    SampleBlock,
    SensorEvent,
    marker_dict,
)

RecordItem = (
    SampleBlock
    | RawNotification
    | ConnectionStart
    | SensorEvent
    | Marker
    | Calibration
    | AngleBlock
    | AnalysisEvent
)
"""What a :class:`SessionRecorder` takes."""

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_ANALYSIS_EVENTS = 1000


def safe_child(root: Path, name: str, what: str = "session") -> Path:
    """``root / name`` if ``name`` is a plain name that stays inside ``root``.

    Raises
    ------
    StorageError
        for any other name.
    """
    if not NAME_RE.match(name) or ".." in name:
        raise StorageError(
            f"invalid {what} name {name[:80]!r}: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (at most 64 characters)",
        )
    path = (root / name).resolve()
    if path.parent != root.resolve():
        raise StorageError(f"invalid {what} name {name[:80]!r}: it leaves the data directory")
    return path


def _shift_calibration(calibration: Calibration, t0_s: float) -> Calibration:
    static, functional = calibration.static_window_s, calibration.functional_window_s
    return replace(
        calibration,
        static_window_s=(static[0] - t0_s, static[1] - t0_s),
        functional_window_s=(functional[0] - t0_s, functional[1] - t0_s),
    )


class SessionRecorder:
    """Write one session's ``.hsr`` file; :meth:`write_batch` may run in a worker thread.

    Parameters
    ----------
    path : the new recording file (refused if it exists, unless ``overwrite``).
    metadata : session metadata (sensors, source, ``session_start_ns`` of the recording:
        the host clock at time 0 of the file).
    t0_s : live session time at which the recording starts; it becomes time 0 in the file.
    note : the user's note, kept in the summary too.
    overwrite : replace an existing file.

    Samples and raw notifications go to the writer as they come (no per-sample Python); angle
    blocks are only counted and their ranges kept for the summary, since a replay of the
    recording gives the same angles.
    """

    def __init__(
        self,
        path: Path,
        metadata: SessionMetadata,
        t0_s: float = 0.0,
        note: str = "",
        overwrite: bool = False,
    ) -> None:
        self.path = path
        self.name = path.stem
        self.note = note
        self.t0_s = float(t0_s)
        self.started_at = datetime.now().isoformat(timespec="seconds")
        self.source = metadata.source
        self.session_start_ns = metadata.session_start_ns
        client = metadata.extra.get("client")
        self.client_id: str | None = client.get("id") if isinstance(client, dict) else None
        self.writer = RecordingWriter(path, metadata, overwrite=overwrite)
        self._lock = threading.Lock()
        self.samples: dict[str, int] = {}
        self.raw_notifications = 0
        self.frames = 0
        self.last_time_s = 0.0
        self.markers: list[dict[str, Any]] = []
        self.calibration: dict[str, Any] | None = None
        self.protocols: list[dict[str, Any]] = []
        self.analysis: list[dict[str, Any]] = []
        self.sensor_events = 0
        self._ranges: dict[str, list[float]] = {}

    # --- items from the live session -----------------------------------------------------

    def write_batch(self, batch: Sequence[RecordItem]) -> None:
        """Write items in the order given (other types are ignored)."""
        with self._lock:
            for item in batch:
                if isinstance(item, SampleBlock):
                    self._add_samples(item)
                elif isinstance(item, RawNotification):
                    self.writer.add_raw(item)
                    self.raw_notifications += 1
                elif isinstance(item, ConnectionStart):
                    self._add_connection(item)
                elif isinstance(item, SensorEvent):
                    self.writer.add_event(replace(item, time_s=max(0.0, item.time_s - self.t0_s)))
                    self.sensor_events += 1
                elif isinstance(item, AngleBlock):
                    self._add_angles(item)
                elif isinstance(item, Marker):
                    self._add_marker(item)
                elif isinstance(item, Calibration):
                    self.set_calibration(item)
                elif isinstance(item, AnalysisEvent):
                    self._add_analysis(item)

    def _add_samples(self, block: SampleBlock) -> None:
        # Samples of a lagging sensor from before the start were processed live already.
        first = int(np.searchsorted(block.time_s, self.t0_s, side="left"))
        if first >= len(block):
            return
        part = block.slice(first, len(block)) if first else block
        shifted = replace(part, time_s=part.time_s - self.t0_s)
        self.writer.add_samples(shifted)
        self.samples[block.role] = self.samples.get(block.role, 0) + len(shifted)
        self.last_time_s = max(self.last_time_s, float(shifted.time_s[-1]))

    def _add_angles(self, angles: AngleBlock) -> None:
        self.frames += len(angles)
        for name, values in angles.columns.items():
            finite = values[np.isfinite(values)]
            if finite.size:
                lo, hi = float(finite.min()), float(finite.max())
                seen = self._ranges.get(name)
                self._ranges[name] = (
                    [lo, hi] if seen is None else [min(seen[0], lo), max(seen[1], hi)]
                )

    def _add_marker(self, marker: Marker) -> None:
        end = None if marker.end_s is None else max(0.0, marker.end_s - self.t0_s)
        shifted = Marker(
            max(0.0, marker.start_s - self.t0_s), end, marker.exercise, marker.side, marker.text
        )
        self.writer.add_marker(shifted)
        self.markers.append(marker_dict(shifted))

    def set_calibration(self, calibration: Calibration) -> None:
        """Write the calibration in use from now on."""
        shifted = _shift_calibration(calibration, self.t0_s)
        self.writer.set_calibration(shifted)
        self.calibration = shifted.to_dict()

    def _add_connection(self, start: ConnectionStart) -> None:
        """Seal the raw data so far and mark the new connection after it."""
        start_ns = self.session_start_ns
        time_s = 0.0 if start_ns is None else max(0.0, (start.host_time_ns - start_ns) / 1e9)
        self.writer.add_event(connection_event(start, time_s))

    def _add_analysis(self, event: AnalysisEvent) -> None:
        if len(self.analysis) < MAX_ANALYSIS_EVENTS:
            time_s = max(0.0, event.time_s - self.t0_s)
            self.analysis.append({**event.payload, "time_s": round(time_s, 3)})

    # --- from the API ----------------------------------------------------------------------

    def add_protocol(self, protocol: dict[str, Any]) -> None:
        """Keep an exercise protocol request for the session's summary."""
        with self._lock:
            self.protocols.append(protocol)

    def summary(self) -> dict[str, Any]:
        """What the session's SUMMARY record holds (JSON-ready)."""
        return {
            "name": self.name,
            "note": self.note,
            "source": self.source,
            "started_at": self.started_at,
            "duration_s": round(self.last_time_s, 3),
            "frames": self.frames,
            "samples": dict(self.samples),
            "raw_notifications": self.raw_notifications,
            "sensor_events": self.sensor_events,
            "markers": len(self.markers),
            "calibration_quality": None
            if self.calibration is None
            else round(float(self.calibration["quality_score"]), 1),
            "angle_ranges_deg": {
                k: [round(v[0], 2), round(v[1], 2)] for k, v in self._ranges.items()
            },
            "protocols": list(self.protocols),
            "analysis": list(self.analysis),
        }

    def finish(self) -> dict[str, Any]:
        """Write the summary and close the file (blocking: fsyncs; call from a thread)."""
        with self._lock:
            summary = self.summary()
            self.writer.add_summary(summary)
            self.writer.close()
        return summary


def recording_metadata(
    devices: list[DeviceStatus],
    source: str,
    subject: str,
    note: str,
    t0_s: float,
    session_start_ns: int | None,
    recorded_by: str,
    client: dict[str, str] | None = None,
) -> SessionMetadata:
    """Metadata of a recording of ``devices`` starting at session time ``t0_s`` (its host
    clock ``session_start_ns`` at session time 0 moves to the recording's time 0).

    ``client``: ``{"id", "name"}`` of the client measured; the file names them so an index
    rebuilt from the files finds their sessions again, and the subject defaults to the name.
    """
    sensors = [
        SensorInfo(
            role=d.role,
            protocol=d.protocol,
            address=d.address,
            rate_hz=d.nominal_rate_hz or None,
            battery_pct=d.battery_pct,
        )
        for d in devices
    ]
    extra: dict[str, Any] = {
        "note": note,
        "live_time_offset_s": round(t0_s, 6),
        "recorded_by": recorded_by,
    }
    if client is not None:
        extra["client"] = {"id": client["id"], "name": client["name"]}
    return SessionMetadata(
        subject=subject or ("" if client is None else client["name"]),
        source=source,
        sensors=sensors,
        session_start_ns=None if session_start_ns is None else session_start_ns + round(t0_s * 1e9),
        extra=extra,
    )


class SessionStore:
    """The recordings of the data directory and the one being recorded.

    Every index call holds one lock, so routes may call from worker threads.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        had_index = (data_dir / INDEX_FILE).exists()
        self.index = SessionIndex(data_dir) if had_index else SessionIndex.rebuild(data_dir)
        self.clients = ClientBook(self.index)
        self.root = self.index.recordings.resolve()
        self.exports = (data_dir / "exports").resolve()
        self.active: SessionRecorder | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the index database."""
        with self._lock:
            self.index.close()

    # --- names and files -------------------------------------------------------------------

    def path(self, name: str) -> Path:
        """Path of recording ``name`` (with or without ``.hsr``); StorageError if unsafe."""
        try:
            return self.index.path_for(name)
        except ConfigurationError as exc:
            raise StorageError(str(exc)) from None

    def existing(self, name: str) -> Path:
        """Path of an existing recording, else :class:`RecordingNotFoundError`."""
        path = self.path(name)
        if not path.is_file():
            raise RecordingNotFoundError(
                f"no recording named {name[:80]!r}; GET /api/sessions lists them"
            )
        return path

    def check_not_recording(self, name: str, doing: str) -> None:
        """:class:`RecordingConflictError` if ``name`` is the session being recorded."""
        if self.active is not None and self.active.name == check_name(name):
            raise RecordingConflictError(
                f"session {self.active.name!r} is recording; stop it before {doing}"
            )

    # --- recording -------------------------------------------------------------------------

    def create(
        self,
        name: str | None,
        note: str,
        metadata: SessionMetadata,
        t0_s: float,
        calibration: Calibration | None,
    ) -> SessionRecorder:
        """A new recording from live session time ``t0_s`` on, starting with the calibration
        in use (:class:`RecordingConflictError` if one is recording or the name is taken)."""
        if self.active is not None:
            raise RecordingConflictError(
                f"session {self.active.name!r} is already recording; stop it first"
            )
        name = name or datetime.now().strftime("session-%Y%m%d-%H%M%S")
        safe_child(self.root, name)
        path = self.path(name)
        if path.exists():
            raise RecordingConflictError(
                f"a session named {name!r} exists already; choose another name"
            )
        recorder = SessionRecorder(path, metadata, t0_s, note)
        if calibration is not None:
            recorder.set_calibration(calibration)
        self.active = recorder
        return recorder

    def finish(self, recorder: SessionRecorder) -> SessionSummary:
        """Close ``recorder``'s file and index it (blocking; call from a thread)."""
        try:
            recorder.finish()
        finally:
            if self.active is recorder:
                self.active = None
        with self._lock:
            row = self.index.add(recorder.name)
            if recorder.client_id is not None:
                # The client may have been deleted while recording: then nobody's session.
                with contextlib.suppress(StorageError):
                    self.clients.assign(recorder.name, recorder.client_id)
                row = self.index.get(recorder.name) or row
            return row

    # --- the index -------------------------------------------------------------------------

    def sync(self) -> None:
        """Index recordings added or changed on disk, forget rows whose file is gone."""
        with self._lock:
            rows = {s.name: s for s in self.index.list()}
            on_disk = {p.stem: p for p in self.root.glob(f"*{SUFFIX}") if p.is_file()}
            active = None if self.active is None else self.active.name
            for stem, p in on_disk.items():
                row = rows.get(stem)
                if stem == active or (row is not None and row.file_bytes == p.stat().st_size):
                    continue
                try:
                    self.index.add(stem)
                except (InputFormatError, ConfigurationError):
                    continue  # not a readable recording: not listed
            for stem in rows.keys() - on_disk.keys():
                if rows[stem].client_id is None:
                    self.index.delete(stem)
                else:
                    self.index.mark_missing(stem)  # their history shows it as missing

    def list(self) -> list[SessionSummary]:
        """Indexed recordings, newest first (after :meth:`sync`)."""
        self.sync()
        with self._lock:
            return self.index.list()

    def get(self, name: str) -> SessionSummary:
        """Index row of an existing, finished recording (indexed now if it was not yet)."""
        path = self.existing(name)
        with self._lock:
            row = self.index.get(path.stem)
            if row is None or row.file_bytes != path.stat().st_size:
                try:
                    row = self.index.add(path.stem)
                except InputFormatError as exc:
                    raise RecordingConflictError(
                        f"{path.name} is not a readable recording: {exc}"
                    ) from None
            return row

    def take_for_client(self, name: str, client_id: str) -> SessionSummary:
        """Index a recording written into the data directory and assign it to a client."""
        self.get(name)
        self.clients.assign(name, client_id)
        return self.get(name)

    def delete(self, name: str) -> None:
        """Delete a finished recording, its index row and its exports."""
        self.check_not_recording(name, "deleting it")
        path = self.existing(name)
        with self._lock:
            self.index.delete(path.stem)
        export_dir = self.exports / path.stem
        if export_dir.is_dir():
            for f in export_dir.iterdir():
                f.unlink(missing_ok=True)
            export_dir.rmdir()


def read_details(path: Path) -> dict[str, Any]:
    """Markers, last calibration, metadata and damage of a recording (skips bulk records)."""
    markers: dict[tuple[float, str, str | None], dict[str, Any]] = {}
    calibration: dict[str, Any] | None = None
    metadata: SessionMetadata | None = None
    summary: dict[str, Any] = {}
    with RecordingReader(path) as reader:
        for record in reader.records():
            if record.kind in (RecordType.SAMPLES, RecordType.RAW, RecordType.EVENT):
                continue
            try:
                value = record.value()
            except (ValueError, KeyError, TypeError, InputFormatError):
                continue
            if isinstance(value, SessionMetadata) and metadata is None:
                metadata = value
            elif isinstance(value, Marker):
                # A protocol's marker is written when it opens and again when it closes.
                markers[(round(value.start_s, 3), value.exercise, value.side)] = marker_dict(value)
            elif isinstance(value, Calibration):
                calibration = value.to_dict()
            elif record.kind == RecordType.SUMMARY and isinstance(value, dict):
                summary = value
        damage = reader.damage
    return {
        "metadata": None if metadata is None else asdict(metadata),
        "markers": sorted(markers.values(), key=lambda m: m["start_s"]),
        "calibration": calibration,
        "summary": summary,
        "damage": damage.describe(),
        "clean": damage.clean,
    }
