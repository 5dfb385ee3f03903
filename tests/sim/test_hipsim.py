"""Simulator: exact physics, ground truth consistent with frames, seeded error model, CSVs."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from hipsense.body.frames import (
    hip_angles_from_quat,
    pelvis_quat_from_angles,
    qconj,
    qmul,
    qrotate,
    quat_from_axis_angle,
    quat_from_rotvec,
    quat_to_rotvec,
    rot_z,
)
from hipsense.types import PELVIS_COLUMNS, ROLES, hip_columns, thigh_inclination_column
from hipsim import (
    SCENARIOS,
    ImuErrors,
    SimSession,
    simulate_session,
    write_markers_csv,
    write_samples_csv,
    write_truth_csv,
)
from hipsim.kinematics import (
    _rotated_axis,
    _times_axis_rotation,
    hip_factors,
    pelvis_factors,
    sensor_motion,
)
from hipsim.scenarios import CALIBRATION_LABELS

GRAVITY = np.array([0.0, 0.0, 9.81])


@cache
def exact(scenario: str, seed: int = 3, soft_tissue: bool = False) -> SimSession:
    return simulate_session(scenario, seed, errors=ImuErrors.none(), soft_tissue=soft_tissue)


@cache
def realistic(scenario: str, seed: int = 3) -> SimSession:
    return simulate_session(scenario, seed)


def integrate_gyro(q0: np.ndarray, gyr_rad_s: np.ndarray, time_s: np.ndarray) -> np.ndarray:
    """Strapdown q_k = q_{k-1} * exp(w_k dt_k) (reference loop, test only)."""
    dt = np.diff(time_s)
    steps = quat_from_rotvec(gyr_rad_s[1:] * dt[:, None])
    out = np.empty((len(time_s), 4))
    out[0] = q = q0
    for k in range(len(steps)):
        q = qmul(q, steps[k])
        out[k + 1] = q
    return out


def angle_between(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    return np.linalg.norm(quat_to_rotvec(qmul(qconj(q1), q2)), axis=-1)


# --- exactness -------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["reverse_walking", "hip_cars"])
def test_error_free_gyro_integrates_to_the_true_orientation(scenario: str) -> None:
    session = exact(scenario, soft_tissue=True)
    for role in ROLES:
        block = session.samples[role]
        keep = block.time_s <= 60.0 + 1e-9
        time_s, gyr = block.time_s[keep], block.gyr_rad_s[keep]
        truth = session.sensor_quat_at(role, time_s)
        q = integrate_gyro(truth[0], gyr, time_s)
        assert time_s[-1] > 59.9
        assert angle_between(q, truth).max() < 1e-6, role


def test_error_free_acc_at_rest_is_gravity_in_sensor_frame() -> None:
    session = exact("calibration")
    static = next(m for m in session.markers if m.label == "static")
    for role in ROLES:
        block = session.samples[role]
        rest = (block.time_s > static.start_s + 0.05) & (block.time_s < static.end_s - 0.05)
        q = session.sensor_quat_at(role, block.time_s[rest])
        expected = qrotate(qconj(q), GRAVITY)
        np.testing.assert_allclose(block.acc_m_s2[rest], expected, atol=1e-12)
        np.testing.assert_allclose(block.gyr_rad_s[rest], 0.0, atol=1e-12)


def test_chain_acceleration_matches_second_difference_of_position() -> None:
    session = exact("reverse_walking", soft_tissue=True)
    t = np.linspace(40.013, 44.017, 401)  # inside a walking bout, away from knots
    h = 1e-4
    for role in ROLES:

        def motion(tt: np.ndarray, role: str = role):
            return sensor_motion(session.script, session.body, role, tt)

        numeric = (
            motion(t + h).position_m - 2 * motion(t).position_m + motion(t - h).position_m
        ) / h**2
        analytic = motion(t).acc_m_s2
        assert np.abs(analytic).max() > 0.3
        np.testing.assert_allclose(analytic, numeric, atol=2e-5)


def test_error_free_acc_is_the_interval_mean_of_specific_force() -> None:
    session = exact("sit_to_stand")
    block = session.samples["thigh_left"]
    sitting = next(m for m in session.markers if m.label == "sitting")
    first = int(np.searchsorted(block.time_s, sitting.start_s - 1.0))
    k = np.arange(first, first + 20)  # the subject is sitting down
    t0, t1 = block.time_s[k - 1], block.time_s[k]
    sub = (np.arange(200) + 0.5) / 200
    t_fine = (t0[:, None] + sub[None, :] * (t1 - t0)[:, None]).ravel()
    m = sensor_motion(session.script, session.body, "thigh_left", t_fine)
    force = qrotate(qconj(m.quat), m.acc_m_s2 + GRAVITY).reshape(len(k), 200, 3).mean(axis=1)
    assert np.abs(force - block.acc_m_s2[k]).max() < 2e-4
    assert np.abs(force - qrotate(qconj(m.quat[::200]), GRAVITY)).max() > 0.1


def test_fast_quaternion_helpers_agree_with_frames() -> None:
    rng = np.random.default_rng(0)
    q = quat_from_rotvec(rng.normal(size=(50, 3)))
    angle = rng.normal(size=50)
    for k in range(3):
        axis = np.eye(3)[k]
        np.testing.assert_allclose(_rotated_axis(q, k), qrotate(q, axis), atol=1e-14)
        np.testing.assert_allclose(
            _times_axis_rotation(q, k, angle),
            qmul(q, quat_from_axis_angle(axis, angle)),
            atol=1e-14,
        )
    assert len(pelvis_factors()) == 3
    assert len(hip_factors("left")) == len(hip_factors("right")) == 3


# --- ground truth ----------------------------------------------------------------------------


def test_truth_round_trips_through_frames() -> None:
    session = exact("hip_cars")
    t = np.linspace(0.0, session.duration_s, 3001)
    truth = session.truth_at(t)
    quats = session.segment_quats_at(t)
    for side in ("left", "right"):
        hip = qmul(qconj(quats["pelvis"]), quats[f"thigh_{side}"])
        for name, value in zip(hip_columns(side), hip_angles_from_quat(side, hip), strict=True):
            np.testing.assert_allclose(truth[name], np.rad2deg(value), atol=1e-9)
    rebuilt = pelvis_quat_from_angles(*(np.deg2rad(truth[c]) for c in PELVIS_COLUMNS))
    assert angle_between(rebuilt, quats["pelvis"]).max() < 1e-9
    # CARs reach large flexion and abduction; calibration starts at zero.
    assert truth["hip_flexion_left_deg"].max() > 80
    assert truth["hip_abduction_right_deg"].max() > 30
    start = session.truth_at(np.array([0.5]))
    assert all(abs(v[0]) < 1e-12 for v in start.values())


def test_sensor_orientation_is_segment_times_mounting_in_world_heading() -> None:
    session = exact("reverse_walking")
    t = np.linspace(0.0, session.duration_s, 500)
    segments = session.segment_quats_at(t)
    heading = session.script.evaluate(t, ("heading",))["heading"].value
    world = rot_z(heading + session.body.heading0_rad)
    for role in ROLES:
        expected = qmul(qmul(world, segments[role]), session.mounting[role])
        assert angle_between(expected, session.sensor_quat_at(role, t)).max() < 1e-9


def test_thigh_inclination_is_flexion_minus_tilt_in_sagittal_moves() -> None:
    session = exact("calibration")
    t = np.linspace(0.0, session.duration_s, 2000)
    truth = session.truth_at(t)
    for side in ("left", "right"):
        np.testing.assert_allclose(
            truth[thigh_inclination_column(side)],
            truth[f"hip_flexion_{side}_deg"] - truth["pelvic_tilt_deg"],
            atol=1e-9,
        )
    # The hinge tilts the pelvis 50-60 deg while the thighs stay near vertical.
    hinge = next(m for m in session.markers if m.label == "hip_hinge")
    inside = (t > hinge.start_s) & (t < hinge.end_s)
    assert 50 <= truth["pelvic_tilt_deg"][inside].max() <= 60
    assert np.abs(truth["thigh_inclination_left_deg"][inside]).max() < 6


def test_truth_at_accepts_unsorted_times_and_table_grid() -> None:
    session = exact("active_extension")
    t = np.array([30.0, 5.0, 12.3])
    truth = session.truth_at(t)
    for i, ti in enumerate(t):
        single = session.truth_at(np.array([ti]))
        assert truth["hip_flexion_left_deg"][i] == pytest.approx(single["hip_flexion_left_deg"][0])
    time_s, table = session.truth_table(50.0)
    assert time_s[1] - time_s[0] == pytest.approx(0.02)
    expected = {
        *PELVIS_COLUMNS,
        thigh_inclination_column("left"),
        thigh_inclination_column("right"),
    }
    expected |= {*hip_columns("left"), *hip_columns("right")}
    assert set(table) == expected


def test_world_heading_is_random_but_truth_rotation_starts_at_zero() -> None:
    headings = {round(exact("calibration", seed=s).body.heading0_rad, 6) for s in range(3)}
    assert len(headings) == 3
    assert (
        abs(exact("calibration", seed=1).truth_at(np.array([1.0]))["pelvic_rotation_deg"][0]) < 1e-9
    )


# --- scenarios and markers -------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_runs_with_ordered_markers(scenario: str) -> None:
    session = realistic(scenario)
    labels = [m.label for m in session.markers]
    assert labels[:1] == ["static"]
    for label in CALIBRATION_LABELS:
        assert label in labels
    starts = [m.start_s for m in session.markers]
    assert starts == sorted(starts)
    assert all(0 <= m.start_s < m.end_s <= session.duration_s + 1e-9 for m in session.markers)
    if scenario != "calibration":
        assert 40 <= session.duration_s - 28.0 <= 120
        assert session.exercise_markers()
    for block in session.samples.values():
        assert np.all(np.diff(block.time_s) > 0)
        assert np.isfinite(block.acc_m_s2).all() and np.isfinite(block.gyr_rad_s).all()
    truth = session.truth_at(session.samples["pelvis"].time_s)
    assert all(np.isfinite(v).all() for v in truth.values())


def test_exercise_ranges_are_realistic() -> None:
    def peak(scenario: str, column: str, label: str, reduce=np.max) -> float:
        session = exact(scenario)
        windows = [m for m in session.markers if m.label == label]
        t = np.concatenate([np.linspace(m.start_s, m.end_s, 200) for m in windows])
        return float(reduce(session.truth_at(t)[column]))

    assert (
        -20.5 < peak("active_extension", "hip_flexion_left_deg", "active_extension", np.min) < -14.5
    )
    assert peak("active_extension_compensated", "pelvic_tilt_deg", "active_extension") > 7.5
    assert peak("thomas_test", "pelvic_tilt_deg", "thomas_test", np.min) > -89.0
    assert peak("hip_lift", "hip_flexion_left_deg", "hip_lift", np.min) < 10
    assert 85 < peak("sit_to_stand", "hip_flexion_right_deg", "sitting") < 96
    assert peak("reverse_walking", "hip_flexion_left_deg", "reverse_walking") > 20
    # Whole-body turns change the world heading, not the pelvic rotation.
    turning = exact("sit_to_stand")
    turns = [m for m in turning.markers if m.label == "turn"]
    assert len(turns) == 2
    t = np.linspace(0, turning.duration_s, 2000)
    assert np.abs(turning.truth_at(t)["pelvic_rotation_deg"]).max() < 1e-9
    yaw = turning.sensor_quat_at("pelvis", np.array([turns[0].start_s, turns[0].end_s]))
    assert np.rad2deg(angle_between(yaw[0], yaw[1])) == pytest.approx(180.0, abs=1e-6)


def test_duration_fills_long_sessions_and_truncates_short_ones() -> None:
    long = simulate_session(
        "reverse_walking", 0, errors=ImuErrors.none(), duration_s=200.0, roles=("pelvis",)
    )
    assert long.duration_s == 200.0
    assert sum(m.label == "reverse_walking" for m in long.markers) >= 8
    assert sum(m.label == "turn" for m in long.markers) >= 4
    assert long.samples["pelvis"].time_s[-1] <= 200.0
    assert len(long.samples["pelvis"]) == pytest.approx(200 * 100, abs=2)
    short = simulate_session("sit_to_stand", 0, duration_s=20.0, roles=("pelvis",))
    assert short.duration_s == 20.0
    assert all(m.end_s <= 20.0 for m in short.markers)


def test_rates_roles_and_no_calibration_options() -> None:
    session = simulate_session(
        "active_extension",
        2,
        rate_hz={"pelvis": 60.0, "thigh_left": 120.0},
        roles=("pelvis", "thigh_left"),
        include_calibration=False,
        with_mag=True,
    )
    assert set(session.samples) == {"pelvis", "thigh_left"}
    assert np.median(np.diff(session.samples["pelvis"].time_s)) == pytest.approx(1 / 60)
    assert np.median(np.diff(session.samples["thigh_left"].time_s)) == pytest.approx(1 / 120)
    assert "static" not in [m.label for m in session.markers]
    mag = session.samples["pelvis"].mag_uT
    assert mag is not None
    assert np.median(np.linalg.norm(mag, axis=1)) == pytest.approx(np.hypot(20, 45), abs=6)
    with pytest.raises(ValueError, match="unknown scenario"):
        simulate_session("moonwalk")


# --- determinism and error model -------------------------------------------------------------


def test_same_seed_same_data_different_seed_different_mounting() -> None:
    a = simulate_session("calibration", 5, roles=("thigh_left",))
    b = simulate_session("calibration", 5, roles=("thigh_left",))
    c = simulate_session("calibration", 6, roles=("thigh_left",))
    np.testing.assert_array_equal(
        a.samples["thigh_left"].gyr_rad_s, b.samples["thigh_left"].gyr_rad_s
    )
    np.testing.assert_array_equal(a.mounting["thigh_left"], b.mounting["thigh_left"])
    assert angle_between(a.mounting["thigh_left"], c.mounting["thigh_left"]) > 0.05
    # Switching errors off keeps subject, script and mounting.
    d = simulate_session("calibration", 5, roles=("thigh_left",), errors=ImuErrors.none())
    np.testing.assert_array_equal(a.mounting["thigh_left"], d.mounting["thigh_left"])


def test_mountings_cover_arbitrary_rotations() -> None:
    normals_z = []
    for seed in range(40):
        session = simulate_session(
            "calibration", seed, roles=("pelvis",), duration_s=1.0, errors=ImuErrors.none()
        )
        for role in ("thigh_left", "thigh_right"):
            q = session.body.mounting[role]
            lever = session.body.lever_m[role]
            outward = np.array([lever[0], lever[1], 0.0]) / np.hypot(lever[0], lever[1])
            # Some sensor axis is within 15 deg of the skin normal.
            axes_in_segment = qrotate(np.tile(q, (3, 1)), np.eye(3))
            assert np.abs(axes_in_segment @ outward).max() > np.cos(np.deg2rad(15))
            normals_z.append(abs(axes_in_segment[2] @ outward))
            assert 0.18 <= -lever[2] <= 0.25
    normals_z_arr = np.array(normals_z)
    assert (normals_z_arr > 0.95).mean() > 0.3 and (normals_z_arr < 0.5).mean() > 0.2


def test_realistic_error_statistics() -> None:
    exact_session = simulate_session("calibration", 11, errors=ImuErrors.none())
    noisy = simulate_session("calibration", 11)
    errors = ImuErrors.realistic()
    for role in ROLES:
        draw = noisy.error_draws[role]
        assert np.all(np.abs(draw.gyro_bias_rad_s) <= np.deg2rad(0.5))
        assert np.all(np.abs(draw.acc_bias_m_s2) <= 0.05)
        assert np.all(np.abs(np.diag(draw.gyro_matrix) - 1) <= 0.005)
        assert 0 <= draw.start_offset_s < 0.01
        block = noisy.samples[role]
        static = block.time_s < 2.9
        gyr = block.gyr_rad_s[static]
        # At rest: bias (+ tiny walk) in the mean, white noise in the spread.
        np.testing.assert_allclose(gyr.mean(axis=0), draw.gyro_bias_rad_s, atol=2.5e-3)
        assert (
            0.7 * errors.gyro_noise_rad_s < gyr.std(axis=0).mean() < 1.3 * errors.gyro_noise_rad_s
        )
        acc = block.acc_m_s2[static]
        assert 0.7 * errors.acc_noise_m_s2 < acc.std(axis=0).mean() < 1.3 * errors.acc_noise_m_s2
        # Nominal timestamps on the session clock with a per-sensor start offset.
        np.testing.assert_allclose(np.diff(block.time_s), 0.01, atol=1e-9)
    offsets = {noisy.error_draws[r].start_offset_s for r in ROLES}
    assert len(offsets) == 3
    assert len(exact_session.samples["pelvis"]) >= len(noisy.samples["pelvis"])


def test_bias_random_walk_stays_small_over_ten_minutes() -> None:
    errors = ImuErrors.realistic()
    spread = errors.gyro_bias_walk_rad_s_rt_s * np.sqrt(600.0)
    assert np.rad2deg(spread) < 0.3


def test_saturation_clips() -> None:
    errors = ImuErrors(gyro_saturation_rad_s=0.5, acc_saturation_m_s2=9.0)
    session = simulate_session("calibration", 0, errors=errors, roles=("thigh_left",))
    block = session.samples["thigh_left"]
    assert np.abs(block.gyr_rad_s).max() <= 0.5
    assert np.abs(block.acc_m_s2).max() <= 9.0


# --- CSV -------------------------------------------------------------------------------------


def test_samples_csv_header_and_interleaved_order(tmp_path: Path) -> None:
    session = simulate_session("calibration", 1, duration_s=5.0)
    path = tmp_path / "samples.csv"
    write_samples_csv(session, path)
    with path.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["time_s", "role", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
    times = np.array([float(r[0]) for r in rows[1:]])
    assert np.all(np.diff(times) >= 0)
    assert {r[1] for r in rows[1:]} == set(ROLES)
    assert len(rows) - 1 == sum(len(b) for b in session.samples.values())
    assert {r[1] for r in rows[1:4]} == set(ROLES)  # interleaved, not role after role
    first_pelvis = next(r for r in rows[1:] if r[1] == "pelvis")
    np.testing.assert_allclose(
        [float(v) for v in first_pelvis[2:5]], session.samples["pelvis"].acc_m_s2[0], rtol=1e-6
    )


def test_samples_csv_with_mag_and_truth_and_markers(tmp_path: Path) -> None:
    session = simulate_session("sit_to_stand", 1, duration_s=60.0, with_mag=True)
    write_samples_csv(session, tmp_path / "s.csv")
    header = (tmp_path / "s.csv").read_text().splitlines()[0].split(",")
    assert header[-3:] == ["mag_x", "mag_y", "mag_z"]
    write_truth_csv(session, tmp_path / "t.csv", rate_hz=10.0)
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0].split(",")[0] == "time_s"
    assert len(lines) == 1 + 601
    write_markers_csv(session, tmp_path / "m.csv")
    with (tmp_path / "m.csv").open() as f:
        markers = list(csv.DictReader(f))
    assert markers and {m["exercise"] for m in markers} == {"sitting"}


def test_cli_writes_files(tmp_path: Path) -> None:
    from hipsim.__main__ import main

    out, truth = tmp_path / "s.csv", tmp_path / "t.csv"
    assert (
        main(
            [
                "calibration",
                "--seed",
                "2",
                "--out",
                str(out),
                "--truth",
                str(truth),
                "--duration",
                "4",
                "--no-errors",
            ]
        )
        == 0
    )
    assert out.read_text().startswith("time_s,role,acc_x")
    assert truth.read_text().startswith("time_s,")
