"""The assessment state machine, rep finder and verdicts on exact synthetic angles."""

from __future__ import annotations

import numpy as np
import pytest

from hipsense.exercises.assessment import (
    Assessment,
    AssessmentError,
    AssessmentOptions,
    rep_verdict,
)
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import gaps
from hipsense.exercises.session import analyze_session
from hipsense.types import AngleBlock, Marker

RATE_HZ = 100.0


class Motion:
    """Piecewise minimum-jerk hip extension (per side) and pelvic tilt, exact in degrees."""

    def __init__(self) -> None:
        self.t = 0.0
        self.knots: dict[str, list[tuple[float, float]]] = {
            "left": [(0.0, 0.0)],
            "right": [(0.0, 0.0)],
            "tilt": [(0.0, 0.0)],
        }

    def move(self, duration_s: float, **targets: float) -> Motion:
        for name, knots in self.knots.items():
            knots.append((self.t, knots[-1][1]))
            knots.append((self.t + duration_s, targets.get(name, knots[-1][1])))
        self.t += duration_s
        return self

    def hold(self, duration_s: float) -> Motion:
        self.t += duration_s
        return self

    def rep(self, side: str, ext_deg: float, hold_s: float = 2.0, tilt_deg: float = 0.0) -> Motion:
        return (
            self.move(1.2, **{side: ext_deg, "tilt": tilt_deg})
            .hold(hold_s)
            .move(1.2, **{side: 0.0, "tilt": 0.0})
            .hold(1.5)
        )

    def angles(self) -> AngleBlock:
        t = np.arange(0.0, self.t + 1.0, 1.0 / RATE_HZ)
        values = {name: _min_jerk(t, knots) for name, knots in self.knots.items()}
        cols = {"pelvic_tilt_deg": values["tilt"]}
        cols["pelvic_obliquity_deg"] = np.zeros(len(t))
        cols["pelvic_rotation_deg"] = np.zeros(len(t))
        for side in ("left", "right"):
            cols[f"hip_flexion_{side}_deg"] = -values[side]
            cols[f"hip_abduction_{side}_deg"] = np.zeros(len(t))
            cols[f"hip_internal_rotation_{side}_deg"] = np.zeros(len(t))
            cols[f"thigh_inclination_{side}_deg"] = -values[side] - values["tilt"]
        return AngleBlock(t, cols)


def _min_jerk(t: np.ndarray, knots: list[tuple[float, float]]) -> np.ndarray:
    out = np.full(len(t), knots[0][1])
    for (t0, v0), (t1, v1) in zip(knots[:-1], knots[1:], strict=True):
        if t1 <= t0:
            continue
        s = np.clip((t - t0) / (t1 - t0), 0.0, 1.0)
        inside = (t >= t0) & (t <= t1)
        out[inside] = v0 + (v1 - v0) * (10 * s**3 - 15 * s**4 + 6 * s**5)[inside]
        out[t > t1] = v1
    return out


def feed(a: Assessment, angles: AngleBlock, start_s: float, end_s: float, step: int = 7) -> list:
    i, j = np.searchsorted(angles.time_s, (start_s, end_s))
    out = []
    for k in range(i, j, step):
        sl = slice(k, min(k + step, j))
        out.extend(
            a.process(AngleBlock(angles.time_s[sl], {n: v[sl] for n, v in angles.columns.items()}))
        )
    return out


def run_side(m: Motion, side: str, active: list[tuple[float, float]], passive: float) -> dict:
    """Script one side: still, 3 active reps (value, tilt), still, passive rep. Times."""
    times: dict = {"active_start": m.t}
    m.hold(2.5)
    for value, tilt in active:
        m.rep(side, value, tilt_deg=tilt)
    times["active_end"] = m.t
    times["passive_start"] = m.t
    m.hold(2.5)
    m.move(2.0, **{side: passive}).hold(4.0).move(2.0, **{side: 0.0}).hold(2.0)
    times["passive_end"] = m.t
    return times


def test_a_whole_assessment_gives_the_exact_gap_and_classification() -> None:
    m = Motion().hold(2.0)
    left = run_side(m, "left", [(8.0, 0.0), (9.0, 0.0), (8.5, 0.0)], 20.0)
    right = run_side(m, "right", [(16.0, 0.0), (17.0, 0.0), (16.5, 0.0)], 19.0)
    angles = m.angles()
    marks: list[Marker] = []
    a = Assessment(AssessmentOptions(), 1, marks.append)
    done = 0.0
    for side, times in (("left", left), ("right", right)):
        for key in ("active", "passive"):
            feed(a, angles, done, times[f"{key}_start"])
            a.act("start", times[f"{key}_start"])
            feed(a, angles, times[f"{key}_start"], times[f"{key}_end"])
            done = times[f"{key}_end"]
            trial = a.trial
            assert trial is not None and trial.side == side
            assert trial.state == "accepted", trial.message
            a.act("next", done)
    state = a.state()
    assert state["state"] == "finished"
    # The smoothed held value of a min-jerk hold is the plateau value (exactly, to 0.05 deg).
    assert state["sides"]["left"]["active_deg"] == pytest.approx(9.0, abs=0.05)
    assert state["sides"]["left"]["passive_deg"] == pytest.approx(20.0, abs=0.05)
    assert state["sides"]["left"]["classification"] == "motor_control_deficit"
    assert state["sides"]["right"]["classification"] == "within_norms"
    assert "Norkin" in state["sides"]["left"]["interpretation"]
    assert state["comparison"]["active_diff_deg"] == pytest.approx(-8.0, abs=0.1)
    # The marks give the same numbers offline.
    offline = analyze_session(angles, marks, whole_session_sitting=False).to_dict()
    by_side = {g["side"]: g for g in offline["gaps"]}
    for side in ("left", "right"):
        assert by_side[side]["active_deg"] == pytest.approx(
            state["sides"][side]["active_deg"], abs=1e-3
        )
        assert by_side[side]["passive_deg"] == pytest.approx(
            state["sides"][side]["passive_deg"], abs=1e-3
        )
        assert by_side[side]["classification"] == state["sides"][side]["classification"]


