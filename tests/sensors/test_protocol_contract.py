"""Contract every decoder honours: no input raises, bytes are accounted for, splits don't matter."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hipsense.sensors.protocols import (
    SPECS,
    identify,
    movella_dot,
    movesense,
    open_profile,
    thingy52,
    witmotion,
)
from hipsense.sensors.protocols.base import DecodedSamples, ProtocolDecoder

RNG = np.random.default_rng(1)
ACC = RNG.normal(0, 9.81, (6, 3))
GYR = RNG.normal(0, 2.0, (6, 3))

DECODERS: dict[str, Callable[[], ProtocolDecoder]] = {
    "witmotion": witmotion.WitMotionDecoder,
    "open_profile": open_profile.OpenProfileDecoder,
    "thingy52": thingy52.Thingy52Decoder,
    "movella_dot": movella_dot.MovellaDotDecoder,
    "movesense": movesense.MovesenseDecoder,
}

STREAMS: dict[str, list[bytes]] = {
    "witmotion": [witmotion.encode_records(ACC, GYR)],
    "open_profile": open_profile.encode_samples(ACC, GYR, 7, 1000, 10_000.0, samples_per_frame=3),
    "thingy52": thingy52.encode_raw(ACC, GYR),
    "movella_dot": movella_dot.encode_payloads(np.arange(6) * 16_667, ACC, GYR),
    "movesense": movesense.encode_frames(np.arange(6) * 1000 / 104, ACC, GYR, samples_per_frame=3),
}


def _feed_all(decoder: ProtocolDecoder, pieces: list[bytes]) -> DecodedSamples:
    return DecodedSamples.concat([decoder.feed(p, i) for i, p in enumerate(pieces)])


def _accounted(d: ProtocolDecoder) -> bool:
    return d.bytes_received == d.bytes_accepted + d.bytes_discarded + d.pending_bytes


@pytest.mark.parametrize("name", DECODERS)
@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.binary(max_size=300), max_size=8))
def test_arbitrary_bytes_never_raise_and_are_accounted(name: str, chunks: list[bytes]) -> None:
    d = DECODERS[name]()
    out = _feed_all(d, chunks)
    assert out.acc_m_s2.shape == (len(out), 3)
    assert _accounted(d)
    assert d.records_decoded == len(out)


@pytest.mark.parametrize("name", DECODERS)
def test_garbage_is_counted_as_malformed(name: str) -> None:
    d = DECODERS[name]()
    d.feed(bytes(range(7, 250, 3)), 0)  # 81 bytes, not a record length of any format
    d.feed(b"\x02" * 5, 1)
    d.feed(b"\x03" * 300, 2)
    assert d.malformed_count >= 1 and d.bytes_discarded > 0
    assert d.last_error
    assert _accounted(d)


def _split(name: str, note: bytes, cut: int) -> list[bytes]:
    if name == "movesense":  # GSP splits a frame its own way: DATA, then DATA_PART2
        return [note[:cut], bytes([movesense.PACKET_DATA_PART2, note[1]]) + note[cut:]]
    return [note[:cut], note[cut:]]


# GSP frames say nothing of their sample count: the split test tells the decoder the frame size.
SPLIT_DECODERS = {**DECODERS, "movesense": lambda: movesense.MovesenseDecoder(samples_per_frame=3)}


@pytest.mark.parametrize("name", DECODERS)
def test_split_at_every_byte_boundary_decodes_identically(name: str) -> None:
    whole = _feed_all(DECODERS[name](), STREAMS[name])
    assert len(whole) == 6
    stream = b"".join(STREAMS[name])
    record = len(stream) if name == "witmotion" else len(STREAMS[name][0])
    for cut in range(2 if name == "movesense" else 1, record):
        pieces: list[bytes] = []
        for note in STREAMS[name] if name != "witmotion" else [stream]:
            pieces += _split(name, note, cut)
        split = _feed_all(SPLIT_DECODERS[name](), pieces)
        np.testing.assert_array_equal(split.acc_m_s2, whole.acc_m_s2, err_msg=f"cut {cut}")
        np.testing.assert_array_equal(split.gyr_rad_s, whole.gyr_rad_s)
        if whole.sensor_time_s is not None:
            assert split.sensor_time_s is not None
            np.testing.assert_array_equal(split.sensor_time_s, whole.sensor_time_s)


@pytest.mark.parametrize("name", DECODERS)
def test_feed_many_equals_feed(name: str) -> None:
    notes = (
        STREAMS[name] * 3
        if name != "witmotion"
        else witmotion.split_notifications(b"".join(STREAMS[name]) * 3, 30)
    )
    if name == "open_profile":
        notes = open_profile.encode_samples(
            np.tile(ACC, (3, 1)), np.tile(GYR, (3, 1)), 65534, 2**32 - 20_000, 10_000.0, 4
        )
    hosts = list(range(100, 100 + len(notes)))
    d_one = DECODERS[name]()
    one = DecodedSamples.concat([d_one.feed(n, h) for n, h in zip(notes, hosts, strict=True)])
    d_many = DECODERS[name]()
    many = d_many.feed_many(notes, hosts)
    np.testing.assert_array_equal(many.acc_m_s2, one.acc_m_s2)
    np.testing.assert_array_equal(many.host_time_ns, one.host_time_ns)
    if one.sensor_time_s is not None:
        np.testing.assert_array_equal(many.sensor_time_s, one.sensor_time_s)
    assert d_many.records_decoded == d_one.records_decoded == len(one)
    assert _accounted(d_many)


@pytest.mark.parametrize(
    ("name", "uuids", "expected"),
    [
        ("WT901BLE68", [], "witmotion"),
        (None, [witmotion.SERVICE_UUID], "witmotion"),
        ("Movella DOT", [], "movella_dot"),
        ("Xsens DOT", [], "movella_dot"),
        (None, [movella_dot.MEASUREMENT_SERVICE_UUID.upper()], "movella_dot"),
        ("Thingy", [], "thingy52"),
        (None, [thingy52.MOTION_SERVICE_UUID], "thingy52"),
        ("Movesense 174630000192", [], "movesense"),
        (None, [movesense.SERVICE_UUID], "movesense"),
        ("hipsense-pelvis", [], "open_profile"),
        ("whatever", [open_profile.SERVICE_UUID], "open_profile"),
    ],
)
def test_identify_recognises_each_vendor(name: str | None, uuids: list[str], expected: str) -> None:
    spec = identify(name, uuids)
    assert spec is not None and spec.name == expected


def test_identify_rejects_others_and_the_9b_short_form() -> None:
    assert identify("Heart Rate Belt", ["180d"]) is None
    assert identify(None, []) is None
    # "ffe5" on the SIG base (...9b34fb) is NOT the WitMotion service (...9a34fb).
    assert identify(None, ["ffe5"]) is None


def test_specs_are_complete() -> None:
    for spec in SPECS.values():
        assert spec.default_rate_hz in spec.supported_rates_hz
        assert spec.start_commands(spec.default_rate_hz)
        assert all(u == u.lower() and len(u) == 36 for u in spec.service_uuids)
        assert isinstance(spec.new_decoder(), ProtocolDecoder)
