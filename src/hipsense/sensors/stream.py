"""Notification bytes -> samples on the session clock (decode + clock), live and replay alike.

:class:`SensorStream` is one sensor's decoder and clock; :class:`StreamDecoder` is the
session's set of them, fed in receive order with the raw notifications and the
:class:`~hipsense.types.ConnectionStart` of every (re)connection. The BLE session decodes
through a :class:`StreamDecoder`, and so does a replay of recorded bytes, so the replay gives
the very samples the live session had, across reconnections too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hipsense.sensors.clock import SensorClock
from hipsense.sensors.protocols import SPECS
from hipsense.sensors.protocols.base import DecodedSamples, ProtocolSpec
from hipsense.types import (
    ConnectionStart,
    FloatArray,
    RawNotification,
    SampleBlock,
    SensorEvent,
    check_role,
)

MAX_FILL_S = 0.1
"""Holes up to this long (s) are filled by interpolation; see ``SensorStream``."""


class SensorStream:
    """Decoder and clock of one connected sensor.

    Parameters
    ----------
    protocol : a :class:`ProtocolSpec` or its name (``"open_profile"``, ``"witmotion"``...).
    role : the segment the sensor is on.
    rate_hz : the configured output rate.
    session_start_ns : host ``time.monotonic_ns()`` at session time 0.
    max_fill_s : holes in the data up to this long (lost notifications) are filled with
        linearly interpolated samples, counted in ``samples_filled``; 0 disables.
    """

    def __init__(
        self,
        protocol: ProtocolSpec | str,
        role: str,
        rate_hz: float,
        session_start_ns: int,
        max_fill_s: float = MAX_FILL_S,
    ) -> None:
        self.spec = SPECS[protocol] if isinstance(protocol, str) else protocol
        self.role = check_role(role)
        self.rate_hz = float(rate_hz)
        self.decoder = self.spec.new_decoder()
        self.clock = SensorClock(self.rate_hz, session_start_ns)
        self.max_fill_s = float(max_fill_s)
        self.samples_filled = 0
        self._last: tuple[float, FloatArray, FloatArray, FloatArray | None] | None = None
        self._malformed_reported = 0

    def feed(self, data: bytes, host_time_ns: int) -> tuple[SampleBlock, list[SensorEvent]]:
        """Decode one notification; returns the samples it completed and any events."""
        return self._to_block(self.decoder.feed(data, host_time_ns))

    def feed_many(
        self, notifications: Sequence[bytes], host_times_ns: Sequence[int]
    ) -> tuple[SampleBlock, list[SensorEvent]]:
        """Decode a burst or a stretch of a recording (same result as ``feed`` each)."""
        return self._to_block(self.decoder.feed_many(notifications, host_times_ns))

    def reset_connection(self) -> None:
        """Forget partial records after a reconnect; the clock keeps its fit."""
        self.decoder.reset()

    def _to_block(self, dec: DecodedSamples) -> tuple[SampleBlock, list[SensorEvent]]:
        events: list[SensorEvent] = []
        t, gaps = self.clock.map(dec.host_time_ns, dec.sensor_time_s)
        for gap in gaps:
            events.append(
                SensorEvent(
                    self.role,
                    "gap",
                    gap.start_s,
                    f"{self.role}: {gap.missing_samples} samples missing "
                    f"({gap.start_s:.2f}-{gap.end_s:.2f} s)",
                    {"missing_samples": gap.missing_samples, "end_s": gap.end_s},
                )
            )
        new_bad = self.decoder.malformed_count - self._malformed_reported
        if new_bad > 0:
            self._malformed_reported = self.decoder.malformed_count
            events.append(
                SensorEvent(
                    self.role,
                    "malformed",
                    float(t[-1]) if len(t) else 0.0,
                    f"{self.role}: {new_bad} malformed packet(s): {self.decoder.last_error}",
                    {"count": new_bad, "total": self.decoder.malformed_count},
                )
            )
        block = self._fill_short_gaps(
            np.asarray(t, dtype=np.float64),
            np.asarray(dec.acc_m_s2, dtype=np.float64),
            np.asarray(dec.gyr_rad_s, dtype=np.float64),
            None if dec.mag_uT is None else np.asarray(dec.mag_uT, dtype=np.float64),
        )
        return block, events

    def _fill_short_gaps(
        self, t: FloatArray, acc: FloatArray, gyr: FloatArray, mag: FloatArray | None
    ) -> SampleBlock:
        """Interpolate samples into holes up to ``max_fill_s`` long (lost notifications).

        The orientation filters assume a constant rate: a lost sample would otherwise drop its
        rotation from the integrated orientation. Longer holes (a disconnect) are left as gaps.
        """
        if len(t) == 0:
            return SampleBlock(self.role, t, acc, gyr, mag)
        last = self._last
        if mag is not None and last is not None and last[3] is None:
            last = None
        self._last = (
            float(t[-1]),
            acc[-1].copy(),
            gyr[-1].copy(),
            None if mag is None else mag[-1].copy(),
        )
        if last is not None:
            t_all = np.concatenate(([last[0]], t))
            acc_all = np.vstack((last[1], acc))
            gyr_all = np.vstack((last[2], gyr))
            mag_all = None if mag is None or last[3] is None else np.vstack((last[3], mag))
        else:
            t_all, acc_all, gyr_all, mag_all = t, acc, gyr, mag
        period = 1.0 / self.rate_hz
        steps = np.diff(t_all)
        holes = np.flatnonzero((steps > 1.5 * period) & (steps <= self.max_fill_s + 0.5 * period))
        if holes.size == 0 or self.max_fill_s <= 0:
            return SampleBlock(self.role, t, acc, gyr, mag)
        new_t = np.concatenate(
            [
                t_all[i] + steps[i] * np.arange(1, k + 1) / (k + 1)
                for i in holes
                for k in [round(steps[i] / period) - 1]
            ]
        )
        self.samples_filled += len(new_t)

        def fill(x: FloatArray) -> FloatArray:
            added = np.column_stack([np.interp(new_t, t_all, x[:, j]) for j in range(3)])
            return np.vstack((x, added))

        order = np.argsort(np.concatenate((t_all, new_t)), kind="stable")
        keep = order if last is None else order[order != 0]  # drop the previous block's sample
        t_out = np.concatenate((t_all, new_t))[keep]
        return SampleBlock(
            self.role,
            t_out,
            fill(acc_all)[keep],
            fill(gyr_all)[keep],
            None if mag_all is None else fill(mag_all)[keep],
        )


class StreamDecoder:
    """The sensor streams of a session, fed with what arrived in receive order.

    Each notification goes through its sensor's stream on its own, so any split of the same
    arrival sequence into :meth:`decode` calls gives the same samples and times to the bit
    (the clock's fit depends on the sequence of calls it sees); consecutive notifications of
    one sensor come out as one block. A :class:`~hipsense.types.ConnectionStart` resets its
    sensor's decoder before the notifications that follow it.

    Parameters
    ----------
    streams : role -> that sensor's :class:`SensorStream`.

    Attributes
    ----------
    notifications : role -> notifications decoded so far.
    gaps : role -> gap events raised so far.
    """

    def __init__(self, streams: Mapping[str, SensorStream] | None = None) -> None:
        self.streams: dict[str, SensorStream] = {}
        self.notifications: dict[str, int] = {}
        self.gaps: dict[str, int] = {}
        for stream in (streams or {}).values():
            self.add(stream)

    def add(self, stream: SensorStream) -> None:
        """Decode ``stream.role``'s notifications with ``stream`` from now on."""
        self.streams[stream.role] = stream
        self.notifications[stream.role] = 0
        self.gaps[stream.role] = 0

    def decode(
        self, arrivals: Sequence[RawNotification | ConnectionStart]
    ) -> tuple[list[SampleBlock], list[SensorEvent]]:
        """Samples and events of ``arrivals`` (notifications of unknown roles are ignored)."""
        blocks: list[SampleBlock] = []
        events: list[SensorEvent] = []
        run: list[RawNotification] = []

        def flush() -> None:
            if not run:
                return
            role = run[0].role
            stream = self.streams[role]
            parts = []
            for note in run:
                # One notification per call: the clock's fit then advances the same way for
                # any grouping of the arrivals (live's few-ms batches, a replay's bundles).
                block, evs = stream.feed(note.data, note.host_time_ns)
                if len(block):
                    parts.append(block)
                self.gaps[role] += sum(1 for e in evs if e.kind == "gap")
                events.extend(evs)
            self.notifications[role] += len(run)
            if parts:
                blocks.append(parts[0] if len(parts) == 1 else SampleBlock.concat(parts))
            run.clear()

        for item in arrivals:
            if item.role not in self.streams:
                continue
            if isinstance(item, ConnectionStart):
                flush()
                self.streams[item.role].reset_connection()
                continue
            if run and run[0].role != item.role:
                flush()
            run.append(item)
        flush()
        return blocks, events
