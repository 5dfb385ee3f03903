"""What re-fusing a finished rep or hold with a smoother gains over the live trace, and its delay.

Issue 12, item 2: when a rep, hold or trial ends, its reported values may be recomputed with a
fixed-lag smoother over that segment. This measures it on scripted hipsim assessments
(:func:`hipsim.assessment.population`: calibration routine, active/passive trials on both
sides, some with a prone trial or a PAILs/RAILs hold series, 52-200 Hz, the issue-2 error
model) against the simulator's truth:

- live: the causal pipeline fed in 0.1 s pieces as a live source feeds it, keeping its history
  (:meth:`HipPipeline.keep_history`); its angles are checked to equal
  ``process_session(..., offline=False)``;
- re-fused: :meth:`HipPipeline.refine` (:mod:`hipsense.refine`, what the service runs when a
  trial or hold series ends): each sensor's samples from ``L`` s before the segment to its end
  fused again by the whole-session smoother with the calibration's corrections, the live
  heading taken over, the kinematics continued from its state at the lead-in's start; only
  samples up to the segment's end are used. ``--smoother offlineVQF`` re-fuses without the
  rest anchoring;
- whole session: ``process_session(..., offline=True)`` (the bound: what a finished session gets).

Segments are each rep of a trial and each hold of a series, re-fused ``--lag-s`` after it
ends (``--segment rep``: a fixed-lag smoother; lag 0 re-fuses as the rep ends, so its last
samples get no backward information), or the whole trial or hold series (``--segment trial``,
re-fused at the trial's end). Reported per rep/hold: the peak hip extension (``-flexion`` of
the tested side) and the peak anterior pelvic tilt over the rep window (the hold's), each minus
the same peak of the truth; summarised as RMSE and worst absolute error over all reps and
holds. The
delay is the wait from the rep's (hold's) end until the re-fused value exists: the time to the
segment's end plus the re-fusion's compute time on this machine.

Run: ``.venv/bin/python benchmarks/fixed_lag.py [--subjects 6] [--seed 1] [--lead-s 2,5,10,30]
[--segment rep|trial] [--lag-s 0] [--smoother both|hipsense|offlineVQF]``
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import numpy as np

from hipsense.fusion import VQFFilter
from hipsense.pipeline import process_session
from hipsense.types import AngleBlock, FloatArray, hip_columns
from hipsim.assessment import AssessmentSubject, AssessmentTimeline, assessment_session, population
from hipsim.clinician import served_angles
from hipsim.subjects import truth_block

# The live heading is taken over from this stretch just before the segment starts.
HEADING_MATCH_S = 1.0


@dataclass(frozen=True)
class Target:
    """One reported value's window: a rep or a hold, and the segment that is re-fused for it.

    ``start_s`` .. ``end_s``: the rep (hold) window the peaks are taken over; ``segment_start_s``
    .. ``segment_end_s``: the segment whose end triggers the re-fusion (the rep itself, or its
    whole trial or hold series).
    """

    label: str
    side: str
    start_s: float
    end_s: float
    segment_start_s: float
    segment_end_s: float


@dataclass
class Errors:
    """Peak errors (estimate minus truth, deg) of one estimator over every target."""

    extension_deg: list[float] = field(default_factory=list)
    tilt_deg: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def add(self, estimate: AngleBlock, truth: AngleBlock, target: Target) -> None:
        ext_est, tilt_est = peaks(estimate, target)
        ext_true, tilt_true = peaks(truth, target)
        self.extension_deg.append(ext_est - ext_true)
        self.tilt_deg.append(tilt_est - tilt_true)
        self.labels.append(target.label)

    def summary(self) -> str:
        """``RMSE / worst`` of the extension and the tilt peak errors."""
        e, t = np.asarray(self.extension_deg), np.asarray(self.tilt_deg)
        return (
            f"{np.sqrt(np.mean(e**2)):5.2f} / {np.max(np.abs(e)):5.2f}   "
            f"{np.sqrt(np.mean(t**2)):5.2f} / {np.max(np.abs(t)):5.2f}"
        )


def peaks(angles: AngleBlock, target: Target) -> tuple[float, float]:
    """(peak hip extension of the target's side, peak anterior pelvic tilt), deg, in its window."""
    inside = (angles.time_s >= target.start_s) & (angles.time_s <= target.end_s)
    flexion = angles.columns[hip_columns(target.side)[0]][inside]
    tilt = angles.columns["pelvic_tilt_deg"][inside]
    return float(np.nanmax(-flexion)), float(np.nanmax(tilt))


def targets(timeline: AssessmentTimeline, segment: str, lag_s: float = 0.0) -> list[Target]:
    """Every rep of every trial and every hold of the hold series, as :class:`Target`.

    ``segment="rep"``: each rep (hold) is re-fused ``lag_s`` after it ends; ``"trial"``: when
    its trial (hold series) ends.
    """
    out: list[Target] = []
    for trial in timeline.trials():
        assert trial.side is not None
        for rep in trial.reps:
            seg = (
                (rep.start_s, min(rep.end_s + lag_s, timeline.duration_s))
                if segment == "rep"
                else (trial.start_s, trial.end_s)
            )
            out.append(
                Target(f"{trial.trial_id}#{rep.n}", trial.side, rep.start_s, rep.end_s, *seg)
            )
    series = timeline.hold_series()
    if series is not None and series.series is not None:
        for hold in series.holds:
            seg = (
                (hold.start_s, min(hold.end_s + lag_s, timeline.duration_s))
                if segment == "rep"
                else (series.start_s, series.end_s)
            )
            out.append(
                Target(
                    f"hold_{hold.phase}#{hold.rep}",
                    series.series.side,
                    hold.start_s,
                    hold.end_s,
                    *seg,
                )
            )
    return out


@dataclass
class SubjectResult:
    """Errors per estimator name and the re-fusion timings of one subject."""

    errors: dict[str, Errors]
    compute_s: dict[float, list[float]]
    wait_s: list[float]


def evaluate_subject(
    subject: AssessmentSubject,
    seed: int,
    leads_s: list[float],
    segment: str,
    smoothers: dict[str, bool],
    lag_s: float = 0.0,
) -> SubjectResult:
    """Live, re-fused (per lead-in) and whole-session errors of one simulated assessment."""
    session, timeline = assessment_session(subject, seed)
    samples = session.samples
    causal = process_session(samples, offline=False)
    smoothed = process_session(samples, offline=True).angles
    # The live pipeline as the service runs it; each refinement uses only the samples up to
    # the segment's end.
    live_angles, pipe = served_angles(samples)
    _check_same(live_angles, causal.angles)
    truth = truth_block(session, live_angles.time_s)
    tgts = targets(timeline, segment, lag_s)
    errors = {"live": Errors(), "whole session": Errors()}
    compute: dict[float, list[float]] = {lead: [] for lead in leads_s}
    cache: dict[tuple[str, float, float, float], tuple[AngleBlock, float]] = {}
    for t in tgts:
        errors["live"].add(live_angles, truth, t)
        errors["whole session"].add(smoothed, truth, t)
        for smoother, anchoring in smoothers.items():
            for lead in leads_s:
                key = (smoother, lead, t.segment_start_s, t.segment_end_s)
                if key not in cache:
                    VQFFilter.rest_anchoring = anchoring
                    t0 = time.perf_counter()
                    angles = pipe.refine(t.segment_start_s, t.segment_end_s, lead)
                    cache[key] = (angles, time.perf_counter() - t0)
                    VQFFilter.rest_anchoring = True
                    compute[lead].append(cache[key][1])
                angles, _ = cache[key]
                errors.setdefault(f"{smoother} L={lead:g} s", Errors()).add(
                    angles, truth_block(session, angles.time_s), t
                )
    wait = [t.segment_end_s - t.end_s for t in tgts]
    return SubjectResult(errors, compute, wait)


def _check_same(mine: AngleBlock, reference: AngleBlock) -> None:
    """The rebuilt live pipeline must give ``process_session(offline=False)``'s angles."""
    for name, col in reference.columns.items():
        if not np.allclose(mine.columns[name], col, atol=1e-9, equal_nan=True):
            raise AssertionError(f"the rebuilt live pipeline differs from process_session: {name}")


def _rms(x: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x) ** 2)))


