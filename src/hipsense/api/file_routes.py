"""Routes about files: recorded sessions (start/stop/list/get/delete, report), recordings
(list, download, export) and replaying a recording in place of the live source."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, HTMLResponse

from hipsense.api.errors import ApiError
from hipsense.api.live_routes import ERRORS, ServiceDep, replay_status
from hipsense.api.schemas import (
    NAME_PATTERN,
    Ack,
    RecordingInfo,
    ReplayStart,
    ReplayStatus,
    SessionDetail,
    SessionStart,
    SessionSummary,
)
from hipsense.api.service import Service
from hipsense.clients import analyze_into_cache
from hipsense.errors import HipsenseError
from hipsense.live import LiveSession
from hipsense.recording.convert import export_angles_csv, export_opensim, export_samples_csv
from hipsense.recording.index import SessionSummary as IndexRow
from hipsense.recording.sessions import (
    SessionRecorder,
    SessionStore,
    read_details,
    recording_metadata,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", responses=ERRORS)
# Loose on purpose: the store gives the actionable message for bad names.
Name = Annotated[str, Path(min_length=1, max_length=200)]
ExportFormat = Literal["csv-samples", "csv-angles", "opensim"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv-samples", "csv-angles", "opensim")


def _urls(name: str) -> dict[str, Any]:
    return {
        "report_url": f"/api/sessions/{name}/report",
        "download_url": f"/api/recordings/{name}",
    }


def _export_urls(name: str) -> dict[str, str]:
    return {f: f"/api/recordings/{name}/export?format={f}" for f in EXPORT_FORMATS}


def _row_summary(row: IndexRow) -> dict[str, Any]:
    s = row.summary
    return {
        "name": row.name,
        "started_at": row.created_utc,
        "subject": row.subject,
        "note": str(s.get("note", "")),
        "recording": False,
        "duration_s": round(row.duration_s, 3),
        "frames": int(s.get("frames", 0)),
        "markers": int(s.get("markers", 0)),
        "exercises": row.exercises,
        "source": str(s.get("source", "")),
        "sensors": row.sensors,
        "file_bytes": row.file_bytes,
        "damaged": row.damaged,
        "client_id": row.client_id,
        **_urls(row.name),
    }


def record_live(
    store: SessionStore,
    live: LiveSession,
    name: str | None,
    note: str,
    subject: str,
    client_id: str | None = None,
) -> SessionRecorder:
    """A new recording of ``live`` from now on: its sensors, its source's host clock and the
    calibration in use (add it to ``live`` with :meth:`LiveSession.add_recorder`); for the
    client ``client_id`` when given (unknown ids are refused)."""
    client = None
    if client_id is not None:
        found = store.clients.get(client_id)
        client = {"id": found.id, "name": found.name}
    metadata = recording_metadata(
        live.device_status(),
        live.source_name,
        subject,
        note,
        live.time_s,
        live.session_start_ns(),
        "hipsense serve",
        client,
    )
    return store.create(name, note, metadata, live.time_s, live.pipeline.calibration_)


def _active_summary(rec: SessionRecorder) -> dict[str, Any]:
    meta = rec.writer.metadata
    exercises = list(dict.fromkeys(m["exercise"] for m in rec.markers if m["exercise"] != "note"))
    return {
        "name": rec.name,
        "started_at": meta.created_utc,
        "subject": meta.subject,
        "note": rec.note,
        "recording": True,
        "duration_s": round(rec.last_time_s, 3),
        "frames": rec.frames,
        "markers": len(rec.markers),
        "exercises": exercises,
        "source": rec.source,
        "sensors": [asdict(s) for s in meta.sensors],
        "file_bytes": rec.writer.bytes_written,
        "damaged": False,
        "client_id": rec.client_id,
        **_urls(rec.name),
    }


# --- sessions --------------------------------------------------------------------------------


@router.post("/sessions", response_model=SessionSummary, status_code=201, tags=["sessions"])
async def start_session(body: SessionStart, service: ServiceDep) -> dict[str, Any]:
    """Start recording the live stream (raw data or samples, markers, calibration, events)."""
    # On the loop, with no await before add_recorder: nothing arrives between the start time
    # the recording takes and its first item.
    recorder = record_live(
        service.store, service.live, body.name, body.note, body.subject, body.client_id
    )
    service.recording_feed = service.live.add_recorder(recorder)
    return _active_summary(recorder)


@router.post("/sessions/stop", response_model=SessionSummary, tags=["sessions"])
async def stop_session(service: ServiceDep) -> dict[str, Any]:
    """Stop the running recording, write everything it has queued and index it."""
    recorder = service.store.active
    if recorder is None or service.recording_feed is None:
        raise ApiError(409, "nothing is recording; start a session with POST /api/sessions")
    feed, service.recording_feed = service.recording_feed, None
    await service.live.remove_recorder(feed)
    row = await asyncio.to_thread(service.store.finish, recorder)
    if row.client_id is not None:
        # The client's progress is ready when they look: analyse it now, off the loop.
        task = asyncio.ensure_future(asyncio.to_thread(_analyse_quietly, service.store, row.name))
        service.analysis_tasks.add(task)
        task.add_done_callback(service.analysis_tasks.discard)
    if feed.error:
        raise ApiError(507, f"session {recorder.name!r} is incomplete: {feed.error}")
    return _row_summary(row)


def _analyse_quietly(store: SessionStore, name: str) -> None:
    with contextlib.suppress(HipsenseError):  # deleted meanwhile: nothing to analyse
        analyze_into_cache(store, name)


@router.get("/sessions", response_model=list[SessionSummary], tags=["sessions"])
async def list_sessions(service: ServiceDep) -> list[dict[str, Any]]:
    """Recorded sessions from the session index, the one recording now first."""
    rows = await asyncio.to_thread(service.store.list)
    active = service.store.active
    out = [] if active is None else [_active_summary(active)]
    return out + [_row_summary(r) for r in rows if active is None or r.name != active.name]


@router.get("/sessions/{name}", response_model=SessionDetail, tags=["sessions"])
async def get_session(name: Name, service: ServiceDep) -> dict[str, Any]:
    """One session with its markers, calibration, protocols and summary."""
    active = service.store.active
    if active is not None and service.store.path(name).stem == active.name:
        return {
            **_active_summary(active),
            "marker_list": list(active.markers),
            "calibration": active.calibration,
            "protocols": list(active.protocols),
            "summary": {},
            "software_version": active.writer.metadata.software_version,
            "damage": "recording",
            "export_urls": {},
        }
    row = await asyncio.to_thread(service.store.get, name)
    details = await asyncio.to_thread(read_details, service.store.existing(name))
    meta = details["metadata"] or {}
    summary = row.summary
    return {
        **_row_summary(row),
        "note": str(summary.get("note", meta.get("extra", {}).get("note", ""))),
        "source": str(meta.get("source", "")),
        "markers": len(details["markers"]),
        "marker_list": details["markers"],
        "calibration": details["calibration"],
        "protocols": list(summary.get("protocols", [])),
        "summary": summary,
        "software_version": str(meta.get("software_version", "")),
        "damage": details["damage"],
        "export_urls": _export_urls(row.name),
    }


@router.delete("/sessions/{name}", response_model=Ack, tags=["sessions"])
async def delete_session(name: Name, service: ServiceDep) -> Ack:
    """Delete a finished session: its recording, index row and exports."""
    await asyncio.to_thread(service.store.delete, name)
    return Ack(message=f"session {name!r} deleted")


def _fresh(target: FsPath, source: FsPath) -> bool:
    return target.is_file() and target.stat().st_mtime_ns >= source.stat().st_mtime_ns


def _build(
    store: SessionStore, path: FsPath, filename: str, make: Callable[[FsPath], object]
) -> FsPath:
    """``exports/<stem>/<filename>``, made by ``make(tmp_path)`` unless newer than ``path``."""
    out_dir = store.exports / path.stem
    target = out_dir / filename
    if _fresh(target, path):
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = FsPath(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        made = tmp / filename
        make(made)
        os.replace(made, target)  # readers never see a half-written export
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _simple_report(name: str, row: IndexRow, details: dict[str, Any], note: str = "") -> str:
    summary = row.summary
    ranges = summary.get("angle_ranges_deg", {})
    rows = "".join(
        f"<tr><td>{html.escape(str(col))}</td><td>{lo:.1f}</td><td>{hi:.1f}</td>"
        f"<td>{hi - lo:.1f}</td></tr>"
        for col, (lo, hi) in ranges.items()
    )
    table = (
        "<table><tr><th>angle</th><th>min (deg)</th><th>max (deg)</th><th>range</th></tr>"
        f"{rows}</table>"
        if rows
        else "<p>No angle ranges in this recording's summary (was it calibrated?); "
        "export the angles CSV to compute them.</p>"
    )
    markers = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(c))}</td>"
            for c in (
                f"{m['start_s']:.1f}",
                "" if m["end_s"] is None else f"{m['end_s']:.1f}",
                m["exercise"],
                m["side"] or "",
                m["text"],
            )
        )
        + "</tr>"
        for m in details["markers"]
    )
    cal = details["calibration"] or {}
    quality = cal.get("quality_score")
    safe = html.escape(name)
    links = "".join(
        f'<li><a href="{html.escape(url)}">{html.escape(label)}</a></li>'
        for label, url in [("recording (.hsr)", f"/api/recordings/{name}")]
        + [(f, u) for f, u in _export_urls(name).items()]
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hipsense report: {safe}</title><link rel="stylesheet" href="/static/style.css">
</head><body class="report"><main>
<h1>Session {safe}</h1>
<p>Started {html.escape(row.created_utc)}, {row.duration_s:.1f} s,
{int(summary.get("frames", 0))} frames. Subject {html.escape(row.subject or "-")}.
Calibration quality: {"none" if quality is None else f"{quality:.0f}/100"}.
Recording: {html.escape(details["damage"])}.</p>
<p>{html.escape(str(summary.get("note", "")))}</p>{f"<p>{html.escape(note)}</p>" if note else ""}
<h2>Angles</h2>{table}
<h2>Markers</h2><table><tr><th>start (s)</th><th>end (s)</th><th>exercise</th><th>side</th>
<th>note</th></tr>{markers}</table>
<h2>Files</h2><ul>{links}</ul>
<p><a href="/">Back to the dashboard</a></p></main></body></html>"""


