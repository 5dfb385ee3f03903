"""Record a session streamed over the virtual BLE stack, replay it: the same angles, to the bit.

The recording keeps the raw notification bytes (for decoding again with better code) and the
samples exactly as live decoded them, so a replay through the pipeline gives what live gave.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hipsense.pipeline import HipPipeline
from hipsense.recording.format import RecordType, SensorInfo, SessionMetadata
from hipsense.recording.reader import RecordingReader
from hipsense.recording.replay import replay_recording
from hipsense.recording.writer import RecordingWriter
from hipsense.sensors.ble import BleSession
from hipsense.types import RawNotification, SampleBlock
from hipsim import simulate_session
from hipsim.accuracy import issue_error_model

PROTOCOLS = {"pelvis": "open_profile", "thigh_left": "movella_dot", "thigh_right": "witmotion"}
RATES = {"pelvis": 100.0, "thigh_left": 60.0, "thigh_right": 100.0}

pytestmark = pytest.mark.slow


async def _record_live(run_over_virtual_ble, path: Path) -> tuple[HipPipeline, int]:
    session = simulate_session(
        "active_extension", 4, errors=issue_error_model(), duration_s=40.0, rate_hz=RATES
    )
    live = HipPipeline(RATES, buffer_limit_s=np.inf)
    raw_count = 0
    writer: RecordingWriter | None = None

    def start(ble: BleSession, assignments: dict[str, str]) -> None:
        nonlocal writer
        meta = SessionMetadata(
            source="ble",
            sensors=[SensorInfo(r, PROTOCOLS[r], assignments[r], RATES[r]) for r in PROTOCOLS],
            session_start_ns=ble.session_start_ns,
        )
        writer = RecordingWriter(path, meta, flush_interval_s=None)

    def consume(items: list) -> None:
        nonlocal raw_count
        assert writer is not None
        blocks = []
        for item in items:
            if isinstance(item, SampleBlock) and len(item):
                writer.add_samples(item)
                blocks.append(item)
            elif isinstance(item, RawNotification):
                writer.add_raw(item)
                raw_count += 1
        if blocks:
            live.process(blocks)

    await run_over_virtual_ble(session.samples, PROTOCOLS, RATES, consume, on_start=start)
    assert writer is not None
    # As the service does: the live calibration goes into the recording where it happened
    # (here after the last sample), so replay switches lever-arm compensation on where live did.
    writer.set_calibration(live.calibrate())
    writer.close()
    return live, raw_count


async def test_record_over_ble_then_replay_gives_the_live_angles(
    tmp_path: Path, virtual_ble
) -> None:
    path = tmp_path / "ble.hsr"
    live, raw_count = await _record_live(virtual_ble, path)
    live_angles = live.flush()
    assert len(live_angles) > 3000
    assert raw_count > 1000
    with RecordingReader(path) as reader:
        kinds = {RecordType(r.kind).name for r in reader.records()}
        assert reader.damage.clean
    assert {"RAW", "SAMPLES"} <= kinds
    replayed = replay_recording(path).angles
    assert np.array_equal(replayed.time_s, live_angles.time_s)
    for name, values in live_angles.columns.items():
        assert np.array_equal(replayed.columns[name], values, equal_nan=True), name
