"""What a data directory does for its clients: progress, deletion, archives.

Built on :class:`~hipsense.recording.sessions.SessionStore` (its files and index) and
:class:`~hipsense.recording.clients.ClientBook` (the client rows and the results cache).

- :func:`refresh_results` analyses the sessions whose cached figures are missing or stale
  (another file size or analysis version); :func:`client_progress` reads the history from the
  cache, so a client with thousands of sessions answers from the index alone.
- :func:`delete_client` removes the client, their recordings, exports, index rows and cached
  results: nothing of theirs stays in the data directory.
- :func:`export_archive` / :func:`import_archive`: one client's recordings, cached results
  and client record as a zip (``hipsense-client.json`` manifest with a SHA-256 per file), for
  another machine. Import checks every name and checksum before writing anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

from hipsense import __version__
from hipsense.errors import (
    ClientConflictError,
    ClientNotFoundError,
    ConfigurationError,
    HipsenseError,
    InputFormatError,
    RecordingConflictError,
    StorageError,
)
from hipsense.exercises.progress import (
    ANALYSIS_VERSION,
    METRIC,
    analyze_recording,
    progress,
    session_figures,
)
from hipsense.recording.clients import CachedResult, Client, ClientBook, check_client_id
from hipsense.recording.format import SUFFIX
from hipsense.recording.index import check_name
from hipsense.recording.sessions import SessionStore

log = logging.getLogger(__name__)

ARCHIVE_FORMAT = "hipsense client archive"
ARCHIVE_VERSION = 1
MANIFEST = "hipsense-client.json"
MAX_MANIFEST_BYTES = 20_000_000


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def analyze_into_cache(store: SessionStore, name: str) -> CachedResult:
    """Analyse one finished recording and cache its figures (errors are cached too)."""
    path = store.existing(name)
    size = path.stat().st_size
    analysis: dict[str, Any] | None = None
    try:
        status, message, analysis = analyze_recording(path)
        figures = session_figures(analysis)
    except HipsenseError as exc:
        status, message, figures = "error", str(exc), {}
    except Exception as exc:  # one bad file must not break a client's history
        log.exception("analysing a recording failed")
        status, message, figures = "error", f"analysis failed ({type(exc).__name__})", {}
    result = CachedResult(name, size, ANALYSIS_VERSION, _now(), status, message, figures, analysis)
    store.clients.store(result)
    return result


MEMO_CLIENTS = 4
"""Progress documents kept in memory (the clients looked at last)."""

T = TypeVar("T")


def _file_sizes(store: SessionStore, names: list[str]) -> dict[str, int | None]:
    """Size of each session's file now (None: gone). Names come from the index (checked)."""
    root = str(store.root)
    out: dict[str, int | None] = {}
    for name in names:
        try:
            out[name] = os.stat(f"{root}/{name}{SUFFIX}").st_size
        except OSError:
            out[name] = None
    return out


def _sync_files(
    store: SessionStore, heads: list[dict[str, Any]], sizes: dict[str, int | None]
) -> bool:
    """Bring the client's index rows in line with their files (a file gone: flagged missing;
    back or of another size: indexed again); True if a row was written."""
    active = None if store.active is None else store.active.name
    wrote = False
    for h in heads:
        name, size = h["name"], sizes.get(h["name"])
        if name == active:
            continue
        if size is None:
            if not h["missing"]:
                store.index.mark_missing(name)
                wrote = True
        elif h["missing"] or size != h["file_bytes"]:
            with contextlib.suppress(StorageError):  # unreadable now: its analysis says why
                store.get(name)
                wrote = True
    return wrote


def stale(
    store: SessionStore,
    client_id: str,
    heads: list[dict[str, Any]] | None = None,
    sizes: dict[str, int | None] | None = None,
) -> list[str]:
    """Sessions of the client whose cached figures are missing or out of date (made from
    a file of another size, or by another analysis version); sessions whose file is gone are
    not."""
    heads = store.clients.session_heads(client_id) if heads is None else heads
    names = [h["name"] for h in heads]
    sizes = _file_sizes(store, names) if sizes is None else sizes
    keys = store.clients.client_result_keys(client_id)
    return [
        n for n in names if sizes.get(n) is not None and keys.get(n) != (sizes[n], ANALYSIS_VERSION)
    ]


