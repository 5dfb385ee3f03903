"""Virtual sensors: each vendor's GATT layout and commands, streaming a simulated session.

A :class:`VirtualSensor` advertises like the real device, reacts to the host's writes (rate,
start, stop, battery request), and at each of its connection events sends what it measured
since the last one, encoded with the protocol module's own encoders. Faults are injected here
(the bumble link is lossless and has no air time): dropped notifications, skipped connection
events (bursts), link loss at given times, a drifting sensor clock, malformed packets and a low
battery.

Timeline: the sensor's clock reads the session's sample times ``time_s``; with a drift of
``d`` ppm the sensor's clock runs fast by ``d``, so its samples happen at true times
``time_s / (1 + d * 1e-6)`` and their values are the session's signals interpolated there.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt
from bumble import gatt
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device

from hipsense.sensors.protocols import movella_dot, movesense, open_profile, thingy52, witmotion
from hipsense.sensors.protocols.base import BATTERY_LEVEL_CHAR_UUID, BATTERY_SERVICE_UUID
from hipsense.types import SampleBlock

if TYPE_CHECKING:
    from hipsim.ble.radio import VirtualRadio

FloatArray = npt.NDArray[np.float64]

LINK_LATENCY_S = 0.0012
"""From the connection event to the host's notify callback (controller, HCI, stack)."""
NOTIFICATION_SPACING_S = 0.0004
"""Extra delay per notification within one connection event."""
MALFORMED_FILL = 0xEE
"""Filler of malformed notifications: neither a WitMotion header nor an open-profile version."""

_R = gatt.Characteristic.Properties
_READABLE = gatt.Characteristic.READABLE
_WRITEABLE = gatt.Characteristic.WRITEABLE


@dataclass
class Faults:
    """What goes wrong with one virtual sensor.

    Attributes
    ----------
    drop_pct : percent of notifications lost on the air.
    malformed_pct : percent of notifications replaced by junk (half length, ``0xEE`` bytes).
    burst_pct : percent of connection events missed; the data waits for a later event and
        arrives as a burst.
    max_missed_events : longest run of missed events in one burst.
    disconnect_at_s : simulated times at which the link is lost.
    out_of_range_s : after a link loss, seconds before the sensor advertises again.
    clock_drift_ppm : the sensor's clock runs fast (positive) or slow by this much.
    battery_pct : battery level reported.
    powered : False: the sensor is off (does not advertise; "device not found").
    seed : seeds the fault draws.
    """

    drop_pct: float = 0.0
    malformed_pct: float = 0.0
    burst_pct: float = 0.0
    max_missed_events: int = 4
    disconnect_at_s: tuple[float, ...] = ()
    out_of_range_s: float = 1.0
    clock_drift_ppm: float = 0.0
    battery_pct: float = 87.0
    powered: bool = True
    seed: int = 0


@dataclass
class SensorCounters:
    """What a virtual sensor did (for tests and benchmarks)."""

    samples_measured: int = 0
    samples_sent: int = 0
    notifications_sent: int = 0
    notifications_dropped: int = 0
    notifications_malformed: int = 0
    events_missed: int = 0
    disconnects: int = 0
    connections: int = 0


@dataclass
class _Timeline:
    rate_hz: float
    sensor_time_s: FloatArray
    acc_m_s2: FloatArray
    gyr_rad_s: FloatArray
    period_s: float = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.sensor_time_s)
        step = 1.0 / self.rate_hz
        self.period_s = float(self.sensor_time_s[-1] - self.sensor_time_s[0]) + step if n else 0.0


def _resample(t: FloatArray, time_s: FloatArray, values: FloatArray) -> FloatArray:
    """(N, 3) ``values`` sampled at ``time_s``, linearly interpolated at times ``t``."""
    return np.column_stack([np.interp(t, time_s, values[:, j]) for j in range(3)])


