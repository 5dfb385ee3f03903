"""The .hsr format: round trip of every record type, damage recovery, versions, growing files."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from recording_helpers import metadata, synthetic_blocks, write_full_recording

from hipsense.body.calibration import Calibration
from hipsense.errors import InputFormatError
from hipsense.recording.format import (
    FILE_HEADER_SIZE,
    FORMAT_MAJOR,
    MAGIC,
    RecordType,
    SessionMetadata,
    encode_json,
    encode_record,
)
from hipsense.recording.reader import RecordingReader, read_all
from hipsense.recording.writer import RecordingWriter, append_records
from hipsense.types import Marker, RawNotification, SampleBlock, SensorEvent


def _by_kind(values):
    out: dict[str, list] = {}
    for v in values:
        out.setdefault(type(v).__name__, []).append(v)
    return out


def _concat_role(blocks, role):
    parts = [b for b in blocks if b.role == role]
    return (
        np.concatenate([p.time_s for p in parts]),
        np.concatenate([p.acc_m_s2 for p in parts]),
        np.concatenate([p.gyr_rad_s for p in parts]),
    )


def test_round_trip_every_record_type(full_recording):
    path, written = full_recording
    values, damage = read_all(path)
    assert damage.clean and damage.records_ok == len(values)
    kinds = _by_kind(values)
    meta = kinds["SessionMetadata"][0]
    assert meta.subject == "P01" and meta.software_version and meta.created_utc
    assert [s.role for s in meta.sensors] == ["pelvis", "thigh_left", "thigh_right"]
    assert meta.sensors[1].firmware == "1.2" and meta.sensors[1].battery_pct == 80.0
    assert meta.rates_hz() == {"pelvis": 100.0, "thigh_left": 100.0, "thigh_right": 100.0}
    assert kinds["Calibration"][0].to_dict() == written["calibration"].to_dict()
    assert kinds["Marker"] == written["markers"]
    assert kinds["SensorEvent"] == written["events"]
    raws = [n for batch in kinds["list"] for n in batch]
    assert raws == written["raw"]
    got = kinds["SampleBlock"]
    for role in ("pelvis", "thigh_left", "thigh_right"):
        for a, b in zip(
            _concat_role(got, role), _concat_role(written["samples"], role), strict=True
        ):
            assert np.array_equal(a, b)
    # bulk data is chunked (~0.5 s per record), not one record per call
    assert len(got) < len(written["samples"]) / 3


def test_records_keep_call_order(full_recording):
    path, _ = full_recording
    values, _ = read_all(path)
    marker_at = next(i for i, v in enumerate(values) if isinstance(v, Marker))
    before = [v for v in values[:marker_at] if isinstance(v, SampleBlock)]
    assert max(b.time_s[-1] for b in before) < 1.5  # marker written after ~1 s of data
    assert isinstance(values[0], SessionMetadata) and isinstance(values[1], Calibration)


def test_float32_and_compression_options(tmp_path):
    blocks = synthetic_blocks(3.0, mag=True)
    sizes = {}
    for name, kw in {
        "f8": {},
        "f4": {"sample_dtype": "<f4"},
        "f4z": {"sample_dtype": "<f4", "compress": True},
    }.items():
        p = tmp_path / f"{name}.hsr"
        with RecordingWriter(p, metadata(), flush_interval_s=None, **kw) as w:
            for b in blocks.values():
                w.add_samples(b)
        values, damage = read_all(p)
        assert damage.clean
        got = [v for v in values if isinstance(v, SampleBlock) and v.role == "pelvis"]
        acc = np.concatenate([g.acc_m_s2 for g in got])
        mag = np.concatenate([g.mag_uT for g in got])
        t = np.concatenate([g.time_s for g in got])
        assert np.array_equal(t, blocks["pelvis"].time_s)  # time always float64
        tol = 0 if name == "f8" else 1e-5
        assert np.allclose(acc, blocks["pelvis"].acc_m_s2, rtol=tol, atol=tol)
        assert np.allclose(mag, blocks["pelvis"].mag_uT, rtol=tol, atol=tol)
        sizes[name] = p.stat().st_size
    assert sizes["f4"] < 0.6 * sizes["f8"] and sizes["f4z"] <= sizes["f4"]


def _intact_offsets(path):
    with RecordingReader(path) as r:
        return [(rec.offset, rec.offset + 20 + len(rec.payload)) for rec in r.records()]


def test_truncated_at_many_offsets(tmp_path):
    src = tmp_path / "src.hsr"
    write_full_recording(src, duration_s=3.0)
    data = src.read_bytes()
    records = _intact_offsets(src)
    cut_points = sorted(
        set(np.linspace(0, len(data) - 1, 120).astype(int).tolist())
        | {a for a, _ in records}
        | {a + 7 for a, _ in records}
    )
    for cut in cut_points:
        p = tmp_path / "cut.hsr"
        p.write_bytes(data[:cut])
        with RecordingReader(p) as r:
            got = [rec.offset for rec in r.records()]
            damage = r.damage
        expected = [a for a, b in records if b <= cut]
        assert got == expected, cut
        assert not damage.damaged, cut
        complete = cut in {b for _, b in records} or cut == FILE_HEADER_SIZE
        assert (damage.incomplete is None) == complete or cut == 0, cut


def test_random_bit_flips_recover_every_intact_record(tmp_path):
    src = tmp_path / "src.hsr"
    write_full_recording(src, duration_s=3.0)
    data = src.read_bytes()
    records = _intact_offsets(src)
    rng = np.random.default_rng(1)
    for trial in range(150):
        buf = bytearray(data)
        flips = rng.integers(0, len(buf) * 8, size=int(rng.integers(1, 6)))
        for bit in flips:
            buf[bit // 8] ^= 1 << (bit % 8)
        p = tmp_path / "flip.hsr"
        p.write_bytes(bytes(buf))
        touched = {int(b) // 8 for b in flips}
        with RecordingReader(p) as r:
            values = list(r.items())
            got = {rec.offset for rec in r.records()}
            damage = r.damage
        untouched = [a for a, b in records if not any(a <= x < b for x in touched)]
        assert set(untouched) <= got, trial
        assert len(values) >= len(untouched)
        assert damage.damaged, trial  # every flip lands in a record or the header
        for a, b in damage.damaged:
            assert any(a <= x < b for x in touched)
        assert "damaged region" in damage.describe()


def test_damage_in_the_middle_is_reported_with_byte_ranges(tmp_path):
    src = tmp_path / "src.hsr"
    write_full_recording(src, duration_s=2.0)
    records = _intact_offsets(src)
    buf = bytearray(src.read_bytes())
    a, b = records[5]
    buf[a + 2] ^= 0xFF  # sync word
    c, d = records[9]
    buf[(c + d) // 2] ^= 0x01  # payload
    src.write_bytes(bytes(buf))
    with RecordingReader(src) as r:
        got = [rec.offset for rec in r.records()]
        assert r.damage.damaged == [(a, b), (c, d)]
        assert r.damage.damaged_count == 2
    assert got == [x for x, _ in records if x not in (a, c)]


def test_newer_version_is_refused_with_a_clear_message(tmp_path):
    p = tmp_path / "new.hsr"
    head = struct.pack("<8sHH", MAGIC, FORMAT_MAJOR + 1, 0)
    p.write_bytes(
        head
        + struct.pack("<I", zlib.crc32(head))
        + encode_record(RecordType.METADATA, encode_json({"sensors": []}))
    )
    with pytest.raises(InputFormatError, match=r"newer hipsense.*upgrade hipsense"):
        RecordingReader(p)


def test_newer_minor_version_and_unknown_records_are_skipped(tmp_path):
    p = tmp_path / "minor.hsr"
    head = struct.pack("<8sHH", MAGIC, FORMAT_MAJOR, 7)
    p.write_bytes(
        head
        + struct.pack("<I", zlib.crc32(head))
        + encode_record(RecordType.METADATA, encode_json({"sensors": []}))
        + encode_record(99, b"future stuff")  # type: ignore[arg-type]
        + encode_record(
            RecordType.MARKER, encode_json({"start_s": 1, "end_s": None, "exercise": "note"})
        )
    )
    values, damage = read_all(p)
    assert [type(v).__name__ for v in values] == ["SessionMetadata", "Marker"]
    assert damage.unknown_records == 1 and damage.clean


def test_not_a_recording(tmp_path):
    p = tmp_path / "x.hsr"
    p.write_text("time_s,role,acc_x\n1,2,3\n")
    with pytest.raises(InputFormatError, match="not a hipsense recording"):
        RecordingReader(p)


def test_reading_a_growing_file(tmp_path):
    p = tmp_path / "grow.hsr"
    blocks = synthetic_blocks(4.0)
    w = RecordingWriter(p, metadata(), flush_interval_s=None)
    r = RecordingReader(p)
    seen = []
    for step in range(4):
        for b in blocks.values():
            w.add_samples(b.slice(step * 100, (step + 1) * 100))
        w.flush()
        # a half-written record at the end, as if the writer were in the middle of a write
        partial = encode_record(
            RecordType.MARKER, encode_json({"start_s": 0, "end_s": None, "exercise": "note"})
        )[:13]
        with open(p, "ab") as fh:
            fh.write(partial)
        items = [v for v in r.items() if isinstance(v, SampleBlock)]
        assert r.damage.incomplete is not None and not r.damage.damaged
        seen.append(sum(len(b) for b in items))
        with open(p, "r+b") as fh:  # the writer's next write completes (here: replaces) it
            fh.truncate(p.stat().st_size - len(partial))
    w.close()
    assert seen == [300, 600, 900, 1200]
    r.close()


def test_reader_on_a_just_created_file(tmp_path):
    p = tmp_path / "empty.hsr"
    p.write_bytes(MAGIC[:5])
    with RecordingReader(p) as r:
        assert list(r.records()) == []
        assert r.damage.incomplete == (0, 5)


def test_append_summary_after_a_crash(tmp_path):
    p = tmp_path / "s.hsr"
    write_full_recording(p, duration_s=1.0)
    p.write_bytes(p.read_bytes()[:-10])  # crash mid-record
    append_records(p, RecordType.SUMMARY, {"rom_deg": 12.5})
    values, damage = read_all(p)
    assert values[-1] == {"rom_deg": 12.5}
    assert damage.clean


def test_writer_refuses_to_overwrite(tmp_path):
    p = tmp_path / "s.hsr"
    p.write_bytes(b"x")
    with pytest.raises(FileExistsError):
        RecordingWriter(p, metadata(), flush_interval_s=None)


def test_raw_notifications_of_several_sources(tmp_path):
    p = tmp_path / "raw.hsr"
    notes = [
        RawNotification(r, a, 10**9 + i * 7_000_000, bytes(range(i % 200)))
        for i, (r, a) in enumerate([("pelvis", "A"), ("thigh_left", "B")] * 300)
    ]
    with RecordingWriter(p, metadata(), flush_interval_s=None) as w:
        for n in notes:
            w.add_raw(n)
        w.add_event(SensorEvent("pelvis", "disconnected", 3.0, "lost"))
    values, damage = read_all(p)
    got = [n for v in values if isinstance(v, list) for n in v]
    assert got == notes and damage.clean
    assert sum(isinstance(v, list) for v in values) >= 4  # ~0.5 s per record
