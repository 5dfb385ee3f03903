"""Scripted hip extension assessments (``docs/assessment.md``) with an exact timeline and truth.

An :class:`AssessmentSubject` describes what a person can do: per side the held hip extension
reached actively and passively, which active reps cheat with the pelvis, how the passive range
is taken, how fast they move, their sample rate and an optional PAILs/RAILs hold series.
:func:`assessment_session` scripts the whole session (calibration routine, then per side the
active standing trial, the passive trial and the optional prone trial, then the hold series)
and returns the simulated session together with an :class:`AssessmentTimeline`: when each
trial's still start window is (where a clinician presses Start), where each rep and hold is.
A scripted client presses buttons from the timeline; benchmarks take their truth from it and
from :func:`truth_results`, :func:`truth_rep_validity` and :func:`truth_hold_verdicts`, which
apply the analysis' own rules to the exact truth angles.

Conventions of the script (all times on the session clock, s):

- Each trial is preceded by 0.5-1.5 s of stillness (the clinician reads the next
  instruction), then its still window of 2.5-3 s (``still_start_s`` .. ``start_s``), then its
  reps; ``end_s`` is 1 s after the last rep is back at the baseline. Standing trials follow
  each other without movement in between, so their still stretch is in fact >= 4 s long;
  Thomas and prone trials get into position (lying) before that pause and stand up after
  ``end_s`` (then 2.5 s standing still).
- A rep window starts when the movement leaves the still baseline and ends when it is back;
  reps are separated by 1.5-2 s of stillness. Rep numbers are 1-based (the assessment's
  ``n``).
- Active reps: the best clean (not compensated) rep of a trial reaches exactly
  ``active_deg``; the others are drawn 0-2 deg below it (a +-1 deg spread around
  ``active_deg - 1``), so the truth active range equals the subject's ``active_deg``.
- Compensated reps: the pelvis tilts anteriorly 8-12 deg first (within the first 0.6-0.8 s
  of the rep) while the hip extends 3-6 deg less than ``active_deg``; the tilt comes back only
  in the rep's last 0.6-0.8 s, so no 1 s stretch of the rep window has the pelvis within
  5 deg of its start: the rep is invalid on truth (the thigh looks 2-9 deg more extended than
  ``active_deg``). A window padded with >= 1 s of the still baseline would contain a clean
  1 s stretch at ~0 deg of extension.
- Passive trial, 1 rep: ``half_kneeling`` (kneel down, shift the hips forward: the rear hip
  reaches ``passive_deg`` relative to the pelvis with the tilt within 1.5 deg of standing),
  ``partner`` (standing, the thigh is taken back to ``passive_deg``, pelvis steady) or
  ``thomas`` (lying on a table with both knees to the chest, which is the trial's still
  baseline; the tested thigh is lowered to ``passive_deg`` of extension and brought back).
  The end range is held 4-6 s.
- Prone active trial (``include_prone``): the subject lies down prone before the trial's still
  window, lifts the straight leg 3 times (same reach rule as standing; never compensated) and
  stands up after the trial's end.
- Hold series: after every trial the subject kneels half-kneeling on the series' side and
  settles for 1 s; the first hold starts then (a client posts the series at ``start_s``). The
  holds follow each other the way the server runs them: a hold that is met lasts exactly its
  ``hold_s`` (the hip never leaves the band), a failed one lasts ``1.5 * hold_s`` (the rear
  knee slides, the extension drops 6-8 deg below the target for most of the hold and comes
  back before its end). Between reps the subject rests **in position** for ``rest_s`` (eases
  2 deg out of the stretch and back). PAILs press the knee into the floor: the hip flexes
  0.3-0.8 deg; RAILs pull 3-5 deg deeper. After the last hold the subject stands up and
  rests >= 3 s.

Speeds: ``speed`` multiplies every movement duration (still windows and holds keep their
length). Script markers are labelled with trial ids (``active_standing_left``, ...) and
``hold_series_<side>_<phase>_<rep>``: labels the analysis does not know, so it ignores them;
nobody needs them.

``population`` draws subjects whose nominal values keep :data:`CLASS_MARGIN_DEG` away from
every classification threshold, so measurement error (~0.5 deg per range) cannot flip them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import analyze_range, classify_gap
from hipsense.exercises.schema import RangeResult
from hipsense.types import ROLES, AngleBlock, SampleBlock, hip_columns
from hipsim.accuracy import issue_error_model
from hipsim.imu import ImuErrors, SensorErrorDraw, sample_sensor
from hipsim.kinematics import make_body
from hipsim.scenarios import calibration_routine
from hipsim.script import HIP_CHANNELS, PELVIS_CHANNELS, POSITION_CHANNELS, ScriptBuilder
from hipsim.session import SimSession
from hipsim.subjects import truth_block

SIDES: tuple[str, str] = ("left", "right")
OTHER_SIDE = {"left": "right", "right": "left"}
PASSIVE_METHODS: tuple[str, ...] = ("half_kneeling", "partner", "thomas")
HOLD_PHASES: tuple[str, ...] = ("passive", "pails", "rails")
ACTIVE_REPS = 3
CLASSIFICATIONS: tuple[str, ...] = ("within_norms", "passive_restricted", "motor_control_deficit")
POPULATION_RATES_HZ: tuple[float, ...] = (52.0, 60.0, 100.0, 104.0, 120.0, 200.0)
CLASS_MARGIN_DEG = 1.5
"""Population subjects keep this far from every classification threshold (deg).

