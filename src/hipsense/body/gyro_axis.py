"""In-field gyroscope calibration of a thigh sensor's flexion axis, from the calibration routine.

A MEMS gyroscope reads ``M w + b``: ``M`` is identity plus a scale-factor error on each axis
(datasheets allow up to a few per cent) and cross-axis terms (axis misalignment, up to a
degree or two). Fusion corrects the inclination only slowly, so over a large fast rotation,
such as the 100 deg flexion of a hip CARs repetition, a 0.5 % scale error is 0.5 deg at the top
of the circle.

The knee lifts of the calibration rotate each thigh sensor by 90 deg or more about one axis,
and the accelerometer shows where gravity is all along. Integrating the gyroscope from the
static pose predicts the specific force ``R(t)^T g`` in sensor coordinates; its mismatch with
the accelerometer (minus the sensor's rotational acceleration about the hip, see
:mod:`hipsense.body.lever_arm`) observes how the gyroscope responds to rotation about the
lift axis: its scale and the direction it reports, i.e. the column of ``M`` for that axis.
This is the idea of in-field calibration without external equipment by comparing integrated
rotation with the gravity direction (Fong, Ong & Nee 2008, "Methods for in-field user
calibration of an inertial measurement unit without external equipment", Meas. Sci.
Technol. 19 085202), here as one least-squares fit over the whole routine.

The fit is linear in the error terms once the trajectory is fixed, so it is solved by
Gauss-Newton: integrate the corrected gyroscope, linearise the earth-frame attitude error
``psi(t) = psi0 + sum R (delta w) dt``, solve, repeat. Unknowns: the initial tilt error
(2), the correction of the lift-axis column (3) and a gyroscope bias change since the static
pose (3). Rotation about the other two axes is small in the routine, so their columns are
not observable and stay as they are: the correction is ``K = I + d a^T`` with ``a`` the
measured lift axis, and ``K (gyr - b)`` rotates about ``a`` at the true rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hipsense.body.frames import qmul, qnormalize, quat_from_rotvec, quat_to_matrix
from hipsense.body.lever_arm import rotational_acc, skew_matrices
from hipsense.types import FloatArray

ITERATIONS = 3
# Beyond these the fit is not a gyroscope error but a poor routine (a stumble, a sensor
# slipping): MEMS gyroscopes are specified to a few per cent of sensitivity error and about
# 2 % cross-axis sensitivity (e.g. InvenSense MPU-6000/6050 product specification rev. 3.4,
# table 6.1: initial sensitivity tolerance +-3 %, cross-axis sensitivity +-2 %).
MAX_SCALE_CORRECTION = 0.05
MAX_AXIS_CORRECTION_DEG = 3.0


@dataclass
class GyroAxisFit:
    """Result of :func:`estimate_gyro_axis_correction`.

    Attributes
    ----------
    correction : (3, 3) matrix ``K``; ``K @ gyr_rad_s`` is the corrected angular velocity.
    scale_correction : fraction by which the lift-axis rate is changed (0.004: +0.4 %).
    axis_correction_deg : by how much the reported lift axis is turned.
    residual_m_s2 : rms mismatch of predicted and measured specific force after the fit.
    bias_change_rad_s : (3,) gyroscope bias change since the static pose, fitted alongside.
    """

    correction: FloatArray
    scale_correction: float
    axis_correction_deg: float
    residual_m_s2: float
    bias_change_rad_s: FloatArray

    @property
    def plausible(self) -> bool:
        """Whether the fit is within what a gyroscope's specification allows."""
        return bool(
            np.isfinite(self.residual_m_s2)
            and abs(self.scale_correction) <= MAX_SCALE_CORRECTION
            and self.axis_correction_deg <= MAX_AXIS_CORRECTION_DEG
        )


def _prefix_product(q: FloatArray) -> FloatArray:
    """Running Hamilton products ``q0, q0 q1, q0 q1 q2, ...`` in log2(N) vectorised steps."""
    out = np.array(q, dtype=np.float64)
    k = 1
    while k < len(out):
        out[k:] = qmul(out[:-k], out[k:])
        k *= 2
    return qnormalize(out)


