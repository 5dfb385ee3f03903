"""`hipsense serve` with its default source: the demo over virtual BLE sensors (bumble)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hipsense.api.app import create_app
from hipsense.api.service import ServiceSettings
from hipsense.cli.serve import make_source
from hipsense.sources.virtual_ble import VirtualBleSource


def _args(**kw: Any) -> argparse.Namespace:
    base = {
        "source": None,
        "file": None,
        "replay": None,
        "exercise": "active_extension",
        "seed": 1,
        "speed": 10.0,
    }
    base.update(kw)
    return argparse.Namespace(**base)


def test_default_source_streams_over_virtual_ble(tmp_path: Path, client_for: Any) -> None:
    source, auto_calibrate = make_source(_args())
    assert isinstance(source, VirtualBleSource)
    assert auto_calibrate
    app = create_app(ServiceSettings(data_dir=tmp_path), lambda: source, auto_calibrate=True)
    with client_for(app) as client:
        deadline = time.monotonic() + 40.0
        calibration: dict[str, Any] = {}
        while time.monotonic() < deadline:
            time.sleep(0.5)
            calibration = client.get("/api/calibration").json()
            if calibration["step"] in ("done", "failed"):
                break
        assert calibration["step"] == "done", calibration
        assert calibration["quality_score"] >= 80
        devices = client.get("/api/devices").json()
        assert {d["role"] for d in devices} == {"pelvis", "thigh_left", "thigh_right"}
        assert all(d["protocol"] == "open_profile" and d["connected"] for d in devices)
        assert all(d["gaps"] == 0 for d in devices)
