"""The contract every wire format follows: decoded samples, a stateful decoder, a descriptor.

A vendor module (``witmotion``, ``movella_dot``, ``thingy52``, ``movesense``, ``open_profile``)
provides

* a :class:`ProtocolDecoder` subclass: bytes of notifications in, :class:`DecodedSamples` out.
  It is stateful (partial records, sequence numbers, timestamp unwrapping) and never raises on
  arbitrary bytes: bad input is counted (``malformed_count``, ``bytes_discarded``) and described
  in ``last_error``;
* encoders producing the exact bytes the vendor's device sends (used by the simulator);
* a :class:`ProtocolSpec`: UUIDs, rates, command builders and the battery parser, so that the
  BLE layer never hard-codes a vendor detail.

Units follow ``hipsense.types``: acceleration as specific force in m/s^2, angular rate in rad/s,
magnetic field in uT, times in seconds (sensor clock) or integer nanoseconds (host clock).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

STANDARD_GRAVITY_M_S2 = 9.80665
"""Conventional standard gravity; converts g to m/s^2 (ISO 80000-3)."""

DEG_TO_RAD = math.pi / 180.0


@dataclass
class DecodedSamples:
    """Samples decoded from one or more notifications of one sensor.

    Attributes
    ----------
    acc_m_s2 : (N, 3) specific force in sensor coordinates, m/s^2.
    gyr_rad_s : (N, 3) angular rate in sensor coordinates, rad/s.
    host_time_ns : (N,) host receive time of the notification that completed each sample.
    mag_uT : (N, 3) magnetic field in uT (or vendor units, see the module), or None.
    sensor_time_s : (N,) time of each sample on the sensor's own clock in seconds, unwrapped
        (the first timestamp the decoder sees keeps its raw value; each wrap-around adds one
        counter period), or None when the format carries no timestamp.
    seq : (N,) unwrapped sequence number of the notification each sample came from, or None.
    extra : per-vendor arrays with N rows (``quat_wxyz``, ``euler_deg``, ``dq``, ...).
    """

    acc_m_s2: FloatArray
    gyr_rad_s: FloatArray
    host_time_ns: IntArray
    mag_uT: FloatArray | None = None
    sensor_time_s: FloatArray | None = None
    seq: IntArray | None = None
    extra: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.acc_m_s2.shape[0])

    @staticmethod
    def empty() -> DecodedSamples:
        """A block with no samples (what a decoder returns for an incomplete record)."""
        return DecodedSamples(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, dtype=np.int64))

    @staticmethod
    def concat(blocks: Sequence[DecodedSamples]) -> DecodedSamples:
        """Join blocks in order; optional fields are kept only if every non-empty block has them."""
        blocks = [b for b in blocks if len(b)]
        if not blocks:
            return DecodedSamples.empty()
        if len(blocks) == 1:
            return blocks[0]

        def opt(name: str) -> npt.NDArray[np.generic] | None:
            parts = [getattr(b, name) for b in blocks]
            if any(p is None for p in parts):
                return None
            return np.concatenate(parts)

        keys = set(blocks[0].extra)
        for b in blocks[1:]:
            keys &= set(b.extra)
        return DecodedSamples(
            np.concatenate([b.acc_m_s2 for b in blocks]),
            np.concatenate([b.gyr_rad_s for b in blocks]),
            np.concatenate([b.host_time_ns for b in blocks]),
            opt("mag_uT"),  # type: ignore[arg-type]
            opt("sensor_time_s"),  # type: ignore[arg-type]
            opt("seq"),  # type: ignore[arg-type]
            {k: np.concatenate([b.extra[k] for b in blocks]) for k in sorted(keys)},
        )


@dataclass(frozen=True)
class BatteryStatus:
    """A battery reading: level in percent (0-100), optional voltage and charging flag."""

    percent: float
    volts: float | None = None
    charging: bool | None = None
    percent_is_estimate: bool = False


@dataclass(frozen=True)
class GattWrite:
    """One characteristic write the BLE layer must perform, then wait ``delay_after_s``."""

    char_uuid: str
    data: bytes
    with_response: bool = True
    delay_after_s: float = 0.0


@dataclass(frozen=True)
class ProtocolSpec:
    """Everything the BLE layer needs to know about one wire format.

    Attributes
    ----------
    name : short protocol id (``"witmotion"``, ``"movella_dot"``, ...).
    service_uuids : primary services that identify the device (full 128-bit, lower case).
    data_char_uuid : characteristic to subscribe to for the sample stream.
    control_char_uuids : name -> UUID of characteristics written to configure or start.
    battery_char_uuid : characteristic to read for the battery, or None when the battery is
        requested with ``battery_request()`` and answered inside the data stream.
    supported_rates_hz / default_rate_hz : output rates the device accepts.
    name_patterns : case-insensitive substrings of advertised local names.
    new_decoder : factory of a fresh decoder for one connection.
    start_commands(rate_hz) : writes to perform after subscribing, to stream at ``rate_hz``.
    stop_commands() : writes to stop streaming (before unsubscribing).
    battery_request() : writes that make the device report its battery (may be empty).
    parse_battery(data) : battery reply bytes -> BatteryStatus, or None if not a battery reply.
    min_att_mtu : smallest ATT MTU with which the data characteristic works.
    """

    name: str
    service_uuids: tuple[str, ...]
    data_char_uuid: str
    control_char_uuids: dict[str, str]
    battery_char_uuid: str | None
    supported_rates_hz: tuple[float, ...]
    default_rate_hz: float
    name_patterns: tuple[str, ...]
    new_decoder: Callable[[], ProtocolDecoder]
    start_commands: Callable[[float], list[GattWrite]]
    stop_commands: Callable[[], list[GattWrite]]
    battery_request: Callable[[], list[GattWrite]]
    parse_battery: Callable[[bytes], BatteryStatus | None]
    min_att_mtu: int = 23
    battery_service_uuid: str | None = None

    def check_rate(self, rate_hz: float) -> float:
        """Return the supported rate closest to ``rate_hz`` (the device cannot do others)."""
        return min(self.supported_rates_hz, key=lambda r: abs(r - rate_hz))


def bluetooth_uuid16(short: int) -> str:
    """Full UUID of a Bluetooth SIG 16-bit UUID (base ``0000xxxx-0000-1000-8000-00805f9b34fb``)."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


