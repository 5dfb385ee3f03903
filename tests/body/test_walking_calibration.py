"""Calibration without the routine (static pose + walking; static pose + declared placements),
chosen by calibrate_auto, against hipsim's truth with the accuracy bar's error model."""

from __future__ import annotations

import numpy as np
import pytest

from hipsense.body.auto_calibration import calibrate_auto
from hipsense.body.frames import qconj, qmul, quat_to_matrix
from hipsense.body.mounting import parse_placement
from hipsense.errors import CalibrationError, ConfigurationError
from hipsense.pipeline import HipPipeline, process_session
from hipsim import simulate_session
from hipsim.accuracy import compare, issue_error_model
from hipsim.session import SimSession
from hipsim.walking import simulate_walking


def _first_pass(session: SimSession):
    pipe = HipPipeline({r: 100.0 for r in session.samples}, buffer_limit_s=np.inf)
    pipe.process(list(session.samples.values()))
    return pipe.buffered()


def _axis_errors_deg(cal, session: SimSession) -> dict[str, float]:
    """Angle between the calibrated and the true left (y) axis of each segment, sensor coords."""
    out = {}
    for role, seg in cal.segments.items():
        est = quat_to_matrix(np.asarray(seg.q_segment_to_sensor))[:, 1]
        true = quat_to_matrix(qconj(session.mounting[role]))[:, 1]
        out[role] = float(np.degrees(np.arccos(np.clip(est @ true, -1.0, 1.0))))
    return out


@pytest.fixture(scope="module", params=[0, 1, 2])
def walking_session(request):
    return simulate_walking(request.param, errors=issue_error_model())


def test_walking_is_chosen_and_axes_are_found(walking_session):
    cal = calibrate_auto(_first_pass(walking_session))
    assert cal.method == "walking"
    assert "no calibration routine" in cal.notes[0]
    errors = _axis_errors_deg(cal, walking_session)
    # Measured over seeds 0-2: pelvis 0.18-0.74 deg, thighs 0.05-0.9 deg.
    assert any("from the thigh's rotation" in note for note in cal.notes)
    assert errors["pelvis"] < 1.0, errors
    assert max(errors["thigh_left"], errors["thigh_right"]) < 1.5, errors
    # The stated expected error is an uncertainty, not a bound: over seeds 0-9 of forward and
    # backward walking it was above the actual error (pelvis and thigh combined) in 18 of 20
    # sessions and never below 0.8 of it.
    worst_hip = max(np.hypot(errors["pelvis"], errors[t]) for t in ("thigh_left", "thigh_right"))
    assert cal.expected_error_deg is not None
    assert worst_hip < 1.5 * cal.expected_error_deg


def test_walking_calibration_accuracy_against_truth(walking_session):
    result = process_session(walking_session.samples)
    assert result.calibration.method == "walking"
    rmse, _, n = compare(result.angles, walking_session, result.calibration.static_window_s[1])
    assert n > 2000
    # The issue's hipsim bars are hip flexion <= 0.5 deg and pelvic tilt <= 0.2 deg (measured
    # here: flexion 0.06-0.19, abduction 0.15-0.31, tilt 0.29-0.38 deg). The tilt is the
    # fusion's under the walking's accelerations (0.26-0.28 before the rest anchoring of
    # fab5dd5, about 1 deg causal), not the calibration's: its axes are within 1 deg here, and
    # a 1 deg pelvis axis error moves tilt by sin(1 deg) of the 4 deg obliquity, 0.07 deg.
    for side in ("left", "right"):
        assert rmse[f"hip_flexion_{side}_deg"] < 0.5, rmse
        assert rmse[f"hip_abduction_{side}_deg"] < 1.0, rmse
    # A guard on today's figure (0.29-0.38), not the bar: the bar is checked below.
    assert rmse["pelvic_tilt_deg"] < 0.45, rmse


@pytest.mark.xfail(strict=True, reason="forward walking: pelvic tilt 0.29-0.38 deg, bar 0.2")
def test_walking_session_pelvic_tilt_meets_the_bar(walking_session):
    result = process_session(walking_session.samples)
    rmse, _, _ = compare(result.angles, walking_session, result.calibration.static_window_s[1])
    assert rmse["pelvic_tilt_deg"] <= 0.2, rmse


