"""``hipsense serve``: the local service with the live dashboard."""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import logging
import os
import secrets
import socket
import struct
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hipsense.api.service import ServiceSettings
from hipsense.errors import ConfigurationError
from hipsense.recording.index import data_dir as resolve_data_dir
from hipsense.sources import LiveSource, SourceItem
from hipsense.types import ROLES

if TYPE_CHECKING:
    from fastapi import FastAPI

SOURCES = ("sim", "ble", "replay")
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
"""Hosts that mean "every address of this machine"."""
ROUTE_PROBE_ADDRESS = "192.0.2.1"
"""TEST-NET-1 (RFC 5737, never routed on the Internet): a UDP ``connect`` towards it only asks
the kernel which local address would be used; no packet is sent."""


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
        from hipsim.ble.source import VirtualBleSource

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

    @property
    def paused(self) -> bool:
        """True while the replay is paused (the live session reports ``source_state``)."""
        return bool(self.replay.paused)

    def restarted(self) -> ReplayLiveSource:
        """A new replay of the same recording at the same speed, from time 0 (reads the file's
        overview: call it from a worker thread)."""
        from hipsense.recording.replay import ReplaySource

        return ReplayLiveSource(ReplaySource(self.replay.path, speed=self.replay.speed))


def _shown(host: str) -> str:
    """``host`` as written in a URL (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host else host


def _bind(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address ``host`` resolves to (not listening yet); raises OSError.

    Mirrors what the server would bind: ``SO_REUSEADDR`` on POSIX (a port left in TIME_WAIT
    by a previous run is free, one with a listener is not); ``::`` alone also accepts IPv4.
    Addresses this machine lacks (``localhost`` -> ``::1`` without IPv6) are skipped as long
    as one address could be bound.
    """
    infos = socket.getaddrinfo(
        host or None,
        port,
        type=socket.SOCK_STREAM,
        proto=socket.IPPROTO_TCP,
        flags=socket.AI_PASSIVE,
    )
    addresses = list(dict.fromkeys((family, sockaddr) for family, _, _, _, sockaddr in infos))
    bound: list[socket.socket] = []
    unavailable: OSError | None = None
    try:
        for family, sockaddr in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            bound.append(sock)
            if os.name == "posix":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                with contextlib.suppress(OSError, AttributeError):
                    v6only = 1 if len(addresses) > 1 else 0
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
            try:
                sock.bind(sockaddr)
            except OSError as exc:
                if exc.errno != errno.EADDRNOTAVAIL or len(addresses) == 1:
                    raise
                unavailable = exc
                bound.remove(sock)
                sock.close()
        if not bound and unavailable is not None:
            raise unavailable
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return bound


def _free_port_near(host: str, port: int, tries: int = 20) -> int | None:
    """The first port after ``port`` that can be bound on ``host`` (checked locally)."""
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        try:
            sockets = _bind(host, candidate)
        except OSError:
            continue
        for sock in sockets:
            sock.close()
        return candidate
    return None


def port_in_use_message(host: str, port: int) -> str:
    """What to tell the user when ``port`` is taken on ``host`` (suggests a free port)."""
    free = _free_port_near(host, port)
    suggestion = f" {free}" if free is not None else " PORT"
    return (
        f"port {port} is already in use on {_shown(host) or 'every address'}; stop the other "
        f"program (another 'hipsense serve'?) or choose another with --port{suggestion}"
    )


def bind_service_sockets(host: str, port: int) -> list[socket.socket]:
    """Bind the service's listening sockets now, before anything starts.

    Raises
    ------
    ConfigurationError
        with one line saying what to change: the port is taken, it needs privileges, the host
        is not an address of this machine.
    """
    try:
        return _bind(host, port)
    except socket.gaierror as exc:
        raise ConfigurationError(
            f"--host {host}: cannot resolve it ({exc.strerror}); give an address of this "
            "machine, e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every network, with --token)"
        ) from None
    except OverflowError:
        raise ConfigurationError(f"--port {port}: ports are 0-65535") from None
    except OSError as exc:
        raise ConfigurationError(bind_error_message(exc, host, port)) from None


def bind_error_message(exc: OSError, host: str, port: int) -> str:
    """One line for an ``OSError`` raised binding ``host``:``port``."""
    if exc.errno == errno.EADDRINUSE:
        return port_in_use_message(host, port)
    if exc.errno == errno.EACCES:
        return (
            f"port {port} on {_shown(host)} is reserved for the administrator; choose one "
            "above 1023 with --port (default 8000)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"--host {host} is not an address of this machine; use 127.0.0.1 (this machine "
            "only) or 0.0.0.0 (every network, with --token)"
        )
    return f"cannot listen on {_shown(host)}:{port}: {exc.strerror or exc}"


def _interface_ipv4_addresses() -> list[str]:
    """IPv4 address of each network interface, asked of the kernel (Linux; else empty)."""
    if sys.platform != "linux":
        return []
    import fcntl

    siocgifaddr = 0x8915  # <linux/sockios.h>: get an interface's (first) IPv4 address
    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), siocgifaddr, request)
            except OSError:
                continue  # an interface without an IPv4 address
            found.append(socket.inet_ntoa(answer[20:24]))
    return found


