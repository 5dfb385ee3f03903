"""Sensor ticks -> session seconds: offset and drift per sensor, gaps, measured rate.

Each sample has a *raw time*: the sensor's own unwrapped timestamp when the format has one,
else its sample index divided by the nominal rate. The host receives notifications late and in
bursts (one connection event carries several), so host time = raw time * (1 + drift) + offset
+ a delay that is never negative. The delay's lower envelope is what the clock tracks: the
minimum of ``host - raw`` per window of ``window_s``, and a straight line through the last
windows' minima gives drift and offset (BLE_NOTES "Clocks"). Session time of a sample is that
line evaluated at its raw time, so burst arrival does not move samples in time.

Gaps are found from sequence numbers or timestamps when the format has them; for formats with
neither (WitMotion, Thingy:52) a lost notification shows up as the envelope jumping later by
more than ``1.5`` sample periods and staying there, and the index is advanced to match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hipsense.types import FloatArray

NS_PER_S = 1_000_000_000
MAX_DRIFT_PPM = 2000.0
LOSS_WINDOW_S = 0.3


@dataclass
class ClockGap:
    """Missing data of one sensor: from ``start_s`` to ``end_s`` (session time)."""

    start_s: float
    end_s: float
    missing_samples: int


class SensorClock:
    """Online mapping of one sensor's raw sample times to session time.

    Parameters
    ----------
    nominal_rate_hz : the rate the sensor was configured for.
    session_start_ns : host ``time.monotonic_ns()`` of session time 0.
    window_s : length of a lower-envelope window.
    n_windows : how many windows the drift line is fitted over.
    """

    def __init__(
        self,
        nominal_rate_hz: float,
        session_start_ns: int,
        window_s: float = 2.0,
        n_windows: int = 30,
    ) -> None:
        self.nominal_rate_hz = float(nominal_rate_hz)
        self.period_s = 1.0 / self.nominal_rate_hz
        self.session_start_ns = int(session_start_ns)
        self.window_s = window_s
        self.n_windows = n_windows
        self._raw0: float | None = None
        self._index = 0  # next sample index for formats without timestamps
        self._win_start: float | None = None
        self._win_min = np.inf
        self._win_raw = 0.0
        self._minima: list[tuple[float, float]] = []  # (raw time, min offset) per window
        self._drift = 0.0
        self._offset: float | None = None
        self._last_raw: float | None = None
        self._last_session_s = -np.inf
        self.samples_received = 0
        self.samples_missing = 0
        self.gaps: list[ClockGap] = []
        self._lateness: list[tuple[float, float]] = []  # (host s, lateness s) per notification
        self._first_host_s: float | None = None
        self._last_host_s = 0.0

    @property
    def drift_ppm(self) -> float:
        """Estimated sensor clock drift relative to the host, parts per million."""
        return self._drift * 1e6

    @property
    def measured_rate_hz(self) -> float:
        """Samples received per second of host time (0 before two notifications)."""
        if self._first_host_s is None or self._last_host_s <= self._first_host_s:
            return 0.0
        return self.samples_received / (self._last_host_s - self._first_host_s)

    def map(
        self,
        host_time_ns: npt.NDArray[np.int64] | FloatArray,
        sensor_time_s: FloatArray | None = None,
        seq_gap_samples: int = 0,
    ) -> tuple[FloatArray, list[ClockGap]]:
        """Session times of consecutive samples and the gaps found before/among them.

        Parameters
        ----------
        host_time_ns : (N,) receive time of each sample's notification.
        sensor_time_s : (N,) unwrapped sensor timestamps, or None (index at nominal rate).
        seq_gap_samples : samples known lost (from sequence numbers) just before this block.
        """
        n = len(host_time_ns)
        if n == 0:
            return np.zeros(0), []
        host_s: FloatArray = (
            np.asarray(host_time_ns, dtype=np.int64) - self.session_start_ns
        ) / NS_PER_S
        if self._first_host_s is None:
            self._first_host_s = float(host_s[0])
        self._last_host_s = float(host_s[-1])
        new_gaps: list[ClockGap] = []
        if sensor_time_s is None:
            self._index += seq_gap_samples
            raw: FloatArray = (self._index + np.arange(n, dtype=np.float64)) * self.period_s
            self._index += n
            if seq_gap_samples:
                self.samples_missing += seq_gap_samples
        else:
            raw = np.asarray(sensor_time_s, dtype=np.float64)
        if self._raw0 is None:
            self._raw0 = float(raw[0])
        raw = raw - self._raw0
        if self._offset is None:
            # First estimate: the earliest sample arrived with the least delay so far.
            self._offset = float(np.min(host_s - raw))
            self._win_start = float(raw[0])
        if sensor_time_s is None:
            self._index_loss(raw, host_s)
        self._update_envelope(raw, host_s)
        t: FloatArray = raw * (1.0 + self._drift) + self._offset
        # Gaps from timestamps (or an index advanced by sequence numbers / envelope jumps).
        prev_raw = self._last_raw
        steps = np.diff(raw, prepend=raw[0] if prev_raw is None else prev_raw)
        big = np.flatnonzero(steps > 1.5 * self.period_s)
        for i in big:
            missing = round(steps[i] / self.period_s) - 1
            if missing <= 0:
                continue
            start = (raw[i] - steps[i]) * (1.0 + self._drift) + self._offset
            gap = ClockGap(float(start), float(t[i]), missing)
            new_gaps.append(gap)
            if sensor_time_s is not None:
                self.samples_missing += missing
        self._last_raw = float(raw[-1])
        # Session time must increase even when the fit moves backwards a little.
        floor = self._last_session_s + 1e-6
        if t[0] < floor:
            t = np.maximum(t, floor + np.arange(n) * 1e-6)
        self._last_session_s = float(t[-1])
        self.samples_received += n
        self.gaps.extend(new_gaps)
        return t, new_gaps

    def _update_envelope(self, raw: FloatArray, host_s: FloatArray) -> None:
        """Track per-window minima of host - raw and refit the line at each window's end."""
        offsets = host_s - raw
        assert self._win_start is not None and self._offset is not None
        i = 0
        n = len(raw)
        while i < n:
            # Samples that belong to the current window.
            end = int(np.searchsorted(raw, self._win_start + self.window_s, side="left"))
            end = max(end, i)
            seg = offsets[i:end] if end > i else offsets[i:i]
            if len(seg):
                k = int(np.argmin(seg))
                if seg[k] < self._win_min:
                    self._win_min = float(seg[k])
                    self._win_raw = float(raw[i + k])
            if end >= n:
                break
            # Window complete: record its minimum and refit.
            if np.isfinite(self._win_min):
                self._minima.append((self._win_raw, self._win_min))
                self._minima = self._minima[-self.n_windows :]
                self._refit()
            self._win_start = float(raw[end])
            self._win_min = np.inf
            i = end

    def _refit(self) -> None:
        pts = np.array(self._minima)
        if len(pts) >= 3:
            slope, _ = np.polyfit(pts[:, 0], pts[:, 1], 1)
            lim = MAX_DRIFT_PPM * 1e-6
            self._drift = float(np.clip(slope, -lim, lim))
            self._offset = float(np.min(pts[:, 1] - self._drift * pts[:, 0]))
        else:
            self._offset = float(np.min(pts[:, 1]))

    def _index_loss(self, raw: FloatArray, host_s: FloatArray) -> None:
        """Advance the sample index of a sensor without timestamps when samples were lost.

        A notification cannot leave before its last sample was taken, so its lateness against
        the clock line is never below the link's minimum latency. A lost notification makes
        every later one late by its duration; a transient delay does not last. When every
        notification of the last ``LOSS_WINDOW_S`` was late by more than 1.5 sample periods,
        the index is advanced by the persistent lateness (``raw`` is shifted in place).
        """
        assert self._offset is not None
        ends = np.flatnonzero(np.diff(host_s, append=np.inf) != 0)  # last sample per note
        for e in ends:
            late = float(host_s[e] - (raw[e] * (1.0 + self._drift) + self._offset))
            now = float(host_s[e])
            self._lateness.append((now, late))
            while self._lateness and self._lateness[0][0] < now - LOSS_WINDOW_S:
                self._lateness.pop(0)
            if len(self._lateness) < 3 or self._lateness[0][0] > now - 0.8 * LOSS_WINDOW_S:
                continue
            floor = min(v for _, v in self._lateness)
            if floor > 1.5 * self.period_s:
                lost = round(floor / self.period_s)
                shift = lost * self.period_s
                raw[e + 1 :] += shift
                self._index += lost
                self.samples_missing += lost
                self._lateness = [(h, v - shift) for h, v in self._lateness]
                # The window's samples were already placed early; from here on they are on
                # time again, and map() reports the gap at the index step.
