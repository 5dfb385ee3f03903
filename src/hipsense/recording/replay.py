"""Replay a recording through the same pipeline objects as a live session.

:func:`session_items` turns the records of a file into what a live source produces, in the
recorded order: :class:`SampleBlock` (decoded samples as stored, or raw notifications decoded
again), :class:`Marker`, :class:`SensorEvent`, :class:`Calibration`. :func:`replay_recording`
feeds those blocks to a :class:`HipPipeline` one by one, as live would: the frames before the
first calibration record are buffered and flushed when it arrives; without any calibration
record the samples are collected and processed at the end exactly as ``hipsense process``
does (calibration, then fusion from the start with the thigh lever arms).
:class:`ReplaySource` paces the same items for the service (pause, resume, seek).

Raw notifications need the decoder/clock stage of the BLE layer. The replay imports it lazily:
``hipsense.sensors.stream.decode_raw(sensors)`` with ``sensors`` the metadata's sensor list
(dicts with ``role``, ``protocol``, ``address``, ``rate_hz``, ...), returning a callable that
takes a list of :class:`RawNotification` (in receive order) and returns the list of
:class:`SampleBlock` they complete. Until that module exists, replaying a raw-only recording
fails with a clear :class:`ConfigurationError`.
"""

from __future__ import annotations

import asyncio
import heapq
import importlib
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hipsense.body.calibration import Calibration
from hipsense.errors import CalibrationError, ConfigurationError, InputFormatError
from hipsense.pipeline import HipPipeline, estimate_rate_hz, process_session
from hipsense.recording.format import RecordType, SessionMetadata
from hipsense.recording.reader import DamageReport, RecordingReader
from hipsense.types import (
    AngleBlock,
    Marker,
    RawNotification,
    SampleBlock,
    SensorEvent,
    angle_columns,
)

SessionItem = SampleBlock | Marker | SensorEvent | Calibration
RawDecoder = Callable[[list[RawNotification]], list[SampleBlock]]


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


