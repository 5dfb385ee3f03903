"""Throughput of the whole-session pipeline on a 1-hour, 3-sensor, 100 Hz session.

Each pipeline path is timed against its own baseline, interleaved in the same run (A B A B ...,
the order swapped every round so neither side always runs on a warm cache), and reported as the
ratio of its throughput to the baseline's: median and min/max over the rounds.

- smoothed: ``process_session(samples, offline=True)`` (calibration pass, forward-backward
  fusion, resampling, kinematics) against ``vqf.offlineVQF`` alone on each sensor's samples;
  target ratio >= 0.6 (issue 12);
- causal: ``process_session(samples, offline=False)`` against bare ``vqf.VQF.updateBatch`` on
  each sensor's samples; target ratio >= 0.5 (issue 12), and >= 1,000,000 samples/s with
  ratio >= 0.3 (the earlier target).

Also printed: peak memory (tracemalloc) of each path, and ``hipsense process`` including reading
the generic CSV and writing the angles CSV (once; ``--no-io`` skips it). Timings are wall
clock; the CPU time of this process is printed beside them, since other processes on the
machine take cores away from a wall-clock measurement.

Run: ``.venv/bin/python benchmarks/throughput.py [--minutes 60] [--rounds 9] [--no-io]``
"""

from __future__ import annotations

import os

# One core, as the targets are stated: no BLAS or OpenMP worker threads (set before numpy).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from vqf import VQF, offlineVQF

import hipsim
from hipsense.pipeline import estimate_rate_hz, process_session
from hipsense.recording.generic_csv import read_samples_csv, write_angles_csv
from hipsense.types import SampleBlock, angle_columns
from hipsim.accuracy import issue_error_model

TARGET_SMOOTHED_RATIO = 0.6
TARGET_CAUSAL_RATIO = 0.5
EARLIER_TARGET_SAMPLES_PER_S = 1e6
EARLIER_TARGET_RATIO = 0.3


@dataclass
class PairTiming:
    """Interleaved timings of one pipeline path and its baseline (seconds per run)."""

    name: str
    baseline_name: str
    target_ratio: float
    baseline_wall_s: list[float] = field(default_factory=list)
    pipeline_wall_s: list[float] = field(default_factory=list)
    baseline_cpu_s: list[float] = field(default_factory=list)
    pipeline_cpu_s: list[float] = field(default_factory=list)

    def ratios(self, cpu: bool = False) -> np.ndarray:
        """Throughput of the pipeline over that of the baseline, per round (base_s / pipe_s)."""
        base = self.baseline_cpu_s if cpu else self.baseline_wall_s
        pipe = self.pipeline_cpu_s if cpu else self.pipeline_wall_s
        return np.asarray(base) / np.asarray(pipe)


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call; its result is dropped."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def _contiguous(samples: dict[str, SampleBlock]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        r: (np.ascontiguousarray(b.gyr_rad_s), np.ascontiguousarray(b.acc_m_s2))
        for r, b in samples.items()
    }


def measure_interleaved(
    pairs: list[tuple[PairTiming, Callable[[], object], Callable[[], object]]], rounds: int
) -> None:
    """Run every (baseline, pipeline) pair ``rounds`` times, A B then B A, after a warm-up."""
    for _, base, pipe in pairs:  # warm-up: first calls pay for imports and allocations
        base()
        pipe()
    for k in range(rounds):
        for timing, base, pipe in pairs:
            order = [("b", base), ("p", pipe)] if k % 2 == 0 else [("p", pipe), ("b", base)]
            for which, fn in order:
                wall_s, cpu_s = _timed(fn)
                if which == "b":
                    timing.baseline_wall_s.append(wall_s)
                    timing.baseline_cpu_s.append(cpu_s)
                else:
                    timing.pipeline_wall_s.append(wall_s)
                    timing.pipeline_cpu_s.append(cpu_s)


