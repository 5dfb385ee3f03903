"""`hipsense scan` / `record` on a machine without Bluetooth: one line that says so and points
to the simulated sensors, exit code 2."""

from __future__ import annotations

from typing import Any

import pytest
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason

from hipsense.cli import ble as ble_cli
from hipsense.cli import main
from hipsense.sensors import ble
from hipsense.sensors.ble import map_bleak_error

NO_BLUEZ = FileNotFoundError(2, "No such file or directory")  # no D-Bus system socket
POWERED_OFF = BleakBluetoothNotAvailableError(
    "Bluetooth is off", BleakBluetoothNotAvailableReason.POWERED_OFF
)


def _assert_no_adapter_line(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    (line,) = lines
    assert line.startswith("hipsense: error: no ")
    assert "Bluetooth adapter" in line.split(";")[0]
    assert "'hipsense serve'" in line and "virtual sensors by default" in line
    assert "--simulate" in line and "Traceback" not in err


@pytest.mark.parametrize("cause", [NO_BLUEZ, POWERED_OFF], ids=["no-bluez", "powered-off"])
def test_scan_without_adapter_points_to_simulated_sensors(
    cause: BaseException, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def no_adapter(*args: Any, **kwargs: Any) -> list[Any]:
        raise map_bleak_error(cause)

    monkeypatch.setattr(ble, "scan", no_adapter)  # read when the command runs
    assert main(["scan", "--timeout", "0.1"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    _assert_no_adapter_line(err)


def test_record_without_adapter_points_to_simulated_sensors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    async def no_adapter(*args: Any, **kwargs: Any) -> int:
        raise map_bleak_error(NO_BLUEZ)

    monkeypatch.setattr(ble_cli, "_record_main", no_adapter)
    assert main(["record", str(tmp_path / "out.hsr"), "--pelvis", "AA:BB:CC:DD:EE:FF"]) == 2
    _assert_no_adapter_line(capsys.readouterr().err)


def test_the_message_keeps_the_cause_once() -> None:
    off = str(ble_cli.no_adapter_error(map_bleak_error(POWERED_OFF)))
    assert off.startswith("no usable Bluetooth adapter: plug one in")
    assert off.count("Bluetooth adapter") == 1
    no_service = str(ble_cli.no_adapter_error(map_bleak_error(NO_BLUEZ)))
    assert no_service.startswith("no Bluetooth adapter available: the Bluetooth service")
