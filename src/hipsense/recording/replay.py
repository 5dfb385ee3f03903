"""Replay a recording through the same pipeline objects as a live session.

:func:`session_items` turns the records of a file into what a live source produces, in the
recorded order: :class:`SampleBlock` (decoded samples as stored, or raw notifications decoded
again), :class:`Marker`, :class:`SensorEvent`, :class:`Calibration`. :func:`replay_recording`
feeds those blocks to a :class:`HipPipeline` one by one, as live would: the frames before the
first calibration record are buffered and flushed when it arrives; without any calibration
record the samples are collected and processed at the end exactly as ``hipsense process``
does (calibration, then fusion from the start with the thigh lever arms).
:class:`hipsense.sources.replay.ReplaySource` paces the same items for the service.

Raw notifications are decoded again by the live decoding stage
(:class:`~hipsense.sensors.stream.StreamDecoder`), with its decoder reset at every recorded
connection start, so the samples are the live session's, across reconnections too.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hipsense.body.calibration import Calibration
from hipsense.errors import CalibrationError, ConfigurationError, InputFormatError
from hipsense.pipeline import HipPipeline, estimate_rate_hz, process_session
from hipsense.recording.format import (
    CONNECTION_START,
    RecordType,
    SessionMetadata,
    connection_start,
)
from hipsense.recording.reader import DamageReport, RecordingReader
from hipsense.sensors.stream import SensorStream, StreamDecoder
from hipsense.types import (
    AngleBlock,
    Marker,
    SampleBlock,
    SensorEvent,
    angle_columns,
)

SessionItem = SampleBlock | Marker | SensorEvent | Calibration


@dataclass
class RecordingOverview:
    """What a quick pass over a recording finds (used to set up a replay).

    ``bulk`` is ``"samples"`` or ``"raw"``: which kind of bulk record the replay will use.
    """

    metadata: SessionMetadata
    rates_hz: dict[str, float]
    bulk: str
    has_calibration: bool
    duration_s: float
    file_bytes: int
    damage: DamageReport


def raw_decoder(metadata: SessionMetadata) -> StreamDecoder:
    """The live decoding stage for this session's sensors: one
    :class:`~hipsense.sensors.stream.SensorStream` per role (protocol and rate from the
    metadata, on the clock of its ``session_start_ns``), fed in receive order with the recorded
    connection starts, as :class:`~hipsense.sensors.ble.BleSession` fed it live. Events the
    streams raise again (gaps, malformed packets) are dropped by the caller: the live session
    recorded its own.

    Raises
    ------
    ConfigurationError
        when the metadata lacks what the stage needs.
    """
    if metadata.session_start_ns is None:
        raise ConfigurationError(
            "raw notifications without session_start_ns in the metadata: cannot place them on "
            "the session clock"
        )
    decoder = StreamDecoder()
    for sensor in metadata.sensors:
        if not sensor.rate_hz:
            raise ConfigurationError(f"{sensor.role}: the metadata has no rate for this sensor")
        decoder.add(
            SensorStream(sensor.protocol, sensor.role, sensor.rate_hz, metadata.session_start_ns)
        )
    return decoder


def overview(path: str | Path) -> RecordingOverview:
    """One streaming pass: metadata, bulk kind, rates, calibration presence, duration."""
    metadata: SessionMetadata | None = None
    kinds: set[int] = set()
    first_block: dict[str, SampleBlock] = {}
    t_min, t_max = np.inf, -np.inf
    raw_t: list[int] = []
    with RecordingReader(path) as reader:
        for record in reader.records():
            kinds.add(record.kind)
            if record.kind == RecordType.METADATA and metadata is None:
                value = record.value()
                assert isinstance(value, SessionMetadata)
                metadata = value
            elif record.kind == RecordType.SAMPLES:
                head = _bundle_head(record.payload)
                if head["role"] not in first_block:
                    block = record.value()
                    assert isinstance(block, SampleBlock)
                    first_block[block.role] = block
                t_min = min(t_min, float(head["t0_s"]))
                t_max = max(t_max, float(head["t1_s"]))
            elif record.kind == RecordType.RAW and len(raw_t) < 2:
                notes = record.value()
                assert isinstance(notes, list)
                if notes:
                    raw_t = [notes[0].host_time_ns, notes[-1].host_time_ns]
            elif record.kind == RecordType.RAW and raw_t:
                raw_t[1] = _last_raw_time_ns(record.payload, raw_t[1])
        damage = reader.damage
    if metadata is None:
        raise InputFormatError(f"{path}: no intact session metadata record")
    has_raw = RecordType.RAW in kinds
    has_samples = RecordType.SAMPLES in kinds
    if has_samples:
        bulk = "samples"
    elif has_raw:
        bulk = "raw"
    else:
        raise InputFormatError(f"{path}: the recording holds no samples")
    rates = metadata.rates_hz()
    if bulk == "samples":
        for role, block in first_block.items():
            if role not in rates:
                rates[role] = estimate_rate_hz(block)
        rates = {r: v for r, v in rates.items() if r in first_block}
        duration = t_max - t_min
    else:
        duration = (raw_t[1] - raw_t[0]) / 1e9 if raw_t else 0.0
    return RecordingOverview(
        metadata,
        rates,
        bulk,
        RecordType.CALIBRATION in kinds,
        float(duration),
        os.path.getsize(path),
        damage,
    )


def _bundle_head(payload: bytes) -> dict[str, Any]:
    """The JSON header of an array bundle, without decoding the arrays."""
    n = int.from_bytes(payload[:4], "little")
    head: dict[str, Any] = json.loads(payload[4 : 4 + n])
    return head


def _last_raw_time_ns(payload: bytes, default: int) -> int:
    return int(_bundle_head(payload).get("t1_ns", default))


def session_items(
    path: str | Path, bulk: str = "samples", metadata: SessionMetadata | None = None
) -> Iterator[tuple[int, SessionItem]]:
    """``(byte offset, item)`` of every session item in recorded order.

    ``bulk`` selects decoded samples (``"samples"``) or raw notifications decoded again
    (``"raw"``, needs :func:`load_raw_decoder`); records of the other bulk kind are skipped.
    """
    decoder: StreamDecoder | None = None
    with RecordingReader(path) as reader:
        for record in reader.records():
            kind = record.kind
            if kind in (RecordType.METADATA, RecordType.SUMMARY):
                if kind == RecordType.METADATA and metadata is None:
                    meta = record.value()
                    assert isinstance(meta, SessionMetadata)
                    metadata = meta
                continue
            if kind == RecordType.SAMPLES:
                if bulk == "samples":
                    block = record.value()
                    assert isinstance(block, SampleBlock)
                    yield record.offset, block
                continue
            if kind == RecordType.RAW:
                if bulk != "raw":
                    continue
                if decoder is None:
                    if metadata is None:
                        raise InputFormatError(f"{path}: raw data before the session metadata")
                    decoder = raw_decoder(metadata)
                notes = record.value()
                assert isinstance(notes, list)
                for block in decoder.decode(notes)[0]:
                    yield record.offset, block
                continue
            value = record.value()
            if isinstance(value, SensorEvent) and value.kind == CONNECTION_START:
                # A new connection of a sensor begins here (the writer sealed the raw data
                # before it): its decoder forgets partial packets, as live.
                if bulk == "raw" and decoder is not None:
                    decoder.decode([connection_start(value)])
                continue
            assert isinstance(value, Marker | SensorEvent | Calibration)
            yield record.offset, value


@dataclass
class ReplayResult:
    """Outcome of :func:`replay_recording`.

    ``angles`` is empty when ``keep_angles`` was False (angles went to ``on_angles`` only);
    ``calibration_source`` is ``"recording"`` or ``"auto"``.
    """

    columns: list[str]
    calibration: Calibration
    calibration_source: str
    angles: AngleBlock
    frames: int
    samples: int
    duration_s: float
    markers: list[Marker] = field(default_factory=list)
    events: list[SensorEvent] = field(default_factory=list)
    damage: DamageReport = field(default_factory=DamageReport)


def replay_recording(
    path: str | Path,
    speed: float | None = None,
    method: str = "vqf",
    on_angles: Callable[[AngleBlock], None] | None = None,
    progress: Callable[[float], None] | None = None,
    keep_angles: bool = True,
    group_max_samples: int = 3000,
    bulk: str | None = None,
) -> ReplayResult:
    """Run a recording through a :class:`HipPipeline`, block by block, as live would.

    Parameters
    ----------
    path : the ``.hsr`` file.
    speed : times real time (1.0 = as recorded); None = as fast as possible.
    method : orientation filter.
    on_angles : called with each non-empty block of new angles, in time order.
    progress : called with the fraction of the file done (0-1).
    keep_angles : also return every angle in :attr:`ReplayResult.angles`.
    group_max_samples : unpaced, up to this many samples (all sensors) are passed to one
        ``process`` call; 1 feeds every record on its own.
    bulk : ``"samples"`` (the decoded samples as stored; the default when there are any) or
        ``"raw"`` (the raw notifications decoded again by the live decoding stage).
    """
    info = overview(path)
    if bulk is not None:
        if bulk not in ("samples", "raw"):
            raise ConfigurationError(f"bulk must be 'samples' or 'raw', got {bulk!r}")
        info.bulk = bulk
    roles = list(info.rates_hz)
    pipe = HipPipeline(info.rates_hz, method=method, buffer_limit_s=np.inf)
    columns = angle_columns(roles)
    kept: list[AngleBlock] = []
    markers: list[Marker] = []
    events: list[SensorEvent] = []
    frames = 0
    samples = 0
    calibration_source = "recording" if info.has_calibration else "auto"
    collected: dict[str, list[SampleBlock]] = {}
    wall0 = time.perf_counter()
    data0: float | None = None

    def emit(block: AngleBlock) -> None:
        nonlocal frames
        if len(block) == 0:
            return
        frames += len(block)
        if keep_angles:
            kept.append(block)
        if on_angles is not None:
            on_angles(block)

    last_progress = -1.0
    # Unpaced, consecutive blocks go to the pipeline together (still in recorded order): the
    # stages give the same output for any block sizes, with less per-call overhead.
    group: list[SampleBlock] = []
    group_samples = 0

    def feed_group() -> None:
        nonlocal group_samples
        if group:
            emit(pipe.process(group))
            group.clear()
            group_samples = 0

    def pace(block: SampleBlock) -> None:
        """Sleep until ``block``'s last sample is due at ``speed`` (nothing when unpaced)."""
        nonlocal data0
        if speed is None:
            return
        data0 = float(block.time_s[0]) if data0 is None else data0
        delay = (float(block.time_s[-1]) - data0) / speed - (time.perf_counter() - wall0)
        if delay > 0:
            time.sleep(delay)

    for offset, item in session_items(path, info.bulk, info.metadata):
        if progress is not None and info.file_bytes:
            fraction = offset / info.file_bytes
            if fraction - last_progress >= 0.01:
                progress(fraction)
                last_progress = fraction
        if isinstance(item, SampleBlock):
            if item.role not in pipe.filters or len(item) == 0:
                continue
            samples += len(item)
            if calibration_source == "auto":
                collected.setdefault(item.role, []).append(item)
                pace(item)  # keep the pace, though nothing shows before the end
            elif speed is None:
                group.append(item)
                group_samples += len(item)
                if group_samples >= group_max_samples:
                    feed_group()
            else:
                pace(item)
                emit(pipe.process(item))
            continue
        feed_group()
        if isinstance(item, Calibration):
            first = pipe.kinematics_ is None
            pipe.set_calibration(item)
            if first:
                emit(pipe.flush())
        elif isinstance(item, Marker):
            markers.append(item)
        else:
            events.append(item)
    feed_group()
    if calibration_source == "auto":
        if not collected:
            raise CalibrationError("no samples to calibrate from in the recording")
        batch = process_session(
            {r: SampleBlock.concat(b) for r, b in collected.items()},
            method=method,
            rates_hz=info.rates_hz,
        )
        pipe.set_calibration(batch.calibration)
        emit(batch.angles)
    elif pipe.calibration_ is None:
        pipe.calibrate()
        emit(pipe.flush())
    if progress is not None:
        progress(1.0)
    assert pipe.calibration_ is not None
    angles = (
        AngleBlock.concat(kept)
        if kept
        else AngleBlock(np.zeros(0), {c: np.zeros(0) for c in columns})
    )
    return ReplayResult(
        columns,
        pipe.calibration_,
        calibration_source,
        angles,
        frames,
        samples,
        info.duration_s,
        markers,
        events,
        info.damage,
    )


