"""bleak backends (scanner and client) on bumble's virtual controller: a real GATT stack in-process.

The classes here are plugged in through bleak's public ``backend=`` argument of
:class:`bleak.BleakScanner` and :class:`bleak.BleakClient`, so hipsense's BLE code runs
unmodified over bumble's host (HCI, L2CAP, ATT, GATT) and link-layer controller. Each class is
bound to one :class:`~hipsim.ble.radio.VirtualRadio` by :func:`bind`, which makes a subclass
carrying the radio (bleak instantiates backends itself, with its own arguments).
"""

from __future__ import annotations

import contextlib
import uuid as uuid_module
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble import core, hci
from bumble.device import Advertisement, Connection, Peer

if TYPE_CHECKING:
    from hipsim.ble.radio import VirtualRadio

CENTRAL_ATT_MTU = 247
"""ATT MTU the virtual central asks for (what Android, macOS and BlueZ with DLE negotiate)."""

_PROPERTY_NAMES: tuple[tuple[int, CharacteristicPropertyName], ...] = (
    (0x01, "broadcast"),
    (0x02, "read"),
    (0x04, "write-without-response"),
    (0x08, "write"),
    (0x10, "notify"),
    (0x20, "indicate"),
    (0x40, "authenticated-signed-writes"),
    (0x80, "extended-properties"),
)


def uuid_str(u: core.UUID) -> str:
    """bumble UUID -> bleak's lower-case 128-bit string form."""
    return str(uuid_module.UUID(bytes=bytes(reversed(u.to_bytes(force_128=True)))))


def _address_str(address: hci.Address) -> str:
    return address.to_string(with_type_qualifier=False)


class BumbleScanner(BaseBleakScanner):
    """Scanner backend: the virtual central's scan, reported as bleak advertisements."""

    radio: ClassVar[VirtualRadio]

    def __init__(
        self,
        detection_callback: Any,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._listening = False

    async def start(self) -> None:
        """Start scanning (raises like an OS without Bluetooth when the radio has no adapter)."""
        self.radio.check_adapter()
        central = await self.radio.central()
        self.seen_devices = {}
        central.on(central.EVENT_ADVERTISEMENT, self._on_advertisement)
        self._listening = True
        if not central.scanning:
            await central.start_scanning(filter_duplicates=False)

    async def stop(self) -> None:
        """Stop scanning."""
        central = await self.radio.central()
        if self._listening:
            central.remove_listener(central.EVENT_ADVERTISEMENT, self._on_advertisement)
            self._listening = False
        if central.scanning:
            await central.stop_scanning()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement.data
        name_raw = data.get(data.COMPLETE_LOCAL_NAME, raw=True)
        name = bytes(name_raw).decode("utf-8", "replace") if name_raw else None
        uuids_raw = data.get(data.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, raw=True) or b""
        uuids = [
            uuid_str(core.UUID.from_bytes(bytes(uuids_raw[i : i + 16])))
            for i in range(0, len(uuids_raw), 16)
        ]
        if not self.is_allowed_uuid(uuids):
            return
        address = _address_str(advertisement.address)
        adv = AdvertisementData(
            local_name=name,
            manufacturer_data={},
            service_data={},
            service_uuids=uuids,
            tx_power=None,
            rssi=self.radio.rssi_of(address),
            platform_data=(advertisement,),
        )
        device = self.create_or_update_device(address, address, name, advertisement, adv)
        self.call_detection_callbacks(device, adv)


class BumbleClient(BaseBleakClient):
    """Client backend: one LE connection of the virtual central, GATT through bumble's client."""

    radio: ClassVar[VirtualRadio]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._name = (
            address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._closing = False
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        """The advertised name (or the address)."""
        return self._name or self.address

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU."""
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        """True while the LE connection is up."""
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, exchange the MTU and discover all services (sets ``self.services``)."""
        self.radio.check_adapter()
        central = await self.radio.central()
        target = hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS)
        try:
            connection = await central.connect(target, timeout=self._timeout)
        except (core.TimeoutError, TimeoutError):
            raise BleakDeviceNotFoundError(
                self.address, f"Device with address {self.address} was not found."
            ) from None
        except core.BaseBumbleError as exc:
            raise BleakError(f"connecting {self.address} failed: {exc}") from exc
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        self._peer = Peer(connection)
        await self._peer.request_mtu(CENTRAL_ATT_MTU)
        await self._peer.discover_all()
        self.services = self._service_collection(self._peer)

    def _service_collection(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()

        def write_size() -> int:
            return self.mtu_size - 3

        for sp in peer.services:
            service = BleakGATTService(sp, sp.handle, uuid_str(sp.uuid))
            collection.add_service(service)
            for cp in sp.characteristics:
                props = [name for bit, name in _PROPERTY_NAMES if int(cp.properties) & bit]
                char = BleakGATTCharacteristic(
                    cp, cp.handle, uuid_str(cp.uuid), props, write_size, service
                )
                collection.add_characteristic(char)
                for dp in cp.descriptors:
                    desc = BleakGATTDescriptor(dp, dp.handle, uuid_str(dp.type), char)
                    collection.add_descriptor(desc)
        return collection

    def _on_disconnection(self, *reason: object) -> None:
        self._connection = None
        self._peer = None
        self.radio.forget_in_flight(self.address)
        if not self._closing and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        """Disconnect (our own disconnect: no disconnected callback)."""
        connection = self._connection
        if connection is None:
            return
        self._closing = True
        with contextlib.suppress(core.BaseBumbleError):
            await connection.disconnect()
        self._connection = None
        self._peer = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pairing is not needed by any supported sensor."""

    async def unpair(self) -> None:
        """Nothing to unpair."""

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic value."""
        return bytearray(await self._require_peer().read_value(characteristic.handle))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a descriptor value."""
        return bytearray(await self._require_peer().read_value(descriptor.handle))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        """Write a characteristic (with or without response)."""
        await self._require_peer().write_value(
            characteristic.handle, bytes(data), with_response=response
        )

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        """Write a descriptor (with response)."""
        await self._require_peer().write_value(descriptor.handle, bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Enable notifications; each value reaches ``callback`` as a bytearray.

        Before the callback runs, the radio's virtual host clock is set to the receive time the
        peripheral scheduled for this notification, so a callback that timestamps with the
        radio's clock sees realistic receive times even when the simulation runs faster than
        real time.
        """
        peer = self._require_peer()
        radio = self.radio
        address = self.address

        def on_value(value: bytes) -> None:
            radio.delivered(address, value)
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = on_value
        await peer.subscribe(characteristic.obj, on_value)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Disable notifications."""
        subscriber = self._subscribers.pop(characteristic.handle, None)
        if self._peer is not None:
            await self._peer.unsubscribe(characteristic.obj, subscriber)


def bind(radio: VirtualRadio) -> tuple[type[BumbleScanner], type[BumbleClient]]:
    """Scanner and client backend classes bound to ``radio`` (for ``backend=``)."""
    scanner = type("BumbleScanner", (BumbleScanner,), {"radio": radio})
    client = type("BumbleClient", (BumbleClient,), {"radio": radio})
    return scanner, client
