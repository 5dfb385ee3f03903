"""Reader of Xsens / Movella text exports (MT Manager, MTw Awinda, Movella DOT app).

One file per sensor::

    // Update Rate: 100.0Hz              metadata lines start with '//'
    // Filter Profile: human (46.1)
    PacketCounter<TAB>SampleTimeFine<TAB>...<TAB>Acc_X<TAB>Acc_Y<TAB>Acc_Z<TAB>Gyr_X...
    00472<TAB><TAB>...<TAB>9.414882<TAB>...

Columns used (any others are ignored, cells may be empty where a quantity was not exported):

- time: ``SampleTimeFine`` (10 kHz ticks, 32-bit, wraps) when filled, else ``PacketCounter``
  (16-bit, wraps) divided by the update rate of the metadata, else the row number;
- ``Acc_X/Y/Z``: specific force in sensor coordinates, m/s^2;
- ``Gyr_X/Y/Z``: angular velocity in sensor coordinates. MT Manager writes rad/s, the DOT app
  deg/s: ``gyr_unit="auto"`` decides from the orientation when there is one (the unit whose
  values agree with the rotation between consecutive orientations), else assumes deg/s;
- orientation, sensor -> Xsens earth frame (z up; ENU or NWU, both fine here): ``Quat_q0..q3``
  (scalar first) or ``Mat[i][j]`` (row i, column j of the rotation matrix, 1-based, the
  columns being the sensor's axes in earth coordinates, as opensim-core's XsensDataReader
  reads them).

Without a gyroscope column the angular velocity is **derived from the on-board orientation**:
the rotation between consecutive orientations, in sensor coordinates, divided by the sample
interval (the mean of the intervals before and after each sample). That signal has already been
through Xsens's own filter (bias removed, smoothed), so fusing it is not the same as fusing a raw
gyroscope; :attr:`XsensExport.notes` says so.

>>> export = read_xsens_txt("MT_012005D6_009-001_00B42279.txt", "pelvis")  # doctest: +SKIP
>>> export.samples.gyr_rad_s.shape  # doctest: +SKIP
(2493, 3)
"""

from __future__ import annotations

import gzip
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from hipsense.body.frames import matrix_to_quat, qconj, qmul, qnormalize, quat_to_rotvec
from hipsense.errors import InputFormatError
from hipsense.types import FloatArray, SampleBlock, check_role

ACC_COLUMNS = ("Acc_X", "Acc_Y", "Acc_Z")
GYR_COLUMNS = ("Gyr_X", "Gyr_Y", "Gyr_Z")
QUAT_COLUMNS = ("Quat_q0", "Quat_q1", "Quat_q2", "Quat_q3")
MAT_COLUMNS = tuple(f"Mat[{i}][{j}]" for j in (1, 2, 3) for i in (1, 2, 3))
SAMPLE_TIME_FINE_HZ = 10_000.0
_WRAP_FINE = 2**32
_WRAP_COUNTER = 2**16
_RATE_RE = re.compile(r"update\s*rate\s*:\s*([0-9.]+)\s*hz", re.IGNORECASE)

GyrUnit = Literal["auto", "deg/s", "rad/s"]


