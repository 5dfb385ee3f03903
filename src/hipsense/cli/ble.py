"""``hipsense scan`` and ``hipsense record``: BLE sensors from the command line.

``record --simulate EXERCISE`` plays a simulated session through virtual BLE sensors (the
simulator's bumble radio) and hipsense's real BLE session, and records it like real sensors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hipsense.cli.clients import add_data_dir
from hipsense.errors import ConfigurationError

if TYPE_CHECKING:
    from hipsense.recording.sessions import SessionRecorder
    from hipsense.sensors.ble import AdapterUnavailableError
    from hipsense.sensors.ble_roles import RoleStore
    from hipsense.sources.ble import BleSessionSource

ROLE_OPTIONS = (
    ("pelvis", "--pelvis"),
    ("thigh_left", "--thigh-left"),
    ("thigh_right", "--thigh-right"),
)
SIMULATED_HINT = (
    "to try hipsense without sensors, use simulated ones: 'hipsense serve' plays virtual "
    "sensors by default, 'hipsense record OUT.hsr --simulate active_extension' records them"
)


def no_adapter_error(exc: AdapterUnavailableError) -> ConfigurationError:
    """The adapter error as one line that also points to the simulated sensors."""
    detail = str(exc)
    if not detail.lower().startswith("no usable bluetooth adapter"):
        detail = f"no Bluetooth adapter available: {detail}"
    return ConfigurationError(f"{detail}; {SIMULATED_HINT}")


def _cmd_scan(args: argparse.Namespace) -> int:
    from hipsense.sensors.ble import AdapterUnavailableError, scan
    from hipsense.sensors.ble_roles import RoleStore

    try:
        found = asyncio.run(scan(args.timeout, with_battery=args.battery, include_unknown=args.all))
    except AdapterUnavailableError as exc:
        raise no_adapter_error(exc) from None
    store = RoleStore()
    if not found:
        print(
            f"no supported sensors found in {args.timeout:g} s: switch them on (or move them to "
            "wake them) and keep them within a few metres",
            file=sys.stderr,
        )
        return 0
    print(f"{'ADDRESS':<20} {'NAME':<18} {'PROTOCOL':<13} {'RSSI':>5} {'BATTERY':>8}  ROLE")
    for f in found:
        battery = "-" if f.battery_pct is None else f"{f.battery_pct:.0f} %"
        rssi = "-" if f.rssi_dbm is None else str(f.rssi_dbm)
        print(
            f"{f.address:<20} {(f.name or '-')[:18]:<18} {(f.protocol or 'unsupported'):<13} "
            f"{rssi:>5} {battery:>8}  {store.role_of(f.address) or '-'}"
        )
    return 0


def _assignments(args: argparse.Namespace, store: RoleStore) -> dict[str, str]:
    given = {role: getattr(args, role) for role, _ in ROLE_OPTIONS if getattr(args, role)}
    for role, address in given.items():
        store.assign(address, role)
    if given:
        store.save()
    return given or store.assignments()


def _record_source(args: argparse.Namespace) -> tuple[BleSessionSource, dict[str, Any]]:
    """The source ``record`` records: the remembered (or given) sensors, or virtual ones
    playing a simulated exercise; and what the metadata should say about it."""
    from hipsense.sources.ble import BleSource

    if not args.simulate:
        from hipsense.sensors.ble_roles import RoleStore

        store = RoleStore()
        return BleSource(
            _assignments(args, store), args.rate, store=store, scan_timeout_s=args.scan_timeout
        ), {}
    from hipsense.sources.simulated import simulator
    from hipsense.sources.virtual_ble import VirtualBleSource

    try:
        sim = simulator().simulate_session(
            args.simulate, args.seed, duration_s=args.duration, rate_hz=args.rate
        )
    except (KeyError, ValueError) as exc:
        raise ConfigurationError(f"cannot simulate {args.simulate!r}: {exc}") from None
    source = VirtualBleSource(sim, speed=args.speed, loop=False)
    return source, {"scenario": args.simulate, "seed": args.seed}


def _cmd_record(args: argparse.Namespace) -> int:
    from hipsense.cli.clients import client_of, open_store, recording_target
    from hipsense.sensors.ble import AdapterUnavailableError

    client: dict[str, str] | None = None
    store = None if args.client is None else open_store(args.data_dir)
    try:
        if store is not None:
            found = client_of(store, args.client)
            client = {"id": found.id, "name": found.name}
            out = recording_target(store, args.out)
        else:
            out = Path(args.out)
        if out.exists() and not args.overwrite:
            raise ConfigurationError(f"{out} exists; choose another name or pass --overwrite")
        try:
            asyncio.run(_record_main(args, out, client))
        except AdapterUnavailableError as exc:
            raise no_adapter_error(exc) from None
        if store is not None and client is not None:
            store.take_for_client(out.stem, client["id"])
            print(f"session {out.stem} is {client['name']}'s ({client['id']})", file=sys.stderr)
    finally:
        if store is not None:
            store.close()
    return 0


async def _record_main(
    args: argparse.Namespace, out: Path, client: dict[str, str] | None = None
) -> int:
    from hipsense.sources.virtual_ble import VirtualBleSource

    source, extra = _record_source(args)
    until: Awaitable[Any] | None = None
    if isinstance(source, VirtualBleSource):
        until = source.radio.wait_finished(None)
    elif args.duration is not None:
        until = asyncio.sleep(args.duration)
    await record_source(
        source,
        out,
        "simulator" if args.simulate else "ble",
        args.subject,
        extra,
        until,
        overwrite=args.overwrite,
        hint="" if args.simulate else " (Ctrl+C stops)",
        client=client,
    )
    return 0


async def record_source(
    source: BleSessionSource,
    out: Path,
    kind: str,
    subject: str,
    extra: dict[str, Any],
    until: Awaitable[Any] | None,
    overwrite: bool = False,
    hint: str = "",
    client: dict[str, str] | None = None,
) -> SessionRecorder:
    """Stream ``source`` into the one recorder (:class:`SessionRecorder`, as the service's
    recordings) until ``until`` completes (None: Ctrl+C) or the source fails; returns the
    finished recorder."""
    from hipsense.recording.sessions import SessionRecorder, recording_metadata

    recorder: SessionRecorder | None = None

    async def pump() -> None:
        nonlocal recorder
        async for batch in source.stream():
            if recorder is None:  # every sensor is connected: the metadata is known
                meta = recording_metadata(
                    source.status(),
                    kind,
                    subject,
                    "",
                    0.0,
                    source.session_start_ns,
                    "hipsense record",
                    client,
                )
                meta.extra.update(extra)
                recorder = SessionRecorder(out, meta, overwrite=overwrite)
                print(f"recording {', '.join(source.roles)} to {out}{hint}", file=sys.stderr)
            recorder.write_batch(batch.items)

    task = asyncio.create_task(pump())
    stop = asyncio.ensure_future(until if until is not None else asyncio.Event().wait())
    status = []
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # the source failed (a sensor not found...): say why
        status = source.status()
    except (KeyboardInterrupt, asyncio.CancelledError):
        status = source.status()
    finally:
        stop.cancel()
        await source.close()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if recorder is not None:
            recorder.finish()
    if recorder is None:
        raise ConfigurationError("no sensor delivered anything: nothing was recorded")
    for s in status:
        print(
            f"{s.role}: {recorder.samples.get(s.role, s.samples)} samples, {s.gaps} gaps, "
            f"{s.malformed} malformed, {s.notifications} notifications",
            file=sys.stderr,
        )
    print(f"wrote {out}", file=sys.stderr)
    return recorder


def register(sub: Any) -> None:
    """Add the ``scan`` and ``record`` sub-commands to the CLI's sub-parsers."""
    p = sub.add_parser(
        "scan",
        help="list nearby BLE sensors",
        description="Scan once for supported BLE IMUs and list address, protocol, signal and "
        "the role remembered for each.",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="scan duration in s (default 5)")
    p.add_argument("--battery", action="store_true", help="connect briefly to read batteries")
    p.add_argument("--all", action="store_true", help="also list unsupported devices")
    p.set_defaults(func=_cmd_scan)

    r = sub.add_parser(
        "record",
        help="record BLE sensors (or simulated ones) to a .hsr file",
        description="Connect the sensors (one at a time), stream and record raw notifications, "
        "decoded samples and sensor events. Roles given here are remembered.",
    )
    r.add_argument("out", help="recording to write (.hsr)")
    for role, flag in ROLE_OPTIONS:
        r.add_argument(flag, dest=role, metavar="ADDR", help=f"address of the {role} sensor")
    r.add_argument("--rate", type=float, default=100.0, help="output rate in Hz (default 100)")
    r.add_argument("--duration", type=float, help="seconds to record (default: until Ctrl+C)")
    r.add_argument("--subject", default="", help="pseudonym of the person measured")
    r.add_argument("--scan-timeout", type=float, default=5.0, help="initial scan duration, s")
    r.add_argument(
        "--simulate",
        metavar="EXERCISE",
        help="record virtual BLE sensors playing a simulated EXERCISE (no hardware needed)",
    )
    r.add_argument("--seed", type=int, default=0, help="simulation seed (--simulate)")
    r.add_argument(
        "--speed", type=float, help="simulated seconds per second (--simulate; default: max)"
    )
    r.add_argument("--overwrite", action="store_true", help="replace an existing file")
    r.add_argument(
        "--client",
        metavar="ID|NAME",
        help="record for this client: OUT becomes a session name in the data directory",
    )
    add_data_dir(r)
    r.set_defaults(func=_cmd_record)