def _render_report(path: FsPath, title: str) -> str:
    """The full HTML report of a recording (whole-session smoothing, then the analyses)."""
    from hipsense.exercises.session import analyze_session
    from hipsense.recording.replay import smooth_recording
    from hipsense.report import render_report

    result = smooth_recording(path)
    analysis = analyze_session(result.angles, result.markers).to_dict()
    return str(render_report(result.angles, analysis, title=title))


def _report(store: SessionStore, name: str) -> str:
    path = store.existing(name)
    row = store.get(name)
    try:
        target = _build(
            store,
            path,
            f"{path.stem}-report.html",
            lambda out: out.write_text(_render_report(path, path.stem), encoding="utf-8"),
        )
        return target.read_text(encoding="utf-8")
    except HipsenseError as exc:
        note = f"The full report could not be made: {exc}"
    except Exception as exc:  # a report failure must not take the summary page down too
        log.exception("session report failed")
        note = f"The full report failed ({type(exc).__name__}); see the server log."
    return _simple_report(path.stem, row, read_details(path), note)


@router.get("/sessions/{name}/report", response_class=HTMLResponse, tags=["sessions"])
async def session_report(name: Name, service: ServiceDep) -> HTMLResponse:
    """The session's HTML report (the report module's when available, else a summary page)."""
    service.store.check_not_recording(name, "making its report")
    return HTMLResponse(await asyncio.to_thread(_report, service.store, name))