def refresh_results(
    store: SessionStore,
    client_id: str,
    heads: list[dict[str, Any]] | None = None,
    sizes: dict[str, int | None] | None = None,
) -> int:
    """Analyse the client's sessions without up-to-date cached figures; how many were."""
    names = stale(store, client_id, heads, sizes)
    for name in names:
        if store.active is not None and store.active.name == name:
            continue
        try:
            analyze_into_cache(store, name)
        except StorageError:
            continue  # deleted meanwhile: the history shows it missing
    return len(names)


def _progress_entry(
    store: SessionStore, client_id: str, analyze: bool, last: int | None = None
) -> dict[str, Any]:
    """The memo entry of the client's progress document, made again unless the index
    (:meth:`ClientBook.state`) and the sizes of the client's files are as they were."""
    book = store.clients
    check_client_id(client_id)
    key = (client_id, last)
    entry = book.progress_memo.get(key)
    if (
        entry is not None
        and entry["state"] == book.state()
        and (entry["complete"] or not analyze)
        and _file_sizes(store, entry["names"]) == entry["sizes"]
    ):
        return entry
    # Dropped first: building the new document does not have the garbage collector walk
    # the old one (tens of thousands of dicts for a long history).
    with book.lock:
        book.progress_memo.pop(key, None)
    entry = None
    book.get(client_id)  # unknown: ClientNotFoundError before any work
    state = book.state()
    heads = book.session_heads(client_id)
    sizes = _file_sizes(store, [h["name"] for h in heads])
    wrote = _sync_files(store, heads, sizes)
    if analyze:
        wrote = refresh_results(store, client_id, heads, sizes) > 0 or wrote
    if wrote or book.state() != state:
        # Read what the document shows after the state it is kept under: a later write
        # changes the state, so the entry is never used for newer data.
        state = book.state()
        heads = book.session_heads(client_id)
        sizes = _file_sizes(store, [h["name"] for h in heads])
    client = book.get(client_id)
    names = [h["name"] for h in heads]
    shown_from = 0 if last is None else max(0, len(heads) - last)

    def session_of(h: dict[str, Any], c: CachedResult | None) -> dict[str, Any]:
        name, size = h["name"], sizes.get(h["name"])
        session: dict[str, Any] = {
            "name": name,
            "created_utc": h["created_utc"],
            "duration_s": round(h["duration_s"], 1),
            "figures": {},
        }
        if size is None:
            session.update(status="missing", message="the recording file is gone")
        elif c is None or c.file_bytes != size or c.analysis_version != ANALYSIS_VERSION:
            session.update(status="pending", message="not analysed yet")
        else:
            session.update(status=c.status, message=c.message, figures=c.figures)
        return session

    shown_heads = heads[shown_from:]
    cached = book.cached([h["name"] for h in shown_heads])
    sessions = [session_of(h, cached.get(h["name"])) for h in shown_heads]
    # Changes count from the first session: of the ones not shown, only those giving a
    # figure's first and previous value are read (usually the oldest and the newest few).
    sessions = _baseline(book, heads[:shown_from], sessions, session_of) + sessions
    entry = {
        "state": state,
        "names": names,
        "sizes": sizes,
        "complete": all(s["status"] != "pending" for s in sessions),
        "doc": {
            **progress(client.to_dict(), sessions, last=None if last is None else len(shown_heads)),
            "sessions_total": len(heads),
        },
        "rendered": {},
    }
    with book.lock:
        book.progress_memo[key] = entry
        while len(book.progress_memo) > MEMO_CLIENTS:
            book.progress_memo.pop(next(iter(book.progress_memo)))
    return entry


BASELINE_CHUNK = 32