The fused hip extension has an error of about 0.5 deg; a gap combines two ranges (about
0.7 deg), so 1.5 deg is about two standard deviations: a subject's class is unambiguous.
"""
TRUTH_RATE_HZ = 100.0
STILL_WINDOW_S = (2.5, 3.0)
BETWEEN_TRIALS_S = (0.5, 1.5)
BETWEEN_REPS_S = (1.5, 2.0)
TRIAL_TAIL_S = 1.0


# --- subjects ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldSeries:
    """A PAILs/RAILs hold series on one side (the body of ``POST /api/holds``).

    Attributes
    ----------
    side : ``"left"`` or ``"right"`` (the rear leg of the half-kneeling position).
    passive_s, pails_s, rails_s : each hold's wanted time in band (s, >= 4).
    reps : how often the phases are repeated.
    rest_s : rest between reps (s, >= 3), spent in position.
    failed : ``(rep, phase)`` holds (rep 1-based) in which the rear knee slides and the
        extension leaves the band for most of the hold; all others are met.
    phases : the phases in order (a subset of :data:`HOLD_PHASES`, in that order).
    target_deg : a typed target (the subject holds it); None: the server captures it over the
        first 0.5 s of the first hold (the subject holds ``passive_deg`` minus 0-1 deg).
    tolerance_deg : half width of the band (deg).
    """

    side: str
    passive_s: float = 20.0
    pails_s: float = 10.0
    rails_s: float = 10.0
    reps: int = 1
    rest_s: float = 10.0
    failed: tuple[tuple[int, str], ...] = ()
    phases: tuple[str, ...] = HOLD_PHASES
    target_deg: float | None = None
    tolerance_deg: float = 3.0

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"hold series side must be left or right, got {self.side!r}")
        if not self.phases or tuple(p for p in HOLD_PHASES if p in self.phases) != self.phases:
            raise ValueError(f"phases must be an ordered subset of {HOLD_PHASES}")
        for phase in self.phases:
            if not self.hold_s(phase) >= 4.0:
                raise ValueError(f"{phase}_s must be >= 4 s, got {self.hold_s(phase)}")
        if self.reps < 1 or not self.rest_s >= 3.0 or not self.tolerance_deg > 0:
            raise ValueError("reps must be >= 1, rest_s >= 3 s and tolerance_deg > 0")
        for rep, phase in self.failed:
            if not 1 <= rep <= self.reps or phase not in self.phases:
                raise ValueError(f"failed hold {(rep, phase)} is not in the series")

    def hold_s(self, phase: str) -> float:
        """Wanted time in band of a phase (s)."""
        return float(
            {"passive": self.passive_s, "pails": self.pails_s, "rails": self.rails_s}[phase]
        )

    def request(self) -> dict[str, Any]:
        """The JSON body of ``POST /api/holds`` that runs this series."""
        return {
            "side": self.side,
            "phases": list(self.phases),
            "hold_s": {p: self.hold_s(p) for p in self.phases},
            "reps": self.reps,
            "rest_s": self.rest_s,
            "target_deg": self.target_deg,
            "tolerance_deg": self.tolerance_deg,
        }


@dataclass(frozen=True)
class AssessmentSubject:
    """What a scripted person does in the assessment.

    Attributes
    ----------
    active_deg : per side the true held hip extension of the best clean active rep (deg).
    passive_deg : per side the true held hip extension of the passive trial (deg).
    compensated_reps : ``(side, rep)`` active standing reps (rep 1..3) in which the pelvis tilts
        anteriorly 8-12 deg while the hip extends 3-6 deg less (invalid reps).
    passive_method : ``"half_kneeling"``, ``"partner"`` or ``"thomas"``.
    include_prone : also run the prone active trial (3 reps) after the passive trial.
    side_order : the order of the sides.
    speed : multiplier on movement durations (0.5 fast .. 2 slow).
    hold_series : the PAILs/RAILs series after the assessment, or None.
    rate_hz : sample rate of every sensor (Hz).
    """

    active_deg: dict[str, float]
    passive_deg: dict[str, float]
    compensated_reps: tuple[tuple[str, int], ...] = ()
    passive_method: str = "half_kneeling"
    include_prone: bool = False
    side_order: tuple[str, ...] = SIDES
    speed: float = 1.0
    hold_series: HoldSeries | None = None
    rate_hz: float = 100.0

    def __post_init__(self) -> None:
        for name, values, top in (
            ("active_deg", self.active_deg, 40.0),
            ("passive_deg", self.passive_deg, 45.0),
        ):
            if set(values) != set(SIDES):
                raise ValueError(f"{name} needs exactly the sides left and right")
            if not all(0.0 < float(v) <= top for v in values.values()):
                raise ValueError(f"{name} values must be in (0, {top:g}] deg, got {values}")
        if self.passive_method not in PASSIVE_METHODS:
            raise ValueError(f"passive_method must be one of {PASSIVE_METHODS}")
        if sorted(self.side_order) != sorted(SIDES):
            raise ValueError(f"side_order must be both sides once, got {self.side_order}")
        if not 0.3 <= self.speed <= 3.0:
            raise ValueError(f"speed must be within 0.3 .. 3, got {self.speed}")
        for side, rep in self.compensated_reps:
            if side not in SIDES or not 1 <= rep <= ACTIVE_REPS:
                raise ValueError(f"compensated rep {(side, rep)}: side left/right, rep 1..3")
        if not self.rate_hz > 0:
            raise ValueError(f"rate_hz must be positive, got {self.rate_hz}")

    def compensated(self, side: str) -> set[int]:
        """Rep numbers (1-based) of the compensated active standing reps of a side."""
        return {rep for s, rep in self.compensated_reps if s == side}

    def expected_classification(self, side: str, config: AnalysisConfig | None = None) -> str:
        """The side's class from the nominal values (``incomplete``: every rep compensated)."""
        config = config or AnalysisConfig()
        clean = len(self.compensated(side)) < ACTIVE_REPS
        active = float(self.active_deg[side]) if clean else None
        return classify_gap(side, active, float(self.passive_deg[side]), config).classification


