"""Sensor orientation estimation behind one interface, selectable by name.

>>> q = estimate_orientation(gyr_rad_s, acc_m_s2, rate_hz=100.0)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hipsense.errors import ConfigurationError
from hipsense.fusion.ahrs_filters import EKFFilter, MadgwickFilter, MahonyFilter
from hipsense.fusion.base import OrientationFilter
from hipsense.fusion.vqf_filter import VQFFilter
from hipsense.types import FloatArray, SampleBlock

FILTERS: dict[str, type[OrientationFilter]] = {
    "vqf": VQFFilter,
    "madgwick": MadgwickFilter,
    "mahony": MahonyFilter,
    "ekf": EKFFilter,
}

__all__ = [
    "FILTERS",
    "EKFFilter",
    "MadgwickFilter",
    "MahonyFilter",
    "OrientationFilter",
    "VQFFilter",
    "estimate_orientation",
    "make_filter",
]


def make_filter(method: str, rate_hz: float, **params: Any) -> OrientationFilter:
    """Build the filter called ``method`` (one of :data:`FILTERS`)."""
    try:
        cls = FILTERS[method]
    except KeyError:
        raise ConfigurationError(
            f"unknown filter {method!r}; choose one of {', '.join(FILTERS)}"
        ) from None
    return cls(rate_hz, **params)


def estimate_orientation(
    gyr_rad_s: FloatArray,
    acc_m_s2: FloatArray,
    rate_hz: float,
    mag_uT: FloatArray | None = None,
    method: str = "vqf",
    offline: bool = False,
) -> FloatArray:
    """Orientation of a sensor from its raw samples.

    Parameters
    ----------
    gyr_rad_s : (N, 3) angular velocity in sensor coordinates, rad/s.
    acc_m_s2 : (N, 3) specific force in sensor coordinates, m/s^2 (+9.81 up at rest).
    rate_hz : constant sampling rate.
    mag_uT : optional (N, 3) magnetic field, microtesla; used for 9D fusion by ``vqf``.
    method : ``"vqf"`` (default), ``"madgwick"``, ``"mahony"`` or ``"ekf"``.
    offline : estimate each sample from the whole recording, past and future (forward-backward,
        vqf's ``offlineVQF``): more accurate inclination, but not what a live stream can have.
        ``False`` (default): the causal filter, sample by sample, as live.

    Returns
    -------
    (N, 4) scalar-first unit quaternions rotating sensor coordinates into the earth frame
    (z up; heading arbitrary without a magnetometer).
    """
    gyr = np.asarray(gyr_rad_s, dtype=float)
    acc = np.asarray(acc_m_s2, dtype=float)
    if gyr.ndim != 2 or gyr.shape[1] != 3 or acc.shape != gyr.shape:
        raise ConfigurationError(
            f"gyr_rad_s and acc_m_s2 must both be (N, 3); got {gyr.shape} and {acc.shape}"
        )
    params: dict[str, Any] = {"use_mag": True} if (mag_uT is not None and method == "vqf") else {}
    filt = make_filter(method, rate_hz, **params)
    block = SampleBlock(
        "pelvis",
        np.arange(len(gyr)) / rate_hz,
        acc,
        gyr,
        None if mag_uT is None else np.asarray(mag_uT, dtype=float),
    )
    return (filt.smooth(block) if offline else filt.process(block)).quat
