"""The live exercise analyzer: markers open and close segments, angle blocks flow through.

Fits :class:`hipsense.live.Analyzer`: ``process(angles) -> list[event dict]``. Markers reach it
through :meth:`ExerciseAnalyzer.add_marker` (an open marker starts a segment, the same marker
with ``end_s`` set closes it; a marker given closed from the start is closed when the angles
pass its end). While a hold is open a :class:`HoldTracker` emits band, compensation and
completion events; when any segment closes, :func:`analyze_segment` runs on the buffered frames,
so the live results equal ``hipsense analyze`` on the recording. Blocks of any size give the
same events.

Event kinds: ``hold_started``, ``hold_band``, ``hold_compensation``, ``hold_complete``, then
the result dicts of :mod:`hipsense.exercises.schema` (``rom``, ``gap``, ``hold``, ``cars``,
``thomas``, ``bridge``, ``gait``, ``sitting``), each with ``time_s`` of the segment end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hipsense.exercises.holds import HoldTracker
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import best_range, classify_gap
from hipsense.exercises.schema import GapResult, RangeResult
from hipsense.exercises.segments import EXERCISES, HOLD_EXERCISES, Segment, slice_block
from hipsense.exercises.session import analyze_segment, available_sides
from hipsense.types import AngleBlock, Marker

KEEP_BEFORE_S = 5.0  # frames kept without an open segment, for markers placed a bit late


@dataclass
class _Open:
    start_s: float
    exercise: str
    side: str | None
    end_s: float | None = None
    trackers: list[HoldTracker] = field(default_factory=list)


class ExerciseAnalyzer:
    """Live analyses of marked exercise segments (see the module docstring).

    Parameters
    ----------
    config : thresholds and the hold protocol.
    markers : optional callable returning the session's current markers, polled on every
        block (e.g. ``lambda: list(live_session.markers)``), so no explicit ``add_marker`` calls
        are needed; re-announced markers are recognised and closed segments stay closed.

    Examples
    --------
    >>> analyzer = ExerciseAnalyzer()
    >>> analyzer.add_marker(Marker(10.0, None, "hold_pails", "left"))
    >>> events = analyzer.process(angle_block)  # doctest: +SKIP
    """

    def __init__(
        self,
        config: AnalysisConfig | None = None,
        markers: Callable[[], Iterable[Marker]] | None = None,
    ) -> None:
        self.config = config or AnalysisConfig()
        self.markers = markers
        self._finished: set[tuple[float, str, str | None]] = set()
        self._open: list[_Open] = []
        self._closed: list[Segment] = []
        self._parts: list[AngleBlock] = []
        self._now_s = -np.inf
        self.ranges: list[RangeResult] = []
        self.results: list[dict[str, Any]] = []

    def add_marker(self, marker: Marker) -> None:
        """Open, close or register a segment (markers of other kinds are ignored)."""
        if marker.exercise not in EXERCISES:
            return
        if (round(marker.start_s, 6), marker.exercise, marker.side) in self._finished:
            return
        for seg in self._open:
            if (
                seg.exercise == marker.exercise
                and seg.side == marker.side
                and abs(seg.start_s - marker.start_s) < 1e-6
            ):
                seg.end_s = marker.end_s
                return
        self._open.append(_Open(marker.start_s, marker.exercise, marker.side, marker.end_s))
        self._open.sort(key=lambda s: s.start_s)

    def _buffer(self) -> AngleBlock:
        if len(self._parts) > 1:
            self._parts = [AngleBlock.concat(self._parts)]
        return self._parts[0] if self._parts else AngleBlock(np.zeros(0), {})

    def process(self, angles: AngleBlock) -> list[dict[str, Any]]:
        """Events caused by a block of calibrated angles (any size)."""
        if self.markers is not None:
            for marker in self.markers():
                self.add_marker(marker)
        if len(angles) == 0:
            return []
        self._parts.append(angles)
        self._now_s = float(angles.time_s[-1])
        events: list[dict[str, Any]] = []
        buffer = self._buffer()
        for seg in self._open:
            if seg.exercise in HOLD_EXERCISES and not seg.trackers and seg.start_s <= self._now_s:
                sides = [seg.side] if seg.side else available_sides(angles)
                seg.trackers = [
                    HoldTracker(seg.start_s, s, seg.exercise, self.config.protocol, self.config)
                    for s in sides
                ]
                past = slice_block(buffer, seg.start_s, float(angles.time_s[0]))
                for tr in seg.trackers:
                    if len(past):
                        events.extend(tr.process(past))
            for tr in seg.trackers:
                part = angles
                if seg.end_s is not None:
                    part = slice_block(angles, -np.inf, seg.end_s)
                if len(part):
                    events.extend(tr.process(part))
        # Close segments whose end the angles have passed (order: by end time).
        done = [s for s in self._open if s.end_s is not None and s.end_s <= self._now_s]
        for seg in sorted(done, key=lambda s: s.end_s or 0.0):
            self._open.remove(seg)
            events.extend(self._close(seg, buffer))
        self._trim(buffer)
        return events

    def _close(self, seg: _Open, buffer: AngleBlock) -> list[dict[str, Any]]:
        assert seg.end_s is not None
        segment = Segment(seg.start_s, seg.end_s, seg.exercise, seg.side)
        self._closed.append(segment)
        self._finished.add((round(seg.start_s, 6), seg.exercise, seg.side))
        out: list[dict[str, Any]] = []
        for result in analyze_segment(buffer, segment, self.config, self._closed):
            d = result.to_dict()
            d["time_s"] = round(seg.end_s, 3)
            out.append(d)
            if isinstance(result, RangeResult):
                self.ranges.append(result)
                gap = self.gap(result.side)
                g = gap.to_dict()
                g["time_s"] = round(seg.end_s, 3)
                out.append(g)
        self.results.extend(out)
        return out

    def gap(self, side: str) -> GapResult:
        """The current active-passive gap of a side."""
        return classify_gap(
            side,
            best_range(self.ranges, side, "active"),
            best_range(self.ranges, side, "passive"),
            self.config,
        )

    def _trim(self, buffer: AngleBlock) -> None:
        """Keep frames from the earliest open segment (or the last few seconds)."""
        keep_from = self._now_s - KEEP_BEFORE_S
        if self._open:
            keep_from = min(keep_from, min(s.start_s for s in self._open))
        i = int(np.searchsorted(buffer.time_s, keep_from))
        if i > 0:
            self._parts = [
                AngleBlock(buffer.time_s[i:], {k: v[i:] for k, v in buffer.columns.items()})
            ]
        self._closed = [s for s in self._closed if s.end_s >= keep_from]
