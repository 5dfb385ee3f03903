"""Modified Thomas test: the tested thigh hangs off the table edge, the other knee is hugged.

Reported on the settled part of the segment (after the thigh last moved faster than
``SETTLE_SPEED_DEG_S``): the thigh angle to the horizontal (below horizontal positive, as the
clinical test reads it), the true hip extension relative to the pelvis (what the sensors can
give beyond an inclinometer), thigh abduction and its drift, and the pelvic tilt. The test is
valid only when the pelvis is held in posterior tilt (Vigotsky et al. 2016): tilt at or below
``thomas_posterior_tilt_deg`` and not changing by more than the compensation limit.

The knee angle (rectus femoris length) needs a shank sensor, which hipsense does not have.
"""

from __future__ import annotations

import numpy as np

from hipsense.exercises.intervals import sample_period_s
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import TILT, column
from hipsense.exercises.schema import ThomasResult
from hipsense.types import AngleBlock, FloatArray, hip_columns, thigh_inclination_column

SETTLE_SPEED_DEG_S = 5.0
MIN_SETTLED_S = 1.0
KNEE_NOTE = "knee angle not measured: it needs a shank sensor"


def wrap_deg(x: FloatArray) -> FloatArray:
    """Angles wrapped to [-180, 180)."""
    return (np.asarray(x) + 180.0) % 360.0 - 180.0


def settled_start(time_s: FloatArray, values: FloatArray) -> int | None:
    """Index after the last sample moving faster than ``SETTLE_SPEED_DEG_S`` (None: too short)."""
    if len(time_s) < 3:
        return None
    speed = np.abs(np.gradient(np.unwrap(np.deg2rad(values)), time_s)) * (180.0 / np.pi)
    fast = np.flatnonzero(speed > SETTLE_SPEED_DEG_S)
    i = int(fast[-1]) + 1 if len(fast) else 0
    if (len(time_s) - i) * sample_period_s(time_s) < MIN_SETTLED_S:
        return None
    return i


def analyze_thomas(
    angles: AngleBlock, side: str, config: AnalysisConfig | None = None
) -> ThomasResult:
    """Modified Thomas test of one side (``angles`` sliced to its marked window)."""
    config = config or AnalysisConfig()
    t = angles.time_s
    incl = column(angles, thigh_inclination_column(side))
    i = settled_start(t, incl)
    t0 = float(t[0]) if len(t) else 0.0
    t1 = float(t[-1]) if len(t) else 0.0
    if i is None:
        return ThomasResult(
            side,
            t0,
            t1,
            None,
            None,
            None,
            None,
            None,
            None,
            False,
            f"the thigh never rested for {MIN_SETTLED_S:g} s; {KNEE_NOTE}",
        )
    below = float(np.median(wrap_deg(90.0 - incl[i:])))
    flex, abd, _ = (column(angles, c) for c in hip_columns(side))
    tilt = column(angles, TILT)[i:]
    n_edge = max(1, round(0.5 / sample_period_s(t)))
    drift = float(np.median(abd[i:][-n_edge:]) - np.median(abd[i : i + n_edge]))
    tilt_med = float(np.median(tilt))
    tilt_change = float(np.max(np.abs(tilt - tilt[0])))
    posterior = tilt_med <= config.thomas_posterior_tilt_deg
    steady = tilt_change <= config.compensation_limit_deg
    valid = posterior and steady
    if valid:
        note = f"pelvis held in posterior tilt; {KNEE_NOTE}"
    elif not posterior:
        note = (
            f"invalid: pelvic tilt {tilt_med:.0f} deg is not posterior enough (needs <= "
            f"{config.thomas_posterior_tilt_deg:g}); hug the other knee closer; {KNEE_NOTE}"
        )
    else:
        note = f"invalid: the pelvis moved {tilt_change:.1f} deg during the test; {KNEE_NOTE}"
    return ThomasResult(
        side=side,
        start_s=t0,
        end_s=t1,
        thigh_below_horizontal_deg=below,
        hip_extension_deg=float(np.median(-flex[i:])),
        abduction_deg=float(np.median(abd[i:])),
        abduction_drift_deg=drift,
        pelvic_tilt_deg=tilt_med,
        pelvic_tilt_change_deg=tilt_change,
        valid=valid,
        note=note,
    )
