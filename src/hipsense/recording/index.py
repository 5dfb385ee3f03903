"""The session index: one SQLite file listing the recordings of a data directory.

The recordings are the truth; the index is a cache of what listing them needs (subject, date,
duration, sensors, exercises from the markers, summary results) and
:meth:`SessionIndex.rebuild` recreates it from the files. Summary results are also appended
to the recording itself (a SUMMARY record), so a rebuild keeps them.

The data directory is, in order: the ``data_dir`` argument, ``$HIPSENSE_DATA_DIR``,
``~/.local/share/hipsense``. Recordings live in ``<data dir>/recordings/NAME.hsr``; names
cannot contain path separators or ``..`` and cannot start with a dot.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hipsense.errors import ConfigurationError, InputFormatError
from hipsense.recording.format import SUFFIX, RecordType, SessionMetadata
from hipsense.recording.reader import RecordingReader
from hipsense.recording.writer import append_records
from hipsense.types import Marker

INDEX_FILE = "sessions.sqlite3"
INDEX_VERSION = 2
"""``PRAGMA user_version`` of an up-to-date index; older rows are summarized again on open
(version 2: durations no longer mix the raw notifications' host clock with session time)."""
RECORDINGS_DIR = "recordings"
ENV_DATA_DIR = "HIPSENSE_DATA_DIR"
MAX_NAME_CHARS = 120

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    name TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    created_utc TEXT NOT NULL,
    duration_s REAL NOT NULL,
    sensors TEXT NOT NULL,
    exercises TEXT NOT NULL,
    summary TEXT NOT NULL,
    file_bytes INTEGER NOT NULL,
    damaged INTEGER NOT NULL
)
"""


def data_dir(path: str | Path | None = None) -> Path:
    """The data directory: ``path``, else ``$HIPSENSE_DATA_DIR``, else ~/.local/share/hipsense."""
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env)
    return Path.home() / ".local" / "share" / "hipsense"


def check_name(name: str) -> str:
    """Return the recording name without ``.hsr`` if it is safe, else raise.

    Raises
    ------
    ConfigurationError
        for names with path separators, ``..``, a leading dot, control characters, or empty.
    """
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    bad = (
        not stem
        or len(stem) > MAX_NAME_CHARS
        or "/" in stem
        or "\\" in stem
        or ".." in stem
        or stem.startswith(".")
        or any(ord(c) < 32 for c in stem)
        or os.sep in stem
        or (os.altsep is not None and os.altsep in stem)
    )
    if bad:
        raise ConfigurationError(
            f"invalid recording name {name!r}: use letters, digits, '-', '_' and single dots, "
            "with no path separators or '..'"
        )
    return stem


@dataclass
class SessionSummary:
    """One row of the index."""

    name: str
    subject: str
    created_utc: str
    duration_s: float
    sensors: list[dict[str, Any]]
    exercises: list[str]
    summary: dict[str, Any] = field(default_factory=dict)
    file_bytes: int = 0
    damaged: bool = False


def summarize(path: Path) -> SessionSummary:
    """Scan one recording (streaming) into an index row."""
    meta: SessionMetadata | None = None
    exercises: list[str] = []
    summary: dict[str, Any] = {}
    # Samples are on the session clock (s); raw notifications carry host receive times (ns
    # on the BLE host's clock, e.g. seconds since boot): two clocks, never mixed. The samples
    # give the duration; the raw times only when a recording holds no samples.
    t_min, t_max = float("inf"), float("-inf")
    raw_min, raw_max = float("inf"), float("-inf")
    with RecordingReader(path) as reader:
        for record in reader.records():
            if record.kind == RecordType.SAMPLES:
                head = _bundle_head(record.payload)
                t_min = min(t_min, float(head["t0_s"]))
                t_max = max(t_max, float(head["t1_s"]))
            elif record.kind == RecordType.RAW:
                head = _bundle_head(record.payload)
                if head.get("n"):
                    raw_min = min(raw_min, head["t0_ns"] / 1e9)
                    raw_max = max(raw_max, head["t1_ns"] / 1e9)
            elif record.kind in (RecordType.METADATA, RecordType.MARKER, RecordType.SUMMARY):
                value = record.value()
                if isinstance(value, SessionMetadata) and meta is None:
                    meta = value
                elif isinstance(value, Marker):
                    if value.exercise != "note" and value.exercise not in exercises:
                        exercises.append(value.exercise)
                elif isinstance(value, dict):
                    summary = value
        damaged = bool(reader.damage.damaged) or reader.damage.header_damaged
    if meta is None:
        raise InputFormatError(f"{path}: no intact session metadata record")
    if t_max < t_min:
        t_min, t_max = raw_min, raw_max
    return SessionSummary(
        name=path.stem,
        subject=meta.subject,
        created_utc=meta.created_utc,
        duration_s=max(0.0, t_max - t_min) if t_max >= t_min else 0.0,
        sensors=[
            {"role": s.role, "protocol": s.protocol, "address": s.address, "rate_hz": s.rate_hz}
            for s in meta.sensors
        ],
        exercises=exercises,
        summary=summary,
        file_bytes=path.stat().st_size,
        damaged=damaged,
    )


def _bundle_head(payload: bytes) -> dict[str, Any]:
    n = int.from_bytes(payload[:4], "little")
    head: dict[str, Any] = json.loads(payload[4 : 4 + n])
    return head


class SessionIndex:
    """List, look up and delete the recordings of a data directory.

    Parameters
    ----------
    directory : the data directory (see :func:`data_dir` for the default).

    Examples
    --------
    >>> index = SessionIndex()  # doctest: +SKIP
    >>> index.add("2024-05-01_P01")  # doctest: +SKIP
    >>> [s.name for s in index.list()]  # doctest: +SKIP
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = data_dir(directory)
        self.recordings = self.directory / RECORDINGS_DIR
        self.recordings.mkdir(parents=True, exist_ok=True)
        self.db_path = self.directory / INDEX_FILE
        # The service calls from worker threads; sqlite3 serialises access itself.
        self._db = sqlite3.connect(self.db_path, check_same_thread=False)
        self._db.execute(SCHEMA)
        self._db.commit()
        self._upgrade()

    def _upgrade(self) -> None:
        """Summarize the rows of an index written by an older hipsense again."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version >= INDEX_VERSION:
            return
        names = [r[0] for r in self._db.execute("SELECT name FROM sessions").fetchall()]
        for name in names:
            try:
                self.add(name)
            except (InputFormatError, ConfigurationError, OSError):
                continue  # gone or unreadable now: the next listing sorts it out
        self._db.execute(f"PRAGMA user_version = {INDEX_VERSION}")
        self._db.commit()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> SessionIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def path_for(self, name: str) -> Path:
        """Path of recording ``name`` inside the data directory (the name is checked)."""
        path = self.recordings / f"{check_name(name)}{SUFFIX}"
        if path.resolve().parent != self.recordings.resolve():
            raise ConfigurationError(f"invalid recording name {name!r}: outside the data directory")
        return path

    def add(self, name: str) -> SessionSummary:
        """Index (or re-index) recording ``name`` from its file."""
        path = self.path_for(name)
        if not path.exists():
            raise InputFormatError(f"no recording named {check_name(name)!r} in {self.recordings}")
        row = summarize(path)
        self._db.execute(
            "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.name,
                row.subject,
                row.created_utc,
                row.duration_s,
                json.dumps(row.sensors),
                json.dumps(row.exercises),
                json.dumps(row.summary),
                row.file_bytes,
                int(row.damaged),
            ),
        )
        self._db.commit()
        return row

    def set_summary(self, name: str, results: dict[str, Any]) -> SessionSummary:
        """Store summary results in the recording (appended record) and the index."""
        append_records(self.path_for(name), RecordType.SUMMARY, results)
        return self.add(name)

    def get(self, name: str) -> SessionSummary | None:
        """The index row of ``name``, or None."""
        cur = self._db.execute("SELECT * FROM sessions WHERE name = ?", (check_name(name),))
        row = cur.fetchone()
        return None if row is None else _row(row)

    def list(self, subject: str | None = None) -> list[SessionSummary]:
        """Every indexed session (optionally of one subject), newest first."""
        if subject is None:
            cur = self._db.execute("SELECT * FROM sessions ORDER BY created_utc DESC, name")
        else:
            cur = self._db.execute(
                "SELECT * FROM sessions WHERE subject = ? ORDER BY created_utc DESC, name",
                (subject,),
            )
        return [_row(r) for r in cur.fetchall()]

    def delete(self, name: str) -> bool:
        """Delete recording ``name`` (file and row); False if it did not exist."""
        path = self.path_for(name)
        existed = path.exists()
        path.unlink(missing_ok=True)
        cur = self._db.execute("DELETE FROM sessions WHERE name = ?", (check_name(name),))
        self._db.commit()
        return existed or cur.rowcount > 0

    @classmethod
    def rebuild(cls, directory: str | Path | None = None) -> SessionIndex:
        """Recreate the index from the recordings on disk (e.g. after it was lost)."""
        db = data_dir(directory) / INDEX_FILE
        db.unlink(missing_ok=True)
        index = cls(directory)
        for path in sorted(index.recordings.glob(f"*{SUFFIX}")):
            try:
                index.add(path.stem)
            except (InputFormatError, ConfigurationError):
                continue  # not a readable recording: leave it out of the index
        return index


def _row(r: tuple[Any, ...]) -> SessionSummary:
    return SessionSummary(
        name=r[0],
        subject=r[1],
        created_utc=r[2],
        duration_s=r[3],
        sensors=json.loads(r[4]),
        exercises=json.loads(r[5]),
        summary=json.loads(r[6]),
        file_bytes=r[7],
        damaged=bool(r[8]),
    )
