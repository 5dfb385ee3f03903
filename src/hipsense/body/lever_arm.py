"""Where a thigh sensor sits relative to its hip joint centre, from the knee lifts.

A sensor on a rotating segment measures, besides gravity, the acceleration of its point:
``w x (w x r) + dw/dt x r`` for a sensor at ``r`` from the centre of rotation. The hip
joint centre itself barely moves during the knee lifts, and the pelvis sensor's specific force
stands in for whatever it does, so in thigh-sensor coordinates

    a_thigh - R_thigh^T R_pelvis a_pelvis = (W W + dW) r

(``W``, ``dW`` the cross-product matrices of angular velocity and acceleration), linear in
``r`` and solved by least squares over the functional window: the rigid-body relation of the
joint-position estimation by Seel, Schauer & Raisch (2012, "Joint axis and position
estimation from inertial measurement data by exploiting kinematic constraints", IEEE CCA),
here with fused orientations instead of their orientation-free norm form.

Knee lifts rotate the thigh about its medio-lateral axis only, so the component of ``r``
along that axis is not observable from them; it is fixed to 0 (the sensor taken to lie in the
thigh's sagittal plane through the hip centre). The compensation only needs the observable
part for sagittal movement; for circles (CARs) the missing part is a few centimetres.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter

from hipsense.body.frames import qconj, qmul, qrotate
from hipsense.types import AlignedBlock, FloatArray

# Beyond this the estimate is not a sensor on a thigh (a sensor sits 0.1-0.35 m from the hip
# centre); the calibration warns and the thigh is fused without compensation.
LEVER_ARM_MAX_M = 0.5
# Window of the local quadratic fit giving angular rate and acceleration offline (the
# calibration's movements are slower than 3 Hz).
SMOOTH_S = 0.15
POLYORDER = 4


def smoothed_rate(gyr_rad_s: FloatArray, rate_hz: float) -> tuple[FloatArray, FloatArray]:
    """Angular rate and its derivative (rad/s, rad/s^2) from a centred local quadratic fit over
    :data:`SMOOTH_S` (Savitzky-Golay).

    A plain difference turns gyroscope noise into ~0.35 rad/s^2 of noise in ``dw/dt``; used
    as a regressor, that noise shrinks the least-squares lever arm by 4-5 %
    (errors-in-variables), and the acceleration left uncompensated then biases the gyroscope
    fit of :mod:`hipsense.body.gyro_axis` by -0.1 to -0.3 %.
    """
    w = np.asarray(gyr_rad_s, dtype=np.float64)
    window = max(5, 2 * round(0.5 * SMOOTH_S * rate_hz) + 1)
    if len(w) < window:
        return w, np.gradient(w, axis=0) * rate_hz
    dw = savgol_filter(w, window, POLYORDER, deriv=1, delta=1.0 / rate_hz, axis=0)
    return savgol_filter(w, window, POLYORDER, axis=0), dw


def rotational_acc(gyr_rad_s: FloatArray, rate_hz: float, lever_arm_m: FloatArray) -> FloatArray:
    """``w x (w x r) + dw/dt x r`` (m/s^2, sensor coordinates) of a whole recorded stretch,
    rates from :func:`smoothed_rate` (offline; the filters use a causal difference)."""
    w, dw = smoothed_rate(gyr_rad_s, rate_hz)
    r = np.broadcast_to(np.asarray(lever_arm_m, dtype=np.float64), w.shape)
    return np.cross(w, np.cross(w, r)) + np.cross(dw, r)


def skew_matrices(v: FloatArray) -> FloatArray:
    """(N, 3, 3) cross-product matrices of (N, 3) vectors."""
    out = np.zeros((len(v), 3, 3))
    out[:, 0, 1], out[:, 0, 2] = -v[:, 2], v[:, 1]
    out[:, 1, 0], out[:, 1, 2] = v[:, 2], -v[:, 0]
    out[:, 2, 0], out[:, 2, 1] = -v[:, 1], v[:, 0]
    return out


def estimate_lever_arm(
    data: AlignedBlock,
    role: str,
    mask: np.ndarray,
    q_earth_align: dict[str, FloatArray],
    q_segment_to_sensor: FloatArray,
    gyr_bias_rad_s: FloatArray,
) -> tuple[FloatArray, float]:
    """Position of the ``role`` sensor relative to its hip joint centre (sensor coordinates).

    Parameters
    ----------
    data : aligned session data (fused orientations, raw gyroscope and accelerometer).
    role : a thigh role.
    mask : (N,) the samples of the functional window (knee lifts).
    q_earth_align : per role ``thigh_*`` and ``pelvis``, the heading rotation (4,) that puts the
        sensor's earth frame into the common one (see ``sensor_to_segment``).
    q_segment_to_sensor : (4,) the thigh's calibrated mounting.
    gyr_bias_rad_s : (3,) gyroscope bias from the static pose.

    Returns
    -------
    (r (3,) in metres, residual rms in m/s^2)

    Examples
    --------
    >>> r, rms = estimate_lever_arm(data, "thigh_left", mask, align, q_mnt, bias)  # doctest: +SKIP
    """
    rate_hz = 1.0 / float(np.median(np.diff(data.time_s)))
    gyr, dgyr = smoothed_rate(data.gyr_rad_s[role] - gyr_bias_rad_s, rate_hz)
    q_thigh = qmul(q_earth_align[role][None, :], data.quat[role])
    q_pelvis = qmul(q_earth_align["pelvis"][None, :], data.quat["pelvis"])
    f_pelvis = qrotate(q_pelvis, data.acc_m_s2["pelvis"])
    rhs = data.acc_m_s2[role] - qrotate(qconj(q_thigh), f_pelvis)
    keep = mask & np.all(np.isfinite(rhs), axis=1) & np.all(np.isfinite(dgyr), axis=1)
    w, dw, rhs = gyr[keep], dgyr[keep], rhs[keep]
    ws = skew_matrices(w)
    design = (ws @ ws + skew_matrices(dw)).reshape(-1, 3)
    # Unknowns: the components along the segment's anterior (x) and superior (z) axes.
    axes = np.column_stack(
        [qrotate(q_segment_to_sensor, e) for e in (np.array([1.0, 0, 0]), np.array([0, 0, 1.0]))]
    )
    coef, *_ = np.linalg.lstsq(design @ axes, rhs.reshape(-1), rcond=None)
    r = axes @ coef
    residual = rhs.reshape(-1) - design @ r
    return r, float(np.sqrt(np.mean(residual**2))) if len(residual) else float("nan")
