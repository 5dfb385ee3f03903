"""BLE live sources: sensors streaming through hipsense's :class:`~hipsense.sensors.ble.BleSession`.

:class:`BleSessionSource` turns a running BLE session into :class:`~hipsense.sources.SourceBatch`
items (each batch stamped with the wall-clock time its first notification arrived) and reports
the session's per-sensor status. :class:`BleSource` streams the real sensors whose roles are
remembered in the data directory and can scan, connect and assign roles
(:class:`~hipsense.sources.Scanning`); :mod:`hipsense.sources.virtual_ble` streams simulated
sensors through the same session over a virtual radio.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from hipsense.errors import ConfigurationError
from hipsense.sensors.ble import (
    BleBackend,
    BleError,
    BleSession,
    FoundDevice,
    ReconnectPolicy,
    scan,
)
from hipsense.sensors.ble_roles import RoleStore
from hipsense.sensors.protocols import SPECS
from hipsense.sources import DeviceInfo, DeviceStatus, SourceBatch
from hipsense.types import RawNotification, check_role


class BleSessionSource:
    """What every BLE source shares: the session's items as batches, its status, closing.

    Subclasses set ``name``, ``roles`` and ``rate_hz`` and open the session in ``stream``.
    """

    name = "ble"
    roles: list[str]
    rate_hz: dict[str, float]

    def __init__(self) -> None:
        self.session: BleSession | None = None

    @property
    def session_start_ns(self) -> int | None:
        """The BLE session's host clock at session time 0 (None before it starts)."""
        return None if self.session is None else self.session.session_start_ns

    def devices(self) -> list[DeviceInfo]:
        """The sensors this source streams (each subclass knows them)."""
        raise NotImplementedError

    def stream(self) -> AsyncIterator[SourceBatch]:
        """Open the BLE session and yield its batches (each subclass opens its own)."""
        raise NotImplementedError

    def status(self) -> list[DeviceStatus]:
        """The BLE session's per-sensor status (empty before streaming starts)."""
        return [] if self.session is None else self.session.status()

    async def _batches(self, session: BleSession) -> AsyncIterator[SourceBatch]:
        """Start ``session`` and yield what it decodes, until it stops; then stop it."""
        self.session = session
        try:
            await session.start()
            self._started(session)
            async for items in session.items():
                raw_ns = [i.host_time_ns for i in items if isinstance(i, RawNotification)]
                arrived = session.arrival_wall_ns(min(raw_ns)) if raw_ns else time.time_ns()
                yield SourceBatch(list(items), arrived)
        finally:
            await session.stop()
            self.session = None

    def _started(self, session: BleSession) -> None:
        """Every sensor is connected (subclasses remember what they found)."""

    async def close(self) -> None:
        """Disconnect every sensor."""
        if self.session is not None:
            await self.session.stop()
            self.session = None


class BleSource(BleSessionSource):
    """Stream the sensors whose roles are remembered (or given) over BLE.

    Parameters
    ----------
    assignments : role -> address; default: the roles remembered in the data directory.
    rate_hz : requested output rate (each protocol gets its closest supported rate).
    backend : the BLE platform (tests: a virtual radio's ``ble_backend()``).
    store : where roles are remembered.
    policy : reconnection policy.
    scan_timeout_s : duration of each scan.
    """

    name = "ble"

    def __init__(
        self,
        assignments: Mapping[str, str] | None = None,
        rate_hz: float = 100.0,
        backend: BleBackend | None = None,
        store: RoleStore | None = None,
        policy: ReconnectPolicy | None = None,
        scan_timeout_s: float = 5.0,
    ) -> None:
        super().__init__()
        self.store = store or RoleStore()
        given = dict(assignments or {})
        for role, address in given.items():
            self.store.assign(address, check_role(role))
        if given:
            self.store.save()
        self.assignments = given or self.store.assignments()
        if not self.assignments:
            raise ConfigurationError(
                "no BLE sensors have roles yet: run 'hipsense scan', then assign them, e.g. "
                "'hipsense record OUT.hsr --pelvis ADDR --thigh-left ADDR --thigh-right ADDR' "
                f"(roles are remembered in {self.store.path})"
            )
        self.backend = backend
        self.policy = policy
        self.scan_timeout_s = scan_timeout_s
        self.roles: list[str] = list(self.assignments)
        self.rate_hz: dict[str, float] = {}
        for role, address in self.assignments.items():
            protocol = self.store.protocol_of(address)
            spec = SPECS.get(protocol) if protocol else None
            self.rate_hz[role] = spec.check_rate(rate_hz) if spec else float(rate_hz)
        self._last_scan: dict[str, FoundDevice] = {}

    def devices(self) -> list[DeviceInfo]:
        """Static descriptions: role, protocol (if known) and address."""
        return [
            DeviceInfo(role, self.store.protocol_of(address) or "unknown", address)
            for role, address in self.assignments.items()
        ]

    def stream(self) -> AsyncIterator[SourceBatch]:
        """Scan once, connect the sensors one at a time, then yield what they send."""
        session = BleSession(
            self.assignments,
            self.rate_hz,
            backend=self.backend,
            policy=self.policy,
            scan_timeout_s=self.scan_timeout_s,
        )
        return self._batches(session)

    def _started(self, session: BleSession) -> None:
        for status in session.status():
            self.store.assign(
                status.address, status.role, protocol=status.protocol, name=status.name
            )
        self.store.save()

    async def scan(self) -> list[dict[str, Any]]:
        """Scan for sensors (waits while the session connects or reconnects a sensor)."""
        if self.session is not None:
            found = await self.session.scan(self.scan_timeout_s)
        else:
            found = await scan(self.scan_timeout_s, self.backend)
        self._last_scan = {f.address: f for f in found}
        return [{**f.to_dict(), "role": self.store.role_of(f.address)} for f in found]

    async def assign_role(self, address: str, role: str) -> dict[str, Any]:
        """Remember ``role`` for ``address``; it takes effect when the source restarts."""
        found = self._last_scan.get(address.upper())
        self.store.assign(
            address,
            check_role(role),
            protocol=found.protocol if found else None,
            name=found.name if found else None,
        )
        self.store.save()
        active = self.assignments.get(role, "").upper() == address.upper()
        return {
            "address": address.upper(),
            "role": role,
            "active": active,
            "message": "" if active else "restart the BLE source to use the new assignment",
        }

    async def connect(self, address: str) -> None:
        """Ask for an immediate reconnection of an assigned sensor."""
        role = self.store.role_of(address)
        if role is None:
            raise ConfigurationError(f"{address} has no role: assign one first")
        if self.session is None:
            raise ConfigurationError(f"{address} ({role}) is not part of the running session")
        try:
            self.session.reconnect(role)
        except BleError:
            raise ConfigurationError(
                f"{address} ({role}) is not part of the running session"
            ) from None
