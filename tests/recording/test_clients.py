"""Clients in the session index: the migration from the previous release's index, records
(unique names, optimistic edits, merge, delete), their history when files go missing or are
damaged, a rebuilt index, and client archives (round trip and hostile archives)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import threading
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from recording_helpers import write_full_recording

from hipsense import clients as client_store
from hipsense.errors import (
    ClientConflictError,
    ClientNotFoundError,
    ConfigurationError,
    HipsenseError,
    InputFormatError,
    StorageError,
)
from hipsense.recording.index import INDEX_FILE, INDEX_VERSION, SCHEMA, SessionIndex, summarize
from hipsense.recording.sessions import SessionStore
from hipsim.progress import lean_subject, write_assessment_recording, write_weekly_client

START = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
HINT = {"id": "c0a1b2c3d4e", "name": "Rebuilt Person"}
OLD_COLUMNS = (
    "name",
    "subject",
    "created_utc",
    "duration_s",
    "sensors",
    "exercises",
    "summary",
    "file_bytes",
    "damaged",
)


@pytest.fixture(scope="module")
def visits(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three weekly assessment recordings (lean subjects, about 1 s each to make)."""
    directory = tmp_path_factory.mktemp("visits")
    weeks = write_weekly_client(directory, weeks=3, name="visit", first_utc=START)
    return [Path(w["path"]) for w in weeks]


