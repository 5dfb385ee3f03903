"""Helpers for recording tests: small synthetic sessions and recordings (imported by tests)."""

from __future__ import annotations

import numpy as np

from hipsense.body.calibration import Calibration, SegmentCalibration
from hipsense.recording.format import SensorInfo, SessionMetadata
from hipsense.recording.writer import RecordingWriter
from hipsense.types import Marker, RawNotification, SampleBlock, SensorEvent

ROLES3 = ("pelvis", "thigh_left", "thigh_right")


def synthetic_blocks(
    duration_s: float = 6.0, rate_hz: float = 100.0, seed: int = 0, roles=ROLES3, mag: bool = False
) -> dict[str, SampleBlock]:
    """Smooth plausible IMU signals (upright sensors, slow swinging), one block per role."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    out = {}
    for k, role in enumerate(roles):
        angle = 0.4 * np.sin(2 * np.pi * 0.5 * t + k) * (t > 2.0)
        rate = np.gradient(angle, t)
        acc = np.column_stack([9.81 * np.sin(angle), np.zeros(n), 9.81 * np.cos(angle)])
        acc += rng.normal(0, 0.02, acc.shape)
        gyr = np.column_stack([np.zeros(n), rate, np.zeros(n)]) + rng.normal(0, 0.002, (n, 3))
        m = np.tile([20.0, 0.0, -45.0], (n, 1)) if mag else None
        out[role] = SampleBlock(role, t.copy(), acc, gyr, m)
    return out


def identity_calibration(roles=ROLES3) -> Calibration:
    segments = {r: SegmentCalibration(r, [1.0, 0.0, 0.0, 0.0], 0.0, {"q": 1.0}) for r in roles}
    return Calibration(segments, (0.0, 2.0), (2.0, 5.0), 90.0, ["synthetic"])


def metadata(roles=ROLES3, rate_hz: float = 100.0) -> SessionMetadata:
    return SessionMetadata(
        subject="P01",
        source="simulator",
        sensors=[
            SensorInfo(r, "open_profile", f"AA:{i}", rate_hz, "1.2", 80.0)
            for i, r in enumerate(roles)
        ],
    )


def feed_order(blocks: dict[str, SampleBlock], step_s: float = 0.1):
    """Blocks cut into ``step_s`` pieces, interleaved by role, as a live source would."""
    n = len(next(iter(blocks.values())))
    t = next(iter(blocks.values())).time_s
    step = max(1, round(step_s / (t[1] - t[0])))
    for start in range(0, n, step):
        for b in blocks.values():
            yield b.slice(start, min(start + step, n))


def write_full_recording(path, duration_s: float = 6.0, raw: bool = True, **writer_kw):
    """A recording with every record type; returns what was written, by kind."""
    blocks = synthetic_blocks(duration_s)
    cal = identity_calibration()
    written = {"samples": [], "raw": [], "markers": [], "events": [], "calibration": cal}
    with RecordingWriter(path, metadata(), flush_interval_s=None, **writer_kw) as w:
        w.set_calibration(cal)
        for i, piece in enumerate(feed_order(blocks)):
            w.add_samples(piece)
            written["samples"].append(piece)
            if raw:
                note = RawNotification(piece.role, "AA:0", 1_000_000 * i, bytes([i % 256]) * 20)
                w.add_raw(note)
                written["raw"].append(note)
            if i == 30:
                m = Marker(1.0, 3.0, "active_extension", "left", "first try")
                w.add_marker(m)
                written["markers"].append(m)
            if i == 45:
                e = SensorEvent("thigh_left", "battery", 1.5, "battery low", {"battery_pct": 14})
                w.add_event(e)
                written["events"].append(e)
    return written
