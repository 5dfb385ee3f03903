"""Hip CARs (controlled articular rotations): per repetition excursions, area, pace, smoothness.

Repetitions are split where the knee passes through its neutral point (the flexion-abduction
distance from the segment's start pose is small); a repetition is the loop between two
passes. Per repetition: range of flexion, abduction and rotation, the area traced in the
flexion-abduction plane (shoelace formula; its sign gives the direction), SPARC of the angular
speed, and the pelvic motion as compensation.
"""

from __future__ import annotations

import numpy as np

from hipsense.exercises.intervals import intervals, sample_period_s
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import column, reference
from hipsense.exercises.schema import CarsRep, CarsResult
from hipsense.exercises.smoothness import sparc
from hipsense.types import PELVIS_COLUMNS, AngleBlock, FloatArray, hip_columns

NEUTRAL_FRACTION = 0.15  # "at neutral" below 15 % of the largest excursion
LOOP_FRACTION = 0.5  # a repetition reaches at least 50 % of the largest excursion


def rep_boundaries_s(time_s: FloatArray, radius_deg: FloatArray) -> list[float]:
    """Times the knee passes its neutral point (centres of the low-radius runs).

    A run touching the segment's start or end is centred by assuming it is as long as the
    median interior run.
    """
    if len(time_s) < 3:
        return []
    peak = float(np.max(radius_deg))
    runs = intervals(time_s, radius_deg < NEUTRAL_FRACTION * peak)
    if not runs:
        return []
    interior = [b - a for a, b in runs if a > time_s[0] and b < time_s[-1]]
    width = float(np.median(interior)) if interior else 0.0
    t0, t1 = float(time_s[0]), float(time_s[-1]) + sample_period_s(time_s)
    out: list[float] = []
    for a, b in runs:
        if a <= t0 + 1e-9 and b >= t1 - 1e-9:
            continue
        if a <= t0 + 1e-9:
            out.append(max(t0, b - 0.5 * width))
        elif b >= t1 - 1e-9:
            out.append(min(t1, a + 0.5 * width))
        else:
            out.append(0.5 * (a + b))
    return out


def analyze_cars(angles: AngleBlock, side: str, config: AnalysisConfig | None = None) -> CarsResult:
    """Repetitions of hip CARs in one segment of one side.

    Examples
    --------
    >>> res = analyze_cars(segment_angles, "left")  # doctest: +SKIP
    >>> res.pace_s_per_rep, [r["area_deg2"] for r in res.reps]  # doctest: +SKIP
    """
    config = config or AnalysisConfig()
    t = angles.time_s
    flex, abd, rot = (column(angles, c) for c in hip_columns(side))
    radius = np.hypot(flex - reference(t, flex), abd - reference(t, abd))
    bounds = rep_boundaries_s(t, radius)
    peak = float(np.max(radius)) if len(radius) else 0.0
    rate = 1.0 / sample_period_s(t)
    pelvis = [column(angles, c) for c in PELVIS_COLUMNS]
    reps: list[CarsRep] = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        i, j = np.searchsorted(t, (a, b))
        if j - i < 5 or np.max(radius[i:j]) < LOOP_FRACTION * peak:
            continue
        f, ab, r = flex[i:j], abd[i:j], rot[i:j]
        signed = 0.5 * float(np.sum(f * np.roll(ab, -1) - np.roll(f, -1) * ab))
        speed = np.sqrt(
            np.gradient(f, t[i:j]) ** 2 + np.gradient(ab, t[i:j]) ** 2 + np.gradient(r, t[i:j]) ** 2
        )
        ranges = [float(np.ptp(p[i:j])) for p in pelvis]
        reps.append(
            CarsRep(
                start_s=a,
                end_s=b,
                duration_s=b - a,
                direction="counterclockwise" if signed > 0 else "clockwise",
                flexion_range_deg=float(np.ptp(f)),
                abduction_range_deg=float(np.ptp(ab)),
                rotation_range_deg=float(np.ptp(r)),
                area_deg2=abs(signed),
                sparc=sparc(speed, rate),
                pelvic_tilt_range_deg=ranges[0],
                pelvic_obliquity_range_deg=ranges[1],
                pelvic_rotation_range_deg=ranges[2],
                compensated=max(ranges) > config.cars_pelvis_limit_deg,
            )
        )
    return CarsResult(
        side=side,
        start_s=float(t[0]) if len(t) else 0.0,
        end_s=float(t[-1]) if len(t) else 0.0,
        reps=[r.to_dict() for r in reps],
        pace_s_per_rep=float(np.mean([r.duration_s for r in reps])) if reps else None,
        mean_area_deg2=float(np.mean([r.area_deg2 for r in reps])) if reps else None,
        mean_sparc=float(np.mean([r.sparc for r in reps])) if reps else None,
    )
