"""Repeat-measurement noise of the hip extension assessment: SEM and MDC95 of hipsense itself.

Run: ``.venv/bin/python benchmarks/repeatability.py [--seeds 10] [--errors issue|realistic]
[--keep DIR]``.

A test-retest study with a perfectly repeatable person: the same subject (the same true active
and passive hip extension per side) is assessed in ``--seeds`` sessions. Each session has its
own seed, so its own sensor mounting, sensor error draw (``--errors issue``, the default: gyro
bias and its random walk, scale, misalignment, noise, jitter, unsynchronised sampling;
``realistic`` adds accelerometer bias, scale and misalignment) and script timing
(pauses, still windows, the spread of the non-best reps). Every session goes the real way
(:func:`hipsim.progress.write_assessment_recording`): simulated, streamed through the causal
pipeline and assessed by the scripted clinician as the service does, recorded as a ``.hsr``
file (samples, markers, live calibration), then loaded with whole-session smoothing
(``load_session(path, None, "vqf", True)``) and analysed (``analyze_session``), as
``hipsense analyze`` does afterwards.

Per metric (active, passive, gap) and side, over the sessions, with error = measured - truth:

- ``bias``: mean error;
- ``SEM``: the within-subject standard deviation (sample SD, ddof 1; the truth is the same in
  every session, so this is the SD of the measurements);
- ``MDC95 = 1.96 * sqrt(2) * SEM``: the smallest change between two sessions that is larger
  than the measurement noise with 95 % confidence;
- ``min``/``max`` error.

Pooled rows combine sides (and subjects) as the root mean of the variances (each side of each
subject has its own true value), with ``df`` degrees of freedom and the 95 % confidence
interval of the pooled SEM (chi-square). Two subjects: A, a left motor control deficit
(half-kneeling passive test) and B, a left passive restriction (modified Thomas test). The
live numbers (causal pipeline, each trial refined as it ends) are summarised as well.

This is instrument noise only: the simulated person reaches exactly the same range every
time, the simulated body has no skin motion under the thigh sensors (the assessment script
builds it without soft tissue) and a rep's range is measured against the still standing
baseline just before it. A clinic's MDC (the person varies from day to day, and the tester)
can only be larger.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

from hipsim.accuracy import issue_error_model
from hipsim.imu import ImuErrors
from hipsim.progress import analyze_recording, lean_subject, write_assessment_recording

SIDES = ("left", "right")
METRICS = ("active_deg", "passive_deg", "gap_deg")
SUBJECTS = {
    "A": (
        "left motor control deficit, half-kneeling passive",
        lean_subject({"left": 8.0, "right": 17.0}, {"left": 20.0, "right": 19.0}),
        0,
    ),
    "B": (
        "left passive restricted, modified Thomas passive",
        lean_subject({"left": 5.0, "right": 14.0}, {"left": 8.0, "right": 16.0}, "thomas"),
        500,
    ),
}
"""name -> (description, subject, seed offset): session k of a subject uses seed offset + k."""
Z95 = 1.96


def mdc95(sem: float) -> float:
    """Minimal detectable change at 95 % confidence from the SEM: 1.96 * sqrt(2) * SEM."""
    return Z95 * math.sqrt(2.0) * sem


def _pooled(errors: list[np.ndarray]) -> tuple[float, int]:
    """Pooled within-subject SD of several groups (root of the df-weighted mean variance)."""
    ss = sum(float(np.sum((e - e.mean()) ** 2)) for e in errors)
    df = sum(len(e) - 1 for e in errors)
    return math.sqrt(ss / df), df


def _sem_ci(sem: float, df: int) -> tuple[float, float]:
    lo = sem * math.sqrt(df / stats.chi2.ppf(0.975, df))
    hi = sem * math.sqrt(df / stats.chi2.ppf(0.025, df))
    return lo, hi


def _row(label: str, errors: list[np.ndarray]) -> str:
    e = np.concatenate(errors)
    sem, df = _pooled(errors)
    text = (
        f"  {label:<22} {e.mean():>+6.2f} {sem:>6.2f} {mdc95(sem):>6.2f} "
        f"{e.min():>+6.2f} {e.max():>+6.2f} {df:>4}"
    )
    if len(errors) > 1:
        lo, hi = _sem_ci(sem, df)
        text += f"   SEM 95% CI {lo:.2f}-{hi:.2f}"
    return text


def _header() -> str:
    cols = ("bias", "SEM", "MDC95", "min", "max")
    return f"  {'metric':<22} " + " ".join(f"{c:>6}" for c in cols) + f" {'df':>4}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="sessions per subject")
    parser.add_argument("--keep", type=Path, default=None, help="keep the recordings here")
    parser.add_argument(
        "--errors",
        choices=("issue", "realistic"),
        default="issue",
        help="sensor error model (realistic: + accelerometer bias, scale, misalignment)",
    )
    args = parser.parse_args()
    if args.seeds < 2:
        parser.error("--seeds must be at least 2")
    error_model = issue_error_model() if args.errors == "issue" else ImuErrors.realistic()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        # errors[where][subject][side][metric] -> list of errors over sessions
        errors: dict[str, dict[str, dict[str, dict[str, list[float]]]]] = {
            where: {s: {side: {m: [] for m in METRICS} for side in SIDES} for s in SUBJECTS}
            for where in ("offline", "live")
        }
        timing: dict[str, list[float]] = {
            k: [] for k in ("simulate", "drive", "write", "load", "analyze", "length")
        }
        worst = 0.0
        class_ok = class_n = 0
        refused: list[str] = []
        print(
            f"hip extension repeatability: {args.seeds} sessions per subject, {args.errors} error "
            "model, recording -> load_session(vqf, whole-session smoothing) -> analyze_session"
        )
        for name, (text, subject, offset) in SUBJECTS.items():
            print(
                f"subject {name}: {text}; active {subject.active_deg}, passive "
                f"{subject.passive_deg} deg, {subject.rate_hz:.0f} Hz"
            )
            for k in range(1, args.seeds + 1):
                seed = offset + k
                path = root / f"repeat-{name}-{seed}.hsr"
                rec = write_assessment_recording(
                    subject,
                    seed,
                    path,
                    subject_name=f"repeat-{name}",
                    overwrite=True,
                    errors=error_model,
                )
                got = analyze_recording(path)
                if rec["errors"]:
                    refused.append(f"{name} seed {seed}: {rec['errors'][:3]}")
                for key in ("simulate", "drive", "write"):
                    timing[key].append(rec["timing_s"][key])
                for key in ("load", "analyze"):
                    timing[key].append(got["timing_s"][key])
                timing["length"].append(rec["duration_s"])
                cells = []
                for side in SIDES:
                    truth = rec["truth"][side]
                    measured = got["gaps"].get(side, {})
                    class_n += 1
                    class_ok += measured.get("classification") == truth["classification"]
                    for where, values in (("offline", measured), ("live", rec["live"][side])):
                        for m in METRICS:
                            if values.get(m) is None or truth[m] is None:
                                refused.append(f"{name} seed {seed} {side} {where}: no {m}")
                                continue
                            err = float(values[m]) - float(truth[m])
                            errors[where][name][side][m].append(err)
                            if where == "offline":
                                worst = max(worst, abs(err))
                    cells.append(
                        side
                        + " "
                        + " ".join(
                            f"{errors['offline'][name][side][m][-1]:+.2f}"
                            if errors["offline"][name][side][m]
                            else "-"
                            for m in METRICS
                        )
                    )
                print(
                    f"  seed {seed:>4}: error (active passive gap) {'; '.join(cells)}  "
                    f"[{rec['timing_s']['simulate'] + rec['timing_s']['drive']:.2f} s sim+drive, "
                    f"{rec['timing_s']['write']:.2f} s write, "
                    f"{got['timing_s']['load'] + got['timing_s']['analyze']:.2f} s analyse]",
                    flush=True,
                )
    print()
    print("offline (hipsense analyze: whole-session smoothing), error = measured - truth, deg")
    offline = errors["offline"]
    for name in SUBJECTS:
        print(f"subject {name}")
        print(_header())
        for m in METRICS:
            for side in SIDES:
                print(_row(f"{m[:-4]} {side}", [np.array(offline[name][side][m])]))
            print(_row(f"{m[:-4]} pooled sides", [np.array(offline[name][s][m]) for s in SIDES]))
    print("both subjects pooled (4 subject-sides)")
    print(_header())
    for m in METRICS:
        groups = [np.array(offline[n][s][m]) for n in SUBJECTS for s in SIDES]
        print(_row(f"{m[:-4]}", groups))
    print()
    print("live (causal pipeline, each trial refined as it ends), both subjects pooled")
    print(_header())
    for m in METRICS:
        groups = [np.array(errors["live"][n][s][m]) for n in SUBJECTS for s in SIDES]
        print(_row(f"{m[:-4]}", groups))
    print()
    n = len(timing["simulate"])
    mean = {k: float(np.mean(v)) for k, v in timing.items()}
    print(
        f"per session (mean of {n}, {mean['length']:.0f} s sessions at 100 Hz): simulate "
        f"{mean['simulate']:.2f} s, causal pipeline + assessment {mean['drive']:.2f} s, write "
        f"{mean['write']:.2f} s; load with smoothing {mean['load']:.2f} s, analyse "
        f"{mean['analyze']:.3f} s"
    )
    print(f"classification equal to truth: {class_ok} of {class_n} side-sessions")
    print(f"worst |offline error|: {worst:.2f} deg")
    for r in refused:
        print("NOTE", r)
    print(f"({time.perf_counter() - t_start:.0f} s)")
    return 0 if not refused and class_ok == class_n else 1


if __name__ == "__main__":
    raise SystemExit(main())
