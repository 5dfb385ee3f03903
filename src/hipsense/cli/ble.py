"""``hipsense scan`` and ``hipsense record``: BLE sensors from the command line.

``record --simulate EXERCISE`` plays a simulated session through virtual BLE sensors (the
simulator's bumble radio) and hipsense's real BLE session, and records it like real sensors.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hipsense.errors import ConfigurationError

if TYPE_CHECKING:
    from hipsense.sensors.ble import AdapterUnavailableError, BleBackend, BleSession, Item
    from hipsense.sensors.ble_roles import RoleStore

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


async def _record(
    session: BleSession,
    writer: Any,
    until: asyncio.Future[None] | None,
    duration_s: float | None,
) -> dict[str, int]:
    counts: dict[str, int] = {}

    async def pump() -> None:
        async for items in session.items():
            _write(writer, items, counts)

    task = asyncio.create_task(pump())
    try:
        if until is not None:
            await until
        elif duration_s is not None:
            await asyncio.sleep(duration_s)
        else:
            await asyncio.Event().wait()  # until Ctrl+C
    finally:
        await session.stop()
        await task
    return counts


def _write(writer: Any, items: list[Item], counts: dict[str, int]) -> None:
    from hipsense.types import RawNotification, SampleBlock, SensorEvent

    for item in items:
        if isinstance(item, RawNotification):
            writer.add_raw(item)
        elif isinstance(item, SampleBlock):
            writer.add_samples(item)
            counts[item.role] = counts.get(item.role, 0) + len(item)
        elif isinstance(item, SensorEvent):
            writer.add_event(item)


def _cmd_record(args: argparse.Namespace) -> int:
    from hipsense.sensors.ble import AdapterUnavailableError

    try:
        from hipsense.recording.format import SensorInfo, SessionMetadata
        from hipsense.recording.writer import RecordingWriter
    except ImportError as exc:
        raise ConfigurationError(f"recording is not available in this build ({exc})") from None
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ConfigurationError(f"{out} exists; choose another name or pass --overwrite")
    try:
        return asyncio.run(_record_main(args, out, RecordingWriter, SessionMetadata, SensorInfo))
    except AdapterUnavailableError as exc:
        raise no_adapter_error(exc) from None


async def _record_main(
    args: argparse.Namespace, out: Path, writer_cls: Any, meta_cls: Any, info_cls: Any
) -> int:
    from hipsense.sensors.ble import BleSession, ReconnectPolicy
    from hipsense.sensors.ble_roles import RoleStore
    from hipsense.types import Marker

    store = RoleStore()
    radio: Any = None
    markers: list[Marker] = []
    extra: dict[str, Any] = {}
    if args.simulate:
        try:
            from hipsim import simulate_session
            from hipsim.ble import build_radio
        except ImportError as exc:
            raise ConfigurationError(
                f"--simulate needs the simulator (hipsim with bumble): {exc}"
            ) from None
        try:
            sim = simulate_session(
                args.simulate, args.seed, duration_s=args.duration, rate_hz=args.rate
            )
        except (KeyError, ValueError) as exc:
            raise ConfigurationError(f"cannot simulate {args.simulate!r}: {exc}") from None
        radio, assignments = build_radio(sim.samples, speed=args.speed)
        await radio.start()
        backend: BleBackend | None = radio.ble_backend()
        markers = [
            Marker(float(m.start_s), float(m.end_s), str(m.label), m.side, "simulated script")
            for m in sim.markers
        ]
        extra = {"scenario": args.simulate, "seed": args.seed}
        policy = ReconnectPolicy(base_delay_s=0.2, scan_timeout_s=3.0, connect_timeout_s=3.0)
        scan_s = 0.3
    else:
        assignments = _assignments(args, store)
        backend, policy, scan_s = None, ReconnectPolicy(), args.scan_timeout
    session = BleSession(
        assignments, args.rate, backend=backend, policy=policy, scan_timeout_s=scan_s
    )
    try:
        await session.start()
        status = {s.role: s for s in session.status()}
        meta = meta_cls(
            subject=args.subject,
            source="simulator" if args.simulate else "ble",
            sensors=[
                info_cls(
                    role=r,
                    protocol=status[r].protocol,
                    address=status[r].address,
                    rate_hz=status[r].nominal_rate_hz,
                    battery_pct=status[r].battery_pct,
                )
                for r in session.roles
            ],
            session_start_ns=session.session_start_ns,
            extra=extra,
        )
        if not args.simulate:
            for r, s in status.items():
                store.assign(s.address, r, protocol=s.protocol, name=s.name)
            store.save()
        with writer_cls(out, meta, overwrite=args.overwrite) as writer:
            for m in markers:
                writer.add_marker(m)
            until = None
            if radio is not None:
                until = asyncio.ensure_future(radio.wait_finished(None))
            print(
                f"recording {', '.join(session.roles)} to {out}"
                + ("" if radio is not None else " (Ctrl+C stops)"),
                file=sys.stderr,
            )
            try:
                counts = await _record(session, writer, until, args.duration)
            except (KeyboardInterrupt, asyncio.CancelledError):
                counts = {}
        for s in session.status():
            print(
                f"{s.role}: {counts.get(s.role, s.samples)} samples, {s.gaps} gaps, "
                f"{s.malformed} malformed, {s.notifications} notifications",
                file=sys.stderr,
            )
        print(f"wrote {out}", file=sys.stderr)
    finally:
        await session.stop()
        if radio is not None:
            await radio.close()
    return 0


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
    r.set_defaults(func=_cmd_record)