def test_heading_offset_between_sensors_is_found():
    session = simulate_walking(3, errors=issue_error_model())
    data = _first_pass(session)
    cal = calibrate_auto(data)
    # True relative heading of the fused earth frames: fused = Rz(h) * true per sensor.
    headings = {}
    for role in session.samples:
        d = qmul(data.quat[role], qconj(session.sensor_quat_at(role, data.time_s)))
        headings[role] = 2 * np.arctan2(d[:, 3], d[:, 0])
    start, end = cal.functional_window_s
    walk = (data.time_s > start) & (data.time_s < end)
    for role in ("thigh_left", "thigh_right"):
        true_deg = np.degrees(
            np.angle(np.mean(np.exp(1j * (headings["pelvis"] - headings[role])[walk])))
        )
        got = cal.segments[role].quality["heading_offset_deg"]
        # hipsim with the error model: up to 2.3 deg (0.1 deg on exact data).
        assert abs(np.angle(np.exp(1j * np.radians(got - true_deg)), deg=True)) < 6.0


def test_backward_walking_without_routine_calibrates_by_walking():
    session = simulate_session(
        "reverse_walking", 1, include_calibration=False, errors=issue_error_model()
    )
    result = process_session(session.samples)
    assert result.calibration.method == "walking"
    rmse, _, _ = compare(result.angles, session, result.calibration.static_window_s[1])
    # Backward walking: the thighs' own rotation carries the pelvis's obliquity in phase with
    # flexion (9 deg off the axis); the hip's rotation relative to the pelvis is taken instead
    # (measured over seeds 0-9: flexion 0.20-0.29, abduction 0.20-0.38 deg).
    assert any("relative to the pelvis" in note for note in result.calibration.notes)
    for side in ("left", "right"):
        assert rmse[f"hip_flexion_{side}_deg"] < 0.5, rmse
        assert rmse[f"hip_abduction_{side}_deg"] < 0.8, rmse
    assert rmse["pelvic_tilt_deg"] < 0.3, rmse


def _declared(session: SimSession) -> tuple[dict[str, str], dict[str, float]]:
    """Placements a user would declare for hipsim's sensors, and how far (deg about the long
    axis) each thigh sensor really is from the declared site."""
    placements: dict[str, str] = {}
    offsets: dict[str, float] = {}
    for role, q in session.mounting.items():
        rot = quat_to_matrix(q)  # sensor -> segment
        if role == "pelvis":
            normal = np.array([-1.0, 0.0, 0.5])
            site = "sacrum"
        else:
            lever = session.body.lever_m[role]
            around = float(np.arctan2(lever[1], lever[0]))  # 0 anterior, +90 left
            lateral = np.pi / 2 if role == "thigh_left" else -np.pi / 2
            site = (
                "lateral"
                if abs(np.angle(np.exp(1j * (around - lateral)))) < np.pi / 4
                else "anterior"
            )
            target = lateral if site == "lateral" else 0.0
            offsets[role] = abs(float(np.degrees(np.angle(np.exp(1j * (around - target))))))
            normal = np.array([np.cos(around), np.sin(around), 0.0])
        in_sensor = rot.T @ (normal / np.linalg.norm(normal))
        k = int(np.argmax(np.abs(in_sensor)))
        axis = ("+" if in_sensor[k] > 0 else "-") + "xyz"[k]
        placements[role] = f"{site}:{axis}"
    return placements, offsets


@pytest.mark.parametrize("seed", [10, 24])
def test_static_pose_and_placements_when_there_is_no_walking(seed):
    # hipsim places thigh sensors anywhere around the thigh; in seeds 10 and 24 both sit within
    # 8 deg of a site a user would declare (lateral or anterior).
    session = simulate_session("calibration", seed, include_calibration=False, duration_s=6.0)
    placements, offsets = _declared(session)
    data = _first_pass(session)
    with pytest.raises(CalibrationError) as info:
        calibrate_auto(data)
    message = str(info.value)
    assert "\n" not in message
    for what in ("calibration routine", "walking", "declared placements"):
        assert what in message
    cal = calibrate_auto(data, placements=placements)
    assert cal.method == "mounting"
    assert cal.expected_error_deg == pytest.approx(np.hypot(12.5, 12.5))
    errors = _axis_errors_deg(cal, session)
    # The sacrum's normal is tilted by up to 6 deg in hipsim: the heading by as much.
    assert errors["pelvis"] < 7.0, errors
    for role, offset in offsets.items():
        assert offset < 10.0
        # The sensor's real offset from the declared site is the heading error, within the
        # simulator's 6 deg tilt of the skin normal.
        assert abs(errors[role] - offset) < 7.0, (role, errors[role], offset)
    assert any("expected error" in note for note in cal.notes)


