"""Reader of Xsens / Movella text exports: the OpenSense excerpt, synthetic files, bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from hipsense.body.frames import qmul, quat_from_rotvec, quat_to_matrix
from hipsense.errors import InputFormatError
from hipsense.recording.xsens import (
    angular_velocity_from_quat,
    read_role_files,
    read_xsens_session,
    read_xsens_txt,
)

DATA = Path(__file__).parents[1] / "data" / "opensense"
TRIAL = {
    "pelvis": DATA / "pelvis_00B42279.txt.gz",
    "thigh_left": DATA / "thigh_left_00B421EE.txt.gz",
    "thigh_right": DATA / "thigh_right_00B4227C.txt.gz",
}


def _motion(n: int = 300, rate_hz: float = 100.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, sensor -> earth quaternions, angular velocity in sensor coordinates rad/s)."""
    t = np.arange(n) / rate_hz
    w = np.column_stack((1.5 * np.sin(2 * t), 0.8 * np.cos(3 * t), 0.3 + 0 * t))
    q = np.empty((n, 4))
    q[0] = [1.0, 0.0, 0.0, 0.0]
    for k in range(1, n):
        # Exact for the midpoint rate: each step rotates by the rate at the step's middle.
        mid = 0.5 * (t[k - 1] + t[k])
        wm = np.array([1.5 * np.sin(2 * mid), 0.8 * np.cos(3 * mid), 0.3])
        q[k] = qmul(q[k - 1], quat_from_rotvec(wm / rate_hz))
    return t, q, w


def _write(path: Path, header: list[str], rows: list[list[str]], meta: str | None = None) -> Path:
    meta = "// Update Rate: 100.0Hz\n// Filter Profile: human (46.1)\n" if meta is None else meta
    lines = [meta.rstrip("\n")] if meta else []
    lines.append("\t".join(header))
    lines.extend("\t".join(r) for r in rows)
    path.write_text("\n".join(lines) + "\n")
    return path


def _synthetic(tmp_path: Path, gyr_scale: float | None, quat: bool = True, name: str = "s.txt"):
    t, q, w = _motion()
    header = ["PacketCounter", "SampleTimeFine", "Acc_X", "Acc_Y", "Acc_Z"]
    if gyr_scale is not None:
        header += ["Gyr_X", "Gyr_Y", "Gyr_Z"]
    header += ["Quat_q0", "Quat_q1", "Quat_q2", "Quat_q3"] if quat else []
    rows = []
    for k in range(len(t)):
        up = quat_to_matrix(q[k])[2] * 9.81  # gravity's reaction in sensor coordinates
        row = [f"{(65530 + k) % 65536:05d}", f"{(2**32 - 500 + 100 * k) % 2**32}"]
        row += [f"{v:.6f}" for v in up]
        if gyr_scale is not None:
            row += [f"{v * gyr_scale:.6f}" for v in w[k]]
        if quat:
            row += [f"{v:.8f}" for v in q[k]]
        rows.append(row)
    return _write(tmp_path / name, header, rows), t, q, w


def test_opensense_excerpt_is_read_with_a_derived_gyroscope():
    export = read_xsens_txt(TRIAL["pelvis"], "pelvis")
    assert export.rate_hz == 100.0
    assert export.gyr_derived
    assert len(export.samples) == 2493
    assert export.samples.time_s[0] == 0.0
    assert export.start_s == pytest.approx(4.72)
    np.testing.assert_allclose(np.diff(export.samples.time_s), 0.01, atol=1e-9)
    assert any("derived from the Xsens on-board orientation" in n for n in export.notes)
    # At rest the specific force is gravity, and the orientation agrees with it.
    acc = export.samples.acc_m_s2[:100].mean(axis=0)
    assert np.linalg.norm(acc) == pytest.approx(9.81, abs=0.1)
    up = quat_to_matrix(export.quat[:100])[:, 2].mean(axis=0)
    assert np.degrees(np.arccos(up @ acc / np.linalg.norm(acc) / np.linalg.norm(up))) < 1.5
    # Standing still at the start: the derived rate is small.
    assert np.degrees(np.abs(export.samples.gyr_rad_s[:150]).max()) < 5.0


def test_session_puts_the_sensors_on_one_clock():
    samples, notes = read_xsens_session(TRIAL)
    assert set(samples) == set(TRIAL)
    assert all(b.time_s[0] == 0.0 for b in samples.values())
    assert len(notes) >= 3


def test_angular_velocity_from_orientation_is_exact_for_constant_steps():
    t, q, w = _motion()
    got = angular_velocity_from_quat(q, t)
    # Each sample gets the mean of its two intervals' (exact midpoint) rates.
    np.testing.assert_allclose(got[1:-1], w[1:-1], atol=2e-3)


@pytest.mark.parametrize(("scale", "unit"), [(np.degrees(1.0), "deg/s"), (1.0, "rad/s")])
def test_gyroscope_unit_is_found_from_the_orientation(tmp_path, scale, unit):
    path, t, _, w = _synthetic(tmp_path, gyr_scale=scale)
    export = read_xsens_txt(path, "thigh_left")
    assert not export.gyr_derived
    np.testing.assert_allclose(export.samples.gyr_rad_s, w, atol=1e-5)
    assert any(unit in n for n in export.notes)
    # SampleTimeFine (10 kHz, wrapping past 2**32 here) is the clock.
    np.testing.assert_allclose(export.samples.time_s, t, atol=1e-9)


