"""Crash safety: ``kill -9`` of a real recorder process loses at most the last second."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np

from hipsense.recording.reader import RecordingReader
from hipsense.types import SampleBlock

RECORDER = r"""
import sys, time
import numpy as np
from hipsense.recording.format import SessionMetadata, SensorInfo
from hipsense.recording.writer import RecordingWriter
from hipsense.types import SampleBlock

meta = SessionMetadata(subject="crash", sensors=[SensorInfo("pelvis", rate_hz=100.0)])
w = RecordingWriter(sys.argv[1], meta)   # default: background flush + fsync every 0.5 s
t0 = time.monotonic()
k = 0
while True:
    now = time.monotonic() - t0
    n_due = int(now * 100)
    if n_due > k:
        t = np.arange(k, n_due) / 100.0
        w.add_samples(SampleBlock("pelvis", t, np.ones((len(t), 3)), np.zeros((len(t), 3))))
        k = n_due
        print(f"{t[-1]:.2f}", flush=True)
    time.sleep(0.01)
"""


def test_kill_9_loses_at_most_one_second(tmp_path):
    path = tmp_path / "crash.hsr"
    proc = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = proc.stdout.readline()  # started and writing
        assert first
        time.sleep(2.3)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    last_added_s = float((first + rest).split()[-1])
    with RecordingReader(path) as reader:
        blocks = [v for v in reader.items() if isinstance(v, SampleBlock)]
        damage = reader.damage
    assert not damage.damaged  # at most an incomplete last record
    t = np.concatenate([b.time_s for b in blocks])
    assert np.array_equal(t, np.arange(len(t)) / 100.0)  # nothing missing in between
    assert last_added_s > 2.0
    assert t[-1] >= last_added_s - 1.0, (t[-1], last_added_s)