# --- timeline ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RepWindow:
    """One scripted rep of a trial.

    ``start_s`` is when the movement leaves the still baseline, ``end_s`` when it is back;
    the end range is held over ``hold_start_s`` .. ``hold_end_s`` at ``target_deg`` of true
    hip extension with the pelvic tilt changed by ``tilt_change_deg`` (anterior +).
    """

    n: int
    start_s: float
    end_s: float
    hold_start_s: float
    hold_end_s: float
    target_deg: float
    tilt_change_deg: float
    compensated: bool = False


@dataclass(frozen=True)
class ScheduledHold:
    """One hold of a series as the server runs it (``n`` over the series, ``rep`` 1-based).

    ``end_s`` is ``start_s + hold_s`` for a hold that is met, ``start_s + 1.5 hold_s`` for a
    failed one; ``level_deg`` is the scripted hip extension of the phase (before any drift).
    """

    n: int
    rep: int
    phase: str
    start_s: float
    end_s: float
    hold_s: float
    level_deg: float
    expected_complete: bool


@dataclass(frozen=True)
class TimelinePhase:
    """A calibration, a trial or a hold series on the session clock (s).

    Attributes
    ----------
    kind : ``"calibration"``, ``"trial"`` or ``"hold_series"``.
    trial_id : e.g. ``"active_standing_left"``, ``"passive_left"``, ``"active_prone_left"``;
        ``"calibration"``; ``"hold_series_left"``.
    side : the tested side (None for the calibration).
    exercise : ``active_extension``, ``passive_extension``, ``hold_series`` or ``calibration``.
    method : ``standing``/``prone`` (active), the passive method, ``half_kneeling`` (holds).
    still_start_s : start of the still window before the first movement (press Start in it).
    start_s : trials: the first rep's start; hold series: the first hold's start (post the
        series then); calibration: 0.
    end_s : trials: 1 s after the last rep is back at the baseline; hold series: 1 s after
        standing up again; calibration: its end.
    reps : the trial's reps.
    holds : the series' holds.
    series : the hold series (hold series only).
    """

    kind: str
    trial_id: str
    side: str | None
    exercise: str
    method: str | None
    still_start_s: float
    start_s: float
    end_s: float
    reps: tuple[RepWindow, ...] = ()
    holds: tuple[ScheduledHold, ...] = ()
    series: HoldSeries | None = None

    @property
    def mode(self) -> str | None:
        """``active``/``passive`` for trials, else None."""
        return {"active_extension": "active", "passive_extension": "passive"}.get(self.exercise)


