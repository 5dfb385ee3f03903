"""The streaming pipeline: block invariance, mixed rates, calibration errors, the CLI."""

import copy
import subprocess
import sys

import numpy as np
import pytest

import hipsim
from hipsense.body.calibration import calibrate
from hipsense.cli import main
from hipsense.errors import CalibrationError
from hipsense.pipeline import HipPipeline, estimate_rate_hz, process_session
from hipsense.types import SampleBlock
from hipsim.accuracy import compare, issue_error_model


@pytest.fixture(scope="module")
def session():
    return hipsim.simulate_session("active_extension", seed=3, errors=issue_error_model())


def _rates(samples):
    return {r: estimate_rate_hz(b) for r, b in samples.items()}


def _in_blocks(samples: dict[str, SampleBlock], block_s: float):
    t_end = max(b.time_s[-1] for b in samples.values())
    edges = np.arange(0.0, t_end + block_s, block_s)
    idx = {r: np.searchsorted(b.time_s, edges) for r, b in samples.items()}
    for k in range(len(edges) - 1):
        yield [b.slice(idx[r][k], idx[r][k + 1]) for r, b in samples.items()]


def test_10ms_blocks_equal_one_block(session):
    cal = process_session(session.samples).calibration
    whole = HipPipeline(_rates(session.samples), calibration=cal).process(
        list(session.samples.values())
    )
    pipe = HipPipeline(_rates(session.samples), calibration=cal)
    parts = [pipe.process(blocks) for blocks in _in_blocks(session.samples, 0.01)]
    t = np.concatenate([p.time_s for p in parts])
    assert np.array_equal(t, whole.time_s)
    for name, values in whole.columns.items():
        streamed = np.concatenate([p.columns[name] for p in parts if len(p)])
        assert np.max(np.abs(streamed - values)) <= 1e-9, name


def test_streaming_calibration_then_flush_equals_batch_without_lever_arms(session):
    # Streamed frames buffered before a live calibration were fused without lever-arm
    # compensation and gyroscope correction; batch fuses everything with them. The calibration
    # is the same, and the flushed frames equal the batch run of that calibration without.
    batch = process_session(session.samples)
    pipe = HipPipeline(_rates(session.samples), buffer_limit_s=np.inf)
    for blocks in _in_blocks(session.samples, 0.5):
        assert len(pipe.process(blocks)) == 0  # nothing before calibration
    cal = pipe.calibrate()
    assert cal.to_dict() == batch.calibration.to_dict()
    for role in ("thigh_left", "thigh_right"):
        assert cal.segments[role].lever_arm_m is not None
        assert cal.segments[role].gyro_correction is not None
    flushed = pipe.flush()
    plain = copy.deepcopy(cal)
    for seg in plain.segments.values():
        seg.lever_arm_m = None
        seg.gyro_correction = None
    uncompensated = HipPipeline(_rates(session.samples), calibration=plain).process(
        list(session.samples.values())
    )
    assert np.array_equal(flushed.time_s, batch.angles.time_s)
    for name, values in uncompensated.columns.items():
        assert np.max(np.abs(flushed.columns[name] - values)) <= 1e-9
    differs = np.max(
        np.abs(
            flushed.columns["hip_flexion_left_deg"] - batch.angles.columns["hip_flexion_left_deg"]
        )
    )
    assert differs > 1e-3  # the batch run did compensate


def test_sensors_at_different_rates_and_instants():
    session = hipsim.simulate_session(
        "half_kneeling_stretch",
        seed=8,
        errors=issue_error_model(),
        rate_hz={"pelvis": 100.0, "thigh_left": 60.0, "thigh_right": 120.0},
    )
    rates = _rates(session.samples)
    assert rates["thigh_left"] == pytest.approx(60.0, rel=1e-3)
    result = process_session(session.samples)
    assert np.allclose(np.diff(result.angles.time_s), 0.01)
    rmse, _, _ = compare(result.angles, session, result.calibration.functional_window_s[1])
    assert max(v for k, v in rmse.items() if "flexion" in k) <= 1.0
    assert rmse["pelvic_tilt_deg"] <= 0.5


def _cut(samples, start_s, end_s):
    out = {}
    for r, b in samples.items():
        m = (b.time_s >= start_s) & (b.time_s < end_s)
        i = np.flatnonzero(m)
        out[r] = b.slice(i[0], i[-1] + 1)
    return out


def test_missing_calibration_movements_are_named(session):
    hinge = next(m for m in session.markers if m.label == "hip_hinge")
    with pytest.raises(CalibrationError, match="hip hinges"):
        process_session(_cut(session.samples, 0.0, hinge.start_s))
    lift = next(m for m in session.markers if m.label == "knee_lift_left")
    static = next(m for m in session.markers if m.label == "static")
    pipe = HipPipeline(_rates(session.samples), buffer_limit_s=np.inf)
    pipe.process(list(_cut(session.samples, 0.0, lift.start_s).values()))
    data = pipe.buffered()
    with pytest.raises(CalibrationError, match="were missing or too small"):
        calibrate(data, (static.start_s, 1.5), (1.5, static.end_s))
    with pytest.raises(CalibrationError, match="outside the data"):
        calibrate(data, (500.0, 503.0), (static.end_s, lift.start_s))


def test_wrong_units_are_refused(session):
    as_g = {
        r: SampleBlock(b.role, b.time_s, b.acc_m_s2 / 9.81, b.gyr_rad_s)
        for r, b in session.samples.items()
    }
    with pytest.raises(CalibrationError, match="look like g"):
        process_session(as_g, static_window_s=(0.2, 2.8), functional_window_s=(3.0, 26.0))


def test_cli_process_end_to_end(tmp_path, session, capsys):
    samples_csv = tmp_path / "samples.csv"
    hipsim.write_samples_csv(session, samples_csv)
    out = tmp_path / "angles.csv"
    assert main(["process", str(samples_csv), "--out", str(out)]) == 0
    header = out.read_text().splitlines()[0].split(",")
    assert header == [
        "time_s",
        "hip_flexion_left_deg",
        "hip_abduction_left_deg",
        "hip_internal_rotation_left_deg",
        "hip_flexion_right_deg",
        "hip_abduction_right_deg",
        "hip_internal_rotation_right_deg",
        "pelvic_tilt_deg",
        "pelvic_obliquity_deg",
        "pelvic_rotation_deg",
    ]
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    truth = session.truth_at(table[:, 0])
    after = table[:, 0] > 30.0
    err = table[after, 1] - truth["hip_flexion_left_deg"][after]
    assert np.sqrt(np.mean(err**2)) < 1.0
    assert "quality" in capsys.readouterr().err
    # Explicit windows give the same result as found ones, within the window difference.
    out2 = tmp_path / "angles2.csv"
    rc = main(
        [
            "process",
            str(samples_csv),
            "--out",
            str(out2),
            "--static",
            "0.2:2.8",
            "--functional",
            "3:27",
            "--filter",
            "mahony",
        ]
    )
    assert rc == 0


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s,role,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n0,pelvis,1,x,3,4,5,6\n")
    proc = subprocess.run(
        [sys.executable, "-m", "hipsense.cli", "process", str(bad), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "row 2, column acc_y" in proc.stderr
    assert "Traceback" not in proc.stderr
