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
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hipsense.errors import ConfigurationError, InputFormatError, StorageError
from hipsense.recording.format import SUFFIX, RecordType, SessionMetadata
from hipsense.recording.reader import RecordingReader
from hipsense.recording.writer import append_records
from hipsense.types import Marker

INDEX_FILE = "sessions.sqlite3"
INDEX_VERSION = 3
"""``PRAGMA user_version`` of an up-to-date index; :data:`MIGRATIONS` bring older ones here."""
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
"""The first schema (versions 0-2); :data:`MIGRATIONS` add what came later."""

CLIENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    notes TEXT NOT NULL DEFAULT '',
    sides TEXT NOT NULL DEFAULT '[]',
    created_utc TEXT NOT NULL,
    updated_utc TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS results (
    name TEXT PRIMARY KEY,
    file_bytes INTEGER NOT NULL,
    analysis_version TEXT NOT NULL,
    computed_utc TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    figures TEXT NOT NULL,
    analysis TEXT NOT NULL
);
"""
"""Version 3: clients, and a cache of every session's analysed figures (``results``)."""

COLUMNS = (
    "name, subject, created_utc, duration_s, sensors, exercises, summary, file_bytes, damaged, "
    "client_id, missing"
)


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
    client_id: str | None = None
    """The client the session belongs to (the index keeps it; None: nobody's)."""
    missing: bool = False
    """The file is gone but the session belonged to a client: kept so their history shows it."""
    client_hint: dict[str, str] | None = None
    """``{"id", "name"}`` of the client recorded in the file's metadata when it started."""


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
        client_hint=_client_hint(meta),
    )


