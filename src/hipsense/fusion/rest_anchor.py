"""Rest anchoring: a smoothed orientation made to agree with gravity wherever the sensor rests.

While a sensor is at rest its specific force is gravity alone, so the measured acceleration
gives its inclination to within the accelerometer's own error (no linear or rotational
acceleration; averaging over the rest removes the noise). A forward-backward filter still
carries inclination error into and through short rests: its accelerometer correction has a
time constant of seconds (VQF: 3 s), while gait starts, stops and turns through a slightly
misaligned gyroscope leave errors of half a degree that outlast a 2 s rest.

:func:`anchor_at_rest` measures the inclination error at every rest (the rotation about a
horizontal axis that takes the estimated gravity direction onto the measured one) and removes
it: constant within a rest, interpolated linearly in time between consecutive rests (the
error accumulated from a gyroscope's residual bias grows about linearly between them), held
before the first and after the last rest. Heading is left alone (the correction has no
vertical component). Whole sessions only: a sample's correction depends on the next rest.
"""

from __future__ import annotations

import numpy as np

from hipsense.body.frames import qmul, qrotate, quat_from_rotvec
from hipsense.types import FloatArray, index_runs

# Shortest rest used as an anchor: 1 s. Over a shorter stillness a steady acceleration can
# pass for gravity (standing up from half-kneeling: the pelvis accelerates without rotating
# for a fraction of a second; 0.4 m/s^2 reads as 2.4 deg of tilt); kept up for 1 s it would
# carry a still segment 20 cm, which standing still does not. Averaging 1 s of accelerometer
# noise (about 0.01 m/s^2 per sample at 100 Hz) leaves well under 0.01 deg.
ANCHOR_MIN_REST_S = 1.0
# Still enough to be an anchor: 1 deg/s of rotation (averaged over the rest's window) is a
# fraction of a degree over it; 0.1 m/s^2 of non-gravitational acceleration tilts the
# measured gravity by 0.6 deg at the most and averages out over a still stance (sway is below
# 0.05 m/s^2).
ANCHOR_MAX_GYR_RAD_S = np.deg2rad(1.0)
ANCHOR_MAX_ACC_DEV_M_S2 = 0.1
# Rates and specific force are averaged over this window before the limits above apply: a
# gyroscope's per-sample noise (about 0.5 deg/s per axis at 200 Hz, less at lower rates)
# averages to about 0.1 deg/s over it, and a longer window eats into every rest (half a
# window at each end: a 1.3 s stillness between two bridge reps read as 0.85 s with 1 s, too
# short to anchor, and the thigh's inclination stayed 1 deg off there).
ANCHOR_MEAN_S = 0.25


