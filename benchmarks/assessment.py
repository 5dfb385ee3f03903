"""The hip extension assessment over a population of simulated subjects (issue 11 figures).

Run: ``.venv/bin/python benchmarks/assessment.py [--seeds 10] [--per-seed 3]``.

Per seed, ``hipsim.assessment.population`` draws subjects that differ in movement size
(active 4-25 deg, passive 6-30 deg), speed (0.6-2x), side order, sample rate (52-200 Hz),
passive method (half-kneeling, partner, Thomas), compensated reps, the prone trial and hold
series. Each session is simulated with the issue error model and streamed through the live
pipeline as the service runs it (``hipsim.clinician.served_angles``: causal, 0.1 s pieces),
and the assessment is run on the angle stream by the scripted clinician (``hipsim.clinician``:
the same decisions the demo makes over HTTP), in 0.1 s blocks, with each accepted trial refined
as it ends (:mod:`hipsense.refine`), as the service does. Truth comes from the exact angles
(``truth_results``, ``truth_rep_validity``, ``truth_hold_verdicts``):

- gap, active and passive per side: |measured - truth| (bar 1 deg);
- classification per side: measured == truth;
- compensated reps (invalid on truth): flagged and not counted;
- hold verdicts (complete or not) == the verdict of the same rule on truth.

Every marker the assessment and the series wrote is analysed offline (``analyze_session``) on
the live angles and must give the same per-side numbers as the live state without refinement
(the same rules; a second pass of the assessment without ``refine``). The summary also gives
the worst error of the live values without refinement and of ``hipsense analyze`` (the whole
session smoothed) on the same markers.
"""

from __future__ import annotations

import argparse
import time

