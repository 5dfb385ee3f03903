"""``hipsense clients ...``, ``record --client``, ``import --client`` and ``report --client``:
what they print and write, and errors as one line with exit code 2."""

from __future__ import annotations

import builtins
import io
import json
import shutil
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hipsense import clients as client_store
from hipsense.cli import main
from hipsense.recording.index import INDEX_FILE
from hipsense.recording.reader import RecordingReader
from hipsense.recording.sessions import SessionStore
from hipsim.progress import write_weekly_client

START = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def visits(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("visits")
    weeks = write_weekly_client(directory, weeks=3, name="visit", first_utc=START)
    return [Path(w["path"]) for w in weeks]


@pytest.fixture(scope="module")
def samples_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import hipsim

    session = hipsim.simulate_session("calibration", seed=3, duration_s=20.0)
    path = tmp_path_factory.mktemp("csv") / "clinic-visit.csv"
    hipsim.write_samples_csv(session, path)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys: pytest.CaptureFixture[str], *args: str, needle: str = "") -> str:
    """The command exits 2 with one line ``hipsense: error: ...`` (no traceback)."""
    code, out, err = run(capsys, *args)
    assert code == 2, (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hipsense: error: "), err
    assert "Traceback" not in err and out == ""
    assert needle in lines[0], lines[0]
    return lines[0]


def client_id(capsys: pytest.CaptureFixture[str], data: Path, name: str) -> str:
    code, out, _ = run(capsys, "clients", "list", "--json", "--data-dir", str(data))
    assert code == 0
    (found,) = [c for c in json.loads(out) if c["name"] == name]
    return str(found["id"])


def with_visits(tmp_path: Path, visits: list[Path]) -> Path:
    data = tmp_path / "data"
    (data / "recordings").mkdir(parents=True)
    for v in visits:
        shutil.copy(v, data / "recordings")
    return data


def test_add_list_show_edit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = ["--data-dir", str(tmp_path)]
    code, out, err = run(capsys, "clients", "list", *d)
    assert (code, out) == (0, "") and "no clients yet" in err
    code, out, _ = run(capsys, "clients", "add", "Ida Lund", "--side", "left", "--notes", "n", *d)
    assert code == 0
    cid = out.split()[0]
    assert out == f"{cid}  Ida Lund  sides left  0 sessions, last -\n"
    assert run(capsys, "clients", "add", "Jon", *d)[0] == 0
    code, out, _ = run(capsys, "clients", "list", *d)
    assert [line.split("  ")[1] for line in out.splitlines()] == ["Ida Lund", "Jon"]
    listed = json.loads(run(capsys, "clients", "list", "--json", *d)[1])
    first = listed[0]
    assert (first["id"], first["name"], first["notes"], first["sides"], first["version"]) == (
        cid,
        "Ida Lund",
        "n",
        ["left"],
        1,
    )
    code, out, _ = run(capsys, "clients", "show", "ida lund", *d)
    assert code == 0 and out == f"{cid}  Ida Lund  sides left  0 sessions, last -\nnotes: n\n"

    code, out, _ = run(capsys, "clients", "edit", cid, "--name", "Ida Lund-Berg", "--side", "left",
                       "--side", "right", *d)  # fmt: skip
    assert code == 0 and out == f"{cid}  Ida Lund-Berg  sides left,right  0 sessions, last -\n"
    code, _, _ = run(capsys, "clients", "edit", "IDA LUND-BERG", "--notes", "new notes", *d)
    assert code == 0
    (ida,) = [
        c for c in json.loads(run(capsys, "clients", "list", "--json", *d)[1]) if c["id"] == cid
    ]
    assert (ida["name"], ida["notes"], ida["sides"], ida["version"]) == (
        "Ida Lund-Berg",
        "new notes",
        ["left", "right"],
        3,
    )
    fails(capsys, "clients", "add", " jon ", *d, needle="a client named 'jon' exists already")
    fails(capsys, "clients", "edit", cid, "--name", "JON", *d, needle="exists already")
    fails(capsys, "clients", "show", "Nobody", *d, needle="no client with that id or name")
    fails(capsys, "clients", "show", "c0000000000", *d, needle="no client with id")
    fails(capsys, "clients", "show", "../x", *d, needle="no client")
    fails(capsys, "clients", "add", "   ", *d, needle="printable characters")


def test_record_for_a_client(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = ["--data-dir", str(tmp_path)]
    run(capsys, "clients", "add", "Kim Live", *d)
    cid = client_id(capsys, tmp_path, "Kim Live")
    code, _, err = run(capsys, "record", "visit-1.hsr", "--client", "kim live", "--simulate",
                       "active_extension", *d)  # fmt: skip
    assert code == 0, err
    assert f"session visit-1 is Kim Live's ({cid})" in err
    path = tmp_path / "recordings" / "visit-1.hsr"
    with RecordingReader(path) as reader:
        meta = reader.metadata()
    assert meta.extra["client"] == {"id": cid, "name": "Kim Live"}
    assert meta.subject == "Kim Live" and meta.extra["scenario"] == "active_extension"
    code, out, _ = run(capsys, "clients", "show", cid, *d)
    assert out.splitlines()[0].endswith("1 sessions, last " + meta.created_utc[:10])
    assert out.splitlines()[1].split()[1] == "visit-1"
    # The same name again, or a path outside the data directory: refused, nothing recorded.
    fails(capsys, "record", "visit-1", "--client", cid, "--simulate", "active_extension", *d,
          needle="exists")  # fmt: skip
    fails(capsys, "record", str(tmp_path / "elsewhere" / "x.hsr"), "--client", cid, "--simulate",
          "active_extension", *d, needle="goes into the data directory")  # fmt: skip
    fails(capsys, "record", "v2", "--client", "Nobody", "--simulate", "active_extension", *d,
          needle="no client")  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "recordings").iterdir()) == ["visit-1.hsr"]