def _moving_mean(x: FloatArray, n: int) -> FloatArray:
    """Centred moving mean over ``n`` samples (shorter at the ends), per column."""
    c = np.cumsum(np.vstack((np.zeros((1, x.shape[1])), x)), axis=0)
    i = np.arange(len(x))
    lo = np.clip(i - n // 2, 0, len(x))
    hi = np.clip(i - n // 2 + n, 0, len(x))
    return (c[hi] - c[lo]) / (hi - lo)[:, None]


def still_samples(gyr_rad_s: FloatArray, acc_m_s2: FloatArray, rate_hz: float) -> np.ndarray:
    """Samples where the specific force is gravity alone, to the accelerometer's noise.

    A filter's rest detector admits slow movement (VQF: 2 deg/s and 0.5 m/s^2, i.e. up to 3
    deg of apparent tilt); an anchor must not. Still here: the rotation rate, averaged over
    ``ANCHOR_MEAN_S``, is below ``ANCHOR_MAX_GYR_RAD_S`` after removing its median over
    the session's quiet samples (the gyroscope's bias), and the specific force stays within
    ``ANCHOR_MAX_ACC_DEV_M_S2``
    (or 4 times the accelerometer's own noise, if larger) of its mean over the same window.
    """
    n = max(3, round(ANCHOR_MEAN_S * rate_hz))
    gyr_n = np.linalg.norm(gyr_rad_s, axis=1)
    quiet = gyr_n < np.deg2rad(3.0)
    bias = np.median(gyr_rad_s[quiet], axis=0) if quiet.sum() > n else np.zeros(3)
    # Averaged over the window: a gyroscope's per-sample noise at 200 Hz is about
    # 0.5 deg/s per axis, which would break every rest into pieces.
    slow = np.linalg.norm(_moving_mean(gyr_rad_s - bias, n), axis=1) < ANCHOR_MAX_GYR_RAD_S
    # The accelerometer's noise floor: consecutive differences over the quietest 5 % of
    # windows (vibration or movement elsewhere in the session must not raise it).
    diff = np.linalg.norm(np.diff(acc_m_s2, axis=0), axis=1) / np.sqrt(2.0)
    windows = len(diff) // n
    if windows:
        rms = np.sqrt(np.mean(diff[: windows * n].reshape(windows, n) ** 2, axis=1))
        noise = float(np.nanpercentile(rms, 5.0))
    else:
        noise = 0.0
    dev = np.linalg.norm(acc_m_s2 - _moving_mean(acc_m_s2, n), axis=1)
    steady = dev < max(ANCHOR_MAX_ACC_DEV_M_S2, 4.0 * noise)
    return slow & steady & np.all(np.isfinite(acc_m_s2), axis=1)


def rest_corrections(
    quat: FloatArray, acc_m_s2: FloatArray, rest: np.ndarray, rate_hz: float
) -> list[tuple[int, int, FloatArray]]:
    """(start, stop, rotation vector (3,) in the earth frame) for each rest used as an anchor.

    ``rest``: samples known to be still (:func:`still_samples`).
    The rotation vector turns the estimated gravity direction (the measured specific force,
    averaged over the rest and rotated into the earth frame by ``quat``) onto earth +z.
    """
    min_len = max(2, int(np.ceil(ANCHOR_MIN_REST_S * rate_hz)))
    anchors: list[tuple[int, int, FloatArray]] = []
    for start, stop in index_runs(np.asarray(rest, dtype=bool)):
        if stop - start < min_len:
            continue
        up_earth = qrotate(quat[start:stop], acc_m_s2[start:stop])
        v = np.mean(up_earth[np.all(np.isfinite(up_earth), axis=1)], axis=0)
        norm = float(np.linalg.norm(v))
        if not np.isfinite(norm) or norm < 1e-6:
            continue
        v /= norm
        # v -> z: axis v x z (horizontal), angle acos(v . z).
        axis = np.array([v[1], -v[0], 0.0])
        s = float(np.linalg.norm(axis))
        angle = float(np.arctan2(s, v[2]))
        rotvec = np.zeros(3) if s < 1e-12 else axis / s * angle
        anchors.append((start, stop, rotvec))
    return anchors


def anchor_at_rest(
    quat: FloatArray, acc_m_s2: FloatArray, gyr_rad_s: FloatArray, rate_hz: float
) -> FloatArray:
    """``quat`` (N, 4, sensor -> earth) corrected to agree with gravity at every rest.

    Parameters
    ----------
    quat : (N, 4) smoothed orientation estimates, scalar first.
    acc_m_s2 : (N, 3) specific force in sensor coordinates, the one the filter fused.
    gyr_rad_s : (N, 3) the angular velocity the filter fused (finds the rests with
        :func:`still_samples`; a filter's own rest detector needs 1.5 s of rest before it flags
        one, which misses the short stances between movements).
    rate_hz : sampling rate.

    Returns
    -------
    (N, 4) corrected orientations; ``quat`` itself when the sensor never rests.
    """
    anchors = rest_corrections(quat, acc_m_s2, still_samples(gyr_rad_s, acc_m_s2, rate_hz), rate_hz)
    if not anchors:
        return quat
    n = len(quat)
    index = np.arange(n, dtype=float)
    # Knots: each rest's first and last sample carry its correction; np.interp holds the
    # end values before the first and after the last knot and interpolates in between.
    knots = np.array([k for start, stop, _ in anchors for k in (start, stop - 1)], dtype=float)
    values = np.array([r for _, _, r in anchors for _ in (0, 1)])
    rotvec = np.column_stack([np.interp(index, knots, values[:, i]) for i in range(3)])
    return qmul(quat_from_rotvec(rotvec), quat)
