"""BLE sensors with bleak: one scan, connect one at a time, stream, reconnect, battery.

Practice followed (``BLE_NOTES.md``): scan once and connect from the scan's ``BLEDevice``
objects, one connection at a time, never scanning while connecting (one lock serialises all
radio operations); the notify callback only timestamps and enqueues, decoding runs in a
consumer task through :class:`~hipsense.sensors.stream.SensorStream`; the disconnected callback
only sets an event, and a supervisor task re-scans, builds a new ``BleakClient``, reconfigures
and re-subscribes with exponential backoff, jitter and a short connect timeout while the other
sensors keep streaming.

The platform is injected with a :class:`BleBackend` (bleak's ``backend=`` classes, the host
clock and the sleep function), which is how tests run this very code over a virtual radio.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDeviceNotFoundError,
    BleakError,
)

from hipsense.errors import HipsenseError
from hipsense.sensors.protocols import SPECS, identify
from hipsense.sensors.protocols.base import BatteryStatus, GattWrite, ProtocolSpec
from hipsense.sensors.stream import SensorStream, StreamDecoder
from hipsense.types import (
    ROLES,
    ConnectionStart,
    DeviceStatus,
    RawNotification,
    SampleBlock,
    SensorEvent,
    check_role,
)

LOW_BATTERY_PCT = 15.0
"""Below this level a ``low_battery`` event asks the user to charge the sensor."""

Item = SampleBlock | SensorEvent | RawNotification | ConnectionStart


# --- errors the user can act on ------------------------------------------------------------


class BleError(HipsenseError):
    """A Bluetooth problem; the message says what to do."""


class AdapterUnavailableError(BleError):
    """No usable Bluetooth adapter (missing, switched off)."""


class BlePermissionError(BleError):
    """The OS refused access to Bluetooth."""


class DeviceNotFoundError(BleError):
    """The sensor did not show up in a scan or did not answer a connection."""


class WrongProtocolError(BleError):
    """The device does not offer the services of the expected sensor."""


class LowBatteryError(BleError):
    """A sensor's battery is too low to start a session."""


class ConnectionFailedError(BleError):
    """Connecting or configuring a sensor failed for another reason."""


_PERMISSION_HINT = (
    "Bluetooth permission denied: on Linux add your user to the 'bluetooth' group (or run "
    "with access to BlueZ over D-Bus), on macOS allow Bluetooth for your terminal in System "
    "Settings > Privacy & Security > Bluetooth, on Windows enable Bluetooth access in Settings "
    "> Privacy; then retry"
)
_ADAPTER_HINT = (
    "no usable Bluetooth adapter: plug one in or switch Bluetooth on (Linux: "
    "'bluetoothctl power on'; check 'rfkill list'), then retry"
)


def map_bleak_error(exc: BaseException, address: str | None = None) -> BleError:
    """Turn a bleak/OS exception into a :class:`BleError` with a message saying what to do.

    Parameters
    ----------
    exc : what bleak (or the OS) raised.
    address : the sensor concerned, if any (named in the message).

    Examples
    --------
    >>> from bleak.exc import BleakBluetoothNotAvailableReason as R
    >>> str(map_bleak_error(BleakBluetoothNotAvailableError("x", R.POWERED_OFF)))[:25]
    'no usable Bluetooth adapt'
    """
    if isinstance(exc, BleError):
        return exc
    who = f"sensor {address}" if address else "the sensor"
    if isinstance(exc, BleakBluetoothNotAvailableError):
        denied = {
            BleakBluetoothNotAvailableReason.DENIED_BY_USER,
            BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM,
            BleakBluetoothNotAvailableReason.DENIED_BY_UNKNOWN,
        }
        if exc.reason in denied:
            return BlePermissionError(_PERMISSION_HINT)
        return AdapterUnavailableError(_ADAPTER_HINT)
    if isinstance(exc, BleakDeviceNotFoundError):
        return DeviceNotFoundError(
            f"{who} was not found: switch it on (or wake it by moving it), bring it within a "
            "few metres, make sure no phone app is connected to it, then run 'hipsense scan'"
        )
    if isinstance(exc, PermissionError):
        return BlePermissionError(_PERMISSION_HINT)
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        # BlueZ is reached over the D-Bus system socket; no socket means no Bluetooth service.
        return AdapterUnavailableError(
            "the Bluetooth service is not running (no BlueZ on the D-Bus system bus): start it "
            "('sudo systemctl start bluetooth'), check an adapter is present ('bluetoothctl "
            "list'), then retry"
        )
    text = str(exc)
    lowered = text.lower()
    if any(
        k in lowered
        for k in ("notauthorized", "not authorized", "permission", "accessdenied", "access denied")
    ):
        return BlePermissionError(_PERMISSION_HINT)
    if any(
        k in lowered
        for k in (
            "no bluetooth adapter",
            "no bluetooth adapters",
            "adapter not found",
            "bluetooth device is turned off",
            "notready",
            "not ready",
            "no such adapter",
            "org.bluez.error.notready",
            "powered off",
        )
    ):
        return AdapterUnavailableError(_ADAPTER_HINT)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return DeviceNotFoundError(
            f"{who} did not answer in time: bring it closer, check it is switched on and not "
            "connected to another app, then retry"
        )
    if "inprogress" in lowered or "in progress" in lowered:
        return ConnectionFailedError(
            f"{who}: the adapter is busy with another connection; retry in a few seconds"
        )
    prefix = f"{who}: " if address else ""
    return ConnectionFailedError(
        f"{prefix}Bluetooth operation failed ({text or type(exc).__name__}); check that "
        "Bluetooth is on and the sensor is in range, then retry"
    )


