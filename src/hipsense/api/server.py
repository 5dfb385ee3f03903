"""Running the local service (``hipsense serve``): binding its sockets before anything starts,
uvicorn with one-line startup errors, the dashboard's URLs and this machine's addresses.

The command's arguments and the choice of live source are in :mod:`hipsense.cli.serve`.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import socket
import struct
import sys
from typing import TYPE_CHECKING, Any

from hipsense.errors import ConfigurationError

if TYPE_CHECKING:
    from fastapi import FastAPI

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
"""Hosts that mean "every address of this machine"."""
ROUTE_PROBE_ADDRESS = "192.0.2.1"
"""TEST-NET-1 (RFC 5737, never routed on the Internet): a UDP ``connect`` towards it only asks
the kernel which local address would be used; no packet is sent."""


def url_host(host: str) -> str:
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
        f"port {port} is already in use on {url_host(host) or 'every address'}; stop the other "
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
            f"port {port} on {url_host(host)} is reserved for the administrator; choose one "
            "above 1023 with --port (default 8000)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"--host {host} is not an address of this machine; use 127.0.0.1 (this machine "
            "only) or 0.0.0.0 (every network, with --token)"
        )
    return f"cannot listen on {url_host(host)}:{port}: {exc.strerror or exc}"


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
    return [f"http://{url_host(a)}:{port}/{query}" for a in reachable_addresses(host)]


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