def _peak_mb(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--no-io", action="store_true", help="skip the CSV in/out measurement")
    args = parser.parse_args()

    t0 = time.perf_counter()
    session = hipsim.simulate_session(
        "reverse_walking", seed=7, errors=issue_error_model(), duration_s=args.minutes * 60
    )
    samples = session.samples
    rates_hz = {r: estimate_rate_hz(b) for r, b in samples.items()}
    arrays = _contiguous(samples)
    n = sum(len(b) for b in samples.values())
    print(
        f"session: {args.minutes:g} min, {len(samples)} sensors at "
        f"{', '.join(f'{v:.0f}' for v in rates_hz.values())} Hz, {n:,} samples "
        f"(simulated in {time.perf_counter() - t0:.1f} s); {args.rounds} interleaved rounds"
    )

    def offline_vqf_alone() -> None:
        for role, (gyr, acc) in arrays.items():
            offlineVQF(gyr, acc, None, 1.0 / rates_hz[role])

    def bare_vqf() -> None:
        for role, (gyr, acc) in arrays.items():
            VQF(1.0 / rates_hz[role]).updateBatch(gyr, acc)

    def smoothed() -> None:
        process_session(samples, offline=True)

    def causal() -> None:
        process_session(samples, offline=False)

    smoothed_t = PairTiming("smoothed pipeline", "offlineVQF alone", TARGET_SMOOTHED_RATIO)
    causal_t = PairTiming("causal pipeline", "bare VQF", TARGET_CAUSAL_RATIO)
    measure_interleaved(
        [(smoothed_t, offline_vqf_alone, smoothed), (causal_t, bare_vqf, causal)], args.rounds
    )

    print(
        f"{'path':18s} {'baseline':17s} {'base s':>7s} {'path s':>7s} {'samples/s':>11s} "
        f"{'ratio median':>12s} {'min':>5s} {'max':>5s} {'cpu ratio':>9s} {'target':>7s}"
    )
    met: dict[str, bool] = {}
    for t in (smoothed_t, causal_t):
        r = t.ratios()
        base_s = float(np.median(t.baseline_wall_s))
        pipe_s = float(np.median(t.pipeline_wall_s))
        met[t.name] = bool(np.median(r) >= t.target_ratio)
        print(
            f"{t.name:18s} {t.baseline_name:17s} {base_s:7.3f} {pipe_s:7.3f} {n / pipe_s:11,.0f} "
            f"{np.median(r):12.2f} {r.min():5.2f} {r.max():5.2f} "
            f"{np.median(t.ratios(cpu=True)):9.2f} {'>= ' + str(t.target_ratio):>7s}"
        )
    for t in (smoothed_t, causal_t):
        print(
            f"target {t.name} >= {t.target_ratio} x {t.baseline_name} (median of "
            f"{len(t.ratios())} rounds): {'met' if met[t.name] else 'NOT met'}"
        )
    causal_rate = n / float(np.median(causal_t.pipeline_wall_s))
    earlier = (
        causal_rate >= EARLIER_TARGET_SAMPLES_PER_S
        and np.median(causal_t.ratios()) >= EARLIER_TARGET_RATIO
    )
    print(
        f"earlier target, causal pipeline >= 1,000,000 samples/s and >= {EARLIER_TARGET_RATIO} "
        f"x bare VQF: {'met' if earlier else 'NOT met'}"
    )

    input_mb = sum(g.nbytes + a.nbytes for g, a in arrays.values()) / 1e6
    print(
        f"peak memory (tracemalloc): smoothed {_peak_mb(smoothed):.0f} MB, causal "
        f"{_peak_mb(causal):.0f} MB, for {input_mb:.0f} MB of gyroscope and accelerometer arrays"
    )

    if args.no_io:
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv_in = Path(tmp) / "samples.csv"
        csv_out = Path(tmp) / "angles.csv"
        hipsim.write_samples_csv(session, csv_in)
        size_mb = csv_in.stat().st_size / 1e6
        read_s, _ = _timed(lambda: read_samples_csv(csv_in))
        loaded = read_samples_csv(csv_in)
        result = process_session(loaded)
        columns = angle_columns(list(loaded))
        write_s, _ = _timed(lambda: write_angles_csv(csv_out, result.angles, columns))
    e2e_s = read_s + float(np.median(smoothed_t.pipeline_wall_s)) + write_s
    print(
        f"hipsense process (smoothed) incl. CSV I/O: {e2e_s:.2f} s, {n / e2e_s:,.0f} samples/s; "
        f"read CSV ({size_mb:.0f} MB) {read_s:.2f} s, write angles CSV {write_s:.2f} s"
    )


if __name__ == "__main__":
    main()
