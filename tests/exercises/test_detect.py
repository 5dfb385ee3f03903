"""Automatic segment detection against the simulator's scripted phases and exact truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.signal import find_peaks

from hipsense.exercises.detect import add_detected, detect_segments
from hipsense.exercises.segments import Segment
from hipsense.exercises.session import analyze_session
from hipsense.types import AngleBlock
from hipsim.subjects import truth_block

# Tolerances on detected boundaries. CARs and walking: the scripted phase is the movement
# itself (the walking oscillation ramps in and out over 1.5 s). Sitting: the bout includes
# the last part of sitting down (1.2 s) and the start of standing up, beyond the marked hold.
CARS_TOLERANCE_S = 0.5
WALK_TOLERANCE_S = 1.0
SIT_BEYOND_HOLD_S = (0.3, 1.5)
TRUTH_TOLERANCE_S = 0.1  # the same detector on exact truth angles


def detected(kind, segments):
    return [s for s in segments if s.exercise == kind]


def matches_truth(session, angles, kind):
    got = detected(kind, detect_segments(angles))
    ref = detected(kind, detect_segments(truth_block(session, angles.time_s)))
    assert len(got) == len(ref)
    for a, b in zip(got, ref, strict=True):
        assert a.side == b.side
        assert abs(a.start_s - b.start_s) < TRUTH_TOLERANCE_S
        assert abs(a.end_s - b.end_s) < TRUTH_TOLERANCE_S
    return got


@pytest.mark.parametrize("seed", [1, 2])
def test_sitting_detected_around_each_marked_sit(sim, seed):
    session, angles, markers = sim("sit_to_stand", seed)
    got = matches_truth(session, angles, "sitting")
    sits = [m for m in markers if m.exercise == "sitting"]
    assert len(got) == len(sits) == 3
    for seg, m in zip(got, sits, strict=True):
        assert seg.source == "detected" and seg.side is None
        lo, hi = SIT_BEYOND_HOLD_S
        assert lo < m.start_s - seg.start_s < hi
        assert lo < seg.end_s - m.end_s < hi


@pytest.mark.parametrize("seed", [1, 2])
def test_cars_detected_per_side_and_direction(sim, seed):
    session, angles, markers = sim("hip_cars", seed)
    got = matches_truth(session, angles, "cars")
    cars = [m for m in markers if m.exercise == "cars"]
    assert len(got) == len(cars) == 4
    for seg, m in zip(got, cars, strict=True):
        assert seg.side == m.side
        assert abs(seg.start_s - m.start_s) < CARS_TOLERANCE_S
        assert abs(seg.end_s - m.end_s) < CARS_TOLERANCE_S
    # Analysed without markers: the same 5 repetitions per segment as with them.
    auto = [r for r in analyze_session(angles, [], detect=True).to_dict()["results"]]
    marked = [r for r in analyze_session(angles, markers).to_dict()["results"]]
    auto_cars = [r for r in auto if r["kind"] == "cars"]
    marked_cars = [r for r in marked if r["kind"] == "cars"]
    assert [r["source"] for r in auto_cars] == ["detected"] * 4
    assert [r["source"] for r in marked_cars] == ["marked"] * 4
    for a, b in zip(auto_cars, marked_cars, strict=True):
        assert len(a["reps"]) == len(b["reps"]) == 5
        for ra, rb in zip(a["reps"], b["reps"], strict=True):
            assert abs(ra["flexion_range_deg"] - rb["flexion_range_deg"]) < 0.1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_walking_detected_with_exact_step_counts(sim, seed):
    session, angles, markers = sim("reverse_walking", seed)
    got = matches_truth(session, angles, "reverse_walking")
    walks = [m for m in markers if m.exercise == "reverse_walking"]
    assert len(got) == len(walks) == 2
    for seg, m in zip(got, walks, strict=True):
        assert abs(seg.start_s - m.start_s) < WALK_TOLERANCE_S
        assert abs(seg.end_s - m.end_s) < WALK_TOLERANCE_S
    gait = [
        r
        for r in analyze_session(angles, [], detect=True).to_dict()["results"]
        if r["kind"] == "gait"
    ]
    assert len(gait) == 2
    for r, m in zip(gait, walks, strict=True):
        truth = session.truth_at(np.arange(m.start_s, m.end_s, 0.01))
        steps = sum(
            len(find_peaks(-truth[f"hip_flexion_{side}_deg"], prominence=10.0)[0])
            for side in ("left", "right")
        )
        assert r["source"] == "detected" and r["steps"] == steps


@pytest.mark.parametrize(
    "scenario",
    ["calibration", "active_extension", "half_kneeling_stretch", "thomas_test", "hip_lift"],
)
def test_nothing_detected_without_sitting_cars_or_walking(sim, scenario):
    # The calibration routine (knee lifts, hip hinges) is in every session; Thomas test and
    # hip lift sit down only briefly on the way to lying, with the hips flexed while lying.
    session, angles, _ = sim(scenario, 1)
    assert detect_segments(angles) == []
    assert detect_segments(truth_block(session, angles.time_s)) == []


def test_nothing_detected_in_a_still_session():
    t = np.arange(0.0, 60.0, 0.01)
    rng = np.random.default_rng(0)
    names = [
        f"hip_{a}_{s}_deg"
        for s in ("left", "right")
        for a in ("flexion", "abduction", "internal_rotation")
    ]
    names += ["pelvic_tilt_deg", "pelvic_obliquity_deg", "pelvic_rotation_deg"]
    still = AngleBlock(t, {n: rng.normal(0.0, 0.3, len(t)) for n in names})
    assert detect_segments(still) == []


def test_marks_win_over_detection(sim):
    _session, angles, markers = sim("sit_to_stand", 1)
    one = [m for m in markers if m.exercise == "sitting"][:1]
    analysis = analyze_session(angles, one, detect=True).to_dict()
    sources = [(s["exercise"], s["source"]) for s in analysis["segments"]]
    # The marked sit replaces the bout detected around it; the other two are added.
    assert sources == [("sitting", "marked"), ("sitting", "detected"), ("sitting", "detected")]
    kept = add_detected([Segment(0.0, 1.0, "cars", "left")], [Segment(0.5, 2.0, "sitting")])
    assert [s.source for s in kept] == ["marked"]
    whole = [r for r in analysis["results"] if r["kind"] == "sitting_session"]
    assert whole[0]["source"] == "session"
    # Without detect, nothing detected is analysed.
    plain = analyze_session(angles, one).to_dict()
    assert [s["source"] for s in plain["segments"]] == ["marked"]


def test_analyze_cli_auto(tmp_path, capsys):
    from hipsense.cli import main
    from hipsim import simulate_session, write_samples_csv
    from hipsim.accuracy import issue_error_model

    samples = tmp_path / "s.csv"
    write_samples_csv(simulate_session("sit_to_stand", seed=2, errors=issue_error_model()), samples)
    assert main(["analyze", str(samples), "--auto", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["source"] for s in data["segments"]] == ["detected"] * 3
    sitting = [r for r in data["results"] if r["kind"] == "sitting"]
    assert len(sitting) == 3 and all(r["source"] == "detected" for r in sitting)