def test_a_compensated_rep_is_kept_with_its_reason_and_not_counted() -> None:
    m = Motion().hold(2.0)
    times = run_side(m, "left", [(10.0, 0.0), (14.0, 9.0), (10.5, 0.0), (10.2, 0.0)], 20.0)
    angles = m.angles()
    a = Assessment(AssessmentOptions(sides=("left",)), 1, lambda _: None)
    feed(a, angles, 0.0, times["active_start"])
    a.act("start", times["active_start"])
    feed(a, angles, times["active_start"], times["active_end"])
    trial = a.state()["trials"][0]
    assert trial["state"] == "accepted"
    counted = [r["counted"] for r in trial["reps"]]
    assert counted == [True, False, True, True]
    reason = trial["reps"][1]["reason"]
    assert "forward (anterior)" in reason
    assert float(reason.split("tilted ")[1].split(" deg")[0]) == pytest.approx(9.0, abs=0.5)
    assert trial["best_deg"] == pytest.approx(10.5, abs=0.05)


def test_a_swing_that_is_not_held_does_not_count() -> None:
    m = Motion().hold(2.0).move(1.0, left=15.0).move(1.0, left=0.0).hold(2.0)
    angles = m.angles()
    _, peak, counted, reason = rep_verdict(
        AngleBlock(angles.time_s[200:420], {k: v[200:420] for k, v in angles.columns.items()}),
        "left",
        "active_extension",
        AnalysisConfig(),
    )
    assert not counted and "not held 1 s" in reason
    assert peak == pytest.approx(15.0, abs=1.0)


def test_actions_out_of_order_say_what_is_possible() -> None:
    a = Assessment(AssessmentOptions(), 1, lambda _: None)
    with pytest.raises(AssessmentError, match="possible now: start, skip, abort"):
        a.act("next", 0.0)
    with pytest.raises(AssessmentError, match="unknown action"):
        a.act("jump", 0.0)
    a.act("start", 0.0)
    with pytest.raises(AssessmentError, match="cannot accept"):
        a.act("accept", 0.0)
    a.act("skip", 0.0)
    a.act("next", 0.0)
    a.act("abort", 0.0)
    with pytest.raises(AssessmentError, match="has aborted"):
        a.act("start", 0.0)


def test_a_sensor_dropping_mid_trial_rejects_it_with_the_reason() -> None:
    m = Motion().hold(2.0)
    times = run_side(m, "left", [(10.0, 0.0)] * 3, 20.0)
    angles = m.angles()
    keep = (angles.time_s < 6.0) | (angles.time_s > 6.8)
    broken = AngleBlock(angles.time_s[keep], {k: v[keep] for k, v in angles.columns.items()})
    a = Assessment(AssessmentOptions(sides=("left",)), 1, lambda _: None)
    a.act("start", times["active_start"])
    feed(a, broken, times["active_start"], times["active_end"])
    trial = a.state()["trials"][0]
    assert trial["state"] == "rejected"
    assert "data stopped for 0.8 s" in trial["message"]
    a.act("redo", times["active_end"])
    assert a.state()["trials"][0]["state"] == "waiting_still"


def test_no_still_start_is_rejected_after_the_timeout() -> None:
    t = np.arange(0.0, 70.0, 0.01)
    wobble = 3.0 * np.sin(2 * np.pi * 0.5 * t)
    zeros = np.zeros(len(t))
    cols = {
        "pelvic_tilt_deg": zeros,
        "hip_flexion_left_deg": wobble,
        "thigh_inclination_left_deg": wobble,
    }
    a = Assessment(AssessmentOptions(sides=("left",)), 1, lambda _: None)
    a.act("start", 0.0)
    feed(a, AngleBlock(t, cols), 0.0, 70.0, step=50)
    trial = a.state()["trials"][0]
    assert trial["state"] == "rejected" and "not still" in trial["message"]


def test_block_size_does_not_change_the_result() -> None:
    m = Motion().hold(2.0)
    times = run_side(m, "left", [(8.0, 0.0), (14.0, 9.0), (9.0, 0.0), (8.5, 0.0)], 20.0)
    angles = m.angles()
    states = []
    for step in (1, 5, 64):
        a = Assessment(AssessmentOptions(sides=("left",)), 1, lambda _: None)
        a.act("start", times["active_start"])
        feed(a, angles, times["active_start"], times["active_end"], step=step)
        states.append(a.state()["trials"][0]["reps"])
    assert states[0] == states[1] == states[2]


def test_gaps_of_the_same_reps_match_the_offline_rules() -> None:
    # classify_gap is shared: passive below 10 deg is restricted whatever the active range.
    m = Motion().hold(2.0)
    times = run_side(m, "left", [(6.0, 0.0)] * 3, 8.0)
    angles = m.angles()
    marks: list[Marker] = []
    a = Assessment(AssessmentOptions(sides=("left",)), 1, marks.append)
    for key in ("active", "passive"):
        a.act("start", times[f"{key}_start"])
        feed(a, angles, times[f"{key}_start"], times[f"{key}_end"])
        a.act("next", times[f"{key}_end"])
    assert a.state()["sides"]["left"]["classification"] == "passive_restricted"
    ranges = [
        r
        for r in analyze_session(angles, marks, whole_session_sitting=False).results
        if r["kind"] == "rom"
    ]
    assert len(ranges) == 4
    assert gaps  # the offline gap function is the one the assessment uses
