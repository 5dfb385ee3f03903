"""WitMotion: hand-built records, register replies in the stream, commands, battery."""

from __future__ import annotations

import math
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hipsense.sensors.protocols import witmotion as wm
from hipsense.sensors.protocols.base import DecodedSamples

G = 9.80665


def _record(*raw: int) -> bytes:
    """A 55 61 record written from the documented layout: 9 x int16 little-endian."""
    return b"\x55\x61" + struct.pack("<9h", *raw)


def test_hand_built_record_decodes_to_physical_values() -> None:
    # 2048 -> 1 g; 16384 -> 1000 deg/s; 8192 -> 45 deg; -32768 -> -16 g / -180 deg.
    rec = _record(0, 0, 2048, 16384, 0, -1638, 8192, -8192, -32768)
    out = wm.WitMotionDecoder().feed(rec, 5)
    assert len(out) == 1
    np.testing.assert_allclose(out.acc_m_s2[0], [0, 0, G])
    np.testing.assert_allclose(out.gyr_rad_s[0], np.radians([1000, 0, -1638 * 2000 / 32768]))
    np.testing.assert_allclose(out.extra["euler_deg"][0], [45, -45, -180])
    assert out.sensor_time_s is None and out.seq is None
    assert out.host_time_ns.tolist() == [5]


def test_several_records_per_notification_and_resync_on_header() -> None:
    a = _record(2048, 0, 0, 0, 0, 0, 0, 0, 0)
    b = _record(0, -2048, 0, 0, 0, 0, 0, 0, 0)
    d = wm.WitMotionDecoder()
    out = d.feed(b"\x00\x13\x55" + a + b"\x99" + b + a[:9], 0)
    assert len(out) == 2
    np.testing.assert_allclose(out.acc_m_s2[:, :2], [[G, 0], [0, -G]])
    assert d.bytes_discarded == 4 and d.malformed_count == 2
    assert d.pending_bytes == 9
    out2 = d.feed(a[9:], 1)
    np.testing.assert_allclose(out2.acc_m_s2, [[G, 0, 0]])


def test_interleaved_register_replies_are_recognised() -> None:
    battery = b"\x55\x71\x64\x00" + struct.pack("<8h", 385, 0, 0, 0, 0, 0, 0, 0)
    temp = b"\x55\x71\x40\x00" + struct.pack("<8h", 2512, 1, 2, 3, 4, 5, 6, 7)
    rec = _record(0, 0, 2048, 0, 0, 0, 0, 0, 0)
    stream = rec + battery + rec + temp + rec
    d = wm.WitMotionDecoder()
    out = DecodedSamples.concat(
        [d.feed(c, i) for i, c in enumerate(wm.split_notifications(stream, 7))]
    )
    assert len(out) == 3
    assert d.replies_decoded == 2
    assert d.registers[0x40] == 2512 and d.registers[0x47] == 7
    assert d.battery is not None
    assert math.isclose(d.battery.volts or 0, 3.85)
    assert d.battery.percent_is_estimate
    assert d.malformed_count == 0


def test_battery_curve_and_parser() -> None:
    assert wm.battery_percent_from_volts(3.99) == 100
    assert wm.battery_percent_from_volts(3.3) == 0
    assert math.isclose(wm.battery_percent_from_volts(3.82), 50)
    assert math.isclose(wm.battery_percent_from_volts(3.845), 55)  # halfway 3.82 -> 3.87
    reply = wm.encode_battery_reply(3.7)
    assert reply[:4] == bytes([0x55, 0x71, 0x64, 0x00]) and reply[4:6] == (370).to_bytes(
        2, "little"
    )
    status = wm.SPEC.parse_battery(_record(*[0] * 9) + reply)
    assert status is not None and math.isclose(status.percent, 15)
    assert wm.SPEC.parse_battery(_record(*[0] * 9)) is None


def test_command_builders_produce_documented_bytes() -> None:
    assert wm.command_unlock() == bytes.fromhex("FFAA6988B5")
    assert wm.command_save() == bytes.fromhex("FFAA000000")
    assert wm.command_read_register(0x64) == bytes.fromhex("FFAA276400")
    assert wm.command_set_rate(10.0) == bytes.fromhex("FFAA030600")
    assert wm.command_set_rate(100.0) == bytes.fromhex("FFAA030900")
    assert wm.rate_from_command(bytes.fromhex("FFAA030800")) == 50.0
    writes = wm.SPEC.start_commands(100.0)
    assert [w.data for w in writes] == [
        bytes.fromhex("FFAA6988B5"),
        bytes.fromhex("FFAA030900"),
        bytes.fromhex("FFAA000000"),
    ]
    assert all(w.char_uuid == "0000ffe9-0000-1000-8000-00805f9a34fb" for w in writes)
    assert all(w.delay_after_s == 0.1 for w in writes)
    assert wm.SPEC.battery_request()[0].data == bytes.fromhex("FFAA276400")
    assert wm.SPEC.data_char_uuid == "0000ffe4-0000-1000-8000-00805f9a34fb"


@settings(max_examples=50, deadline=None)
@given(
    acc=arrays(np.float64, (5, 3), elements=st.floats(-15.9 * G, 15.9 * G)),
    gyr=arrays(np.float64, (5, 3), elements=st.floats(-34.8, 34.8)),
    euler=arrays(np.float64, (5, 3), elements=st.floats(-179.9, 179.9)),
)
def test_round_trip_within_quantisation(
    acc: np.ndarray, gyr: np.ndarray, euler: np.ndarray
) -> None:
    out = wm.WitMotionDecoder().feed(wm.encode_records(acc, gyr, euler), 0)
    assert np.all(np.abs(out.acc_m_s2 - acc) <= wm.ACC_M_S2_PER_LSB / 2 + 1e-9)
    assert np.all(np.abs(out.gyr_rad_s - gyr) <= wm.GYR_RAD_S_PER_LSB / 2 + 1e-12)
    assert np.all(np.abs(out.extra["euler_deg"] - euler) <= wm.ANGLE_DEG_PER_LSB / 2 + 1e-9)