def load_raw_decoder(metadata: SessionMetadata) -> RawDecoder:
    """The BLE decoder/clock stage for this session's sensors (imported lazily).

    Uses ``hipsense.sensors.stream.decode_raw(sensors)`` when the module provides it, else one
    ``hipsense.sensors.stream.SensorStream`` per role (protocol, rate and the session's
    ``session_start_ns`` from the metadata). Events the decoders raise again (gaps, malformed
    packets) are dropped: the live session recorded its own.

    Raises
    ------
    ConfigurationError
        if the stream stage is not available in this installation, or the metadata lacks what
        it needs.
    """
    try:
        stream = importlib.import_module("hipsense.sensors.stream")
    except ImportError:
        raise ConfigurationError(
            "this recording holds raw BLE notifications, and decoding them needs the sensor "
            "stream stage (hipsense.sensors.stream), which this hipsense does not have yet; "
            "upgrade hipsense"
        ) from None
    decode_raw = getattr(stream, "decode_raw", None)
    if decode_raw is not None:
        decoder: RawDecoder = decode_raw([asdict(s) for s in metadata.sensors])
        return decoder
    if metadata.session_start_ns is None:
        raise ConfigurationError(
            "raw notifications without session_start_ns in the metadata: cannot place them on "
            "the session clock"
        )
    streams: dict[str, Any] = {}
    for sensor in metadata.sensors:
        if not sensor.rate_hz:
            raise ConfigurationError(f"{sensor.role}: the metadata has no rate for this sensor")
        streams[sensor.role] = stream.SensorStream(
            sensor.protocol, sensor.role, sensor.rate_hz, metadata.session_start_ns
        )

    def decode(notes: list[RawNotification]) -> list[SampleBlock]:
        out: list[SampleBlock] = []
        for role, sensor_stream in streams.items():
            mine = [n for n in notes if n.role == role]
            if mine:
                block, _events = sensor_stream.feed_many(
                    [n.data for n in mine], [n.host_time_ns for n in mine]
                )
                if len(block):
                    out.append(block)
        return out

    return decode


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
    decoder: RawDecoder | None = None
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
                    decoder = load_raw_decoder(metadata)
                notes = record.value()
                assert isinstance(notes, list)
                for block in decoder(notes):
                    yield record.offset, block
                continue
            value = record.value()
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
    """
    info = overview(path)
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


class ReplaySource:
    """A recording as a paced live source for the service (no web framework inside).

    Parameters
    ----------
    path : the ``.hsr`` file.
    speed : times real time; None = as fast as possible (unpaced).
    step_s : blocks are cut into pieces of at most this many seconds, and pieces of all
        sensors ending in the same ``step_s`` window are yielded together.

    Examples
    --------
    >>> source = ReplaySource("session.hsr", speed=1.0)  # doctest: +SKIP
    >>> async for items in source.stream():  # doctest: +SKIP
    ...     pipeline.process([i for i in items if isinstance(i, SampleBlock)])
    """

    LOOKAHEAD_S = 1.0

    def __init__(self, path: str | Path, speed: float | None = 1.0, step_s: float = 0.05) -> None:
        if speed is not None and not speed > 0:
            raise ConfigurationError(f"replay speed must be positive, got {speed}")
        self.path = Path(path)
        self.speed = speed
        self.step_s = step_s
        self.info = overview(self.path)
        self.duration_s = self.info.duration_s
        self.position_s = 0.0
        self._running = asyncio.Event()
        self._running.set()
        self._seek_to: float | None = None

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return not self._running.is_set()

    def pause(self) -> None:
        """Stop yielding until :meth:`resume`."""
        self._running.clear()

    def resume(self) -> None:
        """Continue after :meth:`pause` (pacing restarts from the current position)."""
        self._running.set()

    def seek(self, time_s: float) -> None:
        """Continue from session time ``time_s`` (forwards or backwards)."""
        self._seek_to = max(0.0, float(time_s))

    def _pieces(self, start_s: float) -> Iterator[tuple[float, int, SessionItem]]:
        """Items from ``start_s`` on, blocks cut into ``step_s`` pieces, roughly time-ordered."""
        counter = itertools.count()
        for _, item in session_items(self.path, self.info.bulk, self.info.metadata):
            if isinstance(item, SampleBlock):
                t = item.time_s
                first = int(np.searchsorted(t, start_s, side="left"))
                if first >= len(t):
                    continue
                k0 = np.floor(t[first] / self.step_s) + 1
                k1 = np.floor(t[-1] / self.step_s) + 2
                cuts = np.searchsorted(t, np.arange(k0, k1) * self.step_s, side="left")
                i = first
                for j in cuts.tolist():
                    if j > i:
                        piece = item.slice(i, j)
                        yield float(piece.time_s[-1]), next(counter), piece
                        i = j
            elif isinstance(item, Calibration) or item_time_s(item) >= start_s:
                yield max(item_time_s(item), start_s), next(counter), item

    def _ordered(self, start_s: float) -> Iterator[tuple[float, SessionItem]]:
        heap: list[tuple[float, int, SessionItem]] = []
        source = self._pieces(start_s)
        exhausted = False
        # How far the *samples* have been read: markers written up front (at the start of
        # the file, with later times) must not stop the reading of the samples before them.
        newest_s = -np.inf
        while True:
            while not exhausted and (not heap or newest_s - heap[0][0] < self.LOOKAHEAD_S):
                nxt = next(source, None)
                if nxt is None:
                    exhausted = True
                else:
                    heapq.heappush(heap, nxt)
                    if isinstance(nxt[2], SampleBlock):
                        newest_s = max(newest_s, nxt[0])
            if not heap:
                return
            t, _, item = heapq.heappop(heap)
            yield t, item

    async def stream(self) -> AsyncIterator[list[Any]]:
        """Lists of items (SampleBlock, Marker, SensorEvent, Calibration) paced at ``speed``.

        Each list holds the pieces ending in one ``step_s`` window; it ends at the end of the
        recording.
        """
        start_s = 0.0
        self.position_s = 0.0  # a stream started again plays from the beginning
        while True:
            restart = False
            wall0 = time.perf_counter()
            data0 = start_s
            group: list[Any] = []
            group_window: float | None = None
            for t, item in self._ordered(start_s):
                window = np.floor(max(t, 0.0) / self.step_s)
                if group and window != group_window:
                    yield group
                    group = []
                group_window = window
                group.append(item)
                if self._seek_to is not None:
                    start_s, self._seek_to = self._seek_to, None
                    self.position_s = start_s
                    restart = True
                    break
                if not self._running.is_set():
                    await self._running.wait()
                    wall0 = time.perf_counter()
                    data0 = self.position_s
                if self.speed is not None:
                    delay = (t - data0) / self.speed - (time.perf_counter() - wall0)
                    if delay > 0:
                        await asyncio.sleep(delay)
                else:
                    await asyncio.sleep(0)
                self.position_s = max(self.position_s, t)
            if restart:
                continue
            if group:
                yield group
            return
