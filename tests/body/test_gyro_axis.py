"""In-field gyroscope calibration of the thigh sensors' flexion axis (hipsense.body.gyro_axis)."""

import dataclasses

import numpy as np
import pytest

import hipsim
from hipsense.body import gyro_axis
from hipsense.body.calibration import Calibration
from hipsense.body.frames import matrix_to_quat, qconj, qmul, qrotate, quat_from_axis_angle
from hipsense.body.gyro_axis import estimate_gyro_axis_correction
from hipsense.fusion import make_filter
from hipsense.pipeline import HipPipeline, process_session
from hipsense.types import SampleBlock
from hipsim.accuracy import issue_error_model
from hipsim.imu import ImuErrors

THIGHS = ("thigh_left", "thigh_right")
RATE_HZ = 100.0


def _flexion_response(session, role, correction=None):
    """(scale error, axis error deg) of the gyroscope's reading of a unit flexion rate."""
    y = qrotate(qconj(np.asarray(session.mounting[role])), np.array([0.0, 1.0, 0.0]))
    reading = session.error_draws[role].gyro_matrix @ y
    if correction is not None:
        reading = np.asarray(correction) @ reading
    e = reading - y
    scale = float(e @ y)
    return scale, float(np.degrees(np.linalg.norm(e - scale * y)))


def _lifts(n_lifts=3, period_s=4.0, rest_s=3.0):
    """Synthetic knee lifts: rotation about a horizontal sensor axis, exact gravity."""
    t = np.arange(0.0, rest_s + n_lifts * period_s + rest_s, 1.0 / RATE_HZ)
    phase = np.clip((t - rest_s) / period_s, 0.0, n_lifts)
    amplitude_rad = np.radians(95.0)
    angle = 0.5 * amplitude_rad * (1.0 - np.cos(2.0 * np.pi * phase))
    rate = 0.5 * amplitude_rad * np.sin(2.0 * np.pi * phase) * 2.0 * np.pi / period_s
    rate[(phase <= 0) | (phase >= n_lifts)] = 0.0
    axis = np.array([0.3, 0.9, 0.1])
    axis /= np.linalg.norm(axis)
    # The sensor starts tilted; its lift axis is horizontal in the earth frame.
    z = np.cross(axis, np.array([1.0, 0.0, 0.0]))
    z /= np.linalg.norm(z)
    x = np.cross(axis, z)
    q_start = qconj(matrix_to_quat(np.vstack((x, axis, z))))  # sensor -> earth
    q = qmul(q_start[None, :], quat_from_axis_angle(axis, angle))
    acc = qrotate(qconj(q), np.array([0.0, 0.0, 9.81]))
    return t, rate[:, None] * axis, acc, axis, q_start


def test_fit_recovers_scale_and_axis_of_an_exact_rotation():
    _, w_true, acc, axis, q_start = _lifts()
    other = np.cross(axis, [0.0, 0.0, 1.0])
    other /= np.linalg.norm(other)
    m = np.eye(3) + 0.012 * np.outer(axis, axis) + np.radians(0.8) * np.outer(other, axis)
    bias = np.array([0.004, -0.003, 0.002])
    gyr = w_true @ m.T + bias
    fit = estimate_gyro_axis_correction(gyr, acc, RATE_HZ, m @ axis, bias, q_start, 9.81)
    assert fit.plausible
    corrected = fit.correction @ m @ axis
    assert np.max(np.abs(corrected - axis)) < 2e-4, corrected - axis
    assert fit.scale_correction == pytest.approx(1 / 1.012 - 1, abs=3e-4)
    assert fit.axis_correction_deg == pytest.approx(0.8, abs=0.03)
    assert np.max(np.abs(fit.bias_change_rad_s)) < 1e-4


