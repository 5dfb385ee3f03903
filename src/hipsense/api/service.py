"""What the routes share: settings, the live session, the session store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request, WebSocket

from hipsense.live import LiveSession, RecorderFeed
from hipsense.recording.sessions import SessionStore
from hipsense.sources import LiveSource


@dataclass
class ServiceSettings:
    """Options of ``hipsense serve``.

    Attributes
    ----------
    host, port : where the service listens (printed in the dashboard URL).
    token : required on every request when set (mandatory off loopback).
    data_dir : sessions and recordings live here.
    max_body_bytes : larger request bodies get 413.
    client_queue : messages queued per WebSocket client before its oldest are dropped.
    exercise : what the simulated person does (``--source sim``).
    placements : declared sensor placement per role, used when a live calibration finds no
        routine (``serve --placement``).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    data_dir: Path = field(default_factory=lambda: Path("hipsense-data"))
    max_body_bytes: int = 1_000_000
    client_queue: int = 100
    exercise: str = "assessment"
    placements: dict[str, str] | None = None


@dataclass
class Service:
    """Shared state of one running service.

    ``make_live(source, auto_calibrate)`` builds a live session with the service's settings
    and analyzers; ``replaying`` names the data-directory recording that replaced the
    configured source (None: the configured source is playing).
    """

    settings: ServiceSettings
    live: LiveSession
    store: SessionStore
    make_live: Callable[[LiveSource, bool], LiveSession] | None = None
    default_source: tuple[Callable[[], LiveSource], bool] | None = None
    recording_feed: RecorderFeed | None = None
    replaying: str | None = None
    analysis_tasks: set[asyncio.Future[None]] = field(default_factory=set)
    """Analyses of finished client sessions running in worker threads."""

    async def switch_source(
        self, source: LiveSource, auto_calibrate: bool, replaying: str | None
    ) -> None:
        """Stop the live session and start a new one on ``source`` (nothing may record)."""
        if self.make_live is None:
            raise RuntimeError("this service cannot change its source")
        await self.live.stop()
        self.live = self.make_live(source, auto_calibrate)
        self.replaying = replaying
        await self.live.start()


async def get_service(request: Request) -> Service:
    """The service of the app handling ``request``."""
    service: Service = request.app.state.service
    return service


def get_ws_service(websocket: WebSocket) -> Service:
    """The service of the app handling ``websocket``."""
    service: Service = websocket.app.state.service
    return service
