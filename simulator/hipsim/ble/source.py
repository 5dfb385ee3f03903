"""A simulated session played through virtual BLE sensors and hipsense's real BLE session.

:func:`build_radio` puts one virtual sensor per role of a :class:`~hipsim.SimSession` on a
:class:`~hipsim.ble.radio.VirtualRadio`; :class:`VirtualBleSource` is a drop-in for
``hipsense.sources.simulated.SimulatedSource`` whose samples went through GATT notifications,
the vendor decoders and the sensor clock, exactly like real sensors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import numpy as np

from hipsense.sensors.ble import BleSession, ReconnectPolicy
from hipsense.types import ROLES, Marker, SampleBlock
from hipsim.ble.peripherals import SENSOR_CLASSES, Faults, VirtualSensor
from hipsim.ble.radio import VirtualRadio

DEFAULT_PROTOCOLS = dict.fromkeys(ROLES, "open_profile")


def sensor_address(role: str) -> str:
    """The static random address the virtual sensor of ``role`` uses."""
    return f"D0:00:00:00:00:{ROLES.index(role) + 1:02X}"  # type: ignore[arg-type]


def build_radio(
    samples: Mapping[str, SampleBlock],
    protocols: Mapping[str, str] | None = None,
    faults: Mapping[str, Faults] | None = None,
    speed: float | None = None,
    loop: bool = False,
    battery_pct: float | None = None,
) -> tuple[VirtualRadio, dict[str, str]]:
    """A radio with one virtual sensor per role, and the role -> address assignments.

    Parameters
    ----------
    samples : role -> the session's samples for that sensor.
    protocols : role -> wire format (``open_profile`` by default).
    faults : role -> fault injection.
    speed : simulated seconds per wall second (None: as fast as possible).
    loop : replay the session continuously.
    battery_pct : battery level of every sensor (overrides ``faults``).
    """
    protocols = {**DEFAULT_PROTOCOLS, **(protocols or {})}
    sensors: list[VirtualSensor] = []
    assignments: dict[str, str] = {}
    for role in ROLES:
        if role not in samples:
            continue
        f = (faults or {}).get(role) or Faults(seed=ROLES.index(role))  # type: ignore[arg-type]
        if battery_pct is not None:
            f.battery_pct = battery_pct
        cls = SENSOR_CLASSES[protocols[role]]
        address = sensor_address(role)
        sensors.append(cls(samples[role], address, faults=f, loop=loop))
        assignments[role] = address
    return VirtualRadio(sensors, speed=speed), assignments


class VirtualBleSource:
    """Drop-in for ``SimulatedSource``: the session streams through virtual BLE sensors.

    Parameters
    ----------
    session : a simulated session (``samples`` role -> SampleBlock, ``markers``).
    block_s : unused (batches follow the notifications); kept for the same signature.
    speed : playback speed (1.0 = real time; None = as fast as possible).
    loop : start again at the end, with session time continuing.
    battery_pct : battery level reported by each virtual sensor.
    protocols : role -> wire format of its virtual sensor (open profile by default).
    faults : role -> faults to inject.

    Examples
    --------
    >>> source = VirtualBleSource(simulate_demo(seed=1))  # doctest: +SKIP
    >>> async for items in source.stream(): ...  # doctest: +SKIP
    """

    name = "sim-ble"

    def __init__(
        self,
        session: Any,
        block_s: float = 0.02,
        speed: float | None = 1.0,
        loop: bool = True,
        battery_pct: int = 87,
        protocols: Mapping[str, str] | None = None,
        faults: Mapping[str, Faults] | None = None,
    ) -> None:
        self.samples: dict[str, SampleBlock] = dict(session.samples)
        self.markers: Sequence[Any] = sorted(session.markers, key=lambda m: float(m.start_s))
        self.roles: list[str] = [r for r in ROLES if r in self.samples]
        self.radio, self.assignments = build_radio(
            self.samples, protocols, faults, speed, loop, battery_pct
        )
        self.rate_hz: dict[str, float] = {}
        for role in self.roles:
            spec_rate = self.radio.sensor(self.assignments[role]).default_rate_hz
            block_rate = float(round(1.0 / np.median(np.diff(self.samples[role].time_s)), 6))
            self.rate_hz[role] = block_rate if block_rate else spec_rate
        ends = [float(b.time_s[-1]) for b in self.samples.values()]
        self.period_s = max(ends) + 1.0 / min(self.rate_hz.values())
        self.loop = loop
        self.session: BleSession | None = None

    def devices(self) -> list[dict[str, Any]]:
        """Descriptions of the virtual sensors (role, protocol, address, signal)."""
        return [
            {
                "role": r,
                "protocol": self.radio.sensor(self.assignments[r]).protocol,
                "address": self.assignments[r],
                "signal_dbm": self.radio.sensor(self.assignments[r]).rssi_dbm,
            }
            for r in self.roles
        ]

    def status(self) -> list[dict[str, Any]]:
        """The BLE session's device status (empty before streaming starts)."""
        return [] if self.session is None else self.session.status()

    async def stream(self) -> AsyncIterator[list[Any]]:
        """Connect the virtual sensors through hipsense's BLE session and yield its items."""
        await self.radio.start()
        session = BleSession(
            self.assignments,
            self.rate_hz,
            backend=self.radio.ble_backend(),
            policy=ReconnectPolicy(base_delay_s=0.2, scan_timeout_s=3.0, connect_timeout_s=3.0),
            scan_timeout_s=0.3,
        )
        self.session = session
        try:
            await session.start()
            next_marker = 0
            lap = 0
            async for items in session.items():
                now = self.radio.clock.sim_time_s
                out: list[Any] = list(items)
                while self.markers:  # a session may have none (the assessment demo)
                    if next_marker >= len(self.markers):
                        if not self.loop:
                            break
                        next_marker, lap = 0, lap + 1
                    m = self.markers[next_marker]
                    start = float(m.start_s) + lap * self.period_s
                    if start > now:
                        break
                    out.append(
                        Marker(
                            start,
                            float(m.end_s) + lap * self.period_s,
                            str(m.label),
                            getattr(m, "side", None),
                            "simulated script",
                        )
                    )
                    next_marker += 1
                yield out
        finally:
            await self.close()

    async def close(self) -> None:
        """Disconnect and power the virtual radio off."""
        if self.session is not None:
            await self.session.stop()
            self.session = None
        await self.radio.close()


__all__ = ["VirtualBleSource", "build_radio", "sensor_address"]