def _client_hint(meta: SessionMetadata) -> dict[str, str] | None:
    client = meta.extra.get("client")
    if isinstance(client, dict) and isinstance(client.get("id"), str):
        return {"id": client["id"], "name": str(client.get("name", ""))}
    return None


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
        # The service calls from worker threads: one lock around every use of the connection.
        self.lock = threading.RLock()
        self.db = sqlite3.connect(self.db_path, check_same_thread=False)
        self.db.execute(SCHEMA)
        self.db.commit()
        self._migrate()

    def _migrate(self) -> None:
        """Bring an index written by an older hipsense to :data:`INDEX_VERSION`, step by step.

        Each step runs in its own transaction and sets ``user_version``; rows and files are
        never dropped. An index of a newer hipsense is refused (it may hold what this one
        does not know).
        """
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        if version > INDEX_VERSION:
            self.db.close()
            raise StorageError(
                f"{self.db_path} was written by a newer hipsense (index schema {version}, this "
                f"one knows {INDEX_VERSION}); upgrade hipsense or use another data directory"
            )
        for target, step in MIGRATIONS:
            if version < target:
                with self.lock:
                    step(self)
                    self.db.execute(f"PRAGMA user_version = {target}")
                    self.db.commit()
                version = target

    def _resummarize(self) -> None:
        """Version 2: durations no longer mix the raw notifications' host clock with session
        time, so every row is summarized again from its file. Rows are written with today's
        columns, so the later schema steps (idempotent) run first."""
        self._add_clients()
        names = [r[0] for r in self.db.execute("SELECT name FROM sessions").fetchall()]
        for name in names:
            try:
                self.add(name)
            except (InputFormatError, ConfigurationError, OSError):
                continue  # gone or unreadable now: the next listing sorts it out

    def _add_clients(self) -> None:
        """Version 3: clients, the sessions' client and missing flag, the results cache."""
        self.db.executescript(CLIENTS_SCHEMA)
        have = {r[1] for r in self.db.execute("PRAGMA table_info(sessions)").fetchall()}
        if "client_id" not in have:
            self.db.execute("ALTER TABLE sessions ADD COLUMN client_id TEXT")
        if "missing" not in have:
            self.db.execute("ALTER TABLE sessions ADD COLUMN missing INTEGER NOT NULL DEFAULT 0")
        self.db.execute(
            "CREATE INDEX IF NOT EXISTS sessions_client ON sessions (client_id, created_utc)"
        )

    def close(self) -> None:
        """Close the database."""
        self.db.close()

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
        with self.lock:
            self.db.execute(
                f"INSERT INTO sessions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0) "
                "ON CONFLICT (name) DO UPDATE SET subject = excluded.subject, "
                "created_utc = excluded.created_utc, duration_s = excluded.duration_s, "
                "sensors = excluded.sensors, exercises = excluded.exercises, "
                "summary = excluded.summary, file_bytes = excluded.file_bytes, "
                "damaged = excluded.damaged, missing = 0",
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
            self.db.commit()
            found = self.get(row.name)
        assert found is not None
        found.client_hint = row.client_hint
        return found

    def set_summary(self, name: str, results: dict[str, Any]) -> SessionSummary:
        """Store summary results in the recording (appended record) and the index."""
        append_records(self.path_for(name), RecordType.SUMMARY, results)
        return self.add(name)

    def get(self, name: str) -> SessionSummary | None:
        """The index row of ``name``, or None."""
        with self.lock:
            cur = self.db.execute(
                f"SELECT {COLUMNS} FROM sessions WHERE name = ?", (check_name(name),)
            )
            row = cur.fetchone()
        return None if row is None else row_of(row)

    def list(
        self, subject: str | None = None, client_id: str | None = None
    ) -> list[SessionSummary]:
        """Every indexed session with its file (optionally of one subject or client), newest
        first; a client's list also holds their sessions whose file went missing."""
        where, args = ["missing = 0"], []
        if subject is not None:
            where.append("subject = ?")
            args.append(subject)
        if client_id is not None:
            where = ["client_id = ?"] + where[1:]
            args.insert(0, client_id)
        with self.lock:
            cur = self.db.execute(
                f"SELECT {COLUMNS} FROM sessions WHERE {' AND '.join(where)} "
                "ORDER BY created_utc DESC, name",
                args,
            )
            return [row_of(r) for r in cur.fetchall()]

    def mark_missing(self, name: str) -> None:
        """The file of a client's session is gone: keep the row, flagged, for their history."""
        with self.lock:
            self.db.execute("UPDATE sessions SET missing = 1 WHERE name = ?", (check_name(name),))
            self.db.commit()

    def delete(self, name: str) -> bool:
        """Delete recording ``name`` (file, row and cached results); False if it did not exist."""
        path = self.path_for(name)
        existed = path.exists()
        path.unlink(missing_ok=True)
        with self.lock:
            cur = self.db.execute("DELETE FROM sessions WHERE name = ?", (check_name(name),))
            self.db.execute("DELETE FROM results WHERE name = ?", (check_name(name),))
            self.db.commit()
        return existed or cur.rowcount > 0

    @classmethod
    def rebuild(cls, directory: str | Path | None = None) -> SessionIndex:
        """Index the recordings on disk again (e.g. after the index was lost or copied).

        Clients, the sessions' clients and the results cache are kept; rows whose file is gone
        are dropped, or flagged missing when they belong to a client. When the index itself
        was lost, a session started for a client (its metadata names the client) brings that
        client back.
        """
        index = cls(directory)
        on_disk = sorted(index.recordings.glob(f"*{SUFFIX}"))
        with index.lock:
            known = {r[0] for r in index.db.execute("SELECT id FROM clients").fetchall()}
            rows = {
                r[0]: r[1]
                for r in index.db.execute("SELECT name, client_id FROM sessions").fetchall()
            }
        for path in on_disk:
            try:
                row = index.add(path.stem)
            except (InputFormatError, ConfigurationError):
                continue  # not a readable recording: leave it out of the index
            hint = row.client_hint
            if row.client_id is None and hint is not None and path.stem not in rows:
                if hint["id"] not in known:
                    index._restore_client(hint)
                    known.add(hint["id"])
                with index.lock:
                    index.db.execute(
                        "UPDATE sessions SET client_id = ? WHERE name = ?", (hint["id"], path.stem)
                    )
                    index.db.commit()
        stems = {p.stem for p in on_disk}
        for name, client_id in rows.items():
            if name not in stems:
                if client_id is None:
                    index.delete(name)
                else:
                    index.mark_missing(name)
        return index

    def _restore_client(self, hint: dict[str, str]) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        name = hint["name"] or hint["id"]
        with self.lock:
            taken = self.db.execute("SELECT 1 FROM clients WHERE name = ?", (name,)).fetchone()
            self.db.execute(
                "INSERT INTO clients (id, name, notes, sides, created_utc, updated_utc) "
                "VALUES (?, ?, '', '[]', ?, ?)",
                (hint["id"], f"{name} ({hint['id']})" if taken else name, now, now),
            )
            self.db.commit()


MIGRATIONS: tuple[tuple[int, Callable[[SessionIndex], None]], ...] = (
    (2, SessionIndex._resummarize),
    (3, SessionIndex._add_clients),
)
"""``(version, step)``: the schema changes, in order; a step may assume every earlier one."""


def row_of(r: tuple[Any, ...]) -> SessionSummary:
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
        client_id=r[9],
        missing=bool(r[10]),
    )
