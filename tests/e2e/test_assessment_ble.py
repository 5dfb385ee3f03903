"""A sensor that drops out in the middle of a trial, through the real BLE stack (bumble).

The simulated assessment subject streams over virtual BLE sensors; the left thigh sensor loses
its link during the left active trial. The trial must be rejected with a reason a person can
act on, the service must keep answering (no 5xx), and the rest of the assessment goes on.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from hipsense.api.app import create_app
from hipsense.api.background import BackgroundServer
from hipsense.api.service import ServiceSettings
from hipsense.sources.simulated import simulate_assessment_demo
from hipsense.sources.virtual_ble import VirtualBleSource
from hipsim.ble.peripherals import Faults
from hipsim.clinician import HttpClinician


def test_a_thigh_sensor_dropping_mid_trial_rejects_the_trial_with_the_reason(
    tmp_path: Path,
) -> None:
    speed = 4.0
    session, timeline = simulate_assessment_demo(seed=4)
    trial = timeline.trial("active_standing_left")
    drop_s = 0.5 * (trial.reps[1].start_s + trial.reps[1].end_s)
    faults = {"thigh_left": Faults(disconnect_at_s=(drop_s,), out_of_range_s=1.5, seed=1)}
    app = create_app(
        ServiceSettings(data_dir=tmp_path),
        lambda: VirtualBleSource(session, speed=speed, loop=False, faults=faults),
        auto_calibrate=True,
    )
    statuses: list[int] = []
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        clinician = HttpClinician(server.url, timeline, poll_s=0.02)
        clinician.start()
        # A condition wait: a loaded machine plays the BLE stack slower than asked.
        deadline = time.monotonic() + 300.0
        state: dict = {}
        while time.monotonic() < deadline:
            r = http.get("/api/assessment")
            statuses.append(r.status_code)
            state = r.json()
            trials = {t["id"]: t for t in state.get("trials", [])}
            if trials.get("passive_left", {}).get("state") == "accepted":
                break
            time.sleep(0.1)
        clinician.stop()
        devices = http.get("/api/devices").json()
    assert all(s < 500 for s in statuses)
    trials = {t["id"]: t for t in state["trials"]}
    assert "active_standing_left" in trials, (state, clinician.errors)
    rejected = trials["active_standing_left"]
    assert rejected["state"] == "rejected", rejected
    assert "thigh_left" in rejected["message"] or "data stopped" in rejected["message"]
    assert "Redo" in rejected["message"]
    assert trials["passive_left"]["state"] == "accepted"
    assert state["sides"]["left"]["classification"] == "incomplete"
    assert "active" in state["sides"]["left"]["interpretation"]
    left = next(d for d in devices if d["role"] == "thigh_left")
    assert left["connected"], "the sensor came back after its link loss"