@dataclass(frozen=True)
class AssessmentTimeline:
    """Ordered phases of a scripted assessment session and the session length (s)."""

    phases: tuple[TimelinePhase, ...]
    duration_s: float
    subject: AssessmentSubject = field(repr=False)

    def trials(self) -> list[TimelinePhase]:
        """The trials in the order they run."""
        return [p for p in self.phases if p.kind == "trial"]

    def trial(self, trial_id: str) -> TimelinePhase:
        """A trial by id (KeyError when the session has no such trial)."""
        for p in self.phases:
            if p.trial_id == trial_id:
                return p
        raise KeyError(trial_id)

    def hold_series(self) -> TimelinePhase | None:
        """The hold series phase, if any."""
        return next((p for p in self.phases if p.kind == "hold_series"), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for scripted clients in other processes)."""
        return dataclasses.asdict(self)


# --- script ------------------------------------------------------------------------------


def _hip(
    side: str, flexion: float | None = None, abduction: float | None = None
) -> dict[str, float]:
    out = {}
    if flexion is not None:
        out[f"hip_flexion_{side}_deg"] = float(flexion)
    if abduction is not None:
        out[f"hip_abduction_{side}_deg"] = float(abduction)
    return out


def _neutral(b: ScriptBuilder) -> dict[str, float]:
    """Targets bringing every displaced channel back to the static standing pose."""
    names = (*POSITION_CHANNELS, *PELVIS_CHANNELS, *HIP_CHANNELS["left"], *HIP_CHANNELS["right"])
    return {
        name + ("_m" if name.startswith("pos") else "_deg"): 0.0
        for name in names
        if abs(b.value(name)) > 1e-12
    }


def _deg(b: ScriptBuilder, name: str) -> float:
    return float(np.rad2deg(b.value(name)))


class _Writer:
    """Appends the assessment to a builder and records its timeline."""

    def __init__(self, b: ScriptBuilder, rng: np.random.Generator, subject: AssessmentSubject):
        self.b = b
        self.rng = rng
        self.subject = subject
        self.sp = float(subject.speed)
        self.phases: list[TimelinePhase] = []

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def hold_until(self, time_s: float) -> None:
        if time_s < self.b.t - 1e-9:
            raise AssertionError(f"script went past {time_s} s (at {self.b.t} s)")
        self.b.hold(max(0.0, time_s - self.b.t))

    def still_window(self) -> float:
        """Between-trial pause and the still window; returns the window's start."""
        self.b.hold(self.u(*BETWEEN_TRIALS_S))
        start = self.b.t
        self.b.hold(self.u(*STILL_WINDOW_S))
        return start

    # active trials ---------------------------------------------------------------------

    def rep_targets(self, best_deg: float, compensated: set[int]) -> list[float]:
        targets = best_deg + self.rng.uniform(-1.0, 1.0, ACTIVE_REPS)
        clean = [i for i in range(ACTIVE_REPS) if i + 1 not in compensated]
        if clean:
            targets = targets + (best_deg - float(np.max(targets[clean])))
        return [float(v) for v in targets]

    def active_trial(self, side: str, posture: str) -> None:
        b, sp = self.b, self.sp
        trial_id = f"active_{posture}_{side}"
        if posture == "prone":
            self.lie_prone()
        still_start = self.still_window()
        best = float(self.subject.active_deg[side])
        compensated = self.subject.compensated(side) if posture == "standing" else set()
        targets = self.rep_targets(best, compensated)
        base_tilt, base_flex = _deg(b, "pelvic_tilt"), _deg(b, f"hip_flexion_{side}")
        reps: list[RepWindow] = []
        with b.marker(trial_id, side):
            for i, target in enumerate(targets):
                n = i + 1
                start = b.t
                if n in compensated:
                    tilt = self.u(8.0, 12.0)
                    target = max(0.5 * best, best - self.u(3.0, 6.0))  # the hip extends less
                    lead = min(max(0.5 * sp, 0.6), 0.8)  # the tilt leads
                    rest = max(1.2 * sp - lead, 0.4)
                    b.move(
                        lead,
                        pelvic_tilt_deg=base_tilt + tilt,
                        **_hip(side, base_flex - 0.3 * target, 1.0),
                    )
                    b.move(rest, **_hip(side, base_flex - target, 2.0))
                    hold_start = b.t
                    b.hold(self.u(1.8, 3.0))
                    hold_end = b.t
                    b.move(rest, **_hip(side, base_flex - 0.3 * target, 1.0))
                    b.move(lead, pelvic_tilt_deg=base_tilt, **_hip(side, base_flex, 0.0))
                else:
                    tilt = self.u(-0.5, 0.5)
                    abduction = 2.0 if posture == "standing" else 0.0
                    b.move(
                        1.2 * sp,
                        pelvic_tilt_deg=base_tilt + tilt,
                        **_hip(side, base_flex - target, abduction),
                    )
                    hold_start = b.t
                    b.hold(self.u(1.8, 3.0))
                    hold_end = b.t
                    b.move(1.2 * sp, pelvic_tilt_deg=base_tilt, **_hip(side, base_flex, 0.0))
                reps.append(
                    RepWindow(n, start, b.t, hold_start, hold_end, target, tilt, n in compensated)
                )
                if n < ACTIVE_REPS:
                    b.hold(self.u(*BETWEEN_REPS_S))
            b.hold(TRIAL_TAIL_S)
        self.phases.append(
            TimelinePhase(
                "trial",
                trial_id,
                side,
                "active_extension",
                posture,
                still_start,
                reps[0].start_s,
                b.t,
                tuple(reps),
            )
        )
        if posture == "prone":
            self.stand_from_prone()

    def lie_prone(self) -> None:
        """Kneel, go on all fours, lie prone (hips ~0.14 m above the floor)."""
        b, sp = self.b, self.sp
        b.move_body(2.0 * sp, up_m=-0.45)
        b.move_body(
            2.0 * sp,
            forward_m=-0.05,
            up_m=-0.05,
            pelvic_tilt_deg=75.0,
            **_hip("left", 80.0),
            **_hip("right", 80.0),
        )
        b.move_body(
            2.5 * sp,
            forward_m=0.40,
            up_m=-0.28,
            pelvic_tilt_deg=85.0,
            **_hip("left", 0.0),
            **_hip("right", 0.0),
        )

    def stand_from_prone(self) -> None:
        b, sp = self.b, self.sp
        b.move_body(
            2.5 * sp,
            forward_m=-0.40,
            up_m=0.28,
            pelvic_tilt_deg=75.0,
            **_hip("left", 80.0),
            **_hip("right", 80.0),
        )
        b.move_body(
            2.0 * sp,
            forward_m=0.05,
            up_m=0.05,
            pelvic_tilt_deg=0.0,
            **_hip("left", 0.0),
            **_hip("right", 0.0),
        )
        b.move(2.0 * sp, **_neutral(b))
        b.hold(2.5)

    # passive trials --------------------------------------------------------------------

    def kneel(self, back: str, ext_deg: float, tilt_deg: float, front_deg: float) -> None:
        """Standing -> half-kneeling with ``back`` rear, its hip at ``ext_deg`` of extension."""
        b, sp = self.b, self.sp
        front = OTHER_SIDE[back]
        b.move(
            2.5 * sp,
            pos_x_m=0.05,
            pos_z_m=-0.45,
            pelvic_tilt_deg=2.0,
            **_hip(back, -0.6 * ext_deg),
            **_hip(front, front_deg + 2.0, 3.0),
        )
        b.move(
            1.5 * sp,
            pos_x_m=0.11,
            pelvic_tilt_deg=tilt_deg,
            **_hip(back, -ext_deg),
            **_hip(front, front_deg + tilt_deg),
        )

    def stand_up(self, back: str, ext_deg: float, front_deg: float) -> None:
        """Half-kneeling -> standing."""
        b, sp = self.b, self.sp
        b.move(
            1.5 * sp,
            pos_x_m=0.05,
            pelvic_tilt_deg=2.0,
            **_hip(back, -0.6 * ext_deg),
            **_hip(OTHER_SIDE[back], front_deg + 2.0),
        )
        b.move(2.5 * sp, **_neutral(b))

    def passive_trial(self, side: str) -> None:
        b, sp = self.b, self.sp
        method = self.subject.passive_method
        trial_id = f"passive_{side}"
        passive = float(self.subject.passive_deg[side])
        setup_start = b.t
        chest = lie_tilt = sit_tilt = 0.0
        if method == "thomas":  # sit on the table edge, lie back, both knees to the chest
            b.hold(self.u(*BETWEEN_TRIALS_S))
            sit_tilt, lie_tilt = -8.0, -self.u(76.0, 80.0)
            b.move_body(
                2.5 * sp,
                forward_m=-0.10,
                up_m=-0.17,
                pelvic_tilt_deg=sit_tilt,
                **_hip("left", 85.0),
                **_hip("right", 85.0),
            )
            b.move(
                2.5 * sp,
                pelvic_tilt_deg=lie_tilt,
                **_hip("left", lie_tilt + 93.0),
                **_hip("right", lie_tilt + 93.0),
            )
            chest_tilt, chest = -self.u(84.0, 87.0), self.u(110.0, 120.0)
            b.move(
                2.0 * sp, pelvic_tilt_deg=chest_tilt, **_hip("left", chest), **_hip("right", chest)
            )
        still_start = self.still_window()
        start = b.t
        with b.marker(trial_id, side):
            if method == "half_kneeling":
                tilt, front = self.u(-1.5, 1.5), self.u(80.0, 86.0)
                self.kneel(side, passive, tilt, front)
                hold_start = b.t
                b.hold(self.u(4.0, 6.0))
                hold_end = b.t
                self.stand_up(side, passive, front)
            elif method == "partner":
                tilt = self.u(-0.5, 0.5)
                b.move(2.0 * sp, pelvic_tilt_deg=tilt, **_hip(side, -passive, 1.0))
                hold_start = b.t
                b.hold(self.u(4.0, 6.0))
                hold_end = b.t
                b.move(2.0 * sp, pelvic_tilt_deg=0.0, **_hip(side, 0.0, 0.0))
            else:  # thomas: the tested thigh hangs off the table edge
                tilt = 0.0
                b.move(
                    2.5 * sp,
                    pelvic_obliquity_deg=self.u(-1.0, 1.0),
                    **_hip(side, -passive, self.u(0.0, 4.0)),
                )
                hold_start = b.t
                b.hold(self.u(4.0, 6.0))
                hold_end = b.t
                b.move(2.0 * sp, pelvic_obliquity_deg=0.0, **_hip(side, chest, 0.0))
            rep = RepWindow(1, start, b.t, hold_start, hold_end, passive, tilt)
            b.hold(TRIAL_TAIL_S)
        self.phases.append(
            TimelinePhase(
                "trial",
                trial_id,
                side,
                "passive_extension",
                method,
                still_start,
                start,
                b.t,
                (rep,),
            )
        )
        if method == "thomas":
            b.move(
                2.0 * sp,
                pelvic_tilt_deg=lie_tilt,
                **_hip("left", lie_tilt + 93.0),
                **_hip("right", lie_tilt + 93.0),
            )
            b.move(2.5 * sp, pelvic_tilt_deg=sit_tilt, **_hip("left", 85.0), **_hip("right", 85.0))
            b.move(2.5 * sp, **_neutral(b))
            b.disturb_magnetically(setup_start, b.t)
            b.hold(2.5)

    # hold series -----------------------------------------------------------------------

    def hold_series(self, series: HoldSeries) -> None:
        b, sp, side = self.b, self.sp, series.side
        front_side = OTHER_SIDE[side]
        if series.target_deg is not None:
            level0 = float(series.target_deg)
        else:
            level0 = float(self.subject.passive_deg[side]) - self.u(0.0, 1.0)
        tilt, front = self.u(-1.5, 1.5), self.u(80.0, 86.0)
        still_start = self.still_window()
        holds: list[ScheduledHold] = []
        with b.marker(f"hold_series_{side}", side):
            self.kneel(side, level0, tilt, front)
            b.hold(1.0)
            first_start = b.t
            x0 = b.value("pos_x")
            current = (level0, x0, 0.0)  # hip extension, forward position, front extra
            for rep in range(1, series.reps + 1):
                for phase in series.phases:
                    hold_s = series.hold_s(phase)
                    fail = (rep, phase) in series.failed
                    duration = hold_s * (1.5 if fail else 1.0)
                    start = b.t
                    if phase == "pails":  # pressing the knee down: the hip flexes a little
                        level = (level0 - self.u(0.3, 0.8), x0, 0.0)
                    elif phase == "rails":  # pulling deeper: a small lunge
                        extra = self.u(3.0, 5.0)
                        level = (level0 + extra, x0 + 0.03, extra)
                    else:
                        level = (level0, x0, 0.0)
                    with b.marker(f"hold_series_{side}_{phase}_{rep}", side):
                        move_s = 0.0
                        if level != current:
                            move_s = min(1.0 * sp, 0.15 * hold_s)
                            b.move(
                                move_s,
                                pos_x_m=level[1],
                                **_hip(side, -level[0]),
                                **_hip(front_side, front + tilt + level[2]),
                            )
                        if fail:  # the rear knee slides: out of the band, back before the end
                            slide_s = min(1.5, 0.12 * duration)
                            low = level0 - self.u(6.0, 8.0)
                            self.hold_until(start + max(move_s + 0.5, 0.08 * duration, 1.0))
                            b.move(slide_s, pos_x_m=level[1] - 0.03, **_hip(side, -low))
                            self.hold_until(start + 0.92 * duration - slide_s)
                            b.move(slide_s, pos_x_m=level[1], **_hip(side, -level[0]))
                        self.hold_until(start + duration)
                    current = level
                    holds.append(
                        ScheduledHold(
                            len(holds) + 1,
                            rep,
                            phase,
                            start,
                            start + duration,
                            hold_s,
                            level[0],
                            not fail,
                        )
                    )
                if rep < series.reps:  # rest in position, easing 2 deg out of the stretch
                    rest_end = b.t + series.rest_s
                    ease_s = min(1.0 * sp, series.rest_s / 3.0)
                    b.move(
                        ease_s,
                        pos_x_m=x0,
                        **_hip(side, -(level0 - 2.0)),
                        **_hip(front_side, front + tilt),
                    )
                    self.hold_until(rest_end - ease_s)
                    b.move(ease_s, **_hip(side, -level0))
                    current = (level0, x0, 0.0)
            self.stand_up(side, current[0], front + current[2])
            b.hold(1.0)
        self.phases.append(
            TimelinePhase(
                "hold_series",
                f"hold_series_{side}",
                side,
                "hold_series",
                "half_kneeling",
                still_start,
                first_start,
                b.t,
                holds=tuple(holds),
                series=series,
            )
        )
        b.hold(self.u(2.0, 2.5))  # >= 3 s still after standing up

    def run(self) -> None:
        """Calibration (already in the builder), the trials per side, the hold series."""
        self.phases.append(
            TimelinePhase(
                "calibration", "calibration", None, "calibration", None, 0.0, 0.0, self.b.t
            )
        )
        for side in self.subject.side_order:
            self.active_trial(side, "standing")
            self.passive_trial(side)
            if self.subject.include_prone:
                self.active_trial(side, "prone")
        if self.subject.hold_series is not None:
            self.hold_series(self.subject.hold_series)
        self.b.hold(self.u(*BETWEEN_TRIALS_S))