from hipsense.exercises.session import analyze_session
from hipsense.pipeline import process_session
from hipsim.assessment import (
    assessment_session,
    population,
    truth_hold_verdicts,
    truth_rep_validity,
    truth_results,
)
from hipsim.clinician import drive_in_process, served_angles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--per-seed", type=int, default=3)
    args = parser.parse_args()
    rows = []
    worst_gap = worst_raw = worst_after = 0.0
    class_ok = class_n = comp_ok = comp_n = hold_ok = hold_n = offline_ok = offline_n = 0
    failures: list[str] = []
    t0 = time.perf_counter()
    print(
        f"hip extension assessment vs truth: seeds 1..{args.seeds}, {args.per_seed} subjects "
        "each, issue error model"
    )
    header = (
        f"{'seed':>4} {'#':>2} {'Hz':>4} {'method':<13} {'spd':>4} {'side':<5} {'truth class':<22}"
        f" {'measured class':<22} {'gap':>6} {'truth':>6} {'err':>5} comp holds"
    )
    print(header)
    for seed in range(1, args.seeds + 1):
        for k, subject in enumerate(population(args.per_seed, seed)):
            session, timeline = assessment_session(subject, seed * 100 + k)
            angles, pipe = served_angles(session.samples)
            clinic, markers, errors = drive_in_process(angles, timeline, refine=pipe.refine)
            unrefined, raw_markers, _ = drive_in_process(angles, timeline)
            if errors:
                failures.append(f"seed {seed} #{k}: requests refused: {errors[:3]}")
            state = clinic.assessment_state()
            raw_state = unrefined.assessment_state()
            truth = truth_results(session, timeline)
            validity = truth_rep_validity(session, timeline)
            offline = {g["side"]: g for g in analyze_session(angles, raw_markers).to_dict()["gaps"]}
            smoothed = process_session(session.samples).angles
            after = {g["side"]: g for g in analyze_session(smoothed, markers).to_dict()["gaps"]}
            # Compensated reps: invalid on truth, must not count (and must carry a reason).
            c_ok = c_n = 0
            for trial in state["trials"]:
                windows = timeline.trial(trial["id"]).reps
                for tv, w in zip(validity.get(trial["id"], []), windows, strict=True):
                    if tv:
                        continue
                    c_n += 1
                    # The live rep sharing the most time with the scripted one.
                    live = [
                        (min(r["end_s"], w.end_s) - max(r["start_s"], w.start_s), r)
                        for r in trial["reps"]
                    ]
                    best = max(live, key=lambda x: x[0], default=(0.0, None))
                    rep = best[1]
                    c_ok += (
                        rep is not None
                        and best[0] > 0
                        and not rep["counted"]
                        and "pelvis" in rep["reason"]
                    )
            comp_ok, comp_n = comp_ok + c_ok, comp_n + c_n
            # Holds.
            h_ok = h_n = 0
            verdicts = truth_hold_verdicts(session, timeline)
            measured = clinic.series_state().get("holds", [])
            for v in verdicts:
                h_n += 1
                got = next((h for h in measured if h["n"] == v.n), None)
                h_ok += got is not None and bool(got.get("complete")) == v.complete
            hold_ok, hold_n = hold_ok + h_ok, hold_n + h_n
            for side in subject.side_order:
                got = state["sides"][side]
                want = truth[side]
                class_n += 1
                ok = got["classification"] == want["classification"]
                class_ok += ok
                err = None
                if got["gap_deg"] is not None and want["gap_deg"] is not None:
                    err = abs(got["gap_deg"] - want["gap_deg"])
                    worst_gap = max(worst_gap, err, *_errors(got, want))
                    worst_raw = max(worst_raw, *_errors(raw_state["sides"][side], want))
                    worst_after = max(worst_after, *_errors(after.get(side, {}), want))
                elif got["gap_deg"] != want["gap_deg"]:
                    ok = False
                off = offline.get(side, {})
                raw = raw_state["sides"][side]
                offline_n += 1
                same = off.get("classification") == raw["classification"] and all(
                    (off.get(key) is None and raw[key] is None)
                    or (off.get(key) is not None and abs(off[key] - raw[key]) < 0.01)
                    for key in ("active_deg", "passive_deg")
                )
                offline_ok += same
                if not ok or (err is not None and err > 1.0) or not same:
                    failures.append(
                        f"seed {seed} #{k} {side}: measured {got} truth {want} offline {off}"
                    )
                rows.append(
                    f"{seed:>4} {k:>2} {subject.rate_hz:>4.0f} {subject.passive_method:<13} "
                    f"{subject.speed:>4.2f} {side:<5} {want['classification']:<22} "
                    f"{got['classification']:<22} "
                    f"{_f(got['gap_deg']):>6} {_f(want['gap_deg']):>6} {_f(err):>5} "
                    f"{c_ok}/{c_n}  {h_ok}/{h_n}"
                )
                print(rows[-1], flush=True)
    print()
    print(f"{'classification right':<44} {class_ok} of {class_n} side-subjects (bar: all)")
    print(
        f"{'worst |active|, |passive|, |gap| error':<44} {worst_gap:.2f} deg (bar 1.0; live "
        f"without refinement {worst_raw:.2f}, hipsense analyze afterwards {worst_after:.2f})"
    )
    print(f"{'compensated reps flagged and not counted':<44} {comp_ok} of {comp_n} (bar: all)")
    print(f"{'hold verdicts equal to truth':<44} {hold_ok} of {hold_n} (bar: all)")
    print(f"{'offline analyze == live per side':<44} {offline_ok} of {offline_n}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    for f in failures:
        print("FAIL", f)
    met = (
        class_ok == class_n
        and worst_gap <= 1.0
        and comp_ok == comp_n
        and hold_ok == hold_n
        and offline_ok == offline_n
    )
    print("all bars met" if met else "bars NOT met")
    return 0 if met else 1


def _errors(got: dict, want: dict) -> list[float]:
    """|measured - truth| of active, passive and gap (those both give; NaN when missing)."""
    return [
        abs(got[key] - want[key]) if got.get(key) is not None else float("nan")
        for key in ("active_deg", "passive_deg", "gap_deg")
        if want.get(key) is not None
    ]


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