class VirtualSensor:
    """A virtual BLE IMU on a :class:`~hipsim.ble.radio.VirtualRadio`.

    Parameters
    ----------
    samples : the session's samples of the role this sensor plays (None: no data).
    address : static random BLE address (``"D0:00:00:00:00:01"``).
    name : advertised local name (vendor default if None).
    faults : fault injection.
    rssi_dbm : signal strength reported to scanners.
    connection_interval_s : the peripheral's preferred connection interval.
    loop : start the session again at its end (session time continues).
    """

    protocol: ClassVar[str] = ""
    default_name: ClassVar[str] = ""
    default_rate_hz: ClassVar[float] = 100.0
    default_interval_s: ClassVar[float] = 0.015
    max_notifications_per_event: ClassVar[int] = 8

    def __init__(
        self,
        samples: SampleBlock | None,
        address: str,
        *,
        name: str | None = None,
        faults: Faults | None = None,
        rssi_dbm: int = -58,
        connection_interval_s: float | None = None,
        loop: bool = False,
    ) -> None:
        self.samples = samples
        self.address = address.upper()
        self.name = name or self.default_name
        self.faults = faults or Faults()
        self.rssi_dbm = rssi_dbm
        self.interval_s = connection_interval_s or self.default_interval_s
        self.loop = loop
        self.rate_hz = self.default_rate_hz
        self.battery_pct = self.faults.battery_pct
        self.counters = SensorCounters()
        self.radio: VirtualRadio | None = None
        self.device: Device | None = None
        self.connection: Connection | None = None
        self.subscribed = False
        self.started = False
        self._rng = np.random.default_rng([self.faults.seed, int(self.address[-2:], 16)])
        self._phase_s = float(self._rng.uniform(0.0, self.interval_s))
        self._timelines: dict[float, _Timeline] = {}
        self._next = 0  # global index of the next sample to send
        self._missed_until_s = -1.0
        self._pending_disconnects = sorted(self.faults.disconnect_at_s)
        self._readvertise_at_s: float | None = None
        self._control_replies: list[bytes] = []

    # --- what subclasses provide ---------------------------------------------------------
    def services(self) -> list[gatt.Service]:
        """The GATT services of the device."""
        raise NotImplementedError

    def advertised_uuids(self) -> list[str]:
        """Service UUIDs in the advertisement."""
        raise NotImplementedError

    def data_characteristic(self) -> gatt.Characteristic:
        """The characteristic samples are notified on."""
        raise NotImplementedError

    def encode(
        self, first_index: int, sensor_time_s: FloatArray, acc: FloatArray, gyr: FloatArray
    ) -> list[bytes]:
        """Notifications carrying consecutive samples (``first_index`` is the global index)."""
        raise NotImplementedError

    @property
    def needs_start_command(self) -> bool:
        """True when enabling notifications alone does not start the stream."""
        return False

    # --- state ---------------------------------------------------------------------------
    @property
    def powered(self) -> bool:
        """False when the sensor is switched off."""
        return self.faults.powered

    @property
    def streaming(self) -> bool:
        """Connected, subscribed and (where needed) started."""
        return (
            self.connection is not None
            and self.subscribed
            and (self.started or not self.needs_start_command)
        )

    @property
    def exhausted(self) -> bool:
        """Every sample of the session has been measured (never when looping)."""
        if self.loop or self.samples is None:
            return self.samples is None
        return self._next >= len(self._timeline().sensor_time_s)

    def _timeline(self) -> _Timeline:
        tl = self._timelines.get(self.rate_hz)
        if tl is not None:
            return tl
        blk = self.samples
        assert blk is not None
        drift = self.faults.clock_drift_ppm * 1e-6
        block_rate = 1.0 / float(np.median(np.diff(blk.time_s)))
        if abs(self.rate_hz - block_rate) <= 0.01 * block_rate:
            sensor_t = np.asarray(blk.time_s, dtype=np.float64)
            exact = drift == 0.0
        else:
            sensor_t = np.arange(blk.time_s[0], blk.time_s[-1], 1.0 / self.rate_hz)
            exact = False
        if exact:
            acc, gyr = blk.acc_m_s2, blk.gyr_rad_s
        else:
            true_t = sensor_t / (1.0 + drift)
            acc = _resample(true_t, blk.time_s, blk.acc_m_s2)
            gyr = _resample(true_t, blk.time_s, blk.gyr_rad_s)
        tl = _Timeline(self.rate_hz, sensor_t, acc, gyr)
        self._timelines[self.rate_hz] = tl
        return tl

    def _due_count(self, t: float) -> int:
        """Samples measured by true time ``t`` (global count, all laps)."""
        if self.samples is None:
            return 0
        tl = self._timeline()
        s = t * (1.0 + self.faults.clock_drift_ppm * 1e-6)
        n = len(tl.sensor_time_s)
        if not self.loop:
            return int(np.searchsorted(tl.sensor_time_s, s, side="right"))
        lap = max(0, int((s - tl.sensor_time_s[0]) // tl.period_s))
        within = s - lap * tl.period_s
        return lap * n + int(np.searchsorted(tl.sensor_time_s, within, side="right"))

    def _slice(self, a: int, b: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        tl = self._timeline()
        n = len(tl.sensor_time_s)
        k = np.arange(a, b)
        i = k % n
        return tl.sensor_time_s[i] + (k // n) * tl.period_s, tl.acc_m_s2[i], tl.gyr_rad_s[i]

    # --- scheduler interface ---------------------------------------------------------------
    def first_event_s(self) -> float:
        """Time of the first connection event."""
        return self._phase_s

    def next_event_s(self, t: float) -> float | None:
        """Time of the connection event after ``t`` (None: nothing more will happen)."""
        if self.exhausted and not self._pending_disconnects and self._readvertise_at_s is None:
            return None
        return t + self.interval_s

    async def connection_event(self, t: float) -> None:
        """Everything that happens at this sensor's connection event at time ``t``."""
        if self._readvertise_at_s is not None and t >= self._readvertise_at_s:
            self._readvertise_at_s = None
            await self._advertise()
        if self._pending_disconnects and t >= self._pending_disconnects[0]:
            self._pending_disconnects.pop(0)
            await self._lose_link(t)
        due = self._due_count(t)
        if not self.loop and self.samples is not None:
            due = min(due, len(self._timeline().sensor_time_s))
        self.counters.samples_measured = max(self.counters.samples_measured, due)
        if not self.streaming:
            self._next = max(self._next, due)
            self._control_replies.clear()
            return
        if t < self._missed_until_s:
            return
        if self.faults.burst_pct and self._rng.uniform(0, 100) < self.faults.burst_pct:
            n_missed = int(self._rng.integers(1, self.faults.max_missed_events + 1))
            self._missed_until_s = t + (n_missed - 0.5) * self.interval_s
            self.counters.events_missed += n_missed
            return
        notifications = list(self._control_replies)
        self._control_replies.clear()
        budget = self.max_notifications_per_event - len(notifications)
        if due > self._next and budget > 0:
            sent_to = min(due, self._next + budget * self.samples_per_notification())
            st, acc, gyr = self._slice(self._next, sent_to)
            notifications.extend(self.encode(self._next, st, acc, gyr))
            self.counters.samples_sent += sent_to - self._next
            self._next = sent_to
        await self._send(notifications, t)

    def samples_per_notification(self) -> int:
        """How many samples one notification carries."""
        return 1

    async def _send(self, notifications: list[bytes], t: float) -> None:
        if not notifications or self.device is None or self.connection is None:
            return
        assert self.radio is not None
        char = self.data_characteristic()
        base_ns = self.radio.clock.base_ns
        for j, data in enumerate(notifications):
            if self.faults.drop_pct and self._rng.uniform(0, 100) < self.faults.drop_pct:
                self.counters.notifications_dropped += 1
                continue
            if self.faults.malformed_pct and self._rng.uniform(0, 100) < self.faults.malformed_pct:
                data = bytes([MALFORMED_FILL]) * max(1, len(data) // 2)
                self.counters.notifications_malformed += 1
            host_ns = base_ns + round((t + LINK_LATENCY_S + j * NOTIFICATION_SPACING_S) * 1e9)
            self.radio.queue_notification(self.address, data, host_ns)
            self.counters.notifications_sent += 1
            await self.device.notify_subscriber(self.connection, char, data)

    def reply(self, data: bytes) -> None:
        """Queue a notification on the data characteristic for the next connection event."""
        self._control_replies.append(data)

    # --- bumble wiring ---------------------------------------------------------------------
    async def attach(self, radio: VirtualRadio) -> None:
        """Create the bumble device on the radio's link and start advertising."""
        from hipsim.ble.radio import make_device

        self.radio = radio
        assert radio.link is not None
        self.device = make_device(radio.link, self.name, self.address)
        self.device.add_services(self.services())
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
        self.data_characteristic().on(gatt.Characteristic.EVENT_SUBSCRIPTION, self._on_subscription)
        await self.device.power_on()
        if self.powered:
            await self._advertise()

    async def detach(self) -> None:
        """Stop advertising and drop the link (the device stays powered, unreachable)."""
        self.faults.powered = False
        if self.device is not None:
            with contextlib.suppress(Exception):
                await self.device.stop_advertising()
            if self.connection is not None:
                with contextlib.suppress(Exception):
                    await self.connection.disconnect()
            self.device = None
            self.connection = None

    def advertising_data(self) -> bytes:
        """Flags, the vendor's service UUID(s) and the complete local name."""
        uuids = b"".join(UUID(u).to_bytes(force_128=True) for u in self.advertised_uuids())
        structures: list[tuple[int, bytes]] = [(AdvertisingData.FLAGS, bytes([0x06]))]
        if uuids:
            structures.append((AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, uuids))
        structures.append((AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()))
        return bytes(AdvertisingData(structures))

    async def _advertise(self) -> None:
        if self.device is None or self.connection is not None or not self.powered:
            return
        await self.device.start_advertising(
            advertising_data=self.advertising_data(),
            advertising_interval_min=20.0,
            advertising_interval_max=20.0,
        )

    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection
        self.subscribed = False
        self.started = False
        self.counters.connections += 1
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)

    def _on_disconnection(self, *args: Any) -> None:
        self.connection = None
        self.subscribed = False
        self.started = False
        if self.radio is not None:
            self.radio.forget_in_flight(self.address)
        if self._readvertise_at_s is None and self.device is not None and self.powered:
            # The host dropped us: advertise again right away so it can come back.
            import asyncio

            asyncio.get_running_loop().create_task(self._advertise())

    def _on_subscription(self, bearer: Any, notify_enabled: bool, indicate_enabled: bool) -> None:
        self.subscribed = bool(notify_enabled or indicate_enabled)
        if not self.subscribed:
            self.started = False

    async def _lose_link(self, t: float) -> None:
        """The link drops (out of range); advertise again after ``out_of_range_s``."""
        self.counters.disconnects += 1
        self._readvertise_at_s = t + self.faults.out_of_range_s
        if self.device is not None:
            with contextlib.suppress(Exception):
                await self.device.stop_advertising()
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await self.connection.disconnect()

    def battery_service(self) -> gatt.Service:
        """Standard Battery Service with the Battery Level characteristic."""
        level: gatt.Characteristic[bytes] = gatt.Characteristic(
            BATTERY_LEVEL_CHAR_UUID,
            _R.READ | _R.NOTIFY,
            _READABLE,
            gatt.CharacteristicValue(read=lambda _c: bytes([round(self.battery_pct)])),
        )
        return gatt.Service(BATTERY_SERVICE_UUID, [level])


def _char(
    uuid: str, props: gatt.Characteristic.Properties, read: Any = None, write: Any = None
) -> gatt.Characteristic:
    permissions = gatt.Characteristic.Permissions(0)
    if read is not None:
        permissions |= _READABLE
    if write is not None:
        permissions |= _WRITEABLE
    value: Any = gatt.CharacteristicValue(read=read, write=write) if (read or write) else b""
    return gatt.Characteristic(uuid, props, permissions or _READABLE, value)


class OpenProfileSensor(VirtualSensor):
    """The hipsense open profile (``firmware_notes/open_profile.md``): the simulator default."""

    protocol = "open_profile"
    default_name = "hipsense-IMU"
    default_rate_hz = open_profile.DEFAULT_RATE_HZ
    default_interval_s = 0.015

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_samples = open_profile.MAX_SAMPLES_PER_FRAME
        self._seq = 0
        self._data = _char(open_profile.DATA_CHAR_UUID, _R.NOTIFY)
        self._t0_us = int(self._rng.integers(0, 2**32))  # sensor clock origin: wraps anywhere

    @property
    def needs_start_command(self) -> bool:
        return True

    def services(self) -> list[gatt.Service]:
        control = _char(
            open_profile.CONTROL_CHAR_UUID,
            _R.WRITE | _R.WRITE_WITHOUT_RESPONSE,
            write=self._on_control,
        )
        status = _char(open_profile.STATUS_CHAR_UUID, _R.READ, read=self._status)
        main = gatt.Service(open_profile.SERVICE_UUID, [self._data, control, status])
        return [main, self.battery_service()]

    def advertised_uuids(self) -> list[str]:
        return [open_profile.SERVICE_UUID]

    def data_characteristic(self) -> gatt.Characteristic:
        return self._data

    def samples_per_notification(self) -> int:
        mtu = self.connection.att_mtu if self.connection is not None else 23
        return max(1, min(self.max_samples, open_profile.samples_per_notification(mtu)))

    def _status(self, _connection: Any) -> bytes:
        return open_profile.encode_status(
            open_profile.OpenProfileStatus(
                open_profile.FORMAT_VERSION,
                self.started,
                int(self.rate_hz),
                round(1e9 / self.rate_hz),
                int(open_profile.ACC_RANGE_G),
                int(open_profile.GYR_RANGE_DEG_S),
            )
        )

    def _on_control(self, _connection: Any, value: bytes) -> None:
        cmd = open_profile.parse_command(bytes(value))
        if cmd is None:
            return
        kind, arg = cmd
        if kind == "start":
            self.started = True
        elif kind == "stop":
            self.started = False
        elif kind == "rate" and arg is not None and float(arg) in open_profile.RATE_HZ_CODE:
            self._set_rate(float(arg))
        elif kind == "max" and arg is not None:
            self.max_samples = int(arg)

    def _set_rate(self, rate_hz: float) -> None:
        if rate_hz != self.rate_hz:
            self.rate_hz = rate_hz
            self._next = 0
            if self.radio is not None:
                self._next = self._due_count(self.radio.sim_time_s)

    def encode(
        self, first_index: int, sensor_time_s: FloatArray, acc: FloatArray, gyr: FloatArray
    ) -> list[bytes]:
        n_per = self.samples_per_notification()
        out: list[bytes] = []
        for a in range(0, len(sensor_time_s), n_per):
            t0_us = (self._t0_us + round(sensor_time_s[a] * 1e6)) & 0xFFFFFFFF
            frames = open_profile.encode_samples(
                acc[a : a + n_per], gyr[a : a + n_per], self._seq, t0_us, 1e6 / self.rate_hz, n_per
            )
            self._seq = (self._seq + len(frames)) & 0xFFFF
            out.extend(frames)
        return out


class WitMotionSensor(VirtualSensor):
    """WitMotion WT901BLECL: ``55 61`` records, ``FF AA`` commands, battery in the stream."""

    protocol = "witmotion"
    default_name = "WT901BLE68"
    default_rate_hz = witmotion.DEFAULT_RATE_HZ
    default_interval_s = 0.020
    max_notifications_per_event = 6

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._notify = _char(witmotion.NOTIFY_CHAR_UUID, _R.NOTIFY)

    def services(self) -> list[gatt.Service]:
        write = _char(
            witmotion.WRITE_CHAR_UUID, _R.WRITE | _R.WRITE_WITHOUT_RESPONSE, write=self._on_write
        )
        return [gatt.Service(witmotion.SERVICE_UUID, [self._notify, write])]

    def advertised_uuids(self) -> list[str]:
        return [witmotion.SERVICE_UUID]

    def data_characteristic(self) -> gatt.Characteristic:
        return self._notify

    def _on_write(self, _connection: Any, value: bytes) -> None:
        cmd = bytes(value)
        rate = witmotion.rate_from_command(cmd)
        if rate is not None and rate != self.rate_hz:
            self.rate_hz = rate
            self._next = self._due_count(self.radio.sim_time_s) if self.radio else 0
        elif cmd == witmotion.command_read_register(witmotion.REG_BATTERY):
            volts = float(
                np.interp(
                    self.battery_pct,
                    witmotion.BATTERY_CURVE_PERCENT,
                    witmotion.BATTERY_CURVE_VOLTS,
                )
            )
            self.reply(witmotion.encode_battery_reply(volts))

    def encode(
        self, first_index: int, sensor_time_s: FloatArray, acc: FloatArray, gyr: FloatArray
    ) -> list[bytes]:
        stream = witmotion.encode_records(acc, gyr)
        return witmotion.split_notifications(stream, witmotion.RECORD_LEN)


class MovellaDotSensor(VirtualSensor):
    """Movella DOT: measurement / configuration / battery services, custom mode 5 payloads."""

    protocol = "movella_dot"
    default_name = "Movella DOT"
    default_rate_hz = movella_dot.DEFAULT_RATE_HZ
    default_interval_s = 0.030

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mode = movella_dot.DEFAULT_MODE
        self._payload_chars = {
            uuid: _char(uuid, _R.NOTIFY)
            for uuid in (
                movella_dot.LONG_PAYLOAD_CHAR_UUID,
                movella_dot.MEDIUM_PAYLOAD_CHAR_UUID,
                movella_dot.SHORT_PAYLOAD_CHAR_UUID,
            )
        }
        self._t0_us = int(self._rng.integers(0, 2**32))

    @property
    def needs_start_command(self) -> bool:
        return True

    def services(self) -> list[gatt.Service]:
        config = gatt.Service(
            movella_dot.CONFIG_SERVICE_UUID,
            [
                _char(movella_dot.DEVICE_INFO_CHAR_UUID, _R.READ, read=lambda _c: bytes(36)),
                _char(
                    movella_dot.DEVICE_CONTROL_CHAR_UUID,
                    _R.READ | _R.WRITE,
                    read=lambda _c: movella_dot.command_output_rate(self.rate_hz),
                    write=self._on_device_control,
                ),
                _char(movella_dot.DEVICE_REPORT_CHAR_UUID, _R.NOTIFY),
            ],
        )
        measurement = gatt.Service(
            movella_dot.MEASUREMENT_SERVICE_UUID,
            [
                _char(
                    movella_dot.CONTROL_CHAR_UUID,
                    _R.READ | _R.WRITE,
                    read=lambda _c: (
                        movella_dot.command_start(self.mode)
                        if self.started
                        else movella_dot.command_stop(self.mode)
                    ),
                    write=self._on_control,
                ),
                *self._payload_chars.values(),
            ],
        )
        battery = gatt.Service(
            movella_dot.BATTERY_SERVICE_UUID,
            [
                _char(
                    movella_dot.BATTERY_CHAR_UUID,
                    _R.READ | _R.NOTIFY,
                    read=lambda _c: movella_dot.encode_battery(round(self.battery_pct)),
                )
            ],
        )
        return [config, measurement, battery]

    def advertised_uuids(self) -> list[str]:
        return [movella_dot.MEASUREMENT_SERVICE_UUID]

    def data_characteristic(self) -> gatt.Characteristic:
        uuid = movella_dot.PAYLOAD_MODES[self.mode].char_uuid
        return self._payload_chars[uuid]

    async def attach(self, radio: VirtualRadio) -> None:
        await super().attach(radio)
        for char in self._payload_chars.values():
            if char is not self.data_characteristic():
                char.on(gatt.Characteristic.EVENT_SUBSCRIPTION, self._on_subscription)

    def _on_device_control(self, _connection: Any, value: bytes) -> None:
        rate = movella_dot.rate_from_device_control(bytes(value))
        if rate is not None and not self.started and float(rate) != self.rate_hz:
            self.rate_hz = float(rate)
            self._next = self._due_count(self.radio.sim_time_s) if self.radio else 0

    def _on_control(self, _connection: Any, value: bytes) -> None:
        cmd = movella_dot.parse_command(bytes(value))
        if cmd is None:
            return
        action, mode = cmd
        if action == "start" and mode in movella_dot.PAYLOAD_MODES and mode != 19:
            self.mode = mode
            self.started = True
        elif action == "stop":
            self.started = False

    def encode(
        self, first_index: int, sensor_time_s: FloatArray, acc: FloatArray, gyr: FloatArray
    ) -> list[bytes]:
        t_us = (self._t0_us + np.rint(sensor_time_s * 1e6).astype(np.int64)) % (1 << 32)
        return movella_dot.encode_payloads(t_us, acc, gyr, mode=self.mode)


class Thingy52Sensor(VirtualSensor):
    """Nordic Thingy:52 motion service: 9-byte config, raw data notifications (18 bytes)."""

    protocol = "thingy52"
    default_name = "Thingy"
    default_rate_hz = thingy52.DEFAULT_RATE_HZ
    default_interval_s = 0.015

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._raw = _char(thingy52.RAW_CHAR_UUID, _R.NOTIFY)
        self._config = thingy52.command_config(thingy52.DEFAULT_RATE_HZ)

    def services(self) -> list[gatt.Service]:
        motion = gatt.Service(
            thingy52.MOTION_SERVICE_UUID,
            [
                _char(
                    thingy52.CONFIG_CHAR_UUID,
                    _R.READ | _R.WRITE,
                    read=lambda _c: self._config,
                    write=self._on_config,
                ),
                _char(thingy52.QUATERNION_CHAR_UUID, _R.NOTIFY),
                self._raw,
                _char(thingy52.EULER_CHAR_UUID, _R.NOTIFY),
            ],
        )
        return [motion, self.battery_service()]

    def advertised_uuids(self) -> list[str]:
        return [thingy52.MOTION_SERVICE_UUID]

    def data_characteristic(self) -> gatt.Characteristic:
        return self._raw

    def _on_config(self, _connection: Any, value: bytes) -> None:
        cfg = thingy52.parse_config(bytes(value))
        if cfg is None:
            return
        self._config = bytes(value)
        if float(cfg[3]) != self.rate_hz:
            self.rate_hz = float(cfg[3])
            self._next = self._due_count(self.radio.sim_time_s) if self.radio else 0

    def encode(
        self, first_index: int, sensor_time_s: FloatArray, acc: FloatArray, gyr: FloatArray
    ) -> list[bytes]:
        return thingy52.encode_raw(acc, gyr)


class MovesenseSensor(VirtualSensor):
    """Movesense running the GATT SensorData Protocol app: SUBSCRIBE ``/Meas/IMU6|IMU9/rate``.

    Samples go out in whole frames of ``samples_per_frame`` (8, as the device sends at 104 Hz),
    so a frame waits until its last sample is measured; the last samples of a finished session
    go out as a shorter frame. A frame longer than the negotiated ATT MTU allows is sent as
    DATA + DATA_PART2. No battery characteristic: the device reports it through its REST-like
    API, not through GSP or a standard Battery Service. The per-event notification budget
    counts frames (a split frame is two notifications).
    """

    protocol = "movesense"
    default_name = "Movesense 174630000192"
    default_rate_hz = movesense.DEFAULT_RATE_HZ
    default_interval_s = 0.015

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.measurement = movesense.DEFAULT_MEASUREMENT
        self.ref = movesense.DEFAULT_REF
        self.samples_per_frame = movesense.SAMPLES_PER_FRAME
        self._notify = _char(movesense.NOTIFY_CHAR_UUID, _R.NOTIFY)
        self._t0_ms = int(self._rng.integers(0, 2**32))  # sensor clock origin (ms): wraps anywhere

    @property
    def needs_start_command(self) -> bool:
        return True

    def services(self) -> list[gatt.Service]:
        command = _char(
            movesense.WRITE_CHAR_UUID, _R.WRITE | _R.WRITE_WITHOUT_RESPONSE, write=self._on_command
        )
        return [gatt.Service(movesense.SERVICE_UUID, [command, self._notify])]

    def advertised_uuids(self) -> list[str]:
        return [movesense.SERVICE_UUID]

    def data_characteristic(self) -> gatt.Characteristic:
        return self._notify

    def samples_per_notification(self) -> int:
        return self.samples_per_frame

    def sensor_time_ms(self, sensor_time_s: FloatArray) -> FloatArray:
        """The sensor's millisecond clock (before the u32 wrap) at session sensor times."""
        return self._t0_ms + np.asarray(sensor_time_s, dtype=np.float64) * 1e3

    def _due_count(self, t: float) -> int:
        due = super()._due_count(t)
        finite = not self.loop and self.samples is not None
        if finite and due >= len(self._timeline().sensor_time_s):
            return due  # flush the end of a finite session
        return due - due % self.samples_per_frame

    def _on_command(self, _connection: Any, value: bytes) -> None:
        cmd = movesense.parse_command(bytes(value))
        if cmd is None:
            return
        kind, ref, path = cmd
        resource = movesense.parse_resource_path(path) if kind == "subscribe" else None
        if resource is not None:
            self.measurement, rate = resource
            self.ref = ref
            if rate != self.rate_hz:
                self.rate_hz = rate
                self._next = self._due_count(self.radio.sim_time_s) if self.radio else 0
            self.started = True
        elif kind == "unsubscribe" and ref == self.ref:
            self.started = False

    def _magnetic_field(self, first_index: int, n: int) -> FloatArray | None:
        """Magnetometer samples of the timeline's indices (None when the session has none)."""
        blk = self.samples
        if blk is None or blk.mag_uT is None:
            return None
        tl = self._timeline()
        k = np.arange(first_index, first_index + n) % len(tl.sensor_time_s)
        true_t = tl.sensor_time_s[k] / (1.0 + self.faults.clock_drift_ppm * 1e-6)
        return _resample(true_t, blk.time_s, blk.mag_uT)

    def encode(
        self, first_index: int, sensor_time_s: FloatArray, acc: FloatArray, gyr: FloatArray
    ) -> list[bytes]:
        mag = None
        if self.measurement == "IMU9":
            mag = self._magnetic_field(first_index, len(acc))
            mag = np.zeros_like(acc) if mag is None else mag
        mtu = self.connection.att_mtu if self.connection is not None else 23
        return movesense.encode_notifications(
            self.sensor_time_ms(sensor_time_s), acc, gyr, mag, mtu, self.samples_per_frame, self.ref
        )


class ForeignPeripheral(VirtualSensor):
    """A device that is not a supported sensor (a heart-rate strap) but may carry any name."""

    protocol = "foreign"
    default_name = "HRM-Pro"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hr = _char("00002a37-0000-1000-8000-00805f9b34fb", _R.NOTIFY)

    def services(self) -> list[gatt.Service]:
        return [gatt.Service("0000180d-0000-1000-8000-00805f9b34fb", [self._hr])]

    def advertised_uuids(self) -> list[str]:
        return []

    def data_characteristic(self) -> gatt.Characteristic:
        return self._hr

    def encode(
        self, first_index: int, sensor_time_s: FloatArray, acc: FloatArray, gyr: FloatArray
    ) -> list[bytes]:
        return []


SENSOR_CLASSES: dict[str, type[VirtualSensor]] = {
    cls.protocol: cls
    for cls in (
        OpenProfileSensor,
        WitMotionSensor,
        MovellaDotSensor,
        Thingy52Sensor,
        MovesenseSensor,
    )
}
"""Virtual sensor class per protocol name."""