def test_fit_of_an_exact_gyroscope_changes_nothing():
    _, w_true, acc, axis, q_start = _lifts()
    fit = estimate_gyro_axis_correction(w_true, acc, RATE_HZ, axis, np.zeros(3), q_start, 9.81)
    assert abs(fit.scale_correction) < 2e-4
    assert fit.axis_correction_deg < 0.02
    assert fit.residual_m_s2 < 0.01


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_calibration_corrects_the_simulated_flexion_scale(seed):
    # The issue's error model: each gyroscope axis off by up to 0.5 % and 0.5 deg, plus bias,
    # bias walk, noise, jitter and unsynchronised sensors.
    session = hipsim.simulate_session("calibration", seed=seed, errors=issue_error_model())
    cal = process_session(session.samples).calibration
    for role in THIGHS:
        seg = cal.segments[role]
        assert seg.gyro_correction is not None, cal.warnings
        before, _ = _flexion_response(session, role)
        after, _ = _flexion_response(session, role, seg.gyro_correction)
        assert abs(after) < 0.0025, (role, before, after)
        assert seg.quality["gyro_fit_residual_m_s2"] < 0.05


def test_calibration_leaves_an_exact_gyroscope_alone():
    errors = dataclasses.replace(
        ImuErrors.none(),
        gyro_noise_rad_s=issue_error_model().gyro_noise_rad_s,
        acc_noise_m_s2=issue_error_model().acc_noise_m_s2,
    )
    session = hipsim.simulate_session("calibration", seed=2, errors=errors)
    cal = process_session(session.samples).calibration
    for role in THIGHS:
        after, axis_deg = _flexion_response(session, role, cal.segments[role].gyro_correction)
        assert abs(after) < 0.0015 and axis_deg < 0.35, (role, after, axis_deg)


def test_implausible_fit_is_not_applied(monkeypatch):
    session = hipsim.simulate_session("calibration", seed=1, errors=issue_error_model())
    monkeypatch.setattr(gyro_axis, "MAX_SCALE_CORRECTION", 1e-6)
    cal = process_session(session.samples).calibration
    for role in THIGHS:
        assert cal.segments[role].gyro_correction is None
        assert "gyro_scale_correction_pct" in cal.segments[role].quality
    assert sum("gyroscope error" in w for w in cal.warnings) == 2
    assert cal.segments["pelvis"].gyro_correction is None


def test_correction_survives_serialisation_and_old_files_load_without_it():
    session = hipsim.simulate_session("calibration", seed=2, errors=issue_error_model())
    cal = process_session(session.samples).calibration
    d = cal.to_dict()
    assert Calibration.from_dict(d).to_dict() == d
    pipe = HipPipeline({r: 100.0 for r in cal.segments}, calibration=cal)
    for role in THIGHS:
        got = pipe.filters[role].gyro_correction
        assert got is not None and np.array_equal(got, cal.segments[role].gyro_correction)
    for seg in d["segments"].values():
        del seg["gyro_correction"]  # written before the correction existed
    old = Calibration.from_dict(d)
    pipe = HipPipeline({r: 100.0 for r in old.segments}, calibration=old)
    assert all(f.gyro_correction is None for f in pipe.filters.values())


def test_filter_correction_equals_corrected_input_and_is_block_split_invariant():
    rng = np.random.default_rng(7)
    n = 1500
    t = np.arange(n) / RATE_HZ
    gyr = np.column_stack((np.sin(t), 0.5 * np.cos(2 * t), 0.1 * t)) + rng.normal(0, 0.01, (n, 3))
    acc = np.array([0.0, 0.0, 9.81]) + rng.normal(0, 0.05, (n, 3))
    k = np.eye(3) + np.outer([0.004, -0.006, 0.002], [0.2, 0.95, 0.1])
    whole = make_filter("vqf", RATE_HZ)
    whole.gyro_correction = k
    q_whole = whole.process(SampleBlock("thigh_left", t, acc, gyr)).quat
    pre = make_filter("vqf", RATE_HZ).process(SampleBlock("thigh_left", t, acc, gyr @ k.T)).quat
    assert np.max(np.abs(q_whole - pre)) < 1e-12
    split = make_filter("vqf", RATE_HZ)
    split.gyro_correction = k
    block = SampleBlock("thigh_left", t, acc, gyr)
    cuts = [0, 1, 5, 333, 334, 1000, n]
    q_split = np.concatenate(
        [split.process(block.slice(a, b)).quat for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    )
    assert np.array_equal(q_split, q_whole)
    plain = make_filter("vqf", RATE_HZ).process(block).quat
    assert np.max(np.abs(plain - q_whole)) > 1e-4
