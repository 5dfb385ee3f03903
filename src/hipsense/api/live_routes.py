"""Routes about the live stream: health, devices, calibration, markers, protocols, results,
replay control and the ``/ws/live`` WebSocket."""

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
    ProtocolOut,
    ProtocolStart,
    ReplaySeek,
    Results,
)
from hipsense.api.service import Service, get_service, get_ws_service
from hipsense.live import SubscriptionClosedError, encode, marker_dict
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
    return [d.to_dict() for d in service.live.devices.values()]


async def _source_call(service: Service, method: str, what: str, *args: Any) -> Any:
    fn = getattr(service.live.source, method, None)
    if fn is None:
        raise ApiError(
            409,
            f"{what} is not possible with the {service.live.source_name!r} source, whose "
            "sensors are fixed; restart with 'hipsense serve --source ble' to use real sensors",
        )
    try:
        result = fn(*args)
        if asyncio.iscoroutine(result):
            result = await result
    except NotImplementedError as exc:
        raise ApiError(501, f"{what} is not implemented yet: {exc}") from None
    return result


@router.post("/devices/scan", tags=["devices"])
async def scan(service: ServiceDep) -> list[dict[str, Any]]:
    """Scan for BLE sensors (BLE source only)."""
    found = await _source_call(service, "scan", "scanning for sensors")
    return list(found or [])


@router.post("/devices/{address}/connect", response_model=Ack, tags=["devices"])
async def connect(address: Address, service: ServiceDep) -> Ack:
    """Connect a scanned sensor (BLE source only)."""
    await _source_call(service, "connect", "connecting a sensor", address)
    return Ack(message=f"connecting {address}")


@router.put("/devices/{address}/role", response_model=Ack, tags=["devices"])
async def assign_role(address: Address, body: AssignRole, service: ServiceDep) -> Ack:
    """Assign a body role to a connected sensor (BLE source only)."""
    await _source_call(service, "assign_role", "assigning roles", address, body.role)
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


# --- exercise protocols and results ----------------------------------------------------------


def _protocol_marker_name(p: ProtocolStart) -> str:
    return f"hold_{p.kind}" if p.kind in ("pails", "rails") else f"rom_{p.movement}"


@router.get("/protocols", response_model=list[ProtocolOut], tags=["exercises"])
async def protocols(service: ServiceDep) -> list[dict[str, Any]]:
    """Protocols started in this service run."""
    return [{k: v for k, v in p.items() if k != "_marker"} for p in service.protocols]


@router.post("/protocols", response_model=ProtocolOut, status_code=201, tags=["exercises"])
async def start_protocol(body: ProtocolStart, service: ServiceDep) -> dict[str, Any]:
    """Start a PAILs/RAILs hold protocol or a ROM test; emits an open marker."""
    running = [p for p in service.protocols if p["status"] == "running"]
    if running:
        raise ApiError(
            409,
            f"protocol {running[0]['id']} is still running; stop it first "
            f"(POST /api/protocols/{running[0]['id']}/stop)",
        )
    text = (
        f"{body.kind} {body.movement} {body.side}: target {body.target_deg:g}±{body.band_deg:g} deg"
        f", {body.reps}x{body.hold_s:g} s"
    )
    marker = Marker(service.live.time_s, None, _protocol_marker_name(body), body.side, text)
    record: dict[str, Any] = {
        **body.model_dump(),
        "id": len(service.protocols) + 1,
        "start_s": round(marker.start_s, 3),
        "end_s": None,
        "status": "running",
        "_marker": marker,
    }
    service.protocols.append(record)
    service.live.add_marker(marker)
    if service.store.active is not None:
        service.store.active.add_protocol({k: v for k, v in record.items() if k != "_marker"})
    return {k: v for k, v in record.items() if k != "_marker"}


@router.post("/protocols/{protocol_id}/stop", response_model=ProtocolOut, tags=["exercises"])
async def stop_protocol(
    protocol_id: Annotated[int, Path(ge=1, le=1_000_000)], service: ServiceDep
) -> dict[str, Any]:
    """Close a running protocol; its marker gets an end time."""
    if protocol_id > len(service.protocols):
        raise ApiError(404, f"no protocol {protocol_id}; GET /api/protocols lists them")
    record = service.protocols[protocol_id - 1]
    if record["status"] == "running":
        marker: Marker = record["_marker"]
        marker.end_s = max(service.live.time_s, marker.start_s)
        record["end_s"] = round(marker.end_s, 3)
        record["status"] = "stopped"
        service.live.add_marker(marker)
    return {k: v for k, v in record.items() if k != "_marker"}


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


@router.post("/replay/pause", response_model=Ack, tags=["recordings"])
async def replay_pause(service: ServiceDep) -> Ack:
    """Pause a replay."""
    await _source_call(service, "pause", "pausing")
    return Ack(message="paused")


@router.post("/replay/resume", response_model=Ack, tags=["recordings"])
async def replay_resume(service: ServiceDep) -> Ack:
    """Resume a paused replay."""
    await _source_call(service, "resume", "resuming")
    return Ack(message="resumed")


@router.post("/replay/seek", response_model=Ack, tags=["recordings"])
async def replay_seek(body: ReplaySeek, service: ServiceDep) -> Ack:
    """Jump a replay to ``time_s``."""
    await _source_call(service, "seek", "seeking", body.time_s)
    return Ack(message=f"seeking to {body.time_s:g} s")


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
