"""The live session: source -> pipeline -> fan-out to clients and recorders.

::

    source.stream() ─► LiveSession.ingest ─► HipPipeline ─► analyzers ─┬─► Subscription (client)
                        │  device status      │ guided calibration     └─► RecorderFeed (recorder)
                        └─ sensor events, markers ────────────────────────► (same fan-out)

Nothing here knows about HTTP: the API wraps a :class:`LiveSession`. Clients receive JSON text
messages (encoded once, shared by every client) through a bounded :class:`Subscription`; a
slow client loses its own oldest messages and never slows the pipeline, the other clients or
the recorders. Recorders get the items themselves through their own, much larger, queue and
write them from a worker thread.

Message types sent to clients (all JSON objects with a ``type``):

``frames``   angle frames decimated to ``client_rate_hz``: ``t`` (session s), ``c`` (column ->
             values, degrees, including thigh inclination), ``seq``, ``rx_ns`` (host time the
             completing samples arrived, ns since the epoch).
``calibration``  the guided calibration's status (see :meth:`GuidedCalibration.status`).
``sensor``   a sensor event (connected, disconnected, battery, gap, ...).
``marker``   a marker added by the source, the user or an exercise protocol.
``analysis`` an event produced by an analyzer (hold state, ROM result, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hipsense.body.calibration import Calibration
from hipsense.body.guided import GuidedCalibration
from hipsense.errors import CalibrationError, HipsenseError
from hipsense.pipeline import HipPipeline
from hipsense.recording.sessions import RecordItem
from hipsense.refine import REFINE_HISTORY_S
from hipsense.sources import LiveSource, Seeking, SourceItem, StatusReporting
from hipsense.types import (
    AnalysisEvent,
    AngleBlock,
    ConnectionStart,
    DeviceStatus,
    Marker,
    RawNotification,
    SampleBlock,
    SensorEvent,
    marker_dict,
)

log = logging.getLogger(__name__)


class Analyzer(Protocol):
    """An exercise analyzer fed with every calibrated angle block.

    ``process`` returns JSON-ready event dicts (e.g. ``{"kind": "hold", "state": "in_band"}``);
    each is sent to clients as an ``analysis`` message and kept in :attr:`LiveSession.results`.
    ``finish`` is called once, when the source ends or the session stops; its events go the
    same way.
    """

    def process(self, angles: AngleBlock) -> list[dict[str, Any]]:
        """Events caused by ``angles`` (empty list when nothing happened)."""
        ...

    def finish(self) -> list[dict[str, Any]]:
        """Events at the end of the stream (what was still under way, as it stands)."""
        ...


@runtime_checkable
class SensorListener(Protocol):
    """An analyzer that also hears the sensor events (connected, disconnected, gap...)."""

    def sensor_event(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Messages caused by a ``{"type": "sensor", "role", "kind", ...}`` event."""
        ...


class Recorder(Protocol):
    """A consumer of every item, written from a worker thread (never on the event loop)."""

    def write_batch(self, batch: Sequence[RecordItem]) -> None:
        """Write items in order: the source's own (samples, raw notifications, connection
        starts, sensor events with their own times, markers, a replay's calibration) and the
        session's (calibrations, angles, analysis results, markers)."""
        ...


class SubscriptionClosedError(Exception):
    """The client's subscription was closed (the session stopped or the client left)."""


class Subscription:
    """A bounded queue of encoded messages for one client; full means drop the oldest.

    Attributes
    ----------
    maxlen : capacity in messages.
    dropped : messages this client lost because it did not keep up.
    delivered : messages taken by the client.
    """

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self._queue: deque[str] = deque()
        self._ready = asyncio.Event()
        self.dropped = 0
        self.delivered = 0
        self.closed = False

    def put(self, message: str) -> None:
        """Queue ``message``; a full queue drops its oldest message."""
        if len(self._queue) >= self.maxlen:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(message)
        self._ready.set()

    async def get(self) -> str:
        """The oldest queued message, waiting for one."""
        while not self._queue:
            if self.closed:
                raise SubscriptionClosedError
            self._ready.clear()
            await self._ready.wait()
        self.delivered += 1
        return self._queue.popleft()

    def close(self) -> None:
        """Wake a waiting :meth:`get` so its client can end."""
        self.closed = True
        self._ready.set()

    def __len__(self) -> int:
        return len(self._queue)


