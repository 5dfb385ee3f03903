"""The static pose of a session without the calibration routine: its first still stretch.

Both fallback methods (:mod:`.walking_calibration`, :mod:`.mounting`) take each segment's
superior axis from gravity while the person stands still and upright, as the routine does; this
module finds that stretch and reads the axes.

Still means, for every sensor, an angular rate below ``STILL_MAX_GYR_RAD_S`` and a specific
force within ``STILL_MAX_ACC_DEVIATION_M_S2`` of gravity, both averaged over 0.25 s. The limits
come from what a person standing quietly does and what the gravity direction tolerates: quiet
stance sways the trunk at 0.5-2 deg/s, far below 5 deg/s, while walking turns the thighs at
50-150 deg/s; and a linear acceleration of 0.3 m/s^2 tilts the apparent vertical by
atan(0.3 / 9.81) = 1.8 deg at most, of which the mean over the stretch keeps much less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hipsense.errors import CalibrationError
from hipsense.types import AlignedBlock, FloatArray, index_runs

GRAVITY_M_S2 = 9.81
STILL_MAX_GYR_RAD_S = np.deg2rad(5.0)
STILL_MAX_ACC_DEVIATION_M_S2 = 0.3
STILL_SMOOTH_S = 0.25
STATIC_POSE_MIN_S = 1.0


@dataclass
class StaticPose:
    """The still stretch that defines zero: frames ``start:stop`` of the data.

    Attributes
    ----------
    start, stop : frame indices (stop exclusive).
    window_s : (first, last) session time of the stretch.
    z_axis : per role, the unit superior axis in sensor coordinates (mean specific force).
    gyr_rms_deg_s : per role, the angular rate left during the stretch (rms about its mean).
    """

    start: int
    stop: int
    window_s: tuple[float, float]
    z_axis: dict[str, FloatArray]
    gyr_rms_deg_s: dict[str, float]

    @property
    def duration_s(self) -> float:
        """Length of the stretch (s)."""
        return self.window_s[1] - self.window_s[0]


def _moving_mean(x: FloatArray, n: int) -> FloatArray:
    if n <= 1:
        return x
    kernel = np.ones(n) / n
    return np.convolve(np.nan_to_num(x, nan=np.inf), kernel, mode="same")


def still_frames(data: AlignedBlock) -> np.ndarray:
    """Per frame: every sensor still (see the module docstring)."""
    t = data.time_s
    n_smooth = max(1, round(STILL_SMOOTH_S / float(np.median(np.diff(t)))))
    still = np.ones(len(t), dtype=bool)
    for role in data.quat:
        gyr = _moving_mean(np.linalg.norm(data.gyr_rad_s[role], axis=1), n_smooth)
        dev = _moving_mean(
            np.abs(np.linalg.norm(data.acc_m_s2[role], axis=1) - GRAVITY_M_S2), n_smooth
        )
        still &= (gyr < STILL_MAX_GYR_RAD_S) & (dev < STILL_MAX_ACC_DEVIATION_M_S2)
    return still


def find_static_pose(data: AlignedBlock, window_s: tuple[float, float] | None = None) -> StaticPose:
    """The first still stretch of at least ``STATIC_POSE_MIN_S`` (or the given window).

    Raises
    ------
    CalibrationError
        when no sensor-wide still stretch is long enough, saying the longest one found.
    """
    t = data.time_s
    if len(t) < 2:
        raise CalibrationError("no data to find the static pose in")
    if window_s is not None:
        rows = np.flatnonzero((t >= window_s[0]) & (t <= window_s[1]))
        if len(rows) < 2:
            raise CalibrationError(
                f"static window {window_s[0]:g}:{window_s[1]:g} s lies outside the data "
                f"({t[0]:.2f}-{t[-1]:.2f} s)"
            )
        start, stop = int(rows[0]), int(rows[-1]) + 1
    else:
        found = index_runs(still_frames(data))
        long_enough = [r for r in found if t[r[1] - 1] - t[r[0]] >= STATIC_POSE_MIN_S]
        if not long_enough:
            longest = max((t[b - 1] - t[a] for a, b in found), default=0.0)
            raise CalibrationError(
                f"no still stretch of {STATIC_POSE_MIN_S:g} s with every sensor still (the "
                f"longest: {longest:.1f} s); stand still and upright for 2-3 s at the start"
            )
        start, stop = long_enough[0]
    z_axis: dict[str, FloatArray] = {}
    gyr_rms: dict[str, float] = {}
    for role in data.quat:
        acc = data.acc_m_s2[role][start:stop]
        gyr = data.gyr_rad_s[role][start:stop]
        mean = np.nanmean(acc, axis=0)
        norm = float(np.linalg.norm(mean))
        if not abs(norm - GRAVITY_M_S2) < 3 * STILL_MAX_ACC_DEVIATION_M_S2:
            raise CalibrationError(
                f"{role}: the static pose reads {norm:.2f} m/s^2 instead of 9.81: moving, or "
                "not m/s^2"
            )
        z_axis[role] = mean / norm
        dev = gyr - np.nanmean(gyr, axis=0)
        gyr_rms[role] = float(np.degrees(np.sqrt(np.nanmean(np.sum(dev**2, axis=1)))))
    return StaticPose(start, stop, (float(t[start]), float(t[stop - 1])), z_axis, gyr_rms)
