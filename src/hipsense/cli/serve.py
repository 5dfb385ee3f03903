"""``hipsense serve``: the local service with the live dashboard.

The arguments, the live source they choose (:func:`make_source`) and the assessment demo's
scripted clinician; running the server (sockets, uvicorn, URLs) is :mod:`hipsense.api.server`.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hipsense.cli.args import placement_arg
from hipsense.errors import ConfigurationError

if TYPE_CHECKING:
    from hipsense.sources import LiveSource

SOURCES = ("sim", "ble", "replay")


def make_source(args: argparse.Namespace) -> tuple[LiveSource, bool]:
    """The live source chosen on the command line, and whether to auto-calibrate."""
    replay_file = getattr(args, "file", None) or args.replay
    if args.source is None:
        args.source = "replay" if replay_file else "sim"
    if replay_file and args.source != "replay":
        raise ConfigurationError(
            f"{replay_file}: a recording is only played with --source replay (or no --source)"
        )
    if args.source == "sim":
        from hipsense.sources.simulated import (
            ASSESSMENT_DEMO,
            simulate_assessment_demo,
            simulate_demo,
        )
        from hipsense.sources.virtual_ble import VirtualBleSource

        print(
            f"simulating the demo session ({args.exercise}) on virtual BLE sensors...",
            file=sys.stderr,
        )
        if args.exercise == ASSESSMENT_DEMO:
            demo, args.demo_timeline = simulate_assessment_demo(args.seed)
        else:
            demo = simulate_demo(args.exercise, args.seed)
        return VirtualBleSource(demo, speed=args.speed), True
    if args.source == "replay":
        if not replay_file:
            raise ConfigurationError(
                "--source replay needs a recording: hipsense serve --source replay FILE.hsr"
            )
        if not Path(replay_file).is_file():
            raise ConfigurationError(f"{replay_file}: no such recording file")
        from hipsense.sources.replay import ReplaySource

        return ReplaySource(replay_file, speed=args.speed), True
    try:
        from hipsense.sources.ble import BleSource
    except ImportError as exc:
        raise ConfigurationError(
            f"the BLE source cannot start ({exc}); install hipsense with its BLE extra "
            "(bleak), or use --source sim to try the dashboard with simulated sensors"
        ) from None
    ble: Any = BleSource()  # yields RawNotification and SampleBlock lists: a LiveSource
    return ble, False


def _cmd_serve(args: argparse.Namespace) -> int:
    from hipsense.api.app import check_exposure, create_app
    from hipsense.api.server import bind_service_sockets, dashboard_urls, run_server
    from hipsense.api.service import ServiceSettings
    from hipsense.recording.index import data_dir as resolve_data_dir

    settings = ServiceSettings(
        host=args.host,
        port=args.port,
        token=args.token,
        data_dir=resolve_data_dir(args.data_dir),
        exercise=args.exercise,
        placements=dict(args.placement) if args.placement else None,
    )
    check_exposure(settings)
    # The port is taken now: a busy port is one line before the demo is simulated.
    sockets = bind_service_sockets(args.host, args.port)
    try:
        port = int(sockets[0].getsockname()[1])  # --port 0: the one the system chose
        settings.port = port
        source, auto_calibrate = make_source(args)
        app = create_app(settings, lambda: source, auto_calibrate=auto_calibrate)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    first, *others = dashboard_urls(args.host, port, args.token)
    print(f"hipsense dashboard: {first}  (source {args.source}; Ctrl+C stops)", file=sys.stderr)
    for url in others:
        print(f"  also reachable at {url}", file=sys.stderr)
    clinician = _demo_clinician(args, source, port)
    try:
        run_server(app, args.host, port, sockets, args.log_level)
    finally:
        if clinician is not None:
            clinician.stop()
    return 0


def _demo_clinician(args: argparse.Namespace, source: LiveSource, port: int) -> Any:
    """The assessment demo's scripted clinician, pressing the buttons through the API over
    HTTP as a person would (started now; it waits until the server answers)."""
    timeline = getattr(args, "demo_timeline", None)
    if timeline is None:
        return None
    from hipsense.api.server import WILDCARD_HOSTS, url_host
    from hipsense.sources.virtual_ble import VirtualBleSource
    from hipsim.clinician import HttpClinician

    host = "127.0.0.1" if args.host in WILDCARD_HOSTS else url_host(args.host)
    period_s = source.period_s if isinstance(source, VirtualBleSource) else None
    clinician = HttpClinician(f"http://{host}:{port}", timeline, args.token, period_s=period_s)
    clinician.start()
    print(
        "a scripted clinician runs the hip extension assessment and a PAILs/RAILs series "
        f"through the API, as you would from the page ({timeline.duration_s / 60:.0f} min, "
        "repeating)",
        file=sys.stderr,
    )
    return clinician


def register(sub: Any) -> None:
    """Add the ``serve`` sub-command to the CLI's sub-parsers."""
    p = sub.add_parser(
        "serve",
        help="local service: live dashboard, API and WebSocket",
        description="Serve the live dashboard and API. With --source sim (default) simulated "
        "sensors play a calibration routine and exercises in real time, looping.",
    )
    p.add_argument(
        "file", nargs="?", metavar="FILE", help="recording (.hsr) to replay (--source replay)"
    )
    p.add_argument(
        "--source",
        choices=SOURCES,
        default=None,
        help="where samples come from (default: replay when FILE is given, else sim)",
    )
    p.add_argument("--replay", metavar="FILE", help=argparse.SUPPRESS)  # older spelling of FILE
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument(
        "--token",
        help="secret required on every request (mandatory when --host is not loopback); "
        f"e.g. {secrets.token_urlsafe(12)}",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="sessions and recordings folder (default $HIPSENSE_DATA_DIR or "
        "~/.local/share/hipsense)",
    )
    p.add_argument(
        "--exercise",
        default="assessment",
        help="what the simulated person does after the calibration routine (--source sim): "
        "'assessment' (default: the hip extension assessment on both sides and a PAILs/RAILs "
        "series, driven by a scripted clinician through the API) or one exercise: "
        "active_extension, half_kneeling_stretch, thomas_test, hip_lift, hip_cars, "
        "reverse_walking, sit_to_stand",
    )
    p.add_argument(
        "--placement",
        type=placement_arg,
        action="append",
        metavar="ROLE=SITE",
        help="declared sensor placement (as for process), used when the live calibration finds "
        "no routine; repeat per sensor",
    )
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--speed", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--log-level", default="warning", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_serve)
