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
from hipsense.sources import LiveSource, SourceItem
from hipsense.types import ROLES

SOURCES = ("sim", "ble", "replay")


def make_source(args: argparse.Namespace) -> tuple[LiveSource, bool]:
    """The live source chosen on the command line, and whether to auto-calibrate."""
    if args.source == "sim":
        from hipsense.sources.simulated import SimulatedSource, simulate_demo

        print(f"simulating the demo session ({args.exercise})...", file=sys.stderr)
        return SimulatedSource(simulate_demo(args.exercise, args.seed), speed=args.speed), True
    if args.source == "replay":
        if not args.replay:
            raise ConfigurationError("--source replay needs --replay FILE (a hipsense recording)")
        if not Path(args.replay).is_file():
            raise ConfigurationError(f"{args.replay}: no such recording file")
        try:
            from hipsense.recording.replay import ReplaySource
        except ImportError:
            raise ConfigurationError(
                "replaying recordings is not available in this build yet (hipsense.recording "
                "has no ReplaySource); use --source sim"
            ) from None
        return ReplayLiveSource(ReplaySource(args.replay, speed=args.speed)), True
    try:
        from hipsense.sensors.ble import BleSource  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ConfigurationError(
            "the BLE source is not available in this build yet (hipsense.sensors.ble is "
            "missing); use --source sim to try the dashboard with simulated sensors"
        ) from None
    ble: Any = BleSource()  # pragma: no cover - not written yet
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
        data_dir=Path(args.data_dir),
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
    p.add_argument("--source", choices=SOURCES, default="sim", help="where samples come from")
    p.add_argument("--replay", metavar="FILE", help="recording to replay (--source replay)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument(
        "--token",
        help="secret required on every request (mandatory when --host is not loopback); "
        f"e.g. {secrets.token_urlsafe(12)}",
    )
    p.add_argument("--data-dir", default="hipsense-data", help="sessions and recordings folder")
    p.add_argument(
        "--exercise",
        default="active_extension",
        help="simulated exercise after the calibration routine (--source sim)",
    )
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--speed", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--log-level", default="warning", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_serve)
