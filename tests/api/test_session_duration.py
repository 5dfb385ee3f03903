"""The sessions list gives a recorded session's own duration, also when the source delivers raw
BLE notifications (their host receive times are on another clock than the session's)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from hipsense.api.app import create_app
from hipsense.api.service import ServiceSettings
from hipsense.recording.index import INDEX_FILE, INDEX_VERSION, SessionIndex
from hipsense.sources import DeviceInfo, SourceBatch
from hipsense.types import RawNotification, SampleBlock

HOST_CLOCK_START_NS = 1_026_000_000_000
"""The BLE host clock (monotonic: time since boot) when the session starts, about 17 min."""


class RawBleLikeSource:
    """Still sensors at 100 Hz, each block with the raw notification it was decoded from,
    stamped on the host clock; 10x real time."""

    name = "ble"

    session_start_ns = HOST_CLOCK_START_NS

    def __init__(self) -> None:
        self.roles = ["pelvis", "thigh_left", "thigh_right"]
        self.rate_hz = dict.fromkeys(self.roles, 100.0)

    def devices(self) -> list[DeviceInfo]:
        return [DeviceInfo(r, "open_profile", "AA:BB:CC:DD:EE:FF") for r in self.roles]

    async def close(self) -> None:
        pass

    async def stream(self) -> AsyncIterator[SourceBatch]:
        step = 0.1
        for k in range(6000):
            t = np.round(k * step + np.arange(1, 11) * 0.01, 6)
            acc = np.tile([0.0, 0.0, 9.81], (len(t), 1))
            items: list[Any] = []
            for role in self.roles:
                host_ns = HOST_CLOCK_START_NS + round(float(t[-1]) * 1e9)
                items.append(RawNotification(role, "AA:BB:CC:DD:EE:FF", host_ns, b"x"))
                items.append(SampleBlock(role, t, acc, np.zeros_like(acc)))
            yield SourceBatch(items)
            await asyncio.sleep(step / 10)


def test_listed_duration_is_the_session_time_recorded(tmp_path: Path) -> None:
    app = create_app(ServiceSettings(data_dir=tmp_path), RawBleLikeSource)
    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while client.get("/api/health").json()["time_s"] < 1.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.post("/api/sessions", json={"name": "raw-ble"}).status_code == 201
        time.sleep(0.6)
        stopped = client.post("/api/sessions/stop")
        assert stopped.status_code == 200, stopped.text
        listed = client.get("/api/sessions").json()
        detail = client.get("/api/sessions/raw-ble").json()
        recordings = client.get("/api/recordings").json()
    recorded_s = detail["summary"]["duration_s"]  # the recorder's last sample time
    assert 2.0 < recorded_s < 30.0
    assert [s["name"] for s in listed] == ["raw-ble"]
    assert listed[0]["duration_s"] == pytest.approx(recorded_s, abs=0.05)  # was 1000+ s
    assert stopped.json()["duration_s"] == pytest.approx(recorded_s, abs=0.05)
    assert detail["duration_s"] == pytest.approx(recorded_s, abs=0.05)
    assert recordings[0]["duration_s"] == pytest.approx(recorded_s, abs=0.05)

    # An index written by an older hipsense (the wrong duration) is corrected when opened.
    db = sqlite3.connect(tmp_path / INDEX_FILE)
    db.execute("UPDATE sessions SET duration_s = 1081.0")
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    with SessionIndex(tmp_path) as index:
        row = index.get("raw-ble")
    assert row is not None and row.duration_s == pytest.approx(recorded_s, abs=0.05)
    db = sqlite3.connect(tmp_path / INDEX_FILE)
    assert db.execute("PRAGMA user_version").fetchone()[0] == INDEX_VERSION
    db.close()
