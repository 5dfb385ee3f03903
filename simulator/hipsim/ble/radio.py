"""One virtual radio: bumble's LocalLink, a central for bleak, virtual sensors and a sim clock.

Time
----
The link itself has no notion of connection events or air time, so the radio runs a small
discrete-event scheduler: every virtual sensor has a connection interval and sends what it has
measured at each of its connection events. Simulated time can run as fast as the Python stack
allows (``speed=None``) or be paced against the wall clock (``speed=1.0`` is real time).

Receive times are the part a host application sees: the sensor clock in hipsense fits session
time to host receive times. The radio therefore provides a host clock (:attr:`clock`,
``clock.now_ns``) that a BLE session uses instead of ``time.monotonic_ns``: each notification is
queued with the simulated time it reaches the host, and the client backend sets the clock to
that time right before it hands the bytes to bleak's callback. Simulated time starts when every
virtual sensor is streaming (or ``start_timeout_s`` of wall time after the first one is).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import importlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason
from bumble import hci
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from hipsense.sources.pacing import Pacer
from hipsim.ble.backend import bind

if TYPE_CHECKING:
    from hipsense.sensors.ble import BleBackend
    from hipsim.ble.peripherals import VirtualSensor

CENTRAL_ADDRESS = "C0:00:00:00:00:C0"
HOST_CLOCK_BASE_NS = 1_000_000_000_000
"""Host ``monotonic_ns`` at simulated time 0 (any value; not 0 to catch offset mistakes)."""
MAX_IN_FLIGHT = 200
"""Notifications the scheduler may have on the link before it waits for the host."""
MAX_PACING_LAG_S = 0.1
"""Paced playback further behind the wall clock than this (s) is shifted, not caught up."""


_BUMBLE_MODULES_WITH_COLOR = (
    "att",
    "controller",
    "device",
    "gatt",
    "gatt_client",
    "gatt_server",
    "hci",
    "host",
    "l2cap",
)


def _plain(s: str, *_args: object, **_kwargs: object) -> str:
    return s


def cheap_bumble_debug_strings() -> bool:
    """Stop bumble from colouring the debug text it builds for every packet.

    bumble writes ``logger.debug(f"{color(...)}: {packet}")`` on every HCI/ATT packet; an
    f-string is evaluated even when DEBUG is off, and ANSI colouring was about 1/6 of the
    virtual stack's CPU in the live benchmark (the packet text itself is still built). When
    bumble's logger is not enabled for DEBUG, its modules' ``color`` is replaced by a function
    returning the text as is. Returns True when applied.
    """
    if logging.getLogger("bumble").isEnabledFor(logging.DEBUG):
        return False
    for name in _BUMBLE_MODULES_WITH_COLOR:
        module: Any = importlib.import_module(f"bumble.{name}")  # a module global is replaced
        if hasattr(module, "color"):
            module.color = _plain
    return True


class VirtualClock:
    """Host clock of the virtual world: ``now_ns()`` is a drop-in for ``time.monotonic_ns``."""

    def __init__(self, base_ns: int = HOST_CLOCK_BASE_NS) -> None:
        self.base_ns = base_ns
        self._now_ns = base_ns

    def now_ns(self) -> int:
        """Current host time in ns (simulated time + base)."""
        return self._now_ns

    def advance_to(self, host_ns: int) -> None:
        """Move the clock forward to ``host_ns`` (never backwards)."""
        if host_ns > self._now_ns:
            self._now_ns = host_ns

    @property
    def sim_time_s(self) -> float:
        """Simulated seconds since time 0."""
        return (self._now_ns - self.base_ns) / 1e9


class VirtualRadio:
    """A virtual BLE world for bleak: sensors on a bumble link, a central, a scheduler.

    Parameters
    ----------
    sensors : the virtual sensors (see :mod:`hipsim.ble.peripherals`).
    speed : simulated seconds per wall second, or None for as fast as possible.
    adapter_available : False makes scanning and connecting fail like a host without Bluetooth.
    start_timeout_s : wall seconds after the first sensor streams before time starts anyway.

    Examples
    --------
    >>> radio = VirtualRadio([OpenProfileSensor(samples, "D0:00:00:00:00:01")])  # doctest: +SKIP
    >>> await radio.start()  # doctest: +SKIP
    >>> BleakScanner(backend=radio.scanner_backend)  # doctest: +SKIP
    """

    def __init__(
        self,
        sensors: Sequence[VirtualSensor] = (),
        speed: float | None = None,
        adapter_available: bool = True,
        start_timeout_s: float = 3.0,
    ) -> None:
        self.sensors: list[VirtualSensor] = list(sensors)
        self.speed = speed
        self.adapter_available = adapter_available
        self.start_timeout_s = start_timeout_s
        self.clock = VirtualClock()
        self.scanner_backend, self.client_backend = bind(self)
        self.link: LocalLink | None = None
        self._central: Device | None = None
        self._in_flight: dict[str, deque[tuple[bytes, int]]] = {}
        self._n_in_flight = 0
        self._drained = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._clock_started = asyncio.Event()
        self.sim_time_s = 0.0
        self.finished = asyncio.Event()
        self.events_processed = 0

    # --- set-up ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Build the link, power the sensors on (advertising) and start the scheduler."""
        if self.link is not None:
            return
        cheap_bumble_debug_strings()
        self.link = LocalLink()
        for sensor in self.sensors:
            await sensor.attach(self)
        self._task = asyncio.create_task(self._run(), name="hipsim-radio")

    async def central(self) -> Device:
        """The central device bleak's backends use (created on first use)."""
        if self.link is None:
            await self.start()
        if self._central is None:
            assert self.link is not None
            self._central = make_device(self.link, "hipsense-host", CENTRAL_ADDRESS)
            await self._central.power_on()
        return self._central

    async def close(self) -> None:
        """Stop the scheduler and power everything off."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # Disconnect and stop advertising, but do not power off: a bumble host that is reset
        # while an HCI command is pending fails in a loop callback.
        if self._central is not None:
            for connection in list(self._central.connections.values()):
                with contextlib.suppress(Exception):
                    await connection.disconnect()
            self._central = None
        for sensor in self.sensors:
            await sensor.detach()
        await asyncio.sleep(0)

    async def __aenter__(self) -> VirtualRadio:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def check_adapter(self) -> None:
        """Raise what bleak raises on a host without a usable adapter."""
        if not self.adapter_available:
            raise BleakBluetoothNotAvailableError(
                "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
            )

    def rssi_of(self, address: str) -> int:
        """Signal strength the scanner reports for a sensor (dBm)."""
        for sensor in self.sensors:
            if sensor.address == address:
                return sensor.rssi_dbm
        return -100

    def sensor(self, address: str) -> VirtualSensor:
        """The virtual sensor at ``address``."""
        for s in self.sensors:
            if s.address == address:
                return s
        raise KeyError(address)

    def ble_backend(self) -> BleBackend:
        """The platform for hipsense's BLE code: these backends, this clock, this sleep."""
        from hipsense.sensors.ble import BleBackend

        return BleBackend(self.scanner_backend, self.client_backend, self.clock.now_ns, self.sleep)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of simulated time (a drop-in for ``asyncio.sleep``).

        Before simulated time starts, or once every sensor has finished, it only yields.
        """
        target = self.clock.sim_time_s + seconds
        if not self._clock_started.is_set() or self.finished.is_set():
            await asyncio.sleep(0)
            return
        while self.clock.sim_time_s < target and not self.finished.is_set():
            await asyncio.sleep(0.001 if self.speed is None else min(0.02, seconds / self.speed))

    # --- host receive times ------------------------------------------------------------------
    def queue_notification(self, address: str, data: bytes, host_ns: int) -> None:
        """Record the host receive time of a notification the sensor is about to send."""
        self._in_flight.setdefault(address, deque()).append((data, host_ns))
        self._n_in_flight += 1
        self._drained.clear()

    def delivered(self, address: str, data: bytes | None = None) -> None:
        """A notification reached the host: set the host clock to its receive time."""
        queue = self._in_flight.get(address)
        if not queue:
            return
        # Match on the bytes when given, so a notification the host never saw (a subscription
        # race) cannot shift every later receive time.
        if data is not None and queue[0][0] != data:
            for i, (d, _) in enumerate(queue):
                if d == data:
                    for _ in range(i):
                        queue.popleft()
                    self._n_in_flight -= i
                    break
                if i > 64:
                    return
            else:
                return
        _, host_ns = queue.popleft()
        self._n_in_flight -= 1
        self.clock.advance_to(host_ns)
        if self._n_in_flight <= 0:
            self._n_in_flight = 0
            self._drained.set()

    def forget_in_flight(self, address: str) -> None:
        """The link to ``address`` is gone: its queued notifications will never arrive."""
        queue = self._in_flight.pop(address, None)
        if queue:
            self._n_in_flight = max(0, self._n_in_flight - len(queue))
        if self._n_in_flight == 0:
            self._drained.set()

    # --- the scheduler -----------------------------------------------------------------------
    def start_clock(self) -> None:
        """Start simulated time now (normally automatic once every sensor streams)."""
        self._clock_started.set()

    async def _wait_for_start(self) -> None:
        first_streaming: float | None = None
        while not self._clock_started.is_set():
            streaming = [s.streaming for s in self.sensors if s.powered]
            if streaming and all(streaming):
                break
            if any(streaming):
                now = time.perf_counter()
                first_streaming = first_streaming or now
                if now - first_streaming > self.start_timeout_s:
                    break
            await asyncio.sleep(0.002)
        self._clock_started.set()

    async def _run(self) -> None:
        await self._wait_for_start()
        heap: list[tuple[float, int, int]] = []
        for i, sensor in enumerate(self.sensors):
            heapq.heappush(heap, (sensor.first_event_s(), i, 0))
        pacer = None if self.speed is None else Pacer(self.speed, MAX_PACING_LAG_S)
        n = 0
        while heap:
            t, i, k = heapq.heappop(heap)
            if pacer is not None:
                # After a stall of the machine playback resumes rather than replaying the
                # missed stretch in a burst (simulated timeouts would pass while none of the
                # host's code ran).
                await pacer.wait(t)
            self.sim_time_s = t
            sensor = self.sensors[i]
            await sensor.connection_event(t)
            self.events_processed += 1
            if self._n_in_flight == 0:
                self.clock.advance_to(self.clock.base_ns + round(t * 1e9))
            if sensor.exhausted and not any(not s.exhausted for s in self.sensors):
                self.finished.set()
            nxt = sensor.next_event_s(t)
            if nxt is not None:
                heapq.heappush(heap, (nxt, i, k + 1))
            n += 1
            if self._n_in_flight > MAX_IN_FLIGHT:
                await self._drained.wait()
            elif n % 8 == 0:
                await asyncio.sleep(0)
        self.finished.set()

    async def wait_finished(self, timeout_s: float | None = None) -> None:
        """Wait until every sensor has sent its whole session and the host received it."""
        await asyncio.wait_for(self.finished.wait(), timeout_s)
        while self._n_in_flight:
            await asyncio.wait_for(self._drained.wait(), 5.0)
        await asyncio.sleep(0.01)


def make_device(link: LocalLink, name: str, address: str) -> Device:
    """A bumble Device with its Host on a Controller attached to ``link``.

    This is the wiring bumble's own test helpers use; it must run inside an event loop.
    """
    controller = Controller(name, link=link, public_address=address)
    host = Host(controller, AsyncPipeSink(controller))
    device = Device(name=name, address=hci.Address(address), host=host)
    return device
