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
  :mod:`hipsense.exercises.gait`) that alternate left/right at step intervals of
  :data:`WALK_MIN_STEP_S`-:data:`WALK_MAX_STEP_S`. Angles alone do not tell walking
  backwards from forwards; walking is labelled ``reverse_walking`` because that is the
  exercise hipsense knows. Mark the segment when it matters.

Holds, active/passive ranges, the Thomas test and the bridge are never detected: what the
user intended there (which position, which phase) is not in the angles.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

from hipsense.exercises.gait import MIN_STEP_INTERVAL_S
from hipsense.exercises.intervals import intervals, sample_period_s, smooth
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.segments import Segment
from hipsense.exercises.sitting import sitting_bouts
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
SOURCE = "detected"


def _flexion_columns(angles: AngleBlock) -> list[str]:
    return [hip_columns(s)[0] for s in ("left", "right") if hip_columns(s)[0] in angles.columns]


def detect_sitting(angles: AngleBlock, config: AnalysisConfig) -> list[Segment]:
    """Sitting bouts with the pelvis upright, as ``sitting`` segments (both hips needed)."""
    names = _flexion_columns(angles)
    if len(names) < 2 or len(angles) == 0:
        return []
    least = np.min([angles.columns[c] for c in names], axis=0)
    tilt = angles.columns.get("pelvic_tilt_deg")
    if tilt is not None:
        least = np.where(np.abs(tilt) <= SITTING_MAX_TILT_DEG, least, np.nan)
    return [
        Segment(a, b, "sitting", None, SOURCE)
        for a, b in sitting_bouts(angles.time_s, [least], config)
        if b - a >= SITTING_MIN_S
    ]


def _loops(
    time_s: FloatArray, flexion: FloatArray, abduction: FloatArray
) -> list[tuple[float, float, float]]:
    """Qualifying CARs loops of one side: ``(start_s, end_s, signed area deg^2)``."""
    radius = np.hypot(flexion, abduction)
    out: list[tuple[float, float, float]] = []
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
        loops = _loops(t, angles.columns[flex_name], angles.columns[abd_name])
        groups: list[list[tuple[float, float, float]]] = []
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
        ends = [lo, *(b for _, b, _ in loops)]
        starts = [*(a for a, _, _ in loops), hi]
        k = 0
        for g in groups:
            # Pad into the neutral pose, at most halfway to a neighbouring loop.
            before, after = ends[k], starts[k + len(g)]
            k += len(g)
            if len(g) >= CARS_MIN_REPS:
                start = max(lo, g[0][0] - CARS_PAD_S, 0.5 * (before + g[0][0]))
                end = min(hi, g[-1][1] + CARS_PAD_S, 0.5 * (g[-1][1] + after))
                out.append(Segment(round(start, 3), round(end, 3), "cars", side, SOURCE))
    return out


def detect_walking(angles: AngleBlock, config: AnalysisConfig) -> list[Segment]:
    """Bouts of alternating left/right steps, as ``reverse_walking`` segments."""
    t = angles.time_s
    names = _flexion_columns(angles)
    if len(names) < 2 or len(t) < 3:
        return []
    distance = max(1, round(MIN_STEP_INTERVAL_S / sample_period_s(t)))
    steps: list[tuple[float, int]] = []
    for k, name in enumerate(names):
        ext = smooth(-np.nan_to_num(angles.columns[name]), t, 0.1)
        idx, _ = find_peaks(ext, prominence=config.step_prominence_deg, distance=distance)
        steps.extend((float(t[i]), k) for i in idx)
    steps.sort()
    bouts: list[list[float]] = []
    for (t0, s0), (t1, s1) in zip(steps[:-1], steps[1:], strict=True):
        linked = s0 != s1 and WALK_MIN_STEP_S <= t1 - t0 <= WALK_MAX_STEP_S
        if not linked:
            continue
        if bouts and bouts[-1][-1] == t0:
            bouts[-1].append(t1)
        else:
            bouts.append([t0, t1])
    lo, hi = float(t[0]), float(t[-1]) + sample_period_s(t)
    out: list[Segment] = []
    for times in bouts:
        if len(times) < WALK_MIN_STEPS:
            continue
        # One step interval of margin: the first and last peaks keep their prominence.
        pad = float(np.median(np.diff(times)))
        start, end = max(lo, times[0] - pad), min(hi, times[-1] + pad)
        out.append(Segment(round(start, 3), round(end, 3), "reverse_walking", None, SOURCE))
    return out


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


def add_detected(marked: list[Segment], detected: list[Segment]) -> list[Segment]:
    """Marked segments plus the detected ones that overlap no marked segment (marks win)."""
    free = [
        d for d in detected if not any(d.start_s < m.end_s and m.start_s < d.end_s for m in marked)
    ]
    return sorted([*marked, *free], key=lambda s: (s.start_s, s.end_s))
