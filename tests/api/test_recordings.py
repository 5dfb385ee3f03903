"""Sessions recorded as .hsr files through the API, the session index, downloads, exports and
replaying recordings (the service's source, or one switched to from the data directory)."""

from __future__ import annotations

import argparse
import io
import shutil
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_helpers import wait_for
from fastapi.testclient import TestClient

from hipsense.api.app import create_app
from hipsense.api.service import ServiceSettings
from hipsense.body.calibration import Calibration
from hipsense.cli.serve import make_source
from hipsense.errors import ConfigurationError
from hipsense.recording.format import SessionMetadata
from hipsense.recording.index import INDEX_FILE, SessionIndex
from hipsense.recording.reader import read_all
from hipsense.sources import DeviceInfo, SourceBatch
from hipsense.sources.replay import ReplaySource
from hipsense.types import Marker, SampleBlock

SAMPLES = Path(__file__).resolve().parents[2] / "recordings"
SAMPLE = SAMPLES / "hip_cars.hsr"


def record(client: TestClient, name: str, seconds: float = 1.2) -> dict[str, Any]:
    """Record ``seconds`` of wall time (10x data) with a user marker and a hold protocol."""
    wait_for(client, "/api/calibration", lambda b: b["step"] == "done")
    r = client.post("/api/sessions", json={"name": name, "note": "left hip", "subject": "P07"})
    assert r.status_code == 201, r.text
    client.post("/api/markers", json={"exercise": "note", "text": "user marker"})
    assert client.post("/api/holds", json={"side": "left", "phases": ["pails"]}).status_code == 201
    time.sleep(seconds)
    # The hold is marked when it ends: give it some angle frames first (a loaded machine).
    wait_for(client, "/api/holds", lambda b: b["time_s"] > b["holds"][0]["start_s"] + 1.0)
    client.post("/api/holds/stop")
    r = client.post("/api/sessions/stop")
    assert r.status_code == 200, r.text
    return r.json()


def test_recorded_session_is_one_complete_hsr_file(client: TestClient, tmp_path: Path) -> None:
    stopped = record(client, "rec-1")
    path = tmp_path / "recordings" / "rec-1.hsr"
    assert path.is_file()
    assert not (tmp_path / "sessions").exists(), "no CSV session folders any more"

    values, damage = read_all(path)
    assert damage.clean, damage.describe()
    meta = values[0]
    assert isinstance(meta, SessionMetadata)
    assert meta.subject == "P07" and meta.source == "sim" and meta.software_version
    assert [(s.role, s.protocol, s.rate_hz) for s in meta.sensors] == [
        ("pelvis", "simulated", 100.0),
        ("thigh_left", "simulated", 100.0),
        ("thigh_right", "simulated", 100.0),
    ]
    assert meta.extra["note"] == "left hip" and meta.extra["live_time_offset_s"] > 20
    blocks = [v for v in values if isinstance(v, SampleBlock)]
    for role in ("pelvis", "thigh_left", "thigh_right"):
        t = np.concatenate([b.time_s for b in blocks if b.role == role])
        assert 0 <= t[0] < 0.1, "session time starts at 0 with the recording"
        assert np.all(np.diff(t) > 0) and t[-1] > 5
    markers = [v for v in values if isinstance(v, Marker)]
    assert any(m.text == "user marker" for m in markers)
    holds = [m for m in markers if m.exercise == "hold_pails"]
    assert holds and holds[-1].end_s is not None
    assert isinstance(values[1], Calibration), "the calibration in use comes first"
    summary = [v for v in values if isinstance(v, dict)][-1]
    assert summary["frames"] == stopped["frames"] > 300
    assert summary["calibration_quality"] > 60
    assert "hip_flexion_left_deg" in summary["angle_ranges_deg"]
    assert summary["protocols"][0]["kind"] == "hold series"

    with SessionIndex(tmp_path) as index:
        row = index.get("rec-1")
    assert row is not None and row.subject == "P07" and not row.damaged
    assert "hold_pails" in row.exercises and row.summary["frames"] == summary["frames"]

    sessions = client.get("/api/sessions").json()
    assert [(s["name"], s["recording"], s["source"]) for s in sessions] == [("rec-1", False, "sim")]
    detail = client.get("/api/sessions/rec-1").json()
    assert detail["damage"] == f"{damage.records_ok} intact records"
    assert detail["protocols"][0]["phases"] == ["pails"]
    recordings = client.get("/api/recordings").json()
    assert [(r["name"], r["file"], r["size_bytes"]) for r in recordings] == [
        ("rec-1", "rec-1.hsr", path.stat().st_size)
    ]

    download = client.get("/api/recordings/rec-1")
    assert download.status_code == 200 and download.content == path.read_bytes()
    assert 'filename="rec-1.hsr"' in download.headers["content-disposition"]

    samples = client.get("/api/recordings/rec-1/export?format=csv-samples")
    assert samples.status_code == 200 and samples.headers["content-type"].startswith("text/csv")
    assert samples.text.splitlines()[0] == "time_s,role,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"
    assert len(samples.text.splitlines()) == 1 + sum(len(b) for b in blocks)
    angles = client.get("/api/recordings/rec-1/export?format=csv-angles")
    assert angles.status_code == 200
    assert angles.text.startswith("time_s,hip_flexion_left_deg,")
    assert 'filename="rec-1-angles.csv"' in angles.headers["content-disposition"]
    opensim = client.get("/api/recordings/rec-1/export?format=opensim")
    assert opensim.status_code == 200 and opensim.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(opensim.content)) as zf:
        assert sorted(zf.namelist()) == ["rec-1.mot", "rec-1.sto"]
        sto = zf.read("rec-1.sto").decode().splitlines()
        mot = zf.read("rec-1.mot").decode().splitlines()
    assert sto[:5] == [
        sto[0],
        "DataType=Quaternion",
        "version=3",
        "OpenSimVersion=4.2",
        "endheader",
    ]
    assert sto[0].startswith("DataRate=")
    assert sto[5] == "time\tpelvis_imu\tfemur_l_imu\tfemur_r_imu"
    assert mot[0] == "rec-1" and "inDegrees=yes" in mot and "endheader" in mot
    assert mot[mot.index("endheader") + 1].startswith("time\thip_flexion_left_deg")

    report = client.get("/api/sessions/rec-1/report")
    assert report.status_code == 200 and "rec-1" in report.text

    assert client.delete("/api/sessions/rec-1").json()["ok"]
    assert not path.exists() and not (tmp_path / "exports" / "rec-1").exists()
    assert client.get("/api/sessions").json() == []
    assert client.get("/api/recordings/rec-1").status_code == 404


