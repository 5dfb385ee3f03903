"""A recording played as a live source: the same items live had, paced, with pause and seek.

:class:`ReplaySource` reads a ``.hsr`` file through :func:`hipsense.recording.replay.session_items`
(decoded samples as stored, or raw notifications decoded again by the live decoding stage with
its resets at every recorded reconnection) and yields them in time order at ``speed`` times
real time. It follows :class:`~hipsense.sources.LiveSource` and :class:`~hipsense.sources.Seeking`.
The service calibrates from the recording's own calibration record when there is one.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np

from hipsense.body.calibration import Calibration
from hipsense.errors import ConfigurationError
from hipsense.recording.replay import SessionItem, item_time_s, overview, session_items
from hipsense.sources import DeviceInfo, SourceBatch, SourceItem
from hipsense.types import ROLES, SampleBlock


class ReplaySource:
    """A recording as a paced live source for the service.

    Parameters
    ----------
    path : the ``.hsr`` file.
    speed : times real time; None = as fast as possible (unpaced).
    step_s : blocks are cut into pieces of at most this many seconds, and pieces of all
        sensors ending in the same ``step_s`` window are yielded together.

    Examples
    --------
    >>> source = ReplaySource("session.hsr", speed=1.0)  # doctest: +SKIP
    >>> async for batch in source.stream():  # doctest: +SKIP
    ...     pipeline.process([i for i in batch.items if isinstance(i, SampleBlock)])
    """

    name = "replay"
    LOOKAHEAD_S = 1.0

    def __init__(self, path: str | Path, speed: float | None = 1.0, step_s: float = 0.05) -> None:
        if speed is not None and not speed > 0:
            raise ConfigurationError(f"replay speed must be positive, got {speed}")
        self.path = Path(path)
        self.speed = speed
        self.step_s = step_s
        self.info = overview(self.path)
        self.duration_s = self.info.duration_s
        rates = self.info.rates_hz
        self.roles: list[str] = [r for r in ROLES if r in rates]
        self.rate_hz: dict[str, float] = {r: float(rates[r]) for r in self.roles}
        self.position_s = 0.0
        self._running = asyncio.Event()
        self._running.set()
        self._seek_to: float | None = None

    @property
    def session_start_ns(self) -> int | None:
        """None: the items are decoded already (raw notifications are not passed on)."""
        return None

    def devices(self) -> list[DeviceInfo]:
        """The recorded sensors (role, protocol, address) from the recording's metadata."""
        return [
            DeviceInfo(s.role, s.protocol, s.address)
            for s in self.info.metadata.sensors
            if s.role in self.roles
        ]

    def restarted(self) -> ReplaySource:
        """A new replay of the same recording at the same speed, from time 0 (reads the
        file's overview: call it from a worker thread)."""
        return ReplaySource(self.path, speed=self.speed, step_s=self.step_s)

    async def close(self) -> None:
        """Nothing to release (the file is opened per pass)."""

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return not self._running.is_set()

    def pause(self) -> None:
        """Stop yielding until :meth:`resume`."""
        self._running.clear()

    def resume(self) -> None:
        """Continue after :meth:`pause` (pacing restarts from the current position)."""
        self._running.set()

    def seek(self, time_s: float) -> None:
        """Continue from session time ``time_s`` (forwards or backwards)."""
        self._seek_to = max(0.0, float(time_s))

    def _pieces(self, start_s: float) -> Iterator[tuple[float, int, SessionItem]]:
        """Items from ``start_s`` on, blocks cut into ``step_s`` pieces, roughly time-ordered."""
        counter = itertools.count()
        for _, item in session_items(self.path, self.info.bulk, self.info.metadata):
            if isinstance(item, SampleBlock):
                t = item.time_s
                first = int(np.searchsorted(t, start_s, side="left"))
                if first >= len(t):
                    continue
                k0 = np.floor(t[first] / self.step_s) + 1
                k1 = np.floor(t[-1] / self.step_s) + 2
                cuts = np.searchsorted(t, np.arange(k0, k1) * self.step_s, side="left")
                i = first
                for j in cuts.tolist():
                    if j > i:
                        piece = item.slice(i, j)
                        yield float(piece.time_s[-1]), next(counter), piece
                        i = j
            elif isinstance(item, Calibration) or item_time_s(item) >= start_s:
                yield max(item_time_s(item), start_s), next(counter), item

    def _ordered(self, start_s: float) -> Iterator[tuple[float, SessionItem]]:
        heap: list[tuple[float, int, SessionItem]] = []
        source = self._pieces(start_s)
        exhausted = False
        # How far the *samples* have been read: markers written up front (at the start of
        # the file, with later times) must not stop the reading of the samples before them.
        newest_s = -np.inf
        while True:
            while not exhausted and (not heap or newest_s - heap[0][0] < self.LOOKAHEAD_S):
                nxt = next(source, None)
                if nxt is None:
                    exhausted = True
                else:
                    heapq.heappush(heap, nxt)
                    if isinstance(nxt[2], SampleBlock):
                        newest_s = max(newest_s, nxt[0])
            if not heap:
                return
            t, _, item = heapq.heappop(heap)
            yield t, item

    async def stream(self) -> AsyncIterator[SourceBatch]:
        """Lists of items (SampleBlock, Marker, SensorEvent, Calibration) paced at ``speed``.

        Each list holds the pieces ending in one ``step_s`` window; it ends at the end of the
        recording.
        """
        start_s = 0.0
        self.position_s = 0.0  # a stream started again plays from the beginning
        while True:
            restart = False
            wall0 = time.perf_counter()
            data0 = start_s
            group: list[SourceItem] = []
            group_window: float | None = None
            for t, item in self._ordered(start_s):
                window = np.floor(max(t, 0.0) / self.step_s)
                if group and window != group_window:
                    yield SourceBatch(group)
                    group = []
                group_window = window
                group.append(item)
                if self._seek_to is not None:
                    start_s, self._seek_to = self._seek_to, None
                    self.position_s = start_s
                    restart = True
                    break
                if not self._running.is_set():
                    await self._running.wait()
                    wall0 = time.perf_counter()
                    data0 = self.position_s
                if self.speed is not None:
                    delay = (t - data0) / self.speed - (time.perf_counter() - wall0)
                    if delay > 0:
                        await asyncio.sleep(delay)
                else:
                    await asyncio.sleep(0)
                self.position_s = max(self.position_s, t)
            if restart:
                continue
            if group:
                yield SourceBatch(group)
            return
