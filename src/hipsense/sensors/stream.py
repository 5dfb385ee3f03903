"""One sensor's notification bytes -> samples on the session clock (decode + clock).

Live BLE and replay both go through :class:`SensorStream`, so a replay of recorded bytes with
their host receive times gives the very samples the live session had.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hipsense.sensors.clock import SensorClock
from hipsense.sensors.protocols import SPECS
from hipsense.sensors.protocols.base import DecodedSamples, ProtocolSpec
from hipsense.types import SampleBlock, SensorEvent, check_role


class SensorStream:
    """Decoder and clock of one connected sensor.

    Parameters
    ----------
    protocol : a :class:`ProtocolSpec` or its name (``"open_profile"``, ``"witmotion"``...).
    role : the segment the sensor is on.
    rate_hz : the configured output rate.
    session_start_ns : host ``time.monotonic_ns()`` at session time 0.
    """

    def __init__(
        self, protocol: ProtocolSpec | str, role: str, rate_hz: float, session_start_ns: int
    ) -> None:
        self.spec = SPECS[protocol] if isinstance(protocol, str) else protocol
        self.role = check_role(role)
        self.rate_hz = float(rate_hz)
        self.decoder = self.spec.new_decoder()
        self.clock = SensorClock(self.rate_hz, session_start_ns)
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
        block = SampleBlock(
            self.role,
            np.asarray(t, dtype=np.float64),
            np.asarray(dec.acc_m_s2, dtype=np.float64),
            np.asarray(dec.gyr_rad_s, dtype=np.float64),
            None if dec.mag_uT is None else np.asarray(dec.mag_uT, dtype=np.float64),
        )
        return block, events
