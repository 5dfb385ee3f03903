"""A physiotherapist's client workflow in headless Chromium against the real server.

On a phone: create a client on the live page, record a session for them, assign an earlier
recording to them, open their progress page (two sessions), then print their report to PDF.
What the page shows is checked against what the server decided (the progress JSON).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hipsense.api.app import create_app
from hipsense.api.background import BackgroundServer
from hipsense.api.service import ServiceSettings
from hipsense.sources.simulated import SimulatedSource, simulate_demo
from hipsim.progress import lean_subject, write_assessment_recording

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2}
NAME = "Test Client Ö"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    data = tmp_path_factory.mktemp("data")
    (data / "recordings").mkdir()
    subject = lean_subject({"left": 9.0, "right": 16.0}, {"left": 20.0, "right": 18.0})
    write_assessment_recording(
        subject,
        seed=3,
        path=data / "recordings" / "earlier.hsr",
        created_utc=datetime.now(UTC) - timedelta(days=7),
    )
    app = create_app(
        ServiceSettings(data_dir=data),
        lambda: SimulatedSource(simulate_demo("active_extension", seed=5), speed=4.0),
        auto_calibrate=True,
    )
    with BackgroundServer(app) as srv:
        yield srv


def _shown(value: Any) -> str:
    """A figure as the page prints it (one decimal, a dash when absent)."""
    return "\u2013" if value is None else f"{value:.1f}"


def write_png(path: Path, rgb: np.ndarray) -> None:
    """An RGB image as PNG (no imaging library needed)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_client_session_progress_and_report(
    server: BackgroundServer, browser: Any, opener: Any
) -> None:
    page, errors = opener(browser, server.url + "/", **PHONE)
    page.wait_for_function("document.getElementById('conn').textContent === 'live'", timeout=10000)
    # A new client from the live page: sessions recorded now are theirs.
    page.once("dialog", lambda dialog: dialog.accept(NAME))
    page.click("#client-new")
    page.wait_for_function("document.getElementById('client-select').value !== ''")
    client_id = page.input_value("#client-select")
    assert page.evaluate("document.getElementById('client-select').selectedOptions[0].text") == NAME
    # Record once the guided calibration is done (the recording then starts calibrated).
    page.wait_for_function(
        "document.querySelector('#cal-steps li[data-step=done]').className === 'done'",
        timeout=30000,
    )
    page.click("#rec-start")
    page.wait_for_function("document.getElementById('session-msg').textContent.includes(' for ')")
    assert NAME in page.text_content("#session-msg")
    page.wait_for_timeout(3000)
    page.click("#rec-stop")
    page.wait_for_function("document.getElementById('session-msg').textContent.startsWith('saved')")
    # The earlier recording, unassigned, is assigned to the client from the sessions list.
    page.click("#session-list button.linkish")
    page.wait_for_function(
        "[...document.querySelectorAll('#session-list li')].every("
        f"li => li.textContent.includes({NAME!r}))"
    )
    # Their progress page, from the client bar.
    href = page.get_attribute("#client-progress", "href")
    assert href == f"/clients/{client_id}"
    page.click("#client-progress")
    page.wait_for_function("document.querySelectorAll('#progress-rows tr').length === 2")
    page.wait_for_selector("#chart svg")
    doc = page.evaluate(f"api('/api/clients/{client_id}/progress')")
    assert doc["sessions"][0]["name"] == "earlier"
    assert doc["client"]["name"] == NAME and doc["client"]["sessions"] == 2
    rows = page.evaluate(
        "[...document.querySelectorAll('#progress-rows tr')].map(tr => ({"
        "session: tr.dataset.session, status: tr.dataset.status, "
        "figures: [...tr.querySelectorAll('.figure')].map(f => "
        "[f.dataset.side, f.dataset.metric, f.querySelector('.value').textContent])}))"
    )
    sessions = list(reversed(doc["sessions"]))
    assert [r["session"] for r in rows] == [s["name"] for s in sessions]
    assert [r["status"] for r in rows] == [s["status"] for s in sessions]
    measured = 0
    for r, s in zip(rows, sessions, strict=True):
        expected = []
        for side in doc["sides"]:
            figs = s["figures"].get("sides", {}).get(side) or {}
            for key in ("active_deg", "passive_deg", "gap_deg"):
                expected.append([side, key, _shown(figs.get(key))])
                measured += figs.get(key) is not None
        assert r["figures"] == expected
    assert measured >= 6, "the assessed session shows active, passive and gap per side"
    earlier = doc["sessions"][0]["figures"]["sides"]
    assert abs(earlier["left"]["active_deg"] - 9.0) < 1.0
    assert abs(earlier["right"]["passive_deg"] - 18.0) < 1.0
    # The chart's points are the table's values.
    points = page.evaluate(
        "[...document.querySelectorAll('#chart circle')].map(c => "
        "[c.dataset.session, c.dataset.side, c.dataset.metric, c.dataset.value])"
    )
    expected_points = [
        [s["name"], side, key, f"{s['figures']['sides'][side][key]:.1f}"]
        for side in doc["sides"]
        for key in ("active_deg", "passive_deg")
        for s in doc["sessions"]
        if (s["figures"].get("sides", {}).get(side) or {}).get(key) is not None
    ]
    assert sorted(points) == sorted(expected_points)
    changed = page.evaluate(
        "[...document.querySelectorAll('#what-changed li')].map(li => li.textContent)"
    )
    # The live session measured the left active range: one sentence, against the earlier one.
    assert changed == doc["what_changed"] and len(changed) == 1
    assert changed[0].startswith("Left active hip extension: ")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "client-progress-phone.png"), full_page=True)
    assert not errors, errors

    # The report prints to PDF: 1-3 pages, page 1 kept as an artifact.
    report_url = page.get_attribute("#btn-report", "href")
    assert report_url == f"/api/clients/{client_id}/report"
    report = browser.new_page()
    report.goto(server.url + report_url)
    text = report.text_content("body") or ""
    assert NAME in text and all(sentence in text for sentence in doc["what_changed"])
    html = report.content()
    assert not re.search(r"(src|href)=\"?https?:|url\(https?:|@import", html), "self-contained"
    assert "<script" not in html
    pdf = report.pdf(format="A4", print_background=True)
    report.close()
    page.close()
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    assert 1 <= len(document) <= 3, f"{len(document)} pages"
    first = document[0]
    page_text = first.get_textpage().get_text_range()
    assert NAME.split()[0] in page_text and "What changed" in page_text
    bitmap = first.render(scale=1.5, rev_byteorder=True).to_numpy()[:, :, :3]
    assert (bitmap < 128).mean() > 0.01, "page 1 has content"
    write_png(ARTIFACTS / "client-report-page1.png", np.ascontiguousarray(bitmap))
    document.close()
