"""Angle conventions: round trips and the signs ARCHITECTURE.md promises."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hipsense.body import frames as F

angles = st.floats(-1.4, 1.4)


@given(angles, st.floats(-0.7, 0.7), st.floats(-1.0, 1.0), st.sampled_from(["left", "right"]))
def test_hip_angles_round_trip(flex, abd, rot, side):
    q = F.hip_quat_from_angles(side, flex, abd, rot)
    got = F.hip_angles_from_quat(side, q)
    assert np.allclose(got, (flex, abd, rot), atol=1e-9)


@given(st.floats(-1.5, 1.5), st.floats(-1.0, 1.0), st.floats(-3.0, 3.0))
def test_pelvis_angles_round_trip(tilt, obl, rot):
    got = F.pelvis_angles_from_quat(F.pelvis_quat_from_angles(tilt, obl, rot))
    assert np.allclose(got, (tilt, obl, rot), atol=1e-7)


@pytest.mark.parametrize("side,left_sign", [("left", 1.0), ("right", -1.0)])
def test_hip_signs(side, left_sign):
    knee = np.array([0.0, 0.0, -1.0])
    # Flexion moves the knee forward (+x) on both sides.
    assert F.qrotate(F.hip_quat_from_angles(side, 0.5, 0, 0), knee)[0] > 0.4
    # Abduction moves the knee away from the midline: left knee to +y, right knee to -y.
    assert left_sign * F.qrotate(F.hip_quat_from_angles(side, 0, 0.3, 0), knee)[1] > 0.25
    # Internal rotation turns the front of the thigh towards the midline.
    front = F.qrotate(F.hip_quat_from_angles(side, 0, 0, 0.3), np.array([1.0, 0, 0]))
    assert -left_sign * front[1] > 0.25


def test_pelvis_signs():
    x, y = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    assert F.qrotate(F.pelvis_quat_from_angles(0.3, 0, 0), x)[2] < -0.25  # anterior tilt
    assert F.qrotate(F.pelvis_quat_from_angles(0, 0.3, 0), y)[2] > 0.25  # left side rises
    assert F.qrotate(F.pelvis_quat_from_angles(0, 0, 0.3), x)[1] > 0.25  # turns to the left


@given(st.floats(-1.2, 1.2), st.floats(-0.6, 1.5), st.floats(-3.1, 3.1))
def test_thigh_inclination_is_flexion_minus_tilt(tilt, flex, heading):
    pelvis = F.qmul(F.rot_z(heading), F.pelvis_quat_from_angles(tilt, 0.0, 0.0))
    thigh = F.qmul(pelvis, F.hip_quat_from_angles("left", flex, 0.0, 0.0))
    got = F.thigh_inclination(thigh, pelvis)
    assert np.isclose(np.angle(np.exp(1j * (got - (flex - tilt)))), 0.0, atol=1e-9)


def test_quaternion_helpers_agree():
    rng = np.random.default_rng(1)
    q = F.qnormalize(rng.normal(size=(200, 4)))
    v = rng.normal(size=(200, 3))
    via_matrix = np.einsum("nij,nj->ni", F.quat_to_matrix(q), v)
    assert np.allclose(F.qrotate(q, v), via_matrix)
    assert np.allclose(F.matrix_to_quat(F.quat_to_matrix(q)), q)
    rv = rng.uniform(-1.5, 1.5, size=(200, 3))
    assert np.allclose(F.quat_to_rotvec(F.quat_from_rotvec(rv)), rv)
    mid = F.nlerp(q[:-1], q[1:], np.full(199, 0.5))
    a = F.quat_to_rotvec(F.qmul(F.qconj(q[:-1]), mid))
    b = F.quat_to_rotvec(
        F.qmul(F.qconj(mid), np.where(np.sum(q[:-1] * q[1:], 1)[:, None] < 0, -q[1:], q[1:]))
    )
    assert np.allclose(a, b, atol=1e-9)


def test_sandwich_matrix_equals_two_products():
    rng = np.random.default_rng(4)
    q = F.qnormalize(rng.normal(size=(50, 4)))
    a, b = F.qnormalize(rng.normal(size=4)), F.qnormalize(rng.normal(size=4))
    m = F.sandwich_matrix(a, b)
    assert np.allclose(F.apply_quat_matrix(q, m), F.qmul(F.qmul(a, q), b))
    whole = F.apply_quat_matrix(q, m)
    assert np.array_equal(
        np.concatenate([F.apply_quat_matrix(q[i : i + 3], m) for i in range(0, 50, 3)]), whole
    )
