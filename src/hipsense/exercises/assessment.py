"""The hip extension assessment: active and passive range per side, the gap, and what it means.

The protocol is data (:data:`ASSESSMENT`): which trials, in which order, how many reps, what the
person is told. :class:`Assessment` runs it on the live angle stream as a state machine per
trial, driven by the clinician's actions (``start``, ``accept``, ``redo``, ``skip``, ``next``,
``abort``; see ``docs/assessment.md``):

``pending -> instructions -> waiting_still -> capturing -> accepted | rejected | skipped``

- **waiting_still**: the person holds the start position still; the trial's baseline (hip
  extension and pelvic tilt) is the median over the first still second.
- **capturing**: a rep starts when the leg goes back (hip extension, or the thigh against
  the vertical when the pelvis does the work) more than ``rep_enter_deg`` from the baseline
  and ends when it is back within ``rep_leave_deg``. Each rep is
  :func:`~hipsense.exercises.rom.analyze_range` of its window (the definition ``hipsense
  analyze`` uses) and then judged by :func:`rep_verdict`: it **counts** only when its end
  position, the largest extension held ``hold_s`` (1 s), was held with the pelvis within the
  compensation limit. A rep that does not count is kept with the reason.
- the trial is **accepted** when ``reps`` reps count, or when the clinician accepts it with at
  least one; **rejected** when twice the wanted reps were tried without enough counting and
  none counted, when the data stopped (a sensor dropped out), or when the person never became
  still or never moved.

Per side: active = best counted rep of the active standing trial (the prone trial, when run,
is reported beside it, never mixed into the gap), passive = best counted rep of the passive
trial, gap and classification by :func:`~hipsense.exercises.rom.classify_gap` (the same
thresholds as the offline analysis), and an interpretation in plain sentences with the
sources of the thresholds. When a trial is accepted its reps are marked in the session
(``active_extension`` / ``passive_extension`` / ``active_extension_prone`` for counted reps,
``assessment_rep`` for the others) so ``hipsense analyze`` on the recording gives the same
numbers.

The protocol's data, the limits and the rep verdict are in
:mod:`hipsense.exercises.assessment_protocol`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from hipsense.exercises.assessment_protocol import (
    ASSESSMENT,
    IDLE_TIMEOUT_S,
    MAX_FRAME_GAP_S,
    PASSIVE_METHODS,
    REP_ENTER_DEG,
    SIDES,
    STILL_S,
    WAIT_TIMEOUT_S,
    AssessmentError,
    AssessmentOptions,
    AssessmentProtocol,
    Rep,
    TrialSpec,
    rep_verdict,
)
from hipsense.exercises.intervals import sample_period_s
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import REFERENCE_S, TILT, classify_gap, column, hip_extension_deg
from hipsense.exercises.schema import GapResult
from hipsense.types import AngleBlock, FloatArray, Marker, hip_columns, thigh_inclination_column

__all__ = [
    "ACTIONS",
    "ASSESSMENT",
    "REP_ENTER_DEG",
    "SIDES",
    "Assessment",
    "AssessmentError",
    "AssessmentOptions",
    "AssessmentProtocol",
    "Rep",
    "Trial",
    "rep_verdict",
]


@dataclass
class Trial:
    """One trial of a running assessment (its state machine)."""

    index: int
    spec: TrialSpec
    side: str
    method: str
    state: str = "pending"
    message: str = ""
    reps: list[Rep] = field(default_factory=list)
    started_s: float | None = None
    ended_s: float | None = None
    still_checked: int = 0
    capture_from_s: float | None = None
    baseline_deg: float | None = None
    tilt_baseline_deg: float = 0.0
    apparent_baseline_deg: float | None = None
    rep_open_s: float | None = None
    last_rep_end_s: float | None = None
    _t: list[FloatArray] = field(default_factory=list, repr=False)
    _cols: dict[str, list[FloatArray]] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        """``active_standing_left``, ``passive_right``, ..."""
        return f"{self.spec.key}_{self.side}"

    @property
    def title(self) -> str:
        """Title shown to people."""
        title = f"{self.spec.title} — {self.side}"
        if self.spec.key == "passive":
            method = {"half_kneeling": "half-kneeling lunge", "thomas": "Thomas test"}
            title = (
                f"{self.spec.title} ({method.get(self.method, 'partner-assisted')}) — {self.side}"
            )
        return title

    @property
    def instruction(self) -> str:
        """What the person does, in words."""
        method = PASSIVE_METHODS[self.method].format(side=self.side)
        return self.spec.instruction.format(side=self.side, method=method)

    @property
    def counted(self) -> list[Rep]:
        """Reps that count."""
        return [r for r in self.reps if r.counted]

    def best_deg(self) -> float | None:
        """Best counted extension (None: none counted)."""
        values = [
            r.result.extension_deg for r in self.counted if r.result.extension_deg is not None
        ]
        return max(values) if values else None

    def reset(self) -> None:
        """Forget the trial's frames and reps (redo)."""
        self.reps.clear()
        self._t.clear()
        self._cols.clear()
        self.still_checked = 0
        self.capture_from_s = self.baseline_deg = self.apparent_baseline_deg = None
        self.rep_open_s = self.last_rep_end_s = self.ended_s = None

    def append(self, angles: AngleBlock) -> None:
        """Keep the frames of this trial's side and the pelvis."""
        self._t.append(angles.time_s)
        for name in (*hip_columns(self.side), TILT, thigh_inclination_column(self.side)):
            if name in angles.columns:
                self._cols.setdefault(name, []).append(angles.columns[name])

    def frames(self) -> AngleBlock:
        """All frames since the trial started (one block)."""
        if len(self._t) > 1:
            self._t = [np.concatenate(self._t)]
            self._cols = {k: [np.concatenate(v)] for k, v in self._cols.items()}
        t = self._t[0] if self._t else np.zeros(0)
        return AngleBlock(t, {k: v[0] for k, v in self._cols.items() if len(v[0]) == len(t)})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        best = self.best_deg()
        return {
            "index": self.index,
            "id": self.id,
            "key": self.spec.key,
            "title": self.title,
            "exercise": self.spec.exercise,
            "mode": self.spec.mode,
            "side": self.side,
            "optional": self.spec.optional,
            "instruction": self.instruction,
            "reps_wanted": self.spec.reps,
            "state": self.state,
            "message": self.message,
            "started_s": None if self.started_s is None else round(self.started_s, 3),
            "ended_s": None if self.ended_s is None else round(self.ended_s, 3),
            "baseline_deg": None if self.baseline_deg is None else round(self.baseline_deg, 2),
            "rep_in_progress": self.rep_open_s is not None,
            "best_deg": None if best is None else round(best, 2),
            "refined": any(r.refined for r in self.reps),
            "reps": [r.to_dict() for r in self.reps],
        }