BATTERY_SERVICE_UUID = bluetooth_uuid16(0x180F)
BATTERY_LEVEL_CHAR_UUID = bluetooth_uuid16(0x2A19)


def parse_battery_level(data: bytes) -> BatteryStatus | None:
    """Standard Battery Level characteristic (0x2A19): one uint8, percent 0-100."""
    if len(data) != 1 or data[0] > 100:
        return None
    return BatteryStatus(percent=float(data[0]))


class TimestampUnwrapper:
    """Turns a wrapping unsigned tick counter into a monotonic int64 tick count.

    Differences between consecutive ticks are taken modulo ``2**bits`` as signed values, so a
    wrap-around moves forward by one period and a small step backwards (reordering) stays small.
    The first tick ever seen is the origin (unwrapped value = raw value).
    """

    def __init__(self, bits: int) -> None:
        self.modulus = 1 << bits
        self.half = self.modulus >> 1
        self.last_raw: int | None = None
        self.last_unwrapped = 0

    def unwrap_one(self, raw: int) -> int:
        """Unwrap a single tick value (scalar fast path)."""
        if self.last_raw is None:
            self.last_unwrapped = raw
        else:
            d = (raw - self.last_raw) % self.modulus
            if d >= self.half:
                d -= self.modulus
            self.last_unwrapped += d
        self.last_raw = raw
        return self.last_unwrapped

    def unwrap(self, raw: npt.NDArray[np.integer]) -> IntArray:
        """Unwrap an array of consecutive tick values (vectorised)."""
        raw64 = np.asarray(raw, dtype=np.int64)
        if raw64.size == 0:
            return raw64
        if self.last_raw is None:
            prev = np.int64(raw64[0])
            start = int(raw64[0])
        else:
            prev = np.int64(self.last_raw)
            start = self.last_unwrapped
        d = np.diff(raw64, prepend=prev) % self.modulus
        d[d >= self.half] -= self.modulus
        if self.last_raw is None:
            d[0] = 0
        out = start + np.cumsum(d)
        self.last_raw = int(raw64[-1])
        self.last_unwrapped = int(out[-1])
        return out


