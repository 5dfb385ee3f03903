"""Sensor-to-segment calibration: static pose + functional movements.

The user stands still and upright (static pose), lifts each instrumented knee three times and
does two hip hinges. From that:

- the segment's superior axis (z) in sensor coordinates is the mean specific force of the
  static pose (every segment is upright, all angles are zero there);
- the segment's medio-lateral axis (y) is the principal axis of the gyroscope signal during
  the functional movements (knee lifts rotate the thighs about their y axes, hinges rotate
  the pelvis about its y axis), made orthogonal to z; its sign comes from the asymmetry of
  the movement: flexion of the thigh (rotation about -y) and anterior tilt of the pelvis
  (rotation about +y) are the larger excursions;
- x = y cross z (anterior);
- each sensor's fused earth frame is turned about the vertical so that every segment's
  heading is zero at the static pose (heading alignment in the earth frame, never a constant
  offset in a segment frame);
- each thigh sensor's position relative to the hip joint centre (:mod:`.lever_arm`) and its
  gyroscope's response to rotation about the knee-lift axis (scale and axis errors,
  :mod:`.gyro_axis`), which the pipeline then corrects before fusion.

The result carries quality figures, and :class:`CalibrationError` says which movement is
missing or poor and why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hipsense.body.frames import (
    heading_rad,
    matrix_to_quat,
    qconj,
    qmul,
    rot_z,
)
from hipsense.body.gyro_axis import estimate_gyro_axis_correction
from hipsense.body.lever_arm import LEVER_ARM_MAX_M, estimate_lever_arm
from hipsense.errors import CalibrationError
from hipsense.types import SIDES, AlignedBlock, FloatArray, index_runs

GRAVITY_M_S2 = 9.81
# Thresholds for a usable calibration; each failure message names the movement.
STATIC_MIN_S = 1.0
STATIC_MAX_GYR_RMS_RAD_S = np.deg2rad(3.0)
STATIC_MAX_ACC_DEVIATION_M_S2 = 0.6
# The smallest movement that makes a segment's left-right axis observable. A gyroscope's noise
# (about 0.01-0.1 deg/s/sqrt(Hz)) and the residual bias after the static pose (its mean over
# 3 s: well under 0.1 deg/s) add under 0.2 deg of spurious rotation to a 1 s movement, so a
# 10 deg movement fixes the axis to about 1 deg; what limits small movements in practice is
# the sway of the rest of the body during them (quiet stance: about 1 deg, which the axis
# dominance below catches). 8 deg accepts "about 10 deg and up" with a margin for the
# excursion's own estimate; the quality score and the expected error say how good it is.
FUNCTIONAL_MIN_EXCURSION_DEG = 8.0
FUNCTIONAL_MIN_AXIS_DOMINANCE = 0.80
FUNCTIONAL_MAX_AXIS_TILT_DEG = 30.0


@dataclass
class SegmentCalibration:
    """Calibration of one sensor on its segment.

    Attributes
    ----------
    q_segment_to_sensor : (4,) rotation of segment coordinates into sensor coordinates.
    heading_offset_rad : rotation about the vertical applied to the sensor's earth frame.
    quality : figures of merit (see :class:`Calibration`).
    lever_arm_m : thigh sensors only: (3,) sensor position relative to the hip joint centre,
        sensor coordinates, metres (see :mod:`hipsense.body.lever_arm`); the pipeline removes
        its rotational acceleration before fusion. None: no compensation (the pelvis, an
        implausible estimate, or a calibration saved before lever arms existed).
    gyro_correction : thigh sensors only: (3, 3) matrix ``K`` applied to the raw gyroscope
        (``K @ gyr_rad_s``) before fusion, correcting the scale and axis of its response to
        flexion (see :mod:`hipsense.body.gyro_axis`). None: no correction (the pelvis, an
        implausible fit, gaps in the routine's data, or an older calibration).
    """

    role: str
    q_segment_to_sensor: list[float]
    heading_offset_rad: float
    quality: dict[str, float] = field(default_factory=dict)
    lever_arm_m: list[float] | None = None
    gyro_correction: list[list[float]] | None = None


@dataclass
class Calibration:
    """Result of :func:`calibrate`: one :class:`SegmentCalibration` per role.

    ``quality_score`` is 0-100: 100 is a still static pose and clean single-axis functional
    movements; below 60 the calibration is accepted but the user is told to repeat it.
    """

    segments: dict[str, SegmentCalibration]
    static_window_s: tuple[float, float]
    functional_window_s: tuple[float, float]
    quality_score: float
    warnings: list[str] = field(default_factory=list)
    method: str = "routine"
    expected_error_deg: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation (used by recordings and the API)."""
        return {
            "segments": {r: asdict(s) for r, s in self.segments.items()},
            "static_window_s": list(self.static_window_s),
            "functional_window_s": list(self.functional_window_s),
            "quality_score": self.quality_score,
            "warnings": list(self.warnings),
            "method": self.method,
            "expected_error_deg": self.expected_error_deg,
            "notes": list(self.notes),
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`."""
        return Calibration(
            segments={r: SegmentCalibration(**s) for r, s in d["segments"].items()},
            static_window_s=(float(d["static_window_s"][0]), float(d["static_window_s"][1])),
            functional_window_s=(
                float(d["functional_window_s"][0]),
                float(d["functional_window_s"][1]),
            ),
            quality_score=float(d["quality_score"]),
            warnings=list(d.get("warnings", [])),
            method=str(d.get("method", "routine")),
            expected_error_deg=(
                None if d.get("expected_error_deg") is None else float(d["expected_error_deg"])
            ),
            notes=list(d.get("notes", [])),
        )


def _window_mask(time_s: FloatArray, window: tuple[float, float], what: str) -> np.ndarray:
    start, end = window
    if not end > start:
        raise CalibrationError(f"{what} window {start:g}:{end:g} s is empty (end <= start)")
    mask = (time_s >= start) & (time_s <= end)
    if not mask.any():
        raise CalibrationError(
            f"{what} window {start:g}:{end:g} s lies outside the data "
            f"({time_s[0]:.2f}-{time_s[-1]:.2f} s)"
        )
    return mask


def _movement_name(role: str) -> str:
    return "hip hinges" if role == "pelvis" else f"{SIDES[role]} knee lifts"  # type: ignore[index]


def _static_axis(
    role: str, acc: FloatArray, gyr: FloatArray, dur_s: float
) -> tuple[FloatArray, dict[str, float]]:
    acc_mean = np.nanmean(acc, axis=0)
    norm = float(np.linalg.norm(acc_mean))
    if 0.5 < norm < 2.0:
        raise CalibrationError(
            f"{role}: the static pose reads {norm:.2f} for gravity; accelerometer values look "
            "like g, but hipsense expects m/s^2 (multiply by 9.81)"
        )
    if abs(norm - GRAVITY_M_S2) > STATIC_MAX_ACC_DEVIATION_M_S2:
        raise CalibrationError(
            f"{role}: the static pose reads {norm:.2f} m/s^2 instead of 9.81: the sensor was "
            "moving or its units are wrong; stand still for 3 s and repeat"
        )
    gyr_rms = float(np.sqrt(np.nanmean(np.sum((gyr - np.nanmean(gyr, axis=0)) ** 2, axis=1))))
    if gyr_rms > STATIC_MAX_GYR_RMS_RAD_S:
        raise CalibrationError(
            f"{role}: not still during the static pose (rotation {np.degrees(gyr_rms):.1f} deg/s "
            "rms); stand still and upright for 3 s and repeat"
        )
    quality = {
        "static_duration_s": dur_s,
        "static_gyr_rms_deg_s": float(np.degrees(gyr_rms)),
        "static_acc_norm_m_s2": norm,
    }
    return acc_mean / norm, quality


def _functional_axis(
    role: str, gyr: FloatArray, gyr_bias: FloatArray, dt_s: float, z_axis: FloatArray
) -> tuple[FloatArray, dict[str, float]]:
    g = gyr - gyr_bias
    g = g[np.all(np.isfinite(g), axis=1)]
    what = _movement_name(role)
    if len(g) < 10:
        raise CalibrationError(f"{role}: no data in the functional window for the {what}")
    cov = g.T @ g
    evals, evecs = np.linalg.eigh(cov)
    axis = evecs[:, -1]
    dominance = float(evals[-1] / max(evals.sum(), 1e-300))
    angle = np.cumsum(g @ axis) * dt_s
    up = float(np.degrees(angle.max()))
    down = float(np.degrees(-angle.min()))
    excursion = max(up, down)
    if excursion < FUNCTIONAL_MIN_EXCURSION_DEG:
        raise CalibrationError(
            f"{role}: the {what} were missing or too small ({excursion:.0f} deg of rotation, "
            f"at least {FUNCTIONAL_MIN_EXCURSION_DEG:.0f} needed); repeat them slowly and fully"
        )
    if dominance < FUNCTIONAL_MIN_AXIS_DOMINANCE:
        raise CalibrationError(
            f"{role}: the {what} were not a clean single-axis movement ({dominance:.0%} of the "
            f"rotation about one axis, {FUNCTIONAL_MIN_AXIS_DOMINANCE:.0%} needed); move only in "
            "the sagittal plane, without twisting"
        )
    tilt_deg = float(np.degrees(np.arcsin(min(1.0, abs(float(axis @ z_axis))))))
    if tilt_deg > FUNCTIONAL_MAX_AXIS_TILT_DEG:
        raise CalibrationError(
            f"{role}: the rotation axis of the {what} is {tilt_deg:.0f} deg from horizontal; "
            "they must swing forward, not sideways or twisting"
        )
    # Flexion (thigh) is a rotation about -y; anterior tilt (pelvis) about +y.
    positive_larger = up >= down
    if role == "pelvis":
        y_axis = axis if positive_larger else -axis
    else:
        y_axis = -axis if positive_larger else axis
    quality = {
        "functional_excursion_deg": excursion,
        "functional_axis_dominance": dominance,
        "functional_axis_tilt_deg": tilt_deg,
        "functional_asymmetry": float(max(up, down) / max(min(up, down), 1e-6)),
    }
    return y_axis, quality


def _score(quality: dict[str, float]) -> float:
    """0-100 figure: penalises motion at rest, off-axis and tilted functional movements."""
    s = 100.0
    s -= 10.0 * max(0.0, quality["static_gyr_rms_deg_s"] - 0.5)
    s -= 200.0 * max(0.0, 0.97 - quality["functional_axis_dominance"])
    s -= 1.5 * max(0.0, quality["functional_axis_tilt_deg"] - 5.0)
    s -= 0.5 * max(0.0, 45.0 - quality["functional_excursion_deg"])
    return float(np.clip(s, 0.0, 100.0))


def segment_from_axes(
    role: str,
    quat_static: FloatArray,
    z_axis: FloatArray,
    y_axis: FloatArray,
    quality: dict[str, float],
) -> SegmentCalibration:
    """A segment's calibration from its axes in sensor coordinates.

    Parameters
    ----------
    role : the segment.
    quat_static : (N, 4) the sensor's fused orientation (sensor -> earth) during the static
        pose, which defines heading zero.
    z_axis : (3,) unit superior axis in sensor coordinates (gravity at the static pose).
    y_axis : (3,) left axis in sensor coordinates, any length; made orthogonal to ``z_axis``.
    quality : figures of merit, kept as they are (``score`` among them).
    """
    y = np.asarray(y_axis, dtype=float)
    y = y - (y @ z_axis) * z_axis
    y /= np.linalg.norm(y)
    x = np.cross(y, z_axis)
    # Columns: segment axes in sensor coordinates = rotation segment -> sensor.
    q_seg_to_sensor = matrix_to_quat(np.column_stack((x, y, z_axis)))
    q_seg_earth = qmul(quat_static, q_seg_to_sensor)
    q_seg_earth = q_seg_earth[np.all(np.isfinite(q_seg_earth), axis=1)]
    headings = heading_rad(q_seg_earth)
    heading = float(np.arctan2(np.mean(np.sin(headings)), np.mean(np.cos(headings))))
    return SegmentCalibration(
        role=role,
        q_segment_to_sensor=[float(v) for v in q_seg_to_sensor],
        heading_offset_rad=-heading,
        quality=quality,
    )


def calibrate(
    data: AlignedBlock,
    static_window_s: tuple[float, float],
    functional_window_s: tuple[float, float],
) -> Calibration:
    """Calibrate every sensor in ``data`` from a static and a functional window.

    Parameters
    ----------
    data : aligned session data covering both windows (fused orientations plus raw samples).
    static_window_s : (start, end) session seconds of the still, upright pose.
    functional_window_s : (start, end) session seconds covering the knee lifts of every
        instrumented thigh and the hip hinges.

    Returns
    -------
    Calibration

    Raises
    ------
    CalibrationError
        naming the movement that is missing or poor, and why.
    """
    t = data.time_s
    if len(t) < 2:
        raise CalibrationError("no data to calibrate from")
    if "pelvis" not in data.quat:
        raise CalibrationError("a pelvis sensor is required: every angle is relative to it")
    dt_s = float(np.median(np.diff(t)))
    static = _window_mask(t, static_window_s, "static")
    functional = _window_mask(t, functional_window_s, "functional")
    static_dur = float(t[static][-1] - t[static][0])
    if static_dur < STATIC_MIN_S:
        raise CalibrationError(
            f"the static pose is only {static_dur:.1f} s long; stand still for 3 s"
        )
    segments: dict[str, SegmentCalibration] = {}
    warnings: list[str] = []
    moves = _own_movements(data, static, functional)
    lift_axes: dict[str, FloatArray] = {}
    biases: dict[str, FloatArray] = {}
    for role in data.quat:
        z_axis, q_static = _static_axis(
            role, data.acc_m_s2[role][static], data.gyr_rad_s[role][static], static_dur
        )
        bias = biases[role] = np.nanmean(data.gyr_rad_s[role][static], axis=0)
        own = moves.get(role)
        # The role's own movements (its knee lifts, the hinges) when they were found in the
        # window: other movements in it (the other leg, extra steps) do not blur its axis.
        mask = functional if own is None else own
        y_raw, q_func = _functional_axis(role, data.gyr_rad_s[role][mask], bias, dt_s, z_axis)
        q_func["functional_axis_uncertainty_deg"] = _axis_uncertainty_deg(
            data.gyr_rad_s[role], bias, y_raw, index_runs(mask)
        )
        lift_axes[role] = y_raw
        quality = {**q_static, **q_func}
        quality["score"] = _score(quality)
        if quality["score"] < 60:
            warnings.append(
                f"{role}: calibration quality {quality['score']:.0f}/100; repeat the "
                f"{_movement_name(role)} more slowly, in the sagittal plane"
            )
        segments[role] = segment_from_axes(role, data.quat[role][static], z_axis, y_raw, quality)
    _add_lever_arms(data, segments, functional, biases, warnings)
    _add_gyro_corrections(data, segments, static, functional, lift_axes, biases, warnings)
    score = min(s.quality["score"] for s in segments.values())
    expected = max(s.quality["functional_axis_uncertainty_deg"] for s in segments.values())
    notes = [
        f"{role}: {_movement_name(role)} {seg.quality['functional_excursion_deg']:.0f} deg, "
        f"{seg.quality['functional_axis_dominance']:.0%} about one axis, axis to "
        f"{seg.quality['functional_axis_uncertainty_deg']:.1f} deg"
        for role, seg in segments.items()
    ]
    return Calibration(
        segments,
        (float(static_window_s[0]), float(static_window_s[1])),
        (float(functional_window_s[0]), float(functional_window_s[1])),
        score,
        warnings,
        method="routine",
        expected_error_deg=float(expected),
        notes=notes,
    )


def _axis_uncertainty_deg(
    gyr: FloatArray, bias: FloatArray, axis: FloatArray, runs: list[tuple[int, int]]
) -> float:
    """How well the movements fix the axis: the spread of the axes of single movements.

    Each movement (a run of the mask) gives its own principal axis; the standard deviation of
    their angles to the common axis over the square root of their number is the uncertainty
    of the common one. With one movement only, its off-axis rotation bounds it:
    ``atan(sqrt(off-axis / on-axis energy))``.
    """
    axes: list[tuple[FloatArray, FloatArray]] = []  # (eigenvalues, principal axis)
    for start, stop in runs:
        g = gyr[start:stop] - bias
        g = g[np.all(np.isfinite(g), axis=1)]
        if len(g) >= 5:
            evals, evecs = np.linalg.eigh(g.T @ g)
            axes.append((evals, evecs[:, -1]))
    if not axes:
        return float("nan")
    if len(axes) == 1:
        evals = axes[0][0]
        off = float(max(evals[0] + evals[1], 0.0) / max(evals[2], 1e-300))
        return float(np.degrees(np.arctan(np.sqrt(off))))
    angles = [np.degrees(np.arccos(min(1.0, abs(float(a @ axis))))) for _, a in axes]
    return float(np.sqrt(np.mean(np.square(angles))) / np.sqrt(len(angles)))


def _own_movements(
    data: AlignedBlock, static: np.ndarray, functional: np.ndarray
) -> dict[str, np.ndarray]:
    """Per role, the samples of its own calibration movements within ``functional``.

    The pelvis: its excursions from the static pose in which it inclines more than either
    thigh (a hip hinge: the legs stay about vertical); a thigh: its excursions in which it
    inclines more than the pelvis and the other thigh (a knee lift). Roles without such a
    movement are left out (the caller uses the whole window).
    """
    idx = np.flatnonzero(functional)
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    s0, s1 = np.flatnonzero(static)[[0, -1]]
    angle = {
        role: _inclination_from_static_deg(data, role, int(s0), int(s1) + 1, slice(lo, hi))
        for role in data.quat
    }
    out: dict[str, np.ndarray] = {}
    dt_s = float(np.median(np.diff(data.time_s)))
    for start, stop, role in _movement_events(angle, dt_s):
        mask = out.setdefault(role, np.zeros(len(data.time_s), dtype=bool))
        mask[lo + start : lo + stop + 1] = True
    return out


def _inclination_from_static_deg(
    data: AlignedBlock, role: str, s0: int, s1: int, span: slice
) -> FloatArray:
    """Angle (deg) between the sensor's up direction over ``span`` and at the static pose."""
    up_static = np.nanmean(data.acc_m_s2[role][s0:s1], axis=0)
    up_static /= np.linalg.norm(up_static)
    up_now = qrotate_inverse_up(data.quat[role][span])
    cosang = np.clip(up_now @ up_static, -1.0, 1.0)
    return np.degrees(np.arccos(np.nan_to_num(cosang, nan=1.0)))


def _add_lever_arms(
    data: AlignedBlock,
    segments: dict[str, SegmentCalibration],
    functional: np.ndarray,
    biases: dict[str, FloatArray],
    warnings: list[str],
) -> None:
    """Estimate each thigh sensor's lever arm; implausible ones are dropped with a warning.

    ``biases``: per role the gyroscope bias of the static pose."""
    align = {role: rot_z(np.asarray(seg.heading_offset_rad)) for role, seg in segments.items()}
    for role, seg in segments.items():
        if role == "pelvis":
            continue
        r, rms = estimate_lever_arm(
            data, role, functional, align, np.asarray(seg.q_segment_to_sensor), biases[role]
        )
        norm = float(np.linalg.norm(r))
        seg.quality["lever_arm_norm_m"] = norm
        seg.quality["lever_arm_residual_m_s2"] = rms
        if np.isfinite(norm) and norm <= LEVER_ARM_MAX_M:
            seg.lever_arm_m = [float(v) for v in r]
        else:
            warnings.append(
                f"{role}: the sensor seems {norm:.2f} m from the hip joint centre (at most "
                f"{LEVER_ARM_MAX_M:g} m expected); its acceleration is not compensated. Is it "
                "on the thigh? Repeat the knee lifts slowly, the standing leg still"
            )


def _add_gyro_corrections(
    data: AlignedBlock,
    segments: dict[str, SegmentCalibration],
    static: np.ndarray,
    functional: np.ndarray,
    lift_axes: dict[str, FloatArray],
    biases: dict[str, FloatArray],
    warnings: list[str],
) -> None:
    """Fit each thigh gyroscope's response to the knee lifts over the whole routine.

    ``lift_axes`` and ``biases``: per role the functional rotation axis and the static bias.

    The pelvis is left alone: its sensor sits on the sacrum, away from the hinge axis, and its
    rotational acceleration is not modelled, so a fit there mistakes it for a scale error
    (2-3 % on error-free simulated data); pelvic rotations are small and slow anyway.
    """
    span = np.flatnonzero(static | functional)
    first, last = int(span[0]), int(span[-1]) + 1
    rate_hz = 1.0 / float(np.median(np.diff(data.time_s)))
    for role, seg in segments.items():
        if role == "pelvis":
            continue
        gyr = data.gyr_rad_s[role][first:last]
        acc = data.acc_m_s2[role][first:last]
        q_start = data.quat[role][first]
        if not all(np.all(np.isfinite(v)) for v in (gyr, acc, q_start)):
            warnings.append(
                f"{role}: samples missing during the calibration routine; its gyroscope scale "
                "is not calibrated (repeat the calibration for the best CARs accuracy)"
            )
            continue
        fit = estimate_gyro_axis_correction(
            gyr,
            acc,
            rate_hz,
            lift_axes[role],
            biases[role],
            q_start,
            seg.quality["static_acc_norm_m_s2"],
            None if seg.lever_arm_m is None else np.asarray(seg.lever_arm_m),
        )
        seg.quality["gyro_scale_correction_pct"] = 100.0 * fit.scale_correction
        seg.quality["gyro_axis_correction_deg"] = fit.axis_correction_deg
        seg.quality["gyro_fit_residual_m_s2"] = fit.residual_m_s2
        if fit.plausible:
            seg.gyro_correction = [[float(v) for v in row] for row in fit.correction]
        else:
            warnings.append(
                f"{role}: the knee lifts suggest a gyroscope error of "
                f"{100 * fit.scale_correction:+.1f} % and {fit.axis_correction_deg:.1f} deg, "
                "more than a gyroscope has; it is not corrected. Repeat the knee lifts "
                "slowly, the standing leg still"
            )


def sensor_to_segment(calibration: Calibration, role: str) -> tuple[FloatArray, FloatArray]:
    """(q_heading (4,), q_segment_to_sensor (4,)) so that
    ``q_segment_ref = q_heading * q_sensor_earth * q_segment_to_sensor``."""
    seg = calibration.segments[role]
    half = 0.5 * seg.heading_offset_rad
    q_heading = np.array([np.cos(half), 0.0, 0.0, np.sin(half)])
    return q_heading, np.asarray(seg.q_segment_to_sensor, dtype=float)


def q_sensor_in_segment(calibration: Calibration, role: str) -> FloatArray:
    """Mounting as sensor -> segment quaternion (the inverse of ``q_segment_to_sensor``)."""
    return qconj(np.asarray(calibration.segments[role].q_segment_to_sensor, dtype=float))


# --- finding the calibration routine in a recording ------------------------------------------

STILL_MIN_S = 2.0
STILL_MAX_GYR_RAD_S = np.deg2rad(6.0)
STILL_MAX_ACC_DEVIATION_M_S2 = 0.4
# A calibration movement leaves the static pose by more than ENTER and ends back within LEAVE.
# Quiet standing sways the pelvis and thighs by about 1 deg and the fused inclination's noise
# is 0.1 deg, so 6 deg is a deliberate movement; 2.5 deg is back at the start pose.
EXCURSION_ENTER_DEG = 6.0
EXCURSION_LEAVE_DEG = 2.5
# Repetitions of the routine's last movement follow each other within this pause.
ROUTINE_MAX_PAUSE_S = 3.0
# Stepping (in place, or walking) swings the legs in turn, one leaving as the other lands; each
# swing carries the pelvis's side-to-side tilt and the stance hip's abduction, so its axis is
# not the thigh's flexion axis (2 deg of obliquity in a 20 deg step tilts it by 6 deg). Three or
# more thigh excursions alternating between the legs, each starting within this pause of the
# previous one's end, are stepping, not knee lifts: left to the walking calibration. Deliberate
# knee lifts come in groups per leg, and two groups of one lift each alternate only twice.
STEP_MAX_GAP_S = 1.0
STEP_MIN_ALTERNATIONS = 3
SEARCH_S = 600.0


def _excursions(angle_deg: FloatArray) -> list[tuple[int, int]]:
    """Movements away from the start pose: enter above ENTER deg, leave below LEAVE deg."""
    events: list[tuple[int, int]] = []
    above = np.flatnonzero(angle_deg > EXCURSION_ENTER_DEG)
    below = np.flatnonzero(angle_deg < EXCURSION_LEAVE_DEG)
    i = 0
    while True:
        j = int(np.searchsorted(above, i))
        if j == len(above):
            break
        enter = int(above[j])
        # The movement starts where the angle last left the start pose.
        b = int(np.searchsorted(below, enter)) - 1
        start = int(below[b]) if b >= 0 else enter
        b = int(np.searchsorted(below, enter))
        if b == len(below):
            events.append((start, len(angle_deg) - 1))
            break
        events.append((start, int(below[b])))
        i = int(below[b])
    return events


def _movement_events(angle: dict[str, FloatArray], dt_s: float) -> list[tuple[int, int, str]]:
    """(start, stop, role) of each calibration movement: an excursion of ``role`` from the
    static pose in which it inclines more than every other sensor (the pelvis: a hip hinge,
    the legs about vertical; a thigh: a knee lift), in time order, without stepping (see
    :data:`STEP_MAX_GAP_S`)."""
    events: list[tuple[int, int, str]] = []
    for role, a in angle.items():
        others = [angle[r] for r in angle if r != role]
        for start, stop in _excursions(a):
            peak = float(np.nanmax(a[start : stop + 1]))
            if all(float(np.nanmax(o[start : stop + 1])) < peak for o in others):
                events.append((start, stop, role))
    events.sort()
    stepping = _stepping(events, round(STEP_MAX_GAP_S / dt_s))
    return [e for k, e in enumerate(events) if k not in stepping]


def _stepping(events: list[tuple[int, int, str]], max_gap: int) -> set[int]:
    """Indices of the events that belong to runs of at least ``STEP_MIN_ALTERNATIONS`` thigh
    excursions alternating between the legs with at most ``max_gap`` samples between them."""
    out: set[int] = set()
    run: list[int] = []
    for k, (start, _, role) in enumerate(events):
        prev = events[run[-1]] if run else None
        alternates = (
            prev is not None
            and role != "pelvis"
            and prev[2] != "pelvis"
            and role != prev[2]
            and start - prev[1] <= max_gap
        )
        if not alternates:
            if len(run) >= STEP_MIN_ALTERNATIONS:
                out.update(run)
            run = [] if role == "pelvis" else [k]
            continue
        run.append(k)
    if len(run) >= STEP_MIN_ALTERNATIONS:
        out.update(run)
    return out


def detect_calibration_windows(
    data: AlignedBlock,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Find the static pose and the functional movements of the calibration routine.

    The static pose is the first stretch of at least 2 s in which every sensor is still. After
    it, every excursion of a sensor from its static inclination (more than
    ``EXCURSION_ENTER_DEG``, back below ``EXCURSION_LEAVE_DEG``) in which that sensor inclines
    more than the others is a calibration movement: a hip hinge for the pelvis, a knee lift for
    a thigh. The movements may come in any order, repeated, with pauses; the functional window
    runs from the static pose to the end of the movement that completes the set (at least one
    of each), extended over its repetitions that follow within ``ROUTINE_MAX_PAUSE_S`` of each
    other (the second hinge). The routine is looked for in the first ``SEARCH_S``
    seconds of the data.

    Raises
    ------
    CalibrationError
        saying which part of the routine was not found, what was found, and where.
    """
    if len(data.time_s) < 2:
        raise CalibrationError("no data to look for the calibration routine in")
    n_search = int(np.searchsorted(data.time_s, data.time_s[0] + SEARCH_S))
    data = AlignedBlock(
        data.time_s[:n_search],
        {r: q[:n_search] for r, q in data.quat.items()},
        {r: g[:n_search] for r, g in data.gyr_rad_s.items()},
        {r: a[:n_search] for r, a in data.acc_m_s2.items()},
        {r: f[:n_search] for r, f in data.rest.items()},
    )
    t = data.time_s
    dt_s = float(np.median(np.diff(t)))
    still = np.ones(len(t), dtype=bool)
    for role in data.quat:
        gyr_n = np.linalg.norm(data.gyr_rad_s[role], axis=1)
        acc_dev = np.abs(np.linalg.norm(data.acc_m_s2[role], axis=1) - GRAVITY_M_S2)
        still &= (gyr_n < STILL_MAX_GYR_RAD_S) & (acc_dev < STILL_MAX_ACC_DEVIATION_M_S2)
    min_len = int(np.ceil(STILL_MIN_S / dt_s))
    runs = [r for r in index_runs(still) if r[1] - r[0] >= min_len]
    if not runs:
        raise CalibrationError(
            "no still period of 2 s found: start every session by standing still and upright "
            "for 3 s (or give --static START:END)"
        )
    s0, s1 = runs[0]
    static = (float(t[s0]), float(t[s1 - 1]))
    after = slice(s1, None)
    angle = {role: _inclination_from_static_deg(data, role, s0, s1, after) for role in data.quat}
    events = _movement_events(angle, dt_s)
    need = set(data.quat)
    seen: set[str] = set()
    end: int | None = None
    max_pause = round(ROUTINE_MAX_PAUSE_S / dt_s)
    last_role = ""
    for start, stop, role in events:
        if end is not None:
            # Repetitions of the movement that completed the set (the second hinge) belong to
            # the routine; anything else (an exercise's first rep) ends it.
            if role != last_role or start - end > max_pause:
                break
            end = max(end, stop)
            continue
        seen.add(role)
        if seen == need:
            end, last_role = stop, role
    if end is None:
        counts = {r: sum(1 for e in events if e[2] == r) for r in data.quat}
        missing = [r for r in data.quat if counts[r] == 0]
        found = ", ".join(f"{counts[r]} {_movement_name(r)}" for r in data.quat)
        raise CalibrationError(
            f"no {' or '.join(_movement_name(r) for r in missing)} found after the still "
            f"period (from {t[s1 - 1]:.1f} s; found {found}; a movement counts when its "
            f"sensor inclines more than {EXCURSION_ENTER_DEG:g} deg and more than the others): "
            "lift each instrumented knee and bow forward with straight legs "
            "(or give --functional START:END)"
        )
    end_index = s1 + end
    functional = (static[1], float(t[min(end_index + int(0.5 / dt_s), len(t) - 1)]))
    return static, functional


def qrotate_inverse_up(q: FloatArray) -> FloatArray:
    """Earth's up direction in sensor coordinates for sensor -> earth quaternions ``q``."""
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    # Third row of the rotation matrix = earth z in sensor coordinates.
    return np.stack((2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)), axis=1)
