"""Angles and markers of a session file, whatever its kind.

- ``.hsr`` recording: replayed through the pipeline; its markers come along.
- samples CSV (``time_s,role,acc_x,...``): calibrated and processed like ``hipsense process``.
- angles CSV (``time_s,hip_flexion_left_deg,...``, the output of ``hipsense process``).

A markers CSV (``start_s,end_s,exercise,side``) adds to (or replaces) the file's markers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hipsense.errors import InputFormatError
from hipsense.exercises.segments import read_markers_csv
from hipsense.types import AngleBlock, Marker


def read_angles_csv(path: str | Path) -> AngleBlock:
    """An angles CSV (header ``time_s,<columns>``) as an :class:`AngleBlock`."""
    with open(path) as fh:
        header = fh.readline().strip().split(",")
    if not header or header[0] != "time_s":
        raise InputFormatError(f"{path}: an angles CSV starts with a time_s column")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if data.shape[1] != len(header):
        raise InputFormatError(f"{path}: rows have {data.shape[1]} values, header {len(header)}")
    return AngleBlock(data[:, 0].copy(), {n: data[:, k].copy() for k, n in enumerate(header) if k})


def load_session(
    path: str | Path,
    markers_path: str | Path | None = None,
    method: str = "vqf",
    offline: bool = True,
) -> tuple[AngleBlock, list[Marker]]:
    """Calibrated angles and exercise markers of a session file (see the module docstring).

    Markers from ``markers_path`` replace the file's own when given. ``offline`` (default):
    whole-session smoothing; ``False``: the causal filter, the numbers live showed.
    """
    from hipsense.fusion import FILTERS

    path = Path(path)
    # Filters without a smoother (the ahrs comparison filters) give their causal numbers.
    offline = offline and method in FILTERS and FILTERS[method].supports_smoothing
    markers: list[Marker] = []
    if path.suffix == ".hsr":
        from hipsense.recording.replay import replay_recording, smooth_recording

        replay = (
            smooth_recording(path, method) if offline else replay_recording(path, method=method)
        )
        angles, markers = replay.angles, list(replay.markers)
    else:
        with open(path) as fh:
            header = fh.readline().strip().split(",")
        if "role" in header:
            from hipsense.pipeline import process_session
            from hipsense.recording.generic_csv import read_samples_csv

            angles = process_session(read_samples_csv(path), method=method, offline=offline).angles
        elif header and header[0] == "time_s":
            angles = read_angles_csv(path)
        else:
            raise InputFormatError(
                f"{path}: not a recording (.hsr), samples CSV (time_s,role,...) or angles CSV "
                "(time_s,hip_flexion_left_deg,...)"
            )
    if markers_path is not None:
        markers = read_markers_csv(markers_path)
    return angles, markers