class RecorderFeed:
    """The bounded queue and worker task of one recorder."""

    def __init__(self, recorder: Recorder, maxlen: int) -> None:
        self.recorder = recorder
        self.maxlen = maxlen
        self._queue: deque[RecordItem] = deque()
        self._ready = asyncio.Event()
        self.dropped = 0
        self.error: str | None = None
        self.task: asyncio.Task[None] | None = None

    def put(self, item: RecordItem) -> None:
        """Queue one item (drops the oldest only if the disk stalls for minutes)."""
        if len(self._queue) >= self.maxlen:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(item)
        self._ready.set()

    async def run(self) -> None:
        """Write queued items in batches from a worker thread until cancelled."""
        while True:
            if not self._queue:
                self._ready.clear()
                await self._ready.wait()
            batch = list(self._queue)
            self._queue.clear()
            try:
                await asyncio.to_thread(self.recorder.write_batch, batch)
            except OSError as exc:
                self.error = f"recording stopped writing: {exc}"
                log.error(self.error)
                return

    async def drain(self) -> None:
        """Write what is still queued (on stop)."""
        if self._queue:
            batch = list(self._queue)
            self._queue.clear()
            await asyncio.to_thread(self.recorder.write_batch, batch)


def _freeze_heap(collect: bool) -> None:
    """Exempt the objects that exist now from the cyclic garbage collector's full passes.

    A full collection walks every object of the service (numpy, scipy, bumble, FastAPI: a
    few million), which stalled the event loop for 45-110 ms every ten seconds or so and made
    the live latency's p99 (measured with ``gc.callbacks`` under ``benchmarks/live_loop.py``).
    Objects that live as long as the service are frozen once it starts (after one collection)
    and again after calibration; full passes then only walk what was created since.
    """
    if collect:
        gc.collect()
    gc.freeze()


def encode(message: dict[str, Any]) -> str:
    """Compact JSON text of a message (NaN and infinities become null).

    Frames are cleaned where they are built; any other message with a non-finite number (an
    analysis of frames a sensor dropout left empty) is cleaned here rather than failing the
    whole live session.
    """
    try:
        return json.dumps(message, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_json_clean(message), separators=(",", ":"), allow_nan=False)


def _json_clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_clean(v) for v in value]
    return value


def _finite_list(values: np.ndarray) -> list[float | None]:
    rounded = np.round(values.astype(float), 2)
    return [None if not np.isfinite(v) else float(v) for v in rounded]