# --- recordings ------------------------------------------------------------------------------


@router.get("/recordings", response_model=list[RecordingInfo], tags=["recordings"])
async def list_recordings(service: ServiceDep) -> list[dict[str, Any]]:
    """Finished recordings in ``<data-dir>/recordings`` (from the index), newest first."""
    rows = await asyncio.to_thread(service.store.list)
    out = []
    for row in rows:
        path = service.store.path(row.name)
        if not path.is_file():
            continue
        modified = datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="seconds")
        out.append(
            {
                "name": row.name,
                "file": path.name,
                "size_bytes": row.file_bytes,
                "modified": modified,
                "created_utc": row.created_utc,
                "subject": row.subject,
                "duration_s": round(row.duration_s, 3),
                "exercises": row.exercises,
                "damaged": row.damaged,
                "download_url": f"/api/recordings/{row.name}",
                "export_urls": _export_urls(row.name),
            }
        )
    return out


@router.get("/recordings/{name}", tags=["recordings"])
async def download_recording(name: Name, service: ServiceDep) -> FileResponse:
    """Download a recording (``.hsr``; ``hipsense replay/export`` read it)."""
    service.store.check_not_recording(name, "downloading it")
    path = service.store.existing(name)
    return FileResponse(path, filename=path.name, media_type="application/octet-stream")


