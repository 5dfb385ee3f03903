"""Routes about clients: records, their sessions, progress, the report and archives.

Client ids are made by the server (``c`` + 10 hex digits); names never appear in URLs. Every
edit carries the ``version`` it was made on (409 when somebody else changed the client since).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

import pydantic_core
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from hipsense import clients as client_store
from hipsense.api.errors import ApiError
from hipsense.api.live_routes import ERRORS, ServiceDep
from hipsense.api.schemas import Ack
from hipsense.recording.clients import MAX_CLIENT_NAME, MAX_NOTES
from hipsense.report.progress import (
    REPORT_SESSIONS,
    progress_chart,
    progress_csv,
    render_client_report,
    what_changed,
)

router = APIRouter(prefix="/api", responses=ERRORS)
ClientId = Annotated[str, Path(min_length=1, max_length=40, description="the client's id")]
Side = Literal["left", "right"]
Last = Annotated[
    int | None,
    Query(
        ge=1,
        le=1_000_000,
        description="only the newest N sessions (changes still count "
        "from the first one); default all",
    ),
]
ARCHIVE_UPLOAD_BYTES = 8_000_000_000
"""Largest client archive ``POST /api/clients/import`` takes."""


class ClientOut(BaseModel):
    """A client (the person measured)."""

    id: str
    name: str = Field(description="display name or pseudonym")
    notes: str
    sides: list[Side] = Field(description="side(s) of concern")
    created_utc: str
    updated_utc: str
    version: int = Field(description="send it back with an edit (PATCH)")
    sessions: int
    last_session_utc: str | None


class ClientCreate(BaseModel):
    """A new client."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_CLIENT_NAME)
    notes: str = Field("", max_length=MAX_NOTES)
    sides: list[Side] = Field(default_factory=list)


class ClientEdit(BaseModel):
    """Change a client as seen at ``version``."""

    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, description="the version the edit was made on")
    name: str | None = Field(None, min_length=1, max_length=MAX_CLIENT_NAME)
    notes: str | None = Field(None, max_length=MAX_NOTES)
    sides: list[Side] | None = None


class ClientMerge(BaseModel):
    """Merge this client into another one."""

    model_config = ConfigDict(extra="forbid")
    into: str = Field(min_length=1, max_length=40, description="id of the client kept")


class SessionClient(BaseModel):
    """Assign a session to a client (null: to nobody)."""

    model_config = ConfigDict(extra="forbid")
    client_id: str | None = Field(max_length=40)


class ClientSessionOut(BaseModel):
    """A session of a client."""

    name: str
    created_utc: str
    duration_s: float
    missing: bool
    damaged: bool
    report_url: str


class ClientDetail(ClientOut):
    """A client with their sessions, oldest first."""

    session_list: list[ClientSessionOut]


def _detail(service: Any, client_id: str) -> dict[str, Any]:
    client = service.store.clients.get(client_id)
    sessions = [
        {
            "name": s["name"],
            "created_utc": s["created_utc"],
            "duration_s": round(s["duration_s"], 3),
            "missing": bool(s["missing"]),
            "damaged": bool(s["damaged"]),
            "report_url": f"/api/sessions/{s['name']}/report",
        }
        for s in service.store.clients.session_heads(client_id)
    ]
    return {**client.to_dict(), "session_list": sessions}


@router.get("/clients", response_model=list[ClientOut], tags=["clients"])
async def list_clients(service: ServiceDep) -> list[dict[str, Any]]:
    """Every client, by name, with their session count."""
    clients = await asyncio.to_thread(service.store.clients.all)
    return [c.to_dict() for c in clients]


@router.post("/clients", response_model=ClientOut, status_code=201, tags=["clients"])
async def create_client(body: ClientCreate, service: ServiceDep) -> dict[str, Any]:
    """A new client (409 if the name is taken)."""
    client = await asyncio.to_thread(
        service.store.clients.create, body.name, body.notes, list(body.sides)
    )
    return client.to_dict()


@router.get("/clients/{client_id}", response_model=ClientDetail, tags=["clients"])
async def get_client(client_id: ClientId, service: ServiceDep) -> dict[str, Any]:
    """A client and their sessions."""
    return await asyncio.to_thread(_detail, service, client_id)


@router.patch("/clients/{client_id}", response_model=ClientOut, tags=["clients"])
async def edit_client(client_id: ClientId, body: ClientEdit, service: ServiceDep) -> dict[str, Any]:
    """Rename a client or change notes or sides (409 when the client changed since
    ``version``: reload and edit again)."""
    client = await asyncio.to_thread(
        service.store.clients.update,
        client_id,
        body.version,
        body.name,
        body.notes,
        None if body.sides is None else list(body.sides),
    )
    return client.to_dict()


@router.post("/clients/{client_id}/merge", response_model=ClientOut, tags=["clients"])
async def merge_client(
    client_id: ClientId, body: ClientMerge, service: ServiceDep
) -> dict[str, Any]:
    """Move every session of this client to ``into`` and remove this client."""
    client = await asyncio.to_thread(
        client_store.merge_clients, service.store, client_id, body.into
    )
    return client.to_dict()


