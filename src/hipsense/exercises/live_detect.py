"""Live segment detection: :func:`~hipsense.exercises.detect.detect_segments`, incrementally.

:class:`SegmentDetector` applies the rules of :mod:`hipsense.exercises.detect` (sitting,
CARs, walking) to a stream of angle frames and reports each segment once it is final, equal to
what the offline detector finds on the whole session. The live analyzer
(:class:`hipsense.exercises.live.ExerciseAnalyzer` with ``detect=True``) drives it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hipsense.exercises.detect import (
    CARS_MAX_PAUSE_S,
    CARS_MIN_REPS,
    CARS_NEUTRAL_DEG,
    CARS_PAD_S,
    SITTING_MIN_S,
    SOURCE,
    WALK_CONTEXT_S,
    WALK_MAX_STEP_S,
    WALK_MIN_STEPS,
    Loop,
    Step,
    cars_groups,
    cars_loops,
    cars_segments,
    cars_to_end,
    detect_sitting,
    sitting_levels,
    sitting_segment,
    sitting_signal,
    walk_bouts,
    walk_segment,
    walk_segments,
    walk_steps,
)
from hipsense.exercises.intervals import hysteresis_intervals, hysteresis_state, sample_period_s
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.segments import Segment, slice_block
from hipsense.types import AngleBlock, hip_columns

DETECT_MAX_S = 600.0  # a movement still under way after this long is reported in parts


@dataclass(frozen=True)
class DetectionEvent:
    """What :meth:`SegmentDetector.update` found.

    ``kind`` is ``"started"`` (a movement qualifies and is still under way; ``segment.end_s``
    is the current time) or ``"final"`` (the segment can no longer change). ``note`` says why
    a final segment differs from the offline one (cut at the cap), else None.
    """

    kind: str
    segment: Segment
    note: str | None = None


class SegmentDetector:
    """:func:`~hipsense.exercises.detect.detect_segments` incrementally: each segment once, as
    soon as it is final.

    Feed it the session's frames with :meth:`update` at increasing times ``until_s``. A
    segment is reported when no later frame can change it, and it then equals the segment
    ``detect_segments`` finds in the whole session (same frame timeline):

    - sitting: when the less flexed hip falls below the hysteresis level (the bout has ended);
    - cars: when no excursion from neutral that starts within :data:`CARS_MAX_PAUSE_S` after
      the last loop can still become a loop (which also fixes the end padding);
    - reverse_walking: when no step can follow within :data:`WALK_MAX_STEP_S` of the last
      one; a step is known :data:`WALK_CONTEXT_S` after it happened.

    Each detector rescans only the frames since its last settled point (a frame outside any
    sitting bout, a neutral knee, the steps already known), so the work per update is bounded
    by the movement under way. A movement under way for longer than ``max_s`` is reported as
    it stands (with a note) and its detector restarts: no window or retained frame spans more
    than about ``max_s``. When the stream ends, :meth:`finish` reports what is still pending
    (a movement under way ends at the last frame), as ``detect_segments`` does on the frames
    seen.

    Parameters
    ----------
    config : thresholds (sitting levels, step prominence).
    max_s : the cap (s) on a movement under way, :data:`DETECT_MAX_S` by default.

    Examples
    --------
    >>> detector = SegmentDetector()
    >>> events = detector.update(frames, until_s=12.0)  # doctest: +SKIP
    >>> buffer = slice_block(buffer, detector.keep_from_s, np.inf)  # doctest: +SKIP
    >>> last_events = detector.finish(buffer)  # doctest: +SKIP
    """

    def __init__(self, config: AnalysisConfig | None = None, max_s: float = DETECT_MAX_S) -> None:
        self.config = config or AnalysisConfig()
        self.max_s = max_s
        self._lo_s: float | None = None  # the session's first frame
        self._sit_scan_s = -np.inf  # a frame outside any sitting bout
        self._cars_scan_s = {"left": -np.inf, "right": -np.inf}  # a neutral frame (or a start)
        self._cars_loops: dict[str, list[Loop]] = {"left": [], "right": []}
        self._cars_before_s: dict[str, float | None] = {"left": None, "right": None}
        self._walk_known_s = -np.inf  # every step before this is in _steps
        self._steps: list[Step] = []
        self._announced: dict[tuple[str, str | None], float] = {}
        self._finished = False

    @property
    def keep_from_s(self) -> float:
        """Frames from this time on are needed by the next update (and pending segments)."""
        # A CARs segment starts up to CARS_PAD_S before its first loop, a walk up to one step
        # interval before its first step (less than WALK_CONTEXT_S).
        needed = [self._sit_scan_s, self._walk_known_s - WALK_CONTEXT_S]
        needed.extend(scan_s - CARS_PAD_S for scan_s in self._cars_scan_s.values())
        needed.extend(loops[0][0] - CARS_PAD_S for loops in self._cars_loops.values() if loops)
        if self._steps:
            needed.append(self._steps[0][0] - WALK_MAX_STEP_S)
        return min(needed) - 0.05  # segment bounds are rounded to the ms

    def update(self, angles: AngleBlock, until_s: float) -> list[DetectionEvent]:
        """Events once every frame before ``until_s`` is known.

        ``angles`` must hold every frame with ``keep_from_s <= t < until_s`` (more is fine);
        ``until_s`` must not decrease between calls.
        """
        frames = slice_block(angles, self.keep_from_s, until_s)
        if len(frames) == 0 or self._finished:
            return []
        if self._lo_s is None:
            self._lo_s = float(frames.time_s[0])
        out: list[DetectionEvent] = []
        self._update_sitting(frames, until_s, out)
        for side in ("left", "right"):
            self._update_cars(frames, until_s, side, out)
        self._update_walking(frames, until_s, out)
        return out

    def finish(self, angles: AngleBlock) -> list[DetectionEvent]:
        """Final events for every segment still pending, at the end of the stream.

        ``angles`` must hold every frame from ``keep_from_s`` on, up to the session's last
        frame. The segments are those :func:`~hipsense.exercises.detect.detect_segments` finds
        in the frames seen so far: a movement still under way ends one period after the last
        frame. The detector is done afterwards (further calls return nothing).
        """
        frames = slice_block(angles, self.keep_from_s, np.inf)
        if len(frames) == 0 or self._finished:
            return []
        self._finished = True
        t = frames.time_s
        lo_s = float(t[0]) if self._lo_s is None else self._lo_s
        span = (lo_s, float(t[-1]) + sample_period_s(t))
        found = detect_sitting(slice_block(frames, self._sit_scan_s, np.inf), self.config)
        for side in ("left", "right"):
            flex_name, abd_name, _ = hip_columns(side)
            loops = self._cars_loops[side]
            w = slice_block(frames, self._cars_scan_s[side], np.inf)
            if flex_name in w.columns and abd_name in w.columns:
                loops = [*loops, *cars_loops(w.time_s, w.columns[flex_name], w.columns[abd_name])]
            before = self._cars_before_s[side]
            found.extend(cars_to_end(loops, side, span, span[0] if before is None else before))
        w = slice_block(frames, self._walk_known_s - WALK_CONTEXT_S, np.inf)
        later = [s for s in walk_steps(w, self.config) if s[0] >= self._walk_known_s]
        found.extend(walk_segments([*self._steps, *later], span))
        found.sort(key=lambda s: (s.start_s, s.end_s))
        return [DetectionEvent("final", s) for s in found]

    def _announce(self, out: list[DetectionEvent], segment: Segment, key_s: float) -> None:
        key = (segment.exercise, segment.side)
        if self._announced.get(key) != key_s:
            self._announced[key] = key_s
            out.append(DetectionEvent("started", segment))

    def _capped(self, what: str) -> str:
        return (
            f"{what} still under way after {self.max_s:g} s: reported up to here (live cap); "
            "the offline analysis (--auto) reports it whole"
        )

    def _update_sitting(
        self, angles: AngleBlock, until_s: float, out: list[DetectionEvent]
    ) -> None:
        w = slice_block(angles, self._sit_scan_s, until_s)
        least = sitting_signal(w)
        if least is None or len(w) == 0:
            self._sit_scan_s = until_s
            return
        enter, leave = sitting_levels(self.config)
        runs = hysteresis_intervals(w.time_s, least, enter, leave)
        inside = hysteresis_state(least, enter, leave)
        # Restart at a frame outside any bout: the same state as on the whole session.
        self._sit_scan_s = float(w.time_s[-1])
        if inside[-1]:
            a = runs.pop()[0]
            first = len(inside) - int(np.argmin(inside[::-1])) if not inside.all() else 0
            self._sit_scan_s = float(w.time_s[max(first - 1, 0)])
            if until_s - a >= SITTING_MIN_S:
                self._announce(out, Segment(a, round(until_s, 3), "sitting", None, SOURCE), a)
            if until_s - self._sit_scan_s > self.max_s:
                cut = Segment(a, round(until_s, 3), "sitting", None, SOURCE)
                out.append(DetectionEvent("final", cut, self._capped("sitting")))
                self._sit_scan_s = until_s
        for a, b in runs:
            seg = sitting_segment(a, b, self.config)
            if seg is not None:
                out.append(DetectionEvent("final", seg))

    def _update_cars(
        self, angles: AngleBlock, until_s: float, side: str, out: list[DetectionEvent]
    ) -> None:
        assert self._lo_s is not None
        flex_name, abd_name, _ = hip_columns(side)
        w = slice_block(angles, self._cars_scan_s[side], until_s)
        if flex_name not in w.columns or abd_name not in w.columns or len(w) == 0:
            self._cars_scan_s[side] = until_s
            return
        flexion, abduction = w.columns[flex_name], w.columns[abd_name]
        moving = np.hypot(flexion, abduction) > CARS_NEUTRAL_DEG
        n = len(w)
        if moving[-1]:  # an excursion under way: rescan it from its first frame next time
            n = len(moving) - int(np.argmin(moving[::-1])) if not moving.all() else 0
        settled_s = float(w.time_s[n]) if n < len(w) else until_s
        if until_s - settled_s > self.max_s:  # e.g. sitting: give the excursion up
            settled_s = until_s
        self._cars_scan_s[side] = settled_s
        loops = self._cars_loops[side]
        loops.extend(cars_loops(w.time_s[:n], flexion[:n], abduction[:n]))
        if not loops:
            return
        before = self._cars_before_s[side]
        before_s = self._lo_s if before is None else before
        groups = cars_groups(loops)
        # Every group but the last is closed by the loop after it; the last one once no
        # excursion that started within the pause after its last loop can still be a loop.
        done, hi_s, note = len(groups) - 1, np.inf, None
        if settled_s > groups[-1][-1][1] + CARS_MAX_PAUSE_S + 1e-3:
            done = len(groups)
        elif until_s - groups[-1][0][0] > self.max_s:
            done, hi_s, note = len(groups), until_s, self._capped("CARs")
        after_s = groups[done][0][0] if done < len(groups) else np.inf
        segments = cars_segments(groups[:done], side, (self._lo_s, hi_s), before_s, after_s)
        for k, seg in enumerate(segments):
            if seg is not None:
                out.append(DetectionEvent("final", seg, note if k == done - 1 else None))
        last = groups[-1]
        if done < len(groups) and len(last) >= CARS_MIN_REPS:
            prev_s = groups[-2][-1][1] if len(groups) > 1 else before_s
            (seg,) = cars_segments([last], side, (self._lo_s, np.inf), prev_s, np.inf)
            assert seg is not None
            live = Segment(seg.start_s, round(until_s, 3), "cars", side, SOURCE)
            self._announce(out, live, last[0][0])
        if done:
            self._cars_before_s[side] = groups[done - 1][-1][1]
            del loops[: sum(len(g) for g in groups[:done])]

    def _update_walking(
        self, angles: AngleBlock, until_s: float, out: list[DetectionEvent]
    ) -> None:
        assert self._lo_s is not None
        known_s = until_s - WALK_CONTEXT_S
        if known_s <= self._walk_known_s:
            return
        # Steps from the previous known time on, decided by frames within WALK_CONTEXT_S.
        w = slice_block(angles, self._walk_known_s - WALK_CONTEXT_S, until_s)
        self._steps.extend(
            s for s in walk_steps(w, self.config) if self._walk_known_s <= s[0] < known_s
        )
        self._walk_known_s = known_s
        steps = self._steps
        bouts = walk_bouts(steps)
        span = (self._lo_s, np.inf)
        keep = int(np.searchsorted([s[0] for s in steps], known_s - WALK_MAX_STEP_S))
        for i, j in bouts:
            times = [s[0] for s in steps[i : j + 1]]
            complete = j < len(steps) - 1 or known_s > times[-1] + WALK_MAX_STEP_S
            long = len(times) >= WALK_MIN_STEPS
            if complete:
                if long:
                    out.append(DetectionEvent("final", walk_segment(times, span)))
                keep = max(keep, j + 1)
            elif long and until_s - times[0] > self.max_s:
                seg = walk_segment(times, span)
                out.append(DetectionEvent("final", seg, self._capped("walking")))
                keep = max(keep, j + 1)
            else:
                keep = min(keep, i)
                if long:
                    seg = walk_segment(times, span)
                    live = Segment(seg.start_s, round(until_s, 3), seg.exercise, None, SOURCE)
                    self._announce(out, live, times[0])
        del steps[:keep]
