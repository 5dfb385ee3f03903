"""BLE layer: scanning, error paths, roles, battery, every vendor over the virtual radio."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDeviceNotFoundError,
    BleakError,
)

from hipsense.cli import main
from hipsense.sensors.ble import (
    AdapterUnavailableError,
    BlePermissionError,
    BleSession,
    ConnectionFailedError,
    DeviceNotFoundError,
    LowBatteryError,
    ReconnectPolicy,
    WrongProtocolError,
    map_bleak_error,
    scan,
)
from hipsense.sensors.ble_roles import RoleStore
from hipsense.sources.ble import BleSource
from hipsense.sources.virtual_ble import VirtualBleSource
from hipsense.types import Marker, RawNotification, SampleBlock, SensorEvent
from hipsim import simulate_session
from hipsim.ble import (
    SENSOR_CLASSES,
    Faults,
    ForeignPeripheral,
    OpenProfileSensor,
    VirtualRadio,
)

R = BleakBluetoothNotAvailableReason


@pytest.fixture(scope="module")
def short_session():
    return simulate_session("active_extension", 2, duration_s=6.0, rate_hz=100.0)


# --- error mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "cls", "words"),
    [
        (
            BleakBluetoothNotAvailableError("No Bluetooth adapters found.", R.NO_BLUETOOTH),
            AdapterUnavailableError,
            "switch Bluetooth on",
        ),
        (
            BleakBluetoothNotAvailableError("off", R.POWERED_OFF),
            AdapterUnavailableError,
            "bluetoothctl power on",
        ),
        (
            BleakBluetoothNotAvailableError("denied", R.DENIED_BY_USER),
            BlePermissionError,
            "Privacy",
        ),
        (
            BleakError("org.bluez.Error.NotReady: Resource Not Ready"),
            AdapterUnavailableError,
            "adapter",
        ),
        (BleakError("org.bluez.Error.NotAuthorized"), BlePermissionError, "bluetooth' group"),
        (
            FileNotFoundError(2, "No such file or directory"),
            AdapterUnavailableError,
            "systemctl start bluetooth",
        ),
        (PermissionError(13, "denied"), BlePermissionError, "permission"),
        (BleakDeviceNotFoundError("AA", "not found"), DeviceNotFoundError, "switch it on"),
        (TimeoutError(), DeviceNotFoundError, "closer"),
        (BleakError("org.bluez.Error.InProgress"), ConnectionFailedError, "busy"),
        (BleakError("weird"), ConnectionFailedError, "weird"),
    ],
)
def test_bleak_errors_map_to_actionable_messages(exc, cls, words):
    err = map_bleak_error(exc, "AA:BB:CC:DD:EE:FF")
    assert isinstance(err, cls)
    assert words in str(err)
    assert "\n" not in str(err)


def test_reconnect_backoff_grows_with_jitter_and_cap():
    policy = ReconnectPolicy(base_delay_s=0.5, max_delay_s=4.0, jitter=0.5)
    rng = random.Random(0)
    delays = [policy.delay_s(n, rng) for n in range(8)]
    assert 0.25 <= delays[0] <= 0.75
    assert all(d <= 6.0 for d in delays)
    assert 2.0 <= delays[-1] <= 6.0
    assert len({round(d, 6) for d in delays}) == len(delays)


def test_role_store_remembers_one_address_per_role(tmp_path, monkeypatch):
    monkeypatch.setenv("HIPSENSE_DATA_DIR", str(tmp_path))
    store = RoleStore()
    store.assign("d0:00:00:00:00:01", "pelvis", protocol="open_profile")
    store.assign("D0:00:00:00:00:02", "thigh_left")
    store.assign("D0:00:00:00:00:03", "pelvis")  # moves the role
    store.save()
    again = RoleStore()
    assert again.path == tmp_path / "sensor_roles.json"
    assert again.assignments() == {"pelvis": "D0:00:00:00:00:03", "thigh_left": "D0:00:00:00:00:02"}
    assert again.role_of("D0:00:00:00:00:01") is None
    (tmp_path / "sensor_roles.json").write_text("{broken")
    with pytest.raises(Exception, match="not valid JSON"):
        RoleStore()


# --- scanning and errors over the virtual radio -----------------------------------------------


async def test_scan_identifies_every_vendor_with_rssi_and_battery(short_session):
    block = short_session.samples["pelvis"]
    sensors = [
        cls(block, f"D0:00:00:00:00:{i + 1:02X}", rssi_dbm=-50 - i, faults=Faults(battery_pct=60))
        for i, cls in enumerate(SENSOR_CLASSES.values())
    ]
    sensors.append(ForeignPeripheral(None, "D0:00:00:00:00:09"))
    async with VirtualRadio(sensors) as radio:
        found = await scan(0.2, radio.ble_backend(), with_battery=True)
        everything = await scan(0.2, radio.ble_backend(), include_unknown=True)
    assert [f.protocol for f in found] == list(SENSOR_CLASSES)  # strongest first
    assert [f.rssi_dbm for f in found] == [-50 - i for i in range(len(SENSOR_CLASSES))]
    batteries = {f.protocol: f.battery_pct for f in found}
    assert batteries["open_profile"] == 60 and batteries["thingy52"] == 60
    assert batteries["movella_dot"] == 60
    assert batteries["witmotion"] is None  # answered in the data stream, not at scan time
    assert batteries["movesense"] is None  # only through the device's REST-like API
    assert any(f.protocol is None and f.name == "HRM-Pro" for f in everything)


async def test_adapter_missing_is_reported_with_what_to_do():
    radio = VirtualRadio([], adapter_available=False)
    async with radio:
        with pytest.raises(AdapterUnavailableError, match="switch Bluetooth on"):
            await scan(0.1, radio.ble_backend())
        with pytest.raises(AdapterUnavailableError):
            await BleSession({"pelvis": "D0:00:00:00:00:01"}, backend=radio.ble_backend()).start()


async def test_device_not_found_when_sensor_is_off(short_session):
    sensor = OpenProfileSensor(
        short_session.samples["pelvis"], "D0:00:00:00:00:01", faults=Faults(powered=False)
    )
    async with VirtualRadio([sensor]) as radio:
        session = BleSession(
            {"pelvis": "D0:00:00:00:00:01"}, backend=radio.ble_backend(), scan_timeout_s=0.2
        )
        with pytest.raises(DeviceNotFoundError, match="switch it on"):
            await session.start()


async def test_wrong_protocol_by_advertisement_and_by_services():
    heart_rate = ForeignPeripheral(None, "D0:00:00:00:00:07")
    impostor = ForeignPeripheral(None, "D0:00:00:00:00:08", name="WT901BLE-fake")
    async with VirtualRadio([heart_rate, impostor]) as radio:
        backend = radio.ble_backend()
        with pytest.raises(WrongProtocolError, match="not a supported sensor"):
            await BleSession(
                {"pelvis": heart_rate.address}, backend=backend, scan_timeout_s=0.2
            ).start()
        with pytest.raises(WrongProtocolError, match="none of its services"):
            await BleSession(
                {"pelvis": impostor.address}, backend=backend, scan_timeout_s=0.2
            ).start()
        assert impostor.connection is None  # disconnected again


async def test_low_battery_event_and_refusal(short_session):
    block = short_session.samples["pelvis"]
    sensor = OpenProfileSensor(block, "D0:00:00:00:00:01", faults=Faults(battery_pct=9))
    async with VirtualRadio([sensor]) as radio:
        refusing = BleSession(
            {"pelvis": sensor.address},
            backend=radio.ble_backend(),
            scan_timeout_s=0.2,
            min_battery_pct=10,
        )
        with pytest.raises(LowBatteryError, match="charge it"):
            await refusing.start()
        assert sensor.connection is None
    sensor = OpenProfileSensor(block, "D0:00:00:00:00:01", faults=Faults(battery_pct=9))
    async with VirtualRadio([sensor]) as radio:
        session = BleSession(
            {"pelvis": sensor.address}, backend=radio.ble_backend(), scan_timeout_s=0.2
        )
        await session.start()
        first = await anext(session.items())
        await session.stop()
    kinds = {i.kind: i for i in first if isinstance(i, SensorEvent)}
    assert kinds["low_battery"].detail["battery_pct"] == 9
    assert "charge" in kinds["low_battery"].message
    assert session.status()[0].battery_pct == 9


@pytest.mark.parametrize("protocol", list(SENSOR_CLASSES))
async def test_every_vendor_streams_through_the_session(short_session, protocol):
    block = short_session.samples["thigh_right"]
    sensor = SENSOR_CLASSES[protocol](block, "D0:00:00:00:00:03", faults=Faults(battery_pct=50))
    async with VirtualRadio([sensor]) as radio:
        session = BleSession(
            {"thigh_right": sensor.address},
            100.0,
            backend=radio.ble_backend(),
            scan_timeout_s=0.2,
        )
        await session.start()
        got: list[SampleBlock] = []
        raw: list[RawNotification] = []

        async def collect() -> None:
            async for items in session.items():
                got.extend(i for i in items if isinstance(i, SampleBlock))
                raw.extend(i for i in items if isinstance(i, RawNotification))

        task = asyncio.create_task(collect())
        await radio.wait_finished(30)
        await session.stop()
        await task
    n = sum(len(b) for b in got)
    status = session.status()[0]
    expected_rate = {"movella_dot": 60.0, "movesense": 104.0}.get(protocol, 100.0)
    assert status.nominal_rate_hz == expected_rate
    assert status.protocol == protocol and status.malformed == 0
    assert n == pytest.approx(6.0 * expected_rate, abs=2)
    assert status.data_rate_hz == pytest.approx(expected_rate, rel=0.05)
    assert raw and all(r.role == "thigh_right" for r in raw)
    assert sensor.connection is None  # stop() disconnected
    if protocol == "witmotion":
        assert status.battery_pct == pytest.approx(50, abs=3)  # from the 55 71 reply


async def test_ble_source_and_virtual_source_are_drop_ins(short_session, tmp_path):
    sim_source = VirtualBleSource(short_session, speed=None, loop=False)
    assert sim_source.roles == ["pelvis", "thigh_left", "thigh_right"]
    assert sim_source.rate_hz == {"pelvis": 100.0, "thigh_left": 100.0, "thigh_right": 100.0}
    assert [d.protocol for d in sim_source.devices()] == ["open_profile"] * 3
    items = []
    async for batch in sim_source.stream():
        items.extend(batch.items)
        if sim_source.radio.finished.is_set():
            break
    assert any(isinstance(i, Marker) for i in items)
    assert any(isinstance(i, SampleBlock) and i.role == "thigh_left" for i in items)

    radio = VirtualRadio([OpenProfileSensor(short_session.samples["pelvis"], "D0:00:00:00:00:01")])
    async with radio:
        store = RoleStore(tmp_path / "roles.json")
        source = BleSource(
            {"pelvis": "D0:00:00:00:00:01"},
            backend=radio.ble_backend(),
            store=store,
            scan_timeout_s=0.2,
        )
        assert source.roles == ["pelvis"] and source.rate_hz == {"pelvis": 100.0}
        found = await source.scan()
        assert found[0]["role"] == "pelvis" and found[0]["protocol"] == "open_profile"
        blocks = 0
        async for batch in source.stream():
            blocks += sum(isinstance(i, SampleBlock) for i in batch.items)
            if blocks >= 3:
                break
        assert RoleStore(tmp_path / "roles.json").protocol_of("D0:00:00:00:00:01") == "open_profile"
        answer = await source.assign_role("D0:00:00:00:00:05", "thigh_left")
        assert answer["active"] is False and "restart" in answer["message"]
        await source.close()


def test_cli_scan_error_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HIPSENSE_DATA_DIR", str(tmp_path))

    async def no_adapter(*_a, **_k):
        raise map_bleak_error(BleakBluetoothNotAvailableError("none", R.NO_BLUETOOTH))

    monkeypatch.setattr("hipsense.sensors.ble.scan", no_adapter)
    assert main(["scan", "--timeout", "0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hipsense: error: no usable Bluetooth adapter")


def test_cli_record_simulate_writes_a_recording(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HIPSENSE_DATA_DIR", str(tmp_path))
    out = tmp_path / "sim.hsr"
    assert main(["record", str(out), "--simulate", "active_extension", "--duration", "4"]) == 0
    assert out.stat().st_size > 10_000
    err = capsys.readouterr().err
    assert "pelvis: 400 samples, 0 gaps" in err
    from hipsense.recording.reader import read_all

    values, _damage = read_all(out)
    raw = [v for v in values if isinstance(v, list) and v and isinstance(v[0], RawNotification)]
    blocks = [v for v in values if isinstance(v, SampleBlock)]
    markers = [v for v in values if isinstance(v, Marker)]
    assert blocks and markers
    assert sum(len(b) for b in blocks if b.role == "pelvis") == 400
    assert raw or any(isinstance(v, RawNotification) for v in values)
    assert np.all(np.isfinite(np.concatenate([b.time_s for b in blocks])))
