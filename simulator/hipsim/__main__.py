"""``python -m hipsim SCENARIO --seed N --out samples.csv --truth truth.csv``."""

from __future__ import annotations

import argparse
import sys

from hipsim.export import write_markers_csv, write_samples_csv, write_truth_csv
from hipsim.imu import ImuErrors
from hipsim.scenarios import SCENARIOS
from hipsim.session import simulate_session


def main(argv: list[str] | None = None) -> int:
    """Simulate one session and write its samples (and optionally truth and markers) CSVs."""
    parser = argparse.ArgumentParser(prog="python -m hipsim", description=__doc__)
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="samples CSV path")
    parser.add_argument("--truth", help="ground-truth CSV path (100 Hz grid)")
    parser.add_argument("--markers", help="exercise markers CSV path")
    parser.add_argument("--duration", type=float, help="session length in seconds")
    parser.add_argument("--rate", type=float, default=100.0, help="sample rate in Hz")
    parser.add_argument("--no-errors", action="store_true", help="exact, error-free data")
    parser.add_argument("--mag", action="store_true", help="also simulate magnetometers")
    parser.add_argument("--soft-tissue", action="store_true", help="thigh skin motion")
    args = parser.parse_args(argv)
    session = simulate_session(
        args.scenario,
        args.seed,
        rate_hz=args.rate,
        errors=ImuErrors.none() if args.no_errors else None,
        duration_s=args.duration,
        with_mag=args.mag,
        soft_tissue=args.soft_tissue,
    )
    write_samples_csv(session, args.out)
    if args.truth:
        write_truth_csv(session, args.truth)
    if args.markers:
        write_markers_csv(session, args.markers)
    n = sum(len(b) for b in session.samples.values())
    print(
        f"{args.scenario}: {session.duration_s:.1f} s, {n} samples -> {args.out}", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
