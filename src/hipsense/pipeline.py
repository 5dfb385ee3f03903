"""The streaming pipeline: sample blocks in, joint-angle frames out.

::

    SampleBlock (per sensor) -> OrientationFilter (per sensor) -> TimelineResampler
        -> [calibration buffer until calibrated] -> HipKinematics -> AngleBlock

Every stage keeps explicit state, so feeding a session in 10 ms blocks or in one block gives
the same angles. Live sources feed small blocks as notifications arrive; files feed big ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hipsense.body.auto_calibration import calibrate_auto
from hipsense.body.calibration import SEARCH_S, Calibration, detect_calibration_windows
from hipsense.body.kinematics import HipKinematics
from hipsense.errors import CalibrationError, ConfigurationError
from hipsense.fusion import OrientationFilter, make_filter
from hipsense.refine import REFINE_LEAD_S, SessionHistory, refine_segment
from hipsense.timeline import TimelineResampler
from hipsense.types import ROLES, AlignedBlock, AngleBlock, SampleBlock

DEFAULT_BUFFER_LIMIT_S = 900.0
# Batch calibration pass: first span, and how far the routine's end must be from its edge.
FIRST_PASS_SPAN_S = 60.0
FIRST_PASS_MARGIN_S = 5.0


class HipPipeline:
    """Blocks of raw samples of several sensors -> hip and pelvis angles.

    Parameters
    ----------
    sensor_rate_hz : nominal rate of each role's sensor (``{"pelvis": 100.0, ...}``).
    method : orientation filter name (``vqf`` default, ``madgwick``, ``mahony``, ``ekf``).
    output_rate_hz : rate of the session timeline (default: the pelvis sensor's rate).
    calibration : a known calibration; without one, aligned frames are kept until
        :meth:`calibrate` is called (at most ``buffer_limit_s`` of them).
    realign : re-align thigh headings at detected standing rest.
    filter_params : extra parameters for the filter.
    placements : declared sensor placement per role (see :mod:`hipsense.body.auto_calibration`),
        used when a session has no calibration routine.

    Examples
    --------
    >>> pipe = HipPipeline({"pelvis": 100.0, "thigh_left": 100.0})  # doctest: +SKIP
    >>> pipe.process(blocks); cal = pipe.calibrate(); angles = pipe.flush()  # doctest: +SKIP
    """

    def __init__(
        self,
        sensor_rate_hz: dict[str, float],
        method: str = "vqf",
        output_rate_hz: float | None = None,
        calibration: Calibration | None = None,
        realign: bool = True,
        filter_params: dict[str, Any] | None = None,
        buffer_limit_s: float = DEFAULT_BUFFER_LIMIT_S,
        placements: dict[str, str] | None = None,
    ) -> None:
        unknown = [r for r in sensor_rate_hz if r not in ROLES]
        if unknown:
            raise ConfigurationError(f"unknown role(s) {unknown}; expected {', '.join(ROLES)}")
        if "pelvis" not in sensor_rate_hz:
            raise ConfigurationError("a pelvis sensor is required: every angle is relative to it")
        if len(sensor_rate_hz) < 2:
            raise ConfigurationError("at least one thigh sensor is required besides the pelvis")
        self.roles = [r for r in ROLES if r in sensor_rate_hz]
        self.sensor_rate_hz = dict(sensor_rate_hz)
        self.method = method
        self.output_rate_hz = float(output_rate_hz or sensor_rate_hz["pelvis"])
        self.realign = realign
        self.buffer_limit_s = buffer_limit_s
        self.placements = placements
        self.filter_params = dict(filter_params or {})
        self.history: SessionHistory | None = None
        self.filters: dict[str, OrientationFilter] = {
            r: make_filter(method, sensor_rate_hz[r], **(filter_params or {})) for r in self.roles
        }
        self.resampler = TimelineResampler(self.roles, self.output_rate_hz)
        self.calibration_: Calibration | None = None
        self.kinematics_: HipKinematics | None = None
        self._buffer: list[AlignedBlock] = []
        self._buffered_s = 0.0
        if calibration is not None:
            self.set_calibration(calibration)

    def set_calibration(self, calibration: Calibration) -> None:
        """Use ``calibration`` from now on (buffered frames are kept for :meth:`flush`).

        Its thigh lever arms and gyroscope corrections switch on the filters' acceleration
        compensation and gyroscope correction for the samples processed from now on; frames
        fused before stay as they were.
        """
        missing = [r for r in self.roles if r not in calibration.segments]
        if missing:
            raise CalibrationError(f"the calibration has no segment for {', '.join(missing)}")
        self.calibration_ = calibration
        self.kinematics_ = HipKinematics(calibration, self.output_rate_hz, realign=self.realign)
        if self.history is not None:
            self.history.clear()
        # Lever-arm compensation and gyroscope correction of the thigh sensors apply to
        # samples fused from now on.
        for role, filt in self.filters.items():
            seg = calibration.segments[role]
            filt.use_corrections(seg.lever_arm_m, seg.gyro_correction)

    def align(self, blocks: SampleBlock | Iterable[SampleBlock]) -> AlignedBlock:
        """Fuse and resample new samples; returns the newly completed aligned frames."""
        if isinstance(blocks, SampleBlock):
            blocks = [blocks]
        for block in blocks:
            if block.role not in self.filters:
                raise ConfigurationError(
                    f"samples for {block.role!r}, which this pipeline was not set up for"
                )
            self.resampler.push(self.filters[block.role].process(block))
        return self.resampler.pull()

    def process(self, blocks: SampleBlock | Iterable[SampleBlock]) -> AngleBlock:
        """Angles of the frames completed by ``blocks`` (empty while uncalibrated)."""
        fed = [blocks] if isinstance(blocks, SampleBlock) else list(blocks)
        aligned = self.align(fed)
        if self.kinematics_ is None:
            self._keep(aligned)
            return AngleBlock(aligned.time_s[:0], {})
        if self.history is not None:
            self.history.add(fed, aligned, self.kinematics_)
        return self.kinematics_.process(aligned)

    def keep_history(self, seconds: float | None = None) -> None:
        """Keep the last ``seconds`` of calibrated samples and frames for :meth:`refine`
        (default :data:`hipsense.refine.REFINE_HISTORY_S`; ``inf``: all of them)."""
        self.history = SessionHistory() if seconds is None else SessionHistory(seconds)

    def refine(
        self, start_s: float, end_s: float, lead_s: float = REFINE_LEAD_S
    ) -> AngleBlock | None:
        """Angles of ``start_s`` .. ``end_s`` fused again forward and backward from the kept
        samples (:func:`hipsense.refine.refine_segment`); None without :meth:`keep_history`,
        a calibration, a smoother, or frames of that stretch."""
        if self.history is None or self.calibration_ is None:
            return None
        return refine_segment(
            self.history,
            self.calibration_,
            self.method,
            start_s,
            end_s,
            lead_s,
            self.filter_params,
            self.resampler.max_gap_s,
        )

    def smooth(self, samples: dict[str, SampleBlock]) -> AngleBlock:
        """Angles of a complete session, each sensor fused forward and backward over all of it.

        Every role's block must hold that sensor's whole recording (the estimate of each sample
        uses the samples after it too, :meth:`OrientationFilter.smooth`), so this is for
        finished sessions, never for a stream. Needs a calibration.
        """
        if self.kinematics_ is None:
            raise CalibrationError("not calibrated yet: set a calibration before smoothing")
        for role, block in samples.items():
            if role not in self.filters:
                raise ConfigurationError(
                    f"samples for {role!r}, which this pipeline was not set up for"
                )
            self.resampler.push(self.filters[role].smooth(block))
        return self.kinematics_.process(self.resampler.pull())

    def _keep(self, aligned: AlignedBlock) -> None:
        if len(aligned) == 0:
            return
        self._buffer.append(aligned)
        self._buffered_s += len(aligned) / self.output_rate_hz
        while self._buffered_s > self.buffer_limit_s and len(self._buffer) > 1:
            dropped = self._buffer.pop(0)
            self._buffered_s -= len(dropped) / self.output_rate_hz

    def buffered(self) -> AlignedBlock:
        """All aligned frames kept since the start (or the buffer limit)."""
        if not self._buffer:
            return self.resampler.pull()
        merged = AlignedBlock.concat(self._buffer)
        self._buffer = [merged]
        return merged

    def calibrate(
        self,
        static_window_s: tuple[float, float] | None = None,
        functional_window_s: tuple[float, float] | None = None,
    ) -> Calibration:
        """Calibrate from the buffered frames; windows found automatically when not given."""
        data = self.buffered()
        if len(data) == 0:
            raise CalibrationError("no data yet: stream the calibration routine first")
        cal = calibrate_auto(data, static_window_s, functional_window_s, self.placements)
        self.set_calibration(cal)
        return cal

    def flush(self) -> AngleBlock:
        """Angles of the frames buffered before calibration (then the buffer is emptied)."""
        if self.kinematics_ is None:
            raise CalibrationError("not calibrated yet: call calibrate() first")
        if not self._buffer:
            return AngleBlock(np.zeros(0), {})
        data = self.buffered()
        self._buffer = []
        self._buffered_s = 0.0
        return self.kinematics_.process(data)


@dataclass
class SessionResult:
    """Angles of a whole session and the calibration they came from."""

    angles: AngleBlock
    calibration: Calibration


def estimate_rate_hz(block: SampleBlock) -> float:
    """Nominal rate of a sensor from its timestamps (median interval)."""
    if len(block) < 2:
        raise ConfigurationError(f"{block.role}: fewer than 2 samples")
    return float(1.0 / np.median(np.diff(block.time_s)))


def process_session(
    samples: dict[str, SampleBlock],
    method: str = "vqf",
    static_window_s: tuple[float, float] | None = None,
    functional_window_s: tuple[float, float] | None = None,
    output_rate_hz: float | None = None,
    realign: bool = True,
    rates_hz: dict[str, float] | None = None,
    offline: bool = True,
    calibration: Calibration | None = None,
    placements: dict[str, str] | None = None,
) -> SessionResult:
    """Batch entry point: a whole session's samples -> calibrated angles (one big block).

    Two passes: the first fuses the start of the session (growing up to the calibration search
    span, the first ``SEARCH_S`` seconds, or up to the end of given windows) without lever-arm
    compensation and calibrates; the second fuses the whole session from t = 0 with the
    calibration's lever arms and gyroscope corrections, as a live pipeline would had it known
    the calibration from the start. ``rates_hz`` (per role) overrides the rates estimated from
    the timestamps (a recording's stored rates).

    ``offline`` (default): the second pass fuses each sensor forward and backward over the
    whole session (:meth:`HipPipeline.smooth`), the most accurate estimate of a finished
    session; ``False``: the causal filter, the numbers a live session would have shown.
    ``calibration``: use this one (a recording's) instead of the first pass. ``placements``
    (role -> declared placement, :mod:`hipsense.body.mounting`) lets a session with neither the
    routine nor walking calibrate.
    """
    rates = rates_hz or {r: estimate_rate_hz(b) for r, b in samples.items()}
    cal = calibration or _first_pass(
        samples,
        rates,
        method,
        static_window_s,
        functional_window_s,
        output_rate_hz,
        realign,
        placements,
    )
    pipe = HipPipeline(
        rates, method=method, output_rate_hz=output_rate_hz, calibration=cal, realign=realign
    )
    if offline:
        return SessionResult(pipe.smooth(samples), cal)
    return SessionResult(pipe.process(list(samples.values())), cal)


def _first_pass(
    samples: dict[str, SampleBlock],
    rates: dict[str, float],
    method: str,
    static_window_s: tuple[float, float] | None,
    functional_window_s: tuple[float, float] | None,
    output_rate_hz: float | None,
    realign: bool,
    placements: dict[str, str] | None = None,
) -> Calibration:
    """Calibration of a session from a causal pass over its start (see process_session)."""
    t0 = min(float(b.time_s[0]) for b in samples.values())
    t_last = max(float(b.time_s[-1]) for b in samples.values())
    given = static_window_s is not None and functional_window_s is not None
    search_end_s = t0 + SEARCH_S
    if static_window_s is not None and functional_window_s is not None:  # i.e. ``given``
        search_end_s = max(static_window_s[1], functional_window_s[1]) + 1.0
    first = HipPipeline(
        rates,
        method=method,
        output_rate_hz=output_rate_hz,
        realign=realign,
        buffer_limit_s=np.inf,
        placements=placements,
    )
    # The first pass grows its span (60 s, 120 s, ...) until the routine is found well inside
    # it: fusion is causal, so the windows and the calibration are those a pass over the whole
    # search span would give, at a fraction of the cost for the usual routine at the start.
    span_s, done_s = FIRST_PASS_SPAN_S, -np.inf
    windows: tuple[tuple[float, float], tuple[float, float]] | None = None
    while True:
        end_s = min(t0 + span_s, search_end_s)
        first.process(
            [
                b.slice(
                    int(np.searchsorted(b.time_s, done_s, side="right")),
                    int(np.searchsorted(b.time_s, end_s, side="right")),
                )
                for b in samples.values()
            ]
        )
        done_s = end_s
        last = end_s >= search_end_s or end_s >= t_last
        if given:
            if last:
                break
        else:
            try:
                found = detect_calibration_windows(first.buffered())
            except CalibrationError:
                if last:
                    break  # no routine: calibrate_auto tries the other methods
            else:
                if last or found[1][1] <= end_s - FIRST_PASS_MARGIN_S:
                    windows = found
                    break
        span_s *= 2
    if windows is not None:
        static_window_s = static_window_s or windows[0]
        functional_window_s = functional_window_s or windows[1]
    return first.calibrate(static_window_s, functional_window_s)
