"""Pelvic compensation flagged live at all times, not only inside a marked exercise.

Anterior pelvic tilt (with lumbar extension) makes the thigh look more extended than the hip
is. :class:`CompensationMonitor` watches every calibrated frame: the reference tilt is the
median over the last second in which the person stood still with both hips near neutral; while
a leg is back (the thigh behind the vertical by more than :data:`EXTENDING_DEG`, whether the hip
or the pelvis moved it) and the tilt has risen anteriorly more than
the compensation limit above that reference, the side is compensating. Each change is a
message ``{"type": "compensation", "active": ..., "side": ..., "tilt_change_deg": ...,
"true_extension_deg": ..., "apparent_extension_deg": ...}`` (true = hip relative to the
pelvis, apparent = thigh against the vertical, what the eye or an inclinometer sees), sent when
the state changes and 5 times a second (of angle time) while it is active.

Thresholds: the limit is ``AnalysisConfig.compensation_limit_deg`` (the rule every range
uses). ``EXTENDING_DEG`` (3 deg) and the still test (1 deg peak-to-peak over 1 s) are ten and
three times the RMS error of the hip and tilt angles on the simulated population (0.3 deg,
``benchmarks/accuracy.py``), so sensor noise neither starts nor ends an episode; the state
changes back only 0.5 deg inside the limit (hysteresis) so an edge does not chatter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from hipsense.exercises.intervals import sample_period_s
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import TILT
from hipsense.types import AngleBlock, hip_columns, thigh_inclination_column

EXTENDING_DEG = 3.0  # a hip counts as extending beyond this (10x the hip angle RMS error)
NEUTRAL_DEG = EXTENDING_DEG  # hips and thighs within this of zero: the reference may update
STILL_S = 1.0
STILL_RANGE_DEG = 1.0  # peak-to-peak of tilt and hips over STILL_S to count as still
HYSTERESIS_DEG = 0.5
UPDATE_EVERY_S = 0.2  # an active episode's numbers are sent again at this angle-time interval


class CompensationMonitor:
    """Live anterior-tilt compensation per side (see the module docstring)."""

    def __init__(self, config: AnalysisConfig | None = None) -> None:
        self.config = config or AnalysisConfig()
        self.reference_deg: float | None = None
        self.active: dict[str, bool] = {"left": False, "right": False}
        self._next_update_s: dict[str, float] = {"left": 0.0, "right": 0.0}
        self._tail: AngleBlock | None = None  # the last STILL_S of frames

    def process(self, angles: AngleBlock) -> list[dict[str, Any]]:
        """Messages for the side(s) whose state changed in this block (any block size)."""
        if len(angles) == 0 or TILT not in angles.columns:
            return []
        sides = [s for s in ("left", "right") if hip_columns(s)[0] in angles.columns]
        block = angles if self._tail is None else AngleBlock.concat([self._tail, angles])
        n_new = len(angles)
        t = block.time_s
        tilt = block.columns[TILT]
        ext = {s: -block.columns[hip_columns(s)[0]] for s in sides}
        # The leg going back as the eye sees it: the thigh against the vertical (the hip may
        # barely move while the pelvis does the work).
        back = {
            s: -block.columns[thigh_inclination_column(s)]
            if thigh_inclination_column(s) in block.columns
            else ext[s]
            for s in sides
        }
        w = max(2, round(STILL_S / sample_period_s(t)) + 1)
        # Per new frame: the reference tilt as of that frame (last still neutral second).
        refs = np.full(n_new, np.nan)
        if len(t) >= w:
            stacked = [tilt, *ext.values()]
            ptp = np.max([np.ptp(sliding_window_view(x, w), axis=1) for x in stacked], axis=0)
            # Standing: both hips and both thighs near neutral (a compensated hold is still
            # too, but its thigh is back: the reference must not move to it).
            legs = [*ext.values(), *back.values()]
            neutral = np.max(
                [np.max(np.abs(sliding_window_view(e, w)), axis=1) for e in legs]
                or [np.zeros(len(t) - w + 1)],
                axis=0,
            )
            still = (ptp <= STILL_RANGE_DEG) & (neutral <= NEUTRAL_DEG)
            med = np.median(sliding_window_view(tilt, w), axis=1)
            ends = np.arange(w - 1, len(t))  # window k ends at frame ends[k]
            value = np.where(still, med, np.nan)
            full = np.full(len(t), np.nan)
            full[ends] = value
            refs = full[len(t) - n_new :]
        out: list[dict[str, Any]] = []
        limit = self.config.compensation_limit_deg
        new_tilt = tilt[len(t) - n_new :]
        new_t = t[len(t) - n_new :]
        for k in range(n_new):
            if np.isfinite(refs[k]):
                self.reference_deg = float(refs[k])
            if self.reference_deg is None:
                continue
            rise = float(new_tilt[k] - self.reference_deg)
            i = len(t) - n_new + k
            for side in sides:
                e = float(back[side][i])
                on = self.active[side]
                if not on and e > EXTENDING_DEG and rise > limit:
                    self.active[side] = True
                elif on and (e < EXTENDING_DEG - HYSTERESIS_DEG or rise < limit - HYSTERESIS_DEG):
                    self.active[side] = False
                if self.active[side] != on:
                    out.append(self._message(block, i, side, rise, float(new_t[k])))
                    self._next_update_s[side] = float(new_t[k]) + UPDATE_EVERY_S
                elif self.active[side] and new_t[k] >= self._next_update_s[side]:
                    # While it lasts, the numbers are sent again (true vs apparent move).
                    out.append(self._message(block, i, side, rise, float(new_t[k])))
                    self._next_update_s[side] = float(new_t[k]) + UPDATE_EVERY_S
        keep = int(np.searchsorted(t, t[-1] - STILL_S - 1e-9))
        self._tail = AngleBlock(
            t[keep:].copy(), {name: v[keep:].copy() for name, v in block.columns.items()}
        )
        return out

    def _message(
        self, block: AngleBlock, i: int, side: str, rise: float, time_s: float
    ) -> dict[str, Any]:
        incl = block.columns.get(thigh_inclination_column(side))
        apparent = None if incl is None else round(float(-incl[i]), 2)
        return {
            "type": "compensation",
            "time_s": round(time_s, 3),
            "active": self.active[side],
            "side": side,
            "tilt_change_deg": round(rise, 2),
            "true_extension_deg": round(float(-block.columns[hip_columns(side)[0]][i]), 2),
            "apparent_extension_deg": apparent,
            "limit_deg": self.config.compensation_limit_deg,
        }

    def finish(self) -> list[dict[str, Any]]:
        """Nothing pending at the end of the stream."""
        return []
