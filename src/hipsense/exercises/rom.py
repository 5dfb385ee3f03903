"""Active and passive hip extension ranges, pelvic compensation, and the active-passive gap.

A range counts only when it is *held* for ``hold_s`` (not a swing peak) while the pelvic tilt
stays within ``compensation_limit_deg`` of its value at the start of the position. Beside it
the apparent range (thigh inclination in the earth frame, the pelvis free to cheat) is
reported: anterior tilt makes the thigh look more extended than the hip is.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from hipsense.errors import InputFormatError
from hipsense.exercises.intervals import intervals, mask_duration_s, smooth, sustained_max
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.schema import GapResult, Interval, RangeResult
from hipsense.exercises.segments import ROM_EXERCISES
from hipsense.types import AngleBlock, FloatArray, hip_columns, thigh_inclination_column

TILT = "pelvic_tilt_deg"
REFERENCE_S = 0.3  # the tilt reference is the median over the first 0.3 s of a position


def column(angles: AngleBlock, name: str) -> FloatArray:
    """One angle column, or a clear error naming what is missing."""
    try:
        return angles.columns[name]
    except KeyError:
        raise InputFormatError(
            f"the angles have no column {name!r} (have {', '.join(angles.columns)}); "
            "is that side's thigh sensor present?"
        ) from None


def hip_extension_deg(angles: AngleBlock, side: str) -> FloatArray:
    """Hip extension as users read it: ``-flexion`` (degrees)."""
    return -column(angles, hip_columns(side)[0])


def reference(time_s: FloatArray, values: FloatArray, span_s: float = REFERENCE_S) -> float:
    """Median of ``values`` over the first ``span_s`` seconds."""
    if len(values) == 0:
        return float("nan")
    n = max(1, int(np.searchsorted(time_s, time_s[0] + span_s)))
    return float(np.median(values[:n]))


def compensation_mask(
    time_s: FloatArray, tilt_deg: FloatArray, reference_deg: float, limit_deg: float
) -> np.ndarray:
    """True where the pelvic tilt is more than ``limit_deg`` away from ``reference_deg``."""
    return np.asarray(np.abs(tilt_deg - reference_deg) > limit_deg)


def compensation_episodes(
    time_s: FloatArray, mask: np.ndarray, config: AnalysisConfig
) -> list[Interval]:
    """Episodes of pelvic compensation (blips shorter than ``min_episode_s`` dropped)."""
    return intervals(
        time_s, mask, min_duration_s=config.min_episode_s, merge_gap_s=config.min_episode_s
    )


def analyze_range(
    angles: AngleBlock,
    side: str,
    exercise: str = "active_extension",
    config: AnalysisConfig | None = None,
    exclude: list[Interval] | None = None,
) -> RangeResult:
    """Held hip extension of one active or passive segment (angles sliced to the segment).

    Parameters
    ----------
    angles : the segment's angles (hip, thigh inclination and pelvic tilt columns).
    side : ``"left"`` or ``"right"``.
    exercise : ``active_extension`` or ``passive_extension``.
    config : thresholds (``hold_s``, ``compensation_limit_deg``, ...).
    exclude : windows (s) that do not count, e.g. the PAILs/RAILs contractions inside a
        passive position (RAILs actively pull deeper: not a passive range).

    Returns
    -------
    RangeResult
        ``valid`` is False when no compensation-free held range exists.

    Examples
    --------
    >>> r = analyze_range(segment_angles, "left")  # doctest: +SKIP
    >>> r.extension_deg, r.apparent_extension_deg  # doctest: +SKIP
    """
    config = config or AnalysisConfig()
    t = angles.time_s
    if len(t) == 0:
        raise InputFormatError(f"{exercise} ({side}): the segment has no angle frames")
    tilt = column(angles, TILT)
    ext = smooth(hip_extension_deg(angles, side), t, config.smooth_s)
    apparent = smooth(-column(angles, thigh_inclination_column(side)), t, config.smooth_s)
    tilt_ref = reference(t, tilt)
    comp = compensation_mask(t, tilt, tilt_ref, config.compensation_limit_deg)
    counted = ~comp
    for a, b in exclude or []:
        counted &= (t < a) | (t >= b)
    held = sustained_max(t, ext, counted, config.hold_s)
    seen = sustained_max(t, apparent, np.ones(len(t), bool), config.hold_s)
    tilt_at = None
    if seen is not None:
        i, j = np.searchsorted(t, (seen[1], seen[1] + config.hold_s))
        tilt_at = float(np.median(tilt[i:j]) - tilt_ref)
    episodes = compensation_episodes(t, comp, config)
    note = ""
    if held is None:
        note = (
            f"no hip extension held {config.hold_s:g} s with the pelvis within "
            f"{config.compensation_limit_deg:g} deg of its start: the range does not count"
        )
    elif episodes:
        note = "the pelvis tilted beyond the limit at times; those moments were not counted"
    return RangeResult(
        exercise=exercise,
        mode=ROM_EXERCISES.get(exercise, "active"),
        side=side,
        start_s=float(t[0]),
        end_s=float(t[-1]),
        extension_deg=None if held is None else held[0],
        extension_at_s=None if held is None else held[1],
        apparent_extension_deg=None if seen is None else seen[0],
        pelvic_tilt_at_apparent_deg=tilt_at,
        compensation_s=mask_duration_s(t, comp),
        compensation_episodes=episodes,
        valid=held is not None,
        note=note,
    )


def best_range(results: list[RangeResult], side: str, mode: str) -> float | None:
    """Largest valid held extension of a side among results of one mode."""
    values = [
        r.extension_deg
        for r in results
        if r.side == side and r.mode == mode and r.extension_deg is not None
    ]
    return max(values) if values else None


def classify_gap(
    side: str, active_deg: float | None, passive_deg: float | None, config: AnalysisConfig
) -> GapResult:
    """Passive - active hip extension and its interpretation (:func:`interpret_gap`).

    - passive below ``passive_normal_min_deg``: the passive range itself is restricted
      (tissue or joint mobility): mobility work first;
    - passive normal but active short by more than ``gap_threshold_deg``: motor control
      (the range exists but the person cannot reach it under their own control);
    - otherwise within norms.
    """
    lo, gap_max = config.passive_normal_min_deg, config.gap_threshold_deg
    if active_deg is None or passive_deg is None:
        gap_deg = None
        cls = "incomplete"
    else:
        gap_deg = passive_deg - active_deg
        if passive_deg < lo:
            cls = "passive_restricted"
        elif gap_deg > gap_max:
            cls = "motor_control_deficit"
        else:
            cls = "within_norms"
    result = GapResult(side, active_deg, passive_deg, gap_deg, cls, "")
    result.interpretation = interpret_gap(result, config)
    return result


def shown_1dp(value: float) -> str:
    """``value`` with one decimal exactly as the dashboard shows it.

    The API sends angles rounded to 2 decimals and the page prints them with JavaScript's
    ``toFixed(1)``, which rounds the exact binary value's magnitude, a tie away from zero;
    Python's ``f"{x:.1f}"`` of the unrounded value can differ by 0.1 (9.0499 -> "9.0"
    against the card's "9.1"). Sentences format numbers with this, so they say what the cards
    show.
    """
    exact = Decimal(round(float(value), 2))  # the exact binary value, as toFixed sees it
    text = str(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return "0.0" if text == "-0.0" else text


def interpret_gap(gap: GapResult, config: AnalysisConfig) -> str:
    """The gap in plain sentences, with where its thresholds come from."""
    lo, gmax = config.passive_normal_min_deg, config.gap_threshold_deg
    cite = (
        f"(normal passive hip extension is about {lo:g}-20 deg: Norkin & White; Kendall et "
        f"al.; a gap counts beyond {gmax:g} deg, above the ~3 deg goniometer-inclinometer "
        "disagreement, Roach et al. 2013)"
    )
    if gap.classification == "incomplete":
        missing = [
            n for n, v in (("active", gap.active_deg), ("passive", gap.passive_deg)) if v is None
        ]
        return (
            f"Not measured yet: no counted {' and no counted '.join(missing)} rep for the "
            f"{gap.side} hip. Run the {' and '.join(missing)} trial with the pelvis steady."
        )
    assert gap.active_deg is not None and gap.passive_deg is not None and gap.gap_deg is not None
    a, p, g = (shown_1dp(v) for v in (gap.active_deg, gap.passive_deg, gap.gap_deg))
    if gap.classification == "passive_restricted":
        return (
            f"Passive extension {p} deg is below {lo:g} deg: the tissue or the joint limits "
            f"the range (active {a} deg). Mobility work (stretching, half-kneeling with a "
            f"posterior tilt) is the first step {cite}."
        )
    if gap.classification == "motor_control_deficit":
        return (
            f"Passive extension {p} deg is normal but active reaches only {a} deg, a "
            f"gap of {g} deg: the range exists but is not controlled. Train end-range "
            f"strength (PAILs/RAILs, hip CARs); more stretching will not close it {cite}."
        )
    return (
        f"Active {a} deg and passive {p} deg, gap {g} deg: within norms; the "
        f"person controls the range they have {cite}."
    )


def gaps(results: list[RangeResult], config: AnalysisConfig | None = None) -> list[GapResult]:
    """Gap per side that has any range result."""
    config = config or AnalysisConfig()
    sides = sorted({r.side for r in results})
    return [
        classify_gap(s, best_range(results, s, "active"), best_range(results, s, "passive"), config)
        for s in sides
    ]
