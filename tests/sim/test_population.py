"""A population, not one subject: hipsim's drawn subjects, and hipsense's accuracy over them.

The accuracy tests run :func:`hipsim.draw_population` ``(30, seed=0)``: each subject does the
calibration routine its own way (hinge 10-60 deg, knee lift 30-100 deg, speed, repetitions,
order, pauses, an extra movement) with its own sensor rates (25-200 Hz per role) and
mounting, followed by 25 s of four scenarios chosen to span what the angles do:
``active_extension_compensated`` (standing, the pelvis tilts), ``hip_lift`` (supine bridges,
pelvis near -80 deg), ``thomas_test`` (lying on a table, a hip dropped and rotated) and
``reverse_walking`` (gait). Every subject must be accepted by the calibration and the worst
subject must meet the bars of issue 12: with whole-session smoothing (the default of batch
processing) hip flexion RMSE <= 0.5 deg and pelvic tilt <= 0.2 deg; on the causal path
flexion <= 1.0 and tilt <= 0.5; abduction and rotation <= 3 deg on both.
``benchmarks/accuracy.py --population N`` prints the same figures for every scenario.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import hipsim
from hipsim.accuracy import (
    ACCURACY_BAR_DEG,
    PopulationAccuracy,
    evaluate_population,
    issue_error_model,
)
from hipsim.population import (
    DURATION_FACTOR_RANGE,
    HINGE_RANGE_DEG,
    KNEE_LIFT_RANGE_DEG,
    RATE_RANGE_HZ,
    draw_population,
    simulate_population,
)
from hipsim.scenarios import ROUTINE_GROUPS, CalibrationRoutine
from hipsim.session import SimSession

POPULATION = draw_population(30, seed=0)
SCENARIOS = tuple(s for s in hipsim.SCENARIOS if s != "calibration")
EXERCISE_S = 25.0
# Samples (rounded to 1e-6) and markers of two sessions with the default routine, computed
# before the routine had parameters: recordings/make_samples.py and many tests rely on them.
DEFAULT_ROUTINE_SHA256 = {
    "calibration seed 0": "9224b959fef7d7876cb07eb3eb29ba8c9780476fa74d91b9a83bf7029d7c4717",
    "active_extension seed 3": "5f881fd63992f2ff89970e11f1172b86698162964769e0852b7c4f0948a68647",
}


def _digest(session: SimSession) -> str:
    h = hashlib.sha256()
    for role in sorted(session.samples):
        block = session.samples[role]
        for values in (block.time_s, block.gyr_rad_s, block.acc_m_s2):
            h.update(np.round(values, 6).tobytes())
    for m in session.markers:
        h.update(f"{m.label},{m.side},{m.start_s:.6f},{m.end_s:.6f};".encode())
    return h.hexdigest()


# --- the default routine is unchanged --------------------------------------------------------


def test_default_routine_gives_the_same_samples_as_before() -> None:
    rates = {"pelvis": 60.0, "thigh_left": 100.0, "thigh_right": 200.0}
    sessions = {
        "calibration seed 0": hipsim.simulate_session("calibration", 0),
        "active_extension seed 3": hipsim.simulate_session(
            "active_extension", 3, rate_hz=rates, duration_s=40.0
        ),
    }
    assert {name: _digest(s) for name, s in sessions.items()} == DEFAULT_ROUTINE_SHA256
    explicit = hipsim.simulate_session("calibration", 0, routine=CalibrationRoutine())
    assert _digest(explicit) == DEFAULT_ROUTINE_SHA256["calibration seed 0"]
    assert CalibrationRoutine().duration_s == pytest.approx(28.0)


# --- the population ----------------------------------------------------------------------------


def test_population_spans_the_ranges() -> None:
    hinge = [s.hinge_deg for s in POPULATION]
    knee = [s.knee_lift_deg for s in POPULATION]
    factor = [s.duration_factor for s in POPULATION]
    assert HINGE_RANGE_DEG[0] <= min(hinge) < 12.0 and 58.0 < max(hinge) <= HINGE_RANGE_DEG[1]
    assert KNEE_LIFT_RANGE_DEG[0] <= min(knee) < 33.0
    assert 97.0 < max(knee) <= KNEE_LIFT_RANGE_DEG[1]
    assert DURATION_FACTOR_RANGE[0] <= min(factor) < 0.6 and 1.8 < max(factor) <= 2.0
    for role in POPULATION[0].rates_hz:
        rates = [s.rates_hz[role] for s in POPULATION]
        assert RATE_RANGE_HZ[0] <= min(rates) <= 30.0, role
        assert 185.0 <= max(rates) <= RATE_RANGE_HZ[1], role
    routines = [s.routine for s in POPULATION]
    assert {r.knee_lifts for r in routines} == {1, 2, 3, 4}
    assert {r.hinges for r in routines} == {1, 2, 3}
    assert {r.order[0] for r in routines} == set(ROUTINE_GROUPS)  # either leg or the hinges
    assert {r.extra_movement for r in routines} == {None, "squat", "step_in_place"}
    pauses = [p for r in routines for p in (*r.pauses_s, r.rep_pause_s, r.extra_pause_s)]
    assert 0.0 <= min(pauses) < 0.3 and 2.7 < max(pauses) <= 3.0
    for r in routines:  # each repetition stays in the population's range
        assert HINGE_RANGE_DEG[0] <= r.hinge_deg[0] <= r.hinge_deg[1] <= HINGE_RANGE_DEG[1]
        assert KNEE_LIFT_RANGE_DEG[0] <= r.knee_lift_deg[0]
        assert r.knee_lift_deg[1] <= KNEE_LIFT_RANGE_DEG[1]
    assert draw_population(30, seed=0) == POPULATION
    assert draw_population(30, seed=1) != POPULATION
    assert len({s.seed for s in POPULATION}) == len(POPULATION)


def test_a_subject_moves_as_drawn() -> None:
    """Rates, markers in the drawn order, amplitudes, repetitions and the extra movement."""
    subject = next(
        s
        for s in POPULATION
        if s.routine.order[0] == "hip_hinge" and s.routine.extra_movement == "step_in_place"
    )
    r = subject.routine
    session = subject.simulate("calibration", errors=hipsim.ImuErrors.none())
    for role, rate in subject.rates_hz.items():
        assert np.median(np.diff(session.samples[role].time_s)) == pytest.approx(1 / rate)
    labels = [m.label for m in session.markers]
    assert labels[0] == "static" and labels[-1] == "rest_standing"
    assert [g for g in labels if g in ROUTINE_GROUPS] == list(r.order)
    extra_at = labels.index("step_in_place")
    assert (
        labels.index(r.order[r.extra_after]) < extra_at < labels.index(r.order[r.extra_after + 1])
    )
    assert session.duration_s == pytest.approx(r.duration_s)
    assert session.exercise_markers() == []
    for m in session.markers:
        t = np.linspace(m.start_s, m.end_s, 2000)
        truth = session.truth_at(t)
        if m.label == "hip_hinge":
            tilt = truth["pelvic_tilt_deg"]
            assert r.hinge_deg[0] - 0.1 < tilt.max() < r.hinge_deg[1] + 0.1
            assert _peaks(tilt, 0.5 * r.hinge_deg[0]) == r.hinges
        elif m.side is not None:  # knee lifts
            flexion = truth[f"hip_flexion_{m.side}_deg"]
            assert r.knee_lift_deg[0] - 0.1 < flexion.max() < r.knee_lift_deg[1] + 0.1
            assert _peaks(flexion, 0.5 * r.knee_lift_deg[0]) == r.knee_lifts
        elif m.label == "step_in_place":
            lifts = sum(_peaks(truth[f"hip_flexion_{side}_deg"], 7.0) for side in ("left", "right"))
            assert lifts == r.extra_steps
            assert np.abs(truth["pelvic_tilt_deg"]).max() < 1e-6


def _peaks(values: np.ndarray, threshold: float) -> int:
    above = values > threshold
    return int(np.count_nonzero(above[1:] & ~above[:-1]) + above[0])


# --- accuracy over the population --------------------------------------------------------------


@pytest.fixture(scope="module", params=SCENARIOS)
def sessions(request: pytest.FixtureRequest) -> dict[int, SimSession]:
    """Every subject's session of one scenario (shared by the smoothed and causal tests)."""
    return simulate_population(
        POPULATION, request.param, errors=issue_error_model(), exercise_s=EXERCISE_S
    )


