"""The dashboard in headless Chromium against the real server on the simulated source."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hipsense.api.app import create_app
from hipsense.api.background import BackgroundServer
from hipsense.api.service import ServiceSettings
from hipsense.cli.serve import make_source
from hipsense.sources.simulated import SimulatedSource, simulate_demo

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SPEED = 4.0  # the 28 s calibration routine takes 7 s


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    session = simulate_demo("active_extension", seed=5)
    app = create_app(
        ServiceSettings(data_dir=tmp_path_factory.mktemp("data")),
        lambda: SimulatedSource(session, speed=SPEED),
        auto_calibrate=True,
    )
    with BackgroundServer(app) as srv:
        yield srv


CALIBRATING = "['static', 'knee_lifts', 'hinges', 'calibrating']"


def test_live_values_labels_and_calibration(
    server: BackgroundServer, browser: Any, opener: Any
) -> None:
    page, errors = opener(browser, server.url + "/", viewport={"width": 1360, "height": 1000})
    page.wait_for_function("document.getElementById('conn').textContent === 'live'", timeout=10000)
    # While the calibration runs the clock moves and the calibration cannot be started again.
    page.wait_for_function(
        f"state.calibration && {CALIBRATING}.includes(state.calibration.step) && state.time > 1",
        timeout=10000,
    )
    assert page.text_content("#clock") != "t = 0.0 s"
    assert page.is_disabled("#cal-start")
    assert page.is_enabled("#cal-cancel")
    page.wait_for_function(
        "document.querySelector('#cal-steps li[data-step=done]').className === 'done'",
        timeout=20000,
    )
    assert "Calibrated" in page.text_content("#cal-message")
    card = page.text_content("#cal-card") or ""
    assert card.lower().count("quality") == 1, f"one quality score: {card!r}"
    assert page.is_enabled("#cal-start") and page.text_content("#cal-start") == "Recalibrate"
    first = page.text_content("#tilt"), page.text_content("#ext-left")
    page.wait_for_timeout(800)
    second = page.text_content("#tilt"), page.text_content("#ext-left")
    assert first != second, "live values should move with the simulator"
    assert page.text_content("#sensor-rows").count("connected") == 3
    # The sensors table shows the server's counts: one gap and link column per sensor, and a
    # sensor with reconnections and malformed packets says so.
    devices = page.evaluate("api('/api/devices')")
    assert [d["role"] for d in devices] == ["pelvis", "thigh_left", "thigh_right"]
    devices[1] = {**devices[1], "gaps": 2, "reconnects": 2, "malformed": 3, "samples_filled": 0}
    page.evaluate("d => renderSensors(d)", devices)
    cells = page.evaluate(
        "[...document.querySelectorAll('#sensor-rows tr')].map("
        "tr => [...tr.children].map(td => td.textContent))"
    )

    def link(d: dict[str, Any]) -> str:
        parts = [f"{d['reconnects']} reconnect{'' if d['reconnects'] == 1 else 's'}"] * bool(
            d["reconnects"]
        )
        parts += [f"{d['malformed']} malformed"] * bool(d["malformed"])
        parts += [f"{d['samples_filled']} filled"] * bool(d["samples_filled"])
        return " · ".join(parts) or "ok"

    assert [(c[4], c[5]) for c in cells] == [(str(d["gaps"]), link(d)) for d in devices]
    assert cells[1][5] == "2 reconnects · 3 malformed"

    # Every number has its unit; the sub-label says what it is and explains itself.
    for sel in ("#ext-left", "#ext-right", "#tilt"):
        assert (page.text_content(sel) or "").endswith("°"), sel
    for side, letter in (("left", "L"), ("right", "R")):
        label = page.text_content(f"#ext-{side}-label")
        assert label in (f"Hip extension {letter}", f"Hip flexion {letter}"), label
        sub = page.text_content(f"#incl-{side}") or ""
        assert sub.startswith("apparent (thigh)") and sub.endswith("°"), sub
        assert "pelvic tilt" in (page.get_attribute(f"#incl-{side}", "title") or "")
    # A flexed hip reads as flexion, never as a negative extension (one synchronous render).
    shown = page.evaluate(
        """() => {
        const c = {hip_flexion_left_deg: [12.34], hip_flexion_right_deg: [-7.0],
                   pelvic_tilt_deg: [1.0], thigh_inclination_left_deg: [11.3],
                   thigh_inclination_right_deg: [-8.0], pelvic_obliquity_deg: [0.2]};
        handle({type: 'frames', t: [state.time + 0.001], c});
        renderNumbers();
        return ['ext-left-label', 'ext-left', 'incl-left', 'ext-right-label', 'ext-right',
                'incl-right', 'tilt'].map((id) => document.getElementById(id).textContent);
    }"""
    )
    assert shown == [
        "Hip flexion L",
        "12.3°",
        "apparent (thigh) flexion 11.3°",
        "Hip extension R",
        "7.0°",
        "apparent (thigh) 8.0°",
        "1.0°",
    ], shown

    # Results read with their numbers, not bare event names.
    page.evaluate(
        """() => handle({type: 'analysis', kind: 'gap', side: 'left', active_deg: 9.1,
            passive_deg: 20.0, gap_deg: 10.9, classification: 'motor_control_deficit',
            interpretation: '...', time_s: 49.0})"""
    )
    assert page.text_content("#results li:first-child") == (
        "49.0 s · gap left: active 9.1°, passive 20.0°, gap 10.9° → motor-control deficit"
    )
    # Compensation: the side's number carries the warning with true and apparent extension.
    page.evaluate(
        """() => handle({type: 'compensation', active: true, side: 'right', time_s: 50.0,
            tilt_change_deg: 8.7, true_extension_deg: 10.1, apparent_extension_deg: 18.8})"""
    )
    assert page.is_visible("#comp-right") and page.is_hidden("#comp-left")
    assert page.text_content("#comp-right") == (
        "Pelvis tilting +8.7°: true hip extension 10.1°, apparent 18.8°"
    )
    page.evaluate("() => handle({type: 'compensation', active: false, side: 'right'})")
    assert page.is_hidden("#comp-right")
    # The old client-side hold timer and ROM are gone: holds come from the server only.
    assert page.evaluate("typeof holdStep === 'undefined' && typeof romStep === 'undefined'")
    assert page.is_hidden("#hold-live") and page.text_content("#hold-status") == "idle"
    assert page.is_hidden("#replay-bar"), "replay controls only for the replay source"
    page.wait_for_timeout(300)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_phone_layout(server: BackgroundServer, browser: Any, opener: Any) -> None:
    page, errors = opener(
        browser,
        server.url + "/",
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
    )
    page.wait_for_function("document.getElementById('conn').textContent === 'live'", timeout=10000)
    page.wait_for_timeout(1500)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "no horizontal scrolling on a phone"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_a_withdrawn_detection_leaves_the_results(
    server: BackgroundServer, browser: Any, opener: Any
) -> None:
    page, errors = opener(browser, server.url + "/")
    page.wait_for_function("document.getElementById('conn').textContent === 'live'", timeout=10000)
    sit = {"exercise": "sitting", "side": None, "source": "detected"}
    first = {**sit, "start_s": 33.917, "end_s": 45.971}
    second = {**sit, "start_s": 51.333, "end_s": 63.373}
    messages = [
        {"type": "analysis", "kind": "segment_detected", **first, "time_s": 46.0},
        {"type": "analysis", "kind": "sitting", "source": "detected", "time_s": 46.0},
        {"type": "analysis", "kind": "segment_detected", **second, "time_s": 64.0},
        {"type": "analysis", "kind": "sitting", "source": "detected", "time_s": 64.0},
        {"type": "analysis", "kind": "segment_withdrawn", **first, "time_s": 70.0},
    ]
    listed = "[...document.querySelectorAll('#results li.detected')].map(li => li.textContent)"
    page.evaluate("messages => messages.forEach((m) => handle(m))", messages[:-1])
    assert len([t for t in page.evaluate(listed) if t.startswith("46.0 s")]) == 2
    page.evaluate("message => handle(message)", messages[-1])
    items = page.evaluate(listed)
    assert not [t for t in items if t.startswith("46.0 s")], "the withdrawn sit and its result go"
    assert len([t for t in items if t.startswith("64.0 s")]) == 2, "the other sit stays"
    assert not errors, errors
    page.close()


SAMPLE = Path(__file__).resolve().parents[2] / "recordings" / "hip_cars.hsr"  # 40 s


def test_replay_controls_and_a_finished_replay(
    browser: Any, tmp_path_factory: pytest.TempPathFactory, opener: Any
) -> None:
    args = argparse.Namespace(source=None, file=str(SAMPLE), replay=None, speed=5.0)
    source, auto_calibrate = make_source(args)
    app = create_app(
        ServiceSettings(data_dir=tmp_path_factory.mktemp("replay")),
        lambda: source,
        auto_calibrate=auto_calibrate,
    )
    conn = "document.getElementById('conn').textContent"
    with BackgroundServer(app) as srv:
        page, errors = opener(browser, srv.url + "/")
        page.wait_for_function(f"{conn} === 'replay playing'", timeout=10000)
        assert page.is_visible("#replay-bar")
        page.wait_for_function(
            "document.getElementById('replay-pos').textContent.endsWith('of 40.0 s')"
        )
        # Once the replay has calibrated from its own routine (~26 s) and angles flow:
        page.wait_for_function("state.frames > 0 && state.time > 30", timeout=30000)
        page.click("#replay-pause")
        page.wait_for_function(f"{conn} === 'replay paused'", timeout=5000)
        assert page.is_disabled("#replay-pause") and page.is_enabled("#replay-resume")
        frozen = page.evaluate("state.time")
        page.wait_for_timeout(600)
        assert page.evaluate("state.time") == frozen, "paused: no frames"
        # Seek forward (a jump back shows nothing new until the replay catches up: the
        # pipeline keeps the newest time), then resume: the clock jumps.
        page.fill("#replay-seek-s", "36")
        page.click("#replay-seek")
        page.evaluate(
            """() => { const onFramesBefore = onFrames;
            window.framesTo36 = 0;
            window.onFrames = (m) => { if (state.time < 36) framesTo36 += 1; onFramesBefore(m); };
            }"""
        )
        page.click("#replay-resume")
        page.wait_for_function(f"{conn} === 'replay playing'", timeout=5000)
        page.wait_for_function("state.time >= 36", timeout=5000)
        # Playing the 5 s through would take ~50 frame messages; the jump takes one or two.
        assert page.evaluate("framesTo36") <= 5, "the clock jumped, not played through"
        # The end: the page says so and offers only a restart.
        page.wait_for_function(f"{conn} === 'replay ended'", timeout=30000)
        for button in ("#replay-pause", "#replay-resume", "#replay-seek"):
            assert page.is_disabled(button), button
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-replay-ended.png"))
        page.click("#replay-restart")
        page.wait_for_function(f"{conn} === 'replay playing'", timeout=10000)
        page.wait_for_function("state.time > 0 && state.time < 20", timeout=10000)
        assert page.is_enabled("#replay-pause")
        assert not errors, errors
        page.close()
