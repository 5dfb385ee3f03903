"""Accuracy of hip and pelvis angles against simulator ground truth, per scenario and filter.

For every scenario a simulated session (calibration routine + exercise, 3 sensors at 100 Hz,
arbitrary mounting, no magnetometer) is processed exactly as ``hipsense process`` does, and
RMSE over the whole session after calibration is printed for vqf and the ahrs filters side by
side. Two error models:

- ``issue``: gyro bias up to 0.5 deg/s, bias random walk, scale, misalignment, noise, jitter,
  unsynchronised sampling (the bar: flexion <= 1.0, tilt <= 0.5, abduction/rotation <= 3 deg);
- ``realistic``: the same plus an uncalibrated accelerometer (bias 0.05 m/s^2, scale 0.5 %,
  misalignment 0.5 deg), which limits inclination accuracy away from the calibration pose.

A 10-minute session checks that nothing drifts. Run: ``.venv/bin/python benchmarks/accuracy.py
[--filters vqf,madgwick,mahony,ekf] [--seed 1]`` (ahrs filters are pure Python: minutes).
``--seeds N`` instead runs every scenario for seeds 1..N (subject, mounting and sensor errors
drawn anew each time) with the given filters, and lists the runs above the bar.
"""

from __future__ import annotations

import argparse
import time

import hipsim
from hipsim.accuracy import AccuracyReport, evaluate, issue_error_model

BAR = {"flex": 1.0, "tilt": 0.5, "abd": 3.0, "rot": 3.0}


def _row(r: AccuracyReport) -> tuple[str, bool]:
    vals = {
        "flex": r.worst("hip_flexion"),
        "abd": r.worst("hip_abduction"),
        "rot": r.worst("hip_internal_rotation"),
        "tilt": r.rmse_deg["pelvic_tilt_deg"],
    }
    ok = all(vals[k] <= BAR[k] for k in BAR)
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
    args = parser.parse_args()
    filters = args.filters.split(",")
    models = {"issue": issue_error_model(), "realistic": hipsim.ImuErrors.realistic()}
    header = (
        f"{'scenario':30s} {'filter':9s} {'flex':>6s} {'abd':>6s} {'rot':>6s} {'tilt':>6s} "
        f"{'obliq':>6s} {'p.rot':>6s} {'calQ':>5s}"
    )
    if args.seeds:
        _sweep(args.seeds, filters, {m: models[m] for m in args.models.split(",")}, header)
        return
    for model in args.models.split(","):
        print(f"\n== error model: {model} (RMSE in deg, worst side; bar {BAR}) ==")
        print(header)
        failures = 0
        for scenario in [s for s in hipsim.SCENARIOS if s != "calibration"]:
            session = hipsim.simulate_session(scenario, seed=args.seed, errors=models[model])
            for method in filters:
                t0 = time.perf_counter()
                text, ok = _row(evaluate(session, method))
                failures += (not ok) and method == "vqf"
                print(f"{text}  ({time.perf_counter() - t0:.1f} s)", flush=True)
        print(f"vqf scenarios above the bar: {failures}")
    print("\n== 10-minute session (hip_cars, issue error model, vqf) ==")
    long = hipsim.simulate_session(
        "hip_cars", seed=args.seed, errors=issue_error_model(), duration_s=600.0
    )
    print(header)
    print(_row(evaluate(long, "vqf"))[0])


def _sweep(n_seeds: int, filters: list[str], models: dict, header: str) -> None:
    for model, errors in models.items():
        print(f"\n== error model: {model}, seeds 1-{n_seeds} (RMSE in deg; bar {BAR}) ==")
        print(f"{'seed':>4s} {header}")
        above: list[str] = []
        for scenario in [s for s in hipsim.SCENARIOS if s != "calibration"]:
            for seed in range(1, n_seeds + 1):
                session = hipsim.simulate_session(scenario, seed=seed, errors=errors)
                for method in filters:
                    text, ok = _row(evaluate(session, method))
                    print(f"{seed:4d} {text}", flush=True)
                    if not ok:
                        above.append(f"{scenario} seed {seed} {method}")
        print(f"runs above the bar: {len(above)}" + "".join(f"\n  {a}" for a in above))


if __name__ == "__main__":
    main()
