"""Command line: ``hipsense process | ...``.

Errors the user can act on are printed as one line (``hipsense: error: ...``) with exit code
2; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from hipsense import __version__
from hipsense.errors import HipsenseError
from hipsense.fusion import FILTERS


def _window(text: str) -> tuple[float, float]:
    try:
        start, end = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not START:END in seconds (e.g. 0.5:3.0)"
        ) from None
    if not end > start:
        raise argparse.ArgumentTypeError(f"{text!r}: END must be after START")
    return start, end


def placement_arg(text: str) -> tuple[str, str]:
    """``ROLE=SITE`` of ``--placement`` (``process``, ``serve``), checked."""
    from hipsense.body.mounting import parse_placement
    from hipsense.errors import ConfigurationError

    role, sep, site = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not ROLE=SITE (e.g. pelvis=sacrum)")
    try:
        parse_placement(role.strip(), site)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return role.strip(), site.strip()


def _cmd_process(args: argparse.Namespace) -> int:
    from hipsense.errors import InputFormatError
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


def build_parser() -> argparse.ArgumentParser:
    """The ``hipsense`` argument parser (sub-commands register themselves here)."""
    parser = argparse.ArgumentParser(
        prog="hipsense", description="Hip and pelvis angles from wearable IMUs."
    )
    parser.add_argument("--version", action="version", version=f"hipsense {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
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
    p.add_argument("--static", type=_window, metavar="START:END", help="still pose window, s")
    p.add_argument(
        "--functional", type=_window, metavar="START:END", help="knee lifts + hinges window, s"
    )
    p.add_argument("--filter", choices=sorted(FILTERS), default="vqf", help="orientation filter")
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
    from hipsense.api.serve import register as register_serve

    register_serve(sub)
    from hipsense.recording.cli_commands import register as register_recording

    register_recording(sub)
    from hipsense.sensors.ble_cli import register as register_ble

    register_ble(sub)
    from hipsense.exercises.cli import register as register_exercises

    register_exercises(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hipsense`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except HipsenseError as exc:
        print(f"hipsense: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`): nothing to report.
        sys.stderr.close()
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"hipsense: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hipsense: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
