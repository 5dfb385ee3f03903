"""Accuracy of hip and pelvis angles against simulator ground truth, per scenario and filter.

For every scenario a simulated session (calibration routine + exercise, 3 sensors at 100 Hz,
arbitrary mounting, no magnetometer) is processed exactly as ``hipsense process`` does
(whole-session smoothing; ``--causal``: as ``hipsense process --causal``, the live numbers), and
RMSE over the whole session after calibration is printed for vqf and the ahrs filters side by
side (they have no smoother: causal either way). Bars: flexion 0.5, tilt 0.2 deg smoothed, 1.0
and 0.5 causal, abduction and rotation 3 deg. Two error models:

- ``issue``: gyro bias up to 0.5 deg/s, bias random walk, scale, misalignment, noise, jitter,
  unsynchronised sampling;
- ``realistic``: the same plus an uncalibrated accelerometer (bias 0.05 m/s^2, scale 0.5 %,
  misalignment 0.5 deg), which limits inclination accuracy away from the calibration pose.

A 10-minute session checks that nothing drifts. Run: ``.venv/bin/python benchmarks/accuracy.py
[--filters vqf,madgwick,mahony,ekf] [--seed 1]`` (ahrs filters are pure Python: minutes).
``--seeds N`` instead runs every scenario for seeds 1..N (subject, mounting and sensor errors
drawn anew each time) with the given filters, and lists the runs above the bar.

``--population N [--causal] [--scenarios a,b] [--exercise-s 30] [--population-seed 0]``
instead draws N subjects (:func:`hipsim.draw_population`: hinge 10-60 deg, knee lift
30-100 deg, speed, repetitions, order, pauses, extra movements, 25-200 Hz per sensor,
mounting), simulates each scenario for each (the routine, then ``--exercise-s`` of the
exercise; default a whole block), processes it as ``hipsense process`` does (``--causal``:
as ``hipsense process --causal``), issue error model, vqf, and prints per angle the median,
95th percentile and worst subject's RMSE, and how many subjects the calibration accepted with
the refusals' messages grouped. Bars: whole-session smoothing flexion 0.5, tilt 0.2; causal
flexion 1.0, tilt 0.5; abduction and rotation 3 deg.
"""

from __future__ import annotations

import argparse
import time

import hipsim
from hipsim.accuracy import (
    ACCURACY_BAR_DEG,
    ANGLES,
    AccuracyReport,
    PopulationAccuracy,
    evaluate,
    evaluate_population,
    issue_error_model,
)
from hipsim.population import simulate_population

# Per path (True: whole-session smoothing, False: causal), the bars in this table's names.
BARS = {
    offline: {"flex": b["flexion"], "tilt": b["tilt"], "abd": b["abduction"], "rot": b["rotation"]}
    for offline, b in ACCURACY_BAR_DEG.items()
}
EXERCISES = [s for s in hipsim.SCENARIOS if s != "calibration"]


def _row(r: AccuracyReport, offline: bool = True) -> tuple[str, bool]:
    bar = BARS[offline]
    vals = {
        "flex": r.worst("hip_flexion"),
        "abd": r.worst("hip_abduction"),
        "rot": r.worst("hip_internal_rotation"),
        "tilt": r.rmse_deg["pelvic_tilt_deg"],
    }
    ok = all(vals[k] <= bar[k] for k in bar)
    text = (
        f"{r.scenario:30s} {r.method:9s} {vals['flex']:6.2f} {vals['abd']:6.2f} "
        f"{vals['rot']:6.2f} {vals['tilt']:6.2f} {r.rmse_deg['pelvic_obliquity_deg']:6.2f} "
        f"{r.rmse_deg['pelvic_rotation_deg']:6.2f} {r.calibration_score:5.0f}  "
        f"{'ok' if ok else 'ABOVE BAR'}"
    )
    return text, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filters", default="vqf,madgwick,mahony,ekf")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--models", default="issue,realistic")
    parser.add_argument("--seeds", type=int, default=0, help="sweep seeds 1..N instead")
    parser.add_argument("--population", type=int, default=0, help="N drawn subjects instead")
    parser.add_argument("--population-seed", type=int, default=0)
    parser.add_argument(
        "--causal", action="store_true", help="the causal path (hipsense process --causal)"
    )
    parser.add_argument("--scenarios", default=",".join(EXERCISES), help="population: which")
    parser.add_argument(
        "--exercise-s", type=float, default=None, help="population: seconds after the routine"
    )
    args = parser.parse_args()
    if args.population:
        scenarios = args.scenarios.split(",")
        unknown = [s for s in scenarios if s not in hipsim.SCENARIOS]
        if unknown:
            parser.error(f"unknown scenario {', '.join(unknown)}; one of {hipsim.SCENARIOS}")
        _population(
            args.population, args.population_seed, scenarios, not args.causal, args.exercise_s
        )
        return
    filters = args.filters.split(",")
    offline = not args.causal
    models = {"issue": issue_error_model(), "realistic": hipsim.ImuErrors.realistic()}
    header = (
        f"{'scenario':30s} {'filter':9s} {'flex':>6s} {'abd':>6s} {'rot':>6s} {'tilt':>6s} "
        f"{'obliq':>6s} {'p.rot':>6s} {'calQ':>5s}"
    )
    if args.seeds:
        _sweep(args.seeds, filters, {m: models[m] for m in args.models.split(",")}, header, offline)
        return
    mode = "whole-session smoothing" if offline else "causal"
    for model in args.models.split(","):
        print(
            f"\n== error model: {model}, {mode} (RMSE in deg, worst side; bar {BARS[offline]}) =="
        )
        print(header)
        failures = 0
        for scenario in [s for s in hipsim.SCENARIOS if s != "calibration"]:
            session = hipsim.simulate_session(scenario, seed=args.seed, errors=models[model])
            for method in filters:
                t0 = time.perf_counter()
                text, ok = _row(evaluate(session, method, offline), offline)
                failures += (not ok) and method == "vqf"
                print(f"{text}  ({time.perf_counter() - t0:.1f} s)", flush=True)
        print(f"vqf scenarios above the bar: {failures}")
    print(f"\n== 10-minute session (hip_cars, issue error model, vqf, {mode}) ==")
    long = hipsim.simulate_session(
        "hip_cars", seed=args.seed, errors=issue_error_model(), duration_s=600.0
    )
    print(header)
    print(_row(evaluate(long, "vqf", offline), offline)[0])


