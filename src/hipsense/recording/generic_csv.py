"""The generic CSV contract: raw samples in, angles out.

Input (one header line, then rows of all roles interleaved in time order)::

    time_s,role,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z[,mag_x,mag_y,mag_z]

seconds, m/s^2 (specific force, +9.81 on the up axis at rest), rad/s, microtesla; ``role`` is
``pelvis``, ``thigh_left`` or ``thigh_right``; each role at its own constant rate.

Output: ``time_s`` then the columns of :func:`hipsense.types.angle_columns`, in degrees.
A malformed file raises :class:`InputFormatError` naming the row (1 = header) and column.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np

from hipsense.errors import InputFormatError
from hipsense.types import ROLES, AngleBlock, SampleBlock

BASE_COLUMNS = ("time_s", "role", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
MAG_COLUMNS = ("mag_x", "mag_y", "mag_z")
# A gyroscope reading beyond this is far outside any body movement in rad/s, but typical of
# data in deg/s; saturation of consumer IMUs is 2000 deg/s = 34.9 rad/s.
MAX_PLAUSIBLE_GYR_RAD_S = 40.0
MAX_PLAUSIBLE_ACC_M_S2 = 400.0
_WRITE_CHUNK_ROWS = 20_000


def _header(first_line: str, path: str) -> tuple[str, ...]:
    cols = tuple(c.strip() for c in first_line.strip().split(","))
    if cols == BASE_COLUMNS or cols == BASE_COLUMNS + MAG_COLUMNS:
        return cols
    expected = ",".join(BASE_COLUMNS) + "[," + ",".join(MAG_COLUMNS) + "]"
    for i, (got, want) in enumerate(zip(cols, BASE_COLUMNS + MAG_COLUMNS, strict=False)):
        if got != want:
            raise InputFormatError(
                f"{path}: row 1, column {i + 1}: header {got!r} where {want!r} was expected "
                f"(header must be {expected})"
            )
    raise InputFormatError(f"{path}: row 1: header has {len(cols)} columns; it must be {expected}")


def _find_bad_row(text: str, cols: tuple[str, ...], path: str) -> InputFormatError:
    """Slow, exact scan used only once the fast parser has failed: name the first bad cell."""
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    for row_no, row in enumerate(reader, start=2):
        if not row:
            return InputFormatError(f"{path}: row {row_no} is empty")
        if len(row) != len(cols):
            return InputFormatError(
                f"{path}: row {row_no} has {len(row)} columns, expected {len(cols)} "
                "(truncated or extra values)"
            )
        for col, cell in zip(cols, row, strict=True):
            if col == "role":
                if cell.strip() not in ROLES:
                    return InputFormatError(
                        f"{path}: row {row_no}, column role: {cell!r} is not one of "
                        f"{', '.join(ROLES)}"
                    )
                continue
            try:
                value = float(cell)
            except ValueError:
                return InputFormatError(
                    f"{path}: row {row_no}, column {col}: {cell!r} is not a number"
                )
            if not np.isfinite(value):
                return InputFormatError(
                    f"{path}: row {row_no}, column {col}: {cell!r} is not finite"
                )
    return InputFormatError(f"{path}: could not be parsed")


def read_samples_csv(path: str | Path) -> dict[str, SampleBlock]:
    """Read a generic samples CSV into one :class:`SampleBlock` per role.

    Raises
    ------
    InputFormatError
        naming the row and column of the first problem.
    """
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputFormatError(f"{name}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFormatError(f"{name}: not a UTF-8 text file (byte {exc.start})") from None
    nl = text.find("\n")
    if nl < 0:
        raise InputFormatError(f"{name}: no data rows (only a header, or empty)")
    cols = _header(text[:nl], name)
    ncol = len(cols)
    body = text[nl + 1 :]
    if not body.strip():
        raise InputFormatError(f"{name}: no data rows after the header")
    # Fast path: roles become codes, rows become one comma-separated stream of numbers.
    coded = body.replace("\r", "") if "\r" in body else body
    for code, role in enumerate(ROLES):
        coded = coded.replace(f",{role},", f",{code},")
    n_rows = body.rstrip("\n").count("\n") + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            # numpy's C tokenizer (about twice as fast as fromstring on one long line).
            table = np.loadtxt(io.StringIO(coded), delimiter=",", dtype=np.float64, ndmin=2)
        except (ValueError, UserWarning):
            raise _find_bad_row(text, cols, name) from None
    if table.shape != (n_rows, ncol) or not np.all(np.isfinite(table)):
        raise _find_bad_row(text, cols, name)
    role_code = table[:, 1]
    if not np.all(np.isin(role_code, np.arange(len(ROLES)))):
        raise _find_bad_row(text, cols, name)
    blocks: dict[str, SampleBlock] = {}
    for code, role in enumerate(ROLES):
        rows = np.flatnonzero(role_code == code)
        if len(rows) == 0:
            continue
        t = table[rows, 0]
        bad = np.flatnonzero(np.diff(t) <= 0)
        if len(bad):
            r = rows[bad[0] + 1] + 2
            raise InputFormatError(
                f"{name}: row {r}, column time_s: {role} time {t[bad[0] + 1]:g} s does not "
                f"increase (previous {role} sample at {t[bad[0]]:g} s)"
            )
        acc = np.ascontiguousarray(table[rows, 2:5])
        gyr = np.ascontiguousarray(table[rows, 5:8])
        _check_units(name, role, rows, acc, gyr)
        mag = np.ascontiguousarray(table[rows, 8:11]) if ncol == 11 else None
        blocks[role] = SampleBlock(role, np.ascontiguousarray(t), acc, gyr, mag)
    if "pelvis" not in blocks:
        raise InputFormatError(f"{name}: no pelvis rows; every angle is relative to the pelvis")
    if len(blocks) < 2:
        raise InputFormatError(f"{name}: only a pelvis sensor; at least one thigh is needed")
    return blocks


def _check_units(name: str, role: str, rows: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
    big = np.flatnonzero(np.abs(gyr).max(axis=1) > MAX_PLAUSIBLE_GYR_RAD_S)
    if len(big):
        raise InputFormatError(
            f"{name}: row {rows[big[0]] + 2}, column gyr: {role} angular velocity "
            f"{np.abs(gyr[big[0]]).max():.1f} is not plausible in rad/s; is it in deg/s? "
            "(multiply by pi/180)"
        )
    if len(acc) > 10 and np.median(np.linalg.norm(acc, axis=1)) < 3.0:
        raise InputFormatError(
            f"{name}: column acc: {role} acceleration is about "
            f"{np.median(np.linalg.norm(acc, axis=1)):.2f} in magnitude; it looks like g, "
            "but the contract is m/s^2 (multiply by 9.81)"
        )
    if np.abs(acc).max() > MAX_PLAUSIBLE_ACC_M_S2:
        raise InputFormatError(f"{name}: column acc: {role} acceleration beyond 40 g")


def write_angles_csv(path: str | Path, angles: AngleBlock, columns: list[str]) -> None:
    """Write ``time_s`` and ``columns`` (degrees, 4 decimals; "nan" where a sensor had no data)."""
    data = np.column_stack([angles.time_s] + [angles.columns[c] for c in columns])
    # One %-format of a whole chunk of rows: a few times faster than np.savetxt's row loop.
    row = ",".join(["%.5f"] + ["%.4f"] * len(columns)) + "\n"
    with open(path, "w", newline="") as fh:
        fh.write(",".join(["time_s", *columns]) + "\n")
        for start in range(0, len(data), _WRITE_CHUNK_ROWS):
            chunk = data[start : start + _WRITE_CHUNK_ROWS]
            fh.write((row * len(chunk)) % tuple(chunk.ravel().tolist()))
