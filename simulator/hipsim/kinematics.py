"""The body: segment chain, sensor placement and mounting, exact sensor motion.

Chain (earth <- segment): ``Rz(heading0 + heading) * pelvis(tilt, obliquity, rotation)`` for
the pelvis and ``... * hip(side, flexion, abduction, internal rotation)`` for a thigh, where
``pelvis`` and ``hip`` are ``hipsense.body.frames.pelvis_quat_from_angles`` and
``hip_quat_from_angles``. Their elementary factors (axes, order, signs) are *probed* from those
functions once, never restated here, so the simulator follows the one owner of the signs.

Positions: the script moves the hip-joint-centre midpoint; the pelvis and thighs hang off it
through fixed lever arms, so a hip hinge rotates the pelvis about the hip axis like a real one.
Sensor accelerations come from the chain's exact angular velocity and acceleration:
``a = a_anchor + alpha x r + omega x (omega x r)`` per rigid link.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from hipsense.body.frames import (
    hip_quat_from_angles,
    matrix_to_quat,
    pelvis_quat_from_angles,
    qmul,
    qrotate,
    quat_from_axis_angle,
    quat_to_rotvec,
)
from hipsense.types import FloatArray
from hipsim.jet import Jet
from hipsim.script import HIP_CHANNELS, PELVIS_CHANNELS, POSITION_CHANNELS, MotionScript

HIP_MIDPOINT_TO_PELVIS_ORIGIN_M = np.array([0.0, 0.0, 0.08])
HIP_HALF_WIDTH_M = 0.085
STANDING_HIP_HEIGHT_M = 0.92


# --- factor probing --------------------------------------------------------------------------

Factor = tuple[int, FloatArray]  # (argument index, unit axis in the child frame)


def _probe_factors(fn: Callable[..., FloatArray]) -> tuple[Factor, ...]:
    """Elementary rotations ``fn(a0, a1, a2) = prod_k exp(axis_k * a_{i_k})`` in product order.

    Raises
    ------
    RuntimeError
        If ``fn`` is not such a product (the frames module changed its convention type).
    """
    axes = []
    for i in range(3):
        args = [0.0, 0.0, 0.0]
        args[i] = 0.5
        axes.append(quat_to_rotvec(fn(*args)) / 0.5)
    rng = np.random.default_rng(7)
    trial = rng.uniform(-1.2, 1.2, size=(5, 3))
    expected = fn(trial[:, 0], trial[:, 1], trial[:, 2])
    for order in itertools.permutations(range(3)):
        q = np.tile([1.0, 0.0, 0.0, 0.0], (5, 1))
        for i in order:
            q = qmul(q, quat_from_axis_angle(axes[i], trial[:, i]))
        if np.allclose(np.abs(np.sum(q * expected, axis=-1)), 1.0, atol=1e-12):
            return tuple((i, axes[i]) for i in order)
    raise RuntimeError("frames function is not a product of three elementary rotations")


@cache
def pelvis_factors() -> tuple[Factor, ...]:
    """Factors of ``pelvis_quat_from_angles(tilt, obliquity, rotation)``."""
    return _probe_factors(pelvis_quat_from_angles)


@cache
def hip_factors(side: str) -> tuple[Factor, ...]:
    """Factors of ``hip_quat_from_angles(side, flexion, abduction, internal_rotation)``."""
    return _probe_factors(lambda a, b, c: hip_quat_from_angles(side, a, b, c))


# --- body model ------------------------------------------------------------------------------


@dataclass
class SoftTissue:
    """Skin motion of a thigh sensor, proportional to hip flexion.

    The sensor turns by ``gain_rad_per_rad * flexion`` about ``axis`` (thigh frame, mostly the
    long axis) and slides by ``slide_m_per_rad * flexion`` (thigh frame, m per rad).
    """

    axis: FloatArray
    gain_rad_per_rad: float
    slide_m_per_rad: FloatArray


@dataclass
class BodyModel:
    """Subject geometry and sensor placement (all seeded).

    Attributes
    ----------
    heading0_rad : world heading of the subject at the static pose (about earth z).
    origin_m : world position of the hip-joint-centre midpoint at the static pose.
    lever_m : per role, the sensor position: for the pelvis relative to the hip midpoint in the
        pelvis frame; for a thigh relative to its hip joint centre in the thigh frame.
    mounting : per role ``q_sensor_in_segment`` (sensor -> segment, scalar first).
    soft_tissue : per thigh role, the skin-motion model, or absent when disabled.
    """

    heading0_rad: float
    origin_m: FloatArray
    lever_m: dict[str, FloatArray]
    mounting: dict[str, FloatArray]
    soft_tissue: dict[str, SoftTissue] = field(default_factory=dict)

    @staticmethod
    def hip_centre_m(side: str) -> FloatArray:
        """Hip joint centre relative to the hip midpoint, pelvis frame (m)."""
        return np.array([0.0, HIP_HALF_WIDTH_M if side == "left" else -HIP_HALF_WIDTH_M, 0.0])


def _unit(v: FloatArray) -> FloatArray:
    return v / np.linalg.norm(v)


def _frame_with_z(normal: FloatArray) -> FloatArray:
    """A rotation matrix whose third column is ``normal`` (unit)."""
    helper = np.array([0.0, 0.0, 1.0]) if abs(normal[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = _unit(np.cross(helper, normal))
    return np.column_stack((x, np.cross(normal, x), normal))


def _mounting_on_skin(
    normal: FloatArray, rng: np.random.Generator, z_normal_p: float
) -> FloatArray:
    """``q_sensor_in_segment`` of a sensor lying on skin with outward ``normal`` (segment).

    One sensor axis (z with probability ``z_normal_p``, else any of +-x, +-y, -z) is the skin
    normal, tilted by up to 6 deg, with an arbitrary rotation about it.
    """
    choices = [(0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0), (2, -1.0)]
    axis_index, sign = (2, 1.0) if rng.random() < z_normal_p else choices[rng.integers(5)]
    sensor_axis = np.zeros(3)
    sensor_axis[axis_index] = sign
    tilt_axis = _unit(np.cross(normal, rng.normal(size=3)))
    normal = qrotate(quat_from_axis_angle(tilt_axis, np.deg2rad(rng.uniform(0, 6))), normal)
    spin = quat_from_axis_angle(sensor_axis, np.asarray(rng.uniform(-np.pi, np.pi), np.float64))
    # Sensor axis -> segment z: shortest arc (half-way vector), antiparallel case about x.
    halfway = sensor_axis + np.array([0.0, 0.0, 1.0])
    if np.linalg.norm(halfway) < 1e-9:
        to_z = np.array([0.0, 1.0, 0.0, 0.0])
    else:
        halfway = _unit(halfway)
        to_z = np.concatenate(([sensor_axis @ halfway], np.cross(sensor_axis, halfway)))
    to_normal = matrix_to_quat(_frame_with_z(normal))
    return qmul(qmul(to_normal, to_z), spin)


def make_body(rng: np.random.Generator, soft_tissue: bool) -> BodyModel:
    """A seeded subject: heading, start position, sensor places and mountings.

    The pelvis sensor sits on the sacrum (about 0.12 m behind the pelvis origin), its skin
    normal pointing backwards and up by the sacral slope, with any rotation about the normal.
    Each thigh sensor sits 0.18-0.25 m below the hip centre anywhere around the thigh.
    """
    heading0 = float(rng.uniform(-np.pi, np.pi))
    origin = np.array([*rng.uniform(-2.0, 2.0, size=2), STANDING_HIP_HEIGHT_M])
    lever: dict[str, FloatArray] = {}
    mounting: dict[str, FloatArray] = {}
    slope = np.deg2rad(rng.uniform(15.0, 35.0))
    sacrum_normal = np.array([-np.cos(slope), 0.0, np.sin(slope)])
    lever["pelvis"] = HIP_MIDPOINT_TO_PELVIS_ORIGIN_M + np.array(
        [-0.12, rng.uniform(-0.01, 0.01), 0.02]
    )
    mounting["pelvis"] = _mounting_on_skin(sacrum_normal, rng, z_normal_p=0.7)
    sta: dict[str, SoftTissue] = {}
    for role in ("thigh_left", "thigh_right"):
        around = rng.uniform(-np.pi, np.pi)  # 0 = anterior, pi/2 = towards the left
        radius = rng.uniform(0.06, 0.085)
        depth = rng.uniform(0.18, 0.25)
        lever[role] = np.array([radius * np.cos(around), radius * np.sin(around), -depth])
        taper = np.deg2rad(rng.uniform(0.0, 8.0))  # the thigh narrows towards the knee
        normal = np.array(
            [np.cos(taper) * np.cos(around), np.cos(taper) * np.sin(around), np.sin(taper)]
        )
        mounting[role] = _mounting_on_skin(normal, rng, z_normal_p=0.5)
        axis = _unit(np.array([0.0, 0.0, 1.0]) + 0.3 * rng.normal(size=3))
        gain = np.deg2rad(rng.uniform(2.0, 4.0)) / (np.pi / 2) * rng.choice([-1.0, 1.0])
        slide = _unit(rng.normal(size=3)) * rng.uniform(0.003, 0.008) / (np.pi / 2)
        if soft_tissue:
            sta[role] = SoftTissue(axis, float(gain), slide)
    return BodyModel(heading0, origin, lever, mounting, sta)


# --- exact motion ----------------------------------------------------------------------------


@dataclass
class SensorMotion:
    """Motion of one sensor at N instants (earth frame z up).

    Attributes
    ----------
    quat : (N, 4) sensor -> earth.
    position_m : (N, 3) sensor position.
    acc_m_s2 : (N, 3) kinematic acceleration of the sensor (without gravity), earth frame.
    """

    quat: FloatArray
    position_m: FloatArray
    acc_m_s2: FloatArray


def _coordinate_axis(axis: FloatArray) -> tuple[int, float] | None:
    """``(index, sign)`` if ``axis`` is +-x, +-y or +-z, else None."""
    k = int(np.argmax(np.abs(axis)))
    if abs(abs(axis[k]) - 1.0) < 1e-12:
        return k, float(np.sign(axis[k]))
    return None


def _rotated_axis(q: FloatArray, k: int) -> FloatArray:
    """Coordinate axis ``k`` of the child frame in parent coordinates (column k of R(q))."""
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    out = np.empty((len(q), 3))
    if k == 0:
        out[:, 0] = 1.0 - 2.0 * (y * y + z * z)
        out[:, 1] = 2.0 * (x * y + w * z)
        out[:, 2] = 2.0 * (x * z - w * y)
    elif k == 1:
        out[:, 0] = 2.0 * (x * y - w * z)
        out[:, 1] = 1.0 - 2.0 * (x * x + z * z)
        out[:, 2] = 2.0 * (y * z + w * x)
    else:
        out[:, 0] = 2.0 * (x * z + w * y)
        out[:, 1] = 2.0 * (y * z - w * x)
        out[:, 2] = 1.0 - 2.0 * (x * x + y * y)
    return out


def _times_axis_rotation(q: FloatArray, k: int, angle_rad: FloatArray) -> FloatArray:
    """``q * exp(angle e_k)`` for a rotation about child coordinate axis ``k`` (sparse qmul)."""
    c, s = np.cos(0.5 * angle_rad), np.sin(0.5 * angle_rad)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    out = np.empty_like(q)
    if k == 0:
        out[:, 0] = w * c - x * s
        out[:, 1] = x * c + w * s
        out[:, 2] = y * c + z * s
        out[:, 3] = z * c - y * s
    elif k == 1:
        out[:, 0] = w * c - y * s
        out[:, 1] = x * c - z * s
        out[:, 2] = y * c + w * s
        out[:, 3] = z * c + x * s
    else:
        out[:, 0] = w * c - z * s
        out[:, 1] = x * c + y * s
        out[:, 2] = y * c - x * s
        out[:, 3] = z * c + w * s
    return out


def _chain(
    q: FloatArray, omega: FloatArray, alpha: FloatArray, factors: list[tuple[FloatArray, Jet]]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Append elementary rotations (child-frame axis, angle jet) to an orientation.

    Returns the orientation, angular velocity (rad/s) and angular acceleration (rad/s^2),
    both in earth coordinates: ``omega += da * w`` and ``alpha += dda * w + da * (omega x w)``
    with ``w`` the factor's axis in earth coordinates.
    """
    for axis, angle in factors:
        coordinate = _coordinate_axis(axis)
        if coordinate is None:
            w = qrotate(q, axis)
            q = qmul(q, quat_from_axis_angle(axis, angle.value))
        else:
            k, sign = coordinate
            w = _rotated_axis(q, k) * sign
            q = _times_axis_rotation(q, k, sign * angle.value)
        alpha = alpha + angle.d2[:, None] * w + angle.d1[:, None] * _cross(omega, w)
        omega = omega + angle.d1[:, None] * w
    return q, omega, alpha


