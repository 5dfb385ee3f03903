"""Classic filters from the ``ahrs`` package (Madgwick, Mahony, EKF) behind our interface.

They are pure Python per sample, so much slower than VQF; they are here to compare against.
Each starts from the inclination of its first accelerometer sample instead of identity, and a
simple rest detector (gyro and acc steadiness) supplies the rest flag VQF would give.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from ahrs.filters import EKF, Madgwick, Mahony

from hipsense.fusion.base import OrientationFilter, initial_quat_from_acc
from hipsense.types import FloatArray

_REST_GYR_RAD_S = np.deg2rad(2.0)
_REST_ACC_M_S2 = 0.5


def _rest_flags(gyr_rad_s: FloatArray, acc_m_s2: FloatArray) -> np.ndarray:
    """Per-sample steadiness (no minimum duration; the kinematics stage adds one)."""
    gyr_ok = np.linalg.norm(gyr_rad_s, axis=1) < _REST_GYR_RAD_S
    acc_ok = np.abs(np.linalg.norm(acc_m_s2, axis=1) - 9.81) < _REST_ACC_M_S2
    return np.asarray(gyr_ok & acc_ok)


class _AhrsFilter(OrientationFilter):
    def __init__(self, rate_hz: float, **params: Any) -> None:
        super().__init__(rate_hz)
        self.params = params
        self._filter: Any = None
        self._q: FloatArray | None = None

    def _make(self) -> Any:
        raise NotImplementedError

    def _step(self, q: FloatArray, gyr: FloatArray, acc: FloatArray) -> FloatArray:
        return np.asarray(self._filter.updateIMU(q, gyr, acc), dtype=float)

    def _update(
        self, gyr_rad_s: FloatArray, acc_m_s2: FloatArray, mag_uT: FloatArray | None
    ) -> tuple[FloatArray, np.ndarray]:
        if self._filter is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._filter = self._make()
            self._q = initial_quat_from_acc(acc_m_s2[0])
        q = self._q
        assert q is not None
        out = np.empty((len(gyr_rad_s), 4))
        # ahrs skips the update entirely when the gyro reads exactly zero; a 1e-12 rad/s
        # floor keeps the accelerometer correction running on perfect (simulated) data.
        gyr = np.where(np.abs(gyr_rad_s) < 1e-12, 1e-12, gyr_rad_s)
        for k in range(len(gyr)):
            q = self._step(q, gyr[k], acc_m_s2[k])
            out[k] = q
        self._q = q
        return out, _rest_flags(gyr_rad_s, acc_m_s2)


class MadgwickFilter(_AhrsFilter):
    """Madgwick gradient-descent filter (IMU form); ``gain`` as in ``ahrs``."""

    name = "madgwick"

    def _make(self) -> Any:
        return Madgwick(frequency=self.rate_hz, **self.params)


class MahonyFilter(_AhrsFilter):
    """Mahony complementary filter with PI correction; ``k_P``/``k_I`` as in ``ahrs``."""

    name = "mahony"

    def _make(self) -> Any:
        return Mahony(frequency=self.rate_hz, **self.params)


class EKFFilter(_AhrsFilter):
    """Extended Kalman filter of ``ahrs``.

    ``ahrs`` calls the frame whose gravity reference matches a z-up specific force "NED"; we
    checked that its output maps a resting accelerometer onto +z, which is our earth frame.
    """

    name = "ekf"

    def _make(self) -> Any:
        params = {"frame": "NED", **self.params}
        return EKF(frequency=self.rate_hz, **params)

    def _step(self, q: FloatArray, gyr: FloatArray, acc: FloatArray) -> FloatArray:
        return np.asarray(self._filter.update(q, gyr, acc), dtype=float)
