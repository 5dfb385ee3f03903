"""Live sources: where the serving pipeline gets its items from.

A source is a small object with

- ``roles``: the sensor roles it delivers (``["pelvis", "thigh_left", ...]``),
- ``rate_hz``: nominal sample rate per role (``{"pelvis": 100.0, ...}``),
- ``stream()``: an async iterator yielding lists of items, each a
  :class:`~hipsense.types.SampleBlock`, :class:`~hipsense.types.SensorEvent`,
  :class:`~hipsense.types.RawNotification` or :class:`~hipsense.types.Marker`.

Optional capabilities are discovered with ``getattr`` by the service: ``name`` (shown in the
dashboard), ``devices()`` (static device descriptions), ``scan()``, ``connect(address)``,
``assign_role(address, role)`` (BLE), ``pause()``, ``resume()``, ``seek(time_s)`` (replay),
``close()``. A source that lacks one makes the API answer with a clear 409/501 error.

``SampleBlock`` items carry session time; ``RawNotification`` items are passed on to recorders
unchanged (the source decodes them itself and also yields the samples).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from hipsense.types import Marker, RawNotification, SampleBlock, SensorEvent

SourceItem = SampleBlock | SensorEvent | RawNotification | Marker


@runtime_checkable
class LiveSource(Protocol):
    """What :class:`hipsense.live.LiveSession` needs from a source."""

    roles: list[str]
    rate_hz: dict[str, float]

    def stream(self) -> AsyncIterator[list[SourceItem]]:
        """Yield lists of items as they arrive, in time order."""
        ...


__all__ = ["LiveSource", "SourceItem"]
