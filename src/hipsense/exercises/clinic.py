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

from collections.abc import Callable
from typing import Any

from hipsense.exercises.assessment import Assessment, AssessmentError, AssessmentOptions
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
    """

    def __init__(
        self,
        mark: Callable[[Marker], Any],
        now: Callable[[], float],
        calibrated: Callable[[], bool],
        config: AnalysisConfig | None = None,
    ) -> None:
        self.config = config or AnalysisConfig()
        self.mark = mark
        self.now = now
        self.calibrated = calibrated
        self.assessment: Assessment | None = None
        self.series: HoldSeries | None = None
        self.compensation = CompensationMonitor(self.config)
        self._ids = {"assessment": 0, "series": 0}

    # --- the Analyzer protocol ----------------------------------------------------------

    def process(self, angles: AngleBlock) -> list[dict[str, Any]]:
        """Messages caused by a block of calibrated angles."""
        out = self.compensation.process(angles)
        if self.assessment is not None:
            out.extend(self.assessment.process(angles))
        if self.series is not None:
            out.extend(self.series.process(angles))
        return out

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
        self.assessment = Assessment(options, self._ids["assessment"], self.mark, self.config)
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
        """The assessment's state, or an idle one before the first."""
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
