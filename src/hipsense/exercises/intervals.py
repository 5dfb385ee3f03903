"""Time intervals from boolean masks, and ranges that were *held*, not swung through.

Small pure functions on one segment's arrays (vectorised numpy); the analyses build on them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from hipsense.types import FloatArray

BoolArray = npt.NDArray[np.bool_]


def sample_period_s(time_s: FloatArray) -> float:
    """Median sample interval (s); 0.01 s for fewer than two samples."""
    if len(time_s) < 2:
        return 0.01
    return float(np.median(np.diff(time_s)))


def intervals(
    time_s: FloatArray, mask: BoolArray, min_duration_s: float = 0.0, merge_gap_s: float = 0.0
) -> list[tuple[float, float]]:
    """Runs of True in ``mask`` as ``(start_s, end_s)``; each sample covers one period.

    Runs separated by less than ``merge_gap_s`` are merged; runs shorter than
    ``min_duration_s`` are then dropped.

    Examples
    --------
    >>> t = np.arange(10) * 0.1
    >>> intervals(t, t > 0.45)
    [(0.5, 1.0)]
    """
    if len(time_s) == 0 or not mask.any():
        return []
    dt = sample_period_s(time_s)
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    starts, stops = edges[::2], edges[1::2] - 1
    out: list[tuple[float, float]] = []
    for i, j in zip(starts.tolist(), stops.tolist(), strict=True):
        start, end = float(time_s[i]), float(time_s[j]) + dt
        if out and start - out[-1][1] < merge_gap_s:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return [(round(a, 3), round(b, 3)) for a, b in out if b - a >= min_duration_s - 1e-9]


def mask_duration_s(time_s: FloatArray, mask: BoolArray) -> float:
    """Total time (s) where ``mask`` is True (sample count times the sample period)."""
    return float(np.count_nonzero(mask)) * sample_period_s(time_s)


def longest_run_s(time_s: FloatArray, mask: BoolArray) -> float:
    """Longest continuous run of True (s)."""
    runs = intervals(time_s, mask)
    return max((b - a for a, b in runs), default=0.0)


def hysteresis_state(values: FloatArray, enter: float, leave: float) -> npt.NDArray[np.bool_]:
    """Per frame: whether the Schmitt trigger of :func:`hysteresis_intervals` is inside a run.

    1 above ``enter``, 0 below ``leave`` (or NaN), in between the previous state (outside at
    the start).
    """
    v = np.asarray(values, dtype=float)
    state = np.full(len(v), -1, dtype=np.int8)
    state[v > enter] = 1
    state[~(v >= leave)] = 0
    decided = np.where(state >= 0, np.arange(len(v)), -1)
    np.maximum.accumulate(decided, out=decided)
    return np.where(decided >= 0, state[np.maximum(decided, 0)], 0).astype(bool)


def hysteresis_intervals(
    time_s: FloatArray, values: FloatArray, enter: float, leave: float
) -> list[tuple[float, float]]:
    """Runs where ``values`` went above ``enter`` and has not yet fallen below ``leave``.

    A Schmitt trigger (``leave <= enter``): a value held between the two levels never
    flickers in and out. Crossing instants are interpolated linearly between frames, so a
    run's duration is not quantised to the frame period. A run under way at the first frame
    starts there; one still under way at the last frame ends one period after it (each frame
    covers one period, as in :func:`intervals`). NaN counts as below ``leave``; a value
    between the levels at the first frame starts outside a run.

    Examples
    --------
    >>> t = np.arange(6) * 1.0
    >>> hysteresis_intervals(t, np.array([0.0, 10, 7, 8, 2, 0]), 5.0, 4.0)
    [(0.5, 3.667)]
    """
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return []
    dt = sample_period_s(time_s)
    inside = hysteresis_state(v, enter, leave)
    edges = np.diff(np.concatenate(([0], inside.astype(np.int8), [0])))
    out: list[tuple[float, float]] = []
    starts, stops = np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()
    for i, j in zip(starts, stops, strict=True):
        start = float(time_s[i])
        if i > 0 and np.isfinite(v[i - 1]):
            start = float(
                time_s[i - 1] + (time_s[i] - time_s[i - 1]) * _fraction(v[i - 1], v[i], enter)
            )
        if j == len(v):
            end = float(time_s[-1]) + dt
        elif np.isfinite(v[j]):
            end = float(
                time_s[j - 1] + (time_s[j] - time_s[j - 1]) * _fraction(v[j - 1], v[j], leave)
            )
        else:
            end = float(time_s[j])
        out.append((round(start, 3), round(end, 3)))
    return out


def _fraction(a: float, b: float, level: float) -> float:
    """Where between ``a`` and ``b`` (0..1) a straight line crosses ``level``."""
    return float(np.clip((level - a) / (b - a), 0.0, 1.0)) if b != a else 1.0


def smooth(values: FloatArray, time_s: FloatArray, window_s: float) -> FloatArray:
    """Centred moving average over ``window_s`` (edges use the nearest values)."""
    n = round(window_s / sample_period_s(time_s))
    if n <= 1 or len(values) == 0:
        return np.asarray(values, dtype=float)
    return uniform_filter1d(np.asarray(values, dtype=float), n, mode="nearest")


def sustained_max(
    time_s: FloatArray, values: FloatArray, valid: BoolArray, hold_s: float
) -> tuple[float, float] | None:
    """Largest value kept for at least ``hold_s`` while ``valid``: ``(value, window start s)``.

    The value is ``max`` over all windows of ``hold_s`` (every sample valid) of the window's
    ``min``, i.e. a range reached and *held*, never a momentary swing peak. None when no
    window of valid samples is long enough.
    """
    if len(values) == 0:
        return None
    n = max(1, round(hold_s / sample_period_s(time_s)))
    if n > len(values):
        return None
    x = np.where(valid, values, -np.inf)
    # minimum_filter1d centres the window; origin shifts it so out[i] covers i..i+n-1.
    lows = minimum_filter1d(x, n, mode="constant", cval=-np.inf, origin=-(n // 2))
    lows = lows[: len(values) - n + 1] if n > 1 else lows
    best = int(np.argmax(lows))
    if not np.isfinite(lows[best]):
        return None
    return float(lows[best]), float(time_s[best])
