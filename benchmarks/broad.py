"""6D inclination accuracy on BROAD: hipsense's fusion against vqf's own estimators.

BROAD (Laidig, Caruso, Cereatti & Seel 2021, "BROAD - A Benchmark for Robust Inertial
Orientation Estimation", Data 6(7):72, doi:10.3390/data6070072, CC-BY-4.0) holds trials of one
IMU moved by hand with optical ground truth. Each trial's HDF5 file carries ``imu_gyr`` (rad/s),
``imu_acc`` (m/s^2), ``imu_mag`` (uT), ``opt_quat`` (sensor -> ENU, scalar first, NaN where the
markers were lost), ``movement`` (the samples the paper's errors are taken over) and the
attribute ``sampling_rate`` (Hz).

For every trial this prints the inclination RMSE (deg) over the movement phase of

- ``hipsense offline``: ``estimate_orientation(..., offline=True)`` (whole trial, forward-backward),
- ``offlineVQF``: ``vqf.offlineVQF`` called directly (6D),
- ``VQF live``: ``vqf.VQF(...).updateBatch`` (6D, causal),
- ``hipsense causal``: ``estimate_orientation(..., offline=False)``,

then the means over the trials, and whether hipsense offline is no worse than ``offlineVQF``.
Without a magnetometer heading is unobservable, so only inclination is scored: the angle of the
earth-frame error quaternion ``q_est * conj(q_ref)`` away from a pure rotation about the
vertical, as the paper defines it, which equals the angle between the vertical seen in sensor
coordinates by the estimate and by the reference.

Run: ``.venv/bin/python benchmarks/broad.py /work/data/broad [--trials 02,24]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from vqf import VQF, offlineVQF

from hipsense.fusion import estimate_orientation
from hipsense.types import FloatArray

#: The paper's dataset has 39 trials; a checkout may hold fewer (see the folder's trials.json).
TRIAL_PATTERN = "*.hdf5"


class BroadFileError(Exception):
    """A BROAD folder or trial file that cannot be used; the message is one line."""


@dataclass(frozen=True)
class BroadTrial:
    """One BROAD trial, as stored in its HDF5 file.

    Attributes
    ----------
    name : trial name (the file name without ``.hdf5``).
    gyr_rad_s, acc_m_s2 : (N, 3) IMU samples in sensor coordinates.
    rate_hz : sampling rate.
    opt_quat : (N, 4) optical reference orientation, sensor -> ENU earth, scalar first; rows
        are NaN where the reference is missing.
    movement : (N,) bool, the samples the errors are computed over.
    """

    name: str
    gyr_rad_s: FloatArray
    acc_m_s2: FloatArray
    rate_hz: float
    opt_quat: FloatArray
    movement: np.ndarray


def load_trial(path: Path) -> BroadTrial:
    """Read one BROAD trial file, checking the fields this benchmark uses.

    Raises
    ------
    BroadFileError : the file cannot be opened as HDF5 or lacks a field (named in the message).
    """
    import h5py  # the dev extra; imported here so a missing package is one clear message

    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("imu_gyr", "imu_acc", "opt_quat", "movement") if k not in f]
            if missing or "sampling_rate" not in f.attrs:
                missing += [] if "sampling_rate" in f.attrs else ["sampling_rate (attribute)"]
                raise BroadFileError(
                    f"{path}: not a BROAD trial file, missing {', '.join(missing)}"
                )
            gyr = np.ascontiguousarray(f["imu_gyr"][()], dtype=np.float64)
            acc = np.ascontiguousarray(f["imu_acc"][()], dtype=np.float64)
            opt_quat = np.asarray(f["opt_quat"][()], dtype=np.float64)
            movement = np.asarray(f["movement"][()]).astype(bool).ravel()
            rate_hz = float(np.asarray(f.attrs["sampling_rate"]).ravel()[0])
    except BroadFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BroadFileError(f"{path}: cannot read it as a BROAD HDF5 trial ({reason})") from None
    n = len(gyr)
    if gyr.shape != (n, 3) or acc.shape != (n, 3) or opt_quat.shape != (n, 4) or len(movement) != n:
        raise BroadFileError(
            f"{path}: inconsistent shapes (imu_gyr {gyr.shape}, imu_acc {acc.shape}, "
            f"opt_quat {opt_quat.shape}, movement {movement.shape})"
        )
    if not (np.isfinite(rate_hz) and rate_hz > 0):
        raise BroadFileError(f"{path}: sampling_rate must be a positive number, got {rate_hz}")
    return BroadTrial(path.stem, gyr, acc, rate_hz, opt_quat, movement)


def trial_paths(folder: Path) -> list[Path]:
    """The trial files of a BROAD folder, sorted by name.

    Raises
    ------
    BroadFileError : the folder does not exist or holds no ``*.hdf5`` file.
    """
    if not folder.is_dir():
        raise BroadFileError(f"{folder}: no such folder (give the folder with BROAD's .hdf5 files)")
    paths = sorted(folder.glob(TRIAL_PATTERN))
    if not paths:
        raise BroadFileError(f"{folder}: no {TRIAL_PATTERN} file in it (BROAD's data_hdf5 folder?)")
    return paths


def _earth_vertical_in_sensor(q: FloatArray) -> FloatArray:
    """Earth +z in sensor coordinates (the third row of the rotation matrix of ``q``)."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.column_stack(
        (2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z)
    )


