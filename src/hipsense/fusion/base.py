"""The one interface every orientation estimator implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from hipsense.errors import ConfigurationError
from hipsense.kernels import lever_arm_acc
from hipsense.types import FloatArray, OrientationBlock, SampleBlock

# Angular acceleration as the gyroscope difference over this many samples: a single-sample
# difference turns gyro noise into ~0.2 m/s^2 of lever-arm noise, enough to keep VQF's rest
# detector (0.5 m/s^2) from ever firing (no rest bias estimation, rotation drifts by degrees);
# 3 samples keeps rest detection intact at a lag of 1.5 samples.
LEVER_ARM_DIFF_SAMPLES = 3

_Fuse = Callable[[FloatArray, FloatArray, "FloatArray | None"], tuple[FloatArray, np.ndarray]]


class OrientationFilter(ABC):
    """Stateful sensor-orientation estimator working on blocks of samples.

    ``__init__`` only stores parameters; :meth:`process` consumes a :class:`SampleBlock` and
    returns the orientation of every sample (sensor -> earth, z up, scalar first). Feeding a
    stream in many small blocks gives the same result as one big block.

    Parameters
    ----------
    rate_hz : nominal sampling rate of the sensor (the filters assume a constant rate).

    Attributes
    ----------
    lever_arm_m : optional (3,) position of the sensor relative to the centre of rotation of
        its segment (a thigh sensor: relative to the hip joint centre), sensor coordinates,
        metres. When set, the rotational acceleration of that point, ``w x (w x r) +
        dw/dt x r``, is removed from the accelerometer before fusion, so the inclination
        correction sees gravity instead of the circling sensor's centripetal and tangential
        acceleration. ``None`` (default) fuses the raw accelerometer. It may be set between
        blocks (after a live calibration); the angular-acceleration state carries across
        blocks either way.
    gyro_correction : optional (3, 3) matrix ``K``; when set, every gyroscope sample is
        replaced by ``K @ gyr_rad_s`` before anything else (the calibrated scale and axis of
        the sensor's flexion response, :mod:`hipsense.body.gyro_axis`). ``None`` (default):
        the raw gyroscope. Like ``lever_arm_m`` it may be set between blocks.
    """

    name: str = "base"

    def __init__(self, rate_hz: float) -> None:
        if not np.isfinite(rate_hz) or rate_hz <= 0:
            raise ConfigurationError(f"sampling rate must be a positive number, got {rate_hz}")
        self.rate_hz = float(rate_hz)
        self.lever_arm_m: FloatArray | None = None
        self.gyro_correction: FloatArray | None = None
        self._gyr_history: FloatArray | None = None

    def use_corrections(self, lever_arm_m: Any = None, gyro_correction: Any = None) -> None:
        """Set :attr:`lever_arm_m` and :attr:`gyro_correction` (a segment calibration's
        ``lever_arm_m`` and ``gyro_correction``, lists or arrays; None switches one off)."""
        self.lever_arm_m = None if lever_arm_m is None else np.asarray(lever_arm_m, np.float64)
        self.gyro_correction = (
            None if gyro_correction is None else np.asarray(gyro_correction, np.float64)
        )

    @abstractmethod
    def _update(
        self, gyr_rad_s: FloatArray, acc_m_s2: FloatArray, mag_uT: FloatArray | None
    ) -> tuple[FloatArray, np.ndarray]:
        """Return (quaternions (N, 4), rest flags (N,)) for consecutive samples."""

    #: whether :meth:`smooth` (a whole-block, forward-backward estimate) is available
    supports_smoothing: bool = False

    def _smooth(
        self, gyr_rad_s: FloatArray, acc_m_s2: FloatArray, mag_uT: FloatArray | None
    ) -> tuple[FloatArray, np.ndarray]:
        """Return (quaternions, rest flags) using every sample of the block (acausal)."""
        raise ConfigurationError(
            f"the {self.name} filter has no whole-session smoother; use vqf or the causal filter"
        )

    def process(self, block: SampleBlock) -> OrientationBlock:
        """Orientation of each sample of ``block`` (continues from the previous block)."""
        return self._run(block, self._update)

    def smooth(self, block: SampleBlock) -> OrientationBlock:
        """Orientation of each sample of ``block`` from all of its samples, past and future.

        A forward-backward estimate of the whole block (for vqf: ``offlineVQF``); the block is
        one complete recording of the sensor, so calling it twice does not continue the first
        call. Gyroscope correction and lever-arm compensation apply as in :meth:`process`.
        """
        self._gyr_history = None
        return self._run(block, self._smooth)

    def _run(self, block: SampleBlock, fuse: _Fuse) -> OrientationBlock:
        gyr = np.ascontiguousarray(block.gyr_rad_s, dtype=np.float64)
        if self.gyro_correction is not None:
            gyr = _apply_matrix(self.gyro_correction, gyr)
        acc = np.ascontiguousarray(block.acc_m_s2, dtype=np.float64)
        mag = None if block.mag_uT is None else np.ascontiguousarray(block.mag_uT, np.float64)
        if len(gyr) == 0:
            quat = np.zeros((0, 4))
            rest = np.zeros(0, dtype=bool)
        else:
            lever_acc = self._lever_arm_acc(gyr)
            fused_acc = acc if lever_acc is None else acc - lever_acc
            quat, rest = fuse(gyr, fused_acc, mag)
        # Downstream stages (calibration, rest detection) get the raw accelerometer.
        return OrientationBlock(block.role, block.time_s, quat, acc, gyr, rest)

    def _lever_arm_acc(self, gyr_rad_s: FloatArray) -> FloatArray | None:
        """Rotational acceleration at the lever arm (sensor coordinates, m/s^2), or None."""
        n = LEVER_ARM_DIFF_SAMPLES
        history = self._gyr_history
        if history is None:
            history = np.repeat(gyr_rad_s[:1], n, axis=0)
        self._gyr_history = np.concatenate((history, gyr_rad_s[-n:]))[-n:]
        if self.lever_arm_m is None:
            return None
        r = np.asarray(self.lever_arm_m, dtype=np.float64)
        # Causal difference over n samples; the carried history makes block splits irrelevant.
        extended = np.concatenate((history, gyr_rad_s))
        return lever_arm_acc(extended, n, self.rate_hz, r)


def _apply_matrix(m: FloatArray, v: FloatArray) -> FloatArray:
    """``v @ m.T`` with plain multiply-adds per sample, so any block split gives the same bits
    (a BLAS product may take different code paths for different block lengths)."""
    m = np.asarray(m, dtype=np.float64)
    out = np.empty_like(v)
    for i in range(3):
        out[:, i] = v[:, 0] * m[i, 0] + v[:, 1] * m[i, 1] + v[:, 2] * m[i, 2]
    return out


def initial_quat_from_acc(acc_m_s2: FloatArray) -> FloatArray:
    """Shortest rotation taking the measured specific force onto earth +z (heading 0).

    Used to start filters that would otherwise need seconds to converge from identity.
    """
    a = np.asarray(acc_m_s2, dtype=float)
    n = np.linalg.norm(a)
    if n < 1e-6:
        return np.array([1.0, 0.0, 0.0, 0.0])
    a = a / n
    # q = normalize([1 + a.z, a x z]) maps a onto z.
    axis = np.cross(a, np.array([0.0, 0.0, 1.0]))
    q = np.array([1.0 + a[2], *axis])
    if np.linalg.norm(q) < 1e-9:  # upside down: rotate 180 deg about x
        return np.array([0.0, 1.0, 0.0, 0.0])
    return q / np.linalg.norm(q)