def build_assessment(
    b: ScriptBuilder, rng: np.random.Generator, subject: AssessmentSubject
) -> list[TimelinePhase]:
    """Append the assessment to ``b`` (after the calibration routine); its timeline phases.

    The calibration phase spans 0 .. ``b.t`` at the call.
    """
    writer = _Writer(b, rng, subject)
    writer.run()
    return writer.phases


def assessment_session(
    subject: AssessmentSubject,
    seed: int,
    errors: ImuErrors | None = None,
    roles: tuple[str, ...] = ROLES,
) -> tuple[SimSession, AssessmentTimeline]:
    """Simulate a scripted assessment session and its timeline.

    Built like :func:`hipsim.subjects.scripted_session` (the same random streams: script
    ``[seed, 11]``, body ``[seed, 12]``, sensor k ``[seed, 13, k]``): calibration routine,
    then the assessment; every sensor at ``subject.rate_hz``.

    Parameters
    ----------
    subject : the person.
    seed : seeds the script's variations, the body (mounting) and the sensor errors.
    errors : sensor error model; None: :func:`hipsim.accuracy.issue_error_model`.
    roles : the sensors to sample; ``()`` gives a truth-only session (fast: ``truth_at``
        works, there are no samples).

    Returns
    -------
    (SimSession, AssessmentTimeline)
        The session's ``scenario`` is ``"assessment"``.

    Examples
    --------
    >>> session, timeline = assessment_session(DEMO_SUBJECT, seed=1)  # doctest: +SKIP
    >>> timeline.trial("active_standing_left").still_start_s  # doctest: +SKIP
    """
    errors = issue_error_model() if errors is None else errors
    rng = np.random.default_rng([seed, 11])
    b = ScriptBuilder()
    calibration_routine(b, rng)
    phases = build_assessment(b, rng, subject)
    script = b.build()
    body = make_body(np.random.default_rng([seed, 12]), False)
    samples: dict[str, SampleBlock] = {}
    draws: dict[str, SensorErrorDraw] = {}
    rate_hz = float(subject.rate_hz)
    for k, role in enumerate(ROLES):
        if role in roles:
            samples[role], draws[role] = sample_sensor(
                script, body, role, rate_hz, errors, np.random.default_rng([seed, 13, k])
            )
    session = SimSession(
        scenario="assessment",
        seed=seed,
        samples=samples,
        mounting={r: body.mounting[r].copy() for r in ROLES if r in roles},
        markers=list(script.markers),
        duration_s=script.duration_s,
        rate_hz={r: rate_hz for r in ROLES if r in roles},
        errors=errors,
        error_draws=draws,
        body=body,
        script=script,
    )
    return session, AssessmentTimeline(tuple(phases), script.duration_s, subject)


