"""Server-side hold series: passive holds, PAILs and RAILs run by the service, not the page.

A clinician chooses the side, the phases (passive, PAILs, RAILs), each phase's hold time, the
repetitions, the rest between them, and a target end range typed in degrees or captured at the
start of the first hold, with a tolerance. :class:`HoldSeries` then runs the whole series on the
angle stream by itself:

- each hold is a :class:`~hipsense.exercises.holds.HoldTracker` against a one-phase protocol
  whose minimum is the hold time; it ends when its time in band without compensation reaches
  the hold time (**complete**), or when ``hold_s x (1 + GRACE_FRACTION)`` has passed (**not
  complete**: the person could not stay in position);
- its final numbers are :func:`~hipsense.exercises.holds.analyze_hold` of its window, and the
  window is marked in the session with the settings it was run with (marker params), so
  ``hipsense analyze`` / ``report`` on the recording give the same numbers and show the
  protocol actually run;
- the phases of a repetition follow each other directly (PAILs and RAILs are done in the
  passive position); repetitions are separated by ``rest_s``.

Every client shows the state this object reports (``state()``), pushed at each change and
5 times a second of angle time while a hold runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hipsense.errors import ConfigurationError
from hipsense.exercises.holds import HoldTracker
from hipsense.exercises.intervals import sample_period_s
from hipsense.exercises.protocols import AnalysisConfig, HoldProtocol, PhaseSpec
from hipsense.exercises.rom import hip_extension_deg
from hipsense.exercises.schema import HoldResult
from hipsense.exercises.segments import marker_text
from hipsense.types import AngleBlock, Marker

PHASES: dict[str, tuple[str, str, str]] = {
    # phase -> (marker exercise, band, name on screen)
    "passive": ("hold_passive", "two_sided", "passive hold"),
    "pails": ("hold_pails", "two_sided", "PAILs"),
    "rails": ("hold_rails", "at_least", "RAILs"),
}
# A hold that has not reached its time in band by hold_s x 1.5 is over: not complete. Half the
# hold time again leaves room for getting into the band and one correction, not for a retry.
GRACE_FRACTION = 0.5
PROGRESS_EVERY_S = 0.2


@dataclass(frozen=True)
class HoldSeriesSpec:
    """What the clinician asked for (seconds, degrees)."""

    side: str
    phases: tuple[str, ...] = ("passive", "pails", "rails")
    hold_s: dict[str, float] = field(
        default_factory=lambda: {"passive": 30.0, "pails": 10.0, "rails": 10.0}
    )
    reps: int = 1
    rest_s: float = 10.0
    target_deg: float | None = None
    tolerance_deg: float = 3.0

    def __post_init__(self) -> None:
        if self.side not in ("left", "right"):
            raise ConfigurationError(f"side must be left or right, not {self.side!r}")
        if not self.phases:
            raise ConfigurationError("a hold series needs at least one phase")
        for p in self.phases:
            if p not in PHASES:
                raise ConfigurationError(f"unknown hold phase {p!r}; use {', '.join(PHASES)}")
            if not 1.0 <= self.seconds(p) <= 600.0:
                raise ConfigurationError(f"{p} hold must last 1-600 s, not {self.seconds(p)}")
        if not 1 <= self.reps <= 10:
            raise ConfigurationError(f"reps must be 1-10, not {self.reps}")
        if not 0.0 <= self.rest_s <= 600.0:
            raise ConfigurationError(f"rest must be 0-600 s, not {self.rest_s}")
        if not 0.5 <= self.tolerance_deg <= 20.0:
            raise ConfigurationError(f"tolerance must be 0.5-20 deg, not {self.tolerance_deg}")
        if self.target_deg is not None and not -30.0 <= self.target_deg <= 60.0:
            raise ConfigurationError(
                f"target hip extension must be -30..60 deg, not {self.target_deg}"
            )

    def seconds(self, phase: str) -> float:
        """Hold time of a phase (s); a phase without its own time uses 10 s."""
        return float(self.hold_s.get(phase, 10.0))

    @property
    def name(self) -> str:
        """What was run, in words: ``passive 30 s, PAILs 10 s, RAILs 10 s x 2, rest 10 s``."""
        parts = ", ".join(f"{PHASES[p][2]} {self.seconds(p):g} s" for p in self.phases)
        target = "captured" if self.target_deg is None else f"{self.target_deg:g}"
        return (
            f"{parts} x {self.reps}, rest {self.rest_s:g} s, {self.side}, target {target} "
            f"+-{self.tolerance_deg:g} deg"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "side": self.side,
            "phases": list(self.phases),
            "hold_s": {p: self.seconds(p) for p in self.phases},
            "reps": self.reps,
            "rest_s": self.rest_s,
            "target_deg": self.target_deg,
            "tolerance_deg": self.tolerance_deg,
            "name": self.name,
        }


@dataclass
class _Hold:
    n: int
    rep: int
    phase: str
    start_s: float
    tracker: HoldTracker
    max_s: float
    end_s: float | None = None
    result: HoldResult | None = None


class HoldSeries:
    """One running series (see the module docstring).

    Parameters
    ----------
    spec : what to run.
    series_id : number shown to people and written in the markers.
    start_s : session time the first hold starts.
    mark : called with the marker of each finished hold (the service records it).
    config : smoothing, compensation limit and capture time.
    """

    def __init__(
        self,
        spec: HoldSeriesSpec,
        series_id: int,
        start_s: float,
        mark: Callable[[Marker], None],
        config: AnalysisConfig | None = None,
    ) -> None:
        self.spec = spec
        self.id = series_id
        self.config = config or AnalysisConfig()
        self.mark = mark
        self.schedule = [(r, p) for r in range(1, spec.reps + 1) for p in spec.phases]
        self.holds: list[_Hold] = []
        self.target_deg = spec.target_deg
        self.state_name = "holding"
        self.rest_until_s: float | None = None
        self.now_s = start_s
        self.value_deg: float | None = None
        self._next_progress_s = start_s
        self._end_at: float | None = None
        self._open(start_s)

    # --- running --------------------------------------------------------------------------

    def _protocol(self, phase: str) -> HoldProtocol:
        exercise, band, _ = PHASES[phase]
        hold_s = self.spec.seconds(phase)
        return HoldProtocol(
            name=self.spec.name,
            phases=(PhaseSpec(exercise, hold_s, hold_s * (1 + GRACE_FRACTION), band),),
            repeats=1,
            tolerance_deg=self.spec.tolerance_deg,
            capture_s=self.config.protocol.capture_s,
            compensation_limit_deg=self.config.compensation_limit_deg,
        )

    def _open(self, start_s: float) -> list[dict[str, Any]]:
        """Begin the next hold at ``start_s``; its events from frames already seen."""
        previous = self.holds[-1].tracker.data() if self.holds else None
        rep, phase = self.schedule[len(self.holds)]
        tracker = HoldTracker(
            start_s,
            self.spec.side,
            PHASES[phase][0],
            self._protocol(phase),
            self.config,
            target_deg=self.target_deg,
        )
        self.holds.append(
            _Hold(len(self.holds) + 1, rep, phase, start_s, tracker, tracker.spec.max_s)
        )
        self.state_name = "holding"
        out: list[dict[str, Any]] = []
        if previous is not None and len(previous) and previous.time_s[-1] >= start_s:
            # The last hold's tracker saw frames past its end (its smoothing looks ahead):
            # they belong to this hold.
            for ev in tracker.process(previous):
                out.extend(self._tracker_event(ev))
                if ev["kind"] == "hold_complete" and self._end_at is None:
                    self._end_at = _end_after(ev, tracker)
        return out

    @property
    def current(self) -> _Hold | None:
        """The hold under way (None while resting or after the end)."""
        if self.state_name != "holding" or not self.holds:
            return None
        return self.holds[-1]

    @property
    def done(self) -> bool:
        """Whether the series has ended (finished or stopped)."""
        return self.state_name in ("finished", "stopped")

    def process(self, angles: AngleBlock) -> list[dict[str, Any]]:
        """Messages (``{"type": "hold", ...}``) caused by a block of angles (any size)."""
        out: list[dict[str, Any]] = []
        if self.done or len(angles) == 0:
            return out
        t = angles.time_s
        i = 0
        while i < len(t) and not self.done:
            if self.state_name == "resting":
                assert self.rest_until_s is not None
                j = int(np.searchsorted(t, self.rest_until_s))
                if j >= len(t):
                    break
                out.append(self.message("started"))
                out.extend(self._open(float(t[j])))
                i = j
                continue
            hold = self.holds[-1]
            seen = hold.tracker.data().time_s
            if len(seen):  # frames this hold already has (handed over from the last one)
                i = max(i, int(np.searchsorted(t, seen[-1], side="right")))
            limit = self._end_at if self._end_at is not None else hold.start_s + hold.max_s
            j = int(np.searchsorted(t, limit))
            if j > i:
                for ev in hold.tracker.process(_slice(angles, i, j)):
                    out.extend(self._tracker_event(ev))
                    if ev["kind"] == "hold_complete" and self._end_at is None:
                        # The window ends right after the frame that completed the time in
                        # band, so the offline analysis of the window counts that frame too.
                        self._end_at = _end_after(ev, hold.tracker)
            if self._end_at is not None:
                limit = self._end_at
            k = int(np.searchsorted(t, limit))
            if k >= len(t):
                break  # the hold goes on past this block
            self._end_at = None
            out.extend(self._end_hold(hold, limit))
            i = k
        self.now_s = max(self.now_s, float(t[-1]))
        ext = hip_extension_deg(angles, self.spec.side)
        finite = ext[np.isfinite(ext)]
        if len(finite):
            self.value_deg = float(finite[-1])
        if self.state_name == "holding" and self.now_s >= self._next_progress_s:
            self._next_progress_s = self.now_s + PROGRESS_EVERY_S
            out.append(self.message("progress"))
        return out

    def _tracker_event(self, ev: dict[str, Any]) -> list[dict[str, Any]]:
        kind = ev["kind"]
        if kind == "hold_started":
            if self.target_deg is None:  # the exact captured value (the event's is rounded)
                self.target_deg = self.holds[-1].tracker.target_deg
            return [self.message("target")]
        if kind == "hold_band":
            return [self.message("band")]
        if kind == "hold_compensation":
            return [self.message("compensation")]
        if kind == "hold_complete":
            return [self.message("complete")]
        return []

    def _end_hold(self, hold: _Hold, end_s: float) -> list[dict[str, Any]]:
        hold.end_s = end_s
        hold.result = hold.tracker.finish(end_s)
        self._mark(hold)
        out = [self.message("hold_end")]
        if len(self.holds) == len(self.schedule):
            self.state_name = "finished"
            out.append(self.message("finished"))
        elif self.schedule[len(self.holds)][0] != hold.rep and self.spec.rest_s > 0:
            self.state_name = "resting"
            self.rest_until_s = end_s + self.spec.rest_s
            out.append(self.message("rest"))
        else:
            out.extend(self._open(end_s))
            out.insert(1, self.message("started"))
        return out

    def stop(self) -> list[dict[str, Any]]:
        """End the series now (a hold under way ends here and is marked)."""
        if self.done:
            return []
        out: list[dict[str, Any]] = []
        hold = self.current
        if hold is not None and self.now_s > hold.start_s:
            hold.end_s = self.now_s
            hold.result = hold.tracker.finish(self.now_s)
            self._mark(hold)
        self.state_name = "stopped"
        out.append(self.message("stopped"))
        return out

    def _mark(self, hold: _Hold) -> None:
        """Record the hold's window with the settings it was run with."""
        assert hold.end_s is not None
        spec = hold.tracker.spec
        params = {
            "series": self.spec.name,
            "hold_s": spec.min_s,
            "max_s": spec.max_s,
            "band": spec.band,
            "tolerance_deg": self.spec.tolerance_deg,
            "target_deg": hold.tracker.typed_target_deg,
            "capture_s": hold.tracker.protocol.capture_s,
            "compensation_limit_deg": hold.tracker.protocol.compensation_limit_deg,
        }
        text = f"hold series {self.id} rep {hold.rep} {hold.phase}"
        self.mark(
            Marker(
                hold.start_s,
                hold.end_s,
                PHASES[hold.phase][0],
                self.spec.side,
                marker_text(text, params),
            )
        )

    # --- state ----------------------------------------------------------------------------

    def _hold_dict(self, hold: _Hold) -> dict[str, Any]:
        tracker = hold.tracker
        result = hold.result
        if result is None and len(tracker.data()):
            result = tracker.finish(np.inf)
        d: dict[str, Any] = {
            "n": hold.n,
            "rep": hold.rep,
            "phase": hold.phase,
            "exercise": PHASES[hold.phase][0],
            "state": "done" if hold.result is not None else "holding",
            "start_s": round(hold.start_s, 3),
            "end_s": None if hold.end_s is None else round(hold.end_s, 3),
            "target_s": tracker.spec.min_s,
            "max_s": tracker.spec.max_s,
            "band": tracker.spec.band,
            "target_deg": None if tracker.target_deg is None else round(tracker.target_deg, 2),
        }
        if result is not None and tracker.target_deg is not None:
            r = result.to_dict()
            for key in (
                "band_low_deg",
                "band_high_deg",
                "time_in_band_s",
                "longest_in_band_s",
                "drift_deg",
                "end_range_deg",
                "gain_deg",
                "compensation_s",
                "compliance",
                "complete",
            ):
                d[key] = r[key]
            d["elapsed_s"] = round(self.now_s - hold.start_s, 2) if hold.end_s is None else None
        if hold.result is None:
            d["complete"] = tracker.completed
        return d

    def state(self) -> dict[str, Any]:
        """What every client shows (JSON-ready)."""
        hold = self.current
        done = [h.result for h in self.holds if h.result is not None]
        tracker = hold.tracker if hold is not None else None
        target = self.target_deg
        band = PHASES[hold.phase][1] if hold is not None else "two_sided"
        tol = self.spec.tolerance_deg
        return {
            "id": self.id,
            "state": self.state_name,
            "side": self.spec.side,
            "protocol": self.spec.to_dict(),
            "time_s": round(self.now_s, 3),
            "phase": None if hold is None else hold.phase,
            "rep": None if hold is None else hold.rep,
            "hold_n": None if hold is None else hold.n,
            "holds_total": len(self.schedule),
            "target_deg": None if target is None else round(target, 2),
            "band_low_deg": None if target is None else round(target - tol, 2),
            "band_high_deg": None
            if target is None or band == "at_least"
            else round(target + tol, 2),
            "value_deg": None if self.value_deg is None else round(self.value_deg, 2),
            "in_band": bool(tracker.in_band) if tracker is not None else None,
            "compensating": bool(tracker.compensating) if tracker is not None else None,
            "rest_until_s": None if self.rest_until_s is None else round(self.rest_until_s, 3),
            "holds": [self._hold_dict(h) for h in self.holds],
            "summary": {
                "holds": len(done),
                "complete": sum(1 for r in done if r.complete),
                "compliance": round(sum(r.compliance for r in done) / len(done), 3)
                if done
                else None,
            },
        }

    def message(self, change: str) -> dict[str, Any]:
        return {"type": "hold", "change": change, "series": self.state()}


def _end_after(event: dict[str, Any], tracker: HoldTracker) -> float:
    """Half a frame after the frame that completed the hold: the window ends there."""
    return float(event["time_s"]) + 0.5 * sample_period_s(tracker.data().time_s)


def _slice(angles: AngleBlock, i: int, j: int) -> AngleBlock:
    return AngleBlock(angles.time_s[i:j], {k: v[i:j] for k, v in angles.columns.items()})
