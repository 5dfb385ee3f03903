"""Hip lift / glute bridge: hip extension at the top, posterior tilt achieved and held.

Per repetition (one marked segment): the top is the largest hip extension (mean of both sides)
held for ``hold_s``; the hold time is the time within ``bridge_tolerance_deg`` of it; the
posterior tilt is the drop of the pelvic tilt from the segment's start (lying) to the top, and
``tilt_held_s`` the time it stays within the tolerance of that. Compliance: hold time over
``bridge_target_hold_s``, capped at 1.
"""

from __future__ import annotations

import numpy as np

from hipsense.exercises.intervals import mask_duration_s, smooth, sustained_max
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import TILT, column, reference
from hipsense.exercises.schema import BridgeResult
from hipsense.types import AngleBlock, hip_columns


def analyze_bridge(angles: AngleBlock, config: AnalysisConfig | None = None) -> BridgeResult:
    """One hip lift repetition (``angles`` sliced to its marked window)."""
    config = config or AnalysisConfig()
    t = angles.time_s
    sides = [s for s in ("left", "right") if hip_columns(s)[0] in angles.columns]
    ext = smooth(
        np.mean([-angles.columns[hip_columns(s)[0]] for s in sides], axis=0), t, config.smooth_s
    )
    tilt = column(angles, TILT)
    top = sustained_max(t, ext, np.ones(len(t), bool), config.hold_s)
    tol = config.bridge_tolerance_deg
    if top is None:
        return BridgeResult(
            float(t[0]), float(t[-1]), None, None, 0.0, 0.0, config.bridge_target_hold_s, 0.0
        )
    at_top = ext >= top[0] - tol
    i, j = np.searchsorted(t, (top[1], top[1] + config.hold_s))
    top_tilt = float(np.median(tilt[i:j]))
    posterior = reference(t, tilt) - top_tilt
    hold = mask_duration_s(t, at_top)
    return BridgeResult(
        start_s=float(t[0]),
        end_s=float(t[-1]),
        hip_extension_top_deg=top[0],
        posterior_tilt_deg=posterior,
        hold_s=hold,
        tilt_held_s=mask_duration_s(t, at_top & (np.abs(tilt - top_tilt) <= tol)),
        target_hold_s=config.bridge_target_hold_s,
        compliance=min(1.0, hold / config.bridge_target_hold_s),
    )
