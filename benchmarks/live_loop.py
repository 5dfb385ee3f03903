"""The live core without the network: event-loop lag and notification-to-frame latency.

Runs a :class:`~hipsense.live.LiveSession` in this process on the default demo source (three
virtual BLE sensors at 100 Hz on bumble, real time) with 10 in-process subscribers, and
prints: the event loop's lag (a 5 ms probe), the latency from each notification's host receive
time to the frame reaching a subscriber's queue reader, and the slowest pipeline calls. Compare
with ``benchmarks/live_latency.py``, which adds uvicorn, the WebSocket layer and 10 client
connections sharing the same 2 cores: the difference is what the network side costs.

With ``--analyzer marks|detect`` the live session also runs the exercise analyzer (as
``hipsense serve`` does, with or without live segment detection) and its per-batch cost is
printed. ``--analyzer-cost`` skips the live loop: it feeds a simulated session with sitting,
CARs and walking to ``ExerciseAnalyzer.process`` frame by frame (one 10 ms batch each), with
and without detection, and prints the per-call cost percentiles.

Run: ``.venv/bin/python benchmarks/live_loop.py [--seconds 45] [--analyzer detect]``
or ``.venv/bin/python benchmarks/live_loop.py --analyzer-cost``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

import numpy as np

from hipsense.exercises.live import ExerciseAnalyzer
from hipsense.live import LiveSession
from hipsense.pipeline import HipPipeline, process_session
from hipsense.sources.simulated import simulate_demo
from hipsense.sources.virtual_ble import VirtualBleSource
from hipsense.types import AngleBlock
from hipsim.scenarios import hip_cars, reverse_walking, sit_to_stand
from hipsim.subjects import scripted_session

TICKS = os.sysconf("SC_CLK_TCK")


def steal_jiffies() -> int:
    """Time the hypervisor ran something else on this machine's CPUs (/proc/stat 'steal')."""
    with open("/proc/stat") as fh:
        return int(fh.readline().split()[8])


def percentiles_ms(values: list[float]) -> str:
    v = np.array(values)
    return (
        f"p50 {np.percentile(v, 50):.3f} ms, p99 {np.percentile(v, 99):.3f} ms, "
        f"p99.9 {np.percentile(v, 99.9):.2f} ms, max {v.max():.1f} ms, mean {v.mean():.3f} ms"
    )


def analyzer_cost(seed: int = 4) -> None:
    """ExerciseAnalyzer.process per one-frame batch on sitting, CARs and walking."""

    def block(b, rng):  # type: ignore[no-untyped-def]
        sit_to_stand(b, rng)
        hip_cars(b, rng)
        reverse_walking(b, rng)

    angles = process_session(scripted_session(block, seed).samples).angles
    print(f"{len(angles)} frames ({angles.time_s[-1] - angles.time_s[0]:.0f} s), one per call")
    for detect in (False, True):
        analyzer = ExerciseAnalyzer(detect=detect)
        cost_ms: list[float] = []
        for i in range(len(angles)):
            frame = AngleBlock(
                angles.time_s[i : i + 1], {k: v[i : i + 1] for k, v in angles.columns.items()}
            )
            t0 = time.perf_counter()
            analyzer.process(frame)
            cost_ms.append((time.perf_counter() - t0) * 1e3)
        found = len(analyzer.detected)
        label = f"detect=True ({found} segments)" if detect else "detect=False"
        print(f"ExerciseAnalyzer.process, {label}: {percentiles_ms(cost_ms)}")


async def run(seconds: float, clients: int, analyzer: str) -> None:
    process_ms: list[float] = []
    analyzer_ms: list[float] = []
    original = HipPipeline.process
    original_analyzer = ExerciseAnalyzer.process

    def timed(self: HipPipeline, blocks):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        out = original(self, blocks)
        process_ms.append((time.perf_counter() - t0) * 1e3)
        return out

    def timed_analyzer(self: ExerciseAnalyzer, angles):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        out = original_analyzer(self, angles)
        analyzer_ms.append((time.perf_counter() - t0) * 1e3)
        return out

    HipPipeline.process = timed  # type: ignore[method-assign]
    ExerciseAnalyzer.process = timed_analyzer  # type: ignore[method-assign]
    live = LiveSession(VirtualBleSource(simulate_demo("active_extension", 1)), auto_calibrate=True)
    if analyzer != "none":
        exercise = ExerciseAnalyzer(markers=lambda: list(live.markers), detect=analyzer == "detect")
        live.analyzers.append(exercise)
    await live.start()
    subs = [live.subscribe() for _ in range(clients)]
    latency_ms: list[float] = []
    frames = [0] * clients

    async def reader(i: int) -> None:
        while True:
            try:
                message = await subs[i].get()
            except Exception:
                return
            now = time.time_ns()
            body = json.loads(message)
            if body.get("type") == "frames":
                frames[i] += 1
                if live.calibration_guide.step == "done":
                    latency_ms.append((now - body["rx_ns"]) / 1e6)

    tasks = [asyncio.create_task(reader(i)) for i in range(clients)]
    lag_ms: list[float] = []
    descheduled = 0
    steal0 = steal_jiffies()
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        t0, c0 = time.monotonic(), time.process_time()
        await asyncio.sleep(0.005)
        lag = (time.monotonic() - t0 - 0.005) * 1e3
        lag_ms.append(lag)
        # A long lag during which this process barely ran: the machine did not schedule us.
        if lag > 20 and (time.process_time() - c0) * 1e3 < 0.25 * lag:
            descheduled += 1
    steal_s = (steal_jiffies() - steal0) / TICKS
    await live.stop()
    for task in tasks:
        task.cancel()
    HipPipeline.process = original  # type: ignore[method-assign]
    ExerciseAnalyzer.process = original_analyzer  # type: ignore[method-assign]
    lag, lat, proc = np.array(lag_ms), np.array(latency_ms), np.array(process_ms)
    step = live.calibration_guide.step
    print(f"{clients} in-process subscribers, {seconds:g} s, calibration {step}")
    print(
        f"event-loop lag: p50 {np.percentile(lag, 50):.1f} ms, p99 {np.percentile(lag, 99):.1f} "
        f"ms, max {lag.max():.1f} ms"
    )
    if len(lat):
        print(
            f"notification -> frame at subscriber: p50 {np.percentile(lat, 50):.1f} ms, "
            f"p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms"
        )
    print(
        f"HipPipeline.process per batch: p50 {np.percentile(proc, 50):.2f} ms, "
        f"p99 {np.percentile(proc, 99):.2f} ms, max {proc.max():.1f} ms ({len(proc)} calls)"
    )
    if analyzer_ms:
        print(f"ExerciseAnalyzer.process ({analyzer}) per batch: {percentiles_ms(analyzer_ms)}")
    print(f"frames per subscriber: {min(frames)}-{max(frames)}")
    print(
        f"loop lags > 20 ms while this process was not running (descheduled): {descheduled} of "
        f"{int(np.sum(lag > 20))}; CPU steal on this machine during the run: {steal_s:.1f} s "
        f"over {seconds:g} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--analyzer", choices=("none", "marks", "detect"), default="none")
    parser.add_argument("--analyzer-cost", action="store_true")
    args = parser.parse_args()
    if args.analyzer_cost:
        analyzer_cost()
    else:
        asyncio.run(run(args.seconds, args.clients, args.analyzer))


if __name__ == "__main__":
    main()
