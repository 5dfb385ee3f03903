"""Recording and replay figures for a 1-hour, 3-sensor, 100 Hz session (simulated).

Run: ``.venv/bin/python benchmarks/replay.py [--minutes 60]``. Prints

- replay at max speed: times real time (target >= 500x) and the ratio to ``hipsense
  process``'s batch pipeline on the same data, measured in the same run;
- peak memory of the replay (target < 200 MB; VmHWM of a fresh subprocess, which includes
  the interpreter and numpy, and tracemalloc's peak of Python/numpy allocations);
- bytes per hour on disk (float64 and float32 signals);
- record-while-streaming CPU cost: writer CPU seconds per hour of data, fed in 50 ms blocks
  per sensor as a live session does (decoded samples), and as raw notifications.

The session is 10 simulated minutes (calibration routine first) tiled to the requested length;
a calibration record is written 30 s in, as a live session writes it after the routine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BLOCK_S = 0.05
TILE_S = 600.0


def _session(minutes: float) -> dict:
    import hipsim
    from hipsense.types import SampleBlock

    sim = hipsim.simulate_session("active_extension", seed=11, duration_s=TILE_S)
    reps = int(np.ceil(minutes * 60 / TILE_S))
    out = {}
    for role, b in sim.samples.items():
        n = len(b)
        t = np.concatenate([b.time_s + k * TILE_S for k in range(reps)])
        keep = t < minutes * 60
        out[role] = SampleBlock(
            role,
            t[keep],
            np.tile(b.acc_m_s2, (reps, 1))[keep],
            np.tile(b.gyr_rad_s, (reps, 1))[keep],
        )
        assert len(out[role]) <= reps * n
    return out


def _live_pieces(samples: dict, block_s: float = BLOCK_S):
    n = min(len(b) for b in samples.values())
    step = round(block_s * 100)
    for i in range(0, n, step):
        for b in samples.values():
            yield b.slice(i, min(i + step, n))


def _write(path: Path, samples: dict, dtype: str, calibration) -> float:
    from hipsense.recording.format import SensorInfo, SessionMetadata
    from hipsense.recording.writer import RecordingWriter

    meta = SessionMetadata(
        subject="bench",
        source="simulator",
        sensors=[SensorInfo(r, "simulator", rate_hz=100.0) for r in samples],
    )
    cpu0 = time.process_time()
    with RecordingWriter(path, meta, sample_dtype=dtype) as writer:
        for piece in _live_pieces(samples):
            writer.add_samples(piece)
            if calibration is not None and piece.role == "pelvis" and piece.time_s[0] >= 30.0:
                writer.set_calibration(calibration)
                calibration = None
    return time.process_time() - cpu0


def _write_raw(path: Path, samples: dict) -> float:
    from hipsense.recording.format import SensorInfo, SessionMetadata
    from hipsense.recording.writer import RecordingWriter
    from hipsense.sensors.protocols import open_profile
    from hipsense.types import RawNotification

    notes = []
    for k, (role, b) in enumerate(samples.items()):
        frames = open_profile.encode_samples(b.acc_m_s2, b.gyr_rad_s, 0, 0, 10_000.0)
        t_ns = (np.arange(len(frames)) * 0.19e9).astype(np.int64) + k
        notes.extend(
            RawNotification(role, f"AA:{k}", int(t), f)
            for t, f in zip(t_ns.tolist(), frames, strict=True)
        )
    notes.sort(key=lambda n: n.host_time_ns)
    meta = SessionMetadata(
        sensors=[SensorInfo(r, "open_profile", rate_hz=100.0) for r in samples],
        session_start_ns=0,
    )
    cpu0 = time.process_time()
    with RecordingWriter(path, meta) as writer:
        for note in notes:
            writer.add_raw(note)
    return time.process_time() - cpu0


def _peak_rss_mb() -> float:
    """Peak resident memory of this process image (VmHWM). Not ``ru_maxrss``: Linux carries
    that across ``exec`` from the parent at ``fork`` time, so a child started by this benchmark
    (which holds the whole simulated hour) reported the parent's size, about 200 MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _child(mode: str, path: str) -> None:
    """Measure one thing in a fresh process; print a JSON line."""
    import tracemalloc

    trace = os.environ.get("BENCH_TRACEMALLOC") == "1"
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    if mode == "replay":
        from hipsense.recording.replay import replay_recording

        result = replay_recording(path, keep_angles=False)
        frames = result.frames
    else:
        from hipsense.pipeline import process_session
        from hipsense.recording.convert import collect_samples

        samples = collect_samples(path)
        t0 = time.perf_counter()  # `process` timing excludes reading its input
        frames = len(process_session(samples).angles)
    wall = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    rss_mb = _peak_rss_mb()
    print(json.dumps({"wall_s": wall, "frames": frames, "rss_mb": rss_mb, "traced_mb": peak / 1e6}))


def _run_child(mode: str, path: Path, trace: bool = False) -> dict:
    env = {**os.environ, "BENCH_TRACEMALLOC": "1" if trace else "0"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return 0

    from hipsense.pipeline import process_session

    hours = args.minutes / 60
    samples = _session(args.minutes)
    first = {r: b.slice(0, 3000) for r, b in samples.items()}
    calibration = process_session(first).calibration
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cpu_f8 = _write(d / "f8.hsr", samples, "<f8", calibration)
        cpu_f4 = _write(d / "f4.hsr", samples, "<f4", calibration)
        cpu_raw = _write_raw(d / "raw.hsr", samples)
        size_f8 = (d / "f8.hsr").stat().st_size / hours
        size_f4 = (d / "f4.hsr").stat().st_size / hours
        size_raw = (d / "raw.hsr").stat().st_size / hours
        replay = _run_child("replay", d / "f8.hsr")
        replay_trace = _run_child("replay", d / "f8.hsr", trace=True)
        process = _run_child("process", d / "f8.hsr")
    duration_s = args.minutes * 60
    print(f"session: {args.minutes:g} min, 3 sensors at 100 Hz ({duration_s * 300:.0f} samples)")
    print(
        f"replay at max speed:      {replay['wall_s']:.1f} s = "
        f"{duration_s / replay['wall_s']:.0f}x real time (target >= 500x)"
    )
    print(
        f"hipsense process (batch): {process['wall_s']:.1f} s = "
        f"{duration_s / process['wall_s']:.0f}x real time; "
        f"replay/process time ratio {replay['wall_s'] / process['wall_s']:.2f}"
    )
    print(
        f"replay peak memory:       {replay['rss_mb']:.0f} MB max RSS (whole process), "
        f"{replay_trace['traced_mb']:.0f} MB traced allocations (target < 200 MB); "
        f"process: {process['rss_mb']:.0f} MB max RSS"
    )
    print(
        f"bytes per hour on disk:   {size_f8 / 1e6:.1f} MB (float64 signals), "
        f"{size_f4 / 1e6:.1f} MB (float32), {size_raw / 1e6:.1f} MB (raw open-profile bytes)"
    )
    print(
        f"writer CPU per hour:      {cpu_f8 / hours:.2f} s (decoded samples, 50 ms blocks, f64), "
        f"{cpu_f4 / hours:.2f} s (f32), {cpu_raw / hours:.2f} s (raw notifications, one call "
        "each)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
