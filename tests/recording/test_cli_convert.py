"""CLI import / export / replay, CSV round trip and OpenSim files."""

from __future__ import annotations

import numpy as np
import pytest

from hipsense.body.frames import qrotate
from hipsense.cli import main
from hipsense.recording.generic_csv import read_samples_csv
from hipsense.recording.reader import read_all


@pytest.fixture(scope="module")
def samples_csv(tmp_path_factory):
    hipsim = pytest.importorskip("hipsim")
    session = hipsim.simulate_session("calibration", seed=3, duration_s=30.0)
    path = tmp_path_factory.mktemp("csv") / "samples.csv"
    hipsim.write_samples_csv(session, path)
    return path


def test_import_export_csv_round_trip(tmp_path, samples_csv):
    rec = tmp_path / "s.hsr"
    assert main(["import", str(samples_csv), "--out", str(rec), "--subject", "P07"]) == 0
    values, damage = read_all(rec)
    assert damage.clean and values[0].subject == "P07" and values[0].source == "csv-import"
    out = tmp_path / "back.csv"
    assert main(["export", str(rec), "--format", "csv-samples", "--out", str(out)]) == 0
    a, b = read_samples_csv(samples_csv), read_samples_csv(out)
    assert set(a) == set(b)
    for role in a:
        for f in ("time_s", "acc_m_s2", "gyr_rad_s"):
            assert np.array_equal(getattr(a[role], f), getattr(b[role], f)), (role, f)


def test_replay_writes_the_same_angles_csv_as_process(tmp_path, samples_csv, capsys):
    rec = tmp_path / "s.hsr"
    main(["import", str(samples_csv), "--out", str(rec)])
    assert main(["process", str(samples_csv), "--out", str(tmp_path / "p.csv")]) == 0
    assert main(["replay", str(rec), "--out", str(tmp_path / "r.csv"), "--progress"]) == 0
    assert (tmp_path / "p.csv").read_text() == (tmp_path / "r.csv").read_text()
    err = capsys.readouterr().err
    assert "100.0%" in err and "x real time" in err
    assert (
        main(["export", str(rec), "--format", "csv-angles", "--out", str(tmp_path / "a.csv")]) == 0
    )
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "p.csv").read_text()


def test_opensim_export(tmp_path, samples_csv):
    rec = tmp_path / "s.hsr"
    main(["import", str(samples_csv), "--out", str(rec)])
    for frame in ("y-up", "z-up"):
        out = tmp_path / f"{frame}.sto"
        args = ["export", str(rec), "--format", "opensim", "--out", str(out)]
        assert main([*args, "--opensim-frame", frame]) == 0
        lines = out.read_text().splitlines()
        end = lines.index("endheader")
        header = dict(line.split("=", 1) for line in lines[:end])
        assert header["DataType"] == "Quaternion" and header["version"] == "3"
        assert "OpenSimVersion" in header and abs(float(header["DataRate"]) - 100.0) < 0.1
        cols = lines[end + 1].split("\t")
        assert cols == ["time", "pelvis_imu", "femur_l_imu", "femur_r_imu"]
        row = lines[end + 2].split("\t")
        q = np.array([float(v) for v in row[1].split(",")])
        assert len(row) == 4 and q.shape == (4,) and abs(np.linalg.norm(q) - 1) < 1e-6
        # at rest the pelvis sensor's up axis (-> earth up) is Y in OpenSim ground, Z in ours
        up_sensor = qrotate(
            np.array([q[0], -q[1], -q[2], -q[3]]),
            np.array([0.0, 1.0, 0.0] if frame == "y-up" else [0.0, 0.0, 1.0]),
        )
        assert abs(abs(up_sensor).max() - 1.0) < 0.3  # a sensor axis is roughly vertical
    mot = (tmp_path / "y-up.mot").read_text().splitlines()
    end = mot.index("endheader")
    assert mot[0] == "s" and mot[1] == "version=1" and "inDegrees=yes" in mot[:end]
    n_rows = int(mot[2].split("=")[1])
    n_cols = int(mot[3].split("=")[1])
    labels = mot[end + 1].split("\t")
    assert labels[0] == "time" and len(labels) == n_cols
    assert len(mot) - end - 2 == n_rows
    assert all(len(line.split("\t")) == n_cols for line in mot[end + 2 :])


def test_y_up_is_z_up_rotated_minus_90_about_x(tmp_path, samples_csv):
    rec = tmp_path / "s.hsr"
    main(["import", str(samples_csv), "--out", str(rec)])
    q = {}
    for frame in ("y-up", "z-up"):
        main(
            [
                "export",
                str(rec),
                "--format",
                "opensim",
                "--out",
                str(tmp_path / f"{frame}.sto"),
                "--opensim-frame",
                frame,
            ]
        )
        lines = (tmp_path / f"{frame}.sto").read_text().splitlines()
        row = lines[lines.index("endheader") + 50].split("\t")
        q[frame] = np.array([float(v) for v in row[2].split(",")])
    v = np.array([0.3, -0.2, 0.9])
    ours = qrotate(q["z-up"], v)  # sensor vector in our Z-up earth
    theirs = qrotate(q["y-up"], v)
    assert np.allclose(theirs, [ours[0], ours[2], -ours[1]], atol=1e-8)


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.hsr"
    bad.write_text("hello")
    assert main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hipsense: error:") and "not a hipsense" in err[0]
    assert main(["import", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "x.hsr")]) == 2
    assert main(["import", str(bad), "--out", str(tmp_path / "x.txt")]) == 2
    with pytest.raises(SystemExit):
        main(["replay", str(bad), "--speed", "-1"])