def _route_ipv4_address() -> str | None:
    """The local address of the default route (a UDP connect sends nothing), or None."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((ROUTE_PROBE_ADDRESS, 9))
        address: str = probe.getsockname()[0]
        return address
    return None


def local_ipv4_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses, the default route's first.

    Found without network traffic and without contacting any other host: the kernel's answer
    for a UDP socket "connected" to a documentation address (nothing is sent), and on Linux
    each interface's address. Loopback, unspecified and duplicate addresses are left out.
    """
    candidates = [_route_ipv4_address(), *_interface_ipv4_addresses()]
    found: list[str] = []
    for text in candidates:
        if text is None:
            continue
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            continue
        if address.is_loopback or address.is_unspecified or text in found:
            continue
        found.append(text)
    return found


def reachable_addresses(host: str) -> list[str]:
    """Addresses a browser can use for a service bound to ``host``.

    A wildcard (``0.0.0.0``, ``::``) is not an address to browse to: it gives loopback, then
    this machine's IPv4 addresses (:func:`local_ipv4_addresses`). Any other host is itself.

    Examples
    --------
    >>> reachable_addresses("127.0.0.1")
    ['127.0.0.1']
    >>> reachable_addresses("0.0.0.0")[0]
    '127.0.0.1'
    """
    if host not in WILDCARD_HOSTS:
        return [host]
    return ["127.0.0.1", *local_ipv4_addresses()]


def dashboard_urls(host: str, port: int, token: str | None) -> list[str]:
    """The dashboard's URLs for a service bound to ``host``:``port`` (loopback first)."""
    query = f"?token={token}" if token else ""
    return [f"http://{_shown(a)}:{port}/{query}" for a in reachable_addresses(host)]


class _StartupErrors(logging.Filter):
    """Keeps uvicorn's error lines (and tracebacks) until the server has started.

    If it never starts, :func:`run_server` reports them as one line; once it runs, every line
    passes through as usual.
    """

    def __init__(self, server: Any) -> None:
        super().__init__()
        self.server = server
        self.messages: list[str] = []
        self.errnos: list[int] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if self.server.started or record.levelno < logging.ERROR:
            return True
        exc = record.exc_info[1] if record.exc_info else None
        text = record.getMessage().strip()
        if exc is not None:
            self.messages.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
        elif text.startswith("Traceback"):  # the app's lifespan sends the formatted traceback
            self.messages.append(text.splitlines()[-1])
        elif text and not text.startswith("Application startup failed"):
            self.messages.append(text.splitlines()[0])
        if isinstance(exc, OSError) and exc.errno is not None:
            self.errnos.append(exc.errno)
        return False

    def message(self, host: str, port: int) -> str:
        """One line saying why the server did not start."""
        text = "; ".join(self.messages)
        if errno.EADDRINUSE in self.errnos or "address already in use" in text.lower():
            return port_in_use_message(host, port)
        return f"the service did not start: {text or 'see the messages above'}"


def run_server(
    app: FastAPI,
    host: str,
    port: int,
    sockets: list[socket.socket] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve ``app`` with uvicorn until Ctrl+C (on ``sockets`` if given, else binding itself).

    Raises
    ------
    ConfigurationError
        when the server does not start (one line, e.g. the port is in use), instead of
        uvicorn's log lines and exit code 3.
    """
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, ws="websockets-sansio")
    server = uvicorn.Server(config)
    startup = _StartupErrors(server)
    error_log = logging.getLogger("uvicorn.error")
    error_log.addFilter(startup)
    try:
        server.run(sockets=sockets)
    except KeyboardInterrupt:
        if not server.started:
            raise
    except SystemExit:
        if server.started:
            raise
    finally:
        error_log.removeFilter(startup)
        for sock in sockets or []:
            sock.close()
    if not server.started:
        raise ConfigurationError(startup.message(host, port))


def _placement_arg(text: str) -> tuple[str, str]:
    from hipsense.cli import placement_arg

    return placement_arg(text)


def _cmd_serve(args: argparse.Namespace) -> int:
    from hipsense.api.app import check_exposure, create_app

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


def _demo_clinician(args: argparse.Namespace, source: Any, port: int) -> Any:
    """The assessment demo's scripted clinician, pressing the buttons through the API over
    HTTP as a person would (started now; it waits until the server answers)."""
    timeline = getattr(args, "demo_timeline", None)
    if timeline is None:
        return None
    from hipsim.clinician import HttpClinician

    host = "127.0.0.1" if args.host in WILDCARD_HOSTS else _shown(args.host)
    clinician = HttpClinician(
        f"http://{host}:{port}", timeline, args.token, period_s=getattr(source, "period_s", None)
    )
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
        type=_placement_arg,
        action="append",
        metavar="ROLE=SITE",
        help="declared sensor placement (as for process), used when the live calibration finds "
        "no routine; repeat per sensor",
    )
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--speed", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--log-level", default="warning", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_serve)
