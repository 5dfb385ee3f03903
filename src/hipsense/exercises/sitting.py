"""Sitting exposure: time, and the longest bout, with the hips flexed beyond a threshold.

Both instrumented hips must be flexed beyond ``sitting_flexion_deg`` (default 60 deg), so a
knee lift of one leg does not count as sitting. A bout starts when the less flexed hip
passes ``sitting_flexion_deg`` and ends when it falls below ``sitting_flexion_deg -
sitting_hysteresis_deg``: a posture held near the threshold (sensor error of about a degree
at high flexion) neither flickers nor moves the end of a bout by the time spent there.
Crossing instants are interpolated between frames. Bouts shorter than
``sitting_min_bout_s`` are transient bends (hip hinge, knee lift, picking something up), not
sitting, and are dropped.
"""

from __future__ import annotations

import numpy as np

from hipsense.exercises.intervals import hysteresis_intervals
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.schema import SittingResult
from hipsense.types import AngleBlock, FloatArray, hip_columns


def sitting_bouts(
    time_s: FloatArray, flexion_deg: list[FloatArray], config: AnalysisConfig
) -> list[tuple[float, float]]:
    """Sitting bouts ``(start_s, end_s)`` from the flexion (deg) of every instrumented hip."""
    if not flexion_deg or len(time_s) == 0:
        return []
    least = np.min(flexion_deg, axis=0)
    enter = config.sitting_flexion_deg
    runs = hysteresis_intervals(time_s, least, enter, enter - config.sitting_hysteresis_deg)
    return [(a, b) for a, b in runs if b - a >= config.sitting_min_bout_s - 1e-9]


def analyze_sitting(angles: AngleBlock, config: AnalysisConfig | None = None) -> SittingResult:
    """Sitting exposure over ``angles`` (a marked segment or a whole session)."""
    config = config or AnalysisConfig()
    t = angles.time_s
    names = [hip_columns(s)[0] for s in ("left", "right")]
    flex = [angles.columns[c] for c in names if c in angles.columns]
    if not flex or len(t) == 0:
        return SittingResult(0.0, 0.0, config.sitting_flexion_deg, 0.0, 0.0, [])
    bouts = sitting_bouts(t, flex, config)
    return SittingResult(
        start_s=float(t[0]),
        end_s=float(t[-1]),
        threshold_deg=config.sitting_flexion_deg,
        flexed_s=float(sum(b - a for a, b in bouts)),
        longest_bout_s=max((b - a for a, b in bouts), default=0.0),
        bouts=bouts,
    )
