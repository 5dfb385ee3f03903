"""The live exercise analyzer: marked and detected segments, angle blocks flow through.

Fits :class:`hipsense.live.Analyzer`: ``process(angles) -> list[event dict]``, and
``finish()`` at the end of the stream (see below). Markers reach it through
:meth:`ExerciseAnalyzer.add_marker` (an open marker starts a segment, the same marker with
``end_s`` set closes it; a marker given closed from the start is closed when the angles pass
its end). While a hold is open a :class:`HoldTracker` emits band, compensation and
completion events; when any segment closes, :func:`analyze_segment` runs on the buffered frames,
so the live results equal ``hipsense analyze`` on the recording. Blocks of any size give the
same events.

Event kinds: ``hold_started``, ``hold_band``, ``hold_compensation``, ``hold_complete``, then
the result dicts of :mod:`hipsense.exercises.schema` (``rom``, ``gap``, ``hold``, ``cars``,
``thomas``, ``bridge``, ``gait``, ``sitting``), each with ``time_s`` of the segment end.

**Detected segments** (``detect=True``): a
:class:`~hipsense.exercises.live_detect.SegmentDetector` runs every :data:`DETECT_EVERY_S` of
angle time (at whole multiples, so blocks of any size give the same events) on the frames
since each detector's last settled point. A segment is reported once it is final, i.e. equal
to what ``analyze_session(..., detect=True)`` finds on the whole session: a
``segment_detected`` event (``start_s``, ``end_s``, ``exercise``, ``side``, ``source``
``"detected"``, ``time_s`` when reported), then its results (``source`` ``"detected"``,
``time_s`` when reported), unless it overlaps a marked segment known by then (marks win, as in
:func:`~hipsense.exercises.detect.add_detected`; an open mark counts from its start). A
``movement_started`` event (same keys, ``end_s`` = now) says when a movement qualifies while
still under way (sitting 5 s, the second CARs loop, the sixth step). Delay after the
segment's end: sitting up to 1 s, CARs 1-2 s (the 2 s pause that ends a run, minus the 1 s
pad), walking about 2.5-4.5 s (the 1.5 s step interval and the 2.15 s a step needs to be
known, minus the pad). A movement under way for longer than
:data:`~hipsense.exercises.live_detect.DETECT_MAX_S` (600 s) is reported up to there with a
``note`` and detection restarts, so retained frames and per-update work stay bounded (about
600 s of frames at most; the offline analysis reports such a movement whole).

A mark that overlaps a detected segment already reported (a mark placed back in time, or
given with its start and end) withdraws it, since marks win: a ``segment_withdrawn`` event
(the segment's ``start_s``, ``end_s``, ``exercise``, ``side``, ``source``; ``time_s`` the
last frame seen), and its ``segment_detected`` entry and results leave
:attr:`ExerciseAnalyzer.results` and :attr:`ExerciseAnalyzer.detected`, whose detected
segments and results then equal the offline analysis with the same marks (the mark's own
results need its frames: a mark placed further back than the frames kept gets none live).
The overlap rule is the one that keeps a detection from
being reported: a closed mark sharing time with it (touching ends do not), or an open mark
starting before its end.

**End of the stream**: :meth:`ExerciseAnalyzer.finish` (``LiveSession`` calls it once, when
the source ends or the session stops) reports what is still pending as the offline analysis of
the frames seen does: a detected movement still under way ends at the last frame
(``segment_detected`` and its results, ``time_s`` the last frame's), and a closed mark whose
end the angles never reached is analysed up to the last frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hipsense.exercises.detect import overlaps
from hipsense.exercises.holds import HoldTracker
from hipsense.exercises.live_detect import DETECT_MAX_S, DetectionEvent, SegmentDetector
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import best_range, classify_gap
from hipsense.exercises.schema import GapResult, RangeResult
from hipsense.exercises.segments import (
    EXERCISES,
    HOLD_EXERCISES,
    Segment,
    marker_params,
    slice_block,
)
from hipsense.exercises.session import analyze_segment, available_sides
from hipsense.types import AngleBlock, FloatArray, Marker

KEEP_BEFORE_S = 5.0  # frames kept without an open segment, for markers placed a bit late
# The service keeps more: the assessment and the hold series mark a trial or a hold when it
# ends, up to a few minutes after it started (3 minutes: 3.6 MB of frames at 100 Hz).
LATE_MARK_S = 180.0
DETECT_EVERY_S = 1.0  # angle time between runs of the segment detector


class _FrameBuffer:
    """Recent angle frames: appends cost O(block) amortised, views cost nothing.

    Storage is reallocated (never moved in place) when full, so views handed out earlier keep
    their values. A column missing from a block is NaN there.
    """

    def __init__(self) -> None:
        self._t: FloatArray = np.zeros(0)
        self._cols: dict[str, FloatArray] = {}
        self._lo = self._hi = 0

    def __len__(self) -> int:
        return self._hi - self._lo

    def append(self, block: AngleBlock) -> None:
        m = len(block)
        for name in block.columns.keys() - self._cols.keys():
            self._cols[name] = np.full(len(self._t), np.nan)
        if self._hi + m > len(self._t):
            n = len(self)
            size = max(2 * (n + m), 1024)
            self._t = np.concatenate([self._t[self._lo : self._hi], np.empty(size - n)])
            self._cols = {
                k: np.concatenate([v[self._lo : self._hi], np.empty(size - n)])
                for k, v in self._cols.items()
            }
            self._lo, self._hi = 0, n
        self._t[self._hi : self._hi + m] = block.time_s
        for name, values in self._cols.items():
            values[self._hi : self._hi + m] = block.columns.get(name, np.nan)
        self._hi += m

    def view(self, start_s: float = -np.inf, end_s: float = np.inf) -> AngleBlock:
        """Frames with ``start_s <= t < end_s`` (views)."""
        t = self._t[self._lo : self._hi]
        i, j = (self._lo + int(k) for k in np.searchsorted(t, (start_s, end_s)))
        return AngleBlock(self._t[i:j], {k: v[i:j] for k, v in self._cols.items()})

    def drop_before(self, t_s: float) -> None:
        """Forget frames before ``t_s``."""
        self._lo += int(np.searchsorted(self._t[self._lo : self._hi], t_s))


@dataclass
class _Open:
    start_s: float
    exercise: str
    side: str | None
    end_s: float | None = None
    trackers: list[HoldTracker] = field(default_factory=list)
    params: tuple[tuple[str, Any], ...] = ()


class ExerciseAnalyzer:
    """Live analyses of marked (and optionally detected) segments (see the module docstring).

    Parameters
    ----------
    config : thresholds and the hold protocol.
    markers : optional callable returning the session's current markers, polled on every
        block (e.g. ``lambda: list(live_session.markers)``), so no explicit ``add_marker`` calls
        are needed; re-announced markers are recognised and closed segments stay closed.
    detect : also detect sitting, CARs and walking segments (``segment_detected`` events and
        their results), as ``analyze_session(..., detect=True)`` does offline.
    detect_max_s : the cap (s) on a detected movement under way (frames retained for it).
    keep_before_s : frames kept without an open segment (s): how late a closed mark may be
        placed and still get its results live (a mark reaching further back gets none).
    refined : ``(start_s, end_s) -> AngleBlock | None`` (``LiveSession.refined_frames``): the
        refined angles of a finished assessment trial covering a marked range segment, which
        is then analysed on them, so its result equals the assessment's refined rep.

    Examples
    --------
    >>> analyzer = ExerciseAnalyzer(detect=True)
    >>> analyzer.add_marker(Marker(10.0, None, "hold_pails", "left"))
    >>> events = analyzer.process(angle_block)  # doctest: +SKIP
    """

    def __init__(
        self,
        config: AnalysisConfig | None = None,
        markers: Callable[[], Iterable[Marker]] | None = None,
        detect: bool = False,
        detect_max_s: float = DETECT_MAX_S,
        keep_before_s: float = KEEP_BEFORE_S,
        refined: Callable[[float, float], AngleBlock | None] | None = None,
    ) -> None:
        self.config = config or AnalysisConfig()
        self.refined = refined
        self.keep_before_s = keep_before_s
        self.markers = markers
        self.detector = SegmentDetector(self.config, detect_max_s) if detect else None
        self._next_detect = 0  # the next detection runs at this multiple of DETECT_EVERY_S
        self._finished: set[tuple[float, str, str | None]] = set()
        self._open: list[_Open] = []
        self._closed: list[Segment] = []
        self._frames = _FrameBuffer()
        self._now_s = -np.inf
        self._ended = False
        self._new_mark = False
        self._reported: dict[Segment, list[dict[str, Any]]] = {}  # a detection's entries
        self.ranges: list[RangeResult] = []
        self.results: list[dict[str, Any]] = []
        self.detected: list[Segment] = []

    @property
    def buffered_s(self) -> float:
        """Angle time (s) spanned by the retained frames."""
        view = self._frames.view()
        return float(view.time_s[-1] - view.time_s[0]) if len(view) else 0.0

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
        params = tuple(sorted(marker_params(marker.text).items()))
        self._open.append(
            _Open(marker.start_s, marker.exercise, marker.side, marker.end_s, params=params)
        )
        self._open.sort(key=lambda s: s.start_s)
        self._new_mark = True

    def _take_markers(self) -> list[dict[str, Any]]:
        """Poll the markers; withdraw the detected segments a new mark overlaps (marks win)."""
        if self.markers is not None:
            for marker in self.markers():
                self.add_marker(marker)
        if not self._new_mark:
            return []
        self._new_mark = False
        out: list[dict[str, Any]] = []
        for seg in [d for d in self.detected if self._marked_over(d)]:
            self.detected.remove(seg)
            entries = {id(e) for e in self._reported.pop(seg)}
            self.results[:] = [e for e in self.results if id(e) not in entries]
            out.append(
                {"kind": "segment_withdrawn", **seg.to_dict(), "time_s": round(self._now_s, 3)}
            )
        return out

    def process(self, angles: AngleBlock) -> list[dict[str, Any]]:
        """Events caused by a block of calibrated angles (any size)."""
        events = self._take_markers()
        if len(angles) == 0:
            return events
        if not np.isfinite(self._now_s):
            self._next_detect = int(np.floor(angles.time_s[0] / DETECT_EVERY_S)) + 1
        self._frames.append(angles)
        self._now_s = float(angles.time_s[-1])
        for seg in self._open:
            # A mark closed in the past gets its result when it closes, without live events.
            still_open = seg.end_s is None or seg.end_s > self._now_s
            if (
                seg.exercise in HOLD_EXERCISES
                and still_open
                and not seg.trackers
                and seg.start_s <= self._now_s
            ):
                sides = [seg.side] if seg.side else available_sides(angles)
                seg.trackers = [
                    HoldTracker(seg.start_s, s, seg.exercise, self.config.protocol, self.config)
                    for s in sides
                ]
                past = self._frames.view(seg.start_s, float(angles.time_s[0]))
                for tr in seg.trackers:
                    if len(past):
                        events.extend(tr.process(past))
            for tr in seg.trackers:
                part = angles
                if seg.end_s is not None:
                    part = slice_block(angles, -np.inf, seg.end_s)
                if len(part):
                    events.extend(tr.process(part))
        events.extend(self._close_marked(self._now_s))
        if self.detector is not None:
            events.extend(self._detect(self.detector))
        self._trim()
        return events

    def finish(self) -> list[dict[str, Any]]:
        """Events at the end of the stream (call once; later calls return nothing).

        Reports what ``analyze_session(..., detect=True)`` reports on the frames seen and the
        closed markers: a marked segment whose end the angles never reached is analysed up to
        the last frame, and a detected movement still under way is reported ending at the last
        frame (``segment_detected`` and its results, ``time_s`` the last frame's).
        """
        if self._ended:
            return []
        self._ended = True
        events = self._take_markers()
        if not np.isfinite(self._now_s):
            return events
        events.extend(self._close_marked(np.inf))
        if self.detector is not None:
            frames = self._frames.view(self.detector.keep_from_s)
            found = self.detector.finish(frames)
            events.extend(self._report(found, frames, round(self._now_s, 3)))
        return events

    def _detect(self, detector: SegmentDetector) -> list[dict[str, Any]]:
        """Run the detector at every multiple of DETECT_EVERY_S the angles have passed."""
        out: list[dict[str, Any]] = []
        while self._next_detect * DETECT_EVERY_S <= self._now_s:
            until_s = self._next_detect * DETECT_EVERY_S
            self._next_detect += 1
            frames = self._frames.view(detector.keep_from_s, until_s)
            out.extend(self._report(detector.update(frames, until_s), frames, until_s))
        return out

    def _report(
        self, found: list[DetectionEvent], frames: AngleBlock, time_s: float
    ) -> list[dict[str, Any]]:
        """Events of the detector's findings (``frames`` hold theirs), unless marks overlap."""
        out: list[dict[str, Any]] = []
        for event in found:
            seg = event.segment
            if self._marked_over(seg):
                continue
            d: dict[str, Any] = seg.to_dict()
            if event.kind == "started":
                out.append({"kind": "movement_started", **d, "time_s": time_s})
                continue
            reported = [{"kind": "segment_detected", **d, "time_s": time_s}]
            if event.note:
                reported[0]["note"] = event.note
            for result in analyze_segment(frames, seg, self.config, self._closed):
                reported.append({**result.to_dict(), "time_s": time_s})
            self.detected.append(seg)
            self._reported[seg] = reported
            self.results.extend(reported)
            out.extend(reported)
        return out

    def _marked_over(self, seg: Segment) -> bool:
        """Whether a marked segment (closed, or open from its start) overlaps ``seg``."""
        if any(overlaps(seg, m) for m in self._closed):
            return True
        return any(m.start_s < seg.end_s and seg.start_s < (m.end_s or np.inf) for m in self._open)

    def _close_marked(self, until_s: float) -> list[dict[str, Any]]:
        """Close the marked segments ending by ``until_s`` (in order of their ends)."""
        done = [s for s in self._open if s.end_s is not None and s.end_s <= until_s]
        events: list[dict[str, Any]] = []
        for seg in sorted(done, key=lambda s: s.end_s or 0.0):
            self._open.remove(seg)
            buffer = None
            if self.refined is not None and not seg.trackers and seg.end_s is not None:
                buffer = self.refined(seg.start_s, seg.end_s)
            events.extend(self._close(seg, self._frames.view() if buffer is None else buffer))
        return events

    def _close(self, seg: _Open, buffer: AngleBlock) -> list[dict[str, Any]]:
        assert seg.end_s is not None
        segment = Segment(seg.start_s, seg.end_s, seg.exercise, seg.side, params=seg.params)
        self._closed.append(segment)
        self._finished.add((round(seg.start_s, 6), seg.exercise, seg.side))
        out: list[dict[str, Any]] = []
        if len(buffer) and seg.start_s < buffer.time_s[0] - 0.05 and not seg.trackers:
            return out  # its first frames are no longer kept: a partial result would mislead
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

    def _trim(self) -> None:
        """Keep frames from the earliest open segment, what the detector needs, or 5 s."""
        keep_from = self._now_s - self.keep_before_s
        if self._open:
            keep_from = min(keep_from, min(s.start_s for s in self._open))
        if self.detector is not None:
            keep_from = min(keep_from, self.detector.keep_from_s)
        self._frames.drop_before(keep_from)
        self._closed = [s for s in self._closed if s.end_s >= keep_from]
