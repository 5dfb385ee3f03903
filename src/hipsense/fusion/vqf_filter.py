"""VQF (Laidig & Seel, Information Fusion 2023), the default estimator.

Uses the C++ implementation from the ``vqf`` package; 6D (gyroscope + accelerometer) unless a
magnetometer is given and ``use_mag`` is set, because indoor magnetic fields are unreliable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from vqf import VQF, offlineVQF

from hipsense.fusion.base import OrientationFilter
from hipsense.fusion.rest_anchor import anchor_at_rest
from hipsense.types import FloatArray


class VQFFilter(OrientationFilter):
    """Versatile quaternion-based filter with rest and motion gyro-bias estimation.

    Parameters
    ----------
    rate_hz : sampling rate.
    use_mag : fuse the magnetometer (9D) when samples carry one.
    **params : VQF parameters overriding the defaults (e.g. ``tauAcc=3.0``).
    """

    name = "vqf"
    supports_smoothing = True
    #: :meth:`smooth` anchors the inclination at rests (False: offlineVQF's output as it is)
    rest_anchoring = True

    def __init__(self, rate_hz: float, use_mag: bool = False, **params: Any) -> None:
        super().__init__(rate_hz)
        self.use_mag = use_mag
        self.params = params
        self._vqf: VQF | None = None

    def _update(
        self, gyr_rad_s: FloatArray, acc_m_s2: FloatArray, mag_uT: FloatArray | None
    ) -> tuple[FloatArray, np.ndarray]:
        if self._vqf is None:
            self._vqf = VQF(1.0 / self.rate_hz, **self.params)
        if self.use_mag and mag_uT is not None:
            out = self._vqf.updateBatch(gyr_rad_s, acc_m_s2, mag_uT)
            return out["quat9D"], out["restDetected"]
        out = self._vqf.updateBatch(gyr_rad_s, acc_m_s2)
        return out["quat6D"], out["restDetected"]

    def _smooth(
        self, gyr_rad_s: FloatArray, acc_m_s2: FloatArray, mag_uT: FloatArray | None
    ) -> tuple[FloatArray, np.ndarray]:
        # offlineVQF: the same filter run forwards and backwards over the whole recording,
        # its gyroscope bias and rest estimates from both directions (Laidig & Seel 2023).
        # Then every rest anchors the inclination to gravity (:mod:`.rest_anchor`).
        params = dict(self.params) or None
        if self.use_mag and mag_uT is not None:
            out = offlineVQF(gyr_rad_s, acc_m_s2, mag_uT, 1.0 / self.rate_hz, params)
            quat = out["quat9D"]
        else:
            out = offlineVQF(gyr_rad_s, acc_m_s2, None, 1.0 / self.rate_hz, params)
            quat = out["quat6D"]
        rest = out["restDetected"]
        if self.rest_anchoring:
            quat = anchor_at_rest(quat, acc_m_s2, gyr_rad_s, self.rate_hz)
        return quat, rest
