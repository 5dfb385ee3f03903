"""Guided calibration: the routine of :mod:`.calibration`, followed live, step by step.

:class:`GuidedCalibration` is a state machine fed with raw sample blocks as they arrive. It
tells the user what to do next and, once every movement has been seen, hands the windows it
observed to the pipeline, which calibrates with :func:`.calibration.calibrate` (falling back to
:func:`.calibration.detect_calibration_windows`). The steps:

``idle`` -> ``static``
    stand still and upright for ``static_s`` seconds (or at least ``STILL_MIN_S`` followed by
    movement); the mean specific force of that period is each sensor's reference direction.
``knee_lifts``
    lift each instrumented knee (``LIFTS_WANTED`` per leg).
``hinges``
    bow forward with straight legs (``HINGES_WANTED`` hip hinges).
``calibrating`` -> ``done`` or ``failed``
    the pipeline computes the calibration; ``failed`` also when the routine is not complete
    within ``timeout_s``, with what is missing. With every placement declared
    (``static_only``) the static pose is all it takes: ``static`` -> ``calibrating``.

The rules are those of the batch detection in :mod:`.calibration`, with its constants, so that
what the guide counts is what the calibration then finds in the same samples:

- *still*: every sample's gyroscope norm below ``STILL_MAX_GYR_RAD_S`` and specific force
  within ``STILL_MAX_ACC_DEVIATION_M_S2`` of ``GRAVITY_M_S2``; a still period counts from
  ``STILL_MIN_S``;
- *movement*: an excursion of a sensor from its static inclination, entering above
  ``EXCURSION_ENTER_DEG`` and ending below ``EXCURSION_LEAVE_DEG``, starting where the angle
  last left the start pose (:func:`.calibration._excursions`, here in incremental form over
  the blocks as they come), and counted for the sensor only when it inclines more than every
  other sensor over it (:func:`.calibration._movement_events`): the pelvis's are hip hinges,
  a thigh's are knee lifts;
- *stepping*: thigh excursions alternating between the legs, at least
  ``STEP_MIN_ALTERNATIONS`` of them, each within ``STEP_MAX_GAP_S`` of the previous one's end,
  are steps, not knee lifts (:func:`.calibration._stepping`). A knee lift is therefore counted
  once no further alternating excursion can join it: when the next movement does not
  alternate with it, or ``STEP_MAX_GAP_S`` after its end when the other leg has not started
  moving in that time.

The inclination is the batch detection's too (``_inclination_from_static_deg``): the angle
between the sensor's up direction, from its fused orientation, and the mean specific force of
the static pose. The guide fuses each sensor's raw samples itself, with the default filter
(VQF), from the first samples on, at the rate of the first ``RATE_SAMPLES`` samples.

Samples are judged in chunks of common session time: each sensor's blocks wait until every
other sensor has reached the same time (a sensor more than ``SENSOR_STALE_S`` behind the newest
is not waited for), so the outcome does not depend on how the source batches its notifications
(one sensor per batch, or all of them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hipsense.body.calibration import (
    EXCURSION_ENTER_DEG,
    EXCURSION_LEAVE_DEG,
    GRAVITY_M_S2,
    STEP_MAX_GAP_S,
    STILL_MAX_ACC_DEVIATION_M_S2,
    STILL_MAX_GYR_RAD_S,
    STILL_MIN_S,
    Calibration,
    _stepping,
    qrotate_inverse_up,
)
from hipsense.fusion import OrientationFilter, make_filter
from hipsense.types import SIDES, FloatArray, SampleBlock

SENSOR_STALE_S = 0.5
"""A sensor whose newest sample is this far behind the others' no longer holds them back."""
LIFTS_WANTED = 3
"""Knee lifts asked for per instrumented leg (the batch calibration needs one)."""
HINGES_WANTED = 2
"""Hip hinges asked for (the batch calibration needs one)."""
RATE_SAMPLES = 8
"""A sensor's first samples, whose median interval sets the rate its orientation is fused at."""