def inclination_error_deg(q_est: FloatArray, q_ref: FloatArray) -> FloatArray:
    """Inclination error of each sample, degrees (NaN where either quaternion is NaN).

    The error quaternion in the earth frame, ``q_est * conj(q_ref)``, rotates earth +z by the
    angle between the two estimates' verticals in sensor coordinates; that angle is the
    inclination error and ignores any heading offset (Laidig et al. 2021, sec. 4).

    Parameters
    ----------
    q_est, q_ref : (N, 4) scalar-first quaternions, sensor -> earth (z up).
    """
    a = _earth_vertical_in_sensor(np.asarray(q_est, dtype=float))
    b = _earth_vertical_in_sensor(np.asarray(q_ref, dtype=float))
    # atan2 of |a x b| and a . b: accurate for the small angles that matter here.
    cross_norm = np.linalg.norm(np.cross(a, b), axis=1)
    return np.degrees(np.arctan2(cross_norm, np.sum(a * b, axis=1)))


def inclination_rmse_deg(q_est: FloatArray, trial: BroadTrial) -> float:
    """Inclination RMSE (deg) of ``q_est`` over the trial's movement phase, NaN rows ignored."""
    err = inclination_error_deg(q_est[trial.movement], trial.opt_quat[trial.movement])
    return float(np.sqrt(np.nanmean(err**2)))


Estimator = Callable[[BroadTrial], FloatArray]


def _hipsense_offline(t: BroadTrial) -> FloatArray:
    return estimate_orientation(t.gyr_rad_s, t.acc_m_s2, t.rate_hz, offline=True)


def _offline_vqf(t: BroadTrial) -> FloatArray:
    return np.asarray(offlineVQF(t.gyr_rad_s, t.acc_m_s2, None, 1.0 / t.rate_hz)["quat6D"])


def _vqf_live(t: BroadTrial) -> FloatArray:
    return np.asarray(VQF(1.0 / t.rate_hz).updateBatch(t.gyr_rad_s, t.acc_m_s2)["quat6D"])


def _hipsense_causal(t: BroadTrial) -> FloatArray:
    return estimate_orientation(t.gyr_rad_s, t.acc_m_s2, t.rate_hz, offline=False)


ESTIMATORS: dict[str, Estimator] = {
    "hipsense offline": _hipsense_offline,
    "offlineVQF": _offline_vqf,
    "VQF live": _vqf_live,
    "hipsense causal": _hipsense_causal,
}


def evaluate_trial(trial: BroadTrial) -> dict[str, float]:
    """Inclination RMSE (deg, movement phase) of every estimator in :data:`ESTIMATORS`."""
    return {name: inclination_rmse_deg(fn(trial), trial) for name, fn in ESTIMATORS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder with BROAD's .hdf5 trial files")
    parser.add_argument(
        "--trials", default="", help="comma-separated trial numbers or names (default: all)"
    )
    args = parser.parse_args(argv)
    try:
        import h5py  # noqa: F401
    except ImportError:
        print("error: benchmarks/broad.py needs h5py: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    try:
        paths = trial_paths(args.folder)
        wanted = [w.strip() for w in args.trials.split(",") if w.strip()]
        if wanted:
            paths = [
                p for p in paths if any(p.stem == w or p.stem.startswith(w + "_") for w in wanted)
            ]
            if not paths:
                raise BroadFileError(f"{args.folder}: no trial matches --trials {args.trials}")
        t0 = time.perf_counter()
        names = list(ESTIMATORS)
        rows: list[list[float]] = []
        for path in paths:
            trial = load_trial(path)
            if not rows:  # after the first file read, so a bad folder prints only its error
                print(f"{'trial':48s} " + " ".join(f"{n:>16s}" for n in names))
            res = evaluate_trial(trial)
            rows.append([res[n] for n in names])
            print(f"{trial.name:48s} " + " ".join(f"{res[n]:16.3f}" for n in names))
    except BroadFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    means = np.mean(np.array(rows), axis=0)
    print(f"{f'mean over {len(rows)} trials':48s} " + " ".join(f"{m:16.3f}" for m in means))
    mean = dict(zip(names, means, strict=True))
    ok = mean["hipsense offline"] <= mean["offlineVQF"] + 1e-9
    print(
        f"hipsense offline {mean['hipsense offline']:.3f} deg vs offlineVQF "
        f"{mean['offlineVQF']:.3f} deg: {'no worse (met)' if ok else 'WORSE (NOT met)'}; "
        f"{time.perf_counter() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
