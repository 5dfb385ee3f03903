"""Simulated sensors streamed through virtual BLE: the demo source of ``hipsense serve``.

A :class:`VirtualBleSource` puts one virtual sensor per role of a simulated session on the
simulator's virtual radio (``hipsim.ble``, a real BLE stack from ``bumble``) and streams them
through hipsense's own :class:`~hipsense.sensors.ble.BleSession`: GATT notifications, the
vendor decoders and the sensor clock, exactly as real sensors would go. The session's script
markers are added to the batches when the simulated time reaches them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hipsense.sensors.ble import BleSession, ReconnectPolicy
from hipsense.sources import DeviceInfo, SourceBatch
from hipsense.sources.ble import BleSessionSource
from hipsense.sources.simulated import SimulatedSession, simulator
from hipsense.types import ROLES, Marker, SampleBlock

if TYPE_CHECKING:
    from hipsim.ble.peripherals import Faults


class VirtualBleSource(BleSessionSource):
    """A simulated session streamed through virtual BLE sensors and hipsense's BLE session.

    Parameters
    ----------
    session : a simulated session (``samples`` role -> SampleBlock, ``markers``).
    speed : playback speed (1.0 = real time; None = as fast as possible).
    loop : start again at the end, with session time continuing.
    battery_pct : battery level reported by each virtual sensor.
    protocols : role -> wire format of its virtual sensor (open profile by default).
    faults : role -> faults to inject (``hipsim.ble.Faults``).

    Examples
    --------
    >>> source = VirtualBleSource(simulate_demo(seed=1))  # doctest: +SKIP
    >>> async for batch in source.stream(): ...  # doctest: +SKIP
    """

    name = "sim-ble"

    def __init__(
        self,
        session: SimulatedSession,
        speed: float | None = 1.0,
        loop: bool = True,
        battery_pct: int = 87,
        protocols: Mapping[str, str] | None = None,
        faults: Mapping[str, Faults] | None = None,
    ) -> None:
        super().__init__()
        simulator()
        from hipsim.ble.source import build_radio

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

    def devices(self) -> list[DeviceInfo]:
        """The virtual sensors (role, protocol, address, signal)."""
        out = []
        for r in self.roles:
            sensor = self.radio.sensor(self.assignments[r])
            out.append(
                DeviceInfo(r, sensor.protocol, self.assignments[r], signal_dbm=sensor.rssi_dbm)
            )
        return out

    async def stream(self) -> AsyncIterator[SourceBatch]:
        """Power the radio, connect the virtual sensors through the BLE session, yield."""
        await self.radio.start()
        session = BleSession(
            self.assignments,
            self.rate_hz,
            backend=self.radio.ble_backend(),
            policy=ReconnectPolicy(base_delay_s=0.2, scan_timeout_s=3.0, connect_timeout_s=3.0),
            scan_timeout_s=0.3,
        )
        next_marker = 0
        lap = 0
        try:
            async for batch in self._batches(session):
                now = self.radio.clock.sim_time_s
                while self.markers:  # a session may have none (the assessment demo)
                    if next_marker >= len(self.markers):
                        if not self.loop:
                            break
                        next_marker, lap = 0, lap + 1
                    m = self.markers[next_marker]
                    start = float(m.start_s) + lap * self.period_s
                    if start > now:
                        break
                    batch.items.append(
                        Marker(
                            start,
                            float(m.end_s) + lap * self.period_s,
                            str(m.label),
                            getattr(m, "side", None),
                            "simulated script",
                        )
                    )
                    next_marker += 1
                yield batch
        finally:
            await self.close()

    async def close(self) -> None:
        """Disconnect and power the virtual radio off."""
        await super().close()
        await self.radio.close()


__all__ = ["VirtualBleSource"]