@router.delete("/recordings/{name}", response_model=Ack, tags=["recordings"])
async def delete_recording(name: Name, service: ServiceDep) -> Ack:
    """Delete a recording (same as deleting its session)."""
    await asyncio.to_thread(service.store.delete, name)
    return Ack(message=f"recording {name!r} deleted")


def _export(store: SessionStore, name: str, fmt: ExportFormat, frame: str) -> FsPath:
    path = store.existing(name)
    stem = path.stem
    if fmt == "csv-samples":
        return _build(store, path, f"{stem}-samples.csv", lambda out: export_samples_csv(path, out))
    if fmt == "csv-angles":
        return _build(store, path, f"{stem}-angles.csv", lambda out: export_angles_csv(path, out))

    def opensim_zip(out: FsPath) -> None:
        sto, mot = export_opensim(path, out.with_name(f"{stem}.sto"), frame=frame)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(sto, sto.name)
            zf.write(mot, mot.name)

    return _build(store, path, f"{stem}-opensim-{frame}.zip", opensim_zip)


@router.get("/recordings/{name}/export", tags=["recordings"])
async def export_recording(
    name: Name,
    service: ServiceDep,
    format: Annotated[ExportFormat, Query(description="what to export")] = "csv-samples",
    frame: Annotated[
        Literal["y-up", "z-up"], Query(description="OpenSim earth frame of the quaternions")
    ] = "y-up",
) -> FileResponse:
    """Export a recording and download the file.

    ``csv-samples``: the samples CSV (``hipsense process`` reads it); ``csv-angles``: hip and
    pelvis angles (degrees) from a replay; ``opensim``: a zip with the OpenSense quaternion
    ``.sto`` and the angles ``.mot`` (with ``frame=y-up`` set sensor_to_opensim_rotations to
    0 0 0). Exports are kept in ``<data-dir>/exports`` and remade when the recording changes.
    """
    service.store.check_not_recording(name, "exporting it")
    out = await asyncio.to_thread(_export, service.store, name, format, frame)
    media = "application/zip" if out.suffix == ".zip" else "text/csv"
    return FileResponse(out, filename=out.name, media_type=media)


# --- replaying a recording in place of the live source ---------------------------------------


@router.get("/replay", response_model=ReplayStatus, tags=["recordings"])
async def replay_state(service: ServiceDep) -> dict[str, Any]:
    """What is playing: the configured source or a replayed recording, and where it is."""
    return replay_status(service)


def _check_switch(service: Service) -> None:
    if service.store.active is not None:
        raise ApiError(
            409,
            f"session {service.store.active.name!r} is recording; stop it before changing "
            "the source",
        )
    if service.make_live is None or service.default_source is None:
        raise ApiError(409, "this service cannot change its source")


@router.post("/replay", response_model=ReplayStatus, tags=["recordings"])
async def replay_start(body: ReplayStart, service: ServiceDep) -> dict[str, Any]:
    """Replay a recording of the data directory instead of the live source.

    The dashboard then shows the recording as if it were live (it calibrates from the
    recorded calibration routine); pause, resume and seek with ``/api/replay/...``, and go
    back to the configured source with ``POST /api/replay/stop``.
    """
    _check_switch(service)
    from hipsense.sources.replay import ReplaySource

    path = service.store.existing(body.name)
    replay = await asyncio.to_thread(ReplaySource, path, body.speed)
    await service.switch_source(replay, True, path.stem)
    return replay_status(service)


@router.post("/replay/stop", response_model=ReplayStatus, tags=["recordings"])
async def replay_stop(service: ServiceDep) -> dict[str, Any]:
    """Stop replaying a data-directory recording and go back to the configured source."""
    if service.replaying is None:
        raise ApiError(409, "no recording of the data directory is replaying (POST /api/replay)")
    _check_switch(service)
    assert service.default_source is not None
    factory, auto_calibrate = service.default_source
    await service.switch_source(factory(), auto_calibrate, None)
    return replay_status(service)


__all__ = ["NAME_PATTERN", "router"]
