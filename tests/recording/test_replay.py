"""Replay: identical angles to live block-by-block processing; raw path; paced source."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from recording_helpers import feed_order, identity_calibration, metadata, synthetic_blocks

from hipsense.pipeline import HipPipeline, estimate_rate_hz, process_session
from hipsense.recording.convert import collect_samples, write_samples_recording
from hipsense.recording.replay import replay_recording
from hipsense.recording.writer import RecordingWriter
from hipsense.sensors.stream import SensorStream
from hipsense.sources.replay import ReplaySource
from hipsense.types import AngleBlock, Marker, RawNotification, SampleBlock


def test_replay_equals_live_block_by_block(tmp_path):
    blocks = synthetic_blocks(8.0)
    cal = identity_calibration()
    path = tmp_path / "s.hsr"
    with RecordingWriter(path, metadata(), flush_interval_s=None) as w:
        w.set_calibration(cal)
        for piece in feed_order(blocks, 0.02):
            w.add_samples(piece)
    live = HipPipeline({r: 100.0 for r in blocks}, calibration=cal)
    out = [live.process(piece) for piece in feed_order(blocks, 0.02)]
    expected = AngleBlock.concat([a for a in out if len(a)])
    result = replay_recording(path)
    assert result.calibration_source == "recording"
    assert len(expected) > 700
    assert np.array_equal(result.angles.time_s, expected.time_s)
    for col in result.columns:
        assert np.array_equal(result.angles.columns[col], expected.columns[col]), col


def test_calibration_in_the_middle_flushes_the_buffer_like_live(tmp_path):
    blocks = synthetic_blocks(6.0)
    cal = identity_calibration()
    path = tmp_path / "s.hsr"
    pieces = list(feed_order(blocks, 0.1))
    live = HipPipeline({r: 100.0 for r in blocks})
    out = []
    with RecordingWriter(path, metadata(), flush_interval_s=None) as w:
        for i, piece in enumerate(pieces):
            if i == 45:
                w.set_calibration(cal)
                live.set_calibration(cal)
                out.append(live.flush())
            w.add_samples(piece)
            out.append(live.process(piece))
    expected = AngleBlock.concat([a for a in out if len(a)])
    result = replay_recording(path)
    assert np.array_equal(result.angles.time_s, expected.time_s)
    for col in result.columns:
        assert np.array_equal(result.angles.columns[col], expected.columns[col])


@pytest.fixture(scope="module")
def sim_session():
    hipsim = pytest.importorskip("hipsim")
    return hipsim.simulate_session("calibration", seed=2, duration_s=32.0)


def test_auto_calibration_matches_hipsense_process(tmp_path, sim_session):
    path = tmp_path / "sim.hsr"
    meta = metadata()
    for sensor in meta.sensors:  # the rates `process` estimates, as `hipsense import` stores
        sensor.rate_hz = estimate_rate_hz(sim_session.samples[sensor.role])
    write_samples_recording(path, meta, sim_session.samples)
    result = replay_recording(path)
    assert result.calibration_source == "auto"
    batch = process_session(sim_session.samples)
    assert np.array_equal(result.angles.time_s, batch.angles.time_s)
    for col in result.columns:
        assert np.array_equal(result.angles.columns[col], batch.angles.columns[col]), col


def _raw_recording(path, duration_s=3.0):
    """Open-profile notifications of synthetic samples, with host receive times."""
    from hipsense.sensors.protocols import open_profile

    blocks = synthetic_blocks(duration_s, roles=("pelvis", "thigh_left"))
    start_ns = 5_000_000_000
    notes = []
    for k, (role, b) in enumerate(blocks.items()):
        frames = open_profile.encode_samples(b.acc_m_s2, b.gyr_rad_s, 0, 1000 * k, 10_000.0)
        for i, frame in enumerate(frames):
            # each frame holds 19 samples; it arrives 20 ms after its last sample
            t_ns = start_ns + int((min(19 * (i + 1), len(b)) / 100.0 + 0.02) * 1e9)
            notes.append(RawNotification(role, f"AA:{k}", t_ns + k * 1000, frame))
    notes.sort(key=lambda n: n.host_time_ns)
    meta = metadata(("pelvis", "thigh_left"))
    for sensor in meta.sensors:
        sensor.protocol = "open_profile"
    meta.session_start_ns = start_ns
    with RecordingWriter(path, meta, flush_interval_s=None) as w:
        w.set_calibration(identity_calibration(("pelvis", "thigh_left")))
        for n in notes:
            w.add_raw(n)
    return meta, notes, blocks


def test_raw_recording_replays_through_the_decoders(tmp_path):
    path = tmp_path / "raw.hsr"
    meta, notes, blocks = _raw_recording(path)
    got = collect_samples(path)
    for role, block in blocks.items():
        live = SensorStream("open_profile", role, 100.0, meta.session_start_ns)
        mine = [n for n in notes if n.role == role]
        parts = [live.feed(n.data, n.host_time_ns)[0] for n in mine]
        expected = np.concatenate([p.acc_m_s2 for p in parts])
        assert np.array_equal(got[role].acc_m_s2, expected)
        dt = np.abs(got[role].time_s - np.concatenate([p.time_s for p in parts])).max()
        assert dt < 1e-9  # feed() vs feed_many() of SensorStream differ by 1 ulp
        assert np.allclose(got[role].acc_m_s2, block.acc_m_s2[: len(expected)], atol=0.01)
    result = replay_recording(path)
    assert result.frames > 200 and result.calibration_source == "recording"


def _stream_all(source, on_group=None):
    async def run():
        groups = []
        async for batch in source.stream():
            groups.append(batch.items)
            if on_group is not None:
                on_group(source, len(groups))
        return groups

    return asyncio.run(run())


def _source_recording(tmp_path, duration_s=4.0):
    blocks = synthetic_blocks(duration_s)
    path = tmp_path / "src.hsr"
    with RecordingWriter(path, metadata(), flush_interval_s=None) as w:
        w.set_calibration(identity_calibration())
        for i, piece in enumerate(feed_order(blocks, 0.25)):
            w.add_samples(piece)
            if i == 12:
                w.add_marker(Marker(1.0, 2.0, "hold_pails", "left"))
    return path, blocks


def test_replay_source_max_speed_yields_everything_in_time_order(tmp_path):
    path, blocks = _source_recording(tmp_path)
    groups = _stream_all(ReplaySource(path, speed=None, step_s=0.05))
    items = [i for g in groups for i in g]
    for role, block in blocks.items():
        got = [i for i in items if isinstance(i, SampleBlock) and i.role == role]
        assert np.array_equal(np.concatenate([b.time_s for b in got]), block.time_s)
        assert np.array_equal(np.concatenate([b.acc_m_s2 for b in got]), block.acc_m_s2)
    assert sum(isinstance(i, Marker) for i in items) == 1
    ends = [
        max(i.time_s[-1] for i in g if isinstance(i, SampleBlock))
        for g in groups
        if any(isinstance(i, SampleBlock) for i in g)
    ]
    assert ends == sorted(ends)


def test_replay_source_paces_pauses_and_seeks(tmp_path):
    path, _ = _source_recording(tmp_path, duration_s=2.0)
    import time

    t0 = time.perf_counter()
    _stream_all(ReplaySource(path, speed=4.0))
    assert 0.35 < time.perf_counter() - t0 < 1.5  # 2 s of data at 4x

    def seek_once(source, n):
        if n == 3:
            source.seek(1.5)

    groups = _stream_all(ReplaySource(path, speed=None), seek_once)
    after = [i for g in groups[3:] for i in g if isinstance(i, SampleBlock)]
    assert min(b.time_s[0] for b in after) >= 1.5

    def pause_once(source, n):
        if n == 2:
            source.pause()
            asyncio.get_running_loop().call_later(0.3, source.resume)

    t0 = time.perf_counter()
    _stream_all(ReplaySource(path, speed=None), pause_once)
    assert time.perf_counter() - t0 >= 0.3