# Which actions each trial state allows (docs/assessment.md).
ALLOWED: dict[str, tuple[str, ...]] = {
    "instructions": ("start", "skip", "abort"),
    "waiting_still": ("redo", "skip", "abort"),
    "capturing": ("accept", "redo", "skip", "abort"),
    "accepted": ("redo", "next", "abort"),
    "rejected": ("redo", "skip", "next", "abort"),
    "skipped": ("redo", "next", "abort"),
}
ACTIONS = ("start", "accept", "redo", "skip", "next", "abort")


class Assessment:
    """One hip extension assessment on the live stream (see the module docstring).

    Parameters
    ----------
    options : passive method, prone trial, sides.
    assessment_id : number shown to people and written in the markers.
    mark : called with each marker to record (counted and other reps of accepted trials).
    config : the analysis thresholds (hold time, compensation limit, gap thresholds).
    protocol : the trials and the rep finder's limits.
    refine : ``(start_s, end_s) -> AngleBlock | None``, the angles of a stretch fused again
        by the smoother (``HipPipeline.refine``); when given, an accepted trial's rep values
        are recomputed from it as the trial ends; the verdicts stay as judged live, and a rep
        whose refined verdict would differ keeps its live values.

    Examples
    --------
    >>> a = Assessment(AssessmentOptions(), 1, mark=print)
    >>> a.act("start", now_s=40.0)  # doctest: +SKIP
    >>> messages = a.process(angle_block)  # doctest: +SKIP
    """

    def __init__(
        self,
        options: AssessmentOptions,
        assessment_id: int,
        mark: Callable[[Marker], None],
        config: AnalysisConfig | None = None,
        protocol: AssessmentProtocol = ASSESSMENT,
        refine: Callable[[float, float], AngleBlock | None] | None = None,
    ) -> None:
        self.options = options
        self.refine = refine
        self.id = assessment_id
        self.mark = mark
        self.config = config or AnalysisConfig()
        self.protocol = protocol
        self.trials: list[Trial] = []
        for side in options.sides:
            for spec in protocol.trials:
                if spec.optional and not (spec.key == "active_prone" and options.include_prone):
                    continue
                self.trials.append(Trial(len(self.trials), spec, side, options.passive_method))
        self.current = 0
        self.state_name = "running"
        self.now_s = 0.0
        self.trials[0].state = "instructions"
        self.trials[0].message = "read the instruction to the person, then press Start"

    # --- actions ----------------------------------------------------------------------------

    @property
    def trial(self) -> Trial | None:
        """The current trial (None once the assessment has ended)."""
        if self.state_name != "running":
            return None
        return self.trials[self.current]

    def allowed(self) -> list[str]:
        """Actions possible now."""
        trial = self.trial
        if trial is None:
            return []
        allowed = list(ALLOWED.get(trial.state, ("abort",)))
        if trial.state == "capturing" and not trial.counted:
            allowed.remove("accept")
        return allowed

    def act(self, action: str, now_s: float) -> list[dict[str, Any]]:
        """Apply a clinician's action; messages to broadcast. Raises AssessmentError."""
        if action not in ACTIONS:
            raise AssessmentError(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")
        trial = self.trial
        if trial is None:
            raise AssessmentError(
                f"assessment {self.id} has {self.state_name}; start a new one (POST "
                "/api/assessment)"
            )
        if action not in self.allowed():
            raise AssessmentError(
                f"cannot {action} while the trial {trial.id} is {trial.state.replace('_', ' ')}"
                f"; possible now: {', '.join(self.allowed())}"
            )
        self.now_s = max(self.now_s, now_s)
        if action == "abort":
            if trial.state in ("waiting_still", "capturing"):
                trial.state = "skipped"
                trial.message = "the assessment was aborted during this trial"
                trial.ended_s = self.now_s
            self.state_name = "aborted"
            return [self.message("aborted")]
        if action == "start":
            trial.started_s = self.now_s
            self._wait(trial, "stand (or lie) still in the start position")
        elif action == "redo":
            trial.reset()
            trial.started_s = self.now_s
            self._wait(trial, "trial restarted: still in the start position")
        elif action == "skip":
            trial.reset()
            trial.state, trial.ended_s = "skipped", self.now_s
            trial.message = "skipped; press Next"
        elif action == "accept":
            self._close_open_rep(trial, self.now_s)
            self._finish(trial, self.now_s, accepted_by_clinician=True)
        elif action == "next":
            if self.current + 1 >= len(self.trials):
                self.state_name = "finished"
                return [self.message("finished")]
            self.current += 1
            nxt = self.trials[self.current]
            nxt.state = "instructions"
            nxt.message = "read the instruction to the person, then press Start"
        return [self.message("trial")]

    def _wait(self, trial: Trial, message: str) -> None:
        trial.state = "waiting_still"
        trial.message = message

    # --- data -------------------------------------------------------------------------------

    def process(self, angles: AngleBlock) -> list[dict[str, Any]]:
        """Messages caused by a block of calibrated angles (any size)."""
        if len(angles) == 0:
            return []
        self.now_s = max(self.now_s, float(angles.time_s[-1]))
        trial = self.trial
        if trial is None or trial.state not in ("waiting_still", "capturing"):
            return []
        assert trial.started_s is not None
        i = int(np.searchsorted(angles.time_s, trial.started_s))
        if i >= len(angles):
            return []
        part = AngleBlock(angles.time_s[i:], {k: v[i:] for k, v in angles.columns.items()})
        if hip_columns(trial.side)[0] not in part.columns:
            return self._reject(
                trial,
                f"no angles of the {trial.side} hip: is the {trial.side} thigh sensor on and "
                "connected? Then press Redo",
            )
        prev_end = trial.frames().time_s[-1] if trial._t else None
        trial.append(part)
        frames = trial.frames()
        t = frames.time_s
        broken = self._data_problem(frames, prev_end)
        if broken:
            return self._reject(trial, broken)
        changed = False
        if trial.state == "waiting_still":
            changed = self._find_still(trial, frames)
            if trial.state == "waiting_still" and t[-1] - t[0] > WAIT_TIMEOUT_S:
                return self._reject(
                    trial,
                    f"the person was not still for {STILL_S:g} s within {WAIT_TIMEOUT_S:g} s; "
                    "ask them to hold the start position quietly, then press Redo",
                )
        if trial.state == "capturing":
            changed = self._find_reps(trial, frames) or changed
            idle_from = trial.last_rep_end_s or trial.capture_from_s
            if (
                trial.state == "capturing"
                and trial.rep_open_s is None
                and not trial.reps
                and idle_from is not None
                and t[-1] - idle_from > IDLE_TIMEOUT_S
            ):
                return self._reject(
                    trial,
                    f"no movement away from the start position in {IDLE_TIMEOUT_S:g} s "
                    f"(at least {self.protocol.rep_enter_deg:g} deg of hip extension); "
                    "press Redo and demonstrate the movement",
                )
        return [self.message("rep" if trial.reps else "trial")] if changed else []

    def _data_problem(self, frames: AngleBlock, prev_end: float | None) -> str:
        t = frames.time_s
        gaps = np.flatnonzero(np.diff(t) > MAX_FRAME_GAP_S)
        if len(gaps):
            k = int(gaps[0])
            return (
                f"the data stopped for {t[k + 1] - t[k]:.1f} s at {t[k]:.1f} s (a sensor dropped "
                "out or lost its connection): check the sensors, then press Redo"
            )
        bad = [k for k, v in frames.columns.items() if not np.all(np.isfinite(v))]
        if bad:
            return (
                f"no valid angles ({', '.join(sorted(bad))}) during the trial: a sensor dropped "
                "out; check the sensors, then press Redo"
            )
        return ""

    def _find_still(self, trial: Trial, frames: AngleBlock) -> bool:
        t = frames.time_s
        ext = hip_extension_deg(frames, trial.side)
        tilt = column(frames, TILT)
        w = max(2, round(self.protocol.still_s / sample_period_s(t)) + 1)
        if len(t) < w:
            return False
        lo = trial.still_checked  # windows starting before this were judged already
        ptp = np.maximum(
            np.ptp(sliding_window_view(ext[lo:], w), axis=1),
            np.ptp(sliding_window_view(tilt[lo:], w), axis=1),
        )
        ok = np.flatnonzero(ptp <= self.protocol.still_range_deg)
        if not len(ok):
            trial.still_checked = max(lo, len(t) - w + 1)
            return False
        k = lo + int(ok[0])
        trial.baseline_deg = float(np.median(ext[k : k + w]))
        trial.tilt_baseline_deg = float(np.median(tilt[k : k + w]))
        name = thigh_inclination_column(trial.side)
        if name in frames.columns:
            trial.apparent_baseline_deg = float(np.median(-frames.columns[name][k : k + w]))
        trial.capture_from_s = float(t[k + w - 1])
        trial.state = "capturing"
        trial.message = (
            f"still at {trial.baseline_deg:.1f} deg: go ({trial.spec.reps} "
            f"rep{'s' if trial.spec.reps > 1 else ''})"
        )
        return True

    def _find_reps(self, trial: Trial, frames: AngleBlock) -> bool:
        assert trial.baseline_deg is not None and trial.capture_from_s is not None
        t = frames.time_s
        tilt = column(frames, TILT)
        rel = self._movement(trial, frames)
        changed = False
        search_from = trial.last_rep_end_s or trial.capture_from_s
        while trial.state == "capturing":
            i0 = int(np.searchsorted(t, search_from, side="right"))
            if trial.rep_open_s is None:
                up = np.flatnonzero(rel[i0:] > self.protocol.rep_enter_deg)
                if not len(up):
                    break
                j = i0 + int(up[0])
                # The movement began where the hip and the pelvis were last both at their
                # still baseline (a pelvis that tilts first belongs to the rep).
                at_rest = (rel[i0:j] <= self.protocol.rep_leave_deg) & (
                    np.abs(tilt[i0:j] - trial.tilt_baseline_deg) <= self.protocol.rep_leave_deg
                )
                low = np.flatnonzero(at_rest)
                k = i0 + int(low[-1]) if len(low) else i0
                # The window starts REFERENCE_S before the hip left the baseline, so the
                # pelvic tilt reference (its first REFERENCE_S) is taken before the movement.
                trial.rep_open_s = max(float(t[k]) - REFERENCE_S, float(t[i0]))
                trial.message = f"rep {len(trial.counted) + 1} under way"
                changed = True
            start = trial.rep_open_s
            assert start is not None
            j_open = int(np.searchsorted(t, start))
            above = np.flatnonzero(rel[j_open:] > self.protocol.rep_enter_deg)
            if not len(above):
                break
            first_up = j_open + int(above[0])
            back = np.flatnonzero(rel[first_up:] <= self.protocol.rep_leave_deg)
            if not len(back):
                break
            m = first_up + int(back[0])
            self._close_rep(trial, frames, start, float(t[m]) + 0.5 * sample_period_s(t))
            search_from = float(t[m])
            changed = True
        return changed

    def _movement(self, trial: Trial, frames: AngleBlock) -> FloatArray:
        """How far the leg has gone back from the still start (deg): the larger of the hip's
        extension and the thigh's against the vertical, so a rep where the pelvis does the
        work (the hip barely moves, the thigh does) is found and judged too."""
        assert trial.baseline_deg is not None
        hip = hip_extension_deg(frames, trial.side) - trial.baseline_deg
        name = thigh_inclination_column(trial.side)
        if name not in frames.columns or trial.apparent_baseline_deg is None:
            return hip
        apparent = -frames.columns[name] - trial.apparent_baseline_deg
        return np.asarray(np.maximum(hip, apparent))

    def _close_open_rep(self, trial: Trial, now_s: float) -> None:
        if trial.rep_open_s is not None:
            self._close_rep(trial, trial.frames(), trial.rep_open_s, now_s + 1e-6)

    def _close_rep(self, trial: Trial, frames: AngleBlock, start_s: float, end_s: float) -> None:
        t = frames.time_s
        i, j = np.searchsorted(t, (start_s, end_s))
        block = AngleBlock(t[i:j], {k: v[i:j] for k, v in frames.columns.items()})
        trial.rep_open_s = None
        trial.last_rep_end_s = end_s
        if len(block) < 5:
            return
        result, peak, counted, reason = rep_verdict(
            block, trial.side, trial.spec.exercise, self.config, self.protocol.end_range_deg
        )
        trial.reps.append(
            Rep(len(trial.reps) + 1, float(t[i]), end_s, result, peak, counted, reason)
        )
        n_ok = len(trial.counted)
        if n_ok >= trial.spec.reps or len(trial.reps) >= 2 * trial.spec.reps:
            self._finish(trial, end_s)
        else:
            last = "counted" if counted else f"not counted: {reason}"
            trial.message = f"rep {len(trial.reps)} {last}; {n_ok} of {trial.spec.reps} counted"

    def _finish(self, trial: Trial, end_s: float, accepted_by_clinician: bool = False) -> None:
        trial.ended_s = end_s
        n_ok = len(trial.counted)
        if n_ok == 0:
            reasons = [r.reason for r in trial.reps if r.reason]
            why = max(set(reasons), key=reasons.count) if reasons else "no rep was found"
            trial.state = "rejected"
            trial.message = f"no rep counted: {why}. Press Redo (or Skip)"
            return
        trial.state = "accepted"
        self._refine_reps(trial)
        by = " (accepted by the clinician)" if accepted_by_clinician else ""
        trial.message = f"{n_ok} of {trial.spec.reps} reps counted{by}; press Next"
        for rep in trial.reps:
            self.mark(
                Marker(
                    rep.start_s,
                    rep.end_s,
                    trial.spec.exercise if rep.counted else "assessment_rep",
                    trial.side,
                    f"assessment {self.id} {trial.id} rep {rep.n}"
                    + ("" if rep.counted else f": not counted, {rep.reason}"),
                )
            )

    def _refine_reps(self, trial: Trial) -> None:
        """Each rep's values from the trial's angles fused again (see ``refine``)."""
        if self.refine is None or not trial.reps:
            return
        angles = self.refine(trial.reps[0].start_s, trial.reps[-1].end_s)
        if angles is None:
            return
        t = angles.time_s
        for rep in trial.reps:
            i, j = np.searchsorted(t, (rep.start_s, rep.end_s))
            if j - i < 5:
                continue
            block = AngleBlock(t[i:j], {k: v[i:j] for k, v in angles.columns.items()})
            result, peak, counted, reason = rep_verdict(
                block, trial.side, trial.spec.exercise, self.config, self.protocol.end_range_deg
            )
            if counted != rep.counted:
                # The verdict was given while the person was there; numbers that would
                # contradict it are not shown (the rep keeps its live values).
                continue
            rep.live_extension_deg = rep.result.extension_deg
            rep.result, rep.peak_deg, rep.reason, rep.refined = result, peak, reason, True

    def sensor_problem(self, role: str, message: str) -> list[dict[str, Any]]:
        """A sensor dropped out: the trial under way is rejected when it needs that sensor."""
        trial = self.trial
        if trial is None or trial.state not in ("waiting_still", "capturing"):
            return []
        if role and role not in ("pelvis", f"thigh_{trial.side}"):
            return []
        what = message or f"the {role or 'a'} sensor dropped out"
        return self._reject(
            trial, f"{what}: the trial cannot be judged; check the sensor, then press Redo"
        )

    def _reject(self, trial: Trial, reason: str) -> list[dict[str, Any]]:
        trial.state = "rejected"
        trial.message = reason
        trial.ended_s = self.now_s
        trial.rep_open_s = None
        return [self.message("trial")]

    # --- results ----------------------------------------------------------------------------

    def _side_values(self, side: str) -> tuple[float | None, float | None]:
        def best(key: str) -> float | None:
            for tr in self.trials:
                if tr.side == side and tr.spec.key == key and tr.state == "accepted":
                    return tr.best_deg()
            return None

        return best("active_standing"), best("passive")

    def gap(self, side: str) -> GapResult:
        """The side's active, passive, gap and classification (same rules as ``analyze``)."""
        active, passive = self._side_values(side)
        return classify_gap(side, active, passive, self.config)

    def side_results(self) -> dict[str, dict[str, Any]]:
        """Per side: active, passive, gap, classification and interpretation."""
        out: dict[str, dict[str, Any]] = {}
        for side in self.options.sides:
            g = self.gap(side)
            prone = next(
                (
                    t.best_deg()
                    for t in self.trials
                    if t.side == side and t.spec.key == "active_prone" and t.state == "accepted"
                ),
                None,
            )
            out[side] = {
                "active_deg": None if g.active_deg is None else round(g.active_deg, 2),
                "active_prone_deg": None if prone is None else round(prone, 2),
                "passive_deg": None if g.passive_deg is None else round(g.passive_deg, 2),
                "gap_deg": None if g.gap_deg is None else round(g.gap_deg, 2),
                "classification": g.classification,
                "interpretation": g.interpretation,
            }
        return out

    def comparison(self) -> dict[str, Any] | None:
        """Left minus right, when both sides have values."""
        if len(self.options.sides) < 2:
            return None
        return compare_sides(self._side_values("left"), self._side_values("right"))

    def state(self) -> dict[str, Any]:
        """Everything a client shows (JSON-ready)."""
        return {
            "id": self.id,
            "state": self.state_name,
            "time_s": round(self.now_s, 3),
            "protocol": self.protocol.to_dict(),
            "options": self.options.to_dict(),
            "limits": {
                "hold_s": self.config.hold_s,
                "compensation_limit_deg": self.config.compensation_limit_deg,
                "passive_normal_min_deg": self.config.passive_normal_min_deg,
                "gap_threshold_deg": self.config.gap_threshold_deg,
            },
            "current": self.current if self.state_name == "running" else None,
            "allowed": self.allowed(),
            "trials": [t.to_dict() for t in self.trials],
            "sides": self.side_results(),
            "comparison": self.comparison(),
        }

    def message(self, change: str) -> dict[str, Any]:
        return {"type": "assessment", "change": change, "assessment": self.state()}


# Left and right differ by more than this before the page says so: a difference of two ranges
# carries about 0.7 deg of measurement error (two ~0.5 deg errors), 2 deg is three times that.
SAME_DEG = 2.0


def compare_sides(
    left: tuple[float | None, float | None], right: tuple[float | None, float | None]
) -> dict[str, Any]:
    """Left minus right of ``(active, passive)`` per side, in numbers and words."""
    (al, pl), (ar, pr) = left, right
    active = None if al is None or ar is None else al - ar
    passive = None if pl is None or pr is None else pl - pr
    parts = []
    for name, diff in (("active", active), ("passive", passive)):
        if diff is None:
            continue
        if abs(diff) < SAME_DEG:
            parts.append(f"{name} extension is about equal on both sides")
        else:
            more = "left" if diff > 0 else "right"
            parts.append(f"{name} extension is {abs(diff):.1f} deg greater on the {more}")
    return {
        "active_diff_deg": None if active is None else round(active, 2),
        "passive_diff_deg": None if passive is None else round(passive, 2),
        "text": "; ".join(parts) + ("." if parts else ""),
    }
