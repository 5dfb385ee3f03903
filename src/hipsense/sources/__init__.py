"""Live sources: where the serving pipeline gets its items from, all in this package.

===================  =========================================  ==============================
source               module                                     capabilities
===================  =========================================  ==============================
real BLE sensors     :mod:`hipsense.sources.ble`                :class:`Scanning`, status
virtual BLE sensors  :mod:`hipsense.sources.virtual_ble`        status
simulated samples    :mod:`hipsense.sources.simulated`          (none)
a recording          :mod:`hipsense.sources.replay`             :class:`Seeking`
===================  =========================================  ==============================

Every source follows :class:`LiveSource`: a ``name``, its ``roles`` and nominal ``rate_hz``,
static :meth:`~LiveSource.devices`, the host clock reading at session time 0
(``session_start_ns``, None for sources without raw notifications), :meth:`~LiveSource.stream`
yielding :class:`SourceBatch` (items plus the wall-clock time they arrived) and
:meth:`~LiveSource.close`. What only some sources can do is a small protocol checked with
``isinstance``: :class:`Scanning` (scan, connect, assign roles), :class:`Seeking` (pause, resume,
seek, restart) and :class:`StatusReporting` (live per-sensor counts). ``tests/sources`` runs
every source through the same contract checks.

Items are :class:`~hipsense.types.SampleBlock` (session time), :class:`~hipsense.types.SensorEvent`
(with its own session time), :class:`~hipsense.types.RawNotification` (bytes with their host
receive time, for recorders; the source decodes them itself and yields the samples too),
:class:`~hipsense.types.ConnectionStart` (a sensor's new connection begins: replay resets its
decoder there, as live did), :class:`~hipsense.types.Marker` and, from a replay, the recorded
:class:`~hipsense.body.calibration.Calibration`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from hipsense.body.calibration import Calibration
from hipsense.types import (
    ConnectionStart,
    DeviceStatus,
    Marker,
    RawNotification,
    SampleBlock,
    SensorEvent,
)

SourceItem = SampleBlock | SensorEvent | RawNotification | ConnectionStart | Marker | Calibration


@dataclass
class SourceBatch:
    """Items that arrived together, and when: ``arrived_ns`` is wall-clock time
    (``time.time_ns()``) at which the earliest of them reached this machine (a BLE
    notification's receive time, not the moment the batch was decoded)."""

    items: list[SourceItem]
    arrived_ns: int = field(default_factory=time.time_ns)


@dataclass(frozen=True)
class DeviceInfo:
    """What a source knows about one of its sensors before it streams."""

    role: str
    protocol: str
    address: str
    name: str | None = None
    signal_dbm: float | None = None


@runtime_checkable
class LiveSource(Protocol):
    """What :class:`hipsense.live.LiveSession` needs from every source."""

    name: str
    roles: list[str]
    rate_hz: dict[str, float]

    @property
    def session_start_ns(self) -> int | None:
        """Host clock (the one raw notifications are stamped with) at session time 0, or
        None when the source delivers no raw notifications."""
        ...

    def devices(self) -> list[DeviceInfo]:
        """The sensors this source will stream (role, protocol, address)."""
        ...

    def stream(self) -> AsyncIterator[SourceBatch]:
        """Yield batches of items as they arrive, in time order; ends with the source."""
        ...

    async def close(self) -> None:
        """Stop streaming and release the sensors (idempotent)."""
        ...


@runtime_checkable
class Scanning(Protocol):
    """A source whose sensors are found and assigned at run time (BLE)."""

    async def scan(self) -> list[dict[str, Any]]:
        """Scan for sensors: address, name, signal, protocol, remembered role."""
        ...

    async def connect(self, address: str) -> None:
        """Ask an assigned sensor to reconnect now."""
        ...

    async def assign_role(self, address: str, role: str) -> dict[str, Any]:
        """Remember ``role`` for ``address``."""
        ...


@runtime_checkable
class Seeking(Protocol):
    """A source that plays something recorded: pause, resume, seek, start again."""

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        ...

    def pause(self) -> None:
        """Stop yielding until :meth:`resume`."""
        ...

    def resume(self) -> None:
        """Continue from where it paused."""
        ...

    def seek(self, time_s: float) -> None:
        """Continue from session time ``time_s``."""
        ...

    def restarted(self) -> Seeking:
        """A fresh copy that plays from the start (may read files: call it off the loop)."""
        ...


@runtime_checkable
class StatusReporting(Protocol):
    """A source that keeps live per-sensor counts (decoder, clock, connection)."""

    def status(self) -> list[DeviceStatus]:
        """Each streaming sensor's status now (empty before streaming starts)."""
        ...


__all__ = [
    "DeviceInfo",
    "DeviceStatus",
    "LiveSource",
    "Scanning",
    "Seeking",
    "SourceBatch",
    "SourceItem",
    "StatusReporting",
]
