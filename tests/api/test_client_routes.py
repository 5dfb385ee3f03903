"""The client routes through the app, on real recordings: records, assignment, a six-week
client's progress (JSON, CSV, report) against the simulator's truth, archives, and no client
name in any log record."""

from __future__ import annotations

import csv
import io
import logging
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from api_helpers import wait_for
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hipsense.api.app import create_app
from hipsense.api.service import ServiceSettings
from hipsense.exercises.progress import DETECTABLE_CHANGE_DEG
from hipsense.recording.reader import RecordingReader
from hipsense.sources.idle import IdleSource
from hipsim.progress import write_weekly_client

START = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
WEEKS = 6
GAIN = 2.0
NAME = "Ingrid Quellmalz"


def idle_app(data: Path) -> FastAPI:
    return create_app(ServiceSettings(data_dir=data), IdleSource, exercise_analysis=False)


def one_line_error(r: Any, status: int, *needles: str) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert list(body) == ["error"] and isinstance(body["error"], str)
    assert body["error"] and "\n" not in body["error"]
    for needle in needles:
        assert needle in body["error"], body["error"]
    return str(body["error"])


@pytest.fixture(scope="module")
def weekly(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Six weekly visits, left active extension 8 -> 18 deg (2 deg a week), simulated once."""
    directory = tmp_path_factory.mktemp("weekly")
    return write_weekly_client(
        directory, weeks=WEEKS, gain_deg_per_week=GAIN, first_utc=START, name="week"
    )


def data_with(root: Path, weekly: list[dict[str, Any]], weeks: int = WEEKS) -> Path:
    data = root / "data"
    (data / "recordings").mkdir(parents=True, exist_ok=True)
    for w in weekly[:weeks]:
        shutil.copy(w["path"], data / "recordings")
    return data


@pytest.fixture(scope="module")
def six(
    tmp_path_factory: pytest.TempPathFactory, weekly: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """One app for the module: the six-week client, created and assigned through the API."""
    data = data_with(tmp_path_factory.mktemp("six"), weekly)
    with TestClient(idle_app(data)) as client:
        r = client.post("/api/clients", json={"name": NAME, "notes": "after hip arthroscopy"})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        for w in weekly:
            r = client.put(f"/api/sessions/{Path(w['path']).stem}/client", json={"client_id": cid})
            assert r.status_code == 200, r.text
        r = client.get(f"/api/clients/{cid}/progress")
        assert r.status_code == 200, r.text
        yield {"client": client, "id": cid, "data": data, "doc": r.json()}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    """A fresh app on an empty data directory."""
    with TestClient(idle_app(tmp_path / "data")) as client:
        yield client


# --- records -------------------------------------------------------------------------------


def test_create_list_and_get(api: TestClient) -> None:
    r = api.post("/api/clients", json={"name": "  Bea  Ortiz ", "notes": "n", "sides": ["left"]})
    assert r.status_code == 201
    bea = r.json()
    assert re.fullmatch(r"c[0-9a-f]{10}", bea["id"])
    assert (bea["name"], bea["notes"], bea["sides"], bea["version"]) == (
        "Bea Ortiz",
        "n",
        ["left"],
        1,
    )
    assert (bea["sessions"], bea["last_session_utc"]) == (0, None)
    assert api.post("/api/clients", json={"name": "aaron Zed"}).status_code == 201
    listed = api.get("/api/clients").json()
    assert [c["name"] for c in listed] == ["aaron Zed", "Bea Ortiz"]
    detail = api.get(f"/api/clients/{bea['id']}").json()
    assert detail == {**bea, "session_list": []}


def test_duplicate_name_is_409(api: TestClient) -> None:
    assert api.post("/api/clients", json={"name": "Carl Ek"}).status_code == 201
    for name in ("Carl Ek", "carl ek", " CARL   EK "):
        one_line_error(api.post("/api/clients", json={"name": name}), 409, "exists already")
    assert len(api.get("/api/clients").json()) == 1


def test_patch_with_a_stale_version_is_409(api: TestClient) -> None:
    c = api.post("/api/clients", json={"name": "Dana"}).json()
    url = f"/api/clients/{c['id']}"
    r = api.patch(url, json={"version": 1, "notes": "first edit", "sides": ["right"]})
    assert r.status_code == 200
    assert (r.json()["version"], r.json()["notes"], r.json()["sides"]) == (
        2,
        "first edit",
        ["right"],
    )
    one_line_error(
        api.patch(url, json={"version": 1, "notes": "edit on version 1"}),
        409,
        "changed by someone else",
        "reload",
    )
    assert api.get(url).json()["notes"] == "first edit"
    other = api.post("/api/clients", json={"name": "Eve"}).json()
    one_line_error(api.patch(url, json={"version": 2, "name": "EVE"}), 409, "exists already")
    assert api.get(f"/api/clients/{other['id']}").json()["version"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/clients/{id}", None),
        ("patch", "/api/clients/{id}", {"version": 1, "notes": "x"}),
        ("delete", "/api/clients/{id}?confirm=x", None),
        ("post", "/api/clients/{id}/merge", {"into": "{known}"}),
        ("post", "/api/clients/{known}/merge", {"into": "{id}"}),
        ("get", "/api/clients/{id}/progress", None),
        ("get", "/api/clients/{id}/progress.csv", None),
        ("get", "/api/clients/{id}/report", None),
        ("get", "/api/clients/{id}/archive", None),
    ],
)
@pytest.mark.parametrize("unknown", ["c0000000000", "c..", "..x", "c0123456789%0A", "x%2F..%2Fy"])
def test_unknown_client_is_404(
    api: TestClient, method: str, path: str, body: Any, unknown: str
) -> None:
    known = api.post("/api/clients", json={"name": "Known"}).json()["id"]

    def fill(text: str) -> str:
        return text.replace("{id}", unknown).replace("{known}", known)

    json_body = (
        None if body is None else {k: fill(v) if isinstance(v, str) else v for k, v in body.items()}
    )
    r = api.request(method.upper(), fill(path), json=json_body)
    one_line_error(r, 404)
    assert [c["id"] for c in api.get("/api/clients").json()] == [known]


@pytest.mark.parametrize(
    ("method", "body", "needle"),
    [
        ("post", {}, "name: Field required"),
        ("post", {"name": ""}, "name: String should have at least 1 character"),
        ("post", {"name": "x" * 81}, "name: String should have at most 80 characters"),
        ("post", {"name": "A", "sides": ["middle"]}, "sides.0"),
        ("post", {"name": "A", "age": 40}, "age: Extra inputs are not permitted"),
        ("patch", {"notes": "no version"}, "version: Field required"),
        ("patch", {"version": 0}, "version: Input should be greater than or equal to 1"),
        ("patch", {"version": "one"}, "version"),
    ],
)
def test_invalid_body_is_422_in_one_line(
    api: TestClient, method: str, body: dict[str, Any], needle: str
) -> None:
    c = api.post("/api/clients", json={"name": "Valid"}).json()
    url = "/api/clients" if method == "post" else f"/api/clients/{c['id']}"
    message = one_line_error(api.request(method.upper(), url, json=body), 422, needle)
    assert message.startswith("invalid request: ")
    assert api.get(f"/api/clients/{c['id']}").json()["version"] == 1


def test_body_that_is_no_json_is_422(api: TestClient) -> None:
    r = api.post("/api/clients", content=b"{name", headers={"content-type": "application/json"})
    one_line_error(r, 422, "not valid JSON")


def test_delete_needs_the_name_and_then_removes_the_files(
    tmp_path: Path, weekly: list[dict[str, Any]]
) -> None:
    data = data_with(tmp_path, weekly, 2)
    with TestClient(idle_app(data)) as api:
        c = api.post("/api/clients", json={"name": "Finn Gale"}).json()
        keep = api.post("/api/clients", json={"name": "Kept"}).json()
        api.put("/api/sessions/week-w1/client", json={"client_id": c["id"]})
        api.put("/api/sessions/week-w2/client", json={"client_id": keep["id"]})
        url = f"/api/clients/{c['id']}"
        one_line_error(api.delete(url), 400, "confirm with the client's name")
        one_line_error(api.delete(f"{url}?confirm=Finn"), 400, "confirm with the client's name")
        assert (data / "recordings" / "week-w1.hsr").is_file()
        assert api.get(url).json()["sessions"] == 1
        r = api.delete(url, params={"confirm": "finn gale"})
        assert r.status_code == 200 and r.json()["message"] == "client deleted with 1 sessions"
        assert not (data / "recordings" / "week-w1.hsr").exists()
        assert (data / "recordings" / "week-w2.hsr").is_file()
        one_line_error(api.get(url), 404)
        assert [s["name"] for s in api.get("/api/sessions").json()] == ["week-w2"]
        assert [x["id"] for x in api.get("/api/clients").json()] == [keep["id"]]


def test_assign_and_unassign_a_session(tmp_path: Path, weekly: list[dict[str, Any]]) -> None:
    with TestClient(idle_app(data_with(tmp_path, weekly, 2))) as api:
        c = api.post("/api/clients", json={"name": "Gus"}).json()
        url = "/api/sessions/week-w2/client"
        r = api.put(url, json={"client_id": c["id"]})
        assert r.status_code == 200 and r.json()["message"] == "session assigned"
        detail = api.get(f"/api/clients/{c['id']}").json()
        assert detail["sessions"] == 1
        assert detail["last_session_utc"] == weekly[1]["created_utc"]
        (s,) = detail["session_list"]
        assert s["name"] == "week-w2" and not s["missing"] and not s["damaged"]
        assert s["duration_s"] == pytest.approx(weekly[1]["duration_s"], abs=0.2)
        assert s["report_url"] == "/api/sessions/week-w2/report"
        listed = {x["name"]: x for x in api.get("/api/sessions").json()}
        assert listed["week-w2"]["client_id"] == c["id"] and listed["week-w1"]["client_id"] is None

        one_line_error(api.put("/api/sessions/nope/client", json={"client_id": c["id"]}), 404)
        one_line_error(api.put(url, json={"client_id": "c0000000000"}), 404)
        one_line_error(api.put(url, json={"client_id": c["id"], "x": 1}), 422)
        assert api.put(
            "/api/sessions/..%2F..%2Fetc/client", json={"client_id": None}
        ).status_code in (
            400,
            404,
        )
        r = api.put(url, json={"client_id": None})
        assert r.status_code == 200 and r.json()["message"] == "session unassigned"
        assert api.get(f"/api/clients/{c['id']}").json()["session_list"] == []


def test_merge_through_the_api(tmp_path: Path, weekly: list[dict[str, Any]]) -> None:
    with TestClient(idle_app(data_with(tmp_path, weekly, 2))) as api:
        a = api.post("/api/clients", json={"name": "Dup One", "sides": ["left"]}).json()
        b = api.post("/api/clients", json={"name": "Dup Two", "sides": ["right"]}).json()
        api.put("/api/sessions/week-w1/client", json={"client_id": a["id"]})
        api.put("/api/sessions/week-w2/client", json={"client_id": b["id"]})
        one_line_error(api.post(f"/api/clients/{a['id']}/merge", json={"into": a["id"]}), 400)
        r = api.post(f"/api/clients/{a['id']}/merge", json={"into": b["id"]})
        assert r.status_code == 200
        assert (r.json()["id"], r.json()["sessions"], r.json()["sides"]) == (
            b["id"],
            2,
            ["left", "right"],
        )
        one_line_error(api.get(f"/api/clients/{a['id']}"), 404)


def test_recording_a_session_for_a_client(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    with make_client() as live:
        c = live.post("/api/clients", json={"name": "Hana Live"}).json()
        one_line_error(
            live.post("/api/sessions", json={"name": "live-x", "client_id": "c0000000000"}), 404
        )
        wait_for(live, "/api/calibration", lambda b: b["step"] == "done")
        r = live.post("/api/sessions", json={"name": "live-1", "client_id": c["id"]})
        assert r.status_code == 201, r.text
        assert r.json()["client_id"] == c["id"]
        time.sleep(1.0)
        r = live.post("/api/sessions/stop")
        assert r.status_code == 200, r.text
        assert r.json()["client_id"] == c["id"]
        detail = live.get(f"/api/clients/{c['id']}").json()
        assert [s["name"] for s in detail["session_list"]] == ["live-1"]
        with RecordingReader(tmp_path / "recordings" / "live-1.hsr") as reader:
            meta = reader.metadata()
        assert meta.extra["client"] == {"id": c["id"], "name": "Hana Live"}
        assert meta.subject == "Hana Live"  # no subject given: the client's name
        doc = live.get(f"/api/clients/{c['id']}/progress").json()
        (s,) = doc["sessions"]
        assert s["name"] == "live-1" and s["status"] in ("ok", "error")  # no assessment in it


# --- the six-week client's progress ---------------------------------------------------------


def test_progress_matches_the_truth(six: dict[str, Any], weekly: list[dict[str, Any]]) -> None:
    doc = six["doc"]
    assert doc["client"]["id"] == six["id"] and doc["client"]["name"] == NAME
    assert doc["sides"] == ["left", "right"]
    assert doc["detectable_change_deg"] == DETECTABLE_CHANGE_DEG
    sessions = doc["sessions"]
    assert [s["name"] for s in sessions] == [f"week-w{k}" for k in range(1, WEEKS + 1)]
    assert [s["created_utc"] for s in sessions] == [w["created_utc"] for w in weekly]
    truth0 = weekly[0]["truth"]["left"]["active_deg"]
    flagged = []
    for s, w in zip(sessions, weekly, strict=True):
        assert s["status"] == "ok" and s["message"] == ""
        left = s["figures"]["sides"]["left"]
        truth = w["truth"]["left"]
        assert left["active_deg"] == pytest.approx(truth["active_deg"], abs=1.0), s["name"]
        assert left["passive_deg"] == pytest.approx(truth["passive_deg"], abs=1.0), s["name"]
        assert left["classification"] == truth["classification"], s["name"]
        change = s["changes"]["left"]["active_deg"]
        if w["week"] == 1:
            assert change == {"since_first": None, "since_previous": None}
            continue
        true_change = truth["active_deg"] - truth0
        assert true_change == pytest.approx(GAIN * (w["week"] - 1), abs=1e-6)
        first = change["since_first"]
        assert first["change"] == pytest.approx(true_change, abs=1.0), s["name"]
        assert first["change"] == pytest.approx(
            left["active_deg"] - sessions[0]["figures"]["sides"]["left"]["active_deg"], abs=0.051
        )
        assert first["detectable"] is (abs(first["change"]) > DETECTABLE_CHANGE_DEG["active"])
        assert first["direction"] == "better"
        prev = change["since_previous"]
        assert prev["change"] == pytest.approx(GAIN, abs=1.0)
        assert prev["detectable"] is (abs(prev["change"]) > DETECTABLE_CHANGE_DEG["active"])
        for side in ("left", "right"):
            passive = s["changes"][side]["passive_deg"]
            for entry in (passive["since_first"], passive["since_previous"]):
                if entry["detectable"]:
                    flagged.append((s["name"], side, entry["change"]))
    assert flagged == [], "the passive range never changed"


def test_progress_what_changed_sentences(six: dict[str, Any]) -> None:
    doc = six["doc"]
    last = doc["sessions"][-1]["figures"]["sides"]["left"]["active_deg"]
    first = doc["sessions"][0]["figures"]["sides"]["left"]["active_deg"]
    (sentence,) = [t for t in doc["what_changed"] if t.startswith("Left active hip extension")]
    change = doc["sessions"][-1]["changes"]["left"]["active_deg"]["since_first"]["change"]
    # The wording is the report's; the numbers are the JSON's.
    assert re.search(rf"{first:.1f}\D+{last:.1f}\D+since the first session", sentence), sentence
    assert f"+{change:.1f}" in sentence and "better" in sentence


def test_progress_csv_has_the_same_numbers(six: dict[str, Any]) -> None:
    r = six["client"].get(f"/api/clients/{six['id']}/progress.csv")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="{six["id"]}-progress.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    doc = six["doc"]
    assert [row["session"] for row in rows] == [s["name"] for s in doc["sessions"]]

    def text(value: float | None) -> str:
        return "" if value is None else f"{value:.1f}"

    for row, s in zip(rows, doc["sessions"], strict=True):
        assert row["date_utc"] == s["created_utc"] and row["status"] == "ok"
        for side in ("left", "right"):
            figs = s["figures"]["sides"][side]
            assert row[f"{side}_classification"] == figs["classification"]
            for key in ("active_deg", "passive_deg", "gap_deg"):
                assert row[f"{side}_{key}"] == text(figs[key])
                entry = s["changes"][side][key]
                first, prev = entry["since_first"], entry["since_previous"]
                assert row[f"{side}_{key}_change_since_first"] == text(first and first["change"])
                assert row[f"{side}_{key}_change_since_previous"] == text(prev and prev["change"])
                assert row[f"{side}_{key}_change_detectable"] == (
                    "" if first is None else str(first["detectable"])
                )
    assert float(rows[-1]["left_active_deg_change_since_first"]) == pytest.approx(
        GAIN * (WEEKS - 1), abs=1.0
    )


def test_report_is_self_contained_and_names_the_client(six: dict[str, Any]) -> None:
    r = six["client"].get(f"/api/clients/{six['id']}/report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert f"<h1>{NAME}: hip extension report</h1>" in html
    assert f"<title>hipsense report: {NAME}</title>" in html
    assert "<script" not in html.lower()
    # The inline SVG's namespace is a name, not something to load; nothing else is external.
    urls = re.findall(
        r"https?://[^\s\"'<>)]+", html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    assert urls == []
    assert not re.search(r"""(src|href)\s*=\s*["']?(?!#)""", html, re.IGNORECASE)
    assert "Latest session: week-w6" in html
    assert html.count("<circle") == 4 * WEEKS  # active and passive, two sides, every week


def test_progress_chart_carries_the_json_values(six: dict[str, Any]) -> None:
    r = six["client"].get(f"/api/clients/{six['id']}/progress.svg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    points = re.findall(
        r'data-session="([^"]+)" data-side="(\w+)" data-metric="(\w+)" data-value="([-\d.]+)"',
        r.text,
    )
    doc = six["doc"]
    expected = {
        (s["name"], side, key, f"{s['figures']['sides'][side][key]:.1f}")
        for s in doc["sessions"]
        for side in ("left", "right")
        for key in ("active_deg", "passive_deg")
    }
    assert set(points) == expected and len(points) == len(expected)


def test_archive_download_and_upload_round_trip(
    six: dict[str, Any], tmp_path: Path, weekly: list[dict[str, Any]]
) -> None:
    r = six["client"].get(f"/api/clients/{six['id']}/archive")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert f'filename="{six["id"]}-archive.zip"' in r.headers["content-disposition"]
    blob = r.content
    names = zipfile.ZipFile(io.BytesIO(blob)).namelist()
    assert "hipsense-client.json" in names
    assert sorted(n for n in names if n.startswith("recordings/")) == [
        f"recordings/week-w{k}.hsr" for k in range(1, WEEKS + 1)
    ]
    assert not list(six["data"].glob(".archive-*")), "the temporary zip is gone"

    with TestClient(idle_app(tmp_path / "other")) as other:
        one_line_error(other.post("/api/clients/import", content=blob), 415, "application/zip")
        headers = {"content-type": "application/zip"}
        one_line_error(
            other.post("/api/clients/import", content=b"not a zip", headers=headers),
            400,
            "not a zip archive",
        )
        r = other.post("/api/clients/import", content=blob, headers=headers)
        assert r.status_code == 201, r.text
        assert (r.json()["id"], r.json()["name"], r.json()["sessions"]) == (six["id"], NAME, WEEKS)
        doc = other.get(f"/api/clients/{six['id']}/progress").json()
        assert [(s["name"], s["figures"], s["changes"]) for s in doc["sessions"]] == [
            (s["name"], s["figures"], s["changes"]) for s in six["doc"]["sessions"]
        ]
        again = other.post("/api/clients/import", content=blob, headers=headers)
        assert again.status_code == 201 and again.json()["sessions"] == WEEKS
        assert len(other.get("/api/clients").json()) == 1
        assert not list((tmp_path / "other").glob(".upload-*"))


def test_archive_downloads_leave_no_open_files(six: dict[str, Any]) -> None:
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc")
    six["client"].get(f"/api/clients/{six['id']}/archive")  # warm up (imports, threads)
    before = len(list(fds.iterdir()))
    for _ in range(5):
        assert six["client"].get(f"/api/clients/{six['id']}/archive").status_code == 200
    assert len(list(fds.iterdir())) <= before


# --- privacy -------------------------------------------------------------------------------


def test_the_client_name_is_in_no_log_record(
    tmp_path: Path, weekly: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """No record names the client, except the test's own HTTP client (httpx) logging the URL
    of ``DELETE ?confirm=<name>``: the confirmation puts the name in a URL (see the report)."""
    name = "Wilhelmina Zzyzx-Privat"
    caplog.set_level(logging.DEBUG)
    data = data_with(tmp_path, weekly, 2)
    with TestClient(idle_app(data)) as api:
        c = api.post("/api/clients", json={"name": name, "notes": f"{name} notes"}).json()
        api.post("/api/clients", json={"name": name})  # 409
        api.put("/api/sessions/week-w1/client", json={"client_id": c["id"]})
        api.put("/api/sessions/week-w2/client", json={"client_id": c["id"]})
        api.get("/api/clients")
        api.get(f"/api/clients/{c['id']}")
        api.patch(f"/api/clients/{c['id']}", json={"version": 1, "notes": "changed"})
        api.patch(f"/api/clients/{c['id']}", json={"version": 1, "notes": "stale"})  # 409
        for suffix in ("progress", "progress.csv", "progress.svg", "report"):
            assert api.get(f"/api/clients/{c['id']}/{suffix}").status_code == 200
        blob = api.get(f"/api/clients/{c['id']}/archive").content
        api.delete(f"/api/clients/{c['id']}", params={"confirm": "wrong"})
        r = api.delete(f"/api/clients/{c['id']}", params={"confirm": name})
        assert r.status_code == 200
        r = api.post(
            "/api/clients/import", content=blob, headers={"content-type": "application/zip"}
        )
        assert r.status_code == 201
        api.post("/api/clients/import", content=blob, headers={"content-type": "application/zip"})
    assert caplog.records, "logging was captured"
    words = [name, *name.split()]
    leaks = []
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        if any(w.casefold() in text.casefold() for w in words):
            leaks.append((record.name, text))
    # Only the test's HTTP client logging its own request line: ?confirm= carries the name.
    assert [n for n, t in leaks if not (n == "httpx" and "DELETE" in t and "?confirm=" in t)] == []
