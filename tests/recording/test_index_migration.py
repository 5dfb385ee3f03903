"""An index and a recording made by the release before clients open without loss."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from hipsense.errors import StorageError
from hipsense.recording.index import INDEX_FILE, INDEX_VERSION, SessionIndex
from hipsense.recording.sessions import SessionStore

OLD = Path(__file__).resolve().parents[1] / "data" / "index_v2"
NAME = "p01-before-clients"
SHA256 = "8695ceba3094ea4cb70c917da1617bdb6b09eecca28a417e7968c2d0139d7012"


@pytest.fixture
def old_dir(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(OLD, target)
    (target / "README.md").unlink()
    return target


def _old_row(directory: Path) -> tuple[object, ...]:
    with sqlite3.connect(directory / INDEX_FILE) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
        row = db.execute("SELECT * FROM sessions WHERE name = ?", (NAME,)).fetchone()
    assert row is not None
    return tuple(row)


def test_the_old_index_opens_with_every_field(old_dir: Path) -> None:
    before = _old_row(old_dir)
    store = SessionStore(old_dir)
    try:
        with sqlite3.connect(old_dir / INDEX_FILE) as db:
            assert db.execute("PRAGMA user_version").fetchone() == (INDEX_VERSION,)
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"sessions", "clients", "results"} <= tables
        rows = store.list()
        assert [r.name for r in rows] == [NAME]
        row = rows[0]
        # The old nine columns, unchanged (the index was not rebuilt, only migrated).
        assert (
            row.name,
            row.subject,
            row.created_utc,
            row.duration_s,
            row.file_bytes,
            int(row.damaged),
        ) == (before[0], before[1], before[2], before[3], before[7], before[8])
        assert row.summary == {"note": "made by hipsense 8149106", "frames": 0}
        assert [s["role"] for s in row.sensors] == ["pelvis", "thigh_left", "thigh_right"]
        assert row.client_id is None and not row.missing
        assert store.clients.all() == []
        # The recording itself is untouched and still usable: a client can take it.
        path = store.path(NAME)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256
        client = store.clients.create("P01")
        store.clients.assign(NAME, client.id)
        assert store.get(NAME).client_id == client.id
        assert store.clients.get(client.id).sessions == 1
    finally:
        store.close()
    # Opening again is a no-op: the assignment stays, nothing is migrated twice.
    with SessionIndex(old_dir) as index:
        row2 = index.get(NAME)
        assert row2 is not None and row2.client_id == client.id


def test_an_index_of_a_newer_hipsense_is_refused(old_dir: Path) -> None:
    with sqlite3.connect(old_dir / INDEX_FILE) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StorageError, match=r"newer hipsense .*schema 99"):
        SessionIndex(old_dir)


def test_a_lost_index_is_rebuilt_from_the_old_recording(old_dir: Path) -> None:
    (old_dir / INDEX_FILE).unlink()
    store = SessionStore(old_dir)
    try:
        row = store.get(NAME)
        assert row.subject == "P01" and row.duration_s == pytest.approx(2.992403)
        assert row.summary["note"] == "made by hipsense 8149106"
    finally:
        store.close()
