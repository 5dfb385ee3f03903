"""Virtual sensors for a simulated session on one virtual radio.

:func:`build_radio` puts one virtual sensor per role of a :class:`~hipsim.SimSession` on a
:class:`~hipsim.ble.radio.VirtualRadio`; hipsense streams them as a live source with
``hipsense.sources.virtual_ble.VirtualBleSource``.
"""

from __future__ import annotations

from collections.abc import Mapping

from hipsense.types import ROLES, SampleBlock, check_role
from hipsim.ble.peripherals import SENSOR_CLASSES, Faults, VirtualSensor
from hipsim.ble.radio import VirtualRadio

DEFAULT_PROTOCOLS: dict[str, str] = dict.fromkeys(ROLES, "open_profile")


def sensor_address(role: str) -> str:
    """The static random address the virtual sensor of ``role`` uses."""
    return f"D0:00:00:00:00:{ROLES.index(check_role(role)) + 1:02X}"


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
        f = (faults or {}).get(role) or Faults(seed=ROLES.index(role))
        if battery_pct is not None:
            f.battery_pct = battery_pct
        cls = SENSOR_CLASSES[protocols[role]]
        address = sensor_address(role)
        sensors.append(cls(samples[role], address, faults=f, loop=loop))
        assignments[role] = address
    return VirtualRadio(sensors, speed=speed), assignments


__all__ = ["build_radio", "sensor_address"]
