"""Virtual BLE sensors for hipsense: bleak backends on bumble's virtual radio.

>>> radio = VirtualRadio([OpenProfileSensor(session.samples["pelvis"], "D0:00:00:00:00:01")])
... # doctest: +SKIP
>>> BleakScanner(backend=radio.scanner_backend)  # doctest: +SKIP
"""

from hipsim.ble.backend import BumbleClient, BumbleScanner
from hipsim.ble.peripherals import (
    SENSOR_CLASSES,
    Faults,
    ForeignPeripheral,
    MovellaDotSensor,
    MovesenseSensor,
    OpenProfileSensor,
    Thingy52Sensor,
    VirtualSensor,
    WitMotionSensor,
)
from hipsim.ble.radio import VirtualClock, VirtualRadio
from hipsim.ble.source import build_radio, sensor_address

__all__ = [
    "SENSOR_CLASSES",
    "BumbleClient",
    "BumbleScanner",
    "Faults",
    "ForeignPeripheral",
    "MovellaDotSensor",
    "MovesenseSensor",
    "OpenProfileSensor",
    "Thingy52Sensor",
    "VirtualClock",
    "VirtualRadio",
    "VirtualSensor",
    "WitMotionSensor",
    "build_radio",
    "sensor_address",
]
