"""HTTP API on the simulated source: health, calibration, markers, sessions, errors."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from api_helpers import wait_for
from fastapi.testclient import TestClient

from hipsense.errors import ConfigurationError


def test_health(client: TestClient) -> None:
    body = wait_for(client, "/api/health", lambda b: b["time_s"] > 0)
    assert body["status"] == "ok"
    assert body["source"] == "sim"


def test_calibration_completes_by_itself(client: TestClient) -> None:
    body = wait_for(client, "/api/calibration", lambda b: b["step"] in ("done", "failed"))
    assert body["step"] == "done", body["error"]
    assert body["quality_score"] > 60
    assert body["knee_lifts"] == {"left": 3, "right": 3}
    assert body["hinges"] == 2
    assert client.get("/api/health").json()["calibrated"]


def test_devices_listed(client: TestClient) -> None:
    wait_for(client, "/api/health", lambda b: b["time_s"] > 0.5)
    devices = client.get("/api/devices").json()
    assert [d["role"] for d in devices] == ["pelvis", "thigh_left", "thigh_right"]
    assert all(d["connected"] and d["battery_pct"] == 87 for d in devices)
    assert all(d["protocol"] == "simulated" for d in devices)


def test_ble_only_operations_are_clear_409(client: TestClient) -> None:
    for method, path, body, hint in [
        ("post", "/api/devices/scan", None, "--source ble"),
        ("post", "/api/devices/AA:BB/connect", None, "--source ble"),
        ("put", "/api/devices/AA:BB/role", {"role": "pelvis"}, "--source ble"),
        ("post", "/api/replay/pause", None, "POST /api/replay plays a recording"),
    ]:
        r = client.request(method, path, json=body)
        assert r.status_code == 409, path
        assert hint in r.json()["error"], path


def test_markers_add_and_list(client: TestClient) -> None:
    r = client.post("/api/markers", json={"exercise": "note", "text": "knee pain", "side": "left"})
    assert r.status_code == 201
    assert r.json()["text"] == "knee pain"
    listed = client.get("/api/markers").json()
    assert any(m["text"] == "knee pain" for m in listed)


def test_script_markers_arrive(client: TestClient) -> None:
    wait_for(
        client,
        "/api/health",
        lambda b: b["time_s"] > 4.0,
    )
    labels = {m["exercise"] for m in client.get("/api/markers").json()}
    assert {"static", "knee_lift_left"} <= labels


def test_results_list_the_analyzers(client: TestClient) -> None:
    results = client.get("/api/results").json()
    assert results["analyzers"] == ["ClinicProtocols", "ExerciseAnalyzer"]
    assert set(results) == {"analyzers", "rom", "holds", "events"}
    assert client.post("/api/protocols", json={"kind": "pails"}).status_code == 404


def test_session_record_list_get_report_delete(client: TestClient) -> None:
    wait_for(client, "/api/calibration", lambda b: b["step"] == "done")
    r = client.post("/api/sessions", json={"name": "demo-1", "note": "first"})
    assert r.status_code == 201, r.text
    assert r.json()["recording"]
    assert client.post("/api/sessions", json={"name": "demo-2"}).status_code == 409
    client.post("/api/markers", json={"text": "during recording"})
    time.sleep(0.5)
    assert client.get("/api/health").json()["recording"] == "demo-1"
    stopped = client.post("/api/sessions/stop").json()
    assert stopped["frames"] > 50 and not stopped["recording"]
    assert stopped["download_url"] == "/api/recordings/demo-1"
    detail = client.get("/api/sessions/demo-1").json()
    assert any(m["text"] == "during recording" for m in detail["marker_list"])
    assert detail["calibration"]["quality_score"] > 60
    assert [s["name"] for s in client.get("/api/sessions").json()] == ["demo-1"]
    report = client.get("/api/sessions/demo-1/report")
    assert report.status_code == 200 and "demo-1" in report.text
    assert client.delete("/api/sessions/demo-1").json()["ok"]
    assert client.get("/api/sessions/demo-1").status_code == 404


def test_errors_are_json(client: TestClient) -> None:
    cases = [
        client.get("/api/nope"),
        client.post("/api/markers", json={"exercise": "x", "bogus": 1}),
        client.post(
            "/api/markers", content=b"{not json", headers={"content-type": "application/json"}
        ),
        client.post("/api/holds", json={"side": "left", "phases": ["yoga"]}),
        client.get("/api/sessions/none-such"),
        client.post("/api/sessions/stop"),
        client.delete("/api/health"),
        client.post("/api/holds/stop"),
        client.post("/api/assessment/abc"),
    ]
    for r in cases:
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code)
        body = r.json()
        assert set(body) == {"error"} and len(body["error"]) > 10, body
    assert cases[1].status_code == 422 and "bogus" in cases[1].json()["error"]
    assert cases[2].status_code == 422 and "JSON" in cases[2].json()["error"]


def test_path_escape_rejected(client: TestClient) -> None:
    for name in ["..", "..%2F..%2Fetc", "%2e%2e", ".hidden", "a%2Fb", "x" * 100]:
        r = client.get(f"/api/sessions/{name}")
        assert r.status_code in (400, 404), name
        assert "error" in r.json()
    r = client.post("/api/sessions", json={"name": "../evil"})
    assert r.status_code == 422
    r = client.get("/api/recordings/..%2F..%2Fetc%2Fpasswd")
    assert r.status_code in (400, 404)
    r = client.get("/api/recordings/..%2Fsessions.sqlite3/export")
    assert r.status_code in (400, 404)
    r = client.delete("/api/sessions/.sessions")
    assert r.status_code in (400, 404)


def test_oversize_request_413(client: TestClient) -> None:
    big = b'{"text": "' + b"x" * 1_100_000 + b'"}'
    r = client.post("/api/markers", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "larger than" in r.json()["error"]


def test_token_enforced(make_client: Callable[..., TestClient]) -> None:
    with make_client(token="s3cret", host="0.0.0.0") as c:
        assert c.get("/api/health").status_code == 401
        assert "token" in c.get("/api/health").json()["error"]
        assert c.get("/api/health", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/health?token=s3cret").status_code == 200
        page = c.get("/?token=s3cret")
        assert page.status_code == 200 and "hipsense_token" in page.headers["set-cookie"]
        assert c.get("/static/app.js").status_code == 200  # the cookie now authenticates
        c.cookies.clear()
        assert c.get("/static/app.js").status_code == 401


def test_cross_origin_and_foreign_host_refused(client: TestClient) -> None:
    r = client.post("/api/markers", json={"text": "x"}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.get("/api/health", headers={"Host": "evil.example"})
    assert r.status_code == 403


def test_non_loopback_without_token_refused(make_client: Callable[..., TestClient]) -> None:
    with pytest.raises(ConfigurationError, match="--token"):
        make_client(host="0.0.0.0")


def test_dashboard_and_docs_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "hipsense" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/api/calibration/start" in schema["paths"]
