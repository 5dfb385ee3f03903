"""One gap, one message; and ``hipsense record`` and the service record the same event times.

Both recording paths go through :class:`~hipsense.recording.sessions.SessionRecorder` with
the source's own :class:`~hipsense.types.SensorEvent` objects: a gap or a disconnection is
stored at the time the sensor stream or the BLE session gave it, not at the live clock's time
when the live session handled it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hipsense.api.file_routes import record_live
from hipsense.cli.ble import record_source
from hipsense.live import LiveSession
from hipsense.recording.format import CONNECTION_START
from hipsense.recording.reader import RecordingReader
from hipsense.recording.sessions import SessionStore
from hipsense.sources.virtual_ble import VirtualBleSource
from hipsense.types import SensorEvent
from hipsim import simulate_session
from hipsim.ble import Faults

LOST_AT_S = 4.0
OUT_OF_RANGE_S = 0.5


@pytest.fixture(scope="module")
def session() -> Any:
    return simulate_session("active_extension", 6, duration_s=10.0, rate_hz=100.0)


def _source(session: Any) -> VirtualBleSource:
    faults = {
        "thigh_left": Faults(disconnect_at_s=(LOST_AT_S,), out_of_range_s=OUT_OF_RANGE_S, seed=2)
    }
    return VirtualBleSource(session, speed=4.0, loop=False, faults=faults)


def _events(path: Path) -> list[SensorEvent]:
    with RecordingReader(path) as reader:
        return [v for r in reader.records() if isinstance(v := r.value(), SensorEvent)]


async def _served(session: Any, tmp_path: Path) -> tuple[Path, list[dict[str, Any]], Any]:
    """The service's path: a live session with a recording from its start, and what one
    client received."""
    source = _source(session)
    live = LiveSession(source)
    store = SessionStore(tmp_path / "served")
    recorder = record_live(store, live, "served", "", "")
    feed = live.add_recorder(recorder)
    client = live.subscribe(maxlen=100_000)
    await live.start()
    await source.radio.wait_finished(60.0)
    devices = {d.role: d for d in live.device_status()}
    await live.remove_recorder(feed)
    await live.stop()
    store.finish(recorder)
    store.close()
    messages = []
    while len(client):
        messages.append(json.loads(await client.get()))
    return recorder.path, messages, devices


async def test_one_lost_connection_is_one_gap_message_and_one_counted_gap(
    session: Any, tmp_path: Path
) -> None:
    _, messages, devices = await _served(session, tmp_path)
    gaps = [m for m in messages if m["type"] == "sensor" and m["kind"] == "gap"]
    assert [m["role"] for m in gaps] == ["thigh_left"]
    lost = gaps[0]["sensor_time_s"]
    assert LOST_AT_S - 0.1 < lost < LOST_AT_S + 0.1
    assert devices["thigh_left"].gaps == 1 and devices["pelvis"].gaps == 0
    assert devices["thigh_left"].disconnects == 1 and devices["thigh_left"].reconnects == 1


async def test_record_and_the_service_record_the_same_event_times(
    session: Any, tmp_path: Path
) -> None:
    served, messages, _ = await _served(session, tmp_path)
    recorded = tmp_path / "recorded.hsr"
    source = _source(session)
    await record_source(source, recorded, "simulator", "", {}, source.radio.wait_finished(60.0))

    def gaps(events: list[SensorEvent]) -> list[tuple[str, float]]:
        return sorted((e.role, round(e.time_s, 9)) for e in events if e.kind == "gap")

    # The gap starts at the last sample before the loss on the sensor stream's clock: the same
    # in both paths (how long it lasts depends on how fast the sensor was found again).
    by_record, by_service = gaps(_events(recorded)), gaps(_events(served))
    assert len(by_record) == 1 and abs(by_record[0][1] - LOST_AT_S) < 0.1
    assert by_service == by_record
    # Every event the service recorded carries the time its source gave it (what the client
    # was told as sensor_time_s), not the live clock's time when it was handled.
    told = {
        (m["role"], m["kind"], round(m["sensor_time_s"], 9))
        for m in messages
        if m["type"] == "sensor" and "sensor_time_s" in m
    }
    stored = {
        (e.role, e.kind, round(e.time_s, 9))
        for e in _events(served)
        if e.kind != CONNECTION_START  # kept for replay's decoders, never sent to clients
    }
    assert {"gap", "disconnected", "reconnected"} <= {k for _, k, _ in stored}
    assert stored == told
