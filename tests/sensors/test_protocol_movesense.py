"""Movesense GSP: frame layout, DATA_PART2 reassembly, malformed packets, commands, units."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hipsense.sensors.protocols import SPECS, identify
from hipsense.sensors.protocols import movesense as ms
from hipsense.sensors.protocols.base import DecodedSamples, ProtocolDecoder

REF = ms.DEFAULT_REF
RNG = np.random.default_rng(7)
ACC = RNG.normal(0, 9.81, (16, 3))
GYR = RNG.normal(0, 3.0, (16, 3))
MAG = RNG.normal(0, 40.0, (16, 3))
T_MS = 5_000 + np.arange(16) * 1000 / 104


def _feed_all(d: ProtocolDecoder, notes: list[bytes]) -> DecodedSamples:
    return DecodedSamples.concat([d.feed(n, 100 + i) for i, n in enumerate(notes)])


def _accounted(d: ProtocolDecoder) -> bool:
    return d.bytes_received == d.bytes_accepted + d.bytes_discarded + d.pending_bytes


def test_hand_built_imu6_frame_in_si_units() -> None:
    # type 2, ref, t = 1000 ms, 2 samples: acc[0], acc[1], then gyro[0], gyro[1] (deg/s).
    frame = struct.pack("<BBI", 2, REF, 1000) + struct.pack(
        "<12f", 0, 0, 9.81, 1, -2, 3, 90, 0, -45, 0, 360, 0
    )
    out = ms.MovesenseDecoder().feed(frame, 55)
    np.testing.assert_allclose(out.acc_m_s2, [[0, 0, 9.81], [1, -2, 3]], rtol=1e-6)
    np.testing.assert_allclose(out.gyr_rad_s, np.radians([[90, 0, -45], [0, 360, 0]]), rtol=1e-6)
    assert out.sensor_time_s is not None and out.mag_uT is None
    np.testing.assert_allclose(out.sensor_time_s, [1.0, 1.0 + 1 / 104])
    np.testing.assert_array_equal(out.host_time_ns, [55, 55])


def test_imu9_frame_carries_the_magnetometer() -> None:
    (frame,) = ms.encode_frames(T_MS[:8], ACC[:8], GYR[:8], MAG[:8])
    assert len(frame) == 6 + 8 * 36 == 294
    out = ms.MovesenseDecoder("IMU9").feed(frame, 0)  # one long packet (a byte-stream source)
    assert out.mag_uT is not None
    np.testing.assert_allclose(out.mag_uT, MAG[:8], rtol=1e-6)


def test_imu9_at_mtu_247_is_split_and_reassembled() -> None:
    notes = ms.encode_notifications(T_MS, ACC, GYR, MAG, att_mtu=247)
    assert [len(n) for n in notes] == [244, 52, 244, 52]
    assert [n[0] for n in notes] == [2, 3, 2, 3] and {n[1] for n in notes} == {REF}
    d = ms.MovesenseDecoder("IMU9")
    out = _feed_all(d, notes)
    assert len(out) == 16 and d.frames_reassembled == 2 and d.malformed_count == 0
    np.testing.assert_array_equal(out.host_time_ns[:8], [101] * 8)  # completed by the PART2
    np.testing.assert_allclose(out.acc_m_s2, ACC, rtol=1e-6, atol=1e-6)
    assert out.mag_uT is not None
    np.testing.assert_allclose(out.mag_uT, MAG, rtol=1e-6, atol=1e-5)
    assert _accounted(d) and d.pending_bytes == 0


@pytest.mark.parametrize("measurement", ["IMU6", "IMU9"])
def test_every_split_point_reassembles_with_a_known_frame_size(measurement: str) -> None:
    mag = MAG[:8] if measurement == "IMU9" else None
    (frame,) = ms.encode_frames(T_MS[:8], ACC[:8], GYR[:8], mag)
    whole = ms.MovesenseDecoder(measurement).feed(frame, 0)
    for cut in range(2, len(frame)):
        d = ms.MovesenseDecoder(measurement, samples_per_frame=8)
        split = _feed_all(d, [frame[:cut], bytes([3, REF]) + frame[cut:]])
        np.testing.assert_array_equal(split.acc_m_s2, whole.acc_m_s2, err_msg=f"cut {cut}")
        assert d.malformed_count == 0 and _accounted(d)


def test_data_part2_without_data_is_malformed() -> None:
    d = ms.MovesenseDecoder()
    assert len(d.feed(bytes([3, REF]) + bytes(40), 0)) == 0
    assert d.malformed_count == 1 and d.bytes_discarded == 42
    assert d.last_error is not None and "without a DATA" in d.last_error


def test_pending_data_superseded_by_a_new_data_is_malformed() -> None:
    notes = ms.encode_notifications(T_MS, ACC, GYR, MAG, att_mtu=247)
    d = ms.MovesenseDecoder("IMU9")
    out = _feed_all(d, [notes[0], notes[2], notes[3]])  # the first PART2 was lost
    assert len(out) == 8 and d.malformed_count == 1 and d.bytes_discarded == 244
    assert d.last_error is not None and "never got its DATA_PART2" in d.last_error
    assert _accounted(d)


def test_wrong_ref_is_malformed_and_other_subscriptions_are_not_decoded() -> None:
    (frame,) = ms.encode_frames(T_MS[:8], ACC[:8], GYR[:8], ref=REF + 1)
    d = ms.MovesenseDecoder()
    assert len(d.feed(frame, 0)) == 0
    assert d.malformed_count == 1 and d.last_error is not None and "ref" in d.last_error
    notes = ms.encode_notifications(T_MS[:8], ACC[:8], GYR[:8], MAG[:8])
    d9 = ms.MovesenseDecoder("IMU9")
    d9.feed(notes[0], 0)
    d9.feed(bytes([3, REF + 1]) + notes[1][2:], 1)  # a PART2 of another subscription
    d9.feed(notes[1], 2)  # the right one still completes the frame
    assert d9.records_decoded == 8 and d9.malformed_count == 1 and _accounted(d9)


@pytest.mark.parametrize(
    ("packet", "words"),
    [
        (bytes([2, REF]) + bytes(4) + bytes(25), "never got"),  # 25 payload bytes: not whole
        (bytes([1, REF, 0, 0]), "packet type 1"),  # not a data packet
        (bytes([2]), "no ref"),
        (struct.pack("<BBI", 2, REF, 0) + struct.pack("<6f", np.nan, 0, 0, 0, 0, 0), "non-finite"),
        (struct.pack("<BBI", 2, REF, 0) + struct.pack("<6f", 1e6, 0, 0, 0, 0, 0), "beyond"),
        (struct.pack("<BBI", 2, REF, 0) + b"\x00\x00\x81\x7f" + bytes(20), "non-finite"),  # sNaN
    ],
)
def test_truncated_and_garbage_packets_are_counted(packet: bytes, words: str) -> None:
    d = ms.MovesenseDecoder()
    d.feed(packet, 0)
    d.feed(struct.pack("<BBI", 2, REF, 0) + struct.pack("<6f", 0, 0, 9.8, 0, 0, 0), 1)
    assert d.malformed_count == 1 and d.last_error is not None and words in d.last_error
    assert d.records_decoded == 1 and _accounted(d)


def test_part2_that_does_not_complete_whole_samples_is_malformed() -> None:
    notes = ms.encode_notifications(T_MS[:8], ACC[:8], GYR[:8], MAG[:8])
    d = ms.MovesenseDecoder("IMU9")
    d.feed(notes[0], 0)
    d.feed(notes[1][:-5], 1)  # truncated second part
    assert d.malformed_count == 1 and d.bytes_discarded == 244 + 47 and _accounted(d)


def test_timestamp_wrap_around_unwraps() -> None:
    t = 2**32 - 50 + np.arange(24) * 1000 / 104
    notes = ms.encode_notifications(t, np.zeros((24, 3)), np.zeros((24, 3)))
    out = _feed_all(ms.MovesenseDecoder(), notes)
    assert out.sensor_time_s is not None
    np.testing.assert_allclose(np.diff(out.sensor_time_s), 1 / 104, atol=1.1e-3)
    assert out.sensor_time_s[-1] > 2**32 * 1e-3


def test_commands_match_the_protocol() -> None:
    assert ms.command_subscribe() == bytes([1, REF]) + b"/Meas/IMU6/104"
    assert ms.command_subscribe("IMU9", 208, ref=7) == b"\x01\x07/Meas/IMU9/208"
    assert ms.command_unsubscribe() == bytes([2, REF])
    assert ms.command_hello() == bytes([0, REF])
    assert ms.parse_command(ms.command_subscribe("IMU9")) == ("subscribe", REF, "/Meas/IMU9/104")
    assert ms.parse_command(bytes([2, 5])) == ("unsubscribe", 5, "")
    assert ms.parse_command(b"\x01\x05\xff") is None
    assert ms.parse_resource_path("/Meas/IMU9/52") == ("IMU9", 52.0)
    assert ms.parse_resource_path("/Meas/IMU6/100") is None
    with pytest.raises(ValueError):
        ms.command_subscribe("IMU6", 100)
    with pytest.raises(ValueError):
        ms.MovesenseDecoder("ECG")


def test_specs_subscribe_unsubscribe_and_have_no_gatt_battery() -> None:
    spec = SPECS["movesense"]
    (write,) = spec.start_commands(100.0)
    assert write.char_uuid == "34800001-7185-4d5d-b431-630e7050e8f0"
    assert write.data == b"\x01" + bytes([REF]) + b"/Meas/IMU6/104"
    assert spec.stop_commands()[0].data == bytes([2, REF])
    assert spec.data_char_uuid == "34800002-7185-4d5d-b431-630e7050e8f0"
    assert spec.check_rate(100.0) == 104.0
    assert spec.battery_char_uuid is None and spec.battery_request() == []
    assert spec.parse_battery(bytes([50])) is None
    assert SPECS["movesense_imu9"].start_commands(104.0)[0].data.endswith(b"/Meas/IMU9/104")
    assert SPECS["movesense_imu9"].min_att_mtu == 151 and spec.min_att_mtu == 103
    assert ms.spec_for("IMU6", 52.0).new_decoder().rate_hz == 52.0  # type: ignore[attr-defined]
    found = identify("Movesense 174630000192", [])
    assert found is not None and found.name == "movesense"
    found = identify(None, [ms.SERVICE_UUID.upper()])
    assert found is not None and found.name == "movesense"


def test_min_att_mtu_is_the_smallest_that_splits_in_two() -> None:
    for measurement, mag in (("IMU6", None), ("IMU9", MAG[:8])):
        (frame,) = ms.encode_frames(T_MS[:8], ACC[:8], GYR[:8], mag)
        mtu = ms.min_att_mtu(measurement)
        assert len(ms.split_frame(frame, mtu - 3)) <= 2
        with pytest.raises(ValueError):
            ms.split_frame(frame, mtu - 4)


@pytest.mark.parametrize("measurement", ["IMU6", "IMU9"])
def test_feed_many_vectorised_equals_feed(measurement: str) -> None:
    acc = np.tile(ACC, (4, 1))
    gyr = np.tile(GYR, (4, 1))
    mag = np.tile(MAG, (4, 1)) if measurement == "IMU9" else None
    t = 2**32 - 300 + np.arange(64) * 1000 / 104
    notes = ms.encode_notifications(t, acc, gyr, mag)
    assert len(notes) == (16 if mag is not None else 8)  # IMU9: DATA + DATA_PART2 pairs
    one = _feed_all(d_one := ms.MovesenseDecoder(measurement), notes)
    d_many = ms.MovesenseDecoder(measurement)
    many = d_many.feed_many(notes, list(range(100, 100 + len(notes))))
    for name in ("acc_m_s2", "gyr_rad_s", "mag_uT", "host_time_ns", "sensor_time_s"):
        np.testing.assert_array_equal(getattr(many, name), getattr(one, name), err_msg=name)
    assert d_many.frames_decoded == d_one.frames_decoded == 8 and _accounted(d_many)
    assert d_many.frames_reassembled == d_one.frames_reassembled
    assert d_many.records_decoded == d_one.records_decoded == 64


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.binary(max_size=320), max_size=8), imu9=st.booleans())
def test_random_packets_with_valid_headers_never_raise(chunks: list[bytes], imu9: bool) -> None:
    # Give most chunks a DATA / DATA_PART2 header with the right ref, to reach the deep paths.
    d = ms.MovesenseDecoder("IMU9" if imu9 else "IMU6")
    for i, c in enumerate(chunks):
        head = bytes([2 + i % 2, REF]) if i % 3 else b""
        out = d.feed(head + c, i)
        assert out.acc_m_s2.shape == (len(out), 3) and np.all(np.isfinite(out.acc_m_s2))
    assert _accounted(d)


@settings(max_examples=50, deadline=None)
@given(
    acc=arrays(np.float64, (12, 3), elements=st.floats(-150, 150, width=32)),
    gyr=arrays(np.float64, (12, 3), elements=st.floats(-34, 34, width=32)),
    mag=arrays(np.float64, (12, 3), elements=st.floats(-4900, 4900, width=32)),
    imu9=st.booleans(),
    att_mtu=st.sampled_from([151, 185, 247, 517]),
    t0_ms=st.integers(0, 2**32 - 1),
)
def test_round_trip_float32(
    acc: np.ndarray, gyr: np.ndarray, mag: np.ndarray, imu9: bool, att_mtu: int, t0_ms: int
) -> None:
    t_ms = t0_ms + np.arange(12) * 1000 / 104
    notes = ms.encode_notifications(t_ms, acc, gyr, mag if imu9 else None, att_mtu)
    d = ms.MovesenseDecoder("IMU9" if imu9 else "IMU6")
    out = d.feed_many(notes, list(range(len(notes))))
    assert len(out) == 12 and d.malformed_count == 0
    np.testing.assert_allclose(out.acc_m_s2, acc, rtol=1e-6, atol=1e-6)
    # deg/s on the wire, rad/s out: float32 of the deg/s value, scaled exactly.
    np.testing.assert_allclose(out.gyr_rad_s, gyr, rtol=1e-6, atol=1e-6)
    if imu9:
        assert out.mag_uT is not None
        np.testing.assert_allclose(out.mag_uT, mag, rtol=1e-6, atol=1e-6)
    assert out.sensor_time_s is not None
    # A frame holds its first sample's time in whole ms (unwrapped across 2**32); the other
    # samples follow at 1000/104 ms.
    rel_ms = (out.sensor_time_s - out.sensor_time_s[0]) * 1e3
    start_ms = np.rint(t_ms[0])
    np.testing.assert_allclose(rel_ms[::8], np.rint(t_ms[::8]) - start_ms, atol=1e-6)
    np.testing.assert_allclose(rel_ms, t_ms - start_ms, atol=0.5 + 1e-6)
