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
prominence window), so :class:`hipsense.exercises.live_detect.SegmentDetector` finds, with
the functions below, the same segments incrementally, on bounded windows, as
:func:`detect_segments` does on a whole session.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
from scipy.signal import find_peaks

from hipsense.exercises.gait import MIN_STEP_INTERVAL_S
from hipsense.exercises.intervals import (
    hysteresis_intervals,
    intervals,
    sample_period_s,
    smooth,
)
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.segments import Segment
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
SOURCE = "detected"

Loop = tuple[float, float, float]  # (start_s, end_s, signed area deg^2)
Step = tuple[float, int]  # (time_s, 0 left / 1 right)
IntArray = npt.NDArray[np.intp]


def _flexion_columns(angles: AngleBlock) -> list[str]:
    return [hip_columns(s)[0] for s in ("left", "right") if hip_columns(s)[0] in angles.columns]


# --- sitting ---------------------------------------------------------------------------------


def sitting_signal(angles: AngleBlock) -> FloatArray | None:
    """The less flexed hip (deg), NaN where the pelvis is not upright; None without two hips.

    The sitting rule's input: a bout is a hysteresis run of this signal (:func:`sitting_levels`).
    """
    names = _flexion_columns(angles)
    if len(names) < 2:
        return None
    least: FloatArray = np.min([angles.columns[c] for c in names], axis=0)
    tilt = angles.columns.get("pelvic_tilt_deg")
    if tilt is not None:
        least = np.where(np.abs(tilt) <= SITTING_MAX_TILT_DEG, least, np.nan)
    return least


def sitting_levels(config: AnalysisConfig) -> tuple[float, float]:
    """The hysteresis levels (deg) of a sitting bout: ``(enter, leave)``."""
    return config.sitting_flexion_deg, config.sitting_flexion_deg - config.sitting_hysteresis_deg


def sitting_segment(a: float, b: float, config: AnalysisConfig) -> Segment | None:
    """A sitting bout (as :func:`~hipsense.exercises.sitting.sitting_bouts`) long enough."""
    if b - a >= config.sitting_min_bout_s - 1e-9 and b - a >= SITTING_MIN_S:
        return Segment(a, b, "sitting", None, SOURCE)
    return None


def detect_sitting(angles: AngleBlock, config: AnalysisConfig) -> list[Segment]:
    """Sitting bouts with the pelvis upright, as ``sitting`` segments (both hips needed)."""
    least = sitting_signal(angles)
    if least is None or len(angles) == 0:
        return []
    runs = hysteresis_intervals(angles.time_s, least, *sitting_levels(config))
    return [s for a, b in runs if (s := sitting_segment(a, b, config)) is not None]


# --- CARs ------------------------------------------------------------------------------------


def cars_loops(time_s: FloatArray, flexion: FloatArray, abduction: FloatArray) -> list[Loop]:
    """Qualifying CARs loops of one side: ``(start_s, end_s, signed area deg^2)``.

    Each excursion of the knee from neutral (flexion/abduction in deg) is judged on its own:
    an excursion still under way at the last frame is judged on the frames so far.
    """
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


def cars_groups(loops: list[Loop]) -> list[list[Loop]]:
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


def cars_segments(
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


def cars_to_end(
    loops: list[Loop], side: str, span_s: tuple[float, float], before_s: float
) -> list[Segment]:
    """The segments of every run of ``loops``, the last one closed by the session end.

    ``span_s`` and ``before_s`` as in :func:`cars_segments` (``span_s[1]`` is the session end).
    """
    groups = cars_groups(loops)
    return [s for s in cars_segments(groups, side, span_s, before_s, span_s[1]) if s is not None]


def detect_cars(angles: AngleBlock) -> list[Segment]:
    """Runs of same-direction knee circles of one side, as one-sided ``cars`` segments."""
    t = angles.time_s
    if len(t) == 0:
        return []
    lo, hi = float(t[0]), float(t[-1]) + sample_period_s(t)
    out: list[Segment] = []
    for side in ("left", "right"):
        flex_name, abd_name, _ = hip_columns(side)
        if flex_name in angles.columns and abd_name in angles.columns:
            loops = cars_loops(t, angles.columns[flex_name], angles.columns[abd_name])
            out.extend(cars_to_end(loops, side, (lo, hi), lo))
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


def walk_steps(angles: AngleBlock, config: AnalysisConfig) -> list[Step]:
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


def walk_bouts(steps: list[Step]) -> list[tuple[int, int]]:
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


def walk_segment(times: list[float], span_s: tuple[float, float]) -> Segment:
    """A bout's segment from its step times (s), within ``span_s`` (first frame, session end)."""
    # One step interval of margin: the first and last peaks keep their prominence.
    pad = float(np.median(np.diff(times)))
    start, end = max(span_s[0], times[0] - pad), min(span_s[1], times[-1] + pad)
    return Segment(round(start, 3), round(end, 3), "reverse_walking", None, SOURCE)


def detect_walking(angles: AngleBlock, config: AnalysisConfig) -> list[Segment]:
    """Bouts of alternating left/right steps, as ``reverse_walking`` segments."""
    t = angles.time_s
    steps = walk_steps(angles, config)
    if not steps:
        return []
    return walk_segments(steps, (float(t[0]), float(t[-1]) + sample_period_s(t)))


def walk_segments(steps: list[Step], span_s: tuple[float, float]) -> list[Segment]:
    """The segments of the bouts of at least :data:`WALK_MIN_STEPS` among ``steps``."""
    return [
        walk_segment([s[0] for s in steps[i : j + 1]], span_s)
        for i, j in walk_bouts(steps)
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
