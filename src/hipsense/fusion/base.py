"""The one interface every orientation estimator implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from hipsense.errors import ConfigurationError
from hipsense.types import FloatArray, OrientationBlock, SampleBlock


class OrientationFilter(ABC):
    """Stateful sensor-orientation estimator working on blocks of samples.

    ``__init__`` only stores parameters; :meth:`process` consumes a :class:`SampleBlock` and
    returns the orientation of every sample (sensor -> earth, z up, scalar first). Feeding a
    stream in many small blocks gives the same result as one big block.

    Parameters
    ----------
    rate_hz : nominal sampling rate of the sensor (the filters assume a constant rate).
    """

    name: str = "base"

    def __init__(self, rate_hz: float) -> None:
        if not np.isfinite(rate_hz) or rate_hz <= 0:
            raise ConfigurationError(f"sampling rate must be a positive number, got {rate_hz}")
        self.rate_hz = float(rate_hz)

    @abstractmethod
    def _update(
        self, gyr_rad_s: FloatArray, acc_m_s2: FloatArray, mag_uT: FloatArray | None
    ) -> tuple[FloatArray, np.ndarray]:
        """Return (quaternions (N, 4), rest flags (N,)) for consecutive samples."""

    def process(self, block: SampleBlock) -> OrientationBlock:
        """Orientation of each sample of ``block`` (continues from the previous block)."""
        gyr = np.ascontiguousarray(block.gyr_rad_s, dtype=np.float64)
        acc = np.ascontiguousarray(block.acc_m_s2, dtype=np.float64)
        mag = None if block.mag_uT is None else np.ascontiguousarray(block.mag_uT, np.float64)
        if len(gyr) == 0:
            quat = np.zeros((0, 4))
            rest = np.zeros(0, dtype=bool)
        else:
            quat, rest = self._update(gyr, acc, mag)
        return OrientationBlock(block.role, block.time_s, quat, acc, gyr, rest)


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
