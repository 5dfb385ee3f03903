"""What a clinician runs on the live stream: the assessment, hold series, live compensation.

:class:`ClinicProtocols` is one :class:`hipsense.live.Analyzer` of a live session. It owns the
current :class:`~hipsense.exercises.assessment.Assessment`, the current
:class:`~hipsense.exercises.hold_series.HoldSeries` and the always-on
:class:`~hipsense.exercises.compensation.CompensationMonitor`; the API's actions go through
it, and its messages (``{"type": "assessment" | "hold" | "compensation", ...}``) go to every
client, so every screen shows the same state. Markers of finished trials and holds go to
``mark`` (the live session records them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from hipsense.exercises.assessment import (
    Assessment,
    AssessmentError,
    AssessmentOptions,
    compare_sides,
)
from hipsense.exercises.assessment_protocol import MAX_FRAME_GAP_S
from hipsense.exercises.compensation import CompensationMonitor
from hipsense.exercises.hold_series import HoldSeries, HoldSeriesSpec
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.types import AngleBlock, Marker


class ClinicProtocols:
    """The clinician's protocols on one live session (see the module docstring).

    Parameters
    ----------
    mark : records a marker in the session (``LiveSession.add_marker``).
    now : the session time (s) an action happens at (``lambda: live.time_s``).
    calibrated : whether angles flow (``lambda: live.pipeline.calibration_ is not None``).
    config : analysis thresholds.
    history : the session's markers and analysis results so far (``lambda: (list(
        live.markers), list(live.results))``): a replayed recording's assessment is shown
        from them.
    refine : ``(start_s, end_s) -> AngleBlock | None`` (``live.refine``): an accepted
        trial's reps are valued from its angles fused again as it ends.
    """

    def __init__(
        self,
        mark: Callable[[Marker], Any],
        now: Callable[[], float],
        calibrated: Callable[[], bool],
        config: AnalysisConfig | None = None,
        history: Callable[[], tuple[list[Marker], list[dict[str, Any]]]] | None = None,
        refine: Callable[[float, float], AngleBlock | None] | None = None,
    ) -> None:
        self.config = config or AnalysisConfig()
        self.refine = refine
        self.history = history
        self.mark = mark
        self.now = now
        self.calibrated = calibrated
        self.assessment: Assessment | None = None
        self.series: HoldSeries | None = None
        self.compensation = CompensationMonitor(self.config)
        self._ids = {"assessment": 0, "series": 0}
        self._next_recorded_s = -np.inf
        self._recorded_signature: tuple[int, int] = (0, 0)

    # --- the Analyzer protocol ----------------------------------------------------------

    def process(self, angles: AngleBlock) -> list[dict[str, Any]]:
        """Messages caused by a block of calibrated angles."""
        out = self.compensation.process(angles)
        if self.assessment is not None:
            out.extend(self.assessment.process(angles))
        elif self.history is not None and len(angles):
            out.extend(self._recorded_changes(float(angles.time_s[-1])))
        if self.series is not None:
            out.extend(self.series.process(angles))
        return out

    def _recorded_changes(self, now_s: float) -> list[dict[str, Any]]:
        """Once a second of angle time: a replayed recording's assessment, when it changed."""
        if now_s < self._next_recorded_s or self.history is None:
            return []
        self._next_recorded_s = now_s + 1.0
        markers, results = self.history()
        signature = (len(markers), len(results))
        if signature == self._recorded_signature:
            return []
        self._recorded_signature = signature
        recorded = recorded_assessment(markers, results, now_s)
        if recorded is None:
            return []
        return [{"type": "assessment", "change": "recorded", "assessment": recorded}]

    def sensor_event(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """A sensor of the trial dropped out (disconnected, or a gap longer than the trial
        tolerates): the trial under way is rejected with the reason."""
        a = self.assessment
        if a is None:
            return []
        kind, role = event.get("kind"), str(event.get("role", ""))
        detail = event.get("detail") or {}
        if kind == "gap":
            if float(detail.get("missing_s", 0.0)) <= MAX_FRAME_GAP_S:
                return []
        elif kind not in ("disconnected", "source_failed"):
            return []
        return a.sensor_problem(role, str(event.get("message", "")))

    def finish(self) -> list[dict[str, Any]]:
        """At the end of the stream a series under way stops (its hold is marked)."""
        if self.series is not None and not self.series.done:
            return self.series.stop()
        return []

    # --- assessment ---------------------------------------------------------------------

    def _ready(self, what: str) -> None:
        if not self.calibrated():
            raise AssessmentError(
                f"{what} needs calibrated angles: run the calibration first (stand still, "
                "knee lifts, hip hinges; POST /api/calibration/start)"
            )

    def start_assessment(self, options: AssessmentOptions) -> list[dict[str, Any]]:
        """Start a new assessment (one at a time)."""
        a = self.assessment
        if a is not None and a.state_name == "running":
            raise AssessmentError(
                f"assessment {a.id} is still running; finish it (Next through its trials) or "
                "abort it first (POST /api/assessment/abort)"
            )
        self._ready("an assessment")
        self._ids["assessment"] += 1
        self.assessment = Assessment(
            options, self._ids["assessment"], self.mark, self.config, refine=self.refine
        )
        self.assessment.now_s = self.now()
        return [self.assessment.message("started")]

    def act(self, action: str) -> list[dict[str, Any]]:
        """Apply a clinician's action to the running assessment."""
        if self.assessment is None:
            raise AssessmentError("no assessment yet: start one with POST /api/assessment")
        if action in ("start", "redo") and self.assessment.state_name == "running":
            self._ready(f"{action} of a trial")
        return self.assessment.act(action, self.now())

    def assessment_state(self) -> dict[str, Any]:
        """The assessment's state; before the first one, the assessment found in the session's
        markers (a replayed recording), else an idle state."""
        if self.assessment is None and self.history is not None:
            recorded = recorded_assessment(*self.history(), now_s=self.now())
            if recorded is not None:
                return recorded
        if self.assessment is None:
            return {
                "id": None,
                "state": "idle",
                "time_s": round(self.now(), 3),
                "current": None,
                "allowed": [],
                "trials": [],
                "sides": {},
                "comparison": None,
            }
        return self.assessment.state()

    # --- hold series --------------------------------------------------------------------

    def start_series(self, spec: HoldSeriesSpec) -> list[dict[str, Any]]:
        """Start a hold series (one at a time)."""
        s = self.series
        if s is not None and not s.done:
            raise AssessmentError(
                f"hold series {s.id} is still running; stop it first (POST /api/holds/stop)"
            )
        self._ready("a hold series")
        self._ids["series"] += 1
        self.series = HoldSeries(spec, self._ids["series"], self.now(), self.mark, self.config)
        return [self.series.message("started")]

    def stop_series(self) -> list[dict[str, Any]]:
        """Stop the running series."""
        if self.series is None or self.series.done:
            raise AssessmentError("no hold series is running")
        return self.series.stop()

    def series_state(self) -> dict[str, Any]:
        """The series' state, or an idle one before the first."""
        if self.series is None:
            return {"id": None, "state": "idle", "holds": [], "summary": None}
        return self.series.state()


REP_TEXT = re.compile(r"^assessment (\d+) (\S+) rep (\d+)(?:: not counted, (.*))?$")


def recorded_assessment(
    markers: list[Marker], results: list[dict[str, Any]], now_s: float = 0.0
) -> dict[str, Any] | None:
    """The assessment of a recording, from its rep markers and the analysis of them.

    A replayed recording has no assessment running; its reps are markers (``assessment N
    <trial id> rep K``), analysed like any marked segment by the exercise analyzer, whose
    ``rom`` and ``gap`` results give the numbers: the same as ``hipsense analyze``. None when
    the session has no assessment markers.
    """
    reps: dict[str, list[dict[str, Any]]] = {}
    last_id = None
    ranges = [r for r in results if r.get("kind") == "rom"]

    def range_of(m: Marker) -> dict[str, Any]:
        """The analysis of a rep's window: its frames span (a frame inside) the window."""
        assert m.end_s is not None
        for r in ranges:
            # Result times are rounded to 1 ms.
            starts = m.start_s - 0.001 <= r["start_s"] <= m.start_s + 0.05
            inside = starts and r["end_s"] <= m.end_s + 0.001
            if inside and r.get("side") == m.side:
                return r
        return {}

    for m in markers:
        match = REP_TEXT.match(m.text or "")
        if match is None or m.end_s is None:
            continue
        last_id = int(match.group(1))
        trial_id, n, reason = match.group(2), int(match.group(3)), match.group(4) or ""
        r = range_of(m)
        reps.setdefault(trial_id, []).append(
            {
                "n": n,
                "start_s": round(m.start_s, 3),
                "end_s": round(m.end_s, 3),
                "extension_deg": r.get("extension_deg"),
                "apparent_extension_deg": r.get("apparent_extension_deg"),
                "pelvic_tilt_change_deg": r.get("pelvic_tilt_at_apparent_deg"),
                "counted": m.exercise != "assessment_rep",
                "reason": reason,
            }
        )
    if not reps:
        return None
    gaps = {g["side"]: g for g in results if g.get("kind") == "gap"}  # the latest per side
    sides = {}
    for side, g in gaps.items():
        prone = [
            rep["extension_deg"]
            for tid, rs in reps.items()
            if tid == f"active_prone_{side}"
            for rep in rs
            if rep["counted"] and rep["extension_deg"] is not None
        ]
        sides[side] = {
            "active_deg": g.get("active_deg"),
            "active_prone_deg": max(prone) if prone else None,
            "passive_deg": g.get("passive_deg"),
            "gap_deg": g.get("gap_deg"),
            "classification": g.get("classification"),
            "interpretation": g.get("interpretation"),
        }
    trials = []
    for k, (trial_id, rs) in enumerate(reps.items()):
        side = trial_id.rsplit("_", 1)[-1]
        counted = [r["extension_deg"] for r in rs if r["counted"]]
        counted = [v for v in counted if v is not None]
        trials.append(
            {
                "index": k,
                "id": trial_id,
                "key": trial_id.rsplit("_", 1)[0],
                "title": f"{trial_id.rsplit('_', 1)[0].replace('_', ' ')} — {side} (recorded)",
                "side": side,
                "state": "accepted",
                "message": f"{len(counted)} rep(s) counted (from the recording)",
                "reps": sorted(rs, key=lambda r: r["n"]),
                "best_deg": max(counted) if counted else None,
            }
        )
    comparison = None
    if "left" in sides and "right" in sides:
        comparison = compare_sides(
            (sides["left"]["active_deg"], sides["left"]["passive_deg"]),
            (sides["right"]["active_deg"], sides["right"]["passive_deg"]),
        )
    return {
        "id": last_id,
        "state": "recorded",
        "time_s": round(now_s, 3),
        "current": None,
        "allowed": [],
        "trials": trials,
        "sides": sides,
        "comparison": comparison,
    }
