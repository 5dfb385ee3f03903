"""Decode throughput per wire format: samples per second, one notification at a time and batched.

Run: ``.venv/bin/python benchmarks/decode.py``. Prints one line per protocol and path.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from hipsense.sensors.protocols import movella_dot, movesense, open_profile, thingy52, witmotion
from hipsense.sensors.protocols.base import ProtocolDecoder

N_SAMPLES = 200_000


def _signals(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(0, 9.81, (n, 3)), rng.normal(0, 2.0, (n, 3))


def _notifications() -> dict[str, tuple[Callable[[], ProtocolDecoder], list[bytes]]]:
    acc, gyr = _signals(N_SAMPLES)
    t_us = np.arange(N_SAMPLES) * 16_667
    t_ms = np.arange(N_SAMPLES) * 1000 / movesense.DEFAULT_RATE_HZ
    return {
        "open_profile (19 samples/notification)": (
            open_profile.OpenProfileDecoder,
            open_profile.encode_samples(acc, gyr, 0, 0, 10_000.0),
        ),
        "open_profile (1 sample/notification, MTU 23)": (
            open_profile.OpenProfileDecoder,
            open_profile.encode_samples(acc, gyr, 0, 0, 10_000.0, samples_per_frame=1),
        ),
        "witmotion (240-byte notifications)": (
            witmotion.WitMotionDecoder,
            witmotion.split_notifications(witmotion.encode_records(acc, gyr), 240),
        ),
        "witmotion (20-byte notifications)": (
            witmotion.WitMotionDecoder,
            witmotion.split_notifications(witmotion.encode_records(acc, gyr), 20),
        ),
        "thingy52": (thingy52.Thingy52Decoder, thingy52.encode_raw(acc, gyr)),
        "movella_dot custom mode 5": (
            movella_dot.MovellaDotDecoder,
            movella_dot.encode_payloads(t_us, acc, gyr),
        ),
        "movesense IMU6 (8 samples/notification)": (
            movesense.MovesenseDecoder,
            movesense.encode_notifications(t_ms, acc, gyr),
        ),
        "movesense IMU9 (DATA + DATA_PART2, MTU 247)": (
            lambda: movesense.MovesenseDecoder("IMU9"),
            movesense.encode_notifications(t_ms, acc, gyr, mag_uT=acc * 5.0),
        ),
    }


def _rate(decoder: ProtocolDecoder, run: Callable[[ProtocolDecoder], int]) -> float:
    t0 = time.perf_counter()
    n = run(decoder)
    return n / (time.perf_counter() - t0)


def main() -> None:
    """Print samples/s for the per-notification path and the batch path of every format."""
    for name, (factory, notes) in _notifications().items():
        hosts = list(range(len(notes)))

        def one_by_one(d: ProtocolDecoder, notes: list[bytes] = notes) -> int:
            return sum(len(d.feed(b, i)) for i, b in enumerate(notes))

        def batched(
            d: ProtocolDecoder, notes: list[bytes] = notes, hosts: list[int] = hosts
        ) -> int:
            return len(d.feed_many(notes, hosts))

        per_note = _rate(factory(), one_by_one)
        batch = _rate(factory(), batched)
        print(
            f"{name:48s} feed: {per_note / 1e6:6.2f} M samples/s"
            f"   feed_many: {batch / 1e6:6.2f} M samples/s"
        )


if __name__ == "__main__":
    main()