class ProtocolDecoder:
    """Stateful decoder of one sensor's notification stream.

    Subclasses implement :meth:`_feed`. :meth:`feed` wraps it so that no input can raise.

    Attributes
    ----------
    malformed_count : number of malformed records / resynchronisations.
    bytes_discarded : bytes thrown away while resynchronising or as malformed.
    records_decoded : samples decoded so far.
    bytes_received : all bytes fed.
    bytes_accepted : bytes that were part of a valid record (samples and replies).
    last_error : human-readable description of the most recent problem, or None.
    """

    def __init__(self) -> None:
        self.malformed_count = 0
        self.bytes_discarded = 0
        self.records_decoded = 0
        self.bytes_received = 0
        self.bytes_accepted = 0
        self.last_error: str | None = None
        self._pending = b""

    @property
    def pending_bytes(self) -> int:
        """Bytes buffered while waiting for the rest of a record."""
        return len(self._pending)

    def reset(self) -> None:
        """Forget buffered bytes and stream state (after a reconnect); counters are kept."""
        self._pending = b""

    def feed(self, data: bytes | bytearray | memoryview, host_time_ns: int) -> DecodedSamples:
        """Decode one notification; returns the samples it completed (possibly none).

        Parameters
        ----------
        data : the notification value exactly as received.
        host_time_ns : host receive time of the notification (e.g. ``time.monotonic_ns()``).
        """
        raw = bytes(data)
        self.bytes_received += len(raw)
        pending, accepted, discarded = len(self._pending), self.bytes_accepted, self.bytes_discarded
        try:
            out = self._feed(raw, int(host_time_ns))
        except Exception as exc:  # the contract: arbitrary bytes never raise
            # Whatever the failed decode counted is undone: the pending bytes and this whole
            # notification are discarded, so every byte received stays accounted for.
            self.bytes_accepted, self.bytes_discarded = accepted, discarded
            self._pending = b""
            message = f"{type(self).__name__}: internal decode error {exc!r}"
            self._malformed(pending + len(raw), message)
            return DecodedSamples.empty()
        self.records_decoded += len(out)
        return out

    def feed_many(
        self, notifications: Sequence[bytes], host_times_ns: Sequence[int]
    ) -> DecodedSamples:
        """Decode a batch of notifications (a recording, a burst); same result as ``feed`` each."""
        return DecodedSamples.concat(
            [self.feed(n, t) for n, t in zip(notifications, host_times_ns, strict=True)]
        )

    def _feed(self, data: bytes, host_time_ns: int) -> DecodedSamples:
        raise NotImplementedError

    def _malformed(self, n_bytes: int, message: str) -> None:
        self.malformed_count += 1
        self.bytes_discarded += n_bytes
        self.last_error = message


class DatagramDecoder(ProtocolDecoder):
    """Base of formats where one notification carries exactly one fixed-size record.

    BLE never splits a notification, but byte-stream transports (UART bridges, recordings) can.
    A notification whose length is not a valid record length is kept and joined with the next
    one; a notification that is valid on its own while a fragment is pending drops the fragment.
    When a format allows several lengths (payload with or without padding), the length of the
    first record decoded is kept for the rest of the stream.
    """

    valid_lengths: tuple[int, ...] = ()

    def _feed(self, data: bytes, host_time_ns: int) -> DecodedSamples:
        if self._pending:
            joined = self._pending + data
            if len(joined) in self.valid_lengths:
                self._pending = b""
                return self._accept(joined, host_time_ns)
            if len(data) in self.valid_lengths:
                lost = len(self._pending)
                self._pending = b""
                self._malformed(lost, f"dropped a {lost}-byte fragment that never completed")
                return self._accept(data, host_time_ns)
            if len(joined) < max(self.valid_lengths):
                self._pending = joined
                return DecodedSamples.empty()
            self._pending = b""
            self._malformed(len(joined), f"{len(joined)} bytes do not form a record")
            return DecodedSamples.empty()
        if len(data) in self.valid_lengths:
            return self._accept(data, host_time_ns)
        if 0 < len(data) < max(self.valid_lengths):
            self._pending = data
            return DecodedSamples.empty()
        if data:
            self._malformed(
                len(data),
                f"notification of {len(data)} bytes; expected one of {self.valid_lengths}",
            )
        return DecodedSamples.empty()

    def _accept(self, record: bytes, host_time_ns: int) -> DecodedSamples:
        if len(self.valid_lengths) > 1:
            self.valid_lengths = (len(record),)
        discarded_before = self.bytes_discarded
        out = self._decode_records([record], np.array([host_time_ns], dtype=np.int64))
        self.bytes_accepted += len(record) - (self.bytes_discarded - discarded_before)
        return out

    def feed_many(
        self, notifications: Sequence[bytes], host_times_ns: Sequence[int]
    ) -> DecodedSamples:
        """Vectorised batch path when every notification is one whole record of equal length."""
        lengths = {len(n) for n in notifications}
        if (
            not self._pending
            and len(lengths) == 1
            and lengths.pop() in self.valid_lengths
            and len(notifications) > 1
        ):
            n_bytes = sum(len(n) for n in notifications)
            self.valid_lengths = (len(notifications[0]),)
            self.bytes_received += n_bytes
            discarded_before = self.bytes_discarded
            try:
                out = self._decode_records(
                    list(notifications), np.asarray(host_times_ns, dtype=np.int64)
                )
            except Exception as exc:
                self._malformed(n_bytes, f"internal decode error {exc!r}")
                return DecodedSamples.empty()
            self.bytes_accepted += n_bytes - (self.bytes_discarded - discarded_before)
            self.records_decoded += len(out)
            return out
        return super().feed_many(notifications, host_times_ns)

    def _decode_records(self, records: list[bytes], host_time_ns: IntArray) -> DecodedSamples:
        raise NotImplementedError
