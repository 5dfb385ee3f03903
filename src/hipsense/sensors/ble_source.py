"""The BLE live source of the service: real sensors through :class:`BleSession`.

It follows :class:`hipsense.sources.LiveSource` (``roles``, ``rate_hz``, ``stream()``) and the
optional capabilities the service discovers: ``devices()``, ``status()``, ``scan()``,
``connect(address)``, ``assign_role(address, role)`` and ``close()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from hipsense.errors import ConfigurationError
from hipsense.sensors.ble import (
    BleBackend,
    BleSession,
    FoundDevice,
    Item,
    ReconnectPolicy,
    scan,
)
from hipsense.sensors.ble_roles import RoleStore
from hipsense.sensors.protocols import SPECS
from hipsense.types import check_role


class BleSource:
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
        self.session: BleSession | None = None
        self._last_scan: dict[str, FoundDevice] = {}

    def devices(self) -> list[dict[str, Any]]:
        """Static descriptions: role, protocol (if known) and address."""
        return [
            {
                "role": role,
                "protocol": self.store.protocol_of(address) or "unknown",
                "address": address,
            }
            for role, address in self.assignments.items()
        ]

    def status(self) -> list[dict[str, Any]]:
        """Live per-sensor status (battery, RSSI, data rate, gaps, malformed, connected)."""
        return self.devices() if self.session is None else self.session.status()

    async def stream(self) -> AsyncIterator[list[Item]]:
        """Scan once, connect the sensors one at a time, then yield what they send."""
        session = BleSession(
            self.assignments,
            self.rate_hz,
            backend=self.backend,
            policy=self.policy,
            scan_timeout_s=self.scan_timeout_s,
        )
        self.session = session
        try:
            await session.start()
            for role, link in session._links.items():
                self.store.assign(link.address, role, protocol=link.spec.name, name=link.name)
            self.store.save()
            async for items in session.items():
                yield items
        finally:
            await session.stop()
            self.session = None

    async def scan(self) -> list[dict[str, Any]]:
        """Scan for sensors (refused while a session is connecting or reconnecting)."""
        if self.session is not None:
            async with self.session._radio_lock:
                found = await scan(self.scan_timeout_s, self.backend)
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
        if self.session is None or role not in self.session._links:
            raise ConfigurationError(f"{address} ({role}) is not part of the running session")
        link = self.session._links[role]
        if not link.connected:
            link.lost.set()

    async def close(self) -> None:
        """Disconnect every sensor."""
        if self.session is not None:
            await self.session.stop()
            self.session = None
