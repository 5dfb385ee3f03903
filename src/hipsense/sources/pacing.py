"""Pacing of simulated and replayed playback against the wall clock."""

from __future__ import annotations

import asyncio
import time

DEFAULT_MAX_LAG_S = 0.1


class Pacer:
    """Waits until each playback instant is due: ``t_s`` playback seconds after :meth:`start`
    take ``t_s / speed`` wall seconds.

    Playback that falls further behind than ``max_lag_s`` (the process did not run for a
    while: a stall of the machine, e.g. the hypervisor taking the CPU) resumes from where it
    is instead of catching up in a burst. A burst would let playback time (and every timeout
    measured in it) pass while none of the consumer's code ran, and flood its queues.

    Parameters
    ----------
    speed : playback seconds per wall second (1.0 = real time).
    max_lag_s : wall seconds playback may lag before the schedule shifts.
    """

    def __init__(self, speed: float, max_lag_s: float = DEFAULT_MAX_LAG_S) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = float(speed)
        self.max_lag_s = float(max_lag_s)
        self._wall0 = time.perf_counter()
        self.shifted_s = 0.0
        """Wall seconds the schedule has been shifted by stalls so far."""

    def start(self) -> None:
        """Playback time 0 is now."""
        self._wall0 = time.perf_counter()
        self.shifted_s = 0.0

    async def wait(self, t_s: float) -> None:
        """Return when playback time ``t_s`` is due.

        When it is overdue this still yields once to the event loop. A consumer that cannot keep
        up (a slow machine, a high speed) would otherwise never let other tasks run, such as the
        WebSocket senders, and every client's queue would overflow.
        """
        delay = self._wall0 + t_s / self.speed - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
            return
        if delay < -self.max_lag_s:
            shift = -delay - self.max_lag_s
            self._wall0 += shift
            self.shifted_s += shift
        await asyncio.sleep(0)
