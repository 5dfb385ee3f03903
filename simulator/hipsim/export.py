"""CSV exports of a simulated session: samples, ground truth, exercise markers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hipsim.session import SimSession

SAMPLE_COLUMNS = ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
MAG_COLUMNS = ("mag_x", "mag_y", "mag_z")


def write_samples_csv(session: SimSession, path: str | Path) -> None:
    """Write all sensors' samples to one CSV, rows interleaved in time order.

    Header ``time_s,role,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z`` (plus ``mag_x,mag_y,mag_z``
    when the session has magnetometers); acc in m/s^2, gyr in rad/s, mag in uT, all in sensor
    coordinates; ``time_s`` the reported timestamps (s, ``%.6f``), values ``%.7g``.
    """
    blocks = list(session.samples.values())
    with_mag = bool(blocks) and all(b.mag_uT is not None for b in blocks)
    times = np.concatenate([b.time_s for b in blocks]) if blocks else np.zeros(0)
    roles = (
        np.concatenate([np.full(len(b), b.role, dtype=object) for b in blocks])
        if blocks
        else np.zeros(0, dtype=object)
    )
    parts = []
    for b in blocks:
        cols = [b.acc_m_s2, b.gyr_rad_s]
        if with_mag and b.mag_uT is not None:  # with_mag: every block has one
            cols.append(b.mag_uT)
        parts.append(np.hstack(cols))
    values = np.vstack(parts) if parts else np.zeros((0, 9 if with_mag else 6))
    order = np.lexsort((roles.astype(str), times))
    header = ["time_s", "role", *SAMPLE_COLUMNS, *(MAG_COLUMNS if with_mag else ())]
    lines = [",".join(header)]
    value_fmt = ",".join(["%.7g"] * values.shape[1])
    time_text = np.char.mod("%.6f", times[order])
    value_text = [value_fmt % tuple(row) for row in values[order].tolist()]
    lines.extend(
        f"{t},{r},{v}" for t, r, v in zip(time_text, roles[order], value_text, strict=True)
    )
    Path(path).write_text("\n".join(lines) + "\n")


def write_truth_csv(session: SimSession, path: str | Path, rate_hz: float = 100.0) -> None:
    """Write the ground truth on a regular grid: ``time_s`` then the angle columns (deg)."""
    time_s, truth = session.truth_table(rate_hz)
    names = list(truth)
    table = np.column_stack([time_s, *(truth[n] for n in names)]) + 0.0  # no "-0.000000"
    fmt = ["%.6f"] + ["%.6f"] * len(names)
    np.savetxt(
        path, table, fmt=fmt, delimiter=",", header=",".join(["time_s", *names]), comments=""
    )


def write_markers_csv(session: SimSession, path: str | Path) -> None:
    """Write exercise phases (not the calibration routine or rests): start_s,end_s,exercise,side.

    ``side`` is empty for two-sided phases.
    """
    lines = ["start_s,end_s,exercise,side"]
    for m in session.exercise_markers():
        lines.append(f"{m.start_s:.3f},{m.end_s:.3f},{m.label},{m.side or ''}")
    Path(path).write_text("\n".join(lines) + "\n")
