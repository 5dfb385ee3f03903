"""Routes about the live stream: health, devices, calibration, markers, results, replay
control and the ``/ws/live`` WebSocket (the assessment and hold series: ``assessment_routes``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, WebSocket, WebSocketDisconnect

from hipsense import __version__
from hipsense.api.errors import ApiError
from hipsense.api.schemas import (
    Ack,
    AssignRole,
    CalibrationStatus,
    Device,
    ErrorResponse,
    Health,
    MarkerIn,
    MarkerOut,
    ReplaySeek,
    ReplayStatus,
    Results,
)
from hipsense.api.service import Service, get_service, get_ws_service
from hipsense.live import SubscriptionClosedError, encode, marker_dict
from hipsense.sources import Scanning, Seeking
from hipsense.sources.replay import ReplaySource
from hipsense.types import Marker

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422, 501)
}
router = APIRouter(prefix="/api", responses=ERRORS)
ws_router = APIRouter()
ServiceDep = Annotated[Service, Depends(get_service)]
Address = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9:_.-]+$")]


@router.get("/health", response_model=Health, tags=["service"])
async def health(service: ServiceDep) -> dict[str, Any]:
    """Is the service up, is the source delivering, is it calibrated."""
    stats = service.live.stats()
    active = service.store.active
    return {
        "status": "ok" if stats["running"] and not stats["source_error"] else "degraded",
        "version": __version__,
        "source": stats["source"],
        "source_state": stats["source_state"],
        "running": stats["running"],
        "source_error": stats["source_error"],
        "calibrated": stats["calibrated"],
        "time_s": stats["time_s"],
        "clients": stats["clients"],
        "clients_dropped": sum(stats["client_dropped"]),
        "recording": None if active is None else active.name,
        "uptime_s": stats["uptime_s"],
    }


# --- devices ---------------------------------------------------------------------------------


@router.get("/devices", response_model=list[Device], tags=["devices"])
async def devices(service: ServiceDep) -> list[dict[str, Any]]:
    """Sensors with role, protocol, address, battery, signal, data rate and gaps."""
    return [d.to_dict() for d in service.live.device_status()]


def _scanning(service: Service, what: str) -> Scanning:
    """The live source if it can scan and assign sensors, else 409."""
    source = service.live.source
    if not isinstance(source, Scanning):
        raise ApiError(
            409,
            f"{what} is not possible with the {service.live.source_name!r} source, whose "
            "sensors are fixed; restart with 'hipsense serve --source ble' to use real sensors",
        )
    return source


def _seeking(service: Service, what: str) -> Seeking:
    """The live source if it plays a recording, else 409; also 409 once it has ended or
    failed (only a restart plays it again)."""
    source = service.live.source
    if not isinstance(source, Seeking):
        raise ApiError(
            409,
            f"{what} is only possible while replaying a recording; the "
            f"{service.live.source_name!r} source is live (POST /api/replay plays a recording)",
        )
    state = service.live.source_state
    if state in ("ended", "failed"):
        why = "has ended" if state == "ended" else f"failed ({service.live.source_error})"
        raise ApiError(
            409,
            f"{what} is not possible: the replay {why}; play it again from the start with "
            "POST /api/replay/restart",
        )
    return source


@router.post("/devices/scan", tags=["devices"])
async def scan(service: ServiceDep) -> list[dict[str, Any]]:
    """Scan for BLE sensors (BLE source only)."""
    return await _scanning(service, "scanning for sensors").scan()


@router.post("/devices/{address}/connect", response_model=Ack, tags=["devices"])
async def connect(address: Address, service: ServiceDep) -> Ack:
    """Connect a scanned sensor (BLE source only)."""
    await _scanning(service, "connecting a sensor").connect(address)
    return Ack(message=f"connecting {address}")


@router.put("/devices/{address}/role", response_model=Ack, tags=["devices"])
async def assign_role(address: Address, body: AssignRole, service: ServiceDep) -> Ack:
    """Assign a body role to a connected sensor (BLE source only)."""
    await _scanning(service, "assigning roles").assign_role(address, body.role)
    return Ack(message=f"{address} is now {body.role}")


# --- calibration -----------------------------------------------------------------------------


@router.get("/calibration", response_model=CalibrationStatus, tags=["calibration"])
async def calibration(service: ServiceDep) -> dict[str, Any]:
    """Step, feedback, quality score and error of the guided calibration."""
    return service.live.calibration_guide.status()


@router.post("/calibration/start", response_model=CalibrationStatus, tags=["calibration"])
async def calibration_start(service: ServiceDep) -> dict[str, Any]:
    """Start the guided calibration: stand still 3 s, three knee lifts per leg, two hinges."""
    if not service.live.running:
        raise ApiError(409, "the source is not delivering data; check /api/health")
    guide = service.live.calibration_guide
    if guide.active:
        raise ApiError(
            409,
            f"a calibration is already running (step {guide.step}: {guide.message}); cancel it "
            "first (POST /api/calibration/cancel) to start again",
        )
    service.live.start_calibration()
    return service.live.calibration_guide.status()


@router.post("/calibration/cancel", response_model=CalibrationStatus, tags=["calibration"])
async def calibration_cancel(service: ServiceDep) -> dict[str, Any]:
    """Abandon the guided calibration (a previous calibration stays in use)."""
    service.live.cancel_calibration()
    return service.live.calibration_guide.status()


# --- markers ---------------------------------------------------------------------------------


@router.get("/markers", response_model=list[MarkerOut], tags=["markers"])
async def markers(service: ServiceDep) -> list[dict[str, Any]]:
    """Markers of the live stream (the latest 1000)."""
    return [marker_dict(m) for m in service.live.markers]


@router.post("/markers", response_model=MarkerOut, status_code=201, tags=["markers"])
async def add_marker(body: MarkerIn, service: ServiceDep) -> dict[str, Any]:
    """Mark the timeline now (or at ``start_s``..``end_s``)."""
    start = service.live.time_s if body.start_s is None else body.start_s
    if body.end_s is not None and body.end_s < start:
        raise ApiError(422, f"end_s ({body.end_s}) is before start_s ({start})")
    marker = Marker(start, body.end_s, body.exercise, body.side, body.text)
    service.live.add_marker(marker)
    return marker_dict(marker)


# --- results ---------------------------------------------------------------------------------


@router.get("/results", response_model=Results, tags=["exercises"])
async def results(service: ServiceDep) -> dict[str, Any]:
    """ROM/gap, holds and other analyzer results so far."""
    events = list(service.live.results)
    return {
        "analyzers": [type(a).__name__ for a in service.live.analyzers],
        "rom": [e for e in events if str(e.get("kind", "")).startswith(("rom", "gap"))],
        "holds": [e for e in events if str(e.get("kind", "")).startswith("hold")],
        "events": events[-500:],
    }


# --- replay control --------------------------------------------------------------------------


def replay_status(service: Service) -> dict[str, Any]:
    """What is playing: the configured source or a replayed recording, and where it is."""
    source = service.live.source
    replay = source if isinstance(source, ReplaySource) else None
    return {
        "source": service.live.source_name,
        "replaying": service.replaying,
        "running": service.live.running,
        "paused": None if replay is None else replay.paused,
        "position_s": None if replay is None else round(replay.position_s, 3),
        "duration_s": None if replay is None else round(replay.duration_s, 3),
    }


def _announce_source_state(service: Service) -> None:
    """Tell every client the source's new state (``{"type": "source", "source_state": ...}``)."""
    service.live.broadcast_event("source", {"source_state": service.live.source_state})


