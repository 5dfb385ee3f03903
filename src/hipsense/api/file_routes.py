"""Routes about files: recorded sessions (start/stop/list/get/delete, report) and recordings."""

from __future__ import annotations

import asyncio
import html
from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, HTMLResponse

from hipsense.api.errors import ApiError
from hipsense.api.live_routes import ERRORS, ServiceDep
from hipsense.api.schemas import (
    NAME_PATTERN,
    Ack,
    RecordingInfo,
    SessionDetail,
    SessionStart,
    SessionSummary,
)
from hipsense.api.sessions import safe_child

router = APIRouter(prefix="/api", responses=ERRORS)
# Loose on purpose: safe_child() gives the actionable message for bad names.
Name = Annotated[str, Path(min_length=1, max_length=200)]


def _summary(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": meta["name"],
        "started_at": meta.get("started_at", ""),
        "note": meta.get("note", ""),
        "recording": bool(meta.get("recording", False)),
        "duration_s": float(meta.get("duration_s", 0.0)),
        "frames": int(meta.get("frames", 0)),
        "markers": len(meta.get("markers", [])),
        "source": meta.get("source", ""),
        "report_url": meta["report_url"],
        "files": meta.get("files", []),
    }


@router.post("/sessions", response_model=SessionSummary, status_code=201, tags=["sessions"])
async def start_session(body: SessionStart, service: ServiceDep) -> dict[str, Any]:
    """Start recording the live stream (samples, angles, events, markers) into a session."""
    recorder = service.store.create(body.name, body.note, service.live.source_name)
    calibration = service.live.pipeline.calibration_
    if calibration is not None:
        recorder.meta["calibration"] = calibration.to_dict()
    service.recording_feed = service.live.add_recorder(recorder)
    return _summary(service.store.load(recorder.meta["name"]))


@router.post("/sessions/stop", response_model=SessionSummary, tags=["sessions"])
async def stop_session(service: ServiceDep) -> dict[str, Any]:
    """Stop the running recording and write everything it has queued."""
    recorder = service.store.active
    if recorder is None or service.recording_feed is None:
        raise ApiError(409, "nothing is recording; start a session with POST /api/sessions")
    await service.live.remove_recorder(service.recording_feed)
    recorder.finish()
    service.store.active = None
    service.recording_feed = None
    return _summary(service.store.load(recorder.meta["name"]))


@router.get("/sessions", response_model=list[SessionSummary], tags=["sessions"])
async def list_sessions(service: ServiceDep) -> list[dict[str, Any]]:
    """Recorded sessions, newest first."""
    return [_summary(service.store.load(n)) for n in service.store.names()]


@router.get("/sessions/{name}", response_model=SessionDetail, tags=["sessions"])
async def get_session(name: Name, service: ServiceDep) -> dict[str, Any]:
    """One session with its markers, calibration and protocols."""
    meta = service.store.load(name)
    return {
        **_summary(meta),
        "marker_list": meta.get("markers", []),
        "calibration": meta.get("calibration"),
        "protocols": meta.get("protocols", []),
    }


@router.delete("/sessions/{name}", response_model=Ack, tags=["sessions"])
async def delete_session(name: Name, service: ServiceDep) -> Ack:
    """Delete a finished session and its files."""
    service.store.delete(name)
    return Ack(message=f"session {name!r} deleted")


@router.get("/sessions/{name}/files/{filename}", tags=["sessions"])
async def session_file(name: Name, filename: Name, service: ServiceDep) -> FileResponse:
    """Download one file of a session (samples.csv, angles.csv, events.jsonl, session.json)."""
    folder = service.store.folder(name)
    path = safe_child(folder, filename, "file")
    if not path.is_file():
        raise ApiError(404, f"session {name!r} has no file {filename!r}")
    return FileResponse(path, filename=f"{name}-{filename}")


