"""Movella DOT: payload layouts from the BLE spec, timestamp wrap, commands, battery."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hipsense.sensors.protocols import movella_dot as md
from hipsense.sensors.protocols.base import DecodedSamples


def test_custom_mode_5_hand_built() -> None:
    # Timestamp u32 us, quaternion w x y z, acc m/s^2, gyro deg/s; padded to 63 bytes.
    body = struct.pack("<I4f3f3f", 123_456, 1, 0, 0, 0, 0.5, -9.81, 2.0, 90.0, 0, -45.0)
    assert len(body) == 44
    out = md.MovellaDotDecoder(md.MODE_CUSTOM_5).feed(body + bytes(19), 7)
    np.testing.assert_allclose(out.acc_m_s2[0], [0.5, -9.81, 2.0], rtol=1e-6)
    np.testing.assert_allclose(out.gyr_rad_s[0], np.radians([90, 0, -45]), rtol=1e-6)
    np.testing.assert_allclose(out.extra["quat_wxyz"][0], [1, 0, 0, 0])
    assert out.sensor_time_s is not None
    np.testing.assert_allclose(out.sensor_time_s, [0.123456])
    # Unpadded 44-byte notifications are accepted too.
    assert len(md.MovellaDotDecoder().feed(body, 0)) == 1


def test_rate_quantities_hand_built() -> None:
    body = struct.pack("<I3f3f", 5, 0, 0, 9.81, 0, 360.0, 0)
    out = md.MovellaDotDecoder(md.MODE_RATE_QUANTITIES).feed(body + bytes(12), 0)
    np.testing.assert_allclose(out.acc_m_s2[0], [0, 0, 9.81], rtol=1e-6)
    np.testing.assert_allclose(out.gyr_rad_s[0], [0, 2 * np.pi, 0], rtol=1e-6)
    with_mag = struct.pack("<I3f3f3h", 5, 0, 0, 9.81, 0, 0, 0, 4096, -2048, 0)
    out = md.MovellaDotDecoder(md.MODE_RATE_QUANTITIES_WITH_MAG).feed(with_mag + bytes(6), 0)
    np.testing.assert_allclose(out.extra["mag_au"][0], [1.0, -0.5, 0.0])


def test_delta_quantities_give_dq_dv_and_derived_rates() -> None:
    half = np.radians(1.0) / 2  # 1 degree about z per 1/60 s
    body = struct.pack("<I4f3f", 0, np.cos(half), 0, 0, np.sin(half), 0, 0, 9.81 / 60)
    out = md.MovellaDotDecoder(md.MODE_DELTA_QUANTITIES, output_rate_hz=60).feed(body + bytes(8), 0)
    np.testing.assert_allclose(out.gyr_rad_s[0], [0, 0, np.radians(60)], rtol=1e-5)
    np.testing.assert_allclose(out.acc_m_s2[0], [0, 0, 9.81], rtol=1e-5)
    assert out.extra["dv_m_s"].shape == (1, 3) and out.extra["dq_wxyz"].shape == (1, 4)


def test_timestamp_wrap_around_unwraps() -> None:
    t = (2**32 - 20_000 + np.arange(5) * 16_667) % 2**32
    notes = md.encode_payloads(t, np.zeros((5, 3)), np.zeros((5, 3)))
    d = md.MovellaDotDecoder()
    out = DecodedSamples.concat([d.feed(n, i) for i, n in enumerate(notes)])
    assert out.sensor_time_s is not None
    np.testing.assert_allclose(np.diff(out.sensor_time_s), 0.016667)
    assert out.sensor_time_s[-1] > 2**32 * 1e-6


def test_commands_match_the_spec() -> None:
    assert md.command_start(26) == bytes([0x01, 0x01, 0x1A])
    assert md.command_stop(26) == bytes([0x01, 0x00, 0x1A])
    assert md.parse_command(bytes([1, 1, 21])) == ("start", 21)
    rate = md.command_output_rate(30)
    assert len(rate) == 32 and rate[0] == 0x10 and rate[24:26] == bytes([30, 0])
    assert rate[1:24] == bytes(23) and rate[26:] == bytes(6)
    assert md.rate_from_device_control(rate) == 30
    with pytest.raises(ValueError):
        md.command_output_rate(100)
    writes = md.SPEC.start_commands(60)
    assert [w.char_uuid for w in writes] == [
        "15171002-4947-11e9-8646-d663bd873d93",
        "15172001-4947-11e9-8646-d663bd873d93",
    ]
    assert md.SPEC.data_char_uuid == "15172002-4947-11e9-8646-d663bd873d93"
    assert md.spec_for_mode(21).data_char_uuid == "15172003-4947-11e9-8646-d663bd873d93"


def test_battery() -> None:
    status = md.parse_battery(bytes([64, 1]))
    assert status is not None and status.percent == 64 and status.charging
    assert md.parse_battery(md.encode_battery(80)) is not None
    assert md.parse_battery(bytes([64])) is None
    assert md.SPEC.battery_char_uuid == "15173001-4947-11e9-8646-d663bd873d93"


@settings(max_examples=50, deadline=None)
@given(
    acc=arrays(np.float64, (3, 3), elements=st.floats(-150, 150, width=32)),
    gyr=arrays(np.float64, (3, 3), elements=st.floats(-30, 30, width=32)),
    mode=st.sampled_from(
        [md.MODE_CUSTOM_5, md.MODE_RATE_QUANTITIES, md.MODE_RATE_QUANTITIES_WITH_MAG]
    ),
    pad=st.booleans(),
)
def test_round_trip_float32(acc: np.ndarray, gyr: np.ndarray, mode: int, pad: bool) -> None:
    notes = md.encode_payloads([0, 10, 20], acc, gyr, mode=mode, pad=pad)
    out = md.MovellaDotDecoder(mode).feed_many(notes, [0, 1, 2])
    np.testing.assert_allclose(out.acc_m_s2, acc, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.gyr_rad_s, gyr, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", [b"\x01\x00\x81\x7f", struct.pack("<f", np.inf)])
def test_non_finite_records_are_dropped_and_counted(bad: bytes) -> None:
    # bad: a signalling NaN (casting it warns, an error under -W error) and +inf.
    n = 4
    payloads = md.encode_payloads(
        np.arange(n) * 16_667, np.tile([0.0, 0.0, 9.81], (n, 1)), np.zeros((n, 3))
    )
    gyr_x = md.PAYLOAD_MODES[md.DEFAULT_MODE].dtype.fields["gyr"][1]  # byte offset
    broken = payloads[2][:gyr_x] + bad + payloads[2][gyr_x + 4 :]
    notifications = [payloads[0], payloads[1], broken, payloads[3]]
    for batch in (False, True):
        dec = md.MovellaDotDecoder()
        if batch:
            out = dec.feed_many(notifications, [0, 1, 2, 3])
        else:
            out = DecodedSamples.concat([dec.feed(p, i) for i, p in enumerate(notifications)])
        assert len(out) == 3 and np.isfinite(out.gyr_rad_s).all()
        assert out.sensor_time_s is not None
        np.testing.assert_allclose(out.sensor_time_s, np.array([0, 1, 3]) * 0.016667)
        assert dec.malformed_count == 1 and "non-finite" in (dec.last_error or "")
        assert dec.bytes_discarded == len(broken)
        assert dec.bytes_accepted + dec.bytes_discarded == dec.bytes_received