class LiveSession:
    """A running source, its pipeline, guided calibration and consumers.

    Parameters
    ----------
    source : a :class:`~hipsense.sources.LiveSource`.
    method : orientation filter name.
    client_rate_hz : minimum rate of angle frames sent to clients (frames are decimated by
        ``floor(output_rate / client_rate_hz)``).
    client_queue : messages queued per client before its oldest are dropped.
    auto_calibrate : start the guided calibration with the first samples (simulated demo).
    analyzers : exercise analyzers fed with every calibrated angle block.
    calibration : a known calibration (e.g. from a recording).
    placements : declared sensor placement per role (``{"pelvis": "sacrum", ...}``,
        :mod:`hipsense.body.mounting`): the calibration falls back to them when the routine's
        movements are not found.
    refine_history_s : how much of the calibrated stream the pipeline keeps for refining a
        finished trial (:meth:`HipPipeline.refine`); None keeps nothing.

    Examples
    --------
    >>> live = LiveSession(SimulatedSource(simulate_demo()), auto_calibrate=True)  # doctest: +SKIP
    >>> await live.start(); sub = live.subscribe()  # doctest: +SKIP
    """

    def __init__(
        self,
        source: LiveSource,
        method: str = "vqf",
        client_rate_hz: float = 50.0,
        client_queue: int = 100,
        auto_calibrate: bool = False,
        analyzers: Iterable[Analyzer] = (),
        calibration: Calibration | None = None,
        recorder_queue: int = 200_000,
        placements: dict[str, str] | None = None,
        refine_history_s: float | None = REFINE_HISTORY_S,
    ) -> None:
        self.source = source
        self.source_name = source.name
        self.roles = list(source.roles)
        self.rate_hz = {r: float(source.rate_hz[r]) for r in self.roles}
        self.method = method
        self.placements = placements
        self.refine_history_s = refine_history_s
        self._refined: deque[AngleBlock] = deque(maxlen=8)
        self.pipeline = self._new_pipeline(calibration)
        self.output_rate_hz = self.pipeline.output_rate_hz
        self.decimation = max(1, int(self.output_rate_hz // client_rate_hz))
        self.client_queue = client_queue
        self.recorder_queue = recorder_queue
        self.auto_calibrate = auto_calibrate
        self.analyzers: list[Analyzer] = list(analyzers)
        self.calibration_guide = GuidedCalibration(
            self.roles,
            static_only=bool(placements) and set(self.roles) <= set(placements or {}),
            rate_hz=self.rate_hz,
        )
        if calibration is not None:
            self.calibration_guide.succeed(calibration)
        self._cal_pipeline: HipPipeline | None = None
        self.columns: list[str] = []
        self.devices: dict[str, DeviceStatus] = {
            r: DeviceStatus(r, nominal_rate_hz=self.rate_hz[r]) for r in self.roles
        }
        for info in source.devices():
            dev = self.devices.get(info.role)
            if dev is not None:
                dev.protocol, dev.address, dev.name = info.protocol, info.address, info.name
                if info.signal_dbm is not None:
                    dev.signal_dbm = info.signal_dbm
        self._rate_window: dict[str, deque[tuple[float, int]]] = {
            r: deque(maxlen=60) for r in self.roles
        }
        self.markers: deque[Marker] = deque(maxlen=1000)
        self.events: deque[dict[str, Any]] = deque(maxlen=300)
        self.results: deque[dict[str, Any]] = deque(maxlen=5000)
        self.subscriptions: set[Subscription] = set()
        self.recorders: list[RecorderFeed] = []
        self.time_s = 0.0
        self.frames_total = 0
        self.messages_sent = 0
        self.raw_notifications = 0
        self.seq = 0
        self.running = False
        self.source_error: str | None = None
        self._source_state = "running"
        self._auto_calibration_started = False
        self.started_wall = time.time()
        self._task: asyncio.Task[None] | None = None
        self._latest: dict[str, float] = {}
        self._analyzers_finished = False
        self._analyzer_errors: set[tuple[str, str]] = set()

    def _new_pipeline(self, calibration: Calibration | None = None) -> HipPipeline:
        pipe = HipPipeline(
            self.rate_hz, method=self.method, calibration=calibration, placements=self.placements
        )
        if self.refine_history_s is not None:
            pipe.keep_history(self.refine_history_s)
        return pipe

    def refine(self, start_s: float, end_s: float) -> AngleBlock | None:
        """The angles of ``start_s`` .. ``end_s`` fused again (:meth:`HipPipeline.refine`);
        kept for :meth:`refined_frames`."""
        angles = self.pipeline.refine(start_s, end_s)
        if angles is not None and len(angles) > 1:
            self._refined.append(angles)
        return angles

    def refined_frames(self, start_s: float, end_s: float) -> AngleBlock | None:
        """Refined angles computed earlier that cover ``start_s`` .. ``end_s`` (to one frame),
        so every analysis of a refined trial reads the same frames; None if there are none."""
        for angles in reversed(self._refined):
            frame_s = float(angles.time_s[1] - angles.time_s[0])
            if angles.time_s[0] <= start_s + frame_s and angles.time_s[-1] >= end_s - frame_s:
                return angles
        return None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start consuming the source in a background task."""
        if self._task is None:
            _freeze_heap(collect=True)
            self.running = True
            self._task = asyncio.create_task(self._run(), name="hipsense-live")

    async def stop(self) -> None:
        """Stop the source, close subscriptions and finish the recorders' writing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self.running = False
        if self._source_state == "running":
            self._source_state = "ended"
        self._finish_analyzers()
        with contextlib.suppress(Exception):
            await self.source.close()
        for sub in list(self.subscriptions):
            sub.close()
        for feed in list(self.recorders):
            await self.remove_recorder(feed)

    async def _run(self) -> None:
        try:
            async for batch in self.source.stream():
                await self.ingest(batch.items, batch.arrived_ns)
            self._finish_analyzers()
            self._source_over("ended")
            self._event(
                "sensor",
                {
                    "kind": "source_ended",
                    "message": "the source has ended",
                    "source_state": "ended",
                },
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a source failure must not kill the service
            self.source_error = f"the {self.source_name} source failed: {exc}"
            log.exception("live source failed")
            self._source_over("failed")
            self._event(
                "sensor",
                {"kind": "source_failed", "message": self.source_error, "source_state": "failed"},
            )
        finally:
            self.running = False

    def _source_over(self, state: str) -> None:
        """The source delivers nothing more: its sensors are no longer connected."""
        self._source_state = state
        for dev in self.devices.values():
            dev.connected = False
            dev.data_rate_hz = 0.0

    @property
    def source_state(self) -> str:
        """``running``, ``paused`` (a paused replay), ``ended`` or ``failed``."""
        if (
            self._source_state == "running"
            and isinstance(self.source, Seeking)
            and self.source.paused
        ):
            return "paused"
        return self._source_state

    # --- consumers -----------------------------------------------------------------------

    def subscribe(self, maxlen: int | None = None) -> Subscription:
        """A new client's message queue (call :meth:`unsubscribe` when it leaves)."""
        sub = Subscription(maxlen or self.client_queue)
        self.subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a client's queue."""
        sub.close()
        self.subscriptions.discard(sub)

    def add_recorder(self, recorder: Recorder) -> RecorderFeed:
        """Feed every following item to ``recorder`` (written from a worker thread)."""
        feed = RecorderFeed(recorder, self.recorder_queue)
        feed.task = asyncio.create_task(feed.run(), name="hipsense-recorder")
        self.recorders.append(feed)
        return feed

    async def remove_recorder(self, feed: RecorderFeed) -> None:
        """Stop feeding a recorder after writing what it has queued."""
        if feed in self.recorders:
            self.recorders.remove(feed)
        if feed.task is not None:
            feed.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed.task
        await feed.drain()

    def _broadcast(self, message: dict[str, Any]) -> None:
        text = encode(message)
        for sub in self.subscriptions:
            sub.put(text)
        self.messages_sent += 1

    def _record(self, item: RecordItem) -> None:
        for feed in self.recorders:
            feed.put(item)

    def _event(self, type_: str, payload: dict[str, Any]) -> dict[str, Any]:
        message = {"type": type_, "time_s": round(self.time_s, 3), **payload}
        self.events.append(message)
        self._broadcast(message)
        if type_ == "analysis":
            self._record(AnalysisEvent(self.time_s, payload))
        if type_ == "sensor":
            # Analyzers that judge a trial need to know a sensor dropped out.
            for analyzer in self.analyzers:
                if isinstance(analyzer, SensorListener):
                    for event in analyzer.sensor_event(message):
                        self._analysis_event(event)
        return message

    # --- input ---------------------------------------------------------------------------

    async def ingest(self, items: Sequence[SourceItem], rx_ns: int | None = None) -> None:
        """Process one list of source items (samples, events, raw notifications, markers).

        ``rx_ns`` is the wall-clock time the items arrived (:attr:`SourceBatch.arrived_ns`;
        default now): frames carry it so clients can measure their latency.
        """
        rx_ns = time.time_ns() if rx_ns is None else rx_ns
        blocks: list[SampleBlock] = []
        for item in items:
            if isinstance(item, SampleBlock):
                if item.role in self.devices and len(item):
                    blocks.append(item)
            elif isinstance(item, SensorEvent):
                self._sensor_event(item)
            elif isinstance(item, RawNotification):
                self.raw_notifications += 1
                self._record(item)
            elif isinstance(item, ConnectionStart):
                self._record(item)
            elif isinstance(item, Marker):
                self.add_marker(item)
            elif isinstance(item, Calibration):
                self.use_calibration(item)
        if not blocks:
            return
        for block in blocks:
            self._update_device(block)
            self._record(block)
        self.time_s = max(self.time_s, float(max(b.time_s[-1] for b in blocks)))
        idle = self.calibration_guide.step == "idle"
        # Once: after a cancel the user starts the calibration (it would restart at once).
        auto = self.auto_calibrate and not self._auto_calibration_started
        if auto and idle and self.pipeline.calibration_ is None:
            self._auto_calibration_started = True
            self.start_calibration()
        angles = self.pipeline.process(blocks)
        if self._cal_pipeline is not None and self._cal_pipeline is not self.pipeline:
            self._cal_pipeline.process(blocks)
        if len(angles):
            self._publish_angles(angles, rx_ns)
        await self._calibration_step(blocks)

    def _sensor_event(self, event: SensorEvent) -> None:
        self._record(event)  # with its own time: the sensor stream's, not the live clock's
        dev = self.devices.get(event.role)
        if dev is not None:
            if event.kind in ("connected", "reconnected"):
                dev.connected = True
            elif event.kind == "disconnected":
                dev.connected = False
            elif event.kind == "gap":
                dev.gaps += 1
            if event.kind == "disconnected":
                dev.disconnects += 1
            elif event.kind == "reconnected":
                dev.reconnects += 1
            total = event.detail.get("total")
            if event.kind == "malformed" and isinstance(total, int):
                dev.malformed = total
            battery = event.detail.get("battery_pct")
            if isinstance(battery, int | float):
                dev.battery_pct = float(battery)
            address = event.detail.get("address")
            if isinstance(address, str):
                dev.address = address
            signal = event.detail.get("rssi_dbm", event.detail.get("signal_dbm"))
            if isinstance(signal, int | float):
                dev.signal_dbm = float(signal)
        self._event(
            "sensor",
            {
                "role": event.role,
                "kind": event.kind,
                "sensor_time_s": event.time_s,
                "message": event.message,
                "detail": dict(event.detail),
            },
        )

    def _update_device(self, block: SampleBlock) -> None:
        """Count a block's samples and the sensor's data rate (gaps are the sensor stream's
        own events: see :meth:`_sensor_event`)."""
        dev = self.devices[block.role]
        dev.connected = True
        dev.samples += len(block)
        dev.last_time_s = float(block.time_s[-1])
        now = time.monotonic()
        window = self._rate_window[block.role]
        window.append((now, dev.samples))
        t0, n0 = window[0]
        if now - t0 > 0.2:
            dev.data_rate_hz = round((dev.samples - n0) / (now - t0), 1)

    def device_status(self) -> list[DeviceStatus]:
        """Every sensor's status: what this session counted (samples, rate, events), with
        the counts of the source's own decoding and connection stages where it keeps them."""
        if isinstance(self.source, StatusReporting):
            for st in self.source.status():
                dev = self.devices.get(st.role)
                if dev is None:
                    continue
                dev.name = st.name or dev.name
                dev.samples_missing, dev.samples_filled = st.samples_missing, st.samples_filled
                dev.malformed, dev.notifications = st.malformed, st.notifications
                dev.disconnects, dev.reconnects = st.disconnects, st.reconnects
                dev.drift_ppm, dev.last_error = st.drift_ppm, st.last_error
                if st.signal_dbm is not None:
                    dev.signal_dbm = st.signal_dbm
        return list(self.devices.values())

    # --- calibration ---------------------------------------------------------------------

    def start_calibration(self) -> dict[str, Any]:
        """Begin the guided calibration; frames of a previous calibration keep flowing."""
        self._cal_pipeline = self._new_pipeline()
        if self.pipeline.calibration_ is None:
            self.pipeline = self._cal_pipeline  # nothing to keep showing meanwhile
        self.calibration_guide.start(self.time_s if self.time_s > 0 else None)
        return self._calibration_event()

    def use_calibration(self, calibration: Calibration) -> None:
        """Use a known calibration from now on (a replayed recording's own): a guided
        calibration under way is dropped, frames waiting for a calibration are published."""
        self._cal_pipeline = None
        first = self.pipeline.calibration_ is None
        self.pipeline.set_calibration(calibration)
        self.calibration_guide.succeed(calibration)
        self._calibration_event()
        if first:
            flushed = self.pipeline.flush()
            if len(flushed):
                self._publish_angles(flushed, time.time_ns())

    def cancel_calibration(self) -> dict[str, Any]:
        """Abandon the guided calibration (a previous calibration stays in use)."""
        self._cal_pipeline = None
        self.calibration_guide.cancel()
        return self._calibration_event()

    def _calibration_event(self) -> dict[str, Any]:
        return self._event("calibration", self.calibration_guide.status())

    async def _calibration_step(self, blocks: list[SampleBlock]) -> None:
        guide = self.calibration_guide
        cal_pipe = self._cal_pipeline
        if cal_pipe is None or not guide.active:
            return
        if guide.feed(blocks):
            self._calibration_event()
        if guide.step == "failed":
            self._cal_pipeline = None
            return
        if not guide.ready:
            return
        try:
            calibration = await asyncio.to_thread(self._calibrate, cal_pipe, guide.windows())
        except HipsenseError as exc:
            guide.fail(str(exc))
            self._cal_pipeline = None
            self._calibration_event()
            return
        if self._cal_pipeline is not cal_pipe:  # cancelled meanwhile
            return
        guide.succeed(calibration)
        self._cal_pipeline = None
        _freeze_heap(collect=False)
        had_frames = self.pipeline.calibration_ is not None
        self.pipeline = cal_pipe
        flushed = cal_pipe.flush()
        self._calibration_event()
        if len(flushed) and not had_frames:
            self._publish_angles(flushed, time.time_ns())
        self._record(calibration)

    @staticmethod
    def _calibrate(
        pipe: HipPipeline,
        windows: tuple[tuple[float, float], tuple[float, float] | None] | None,
    ) -> Calibration:
        """Windows seen live first; the pipeline's own window detection if they fail."""
        if windows is not None:
            try:
                return pipe.calibrate(*windows)
            except CalibrationError as first:
                try:
                    return pipe.calibrate()
                except CalibrationError:
                    raise first from None
        return pipe.calibrate()

    # --- output --------------------------------------------------------------------------

    def _publish_angles(self, angles: AngleBlock, rx_ns: int) -> None:
        if not self.columns:
            self.columns = list(angles.columns)
        for analyzer in self.analyzers:
            try:
                events = analyzer.process(angles)
            except Exception as exc:  # one analysis must not stop the angles or the others
                self._analyzer_failed(analyzer, exc)
                continue
            for event in events:
                self._analysis_event(event)
        self._record(angles)
        first = (-self.frames_total) % self.decimation
        self.frames_total += len(angles)
        keep = slice(first, None, self.decimation)
        t = angles.time_s[keep]
        for name, values in angles.columns.items():
            if len(values):
                self._latest[name] = float(values[-1])
        if len(t) == 0:
            return
        self.seq += 1
        self._broadcast(
            {
                "type": "frames",
                "seq": self.seq,
                "rx_ns": rx_ns,
                "t": [round(float(v), 3) for v in t],
                "c": {name: _finite_list(v[keep]) for name, v in angles.columns.items()},
            }
        )

    def _finish_analyzers(self) -> None:
        """The analyzers' end-of-stream events, once (the source ended or the session stops)."""
        if self._analyzers_finished:
            return
        self._analyzers_finished = True
        for analyzer in self.analyzers:
            for event in analyzer.finish():
                self._analysis_event(event)

    def _analyzer_failed(self, analyzer: Any, exc: Exception) -> None:
        """Log an analyzer's failure and tell the clients once per analyzer and kind."""
        name = type(analyzer).__name__
        key = (name, type(exc).__name__)
        if key in self._analyzer_errors:
            return
        self._analyzer_errors.add(key)
        log.exception("analyzer %s failed", name)
        self._event(
            "analysis_error",
            {"analyzer": name, "message": f"the {name} analysis failed on this block: {exc}"},
        )

    def _analysis_event(self, event: dict[str, Any]) -> None:
        """An analyzer's event: a result (``analysis``) or a message of its own ``type``."""
        kind = event.get("type")
        if kind is None:
            self.results.append(event)
            self._event("analysis", event)
        else:
            self.broadcast_event(str(kind), {k: v for k, v in event.items() if k != "type"})

    def broadcast_event(self, type_: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send an event of ``type_`` to every client and the recorders (actions use it)."""
        return self._event(type_, payload)

    def add_marker(self, marker: Marker) -> dict[str, Any]:
        """Keep, record and announce a marker; returns its message."""
        self.markers.append(marker)
        self._record(marker)
        return self._event("marker", {"marker": marker_dict(marker)})

    def session_start_ns(self) -> int | None:
        """Host clock at session time 0 when the source delivers raw notifications (BLE).

        Raw notifications carry host receive times; a replay needs this to put them on the
        session clock again.
        """
        return self.source.session_start_ns

    def hello(self) -> dict[str, Any]:
        """First message to a new client: what the stream contains."""
        return {
            "type": "hello",
            "source": self.source_name,
            "source_state": self.source_state,
            "roles": self.roles,
            "rate_hz": self.rate_hz,
            "frame_rate_hz": self.output_rate_hz / self.decimation,
            "columns": self.columns,
            "time_s": round(self.time_s, 3),
            "calibration": self.calibration_guide.status(),
            "devices": [d.to_dict() for d in self.device_status()],
            "markers": [marker_dict(m) for m in list(self.markers)[-50:]],
            "latest": self._latest,
        }

    def stats(self) -> dict[str, Any]:
        """Counters for health checks and benchmarks."""
        return {
            "running": self.running,
            "source": self.source_name,
            "source_state": self.source_state,
            "source_error": self.source_error,
            "time_s": round(self.time_s, 3),
            "calibrated": self.pipeline.calibration_ is not None,
            "frames_total": self.frames_total,
            "messages_sent": self.messages_sent,
            "clients": len(self.subscriptions),
            "client_dropped": [s.dropped for s in self.subscriptions],
            "recorders": len(self.recorders),
            "uptime_s": round(time.time() - self.started_wall, 1),
        }