def smooth_recording(path: str | Path, method: str = "vqf") -> ReplayResult:
    """A finished recording's angles from whole-session smoothing (the default of ``analyze``,
    ``report`` and ``export``; :func:`replay_recording` gives the live numbers).

    Each sensor's samples are fused forward and backward over the whole recording
    (:meth:`HipPipeline.smooth`). The recording's own calibration is used (from its start; a
    recording calibrated again later uses each calibration from the time it was stored), or,
    without one, a calibration found in the data as ``hipsense process`` does.
    """
    info = overview(path)
    roles = list(info.rates_hz)
    collected: dict[str, list[SampleBlock]] = {}
    markers: list[Marker] = []
    events: list[SensorEvent] = []
    calibrations: list[tuple[float, Calibration]] = []
    last_s = -np.inf
    samples = 0
    for _, item in session_items(path, info.bulk, info.metadata):
        if isinstance(item, SampleBlock):
            if item.role in info.rates_hz and len(item):
                collected.setdefault(item.role, []).append(item)
                samples += len(item)
                last_s = max(last_s, float(item.time_s[-1]))
        elif isinstance(item, Calibration):
            calibrations.append((last_s, item))
        elif isinstance(item, Marker):
            markers.append(item)
        else:
            events.append(item)
    if not collected:
        raise CalibrationError("no samples to calibrate from in the recording")
    whole = {r: SampleBlock.concat(b) for r, b in collected.items()}
    columns = angle_columns(roles)
    if not calibrations:
        batch = process_session(whole, method=method, rates_hz=info.rates_hz)
        return ReplayResult(
            columns,
            batch.calibration,
            "auto",
            batch.angles,
            len(batch.angles),
            samples,
            info.duration_s,
            markers,
            events,
            info.damage,
        )
    parts: list[AngleBlock] = []
    for k, (_, cal) in enumerate(calibrations):
        angles = process_session(
            whole, method=method, rates_hz=info.rates_hz, calibration=cal
        ).angles
        # Each calibration holds from its arrival (the first from the start) to the next one.
        lo = -np.inf if k == 0 else calibrations[k][0]
        hi = np.inf if k + 1 == len(calibrations) else calibrations[k + 1][0]
        keep = (angles.time_s > lo) & (angles.time_s <= hi)
        parts.append(
            AngleBlock(angles.time_s[keep], {c: v[keep] for c, v in angles.columns.items()})
        )
    angles = AngleBlock.concat(parts)
    return ReplayResult(
        columns,
        calibrations[-1][1],
        "recording",
        angles,
        len(angles),
        samples,
        info.duration_s,
        markers,
        events,
        info.damage,
    )


def item_time_s(item: SessionItem) -> float:
    """Session time an item belongs to (a block: its last sample)."""
    if isinstance(item, SampleBlock):
        return float(item.time_s[-1])
    if isinstance(item, Marker):
        return item.start_s
    if isinstance(item, SensorEvent):
        return item.time_s
    return -np.inf  # a calibration applies from where it is
