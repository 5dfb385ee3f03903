"""``hipsense analyze`` and ``hipsense report``: exercise results of a session file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hipsense.cli.clients import add_data_dir
from hipsense.errors import ConfigurationError

if TYPE_CHECKING:
    from hipsense.exercises.protocols import AnalysisConfig


def _config(path: str | None) -> AnalysisConfig:
    from hipsense.exercises.protocols import AnalysisConfig

    if path is None:
        return AnalysisConfig()
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid JSON ({exc})") from None
    return AnalysisConfig.from_dict(data)


def _analysis(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from hipsense.exercises.load import load_session
    from hipsense.exercises.session import analyze_session

    angles, markers = load_session(args.file, args.markers, args.filter, not args.causal)
    if not markers:
        hint = "" if args.auto else "; --auto analyses detected sitting, CARs and walking"
        print(
            "warning: no exercise markers (give --markers start_s,end_s,exercise,side CSV); "
            f"only automatic analyses ran{hint}",
            file=sys.stderr,
        )
    config = _config(args.config)
    return angles, analyze_session(angles, markers, config, detect=args.auto).to_dict()


def _cmd_analyze(args: argparse.Namespace) -> int:
    _, analysis = _analysis(args)
    if args.json:
        json.dump(analysis, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    for r in analysis["results"]:
        fields = ", ".join(
            f"{k}={v}" for k, v in r.items() if k != "kind" and not isinstance(v, list | dict)
        )
        print(f"{r['kind']}: {fields}")
    for g in analysis["gaps"]:
        print(f"gap {g['side']}: {g['classification']}: {g['interpretation']}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from hipsense.report.html import render_report

    if args.client is not None:
        from hipsense.cli.clients import write_client_report

        if args.file is not None:
            raise ConfigurationError("give a session file or --client, not both")
        write_client_report(args.data_dir, args.client, args.out)
        return 0
    if args.file is None:
        raise ConfigurationError("give a session file, or --client ID for a client's report")
    angles, analysis = _analysis(args)
    html = render_report(angles, analysis, title=Path(args.file).name)
    Path(args.out).write_text(html, encoding="utf-8")
    print(f"wrote {args.out} ({len(html) // 1024} KiB)", file=sys.stderr)
    return 0


def _common(p: argparse.ArgumentParser, optional_file: bool = False) -> None:
    if optional_file:
        p.add_argument("file", nargs="?", help="recording (.hsr), samples CSV or angles CSV")
    else:
        p.add_argument("file", help="recording (.hsr), samples CSV or angles CSV")
    p.add_argument("--markers", help="markers CSV: start_s,end_s,exercise,side")
    p.add_argument("--config", help="JSON of analysis thresholds and hold protocol")
    p.add_argument("--filter", default="vqf", help="orientation filter (samples/recordings)")
    p.add_argument(
        "--causal",
        action="store_true",
        help="the live filter's numbers (as replay and the live page) instead of whole-session "
        "smoothing",
    )
    p.add_argument(
        "--auto",
        action="store_true",
        help="also analyse segments detected where the movement is unambiguous (sitting, "
        "CARs, walking) and no marked segment overlaps; labelled source=detected",
    )


def register(sub: Any) -> None:
    """Add the ``analyze`` and ``report`` sub-commands to the ``hipsense`` parser."""
    p = sub.add_parser(
        "analyze",
        help="exercise results (ROM, gap, holds, CARs, ...) of a session",
        description="Run every exercise analysis on the marked segments of a session.",
    )
    _common(p)
    p.add_argument("--json", action="store_true", help="print all results as JSON")
    p.set_defaults(func=_cmd_analyze)
    p = sub.add_parser(
        "report",
        help="self-contained HTML report of a session",
        description="Write one HTML file with plots (inline SVG) of a session's exercises, or "
        "with --client the report of a client's latest session with their progress.",
    )
    _common(p, optional_file=True)
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument(
        "--client", metavar="ID|NAME", help="the client's report (latest session, progress)"
    )
    add_data_dir(p)
    p.set_defaults(func=_cmd_report)
