"""VQF (Laidig & Seel, Information Fusion 2023), the default estimator.

Uses the C++ implementation from the ``vqf`` package; 6D (gyroscope + accelerometer) unless a
magnetometer is given and ``use_mag`` is set, because indoor magnetic fields are unreliable.

One addition: while VQF's own rest detector reports rest, the accelerometer correction time
constant drops from ``tauAcc`` (3 s) to ``rest_tau_acc_s`` (1 s). At rest the specific force
is gravity alone, so the inclination error a movement left behind (a whole-body turn through
a gyroscope axis misaligned by 0.5 deg leaves about 1 deg; the start and stop of walking
leave some too) can be removed quickly without letting linear acceleration in. Adapting the
accelerometer gain to the motion state is the idea of adaptive-gain complementary filters
(e.g. Valenti, Dryanovski & Xiao 2015, Sensors 15(8) 19302, gain by acceleration magnitude);
here the state is VQF's rest flag (gyroscope below 2 deg/s and accelerometer within 0.5 m/s^2
of its low-passed value for 1.5 s, the package defaults). Measured on the simulator's reverse
walking (two 180 deg turns), seeds 1-8: pelvic tilt RMSE 0.36-0.59 deg with 3 s throughout,
0.32-0.48 deg with 1 s at rest; 0.5 s and below let slow movement that passes for rest in
(hip lift tilt 0.20 -> 0.30 deg); ``benchmarks/accuracy.py --seeds 8`` prints the sweep.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from vqf import VQF

from hipsense.fusion.base import OrientationFilter
from hipsense.types import FloatArray

DEFAULT_TAU_ACC_S = 3.0  # VQF's own default
REST_TAU_ACC_S = 1.0


class VQFFilter(OrientationFilter):
    """Versatile quaternion-based filter with rest and motion gyro-bias estimation.

    Parameters
    ----------
    rate_hz : sampling rate.
    use_mag : fuse the magnetometer (9D) when samples carry one.
    rest_tau_acc_s : accelerometer time constant while at rest (see the module docstring);
        None keeps ``tauAcc`` throughout (plain VQF).
    **params : VQF parameters overriding the defaults (e.g. ``tauAcc=3.0``).
    """

    name = "vqf"

    def __init__(
        self,
        rate_hz: float,
        use_mag: bool = False,
        rest_tau_acc_s: float | None = REST_TAU_ACC_S,
        **params: Any,
    ) -> None:
        super().__init__(rate_hz)
        self.use_mag = use_mag
        self.rest_tau_acc_s = rest_tau_acc_s
        self.params = params
        self._vqf: VQF | None = None
        self._rest_gain = False  # whether the rest time constant is in force

    def _update(
        self, gyr_rad_s: FloatArray, acc_m_s2: FloatArray, mag_uT: FloatArray | None
    ) -> tuple[FloatArray, np.ndarray]:
        if self._vqf is None:
            self._vqf = VQF(1.0 / self.rate_hz, **self.params)
        use_mag = self.use_mag and mag_uT is not None
        key = "quat9D" if use_mag else "quat6D"
        if self.rest_tau_acc_s is None:
            out = self._batch(gyr_rad_s, acc_m_s2, mag_uT if use_mag else None)
            return out[key], out["restDetected"]
        # The time constant changes after the sample whose rest flag differs from the one in
        # force, exactly as a sample-by-sample loop would, whatever the block split: run the
        # block, and where the flag changes, restore the state, re-run up to that sample,
        # switch, and go on with the rest. Rest starts and ends are rare, so nearly every
        # block runs once.
        quats: list[FloatArray] = []
        rests: list[np.ndarray] = []
        i, n = 0, len(gyr_rad_s)
        while i < n:
            saved = self._vqf.state
            mag = mag_uT[i:] if use_mag and mag_uT is not None else None
            out = self._batch(gyr_rad_s[i:], acc_m_s2[i:], mag)
            flips = np.flatnonzero(out["restDetected"] != self._rest_gain)
            if not len(flips):
                quats.append(out[key])
                rests.append(out["restDetected"])
                break
            end = i + int(flips[0]) + 1
            self._vqf.state = saved
            mag = mag_uT[i:end] if use_mag and mag_uT is not None else None
            out = self._batch(gyr_rad_s[i:end], acc_m_s2[i:end], mag)
            quats.append(out[key])
            rests.append(out["restDetected"])
            self._rest_gain = not self._rest_gain
            tau_motion = float(self.params.get("tauAcc", DEFAULT_TAU_ACC_S))
            self._vqf.setTauAcc(self.rest_tau_acc_s if self._rest_gain else tau_motion)
            i = end
        if len(quats) == 1:
            return quats[0], rests[0]
        if not quats:
            return np.empty((0, 4)), np.zeros(0, dtype=bool)
        return np.concatenate(quats), np.concatenate(rests)

    def _batch(
        self, gyr_rad_s: FloatArray, acc_m_s2: FloatArray, mag_uT: FloatArray | None
    ) -> dict[str, np.ndarray]:
        assert self._vqf is not None
        gyr = np.ascontiguousarray(gyr_rad_s)
        acc = np.ascontiguousarray(acc_m_s2)
        if mag_uT is not None:
            return dict(self._vqf.updateBatch(gyr, acc, np.ascontiguousarray(mag_uT)))
        return dict(self._vqf.updateBatch(gyr, acc))
