"""Cut the BROAD excerpt used by ``tests/fusion/test_broad_excerpt.py`` from the dataset's git repo.

The excerpt is one trial from ``lead_s`` seconds before its movement phase starts to
``movement_s`` seconds after, stored as float32 (the IMU's own resolution is far coarser) in a
compressed ``.npz`` with the source commit, trial name and sample range, so it can be checked
against the original. See ``README.md`` in this folder for the licence and citation.

Run (needs h5py, the dev extra): ``.venv/bin/python tests/data/broad/make_excerpt.py
[--repo /work/.mirror/dlaidig+broad/repo] [--trial 14_undisturbed_slow_translation_with_breaks_B]``
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_REPO = Path("/work/.mirror/dlaidig+broad/repo")
DEFAULT_TRIAL = "14_undisturbed_slow_translation_with_breaks_B"
MAX_BYTES = 300_000


def _git(repo: Path, *args: str) -> bytes:
    """Output of a git command on a bare repository (no work tree needed)."""
    done = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: git {' '.join(args)} in {repo}: {done.stderr.decode().strip()}")
    return done.stdout


def make_excerpt(repo: Path, trial: str, lead_s: float, movement_s: float) -> Path:
    """Write ``<trial>_excerpt.npz`` next to this script and return its path.

    Parameters
    ----------
    repo : git directory of BROAD's repository (github.com/dlaidig/broad).
    trial : trial name, a file ``data_hdf5/<trial>.hdf5`` in that repository.
    lead_s : seconds of the rest before the first movement sample to keep.
    movement_s : seconds to keep from the first movement sample on.
    """
    commit = _git(repo, "rev-parse", "HEAD").decode().strip()
    raw = _git(repo, "show", f"{commit}:data_hdf5/{trial}.hdf5")
    with h5py.File(io.BytesIO(raw), "r") as f:
        rate_hz = float(np.asarray(f.attrs["sampling_rate"]).ravel()[0])
        movement = np.asarray(f["movement"][()]).astype(bool).ravel()
        first_move = int(np.argmax(movement))
        start = max(0, first_move - round(lead_s * rate_hz))
        stop = min(len(movement), first_move + round(movement_s * rate_hz))
        fields = {k: np.asarray(f[k][start:stop], dtype=np.float32) for k in ("imu_gyr", "imu_acc")}
        fields["opt_quat"] = np.asarray(f["opt_quat"][start:stop], dtype=np.float32)
    out = HERE / f"{trial}_excerpt.npz"
    np.savez_compressed(
        out,
        gyr_rad_s=fields["imu_gyr"],
        acc_m_s2=fields["imu_acc"],
        opt_quat=fields["opt_quat"],
        movement=movement[start:stop],
        rate_hz=np.float64(rate_hz),
        source=np.str_(f"github.com/dlaidig/broad@{commit}:data_hdf5/{trial}.hdf5"),
        sample_range=np.array([start, stop], dtype=np.int64),
    )
    size = out.stat().st_size
    print(
        f"{out.name}: samples {start}..{stop} of {len(movement)} at {rate_hz:.3f} Hz, {size} bytes"
    )
    if size > MAX_BYTES:
        out.unlink()
        raise SystemExit(f"error: the excerpt is {size} bytes, over {MAX_BYTES}; keep it shorter")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO)
    parser.add_argument("--trial", default=DEFAULT_TRIAL)
    parser.add_argument("--lead-s", type=float, default=5.0)
    parser.add_argument("--movement-s", type=float, default=15.0)
    args = parser.parse_args(argv)
    make_excerpt(args.repo, args.trial, args.lead_s, args.movement_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
