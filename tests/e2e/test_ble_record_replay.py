"""Record a session streamed over the virtual BLE stack, replay it: the same angles, to the bit.

The recording keeps the raw notification bytes (for decoding again with better code) and the
samples exactly as live decoded them, so a replay through the pipeline gives what live gave.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hipsense.pipeline import HipPipeline
from hipsense.recording.format import (
    CONNECTION_START,
    RecordType,
    SensorInfo,
    SessionMetadata,
    connection_start,
)
from hipsense.recording.reader import RecordingReader
from hipsense.recording.replay import raw_decoder, replay_recording, session_items
from hipsense.recording.sessions import SessionRecorder, recording_metadata
from hipsense.recording.writer import RecordingWriter
from hipsense.sensors.ble import BleSession
from hipsense.types import ConnectionStart, RawNotification, SampleBlock, SensorEvent
from hipsim import simulate_session
from hipsim.accuracy import issue_error_model
from hipsim.ble import Faults

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


async def test_a_recording_with_two_disconnects_replays_from_raw_bytes_to_the_live_numbers(
    tmp_path: Path, virtual_ble
) -> None:
    """The one recorder keeps each reconnection's start among the raw bytes; decoding the raw
    bytes again (as a better decoder would) resets the decoders there, as live did, and gives
    the live samples and angles to the bit."""
    session = simulate_session(
        "active_extension", 5, errors=issue_error_model(), duration_s=30.0, rate_hz=RATES
    )
    faults = {"thigh_right": Faults(disconnect_at_s=(9.0, 19.0), out_of_range_s=0.8, seed=4)}
    path = tmp_path / "reconnects.hsr"
    live_blocks: dict[str, list[SampleBlock]] = {}
    starts = 0
    recorder: SessionRecorder | None = None

    def start(ble: BleSession, _assignments: dict[str, str]) -> None:
        nonlocal recorder
        meta = recording_metadata(ble.status(), "ble", "", "", 0.0, ble.session_start_ns, "test")
        recorder = SessionRecorder(path, meta)

    def consume(items: list) -> None:
        nonlocal starts
        assert recorder is not None
        recorder.write_batch(items)
        for item in items:
            if isinstance(item, SampleBlock) and len(item):
                live_blocks.setdefault(item.role, []).append(item)
            starts += isinstance(item, ConnectionStart)

    status, _ = await virtual_ble(session.samples, PROTOCOLS, RATES, consume, faults, None, start)
    assert recorder is not None
    assert {s.role: s.reconnects for s in status}["thigh_right"] == 2
    assert starts == 3 + 2  # every first connection and the two reconnections
    live = {r: SampleBlock.concat(b) for r, b in live_blocks.items()}
    pipe = HipPipeline(RATES, buffer_limit_s=np.inf)
    pipe.process(list(live.values()))
    recorder.write_batch([pipe.calibrate()])
    live_angles = pipe.flush()
    recorder.finish()

    decoded: dict[str, list[SampleBlock]] = {}
    for _, item in session_items(path, bulk="raw"):
        if isinstance(item, SampleBlock):
            decoded.setdefault(item.role, []).append(item)
    for role, block in live.items():
        again = SampleBlock.concat(decoded[role])
        assert np.array_equal(again.time_s, block.time_s), role
        assert np.array_equal(again.acc_m_s2, block.acc_m_s2), role
        assert np.array_equal(again.gyr_rad_s, block.gyr_rad_s), role
    # Any grouping of the same arrivals decodes the same: one at a time, or all at once.
    arrivals: list = []
    meta = None
    with RecordingReader(path) as reader:
        for record in reader.records():
            value = record.value()
            if isinstance(value, SessionMetadata):
                meta = value
            elif isinstance(value, list):
                arrivals.extend(value)
            elif isinstance(value, SensorEvent) and value.kind == CONNECTION_START:
                arrivals.append(connection_start(value))
    assert meta is not None
    for grouping in ([arrivals], [[a] for a in arrivals]):
        decoder = raw_decoder(meta)
        blocks = [b for group in grouping for b in decoder.decode(group)[0]]
        for role, block in live.items():
            again = SampleBlock.concat([b for b in blocks if b.role == role])
            assert np.array_equal(again.time_s, block.time_s), (role, len(grouping))
            assert np.array_equal(again.acc_m_s2, block.acc_m_s2), (role, len(grouping))
    replayed = replay_recording(path, bulk="raw").angles
    assert len(live_angles) > 2000
    assert np.array_equal(replayed.time_s, live_angles.time_s)
    for name, values in live_angles.columns.items():
        assert np.array_equal(replayed.columns[name], values, equal_nan=True), name
