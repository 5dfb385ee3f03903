"""Isometric hold compliance (passive holds, PAILs, RAILs) against a protocol.

At the start of a hold the end range is captured (median hip extension over the protocol's
``capture_s``); the target band is that value +- ``tolerance_deg`` (RAILs: that value minus
the tolerance or deeper, since RAILs aim to gain range). Per hold: time in band, the longest
continuous stretch in band, drift, time with pelvic compensation, the RAILs gain (new held end
range minus the captured one) and a compliance score: time in band without compensation over
the phase's minimum duration, capped at 1.

:class:`HoldTracker` is the live state machine of one hold: it takes angle blocks of any size
and emits the same events and the same final :class:`HoldResult` as one big block.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hipsense.exercises.intervals import (
    intervals,
    longest_run_s,
    mask_duration_s,
    smooth,
    sustained_max,
)
from hipsense.exercises.protocols import AnalysisConfig, HoldProtocol
from hipsense.exercises.rom import TILT, column, compensation_episodes, hip_extension_deg
from hipsense.exercises.schema import HoldResult, HoldSessionSummary
from hipsense.types import AngleBlock, FloatArray

HYSTERESIS_DEG = 0.5  # live events only: leave the band / end compensation 0.5 deg past it


def capture(time_s: FloatArray, values: FloatArray, capture_s: float) -> float | None:
    """Median of ``values`` over the first ``capture_s`` (None until that much is there)."""
    if len(time_s) == 0 or time_s[-1] - time_s[0] < capture_s - 1e-9:
        return None
    n = int(np.searchsorted(time_s, time_s[0] + capture_s, side="right"))
    return float(np.median(values[:n]))


def band_mask(
    ext_deg: FloatArray, target_deg: float, tolerance_deg: float, band: str
) -> np.ndarray:
    """True where the extension is in the target band."""
    if band == "at_least":
        return np.asarray(ext_deg >= target_deg - tolerance_deg)
    return np.asarray(np.abs(ext_deg - target_deg) <= tolerance_deg)


def analyze_hold(
    angles: AngleBlock,
    side: str,
    exercise: str,
    protocol: HoldProtocol | None = None,
    config: AnalysisConfig | None = None,
    target_deg: float | None = None,
) -> HoldResult:
    """Compliance of one hold (``angles`` sliced to the hold's marked window).

    ``target_deg`` is the end range the clinician typed; None captures it over the first
    ``protocol.capture_s`` of the hold.

    Examples
    --------
    >>> analyze_hold(hold_angles, "left", "hold_pails").time_in_band_s  # doctest: +SKIP
    """
    config = config or AnalysisConfig()
    protocol = protocol or config.protocol
    spec = protocol.phase(exercise)
    t = angles.time_s
    ext = smooth(hip_extension_deg(angles, side), t, config.smooth_s)
    tilt = column(angles, TILT)
    target = capture(t, ext, protocol.capture_s) if target_deg is None else target_deg
    if target is None:
        target = float(np.median(ext)) if len(ext) else float("nan")
    tilt_ref = capture(t, tilt, protocol.capture_s)
    if tilt_ref is None:
        tilt_ref = float(np.median(tilt)) if len(tilt) else float("nan")
    inside = band_mask(ext, target, protocol.tolerance_deg, spec.band)
    comp = np.abs(tilt - tilt_ref) > protocol.compensation_limit_deg
    good = inside & ~comp
    n_end = int(np.searchsorted(t, t[-1] - protocol.capture_s, side="left")) if len(t) else 0
    end_value = float(np.median(ext[n_end:])) if len(t) else float("nan")
    held = sustained_max(t, ext, ~comp, config.hold_s)
    gain = None
    if spec.band == "at_least" and held is not None:
        gain = held[0] - target
    dt = float(t[1] - t[0]) if len(t) > 1 else 0.0
    duration = float(t[-1] - t[0]) + dt if len(t) else 0.0
    in_band = mask_duration_s(t, good)
    compliance = min(1.0, in_band / spec.min_s) if spec.min_s > 0 else 1.0
    return HoldResult(
        exercise=exercise,
        side=side,
        start_s=float(t[0]) if len(t) else 0.0,
        end_s=float(t[-1]) + dt if len(t) else 0.0,
        duration_s=duration,
        target_duration_s=spec.min_s,
        target_deg=target,
        band_low_deg=target - protocol.tolerance_deg,
        band_high_deg=None if spec.band == "at_least" else target + protocol.tolerance_deg,
        time_in_band_s=mask_duration_s(t, inside),
        longest_in_band_s=longest_run_s(t, good),
        drift_deg=end_value - target,
        end_range_deg=None if held is None else held[0],
        gain_deg=gain,
        compensation_s=mask_duration_s(t, comp),
        compensation_episodes=compensation_episodes(t, comp, config),
        compliance=compliance,
        complete=in_band >= spec.min_s - 1e-9,
    )


def summarize_holds(
    holds: list[HoldResult],
    protocol: HoldProtocol,
    sides: list[str],
    expected: int | None = None,
    name: str | None = None,
) -> HoldSessionSummary:
    """Session compliance: mean hold compliance over the holds the protocol expects.

    ``expected`` overrides the protocol's count (repeats x phases x sides), e.g. with the
    number of holds a server-side series actually ran; ``name`` the protocol's name.
    """
    if expected is None:
        expected = protocol.repeats * len(protocol.phases) * max(1, len(sides))
    total = sum(h.compliance for h in holds)
    gains: dict[str, float | None] = {}
    for side in sides:
        g = [h.gain_deg for h in holds if h.side == side and h.gain_deg is not None]
        gains[side] = max(g) if g else None
    return HoldSessionSummary(
        protocol=protocol.name if name is None else name,
        holds=len(holds),
        holds_expected=expected,
        complete=sum(h.complete for h in holds),
        compliance=min(1.0, total / expected) if expected else 0.0,
        rails_gain_deg=gains,
    )


def _hysteresis(enter: np.ndarray, leave: np.ndarray, state0: bool) -> np.ndarray:
    """Vectorised two-threshold state: on at ``enter``, off at ``leave``, else unchanged."""
    code = np.where(enter, 1, np.where(leave, 0, -1))
    idx = np.where(code >= 0, np.arange(len(code)), -1)
    last = np.maximum.accumulate(idx) if len(idx) else idx
    return np.where(last >= 0, code[np.maximum(last, 0)] == 1, state0)


class HoldTracker:
    """Live state machine of one hold: feed angle blocks, get events; ``finish`` the result.

    Events (JSON-ready dicts, ``kind`` starts with ``hold``): ``hold_started`` (target
    captured), ``hold_band`` (``in_band`` True/False), ``hold_compensation`` (``active``
    True/False), ``hold_complete`` (the phase's minimum time in band reached). Band and
    compensation events use a 0.5 deg hysteresis so noise at the edge does not chatter.
    """

    def __init__(
        self,
        start_s: float,
        side: str,
        exercise: str,
        protocol: HoldProtocol | None = None,
        config: AnalysisConfig | None = None,
        target_deg: float | None = None,
    ) -> None:
        self.config = config or AnalysisConfig()
        self.typed_target_deg = target_deg
        self.protocol = protocol or self.config.protocol
        self.spec = self.protocol.phase(exercise)
        self.start_s = start_s
        self.side = side
        self.exercise = exercise
        self._parts: list[AngleBlock] = []
        self._time: FloatArray = np.zeros(0)
        self._done = 0
        self.target_deg: float | None = None
        self.tilt_ref_deg: float | None = None
        self.in_band = False
        self.compensating = False
        self.good_s = 0.0
        self.completed = False

    def _event(self, kind: str, time_s: float, **extra: Any) -> dict[str, Any]:
        return {
            "kind": kind,
            "time_s": round(time_s, 3),
            "exercise": self.exercise,
            "side": self.side,
            **extra,
        }

    def data(self) -> AngleBlock:
        """All frames of the hold so far."""
        if len(self._parts) > 1:
            self._parts = [AngleBlock.concat(self._parts)]
        return self._parts[0] if self._parts else AngleBlock(np.zeros(0), {})

    def process(self, angles: AngleBlock) -> list[dict[str, Any]]:
        """Events caused by the frames of ``angles`` at or after the hold start."""
        i = int(np.searchsorted(angles.time_s, self.start_s))
        if i >= len(angles):
            return []
        part = AngleBlock(angles.time_s[i:], {k: v[i:] for k, v in angles.columns.items()})
        self._parts.append(part)
        block = self.data()
        t = block.time_s
        # Smoothing looks ahead half a window: evaluate only frames whose window is complete.
        half = max(0, round(0.5 * self.config.smooth_s / max(1e-9, _period(t))))
        ext_all = smooth(hip_extension_deg(block, self.side), t, self.config.smooth_s)
        events: list[dict[str, Any]] = []
        if self.target_deg is None:
            target = capture(t, ext_all, self.protocol.capture_s)
            if target is not None and self.typed_target_deg is not None:
                target = self.typed_target_deg
            n_cap = int(np.searchsorted(t, t[0] + self.protocol.capture_s, side="right"))
            if target is None or n_cap + half > len(t):
                return []
            self.target_deg = target
            tilt_ref = capture(t, column(block, TILT), self.protocol.capture_s)
            self.tilt_ref_deg = tilt_ref
            events.append(
                self._event(
                    "hold_started",
                    float(t[0]),
                    target_deg=round(target, 2),
                    tolerance_deg=self.protocol.tolerance_deg,
                    band=self.spec.band,
                    target_duration_s=self.spec.min_s,
                )
            )
        assert self.target_deg is not None and self.tilt_ref_deg is not None
        stop = len(t) - half
        if stop <= self._done:
            return events
        sl = slice(self._done, stop)
        ext = ext_all[sl]
        ts = t[sl]
        tol = self.protocol.tolerance_deg
        enter = band_mask(ext, self.target_deg, tol, self.spec.band)
        leave = ~band_mask(ext, self.target_deg, tol + HYSTERESIS_DEG, self.spec.band)
        inside = _hysteresis(enter, leave, self.in_band)
        dev = np.abs(column(block, TILT)[sl] - self.tilt_ref_deg)
        limit = self.protocol.compensation_limit_deg
        comp = _hysteresis(dev > limit, dev <= limit - HYSTERESIS_DEG, self.compensating)
        for name, state, prev, key in (
            ("hold_band", inside, self.in_band, "in_band"),
            ("hold_compensation", comp, self.compensating, "active"),
        ):
            flips = np.flatnonzero(np.diff(np.concatenate(([prev], state)).astype(np.int8)))
            for k in flips.tolist():
                events.append(self._event(name, float(ts[k]), **{key: bool(state[k])}))
        self.in_band, self.compensating = bool(inside[-1]), bool(comp[-1])
        plain = band_mask(ext, self.target_deg, tol, self.spec.band) & (dev <= limit)
        dt = _period(t)
        if not self.completed:
            cum = self.good_s + np.cumsum(plain) * dt
            hit = np.flatnonzero(cum >= self.spec.min_s - 1e-9)
            if len(hit):
                self.completed = True
                events.append(self._event("hold_complete", float(ts[hit[0]])))
        self.good_s += float(np.count_nonzero(plain)) * dt
        self._done = stop
        events.sort(key=lambda e: e["time_s"])
        return events

    def finish(self, end_s: float) -> HoldResult:
        """The hold's result over ``[start_s, end_s)`` (identical to :func:`analyze_hold`)."""
        block = self.data()
        j = int(np.searchsorted(block.time_s, end_s))
        part = AngleBlock(block.time_s[:j], {k: v[:j] for k, v in block.columns.items()})
        return analyze_hold(
            part, self.side, self.exercise, self.protocol, self.config, self.typed_target_deg
        )


def _period(t: FloatArray) -> float:
    return float(np.median(np.diff(t))) if len(t) > 1 else 0.01


__all__ = ["HoldTracker", "analyze_hold", "intervals", "summarize_holds"]
