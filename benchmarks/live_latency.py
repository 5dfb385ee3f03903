"""Live latency of ``hipsense serve``: samples arriving -> angle frame at a WebSocket client.

Starts the service on its default source (three virtual BLE sensors at 100 Hz over bumble,
real time) in a
subprocess, waits for the demo's calibration, then measures with 10 WebSocket clients:
latency p50/p99 (host receive time of the notification -> frame received by the
client), server CPU, frames delivered; then again with one extra client that never reads.

Run: ``.venv/bin/python benchmarks/live_latency.py [--seconds 15]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx
import numpy as np
from websockets.asyncio.client import connect

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (s)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def steal_seconds() -> float:
    """CPU time the hypervisor gave to others on this machine's CPUs (/proc/stat 'steal')."""
    with open("/proc/stat") as fh:
        return int(fh.readline().split()[8]) / TICKS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ClientStats:
    latencies_ms: list[float] = field(default_factory=list)
    frames: int = 0
    seqs: list[int] = field(default_factory=list)


async def reader(url: str, stats: ClientStats, stop: asyncio.Event) -> None:
    async with connect(url, max_size=None) as ws:
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except TimeoutError:
                continue
            now = time.time_ns()
            msg = json.loads(text)
            if msg["type"] == "frames":
                stats.latencies_ms.append((now - msg["rx_ns"]) / 1e6)
                stats.frames += len(msg["t"])
                stats.seqs.append(msg["seq"])


async def stalled(url: str, stop: asyncio.Event) -> None:
    """A client that connects and never reads (small receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    async with connect(url, sock=sock, max_size=None, max_queue=1):
        await stop.wait()


async def phase(base: str, pid: int, seconds: float, n_clients: int, with_stalled: bool) -> None:
    ws_url = base.replace("http", "ws") + "/ws/live"
    stop = asyncio.Event()
    stats = [ClientStats() for _ in range(n_clients)]
    tasks = [asyncio.create_task(reader(ws_url, s, stop)) for s in stats]
    if with_stalled:
        tasks.append(asyncio.create_task(stalled(ws_url, stop)))
    await asyncio.sleep(1.0)  # connect, skip the hello burst
    for s in stats:
        s.latencies_ms.clear()
        s.frames = 0
        s.seqs.clear()
    cpu0, t0, steal0 = cpu_seconds(pid), time.monotonic(), steal_seconds()
    await asyncio.sleep(seconds)
    cpu1, t1, steal1 = cpu_seconds(pid), time.monotonic(), steal_seconds()
    async with httpx.AsyncClient() as client:
        health = (await client.get(base + "/api/health")).json()
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    lat = np.concatenate([np.asarray(s.latencies_ms) for s in stats])
    frames = [s.frames for s in stats]
    lost = sum(int(np.sum(np.diff(s.seqs) - 1)) for s in stats if len(s.seqs) > 1)
    label = f"{n_clients} clients" + (" + 1 stalled client" if with_stalled else "")
    print(f"\n== {label}, {seconds:.0f} s ==")
    print(
        f"latency samples->frame at client: p50 {np.percentile(lat, 50):.1f} ms, "
        f"p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms (target p99 < 20 ms)"
    )
    print(f"server CPU: {100 * (cpu1 - cpu0) / (t1 - t0):.1f} % of one core")
    print(
        f"CPU steal on this machine (the hypervisor running others): {steal1 - steal0:.1f} s "
        f"in {t1 - t0:.0f} s"
    )
    print(
        f"frames delivered per client: min {min(frames)}, max {max(frames)} "
        f"({min(frames) / (t1 - t0):.1f} frames/s); messages lost by reading clients: {lost}"
    )
    print(f"messages dropped for slow clients still connected: {health['clients_dropped']}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "hipsense.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        "benchmarks/out/live-data",
    ]
    server = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    health = (await client.get(base + "/api/health")).json()
                    if health["calibrated"]:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the demo did not calibrate within 90 s")
                await asyncio.sleep(0.5)
        print(
            f"server pid {server.pid}: 3 simulated sensors at 100 Hz, calibrated "
            f"at t = {health['time_s']:.1f} s; frames to clients at 50 Hz"
        )
        await phase(base, server.pid, args.seconds, args.clients, with_stalled=False)
        await phase(base, server.pid, args.seconds, args.clients, with_stalled=True)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
