"""`hipsense serve` start-up: a busy port is one line (exit 2), uvicorn's own failure path is
one line too, and a wildcard host is shown as the addresses a browser can use."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import pytest
from fastapi import FastAPI

from hipsense.api import server
from hipsense.errors import ConfigurationError


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another program listens on (SO_REUSEADDR, as servers set it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def _hipsense(*args: str, tmp_data: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HIPSENSE_DATA_DIR": tmp_data}
    return subprocess.run(
        [sys.executable, "-m", "hipsense.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_busy_port_is_one_line_and_exit_2(busy_port: int, tmp_path: Any) -> None:
    done = _hipsense("serve", "--port", str(busy_port), tmp_data=str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    (line,) = lines
    assert line.startswith(f"hipsense: error: port {busy_port} is already in use on 127.0.0.1")
    assert "--port " in line
    suggested = int(line.rsplit("--port ", 1)[1])
    assert suggested != busy_port
    with socket.socket() as probe:  # the suggested port is free
        probe.bind(("127.0.0.1", suggested))


def test_bind_service_sockets_reports_the_busy_port(busy_port: int) -> None:
    with pytest.raises(ConfigurationError, match=f"port {busy_port} is already in use"):
        server.bind_service_sockets("127.0.0.1", busy_port)
    sockets = server.bind_service_sockets("127.0.0.1", 0)  # the system picks a free one
    try:
        assert len(sockets) == 1 and sockets[0].getsockname()[1] > 0
    finally:
        for sock in sockets:
            sock.close()
    with pytest.raises(ConfigurationError, match="not an address of this machine"):
        server.bind_service_sockets("192.0.2.254", 0)  # TEST-NET-1: never a local address


def _app_failing_at_startup() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise PermissionError(13, "Permission denied", "/nowhere/sessions.sqlite3")
        yield

    return FastAPI(lifespan=lifespan)


def test_uvicorn_bind_failure_is_one_line(
    busy_port: int, capfd: pytest.CaptureFixture[str]
) -> None:
    """If uvicorn binds the port itself and fails (a race after the check), still one line."""
    with pytest.raises(ConfigurationError) as caught:
        server.run_server(FastAPI(), "127.0.0.1", busy_port, sockets=None)
    message = str(caught.value)
    assert message.startswith(f"port {busy_port} is already in use on 127.0.0.1")
    assert "\n" not in message
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Errno" not in err, err


def test_uvicorn_startup_failure_is_one_line(capfd: pytest.CaptureFixture[str]) -> None:
    sockets = server.bind_service_sockets("127.0.0.1", 0)
    port = sockets[0].getsockname()[1]
    with pytest.raises(ConfigurationError) as caught:
        server.run_server(_app_failing_at_startup(), "127.0.0.1", port, sockets=sockets)
    message = str(caught.value)
    assert message.startswith("the service did not start: PermissionError")
    assert "sessions.sqlite3" in message and "\n" not in message
    err = capfd.readouterr().err
    assert "Traceback" not in err, err
    assert all(s.fileno() == -1 for s in sockets), "the sockets are closed"


class _RecordingSocket(socket.socket):
    """A socket that remembers what was done with it (no traffic may leave)."""

    calls: ClassVar[list[tuple[str, Any]]] = []

    def connect(self, address: Any) -> None:
        self.calls.append(("connect", (self.type, address)))
        super().connect(address)

    def send(self, *args: Any, **kwargs: Any) -> int:
        self.calls.append(("send", args))
        return super().send(*args, **kwargs)

    def sendto(self, *args: Any, **kwargs: Any) -> int:
        self.calls.append(("sendto", args))
        return super().sendto(*args, **kwargs)


def test_local_addresses_are_found_without_traffic(monkeypatch: pytest.MonkeyPatch) -> None:
    _RecordingSocket.calls = []
    monkeypatch.setattr(server.socket, "socket", _RecordingSocket)
    addresses = server.local_ipv4_addresses()
    for text in addresses:
        address = ipaddress.IPv4Address(text)
        assert not address.is_loopback and not address.is_unspecified
    assert len(set(addresses)) == len(addresses)
    assert not [c for c in _RecordingSocket.calls if c[0] != "connect"], "nothing is sent"
    for _, (kind, _address) in _RecordingSocket.calls:
        assert kind == socket.SOCK_DGRAM, "only a UDP route lookup, never a TCP connection"


def test_wildcard_hosts_list_reachable_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "local_ipv4_addresses", lambda: ["192.168.1.20", "10.0.0.5"])
    for wildcard in ("0.0.0.0", "::"):
        assert server.reachable_addresses(wildcard) == ["127.0.0.1", "192.168.1.20", "10.0.0.5"]
        assert server.dashboard_urls(wildcard, 8000, "s3cret") == [
            "http://127.0.0.1:8000/?token=s3cret",
            "http://192.168.1.20:8000/?token=s3cret",
            "http://10.0.0.5:8000/?token=s3cret",
        ]
    assert server.reachable_addresses("192.168.1.20") == ["192.168.1.20"]
    assert server.dashboard_urls("127.0.0.1", 8001, None) == ["http://127.0.0.1:8001/"]
    assert server.dashboard_urls("::1", 8000, None) == ["http://[::1]:8000/"]


def test_local_addresses_skip_loopback_and_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "_route_ipv4_address", lambda: "192.168.1.20")
    monkeypatch.setattr(
        server,
        "_interface_ipv4_addresses",
        lambda: ["127.0.0.1", "192.168.1.20", "172.17.0.1", "0.0.0.0", "not-an-ip"],
    )
    assert server.local_ipv4_addresses() == ["192.168.1.20", "172.17.0.1"]
    monkeypatch.setattr(server, "_route_ipv4_address", lambda: None)  # no network at all
    monkeypatch.setattr(server, "_interface_ipv4_addresses", lambda: ["127.0.0.1"])
    assert server.reachable_addresses("0.0.0.0") == ["127.0.0.1"]
