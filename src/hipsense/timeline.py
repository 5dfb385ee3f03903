"""Resampling of every sensor onto one session timeline (interpolated orientations).

Sensors sample at their own instants and rates. The session grid is ``t0 + k / rate_hz`` with
``t0`` the latest first-sample time over the sensors, so every sensor has data at ``t0``. A
grid point is emitted as soon as every sensor has a sample at or after it, so the output does
not depend on how the input was split into blocks. Grid points inside a gap of a sensor's
data (consecutive samples further apart than ``max_gap_s``) get NaN for that sensor rather
than an interpolation across the hole.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hipsense.errors import ConfigurationError
from hipsense.kernels import resample_role
from hipsense.types import AlignedBlock, FloatArray, OrientationBlock


class _RoleBuffer:
    """Samples of one sensor not yet passed by the grid."""

    def __init__(self) -> None:
        self.time_s = np.zeros(0)
        self.quat = np.zeros((0, 4))
        self.gyr = np.zeros((0, 3))
        self.acc = np.zeros((0, 3))
        self.rest = np.zeros(0, dtype=bool)
        self.first_time_s: float | None = None

    def append(self, block: OrientationBlock) -> None:
        if len(block) == 0:
            return
        if self.first_time_s is None:
            self.first_time_s = float(block.time_s[0])
        if len(self.time_s) == 0:
            # Nothing pending: keep the block's arrays (no copy when they are already
            # contiguous float64; they are only read).
            self.time_s = np.ascontiguousarray(block.time_s, dtype=float)
            self.quat = np.ascontiguousarray(block.quat, dtype=float)
            self.gyr = np.ascontiguousarray(block.gyr_rad_s, dtype=float)
            self.acc = np.ascontiguousarray(block.acc_m_s2, dtype=float)
            self.rest = np.ascontiguousarray(block.rest, dtype=bool)
            return
        self.time_s = np.concatenate((self.time_s, block.time_s))
        self.quat = np.concatenate((self.quat, block.quat))
        self.gyr = np.concatenate((self.gyr, block.gyr_rad_s))
        self.acc = np.concatenate((self.acc, block.acc_m_s2))
        self.rest = np.concatenate((self.rest, block.rest))

    def drop_before(self, index: int) -> None:
        if index <= 0:
            return
        self.time_s = self.time_s[index:]
        self.quat = self.quat[index:]
        self.gyr = self.gyr[index:]
        self.acc = self.acc[index:]
        self.rest = self.rest[index:]


class TimelineResampler:
    """Stateful resampler: orientation blocks of several sensors in, aligned frames out.

    Parameters
    ----------
    roles : the sensors that must all be present.
    rate_hz : output rate of the session timeline.
    max_gap_s : a hole in one sensor's data longer than this is not interpolated across.
    """

    def __init__(self, roles: Sequence[str], rate_hz: float, max_gap_s: float = 0.25) -> None:
        if rate_hz <= 0:
            raise ConfigurationError(f"output rate must be positive, got {rate_hz}")
        self.roles = list(roles)
        self.rate_hz = float(rate_hz)
        self.max_gap_s = float(max_gap_s)
        self._buffers = {r: _RoleBuffer() for r in self.roles}
        self._t0: float | None = None
        self._next_k = 0

    @property
    def t0_s(self) -> float | None:
        """Session time of the first grid point (None until every sensor has data)."""
        return self._t0

    def push(self, block: OrientationBlock) -> None:
        """Add one sensor's orientations (must continue that sensor's previous block)."""
        if block.role not in self._buffers:
            raise ConfigurationError(f"unexpected sensor role {block.role!r}")
        self._buffers[block.role].append(block)

    def pull(self) -> AlignedBlock:
        """All grid points that every sensor has now passed (possibly none)."""
        bufs = self._buffers
        if self._t0 is None:
            firsts = [b.first_time_s for b in bufs.values()]
            if any(f is None for f in firsts):
                return self._empty()
            self._t0 = max(f for f in firsts if f is not None)
        last = min(float(b.time_s[-1]) if len(b.time_s) else -np.inf for b in bufs.values())
        k_max = int(np.floor((last - self._t0) * self.rate_hz + 1e-9))
        if k_max < self._next_k:
            return self._empty()
        k = np.arange(self._next_k, k_max + 1)
        t = self._t0 + k / self.rate_hz
        # Guard the floor's epsilon: keep only grid points every sensor really reached.
        t = t[t <= last]
        if len(t) == 0:
            return self._empty()
        self._next_k += len(t)
        quat: dict[str, FloatArray] = {}
        gyr: dict[str, FloatArray] = {}
        acc: dict[str, FloatArray] = {}
        rest: dict[str, np.ndarray] = {}
        for role, b in bufs.items():
            quat[role], gyr[role], acc[role], rest[role], keep_from = _interpolate(
                b, t, self.max_gap_s
            )
            b.drop_before(keep_from)
        return AlignedBlock(t, quat, gyr, acc, rest)

    def _empty(self) -> AlignedBlock:
        z = np.zeros(0)
        return AlignedBlock(
            z,
            {r: np.zeros((0, 4)) for r in self.roles},
            {r: np.zeros((0, 3)) for r in self.roles},
            {r: np.zeros((0, 3)) for r in self.roles},
            {r: np.zeros(0, dtype=bool) for r in self.roles},
        )


def _interpolate(
    b: _RoleBuffer, t: FloatArray, max_gap_s: float
) -> tuple[FloatArray, FloatArray, FloatArray, np.ndarray, int]:
    """Values of one sensor at grid times ``t`` (all within its buffered span); see
    :func:`hipsense.kernels.resample_role`."""
    n = len(t)
    quat, gyr, acc = np.empty((n, 4)), np.empty((n, 3)), np.empty((n, 3))
    rest = np.empty(n, dtype=bool)
    keep_from = resample_role(
        b.time_s, b.quat, b.gyr, b.acc, b.rest, t, max_gap_s, quat, gyr, acc, rest
    )
    # The left neighbour of the last grid point is still needed for the next grid point.
    return quat, gyr, acc, rest, int(keep_from)
