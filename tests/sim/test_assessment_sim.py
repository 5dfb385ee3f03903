"""Scripted assessment sessions: the timeline matches the exact truth; truth verdicts."""

from __future__ import annotations

import dataclasses
import json
from functools import cache

import numpy as np
import pytest

from hipsense.exercises.protocols import AnalysisConfig
from hipsense.types import ROLES
from hipsim.assessment import (
    CLASS_MARGIN_DEG,
    CLASSIFICATIONS,
    DEMO_SUBJECT,
    PASSIVE_METHODS,
    POPULATION_RATES_HZ,
    AssessmentSubject,
    AssessmentTimeline,
    HoldSeries,
    assessment_demo_session,
    assessment_session,
    population,
    truth_hold_verdicts,
    truth_rep_results,
    truth_rep_validity,
    truth_results,
)
from hipsim.session import SimSession

SIDES = ("left", "right")


@cache
def demo_truth(seed: int = 4) -> tuple[SimSession, AssessmentTimeline]:
    """The demo without sensors (truth only: fast)."""
    return assessment_session(DEMO_SUBJECT, seed, roles=())


@cache
def population_truth(index: int) -> tuple[AssessmentSubject, SimSession, AssessmentTimeline]:
    subject = population(9, seed=5)[index]
    session, timeline = assessment_session(subject, 100 + index, roles=())
    return subject, session, timeline


def hip_ext(session: SimSession, side: str, start_s: float, end_s: float) -> np.ndarray:
    t = np.arange(start_s, end_s, 0.01)
    return -session.truth_at(t)[f"hip_flexion_{side}_deg"]


def check_timeline_against_truth(session: SimSession, timeline: AssessmentTimeline) -> None:
    starts = [p.start_s for p in timeline.phases]
    assert starts == sorted(starts)
    for before, after in zip(timeline.phases[:-1], timeline.phases[1:], strict=True):
        assert before.end_s <= after.still_start_s + 1e-9
    assert timeline.phases[-1].end_s <= session.duration_s
    for trial in timeline.trials():
        assert trial.side is not None
        assert trial.start_s - trial.still_start_s >= 2.5 - 1e-9
        assert trial.end_s == pytest.approx(trial.reps[-1].end_s + 1.0)
        # Still windows (before the trial, between reps, after it): nothing moves.
        stills = [(trial.still_start_s, trial.start_s), (trial.reps[-1].end_s, trial.end_s)]
        stills += [
            (a.end_s, b.start_s) for a, b in zip(trial.reps[:-1], trial.reps[1:], strict=True)
        ]
        for still_start, still_end in stills:
            truth = session.truth_at(np.arange(still_start, still_end, 0.01))
            for column in ("hip_flexion_left_deg", "hip_flexion_right_deg", "pelvic_tilt_deg"):
                assert np.ptp(truth[column]) < 0.05, (trial.trial_id, still_start, column)
        for prev, nxt in zip(trial.reps[:-1], trial.reps[1:], strict=True):
            assert nxt.start_s - prev.end_s >= 1.5 - 1e-9
        for rep in trial.reps:
            assert rep.start_s < rep.hold_start_s < rep.hold_end_s < rep.end_s
            assert rep.hold_end_s - rep.hold_start_s >= (1.8 if trial.mode == "active" else 4.0)
            ext = hip_ext(session, trial.side, rep.hold_start_s, rep.hold_end_s)
            assert np.abs(ext - rep.target_deg).max() < 1.5
            # The rep leaves the baseline and comes back to it.
            edges = hip_ext(session, trial.side, rep.start_s - 0.3, rep.start_s)
            back = hip_ext(session, trial.side, rep.end_s, rep.end_s + 0.3)
            assert abs(float(edges[-1]) - float(back[0])) < 0.05


def test_demo_session_is_sampled_at_100_hz_and_short_enough() -> None:
    session, timeline = assessment_demo_session(seed=1)
    assert session.duration_s <= 360.0
    assert timeline.duration_s == session.duration_s
    assert set(session.samples) == set(ROLES)
    for role, block in session.samples.items():
        assert session.rate_hz[role] == 100.0
        assert np.median(np.diff(block.time_s)) == pytest.approx(0.01, rel=1e-3)
        assert np.isfinite(block.acc_m_s2).all() and np.isfinite(block.gyr_rad_s).all()
    ids = [p.trial_id for p in timeline.phases]
    assert ids == [
        "calibration",
        "active_standing_left",
        "passive_left",
        "active_standing_right",
        "passive_right",
        "hold_series_left",
    ]
    assert timeline.phases[0].end_s == pytest.approx(28.0, abs=0.5)
    # Markers carry trial ids the analysis does not know (harmless).
    labels = {m.label for m in session.markers}
    assert {"active_standing_left", "passive_right", "hold_series_left"} <= labels