@pytest.fixture(scope="module")
def hinted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recording started for client HINT (its metadata names them)."""
    path = tmp_path_factory.mktemp("hinted") / "for-client.hsr"
    subject = lean_subject({"left": 10.0, "right": 15.0}, {"left": 20.0, "right": 19.0})
    write_assessment_recording(subject, 5, path, created_utc=START, extra={"client": HINT})
    return path


def data_with(tmp_path: Path, *files: Path) -> Path:
    """A data directory holding copies of ``files`` (no index yet)."""
    data = tmp_path / "data"
    (data / "recordings").mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, data / "recordings" / f.name)
    return data


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assigned(store: SessionStore, client_id: str, *paths: Path) -> None:
    for p in paths:
        store.get(p.stem)
        store.clients.assign(p.stem, client_id)


# --- the migration -------------------------------------------------------------------------


def _old_index(data: Path, version: int) -> list[tuple[Any, ...]]:
    """An index as the previous release wrote it: the 9-column sessions table only."""
    rows = []
    for path in sorted((data / "recordings").glob("*.hsr")):
        s = summarize(path)
        rows.append(
            (
                s.name,
                s.subject,
                s.created_utc,
                s.duration_s,
                json.dumps(s.sensors),
                json.dumps(s.exercises),
                json.dumps(s.summary),
                s.file_bytes,
                int(s.damaged),
            )
        )
    db = sqlite3.connect(data / INDEX_FILE)
    db.execute(SCHEMA)
    db.executemany("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()
    return rows


def test_index_of_the_previous_release_is_migrated(
    tmp_path: Path, visits: list[Path], hinted: Path
) -> None:
    data = data_with(tmp_path, *visits, hinted)
    write_full_recording(data / "recordings" / "synthetic.hsr")
    rows = _old_index(data, 2)
    before = {p.name: sha(p) for p in (data / "recordings").iterdir()}

    store = SessionStore(data)
    store.close()

    db = sqlite3.connect(data / INDEX_FILE)
    assert db.execute("PRAGMA user_version").fetchone() == (INDEX_VERSION,) == (3,)
    cols = ", ".join(OLD_COLUMNS)
    got = db.execute(f"SELECT {cols}, client_id, missing FROM sessions ORDER BY name").fetchall()
    assert [r[:9] for r in got] == sorted(rows)
    assert {r[9:] for r in got} == {(None, 0)}
    assert db.execute("SELECT COUNT(*) FROM clients").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM results").fetchone() == (0,)
    db.close()
    assert {p.name: sha(p) for p in (data / "recordings").iterdir()} == before

    store = SessionStore(data)  # opening again changes nothing
    try:
        listed = store.list()
        assert sorted(s.name for s in listed) == sorted(r[0] for r in rows)
        assert [s.created_utc for s in listed] == sorted((r[2] for r in rows), reverse=True)
        assert store.clients.all() == []
        assert store.index.get("visit-w2") is not None
        assert store.index.get("visit-w2").client_id is None  # type: ignore[union-attr]
    finally:
        store.close()


def test_index_older_than_version_2_is_migrated(tmp_path: Path, visits: list[Path]) -> None:
    data = data_with(tmp_path, visits[0])
    rows = _old_index(data, 1)
    store = SessionStore(data)
    try:
        row = store.index.get(rows[0][0])
        assert row is not None and row.file_bytes == rows[0][7]
    finally:
        store.close()


def test_index_of_a_newer_hipsense_is_refused(tmp_path: Path, visits: list[Path]) -> None:
    data = data_with(tmp_path, visits[0])
    _old_index(data, 99)
    before = (data / INDEX_FILE).read_bytes()
    with pytest.raises(StorageError, match=r"newer hipsense \(index schema 99, this one knows 3\)"):
        SessionStore(data)
    with pytest.raises(StorageError, match="upgrade hipsense or use another data directory"):
        SessionIndex(data)
    assert (data / INDEX_FILE).read_bytes() == before


# --- records -------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = SessionStore(tmp_path / "empty")
    yield s
    s.close()


def test_names_are_unique_ignoring_case_and_spacing(store: SessionStore) -> None:
    anna = store.clients.create("  Anna   Berg ", notes="left hip", sides=["left"])
    assert anna.name == "Anna Berg" and anna.version == 1 and anna.sides == ["left"]
    for taken in ("anna berg", "ANNA BERG", " Anna\tBerg", "aNNa  bERG"):
        with pytest.raises(ClientConflictError, match="exists already"):
            store.clients.create(taken)
    emile = store.clients.create("Émile Ørsted")
    with pytest.raises(ClientConflictError):
        store.clients.create("émile øRSTED")  # beyond A-Z too
    with pytest.raises(ClientConflictError):
        store.clients.update(emile.id, emile.version, name="ANNA berg")
    assert store.clients.find(" anna  BERG ").id == anna.id
    assert store.clients.find("ÉMILE ØRSTED").id == emile.id
    assert store.clients.find(anna.id).id == anna.id
    with pytest.raises(ClientNotFoundError):
        store.clients.find("Anna")
    # Renaming to one's own name in another case is fine.
    assert store.clients.update(anna.id, 1, name="ANNA BERG").name == "ANNA BERG"
    assert [c.name for c in store.clients.all()] == ["ANNA BERG", "Émile Ørsted"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 81, "bell\x07"])
def test_invalid_names_are_refused(store: SessionStore, name: str) -> None:
    with pytest.raises(ConfigurationError, match="1-80 printable characters"):
        store.clients.create(name)
    assert store.clients.all() == []


def test_invalid_sides_and_notes_are_refused(store: SessionStore) -> None:
    with pytest.raises(ConfigurationError, match="'left' and/or 'right'"):
        store.clients.create("A", sides=["middle"])
    with pytest.raises(ConfigurationError, match="4000 characters"):
        store.clients.create("A", notes="n" * 4001)
    assert store.clients.create("A", sides=["right", "left"]).sides == ["left", "right"]


def test_an_edit_made_on_an_old_version_is_refused(store: SessionStore) -> None:
    client = store.clients.create("Bo")
    first = store.clients.get(client.id)  # two editors open the client
    second = store.clients.get(client.id)
    assert first.version == second.version == 1
    edited = store.clients.update(client.id, first.version, notes="from the first")
    assert edited.version == 2 and edited.notes == "from the first"
    with pytest.raises(ClientConflictError, match="now version 2, the edit was made on version 1"):
        store.clients.update(client.id, second.version, notes="from the second", sides=["left"])
    now = store.clients.get(client.id)
    assert (now.notes, now.sides, now.version) == ("from the first", [], 2)
    again = store.clients.update(client.id, now.version, notes="second, reloaded")
    assert (again.notes, again.version) == ("second, reloaded", 3)


@pytest.mark.parametrize("connections", ["shared", "one per thread"])
def test_concurrent_edits_from_one_version_let_exactly_one_win(
    tmp_path: Path, connections: str
) -> None:
    data = tmp_path / "data"
    main = SessionStore(data)
    client = main.clients.create("Concurrent")
    threads, rounds = 4, 6
    shared = connections == "shared"
    stores = [main] * threads if shared else [SessionStore(data) for _ in range(threads)]
    barrier = threading.Barrier(threads)
    won: list[tuple[int, int]] = []
    lost: list[int] = []
    failed: list[BaseException] = []

    def editor(k: int) -> None:
        book = stores[k].clients
        try:
            for r in range(rounds):
                barrier.wait()
                seen = book.get(client.id).version
                barrier.wait()  # everyone has read the same version
                try:
                    done = book.update(client.id, seen, notes=f"t{k} r{r}")
                    won.append((r, done.version))
                except ClientConflictError:
                    lost.append(r)
        except BaseException as exc:
            failed.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=editor, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not failed, failed
    assert sorted(r for r, _ in won) == list(range(rounds)), "one edit per round"
    assert sorted(v for _, v in won) == list(range(2, rounds + 2)), "each on its own version"
    assert len(lost) == rounds * (threads - 1)
    final = main.clients.get(client.id)
    assert final.version == rounds + 1
    last_round = max(won)
    assert final.notes.endswith(f"r{last_round[0]}")
    for s in {main, *stores}:
        s.close()


def test_creating_one_name_at_once_from_several_connections(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stores = [SessionStore(data) for _ in range(4)]
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def create(s: SessionStore) -> None:
        barrier.wait()
        try:
            s.clients.create("Same Name")
            outcomes.append("created")
        except ClientConflictError:
            outcomes.append("conflict")
        except BaseException as exc:
            outcomes.append(repr(exc))

    workers = [threading.Thread(target=create, args=(s,)) for s in stores]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert sorted(outcomes) == ["conflict"] * 3 + ["created"]
    assert [c.name for c in stores[0].clients.all()] == ["Same Name"]
    for s in stores:
        s.close()


def test_merge_moves_the_sessions_and_removes_the_source(
    tmp_path: Path, visits: list[Path]
) -> None:
    store = SessionStore(data_with(tmp_path, *visits))
    try:
        a = store.clients.create("A Person", notes="notes of A", sides=["left"])
        b = store.clients.create("B Person", notes="notes of B", sides=["right"])
        assigned(store, a.id, visits[0], visits[1])
        assigned(store, b.id, visits[2])
        with pytest.raises(ConfigurationError, match="into itself"):
            store.clients.merge(a.id, a.id)
        with pytest.raises(ClientNotFoundError):
            store.clients.merge(a.id, "c0000000000")
        kept = store.clients.merge(a.id, b.id)
        assert kept.id == b.id and kept.sessions == 3
        assert kept.notes == "notes of B\n\nnotes of A"
        assert kept.sides == ["left", "right"]
        assert kept.version == 2
        assert [s.name for s in store.clients.sessions(b.id)] == [p.stem for p in visits]
        with pytest.raises(ClientNotFoundError):
            store.clients.get(a.id)
        assert [c.id for c in store.clients.all()] == [b.id]
        assert store.clients.sessions(a.id) == []
    finally:
        store.close()


def test_deleting_a_client_leaves_nothing_of_theirs(tmp_path: Path, visits: list[Path]) -> None:
    data = data_with(tmp_path, *visits)
    store = SessionStore(data)
    gone = store.clients.create("Zelda Quuxington", notes="secret-note-xyzzy")
    other = store.clients.create("Other Person")
    assigned(store, gone.id, visits[0], visits[1])
    assigned(store, other.id, visits[2])
    client_store.refresh_results(store, gone.id)
    client_store.refresh_results(store, other.id)
    exports = data / "exports" / visits[0].stem
    exports.mkdir(parents=True)
    (exports / "angles.csv").write_text("t,angle\n")

    for wrong in ("", "Zelda", "zelda quux", other.name, other.id):
        with pytest.raises(ConfigurationError, match="confirm with the client's name"):
            client_store.delete_client(store, gone.id, wrong)
    assert store.clients.get(gone.id).sessions == 2 and exports.is_dir()

    names = client_store.delete_client(store, gone.id, "  zelda QUUXINGTON ")
    assert names == [visits[0].stem, visits[1].stem]
    with pytest.raises(ClientNotFoundError):
        store.clients.get(gone.id)
    store.close()

    assert sorted(p.name for p in (data / "recordings").iterdir()) == [visits[2].name]
    assert not exports.exists()
    db = sqlite3.connect(data / INDEX_FILE)
    assert db.execute("SELECT id FROM clients").fetchall() == [(other.id,)]
    assert db.execute("SELECT name, client_id FROM sessions").fetchall() == [
        (visits[2].stem, other.id)
    ]
    assert db.execute("SELECT name FROM results").fetchall() == [(visits[2].stem,)]
    db.close()
    raw = (data / INDEX_FILE).read_bytes()
    assert b"Zelda Quuxington" not in raw and b"secret-note-xyzzy" not in raw, "free pages"
    assert not list(data.glob(f"{INDEX_FILE}-*")), "no journal left behind"


@pytest.mark.parametrize(
    "bad", ["c0000000000", "../x", "c../../", "c0123456789\n", "", "C0123456789", "x" * 200]
)
def test_unknown_or_malformed_client_ids(store: SessionStore, bad: str) -> None:
    store.clients.create("Someone")
    calls = [
        lambda: store.clients.get(bad),
        lambda: store.clients.update(bad, 1, notes="x"),
        lambda: store.clients.remove(bad),
        lambda: store.clients.merge(bad, store.clients.all()[0].id),
        lambda: client_store.client_progress(store, bad),
        lambda: client_store.delete_client(store, bad, "Someone"),
        lambda: client_store.export_archive(store, bad, io.BytesIO()),
    ]
    for call in calls:
        with pytest.raises(ClientNotFoundError):
            call()
    if bad and bad != "c0000000000":  # an id given to a new client (archives) has the form
        with pytest.raises(ClientNotFoundError):
            store.clients.create("Another", client_id=bad)
    assert [c.name for c in store.clients.all()] == ["Someone"]


# --- the history when files go missing or are damaged ---------------------------------------


def _flip(path: Path, start: int, length: int) -> None:
    data = bytearray(path.read_bytes())
    for i in range(start, start + length):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_deleted_file_shows_as_missing(tmp_path: Path, visits: list[Path]) -> None:
    data = data_with(tmp_path, *visits)
    store = SessionStore(data)
    try:
        client = store.clients.create("C")
        assigned(store, client.id, *visits)
        before = client_store.client_progress(store, client.id)
        assert [s["status"] for s in before["sessions"]] == ["ok", "ok", "ok"]
        (data / "recordings" / visits[1].name).unlink()  # by hand, no sync since

        doc = client_store.client_progress(store, client.id)
        w1, w2, w3 = doc["sessions"]
        assert (w2["name"], w2["status"]) == (visits[1].stem, "missing")
        assert w2["message"] == "the recording file is gone" and w2["figures"] == {}
        assert (w1["status"], w3["status"]) == ("ok", "ok")
        assert w1["figures"] == before["sessions"][0]["figures"]
        assert w3["figures"] == before["sessions"][2]["figures"]
        # Week 3 is now compared with week 1 directly.
        left3 = w3["changes"]["left"]["active_deg"]
        assert left3["since_previous"] == left3["since_first"]
        row = store.index.get(visits[1].stem)
        assert row is not None and row.missing
        assert store.clients.get(client.id).sessions == 3
        assert visits[1].stem not in [s.name for s in store.list()]  # not a listed recording
    finally:
        store.close()


def test_damaged_recordings_show_their_damage(tmp_path: Path, visits: list[Path]) -> None:
    data = data_with(tmp_path, *visits)
    rec = data / "recordings"
    shutil.copy(visits[0], rec / "flipped.hsr")
    size = (rec / "flipped.hsr").stat().st_size
    _flip(rec / "flipped.hsr", size // 2, 4096)  # before it was ever analysed
    store = SessionStore(data)
    try:
        client = store.clients.create("D")
        assigned(store, client.id, rec / "flipped.hsr", *visits)
        first = {s["name"]: s for s in client_store.client_progress(store, client.id)["sessions"]}
        assert first["flipped"]["status"] == "damaged"
        assert "damaged region" in first["flipped"]["message"]
        assert first["flipped"]["figures"]["sides"], "figures of the intact part"
        assert {first[p.stem]["status"] for p in visits} == {"ok"}

        # After they were analysed: one file cut short, one cut down to its first bytes.
        cut, stub = rec / visits[1].name, rec / visits[2].name
        cut.write_bytes(cut.read_bytes()[: int(cut.stat().st_size * 0.6)])
        stub.write_bytes(stub.read_bytes()[:100])
        doc = client_store.client_progress(store, client.id)
        now = {s["name"]: s for s in doc["sessions"]}
        assert now[cut.stem]["status"] == "damaged"
        assert "cut short" in now[cut.stem]["message"]
        assert now[stub.stem]["status"] == "error"
        assert now[stub.stem]["message"] and now[stub.stem]["figures"] == {}
        assert now[visits[0].stem] == first[visits[0].stem]
        row = store.index.get(cut.stem)  # indexed again (a cut tail is no damage there)
        assert row is not None and row.file_bytes == cut.stat().st_size
        assert row.duration_s < summarize(visits[1]).duration_s - 10
    finally:
        store.close()


def test_the_progress_document_follows_every_change(tmp_path: Path, visits: list[Path]) -> None:
    """Kept in memory between calls, but never shown stale."""
    store = SessionStore(data_with(tmp_path, *visits))
    try:
        client = store.clients.create("E", sides=["left"])
        assigned(store, client.id, visits[0])
        one = client_store.client_progress(store, client.id)
        assert [s["name"] for s in one["sessions"]] == [visits[0].stem]
        assert client_store.client_progress(store, client.id) == one
        store.clients.assign(visits[1].stem, client.id)
        two = client_store.client_progress(store, client.id, analyze=False)
        assert [s["status"] for s in two["sessions"]] == ["ok", "pending"]
        analysed = client_store.client_progress(store, client.id)
        assert [s["status"] for s in analysed["sessions"]] == ["ok", "ok"]
        store.clients.update(client.id, 1, name="E renamed", sides=["right"])
        doc = client_store.client_progress(store, client.id)
        assert doc["client"]["name"] == "E renamed" and doc["sides"] == ["right"]
        other = SessionStore(store.data_dir)  # another process assigns a session
        other.get(visits[2].stem)
        other.clients.assign(visits[2].stem, client.id)
        other.close()
        assert len(client_store.client_progress(store, client.id)["sessions"]) == 3
    finally:
        store.close()


# --- a lost index --------------------------------------------------------------------------


def test_rebuilt_index_brings_back_the_client_and_their_sessions(
    tmp_path: Path, visits: list[Path], hinted: Path
) -> None:
    data = data_with(tmp_path, hinted, visits[0])
    store = SessionStore(data)  # no index: rebuilt at once, the client comes back already
    assert [(c.id, c.name, c.sessions) for c in store.clients.all()] == [
        (HINT["id"], HINT["name"], 1)
    ]
    later = store.clients.create("Assigned Later")
    assigned(store, later.id, visits[0])
    before = client_store.client_progress(store, HINT["id"])
    store.close()

    (data / INDEX_FILE).unlink()
    store = SessionStore(data)
    try:
        clients = {c.id: c for c in store.clients.all()}
        assert clients[HINT["id"]].name == HINT["name"]
        assert [s.name for s in store.clients.sessions(HINT["id"])] == ["for-client"]
        row = store.index.get("for-client")
        assert row is not None and row.client_id == HINT["id"]
        # A session assigned after it was recorded carries no client in its file.
        assert later.id not in clients
        assert store.index.get(visits[0].stem).client_id is None  # type: ignore[union-attr]
        again = client_store.client_progress(store, HINT["id"])
        assert [s["figures"] for s in again["sessions"]] == [
            s["figures"] for s in before["sessions"]
        ]
    finally:
        store.close()


def test_rebuild_keeps_clients_and_flags_their_lost_files(
    tmp_path: Path, visits: list[Path]
) -> None:
    data = data_with(tmp_path, *visits)
    store = SessionStore(data)
    client = store.clients.create("Kept", notes="n", sides=["left"])
    assigned(store, client.id, visits[0], visits[1])
    store.close()
    (data / "recordings" / visits[1].name).unlink()
    (data / "recordings" / visits[2].name).unlink()  # nobody's: forgotten
    index = SessionIndex.rebuild(data)
    index.close()
    store = SessionStore(data)
    try:
        kept = store.clients.get(client.id)
        assert (kept.name, kept.notes, kept.sides, kept.sessions) == ("Kept", "n", ["left"], 2)
        rows = {s.name: s for s in store.clients.sessions(client.id)}
        assert not rows[visits[0].stem].missing and rows[visits[1].stem].missing
        assert store.index.get(visits[2].stem) is None
    finally:
        store.close()


# --- archives ------------------------------------------------------------------------------


def _figures(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(s["name"], s["status"], s["figures"], s["changes"]) for s in doc["sessions"]]


def test_archive_round_trip_and_import_twice(tmp_path: Path, visits: list[Path]) -> None:
    source = SessionStore(data_with(tmp_path / "a", *visits))
    client = source.clients.create("Round Trip", notes="notes", sides=["left"])
    assigned(source, client.id, *visits)
    expected = client_store.client_progress(source, client.id)
    archive = tmp_path / "client.zip"
    manifest = client_store.export_archive(source, client.id, archive)
    source.close()
    assert [s["name"] for s in manifest["sessions"]] == [p.stem for p in visits]

    target = SessionStore(tmp_path / "b")
    try:
        imported_client, names = client_store.import_archive(target, archive)
        assert names == [p.stem for p in visits]
        assert (imported_client.id, imported_client.name, imported_client.notes) == (
            client.id,
            "Round Trip",
            "notes",
        )
        assert imported_client.sides == ["left"] and imported_client.sessions == 3
        assert client_store.stale(target, client.id) == [], "results came with the archive"
        got = client_store.client_progress(target, client.id)
        assert _figures(got) == _figures(expected)
        for p in visits:
            assert sha(tmp_path / "b" / "recordings" / p.name) == sha(p)

        again, names_again = client_store.import_archive(target, archive)
        assert names_again == [] and again.id == client.id and again.sessions == 3
        assert len(target.clients.all()) == 1
        assert _figures(client_store.client_progress(target, client.id)) == _figures(expected)
    finally:
        target.close()


def test_archive_of_a_name_taken_here_needs_another_name(
    tmp_path: Path, visits: list[Path]
) -> None:
    source = SessionStore(data_with(tmp_path / "a", visits[0]))
    client = source.clients.create("Same Name")
    assigned(source, client.id, visits[0])
    archive = io.BytesIO()
    client_store.export_archive(source, client.id, archive)
    source.close()
    target = SessionStore(tmp_path / "b")
    try:
        target.clients.create("same name")
        with pytest.raises(ClientConflictError, match="another name"):
            client_store.import_archive(target, io.BytesIO(archive.getvalue()))
        assert list((tmp_path / "b" / "recordings").iterdir()) == []
        renamed, names = client_store.import_archive(
            target, io.BytesIO(archive.getvalue()), name="Same Name (clinic B)"
        )
        assert renamed.name == "Same Name (clinic B)" and names == [visits[0].stem]
    finally:
        target.close()


@pytest.fixture(scope="module")
def good_archive(tmp_path_factory: pytest.TempPathFactory, visits: list[Path]) -> bytes:
    base = tmp_path_factory.mktemp("archive")
    store = SessionStore(data_with(base, *visits[:2]))
    client = store.clients.create("Archived Person")
    assigned(store, client.id, *visits[:2])
    out = io.BytesIO()
    client_store.export_archive(store, client.id, out)
    store.close()
    return out.getvalue()


def _rewrite(
    archive: bytes,
    manifest: Any = None,
    extra: tuple[tuple[str, bytes], ...] = (),
    corrupt: str | None = None,
    drop: str | None = None,
) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for info in src.infolist():
            if info.filename == drop:
                continue
            data = src.read(info)
            if info.filename == "hipsense-client.json" and manifest is not None:
                doc = json.loads(data)
                manifest(doc)
                data = json.dumps(doc).encode()
            if info.filename == corrupt:
                data = data[:5000] + bytes([data[5000] ^ 1]) + data[5001:]
            zf.writestr(info.filename, data)
        for name, data in extra:
            zf.writestr(name, data)
    return out.getvalue()


def _evil_name(doc: dict[str, Any]) -> None:
    doc["sessions"][0].update(name="../evil", file="recordings/../evil.hsr")


def _evil_file(doc: dict[str, Any]) -> None:
    doc["sessions"][0]["file"] = "recordings/../../evil.hsr"


def _evil_id(doc: dict[str, Any]) -> None:
    doc["client"]["id"] = "../../evil"


HOSTILE = {
    "member outside (unlisted)": lambda a: _rewrite(
        a, extra=(("recordings/../../evil.hsr", b"evil" * 100),)
    ),
    "member outside (listed)": lambda a: _rewrite(
        a, _evil_file, extra=(("recordings/../../evil.hsr", b"evil" * 100),)
    ),
    "absolute member": lambda a: _rewrite(a, extra=(("/tmp/evil.hsr", b"evil"),)),
    "manifest name ../evil": lambda a: _rewrite(
        a, _evil_name, extra=(("recordings/../evil.hsr", b"evil"),)
    ),
    "manifest name ../evil (no member)": lambda a: _rewrite(a, _evil_name),
    "client id with a path": lambda a: _rewrite(a, _evil_id),
    "checksum mismatch": lambda a: _rewrite(a, corrupt="recordings/visit-w2.hsr"),
    "not a zip": lambda a: b"PK\x03\x04 not really",
    "no manifest": lambda a: _rewrite(a, drop="hipsense-client.json"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_archives_are_refused_and_write_nothing(
    tmp_path: Path, good_archive: bytes, kind: str
) -> None:
    blob = HOSTILE[kind](good_archive)
    (tmp_path / "archive.zip").write_bytes(blob)
    store = SessionStore(tmp_path / "data")
    before = sorted(p for p in tmp_path.rglob("*"))
    try:
        with pytest.raises(HipsenseError) as caught:
            client_store.import_archive(store, tmp_path / "archive.zip")
        assert "\n" not in str(caught.value)
    finally:
        store.close()
    assert sorted(p for p in tmp_path.rglob("*")) == before, "nothing written anywhere"
    assert not list(tmp_path.parent.glob("evil*")) and not Path("/tmp/evil.hsr").exists()
    db = sqlite3.connect(tmp_path / "data" / INDEX_FILE)
    assert db.execute("SELECT COUNT(*) FROM clients").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,)
    db.close()


def test_the_good_archive_is_accepted(tmp_path: Path, good_archive: bytes) -> None:
    """The hostile variants above differ from an archive that imports."""
    store = SessionStore(tmp_path / "data")
    try:
        client, names = client_store.import_archive(store, io.BytesIO(_rewrite(good_archive)))
        assert client.name == "Archived Person" and names == ["visit-w1", "visit-w2"]
    finally:
        store.close()


def test_archive_errors_name_the_problem(tmp_path: Path, good_archive: bytes) -> None:
    store = SessionStore(tmp_path / "data")
    try:
        with pytest.raises(InputFormatError, match="checksum differs"):
            client_store.import_archive(
                store, io.BytesIO(HOSTILE["checksum mismatch"](good_archive))
            )
        with pytest.raises(InputFormatError, match=r"unexpected member 'recordings/\.\./\.\./evil"):
            client_store.import_archive(
                store, io.BytesIO(HOSTILE["member outside (unlisted)"](good_archive))
            )
        with pytest.raises(InputFormatError, match="not a zip archive"):
            client_store.import_archive(store, io.BytesIO(b"nope"))
        with pytest.raises(ConfigurationError, match=r"invalid recording name '\.\./evil'"):
            client_store.import_archive(
                store, io.BytesIO(HOSTILE["manifest name ../evil (no member)"](good_archive))
            )
    finally:
        store.close()
