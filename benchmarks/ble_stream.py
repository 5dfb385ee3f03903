"""Throughput of the BLE path over the virtual radio: delivered/expected samples, CPU cost.

Three virtual sensors (open profile, Movella DOT, WitMotion; the DOT tops out at 60 Hz) stream
five minutes of session time as fast as the stack allows, through bumble's GATT stack, bleak,
``BleSession`` (decode + clock) and nothing else; then the open profile alone at 200 Hz.
The CPU figure includes the virtual peripherals and bumble's controller/host on both sides, so
it is an upper bound of what hipsense itself costs on a real adapter.

Run: ``.venv/bin/python benchmarks/ble_stream.py [--minutes 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import time

from hipsense.sensors.ble import BleSession
from hipsense.types import SampleBlock
from hipsim import simulate_session
from hipsim.ble import build_radio


async def run(protocols: dict[str, str], rates: dict[str, float], duration_s: float) -> None:
    sim = simulate_session("reverse_walking", 1, duration_s=duration_s, rate_hz=rates)
    radio, assignments = build_radio(sim.samples, protocols)
    await radio.start()
    session = BleSession(assignments, rates, backend=radio.ble_backend(), scan_timeout_s=0.3)
    await session.start()
    received: dict[str, int] = dict.fromkeys(assignments, 0)
    decode_cpu = [0.0]
    decode = session._decode

    def timed_decode(batch):  # type: ignore[no-untyped-def]
        t0 = time.process_time()
        out = decode(batch)
        decode_cpu[0] += time.process_time() - t0
        return out

    session._decode = timed_decode  # type: ignore[method-assign]

    async def collect() -> None:
        async for items in session.items():
            for item in items:
                if isinstance(item, SampleBlock):
                    received[item.role] += len(item)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    task = asyncio.create_task(collect())
    await radio.wait_finished(None)
    await session.stop()
    await task
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    status = {s["role"]: s for s in session.status()}
    await radio.close()
    for role in assignments:
        expected = len(sim.samples[role])
        print(
            f"  {role:<12} {protocols[role]:<13} {rates[role]:>5.0f} Hz  delivered "
            f"{received[role]}/{expected} ({received[role] / expected:.4%})  notifications "
            f"{status[role]['notifications']}  gaps {status[role]['gaps']}"
        )
    print(
        f"  session {duration_s:.0f} s: wall {wall:.1f} s ({duration_s / wall:.1f}x real time), "
        f"CPU {cpu:.1f} s = {cpu / duration_s:.3f} CPU s per session s "
        f"(stack + virtual sensors + hipsense); hipsense decode + clock alone "
        f"{decode_cpu[0] / duration_s:.4f} CPU s per session s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="session length")
    args = parser.parse_args()
    duration = args.minutes * 60.0
    print("three sensors, mixed vendors, 100 Hz (DOT 60 Hz):")
    asyncio.run(
        run(
            {"pelvis": "open_profile", "thigh_left": "movella_dot", "thigh_right": "witmotion"},
            {"pelvis": 100.0, "thigh_left": 60.0, "thigh_right": 100.0},
            duration,
        )
    )
    print("three open-profile sensors, 100 Hz:")
    asyncio.run(
        run(
            dict.fromkeys(("pelvis", "thigh_left", "thigh_right"), "open_profile"),
            dict.fromkeys(("pelvis", "thigh_left", "thigh_right"), 100.0),
            duration,
        )
    )
    print("three open-profile sensors, 200 Hz:")
    asyncio.run(
        run(
            dict.fromkeys(("pelvis", "thigh_left", "thigh_right"), "open_profile"),
            dict.fromkeys(("pelvis", "thigh_left", "thigh_right"), 200.0),
            duration,
        )
    )


if __name__ == "__main__":
    main()
