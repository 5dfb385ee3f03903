"""Segments found automatically where the movement is unambiguous: never a replacement for marks.

Three movements are recognised from the calibrated angles alone:

- **sitting**: a sitting bout (:func:`hipsense.exercises.sitting.sitting_bouts`: both hips
  flexed beyond ``sitting_flexion_deg``, hysteresis, at least ``sitting_min_bout_s``) while
  the pelvis is upright (tilt within :data:`SITTING_MAX_TILT_DEG`), so lying with the hips
  bent (supine hook lying, a bridge's start) is not sitting, lasting at least
  :data:`SITTING_MIN_S` (shorter sits are transitions; they still count in the session's
  sitting exposure);
- **cars**: at least :data:`CARS_MIN_REPS` consecutive loops of one knee through a large
  circle in the flexion-abduction plane (each an excursion from the neutral pose of at least
  :data:`CARS_MIN_FLEXION_DEG` flexion and :data:`CARS_MIN_ABDUCTION_DEG` abduction that
  encloses an area of at least :data:`CARS_MIN_FILL` of its bounding box: circles, not
  swings or knee lifts), all in the same direction;
- **reverse_walking**: at least :data:`WALK_MIN_STEPS` steps (hip extension peaks as in
  :mod:`hipsense.exercises.gait`, with the prominence measured within
  :data:`WALK_PROMINENCE_WINDOW_S` and the highest peak kept within ``MIN_STEP_INTERVAL_S``)
  that alternate left/right at step intervals of :data:`WALK_MIN_STEP_S`-
  :data:`WALK_MAX_STEP_S`. Angles alone do not tell walking backwards from forwards; walking
  is labelled ``reverse_walking`` because that is the exercise hipsense knows. Mark the
  segment when it matters.

Holds, active/passive ranges, the Thomas test and the bridge are never detected: what the
user intended there (which position, which phase) is not in the angles.

Every rule is local in time (a hysteresis state, excursions from neutral, peaks with a bounded
prominence window), so :class:`SegmentDetector` finds the same segments incrementally, on
bounded windows, as :func:`detect_segments` does on a whole session.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.signal import find_peaks

from hipsense.exercises.gait import MIN_STEP_INTERVAL_S
from hipsense.exercises.intervals import (
    hysteresis_intervals,
    hysteresis_state,
    intervals,
    sample_period_s,
    smooth,
)
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.segments import Segment, slice_block
from hipsense.types import AngleBlock, FloatArray, hip_columns

SITTING_MAX_TILT_DEG = 45.0  # pelvis further from upright: lying, not sitting
SITTING_MIN_S = 5.0  # shorter sits are transitions (onto a table, down to the floor)
CARS_NEUTRAL_DEG = 5.0  # knee within this (flexion-abduction distance) of neutral
CARS_MIN_FLEXION_DEG = 45.0
CARS_MIN_ABDUCTION_DEG = 15.0
CARS_MIN_FILL = 0.25  # loop area / bounding-box area (an ellipse fills 0.79, a swing 0)
CARS_MIN_REPS = 2
CARS_MAX_PAUSE_S = 2.0  # a longer stay at neutral ends a CARs segment
CARS_PAD_S = 1.0  # neutral time kept around the loops (the analysis splits reps there)
WALK_MIN_STEPS = 6
WALK_MIN_STEP_S = 0.25
WALK_MAX_STEP_S = 1.5
WALK_PROMINENCE_WINDOW_S = 3.0  # a step's prominence is measured within +-1.5 s (two steps)
WALK_SMOOTH_S = 0.1
# Frames either side of a step that decide it: the neighbour peaks within the step interval,
# their prominence windows and the smoothing (with a margin of a few frames).
WALK_CONTEXT_S = MIN_STEP_INTERVAL_S + 0.5 * WALK_PROMINENCE_WINDOW_S + WALK_SMOOTH_S + 0.15
DETECT_MAX_S = 600.0  # live: a movement still under way after this long is reported in parts
SOURCE = "detected"

Loop = tuple[float, float, float]  # (start_s, end_s, signed area deg^2)
Step = tuple[float, int]  # (time_s, 0 left / 1 right)
IntArray = npt.NDArray[np.intp]


def _flexion_columns(angles: AngleBlock) -> list[str]:
    return [hip_columns(s)[0] for s in ("left", "right") if hip_columns(s)[0] in angles.columns]


# --- sitting ---------------------------------------------------------------------------------


def _sitting_signal(angles: AngleBlock) -> FloatArray | None:
    """The less flexed hip (deg), NaN where the pelvis is not upright; None without two hips."""
    names = _flexion_columns(angles)
    if len(names) < 2:
        return None
    least: FloatArray = np.min([angles.columns[c] for c in names], axis=0)
    tilt = angles.columns.get("pelvic_tilt_deg")
    if tilt is not None:
        least = np.where(np.abs(tilt) <= SITTING_MAX_TILT_DEG, least, np.nan)
    return least


def _sitting_levels(config: AnalysisConfig) -> tuple[float, float]:
    return config.sitting_flexion_deg, config.sitting_flexion_deg - config.sitting_hysteresis_deg


def _sitting_segment(a: float, b: float, config: AnalysisConfig) -> Segment | None:
    """A sitting bout (as :func:`~hipsense.exercises.sitting.sitting_bouts`) long enough."""
    if b - a >= config.sitting_min_bout_s - 1e-9 and b - a >= SITTING_MIN_S:
        return Segment(a, b, "sitting", None, SOURCE)
    return None


def detect_sitting(angles: AngleBlock, config: AnalysisConfig) -> list[Segment]:
    """Sitting bouts with the pelvis upright, as ``sitting`` segments (both hips needed)."""
    least = _sitting_signal(angles)
    if least is None or len(angles) == 0:
        return []
    runs = hysteresis_intervals(angles.time_s, least, *_sitting_levels(config))
    return [s for a, b in runs if (s := _sitting_segment(a, b, config)) is not None]


# --- CARs ------------------------------------------------------------------------------------


def _loops(time_s: FloatArray, flexion: FloatArray, abduction: FloatArray) -> list[Loop]:
    """Qualifying CARs loops of one side: ``(start_s, end_s, signed area deg^2)``."""
    radius = np.hypot(flexion, abduction)
    out: list[Loop] = []
    for a, b in intervals(time_s, radius > CARS_NEUTRAL_DEG):
        i, j = np.searchsorted(time_s, (a, b - 1e-9))
        f, ab = flexion[i : j + 1], abduction[i : j + 1]
        if len(f) < 5 or not (np.all(np.isfinite(f)) and np.all(np.isfinite(ab))):
            continue
        span_f, span_a = float(np.ptp(f)), float(np.ptp(ab))
        if span_f < CARS_MIN_FLEXION_DEG or span_a < CARS_MIN_ABDUCTION_DEG:
            continue
        signed = 0.5 * float(np.sum(f * np.roll(ab, -1) - np.roll(f, -1) * ab))
        if abs(signed) >= CARS_MIN_FILL * span_f * span_a:
            out.append((a, b, signed))
    return out


def _cars_groups(loops: list[Loop]) -> list[list[Loop]]:
    """Consecutive same-direction loops with pauses of at most :data:`CARS_MAX_PAUSE_S`."""
    groups: list[list[Loop]] = []
    for loop in loops:
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and loop[0] - last[1] <= CARS_MAX_PAUSE_S
            and np.sign(loop[2]) == np.sign(last[2])
        ):
            groups[-1].append(loop)
        else:
            groups.append([loop])
    return groups


def _cars_segments(
    groups: list[list[Loop]],
    side: str,
    span_s: tuple[float, float],
    before_s: float,
    after_s: float,
) -> list[Segment | None]:
    """The segment of each group (None below :data:`CARS_MIN_REPS` loops).

    ``span_s`` is the session's ``(first frame, last frame + period)``; ``before_s`` the end
    of the loop before the first group (or the session start), ``after_s`` the start of the
    loop after the last group (or the session end).
    """
    lo, hi = span_s
    out: list[Segment | None] = []
    for k, g in enumerate(groups):
        if len(g) < CARS_MIN_REPS:
            out.append(None)
            continue
        # Pad into the neutral pose, at most halfway to a neighbouring loop.
        before = groups[k - 1][-1][1] if k else before_s
        after = groups[k + 1][0][0] if k + 1 < len(groups) else after_s
        start = max(lo, g[0][0] - CARS_PAD_S, 0.5 * (before + g[0][0]))
        end = min(hi, g[-1][1] + CARS_PAD_S, 0.5 * (g[-1][1] + after))
        out.append(Segment(round(start, 3), round(end, 3), "cars", side, SOURCE))
    return out


def detect_cars(angles: AngleBlock) -> list[Segment]:
    """Runs of same-direction knee circles of one side, as one-sided ``cars`` segments."""
    t = angles.time_s
    if len(t) == 0:
        return []
    lo, hi = float(t[0]), float(t[-1]) + sample_period_s(t)
    out: list[Segment] = []
    for side in ("left", "right"):
        flex_name, abd_name, _ = hip_columns(side)
        if flex_name not in angles.columns or abd_name not in angles.columns:
            continue
        groups = _cars_groups(_loops(t, angles.columns[flex_name], angles.columns[abd_name]))
        out.extend(s for s in _cars_segments(groups, side, (lo, hi), lo, hi) if s is not None)
    return out


# --- walking ---------------------------------------------------------------------------------


def _highest_within(idx: IntArray, height: FloatArray, distance: int) -> IntArray:
    """Peaks with no higher peak (ties: no earlier equal one) less than ``distance`` away."""
    keep = np.ones(len(idx), dtype=bool)
    for n in range(len(idx)):
        a = int(np.searchsorted(idx, idx[n] - distance + 1))
        b = int(np.searchsorted(idx, idx[n] + distance))
        rivals = height[a:b]
        order = np.arange(a, b)
        beaten = (rivals > height[n]) | ((rivals == height[n]) & (order < n))
        keep[n] = not beaten.any()
    return idx[keep]


def _steps(angles: AngleBlock, config: AnalysisConfig) -> list[Step]:
    """Hip extension peaks of both legs in time order: ``(time_s, 0 left / 1 right)``."""
    t = angles.time_s
    names = _flexion_columns(angles)
    if len(names) < 2 or len(t) < 3:
        return []
    dt = sample_period_s(t)
    distance = max(1, round(MIN_STEP_INTERVAL_S / dt))
    wlen = 2 * round(0.5 * WALK_PROMINENCE_WINDOW_S / dt) + 1
    steps: list[Step] = []
    for k, name in enumerate(names):
        ext = smooth(-np.nan_to_num(angles.columns[name]), t, WALK_SMOOTH_S)
        with warnings.catch_warnings():
            # A plateau wider than the window (exact data at rest, a NaN gap) has prominence
            # 0 there: dropped, as intended.
            warnings.filterwarnings("ignore", message="some peaks have a prominence of 0")
            idx, _ = find_peaks(ext, prominence=config.step_prominence_deg, wlen=wlen)
        steps.extend((float(t[i]), k) for i in _highest_within(idx, ext[idx], distance))
    steps.sort()
    return steps


def _walk_bouts(steps: list[Step]) -> list[tuple[int, int]]:
    """Runs of linked steps (other leg, 0.25-1.5 s later) as ``(first, last)`` indices."""
    bouts: list[tuple[int, int]] = []
    for i in range(len(steps) - 1):
        (t0, s0), (t1, s1) = steps[i], steps[i + 1]
        if not (s0 != s1 and WALK_MIN_STEP_S <= t1 - t0 <= WALK_MAX_STEP_S):
            continue
        if bouts and bouts[-1][1] == i:
            bouts[-1] = (bouts[-1][0], i + 1)
        else:
            bouts.append((i, i + 1))
    return bouts


def _walk_segment(times: list[float], span_s: tuple[float, float]) -> Segment:
    # One step interval of margin: the first and last peaks keep their prominence.
    pad = float(np.median(np.diff(times)))
    start, end = max(span_s[0], times[0] - pad), min(span_s[1], times[-1] + pad)
    return Segment(round(start, 3), round(end, 3), "reverse_walking", None, SOURCE)


def detect_walking(angles: AngleBlock, config: AnalysisConfig) -> list[Segment]:
    """Bouts of alternating left/right steps, as ``reverse_walking`` segments."""
    t = angles.time_s
    steps = _steps(angles, config)
    if not steps:
        return []
    span = (float(t[0]), float(t[-1]) + sample_period_s(t))
    return [
        _walk_segment([s[0] for s in steps[i : j + 1]], span)
        for i, j in _walk_bouts(steps)
        if j - i + 1 >= WALK_MIN_STEPS
    ]


def detect_segments(angles: AngleBlock, config: AnalysisConfig | None = None) -> list[Segment]:
    """Every detected segment of a session in time order (``source == "detected"``).

    Examples
    --------
    >>> [s.to_dict() for s in detect_segments(result.angles)]  # doctest: +SKIP
    [{'start_s': 33.9, 'end_s': 45.9, 'exercise': 'sitting', 'side': None,
      'source': 'detected'}, ...]
    """
    config = config or AnalysisConfig()
    found = [*detect_sitting(angles, config), *detect_cars(angles), *detect_walking(angles, config)]
    return sorted(found, key=lambda s: (s.start_s, s.end_s))


def overlaps(a: Segment, b: Segment) -> bool:
    """Whether two segments share time (touching ends do not)."""
    return a.start_s < b.end_s and b.start_s < a.end_s


def add_detected(marked: list[Segment], detected: list[Segment]) -> list[Segment]:
    """Marked segments plus the detected ones that overlap no marked segment (marks win)."""
    free = [d for d in detected if not any(overlaps(d, m) for m in marked)]
    return sorted([*marked, *free], key=lambda s: (s.start_s, s.end_s))


# --- live ------------------------------------------------------------------------------------


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
    """:func:`detect_segments` incrementally: each segment once, as soon as it is final.

    Feed it the session's frames with :meth:`update` at increasing times ``until_s``. A
    segment is reported when no later frame can change it, and it then equals the segment
    :func:`detect_segments` finds in the whole session (same frame timeline):

    - sitting: when the less flexed hip falls below the hysteresis level (the bout has ended);
    - cars: when no excursion from neutral that starts within :data:`CARS_MAX_PAUSE_S` after
      the last loop can still become a loop (which also fixes the end padding);
    - reverse_walking: when no step can follow within :data:`WALK_MAX_STEP_S` of the last
      one; a step is known :data:`WALK_CONTEXT_S` after it happened.

    Each detector rescans only the frames since its last settled point (a frame outside any
    sitting bout, a neutral knee, the steps already known), so the work per update is bounded
    by the movement under way. A movement under way for longer than ``max_s`` is reported as
    it stands (with a note) and its detector restarts: no window or retained frame spans more
    than about ``max_s``.

    Parameters
    ----------
    config : thresholds (sitting levels, step prominence).
    max_s : the cap (s) on a movement under way, :data:`DETECT_MAX_S` by default.

    Examples
    --------
    >>> detector = SegmentDetector()
    >>> events = detector.update(frames, until_s=12.0)  # doctest: +SKIP
    >>> buffer = slice_block(buffer, detector.keep_from_s, np.inf)  # doctest: +SKIP
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
        if len(frames) == 0:
            return []
        if self._lo_s is None:
            self._lo_s = float(frames.time_s[0])
        out: list[DetectionEvent] = []
        self._update_sitting(frames, until_s, out)
        for side in ("left", "right"):
            self._update_cars(frames, until_s, side, out)
        self._update_walking(frames, until_s, out)
        return out

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
        least = _sitting_signal(w)
        if least is None or len(w) == 0:
            self._sit_scan_s = until_s
            return
        enter, leave = _sitting_levels(self.config)
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
            seg = _sitting_segment(a, b, self.config)
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
        loops.extend(_loops(w.time_s[:n], flexion[:n], abduction[:n]))
        if not loops:
            return
        before = self._cars_before_s[side]
        before_s = self._lo_s if before is None else before
        groups = _cars_groups(loops)
        # Every group but the last is closed by the loop after it; the last one once no
        # excursion that started within the pause after its last loop can still be a loop.
        done, hi_s, note = len(groups) - 1, np.inf, None
        if settled_s > groups[-1][-1][1] + CARS_MAX_PAUSE_S + 1e-3:
            done = len(groups)
        elif until_s - groups[-1][0][0] > self.max_s:
            done, hi_s, note = len(groups), until_s, self._capped("CARs")
        after_s = groups[done][0][0] if done < len(groups) else np.inf
        segments = _cars_segments(groups[:done], side, (self._lo_s, hi_s), before_s, after_s)
        for k, seg in enumerate(segments):
            if seg is not None:
                out.append(DetectionEvent("final", seg, note if k == done - 1 else None))
        last = groups[-1]
        if done < len(groups) and len(last) >= CARS_MIN_REPS:
            prev_s = groups[-2][-1][1] if len(groups) > 1 else before_s
            (seg,) = _cars_segments([last], side, (self._lo_s, np.inf), prev_s, np.inf)
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
            s for s in _steps(w, self.config) if self._walk_known_s <= s[0] < known_s
        )
        self._walk_known_s = known_s
        steps = self._steps
        bouts = _walk_bouts(steps)
        span = (self._lo_s, np.inf)
        keep = int(np.searchsorted([s[0] for s in steps], known_s - WALK_MAX_STEP_S))
        for i, j in bouts:
            times = [s[0] for s in steps[i : j + 1]]
            complete = j < len(steps) - 1 or known_s > times[-1] + WALK_MAX_STEP_S
            long = len(times) >= WALK_MIN_STEPS
            if complete:
                if long:
                    out.append(DetectionEvent("final", _walk_segment(times, span)))
                keep = max(keep, j + 1)
            elif long and until_s - times[0] > self.max_s:
                seg = _walk_segment(times, span)
                out.append(DetectionEvent("final", seg, self._capped("walking")))
                keep = max(keep, j + 1)
            else:
                keep = min(keep, i)
                if long:
                    seg = _walk_segment(times, span)
                    live = Segment(seg.start_s, round(until_s, 3), seg.exercise, None, SOURCE)
                    self._announce(out, live, times[0])
        del steps[:keep]
