"""The hip extension assessment as data: trials, instructions, limits, and the rep verdict.

:data:`ASSESSMENT` lists the trials per side (which exercise they mark, how many reps, what
the person is told); :class:`AssessmentOptions` is what the clinician chooses at the start;
:func:`rep_verdict` decides whether one rep counts (see ``docs/assessment.md``). The state
machine that runs it on the live stream is :mod:`hipsense.exercises.assessment`.

Thresholds of the rep finder, from the measurement, not from our scripts: the hip and tilt
angles have an RMS error of about 0.3 deg and a standing person sways by well under 1 deg, so
1 deg peak-to-peak over 1 s is still; a rep must leave the baseline by 3 deg (ten times the
error) and is over within 1.5 deg of it. The end position counts as held when the held value
is within ``END_RANGE_DEG`` (2 deg, twice the still band) of the rep's peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hipsense.errors import HipsenseError
from hipsense.exercises.intervals import smooth, sustained_max
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import REFERENCE_S, TILT, analyze_range, column, hip_extension_deg
from hipsense.exercises.schema import RangeResult
from hipsense.types import AngleBlock, thigh_inclination_column

STILL_S = 1.0
STILL_RANGE_DEG = 1.0
REP_ENTER_DEG = 3.0
REP_LEAVE_DEG = 1.5
END_RANGE_DEG = 2.0
MAX_FRAME_GAP_S = 0.25  # angle frames further apart than this: the data stopped
WAIT_TIMEOUT_S = 60.0  # no still start within this: rejected
IDLE_TIMEOUT_S = 60.0  # no rep started within this after the still start: rejected
SIDES = ("left", "right")
PASSIVE_METHODS: dict[str, str] = {
    "half_kneeling": (
        "Half-kneeling lunge: the {side} knee down behind, the other foot in front. Tuck the "
        "tailbone slightly, then shift the hips forward until the front of the {side} hip "
        "stretches; keep the trunk upright and the low back still. Hold 3-5 s, then come back "
        "up and stand still."
    ),
    "thomas": (
        "Thomas test: lie on the back at the table edge, hug the other knee until the low back "
        "is flat, let the {side} thigh hang relaxed. Start with both knees hugged and still, "
        "lower the {side} leg, let it rest 3-5 s, then hug it back."
    ),
    "partner": (
        "Partner-assisted: lying prone (or standing at a wall), relaxed; you lift the {side} "
        "thigh into extension until the end feel, with the pelvis kept down. Start still, hold "
        "the end 3-5 s, then return."
    ),
}


class AssessmentError(HipsenseError):
    """An action that is not possible now (the message says what is)."""


@dataclass(frozen=True)
class TrialSpec:
    """One trial of the protocol, per side."""

    key: str  # "active_standing" | "passive" | "active_prone"
    exercise: str  # the marker exercise: "active_extension" | "passive_extension"
    reps: int
    title: str
    instruction: str
    optional: bool = False

    @property
    def mode(self) -> str:
        """``active`` or ``passive``."""
        return "passive" if self.exercise == "passive_extension" else "active"


@dataclass(frozen=True)
class AssessmentProtocol:
    """The assessment as data: its trials in order (per side) and the rep finder's limits."""

    name: str
    trials: tuple[TrialSpec, ...]
    still_s: float = STILL_S
    still_range_deg: float = STILL_RANGE_DEG
    rep_enter_deg: float = REP_ENTER_DEG
    rep_leave_deg: float = REP_LEAVE_DEG
    end_range_deg: float = END_RANGE_DEG

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "trials": [
                {"key": t.key, "exercise": t.exercise, "reps": t.reps, "optional": t.optional}
                for t in self.trials
            ],
            "still_s": self.still_s,
            "still_range_deg": self.still_range_deg,
            "rep_enter_deg": self.rep_enter_deg,
            "rep_leave_deg": self.rep_leave_deg,
            "end_range_deg": self.end_range_deg,
        }


ASSESSMENT = AssessmentProtocol(
    name="hip extension assessment",
    trials=(
        TrialSpec(
            "active_standing",
            "active_extension",
            3,
            "Active hip extension, standing",
            "Stand tall, hands on a wall or a chair. Take the straight {side} leg back as far "
            "as you can without arching the low back or tipping forward, hold it there for a "
            "second or two, bring it back and stand still. Three times.",
        ),
        TrialSpec(
            "passive",
            "passive_extension",
            1,
            "Passive hip extension",
            "{method}",
        ),
        TrialSpec(
            "active_prone",
            "active_extension_prone",
            3,
            "Active hip extension, prone",
            "Lie face down, forehead on the hands. Lift the straight {side} leg as high as you "
            "can without lifting the pelvis, hold a second or two, lower it and relax. Three "
            "times.",
            optional=True,
        ),
    ),
)


