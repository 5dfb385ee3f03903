"""Every filter behind the one interface: frames, signs, block invariance, errors."""

import numpy as np
import pytest

from hipsense.body.frames import qconj, qmul, qnormalize, qrotate, quat_from_rotvec
from hipsense.errors import ConfigurationError
from hipsense.fusion import FILTERS, estimate_orientation, make_filter
from hipsense.types import SampleBlock

RATE_HZ = 100.0


def _rotating_sensor(n: int = 2000):
    """A sensor turning about a tilted axis at constant rate, exact samples."""
    rng = np.random.default_rng(3)
    q0 = qnormalize(rng.normal(size=4))
    w_sensor = np.array([0.3, -0.2, 0.5])  # rad/s in sensor coordinates
    step = quat_from_rotvec(w_sensor / RATE_HZ)
    q = np.empty((n, 4))
    q[0] = q0
    for k in range(1, n):
        q[k] = qmul(q[k - 1], step)
    acc = qrotate(qconj(q), np.array([0.0, 0.0, 9.81]))
    gyr = np.tile(w_sensor, (n, 1))
    return q, gyr, acc


@pytest.mark.parametrize("method", sorted(FILTERS))
def test_inclination_follows_truth(method):
    q_true, gyr, acc = _rotating_sensor()
    q = estimate_orientation(gyr, acc, RATE_HZ, method=method)
    assert q.shape == (len(gyr), 4)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0)
    # Sensor -> earth, z up: the estimated and true "up" agree (heading is free in 6D).
    up_est = qrotate(qconj(q), np.array([0.0, 0.0, 1.0]))
    up_true = qrotate(qconj(q_true), np.array([0.0, 0.0, 1.0]))
    err_deg = np.degrees(np.arccos(np.clip(np.sum(up_est * up_true, axis=1), -1, 1)))
    assert np.max(err_deg[200:]) < 1.0


@pytest.mark.parametrize("method", sorted(FILTERS))
def test_blocks_give_same_result(method):
    _, gyr, acc = _rotating_sensor(600)
    t = np.arange(len(gyr)) / RATE_HZ
    whole = make_filter(method, RATE_HZ).process(SampleBlock("pelvis", t, acc, gyr)).quat
    filt = make_filter(method, RATE_HZ)
    parts = [
        filt.process(SampleBlock("pelvis", t[i : i + 7], acc[i : i + 7], gyr[i : i + 7])).quat
        for i in range(0, len(t), 7)
    ]
    assert np.array_equal(np.concatenate(parts), whole)


def test_unknown_filter_and_bad_shapes():
    with pytest.raises(ConfigurationError, match="unknown filter 'kalman'"):
        make_filter("kalman", RATE_HZ)
    with pytest.raises(ConfigurationError, match="positive"):
        make_filter("vqf", 0.0)
    with pytest.raises(ConfigurationError, match=r"\(N, 3\)"):
        estimate_orientation(np.zeros((5, 2)), np.zeros((5, 3)), RATE_HZ)


def test_lever_arm_compensation_is_block_split_invariant():
    rng = np.random.default_rng(5)
    n = 2000
    t = np.arange(n) / 100.0
    gyr = np.column_stack((np.sin(t), 0.5 * np.cos(2 * t), 0.2 * t / t[-1])) + rng.normal(
        0, 0.01, (n, 3)
    )
    acc = np.array([0.0, 0.0, 9.81]) + rng.normal(0, 0.05, (n, 3))
    block = SampleBlock("thigh_left", t, acc, gyr)
    lever = np.array([0.05, 0.07, -0.2])
    whole = make_filter("vqf", 100.0)
    whole.lever_arm_m = lever
    q_whole = whole.process(block).quat
    split = make_filter("vqf", 100.0)
    split.lever_arm_m = lever
    cuts = [0, 1, 2, 7, 300, 301, 1200, n]
    q_split = np.concatenate(
        [split.process(block.slice(a, b)).quat for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    )
    assert np.max(np.abs(q_split - q_whole)) <= 1e-12
    plain = make_filter("vqf", 100.0).process(block).quat
    assert np.max(np.abs(plain - q_whole)) > 1e-4  # the compensation did something


def test_lever_arm_acceleration_is_the_rigid_body_term():
    filt = make_filter("vqf", 100.0)
    filt.lever_arm_m = np.array([0.0, 0.0, -0.2])
    w = np.tile([2.0, 0.0, 0.0], (50, 1))  # constant: no tangential term
    acc = filt._lever_arm_acc(w)
    assert acc is not None
    # Centripetal acceleration w^2 r towards the axis: +0.8 m/s^2 along z.
    assert np.allclose(acc[3:], [0.0, 0.0, 0.8])
    filt.lever_arm_m = None
    assert filt._lever_arm_acc(w) is None
