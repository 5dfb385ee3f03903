"""A replay's source state (/api/health, the WebSocket hello): running, paused, ended; its
sensors disconnect when it ends; pause/resume/seek then answer 409 and POST
/api/replay/restart plays it again from time 0."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from api_helpers import wait_for
from fastapi.testclient import TestClient

from hipsense.api.app import create_app
from hipsense.api.service import ServiceSettings
from hipsense.cli.serve import make_source

SAMPLE = Path(__file__).resolve().parents[2] / "recordings" / "hip_cars.hsr"  # 40 s


def _replay_client(tmp_path: Path, speed: float) -> TestClient:
    args = argparse.Namespace(source=None, file=str(SAMPLE), replay=None, speed=speed)
    source, auto_calibrate = make_source(args)
    app = create_app(ServiceSettings(data_dir=tmp_path), lambda: source, auto_calibrate)
    return TestClient(app)


def _hello(client: TestClient) -> dict[str, Any]:
    with client.websocket_connect("/ws/live") as ws:
        hello: dict[str, Any] = ws.receive_json()
    return hello


def _next(ws: Any, type_: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == type_:
            return message


def test_finished_replay_is_ended_and_restarts_from_zero(tmp_path: Path) -> None:
    with _replay_client(tmp_path, speed=10.0) as client:
        running = wait_for(client, "/api/health", lambda b: b["time_s"] > 1.0)
        assert running["source_state"] == "running"
        assert all(d["connected"] for d in client.get("/api/devices").json())

        ended = wait_for(client, "/api/health", lambda b: b["source_state"] == "ended", 90.0)
        assert not ended["running"] and ended["time_s"] > 39.0
        devices = client.get("/api/devices").json()
        assert devices and not any(d["connected"] for d in devices)
        assert all(d["data_rate_hz"] == 0 for d in devices)
        hello = _hello(client)
        assert hello["source_state"] == "ended"
        assert not any(d["connected"] for d in hello["devices"])

        for method, path, body in [
            ("post", "/api/replay/pause", None),
            ("post", "/api/replay/resume", None),
            ("post", "/api/replay/seek", {"time_s": 5}),
        ]:
            r = client.request(method, path, json=body)
            assert r.status_code == 409, (path, r.text)
            error = r.json()["error"]
            assert "ended" in error and "POST /api/replay/restart" in error
            assert "\n" not in error

        r = client.post("/api/replay/restart")
        assert r.status_code == 200, r.text
        status = r.json()
        assert status["source"] == "replay" and status["replaying"] is None
        assert status["duration_s"] == pytest.approx(40.0, abs=0.1)
        health = client.get("/api/health").json()
        assert health["source_state"] == "running" and health["time_s"] < 20.0
        with client.websocket_connect("/ws/live") as ws:
            assert ws.receive_json()["source_state"] == "running"
            assert client.post("/api/replay/pause").json()["ok"]
            assert client.get("/api/health").json()["source_state"] == "paused"
            paused = _next(ws, "source")
            assert paused == {"type": "source", "time_s": ANY, "source_state": "paused"}
            assert _hello(client)["source_state"] == "paused"
            assert client.post("/api/replay/resume").json()["ok"]
            assert _next(ws, "source")["source_state"] == "running"
        assert client.get("/api/health").json()["source_state"] == "running"
        wait_for(client, "/api/devices", lambda devs: all(d["connected"] for d in devs))
        body = wait_for(client, "/api/calibration", lambda b: b["step"] in ("done", "failed"))
        assert body["step"] == "done", body["error"]  # calibrated again from the recording


def test_source_ended_message_carries_the_state(tmp_path: Path) -> None:
    with _replay_client(tmp_path, speed=100.0) as client:
        with client.websocket_connect("/ws/live") as ws:
            while True:
                message = ws.receive_json()
                if message["type"] == "sensor" and message["kind"] == "source_ended":
                    break
        assert message["source_state"] == "ended"


def test_restart_needs_a_replay(client: TestClient) -> None:
    wait_for(client, "/api/health", lambda b: b["time_s"] > 0)
    assert client.get("/api/health").json()["source_state"] == "running"
    r = client.post("/api/replay/restart")
    assert r.status_code == 409
    assert "only possible while replaying" in r.json()["error"]
    assert client.get("/api/health").json()["source"] == "sim"


def test_restart_a_data_dir_replay(client: TestClient, tmp_path: Path) -> None:
    shutil.copy(SAMPLE, tmp_path / "recordings" / "cars.hsr")
    r = client.post("/api/replay", json={"name": "cars", "speed": 100})
    assert r.status_code == 200, r.text
    wait_for(client, "/api/health", lambda b: b["source_state"] == "ended", 60.0)
    assert client.post("/api/replay/seek", json={"time_s": 1}).status_code == 409
    r = client.post("/api/replay/restart")
    assert r.status_code == 200, r.text
    assert r.json()["replaying"] == "cars"
    client.post("/api/sessions", json={"name": "during-replay"})
    conflict = client.post("/api/replay/restart")
    assert conflict.status_code == 409 and "recording" in conflict.json()["error"]
    client.post("/api/sessions/stop")
    back = client.post("/api/replay/stop").json()
    assert back["source"] == "sim" and back["replaying"] is None
    assert client.post("/api/replay/restart").status_code == 409