@pytest.mark.parametrize(
    ("role", "text", "fragment"),
    [
        ("pelvis", "lateral", "is not one of sacrum"),
        ("thigh_left", "latral", "is not one of lateral, anterior"),
        ("thigh_right", "anterior:+w", "axis '+w' is not one of"),
        ("shin", "lateral", "unknown role"),
    ],
)
def test_bad_placement_text_is_one_line(role, text, fragment):
    with pytest.raises(ConfigurationError) as info:
        parse_placement(role, text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_placement_axis_defaults_and_short_forms():
    assert parse_placement("thigh_left", "Lateral").skin_axis == "+z"
    assert parse_placement("thigh_left", "anterior:-y").skin_axis == "-y"
    assert parse_placement("pelvis", "sacrum:x").skin_axis == "+x"


def test_legs_moving_together_is_not_walking():
    session = simulate_walking(0)
    # The right thigh's data replaced by the left one's: both legs swing in phase.
    samples = dict(session.samples)
    left = samples["thigh_left"]
    samples["thigh_right"] = type(left)(
        "thigh_right", left.time_s, left.acc_m_s2, left.gyr_rad_s, left.mag_uT
    )
    pipe = HipPipeline({r: 100.0 for r in samples}, buffer_limit_s=np.inf)
    pipe.process(list(samples.values()))
    with pytest.raises(CalibrationError, match="did not swing alternately"):
        calibrate_auto(pipe.buffered())


@pytest.mark.parametrize(
    "options",
    [
        {"roles": ("pelvis", "thigh_right")},
        {"rate_hz": {"pelvis": 25.0, "thigh_left": 60.0, "thigh_right": 200.0}},
        {"rate_hz": {"pelvis": 200.0, "thigh_left": 25.0, "thigh_right": 52.0}},
    ],
    ids=["one_thigh", "pelvis_25hz", "thigh_25hz"],
)
def test_one_thigh_and_sensor_rates_of_their_own(options):
    session = simulate_walking(5, errors=issue_error_model(), **options)
    result = process_session(session.samples, rates_hz=session.rate_hz)
    cal = result.calibration
    assert cal.method == "walking"
    errors = _axis_errors_deg(cal, session)
    thighs = [r for r in errors if r != "pelvis"]
    worst_hip = max(np.hypot(errors["pelvis"], errors[t]) for t in thighs)
    assert worst_hip < 1.5 * cal.expected_error_deg
    rmse, _, _ = compare(result.angles, session, cal.static_window_s[1])
    for role in thighs:
        assert rmse[f"hip_flexion_{role.removeprefix('thigh_')}_deg"] < 0.5, rmse
    assert rmse["pelvic_tilt_deg"] < 0.4, rmse


def _print_figures(seeds: range = range(10)) -> None:
    """Walking calibration over hipsim seeds, forward and backward walking without the routine:
    ``.venv/bin/python tests/body/test_walking_calibration.py``."""
    for kind in ("forward", "backward"):
        rows = []
        for seed in seeds:
            if kind == "forward":
                session = simulate_walking(seed, errors=issue_error_model())
            else:
                session = simulate_session(
                    "reverse_walking", seed, include_calibration=False, errors=issue_error_model()
                )
            result = process_session(session.samples)
            cal = result.calibration
            ax = _axis_errors_deg(cal, session)
            thigh = max(ax["thigh_left"], ax["thigh_right"])
            rmse, _, _ = compare(result.angles, session, cal.static_window_s[1])
            rows.append(
                (
                    ax["pelvis"],
                    thigh,
                    np.hypot(ax["pelvis"], thigh) / cal.expected_error_deg,
                    max(rmse["hip_flexion_left_deg"], rmse["hip_flexion_right_deg"]),
                    max(rmse["hip_abduction_left_deg"], rmse["hip_abduction_right_deg"]),
                    rmse["pelvic_tilt_deg"],
                )
            )
        table = np.array(rows)
        names = (
            "pelvis axis error deg",
            "thigh axis error deg (worse)",
            "actual / expected error",
            "hip flexion RMSE deg (worse)",
            "hip abduction RMSE deg (worse)",
            "pelvic tilt RMSE deg",
        )
        print(f"{kind} walking, seeds {seeds.start}-{seeds.stop - 1}:")
        for k, name in enumerate(names):
            print(f"  {name:32s} median {np.median(table[:, k]):.2f}  max {table[:, k].max():.2f}")


if __name__ == "__main__":
    _print_figures()
