"""``hipsense clients ...``: the people measured, their sessions, progress and archives.

Clients live in the data directory's index (``--data-dir``, else ``$HIPSENSE_DATA_DIR``, else
``~/.local/share/hipsense``), the same one ``hipsense serve`` uses. A client is named by id or
by their exact name.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hipsense.errors import ConfigurationError

if TYPE_CHECKING:
    from hipsense.recording.clients import Client
    from hipsense.recording.sessions import SessionStore

SIDE_CHOICES = ("left", "right")


def open_store(data_dir: str | None) -> SessionStore:
    """The data directory's session store."""
    from hipsense.recording.index import data_dir as resolve
    from hipsense.recording.sessions import SessionStore

    return SessionStore(resolve(data_dir))


def recording_target(store: SessionStore, out: str) -> Path:
    """Where a recording for a client goes: ``out`` as a name (or a path) in the data
    directory's recordings, which the index lists."""
    path = Path(out)
    if len(path.parts) > 1 and path.resolve().parent != store.root:
        raise ConfigurationError(
            f"a client's recording goes into the data directory ({store.root}); give a name "
            f"instead of {out!r}"
        )
    return store.path(path.stem if path.suffix == ".hsr" else path.name)


def client_of(store: SessionStore, key: str) -> Client:
    """A client by id or exact name."""
    return store.clients.find(key)


def _print_client(c: Client) -> None:
    sides = ",".join(c.sides) or "-"
    last = (c.last_session_utc or "-")[:10]
    print(f"{c.id}  {c.name}  sides {sides}  {c.sessions} sessions, last {last}")


def _cmd(args: argparse.Namespace) -> int:
    store = open_store(args.data_dir)
    try:
        handler = HANDLERS[args.action]
        return handler(store, args)
    finally:
        store.close()


def _list(store: SessionStore, args: argparse.Namespace) -> int:
    clients = store.clients.all()
    if args.json:
        print(json.dumps([c.to_dict() for c in clients], indent=1))
    for c in [] if args.json else clients:
        _print_client(c)
    if not clients and not args.json:
        print("no clients yet; `hipsense clients add NAME` creates one", file=sys.stderr)
    return 0


def _add(store: SessionStore, args: argparse.Namespace) -> int:
    client = store.clients.create(args.name, args.notes or "", args.side or [])
    _print_client(client)
    return 0


def _show(store: SessionStore, args: argparse.Namespace) -> int:
    client = client_of(store, args.client)
    _print_client(client)
    if client.notes:
        print(f"notes: {client.notes}")
    for s in store.clients.sessions(client.id):
        flag = " (missing)" if s.missing else " (damaged)" if s.damaged else ""
        print(f"  {s.created_utc[:16]}  {s.name}  {s.duration_s:.0f} s{flag}")
    return 0


def _edit(store: SessionStore, args: argparse.Namespace) -> int:
    client = client_of(store, args.client)
    changed = store.clients.update(
        client.id, client.version, args.name, args.notes, args.side if args.side else None
    )
    _print_client(changed)
    return 0


def _merge(store: SessionStore, args: argparse.Namespace) -> int:
    source, into = client_of(store, args.client), client_of(store, args.into)
    from hipsense.clients import merge_clients

    merged = merge_clients(store, source.id, into.id)
    print(f"merged {source.sessions} sessions into:", file=sys.stderr)
    _print_client(merged)
    return 0


def _delete(store: SessionStore, args: argparse.Namespace) -> int:
    from hipsense.clients import delete_client

    client = client_of(store, args.client)
    confirm = args.confirm
    if confirm is None:
        if not sys.stdin.isatty():
            raise ConfigurationError(
                "deleting a client deletes all their recordings: confirm with --confirm NAME"
            )
        try:
            confirm = input(
                f"Delete {client.name} and their {client.sessions} sessions for good? "
                "Type the name to confirm: "
            )
        except EOFError:  # Ctrl+D at the prompt
            raise ConfigurationError("no confirmation given; nothing was deleted") from None
    names = delete_client(store, client.id, confirm)
    print(f"deleted the client and {len(names)} sessions", file=sys.stderr)
    return 0


def _assign(store: SessionStore, args: argparse.Namespace) -> int:
    client = None if args.client is None else client_of(store, args.client)
    store.get(args.session)  # indexed now if it was not yet
    store.clients.assign(args.session, None if client is None else client.id)
    print("assigned" if client else "unassigned", file=sys.stderr)
    return 0


