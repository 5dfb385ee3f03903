"""``hipsense process``: a samples CSV (or Xsens text exports) -> angles CSV."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from hipsense.cli.args import FILTER_NAMES, placement_arg, window_arg


def _cmd_process(args: argparse.Namespace) -> int:
    from hipsense.errors import InputFormatError
    from hipsense.fusion import FILTERS
    from hipsense.pipeline import process_session
    from hipsense.recording.generic_csv import read_samples_csv, write_angles_csv
    from hipsense.types import angle_columns

    t0 = time.perf_counter()
    offline = not args.causal and FILTERS[args.filter].supports_smoothing
    if any("=" in item for item in args.samples):
        from hipsense.recording.xsens import read_role_files

        samples, load_notes = read_role_files(args.samples)
    elif len(args.samples) == 1:
        samples, load_notes = read_samples_csv(args.samples[0]), []
    else:
        raise InputFormatError(
            "give one samples CSV, or ROLE=FILE per sensor (pelvis=A.txt thigh_left=B.txt ...)"
        )
    for note in load_notes:
        print(f"note: {note}", file=sys.stderr)
    result = process_session(
        samples,
        method=args.filter,
        static_window_s=args.static,
        functional_window_s=args.functional,
        offline=offline,
        placements=dict(args.placement) if args.placement else None,
    )
    columns = angle_columns(list(samples))
    write_angles_csv(args.out, result.angles, columns)
    cal = result.calibration
    n = sum(len(b) for b in samples.values())
    print(
        f"calibrated: static {cal.static_window_s[0]:.2f}-{cal.static_window_s[1]:.2f} s, "
        f"functional {cal.functional_window_s[0]:.2f}-{cal.functional_window_s[1]:.2f} s, "
        f"quality {cal.quality_score:.0f}/100, method {cal.method}"
        + (
            ""
            if cal.expected_error_deg is None
            else f", expected angle error {cal.expected_error_deg:.1f} deg"
        ),
        file=sys.stderr,
    )
    for note in cal.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        "fusion: "
        + (
            "whole-session smoothing (forward-backward)"
            if offline
            else f"causal {args.filter}, as live"
        ),
        file=sys.stderr,
    )
    for warning in cal.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"wrote {len(result.angles)} frames ({', '.join(columns)}) to {args.out} "
        f"from {n} samples in {time.perf_counter() - t0:.2f} s",
        file=sys.stderr,
    )
    return 0


def register(sub: Any) -> None:
    """Add the ``process`` sub-command to the CLI's sub-parsers."""
    p = sub.add_parser(
        "process",
        help="generic samples CSV -> angles CSV",
        description="Calibrate and compute hip and pelvis angles from a samples CSV.",
    )
    p.add_argument(
        "samples",
        nargs="+",
        metavar="SAMPLES",
        help="samples CSV (time_s,role,acc_x..gyr_z[,mag_x..mag_z]), or ROLE=FILE per sensor "
        "for Xsens/Movella text exports (pelvis=A.txt thigh_left=B.txt thigh_right=C.txt)",
    )
    p.add_argument("--out", required=True, help="angles CSV to write")
    p.add_argument("--static", type=window_arg, metavar="START:END", help="still pose window, s")
    p.add_argument(
        "--functional", type=window_arg, metavar="START:END", help="knee lifts + hinges window, s"
    )
    p.add_argument("--filter", choices=FILTER_NAMES, default="vqf", help="orientation filter")
    p.add_argument(
        "--placement",
        type=placement_arg,
        action="append",
        metavar="ROLE=SITE",
        help="declared sensor placement (pelvis=sacrum, thigh_left=lateral|anterior[:AXIS], AXIS "
        "the sensor axis away from the skin, default +z), used when the session has neither the "
        "calibration routine nor walking; repeat per sensor",
    )
    p.add_argument(
        "--causal",
        action="store_true",
        help="the live filter's numbers, sample by sample (default: whole-session smoothing, "
        "forward and backward; filters other than vqf are always causal)",
    )
    p.set_defaults(func=_cmd_process)
