"""Playback pacing resumes after a stall instead of catching up in a burst."""

from __future__ import annotations

import asyncio
import time

import pytest

from hipsense.sources.pacing import Pacer


async def test_pacer_waits_until_due_and_resumes_after_a_stall() -> None:
    pacer = Pacer(speed=2.0, max_lag_s=0.1)
    t0 = time.perf_counter()
    await pacer.wait(0.2)  # due 0.1 s of wall time after start
    assert time.perf_counter() - t0 >= 0.1
    assert pacer.shifted_s == 0.0
    time.sleep(0.5)  # the process stops; playback time 0.2 -> 1.2 is now overdue
    await pacer.wait(0.4)  # overdue by about 0.4 s of wall: the schedule shifts, no sleep
    assert pacer.shifted_s >= 0.3
    # The schedule now lags by the allowed 0.1 s; an instant 0.2 s of wall later is due in
    # about 0.1 s (it would be long overdue, and returned at once, had nothing shifted).
    t1 = time.perf_counter()
    await pacer.wait(0.4 + 2.0 * 0.2)
    assert time.perf_counter() - t1 >= 0.05


async def test_overdue_playback_still_lets_other_tasks_run() -> None:
    pacer = Pacer(speed=1.0)
    turns = 0

    async def other() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    started = turns
    time.sleep(0.05)  # the consumer is slow: every instant below is overdue
    for i in range(10):
        await pacer.wait(0.001 * i)
    task.cancel()
    assert turns - started >= 10, "each overdue wait yields to the event loop"


def test_pacer_refuses_a_non_positive_speed() -> None:
    with pytest.raises(ValueError, match="speed"):
        Pacer(speed=0.0)