@dataclass
class _Excursion:
    """One sensor's progress through :func:`.calibration._excursions`, block by block."""

    inside: bool = False
    below_s: float | None = None  # newest sample below EXCURSION_LEAVE_DEG (start pose)
    start_s: float = 0.0  # start of the excursion under way
    peak_deg: float = 0.0  # its largest angle so far
    angle_deg: float = 0.0  # the newest sample's

    def may_start_by(self, time_s: float) -> bool:
        """An excursion is under way, or may still come, that starts by ``time_s``."""
        if self.inside:
            return self.start_s <= time_s
        # Left the start pose (not back below LEAVE yet) at or before time_s.
        left = self.angle_deg >= EXCURSION_LEAVE_DEG
        return left and self.below_s is not None and self.below_s <= time_s


@dataclass(frozen=True)
class _Movement:
    """A finished excursion that inclined its sensor more than every other sensor."""

    start_s: float
    stop_s: float
    role: str
    counts: bool  # a knee lift that counts once it is known not to be a step


class GuidedCalibration:
    """The calibration routine as a state machine fed with raw sample blocks.

    See the module docstring for the steps and the rules.

    Parameters
    ----------
    roles : instrumented roles (pelvis first).
    static_s : still time asked for (s); a still period of at least ``STILL_MIN_S`` followed
        by movement is accepted too.
    timeout_s : session seconds after which an unfinished routine fails with what is missing.
    rate_hz : each sensor's nominal rate (the live session knows it); without it, the rate of
        a sensor's first ``RATE_SAMPLES`` samples.
    static_only : every sensor's placement is declared: the static pose is all it takes
        (``static`` -> ``calibrating``), the mounting comes from the placements.
    """

    def __init__(
        self,
        roles: Sequence[str],
        static_s: float = 3.0,
        timeout_s: float = 90.0,
        static_only: bool = False,
        rate_hz: Mapping[str, float] | None = None,
    ):
        self.roles = list(roles)
        self.rate_hz = dict(rate_hz or {})
        self.static_only = static_only
        self.thighs = [r for r in self.roles if r != "pelvis"]
        self.static_s = static_s
        self.timeout_s = timeout_s
        self.step = "idle"
        self.message = "Press start, then stand still and upright."
        self.error: str | None = None
        self.quality_score: float | None = None
        self.warnings: list[str] = []
        self.calibration: Calibration | None = None
        self._reset_progress(None)

    def _reset_progress(self, time_s: float | None) -> None:
        self.started_s = time_s
        self.still = False
        self.still_s = 0.0
        self.still_start_s: float | None = None
        self.static_window_s: tuple[float, float] | None = None
        self.lifts = dict.fromkeys(self.thighs, 0)
        self.hinges = 0
        self.hinge_end_s: float | None = None
        self._acc_sum = {r: np.zeros(3) for r in self.roles}
        self._acc_n = dict.fromkeys(self.roles, 0)
        self._pending: dict[str, list[SampleBlock]] = {}
        self._seen_s: dict[str, float] = {}
        self._role_still = dict.fromkeys(self.roles, False)
        self._ref: dict[str, FloatArray] = {}
        self._filters: dict[str, OrientationFilter] = {}
        self._unfused: dict[str, list[SampleBlock]] = {}
        self.angle_deg = dict.fromkeys(self.roles, 0.0)
        self.last_time_s: float | None = time_s
        self._reset_movements()

    def _reset_movements(self) -> None:
        self._excursion = {r: _Excursion() for r in self.roles}
        # Each sensor's inclination since the earliest start of an excursion under way: what
        # the other sensors' movements are compared with.
        self._history: dict[str, tuple[FloatArray, FloatArray]] = {
            r: (np.zeros(0), np.zeros(0)) for r in self.roles
        }
        self._unsettled: list[_Movement] = []

    @property
    def active(self) -> bool:
        """True while the routine is being performed."""
        return self.step in ("static", "knee_lifts", "hinges", "calibrating")

    def start(self, time_s: float | None) -> None:
        """Begin (or restart) the routine at session time ``time_s``."""
        self._reset_progress(time_s)
        self.step = "static"
        self.error = None
        self.quality_score = None
        self.warnings = []
        self.message = f"Stand still and upright for {self.static_s:.0f} s."

    def cancel(self) -> None:
        """Abandon the routine."""
        if self.active:
            self.step = "idle"
            self.message = "Calibration cancelled."

    def succeed(self, calibration: Calibration) -> None:
        """The pipeline calibrated: record the quality.

        The score is reported once, as a whole number: the message and ``quality_score`` are
        the same figure (one decimal there rounded again by a client could differ by one).
        """
        self.step = "done"
        self.calibration = calibration
        score = float(round(calibration.quality_score))
        self.quality_score = score
        self.warnings = list(calibration.warnings)
        self.message = (
            f"Calibrated (quality {score:.0f}/100)."
            if not calibration.warnings
            else f"Calibrated with warnings (quality {score:.0f}/100)."
        )

    def fail(self, message: str) -> None:
        """The routine failed: ``message`` says what to repeat."""
        self.step = "failed"
        self.error = message
        self.message = f"Calibration failed: {message}"

    @property
    def ready(self) -> bool:
        """All movements seen: time to calibrate."""
        return self.step == "calibrating"

    def windows(self) -> tuple[tuple[float, float], tuple[float, float] | None] | None:
        """(static, functional) windows observed live, if complete (functional None: the
        static pose alone, ``static_only``)."""
        if self.static_window_s is not None and self.static_only:
            return self.static_window_s, None
        if self.static_window_s is None or self.hinge_end_s is None:
            return None
        return self.static_window_s, (self.static_window_s[1], self.hinge_end_s + 0.5)

    def feed(self, blocks: Sequence[SampleBlock]) -> bool:
        """Advance with new samples; returns True when the status changed noticeably."""
        if self.step not in ("static", "knee_lifts", "hinges"):
            return False
        for b in blocks:
            if len(b) and b.role in self.roles:
                self._pending.setdefault(b.role, []).append(b)
                self._seen_s[b.role] = max(self._seen_s.get(b.role, -np.inf), float(b.time_s[-1]))
        chunk = self._take_chunk()
        if chunk is None:
            return False
        by_role, t_start, t_end = chunk
        before = (self.step, round(self.still_s, 1), self.still, self.hinges, *self.lifts.values())
        dt = t_end - self.last_time_s if self.last_time_s is not None else 0.0
        dt = float(np.clip(dt, 0.0, 0.5))
        self.last_time_s = t_end
        if self.started_s is None:
            self.started_s = t_start
        for role, block in by_role.items():
            self._role_still[role] = self._still(block)
        up = {role: up for role, block in by_role.items() if (up := self._fuse(block))}
        still = all(self._role_still.values())
        self._track_still(still, dt, by_role, t_start, t_end)
        if self.step in ("knee_lifts", "hinges"):
            self._track_movements(up, t_end)
        if self.step != "calibrating" and t_end - self.started_s > self.timeout_s:
            self.fail(self._missing())
        after = (self.step, round(self.still_s, 1), self.still, self.hinges, *self.lifts.values())
        return before != after

    def _take_chunk(self) -> tuple[dict[str, SampleBlock], float, float] | None:
        """Pending samples up to the time every live sensor has reached: (by role, start, end)."""
        if not self._seen_s:
            return None
        newest = max(self._seen_s.values())
        live = [r for r in self.roles if newest - self._seen_s.get(r, -np.inf) <= SENSOR_STALE_S]
        for r in self.roles:
            if r not in live:
                self._role_still[r] = False  # missing or stale: not known to be still
        t_end = min(self._seen_s[r] for r in live)
        by_role: dict[str, SampleBlock] = {}
        for role, parts in list(self._pending.items()):
            block = SampleBlock.concat(parts)
            n = int(np.searchsorted(block.time_s, t_end, side="right"))
            if n == 0:
                continue
            by_role[role] = block if n == len(block) else block.slice(0, n)
            if n == len(block):
                del self._pending[role]
            else:
                self._pending[role] = [block.slice(n, len(block))]
        if not by_role:
            return None
        t_start = min(float(b.time_s[0]) for b in by_role.values())
        return by_role, t_start, t_end

    @staticmethod
    def _still(block: SampleBlock) -> bool:
        """Every sample still by the rule of :func:`.calibration.detect_calibration_windows`."""
        gyr = np.linalg.norm(block.gyr_rad_s, axis=1)
        acc = np.abs(np.linalg.norm(block.acc_m_s2, axis=1) - GRAVITY_M_S2)
        return bool(
            np.all(gyr < STILL_MAX_GYR_RAD_S) and np.all(acc < STILL_MAX_ACC_DEVIATION_M_S2)
        )

    def _fuse(self, block: SampleBlock) -> tuple[FloatArray, FloatArray] | None:
        """(time, earth's up direction in sensor coordinates) of the samples fused now.

        A sensor's first ``RATE_SAMPLES`` samples wait for its filter (the rate is theirs),
        so the orientation does not depend on how the samples were batched."""
        role = block.role
        filt = self._filters.get(role)
        if filt is None and role in self.rate_hz:
            filt = self._filters[role] = make_filter("vqf", self.rate_hz[role])
        if filt is None:
            waiting = self._unfused.setdefault(role, [])
            waiting.append(block)
            if sum(len(b) for b in waiting) < RATE_SAMPLES:
                return None
            block = SampleBlock.concat(waiting)
            del self._unfused[role]
            interval_s = float(np.median(np.diff(block.time_s[:RATE_SAMPLES])))
            filt = self._filters[role] = make_filter("vqf", 1.0 / max(interval_s, 1e-3))
        quat = filt.process(block).quat
        return block.time_s, qrotate_inverse_up(quat)

    def _track_still(
        self,
        still: bool,
        dt: float,
        by_role: dict[str, SampleBlock],
        t_start: float,
        t_end: float,
    ) -> None:
        was_still_s, was_still_start_s = self.still_s, self.still_start_s
        self.still = still
        if still:
            if self.still_start_s is None:
                self.still_start_s = t_start
                self._acc_sum = {r: np.zeros(3) for r in self.roles}
                self._acc_n = dict.fromkeys(self.roles, 0)
            self.still_s += dt
            for r, b in by_role.items():
                self._acc_sum[r] += b.acc_m_s2.mean(axis=0)
                self._acc_n[r] += 1
        else:
            self.still_s = 0.0
            self.still_start_s = None
        no_lift_yet = (
            self.step == "knee_lifts"
            and not any(self.lifts.values())
            and not self.hinges
            and not self._unsettled
        )
        if self.step == "static" or no_lift_yet:
            long_enough = still and self.still_s >= self.static_s
            short_but_done = not still and was_still_s >= STILL_MIN_S
            if long_enough:
                self._take_static(t_end, self.still_start_s)
            elif short_but_done:
                self._take_static(t_end - dt, was_still_start_s)
            elif self.step == "static":
                self.message = (
                    f"Keep still: {self.still_s:.1f} of {self.static_s:.0f} s."
                    if still
                    else f"Stand still and upright for {self.static_s:.0f} s (moving now)."
                )

    def _take_static(self, end_s: float, start_s: float | None) -> None:
        start = end_s - self.still_s if start_s is None else start_s
        previous = self.static_window_s
        shorter = previous is not None and end_s - start < previous[1] - previous[0]
        if self.step == "knee_lifts" and shorter:
            return  # keep the longer still period
        self.static_window_s = (start, end_s)
        self._ref = {r: s / max(float(np.linalg.norm(s)), 1e-9) for r, s in self._acc_sum.items()}
        self._reset_movements()  # the excursions are measured from this pose
        if self.step == "static" and self.static_only:
            self.step = "calibrating"
            self.message = "Still pose taken; calibrating from the declared placements."
        elif self.step == "static":
            self.step = "knee_lifts"
            self.message = self._lift_message()

    def _finished_excursions(
        self, role: str, time_s: FloatArray, angle: FloatArray
    ) -> list[tuple[float, float, float]]:
        """(start, stop, peak deg) of the excursions of ``role`` that ended in these samples:
        :func:`.calibration._excursions` carried from block to block."""
        state = self._excursion[role]
        state.angle_deg = float(angle[-1])
        ended: list[tuple[float, float, float]] = []
        i = 0
        while i < len(angle):
            rest = angle[i:]
            below = np.flatnonzero(rest < EXCURSION_LEAVE_DEG)
            if not state.inside:
                above = np.flatnonzero(rest > EXCURSION_ENTER_DEG)
                before = below if len(above) == 0 else below[below < above[0]]
                if len(before):
                    state.below_s = float(time_s[i + int(before[-1])])
                if len(above) == 0:
                    break
                i += int(above[0])
                # The movement starts where the angle last left the start pose.
                state.start_s = float(time_s[i]) if state.below_s is None else state.below_s
                state.inside, state.peak_deg = True, float(angle[i])
                continue
            if len(below) == 0:
                state.peak_deg = max(state.peak_deg, float(rest.max()))
                break
            stop = i + int(below[0])
            state.peak_deg = max(state.peak_deg, float(angle[i : stop + 1].max()))
            state.inside, state.below_s = False, float(time_s[stop])
            ended.append((state.start_s, state.below_s, state.peak_deg))
            i = stop
        return ended

    def _others_peak_deg(self, role: str, start_s: float, stop_s: float) -> float:
        """The largest inclination of any other sensor from ``start_s`` to ``stop_s``."""
        peak = -np.inf
        for other, (t, a) in self._history.items():
            if other != role:
                i = int(np.searchsorted(t, start_s, side="left"))
                j = int(np.searchsorted(t, stop_s, side="right"))
                if j > i:
                    peak = max(peak, float(np.nanmax(a[i:j])))
        return float(peak)

    def _leading(self, role: str, now_s: float) -> bool:
        """An excursion of ``role`` is under way and inclines it more than the others so far."""
        state = self._excursion[role]
        return state.inside and self._others_peak_deg(role, state.start_s, now_s) < state.peak_deg

    def _settle_lifts(self, now_s: float) -> None:
        """Count the knee lifts that are known not to be steps (:func:`.calibration._stepping`).

        The movements since the last settled one are complete when no further thigh
        excursion can alternate with the newest (a thigh's): ``STEP_MAX_GAP_S`` has passed
        since its end and no other thigh's excursion is under way, or may still come, that
        starts within that gap. Until then a knee lift may still turn out to be a step and is
        not counted.
        """
        if not self._unsettled:
            return
        moves = sorted(self._unsettled, key=lambda m: (m.start_s, m.stop_s))
        last = moves[-1]
        if last.role != "pelvis":
            horizon_s = last.stop_s + STEP_MAX_GAP_S
            if now_s <= horizon_s or any(
                self._excursion[r].may_start_by(horizon_s) for r in self.thighs if r != last.role
            ):
                return
        steps = _stepping(
            [(_ms(m.start_s), _ms(m.stop_s), m.role) for m in moves], _ms(STEP_MAX_GAP_S)
        )
        for k, m in enumerate(moves):
            if m.counts and k not in steps:
                self.lifts[m.role] += 1
        self._unsettled = []

    def _lift_message(self) -> str:
        counts = ", ".join(
            f"{SIDES[r]} {min(self.lifts[r], LIFTS_WANTED)}/{LIFTS_WANTED}"  # type: ignore[index]
            for r in self.thighs
        )
        return f"Lift each knee slowly three times ({counts})."

    def _track_movements(self, up: dict[str, tuple[FloatArray, FloatArray]], t_end: float) -> None:
        """Count the movements in the fused samples ``up``: role -> (time, up direction)."""
        angles: dict[str, tuple[FloatArray, FloatArray]] = {}
        for role, (time_s, up_now) in up.items():
            if role not in self._ref:
                continue
            # As calibration._inclination_from_static_deg: the up direction against the
            # static pose's specific force.
            cos = np.clip(up_now @ self._ref[role], -1.0, 1.0)
            angle = np.degrees(np.arccos(np.nan_to_num(cos, nan=1.0)))
            self.angle_deg[role] = round(float(angle[-1]), 1)
            angles[role] = (time_s, angle)
            t, a = self._history[role]
            self._history[role] = (np.concatenate((t, time_s)), np.concatenate((a, angle)))
        for role, (time_s, angle) in angles.items():
            for start_s, stop_s, peak in self._finished_excursions(role, time_s, angle):
                if self._others_peak_deg(role, start_s, stop_s) >= peak:
                    continue  # another sensor moved more: not this sensor's movement
                if role == "pelvis":
                    self.hinges += 1
                    self.hinge_end_s = stop_s
                counts = role != "pelvis" and self.step == "knee_lifts"
                self._unsettled.append(_Movement(start_s, stop_s, role, counts))
        self._settle_lifts(t_end)
        self._trim_history()
        hinge_under_way = self._leading("pelvis", t_end) if "pelvis" in self.roles else False
        if self.step == "knee_lifts":
            all_lifted = all(n >= 1 for n in self.lifts.values())
            if (all_lifted and (hinge_under_way or self.hinges)) or all(
                n >= LIFTS_WANTED for n in self.lifts.values()
            ):
                self.step = "hinges"
            else:
                self.message = self._lift_message()
        if self.step == "hinges":
            pelvis_out = "pelvis" in self.roles and self._excursion["pelvis"].inside
            if self.hinges >= HINGES_WANTED and not pelvis_out:
                self.step = "calibrating"
                self.message = "Computing the calibration..."
            else:
                self.message = (
                    f"Bow forward with straight legs, twice ({self.hinges}/{HINGES_WANTED})."
                )

    def _trim_history(self) -> None:
        """Forget the inclinations before the earliest possible start of an excursion."""
        # A sensor that has not been at the start pose yet starts its excursion when it enters.
        starts = [s.start_s if s.inside else s.below_s for s in self._excursion.values()]
        known = [s for s in starts if s is not None]
        if not known:
            return
        keep_s = min(known)
        for role, (t, a) in self._history.items():
            n = int(np.searchsorted(t, keep_s, side="left"))
            if n:
                self._history[role] = (t[n:], a[n:])

    def _missing(self) -> str:
        if self.step == "static":
            return (
                f"no still period of {self.static_s:.0f} s: stand still and upright, "
                "then start again"
            )
        if self.step == "knee_lifts":
            missing = [SIDES[r] for r in self.thighs if self.lifts[r] == 0]  # type: ignore[index]
            return (
                f"no {' or '.join(missing) or 'further'} knee lifts seen within "
                f"{self.timeout_s:.0f} s: lift each knee slowly to hip height, three times"
                " (one knee at a time: alternating quickly is stepping)"
            )
        return (
            f"only {self.hinges} of {HINGES_WANTED} hip hinges seen within {self.timeout_s:.0f} s:"
            " bow forward with straight legs and come back up, twice"
        )

    def status(self) -> dict[str, Any]:
        """JSON-ready progress for the dashboard."""
        return {
            "step": self.step,
            "message": self.message,
            "still": self.still,
            "still_s": round(self.still_s, 2),
            "static_required_s": self.static_s,
            "knee_lifts": {SIDES[r]: n for r, n in self.lifts.items()},  # type: ignore[index]
            "knee_lifts_wanted": LIFTS_WANTED,
            "hinges": self.hinges,
            "hinges_wanted": HINGES_WANTED,
            "segment_angle_deg": dict(self.angle_deg),
            "quality_score": self.quality_score,
            "warnings": list(self.warnings),
            "error": self.error,
            "calibrated": self.calibration is not None,
        }


def _ms(time_s: float) -> int:
    """Session seconds as whole milliseconds (the sample indices :func:`_stepping` compares)."""
    return round(1000.0 * time_s)
