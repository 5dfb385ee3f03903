"""``hipsense import``, ``export`` and ``replay``: recordings (.hsr) from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from hipsense.cli.args import FILTER_NAMES
from hipsense.cli.clients import add_data_dir
from hipsense.errors import InputFormatError

EXPORT_FORMATS = ("csv-samples", "csv-angles", "opensim")
_CAL_SOURCE = {"recording": "recording", "auto": "data (auto-detected windows)"}


def _speed(text: str) -> float | None:
    if text.lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'max'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"speed must be positive, got {text}")
    return value


class ProgressBar:
    """A plain-text progress bar on a terminal stream (no dependency)."""

    WIDTH = 30

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.t0 = time.perf_counter()

    def __call__(self, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        filled = round(fraction * self.WIDTH)
        elapsed = time.perf_counter() - self.t0
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {fraction * 100:5.1f}% {elapsed:6.1f} s")
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()


def _report_damage(path: str, damage: Any) -> None:
    if not damage.clean:
        print(f"warning: {path}: {damage.describe()}", file=sys.stderr)


def _cmd_replay(args: argparse.Namespace) -> int:
    from hipsense.recording.convert import AnglesCsvWriter, overview_columns
    from hipsense.recording.replay import replay_recording

    show = args.progress or sys.stderr.isatty()
    progress = ProgressBar(sys.stderr, "replay") if show else None
    t0 = time.perf_counter()
    columns = overview_columns(args.recording)
    if args.out:
        with open(args.out, "w", newline="") as fh:
            writer = AnglesCsvWriter(fh, columns)
            result = replay_recording(
                args.recording,
                speed=args.speed,
                method=args.filter,
                on_angles=writer.write,
                progress=progress,
                keep_angles=False,
            )
    else:
        result = replay_recording(
            args.recording,
            speed=args.speed,
            method=args.filter,
            progress=progress,
            keep_angles=False,
        )
    elapsed = time.perf_counter() - t0
    cal = result.calibration
    print(
        f"calibration from the {_CAL_SOURCE[result.calibration_source]}: "
        f"quality {cal.quality_score:.0f}/100",
        file=sys.stderr,
    )
    _report_damage(args.recording, result.damage)
    ratio = result.duration_s / elapsed if elapsed > 0 else float("inf")
    target = f" to {args.out}" if args.out else ""
    print(
        f"replayed {result.duration_s:.1f} s ({result.samples} samples, {len(result.markers)} "
        f"markers) -> {result.frames} frames{target} in {elapsed:.2f} s ({ratio:.0f}x real time)",
        file=sys.stderr,
    )
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from hipsense.cli.clients import client_of, open_store, recording_target
    from hipsense.recording.convert import import_samples_csv

    # With --client the recording goes into the data directory as their session.
    store = None if args.client is None else open_store(args.data_dir)
    try:
        client = None if store is None else client_of(store, args.client)
        if store is not None:
            out = recording_target(store, args.out or Path(args.samples).stem)
            store.check_not_recording(out.stem, "replacing it")
        elif args.out is None:
            raise InputFormatError("give --out FILE.hsr, or --client to import for a client")
        else:
            out = Path(args.out)
        if out.suffix != ".hsr":
            raise InputFormatError(f"{out}: a recording's name must end in .hsr")
        samples = import_samples_csv(
            args.samples,
            out,
            subject=args.subject or ("" if client is None else client.name),
            sample_dtype="<f4" if args.float32 else "<f8",
            overwrite=args.force,
            extra=None if client is None else {"client": {"id": client.id, "name": client.name}},
        )
        if store is not None and client is not None:
            store.take_for_client(out.stem, client.id)
    finally:
        if store is not None:
            store.close()
    n = sum(len(b) for b in samples.values())
    whose = "" if client is None else f" as session {out.stem} of {client.name} ({client.id})"
    print(
        f"imported {n} samples of {', '.join(samples)} into {out}{whose} "
        f"({out.stat().st_size / 1e6:.2f} MB)",
        file=sys.stderr,
    )
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from hipsense.recording import convert

    if args.format == "csv-samples":
        rows = convert.export_samples_csv(args.recording, args.out)
        print(f"wrote {rows} sample rows to {args.out}", file=sys.stderr)
    elif args.format == "csv-angles":
        rows = convert.export_angles_csv(
            args.recording, args.out, method=args.filter, offline=not args.causal
        )
        print(f"wrote {rows} angle frames to {args.out}", file=sys.stderr)
    else:
        sto, mot = convert.export_opensim(
            args.recording,
            args.out,
            method=args.filter,
            frame=args.opensim_frame,
            offline=not args.causal,
        )
        hint = "0 0 0" if args.opensim_frame == "y-up" else "-1.5707963 0 0"
        print(
            f"wrote {sto} (IMU orientations, {args.opensim_frame}) and {mot} (angles); "
            f"use sensor_to_opensim_rotations = {hint} in OpenSense",
            file=sys.stderr,
        )
    return 0


def register(sub: Any) -> None:
    """Add ``import``, ``export`` and ``replay`` to the ``hipsense`` sub-parsers."""
    p = sub.add_parser(
        "replay",
        help="recording -> angles, through the live pipeline",
        description="Replay a recording through the same pipeline as a live session.",
    )
    p.add_argument("recording", help=".hsr recording")
    p.add_argument(
        "--speed",
        type=_speed,
        default=None,
        metavar="1|N|max",
        help="times real time (default: max, as fast as possible)",
    )
    p.add_argument("--out", help="angles CSV to write (same columns as `hipsense process`)")
    p.add_argument("--progress", action="store_true", help="progress bar even if not a TTY")
    p.add_argument("--filter", choices=FILTER_NAMES, default="vqf", help="orientation filter")
    p.set_defaults(func=_cmd_replay)

    p = sub.add_parser(
        "import",
        help="generic samples CSV -> recording",
        description="Import a generic samples CSV into a .hsr recording.",
    )
    p.add_argument("samples", help="samples CSV (time_s,role,acc_x..gyr_z[,mag_x..mag_z])")
    p.add_argument("--out", help=".hsr recording to create (with --client: a session name)")
    p.add_argument("--subject", help="subject name or pseudonym")
    p.add_argument(
        "--client",
        metavar="ID|NAME",
        help="import into the data directory as a session of this client",
    )
    add_data_dir(p)
    p.add_argument("--float32", action="store_true", help="store signals as float32 (half size)")
    p.add_argument("--force", action="store_true", help="overwrite an existing recording")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser(
        "export",
        help="recording -> CSV or OpenSim files",
        description=(
            "Export a recording: csv-samples (generic CSV, re-importable), csv-angles, or "
            "opensim (OUT.sto IMU orientations for OpenSense + OUT.mot angles)."
        ),
    )
    p.add_argument("recording", help=".hsr recording")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--out", required=True, help="file to write (opensim: the .sto path)")
    p.add_argument(
        "--opensim-frame",
        choices=("y-up", "z-up"),
        default="y-up",
        help="earth frame of the .sto quaternions (default y-up: OpenSim ground)",
    )
    p.add_argument("--filter", choices=FILTER_NAMES, default="vqf", help="orientation filter")
    p.add_argument(
        "--causal",
        action="store_true",
        help="the live filter's numbers (as replay and the live page) instead of whole-session "
        "smoothing",
    )
    p.set_defaults(func=_cmd_export)
