"""Compiled per-frame loops of the pipeline's hot path (numba).

The numpy formulations in :mod:`hipsense.body.frames` stay the reference and own every sign;
each kernel here computes the same formula in one pass per frame instead of a dozen numpy
passes with temporaries (tests check the two agree to 1e-12). This is what lets the whole
pipeline run at more than half the speed of the bare VQF filter, and it keeps small live
blocks cheap (one call instead of many small numpy operations).

Every frame is computed on its own, with no reductions across frames, so a frame's result
does not depend on how the session was split into blocks (live and replay agree to the bit).
``fastmath`` stays off for the same reason.

Compiled code is cached next to this file (``cache=True``), so only the first run after an
install pays the compilation (a few seconds); :func:`warm_up` compiles everything ahead of a
live session.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hipsense.types import FloatArray

_DEG_PER_RAD = 180.0 / math.pi


@njit(cache=True)
def resample_role(
    time_s: FloatArray,
    quat: FloatArray,
    gyr: FloatArray,
    acc: FloatArray,
    rest: np.ndarray,
    grid_s: FloatArray,
    max_gap_s: float,
    quat_out: FloatArray,
    gyr_out: FloatArray,
    acc_out: FloatArray,
    rest_out: np.ndarray,
) -> int:
    """One sensor's values at the grid times (all within its samples' span).

    Orientation: normalised linear interpolation along the shortest path between the two
    neighbouring samples (:func:`hipsense.body.frames.nlerp`); raw gyroscope and accelerometer:
    the nearest sample; rest: both neighbours at rest. A grid point inside a hole longer than
    ``max_gap_s`` (or before the first sample) gets NaN and no rest. Returns the index of the
    left neighbour of the last grid point (still needed for the next grid point).
    """
    n = time_s.shape[0]
    i = 0
    for k in range(grid_s.shape[0]):
        t = grid_s[k]
        # Largest i with time_s[i] <= t (grid and samples both increase: a forward walk).
        while i + 1 < n and time_s[i + 1] <= t:
            i += 1
        j = i + 1 if i + 1 < n else n - 1
        t_i = time_s[i]
        span = time_s[j] - t_i
        frac = (t - t_i) / span if span > 0 else 0.0
        frac = min(max(frac, 0.0), 1.0)
        if span > max_gap_s or t < time_s[0]:
            for c in range(4):
                quat_out[k, c] = np.nan
            for c in range(3):
                gyr_out[k, c] = np.nan
                acc_out[k, c] = np.nan
            rest_out[k] = False
            continue
        dot = 0.0
        for c in range(4):
            dot += quat[i, c] * quat[j, c]
        w1 = -frac if dot < 0 else frac
        w0 = 1.0 - frac
        norm2 = 0.0
        for c in range(4):
            v = quat[i, c] * w0 + quat[j, c] * w1
            quat_out[k, c] = v
            norm2 += v * v
        inv = 1.0 / math.sqrt(norm2)
        for c in range(4):
            quat_out[k, c] *= inv
        near = i if frac < 0.5 else j
        for c in range(3):
            gyr_out[k, c] = gyr[near, c]
            acc_out[k, c] = acc[near, c]
        rest_out[k] = rest[i] and rest[j]
    return i


@njit(cache=True)
def apply_matrix(quat: FloatArray, m: FloatArray, out: FloatArray) -> None:
    """``out[k] = m @ quat[k]`` for every row: constant rotations on both sides of ``quat``
    (see :func:`hipsense.body.frames.sandwich_matrix`)."""
    for k in range(quat.shape[0]):
        q0 = quat[k, 0]
        q1 = quat[k, 1]
        q2 = quat[k, 2]
        q3 = quat[k, 3]
        for r in range(4):
            out[k, r] = m[r, 0] * q0 + m[r, 1] * q1 + m[r, 2] * q2 + m[r, 3] * q3


@njit(cache=True)
def pelvis_angles_deg(
    pelvis: FloatArray, tilt_deg: FloatArray, obliquity_deg: FloatArray, rotation_deg: FloatArray
) -> None:
    """Pelvic tilt, obliquity, rotation (z-y-x) of pelvis -> heading-aligned earth quaternions;
    the formula of :func:`hipsense.body.frames.pelvis_angles_from_quat`."""
    for k in range(pelvis.shape[0]):
        w = pelvis[k, 0]
        x = pelvis[k, 1]
        y = pelvis[k, 2]
        z = pelvis[k, 3]
        r00 = 1 - 2 * (y * y + z * z)
        r10 = 2 * (x * y + w * z)
        r20 = 2 * (x * z - w * y)
        r21 = 2 * (y * z + w * x)
        r22 = 1 - 2 * (x * x + y * y)
        tilt_deg[k] = math.atan2(-r20, math.sqrt(r00 * r00 + r10 * r10)) * _DEG_PER_RAD
        rotation_deg[k] = math.atan2(r10, r00) * _DEG_PER_RAD
        obliquity_deg[k] = math.atan2(r21, r22) * _DEG_PER_RAD


@njit(cache=True)
def hip_angles_deg(
    pelvis: FloatArray,
    thigh: FloatArray,
    s_abd: float,
    s_rot: float,
    flexion_deg: FloatArray,
    abduction_deg: FloatArray,
    internal_rotation_deg: FloatArray,
    inclination_deg: FloatArray,
) -> None:
    """Hip JCS angles of ``thigh`` relative to ``pelvis`` and the thigh's sagittal inclination
    (both segment -> heading-aligned earth); the formulas of
    :func:`hipsense.body.frames.hip_angles_from_quat` (on ``conj(pelvis) * thigh``) and
    :func:`hipsense.body.frames.thigh_inclination`."""
    for k in range(pelvis.shape[0]):
        pw = pelvis[k, 0]
        px = -pelvis[k, 1]
        py = -pelvis[k, 2]
        pz = -pelvis[k, 3]
        tw = thigh[k, 0]
        tx = thigh[k, 1]
        ty = thigh[k, 2]
        tz = thigh[k, 3]
        # Thigh -> pelvis: conj(pelvis) * thigh.
        w = pw * tw - px * tx - py * ty - pz * tz
        x = pw * tx + px * tw + py * tz - pz * ty
        y = pw * ty - px * tz + py * tw + pz * tx
        z = pw * tz + px * ty - py * tx + pz * tw
        r02 = 2 * (x * z + w * y)
        r22 = 1 - 2 * (x * x + y * y)
        r12 = 2 * (y * z - w * x)
        r10 = 2 * (x * y + w * z)
        r11 = 1 - 2 * (x * x + z * z)
        flexion_deg[k] = -math.atan2(r02, r22) * _DEG_PER_RAD
        abduction_deg[k] = s_abd * math.atan2(-r12, math.sqrt(r10 * r10 + r11 * r11)) * _DEG_PER_RAD
        internal_rotation_deg[k] = s_rot * math.atan2(r10, r11) * _DEG_PER_RAD
        # Inclination: the knee direction (thigh -z) in the pelvis's heading plane.
        kx = -2 * (tx * tz + tw * ty)
        ky = -2 * (ty * tz - tw * tx)
        kz = -(1 - 2 * (tx * tx + ty * ty))
        fx = 1 - 2 * (px * px + pz * pz)
        fy = -2 * (px * py + pw * pz)
        norm = math.sqrt(fx * fx + fy * fy)
        forward = (kx * fx + ky * fy) / (norm if norm > 0 else 1.0)
        inclination_deg[k] = math.atan2(forward, -kz) * _DEG_PER_RAD


@njit(cache=True)
def standing_role(
    gyr: FloatArray,
    acc: FloatArray,
    quat: FloatArray,
    z_segment: FloatArray,
    max_gyr_rad_s: float,
    gravity_m_s2: float,
    max_acc_deviation_m_s2: float,
    min_cos_pose: float,
    standing: np.ndarray,
) -> None:
    """Clear ``standing`` where this sensor moves, or its segment's z axis (in sensor
    coordinates) is further from earth's up than the pose limit. NaN frames are not standing."""
    zx = z_segment[0]
    zy = z_segment[1]
    zz = z_segment[2]
    for k in range(gyr.shape[0]):
        if not standing[k]:
            continue
        g2 = gyr[k, 0] * gyr[k, 0] + gyr[k, 1] * gyr[k, 1] + gyr[k, 2] * gyr[k, 2]
        a = math.sqrt(acc[k, 0] * acc[k, 0] + acc[k, 1] * acc[k, 1] + acc[k, 2] * acc[k, 2])
        w = quat[k, 0]
        x = quat[k, 1]
        y = quat[k, 2]
        z = quat[k, 3]
        # Earth's up in sensor coordinates = third row of the rotation matrix.
        up_dot_z = (
            2 * (x * z - w * y) * zx + 2 * (y * z + w * x) * zy + (1 - 2 * (x * x + y * y)) * zz
        )
        standing[k] = (
            math.sqrt(g2) < max_gyr_rad_s
            and abs(a - gravity_m_s2) < max_acc_deviation_m_s2
            and up_dot_z > min_cos_pose
        )


def warm_up() -> None:
    """Compile (or load from the cache) every kernel now, not on the first live block."""
    q = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    v = np.zeros((2, 3))
    t = np.array([0.0, 0.01])
    flags = np.ones(2, dtype=np.bool_)
    resample_role(t, q, v, v, flags, t, 0.25, q.copy(), v.copy(), v.copy(), flags.copy())
    apply_matrix(q, np.eye(4), q.copy())
    cols = [np.empty(2) for _ in range(4)]
    pelvis_angles_deg(q, cols[0], cols[1], cols[2])
    hip_angles_deg(q, q, 1.0, -1.0, cols[0], cols[1], cols[2], cols[3])
    standing_role(v, v, q, np.array([0.0, 0.0, 1.0]), 0.1, 9.81, 0.3, 0.9, flags)