def test_gyroscope_without_orientation_is_taken_as_deg_s(tmp_path):
    path, _, _, w = _synthetic(tmp_path, gyr_scale=np.degrees(1.0), quat=False)
    export = read_xsens_txt(path, "pelvis")
    assert export.quat is None
    np.testing.assert_allclose(export.samples.gyr_rad_s, w, atol=1e-5)
    assert read_xsens_txt(path, "pelvis", gyr_unit="rad/s").samples.gyr_rad_s[5, 0] == (
        pytest.approx(np.degrees(w[5, 0]), abs=1e-4)
    )


def test_matrix_and_quaternion_give_the_same_orientation(tmp_path):
    _, q, _ = _motion(50)
    m = quat_to_matrix(q)
    header = ["PacketCounter", "Acc_X", "Acc_Y", "Acc_Z"]
    header += [f"Mat[{i}][{j}]" for j in (1, 2, 3) for i in (1, 2, 3)]
    rows = []
    for k in range(len(q)):
        cells = [f"{k:05d}", "0", "0", "9.81"]
        cells += [f"{m[k, i - 1, j - 1]:.8f}" for j in (1, 2, 3) for i in (1, 2, 3)]
        rows.append(cells)
    path = _write(tmp_path / "mat.txt", header, rows)
    got = read_xsens_txt(path, "pelvis").quat
    assert got is not None
    dots = np.abs(np.einsum("ij,ij->i", got, q))
    np.testing.assert_allclose(dots, 1.0, atol=1e-7)


def test_gzip_and_plain_text_read_the_same(tmp_path):
    path, *_ = _synthetic(tmp_path, gyr_scale=1.0)
    packed = tmp_path / "s.txt.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    a = read_xsens_txt(path, "pelvis").samples
    b = read_xsens_txt(packed, "pelvis").samples
    np.testing.assert_array_equal(a.acc_m_s2, b.acc_m_s2)


def test_rows_with_empty_cells_are_left_out_with_a_note(tmp_path):
    header = ["PacketCounter", "Acc_X", "Acc_Y", "Acc_Z", "Gyr_X", "Gyr_Y", "Gyr_Z"]
    rows = [[f"{k:05d}", "0", "0", "9.81", "0", "0", "0"] for k in range(10)]
    rows[4][2] = ""
    export = read_xsens_txt(_write(tmp_path / "gap.txt", header, rows), "pelvis")
    assert len(export.samples) == 9
    assert export.samples.time_s[4] == pytest.approx(0.05)
    assert any("1 of 10 rows" in n for n in export.notes)


@pytest.mark.parametrize(
    ("header", "rows", "meta", "fragment"),
    [
        (["PacketCounter", "Gyr_X", "Gyr_Y", "Gyr_Z"], [["1", "0", "0", "0"]], None, "no Acc_X"),
        (
            ["PacketCounter", "Acc_X", "Acc_Y", "Acc_Z"],
            [["1", "0", "0", "9.8"], ["2", "0", "0", "9.8"]],
            None,
            "neither a gyroscope",
        ),
        (
            ["PacketCounter", "Acc_X", "Acc_Y", "Acc_Z", "Gyr_X", "Gyr_Y", "Gyr_Z"],
            [["1", "0", "x", "9.8", "0", "0", "0"], ["2", "0", "0", "9.8", "0", "0", "0"]],
            None,
            "column Acc_Y: 'x' is not a number",
        ),
        (
            ["PacketCounter", "Acc_X", "Acc_Y", "Acc_Z", "Gyr_X", "Gyr_Y", "Gyr_Z"],
            [["5", "0", "0", "9.8", "0", "0", "0"], ["5", "0", "0", "9.8", "0", "0", "0"]],
            None,
            "PacketCounter does not increase",
        ),
        (
            ["PacketCounter", "Acc_X", "Acc_Y", "Acc_Z", "Gyr_X", "Gyr_Y", "Gyr_Z"],
            [["5", "0", "0", "9.8", "0", "0", "0"], ["6", "0", "0", "9.8", "0", "0", "0"]],
            "",
            "no timestamps",
        ),
        (["time", "value"], [["1", "2"]], None, "not an Xsens header"),
        (["PacketCounter", "Acc_X", "Acc_Y", "Acc_Z"], [], None, "no data rows"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, header, rows, meta, fragment):
    path = _write(tmp_path / "bad.txt", header, rows, meta)
    with pytest.raises(InputFormatError) as info:
        read_xsens_txt(path, "pelvis")
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert "bad.txt" in message


def test_not_text_and_missing_file(tmp_path):
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InputFormatError, match="not a text file"):
        read_xsens_txt(binary, "pelvis")
    with pytest.raises(InputFormatError, match="cannot read"):
        read_xsens_txt(tmp_path / "absent.txt", "pelvis")


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        (["pelvis"], "is not ROLE=FILE"),
        (["shin=a.txt", "pelvis=b.txt"], "unknown role 'shin'"),
        (["pelvis=a.txt", "pelvis=b.txt"], "pelvis is given twice"),
        (["thigh_left=a.txt"], "no pelvis=FILE"),
        ([f"pelvis={TRIAL['pelvis']}"], "at least one thigh"),
    ],
)
def test_role_file_arguments(items, fragment):
    with pytest.raises(InputFormatError) as info:
        read_role_files(items)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