def test_recording_is_readable_while_being_written(client: TestClient, tmp_path: Path) -> None:
    wait_for(client, "/api/calibration", lambda b: b["step"] == "done")
    client.post("/api/sessions", json={"name": "live-1"})
    time.sleep(1.3)  # the writer flushes at least every second
    listed = client.get("/api/sessions").json()
    assert listed[0]["name"] == "live-1" and listed[0]["recording"]
    values, damage = read_all(tmp_path / "recordings" / "live-1.hsr")
    assert not damage.damaged and any(isinstance(v, SampleBlock) for v in values)
    for path in ["/api/recordings/live-1", "/api/recordings/live-1/export"]:
        assert client.get(path).status_code == 409
    assert client.delete("/api/sessions/live-1").status_code == 409
    assert client.post("/api/replay", json={"name": "live-1"}).status_code == 409
    client.post("/api/sessions/stop")
    assert client.get("/api/recordings/live-1").status_code == 200


def test_index_rebuilt_from_files(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    shutil.copy(SAMPLE, recordings / "cars.hsr")
    (recordings / "junk.hsr").write_bytes(b"not a recording")
    with make_client() as c:
        listed = c.get("/api/sessions").json()
        assert [s["name"] for s in listed] == ["cars"]
        assert listed[0]["exercises"] and listed[0]["duration_s"] == pytest.approx(40, abs=0.1)
        shutil.copy(SAMPLE, recordings / "copied.hsr")  # added behind the service's back
        assert {s["name"] for s in c.get("/api/recordings").json()} == {"cars", "copied"}
        assert c.get("/api/recordings/junk/export").status_code == 400
        assert "error" in c.get("/api/recordings/junk/export").json()
        assert c.get("/api/recordings/none/export").status_code == 404
        assert c.get("/api/recordings/cars/export?format=xlsx").status_code == 422
        assert c.get("/api/sessions/cars").json()["damage"].endswith("intact records")
    assert (tmp_path / INDEX_FILE).is_file()


def test_replay_a_sample_recording_as_the_source(tmp_path: Path) -> None:
    args = argparse.Namespace(source=None, file=str(SAMPLE), replay=None, speed=10.0)
    source, auto_calibrate = make_source(args)
    assert args.source == "replay" and isinstance(source, ReplaySource)
    app = create_app(ServiceSettings(data_dir=tmp_path), lambda: source, auto_calibrate)
    with TestClient(app) as c:
        wait_for(c, "/api/health", lambda b: b["time_s"] > 1.0)
        devices = c.get("/api/devices").json()
        assert [(d["role"], d["protocol"]) for d in devices] == [
            ("pelvis", "simulator"),
            ("thigh_left", "simulator"),
            ("thigh_right", "simulator"),
        ]
        assert c.post("/api/replay/pause").json()["ok"]
        paused = c.get("/api/replay").json()
        assert paused["paused"] and paused["duration_s"] == pytest.approx(40.0, abs=0.1)
        time.sleep(0.3)
        assert c.get("/api/replay").json()["position_s"] == pytest.approx(
            paused["position_s"], abs=0.2
        )
        assert c.post("/api/replay/resume").json()["ok"]
        body = wait_for(c, "/api/calibration", lambda b: b["step"] in ("done", "failed"))
        assert body["step"] == "done", body["error"]
        assert {"static", "knee_lift_left"} <= {m["exercise"] for m in c.get("/api/markers").json()}
    with pytest.raises(ConfigurationError, match="no such recording"):
        make_source(argparse.Namespace(source="replay", file="none.hsr", replay=None, speed=1))


def test_switch_to_replay_of_a_data_dir_recording_and_back(
    client: TestClient, tmp_path: Path
) -> None:
    shutil.copy(SAMPLE, tmp_path / "recordings" / "cars.hsr")
    assert client.post("/api/replay/stop").status_code == 409
    r = client.post("/api/replay", json={"name": "cars", "speed": 10})
    assert r.status_code == 200, r.text
    assert r.json()["replaying"] == "cars" and r.json()["source"] == "replay"
    wait_for(client, "/api/health", lambda b: b["source"] == "replay" and b["time_s"] > 1.0)
    with client.websocket_connect("/ws/live") as ws:
        assert ws.receive_json()["source"] == "replay"
    assert client.post("/api/replay/seek", json={"time_s": 20}).json()["ok"]
    back = client.post("/api/replay/stop").json()
    assert back["source"] == "sim" and back["replaying"] is None
    wait_for(client, "/api/health", lambda b: b["source"] == "sim" and b["time_s"] > 0.5)
    assert client.post("/api/replay", json={"name": "../etc"}).status_code == 400


class RawSource:
    """A BLE-like source: knows its session start, yields raw notifications with samples."""

    name = "ble"
    session_start_ns = 5_000_000_000

    def __init__(self) -> None:
        self.roles = ["pelvis", "thigh_left"]
        self.rate_hz = {"pelvis": 100.0, "thigh_left": 100.0}

    def devices(self) -> list[DeviceInfo]:
        return [DeviceInfo("pelvis", "witmotion", "AA:BB:CC:DD:EE:FF")]

    async def stream(self) -> AsyncIterator[SourceBatch]:  # the test feeds LiveSession.ingest
        return
        yield

    async def close(self) -> None:
        pass


async def test_raw_notifications_and_session_start_are_recorded(tmp_path: Path) -> None:
    from hipsense.api.file_routes import record_live
    from hipsense.live import LiveSession
    from hipsense.recording.sessions import SessionStore
    from hipsense.types import RawNotification, SensorEvent

    live = LiveSession(RawSource())
    t = np.arange(0, 1.0, 0.01)
    still = np.tile([0.0, 0.0, 9.81], (len(t), 1))
    await live.ingest([SampleBlock(r, t, still, np.zeros_like(still)) for r in live.roles])
    store = SessionStore(tmp_path)
    recorder = record_live(store, live, "raw-1", "", "")
    feed = live.add_recorder(recorder)
    t2 = t + 1.0
    raw = [
        RawNotification("pelvis", "AA:BB:CC:DD:EE:FF", 6_000_000_000 + i, b"\x55\x51" + bytes([i]))
        for i in range(3)
    ]
    await live.ingest(
        [
            *raw,
            *[SampleBlock(r, t2, still, np.zeros_like(still)) for r in live.roles],
            SensorEvent("pelvis", "battery", 1.5, "battery 40 %", {"battery_pct": 40}),
        ]
    )
    await live.remove_recorder(feed)
    row = store.finish(recorder)
    store.close()
    assert row.sensors == [
        {
            "role": "pelvis",
            "protocol": "witmotion",
            "address": "AA:BB:CC:DD:EE:FF",
            "rate_hz": 100.0,
        },
        {"role": "thigh_left", "protocol": "unknown", "address": "", "rate_hz": 100.0},
    ]
    values, damage = read_all(tmp_path / "recordings" / "raw-1.hsr")
    assert damage.clean
    meta = values[0]
    assert isinstance(meta, SessionMetadata) and meta.source == "ble"
    offset = meta.extra["live_time_offset_s"]
    assert offset == pytest.approx(0.99)
    assert meta.session_start_ns == 5_000_000_000 + round(offset * 1e9)
    notes = [n for v in values if isinstance(v, list) for n in v]
    assert notes == raw, "raw bytes and host receive times kept exactly"
    (events,) = [v for v in values if type(v).__name__ == "SensorEvent"]
    assert events.kind == "battery" and events.detail == {"battery_pct": 40}
    samples = [v for v in values if isinstance(v, SampleBlock)]
    assert samples[0].time_s[0] == pytest.approx(0.01)