def _sweep(n_seeds: int, filters: list[str], models: dict, header: str, offline: bool) -> None:
    for model, errors in models.items():
        print(f"\n== error model: {model}, seeds 1-{n_seeds} (RMSE in deg; bar {BARS[offline]}) ==")
        print(f"{'seed':>4s} {header}")
        above: list[str] = []
        for scenario in [s for s in hipsim.SCENARIOS if s != "calibration"]:
            for seed in range(1, n_seeds + 1):
                session = hipsim.simulate_session(scenario, seed=seed, errors=errors)
                for method in filters:
                    text, ok = _row(evaluate(session, method, offline), offline)
                    print(f"{seed:4d} {text}", flush=True)
                    if not ok:
                        above.append(f"{scenario} seed {seed} {method}")
        print(f"runs above the bar: {len(above)}" + "".join(f"\n  {a}" for a in above))


def _population(
    n: int, seed: int, scenarios: list[str], offline: bool, exercise_s: float | None
) -> None:
    subjects = hipsim.draw_population(n, seed)
    bar = ACCURACY_BAR_DEG[offline]
    mode = "whole-session smoothing" if offline else "causal"
    length = "one exercise block" if exercise_s is None else f"{exercise_s:g} s of exercise"
    print(
        f"== population of {n} subjects (seed {seed}), {mode}, issue error model, vqf, "
        f"routine + {length}; RMSE in deg over the subjects the calibration accepted =="
    )
    print(
        f"{'scenario':30s} {'accepted':>8s} {'angle':10s} {'median':>7s} {'p95':>7s} "
        f"{'worst':>7s} {'subject':>7s} {'bar':>5s}"
    )
    listed: set[int] = set()
    above: list[str] = []
    for scenario in scenarios:
        t0 = time.perf_counter()
        sessions = simulate_population(
            subjects, scenario, errors=issue_error_model(), exercise_s=exercise_s
        )
        result = evaluate_population(sessions, offline=offline)
        accepted = f"{result.accepted}/{result.n_subjects}"
        for k, angle in enumerate(ANGLES):
            median, p95, worst, worst_id = result.summary(angle)
            limit = bar.get(angle)
            flag = ""
            if limit is not None and worst > limit:
                flag = "  ABOVE BAR"
                above.append(f"{scenario} {angle} {worst:.2f} (#{worst_id})")
            listed.update([worst_id] if worst_id >= 0 else [])
            print(
                f"{scenario if k == 0 else '':30s} {accepted if k == 0 else '':>8s} "
                f"{angle:10s} {median:7.3f} {p95:7.3f} {worst:7.3f} "
                f"{'#' + str(worst_id) if worst_id >= 0 else '-':>7s} "
                f"{'-' if limit is None else f'{limit:.1f}':>5s}{flag}"
            )
        _print_refusals(result)
        if result.quality:
            scores = sorted(result.quality.values())
            print(
                f"{'':30s} calibration quality: min {scores[0]:.0f}, median "
                f"{scores[len(scores) // 2]:.0f}  ({time.perf_counter() - t0:.1f} s)",
                flush=True,
            )
        listed.update(result.refused)
    above_lines = "" if not above else "\n  " + "\n  ".join(above)
    print(f"\nabove the bar: {len(above)}{above_lines}")
    print("\nsubjects named above:")
    for subject in subjects:
        if subject.subject_id in listed:
            print(f"  {subject.describe()}")


def _print_refusals(result: PopulationAccuracy) -> None:
    for message, ids in result.refusals().items():
        shown = ", ".join(f"#{i}" for i in ids[:12]) + (" ..." if len(ids) > 12 else "")
        print(f"{'':30s} refused {len(ids)}: {message}  ({shown})")


if __name__ == "__main__":
    main()
