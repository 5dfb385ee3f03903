"""Sensor wire formats: one module per vendor, each the single source of truth for it.

``identify(name, service_uuids)`` picks the :class:`ProtocolSpec` of an advertising device;
``SPECS`` lists every supported format by name.
"""

from __future__ import annotations

from hipsense.sensors.protocols import movella_dot, movesense, open_profile, thingy52, witmotion
from hipsense.sensors.protocols.base import (
    BatteryStatus,
    DecodedSamples,
    GattWrite,
    ProtocolDecoder,
    ProtocolSpec,
)

SPECS: dict[str, ProtocolSpec] = {
    spec.name: spec
    for spec in (
        open_profile.SPEC,
        witmotion.SPEC,
        movella_dot.SPEC,
        thingy52.SPEC,
        movesense.SPEC,
        movesense.SPEC_IMU9,  # same service: identify() finds movesense (IMU6) first
    )
}


def _normalise_uuid(uuid: str) -> str:
    u = uuid.strip().lower()
    if len(u) == 4:  # a bare 16-bit UUID is on the Bluetooth SIG base
        return f"0000{u}-0000-1000-8000-00805f9b34fb"
    return u


def identify(name: str | None, service_uuids: list[str]) -> ProtocolSpec | None:
    """The protocol of an advertising device, or None if it is not a supported sensor.

    Advertised service UUIDs win over the local name (names are user-editable on some
    devices); names are matched case-insensitively as substrings.

    Parameters
    ----------
    name : advertised local name, or None.
    service_uuids : advertised service UUIDs (full 128-bit strings; bare 16-bit ones are
        expanded on the Bluetooth SIG base).

    Examples
    --------
    >>> identify("WT901BLE68", []).name
    'witmotion'
    >>> identify(None, ["80e21000-22a2-49a1-b0c8-1e63d6fd335a"]).name
    'open_profile'
    """
    advertised = {_normalise_uuid(u) for u in service_uuids}
    for spec in SPECS.values():
        if advertised.intersection(spec.service_uuids):
            return spec
    if name:
        lowered = name.lower()
        for spec in SPECS.values():
            if any(p in lowered for p in spec.name_patterns):
                return spec
    return None


__all__ = [
    "SPECS",
    "BatteryStatus",
    "DecodedSamples",
    "GattWrite",
    "ProtocolDecoder",
    "ProtocolSpec",
    "identify",
    "movella_dot",
    "movesense",
    "open_profile",
    "thingy52",
    "witmotion",
]