@dataclass
class XsensExport:
    """One sensor's export.

    Attributes
    ----------
    samples : the raw samples (the session clock starts at the file's first timestamp, see
        ``start_s``); ``gyr_rad_s`` is measured or derived (``gyr_derived``).
    quat : (N, 4) on-board orientation sensor -> Xsens earth (scalar first), or None.
    rate_hz : the update rate (metadata, else the timestamps).
    start_s : the first sample's time on the file's own clock (counter / rate), so that
        sensors of one synchronised recording can be put on one clock.
    gyr_derived : True when the angular velocity comes from the orientation.
    notes : what the reader did that a user should know (derived gyroscope, dropped rows).
    metadata : the ``// key: value`` lines.
    """

    samples: SampleBlock
    quat: FloatArray | None
    rate_hz: float
    start_s: float
    gyr_derived: bool
    notes: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFormatError(f"{path}: cannot read ({exc.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError):
            raise InputFormatError(f"{path}: a damaged gzip file") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFormatError(f"{path}: not a text file (byte {exc.start})") from None


def _split(text: str, path: Path) -> tuple[dict[str, str], list[str], list[str]]:
    """(metadata, header cells, data lines)."""
    lines = text.replace("\r", "").split("\n")
    metadata: dict[str, str] = {}
    i = 0
    while i < len(lines) and (lines[i].startswith("//") or not lines[i].strip()):
        key, _, value = lines[i][2:].partition(":")
        if key.strip():
            metadata[key.strip()] = value.strip()
        i += 1
    if i == len(lines):
        raise InputFormatError(f"{path}: no header line (expected e.g. PacketCounter<TAB>Acc_X)")
    header = [c.strip() for c in lines[i].split("\t")]
    if len(header) < 2 or not any(c in header for c in (*ACC_COLUMNS, "PacketCounter")):
        raise InputFormatError(
            f"{path}: line {i + 1} is not an Xsens header (tab-separated, with Acc_X, Acc_Y, "
            "Acc_Z and Quat_q0..q3, Mat[1][1].. or Gyr_X..)"
        )
    data = [ln for ln in lines[i + 1 :] if ln.strip()]
    if not data:
        raise InputFormatError(f"{path}: no data rows after the header")
    return metadata, header, data


def _table(header: list[str], data: list[str], wanted: list[str], path: Path) -> FloatArray:
    """The wanted columns as floats, NaN where a cell is empty."""
    index = [header.index(c) for c in wanted]
    out = np.full((len(data), len(wanted)), np.nan)
    for r, line in enumerate(data):
        cells = line.split("\t")
        for k, c in enumerate(index):
            cell = cells[c].strip() if c < len(cells) else ""
            if not cell:
                continue
            try:
                out[r, k] = float(cell)
            except ValueError:
                raise InputFormatError(
                    f"{path}: line {r + 1} of the data, column {wanted[k]}: {cell!r} is not a "
                    "number"
                ) from None
    return out


def _unwrap(counts: FloatArray, wrap: int) -> FloatArray:
    steps = np.diff(counts)
    steps = np.where(steps < -wrap / 2, steps + wrap, steps)
    return np.concatenate(([counts[0]], counts[0] + np.cumsum(steps)))


def _rate_from_metadata(metadata: dict[str, str]) -> float | None:
    for key, value in metadata.items():
        m = _RATE_RE.search(f"{key}: {value}")
        if m:
            return float(m.group(1))
    return None


def angular_velocity_from_quat(quat: FloatArray, time_s: FloatArray) -> FloatArray:
    """Angular velocity (rad/s, sensor coordinates) from sensor -> earth orientations.

    The rotation from one sample's orientation to the next, in the sensor's coordinates
    (``conj(q_k) * q_k+1``), as a rotation vector over the interval; each sample gets the mean
    of the rates of the intervals before and after it (the first and last: their one interval).

    Parameters
    ----------
    quat : (N, 4) scalar-first unit quaternions, N >= 2.
    time_s : (N,) strictly increasing times.
    """
    rel = qmul(qconj(quat[:-1]), quat[1:])
    rate = quat_to_rotvec(rel) / np.diff(time_s)[:, None]
    out = np.empty((len(quat), 3))
    out[0] = rate[0]
    out[-1] = rate[-1]
    out[1:-1] = 0.5 * (rate[:-1] + rate[1:])
    return out


def read_xsens_txt(path: str | Path, role: str, gyr_unit: GyrUnit = "auto") -> XsensExport:
    """Read one sensor's Xsens text export (``.txt``, or the same gzip-compressed).

    Parameters
    ----------
    path : the export.
    role : the segment the sensor was on (``pelvis``, ``thigh_left``, ``thigh_right``).
    gyr_unit : unit of ``Gyr_*`` columns; ``"auto"`` see the module docstring.

    Raises
    ------
    InputFormatError
        one line naming the file and the problem.
    """
    p = Path(path)
    checked_role = check_role(role)
    metadata, header, data = _split(_read_text(p), p)
    missing = [c for c in ACC_COLUMNS if c not in header]
    if missing:
        raise InputFormatError(f"{p}: no {', '.join(missing)} column(s): hipsense needs Acc_X..Z")
    has_gyr = all(c in header for c in GYR_COLUMNS)
    quat_cols = (
        list(QUAT_COLUMNS)
        if all(c in header for c in QUAT_COLUMNS)
        else list(MAT_COLUMNS)
        if all(c in header for c in MAT_COLUMNS)
        else []
    )
    if not has_gyr and not quat_cols:
        raise InputFormatError(
            f"{p}: neither a gyroscope (Gyr_X..Z) nor an orientation (Quat_q0..q3 or "
            "Mat[1][1]..Mat[3][3]) column: export the rate of turn or the orientation"
        )
    time_cols = [c for c in ("SampleTimeFine", "PacketCounter") if c in header]
    wanted = time_cols + list(ACC_COLUMNS) + (list(GYR_COLUMNS) if has_gyr else []) + quat_cols
    table = _table(header, data, wanted, p)
    col = {name: k for k, name in enumerate(wanted)}
    notes: list[str] = []
    need = [col[c] for c in ACC_COLUMNS] + ([col[c] for c in GYR_COLUMNS] if has_gyr else [])
    need += [col[c] for c in quat_cols]
    complete = np.all(np.isfinite(table[:, need]), axis=1)
    if complete.sum() < 2:
        raise InputFormatError(f"{p}: fewer than 2 rows with every needed value")
    if not complete.all():
        notes.append(f"{(~complete).sum()} of {len(table)} rows with empty cells were left out")
    table = table[complete]
    rate_hz = _rate_from_metadata(metadata)
    time_s, clock = _clock(table, col, rate_hz, p)
    if rate_hz is None:
        rate_hz = float(1.0 / np.median(np.diff(time_s)))
    quat = _orientation(table, col, quat_cols) if quat_cols else None
    acc = np.ascontiguousarray(table[:, [col[c] for c in ACC_COLUMNS]])
    rel_t = time_s - time_s[0]
    if has_gyr:
        gyr = table[:, [col[c] for c in GYR_COLUMNS]]
        gyr, unit_note = _gyr_to_rad_s(gyr, gyr_unit, quat, rel_t)
        if unit_note:
            notes.append(unit_note)
    else:
        assert quat is not None
        gyr = angular_velocity_from_quat(quat, rel_t)
        notes.append(
            f"{checked_role}: no gyroscope in {p.name}; its angular velocity is derived from "
            "the Xsens on-board orientation (already filtered and bias-free, not a raw "
            "gyroscope)"
        )
    if clock != "SampleTimeFine":
        notes.append(f"{checked_role}: time from {clock} at {rate_hz:g} Hz")
    block = SampleBlock(checked_role, rel_t, acc, np.ascontiguousarray(gyr))
    return XsensExport(block, quat, rate_hz, float(time_s[0]), not has_gyr, notes, metadata)


def _clock(
    table: FloatArray, col: dict[str, int], rate_hz: float | None, path: Path
) -> tuple[FloatArray, str]:
    """(time in s on the file's clock, which column gave it)."""
    if "SampleTimeFine" in col and np.all(np.isfinite(table[:, col["SampleTimeFine"]])):
        t = _unwrap(table[:, col["SampleTimeFine"]], _WRAP_FINE) / SAMPLE_TIME_FINE_HZ
        clock = "SampleTimeFine"
    elif (
        "PacketCounter" in col
        and rate_hz is not None
        and np.all(np.isfinite(table[:, col["PacketCounter"]]))
    ):
        t = _unwrap(table[:, col["PacketCounter"]], _WRAP_COUNTER) / rate_hz
        clock = "PacketCounter"
    elif rate_hz is not None:
        t = np.arange(len(table)) / rate_hz
        clock = "the row number"
    else:
        raise InputFormatError(
            f"{path}: no timestamps (SampleTimeFine) and no '// Update Rate: ...Hz' line to "
            "time the packets by"
        )
    bad = np.flatnonzero(np.diff(t) <= 0)
    if len(bad):
        raise InputFormatError(
            f"{path}: line {bad[0] + 2} of the data: {clock} does not increase "
            f"({t[bad[0]]:g} s then {t[bad[0] + 1]:g} s)"
        )
    return t, clock


def _orientation(table: FloatArray, col: dict[str, int], quat_cols: list[str]) -> FloatArray:
    if quat_cols[0] == QUAT_COLUMNS[0]:
        q = qnormalize(table[:, [col[c] for c in QUAT_COLUMNS]])
    else:
        m = np.empty((len(table), 3, 3))
        for i in range(3):
            for j in range(3):
                m[:, i, j] = table[:, col[f"Mat[{i + 1}][{j + 1}]"]]
        q = matrix_to_quat(m)
    # One continuous sign (q and -q are the same rotation) for interpolation downstream.
    flips = np.concatenate(([False], np.einsum("ij,ij->i", q[:-1], q[1:]) < 0))
    sign = np.where(np.logical_xor.accumulate(flips), -1.0, 1.0)
    return np.ascontiguousarray(q * sign[:, None])


def _gyr_to_rad_s(
    gyr: FloatArray, unit: GyrUnit, quat: FloatArray | None, time_s: FloatArray
) -> tuple[FloatArray, str | None]:
    if unit == "rad/s":
        return gyr, None
    if unit == "deg/s":
        return np.deg2rad(gyr), None
    if quat is None:
        return np.deg2rad(gyr), "Gyr_* taken as deg/s (the Movella DOT app's unit)"
    derived = angular_velocity_from_quat(quat, time_s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        err_rad = float(np.nanmedian(np.linalg.norm(gyr - derived, axis=1)))
        err_deg = float(np.nanmedian(np.linalg.norm(np.deg2rad(gyr) - derived, axis=1)))
    if err_rad <= err_deg:
        return gyr, "Gyr_* read as rad/s (they agree with the orientation in that unit)"
    return np.deg2rad(gyr), "Gyr_* read as deg/s (they agree with the orientation in that unit)"


def read_xsens_session(paths: dict[str, str | Path]) -> tuple[dict[str, SampleBlock], list[str]]:
    """Several sensors' exports of one recording on one session clock.

    Parameters
    ----------
    paths : role -> export file.

    Returns
    -------
    (samples per role, notes): the session clock starts at the earliest first sample (the
    files' counters are the same clock for one synchronised Xsens recording).
    """
    exports = {role: read_xsens_txt(path, role) for role, path in paths.items()}
    t0 = min(e.start_s for e in exports.values())
    samples: dict[str, SampleBlock] = {}
    notes: list[str] = []
    for role, e in exports.items():
        shift = e.start_s - t0
        s = e.samples
        samples[role] = SampleBlock(s.role, s.time_s + shift, s.acc_m_s2, s.gyr_rad_s, s.mag_uT)
        notes.extend(e.notes)
    return samples, notes


def read_role_files(items: list[str]) -> tuple[dict[str, SampleBlock], list[str]]:
    """``ROLE=FILE`` arguments (one Xsens export per sensor) -> samples on one clock, notes.

    Raises
    ------
    InputFormatError
        for an item that is not ``ROLE=FILE``, a role given twice, or no pelvis.
    """
    paths: dict[str, str | Path] = {}
    for item in items:
        role, sep, path = item.partition("=")
        if not sep or not path:
            raise InputFormatError(
                f"{item!r} is not ROLE=FILE (e.g. pelvis=MT_00B42279.txt); give one Xsens "
                "export per sensor, or a single samples CSV"
            )
        role = check_role(role.strip())
        if role in paths:
            raise InputFormatError(f"{role} is given twice ({paths[role]} and {path})")
        paths[role] = path
    if "pelvis" not in paths:
        raise InputFormatError("no pelvis=FILE: every angle is relative to the pelvis")
    if len(paths) < 2:
        raise InputFormatError("only a pelvis sensor; give at least one thigh_left=/thigh_right=")
    return read_xsens_session(paths)


__all__ = [
    "XsensExport",
    "angular_velocity_from_quat",
    "read_role_files",
    "read_xsens_session",
    "read_xsens_txt",
]
