"""Exercise scripts: the calibration routine and one block per scenario.

Every block starts and ends standing in the neutral (static) pose and ends with a standing
rest of at least 2 s, so blocks can be repeated to fill long sessions. Amplitudes and
timings vary slightly with the seed. Angles in degrees, distances in metres.
"""

from __future__ import annotations

from collections.abc import Callable

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


def calibration_routine(b: ScriptBuilder, rng: np.random.Generator) -> None:
    """Static pose 3 s, 3 knee lifts per leg, 2 hip hinges, 2 s still (about 28 s)."""
    with b.marker("static"):
        b.hold(3.0)
    for side in SIDES:
        with b.marker(f"knee_lift_{side}", side):
            for _ in range(3):
                b.move(1.1, **_hip(side, flexion=rng.uniform(70.0, 80.0)))
                b.hold(0.3)
                b.move(1.1, **_hip(side, flexion=0.0))
        b.hold(1.0)
    with b.marker("hip_hinge"):
        for _ in range(2):
            tilt = rng.uniform(50.0, 60.0)
            lean = np.deg2rad(rng.uniform(2.0, 5.0))  # thighs lean a little: hips go back
            flexion = tilt + np.rad2deg(lean)
            b.move_body(
                1.3,
                forward_m=-0.42 * np.sin(lean),
                up_m=-0.42 * (1 - np.cos(lean)),
                pelvic_tilt_deg=tilt,
                **_hip("left", flexion=flexion),
                **_hip("right", flexion=flexion),
            )
            b.hold(0.4)
            b.move_body(
                1.3,
                forward_m=0.42 * np.sin(lean),
                up_m=0.42 * (1 - np.cos(lean)),
                pelvic_tilt_deg=0.0,
                **_hip("left", flexion=0.0),
                **_hip("right", flexion=0.0),
            )
    with b.marker("rest_standing"):
        b.hold(2.0)


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
            times = start + rep_s * np.arange(reps + 1)
            theta = KeyframeTrack(
                times, direction * 2 * np.pi * np.arange(reps + 1), np.zeros(reps + 1)
            )
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
) -> ScriptBuilder:
    """Append the calibration routine and scenario blocks until ``duration_s`` is filled.

    Without ``duration_s`` one block follows the calibration. With it, blocks repeat while
    another whole block fits; the remainder is standing rest (the caller truncates).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
    b = ScriptBuilder()
    if include_calibration:
        calibration_routine(b, rng)
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


__all__ = ["CALIBRATION_LABELS", "CHANNELS", "SCENARIOS", "build_script_builder"]
