"""Thingy:52: raw fixed-point layout, firmware clamping, the 9-byte configuration."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hipsense.sensors.protocols import thingy52 as th

G = 9.80665


def test_hand_built_raw_notification() -> None:
    # acc Q6.10: 1024 = 1 g; gyro Q11.5: 32 = 1 deg/s; compass Q12.4: 16 = 1 uT.
    note = struct.pack("<9h", 0, -1024, 512, 32 * 90, 0, -16, 16 * 40, -16 * 20, 8)
    out = th.Thingy52Decoder().feed(note, 0)
    np.testing.assert_allclose(out.acc_m_s2[0], [0, -G, G / 2])
    np.testing.assert_allclose(out.gyr_rad_s[0], np.radians([90, 0, -0.5]))
    assert out.mag_uT is not None
    np.testing.assert_allclose(out.mag_uT[0], [40, -20, 0.5])
    assert out.sensor_time_s is None


def test_encoder_clamps_like_the_firmware() -> None:
    (note,) = th.encode_raw([[40 * G, -40 * G, 0]], [[np.radians(1500), 0, 0]])
    raw = struct.unpack("<9h", note)
    assert raw[0] == 31 * 1024 and raw[1] == -32 * 1024
    assert raw[3] == 1023 * 32


def test_config_command_bytes() -> None:
    assert th.command_config(100) == struct.pack("<HHHHB", 1000, 500, 500, 100, 1)
    assert th.command_config(10) == bytes.fromhex("e803f401f4010a0001")
    assert th.parse_config(th.command_config(200)) == (1000, 500, 500, 200, 1)
    assert th.parse_config(b"\x00" * 9) is None
    with pytest.raises(ValueError):
        th.command_config(201)
    with pytest.raises(ValueError):
        th.command_config(50, compass_interval_ms=50)
    (write,) = th.SPEC.start_commands(50)
    assert write.char_uuid == "ef680401-9b35-4933-9b10-52ffa9740042" and write.with_response
    assert th.SPEC.data_char_uuid == "ef680406-9b35-4933-9b10-52ffa9740042"


def test_standard_battery_level() -> None:
    assert th.SPEC.battery_char_uuid == "00002a19-0000-1000-8000-00805f9b34fb"
    status = th.SPEC.parse_battery(bytes([87]))
    assert status is not None and status.percent == 87
    assert th.SPEC.parse_battery(bytes([101])) is None


@settings(max_examples=50, deadline=None)
@given(
    acc=arrays(np.float64, (4, 3), elements=st.floats(-30 * G, 30 * G)),
    gyr=arrays(np.float64, (4, 3), elements=st.floats(-17.8, 17.8)),
    mag=arrays(np.float64, (4, 3), elements=st.floats(-2000, 2000)),
)
def test_round_trip_within_quantisation(acc: np.ndarray, gyr: np.ndarray, mag: np.ndarray) -> None:
    out = th.Thingy52Decoder().feed_many(th.encode_raw(acc, gyr, mag), [0, 1, 2, 3])
    assert np.all(np.abs(out.acc_m_s2 - acc) <= th.ACC_M_S2_PER_LSB / 2 + 1e-9)
    assert np.all(np.abs(out.gyr_rad_s - gyr) <= th.GYR_RAD_S_PER_LSB / 2 + 1e-12)
    assert out.mag_uT is not None
    assert np.all(np.abs(out.mag_uT - mag) <= th.MAG_UT_PER_LSB / 2 + 1e-9)
