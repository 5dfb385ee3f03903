"""The dashboard in headless Chromium against the real server on the simulated source."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hipsense.api.app import create_app
from hipsense.api.background import BackgroundServer
from hipsense.api.service import ServiceSettings
from hipsense.sources.simulated import SimulatedSource, simulate_demo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: install it with 'apt-get install -y chromium' "
            "(.ci/run does this); the browser tests cannot run without it"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _open(browser: Any, url: str, **context: Any) -> tuple[Any, list[str]]:
    page = browser.new_page(**context)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(url)
    return page, errors


def test_live_values_move_and_hold_compliance(server: BackgroundServer, browser: Any) -> None:
    page, errors = _open(browser, server.url + "/", viewport={"width": 1360, "height": 1000})
    page.wait_for_function("document.getElementById('conn').textContent === 'live'", timeout=10000)
    page.wait_for_function(
        "document.querySelector('#cal-steps li[data-step=done]').className === 'done'",
        timeout=20000,
    )
    assert "Calibrated" in page.text_content("#cal-message")
    assert "Quality" in page.text_content("#cal-quality")
    first = page.text_content("#tilt"), page.text_content("#ext-left")
    page.wait_for_timeout(800)
    second = page.text_content("#tilt"), page.text_content("#ext-left")
    assert first != second, "live values should move with the simulator"
    assert page.text_content("#sensor-rows").count("connected") == 3

    # A scripted hold: the simulated subject extends the left hip to 15-20 deg for 2-3 s.
    page.select_option("#hold-side", "left")
    page.fill("#hold-target", "17")
    page.fill("#hold-band", "4")
    page.fill("#hold-secs", "1.5")
    page.click("#hold-start")
    page.wait_for_function(
        "document.getElementById('hold-indicator').dataset.state === 'in band'", timeout=30000
    )
    page.wait_for_function(
        "document.getElementById('hold-indicator').dataset.state === 'complete'", timeout=30000
    )
    assert float(page.text_content("#hold-time")) >= 1.5
    assert page.is_hidden("#hold-warning"), "the uncompensated demo keeps the pelvis steady"
    markers = page.text_content("#marker-list")
    assert "hold_pails" in markers
    page.wait_for_timeout(300)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_phone_layout(server: BackgroundServer, browser: Any) -> None:
    page, errors = _open(
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


def test_a_withdrawn_detection_leaves_the_results(server: BackgroundServer, browser: Any) -> None:
    page, errors = _open(browser, server.url + "/")
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
