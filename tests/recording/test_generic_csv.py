"""The generic CSV contract: good files load, bad ones name the row and column."""

import numpy as np
import pytest

from hipsense.errors import InputFormatError
from hipsense.recording.generic_csv import read_samples_csv

HEADER = "time_s,role,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n"


def _rows(n=20):
    lines = []
    for k in range(n):
        for role in ("pelvis", "thigh_left"):
            lines.append(f"{k * 0.01:.3f},{role},0.1,0.2,9.8,0.01,0.02,0.03\n")
    return lines


def _write(tmp_path, text):
    p = tmp_path / "s.csv"
    p.write_text(text)
    return p


def test_reads_roles_and_values(tmp_path):
    blocks = read_samples_csv(_write(tmp_path, HEADER + "".join(_rows())))
    assert set(blocks) == {"pelvis", "thigh_left"}
    assert len(blocks["pelvis"]) == 20
    assert np.allclose(blocks["thigh_left"].acc_m_s2[3], [0.1, 0.2, 9.8])
    assert np.allclose(blocks["pelvis"].gyr_rad_s[0], [0.01, 0.02, 0.03])
    assert blocks["pelvis"].mag_uT is None


def test_reads_magnetometer_columns(tmp_path):
    rows = [r.rstrip("\n") + ",20,0,-45\n" for r in _rows()]
    blocks = read_samples_csv(
        _write(tmp_path, HEADER.rstrip("\n") + ",mag_x,mag_y,mag_z\n" + "".join(rows))
    )
    assert np.allclose(blocks["pelvis"].mag_uT[0], [20, 0, -45])


@pytest.mark.parametrize(
    "edit,message",
    [
        (
            lambda r: r[:5] + ["0.050,pelvis,0.1,abc,9.8,0.01,0.02,0.03\n"] + r[6:],
            r"row 7, column acc_y: 'abc'",
        ),
        (
            lambda r: r[:3] + ["0.010,thigh_middle,0.1,0.2,9.8,0.01,0.02,0.03\n"] + r[4:],
            r"row 5, column role",
        ),
        (lambda r: r[:9] + ["0.040,thigh_left,0.1,0.2\n"] + r[10:], r"row 11 has 4 columns"),
        (
            lambda r: r[:8] + ["0.030,pelvis,0.1,0.2,9.8,0.01,0.02,0.03\n"] + r[8:],
            r"row 10, column time_s",
        ),
        (lambda r: r + ["0.500,pelvis,0.1,0.2,9.8,57.0,0.0,0.0\n"], r"deg/s"),
        (
            lambda r: r[:2] + ["0.010,pelvis,0.1,0.2,nan,0.01,0.02,0.03\n"] + r[3:],
            r"row 4, column acc_z",
        ),
    ],
)
def test_malformed_rows_are_named(tmp_path, edit, message):
    with pytest.raises(InputFormatError, match=message):
        read_samples_csv(_write(tmp_path, HEADER + "".join(edit(_rows()))))


def test_bad_header_and_empty_and_units(tmp_path):
    with pytest.raises(InputFormatError, match=r"row 1, column 3: header 'ax'"):
        read_samples_csv(_write(tmp_path, "time_s,role,ax,acc_y\n1,pelvis,1,2\n"))
    with pytest.raises(InputFormatError, match="no data rows"):
        read_samples_csv(_write(tmp_path, HEADER))
    with pytest.raises(InputFormatError, match="looks like g"):
        read_samples_csv(
            _write(tmp_path, HEADER + "".join(r.replace("9.8", "1.0") for r in _rows()))
        )
    only_pelvis = [r for r in _rows() if "pelvis" in r]
    with pytest.raises(InputFormatError, match="at least one thigh"):
        read_samples_csv(_write(tmp_path, HEADER + "".join(only_pelvis)))
    with pytest.raises(InputFormatError, match="cannot read"):
        read_samples_csv(tmp_path / "missing.csv")
