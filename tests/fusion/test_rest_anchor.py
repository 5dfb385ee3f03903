"""Rest anchoring of the whole-session smoother, against simulator ground truth."""

from __future__ import annotations

import numpy as np
import pytest

import hipsim
from hipsense.body.frames import qconj, qmul, qrotate, quat_from_rotvec
from hipsense.fusion import estimate_orientation
from hipsense.fusion.rest_anchor import anchor_at_rest, rest_corrections, still_samples
from hipsim.accuracy import issue_error_model


def _inclination_error_deg(q: np.ndarray, q_true: np.ndarray) -> np.ndarray:
    d = qmul(q, qconj(q_true))
    return np.degrees(2 * np.arccos(np.clip(np.sqrt(d[:, 0] ** 2 + d[:, 3] ** 2), 0, 1)))


def test_a_rest_is_anchored_exactly_and_heading_is_kept() -> None:
    rate_hz = 100.0
    n = 600
    rng = np.random.default_rng(4)
    acc = np.tile([0.0, 0.0, 9.81], (n, 1)) + rng.normal(0, 0.01, (n, 3))
    gyr = rng.normal(0, 0.002, (n, 3))
    # An estimate 0.8 deg off in inclination and 30 deg in heading.
    q = np.tile(quat_from_rotvec(np.array([np.deg2rad(0.8), 0.0, 0.0])), (n, 1))
    q = qmul(quat_from_rotvec(np.array([0.0, 0.0, np.deg2rad(30.0)]))[None], q)
    fixed = anchor_at_rest(q, acc, gyr, rate_hz)
    up = qrotate(fixed, np.tile([0.0, 0.0, 1.0], (n, 1)))
    assert np.degrees(np.arccos(np.clip(up[:, 2], -1, 1))).max() < 0.01
    # The correction turns about a horizontal axis only: the heading stays 30 deg.
    x = qrotate(fixed, np.tile([1.0, 0.0, 0.0], (n, 1)))
    assert np.degrees(np.arctan2(x[:, 1], x[:, 0])).mean() == pytest.approx(30.0, abs=0.05)


def test_movement_is_not_taken_for_rest() -> None:
    rate_hz = 100.0
    t = np.arange(1000) / rate_hz
    gyr = np.zeros((1000, 3))
    gyr[:, 1] = np.deg2rad(5.0) * np.sin(2 * np.pi * 0.5 * t)  # slow rotation: not still
    acc = np.tile([0.0, 0.0, 9.81], (1000, 1))
    acc[:, 0] += 0.3 * np.sin(2 * np.pi * 1.0 * t)  # and 0.3 m/s^2 of linear acceleration
    still = still_samples(gyr, acc, rate_hz)
    q = np.tile([1.0, 0.0, 0.0, 0.0], (1000, 1))
    assert not rest_corrections(q, acc, still, rate_hz)
    assert anchor_at_rest(q, acc, gyr, rate_hz) is q
    # The same signals with the movement stopped for 2 s are anchored there.
    gyr[400:600] = 0.0
    acc[400:600] = [0.0, 0.0, 9.81]
    anchors = rest_corrections(q, acc, still_samples(gyr, acc, rate_hz), rate_hz)
    assert len(anchors) == 1 and 380 <= anchors[0][0] <= 420 and 580 <= anchors[0][1] <= 620


def test_a_short_stillness_between_fast_movements_is_anchored() -> None:
    """Between two bridge reps the thigh rests 1.3 s after swinging at 100 deg/s: the rest is
    found to within the averaging window at each end, long enough to anchor."""
    rate_hz = 200.0
    n = 1200
    gyr = np.zeros((n, 3))
    gyr[:, 1] = np.deg2rad(100.0)
    still_from, still_to = 400, 400 + round(1.3 * rate_hz)
    gyr[still_from:still_to] = 0.0
    rng = np.random.default_rng(1)
    gyr += rng.normal(0.0, np.deg2rad(0.5), gyr.shape)  # per-sample noise at 200 Hz
    acc = np.tile([0.0, 0.0, 9.81], (n, 1)) + rng.normal(0.0, 0.01, (n, 3))
    acc[:still_from, 0] += 1.0
    acc[still_to:, 0] += 1.0
    q = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    anchors = rest_corrections(q, acc, still_samples(gyr, acc, rate_hz), rate_hz)
    assert len(anchors) == 1
    start, stop, _ = anchors[0]
    assert still_from <= start <= still_from + 0.15 * rate_hz
    assert still_to - 0.15 * rate_hz <= stop <= still_to


def test_a_steady_acceleration_without_rotation_is_not_a_rest() -> None:
    """Standing up from half-kneeling: the pelvis accelerates for 0.6 s without rotating."""
    rate_hz = 100.0
    gyr = np.zeros((1000, 3))
    gyr[:, 1] = np.deg2rad(20.0)  # moving before and after
    gyr[400:460] = 0.0
    acc = np.tile([0.0, 0.0, 9.81], (1000, 1))
    acc[400:460, 0] = 0.4  # reads as 2.3 deg of tilt
    q = np.tile([1.0, 0.0, 0.0, 0.0], (1000, 1))
    assert not rest_corrections(q, acc, still_samples(gyr, acc, rate_hz), rate_hz)


def test_smoothing_with_rests_beats_offline_vqf_through_walking() -> None:
    """Reverse walking with turns (gyro bias up to 0.5 deg/s, misalignment): every sensor's
    inclination from the smoother with rest anchoring, against offlineVQF alone."""
    session = hipsim.simulate_session("reverse_walking", seed=2, errors=issue_error_model())
    from vqf import offlineVQF

    for role, block in session.samples.items():
        truth = session.sensor_quat_at(role, block.time_s)
        ours = estimate_orientation(block.gyr_rad_s, block.acc_m_s2, 100.0, offline=True)
        plain = offlineVQF(
            np.ascontiguousarray(block.gyr_rad_s),
            np.ascontiguousarray(block.acc_m_s2),
            None,
            0.01,
        )["quat6D"]
        e_ours = _inclination_error_deg(ours, truth)
        e_plain = _inclination_error_deg(plain, truth)
        rms_ours = float(np.sqrt(np.mean(e_ours**2)))
        rms_plain = float(np.sqrt(np.mean(e_plain**2)))
        assert rms_ours < 0.2, role
        assert rms_ours < 0.6 * rms_plain, role