def estimate_gyro_axis_correction(
    gyr_rad_s: FloatArray,
    acc_m_s2: FloatArray,
    rate_hz: float,
    lift_axis: FloatArray,
    gyr_bias_rad_s: FloatArray,
    q_start: FloatArray,
    gravity_m_s2: float,
    lever_arm_m: FloatArray | None = None,
) -> GyroAxisFit:
    """Fit the gyroscope's response to rotation about ``lift_axis`` (see the module docstring).

    Parameters
    ----------
    gyr_rad_s, acc_m_s2 : (N, 3) raw samples of one sensor at ``rate_hz``, sensor
        coordinates, covering the static pose (first) and the functional movements; finite.
    lift_axis : (3,) unit axis of the functional rotation as the gyroscope reports it.
    gyr_bias_rad_s : (3,) bias measured in the static pose.
    q_start : (4,) fused orientation (sensor -> earth) of the first sample.
    gravity_m_s2 : magnitude of the specific force at rest (the static pose's mean).
    lever_arm_m : (3,) sensor position relative to the centre of rotation; its rotational
        acceleration is removed from the accelerometer first. None: not removed.

    Returns
    -------
    GyroAxisFit

    Examples
    --------
    >>> fit = estimate_gyro_axis_correction(gyr, acc, 100.0, axis, bias, q0, 9.81)  # doctest: +SKIP
    >>> corrected_gyr = gyr @ fit.correction.T  # doctest: +SKIP
    """
    gyr = np.asarray(gyr_rad_s, dtype=np.float64)
    acc = np.asarray(acc_m_s2, dtype=np.float64)
    axis = np.asarray(lift_axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    dt_s = 1.0 / float(rate_hz)
    bias = np.asarray(gyr_bias_rad_s, dtype=np.float64).copy()
    if lever_arm_m is not None:
        acc = acc - rotational_acc(gyr - bias, rate_hz, np.asarray(lever_arm_m))
    f_earth = np.array([0.0, 0.0, float(gravity_m_s2)])
    # The predicted reading R^T f changes with an earth-frame attitude error psi by
    # R^T [f]x psi; [f]x has no z column (heading is invisible to gravity).
    f_cross = skew_matrices(f_earth[None, :])[0]
    d_total = np.zeros(3)
    q0 = qnormalize(np.asarray(q_start, dtype=np.float64))
    residual = np.full(1, np.nan)
    for _ in range(ITERATIONS):
        correction = np.eye(3) + np.outer(d_total, axis)
        w = (gyr - bias) @ correction.T
        # Trapezoidal increments: sample k's rotation to k + 1 uses the mean of both rates.
        w_step = np.vstack((0.5 * (w[1:] + w[:-1]), w[-1:]))
        steps = quat_from_rotvec(w_step * dt_s)
        q = _prefix_product(np.vstack((q0[None, :], steps[:-1])))
        rot = quat_to_matrix(q)  # (N, 3, 3) sensor -> earth
        rot_t = np.transpose(rot, (0, 2, 1))
        predicted = rot_t @ f_earth
        residual = acc - predicted
        # psi(t) = psi0 + sum_{k < t} R_k (d (a . w_k) - K db) dt: cumulative sums up to t - 1.
        s = (w_step @ axis) * dt_s
        a_sum = np.cumsum(rot * s[:, None, None], axis=0) - rot * s[:, None, None]
        b_sum = (np.cumsum(rot, axis=0) - rot) * dt_s
        lhs = rot_t @ f_cross  # (N, 3, 3): R^T [f]x
        jac = np.concatenate(
            (lhs[:, :, :2], lhs @ a_sum, -(lhs @ b_sum) @ correction), axis=2
        ).reshape(-1, 8)
        # Normal equations (8 x 8): an SVD of the tall Jacobian costs 30 ms per iteration.
        x, *_ = np.linalg.lstsq(jac.T @ jac, jac.T @ residual.reshape(-1), rcond=None)
        q0 = qnormalize(qmul(quat_from_rotvec(np.array([x[0], x[1], 0.0])), q0))
        d, db = x[2:5], x[5:8]
        # (I + d a^T)(I + D a^T) = I + (D + d + d (a . D)) a^T keeps the rank-one form.
        d_total = d_total + d + d * float(axis @ d_total)
        bias = bias + db
    scale = float(axis @ d_total)
    tilt = d_total - scale * axis
    return GyroAxisFit(
        correction=np.eye(3) + np.outer(d_total, axis),
        scale_correction=scale,
        axis_correction_deg=float(np.degrees(np.linalg.norm(tilt))),
        residual_m_s2=float(np.sqrt(np.mean(residual**2))),
        bias_change_rad_s=bias - np.asarray(gyr_bias_rad_s, dtype=np.float64),
    )