# --- the platform ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BleBackend:
    """The BLE platform: bleak backend classes (None: the OS's), host clock, sleep.

    ``now_ns`` timestamps notifications (``time.monotonic_ns`` on real hardware); ``sleep``
    waits between commands and reconnection attempts on the same clock.
    """

    scanner: type[BaseBleakScanner] | None = None
    client: type[BaseBleakClient] | None = None
    now_ns: Callable[[], int] = time.monotonic_ns
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


DEFAULT_BACKEND = BleBackend()


# --- scanning ----------------------------------------------------------------------------------


@dataclass
class FoundDevice:
    """A device seen in a scan.

    Attributes
    ----------
    address : BLE address (a UUID on macOS).
    name : advertised local name, or None.
    rssi_dbm : signal strength of the last advertisement.
    protocol : supported wire format (``open_profile``, ``witmotion``...) or None.
    service_uuids : advertised service UUIDs.
    battery_pct : battery level if read (``scan(..., with_battery=True)``), else None.
    device : bleak's handle to connect with.
    """

    address: str
    name: str | None
    rssi_dbm: int | None
    protocol: str | None
    service_uuids: list[str] = field(default_factory=list)
    battery_pct: float | None = None
    device: BLEDevice | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (no bleak handle)."""
        return {
            "address": self.address,
            "name": self.name,
            "rssi_dbm": self.rssi_dbm,
            "protocol": self.protocol,
            "battery_pct": self.battery_pct,
        }


async def scan(
    timeout_s: float = 5.0,
    backend: BleBackend | None = None,
    with_battery: bool = False,
    include_unknown: bool = False,
) -> list[FoundDevice]:
    """Scan once for ``timeout_s`` seconds and list the supported sensors, strongest first.

    Parameters
    ----------
    timeout_s : scan duration (s).
    backend : the BLE platform (default: the OS's bleak backend).
    with_battery : connect briefly to each sensor (one at a time, after the scan) to read its
        battery.
    include_unknown : also list devices that are not supported sensors.

    Raises
    ------
    AdapterUnavailableError, BlePermissionError
        when Bluetooth cannot be used.

    Examples
    --------
    >>> for d in asyncio.run(scan(3.0)):  # doctest: +SKIP
    ...     print(d.address, d.protocol, d.rssi_dbm)
    """
    backend = backend or DEFAULT_BACKEND
    try:
        # backend=None selects the OS's backend (bleak's stubs do not say None is allowed).
        seen = await BleakScanner.discover(  # type: ignore[call-overload]
            timeout_s, return_adv=True, backend=backend.scanner
        )
    except (BleakError, OSError) as exc:
        raise map_bleak_error(exc) from None
    found = [_found(dev, adv) for dev, adv in seen.values()]
    if not include_unknown:
        found = [f for f in found if f.protocol is not None]
    found.sort(key=lambda f: -(f.rssi_dbm if f.rssi_dbm is not None else -999))
    if with_battery:
        for f in found:
            if f.protocol is not None and f.device is not None:
                with contextlib.suppress(BleError, BleakError, OSError, TimeoutError):
                    f.battery_pct = await _read_battery_once(f, backend)
    return found


def _found(dev: BLEDevice, adv: AdvertisementData) -> FoundDevice:
    spec = identify(adv.local_name or dev.name, list(adv.service_uuids))
    return FoundDevice(
        address=dev.address.upper(),
        name=adv.local_name or dev.name,
        rssi_dbm=adv.rssi,
        protocol=None if spec is None else spec.name,
        service_uuids=list(adv.service_uuids),
        device=dev,
    )


async def _read_battery_once(found: FoundDevice, backend: BleBackend) -> float | None:
    assert found.device is not None and found.protocol is not None
    spec = SPECS[found.protocol]
    if spec.battery_char_uuid is None:
        return None  # answered inside the data stream: needs a subscription, not worth it here
    async with BleakClient(found.device, timeout=10.0, backend=backend.client) as client:
        status = spec.parse_battery(bytes(await client.read_gatt_char(spec.battery_char_uuid)))
    return None if status is None else status.percent


# --- a session of several sensors ------------------------------------------------------------


@dataclass
class ReconnectPolicy:
    """How a lost sensor is brought back.

    Delay before attempt ``n`` (0-based) is ``min(max_delay_s, base_delay_s * 2**n)`` times a
    random factor in ``[1 - jitter, 1 + jitter]``; each attempt scans up to ``scan_timeout_s``
    for the address and connects with ``connect_timeout_s`` (lower than bleak's 30 s default,
    so a sensor that vanished again does not block the radio for long).
    """

    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    jitter: float = 0.5
    scan_timeout_s: float = 5.0
    connect_timeout_s: float = 8.0

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Backoff delay before attempt number ``attempt``."""
        base = min(self.max_delay_s, self.base_delay_s * 2.0**attempt)
        return base * rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)


