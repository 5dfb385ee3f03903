"""Clients: the people measured, their sessions, and the cache of each session's figures.

A client is a row of the session index (``clients`` table, schema version 3): an id made
here (``c`` + 10 hex digits, never derived from the name, so URLs and logs carry no name), a
display name or pseudonym (unique, case-insensitive), notes, the side(s) of concern and an
edit ``version``. Sessions point to their client (``sessions.client_id``); a session is
assigned when it is recorded or later.

Edits are optimistic: :meth:`ClientBook.update` takes the ``version`` the editor saw and
refuses with :class:`~hipsense.errors.ClientConflictError` when somebody changed the client
since, so two people editing at once never overwrite each other silently.

The ``results`` table caches what :func:`hipsense.exercises.progress.analyze_recording` found
in a session (its figures and the whole analysis), keyed by the file's size and the analysis
version, so a client's history is read from the index, never recomputed from the files.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hipsense.errors import ClientConflictError, ClientNotFoundError, ConfigurationError
from hipsense.recording.index import COLUMNS, SessionIndex, SessionSummary, check_name, row_of

ID_RE = re.compile(r"^c[0-9a-f]{10}$")
MAX_CLIENT_NAME = 80
MAX_NOTES = 4000
SIDES = ("left", "right")


@dataclass
class Client:
    """One client (the person measured)."""

    id: str
    name: str
    notes: str = ""
    sides: list[str] = field(default_factory=list)
    created_utc: str = ""
    updated_utc: str = ""
    version: int = 1
    sessions: int = 0
    last_session_utc: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "id": self.id,
            "name": self.name,
            "notes": self.notes,
            "sides": list(self.sides),
            "created_utc": self.created_utc,
            "updated_utc": self.updated_utc,
            "version": self.version,
            "sessions": self.sessions,
            "last_session_utc": self.last_session_utc,
        }


@dataclass
class CachedResult:
    """The cached analysis of one session (see :class:`ClientBook`)."""

    name: str
    file_bytes: int
    analysis_version: str
    computed_utc: str
    status: str
    """``ok``, ``damaged`` (analysed from the intact records) or ``error`` (see message)."""
    message: str
    figures: dict[str, Any]
    analysis: dict[str, Any] | None = None


def check_client_id(client_id: str) -> str:
    """``client_id`` if it has the form of an id, else :class:`ClientNotFoundError`."""
    if not isinstance(client_id, str) or not ID_RE.fullmatch(client_id):
        raise ClientNotFoundError(
            f"no client with id {str(client_id)[:40]!r}; GET /api/clients lists them"
        )
    return client_id


def clean_name(name: str) -> str:
    """A display name: trimmed, 1-80 characters, no control characters."""
    text = " ".join(str(name).split())
    if not text or len(text) > MAX_CLIENT_NAME or any(ord(c) < 32 for c in text):
        raise ConfigurationError(
            f"a client's name must be 1-{MAX_CLIENT_NAME} printable characters "
            f"(a pseudonym is fine), got {str(name)[:40]!r}"
        )
    return text


def clean_sides(sides: list[str] | tuple[str, ...]) -> list[str]:
    """The side(s) of concern in a fixed order; unknown sides are refused."""
    bad = [s for s in sides if s not in SIDES]
    if bad:
        raise ConfigurationError(f"sides of concern must be 'left' and/or 'right', got {bad}")
    return [s for s in SIDES if s in sides]


def clean_notes(notes: str) -> str:
    """Notes of at most 4000 characters."""
    if len(notes) > MAX_NOTES:
        raise ConfigurationError(f"notes are limited to {MAX_NOTES} characters")
    return notes


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


CLIENT_SELECT = (
    "SELECT c.id, c.name, c.notes, c.sides, c.created_utc, c.updated_utc, c.version, "
    "COUNT(s.name), MAX(s.created_utc) FROM clients c LEFT JOIN sessions s ON s.client_id = c.id"
)


def _client(r: tuple[Any, ...]) -> Client:
    return Client(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7], r[8])


class ClientBook:
    """Clients of one session index (every call holds the index's lock).

    Parameters
    ----------
    index : the data directory's :class:`~hipsense.recording.index.SessionIndex`.
    """

    def __init__(self, index: SessionIndex) -> None:
        self.index = index
        self.db = index.db
        self.lock = index.lock
        with self.lock:
            # A deleted client leaves no name or notes behind in the file's free pages.
            self.db.execute("PRAGMA secure_delete = ON")
        self.progress_memo: dict[tuple[str, int | None], dict[str, Any]] = {}
        """Progress documents by client id (``hipsense.clients``), valid
        while :meth:`state` and the files are what they were when made."""

    def state(self) -> tuple[int, int]:
        """Changes so far to the index, by this connection and others: equal values mean
        nothing was written in between."""
        with self.lock:
            (other,) = self.db.execute("PRAGMA data_version").fetchone()
            return int(other), self.db.total_changes

    # --- clients ---------------------------------------------------------------------------

    def create(
        self, name: str, notes: str = "", sides: list[str] | None = None, client_id: str = ""
    ) -> Client:
        """A new client (:class:`ClientConflictError` if the name is taken)."""
        name, notes = clean_name(name), clean_notes(notes)
        side_list = clean_sides(sides or [])
        new_id = check_client_id(client_id) if client_id else "c" + secrets.token_hex(5)
        now = _now()
        with self.lock:
            self._check_free(name)
            if self._exists(new_id):
                raise ClientConflictError(f"a client with id {new_id!r} exists already")
            try:
                self.db.execute(
                    "INSERT INTO clients (id, name, notes, sides, created_utc, updated_utc, "
                    "version) VALUES (?, ?, ?, ?, ?, ?, 1)",
                    (new_id, name, notes, json.dumps(side_list), now, now),
                )
            except sqlite3.IntegrityError:  # another process took the name or id meanwhile
                self.db.rollback()
                raise ClientConflictError(
                    "a client with that name exists already; choose another name or pseudonym"
                ) from None
            self.db.commit()
            return self.get(new_id)

    def _exists(self, client_id: str) -> bool:
        row = self.db.execute("SELECT 1 FROM clients WHERE id = ?", (client_id,)).fetchone()
        return row is not None

    def _named(self, name: str) -> str | None:
        """Id of the client called ``name``, ignoring case (any script: SQLite's NOCASE only
        folds A-Z), or None."""
        key = name.casefold()
        for client_id, other in self.db.execute("SELECT id, name FROM clients"):
            if other.casefold() == key:
                return str(client_id)
        return None

    def _check_free(self, name: str, except_id: str | None = None) -> None:
        found = self._named(name)
        if found is not None and found != except_id:
            raise ClientConflictError(
                f"a client named {name!r} exists already; choose another name or pseudonym"
            )

    def get(self, client_id: str) -> Client:
        """The client, with their session count (:class:`ClientNotFoundError` if unknown)."""
        check_client_id(client_id)
        with self.lock:
            row = self.db.execute(
                f"{CLIENT_SELECT} WHERE c.id = ? GROUP BY c.id", (client_id,)
            ).fetchone()
        if row is None:
            raise ClientNotFoundError(
                f"no client with id {client_id!r}; GET /api/clients lists them"
            )
        return _client(row)

    def all(self) -> list[Client]:
        """Every client, by name."""
        with self.lock:
            rows = self.db.execute(
                f"{CLIENT_SELECT} GROUP BY c.id ORDER BY c.name COLLATE NOCASE"
            ).fetchall()
        return [_client(r) for r in rows]

    def find(self, key: str) -> Client:
        """A client by id or by exact (case-insensitive) name, for the command line."""
        if ID_RE.fullmatch(key):
            return self.get(key)
        with self.lock:
            found = self._named(" ".join(key.split()))
        if found is None:
            raise ClientNotFoundError(
                "no client with that id or name; `hipsense clients list` shows them"
            )
        return self.get(found)

    def update(
        self,
        client_id: str,
        version: int,
        name: str | None = None,
        notes: str | None = None,
        sides: list[str] | None = None,
    ) -> Client:
        """Change name, notes or sides of the client as seen at ``version``.

        Raises
        ------
        ClientConflictError
            if the client changed since ``version`` (reload and edit again) or the new name
            is taken.
        """
        with self.lock:
            current = self.get(client_id)
            new_name = current.name if name is None else clean_name(name)
            new_notes = current.notes if notes is None else clean_notes(notes)
            new_sides = current.sides if sides is None else clean_sides(sides)
            self._check_free(new_name, except_id=client_id)
            try:
                cur = self.db.execute(
                    "UPDATE clients SET name = ?, notes = ?, sides = ?, updated_utc = ?, "
                    "version = version + 1 WHERE id = ? AND version = ?",
                    (new_name, new_notes, json.dumps(new_sides), _now(), client_id, int(version)),
                )
            except sqlite3.IntegrityError:  # another process took the name meanwhile
                self.db.rollback()
                raise ClientConflictError(
                    "a client with that name exists already; choose another name or pseudonym"
                ) from None
            self.db.commit()
            if cur.rowcount != 1:
                raise ClientConflictError(
                    f"client {client_id!r} was changed by someone else (now version "
                    f"{current.version}, the edit was made on version {version}); reload and "
                    "edit again"
                )
            return self.get(client_id)

    def merge(self, source_id: str, into_id: str) -> Client:
        """Move every session of ``source_id`` to ``into_id`` and remove ``source_id`` (its
        notes are appended, the sides of concern joined)."""
        if source_id == into_id:
            raise ConfigurationError("cannot merge a client into itself")
        with self.lock:
            source, into = self.get(source_id), self.get(into_id)
            notes = "\n\n".join(n for n in (into.notes, source.notes) if n)
            sides = clean_sides(sorted(set(into.sides) | set(source.sides)))
            self.db.execute(
                "UPDATE sessions SET client_id = ? WHERE client_id = ?", (into_id, source_id)
            )
            self.db.execute(
                "UPDATE clients SET notes = ?, sides = ?, updated_utc = ?, version = version + 1 "
                "WHERE id = ?",
                (clean_notes(notes[:MAX_NOTES]), json.dumps(sides), _now(), into_id),
            )
            self.db.execute("DELETE FROM clients WHERE id = ?", (source_id,))
            self.db.commit()
            return self.get(into_id)

    def remove(self, client_id: str) -> None:
        """Delete the client row and forget their sessions' rows (the caller deletes files)."""
        with self.lock:
            self.get(client_id)
            names = [s.name for s in self.sessions(client_id)]
            for name in names:
                self.db.execute("DELETE FROM results WHERE name = ?", (name,))
            self.db.execute("DELETE FROM sessions WHERE client_id = ?", (client_id,))
            self.db.execute("DELETE FROM clients WHERE id = ?", (client_id,))
            self.db.commit()
            for key in [k for k in self.progress_memo if k[0] == client_id]:
                del self.progress_memo[key]

    # --- sessions --------------------------------------------------------------------------

    def sessions(self, client_id: str) -> list[SessionSummary]:
        """The client's sessions, oldest first (those whose file went missing too)."""
        with self.lock:
            rows = self.db.execute(
                f"SELECT {COLUMNS} FROM sessions WHERE client_id = ? ORDER BY created_utc, name",
                (client_id,),
            ).fetchall()
        return [row_of(r) for r in rows]

    def session_heads(self, client_id: str) -> list[dict[str, Any]]:
        """The client's sessions, oldest first: just what a history needs (fast)."""
        with self.lock:
            rows = self.db.execute(
                "SELECT name, created_utc, duration_s, file_bytes, damaged, missing FROM sessions "
                "WHERE client_id = ? ORDER BY created_utc, name",
                (client_id,),
            ).fetchall()
        keys = ("name", "created_utc", "duration_s", "file_bytes", "damaged", "missing")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def assign(self, name: str, client_id: str | None) -> None:
        """Assign an indexed session to a client (None: to nobody)."""
        stem = check_name(name)
        with self.lock:
            if client_id is not None:
                self.get(client_id)
            cur = self.db.execute(
                "UPDATE sessions SET client_id = ? WHERE name = ?", (client_id, stem)
            )
            self.db.commit()
        if cur.rowcount != 1:
            raise ClientNotFoundError(f"no indexed session named {stem!r}")

    # --- cached results --------------------------------------------------------------------

    def cached(self, names: list[str]) -> dict[str, CachedResult]:
        """Cached results of sessions ``names`` (without the whole analyses)."""
        out: dict[str, CachedResult] = {}
        with self.lock:
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self.db.execute(
                    "SELECT name, file_bytes, analysis_version, computed_utc, status, message, "
                    f"figures FROM results WHERE name IN ({marks})",
                    chunk,
                ).fetchall()
                for r in rows:
                    out[r[0]] = CachedResult(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]))
        return out

    def client_result_keys(self, client_id: str) -> dict[str, tuple[int, str]]:
        """``(file_bytes, analysis_version)`` of the cached results of a client's sessions
        (what tells whether they are up to date, without decoding their figures)."""
        with self.lock:
            rows = self.db.execute(
                "SELECT s.name, r.file_bytes, r.analysis_version FROM sessions s "
                "JOIN results r ON r.name = s.name WHERE s.client_id = ?",
                (client_id,),
            ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def analysis(self, name: str) -> dict[str, Any] | None:
        """The whole cached analysis of a session, or None."""
        with self.lock:
            row = self.db.execute(
                "SELECT analysis FROM results WHERE name = ?", (check_name(name),)
            ).fetchone()
        return None if row is None else json.loads(row[0]) or None

    def store(self, result: CachedResult) -> None:
        """Cache ``result`` (replacing what was there)."""
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    result.name,
                    result.file_bytes,
                    result.analysis_version,
                    result.computed_utc,
                    result.status,
                    result.message,
                    json.dumps(result.figures),
                    json.dumps(result.analysis or {}),
                ),
            )
            self.db.commit()
