"""The hip extension assessment and a hold series, run with the dashboard's own buttons in
headless Chromium, on the simulated assessment subject (``hipsim.assessment``), sped up.

One scripted session drives everything (the subject's timeline is fixed): a desktop page
presses the buttons, a phone page (another browser context) watches. The tests then compare
what both pages show with the server's state (``GET /api/assessment``, ``GET /api/holds``)
and with the simulator's truth.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from hipsense.api.app import create_app
from hipsense.api.background import BackgroundServer
from hipsense.api.service import ServiceSettings
from hipsense.sources.simulated import SimulatedSource
from hipsim.assessment import (
    DEMO_SUBJECT,
    AssessmentTimeline,
    assessment_session,
    truth_hold_verdicts,
    truth_rep_validity,
    truth_results,
)
from hipsim.session import SimSession

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SPEED = 3.0  # the 172 s session plays in about a minute
SEED = 0
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
WAIT_MS = 30000


def deg_text(value: float | None) -> str:
    """What the page shows for a server number: JavaScript's toFixed(1) (half away from zero
    on the exact binary value), no "-0.0", with the unit."""
    if value is None:
        return "\N{EN DASH}"  # the page's "no value"
    text = str(Decimal(abs(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    if value < 0 and text != "0.0":
        text = "-" + text
    return text + "°"


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@dataclass
class Run:
    """What the scripted session left behind."""

    server_url: str
    session: SimSession
    timeline: AssessmentTimeline
    desktop: Any
    phone: Any
    errors: list[str]
    assessment: dict[str, Any] = field(default_factory=dict)
    holds: dict[str, Any] = field(default_factory=dict)
    compensation_seen: list[dict[str, Any]] = field(default_factory=list)
    phone_buttons: list[dict[str, Any]] = field(default_factory=list)
    allowed_at_shot: list[str] = field(default_factory=list)


def _open(browser: Any, url: str, errors: list[str], context: dict[str, Any]) -> Any:
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(url)
    page.wait_for_function("document.getElementById('conn').textContent === 'live'", timeout=10000)
    return page


# Records every time the assessment card's compensation warning appears (session time, text).
WATCH_COMPENSATION = """() => {
  window.compensationSeen = [];
  window.compensationMessages = [];
  const onMessage = onCompensation;
  window.onCompensation = (msg) => { window.compensationMessages.push(msg); onMessage(msg); };
  const node = document.getElementById('as-comp');
  new MutationObserver(() => {
    if (!node.hidden) window.compensationSeen.push({t: state.time, text: node.textContent,
      side: document.getElementById('as-big').dataset.side});
  }).observe(node, {attributes: true, childList: true, characterData: true, subtree: true});
}"""


# The assessment buttons on the phone: where they are, how big, whether enabled.
PHONE_BUTTONS = """() => [...document.querySelectorAll('#as-actions button')].map((b) => {
  const r = b.getBoundingClientRect();
  return {action: b.dataset.action, top: r.top, bottom: r.bottom, height: r.height,
          width: r.width, enabled: !b.disabled, viewport: innerHeight};
})"""


def _button(page: Any, action: str) -> str:
    return f"#as-actions button[data-action={action}]"


def _click_when_enabled(page: Any, action: str) -> None:
    selector = _button(page, action)
    page.wait_for_selector(f"{selector}:not([disabled])", timeout=WAIT_MS)
    page.click(selector)


def _wait_time(page: Any, time_s: float) -> None:
    page.wait_for_function(f"state.time >= {time_s}", timeout=WAIT_MS)


def _shot(page: Any, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


@pytest.fixture(scope="module")
def run(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    session, timeline = assessment_session(DEMO_SUBJECT, seed=SEED)
    app = create_app(
        ServiceSettings(data_dir=tmp_path_factory.mktemp("data")),
        lambda: SimulatedSource(session, speed=SPEED),
        auto_calibrate=True,
    )
    errors: list[str] = []
    with BackgroundServer(app) as srv:
        desk = _open(browser, srv.url + "/", errors, DESKTOP)
        phone = _open(browser, srv.url + "/", errors, PHONE)
        result = Run(srv.url, session, timeline, desk, phone, errors)
        for page in (desk, phone):
            page.evaluate(WATCH_COMPENSATION)
        desk.wait_for_function("state.calibration && state.calibration.calibrated", timeout=WAIT_MS)

        # A new assessment with the page's form, then every trial with the page's buttons.
        desk.check("input[name=as-method][value=half_kneeling]")
        desk.select_option("#as-sides", "left,right")
        desk.click("#as-new")
        desk.wait_for_function("state.assessment && state.assessment.state === 'running'")
        trials = timeline.trials()
        for index, trial in enumerate(trials):
            _click_when_enabled(desk, "start")
            if trial.trial_id == "active_standing_left":
                # The compensated rep 2: the warning is up on both screens.
                rep2 = trial.reps[1]
                _wait_time(desk, rep2.start_s)
                phone.wait_for_selector("#as-comp:not([hidden])", timeout=WAIT_MS)
                _shot(phone, "assessment-phone.png")
                result.phone_buttons = phone.evaluate(PHONE_BUTTONS)
                result.allowed_at_shot = phone.evaluate("state.assessment.allowed")
                _shot(desk, "assessment-desktop.png")
            if trial.trial_id == "passive_left":
                _wait_time(desk, trial.reps[0].hold_start_s + 1.0)
                _shot(phone, "assessment-phone-passive.png")
            # The trial ends when its reps are in; the clinician accepts what was counted.
            n_reps = len(trial.reps)
            desk.wait_for_function(
                f"(() => {{ const t = state.assessment.trials[{index}];"
                f" return t.reps.length >= {n_reps}"
                " || ['accepted', 'rejected'].includes(t.state); })()",
                timeout=WAIT_MS,
            )
            if desk.is_enabled(_button(desk, "accept")):
                desk.click(_button(desk, "accept"))
            _click_when_enabled(desk, "next")
        desk.wait_for_function("state.assessment.state === 'finished'", timeout=WAIT_MS)
        phone.wait_for_function("state.assessment && state.assessment.state === 'finished'")

        # The hold series after the assessment: posted with the page's hold form.
        series_phase = timeline.hold_series()
        assert series_phase is not None and series_phase.series is not None
        series = series_phase.series
        desk.select_option("#hold-side", series.side)
        for phase in ("passive", "pails", "rails"):
            box = f"#hold-ph-{phase}"
            if phase in series.phases:
                desk.check(box)
                desk.fill(f"#hold-s-{phase}", f"{series.hold_s(phase):g}")
            else:
                desk.uncheck(box)
        desk.fill("#hold-reps", str(series.reps))
        desk.fill("#hold-rest", f"{series.rest_s:g}")
        desk.check("#hold-capture")
        desk.fill("#hold-tol", f"{series.tolerance_deg:g}")
        _wait_time(desk, series_phase.start_s - 0.6)
        desk.click("#hold-start")
        phone.wait_for_function("state.hold && state.hold.state === 'holding'", timeout=WAIT_MS)
        pails = next(h for h in series_phase.holds if h.phase == "pails")
        _wait_time(phone, pails.start_s + 3.0)
        _shot(phone, "holds-phone.png")
        _shot(desk, "holds-desktop.png")
        for page in (desk, phone):
            page.wait_for_function(
                "state.hold && ['finished', 'stopped'].includes(state.hold.state)", timeout=90000
            )
        page_wait = 300  # the last WebSocket messages reach both pages
        desk.wait_for_timeout(page_wait)

        result.assessment = get(srv.url + "/api/assessment")
        result.holds = get(srv.url + "/api/holds")
        result.compensation_seen = desk.evaluate("window.compensationSeen")
        desk.evaluate("window.scrollTo(0, 0)")
        _shot(desk, "assessment-results-desktop.png", full_page=True)
        phone.evaluate("document.getElementById('results-card').scrollIntoView()")
        _shot(phone, "assessment-results-phone.png")
        yield result
        desk.context.close()
        phone.context.close()


def _side_figures(page: Any, side: str) -> dict[str, str]:
    box = f".side-result[data-side={side}]"
    out = {
        name: page.text_content(f"{box} [data-field={name}]")
        for name in ("active_deg", "passive_deg", "gap_deg", "interpretation")
    }
    out["classification"] = page.get_attribute(f"{box} [data-field=classification]", "data-code")
    out["classification_words"] = page.text_content(f"{box} [data-field=classification]")
    return out


def test_results_show_the_server_numbers_and_match_the_truth(run: Run) -> None:
    a = run.assessment
    assert a["state"] == "finished"
    truth = truth_results(run.session, run.timeline)
    words = {"motor_control_deficit": "Motor-control deficit", "within_norms": "Within norms"}
    for page in (run.desktop, run.phone):
        for side in ("left", "right"):
            shown, server = _side_figures(page, side), a["sides"][side]
            for name in ("active_deg", "passive_deg", "gap_deg"):
                assert shown[name] == deg_text(server[name]), (side, name, shown, server)
            assert shown["classification"] == server["classification"]
            assert shown["interpretation"] == server["interpretation"]
        assert page.text_content("#res-comparison-text") == a["comparison"]["text"]
    # The subject: a motor-control deficit on the left, within norms on the right.
    for side, expected in (("left", "motor_control_deficit"), ("right", "within_norms")):
        server = a["sides"][side]
        assert server["classification"] == expected == truth[side]["classification"]
        assert server["classification"] == DEMO_SUBJECT.expected_classification(side)
        assert _side_figures(run.desktop, side)["classification_words"] == words[expected]
        for name in ("active_deg", "passive_deg", "gap_deg"):
            assert abs(server[name] - truth[side][name]) <= 1.0, (side, name, server, truth)
    # Every trial accepted; each rep listed in the side's table with the server's numbers.
    for trial in a["trials"]:
        assert trial["state"] == "accepted", trial
        rows = run.desktop.query_selector_all(f".rep-table[data-trial={trial['id']}] tbody tr")
        assert len(rows) == len(trial["reps"])
        for tr, rep in zip(rows, trial["reps"], strict=True):
            cells = [td.text_content() for td in tr.query_selector_all("td")]
            assert cells[0] == str(rep["n"])
            assert cells[1] == deg_text(rep["extension_deg"])
            assert ("counted" in cells[3]) == rep["counted"]
    assert not run.errors, run.errors


def test_a_compensated_rep_is_flagged_and_not_counted(run: Run) -> None:
    validity = truth_rep_validity(run.session, run.timeline)
    assert validity["active_standing_left"] == [True, False, True]
    trial = next(t for t in run.assessment["trials"] if t["id"] == "active_standing_left")
    counted = [r["counted"] for r in trial["reps"]]
    assert counted == [True, False, True], trial["reps"]
    rep2 = trial["reps"][1]
    assert rep2["reason"]
    # Not counted on the page: the rep table says why, in red; the best is a counted rep.
    row = run.desktop.query_selector(
        ".rep-table[data-trial=active_standing_left] tbody tr:nth-child(2)"
    )
    assert row is not None and row.get_attribute("class") == "rejected"
    assert rep2["reason"] in (row.text_content() or "")
    best = max(r["extension_deg"] for r in trial["reps"] if r["counted"])
    assert run.assessment["sides"]["left"]["active_deg"] == pytest.approx(best, abs=0.01)
    # The warning was up during the compensated rep, with true and apparent extension.
    window = run.timeline.trial("active_standing_left").reps[1]
    seen = [
        s for s in run.compensation_seen if window.start_s - 0.5 <= s["t"] <= window.end_s + 0.5
    ]
    assert seen, run.compensation_seen
    assert all(s["side"] == "left" for s in seen)
    assert "true hip extension" in seen[0]["text"] and "apparent" in seen[0]["text"]
    assert not [
        s
        for s in run.compensation_seen
        if s["t"] > window.end_s + 2.0
        and s["side"] == "left"
        and s["t"] < run.timeline.trial("passive_left").start_s
    ], "only rep 2 cheats"
    # The valid ranges list the counted reps only.
    rom = run.desktop.evaluate(
        "[...document.querySelectorAll('#rom-rows tr.assessment[data-side=left]')]"
        ".map(tr => [...tr.children].map(td => td.textContent))"
    )
    standing = {what: value for _, _, what, value in rom if "standing" in what}
    assert standing == {
        f"assessment rep {r['n']}: Active hip extension, standing": deg_text(r["extension_deg"])
        for r in trial["reps"]
        if r["counted"]
    }, rom
    assert not run.errors, run.errors


def test_both_screens_show_the_servers_hold_verdicts(run: Run) -> None:
    holds = run.holds
    assert holds["state"] == "finished"
    server = [h["complete"] for h in holds["holds"]]
    truth = [v.complete for v in truth_hold_verdicts(run.session, run.timeline)]
    assert server == truth == [True, False, True]
    summaries = []
    for page in (run.desktop, run.phone):
        shown = page.evaluate(
            "[...document.querySelectorAll('#hold-rows tr')].map(tr => tr.dataset.complete)"
        )
        assert shown == [str(c).lower() for c in server]
        assert page.text_content("#hold-status") == "finished"
        summaries.append(page.text_content("#hold-summary"))
    assert summaries[0] == summaries[1]
    assert (
        f"{holds['summary']['complete']} of {holds['summary']['holds']} holds complete"
        in summaries[0]
    )
    assert not run.errors, run.errors


def test_the_phone_layout(run: Run) -> None:
    page = run.phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no horizontal scroll"
    # During a trial the six buttons sit at the bottom of the screen, thumb-sized.
    buttons = {b["action"]: b for b in run.phone_buttons}
    assert set(buttons) == {"start", "accept", "redo", "skip", "next", "abort"}
    for b in buttons.values():
        assert b["height"] >= 44 and b["width"] >= 44, b
        assert b["bottom"] <= b["viewport"] and b["top"] >= b["viewport"] - 160, b
    # Enabled exactly as the server allows (capturing, rep 1 counted: Accept, Redo, Skip, Abort).
    enabled = {a for a, b in buttons.items() if b["enabled"]}
    assert enabled == set(run.allowed_at_shot) == {"accept", "redo", "skip", "abort"}, enabled
    assert not run.errors, run.errors