DEMO_SUBJECT = AssessmentSubject(
    active_deg={"left": 9.0, "right": 17.0},
    passive_deg={"left": 20.0, "right": 19.0},
    compensated_reps=(("left", 2),),
    passive_method="half_kneeling",
    hold_series=HoldSeries(
        side="left", passive_s=20.0, pails_s=10.0, rails_s=10.0, reps=1, failed=((1, "pails"),)
    ),
    rate_hz=100.0,
)
"""The demo: left motor control deficit (passive 20, active 9 deg, rep 2 compensated), right
within norms (passive 19, active 17 deg); a left hold series whose passive hold and RAILs are
met and whose PAILs hold drifts out of the band."""


def assessment_demo_session(
    seed: int = 0, errors: ImuErrors | None = None
) -> tuple[SimSession, AssessmentTimeline]:
    """:func:`assessment_session` of :data:`DEMO_SUBJECT` (about 3 min)."""
    return assessment_session(DEMO_SUBJECT, seed, errors)


# --- truth -------------------------------------------------------------------------------


def _truth(session: SimSession, start_s: float, end_s: float) -> AngleBlock:
    rate = TRUTH_RATE_HZ
    k0, k1 = int(np.ceil(start_s * rate - 1e-9)), int(np.floor(end_s * rate + 1e-9))
    return truth_block(session, np.arange(k0, k1 + 1) / rate)


