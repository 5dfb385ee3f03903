"""Sitting exposure: time, and the longest bout, with the hips flexed beyond a threshold.

Both instrumented hips must be flexed beyond ``sitting_flexion_deg`` (default 60 deg), so a
knee lift of one leg does not count as sitting.
"""

from __future__ import annotations

import numpy as np

from hipsense.exercises.intervals import intervals, longest_run_s, mask_duration_s
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.schema import SittingResult
from hipsense.types import AngleBlock, hip_columns


def analyze_sitting(angles: AngleBlock, config: AnalysisConfig | None = None) -> SittingResult:
    """Sitting exposure over ``angles`` (a marked segment or a whole session)."""
    config = config or AnalysisConfig()
    t = angles.time_s
    names = [hip_columns(s)[0] for s in ("left", "right")]
    flex = [angles.columns[c] for c in names if c in angles.columns]
    if not flex or len(t) == 0:
        return SittingResult(0.0, 0.0, config.sitting_flexion_deg, 0.0, 0.0, [])
    flexed = np.min(flex, axis=0) > config.sitting_flexion_deg
    return SittingResult(
        start_s=float(t[0]),
        end_s=float(t[-1]),
        threshold_deg=config.sitting_flexion_deg,
        flexed_s=mask_duration_s(t, flexed),
        longest_bout_s=longest_run_s(t, flexed),
        bouts=intervals(t, flexed),
    )