@dataclass(frozen=True)
class AssessmentOptions:
    """What the clinician chose at the start."""

    passive_method: str = "half_kneeling"
    include_prone: bool = False
    sides: tuple[str, ...] = SIDES

    def __post_init__(self) -> None:
        if self.passive_method not in PASSIVE_METHODS:
            raise AssessmentError(
                f"passive_method must be one of {', '.join(PASSIVE_METHODS)}, not "
                f"{self.passive_method!r}"
            )
        if not self.sides or any(s not in SIDES for s in self.sides):
            raise AssessmentError("sides must be a non-empty list of 'left' and 'right'")
        if len(set(self.sides)) != len(self.sides):
            raise AssessmentError("each side may be listed once")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "passive_method": self.passive_method,
            "include_prone": self.include_prone,
            "sides": list(self.sides),
        }


@dataclass
class Rep:
    """One rep of a trial: its window, its range result and whether it counts.

    ``live_extension_deg``: the held extension as judged live, kept when the trial's angles
    were refined afterwards (:mod:`hipsense.refine`); ``result``, ``peak_deg`` and the numbers
    in ``reason`` are then the refined ones, and ``counted`` is the live verdict (a rep whose
    refined verdict would differ is not refined).
    """

    n: int
    start_s: float
    end_s: float
    result: RangeResult
    peak_deg: float
    counted: bool
    reason: str
    refined: bool = False
    live_extension_deg: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        r = self.result
        return {
            "n": self.n,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "extension_deg": None if r.extension_deg is None else round(r.extension_deg, 2),
            "peak_deg": round(self.peak_deg, 2),
            "apparent_extension_deg": None
            if r.apparent_extension_deg is None
            else round(r.apparent_extension_deg, 2),
            "pelvic_tilt_change_deg": None
            if r.pelvic_tilt_at_apparent_deg is None
            else round(r.pelvic_tilt_at_apparent_deg, 2),
            "counted": self.counted,
            "reason": self.reason,
            "refined": self.refined,
            "live_extension_deg": None
            if self.live_extension_deg is None
            else round(self.live_extension_deg, 2),
        }


def rep_verdict(
    angles: AngleBlock,
    side: str,
    exercise: str,
    config: AnalysisConfig,
    end_range_deg: float = END_RANGE_DEG,
) -> tuple[RangeResult, float, bool, str]:
    """Judge one rep (``angles`` sliced to its window): ``(range, peak, counted, reason)``.

    The rep counts when its end position was held ``config.hold_s`` with the pelvis within the
    compensation limit of its tilt at the start of the window:

    - the hip's end position is the largest extension held ``hold_s`` whatever the pelvis did;
      it must be within ``end_range_deg`` of the rep's peak (else it was a swing, not held);
    - while the thigh was at its held end position (against the vertical: what the leg showed),
      the median pelvic tilt change must be within the limit (else the low back did the work);
    - :func:`analyze_range` (pelvis within the limit at every frame of the held second) must
      find a held range within ``end_range_deg`` of the hip's end position.
    """
    result = analyze_range(angles, side, exercise, config)
    t = angles.time_s
    ext = smooth(hip_extension_deg(angles, side), t, config.smooth_s)
    finite = np.isfinite(ext)
    peak = float(np.max(ext[finite])) if finite.any() else float("nan")
    end = sustained_max(t, ext, finite, config.hold_s)
    limit = config.compensation_limit_deg
    if end is None or end[0] < peak - end_range_deg:
        held = "" if end is None else f" (held {end[0]:.1f} deg)"
        return (
            result,
            peak,
            False,
            f"the end position ({peak:.1f} deg){held} was not held {config.hold_s:g} s: "
            "pause at the end of the movement for a second",
        )
    tilt = column(angles, TILT)
    at_end = finite & (ext >= end[0] - end_range_deg)
    name = thigh_inclination_column(side)
    if name in angles.columns:
        apparent = smooth(-angles.columns[name], t, config.smooth_s)
        shown = sustained_max(t, apparent, np.isfinite(apparent), config.hold_s)
        if shown is not None:
            at_end = np.isfinite(apparent) & (apparent >= shown[0] - end_range_deg)
    start = tilt[: max(1, int(np.searchsorted(t, t[0] + REFERENCE_S)))]
    change = float(np.median(tilt[at_end]) - np.median(start))
    clean = result.extension_deg is not None and result.extension_deg >= end[0] - end_range_deg
    if abs(change) <= limit and clean:
        return result, peak, True, ""
    direction = "forward (anterior)" if change > 0 else "backward (posterior)"
    return (
        result,
        peak,
        False,
        f"the pelvis tilted {abs(change):.1f} deg {direction} at the end position (limit "
        f"{limit:g} deg): the movement came from the low back. Keep the pelvis level "
        "(tighten the glutes and the belly) and repeat",
    )
