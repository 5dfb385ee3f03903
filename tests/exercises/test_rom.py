"""Active/passive hip extension, compensation and the gap against simulator truth."""

from __future__ import annotations

import numpy as np
import pytest

from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import analyze_range, classify_gap
from hipsense.exercises.segments import slice_block
from hipsense.exercises.session import analyze_session
from hipsim.subjects import match_episodes, truth_block, truth_episodes

CONFIG = AnalysisConfig()


def held_truth(session, start_s, end_s, side, column="hip", exclude=(), hold_s=1.0, limit_deg=5.0):
    """Reference held range from exact truth (a slow, obvious implementation)."""
    t = np.arange(start_s, end_s, 0.01)
    truth = session.truth_at(t)
    if column == "hip":
        ext = -truth[f"hip_flexion_{side}_deg"]
        tilt = truth["pelvic_tilt_deg"]
        ok = np.abs(tilt - np.median(tilt[:30])) <= limit_deg
        for a, b in exclude:
            ok &= (t < a) | (t >= b)
    else:
        ext = -truth[f"thigh_inclination_{side}_deg"]
        ok = np.ones(len(t), bool)
    n = round(hold_s / 0.01)
    best = None
    for i in range(len(t) - n + 1):
        if ok[i : i + n].all():
            low = ext[i : i + n].min()
            best = low if best is None else max(best, low)
    return best


@pytest.mark.parametrize("seed", [1, 2])
def test_active_extension_within_1_deg_of_truth(sim, seed):
    session, angles, markers = sim("active_extension", seed)
    for m in markers:
        r = analyze_range(slice_block(angles, m.start_s, m.end_s), m.side, m.exercise, CONFIG)
        truth = held_truth(session, m.start_s, m.end_s, m.side)
        assert r.valid and truth is not None
        assert abs(r.extension_deg - truth) < 1.0
        apparent = held_truth(session, m.start_s, m.end_s, m.side, column="incl")
        assert abs(r.apparent_extension_deg - apparent) < 1.0
        assert r.compensation_episodes == []


def test_compensated_extension_does_not_count_but_apparent_range_shows(sim):
    session, angles, markers = sim("active_extension_compensated", 1)
    tp = n_found = recovered = n_truth = 0
    for m in markers:
        r = analyze_range(slice_block(angles, m.start_s, m.end_s), m.side, m.exercise, CONFIG)
        assert not r.valid and r.extension_deg is None
        apparent = held_truth(session, m.start_s, m.end_s, m.side, column="incl")
        assert abs(r.apparent_extension_deg - apparent) < 1.0
        assert r.pelvic_tilt_at_apparent_deg > CONFIG.compensation_limit_deg
        truth = truth_episodes(session, m.start_s, m.end_s, CONFIG)
        a, b, c = match_episodes(r.compensation_episodes, truth)
        tp, n_found, recovered, n_truth = tp + a, n_found + b, recovered + c, n_truth + len(truth)
    assert tp / n_found >= 0.95 and recovered / n_truth >= 0.95


@pytest.mark.parametrize("name", ["within_norms", "passive_restricted", "motor_control_deficit"])
def test_gap_classification_on_scripted_subjects(subject, name):
    session, angles, markers = subject(name, 3)
    analysis = analyze_session(angles, markers, CONFIG).to_dict()
    gaps = {g["side"]: g for g in analysis["gaps"]}
    assert set(gaps) == {"left", "right"}
    for side, gap in gaps.items():
        assert gap["classification"] == name, gap
        # Passive range: the deepest held one outside the PAILs/RAILs contractions.
        contractions = [
            (m.start_s, m.end_s)
            for m in markers
            if m.exercise in ("hold_pails", "hold_rails") and m.side == side
        ]
        passive = [
            held_truth(session, m.start_s, m.end_s, side, exclude=contractions)
            for m in markers
            if m.exercise == "passive_extension" and m.side == side
        ]
        assert abs(gap["passive_deg"] - max(passive)) < 1.0


def test_gap_on_truth_angles_is_exact(subject):
    session, angles, markers = subject("motor_control_deficit", 3)
    truth = truth_block(session, angles.time_s)
    gaps = analyze_session(truth, markers, CONFIG).to_dict()["gaps"]
    assert all(g["classification"] == "motor_control_deficit" for g in gaps)


def test_classify_gap_thresholds_are_configurable():
    strict = AnalysisConfig(gap_threshold_deg=1.0, passive_normal_min_deg=20.0)
    assert classify_gap("left", 14.0, 18.0, CONFIG).classification == "within_norms"
    assert classify_gap("left", 14.0, 18.0, strict).classification == "passive_restricted"
    assert classify_gap("left", 14.0, 22.0, strict).classification == "motor_control_deficit"
    assert classify_gap("left", None, 18.0, CONFIG).classification == "incomplete"


def test_compensation_episodes_in_holds_precision_recall(subject):
    tp = n_found = recovered = n_truth = 0
    for seed in (4, 5):
        session, angles, markers = subject("within_norms", seed, 3)
        analysis = analyze_session(angles, markers, CONFIG).to_dict()
        holds = [r for r in analysis["results"] if r["kind"] == "hold"]
        for h in holds:
            truth = truth_episodes(session, h["start_s"], h["end_s"], CONFIG)
            found = [tuple(e) for e in h["compensation_episodes"]]
            a, b, c = match_episodes(found, truth)
            tp, n_found, recovered, n_truth = (
                tp + a,
                n_found + b,
                recovered + c,
                n_truth + len(truth),
            )
    assert n_truth >= 10
    assert tp / n_found >= 0.95 and recovered / n_truth >= 0.95