def truth_rep_results(
    session: SimSession, timeline: AssessmentTimeline, config: AnalysisConfig | None = None
) -> dict[str, list[RangeResult]]:
    """Per trial id, :func:`hipsense.exercises.rom.analyze_range` of each rep window on the
    exact truth angles (100 Hz grid)."""
    config = config or AnalysisConfig()
    out: dict[str, list[RangeResult]] = {}
    for trial in timeline.trials():
        assert trial.side is not None
        out[trial.trial_id] = [
            analyze_range(
                _truth(session, rep.start_s, rep.end_s), trial.side, trial.exercise, config
            )
            for rep in trial.reps
        ]
    return out


def truth_rep_validity(
    session: SimSession, timeline: AssessmentTimeline, config: AnalysisConfig | None = None
) -> dict[str, list[bool]]:
    """Per trial id, whether each rep counts on truth (held >= ``hold_s`` with the pelvis
    within ``compensation_limit_deg`` of its start)."""
    results = truth_rep_results(session, timeline, config)
    return {trial_id: [r.valid for r in reps] for trial_id, reps in results.items()}


def truth_results(
    session: SimSession, timeline: AssessmentTimeline, config: AnalysisConfig | None = None
) -> dict[str, dict[str, Any]]:
    """Per side the true result: ``active_deg`` and ``passive_deg`` (best valid rep of the
    side's active standing / passive trials, None when none; the prone trial is not in the
    gap), ``gap_deg`` and ``classification`` (:func:`hipsense.exercises.rom.classify_gap`)."""
    config = config or AnalysisConfig()
    results = truth_rep_results(session, timeline, config)
    best: dict[str, dict[str, float | None]] = {}
    for trial in timeline.trials():
        assert trial.side is not None and trial.mode is not None
        side = best.setdefault(trial.side, {"active": None, "passive": None})
        if trial.method == "prone":
            continue  # reported beside the standing range, never in the gap
        for r in results[trial.trial_id]:
            value = r.extension_deg
            if r.valid and value is not None:
                old = side[trial.mode]
                side[trial.mode] = value if old is None else max(old, value)
    out: dict[str, dict[str, Any]] = {}
    for side_name, values in best.items():
        gap = classify_gap(side_name, values["active"], values["passive"], config)
        out[side_name] = {
            "active_deg": values["active"],
            "passive_deg": values["passive"],
            "gap_deg": gap.gap_deg,
            "classification": gap.classification,
        }
    return out


@dataclass(frozen=True)
class HoldVerdict:
    """A scheduled hold judged on the exact truth by the rule of ``docs/assessment.md``.

    ``end_s`` is when the rule ends the hold (time in band without compensation reaching
    ``hold_s``, else ``start_s + 1.5 hold_s``); ``time_in_band_s`` is that time up to
    ``end_s``.
    """

    n: int
    rep: int
    phase: str
    start_s: float
    end_s: float
    scheduled_end_s: float
    hold_s: float
    target_deg: float
    time_in_band_s: float
    complete: bool
    expected_complete: bool