@router.delete("/clients/{client_id}", response_model=Ack, tags=["clients"])
async def delete_client(
    client_id: ClientId,
    service: ServiceDep,
    confirm: Annotated[str, Query(max_length=200, description="the client's name")] = "",
) -> Ack:
    """Delete a client with all their sessions: recordings, exports, index rows, results.
    ``confirm`` must be the client's name."""
    names = await asyncio.to_thread(client_store.delete_client, service.store, client_id, confirm)
    return Ack(message=f"client deleted with {len(names)} sessions")


@router.put("/sessions/{name}/client", response_model=Ack, tags=["clients"])
async def assign_session(
    name: Annotated[str, Path(min_length=1, max_length=200)],
    body: SessionClient,
    service: ServiceDep,
) -> Ack:
    """Assign a recorded session to a client, or to nobody."""
    service.store.check_not_recording(name, "assigning it")
    await asyncio.to_thread(service.store.get, name)
    await asyncio.to_thread(service.store.clients.assign, name, body.client_id)
    return Ack(message="session assigned" if body.client_id else "session unassigned")


@router.get("/clients/{client_id}/progress", tags=["clients"])
async def client_progress(
    client_id: ClientId,
    service: ServiceDep,
    analyze: Annotated[
        bool, Query(description="analyse sessions not analysed yet first (else 'pending')")
    ] = True,
    last: Last = None,
) -> Response:
    """The client's assessment figures of every session, oldest first, with the change since
    the first and the previous session and whether it exceeds the measurement's repeat noise
    (``docs/clients.md``); ``what_changed``: the report's sentences on the latest session."""
    body = await asyncio.to_thread(
        client_store.rendered, service.store, client_id, _progress_json, analyze, last
    )
    return Response(body, media_type="application/json")


def _progress_json(doc: dict[str, Any]) -> bytes:
    """The progress JSON (kept with the document: thousands of sessions are megabytes)."""
    return pydantic_core.to_json({**doc, "what_changed": what_changed(doc)}, inf_nan_mode="null")


@router.get("/clients/{client_id}/progress.svg", tags=["clients"])
async def client_progress_chart(
    client_id: ClientId, service: ServiceDep, last: Last = None
) -> Response:
    """The progress chart (active and passive hip extension per side and session) as SVG;
    its points carry the values of the progress JSON."""
    chart = await asyncio.to_thread(
        client_store.rendered, service.store, client_id, progress_chart, False, last
    )
    return Response(chart, media_type="image/svg+xml")


@router.get("/clients/{client_id}/progress.csv", tags=["clients"])
async def client_progress_csv(client_id: ClientId, service: ServiceDep) -> Response:
    """The progress table as CSV, for the client's own spreadsheets."""
    table = await asyncio.to_thread(client_store.rendered, service.store, client_id, progress_csv)
    return Response(
        table,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{client_id}-progress.csv"'},
    )


@router.get("/clients/{client_id}/report", response_class=HTMLResponse, tags=["clients"])
async def client_report(client_id: ClientId, service: ServiceDep) -> HTMLResponse:
    """One self-contained HTML report of the latest session with the progress (prints to PDF)."""
    doc = await asyncio.to_thread(
        client_store.client_progress, service.store, client_id, True, REPORT_SESSIONS
    )
    now = datetime.now(UTC).isoformat(timespec="minutes")
    return HTMLResponse(render_client_report(doc, now))


@router.get("/clients/{client_id}/archive", tags=["clients"])
async def client_archive(client_id: ClientId, service: ServiceDep) -> FileResponse:
    """The client's whole archive (zip of recordings, results and the client record)."""
    service.store.clients.get(client_id)
    fd, tmp_name = tempfile.mkstemp(prefix=".archive-", suffix=".zip", dir=service.store.data_dir)
    os.close(fd)  # export_archive opens the path itself
    tmp = FsPath(tmp_name)
    try:
        await asyncio.to_thread(client_store.export_archive, service.store, client_id, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return FileResponse(
        tmp,
        media_type="application/zip",
        filename=f"{client_id}-archive.zip",
        background=BackgroundTask(tmp.unlink, missing_ok=True),
    )


@router.post("/clients/import", response_model=ClientOut, status_code=201, tags=["clients"])
async def import_client(
    request: Request,
    service: ServiceDep,
    name: Annotated[
        str | None, Query(max_length=MAX_CLIENT_NAME, description="name if it is taken here")
    ] = None,
) -> dict[str, Any]:
    """Import a client archive (the zip of ``GET /api/clients/{id}/archive``) sent as the
    request body (``Content-Type: application/zip``)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind not in ("application/zip", "application/octet-stream"):
        raise ApiError(415, "send the archive as the body with Content-Type: application/zip")
    fd, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=".zip", dir=service.store.data_dir)
    tmp = FsPath(tmp_name)
    try:
        with open(fd, "wb") as out:
            async for chunk in request.stream():
                await asyncio.to_thread(out.write, chunk)
        client, _ = await asyncio.to_thread(
            client_store.import_archive, service.store, tmp, name, "the uploaded archive"
        )
    finally:
        tmp.unlink(missing_ok=True)
    return client.to_dict()