# Scenarios and paths in which some subjects are above a bar today (30 subjects, 25 s of
# exercise; `benchmarks/accuracy.py --population 30 --exercise-s 25 [--causal]`), checked as
# strict xfails so that the day they pass the mark must go:
# - hip_cars: flexion 0.60 deg smoothed (#22, bar 0.5); rotation 8.8 deg (#27, both paths):
#   the right thigh's heading drifts 0.6 deg/s through 25 s of circles (gyroscope bias and
#   misalignment about the vertical, unobservable in 6D);
# - reverse_walking: pelvic tilt 0.28 deg smoothed (#3, bar 0.2), 0.59 causal (#27, bar 0.5);
#   rotation 3.7-4.0 deg (#27);
# - hip_lift causal: flexion 1.01 deg (#26, bar 1.0);
# - half_kneeling_stretch causal: abduction 3.01 deg (#27, bar 3.0).
ABOVE_BAR_TODAY = {
    ("half_kneeling_stretch", False),
    ("hip_cars", True),
    ("hip_cars", False),
    ("reverse_walking", True),
    ("reverse_walking", False),
    ("hip_lift", False),
}


def _problems(result: PopulationAccuracy, offline: bool) -> list[str]:
    problems = [
        f"refused {len(ids)}: {message} (subjects {ids})"
        for message, ids in result.refusals().items()
    ]
    for angle, limit in ACCURACY_BAR_DEG[offline].items():
        for subject_id, rmse in result.rmse_deg.get(angle, {}).items():
            if not rmse <= limit:  # NaN fails too
                problems.append(f"{angle} {rmse:.2f} deg (subject #{subject_id}) > {limit} deg")
    return problems


@pytest.mark.parametrize("offline", [True, False], ids=["smoothed", "causal"])
def test_every_subject_is_accepted(sessions: dict[int, SimSession], offline: bool) -> None:
    result = evaluate_population(sessions, offline=offline)
    assert result.accepted == len(POPULATION), result.refusals()


@pytest.mark.parametrize("offline", [True, False], ids=["smoothed", "causal"])
def test_every_subject_meets_the_bar(
    sessions: dict[int, SimSession], offline: bool, request: pytest.FixtureRequest
) -> None:
    scenario = next(iter(sessions.values())).scenario
    if (scenario, offline) in ABOVE_BAR_TODAY:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"{scenario}: above a bar"))
    result = evaluate_population(sessions, offline=offline)
    problems = _problems(result, offline)
    assert not problems, f"{result.accepted}/{len(POPULATION)} accepted; " + "; ".join(problems)