def _cross(a: FloatArray, b: FloatArray) -> FloatArray:
    """Row-wise cross product of (N, 3) arrays (faster than ``np.cross`` for this shape)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


def _rigid(alpha: FloatArray, omega: FloatArray, r: FloatArray) -> FloatArray:
    """Acceleration of a point at earth-frame lever ``r`` on a rotating body (no base term)."""
    return _cross(alpha, r) + _cross(omega, _cross(omega, r))


def sensor_motion(
    script: MotionScript, body: BodyModel, role: str, t_s: FloatArray
) -> SensorMotion:
    """Exact orientation, position and acceleration of the sensor of ``role`` at sorted ``t_s``."""
    t_s = np.asarray(t_s, dtype=float)
    n = len(t_s)
    side = role.removeprefix("thigh_") if role != "pelvis" else None
    channels: tuple[str, ...] = (*POSITION_CHANNELS, "heading", *PELVIS_CHANNELS)
    if side is not None:
        channels = (*channels, *HIP_CHANNELS[side])
    jets = script.evaluate(t_s, channels)
    z_axis = np.array([0.0, 0.0, 1.0])
    q0 = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    zeros = np.zeros((n, 3))
    heading = jets["heading"] + body.heading0_rad
    pelvis = [(axis, jets[PELVIS_CHANNELS[i]]) for i, axis in pelvis_factors()]
    q_p, omega_p, alpha_p = _chain(q0, zeros, zeros, [(z_axis, heading), *pelvis])
    # Hip midpoint in the world: start frame rotated by the static heading.
    c0, s0 = np.cos(body.heading0_rad), np.sin(body.heading0_rad)
    px, py, pz = (jets[name] for name in POSITION_CHANNELS)
    anchor = body.origin_m + np.column_stack(
        (c0 * px.value - s0 * py.value, s0 * px.value + c0 * py.value, pz.value)
    )
    acc = np.column_stack((c0 * px.d2 - s0 * py.d2, s0 * px.d2 + c0 * py.d2, pz.d2))
    if side is None:
        r = qrotate(q_p, body.lever_m["pelvis"])
        q_sensor = qmul(q_p, body.mounting["pelvis"])
        return SensorMotion(q_sensor, anchor + r, acc + _rigid(alpha_p, omega_p, r))
    r_hip = qrotate(q_p, body.hip_centre_m(side))
    hip = [(axis, jets[HIP_CHANNELS[side][i]]) for i, axis in hip_factors(side)]
    q_t, omega_t, alpha_t = _chain(q_p, omega_p, alpha_p, hip)
    lever = np.broadcast_to(body.lever_m[role], (n, 3))
    sta = body.soft_tissue.get(role)
    q_skin = q_t
    slide_d1 = slide_d2 = zeros
    if sta is not None:
        flexion = jets[HIP_CHANNELS[side][0]]
        lever = lever + flexion.value[:, None] * sta.slide_m_per_rad
        slide_d1 = qrotate(q_t, flexion.d1[:, None] * sta.slide_m_per_rad)
        slide_d2 = qrotate(q_t, flexion.d2[:, None] * sta.slide_m_per_rad)
        q_skin, _, _ = _chain(q_t, zeros, zeros, [(sta.axis, flexion * sta.gain_rad_per_rad)])
    r = qrotate(q_t, lever)
    acc = (
        acc
        + _rigid(alpha_p, omega_p, r_hip)
        + _rigid(alpha_t, omega_t, r)
        + 2.0 * _cross(omega_t, slide_d1)
        + slide_d2
    )
    return SensorMotion(qmul(q_skin, body.mounting[role]), anchor + r_hip + r, acc)