def _baseline(
    book: ClientBook,
    earlier: list[dict[str, Any]],
    shown: list[dict[str, Any]],
    session_of: Callable[[dict[str, Any], CachedResult | None], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Of the sessions before the shown ones (oldest first), those that hold the first and the
    last value of each figure the shown sessions have, in order."""
    wanted = _keys(shown)
    picked: dict[int, dict[str, Any]] = {}
    for order in (range(len(earlier)), range(len(earlier) - 1, -1, -1)):
        found: set[tuple[str, str]] = set()
        todo = list(order)
        while todo and not wanted <= found:
            chunk, todo = todo[:BASELINE_CHUNK], todo[BASELINE_CHUNK:]
            fresh = [i for i in chunk if i not in picked]
            cached = book.cached([earlier[i]["name"] for i in fresh])
            for i in fresh:
                picked[i] = session_of(earlier[i], cached.get(earlier[i]["name"]))
            for i in chunk:
                found |= _keys([picked[i]])
    return [picked[i] for i in sorted(picked)]


def _keys(sessions: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (side, key)
        for s in sessions
        for side, values in ((s.get("figures") or {}).get("sides") or {}).items()
        for key, value in values.items()
        if key in METRIC and isinstance(value, float | int) and not isinstance(value, bool)
    } | {
        ("session", key)
        for s in sessions
        for key, value in ((s.get("figures") or {}).get("session") or {}).items()
        if key in METRIC and isinstance(value, float | int) and not isinstance(value, bool)
    }


def client_progress(
    store: SessionStore, client_id: str, analyze: bool = True, last: int | None = None
) -> dict[str, Any]:
    """The progress document of a client (:func:`hipsense.exercises.progress.progress`).

    ``analyze``: first analyse sessions whose figures are not cached yet (slow for new
    recordings); otherwise they are listed with status ``pending``. Sessions whose file is
    gone are ``missing``; a file that changed is indexed and analysed again. The document is
    kept in memory while nothing changes (a new dict on top; do not change what it holds).
    """
    return dict(_progress_entry(store, client_id, analyze, last)["doc"])


def rendered(
    store: SessionStore,
    client_id: str,
    render: Callable[[dict[str, Any]], T],
    analyze: bool = True,
    last: int | None = None,
) -> T:
    """``render(progress document)`` (e.g. its JSON, CSV or chart), kept with the document
    while it is valid: ``render`` must depend on the document only."""
    entry = _progress_entry(store, client_id, analyze, last)
    done: dict[Callable[[dict[str, Any]], Any], Any] = entry["rendered"]
    if render not in done:
        done[render] = render(entry["doc"])
    result: T = done[render]
    return result


def merge_clients(store: SessionStore, source_id: str, into_id: str) -> Client:
    """Move every session of ``source_id`` to ``into_id`` and remove ``source_id``; refused
    while a session of ``source_id`` is recording (it would end up nobody's)."""
    active = store.active
    if active is not None and active.client_id == source_id:
        raise RecordingConflictError(
            "a session of this client is recording; stop it before merging the client"
        )
    return store.clients.merge(source_id, into_id)


def delete_client(store: SessionStore, client_id: str, confirm: str) -> list[str]:
    """Delete a client with every session of theirs (files, exports, rows, cached results).

    ``confirm`` must be the client's name (any case) or id: a slip of the finger cannot delete
    a history. Returns the deleted session names.
    """
    client = store.clients.get(client_id)
    if confirm.strip().casefold() not in (client.name.casefold(), client.id):
        raise ConfigurationError(
            "deleting a client deletes all their sessions: confirm with the client's name"
        )
    sessions = store.clients.sessions(client_id)
    active = store.active
    if active is not None and any(s.name == active.name for s in sessions):
        raise RecordingConflictError("one of this client's sessions is recording; stop it first")
    for s in sessions:
        if not s.missing:
            with contextlib.suppress(StorageError):  # gone already
                store.delete(s.name)
        _remove_exports(store, s.name)
    store.clients.remove(client_id)
    return [s.name for s in sessions]


def _remove_exports(store: SessionStore, name: str) -> None:
    export_dir = store.exports / check_name(name)
    if export_dir.is_dir():
        shutil.rmtree(export_dir, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_archive(store: SessionStore, client_id: str, out: Path | IO[bytes]) -> dict[str, Any]:
    """Write the client's archive (zip) to ``out``; the manifest written.

    The zip holds ``hipsense-client.json`` (client record, sessions with sizes and SHA-256),
    ``recordings/<name>.hsr`` and ``results/<name>.json`` (the cached analysis and figures
    of each session). Sessions whose file is missing are listed without a file.
    """
    client = store.clients.get(client_id)
    refresh_results(store, client_id)
    sessions = store.clients.sessions(client_id)
    manifest: dict[str, Any] = {
        "format": ARCHIVE_FORMAT,
        "format_version": ARCHIVE_VERSION,
        "exported_utc": _now(),
        "software_version": __version__,
        "analysis_version": ANALYSIS_VERSION,
        "client": {k: v for k, v in client.to_dict().items() if k not in ("sessions",)},
        "sessions": [],
    }
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for s in sessions:
            entry: dict[str, Any] = {"name": s.name, "created_utc": s.created_utc}
            if not s.missing and store.path(s.name).is_file():
                path = store.path(s.name)
                arc = f"recordings/{s.name}{SUFFIX}"
                zf.write(path, arc)
                entry.update(file=arc, bytes=path.stat().st_size, sha256=_sha256(path))
                cached = store.clients.cached([s.name]).get(s.name)
                if cached is not None:
                    analysis = store.clients.analysis(s.name)
                    body = {
                        "analysis_version": cached.analysis_version,
                        "computed_utc": cached.computed_utc,
                        "file_bytes": cached.file_bytes,
                        "status": cached.status,
                        "message": cached.message,
                        "figures": cached.figures,
                        "analysis": analysis,
                    }
                    zf.writestr(f"results/{s.name}.json", json.dumps(body))
                    entry["results"] = f"results/{s.name}.json"
            else:
                entry["missing"] = True
            manifest["sessions"].append(entry)
        zf.writestr(MANIFEST, json.dumps(manifest, indent=1))
    return manifest


def _manifest(zf: zipfile.ZipFile, where: str) -> dict[str, Any]:
    try:
        info = zf.getinfo(MANIFEST)
    except KeyError:
        raise InputFormatError(f"{where}: not a hipsense client archive (no {MANIFEST})") from None
    if info.file_size > MAX_MANIFEST_BYTES:
        raise InputFormatError(f"{where}: {MANIFEST} is implausibly large")
    try:
        manifest = json.loads(zf.read(info))
    except (ValueError, zipfile.BadZipFile) as exc:
        raise InputFormatError(f"{where}: {MANIFEST} is not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise InputFormatError(f"{where}: not a hipsense client archive")
    if manifest.get("format_version") != ARCHIVE_VERSION:
        raise InputFormatError(
            f"{where}: archive format {manifest.get('format_version')!r}; this hipsense reads "
            f"version {ARCHIVE_VERSION}"
        )
    if not isinstance(manifest.get("client"), dict) or not isinstance(
        manifest.get("sessions"), list
    ):
        raise InputFormatError(f"{where}: the manifest lacks its client or sessions")
    return manifest


def _check_members(zf: zipfile.ZipFile, where: str) -> None:
    """Refuse an archive with a member that :func:`export_archive` does not write (a path
    outside ``recordings/`` and ``results/``, ``..``, an absolute path, ...)."""
    for member in zf.namelist():
        folder, _, file = member.partition("/")
        ok = member == MANIFEST or (folder, file) in (("recordings", ""), ("results", ""))
        if not ok and folder in ("recordings", "results"):
            suffix = SUFFIX if folder == "recordings" else ".json"
            stem = file[: -len(suffix)] if file.endswith(suffix) else ""
            try:
                ok = bool(stem) and check_name(stem) == stem
            except ConfigurationError:
                ok = False
        if not ok:
            raise InputFormatError(
                f"{where}: unexpected member {member[:80]!r} (not one of a hipsense client "
                "archive); nothing was imported"
            )


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, folder: Path, sha256: str) -> Path:
    """Copy one member to a temporary file in ``folder``; its path if its SHA-256 matches."""
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=".import-", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            left = info.file_size
            while True:
                chunk = src.read(min(1 << 20, left + 1))
                if not chunk:
                    break
                left -= len(chunk)
                if left < 0:
                    raise InputFormatError(f"{info.filename}: longer than the archive says")
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise InputFormatError(
                f"{info.filename}: damaged in the archive (checksum differs); nothing was imported"
            )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def import_archive(
    store: SessionStore, archive: Path | IO[bytes], name: str | None = None, where: str = "archive"
) -> tuple[Client, list[str]]:
    """Import a client archive made by :func:`export_archive`; ``(client, imported names)``.

    The client keeps their id: importing into a data directory that knows the id adds the
    sessions to that client (sessions already there, byte for byte, are skipped). A new client
    whose name is taken by somebody else needs ``name``. Nothing is written (no file, no
    client) unless every member's name is one an archive holds, every session's name is valid
    and free (or identical), every checksum matches and the disk has room.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputFormatError(f"{where}: not a zip archive ({exc})") from None
    with zf:
        manifest = _manifest(zf, where)
        _check_members(zf, where)
        record = manifest["client"]
        client_id = check_client_id(str(record.get("id", "")))
        plan: list[tuple[dict[str, Any], zipfile.ZipInfo, Path]] = []
        skipped: list[str] = []
        total = 0
        for entry in manifest["sessions"]:
            if not isinstance(entry, dict) or entry.get("missing"):
                continue
            stem = check_name(str(entry.get("name", "")))
            arc = f"recordings/{stem}{SUFFIX}"
            if entry.get("file") != arc or not isinstance(entry.get("sha256"), str):
                raise InputFormatError(f"{where}: session {stem!r} has no valid file entry")
            if any(t.stem == stem for _, _, t in plan) or stem in skipped:
                raise InputFormatError(f"{where}: session {stem!r} is listed twice")
            try:
                info = zf.getinfo(arc)
            except KeyError:
                raise InputFormatError(f"{where}: {arc} is listed but not in the archive") from None
            target = store.path(stem)
            if target.exists():
                row = store.index.get(stem)
                if _sha256(target) == entry["sha256"] and (
                    row is None or row.client_id in (None, client_id)
                ):
                    skipped.append(stem)
                    continue
                raise RecordingConflictError(
                    f"a different recording named {stem!r} is already in this data directory; "
                    "nothing was imported"
                )
            total += info.file_size
            plan.append((entry, info, target))
        free = shutil.disk_usage(store.root).free
        if total > free:
            raise StorageError(
                f"the archive needs {total / 1e6:.0f} MB, the data directory has "
                f"{free / 1e6:.0f} MB free; nothing was imported"
            )
        # Every file is checked (into temporary files) before the client or a file is written.
        extracted: list[Path] = []
        written: list[Path] = []
        created: Client | None = None
        try:
            for entry, info, target in plan:
                extracted.append(_extract_member(zf, info, target.parent, entry["sha256"]))
            try:
                client = store.clients.get(client_id)
            except ClientNotFoundError:
                try:
                    client = created = store.clients.create(
                        name or str(record.get("name", "")),
                        str(record.get("notes", "")),
                        [s for s in record.get("sides", []) if isinstance(s, str)],
                        client_id=client_id,
                    )
                except ClientConflictError as exc:
                    raise ClientConflictError(
                        f"{exc}; import the archive under another name (--name / ?name=)"
                    ) from None
            for tmp, (_, _, target) in zip(extracted, plan, strict=True):
                os.replace(tmp, target)
                written.append(target)
            for target in written:
                store.get(target.stem)  # RecordingConflictError if it is no recording
        except BaseException:
            for tmp in extracted:
                tmp.unlink(missing_ok=True)
            for target in written:
                with contextlib.suppress(HipsenseError, OSError):
                    store.index.delete(target.stem)
                target.unlink(missing_ok=True)
            if created is not None:
                store.clients.remove(created.id)
            raise
        imported = [t.stem for _, _, t in plan]
        for stem in imported + skipped:
            store.get(stem)
            store.clients.assign(stem, client.id)
        for entry, _, target in plan:
            _import_results(store, zf, entry, target)
    return store.clients.get(client.id), imported


def _import_results(
    store: SessionStore, zf: zipfile.ZipFile, entry: dict[str, Any], target: Path
) -> None:
    """Cache the archive's results of a session if they were made by this analysis version."""
    arc = entry.get("results")
    if not isinstance(arc, str) or arc != f"results/{target.stem}.json":
        return
    try:
        body = json.loads(zf.read(arc))
    except (KeyError, ValueError, zipfile.BadZipFile):
        return  # recomputed when needed
    if not isinstance(body, dict) or body.get("analysis_version") != ANALYSIS_VERSION:
        return
    figures = body.get("figures")
    analysis = body.get("analysis")
    if not isinstance(figures, dict):
        return
    store.clients.store(
        CachedResult(
            target.stem,
            target.stat().st_size,
            ANALYSIS_VERSION,
            str(body.get("computed_utc", _now())),
            str(body.get("status", "ok")),
            str(body.get("message", "")),
            figures,
            analysis if isinstance(analysis, dict) else None,
        )
    )
