"""Open profile: documented layout, MTU fit, timestamp wrap, sequence gaps, round trip."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hipsense.sensors.protocols import open_profile as op
from hipsense.sensors.protocols.base import DecodedSamples

G = 9.80665


def _frame(seq: int, t0_us: int, rate_code: int, samples: list[tuple[int, ...]]) -> bytes:
    """A frame written from firmware_notes/open_profile.md, independent of the encoder."""
    header = struct.pack("<BHIB", 1, seq, t0_us, len(samples) | (rate_code << 5))
    return header + b"".join(struct.pack("<6h", *s) for s in samples)


def test_hand_built_frame_decodes_to_physical_values() -> None:
    note = _frame(0x1234, 1_000_000, 2, [(2048, 0, 0, 0, 16384, 0), (0, 0, -2048, 0, 0, -164)])
    d = op.OpenProfileDecoder()
    out = d.feed(note, 99)
    np.testing.assert_allclose(out.acc_m_s2, [[G, 0, 0], [0, 0, -G]])
    np.testing.assert_allclose(out.gyr_rad_s[0], np.radians([0, 1000, 0]))
    np.testing.assert_allclose(out.gyr_rad_s[1, 2], np.radians(-164 * 2000 / 32768))
    np.testing.assert_allclose(out.sensor_time_s, [1.0, 1.01])  # rate code 2 = 100 Hz
    assert out.seq is not None and out.seq.tolist() == [0x1234, 0x1234]
    assert out.host_time_ns.tolist() == [99, 99]


def test_fits_mtu_23_and_dle_notifications() -> None:
    assert op.samples_per_notification(23) == 1
    assert op.samples_per_notification(247) == 19
    acc = np.zeros((40, 3))
    frames = op.encode_samples(acc, acc, 0, 0, 2500.0, samples_per_frame=1)
    assert {len(f) for f in frames} == {20}
    frames = op.encode_samples(acc, acc, 0, 0, 2500.0)
    assert max(len(f) for f in frames) == 236 <= 244


def test_timestamp_and_sequence_wrap_around_unwrap() -> None:
    d = op.OpenProfileDecoder()
    t0 = 2**32 - 15_000  # wraps inside the second frame
    out = DecodedSamples.concat(
        [
            d.feed(_frame(65535, t0, 2, [(0,) * 6] * 1), 0),
            d.feed(_frame(0, t0 + 10_000, 2, [(0,) * 6] * 2), 1),
            d.feed(_frame(1, (t0 + 30_000) % 2**32, 2, [(0,) * 6] * 1), 2),
        ]
    )
    assert out.sensor_time_s is not None and out.seq is not None
    np.testing.assert_allclose(np.diff(out.sensor_time_s), 0.01, atol=1e-9)
    assert out.seq.tolist() == [65535, 65536, 65536, 65537]
    assert d.gap_count == 0


def test_sequence_gaps_are_reported() -> None:
    acc = np.zeros((10, 3))
    frames = op.encode_samples(acc, acc, 65533, 0, 5000.0, samples_per_frame=2)
    d = op.OpenProfileDecoder()
    for i in (0, 1, 3, 4):  # frame 2 (seq 65535) lost
        d.feed(frames[i], i)
    assert d.gap_count == 1 and d.notifications_lost == 1
    gap = d.gaps[0]
    assert (gap.expected_seq, gap.received_seq, gap.notifications_lost) == (65535, 0, 1)
    assert gap.sensor_time_s == pytest.approx(0.03)
    assert d.last_error and "gap" in d.last_error
    # The batch path reports the same.
    d2 = op.OpenProfileDecoder()
    d2.feed_many([frames[i] for i in (0, 1, 3, 4)], [0, 1, 3, 4])
    assert d2.gap_count == 1 and d2.notifications_lost == 1


def test_pending_fragment_is_dropped_when_a_whole_frame_arrives() -> None:
    good = _frame(1, 0, 0, [(1, 2, 3, 4, 5, 6)])
    d = op.OpenProfileDecoder()
    assert len(d.feed(good[:11], 0)) == 0
    out = d.feed(_frame(2, 40_000, 0, [(1, 2, 3, 4, 5, 6)]), 1)
    assert len(out) == 1 and d.bytes_discarded == 11


def test_commands_and_status() -> None:
    assert op.command_start() == b"\x01" and op.command_stop() == b"\x02"
    assert op.command_set_rate(200) == bytes([0x03, 0xC8, 0x00])
    assert op.command_set_max_samples(5) == bytes([0x04, 5])
    assert op.parse_command(bytes([0x03, 0x90, 0x01])) == ("rate", 400)
    with pytest.raises(ValueError):
        op.command_set_rate(300)
    writes = op.SPEC.start_commands(100)
    assert [w.data for w in writes] == [bytes([3, 100, 0]), b"\x01"]
    status = op.OpenProfileStatus(1, True, 100, 9_990_000, 16, 2000)
    assert op.parse_status(op.encode_status(status)) == status
    assert len(op.encode_status(status)) == 12
    assert op.SERVICE_UUID == "80e21000-22a2-49a1-b0c8-1e63d6fd335a"


@settings(max_examples=60, deadline=None)
@given(
    acc=arrays(
        np.float64,
        st.tuples(st.integers(1, 50), st.just(3)),
        elements=st.floats(-15.9 * G, 15.9 * G),
    ),
    seq=st.integers(0, 65535),
    t0=st.integers(0, 2**32 - 1),
    code=st.sampled_from(sorted(op.RATE_CODE_HZ)),
    per_frame=st.integers(1, 19),
)
def test_round_trip_within_quantisation(
    acc: np.ndarray, seq: int, t0: int, code: int, per_frame: int
) -> None:
    gyr = acc / G * 2.0  # within +-34.9 rad/s
    period_us = 1e6 / op.RATE_CODE_HZ[code]
    frames = op.encode_samples(acc, gyr, seq, t0, period_us, per_frame)
    d = op.OpenProfileDecoder()
    out = DecodedSamples.concat([d.feed(f, i) for i, f in enumerate(frames)])
    assert len(out) == acc.shape[0]
    assert np.all(np.abs(out.acc_m_s2 - acc) <= op.ACC_M_S2_PER_LSB / 2 + 1e-9)
    assert np.all(np.abs(out.gyr_rad_s - gyr) <= op.GYR_RAD_S_PER_LSB / 2 + 1e-12)
    assert out.sensor_time_s is not None
    expected = t0 * 1e-6 + np.arange(acc.shape[0]) * period_us * 1e-6
    np.testing.assert_allclose(out.sensor_time_s, expected, atol=1e-6)
    assert d.gap_count == 0 and d.malformed_count == 0
