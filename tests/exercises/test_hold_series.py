"""Server-side hold series on exact synthetic angles: verdicts, typed targets, markers."""

from __future__ import annotations

import numpy as np
import pytest

from hipsense.errors import ConfigurationError
from hipsense.exercises.compensation import CompensationMonitor
from hipsense.exercises.hold_series import HoldSeries, HoldSeriesSpec
from hipsense.exercises.session import analyze_session
from hipsense.types import AngleBlock, Marker


def block(t: np.ndarray, ext: np.ndarray, tilt: np.ndarray | None = None) -> AngleBlock:
    tilt = np.zeros(len(t)) if tilt is None else tilt
    zeros = np.zeros(len(t))
    return AngleBlock(
        t,
        {
            "hip_flexion_left_deg": -ext,
            "hip_abduction_left_deg": zeros,
            "hip_internal_rotation_left_deg": zeros,
            "thigh_inclination_left_deg": -ext - tilt,
            "pelvic_tilt_deg": tilt,
            "pelvic_obliquity_deg": zeros,
            "pelvic_rotation_deg": zeros,
        },
    )


def run(series: HoldSeries, angles: AngleBlock, step: int) -> list[dict]:
    out = []
    for k in range(0, len(angles), step):
        sl = slice(k, k + step)
        out.extend(
            series.process(
                AngleBlock(angles.time_s[sl], {n: v[sl] for n, v in angles.columns.items()})
            )
        )
    return out


def test_a_met_hold_and_a_missed_hold_with_a_typed_target() -> None:
    t = np.arange(0.0, 60.0, 0.01)
    # 18 deg for the passive hold (10 s asked), then the PAILs position drifts to 12 deg.
    ext = np.where(t < 12.0, 18.0, 12.0)
    angles = block(t, ext)
    spec = HoldSeriesSpec(
        "left", ("passive", "pails"), {"passive": 10.0, "pails": 10.0}, target_deg=18.0
    )
    marks: list[Marker] = []
    series = HoldSeries(spec, 1, 0.0, marks.append)
    messages = run(series, angles, 9)
    state = series.state()
    assert state["state"] == "finished"
    passive, pails = state["holds"]
    assert passive["complete"] is True and pails["complete"] is False
    assert passive["time_in_band_s"] == pytest.approx(10.0, abs=0.011)  # ends when reached
    assert passive["target_deg"] == 18.0 and pails["band_low_deg"] == 15.0
    assert pails["end_s"] == pytest.approx(passive["end_s"] + 15.0, abs=0.011)  # 10 s x 1.5
    assert state["summary"] == {
        "holds": 2,
        "complete": 1,
        "compliance": pytest.approx(0.6, abs=0.01),
    }
    changes = [m["change"] for m in messages if m["change"] != "progress"]
    assert changes[0] == "target" and "complete" in changes and changes[-1] == "finished"
    # Offline, the marked holds give the same verdicts with the protocol actually run.
    analysis = analyze_session(angles, marks, whole_session_sitting=False).to_dict()
    holds = [r for r in analysis["results"] if r["kind"] == "hold"]
    assert [h["complete"] for h in holds] == [True, False]
    assert [h["target_deg"] for h in holds] == [18.0, 18.0]
    assert analysis["hold_summary"]["holds_expected"] == 2
    assert "passive hold 10 s, PAILs 10 s" in analysis["hold_summary"]["protocol"]


def test_a_captured_target_and_any_block_size_give_the_same_state() -> None:
    t = np.arange(0.0, 50.0, 0.01)
    ext = 16.0 + 0.4 * np.sin(2 * np.pi * 0.3 * t)
    spec = HoldSeriesSpec(
        "left", ("passive", "rails"), {"passive": 5.0, "rails": 5.0}, reps=2, rest_s=3
    )
    states = []
    for step in (1, 13, 400):
        series = HoldSeries(spec, 1, 0.0, lambda _: None)
        run(series, block(t, ext), step)
        states.append(series.state()["holds"])
    assert states[0] == states[1] == states[2]
    assert [h["complete"] for h in states[0]] == [True] * 4
    assert len(states[0]) == 4 and states[0][2]["start_s"] == pytest.approx(
        states[0][1]["end_s"] + 3.0, abs=0.011
    )


def test_bad_series_settings_are_refused_with_a_reason() -> None:
    with pytest.raises(ConfigurationError, match="reps must be 1-10"):
        HoldSeriesSpec("left", reps=0)
    with pytest.raises(ConfigurationError, match="side must be"):
        HoldSeriesSpec("middle")
    with pytest.raises(ConfigurationError, match="target hip extension"):
        HoldSeriesSpec("left", target_deg=120.0)


def test_compensation_is_flagged_when_the_pelvis_tilts_while_the_hip_extends() -> None:
    t = np.arange(0.0, 12.0, 0.01)
    ramp = np.clip((t - 3.0) / 1.0, 0.0, 1.0) - np.clip((t - 7.0) / 1.0, 0.0, 1.0)
    ext = 10.0 * ramp
    tilt = 8.0 * ramp
    monitor = CompensationMonitor()
    events = []
    angles = block(t, ext, tilt)
    for k in range(0, len(t), 11):
        sl = slice(k, k + 11)
        events.extend(
            monitor.process(AngleBlock(t[sl], {n: v[sl] for n, v in angles.columns.items()}))
        )
    states = [e["active"] for e in events]
    changes = [a for k, a in enumerate(states) if k == 0 or a != states[k - 1]]
    assert changes == [True, False]
    # While it lasts the numbers are sent again, 5 times a second of angle time.
    assert 10 <= states.count(True) <= 25
    on = events[0]
    assert on["side"] == "left" and on["tilt_change_deg"] > 5.0
    assert on["apparent_extension_deg"] == pytest.approx(
        on["true_extension_deg"] + on["tilt_change_deg"], abs=0.01
    )
    # A bow (the pelvis tilts forward, the hip flexes as much, the thigh stays vertical) is
    # not compensation.
    monitor = CompensationMonitor()
    assert monitor.process(block(t, -tilt, tilt)) == []
