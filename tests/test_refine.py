"""Refining a finished trial: the live pipeline's samples fused again by the smoother."""

from __future__ import annotations

import numpy as np
import pytest

from hipsense.pipeline import HipPipeline, estimate_rate_hz
from hipsense.types import AngleBlock, hip_columns
from hipsim.assessment import assessment_session, population, truth_results
from hipsim.clinician import drive_in_process, served_angles
from hipsim.subjects import truth_block


@pytest.fixture(scope="module")
def assessed() -> tuple:
    subject = population(2, 3)[0]
    session, timeline = assessment_session(subject, 301)
    angles, pipe = served_angles(session.samples)
    return session, timeline, angles, pipe


def _peak_errors(angles: AngleBlock, session, trial) -> list[float]:
    """Peak hip extension minus truth's, per rep of ``trial``."""
    name = hip_columns(trial.side)[0]
    out = []
    for rep in trial.reps:
        inside = (angles.time_s >= rep.start_s) & (angles.time_s <= rep.end_s)
        truth = truth_block(session, angles.time_s[inside])
        out.append(float(np.max(-angles.columns[name][inside]) - np.max(-truth.columns[name])))
    return out


def test_refined_trials_are_closer_to_truth_than_live(assessed) -> None:
    session, timeline, live, pipe = assessed
    live_err, refined_err = [], []
    for trial in timeline.trials():
        start, end = trial.reps[0].start_s, trial.reps[-1].end_s
        refined = pipe.refine(start, end)
        assert refined is not None and refined.time_s[0] >= start
        assert refined.time_s[-1] == pytest.approx(end, abs=0.02)
        live_err += _peak_errors(live, session, trial)
        refined_err += _peak_errors(refined, session, trial)
    live_rms = float(np.sqrt(np.mean(np.square(live_err))))
    refined_rms = float(np.sqrt(np.mean(np.square(refined_err))))
    # The smoother's bound on these sessions is 0.1 deg RMS (benchmarks/fixed_lag.py).
    assert refined_rms < 0.15
    assert refined_rms < live_rms
    assert np.max(np.abs(refined_err)) < 0.35


def test_refining_uses_no_sample_after_the_segment(assessed) -> None:
    """Refined at the trial's end in the service or on a whole recording: the same numbers."""
    session, timeline, _, pipe = assessed
    trial = timeline.trials()[1]
    start, end = trial.reps[0].start_s, trial.reps[-1].end_s
    whole = pipe.refine(start, end)
    cut = {
        r: b.slice(0, int(np.searchsorted(b.time_s, end + 0.05)))
        for r, b in session.samples.items()
    }
    _, upto = served_angles(cut, calibration=pipe.calibration_, rates_hz=pipe.sensor_rate_hz)
    partial = upto.refine(start, end)
    assert whole is not None and partial is not None
    assert np.array_equal(whole.time_s, partial.time_s)
    for name, col in whole.columns.items():
        np.testing.assert_allclose(partial.columns[name], col, atol=1e-9, err_msg=name)


def test_history_is_bounded_and_a_new_calibration_clears_it(assessed) -> None:
    session, _, _, full = assessed
    pipe = HipPipeline({r: estimate_rate_hz(b) for r, b in session.samples.items()})
    assert pipe.refine(0.0, 1.0) is None  # no history kept
    pipe.keep_history(20.0)
    pipe.set_calibration(full.calibration_)
    for lo in np.arange(0.0, 60.0, 0.5):
        pipe.process(
            [
                b.slice(*np.searchsorted(b.time_s, (lo, lo + 0.5)).tolist())
                for b in session.samples.values()
            ]
        )
    h = pipe.history
    assert h is not None
    first = min(float(h.frames[0].time_s[0]), h.snapshots[0][0])
    assert 60.0 - 22.0 <= first <= 60.0 - 19.0
    for blocks in h.samples.values():
        assert float(blocks[0].time_s[0]) >= 60.0 - 24.0
    assert pipe.refine(45.0, 55.0) is not None
    pipe.set_calibration(full.calibration_)
    assert not h.frames and not h.snapshots
    assert pipe.refine(45.0, 55.0) is None


def test_the_assessment_reports_refined_reps_and_keeps_the_live_verdicts(assessed) -> None:
    session, timeline, angles, pipe = assessed
    refined, _, errors = drive_in_process(angles, timeline, refine=pipe.refine)
    live, _, _ = drive_in_process(angles, timeline)
    assert not errors
    got, raw = refined.assessment_state(), live.assessment_state()
    truth = truth_results(session, timeline)
    accepted = [t for t in got["trials"] if t["state"] == "accepted"]
    assert accepted and all(t["refined"] for t in accepted)
    for new, old in zip(got["trials"], raw["trials"], strict=True):
        assert [r["counted"] for r in new["reps"]] == [r["counted"] for r in old["reps"]]
        for r_new, r_old in zip(new["reps"], old["reps"], strict=True):
            if r_new["refined"]:
                assert r_new["live_extension_deg"] == r_old["extension_deg"]
    err_new = err_old = 0.0
    for side, want in truth.items():
        for key in ("active_deg", "passive_deg"):
            err_new = max(err_new, abs(got["sides"][side][key] - want[key]))
            err_old = max(err_old, abs(raw["sides"][side][key] - want[key]))
    assert err_new < 0.5
    assert err_new <= err_old + 0.05
