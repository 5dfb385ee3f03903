"""The compiled kernels compute exactly the reference formulas of ``hipsense.body.frames``."""

from __future__ import annotations

import numpy as np
import pytest

from hipsense import kernels
from hipsense.body.frames import (
    HIP_SIGNS,
    apply_quat_matrix,
    hip_angles_from_quat,
    nlerp,
    pelvis_angles_from_quat,
    qconj,
    qmul,
    qnormalize,
    quat_to_matrix,
    sandwich_matrices,
    sandwich_matrix,
    thigh_inclination,
)

N = 2000


def _random_quats(rng: np.random.Generator, n: int = N) -> np.ndarray:
    return qnormalize(rng.normal(size=(n, 4)))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(5)


def test_apply_matrices_equals_the_sandwich_products_per_interval(
    rng: np.random.Generator,
) -> None:
    q = _random_quats(rng)
    lefts, right = _random_quats(rng, 3), _random_quats(rng, 1)[0]
    bounds = np.array([0, 700, 700, 2000])  # an empty interval in the middle
    out = np.empty_like(q)
    kernels.apply_matrices(q, sandwich_matrices(lefts, right), bounds, out)
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        np.testing.assert_allclose(out[lo:hi], qmul(qmul(lefts[i], q[lo:hi]), right), atol=1e-12)
        m = sandwich_matrix(lefts[i], right)
        np.testing.assert_allclose(out[lo:hi], apply_quat_matrix(q[lo:hi], m), atol=1e-14)
    with pytest.raises(ValueError, match="cover"):
        kernels.apply_matrices(q, sandwich_matrices(lefts, right), np.array([0, 5, 9, 1999]), out)


def test_pelvis_angles_equal_the_reference(rng: np.random.Generator) -> None:
    q = _random_quats(rng)
    cols = [np.empty(N) for _ in range(3)]
    kernels.pelvis_angles_deg(q, *cols)
    tilt, obliquity, rotation = pelvis_angles_from_quat(q)
    for got, ref in zip(cols, (tilt, obliquity, rotation), strict=True):
        np.testing.assert_allclose(got, np.degrees(ref), atol=1e-10)


@pytest.mark.parametrize("side", ["left", "right"])
def test_hip_angles_and_inclination_equal_the_reference(
    rng: np.random.Generator, side: str
) -> None:
    pelvis, thigh = _random_quats(rng), _random_quats(rng)
    cols = [np.empty(N) for _ in range(4)]
    kernels.hip_angles_deg(pelvis, thigh, *HIP_SIGNS[side], *cols)
    flex, abd, rot = hip_angles_from_quat(side, qmul(qconj(pelvis), thigh))
    incl = thigh_inclination(thigh, pelvis)
    for got, ref in zip(cols, (flex, abd, rot, incl), strict=True):
        np.testing.assert_allclose(got, np.degrees(ref), atol=1e-10)


def test_resample_role_interpolates_and_marks_holes(rng: np.random.Generator) -> None:
    time_s = np.cumsum(rng.uniform(0.008, 0.012, N))
    time_s[1200:] += 0.4  # a hole longer than max_gap_s
    quat = _random_quats(rng)
    # Consecutive samples close together, with sign flips (the same rotation): nlerp must
    # take the short way.
    quat = qnormalize(np.cumsum(quat * 0.05, axis=0) + [1.0, 0, 0, 0])
    quat[::7] *= -1
    gyr, acc = rng.normal(size=(N, 3)), rng.normal(size=(N, 3))
    rest = rng.random(N) < 0.7
    grid = np.arange(time_s[0] - 0.005, time_s[-1], 0.01)
    out_q, out_g, out_a = (
        np.empty((len(grid), 4)),
        np.empty((len(grid), 3)),
        np.empty((len(grid), 3)),
    )
    out_r = np.empty(len(grid), dtype=bool)
    last = kernels.resample_role(
        time_s, quat, gyr, acc, rest, grid, 0.25, out_q, out_g, out_a, out_r
    )

    i = np.maximum(np.searchsorted(time_s, grid, side="right") - 1, 0)
    j = np.minimum(i + 1, N - 1)
    frac = np.clip((grid - time_s[i]) / (time_s[j] - time_s[i]), 0.0, 1.0)
    hole = (time_s[j] - time_s[i] > 0.25) | (grid < time_s[0])
    ok = ~hole
    assert last == i[-1]
    assert 40 <= hole.sum() <= 43 and hole[0]  # the 0.4 s hole and the point before t0
    np.testing.assert_allclose(out_q[ok], nlerp(quat[i], quat[j], frac)[ok], atol=1e-14)
    near = np.where(frac < 0.5, i, j)
    np.testing.assert_array_equal(out_g[ok], gyr[near][ok])
    np.testing.assert_array_equal(out_a[ok], acc[near][ok])
    np.testing.assert_array_equal(out_r, rest[i] & rest[j] & ok)
    assert np.isnan(out_q[hole]).all() and np.isnan(out_g[hole]).all()


def test_standing_role_applies_every_condition(rng: np.random.Generator) -> None:
    q = _random_quats(rng)
    gyr = rng.normal(scale=0.05, size=(N, 3))
    acc = rng.normal(size=(N, 3)) * 0.1 + [0.0, 0.0, 9.81]
    gyr[5] = np.nan
    z_seg = np.array([0.0, 0.6, 0.8])
    standing = np.ones(N, dtype=bool)
    standing[3] = False
    kernels.standing_role(gyr, acc, q, z_seg, 0.07, 9.81, 0.3, 0.2, standing)
    up = quat_to_matrix(q)[:, 2, :]  # earth z in sensor coordinates (third row)
    expected = (
        (np.linalg.norm(gyr, axis=1) < 0.07)
        & (np.abs(np.linalg.norm(acc, axis=1) - 9.81) < 0.3)
        & (up @ z_seg > 0.2)
    )
    expected[3] = False
    np.testing.assert_array_equal(standing, expected)
    assert 0.1 * N < standing.sum() < 0.9 * N


def test_lever_arm_acc_equals_the_cross_products(rng: np.random.Generator) -> None:
    gyr = rng.normal(size=(N, 3))
    r = np.array([0.08, -0.03, -0.21])
    lag, rate_hz = 3, 100.0
    got = kernels.lever_arm_acc(gyr, lag, rate_hz, r)
    w = gyr[lag:]
    dw = (gyr[lag:] - gyr[:-lag]) * (rate_hz / lag)
    expected = np.cross(w, np.cross(w, r)) + np.cross(dw, r)
    assert got.shape == (N - lag, 3)
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_kernels_refuse_outputs_they_cannot_fill() -> None:
    q = np.tile([1.0, 0.0, 0.0, 0.0], (4, 1))
    with pytest.raises(ValueError, match="C-contiguous"):
        kernels.apply_matrices(q, np.eye(4)[None], np.array([0, 4]), np.empty((4, 8))[:, ::2])
    with pytest.raises(ValueError, match="shape"):
        kernels.pelvis_angles_deg(q, np.empty(3), np.empty(4), np.empty(4))