def _progress(store: SessionStore, args: argparse.Namespace) -> int:
    from hipsense.clients import client_progress
    from hipsense.report.progress import fmt, progress_csv

    client = client_of(store, args.client)
    doc = client_progress(store, client.id)
    if args.csv:
        Path(args.csv).write_text(progress_csv(doc), encoding="utf-8")
        print(f"wrote {args.csv} ({len(doc['sessions'])} sessions)", file=sys.stderr)
        return 0
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    for s in doc["sessions"]:
        parts = [s["created_utc"][:10], s["name"]]
        for side in doc["sides"]:
            f = (s["figures"].get("sides", {}) or {}).get(side) or {}
            parts.append(
                f"{side} active {fmt(f.get('active_deg'))} passive {fmt(f.get('passive_deg'))} "
                f"gap {fmt(f.get('gap_deg'))}"
            )
        if s["status"] != "ok":
            parts.append(f"[{s['status']}: {s['message']}]")
        print("  ".join(parts))
    return 0


def _export(store: SessionStore, args: argparse.Namespace) -> int:
    from hipsense.clients import export_archive

    client = client_of(store, args.client)
    manifest = export_archive(store, client.id, Path(args.out))
    print(f"wrote {args.out} ({len(manifest['sessions'])} sessions)", file=sys.stderr)
    return 0


def _import(store: SessionStore, args: argparse.Namespace) -> int:
    from hipsense.clients import import_archive

    client, names = import_archive(store, Path(args.archive), args.name, args.archive)
    print(f"imported {len(names)} sessions for:", file=sys.stderr)
    _print_client(client)
    return 0


HANDLERS = {
    "list": _list,
    "add": _add,
    "show": _show,
    "edit": _edit,
    "merge": _merge,
    "delete": _delete,
    "assign": _assign,
    "progress": _progress,
    "export": _export,
    "import": _import,
}


def write_client_report(data_dir: str | None, key: str, out: str) -> None:
    """``hipsense report --client``: the client report of their latest session."""
    from hipsense.clients import client_progress
    from hipsense.report.progress import REPORT_SESSIONS, render_client_report

    store = open_store(data_dir)
    try:
        doc = client_progress(store, client_of(store, key).id, last=REPORT_SESSIONS)
    finally:
        store.close()
    html = render_client_report(doc, datetime.now(UTC).isoformat(timespec="minutes"))
    Path(out).write_text(html, encoding="utf-8")
    print(
        f"wrote {out} ({len(html) // 1024} KiB, {len(doc['sessions'])} sessions)", file=sys.stderr
    )


def add_data_dir(p: argparse.ArgumentParser) -> None:
    """The ``--data-dir`` option of commands that use the session index."""
    p.add_argument(
        "--data-dir",
        help="data directory (default: $HIPSENSE_DATA_DIR, else ~/.local/share/hipsense)",
    )


def register(sub: Any) -> None:
    """Add ``clients`` and its actions to the ``hipsense`` sub-parsers."""
    p = sub.add_parser(
        "clients",
        help="clients: records, sessions, progress, archives",
        description="Manage the people measured: their records, sessions and progress.",
    )
    actions = p.add_subparsers(dest="action", required=True)

    def action(name: str, text: str) -> argparse.ArgumentParser:
        a: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text)
        add_data_dir(a)
        a.set_defaults(func=_cmd)
        return a

    a = action("list", "list the clients")
    a.add_argument("--json", action="store_true")
    a = action("add", "create a client")
    a.add_argument("name", help="display name or pseudonym")
    a.add_argument("--notes")
    a.add_argument("--side", action="append", choices=SIDE_CHOICES, help="side of concern")
    a = action("show", "a client and their sessions")
    a.add_argument("client", help="id or name")
    a = action("edit", "rename a client or change notes or sides")
    a.add_argument("client", help="id or name")
    a.add_argument("--name", help="new display name")
    a.add_argument("--notes")
    a.add_argument("--side", action="append", choices=SIDE_CHOICES, help="sides of concern")
    a = action("merge", "move every session of CLIENT to INTO and remove CLIENT")
    a.add_argument("client", help="id or name of the client to merge away")
    a.add_argument("into", help="id or name of the client kept")
    a = action("delete", "delete a client and all their sessions (files too)")
    a.add_argument("client", help="id or name")
    a.add_argument("--confirm", metavar="NAME", help="the client's name (else asked)")
    a = action("assign", "assign a recorded session to a client (no client: unassign)")
    a.add_argument("session", help="session (recording) name in the data directory")
    a.add_argument("client", nargs="?", help="id or name; omit to unassign")
    a = action("progress", "the client's figures over their sessions")
    a.add_argument("client", help="id or name")
    a.add_argument("--csv", metavar="FILE", help="write the progress table as CSV")
    a.add_argument("--json", action="store_true", help="print the progress document")
    a = action("export", "write the client's archive (zip of recordings and results)")
    a.add_argument("client", help="id or name")
    a.add_argument("--out", required=True, help="zip file to write")
    a = action("import", "import a client archive made by `clients export`")
    a.add_argument("archive", help="zip file")
    a.add_argument("--name", help="the client's name here, if theirs is taken")
