"""Throughput of the whole ``process`` pipeline on a 1-hour, 3-sensor, 100 Hz session.

Prints samples per second on one core for:
- the bare ``vqf`` filter on the same data (the baseline, measured in the same run),
- the pipeline from samples in memory to angles (fusion, resampling, calibration, kinematics),
- the same including reading the generic CSV and writing the angles CSV (``hipsense process``),
and the ratio of each to the baseline, plus peak memory (tracemalloc) of the pipeline.

Run: ``.venv/bin/python benchmarks/throughput.py [--minutes 60]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from vqf import VQF

import hipsim
from hipsense.pipeline import process_session
from hipsense.recording.generic_csv import read_samples_csv, write_angles_csv
from hipsense.types import angle_columns
from hipsim.accuracy import issue_error_model

# One core, as the target is stated.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _best_of(n: int, fn) -> float:
    best = np.inf
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    t0 = time.perf_counter()
    session = hipsim.simulate_session(
        "reverse_walking", seed=7, errors=issue_error_model(), duration_s=args.minutes * 60
    )
    samples = session.samples
    n = sum(len(b) for b in samples.values())
    print(
        f"session: {args.minutes:g} min, {len(samples)} sensors, {n} samples "
        f"(simulated in {time.perf_counter() - t0:.1f} s)"
    )

    def bare_vqf() -> None:
        for b in samples.values():
            VQF(1.0 / 100.0).updateBatch(
                np.ascontiguousarray(b.gyr_rad_s), np.ascontiguousarray(b.acc_m_s2)
            )

    def pipeline() -> None:
        process_session(samples)

    base_s = _best_of(args.repeat, bare_vqf)
    pipe_s = _best_of(args.repeat, pipeline)
    tracemalloc.start()
    result = process_session(samples)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    input_mb = (
        sum(b.acc_m_s2.nbytes + b.gyr_rad_s.nbytes + b.time_s.nbytes for b in samples.values())
        / 1e6
    )

    with tempfile.TemporaryDirectory() as tmp:
        csv_in = Path(tmp) / "samples.csv"
        csv_out = Path(tmp) / "angles.csv"
        hipsim.write_samples_csv(session, csv_in)
        size_mb = csv_in.stat().st_size / 1e6

        def end_to_end() -> None:
            loaded = read_samples_csv(csv_in)
            res = process_session(loaded)
            write_angles_csv(csv_out, res.angles, angle_columns(list(loaded)))

        t_read = _best_of(1, lambda: read_samples_csv(csv_in))
        t_write = _best_of(
            1, lambda: write_angles_csv(csv_out, result.angles, angle_columns(list(samples)))
        )
        e2e_s = _best_of(1, end_to_end)

    rows = [
        ("bare vqf (baseline)", base_s),
        ("pipeline, samples in memory", pipe_s),
        ("hipsense process incl. CSV I/O", e2e_s),
    ]
    print(f"{'stage':34s} {'seconds':>8s} {'samples/s':>12s} {'ratio to vqf':>13s}")
    for name, sec in rows:
        print(f"{name:34s} {sec:8.2f} {n / sec:12,.0f} {base_s / sec:13.2f}")
    print(
        f"  of which: read CSV ({size_mb:.0f} MB) {t_read:.2f} s, write angles CSV {t_write:.2f} s"
    )
    print(
        f"peak memory of the pipeline (tracemalloc): {peak / 1e6:.0f} MB "
        f"for {input_mb:.0f} MB of input arrays"
    )
    target = n / pipe_s >= 1e6 and base_s / pipe_s >= 0.3
    print(
        f"target >= 1,000,000 samples/s and ratio >= 0.3 (pipeline): "
        f"{'met' if target else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
