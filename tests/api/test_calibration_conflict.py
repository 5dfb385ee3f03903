"""Starting a calibration while one runs is a 409 (no silent restart); a finished calibration
reports one quality score."""

from __future__ import annotations

import time
from collections.abc import Callable

from api_helpers import wait_for
from fastapi.testclient import TestClient

from hipsense.body.calibration import Calibration
from hipsense.body.guided import GuidedCalibration

ACTIVE = ("static", "knee_lifts", "hinges", "calibrating")


def test_start_while_the_auto_calibration_runs_is_409(
    make_client: Callable[..., TestClient],
) -> None:
    with make_client(speed=2.0) as client:  # the routine takes about 14 s of wall time
        running = wait_for(client, "/api/calibration", lambda b: b["step"] == "knee_lifts")
        r = client.post("/api/calibration/start")
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error.startswith("a calibration is already running (step knee_lifts")
        assert "cancel it first" in error and "/api/calibration/cancel" in error
        after = client.get("/api/calibration").json()
        assert after["step"] in ACTIVE and after["step"] != "static", "not restarted"
        assert sum(after["knee_lifts"].values()) >= sum(running["knee_lifts"].values())

        cancelled = client.post("/api/calibration/cancel").json()
        assert cancelled["step"] == "idle"
        time.sleep(0.5)  # samples keep coming: the demo's auto-calibration does not come back
        assert client.get("/api/calibration").json()["step"] == "idle"
        restarted = client.post("/api/calibration/start")
        assert restarted.status_code == 200, restarted.text
        assert restarted.json()["step"] == "static"
        assert client.post("/api/calibration/start").status_code == 409


def test_a_finished_calibration_reports_one_score(client: TestClient) -> None:
    body = wait_for(client, "/api/calibration", lambda b: b["step"] in ("done", "failed"))
    assert body["step"] == "done", body["error"]
    score = body["quality_score"]
    assert score == round(score), "a whole number: a client rounds it to the same figure"
    assert f"(quality {score:.0f}/100)" in body["message"]
    with client.websocket_connect("/ws/live") as ws:
        hello = ws.receive_json()
    assert hello["calibration"]["quality_score"] == score
    assert hello["calibration"]["message"] == body["message"]


def test_score_and_message_agree_where_one_decimal_did_not() -> None:
    # 98.46 was sent as 98.5 (a page showing it as a whole number said 99) with the
    # message "quality 98/100": two different scores on one screen.
    for raw, shown in [(98.46, 98.0), (98.5, 98.0), (98.51, 99.0), (59.5, 60.0), (100.0, 100.0)]:
        guide = GuidedCalibration(["pelvis", "thigh_left"])
        guide.succeed(Calibration({}, (0.0, 3.0), (3.0, 20.0), raw))
        status = guide.status()
        assert status["quality_score"] == shown
        assert f"quality {shown:.0f}/100" in status["message"]
        assert status["message"].count("/100") == 1