def _angle_table(path: FsPath) -> str:
    try:
        with open(path) as fh:
            header = fh.readline().strip().split(",")
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, ValueError):
        return "<p>No angles recorded (was the session calibrated?).</p>"
    if data.size == 0:
        return "<p>No angles recorded (was the session calibrated?).</p>"
    rows = []
    for i, col in enumerate(header[1:], start=1):
        v = data[:, i]
        v = v[np.isfinite(v)]
        if len(v):
            rows.append(
                f"<tr><td>{html.escape(col)}</td><td>{v.min():.1f}</td><td>{v.max():.1f}</td>"
                f"<td>{v.max() - v.min():.1f}</td></tr>"
            )
    return (
        "<table><tr><th>angle</th><th>min (deg)</th><th>max (deg)</th><th>range</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _marker_row(m: dict[str, Any]) -> str:
    end = "" if m.get("end_s") is None else f"{m['end_s']:.1f}"
    cells = [f"{m['start_s']:.1f}", end, m.get("exercise"), m.get("side") or "", m.get("text")]
    return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"


@router.get("/sessions/{name}/report", response_class=HTMLResponse, tags=["sessions"])
async def session_report(name: Name, service: ServiceDep) -> HTMLResponse:
    """A printable HTML summary of a session (ranges per angle, markers, calibration)."""
    meta = service.store.load(name)
    folder = service.store.folder(name)
    markers = "".join(_marker_row(m) for m in meta.get("markers", []))
    table = await asyncio.to_thread(_angle_table, folder / "angles.csv")
    cal = meta.get("calibration") or {}
    quality = cal.get("quality_score")
    files = "".join(
        f'<li><a href="/api/sessions/{html.escape(name)}/files/{html.escape(f)}">{html.escape(f)}'
        "</a></li>"
        for f in meta.get("files", [])
    )
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hipsense report: {html.escape(name)}</title><link rel="stylesheet" href="/static/style.css">
</head><body class="report"><main>
<h1>Session {html.escape(name)}</h1>
<p>Started {html.escape(str(meta.get("started_at", "")))}, {meta.get("duration_s", 0):.1f} s,
{meta.get("frames", 0)} frames, source {html.escape(str(meta.get("source", "")))}.
Calibration quality: {"none" if quality is None else f"{quality:.0f}/100"}.</p>
<p>{html.escape(str(meta.get("note", "")))}</p>
<h2>Angles</h2>{table}
<h2>Markers</h2><table><tr><th>start (s)</th><th>end (s)</th><th>exercise</th><th>side</th>
<th>note</th></tr>{markers}</table>
<h2>Files</h2><ul>{files}</ul>
<p><a href="/">Back to the dashboard</a></p></main></body></html>"""
    return HTMLResponse(page)


# --- recordings (the recording module's files) -----------------------------------------------


def _recordings_dir(service: ServiceDep) -> FsPath:
    path = (service.settings.data_dir / "recordings").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@router.get("/recordings", response_model=list[RecordingInfo], tags=["recordings"])
async def list_recordings(service: ServiceDep) -> list[dict[str, Any]]:
    """Recording files in ``<data-dir>/recordings``."""
    root = _recordings_dir(service)
    out = []
    for p in sorted(root.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            st = p.stat()
            out.append(
                {
                    "name": p.name,
                    "size_bytes": st.st_size,
                    "modified": datetime.fromtimestamp(st.st_mtime).isoformat(timespec="seconds"),
                    "download_url": f"/api/recordings/{p.name}",
                }
            )
    return out


@router.get("/recordings/{name}", tags=["recordings"])
async def download_recording(name: Name, service: ServiceDep) -> FileResponse:
    """Download a recording file."""
    path = safe_child(_recordings_dir(service), name, "recording")
    if not path.is_file():
        raise ApiError(404, f"no recording named {name!r}; GET /api/recordings lists them")
    return FileResponse(path, filename=name)


@router.post("/recordings/{name}/export", tags=["recordings"])
async def export_recording(
    name: Name,
    service: ServiceDep,
    format: Annotated[str, Query(pattern=r"^(csv|opensim)$")] = "csv",
) -> Ack:
    """Export a recording to CSV or OpenSim (needs the recording module's exporters)."""
    path = safe_child(_recordings_dir(service), name, "recording")
    if not path.is_file():
        raise ApiError(404, f"no recording named {name!r}; GET /api/recordings lists them")
    try:
        from hipsense.recording import export as exporters  # type: ignore[attr-defined]
    except ImportError:
        raise ApiError(
            501,
            f"exporting to {format} is not available in this build yet (hipsense.recording."
            "export is missing); download the recording instead",
        ) from None
    fn = getattr(exporters, f"export_{format}", None)
    if fn is None:
        raise ApiError(501, f"the recording module has no {format} export yet")
    out = fn(path)
    return Ack(message=f"exported to {out}")


__all__ = ["NAME_PATTERN", "router"]