def test_demo_timeline_matches_truth() -> None:
    check_timeline_against_truth(*demo_truth())


@pytest.mark.parametrize("index", range(6))
def test_population_timelines_match_truth(index: int) -> None:
    subject, session, timeline = population_truth(index)
    check_timeline_against_truth(session, timeline)
    expected = ["active_standing", "passive", *(["active_prone"] if subject.include_prone else [])]
    assert [t.trial_id for t in timeline.trials()] == [
        f"{kind}_{side}" for side in subject.side_order for kind in expected
    ]
    results = truth_results(session, timeline)
    for side in SIDES:
        assert results[side]["classification"] == subject.expected_classification(side)
        assert results[side]["active_deg"] == pytest.approx(subject.active_deg[side], abs=0.05)
        assert results[side]["passive_deg"] == pytest.approx(subject.passive_deg[side], abs=0.05)
    validity = truth_rep_validity(session, timeline)
    for trial in timeline.trials():
        assert validity[trial.trial_id] == [not r.compensated for r in trial.reps]
    for verdict in truth_hold_verdicts(session, timeline):
        assert verdict.complete == verdict.expected_complete
        assert verdict.end_s == pytest.approx(verdict.scheduled_end_s, abs=0.02)


def test_demo_truth_classification() -> None:
    results = truth_results(*demo_truth())
    left, right = results["left"], results["right"]
    assert left["classification"] == "motor_control_deficit"
    assert right["classification"] == "within_norms"
    assert left["active_deg"] == pytest.approx(9.0, abs=0.05)
    assert left["passive_deg"] == pytest.approx(20.0, abs=0.05)
    assert right["active_deg"] == pytest.approx(17.0, abs=0.05)
    assert right["passive_deg"] == pytest.approx(19.0, abs=0.05)
    assert left["gap_deg"] == pytest.approx(11.0, abs=0.1)


def test_compensated_reps_are_invalid_on_truth() -> None:
    session, timeline = demo_truth()
    trial = timeline.trial("active_standing_left")
    assert [r.compensated for r in trial.reps] == [False, True, False]
    assert truth_rep_validity(session, timeline)["active_standing_left"] == [True, False, True]
    results = truth_rep_results(session, timeline)["active_standing_left"]
    cheat = results[1]
    assert cheat.compensation_episodes
    # The thigh looks more extended than the best honest rep, the hip extends less.
    assert cheat.apparent_extension_deg is not None
    assert cheat.apparent_extension_deg > 9.0 + 2.0
    rep = trial.reps[1]
    assert 8.0 <= rep.tilt_change_deg <= 12.0
    assert rep.target_deg < 9.0 - 2.9


def test_passive_half_kneeling_keeps_the_pelvis_near_neutral() -> None:
    session, timeline = demo_truth()
    for side in SIDES:
        rep = timeline.trial(f"passive_{side}").reps[0]
        t = np.arange(rep.hold_start_s, rep.hold_end_s, 0.01)
        assert np.abs(session.truth_at(t)["pelvic_tilt_deg"]).max() < 2.0
        assert 4.0 <= rep.hold_end_s - rep.hold_start_s <= 6.0


