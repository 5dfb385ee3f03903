"""Calibration from a static pose and walking (no knee lifts, no hip hinges).

The idea of Xsens MVN's N-pose + walk calibration, with the physics written out:

- **superior axis (z)** of every segment: gravity during the static pose (:mod:`.static_pose`);
- **thigh left axis (y)**: walking swings each thigh about its medio-lateral axis. In sensor
  coordinates the angular rate, with its component about the vertical removed (turning rotates
  the whole body about the vertical; a flexed thigh would otherwise see that turn on its own
  anterior axis), is dominated by that one axis: the principal axis of the rate in the plane
  orthogonal to z. Off-axis rotation that moves with flexion turns that axis: the pelvis's
  obliquity in the thigh's own rotation, hip ab/adduction in its rotation relative to the
  pelvis (the thigh's rate minus the pelvis's, carried over by the heading offset below). Both
  are tried; anatomical axes seen from the pelvis are parallel, so with two thighs the one whose
  left and right axes agree better is kept (on hipsim's forward gait the thigh's own, 3-4 deg
  apart against 16-20; on its backward gait the hip's, 1-5 deg against 19-23; on the OpenSense
  trial the hip's, 26 deg against 31). Its sign comes from the gait's asymmetry: the thigh
  swings further forward (hip flexion, about 25 deg) than backward (about 10-15 deg of
  extension), read from the fused inclination of the thigh against the static pose, so the
  flexion side is the one with the larger excursion (the midpoint of its 5th-95th percentile
  range is positive);
- **pelvis left axis**: the pelvis rotates little about its own medio-lateral axis while
  walking (1-3 deg of tilt), too little to find the axis; instead the pelvis's left axis is the
  mean of the thighs' flexion axes during walking, carried into the pelvis sensor's coordinates.
  That needs the **heading offset** between the pelvis sensor's earth frame and each thigh
  sensor's (6D fusion gives every sensor a heading of its own). It is observable because the
  sensors ride on one body: the acceleration of each hip joint centre is the same whether
  computed from the thigh sensor or from the pelvis sensor, each corrected for its rotation
  about that point (``a_joint = R (a_sensor - K r)``, ``K = [alpha]x + [omega]x^2``, ``r`` the
  sensor's position from the joint, unknown and fitted too). Without the rotational terms the
  thigh's swing (a 0.2 m lever at 10 rad/s^2) biases the fitted heading by 10-20 deg on the
  OpenSense trial; with them (and each sensor's sampling offset, see :func:`_joint_terms`) it
  is 3-8 deg from the Xsens 9D relative heading, and on hipsim 0.1 deg on exact data, up to
  2.3 deg with the accuracy bar's error model. The offset is fitted per 5 s window and as a straight
  line in time (the relative heading of 6D fusion drifts with the gyroscope bias). Averaging the
  left and right flexion axes cancels a symmetric toe-out. The pelvis's own walking direction
  (principal axis of its horizontal acceleration) was the alternative; it has no sign of its
  own and is bent by the pelvis's rotation at step frequency, so it is not used.

Expected accuracy: each axis is estimated from each quarter of the walking as well; the spread
of the quarters (standard deviation, deg) is that axis's uncertainty. For the pelvis the
heading offset's standard error and the fit's own bias (``HEADING_FIT_BIAS_DEG`` per thigh,
averaged over the thighs) are added; for each thigh, half the angle between the two thighs'
gait axes seen in the pelvis's coordinates (parallel for anatomical axes and feet forward; the
pelvis's axis, their mean, keeps little of it, the two deviating as mirror images).
``expected_error_deg`` is ``e_hip``, the pelvis and thigh axis uncertainties combined
(root sum of squares, the worse hip), in degrees of axis misalignment like the routine's. An
axis error ``e`` about the vertical turns a hip flexion ``F`` into ``F cos e`` plus ``F sin e``
of abduction (and tilt into obliquity alike): at 30 deg of flexion, ``30 sin(e)`` of cross-talk
(stated in the notes), while flexion loses only ``30 (1 - cos e)``. The quality figures also
give ``atan(sqrt(minor / major variance))`` of each thigh's rate, a bound on how far off-axis
rotation that moves with flexion could turn its gait axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt

from hipsense.body.calibration import Calibration, SegmentCalibration, segment_from_axes
from hipsense.body.frames import nlerp, qconj, qrotate, quat_to_matrix
from hipsense.body.static_pose import StaticPose, find_static_pose, still_frames
from hipsense.errors import CalibrationError
from hipsense.types import AlignedBlock, FloatArray, index_runs

WALK_MIN_RATE_RAD_S = np.deg2rad(15.0)
WALK_RATE_WINDOW_S = 1.0
WALK_MIN_S = 4.0
AXIS_CHUNKS = 4
LOWPASS_HZ = 6.0
HEADING_WINDOW_S = 5.0
REFERENCE_FLEXION_DEG = 30.0
# Quality score lost per degree of expected axis error (the mounting method's 18 deg: 55/100).
SCORE_PER_DEG = 2.5
# The heading fit's bias on one side, beyond its windows' spread: up to 2.3 deg on hipsim with
# the accuracy bar's error model (0.1 deg on exact data; gyroscope scale and misalignment turn the
# sensors' headings during turns, noise enters the lever-arm fit), 2.9 and 7.9 deg from the
# Xsens 9D headings on the OpenSense trial (whose magnetometer-based headings are not exact
# indoors either).
HEADING_FIT_BIAS_DEG = 3.0
SIGN_MIN_ASYMMETRY = 0.05
# Walking alternates: the legs are half a stride apart, so their flexion rates are
# anti-correlated (-1 for pure sinusoids; -0.95 in hipsim's gait, -0.48 on the OpenSense trial
# with its turns). One leg at a time (knee lifts, steps up) gives about 0, both together
# (squats, hinges, jumps) a positive correlation.
ALTERNATION_MAX_CORRELATION = -0.2
LEVER_ARM_RIDGE_M2 = 1e-3

_UP = np.array([0.0, 0.0, 1.0])


@dataclass
class HeadingFit:
    """Heading of a thigh sensor's earth frame in the pelvis sensor's: ``delta(t)``.

    ``Rz(delta(t))`` maps the thigh's earth coordinates onto the pelvis's;
    ``delta(t) = delta_rad + drift_rad_s * (t - t_ref_s)``.
    """

    delta_rad: float
    drift_rad_s: float
    t_ref_s: float
    window_sd_deg: float
    n_windows: int
    standard_error_deg: float
    lever_arm_m: FloatArray

    def at(self, time_s: FloatArray) -> FloatArray:
        """``delta`` (rad) at session times ``time_s``."""
        return self.delta_rad + self.drift_rad_s * (np.asarray(time_s) - self.t_ref_s)


def _earth_up_in_sensor(q: FloatArray) -> FloatArray:
    return qrotate(qconj(q), _UP)


def horizontal_rate(q: FloatArray, gyr_rad_s: FloatArray) -> FloatArray:
    """Angular rate in sensor coordinates without its component about the vertical."""
    up = _earth_up_in_sensor(q)
    return gyr_rad_s - np.einsum("ij,ij->i", gyr_rad_s, up)[:, None] * up


def _plane_basis(z: FloatArray) -> tuple[FloatArray, FloatArray]:
    helper = np.eye(3)[int(np.argmin(np.abs(z)))]
    e1 = np.cross(z, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(z, e1)


def _principal_angle(c: FloatArray) -> tuple[float, float]:
    """(axis angle in the plane, variance ratio minor/major) of (N, 2) samples."""
    cov = c.T @ c
    evals, evecs = np.linalg.eigh(cov)
    axis = evecs[:, -1]
    return float(np.arctan2(axis[1], axis[0])), float(evals[0] / max(evals[1], 1e-300))


def _axial_spread_deg(angles: list[float], ref: float) -> float:
    """Standard deviation (deg) of axis angles (modulo pi) around ``ref``."""
    d = [np.angle(np.exp(2j * (a - ref))) / 2 for a in angles]
    return float(np.degrees(np.std(d, ddof=1))) if len(d) > 1 else float("nan")


def _chunks(rows: np.ndarray) -> list[np.ndarray]:
    return [c for c in np.array_split(rows, AXIS_CHUNKS) if len(c) >= 10]


def find_walking(data: AlignedBlock, static: StaticPose) -> np.ndarray:
    """Frames after the static pose where every thigh swings (see the module docstring).

    A frame is walking when no sensor is still and each thigh's horizontal angular rate, rms
    over ``WALK_RATE_WINDOW_S``, exceeds ``WALK_MIN_RATE_RAD_S``: a 10 deg swing (the smallest
    that makes the axis observable above the gyroscope's noise) at half a stride per second.
    """
    t = data.time_s
    n_win = max(1, round(WALK_RATE_WINDOW_S / float(np.median(np.diff(t)))))
    walking = ~still_frames(data)
    walking[: static.stop] = False
    kernel = np.ones(n_win) / n_win
    for role in data.quat:
        if role == "pelvis":
            continue
        h = horizontal_rate(data.quat[role], data.gyr_rad_s[role])
        power = np.nan_to_num(np.sum(h**2, axis=1), nan=0.0)
        walking &= np.sqrt(np.convolve(power, kernel, mode="same")) > WALK_MIN_RATE_RAD_S
    return walking


def hip_rate(data: AlignedBlock, role: str, rows: np.ndarray, fit: HeadingFit) -> FloatArray:
    """The thigh's angular rate relative to the pelvis, thigh sensor coordinates (rad/s), at
    frames ``rows``: the pelvis's rate carried into the thigh sensor's frame through the
    heading offset ``fit``, subtracted. Turns and the pelvis's own rotation drop out."""
    delta = fit.at(data.time_s[rows])
    c, s = np.cos(delta), np.sin(delta)
    w = qrotate(data.quat["pelvis"][rows], data.gyr_rad_s["pelvis"][rows])
    # Pelvis earth -> thigh earth: Rz(-delta).
    w_thigh_earth = np.column_stack((c * w[:, 0] + s * w[:, 1], c * w[:, 1] - s * w[:, 0], w[:, 2]))
    return data.gyr_rad_s[role][rows] - qrotate(qconj(data.quat[role][rows]), w_thigh_earth)


_ThighAxis = tuple[FloatArray, dict[str, float], FloatArray]


def _thigh_axis(
    data: AlignedBlock, role: str, rows: np.ndarray, z: FloatArray, rate: FloatArray
) -> _ThighAxis:
    """(y axis in sensor coordinates, quality, flexion rate over ``rows``) from ``rate``
    (rad/s, sensor coordinates, at ``rows``): its principal axis in the plane orthogonal to z."""
    q = data.quat[role][rows]
    h = rate
    ok = np.all(np.isfinite(h), axis=1)
    e1, e2 = _plane_basis(z)
    c = np.column_stack((h @ e1, h @ e2))
    angle, ratio = _principal_angle(c[ok])
    quarters = [_principal_angle(c[k])[0] for k in _chunks(np.flatnonzero(ok))]
    spread_deg = _axial_spread_deg(quarters, angle)
    y = np.cos(angle) * e1 + np.sin(angle) * e2
    # Sign: flexion (rotation about -y) must be the larger swing.
    x = np.cross(y, z)
    up = _earth_up_in_sensor(q)
    flexion_deg = np.degrees(np.arctan2(up @ x, up @ z))
    lo, hi = np.nanpercentile(flexion_deg, [5.0, 95.0])
    if lo + hi < 0:
        y, lo, hi = -y, -hi, -lo
    asymmetry = float((lo + hi) / 2 / max(hi - lo, 1e-9))
    quality = {
        "walking_flexion_p95_deg": float(hi),
        "walking_extension_p5_deg": float(-lo),
        "walking_asymmetry": asymmetry,
        "walking_axis_variance_ratio": ratio,
        "walking_axis_bias_bound_deg": float(np.degrees(np.arctan(np.sqrt(ratio)))),
        "axis_spread_deg": spread_deg,
    }
    flexion_rate = -(data.gyr_rad_s[role][rows] @ y)
    return y, quality, flexion_rate


def _skew(v: FloatArray) -> FloatArray:
    out = np.zeros((len(v), 3, 3))
    out[:, 0, 1], out[:, 0, 2] = -v[:, 2], v[:, 1]
    out[:, 1, 0], out[:, 1, 2] = v[:, 2], -v[:, 0]
    out[:, 2, 0], out[:, 2, 1] = -v[:, 1], v[:, 0]
    return out


def _joint_terms(
    q: FloatArray, acc: FloatArray, gyr: FloatArray, rate_hz: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Earth-frame specific force ``R a`` (N, 3) and rotational matrix ``R K`` (N, 3, 3), both
    low-passed at ``LOWPASS_HZ`` (zeros where samples are missing).

    An IMU's sample is the mean over its interval (decimation filters, delta-velocity outputs),
    so it belongs to the interval's middle, half a sample before the fused orientation's
    instant: ``R`` is taken there. At 2-3 rad/s of thigh swing the half sample (5 ms at 100 Hz)
    is 0.6-0.9 deg, which leaks 0.1-0.15 m/s^2 of gravity into the horizontal and biased the
    heading by 1.5-2.5 deg on exact simulated data (0.1 deg with it).
    """
    w = np.nan_to_num(gyr)
    # At low rates (25 Hz) the cut-off stays below Nyquist.
    sos = butter(2, min(LOWPASS_HZ, 0.4 * rate_hz) / (0.5 * rate_hz), output="sos")
    alpha = np.gradient(w, axis=0) * rate_hz
    sk = _skew(w)
    k = _skew(alpha) + sk @ sk
    q = np.where(np.isnan(q), np.array([1.0, 0.0, 0.0, 0.0]), q)
    q_mid = np.vstack((q[:1], nlerp(q[:-1], q[1:], np.full(len(q) - 1, 0.5))))
    rot = quat_to_matrix(q_mid)
    a = np.nan_to_num(acc)
    u = sosfiltfilt(sos, np.einsum("nij,nj->ni", rot, a), axis=0)
    m = sosfiltfilt(sos, (rot @ k).reshape(len(q), 9), axis=0).reshape(len(q), 3, 3)
    # Per second of sampling offset, the change of R a: R (omega x a) (R(t + tau) = R (I +
    # [omega]x tau)); sensors sampled at their own instants are up to half a sample apart.
    shift = sosfiltfilt(sos, np.einsum("nij,nj->ni", rot, np.cross(w, a)), axis=0)
    return u, m, shift


def _rz(delta: FloatArray) -> FloatArray:
    c, s = np.cos(delta), np.sin(delta)
    out = np.zeros((len(delta), 3, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1] = c, -s, s, c
    out[:, 2, 2] = 1.0
    return out


def fit_heading_offset(data: AlignedBlock, role: str, rows: np.ndarray) -> HeadingFit:
    """Heading of ``role``'s earth frame in the pelvis sensor's earth frame, from walking.

    See the module docstring; ``rows`` are the walking frames used.
    """
    t = data.time_s
    rate_hz = 1.0 / float(np.median(np.diff(t)))
    u_t, m_t, s_t = _joint_terms(
        data.quat[role], data.acc_m_s2[role], data.gyr_rad_s[role], rate_hz
    )
    u_p, m_p, s_p = _joint_terms(
        data.quat["pelvis"], data.acc_m_s2["pelvis"], data.gyr_rad_s["pelvis"], rate_hz
    )
    finite = np.all(np.isfinite(data.gyr_rad_s[role]), axis=1) & np.all(
        np.isfinite(data.gyr_rad_s["pelvis"]), axis=1
    )
    rows = rows[finite[rows]]
    tr = t[rows]
    u_t, m_t, s_t, u_p, m_p, s_p = (v[rows] for v in (u_t, m_t, s_t, u_p, m_p, s_p))
    n_edges = max(1, round((tr[-1] - tr[0]) / HEADING_WINDOW_S))
    edges = np.linspace(tr[0], tr[-1] + 1e-9, n_edges + 1)
    # Windows of the walking's time span; those without walking frames are dropped.
    _, window = np.unique(np.searchsorted(edges, tr, side="right"), return_inverse=True)
    n_windows = int(window.max()) + 1
    t_ref = float(np.mean(tr))
    centre = np.bincount(window, tr, n_windows) / np.maximum(
        np.bincount(window, None, n_windows), 1
    )
    # Unknowns: lever arms of the thigh and pelvis sensors (m), their sampling offsets (s).
    levers = np.zeros(8)
    d0, d1 = 0.0, 0.0
    est = np.zeros(n_windows)
    weight = np.zeros(n_windows)
    for iteration in range(10):
        jt = u_t - np.einsum("nij,j->ni", m_t, levers[:3]) + levers[6] * s_t
        jp = u_p - np.einsum("nij,j->ni", m_p, levers[3:6]) + levers[7] * s_p
        c_sum = np.bincount(window, jp[:, 0] * jt[:, 0] + jp[:, 1] * jt[:, 1], n_windows)
        s_sum = np.bincount(window, jp[:, 1] * jt[:, 0] - jp[:, 0] * jt[:, 1], n_windows)
        est = np.arctan2(s_sum, c_sum)
        weight = np.hypot(s_sum, c_sum)
        if iteration == 0:
            pred = np.full(n_windows, np.angle(np.sum(weight * np.exp(1j * est))))
        else:
            pred = d0 + d1 * (centre - t_ref)
        est = pred + np.angle(np.exp(1j * (est - pred)))
        if n_windows >= 3:
            a = np.column_stack((np.ones(n_windows), centre - t_ref)) * np.sqrt(weight)[:, None]
            d0, d1 = np.linalg.lstsq(a, est * np.sqrt(weight), rcond=None)[0]
        else:
            d0, d1 = float(np.sum(weight * est) / np.sum(weight)), 0.0
        rz = _rz(d0 + d1 * (tr - t_ref))
        design = np.concatenate(
            (
                rz @ m_t,
                -m_p,
                -np.einsum("nij,nj->ni", rz, s_t)[:, :, None],
                s_p[:, :, None],
            ),
            axis=2,
        ).reshape(-1, 8)
        target = (np.einsum("nij,nj->ni", rz, u_t) - u_p).reshape(-1)
        lhs = design.T @ design + LEVER_ARM_RIDGE_M2 * len(tr) * np.eye(8)
        levers = np.linalg.solve(lhs, design.T @ target)
    pred = d0 + d1 * (centre - t_ref)
    resid = np.angle(np.exp(1j * (est - pred)))
    dof = max(n_windows - (2 if n_windows >= 3 else 1), 1)
    sd = float(np.sqrt(np.sum(weight * resid**2) / np.sum(weight) * n_windows / dof))
    se = sd / np.sqrt(n_windows) if n_windows > 1 else float("nan")
    return HeadingFit(
        float(d0),
        float(d1),
        t_ref,
        float(np.degrees(sd)),
        n_windows,
        float(np.degrees(se)),
        levers[:3].copy(),
    )


def _pelvis_axis(
    data: AlignedBlock,
    rows: np.ndarray,
    z_p: FloatArray,
    thigh_y: dict[str, FloatArray],
    fits: dict[str, HeadingFit],
) -> tuple[FloatArray, float, float]:
    """(pelvis y axis in sensor coordinates, quarter spread deg, left-right difference deg).

    The mean of the thighs' flexion axes in pelvis sensor coordinates over the walking; the
    difference is the angle between the axes that each thigh alone gives (NaN with one)."""
    e1, e2 = _plane_basis(z_p)
    per_thigh = []
    for role, y in thigh_y.items():
        y_earth = qrotate(data.quat[role][rows], y)
        delta = fits[role].at(data.time_s[rows])
        c, s = np.cos(delta), np.sin(delta)
        y_pe = np.column_stack(
            (
                c * y_earth[:, 0] - s * y_earth[:, 1],
                s * y_earth[:, 0] + c * y_earth[:, 1],
                y_earth[:, 2],
            )
        )
        v = qrotate(qconj(data.quat["pelvis"][rows]), y_pe)
        per_thigh.append(np.column_stack((v @ e1, v @ e2)))
    c2 = np.mean(per_thigh, axis=0)
    ok = np.all(np.isfinite(c2), axis=1)
    c2 = c2[ok]
    mean = c2.mean(axis=0)
    angle = float(np.arctan2(mean[1], mean[0]))
    parts = [float(np.arctan2(*c2[k].mean(axis=0)[::-1])) for k in _chunks(np.arange(len(c2)))]
    spread = _axial_spread_deg(parts, angle)
    difference = float("nan")
    if len(per_thigh) == 2:
        a, b = (np.arctan2(*p[ok].mean(axis=0)[::-1]) for p in per_thigh)
        difference = float(np.degrees(abs(np.angle(np.exp(1j * (a - b))))))
    return np.cos(angle) * e1 + np.sin(angle) * e2, spread, difference


def calibrate_walking(
    data: AlignedBlock, static_window_s: tuple[float, float] | None = None
) -> Calibration:
    """Calibrate from a static pose followed by walking.

    Parameters
    ----------
    data : aligned session data (fused 6D orientations plus raw samples).
    static_window_s : the still upright pose; found automatically when None.

    Returns
    -------
    Calibration with ``method="walking"``, ``expected_error_deg`` and notes.

    Raises
    ------
    CalibrationError
        when there is no static pose, too little walking, or the movement is not walking.
    """
    if "pelvis" not in data.quat:
        raise CalibrationError("a pelvis sensor is required: every angle is relative to it")
    thighs = [r for r in data.quat if r != "pelvis"]
    if not thighs:
        raise CalibrationError("walking calibration needs at least one thigh sensor")
    static = find_static_pose(data, static_window_s)
    walking = find_walking(data, static)
    t = data.time_s
    dt_s = float(np.median(np.diff(t)))
    walk_s = float(walking.sum() * dt_s)
    if walk_s < WALK_MIN_S:
        raise CalibrationError(
            f"found {walk_s:.1f} s of walking after the static pose (both thighs swinging at "
            f"more than {np.degrees(WALK_MIN_RATE_RAD_S):.0f} deg/s rms), at least "
            f"{WALK_MIN_S:g} s needed"
        )
    rows = np.flatnonzero(walking)
    notes: list[str] = [
        f"calibrated from the static pose {static.window_s[0]:.2f}-{static.window_s[1]:.2f} s "
        f"and {walk_s:.1f} s of walking ({len(index_runs(walking))} stretches up to "
        f"{t[rows[-1]]:.1f} s): thigh axes from the gait's flexion axis, the pelvis's from the "
        "two thighs"
    ]
    warnings: list[str] = []
    fits = {role: fit_heading_offset(data, role, rows) for role in thighs}
    # Two candidate gait axes per thigh: of its own rotation (turns removed) and of its rotation
    # relative to the pelvis. Gait moves each off the flexion axis differently: the thigh's own
    # rotation carries the pelvis's obliquity, the hip's carries hip ab/adduction; where either
    # moves with flexion it turns that axis. Anatomical axes seen from the pelvis are parallel,
    # so with two thighs the candidate whose two axes agree better is taken.
    candidates = {
        "thigh": {r: horizontal_rate(data.quat[r][rows], data.gyr_rad_s[r][rows]) for r in thighs},
        "hip": {r: hip_rate(data, r, rows, fits[r]) for r in thighs},
    }
    chosen: dict[str, tuple[dict[str, _ThighAxis], tuple[FloatArray, float, float]]] = {}
    for name, rate_of in candidates.items():
        axes = {r: _thigh_axis(data, r, rows, static.z_axis[r], rate_of[r]) for r in thighs}
        pelvis = _pelvis_axis(
            data, rows, static.z_axis["pelvis"], {r: a[0] for r, a in axes.items()}, fits
        )
        chosen[name] = (axes, pelvis)
    variant = "thigh"
    if len(thighs) == 2 and chosen["hip"][1][2] < chosen["thigh"][1][2]:
        variant = "hip"
    axes, (y_p, spread_p, left_right) = chosen[variant]
    if len(thighs) == 2:
        notes.append(
            "thigh axes from the "
            + ("hip's rotation relative to the pelvis" if variant == "hip" else "thigh's rotation")
            + f" (left and right {chosen[variant][1][2]:.1f} deg apart in the pelvis's frame, "
            f"{chosen['thigh' if variant == 'hip' else 'hip'][1][2]:.1f} deg with the other)"
        )
    thigh_y: dict[str, FloatArray] = {}
    qualities: dict[str, dict[str, float]] = {}
    rates: dict[str, FloatArray] = {}
    for role in thighs:
        y, quality, rates[role] = axes[role]
        thigh_y[role], qualities[role] = y, quality
        if abs(quality["walking_asymmetry"]) < SIGN_MIN_ASYMMETRY:
            warnings.append(
                f"{role}: the thigh swung about as far forward as back "
                f"({quality['walking_flexion_p95_deg']:.0f} vs "
                f"{quality['walking_extension_p5_deg']:.0f} deg); the sign of its flexion "
                "may be wrong"
            )
    if len(thighs) == 2:
        ok = np.isfinite(rates[thighs[0]]) & np.isfinite(rates[thighs[1]])
        corr = float(np.corrcoef(rates[thighs[0]][ok], rates[thighs[1]][ok])[0, 1])
        if corr > ALTERNATION_MAX_CORRELATION:
            raise CalibrationError(
                f"the thighs did not swing alternately as in walking (correlation {corr:+.2f} "
                f"of their flexion rates; below {ALTERNATION_MAX_CORRELATION:+.1f} needed)"
            )
        notes.append(f"left/right flexion rate correlation {corr:+.2f} (walking alternates)")
    se_delta = float(np.sqrt(np.mean([f.standard_error_deg**2 for f in fits.values()])))
    # The thighs' gait axes, carried into the pelvis's coordinates, would be parallel if each
    # were its thigh's anatomical axis and the feet pointed forward. How far apart they are is
    # what off-axis gait rotation (and the stance) does to each: half of it per thigh. Their
    # mean, the pelvis's axis, keeps little of it, as such deviations are mirror images.
    half_lr = 0.0 if np.isnan(left_right) else 0.5 * left_right
    # The heading fits' own biases, independent for the two sides, average in the mean axis.
    err_p = float(np.sqrt(spread_p**2 + se_delta**2 + HEADING_FIT_BIAS_DEG**2 / len(thighs)))
    segments: dict[str, SegmentCalibration] = {}
    quality_p = {
        "static_duration_s": static.duration_s,
        "static_gyr_rms_deg_s": static.gyr_rms_deg_s["pelvis"],
        "axis_spread_deg": spread_p,
        "axis_left_right_difference_deg": left_right,
        "axis_error_deg": err_p,
    }
    hip_errors = []
    for role in thighs:
        fit = fits[role]
        qualities[role].update(
            {
                "static_duration_s": static.duration_s,
                "static_gyr_rms_deg_s": static.gyr_rms_deg_s[role],
                "heading_offset_deg": float(np.degrees(fit.delta_rad)),
                "heading_drift_deg_s": float(np.degrees(fit.drift_rad_s)),
                "heading_window_sd_deg": fit.window_sd_deg,
                "heading_standard_error_deg": fit.standard_error_deg,
                "lever_arm_norm_m": float(np.linalg.norm(fit.lever_arm_m)),
                "axis_error_deg": float(np.hypot(qualities[role]["axis_spread_deg"], half_lr)),
            }
        )
        hip_errors.append(float(np.hypot(qualities[role]["axis_error_deg"], err_p)))
        notes.append(
            f"{role}: flexion axis to {qualities[role]['axis_error_deg']:.1f} deg "
            f"({qualities[role]['axis_spread_deg']:.1f} deg over the walking's quarters, "
            f"{half_lr:.1f} deg half the thighs' disagreement); swing "
            f"+{qualities[role]['walking_flexion_p95_deg']:.0f}/"
            f"-{qualities[role]['walking_extension_p5_deg']:.0f} deg; its earth frame is "
            f"{np.degrees(fit.delta_rad):+.1f} deg from the pelvis sensor's "
            f"(+-{fit.window_sd_deg:.1f} deg over {fit.n_windows} windows)"
        )
    e_hip = max(hip_errors)
    crosstalk = float(REFERENCE_FLEXION_DEG * np.sin(np.radians(e_hip)))
    notes.append(
        f"pelvis: left axis from the thighs ({left_right:.1f} deg between the left and the "
        f"right thigh's), {err_p:.1f} deg uncertain; expected error: "
        f"pelvis and thigh axes {e_hip:.1f} deg apart, i.e. {crosstalk:.1f} deg of abduction "
        f"cross-talk at {REFERENCE_FLEXION_DEG:.0f} deg of hip flexion; no gyroscope-scale "
        "correction (it needs the knee lifts), and the lever arms fitted for the headings are "
        "not applied (on hipsim's walking they change no angle's RMSE by more than 0.02 deg)"
    )
    score = float(np.clip(100.0 - SCORE_PER_DEG * e_hip, 0.0, 100.0))
    quality_p["score"] = score
    q0 = slice(static.start, static.stop)
    segments["pelvis"] = segment_from_axes(
        "pelvis", data.quat["pelvis"][q0], static.z_axis["pelvis"], y_p, quality_p
    )
    for role in thighs:
        qualities[role]["score"] = score
        segments[role] = segment_from_axes(
            role, data.quat[role][q0], static.z_axis[role], thigh_y[role], qualities[role]
        )
    window = (static.window_s[1], float(t[rows[-1]]))
    return Calibration(
        segments,
        static.window_s,
        window,
        score,
        warnings,
        method="walking",
        expected_error_deg=e_hip,
        notes=notes,
    )


__all__ = [
    "HeadingFit",
    "calibrate_walking",
    "find_walking",
    "fit_heading_offset",
    "horizontal_rate",
]