def test_import_a_samples_csv_for_a_client(
    tmp_path: Path, samples_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(tmp_path)]
    run(capsys, "clients", "add", "Lea Import", *d)
    cid = client_id(capsys, tmp_path, "Lea Import")
    code, _, err = run(capsys, "import", str(samples_csv), "--client", cid, *d)
    assert code == 0, err
    assert f"as session clinic-visit of Lea Import ({cid})" in err
    code, _, err = run(capsys, "import", str(samples_csv), "--client", "lea import", "--out",
                       "second", "--subject", "P9", *d)  # fmt: skip
    assert code == 0, err
    store = SessionStore(tmp_path)
    try:
        assert [s.name for s in store.clients.sessions(cid)] == ["clinic-visit", "second"]
        with RecordingReader(tmp_path / "recordings" / "clinic-visit.hsr") as reader:
            meta = reader.metadata()
        assert meta.subject == "Lea Import" and meta.extra["client"]["id"] == cid
        with RecordingReader(tmp_path / "recordings" / "second.hsr") as reader:
            assert reader.metadata().subject == "P9"
    finally:
        store.close()
    fails(capsys, "import", str(samples_csv), "--client", cid, *d, needle="exists")
    fails(capsys, "import", str(samples_csv), "--client", "Nobody", "--out", "x", *d,
          needle="no client")  # fmt: skip


