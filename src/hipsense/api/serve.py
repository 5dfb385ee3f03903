"""``hipsense serve``: the local service with the live dashboard."""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hipsense.api.service import ServiceSettings
from hipsense.errors import ConfigurationError
from hipsense.recording.index import data_dir as resolve_data_dir
from hipsense.sources import LiveSource, SourceItem
from hipsense.types import ROLES

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
        from hipsense.sources.simulated import simulate_demo
        from hipsim.ble.source import VirtualBleSource

        print(
            f"simulating the demo session ({args.exercise}) on virtual BLE sensors...",
            file=sys.stderr,
        )
        demo = simulate_demo(args.exercise, args.seed)
        return VirtualBleSource(demo, speed=args.speed), True
    if args.source == "replay":
        if not replay_file:
            raise ConfigurationError(
                "--source replay needs a recording: hipsense serve --source replay FILE.hsr"
            )
        if not Path(replay_file).is_file():
            raise ConfigurationError(f"{replay_file}: no such recording file")
        from hipsense.recording.replay import ReplaySource

        return ReplayLiveSource(ReplaySource(replay_file, speed=args.speed)), True
    try:
        from hipsense.sensors.ble_source import BleSource
    except ImportError as exc:
        raise ConfigurationError(
            f"the BLE source cannot start ({exc}); install hipsense with its BLE extra "
            "(bleak), or use --source sim to try the dashboard with simulated sensors"
        ) from None
    ble: Any = BleSource()  # yields RawNotification and SampleBlock lists: a LiveSource
    return ble, False


class ReplayLiveSource:
    """A recording's ReplaySource with the attributes a live source has (roles, rate_hz).

    The replay calibrates from the recording's own calibration routine.
    """

    name = "replay"

    def __init__(self, replay: Any) -> None:
        self.replay = replay
        rates: dict[str, float] = dict(replay.info.rates_hz)
        self.roles: list[str] = [r for r in ROLES if r in rates]
        self.rate_hz: dict[str, float] = {r: float(rates[r]) for r in self.roles}

    def devices(self) -> list[dict[str, Any]]:
        """The recorded sensors (role, protocol, address) from the recording's metadata."""
        return [
            {"role": s.role, "protocol": s.protocol, "address": s.address}
            for s in self.replay.info.metadata.sensors
            if s.role in self.roles
        ]

    def stream(self) -> AsyncIterator[list[SourceItem]]:
        """The replay's items, paced."""
        stream: AsyncIterator[list[SourceItem]] = self.replay.stream()
        return stream

    def pause(self) -> None:
        """Pause the replay."""
        self.replay.pause()

    def resume(self) -> None:
        """Resume the replay."""
        self.replay.resume()

    def seek(self, time_s: float) -> None:
        """Jump to session time ``time_s``."""
        self.replay.seek(time_s)


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from hipsense.api.app import check_exposure, create_app

    settings = ServiceSettings(
        host=args.host,
        port=args.port,
        token=args.token,
        data_dir=resolve_data_dir(args.data_dir),
        exercise=args.exercise,
    )
    check_exposure(settings)
    source, auto_calibrate = make_source(args)
    app = create_app(settings, lambda: source, auto_calibrate=auto_calibrate)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown_host}:{args.port}/"
    if args.token:
        url += f"?token={args.token}"
    print(f"hipsense dashboard: {url}  (source {args.source}; Ctrl+C stops)", file=sys.stderr)
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, ws="websockets-sansio"
    )
    return 0


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
        default="active_extension",
        help="simulated exercise after the calibration routine (--source sim)",
    )
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--speed", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--log-level", default="warning", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_serve)
