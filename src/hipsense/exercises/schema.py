"""Machine-readable results of every analysis: plain dataclasses with ``to_dict``.

The same dicts are printed by ``hipsense analyze --json``, sent by the live analyzer as
``analysis`` events and rendered by the report. Angles in degrees (``_deg``), times in session
seconds (``_s``). "Extension" is always ``-hip flexion`` (positive = behind the pelvis).
See ``docs/analytics.md`` for the field-by-field schema.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


def _clean(value: Any) -> Any:
    """JSON-ready copy: floats rounded to 3 decimals, NaN/inf -> None, tuples -> lists."""
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class Result:
    """Mixin: ``to_dict`` of a dataclass result, with a ``kind`` tag first."""

    kind: str = "result"
    # Where the analysed segment came from: "marked", "detected" or "session" (the whole
    # session); None (not in the dict) for results not tied to one segment.
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``kind`` and ``source`` first, floats rounded to 0.001)."""
        assert dataclasses.is_dataclass(self)
        body = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        head: dict[str, Any] = {"kind": self.kind}
        if self.source is not None:
            head["source"] = self.source
        return {**head, **_clean(body)}


Interval = tuple[float, float]


@dataclass
class RangeResult(Result):
    """Hip extension range of one active or passive segment (one side).

    ``extension_deg`` is the largest hip extension held >= ``hold_s`` while the pelvic tilt
    stayed within ``compensation_limit_deg`` of its value at the segment start (None: never);
    ``apparent_extension_deg`` is the same for the thigh inclination, pelvis ignored: what an
    inclinometer on the thigh would read when the pelvis cheats.
    """

    kind = "rom"
    exercise: str
    mode: str  # "active" | "passive"
    side: str
    start_s: float
    end_s: float
    extension_deg: float | None
    extension_at_s: float | None
    apparent_extension_deg: float | None
    pelvic_tilt_at_apparent_deg: float | None  # tilt change from the start, anterior +
    compensation_s: float
    compensation_episodes: list[Interval]
    valid: bool
    note: str = ""


@dataclass
class GapResult(Result):
    """Passive minus active hip extension of one side and what it suggests."""

    kind = "gap"
    side: str
    active_deg: float | None
    passive_deg: float | None
    gap_deg: float | None
    classification: str  # passive_restricted | motor_control_deficit | within_norms | incomplete
    interpretation: str


@dataclass
class HoldResult(Result):
    """One isometric hold (passive, PAILs, RAILs) against its protocol phase."""

    kind = "hold"
    exercise: str
    side: str | None
    start_s: float
    end_s: float
    duration_s: float
    target_duration_s: float
    target_deg: float
    band_low_deg: float
    band_high_deg: float | None
    time_in_band_s: float
    longest_in_band_s: float
    drift_deg: float
    end_range_deg: float | None
    gain_deg: float | None
    compensation_s: float
    compensation_episodes: list[Interval]
    compliance: float
    complete: bool


@dataclass
class HoldSessionSummary(Result):
    """Compliance of all holds of a session against the protocol."""

    kind = "hold_summary"
    protocol: str
    holds: int
    holds_expected: int
    complete: int
    compliance: float
    rails_gain_deg: dict[str, float | None] = field(default_factory=dict)


@dataclass
class CarsRep(Result):
    """One hip controlled articular rotation (a full circle of the knee)."""

    kind = "cars_rep"
    start_s: float
    end_s: float
    duration_s: float
    direction: str  # "clockwise" | "counterclockwise" in the flexion-abduction plane
    flexion_range_deg: float
    abduction_range_deg: float
    rotation_range_deg: float
    area_deg2: float
    sparc: float
    pelvic_tilt_range_deg: float
    pelvic_obliquity_range_deg: float
    pelvic_rotation_range_deg: float
    compensated: bool


@dataclass
class CarsResult(Result):
    """Hip CARs of one marked segment."""

    kind = "cars"
    side: str
    start_s: float
    end_s: float
    reps: list[dict[str, Any]]
    pace_s_per_rep: float | None
    mean_area_deg2: float | None
    mean_sparc: float | None


@dataclass
class ThomasResult(Result):
    """Modified Thomas test of one side (the tested thigh hangs off the table edge)."""

    kind = "thomas"
    side: str
    start_s: float
    end_s: float
    thigh_below_horizontal_deg: float | None
    hip_extension_deg: float | None
    abduction_deg: float | None
    abduction_drift_deg: float | None
    pelvic_tilt_deg: float | None
    pelvic_tilt_change_deg: float | None
    valid: bool
    note: str


@dataclass
class BridgeResult(Result):
    """One hip lift / glute bridge repetition."""

    kind = "bridge"
    start_s: float
    end_s: float
    hip_extension_top_deg: float | None
    posterior_tilt_deg: float | None
    hold_s: float
    tilt_held_s: float
    target_hold_s: float
    compliance: float


@dataclass
class GaitResult(Result):
    """Reverse walking: steps from hip extension peaks of each leg."""

    kind = "gait"
    start_s: float
    end_s: float
    steps: int
    steps_left: int
    steps_right: int
    cadence_steps_min: float | None
    step_times_s: dict[str, list[float]]
    peak_extension_deg: dict[str, list[float]]
    mean_peak_extension_deg: dict[str, float | None]
    asymmetry_index_pct: float | None


@dataclass
class SittingResult(Result):
    """Time with both hips flexed beyond a threshold (sitting exposure)."""

    kind = "sitting"
    start_s: float
    end_s: float
    threshold_deg: float
    flexed_s: float
    longest_bout_s: float
    bouts: list[Interval]


@dataclass
class SessionAnalysis(Result):
    """Everything ``hipsense analyze`` found in a session."""

    kind = "session_analysis"
    schema_version: int
    duration_s: float
    segments: list[dict[str, Any]]
    results: list[dict[str, Any]]
    gaps: list[dict[str, Any]]
    hold_summary: dict[str, Any] | None
    warnings: list[str] = field(default_factory=list)
