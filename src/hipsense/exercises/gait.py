"""Reverse walking: steps, cadence, per-step peak hip extension, left/right asymmetry.

Each step of a leg shows as one peak of its hip extension (a local minimum of flexion with a
prominence of at least ``step_prominence_deg``). Cadence counts both legs' steps over the
time between the first and last. The asymmetry index is ``100 (L - R) / (0.5 (L + R))`` of the
mean peak extension (the symmetry index as used by Herzog et al. 1989; 0 = symmetric).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

from hipsense.exercises.intervals import sample_period_s, smooth
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.schema import GaitResult
from hipsense.types import AngleBlock, hip_columns

MIN_STEP_INTERVAL_S = 0.4


def analyze_gait(angles: AngleBlock, config: AnalysisConfig | None = None) -> GaitResult:
    """Steps of a (reverse) walking segment from the hip extension peaks of each leg."""
    config = config or AnalysisConfig()
    t = angles.time_s
    times: dict[str, list[float]] = {}
    peaks: dict[str, list[float]] = {}
    distance = max(1, round(MIN_STEP_INTERVAL_S / sample_period_s(t)))
    for side in ("left", "right"):
        name = hip_columns(side)[0]
        if name not in angles.columns:
            continue
        ext = smooth(-angles.columns[name], t, 0.1)
        idx, _ = find_peaks(ext, prominence=config.step_prominence_deg, distance=distance)
        times[side] = [float(t[k]) for k in idx]
        peaks[side] = [float(ext[k]) for k in idx]
    all_times = sorted(x for v in times.values() for x in v)
    cadence = None
    if len(all_times) >= 2 and all_times[-1] > all_times[0]:
        cadence = 60.0 * (len(all_times) - 1) / (all_times[-1] - all_times[0])
    means: dict[str, float | None] = {
        s: (float(np.mean(v)) if v else None) for s, v in peaks.items()
    }
    left, right = means.get("left"), means.get("right")
    asym = None
    if left is not None and right is not None and abs(left + right) > 1e-9:
        asym = 100.0 * (left - right) / (0.5 * (left + right))
    return GaitResult(
        start_s=float(t[0]) if len(t) else 0.0,
        end_s=float(t[-1]) if len(t) else 0.0,
        steps=len(all_times),
        steps_left=len(times.get("left", [])),
        steps_right=len(times.get("right", [])),
        cadence_steps_min=cadence,
        step_times_s=times,
        peak_extension_deg=peaks,
        mean_peak_extension_deg=means,
        asymmetry_index_pct=asym,
    )