def truth_hold_verdicts(
    session: SimSession,
    timeline: AssessmentTimeline,
    config: AnalysisConfig | None = None,
    capture_s: float = 0.5,
) -> list[HoldVerdict]:
    """Each scheduled hold's verdict on the exact truth (100 Hz grid from its start).

    The target is the series' typed ``target_deg``, else the median hip extension over the
    first ``capture_s`` of the first hold; the band is target +- tolerance (RAILs: target -
    tolerance or deeper). Compensation: the pelvic tilt more than ``compensation_limit_deg``
    from its median over the hold's first ``capture_s``. A hold is complete when its time in
    band without compensation reaches ``hold_s`` within ``1.5 hold_s`` of its start.
    """
    config = config or AnalysisConfig()
    phase = timeline.hold_series()
    if phase is None or phase.series is None or phase.side is None:
        return []
    series, side = phase.series, phase.side
    flexion = hip_columns(side)[0]
    dt = 1.0 / TRUTH_RATE_HZ

    def window(start_s: float, length_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = start_s + np.arange(round(length_s * TRUTH_RATE_HZ), dtype=np.float64) * dt
        truth = session.truth_at(t)
        return t, -truth[flexion], truth["pelvic_tilt_deg"]

    n_capture = round(capture_s * TRUTH_RATE_HZ) + 1
    if series.target_deg is not None:
        target = float(series.target_deg)
    else:
        _, ext0, _ = window(phase.holds[0].start_s, capture_s + dt)
        target = float(np.median(ext0[:n_capture]))
    out = []
    for hold in phase.holds:
        t, ext, tilt = window(hold.start_s, 1.5 * hold.hold_s)
        if hold.phase == "rails":  # RAILs aim deeper: the band's low edge or beyond
            inside = ext >= target - series.tolerance_deg
        else:
            inside = np.abs(ext - target) <= series.tolerance_deg
        comp = np.abs(tilt - np.median(tilt[:n_capture])) > config.compensation_limit_deg
        cum = np.cumsum(inside & ~comp) * dt
        hit = np.flatnonzero(cum >= hold.hold_s - 1e-9)
        complete = len(hit) > 0
        end = float(t[hit[0]] + dt) if complete else hold.start_s + 1.5 * hold.hold_s
        in_band = float(cum[hit[0]]) if complete else float(cum[-1])
        out.append(
            HoldVerdict(
                hold.n,
                hold.rep,
                hold.phase,
                hold.start_s,
                end,
                hold.end_s,
                hold.hold_s,
                target,
                in_band,
                complete,
                hold.expected_complete,
            )
        )
    return out


# --- population --------------------------------------------------------------------------


def _ranges(rng: np.random.Generator, cls: str, config: AnalysisConfig) -> tuple[float, float]:
    """(active, passive) of a class, :data:`CLASS_MARGIN_DEG` clear of every threshold."""
    m = CLASS_MARGIN_DEG
    normal, gap_max = config.passive_normal_min_deg, config.gap_threshold_deg
    if cls == "passive_restricted":
        passive = rng.uniform(6.0, normal - m)
        active = rng.uniform(4.0, passive)
    elif cls == "motor_control_deficit":
        passive = rng.uniform(max(normal + m, 4.0 + gap_max + m), 30.0)
        active = rng.uniform(4.0, passive - gap_max - m)
    elif cls == "within_norms":
        passive = rng.uniform(normal + m, 28.0)
        active = passive - rng.uniform(0.0, gap_max - m)
        active = min(active, 25.0)
    else:
        raise ValueError(f"unknown classification {cls!r}")
    return round(float(active), 1), round(float(passive), 1)


def population(n: int, seed: int, config: AnalysisConfig | None = None) -> list[AssessmentSubject]:
    """``n`` varied subjects covering every classification (``n >= 2``).

    Subject i's left side has class ``CLASSIFICATIONS[i % 3]``, its right side
    ``CLASSIFICATIONS[(i + 1) % 3]``; ranges: active 4-25 deg, passive 6-30 deg, each clear of
    the thresholds by :data:`CLASS_MARGIN_DEG` (rounded to 0.1 deg). The sample rate cycles
    through :data:`POPULATION_RATES_HZ`, the passive method through :data:`PASSIVE_METHODS`;
    speed 0.6-2.0, side order, compensated reps (about 40 % of subjects, at most 2 per side),
    the prone trial (25 %) and a hold series (30 %, holds 6-15 s, 1-2 reps, each hold failing
    with probability 0.3) are drawn.
    """
    config = config or AnalysisConfig()
    rng = np.random.default_rng([seed, 21])
    subjects = []
    for i in range(n):
        active, passive = {}, {}
        for k, side in enumerate(SIDES):
            active[side], passive[side] = _ranges(rng, CLASSIFICATIONS[(i + k) % 3], config)
        compensated: list[tuple[str, int]] = []
        if rng.random() < 0.4:
            side = str(rng.choice(SIDES))
            count = int(rng.integers(1, 3))
            reps = sorted(int(r) for r in rng.choice(np.arange(1, 4), count, replace=False))
            compensated = [(side, r) for r in reps]
        series = None
        if rng.random() < 0.3:
            reps_n = int(rng.integers(1, 3))
            failed = tuple(
                (rep, phase)
                for rep in range(1, reps_n + 1)
                for phase in HOLD_PHASES
                if rng.random() < 0.3
            )
            series = HoldSeries(
                side=str(rng.choice(SIDES)),
                passive_s=float(rng.integers(8, 16)),
                pails_s=float(rng.integers(6, 11)),
                rails_s=float(rng.integers(6, 11)),
                reps=reps_n,
                rest_s=float(rng.integers(5, 11)),
                failed=failed,
            )
        order = SIDES if rng.random() < 0.5 else SIDES[::-1]
        subjects.append(
            AssessmentSubject(
                active_deg=active,
                passive_deg=passive,
                compensated_reps=tuple(compensated),
                passive_method=PASSIVE_METHODS[i % len(PASSIVE_METHODS)],
                include_prone=bool(rng.random() < 0.25),
                side_order=tuple(order),
                speed=round(float(rng.uniform(0.6, 2.0)), 2),
                hold_series=series,
                rate_hz=POPULATION_RATES_HZ[i % len(POPULATION_RATES_HZ)],
            )
        )
    return subjects


__all__ = [
    "CLASS_MARGIN_DEG",
    "DEMO_SUBJECT",
    "AssessmentSubject",
    "AssessmentTimeline",
    "HoldSeries",
    "HoldVerdict",
    "RepWindow",
    "ScheduledHold",
    "TimelinePhase",
    "assessment_demo_session",
    "assessment_session",
    "build_assessment",
    "population",
    "truth_hold_verdicts",
    "truth_rep_results",
    "truth_rep_validity",
    "truth_results",
]