@dataclass
class _Link:
    """Runtime state of one sensor of a session."""

    role: str
    address: str
    spec: ProtocolSpec
    rate_hz: float
    stream: SensorStream
    name: str | None = None
    rssi_dbm: int | None = None
    client: BleakClient | None = None
    connected: bool = False
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    battery_pct: float | None = None
    low_battery_reported: bool = False
    last_battery: BatteryStatus | None = None
    disconnects: int = 0
    reconnects: int = 0
    last_error: str | None = None


class BleSession:
    """Several sensors streaming over BLE, decoded onto one session clock.

    Parameters
    ----------
    assignments : role -> address (``{"pelvis": "D0:..", "thigh_left": ...}``).
    rate_hz : requested output rate, one for all or per role; each sensor gets the closest
        rate its protocol supports (a Movella DOT streams at most 60 Hz).
    backend : the BLE platform (default: the OS's bleak backend, ``time.monotonic_ns``).
    policy : reconnection policy.
    scan_timeout_s : duration of the initial scan when :meth:`start` is not given one.
    battery_poll_s : battery reading interval (s, on the backend's clock).
    min_battery_pct : refuse to start when a sensor reports less (0: never refuse).
    seed : seeds the backoff jitter.
    batch_window_s : wall time the decoder waits after a notification to decode several at
        once (latency traded for CPU). 2 ms by default: measured p50 notification -> frame
        at a WebSocket client 2.5 ms instead of 10.5 ms with 10 ms, for ~8 % more of one core.

    Examples
    --------
    >>> session = BleSession({"pelvis": "D0:00:00:00:00:01"})  # doctest: +SKIP
    >>> await session.start()  # doctest: +SKIP
    >>> async for items in session.items(): ...  # doctest: +SKIP
    """

    def __init__(
        self,
        assignments: Mapping[str, str],
        rate_hz: float | Mapping[str, float] = 100.0,
        backend: BleBackend | None = None,
        policy: ReconnectPolicy | None = None,
        scan_timeout_s: float = 5.0,
        battery_poll_s: float = 60.0,
        min_battery_pct: float = 0.0,
        seed: int | None = None,
        batch_window_s: float = 0.002,
    ) -> None:
        if not assignments:
            raise BleError(
                "no sensors assigned: run 'hipsense scan', then give each sensor a role, e.g. "
                "--pelvis ADDR --thigh-left ADDR --thigh-right ADDR"
            )
        self.assignments: dict[str, str] = {
            check_role(r): a.upper() for r, a in assignments.items()
        }
        self.requested_rate_hz = rate_hz
        self.backend = backend or DEFAULT_BACKEND
        self.policy = policy or ReconnectPolicy()
        self.scan_timeout_s = scan_timeout_s
        self.battery_poll_s = battery_poll_s
        self.min_battery_pct = min_battery_pct
        self.batch_window_s = batch_window_s
        self.roles: list[str] = [r for r in ROLES if r in self.assignments]
        self.rate_hz: dict[str, float] = {}
        self.session_start_ns = self.backend.now_ns()
        self._links: dict[str, _Link] = {}
        self._raw: asyncio.Queue[RawNotification | SensorEvent | ConnectionStart] = asyncio.Queue()
        self._taken: list[RawNotification | SensorEvent | ConnectionStart] = []
        self._decoder = StreamDecoder()
        self._out: asyncio.Queue[list[Item] | None] = asyncio.Queue()
        self._radio_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._rng = random.Random(seed)

    # --- time ------------------------------------------------------------------------------
    def session_time_s(self) -> float:
        """Seconds since the session started, on the backend's host clock."""
        return (self.backend.now_ns() - self.session_start_ns) / 1e9

    def _rate_for(self, role: str, spec: ProtocolSpec) -> float:
        r = self.requested_rate_hz
        wanted = float(r[role]) if isinstance(r, Mapping) else float(r)
        return spec.check_rate(wanted)

    # --- start -----------------------------------------------------------------------------
    async def start(self, found: Sequence[FoundDevice] | None = None) -> None:
        """Connect every assigned sensor (one at a time) and start streaming.

        Parameters
        ----------
        found : the result of a scan; None scans once for ``scan_timeout_s``.

        Raises
        ------
        DeviceNotFoundError, WrongProtocolError, LowBatteryError, AdapterUnavailableError, ...
            with what to do; sensors already connected are disconnected again.
        """
        if found is None:
            found = await scan(self.scan_timeout_s, self.backend, include_unknown=True)
        by_address = {f.address.upper(): f for f in found}
        plan: list[tuple[str, FoundDevice, ProtocolSpec]] = []
        for role in self.roles:
            address = self.assignments[role]
            f = by_address.get(address)
            if f is None or f.device is None:
                seen = ", ".join(sorted(by_address)) or "nothing"
                raise DeviceNotFoundError(
                    f"{role} sensor {address} was not found in the scan (saw {seen}): switch it "
                    "on or wake it by moving it, bring it closer, make sure no phone app is "
                    "connected to it, then retry"
                )
            if f.protocol is None:
                raise WrongProtocolError(
                    f"{role}: device {address} ({f.name or 'no name'}) is not a supported sensor "
                    f"(it advertises {', '.join(f.service_uuids) or 'no services'}); check the "
                    "address with 'hipsense scan'"
                )
            plan.append((role, f, SPECS[f.protocol]))
        try:
            for role, f, spec in plan:
                rate = self._rate_for(role, spec)
                self.rate_hz[role] = rate
                link = _Link(
                    role,
                    f.address.upper(),
                    spec,
                    rate,
                    SensorStream(spec, role, rate, self.session_start_ns),
                    name=f.name,
                    rssi_dbm=f.rssi_dbm,
                )
                self._links[role] = link
                self._decoder.add(link.stream)
                assert f.device is not None
                async with self._radio_lock:
                    await self._connect(link, f.device, self.policy.connect_timeout_s * 2)
                if (
                    self.min_battery_pct
                    and link.battery_pct is not None
                    and link.battery_pct < self.min_battery_pct
                ):
                    raise LowBatteryError(
                        f"{role} sensor {link.address} battery at {link.battery_pct:.0f} %: "
                        "charge it before starting a session"
                    )
        except BaseException:
            await self._disconnect_all()
            raise
        loop_tasks = [self._consume(), self._poll_battery()]
        loop_tasks += [self._supervise(link) for link in self._links.values()]
        self._tasks = [asyncio.create_task(c) for c in loop_tasks]

    async def _connect(self, link: _Link, device: BLEDevice, timeout_s: float) -> None:
        """Connect, check the services, subscribe, configure; raises a :class:`BleError`."""
        link.lost.clear()

        def on_disconnect(client: BleakClient) -> None:
            # Only an event: awaiting here is not allowed (bleak calls it from its loop).
            if client is link.client:
                link.lost.set()

        client = BleakClient(device, on_disconnect, timeout=timeout_s, backend=self.backend.client)
        link.client = client
        try:
            await client.connect()
            offered = {s.uuid.lower() for s in client.services}
            if not offered.intersection(link.spec.service_uuids):
                raise WrongProtocolError(
                    f"{link.role}: device {link.address} ({device.name or 'no name'}) "
                    f"advertises as {link.spec.name} but has none of its services "
                    f"({', '.join(link.spec.service_uuids)}): it is another kind of device; "
                    "check the address with 'hipsense scan'"
                )
            self._raw.put_nowait(ConnectionStart(link.role, link.address, self.backend.now_ns()))
            # Devices that stream as soon as notifications are on (no stop command) are
            # configured first, so the stream starts at the configured rate; the others are
            # subscribed first, then started (the DOT requires this order).
            configure_first = not link.spec.stop_commands()
            if configure_first:
                await self._write_all(client, link.spec.start_commands(link.rate_hz))
            await client.start_notify(link.spec.data_char_uuid, self._notify_callback(link))
            if not configure_first:
                await self._write_all(client, link.spec.start_commands(link.rate_hz))
        except BaseException as exc:
            link.client = None
            with contextlib.suppress(Exception):
                await client.disconnect()
            if isinstance(exc, BleakError | OSError | TimeoutError):
                raise map_bleak_error(exc, link.address) from None
            raise
        link.connected = True
        if link.disconnects == 0:
            self._event(
                link,
                "connected",
                f"{link.role} sensor {link.address} ({link.spec.name}) streaming at "
                f"{link.rate_hz:g} Hz",
                {"address": link.address, "protocol": link.spec.name, "rate_hz": link.rate_hz},
            )
        with contextlib.suppress(BleakError, OSError, TimeoutError):
            await self._read_battery(link)

    async def _write_all(self, client: BleakClient, writes: Sequence[GattWrite]) -> None:
        for write in writes:
            await client.write_gatt_char(write.char_uuid, write.data, response=write.with_response)
            if write.delay_after_s:
                await self.backend.sleep(write.delay_after_s)

    def _notify_callback(self, link: _Link) -> Callable[[Any, bytearray], None]:
        queue = self._raw
        now_ns = self.backend.now_ns
        role, address = link.role, link.address

        def on_notify(_characteristic: Any, data: bytearray) -> None:
            # Timestamp first, enqueue, return: decoding happens in the consumer task.
            queue.put_nowait(RawNotification(role, address, now_ns(), bytes(data)))  # type: ignore[arg-type]

        return on_notify

    def _event(
        self, link: _Link, kind: str, message: str, detail: dict[str, float | int | str]
    ) -> None:
        self._raw.put_nowait(
            SensorEvent(link.role, kind, self.session_time_s(), message, dict(detail))
        )

    # --- consumer: decode in order ---------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            batch = [await self._raw.get()]
            if self.batch_window_s > 0:
                # Decoding costs per call, not per byte: gather a few notifications first.
                try:
                    await asyncio.sleep(self.batch_window_s)
                except asyncio.CancelledError:
                    # Stopping: what was already taken off the queue must still be decoded.
                    self._taken = batch
                    raise
            while not self._raw.empty() and len(batch) < 4096:
                batch.append(self._raw.get_nowait())
            self._out.put_nowait(self._decode(batch))

    def _decode(self, batch: list[RawNotification | SensorEvent | ConnectionStart]) -> list[Item]:
        """Decode a batch in arrival order: the arrivals themselves (for recorders), then the
        samples, then the events (the stream's and the session's, in the order they arose)."""
        arrivals: list[Item] = []
        blocks: list[Item] = []
        events: list[Item] = []
        pending: list[RawNotification | ConnectionStart] = []

        def flush() -> None:
            if not pending:
                return
            new_blocks, stream_events = self._decoder.decode(pending)
            blocks.extend(new_blocks)
            events.extend(stream_events)
            pending.clear()
            for link in self._links.values():
                battery = getattr(link.stream.decoder, "battery", None)
                if isinstance(battery, BatteryStatus) and battery is not link.last_battery:
                    link.last_battery = battery
                    events.extend(self._battery_events(link, battery))

        for item in batch:
            if isinstance(item, SensorEvent):
                flush()
                events.append(item)
            else:
                pending.append(item)
                arrivals.append(item)
        flush()
        return [*arrivals, *blocks, *events]

    # --- supervisor: bring lost sensors back ---------------------------------------------------
    async def _supervise(self, link: _Link) -> None:
        while not self._closing:
            await link.lost.wait()
            if self._closing:
                return
            link.connected = False
            link.disconnects += 1
            lost_at = self.session_time_s()
            self._event(
                link,
                "disconnected",
                f"{link.role} sensor {link.address} disconnected at {lost_at:.1f} s: data is "
                "missing until it reconnects (reconnecting automatically)",
                {"address": link.address},
            )
            attempt = 0
            while not self._closing:
                await self.backend.sleep(self.policy.delay_s(attempt, self._rng))
                attempt += 1
                try:
                    async with self._radio_lock:
                        device = await self._find(link.address, self.policy.scan_timeout_s)
                        if device is None:
                            link.last_error = f"{link.address} not seen in a scan"
                            continue
                        await self._connect(link, device, self.policy.connect_timeout_s)
                except BleError as exc:
                    link.last_error = str(exc)
                    continue
                break
            link.reconnects += 1
            gap = self.session_time_s() - lost_at
            self._event(
                link,
                "reconnected",
                f"{link.role} sensor {link.address} reconnected after {gap:.1f} s "
                f"({attempt} attempt(s)); streaming again",
                {"gap_s": gap, "attempts": attempt, "address": link.address},
            )

    async def _find(self, address: str, timeout_s: float) -> BLEDevice | None:
        """Scan until ``address`` advertises (or ``timeout_s``); its fresh ``BLEDevice``."""
        seen: asyncio.Future[BLEDevice] = asyncio.get_running_loop().create_future()

        def on_adv(device: BLEDevice, _adv: AdvertisementData) -> None:
            if device.address.upper() == address and not seen.done():
                seen.set_result(device)

        try:
            scanner = BleakScanner(on_adv, backend=self.backend.scanner)
            await scanner.start()
        except (BleakError, OSError) as exc:
            raise map_bleak_error(exc, address) from None
        try:
            return await asyncio.wait_for(seen, timeout_s)
        except TimeoutError:
            return None
        finally:
            with contextlib.suppress(BleakError, OSError):
                await scanner.stop()

    # --- battery ----------------------------------------------------------------------------
    async def _poll_battery(self) -> None:
        while not self._closing:
            await self.backend.sleep(self.battery_poll_s)
            for link in list(self._links.values()):
                if link.connected:
                    with contextlib.suppress(BleakError, OSError, TimeoutError, BleError):
                        await self._read_battery(link)

    async def _read_battery(self, link: _Link) -> None:
        client = link.client
        if client is None:
            return
        spec = link.spec
        if spec.battery_char_uuid is None:
            for write in spec.battery_request():  # the answer comes in the data stream
                await client.write_gatt_char(
                    write.char_uuid, write.data, response=write.with_response
                )
            return
        status = spec.parse_battery(bytes(await client.read_gatt_char(spec.battery_char_uuid)))
        if status is not None:
            for event in self._battery_events(link, status):
                self._raw.put_nowait(event)

    def _battery_events(self, link: _Link, status: BatteryStatus) -> list[SensorEvent]:
        link.battery_pct = status.percent
        t = self.session_time_s()
        events = [
            SensorEvent(
                link.role,
                "battery",
                t,
                f"{link.role} battery {status.percent:.0f} %",
                {"battery_pct": status.percent, "address": link.address},
            )
        ]
        if status.percent < LOW_BATTERY_PCT and not link.low_battery_reported:
            link.low_battery_reported = True
            events.append(
                SensorEvent(
                    link.role,
                    "low_battery",
                    t,
                    f"{link.role} sensor {link.address} battery at {status.percent:.0f} %: "
                    "charge it after this session (it may switch off soon)",
                    {"battery_pct": status.percent, "address": link.address},
                )
            )
        elif status.percent >= LOW_BATTERY_PCT + 5:
            link.low_battery_reported = False
        return events

    # --- output, status, stop -----------------------------------------------------------------
    async def items(self) -> AsyncIterator[list[Item]]:
        """Lists of raw notifications, sample blocks and events as they are decoded."""
        while True:
            batch = await self._out.get()
            if batch is None:
                return
            yield batch

    def status(self) -> list[DeviceStatus]:
        """Per connected sensor: the counts of its stream (samples, missing, filled, gaps,
        malformed, clock drift) and of its connection (notifications, disconnects,
        reconnects, battery, signal, last error)."""
        out = []
        for role in self.roles:
            link = self._links.get(role)
            if link is None:
                continue
            clock = link.stream.clock
            out.append(
                DeviceStatus(
                    role=role,
                    protocol=link.spec.name,
                    address=link.address,
                    name=link.name,
                    connected=link.connected,
                    battery_pct=link.battery_pct,
                    signal_dbm=None if link.rssi_dbm is None else float(link.rssi_dbm),
                    data_rate_hz=float(clock.measured_rate_hz or 0.0),
                    nominal_rate_hz=link.rate_hz,
                    samples=clock.samples_received,
                    samples_missing=clock.samples_missing,
                    samples_filled=link.stream.samples_filled,
                    gaps=self._decoder.gaps.get(role, 0),
                    malformed=link.stream.decoder.malformed_count,
                    notifications=self._decoder.notifications.get(role, 0),
                    disconnects=link.disconnects,
                    reconnects=link.reconnects,
                    drift_ppm=clock.drift_ppm,
                    last_error=link.last_error,
                )
            )
        return out

    async def scan(self, timeout_s: float) -> list[FoundDevice]:
        """Scan while the session runs, once no reconnection is using the radio (one radio
        operation at a time)."""
        async with self._radio_lock:
            return await scan(timeout_s, self.backend)

    def reconnect(self, role: str) -> None:
        """Ask for an immediate reconnection of ``role``'s sensor if it is not connected.

        Raises
        ------
        BleError
            when ``role`` is not part of this session.
        """
        link = self._links.get(role)
        if link is None:
            raise BleError(f"{role} is not part of the running session")
        if not link.connected:
            link.lost.set()

    def arrival_wall_ns(self, host_time_ns: int) -> int:
        """Wall-clock time (``time.time_ns``) a notification stamped ``host_time_ns`` arrived:
        its age on the backend's clock taken from now (the two clocks are never compared
        directly; in the simulator the backend clock is the virtual radio's)."""
        return time.time_ns() - max(0, int(self.backend.now_ns()) - int(host_time_ns))

    async def stop(self) -> None:
        """Stop streaming, disconnect every sensor and end :meth:`items`."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        # Decode what already arrived, so nothing received is lost.
        pending: list[RawNotification | SensorEvent | ConnectionStart] = self._taken
        self._taken = []
        while not self._raw.empty():
            pending.append(self._raw.get_nowait())
        if pending:
            self._out.put_nowait(self._decode(pending))
        await self._disconnect_all()
        self._out.put_nowait(None)

    async def _disconnect_all(self) -> None:
        self._closing = True
        for link in self._links.values():
            client, link.client = link.client, None
            link.connected = False
            if client is None:
                continue
            with contextlib.suppress(BleakError, OSError, TimeoutError, asyncio.TimeoutError):
                if client.is_connected:
                    for write in link.spec.stop_commands():
                        await asyncio.wait_for(
                            client.write_gatt_char(
                                write.char_uuid, write.data, write.with_response
                            ),
                            2.0,
                        )
                    await asyncio.wait_for(client.stop_notify(link.spec.data_char_uuid), 2.0)
            with contextlib.suppress(BleakError, OSError, TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(client.disconnect(), 5.0)