def _describe(subject: AssessmentSubject) -> str:
    extra = [subject.passive_method]
    if subject.include_prone:
        extra.append("prone")
    if subject.hold_series is not None:
        extra.append("holds")
    return f"{subject.rate_hz:g} Hz, speed {subject.speed:g}, {', '.join(extra)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lead-s", default="2,5,10,30", help="comma-separated lead-ins (s)")
    parser.add_argument("--segment", choices=("rep", "trial"), default="rep")
    parser.add_argument(
        "--lag-s", type=float, default=0.0, help="with --segment rep: re-fuse this long after"
    )
    parser.add_argument(
        "--smoother",
        choices=("both", "hipsense", "offlineVQF"),
        default="both",
        help="hipsense's smoother (offlineVQF + rest anchoring), offlineVQF alone, or both",
    )
    args = parser.parse_args()
    smoothers = {
        name: anchoring
        for name, anchoring in (("re-fused", True), ("offlineVQF only", False))
        if args.smoother == "both" or (args.smoother == "hipsense") == anchoring
    }
    leads_s = [float(x) for x in args.lead_s.split(",") if x.strip()]

    t_start = time.perf_counter()
    total: dict[str, Errors] = {}
    compute: dict[float, list[float]] = {lead: [] for lead in leads_s}
    wait: list[float] = []
    n_targets = 0
    for i, subject in enumerate(population(max(2, args.subjects), args.seed)[: args.subjects]):
        res = evaluate_subject(subject, args.seed + i, leads_s, args.segment, smoothers, args.lag_s)
        n = len(res.errors["live"].extension_deg)
        n_targets += n
        print(f"subject {i + 1}: {_describe(subject)}, {n} reps and holds")
        for name, err in res.errors.items():
            acc = total.setdefault(name, Errors())
            acc.extension_deg += err.extension_deg
            acc.tilt_deg += err.tilt_deg
            acc.labels += [f"subject {i + 1} {label}" for label in err.labels]
        for lead in leads_s:
            compute[lead] += res.compute_s[lead]
        wait += res.wait_s

    print(
        f"\n{n_targets} reps and holds of {args.subjects} subjects, segment = {args.segment}"
        f"{f' + {args.lag_s:g} s' if args.segment == 'rep' else ''}; "
        f"peak errors against truth, RMSE / worst (deg)"
    )
    print(f"{'estimate':24s} {'hip extension':>13s}   {'pelvic tilt':>13s}   delay after the rep")
    live = total["live"]
    for name, err in total.items():
        if "L=" in name:
            lead = float(name.split("=")[1].split()[0])
            c = np.asarray(compute[lead])
            delay_text = (
                f"median {np.median(wait) + np.median(c):.2f} s, max {np.max(wait) + np.max(c):.2f}"
                f" s (compute median {np.median(c) * 1e3:.0f} ms, max {np.max(c) * 1e3:.0f} ms)"
            )
        elif name == "live":
            delay_text = "0 (as the rep ends)"
        else:
            delay_text = "at the end of the session"
        print(f"{name:24s} {err.summary()}   {delay_text}")
    le, lt = np.asarray(live.extension_deg), np.asarray(live.tilt_deg)
    for name, err in total.items():
        e, t = np.asarray(err.extension_deg), np.asarray(err.tilt_deg)
        we, wt = int(np.argmax(np.abs(e))), int(np.argmax(np.abs(t)))
        print(
            f"worst of {name}: extension {e[we]:+.2f} deg at {err.labels[we]}, "
            f"tilt {t[wt]:+.2f} deg at {err.labels[wt]}"
        )
    for name, err in total.items():
        if "L=" in name:
            e, t = np.asarray(err.extension_deg), np.asarray(err.tilt_deg)
            print(
                f"gain of {name} over live: extension RMSE {_rms(le) - _rms(e):+.3f} deg, worst "
                f"{np.max(np.abs(le)) - np.max(np.abs(e)):+.3f}; tilt RMSE "
                f"{_rms(lt) - _rms(t):+.3f} deg, worst "
                f"{np.max(np.abs(lt)) - np.max(np.abs(t)):+.3f}; closer to truth on "
                f"{np.mean(np.abs(e) < np.abs(le)) * 100:.0f} % of extension peaks, "
                f"{np.mean(np.abs(t) < np.abs(lt)) * 100:.0f} % of tilt peaks"
            )
    print(f"{time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
