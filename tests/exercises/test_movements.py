"""CARs, Thomas test, hip lift, reverse walking and sitting against simulator truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import find_peaks

from hipsense.exercises.cars import analyze_cars
from hipsense.exercises.session import analyze_session
from hipsense.exercises.smoothness import sparc
from hipsim.subjects import truth_block


def results(analysis, kind):
    return [r for r in analysis["results"] if r["kind"] == kind]


@pytest.mark.parametrize("seed", [1, 2])
def test_cars_reps_pace_and_ranges(sim, seed):
    session, angles, markers = sim("hip_cars", seed)
    got = results(analyze_session(angles, markers).to_dict(), "cars")
    exact = results(analyze_session(truth_block(session, angles.time_s), markers).to_dict(), "cars")
    assert len(got) == len(exact) == 4
    cars = [m for m in markers if m.exercise == "cars"]
    for res, ex, m in zip(got, exact, cars, strict=True):
        # The script: 5 circles of 4 s each starting at the marker.
        bounds = m.start_s + 4.0 * np.arange(6)
        assert len(res["reps"]) == len(ex["reps"]) == 5
        assert abs(res["pace_s_per_rep"] - 4.0) < 0.5
        for k, rep in enumerate(res["reps"]):
            # Measured and exact reps are cut at the same neutral passes (within 2 frames).
            assert abs(rep["start_s"] - ex["reps"][k]["start_s"]) < 0.025
            assert abs(rep["end_s"] - ex["reps"][k]["end_s"]) < 0.025
            t = np.arange(bounds[k], bounds[k + 1], 0.01)
            truth = session.truth_at(t)
            for name, key in (
                ("flexion", "flexion_range_deg"),
                ("abduction", "abduction_range_deg"),
            ):
                ref = np.ptp(truth[f"hip_{name}_{m.side}_deg"])
                # The analysis is exact on exact angles; the pipeline's error at ~90 deg
                # flexion is what remains (see test_cars_flexion_excursion_issue_bar).
                assert abs(ex["reps"][k][key] - ref) < 0.05
                assert abs(rep[key] - ref) < 3.0
            assert abs(rep["duration_s"] - 4.0) < 0.5 + (0.5 if k in (0, 4) else 0.0)
            assert rep["sparc"] < -1.0 and not rep["compensated"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_cars_flexion_excursion_issue_bar(sim, seed):
    # The issue bar, ROM within 1 deg of truth, per CARs repetition. Seed 3 missed it (1.01
    # deg) until the calibration fitted each thigh gyroscope's flexion scale and axis.
    session, angles, markers = sim("hip_cars", seed)
    got = results(analyze_session(angles, markers).to_dict(), "cars")
    exact = results(analyze_session(truth_block(session, angles.time_s), markers).to_dict(), "cars")
    errors = [
        abs(a["flexion_range_deg"] - b["flexion_range_deg"])
        for g, e in zip(got, exact, strict=True)
        for a, b in zip(g["reps"], e["reps"], strict=True)
    ]
    assert max(errors) < 1.0


def test_sparc_prefers_smooth_movement():
    t = np.linspace(0, 2, 201)
    smooth = np.sin(np.pi * t / 2) ** 2
    jerky = smooth * (1 + 0.3 * np.sin(2 * np.pi * 4 * t))
    assert sparc(smooth, 100.0) > sparc(jerky, 100.0)


def test_thomas_test(sim):
    session, angles, markers = sim("thomas_test", 2)
    got = results(analyze_session(angles, markers).to_dict(), "thomas")
    assert [r["side"] for r in got] == ["left", "right"]
    for r, m in zip(got, [m for m in markers if m.exercise == "thomas_test"], strict=True):
        t = np.linspace(m.end_s - 3.0, m.end_s, 50)
        truth = session.truth_at(t)
        below = 90.0 - np.median(truth[f"thigh_inclination_{m.side}_deg"])
        assert abs(r["thigh_below_horizontal_deg"] - below) < 1.0
        assert abs(r["hip_extension_deg"] + np.median(truth[f"hip_flexion_{m.side}_deg"])) < 1.0
        assert r["valid"] and "shank sensor" in r["note"]


def test_hip_lift_hold_and_posterior_tilt(sim):
    session, angles, markers = sim("hip_lift", 1)
    truth = truth_block(session, angles.time_s)
    got = results(analyze_session(angles, markers).to_dict(), "bridge")
    ref = results(analyze_session(truth, markers).to_dict(), "bridge")
    assert len(got) == 4
    for a, b in zip(got, ref, strict=True):
        assert abs(a["hold_s"] - b["hold_s"]) < 0.5
        assert abs(a["posterior_tilt_deg"] - b["posterior_tilt_deg"]) < 1.0
        assert abs(a["hip_extension_top_deg"] - b["hip_extension_top_deg"]) < 1.0
        assert b["posterior_tilt_deg"] > 5.0 and a["hold_s"] >= 3.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reverse_walking_step_count_is_exact(sim, seed):
    session, angles, markers = sim("reverse_walking", seed)
    got = results(analyze_session(angles, markers).to_dict(), "gait")
    walks = [m for m in markers if m.exercise == "reverse_walking"]
    assert len(got) == len(walks) == 2
    for r, m in zip(got, walks, strict=True):
        t = np.arange(m.start_s, m.end_s, 0.01)
        truth = session.truth_at(t)
        steps = 0
        for side in ("left", "right"):
            peaks, _ = find_peaks(-truth[f"hip_flexion_{side}_deg"], prominence=10.0)
            steps += len(peaks)
            assert r[f"steps_{side}"] == len(peaks)
        assert r["steps"] == steps
        assert 80 < r["cadence_steps_min"] < 110
        assert abs(r["asymmetry_index_pct"]) < 10.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sitting_exposure(sim, seed):
    session, angles, markers = sim("sit_to_stand", seed)
    truth = truth_block(session, angles.time_s)
    got = analyze_session(angles, markers).to_dict()
    ref = analyze_session(truth, markers).to_dict()
    marked = results(got, "sitting")
    sits = [m for m in markers if m.exercise == "sitting"]
    assert len(marked) == len(sits) == 3
    for r, m in zip(marked, sits, strict=True):  # the marked sitting holds: flexed throughout
        assert abs(r["flexed_s"] - (m.end_s - m.start_s)) < 0.5
    # Whole session, the same definition on exact truth: three bouts (the calibration's hip
    # hinges are transient, under sitting_min_bout_s), each a little longer than its hold.
    whole, exact = results(got, "sitting_session")[0], results(ref, "sitting_session")[0]
    assert len(whole["bouts"]) == len(exact["bouts"]) == 3
    assert abs(whole["flexed_s"] - exact["flexed_s"]) < 0.5
    assert abs(whole["longest_bout_s"] - exact["longest_bout_s"]) < 0.5
    for (a, b), (c, d), m in zip(whole["bouts"], exact["bouts"], sits, strict=True):
        assert abs(a - c) < 0.5 and abs(b - d) < 0.5
        assert a < m.start_s and b > m.end_s


def test_sitting_bout_held_at_the_threshold_does_not_flicker():
    from hipsense.exercises.protocols import AnalysisConfig
    from hipsense.exercises.sitting import sitting_bouts

    # Sit down (0 -> 90 deg in 1 s), sit 10 s, stand up via a 2 s pause exactly at 60 deg.
    t = np.arange(0.0, 20.0, 0.01)
    flex = np.interp(t, [0, 2, 3, 13, 14, 16, 17, 20], [0, 0, 90, 90, 60, 60, 0, 0])
    wobble = 0.2 * np.sin(2 * np.pi * 3 * t)  # sensor error around the threshold
    config = AnalysisConfig()
    bouts = sitting_bouts(t, [flex + wobble, flex - wobble], config)
    # Enters at 60 deg (2.667 s), leaves below 55 deg on the way down from 60 (16.083 s).
    assert len(bouts) == 1
    assert abs(bouts[0][0] - 2 - 2 / 3) < 0.01 and abs(bouts[0][1] - 16 - 1 / 12) < 0.01
    # A hip hinge barely beyond the threshold is transient, not sitting.
    hinge = np.interp(t, [0, 2, 3.3, 3.7, 5, 20], [0, 0, 62, 62, 0, 0])
    assert sitting_bouts(t, [hinge, hinge], config) == []


def test_cars_on_synthetic_circle():
    from hipsense.types import AngleBlock

    t = np.arange(0, 12, 0.01)
    theta = 2 * np.pi * (t / 4 - np.sin(2 * np.pi * t / 4) / (2 * np.pi))
    zero = np.zeros_like(t)
    angles = AngleBlock(
        t,
        {
            "hip_flexion_left_deg": 45 * (1 - np.cos(theta)),
            "hip_abduction_left_deg": 20 * np.sin(theta),
            "hip_internal_rotation_left_deg": zero,
            "pelvic_tilt_deg": zero,
            "pelvic_obliquity_deg": zero,
            "pelvic_rotation_deg": zero,
        },
    )
    res = analyze_cars(angles, "left")
    assert len(res.reps) == 3
    assert all(abs(r["area_deg2"] - np.pi * 45 * 20) < 50 for r in res.reps)