def test_demo_hold_verdicts_one_met_one_not() -> None:
    session, timeline = demo_truth()
    series = timeline.hold_series()
    assert series is not None and series.side == "left"
    assert [h.phase for h in series.holds] == ["passive", "pails", "rails"]
    assert [h.end_s - h.start_s for h in series.holds] == pytest.approx([20.0, 15.0, 10.0])
    verdicts = truth_hold_verdicts(session, timeline)
    assert [v.complete for v in verdicts] == [True, False, True]
    assert [v.expected_complete for v in verdicts] == [True, False, True]
    assert verdicts[1].time_in_band_s < 0.5 * 10.0  # out of band for most of the PAILs hold
    # The target is captured over the first 0.5 s of the first hold.
    assert verdicts[0].target_deg == pytest.approx(series.holds[0].level_deg, abs=0.01)
    # PAILs are isometric (the hip moves < 1 deg before the drift); RAILs go 3-5 deg deeper.
    pails, rails = series.holds[1], series.holds[2]
    assert 0.2 < series.holds[0].level_deg - pails.level_deg < 1.0
    assert 3.0 <= rails.level_deg - series.holds[0].level_deg <= 5.0
    ext = hip_ext(session, "left", rails.start_s + 1.5, rails.end_s)
    assert np.abs(ext - rails.level_deg).max() < 0.01
    # After the series the subject stands and rests >= 3 s.
    assert session.duration_s - (series.end_s - 1.0) >= 3.0


def test_typed_target_and_two_reps() -> None:
    series = HoldSeries(
        side="right",
        passive_s=8.0,
        pails_s=6.0,
        rails_s=6.0,
        reps=2,
        rest_s=5.0,
        failed=((2, "rails"), (1, "passive")),
        target_deg=16.0,
    )
    subject = dataclasses.replace(DEMO_SUBJECT, hold_series=series, speed=1.7)
    session, timeline = assessment_session(subject, 7, roles=())
    phase = timeline.hold_series()
    assert phase is not None
    holds = phase.holds
    assert [(h.rep, h.phase) for h in holds] == [(r, p) for r in (1, 2) for p in series.phases]
    assert holds[3].start_s - holds[2].end_s == pytest.approx(5.0)  # the rest between reps
    verdicts = truth_hold_verdicts(session, timeline)
    assert [v.complete for v in verdicts] == [False, True, True, True, True, False]
    assert all(v.target_deg == 16.0 for v in verdicts)
    assert series.request()["hold_s"] == {"passive": 8.0, "pails": 6.0, "rails": 6.0}


def test_population_covers_classes_rates_and_methods() -> None:
    subjects = population(12, seed=3)
    config = AnalysisConfig()
    classes = {s.expected_classification(side) for s in subjects for side in SIDES}
    assert classes == set(CLASSIFICATIONS)
    assert {s.rate_hz for s in subjects} == set(POPULATION_RATES_HZ)
    assert {s.passive_method for s in subjects} == set(PASSIVE_METHODS)
    assert {bool(s.compensated_reps) for s in population(30, seed=3)} == {True, False}
    assert {s.side_order for s in population(30, seed=3)} == {("left", "right"), ("right", "left")}
    for s in population(30, seed=3):
        assert 0.6 <= s.speed <= 2.0
        for side in SIDES:
            active, passive = s.active_deg[side], s.passive_deg[side]
            assert 4.0 <= active <= 25.0 and 6.0 <= passive <= 30.0
            assert len(s.compensated(side)) < 3
            # Clear of every threshold the side could cross.
            assert abs(passive - config.passive_normal_min_deg) >= CLASS_MARGIN_DEG - 1e-9
            if passive >= config.passive_normal_min_deg:
                gap = passive - active
                assert abs(gap - config.gap_threshold_deg) >= CLASS_MARGIN_DEG - 1e-9


def test_same_seed_same_timeline_and_json() -> None:
    _, a = assessment_session(DEMO_SUBJECT, 2, roles=())
    _, b = assessment_session(DEMO_SUBJECT, 2, roles=())
    _, c = assessment_session(DEMO_SUBJECT, 3, roles=())
    assert a.to_dict() == b.to_dict() != c.to_dict()
    text = json.dumps(a.to_dict())
    assert "active_standing_left" in text


@pytest.mark.parametrize(
    "changes",
    [
        {"passive_method": "floor"},
        {"side_order": ("left", "left")},
        {"speed": 5.0},
        {"compensated_reps": (("left", 4),)},
        {"active_deg": {"left": 9.0}},
        {"rate_hz": 0.0},
    ],
)
def test_subject_rejects_bad_settings(changes: dict) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(DEMO_SUBJECT, **changes)


def test_hold_series_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        HoldSeries(side="left", failed=((2, "pails"),))
    with pytest.raises(ValueError):
        HoldSeries(side="left", phases=("rails", "passive"))
    with pytest.raises(ValueError):
        HoldSeries(side="left", pails_s=2.0)
