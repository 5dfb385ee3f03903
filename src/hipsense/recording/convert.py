"""Import the generic samples CSV into a recording; export recordings as CSV or OpenSim files.

OpenSim formats, checked against opensim-core's own files and setups:

- Quaternion ``.sto`` (OpenSense orientations): opensim-core
  ``Applications/IK/test/quaternions_4_ik.sto`` starts with the lines ``DataRate=100.000000``,
  ``DataType=Quaternion``, ``version=3``, ``OpenSimVersion=4.2``, ``endheader``, then a
  tab-separated ``time`` + one column per IMU named ``<body>_imu`` (``pelvis_imu``,
  ``femur_r_imu``, ``femur_l_imu``...), each cell ``w,x,y,z`` (scalar first, comma-separated).
- Storage ``.mot``: a name line, ``version=1``, ``nRows=``, ``nColumns=`` (time included),
  ``inDegrees=yes``, ``endheader``, then tab-separated labels and rows (OpenSim's Storage
  header keys; e.g. opensim-core ``Applications/IK/test/std_subject01_walk1_ik.mot`` carries
  ``nRows``/``nColumns`` before ``endheader``).
- Earth frame: OpenSim's ground is Y up; IMU data is usually Z up, and OpenSense rotates it with
  ``sensor_to_opensim_rotations`` (space-fixed XYZ Euler angles, IMU space -> OpenSim). The
  OpenSense examples use ``-pi/2 0 0`` for Z-up (Xsens) data (opensim-core
  ``Bindings/Java/Matlab/OpenSenseExample/OpenSense_CalibrateModel.m``;
  ``InverseKinematicsStudy`` constructs the same default), while the IMUPlacer and
  IMUInverseKinematicsTool property default is ``0 0 0``.

What we write into the ``.sto``: the sensor orientation (sensor -> earth) from the
orientation filter (what IMUPlacer and IMU inverse kinematics consume), before any hipsense
calibration, on the session timeline. By default (``frame="y-up"``) each quaternion is
pre-multiplied by a rotation of -90 deg about the earth X axis, ``[cos 45, -sin 45, 0, 0]``,
which maps our Z-up earth frame onto a Y-up one (earth z -> y, earth y -> -z, x unchanged):
exactly the rotation OpenSense applies for ``sensor_to_opensim_rotations = -pi/2 0 0``, done
once here, so **set sensor_to_opensim_rotations to 0 0 0** with these files. With
``frame="z-up"`` the quaternions are written unchanged (Z up, like Xsens exports) and the
OpenSense setups must keep ``-pi/2 0 0``.

The ``.mot`` holds hipsense's angles under hipsense's column names (Grood & Suntay hip angles,
pelvis tilt/obliquity/rotation, degrees): they are not the coordinates of an OpenSim model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from hipsense.body.frames import qmul
from hipsense.errors import ConfigurationError
from hipsense.pipeline import HipPipeline, estimate_rate_hz
from hipsense.recording.format import SensorInfo, SessionMetadata
from hipsense.recording.generic_csv import BASE_COLUMNS, MAG_COLUMNS, read_samples_csv
from hipsense.recording.replay import (
    overview,
    replay_recording,
    session_items,
    smooth_recording,
)
from hipsense.recording.writer import RecordingWriter
from hipsense.types import ROLES, AlignedBlock, AngleBlock, SampleBlock

IMPORT_PIECE_S = 0.5
OPENSIM_IMU_NAMES = {
    "pelvis": "pelvis_imu",
    "thigh_left": "femur_l_imu",
    "thigh_right": "femur_r_imu",
}
OPENSIM_VERSION = "4.2"
# Rotation of -90 deg about earth x: Z-up earth -> Y-up OpenSim ground (scalar first).
Q_ZUP_TO_YUP = np.array([np.sqrt(0.5), -np.sqrt(0.5), 0.0, 0.0])


def import_samples_csv(
    csv_path: str | Path,
    out: str | Path,
    subject: str = "",
    sample_dtype: str = "<f8",
    overwrite: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, SampleBlock]:
    """Generic samples CSV -> ``.hsr`` recording of decoded samples (returns the samples).

    Samples are written in ``IMPORT_PIECE_S`` pieces, all sensors interleaved in time order,
    as a live recorder would have written them. ``extra`` goes into the metadata's extra
    (e.g. the client measured).
    """
    samples = read_samples_csv(csv_path)
    metadata = SessionMetadata(
        subject=subject,
        source="csv-import",
        sensors=[
            SensorInfo(role, protocol="csv", rate_hz=estimate_rate_hz(b))
            for role, b in samples.items()
        ],
        extra={"imported_from": Path(csv_path).name, **(extra or {})},
    )
    write_samples_recording(out, metadata, samples, sample_dtype, overwrite)
    return samples


def write_samples_recording(
    out: str | Path,
    metadata: SessionMetadata,
    samples: dict[str, SampleBlock],
    sample_dtype: str = "<f8",
    overwrite: bool = False,
    extra: Callable[[RecordingWriter], None] | None = None,
    compress: bool = False,
) -> None:
    """Write whole-session samples as a recording, interleaved in time order.

    ``extra`` is called with the open writer before the samples (calibration, markers...).
    """
    with RecordingWriter(
        out,
        metadata,
        sample_dtype=sample_dtype,
        flush_interval_s=None,
        overwrite=overwrite,
        compress=compress,
    ) as writer:
        if extra is not None:
            extra(writer)
        t_end = max(float(b.time_s[-1]) for b in samples.values())
        t_start = min(float(b.time_s[0]) for b in samples.values())
        edges = np.arange(t_start, t_end + 2 * IMPORT_PIECE_S, IMPORT_PIECE_S)
        # One set of edges per role, so consecutive pieces share their boundary exactly.
        cuts = {role: np.searchsorted(b.time_s, edges, side="left") for role, b in samples.items()}
        for k in range(len(edges) - 1):
            for role, block in samples.items():
                i, j = int(cuts[role][k]), int(cuts[role][k + 1])
                if j > i:
                    writer.add_samples(block.slice(i, j))


def collect_samples(path: str | Path) -> dict[str, SampleBlock]:
    """Every decoded sample of a recording, one block per role (raw data decoded again)."""
    info = overview(path)
    parts: dict[str, list[SampleBlock]] = {}
    for _, item in session_items(path, info.bulk, info.metadata):
        if isinstance(item, SampleBlock) and len(item):
            parts.setdefault(item.role, []).append(item)
    out: dict[str, SampleBlock] = {}
    for role in ROLES:
        if role in parts:
            out[role] = SampleBlock.concat(parts[role])
    return out


def export_samples_csv(path: str | Path, out: str | Path) -> int:
    """Recording -> generic samples CSV (shortest exact decimals, so it round-trips).

    Rows of all roles are interleaved in time order. Returns the number of rows.
    """
    samples = collect_samples(path)
    with_mag = all(b.mag_uT is not None for b in samples.values())
    cols = BASE_COLUMNS + (MAG_COLUMNS if with_mag else ())
    times = np.concatenate([b.time_s for b in samples.values()])
    role_of = np.concatenate([np.full(len(b), k) for k, b in enumerate(samples.values())])
    order = np.lexsort((role_of, times))
    names = list(samples)
    values = np.concatenate(
        [
            np.column_stack(
                [b.acc_m_s2, b.gyr_rad_s]
                + ([b.mag_uT] if with_mag and b.mag_uT is not None else [])
            )
            for b in samples.values()
        ]
    )[order]
    times = times[order]
    role_of = role_of[order]
    with open(out, "w", newline="") as fh:
        fh.write(",".join(cols) + "\n")
        for t, r, row in zip(times.tolist(), role_of.tolist(), values.tolist(), strict=True):
            fh.write(f"{t!r},{names[r]},{','.join(map(repr, row))}\n")
    return len(times)


class AnglesCsvWriter:
    """Write angle blocks as they come, in the format of ``hipsense process``."""

    def __init__(self, fh: TextIO, columns: list[str]) -> None:
        self.fh = fh
        self.columns = columns
        self.rows = 0
        fh.write(",".join(["time_s", *columns]) + "\n")

    def write(self, angles: AngleBlock) -> None:
        """Append the rows of ``angles``."""
        if len(angles) == 0:
            return
        data = np.column_stack([angles.time_s] + [angles.columns[c] for c in self.columns])
        fmt = ["%.5f"] + ["%.4f"] * len(self.columns)
        np.savetxt(self.fh, data, fmt=fmt, delimiter=",")
        self.rows += len(angles)


def export_angles_csv(
    path: str | Path, out: str | Path, method: str = "vqf", offline: bool = True
) -> int:
    """Recording -> angles CSV. Returns the number of rows.

    ``offline`` (default): whole-session smoothing (:func:`smooth_recording`); ``False``: the
    recording replayed through the live pipeline, block by block.
    """
    columns = overview_columns(path)
    offline = offline and _can_smooth(method)
    with open(out, "w", newline="") as fh:
        writer = AnglesCsvWriter(fh, columns)
        if offline:
            writer.write(smooth_recording(path, method).angles)
        else:
            replay_recording(path, method=method, on_angles=writer.write, keep_angles=False)
    return writer.rows


def _can_smooth(method: str) -> bool:
    """Whether ``method`` has a whole-session smoother (the others give causal numbers)."""
    from hipsense.fusion import FILTERS

    return method in FILTERS and FILTERS[method].supports_smoothing


def overview_columns(path: str | Path) -> list[str]:
    """Angle columns a replay of ``path`` produces."""
    from hipsense.types import angle_columns

    return angle_columns(list(overview(path).rates_hz))


def sensor_orientations(
    path: str | Path, method: str = "vqf", offline: bool = True
) -> AlignedBlock:
    """Filter orientations (sensor -> earth, Z up) of every sensor on the session timeline.

    ``offline`` (default): each sensor smoothed over the whole recording; ``False``: causal.
    """
    info = overview(path)
    pipe = HipPipeline(info.rates_hz, method=method)
    parts: list[AlignedBlock] = []
    collected: dict[str, list[SampleBlock]] = {}
    for _, item in session_items(path, info.bulk, info.metadata):
        if isinstance(item, SampleBlock) and item.role in pipe.filters and len(item):
            if offline:
                collected.setdefault(item.role, []).append(item)
                continue
            aligned = pipe.align(item)
            if len(aligned):
                parts.append(aligned)
    for role, blocks in collected.items():
        pipe.resampler.push(pipe.filters[role].smooth(SampleBlock.concat(blocks)))
    if collected:
        aligned = pipe.resampler.pull()
        if len(aligned):
            parts.append(aligned)
    if not parts:
        raise ConfigurationError(f"{path}: too little data for any orientation frame")
    return AlignedBlock.concat(parts)


def write_opensim_sto(aligned: AlignedBlock, out: str | Path, frame: str = "y-up") -> None:
    """OpenSense quaternion ``.sto`` of ``aligned.quat`` (see the module docstring for frames)."""
    if frame not in ("y-up", "z-up"):
        raise ConfigurationError(f"unknown OpenSim frame {frame!r}; use y-up or z-up")
    roles = [r for r in ROLES if r in aligned.quat]
    rate_hz = 1.0 / float(np.median(np.diff(aligned.time_s))) if len(aligned) > 1 else 0.0
    with open(out, "w", newline="") as fh:
        fh.write(
            f"DataRate={rate_hz:.6f}\nDataType=Quaternion\nversion=3\n"
            f"OpenSimVersion={OPENSIM_VERSION}\nendheader\n"
        )
        fh.write("\t".join(["time"] + [OPENSIM_IMU_NAMES[r] for r in roles]) + "\n")
        quats = []
        for r in roles:
            q = aligned.quat[r]
            if frame == "y-up":
                q = qmul(np.broadcast_to(Q_ZUP_TO_YUP, q.shape), q)
            quats.append(q)
        for i, t in enumerate(aligned.time_s.tolist()):
            cells = [",".join(f"{v:.10f}" for v in q[i]) for q in quats]
            fh.write(f"{t:.5f}\t" + "\t".join(cells) + "\n")


def write_opensim_mot(angles: AngleBlock, columns: list[str], out: str | Path, name: str) -> None:
    """OpenSim Storage ``.mot`` of hipsense's angles (degrees)."""
    data = np.column_stack([angles.time_s] + [angles.columns[c] for c in columns])
    with open(out, "w", newline="") as fh:
        fh.write(
            f"{name}\nversion=1\nnRows={len(angles)}\nnColumns={len(columns) + 1}\n"
            "inDegrees=yes\nendheader\n"
        )
        fh.write("\t".join(["time", *columns]) + "\n")
        if len(data):
            np.savetxt(fh, data, fmt=["%.5f"] + ["%.6f"] * len(columns), delimiter="\t")


def export_opensim(
    path: str | Path,
    out: str | Path,
    method: str = "vqf",
    frame: str = "y-up",
    offline: bool = True,
) -> tuple[Path, Path]:
    """Recording -> ``OUT`` (quaternion ``.sto``) and ``OUT`` with suffix ``.mot`` (angles)."""
    sto = Path(out)
    if sto.suffix.lower() != ".sto":
        sto = sto.with_suffix(".sto")
    mot = sto.with_suffix(".mot")
    offline = offline and _can_smooth(method)
    write_opensim_sto(sensor_orientations(path, method, offline), sto, frame)
    result = smooth_recording(path, method) if offline else replay_recording(path, method=method)
    write_opensim_mot(result.angles, result.columns, mot, Path(path).stem)
    return sto, mot
