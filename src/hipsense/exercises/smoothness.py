"""Movement smoothness: the spectral arc length (SPARC) of a speed profile.

SPARC (Balasubramanian, Melendez-Calderon, Roby-Brami & Burdet 2015, J NeuroEng Rehabil
12:112) is the negative arc length of the normalised Fourier magnitude spectrum of the speed,
up to an adaptive cut-off frequency. Smoother movements have fewer spectral components and a
value closer to zero (about -1.4 for one minimum-jerk movement here); jerky ones are more
negative. It is robust to noise and independent of amplitude and duration.
"""

from __future__ import annotations

import numpy as np

from hipsense.types import FloatArray

MAX_CUTOFF_HZ = 10.0  # human movement has negligible content above ~10 Hz
AMPLITUDE_THRESHOLD = 0.05  # adaptive cut-off: last frequency with >= 5 % of the peak
PAD_LEVEL = 4  # zero padding to 2**(ceil(log2 N) + 4) points for a fine spectrum


def sparc(speed: FloatArray, rate_hz: float) -> float:
    """Spectral arc length of a speed profile sampled at ``rate_hz`` (dimensionless, <= 0).

    Examples
    --------
    >>> t = np.linspace(0, 1, 101)
    >>> round(sparc(30 * t**2 * (1 - t) ** 2, 100.0), 2)  # minimum-jerk speed profile
    -1.41
    """
    speed = np.asarray(speed, dtype=float)
    if len(speed) < 3 or not np.any(speed > 0):
        return float("nan")
    n_fft = int(2 ** (np.ceil(np.log2(len(speed))) + PAD_LEVEL))
    freq = np.fft.rfftfreq(n_fft, 1.0 / rate_hz)
    mag = np.abs(np.fft.rfft(speed, n_fft))
    mag = mag / mag[0]
    keep = freq <= MAX_CUTOFF_HZ
    freq, mag = freq[keep], mag[keep]
    above = np.flatnonzero(mag >= AMPLITUDE_THRESHOLD)
    stop = int(above[-1]) + 1 if len(above) else len(mag)
    freq, mag = freq[:stop], mag[:stop]
    if len(freq) < 2:
        return 0.0
    df = np.diff(freq) / freq[-1]
    dm = np.diff(mag)
    return float(-np.sum(np.sqrt(df * df + dm * dm)))