@router.post("/replay/pause", response_model=Ack, tags=["recordings"])
async def replay_pause(service: ServiceDep) -> Ack:
    """Pause a replay (409 once it has ended: restart it)."""
    _seeking(service, "pausing").pause()
    _announce_source_state(service)
    return Ack(message="paused")


@router.post("/replay/resume", response_model=Ack, tags=["recordings"])
async def replay_resume(service: ServiceDep) -> Ack:
    """Resume a paused replay (409 once it has ended: restart it)."""
    _seeking(service, "resuming").resume()
    _announce_source_state(service)
    return Ack(message="resumed")


@router.post("/replay/seek", response_model=Ack, tags=["recordings"])
async def replay_seek(body: ReplaySeek, service: ServiceDep) -> Ack:
    """Jump a replay to ``time_s`` (409 once it has ended: restart it)."""
    _seeking(service, "seeking").seek(body.time_s)
    return Ack(message=f"seeking to {body.time_s:g} s")


@router.post("/replay/restart", response_model=ReplayStatus, tags=["recordings"])
async def replay_restart(service: ServiceDep) -> dict[str, Any]:
    """Play the replay again from time 0 (also after it ended), in a fresh live session.

    The recording is read again at the same speed and calibrates again from its own
    calibration routine; WebSocket clients are closed and reconnect to the new session.
    409 when the service is not replaying or a session is recording.
    """
    source = service.live.source
    if not isinstance(source, Seeking):
        raise ApiError(
            409,
            f"restarting is only possible while replaying a recording; the "
            f"{service.live.source_name!r} source is live (POST /api/replay plays a recording)",
        )
    if service.store.active is not None:
        raise ApiError(
            409,
            f"session {service.store.active.name!r} is recording; stop it before restarting "
            "the replay",
        )
    if service.make_live is None:
        raise ApiError(409, "this service cannot change its source")
    try:
        restarted = await asyncio.to_thread(source.restarted)
    except OSError as exc:
        raise ApiError(
            409, f"the recording cannot be read again ({exc.strerror or exc}); is it still there?"
        ) from None
    assert isinstance(restarted, ReplaySource)
    await service.switch_source(restarted, service.live.auto_calibrate, service.replaying)
    return replay_status(service)


# --- WebSocket -------------------------------------------------------------------------------


@ws_router.websocket("/ws/live")
async def ws_live(websocket: WebSocket) -> None:
    """Angle frames (>= 50 Hz) and events as JSON text messages; see ``hipsense.live``."""
    service = get_ws_service(websocket)
    live = service.live
    await websocket.accept()
    sub = live.subscribe()

    async def watch_client() -> None:
        # Reading is how a disconnect is noticed even while no message is due.
        with contextlib.suppress(Exception):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
        sub.close()

    watcher = asyncio.create_task(watch_client())
    reported_drops = 0
    last_report = time.monotonic()
    try:
        await websocket.send_text(encode(live.hello()))
        while True:
            text = await sub.get()
            await websocket.send_text(text)
            now = time.monotonic()
            if sub.dropped != reported_drops and now - last_report > 1.0:
                reported_drops, last_report = sub.dropped, now
                await websocket.send_text(
                    encode({"type": "client", "dropped": sub.dropped, "queued": len(sub)})
                )
    except (SubscriptionClosedError, WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        live.unsubscribe(sub)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
