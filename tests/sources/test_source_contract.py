"""Every live source through the same checks: the contract of :mod:`hipsense.sources`.

Simulated samples, virtual BLE sensors, real-BLE code over a virtual radio and a recording's
replay must all look the same to the live session: typed devices, batches of known item types
stamped with their arrival time, samples in time order per role, a clean close; and each
optional capability is present exactly where it is claimed (checked with ``isinstance``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hipsense.body.calibration import Calibration
from hipsense.sensors.ble_roles import RoleStore
from hipsense.sources import (
    DeviceInfo,
    LiveSource,
    Scanning,
    Seeking,
    SourceBatch,
    StatusReporting,
)
from hipsense.sources.ble import BleSource
from hipsense.sources.replay import ReplaySource
from hipsense.sources.simulated import SimulatedSource
from hipsense.sources.virtual_ble import VirtualBleSource
from hipsense.types import (
    ROLES,
    ConnectionStart,
    DeviceStatus,
    Marker,
    RawNotification,
    SampleBlock,
    SensorEvent,
)
from hipsim import simulate_session
from hipsim.ble import build_radio

ASSESSMENT = Path(__file__).resolve().parents[2] / "recordings" / "assessment.hsr"
ITEM_TYPES = (SampleBlock, SensorEvent, RawNotification, ConnectionStart, Marker, Calibration)
WANTED_S = 1.5
"""Seconds of samples each source streams in the checks."""


@pytest.fixture(scope="module")
def session() -> Any:
    return simulate_session("active_extension", 3, duration_s=5.0, rate_hz=100.0)


@asynccontextmanager
async def _simulated(session: Any, _tmp: Path) -> AsyncIterator[LiveSource]:
    yield SimulatedSource(session, speed=50.0, loop=False)


@asynccontextmanager
async def _virtual_ble(session: Any, _tmp: Path) -> AsyncIterator[LiveSource]:
    yield VirtualBleSource(session, speed=None, loop=False)


@asynccontextmanager
async def _ble(session: Any, tmp: Path) -> AsyncIterator[LiveSource]:
    radio, assignments = build_radio(session.samples, speed=None)
    async with radio:
        yield BleSource(
            assignments,
            backend=radio.ble_backend(),
            store=RoleStore(tmp / "roles.json"),
            scan_timeout_s=0.3,
        )


@asynccontextmanager
async def _replay(_session: Any, _tmp: Path) -> AsyncIterator[LiveSource]:
    yield ReplaySource(ASSESSMENT, speed=None)


SOURCES = {
    "simulated": (_simulated, set()),
    "virtual_ble": (_virtual_ble, {StatusReporting}),
    "ble": (_ble, {StatusReporting, Scanning}),
    "replay": (_replay, {Seeking}),
}


async def _take(source: LiveSource, seconds: float) -> list[SourceBatch]:
    """Batches until every role has ``seconds`` of samples (or the source ends)."""
    batches: list[SourceBatch] = []
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    async for batch in source.stream():
        batches.append(batch)
        for item in batch.items:
            if isinstance(item, SampleBlock) and len(item):
                first.setdefault(item.role, float(item.time_s[0]))
                last[item.role] = float(item.time_s[-1])
        if len(last) == len(source.roles) and all(
            last[r] - first[r] >= seconds for r in source.roles
        ):
            break
    return batches


@pytest.mark.parametrize("kind", list(SOURCES))
async def test_every_source_keeps_the_contract(kind: str, session: Any, tmp_path: Path) -> None:
    make, capabilities = SOURCES[kind]
    async with make(session, tmp_path) as source:
        assert isinstance(source, LiveSource)
        assert isinstance(source.name, str) and source.name
        assert source.roles and set(source.roles) <= set(ROLES)
        assert list(source.rate_hz) == source.roles
        assert all(rate > 0 for rate in source.rate_hz.values())
        devices = source.devices()
        assert all(isinstance(d, DeviceInfo) for d in devices)
        assert [d.role for d in devices] == source.roles
        for capability in (Scanning, Seeking, StatusReporting):
            assert isinstance(source, capability) == (capability in capabilities), capability

        before_ns = time.time_ns()
        batches = await _take(source, WANTED_S)
        after_ns = time.time_ns()
        assert batches
        newest: dict[str, float] = {}
        raw = 0
        for batch in batches:
            assert isinstance(batch, SourceBatch)
            # Arrival is stamped when the data reached this machine: within the run.
            assert before_ns - 10**9 <= batch.arrived_ns <= after_ns
            for item in batch.items:
                assert isinstance(item, ITEM_TYPES), type(item)
                if isinstance(item, SampleBlock) and len(item):
                    assert item.role in source.roles
                    assert np.all(np.diff(item.time_s) > 0)
                    assert item.time_s[0] > newest.get(item.role, -np.inf), item.role
                    newest[item.role] = float(item.time_s[-1])
                raw += isinstance(item, RawNotification)
        assert set(newest) == set(source.roles)
        if raw:
            assert isinstance(source.session_start_ns, int)
        if isinstance(source, StatusReporting):
            status = source.status()
            assert all(isinstance(s, DeviceStatus) for s in status)
            assert sorted(s.role for s in status) == sorted(source.roles)
            assert all(s.samples > 0 and s.connected for s in status)
        await source.close()
        await source.close()  # idempotent
        if isinstance(source, StatusReporting):
            assert source.status() == []


async def test_scanning_capability_scans_the_radio(session: Any, tmp_path: Path) -> None:
    radio, assignments = build_radio(session.samples, speed=None)
    async with radio:
        source = BleSource(
            assignments,
            backend=radio.ble_backend(),
            store=RoleStore(tmp_path / "roles.json"),
            scan_timeout_s=0.3,
        )
        found = await source.scan()
        assert {f["address"] for f in found} == set(assignments.values())
        assert {f["role"] for f in found} == set(assignments)  # remembered roles
        answer = await source.assign_role(assignments["pelvis"], "thigh_left")
        assert answer["active"] is False and "restart" in answer["message"]


async def test_seeking_capability_plays_from_where_it_is_asked(tmp_path: Path) -> None:
    source = ReplaySource(ASSESSMENT, speed=None)
    assert isinstance(source, Seeking) and not source.paused
    first = None
    seen = 0
    async for batch in source.stream():
        seen += 1
        if seen == 1:
            source.seek(30.0)
            continue
        blocks = [i for i in batch.items if isinstance(i, SampleBlock) and len(i)]
        if seen > 2 and blocks:
            first = min(float(b.time_s[0]) for b in blocks)
            break
    assert first is not None and 30.0 <= first < 30.2
    again = source.restarted()
    assert isinstance(again, ReplaySource) and again.path == source.path
