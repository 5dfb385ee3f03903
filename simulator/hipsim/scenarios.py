"""Exercise scripts: the calibration routine and one block per scenario.

Every block starts and ends standing in the neutral (static) pose and ends with a standing
rest of at least 2 s, so blocks can be repeated to fill long sessions. Amplitudes and
timings vary slightly with the seed. Angles in degrees, distances in metres.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hipsim.script import (
    CHANNELS,
    HIP_CHANNELS,
    PELVIS_CHANNELS,
    CircleTerm,
    KeyframeTrack,
    ScriptBuilder,
)

SCENARIOS: tuple[str, ...] = (
    "calibration",
    "active_extension",
    "active_extension_compensated",
    "half_kneeling_stretch",
    "thomas_test",
    "hip_lift",
    "hip_cars",
    "reverse_walking",
    "sit_to_stand",
)
CALIBRATION_LABELS: tuple[str, ...] = ("static", "knee_lift_left", "knee_lift_right", "hip_hinge")
SIDES: tuple[str, str] = ("left", "right")
OTHER_SIDE = {"left": "right", "right": "left"}
ROUTINE_GROUPS: tuple[str, str, str] = ("knee_lift_left", "knee_lift_right", "hip_hinge")
EXTRA_MOVEMENTS: tuple[str, ...] = ("squat", "step_in_place")
THIGH_M, SHANK_M = 0.42, 0.45  # segment lengths of the scripted movements (m)

Block = Callable[[ScriptBuilder, np.random.Generator], None]


def _hip(side: str, **angles_deg: float) -> dict[str, float]:
    """``flexion=.., abduction=.., internal_rotation=..`` -> builder keywords for one side."""
    return {f"hip_{name}_{side}_deg": value for name, value in angles_deg.items()}


def _neutral_targets(b: ScriptBuilder) -> dict[str, float]:
    names = (*PELVIS_CHANNELS, *HIP_CHANNELS["left"], *HIP_CHANNELS["right"], "pos_z")
    targets = {}
    for name in names:
        if abs(b.value(name)) > 1e-12:
            targets[name + ("_m" if name.startswith("pos") else "_deg")] = 0.0
    return targets


def rest_standing(b: ScriptBuilder, duration_s: float = 2.5, move_s: float = 1.5) -> None:
    """Return to the neutral standing pose (if needed) and stand still (marker)."""
    targets = _neutral_targets(b)
    if targets:
        b.move(move_s, **targets)
    with b.marker("rest_standing"):
        b.hold(duration_s)


@dataclass(frozen=True)
class CalibrationRoutine:
    """How one subject performs the calibration routine (the defaults: the README's routine).

    The routine is: the static pose, then the three movement groups (each leg's knee lifts,
    the hip hinges) in ``order``, each followed by its pause, optionally with an unrelated
    movement after one of the first two groups, then a standing rest. Amplitudes are drawn
    per repetition from their ranges with the script's random generator.

    Attributes
    ----------
    static_s : standing still at the start (s).
    order : the movement groups in the order performed, a permutation of
        :data:`ROUTINE_GROUPS`.
    knee_lifts : knee lifts per leg.
    knee_lift_deg : (low, high) hip flexion of each knee lift (deg).
    knee_lift_move_s : duration of each movement up and down (s).
    knee_lift_top_s : still at the top of each lift (s).
    hinges : hip hinges.
    hinge_deg : (low, high) anterior pelvic tilt of each hinge (deg).
    hinge_lean_deg : (low, high) forward lean of the thighs in each hinge (deg): the hips go
        back, the hips flex by tilt + lean.
    hinge_move_s : duration of each movement down and up (s).
    hinge_bottom_s : still at the bottom of each hinge (s).
    rep_pause_s : standing still between repetitions of a group (s).
    pauses_s : standing still after each group, in ``order`` (s).
    extra_movement : None or one of :data:`EXTRA_MOVEMENTS` (a small squat, or steps in
        place), performed after group ``extra_after`` (0 or 1) and its pause.
    extra_after : index in ``order`` of the group the extra movement follows.
    extra_move_s : duration of each movement of the extra movement (s); a step takes it.
    extra_steps : how many steps in place.
    extra_pause_s : standing still after the extra movement (s).
    rest_s : standing still at the end (s).
    """

    static_s: float = 3.0
    order: tuple[str, ...] = ROUTINE_GROUPS
    knee_lifts: int = 3
    knee_lift_deg: tuple[float, float] = (70.0, 80.0)
    knee_lift_move_s: float = 1.1
    knee_lift_top_s: float = 0.3
    hinges: int = 2
    hinge_deg: tuple[float, float] = (50.0, 60.0)
    hinge_lean_deg: tuple[float, float] = (2.0, 5.0)
    hinge_move_s: float = 1.3
    hinge_bottom_s: float = 0.4
    rep_pause_s: float = 0.0
    pauses_s: tuple[float, float, float] = (1.0, 1.0, 0.0)
    extra_movement: str | None = None
    extra_after: int = 0
    extra_move_s: float = 1.0
    extra_steps: int = 4
    extra_pause_s: float = 1.0
    rest_s: float = 2.0

    def __post_init__(self) -> None:
        if sorted(self.order) != sorted(ROUTINE_GROUPS):
            raise ValueError(f"order must be a permutation of {ROUTINE_GROUPS}, got {self.order}")
        if self.extra_movement is not None and self.extra_movement not in EXTRA_MOVEMENTS:
            raise ValueError(
                f"extra_movement must be None or one of {EXTRA_MOVEMENTS}, "
                f"got {self.extra_movement!r}"
            )
        if self.extra_after not in (0, 1):
            raise ValueError(f"extra_after must be 0 or 1, got {self.extra_after}")
        if self.knee_lifts < 1 or self.hinges < 1 or self.extra_steps < 1:
            raise ValueError("at least one knee lift per leg, one hip hinge and one step")
        for name in ("knee_lift_deg", "hinge_deg", "hinge_lean_deg"):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high:
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high")
        durations = (
            self.static_s,
            self.knee_lift_move_s,
            self.hinge_move_s,
            self.extra_move_s,
        )
        pauses = (
            self.knee_lift_top_s,
            self.hinge_bottom_s,
            self.rep_pause_s,
            *self.pauses_s,
            self.extra_pause_s,
            self.rest_s,
        )
        if min(durations) <= 0.0 or min(pauses) < 0.0:
            raise ValueError("movement durations must be positive and pauses not negative")

    @property
    def duration_s(self) -> float:
        """Length of the routine (s); the drawn amplitudes do not change it."""
        b = ScriptBuilder()
        calibration_routine(b, np.random.default_rng(0), self)
        return b.t


def calibration_routine(
    b: ScriptBuilder, rng: np.random.Generator, routine: CalibrationRoutine | None = None
) -> None:
    """Append the calibration routine (default: static 3 s, 3 knee lifts per leg, 2 hip
    hinges, 2 s still; about 28 s).

    Parameters
    ----------
    b : the script to append to (standing in the neutral pose).
    rng : draws each repetition's amplitude (and the extra movement's).
    routine : how the subject performs it; None is :class:`CalibrationRoutine` ``()``, whose
        script is the same for the same ``rng`` as before the routine had parameters.
    """
    r = CalibrationRoutine() if routine is None else routine
    with b.marker("static"):
        b.hold(r.static_s)
    for index, group in enumerate(r.order):
        if group == "hip_hinge":
            _hip_hinges(b, rng, r)
        else:
            _knee_lifts(b, rng, r, group.removeprefix("knee_lift_"))
        b.hold(r.pauses_s[index])
        if r.extra_movement is not None and r.extra_after == index:
            with b.marker(r.extra_movement):
                if r.extra_movement == "squat":
                    _small_squat(b, rng, r.extra_move_s)
                else:
                    _steps_in_place(b, rng, r.extra_move_s, r.extra_steps)
            b.hold(r.extra_pause_s)
    with b.marker("rest_standing"):
        b.hold(r.rest_s)


def _knee_lifts(
    b: ScriptBuilder, rng: np.random.Generator, r: CalibrationRoutine, side: str
) -> None:
    with b.marker(f"knee_lift_{side}", side):
        for rep in range(r.knee_lifts):
            if rep:
                b.hold(r.rep_pause_s)
            b.move(r.knee_lift_move_s, **_hip(side, flexion=rng.uniform(*r.knee_lift_deg)))
            b.hold(r.knee_lift_top_s)
            b.move(r.knee_lift_move_s, **_hip(side, flexion=0.0))


def _hip_hinges(b: ScriptBuilder, rng: np.random.Generator, r: CalibrationRoutine) -> None:
    with b.marker("hip_hinge"):
        for rep in range(r.hinges):
            if rep:
                b.hold(r.rep_pause_s)
            tilt = rng.uniform(*r.hinge_deg)
            lean = np.deg2rad(rng.uniform(*r.hinge_lean_deg))  # thighs lean: hips go back
            flexion = tilt + np.rad2deg(lean)
            b.move_body(
                r.hinge_move_s,
                forward_m=-THIGH_M * np.sin(lean),
                up_m=-THIGH_M * (1 - np.cos(lean)),
                pelvic_tilt_deg=tilt,
                **_hip("left", flexion=flexion),
                **_hip("right", flexion=flexion),
            )
            b.hold(r.hinge_bottom_s)
            b.move_body(
                r.hinge_move_s,
                forward_m=THIGH_M * np.sin(lean),
                up_m=THIGH_M * (1 - np.cos(lean)),
                pelvic_tilt_deg=0.0,
                **_hip("left", flexion=0.0),
                **_hip("right", flexion=0.0),
            )


def _small_squat(b: ScriptBuilder, rng: np.random.Generator, move_s: float) -> None:
    """A shallow squat: thighs 25-35 deg and shanks 60 % of that forward of vertical, the
    pelvis 6-12 deg anterior; the hips sink and go back over the feet."""
    tilt = rng.uniform(6.0, 12.0)
    thigh = np.deg2rad(rng.uniform(25.0, 35.0))
    shank = 0.6 * thigh
    down_m = THIGH_M * (1 - np.cos(thigh)) + SHANK_M * (1 - np.cos(shank))
    back_m = THIGH_M * np.sin(thigh) - SHANK_M * np.sin(shank)
    flexion = tilt + np.rad2deg(thigh)
    b.move_body(
        move_s,
        forward_m=-back_m,
        up_m=-down_m,
        pelvic_tilt_deg=tilt,
        **_hip("left", flexion=flexion),
        **_hip("right", flexion=flexion),
    )
    b.hold(0.3 * move_s)
    b.move_body(
        move_s,
        forward_m=back_m,
        up_m=down_m,
        pelvic_tilt_deg=0.0,
        **_hip("left", flexion=0.0),
        **_hip("right", flexion=0.0),
    )


def _steps_in_place(b: ScriptBuilder, rng: np.random.Generator, step_s: float, steps: int) -> None:
    """Steps in place: each thigh in turn 15-25 deg up, the hips 1-3 cm over the stance
    foot, the swing side of the pelvis 0.5-2 deg up (the stance hip abducts as much, its
    thigh stays vertical); ``step_s`` per step."""
    first = str(rng.choice(SIDES))
    for step in range(steps):
        swing = first if step % 2 == 0 else OTHER_SIDE[first]
        stance = OTHER_SIDE[swing]
        to_stance = 1.0 if stance == "left" else -1.0  # body left is +
        shift_m = rng.uniform(0.01, 0.03)
        hike = rng.uniform(0.5, 2.0)
        b.move_body(
            0.5 * step_s,
            left_m=to_stance * shift_m,
            pelvic_obliquity_deg=-to_stance * hike,  # + when the left side rises
            **_hip(swing, flexion=rng.uniform(15.0, 25.0)),
            **_hip(stance, abduction=hike),
        )
        b.move_body(
            0.5 * step_s,
            left_m=-to_stance * shift_m,
            pelvic_obliquity_deg=0.0,
            **_hip(swing, flexion=0.0),
            **_hip(stance, abduction=0.0),
        )


def _active_extension(b: ScriptBuilder, rng: np.random.Generator, compensated: bool) -> None:
    for side in SIDES:
        for _ in range(4):
            with b.marker("active_extension", side):
                if compensated:
                    tilt = rng.uniform(8.0, 12.0)
                    hip = -rng.uniform(8.0, 12.0)
                    b.move(1.3, pelvic_tilt_deg=tilt, **_hip(side, flexion=hip, abduction=2.0))
                else:
                    tilt = rng.uniform(-0.5, 0.5)
                    b.move(
                        1.2,
                        pelvic_tilt_deg=tilt,
                        **_hip(side, flexion=-rng.uniform(15.0, 20.0), abduction=2.0),
                    )
                b.hold(rng.uniform(2.0, 3.0))
                b.move(1.2, pelvic_tilt_deg=0.0, **_hip(side, flexion=0.0, abduction=0.0))
            b.hold(0.8)
        rest_standing(b)


def active_extension(b: ScriptBuilder, rng: np.random.Generator) -> None:
    """Standing, each leg extended back to -15..-20 deg, held 2-3 s, 4 reps each (~51 s)."""
    _active_extension(b, rng, compensated=False)


def active_extension_compensated(b: ScriptBuilder, rng: np.random.Generator) -> None:
    """As active_extension, but the pelvis tilts anteriorly 8-12 deg (lumbar extension)."""
    _active_extension(b, rng, compensated=True)


def half_kneeling_stretch(b: ScriptBuilder, rng: np.random.Generator) -> None:
    """Half-kneeling hip flexor stretch of each side: passive, PAILs, RAILs, twice (~80 s)."""
    leg_m = 0.45
    for back in SIDES:
        front = OTHER_SIDE[back]
        back_incl = -rng.uniform(14.0, 18.0)  # back thigh behind vertical, knee on the floor
        front_incl = rng.uniform(80.0, 86.0)
        with b.marker("passive_extension", back):
            tilt = 6.0
            b.move_body(
                2.5,
                forward_m=0.05,
                up_m=-0.45,
                pelvic_tilt_deg=tilt,
                **_hip(back, flexion=back_incl + tilt),
                **_hip(front, flexion=front_incl + tilt, abduction=3.0),
            )
            # Posterior pelvic tilt cue: thighs stay, the back hip extends further.
            tilt = -rng.uniform(1.0, 3.0)
            b.move(
                1.5,
                pelvic_tilt_deg=tilt,
                **_hip(back, flexion=back_incl + tilt),
                **_hip(front, flexion=front_incl + tilt),
            )
            for _ in range(2):
                with b.marker("hold_passive", back):
                    start = b.t
                    b.hold(5.0)
                    b.oscillate("pelvic_tilt_deg", 0.3, 0.25, 0.0, start, b.t, 1.0)
                with b.marker("hold_pails", back):
                    push = rng.uniform(0.3, 0.8)  # isometric: the hip barely moves
                    b.move(0.8, **_hip(back, flexion=back_incl + tilt + push))
                    b.hold(3.2)
                b.move(0.6, **_hip(back, flexion=back_incl + tilt))
                with b.marker("hold_rails", back):
                    extra = rng.uniform(3.0, 5.0)
                    lunge = leg_m * (
                        np.sin(np.deg2rad(-back_incl + extra)) - np.sin(np.deg2rad(-back_incl))
                    )
                    b.move_body(
                        1.0,
                        forward_m=lunge,
                        **_hip(back, flexion=back_incl + tilt - extra),
                        **_hip(front, flexion=front_incl + tilt + extra),
                    )
                    b.hold(3.0)
                b.move_body(
                    1.0,
                    forward_m=-lunge,
                    **_hip(back, flexion=back_incl + tilt),
                    **_hip(front, flexion=front_incl + tilt),
                )
        b.move_body(2.5, forward_m=-0.05, up_m=0.45, **_neutral_targets(b))
        rest_standing(b)


def thomas_test(b: ScriptBuilder, rng: np.random.Generator) -> None:
    """Modified Thomas test on a table edge for each side (~42 s, table disturbs the field)."""
    start = b.t
    sit_tilt = -8.0
    b.move_body(
        2.5,
        forward_m=-0.10,
        up_m=-0.17,
        pelvic_tilt_deg=sit_tilt,
        **_hip("left", flexion=85.0),
        **_hip("right", flexion=85.0),
    )
    lie_tilt = -rng.uniform(76.0, 80.0)
    b.move(
        2.5,
        pelvic_tilt_deg=lie_tilt,
        **_hip("left", flexion=lie_tilt + 93.0),
        **_hip("right", flexion=lie_tilt + 93.0),
    )
    chest_tilt = -rng.uniform(84.0, 87.0)  # pulling a knee in flattens the lumbar spine
    chest = rng.uniform(110.0, 120.0)
    b.move(
        2.0,
        pelvic_tilt_deg=chest_tilt,
        **_hip("left", flexion=chest),
        **_hip("right", flexion=chest),
    )
    for tested in SIDES:
        relative = rng.uniform(-5.0, 15.0)  # thigh above (+) or below (-) the table plane
        abduction = rng.uniform(0.0, 8.0)
        with b.marker("thomas_test", tested):
            b.move(
                2.5,
                pelvic_obliquity_deg=rng.uniform(-1.5, 1.5),
                **_hip(
                    tested,
                    flexion=90.0 + relative + chest_tilt,
                    abduction=abduction,
                    internal_rotation=rng.uniform(-5.0, 5.0),
                ),
            )
            b.hold(8.0)
        b.move(
            2.0,
            pelvic_obliquity_deg=0.0,
            **_hip(tested, flexion=chest, abduction=0.0, internal_rotation=0.0),
        )
    b.move(
        2.0,
        pelvic_tilt_deg=lie_tilt,
        **_hip("left", flexion=lie_tilt + 93.0),
        **_hip("right", flexion=lie_tilt + 93.0),
    )
    b.move(
        2.5, pelvic_tilt_deg=sit_tilt, **_hip("left", flexion=85.0), **_hip("right", flexion=85.0)
    )
    b.move_body(2.5, forward_m=0.10, up_m=0.17, **_neutral_targets(b))
    b.disturb_magnetically(start, b.t)
    rest_standing(b)


def hip_lift(b: ScriptBuilder, rng: np.random.Generator) -> None:
    """Supine bridge: hips 90-100 deg -> ~0 deg with posterior tilt, 4 reps (~45 s)."""
    b.move_body(
        3.0,
        forward_m=-0.25,
        up_m=-0.77,
        pelvic_tilt_deg=-25.0,
        **_hip("left", flexion=110.0),
        **_hip("right", flexion=110.0),
    )
    lie_tilt = -rng.uniform(74.0, 78.0)
    flexion = rng.uniform(90.0, 100.0)
    b.move_body(
        2.5,
        forward_m=-0.05,
        pelvic_tilt_deg=lie_tilt,
        **_hip("left", flexion=flexion),
        **_hip("right", flexion=flexion),
    )
    for _ in range(4):
        top = rng.uniform(2.0, 8.0)
        top_tilt = -rng.uniform(85.0, 88.0)
        with b.marker("hip_lift"):
            b.move_body(
                1.5,
                forward_m=0.05,
                up_m=0.18,
                pelvic_tilt_deg=top_tilt,
                **_hip("left", flexion=top),
                **_hip("right", flexion=top),
            )
            b.hold(3.0)
            b.move_body(
                1.5,
                forward_m=-0.05,
                up_m=-0.18,
                pelvic_tilt_deg=lie_tilt,
                **_hip("left", flexion=flexion),
                **_hip("right", flexion=flexion),
            )
        b.hold(1.5)
    b.move_body(
        2.5,
        forward_m=0.05,
        pelvic_tilt_deg=-25.0,
        **_hip("left", flexion=110.0),
        **_hip("right", flexion=110.0),
    )
    b.move_body(3.0, forward_m=0.25, up_m=0.77, **_neutral_targets(b))
    rest_standing(b)


def hip_cars(b: ScriptBuilder, rng: np.random.Generator) -> None:
    """Hip CARs on one leg: 5 circles each direction and side, 4 s each (~95 s)."""
    rep_s = 4.0
    for side in SIDES:
        for direction in (1.0, -1.0):
            start = b.t
            reps = 5
            turns = np.arange(reps + 1, dtype=np.float64)
            times = start + rep_s * turns
            theta = KeyframeTrack(times, direction * 2 * np.pi * turns, np.zeros(reps + 1))
            b.terms.append(
                CircleTerm(
                    side,
                    np.deg2rad(rng.uniform(85.0, 95.0)),
                    np.deg2rad(rng.uniform(35.0, 45.0)),
                    np.deg2rad(rng.uniform(25.0, 35.0)),
                    theta,
                    start,
                    times[-1],
                )
            )
            hike = -2.0 if side == "left" else 2.0  # stance hip drops a little
            with b.marker("cars", side):
                b.move(1.0, pelvic_obliquity_deg=hike)
                b.hold(rep_s * reps - 2.0)
                b.move(1.0, pelvic_obliquity_deg=0.0)
            rest_standing(b, 2.5)


def _walk_backwards(b: ScriptBuilder, rng: np.random.Generator, duration_s: float) -> None:
    """Backward walking bout along the current heading (constant speed between ramps)."""
    speed = rng.uniform(0.45, 0.55)
    stride_hz = rng.uniform(90.0, 100.0) / 120.0  # cadence in steps/min -> strides/s
    ramp = 1.5
    t0, t1 = b.t, b.t + duration_s
    heading = b.value("heading")
    phase = rng.uniform(-np.pi, np.pi)

    def osc(keyword: str, amplitude: float, harmonic: float, shift: float) -> None:
        b.oscillate(
            keyword, amplitude, harmonic * stride_hz, harmonic * phase + shift, t0, t1, ramp
        )

    for side, opposite in (("left", 0.0), ("right", np.pi)):
        b.offset(f"hip_flexion_{side}_deg", 5.0, t0, t1, ramp)
        osc(f"hip_flexion_{side}_deg", 20.0, 1.0, opposite)
        osc(f"hip_flexion_{side}_deg", 3.0, 2.0, 0.5)
        osc(f"hip_abduction_{side}_deg", 3.0, 1.0, opposite + 0.5 * np.pi)
        osc(f"hip_internal_rotation_{side}_deg", 4.0, 1.0, opposite + 0.3)
    osc("pelvic_rotation_deg", 4.0, 1.0, 0.5 * np.pi)
    osc("pelvic_obliquity_deg", 3.0, 1.0, 0.0)
    osc("pelvic_tilt_deg", 1.5, 2.0, 0.0)
    osc("pos_z_m", 0.015, 2.0, 0.5 * np.pi)
    osc("pos_x_m", -0.02 * np.sin(heading), 1.0, 0.0)  # lateral sway
    osc("pos_y_m", 0.02 * np.cos(heading), 1.0, 0.0)
    with b.marker("reverse_walking"):
        b.cruise(duration_s, ramp, (-speed * np.cos(heading), -speed * np.sin(heading)))


def reverse_walking(b: ScriptBuilder, rng: np.random.Generator) -> None:
    """Walk backwards ~0.5 m/s for 14 s, stop, turn around, twice (~41 s); loops well."""
    for turn in (180.0, -180.0):
        _walk_backwards(b, rng, 14.0)
        rest_standing(b, 2.0)
        _turn(b, turn)


def _turn(b: ScriptBuilder, turn_deg: float, duration_s: float = 2.0) -> None:
    """Whole-body turn on the spot (heading only), then a standing rest to re-align."""
    with b.marker("turn"):
        b.move(duration_s, heading_deg=np.rad2deg(b.value("heading")) + turn_deg)
    rest_standing(b, 2.5)


def sit_to_stand(b: ScriptBuilder, rng: np.random.Generator) -> None:
    """Turn to the chair, then 3x: sit down (hips 90-95 deg, posterior tilt), sit 10 s,
    stand up; turn back (~62 s, the chair disturbs the field)."""
    _turn(b, rng.choice([-1.0, 1.0]) * 180.0)
    for _ in range(3):
        start = b.t
        flexion = rng.uniform(90.0, 95.0)
        tilt = -rng.uniform(6.0, 12.0)
        lean = rng.uniform(15.0, 22.0)
        b.move_body(
            1.0,
            forward_m=-0.06,
            up_m=-0.15,
            pelvic_tilt_deg=lean,
            **_hip("left", flexion=50.0),
            **_hip("right", flexion=50.0),
        )
        b.move_body(
            1.2,
            forward_m=-0.06,
            up_m=-0.30,
            pelvic_tilt_deg=tilt,
            **_hip("left", flexion=flexion),
            **_hip("right", flexion=flexion),
        )
        with b.marker("sitting"):
            b.hold(10.0)
        b.move_body(
            1.0,
            forward_m=0.06,
            up_m=0.15,
            pelvic_tilt_deg=lean,
            **_hip("left", flexion=60.0),
            **_hip("right", flexion=60.0),
        )
        b.move_body(1.2, forward_m=0.06, up_m=0.30, **_neutral_targets(b))
        b.disturb_magnetically(start, b.t, 0.8)
        rest_standing(b, 3.0)
    _turn(b, -180.0 if b.value("heading") > 0 else 180.0)


BLOCKS: dict[str, Block] = {
    "active_extension": active_extension,
    "active_extension_compensated": active_extension_compensated,
    "half_kneeling_stretch": half_kneeling_stretch,
    "thomas_test": thomas_test,
    "hip_lift": hip_lift,
    "hip_cars": hip_cars,
    "reverse_walking": reverse_walking,
    "sit_to_stand": sit_to_stand,
}


def build_script_builder(
    scenario: str,
    rng: np.random.Generator,
    duration_s: float | None,
    include_calibration: bool,
    routine: CalibrationRoutine | None = None,
) -> ScriptBuilder:
    """Append the calibration routine and scenario blocks until ``duration_s`` is filled.

    Without ``duration_s`` one block follows the calibration. With it, blocks repeat while
    another whole block fits; the remainder is standing rest (the caller truncates).
    ``routine`` is how the subject performs the calibration routine (None: the default).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
    b = ScriptBuilder()
    if include_calibration:
        calibration_routine(b, rng, routine)
    else:
        with b.marker("rest_standing"):
            b.hold(3.0)
    block = BLOCKS.get(scenario)
    if block is None:  # "calibration": the routine only, then rest
        if duration_s is not None and duration_s > b.t:
            with b.marker("rest_standing"):
                b.hold(duration_s - b.t)
        return b
    start = b.t
    block(b, rng)
    block_s = b.t - start
    while duration_s is not None and b.t + block_s <= duration_s:
        block(b, rng)
    if duration_s is not None and duration_s > b.t:
        with b.marker("rest_standing"):
            b.hold(duration_s - b.t)
    return b


__all__ = [
    "CALIBRATION_LABELS",
    "CHANNELS",
    "EXTRA_MOVEMENTS",
    "ROUTINE_GROUPS",
    "SCENARIOS",
    "CalibrationRoutine",
    "build_script_builder",
    "calibration_routine",
]
