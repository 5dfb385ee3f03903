"""A live source that delivers nothing: a service for the data directory only.

Recordings, clients, progress and reports work without sensors; the live page then shows
three sensors that never connect. Used by the tests and benchmarks of those routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from hipsense.sources import DeviceInfo, SourceBatch

ROLES = ("pelvis", "thigh_left", "thigh_right")


class IdleSource:
    """A :class:`~hipsense.sources.LiveSource` with three roles and no data."""

    name = "idle"
    session_start_ns = None

    def __init__(self) -> None:
        self.roles = list(ROLES)
        self.rate_hz = dict.fromkeys(self.roles, 100.0)

    def devices(self) -> list[DeviceInfo]:
        """The three roles, never connected."""
        return [DeviceInfo(r, "simulator", f"idle:{r}") for r in self.roles]

    async def stream(self) -> AsyncIterator[SourceBatch]:
        """Ends at once: nothing to deliver."""
        return
        yield

    async def close(self) -> None:
        """Nothing to close."""