def test_assign_merge_progress_and_report(
    tmp_path: Path, visits: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data = with_visits(tmp_path, visits)
    d = ["--data-dir", str(data)]
    run(capsys, "clients", "add", "Max Weekly", "--side", "left", *d)
    run(capsys, "clients", "add", "Max Duplicate", *d)
    for v in visits[:2]:
        code, _, err = run(capsys, "clients", "assign", v.stem, "max weekly", *d)
        assert (code, err) == (0, "assigned\n")
    assert run(capsys, "clients", "assign", visits[2].stem, "Max Duplicate", *d)[0] == 0
    code, _, err = run(capsys, "clients", "merge", "Max Duplicate", "Max Weekly", *d)
    assert code == 0 and "merged 1 sessions into:" in err
    fails(capsys, "clients", "show", "Max Duplicate", *d, needle="no client")
    fails(capsys, "clients", "assign", "nope", "Max Weekly", *d, needle="no recording named")
    fails(capsys, "clients", "merge", "Max Weekly", "Max Weekly", *d, needle="into itself")

    code, out, _ = run(capsys, "clients", "progress", "Max Weekly", *d)
    lines = out.splitlines()
    assert code == 0 and [line.split("  ")[1] for line in lines] == [v.stem for v in visits]
    assert all(" left active " in line and "[" not in line for line in lines)

    code, out, _ = run(capsys, "clients", "progress", "Max Weekly", "--json", *d)
    doc = json.loads(out)
    store = SessionStore(data)
    try:
        cid = store.clients.find("Max Weekly").id
        expected = client_store.client_progress(store, cid)
    finally:
        store.close()
    assert doc["sessions"] == expected["sessions"] and doc["client"]["id"] == cid
    week3 = doc["sessions"][2]["changes"]["left"]["active_deg"]["since_first"]
    assert week3["change"] == pytest.approx(4.0, abs=1.0) and week3["detectable"] is True

    csv_path = tmp_path / "progress.csv"
    code, _, err = run(capsys, "clients", "progress", cid, "--csv", str(csv_path), *d)
    assert code == 0 and err == f"wrote {csv_path} (3 sessions)\n"
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("session,date_utc,status,message,left_classification")
    assert [r.split(",")[0] for r in rows[1:]] == [v.stem for v in visits]

    html = tmp_path / "report.html"
    code, _, err = run(capsys, "report", "--client", "max weekly", "--out", str(html), *d)
    assert code == 0 and err.startswith(f"wrote {html} (") and "3 sessions" in err
    text = html.read_text()
    assert "<h1>Max Weekly: hip extension report</h1>" in text and "<script" not in text
    fails(capsys, "report", str(visits[0]), "--client", cid, "--out", str(html), *d,
          needle="not both")  # fmt: skip
    fails(capsys, "report", "--client", "Nobody", "--out", str(tmp_path / "n.html"), *d,
          needle="no client")  # fmt: skip
    assert not (tmp_path / "n.html").exists()

    code, _, err = run(capsys, "clients", "assign", visits[0].stem, *d)
    assert (code, err) == (0, "unassigned\n")
    code, out, _ = run(capsys, "clients", "show", cid, *d)
    assert "2 sessions" in out.splitlines()[0]


def test_export_and_import_an_archive(
    tmp_path: Path, visits: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data = with_visits(tmp_path / "a", visits[:2])
    d = ["--data-dir", str(data)]
    run(capsys, "clients", "add", "Nora Archive", "--notes", "kept", *d)
    for v in visits[:2]:
        run(capsys, "clients", "assign", v.stem, "Nora Archive", *d)
    archive = tmp_path / "nora.zip"
    code, _, err = run(capsys, "clients", "export", "Nora Archive", "--out", str(archive), *d)
    assert (code, err) == (0, f"wrote {archive} (2 sessions)\n")
    cid = client_id(capsys, data, "Nora Archive")

    other = ["--data-dir", str(tmp_path / "b")]
    code, out, err = run(capsys, "clients", "import", str(archive), *other)
    assert code == 0 and err == "imported 2 sessions for:\n"
    assert out.startswith(f"{cid}  Nora Archive  sides -  2 sessions, last ")
    code, out, err = run(capsys, "clients", "import", str(archive), *other)
    assert code == 0 and err == "imported 0 sessions for:\n" and "2 sessions" in out
    a = json.loads(run(capsys, "clients", "progress", cid, "--json", *d)[1])
    b = json.loads(run(capsys, "clients", "progress", cid, "--json", *other)[1])
    assert a["sessions"] == b["sessions"]

    third = ["--data-dir", str(tmp_path / "c")]
    run(capsys, "clients", "add", "nora archive", *third)
    fails(capsys, "clients", "import", str(archive), *third, needle="another name")
    code, out, _ = run(capsys, "clients", "import", str(archive), "--name", "Nora (B)", *third)
    assert code == 0 and "Nora (B)" in out
    fails(capsys, "clients", "import", str(tmp_path / "missing.zip"), *third,
          needle="not a zip archive")  # fmt: skip
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    fails(capsys, "clients", "import", str(bad), *third, needle="not a zip archive")


def test_delete_needs_a_confirmation(
    tmp_path: Path,
    visits: list[Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = with_visits(tmp_path, visits[:2])
    d = ["--data-dir", str(data)]
    run(capsys, "clients", "add", "Olga Delete", *d)
    run(capsys, "clients", "add", "Otto Kept", *d)
    run(capsys, "clients", "assign", visits[0].stem, "Olga Delete", *d)
    run(capsys, "clients", "assign", visits[1].stem, "Otto Kept", *d)

    monkeypatch.setattr(sys, "stdin", io.StringIO("Olga Delete\n"))  # not a terminal
    fails(capsys, "clients", "delete", "Olga Delete", *d, needle="confirm with --confirm NAME")
    fails(capsys, "clients", "delete", "Olga Delete", "--confirm", "Olga", *d,
          needle="confirm with the client's name")  # fmt: skip
    assert (data / "recordings" / visits[0].name).is_file()

    code, _, err = run(capsys, "clients", "delete", "Olga Delete", "--confirm", "olga delete", *d)
    assert (code, err) == (0, "deleted the client and 1 sessions\n")
    assert sorted(p.name for p in (data / "recordings").iterdir()) == [visits[1].name]
    fails(capsys, "clients", "show", "Olga Delete", *d, needle="no client")

    # At a terminal the name is asked for.
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    asked: list[str] = []

    def answer(prompt: str) -> str:
        asked.append(prompt)
        return "otto kept"

    def end_of_input(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr(builtins, "input", end_of_input)  # Ctrl+D at the prompt
    fails(capsys, "clients", "delete", "Otto Kept", *d, needle="nothing was deleted")
    assert (data / "recordings" / visits[1].name).is_file()
    monkeypatch.setattr(builtins, "input", answer)
    code, _, err = run(capsys, "clients", "delete", "Otto Kept", *d)
    assert (code, err) == (0, "deleted the client and 1 sessions\n")
    assert asked == ["Delete Otto Kept and their 1 sessions for good? Type the name to confirm: "]
    assert list((data / "recordings").iterdir()) == []


def test_an_index_of_a_newer_hipsense_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = sqlite3.connect(tmp_path / INDEX_FILE)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    fails(capsys, "clients", "list", "--data-dir", str(tmp_path), needle="newer hipsense")


def test_errors_never_show_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = ["--data-dir", str(tmp_path)]
    cases: list[tuple[list[str], str]] = [
        (["clients", "edit", "Nobody", "--notes", "x"], "no client"),
        (["clients", "progress", "Nobody"], "no client"),
        (["clients", "export", "Nobody", "--out", str(tmp_path / "x.zip")], "no client"),
        (["clients", "assign", "../etc", "Nobody"], "no client"),
        (["clients", "delete", "c0000000000", "--confirm", "x"], "no client"),
    ]
    for args, needle in cases:
        fails(capsys, *args, *d, needle=needle)
    run(capsys, "clients", "add", "Pia", *d)
    fails(capsys, "clients", "assign", "../etc", "Pia", *d, needle="invalid recording name")
    assert not (tmp_path / "x.zip").exists()
