"""The hipsense open profile: our own wire format for DIY firmware (and the simulator default).

The normative specification is ``firmware_notes/open_profile.md``; this module implements it.

Wire format, version 1 (all little-endian)
------------------------------------------
Data characteristic (notify). Each notification is one frame:

==========  ======  ==================================================================
offset      type    field
==========  ======  ==================================================================
0           u8      format version (1)
1           u16     sequence number of the notification (wraps 65535 -> 0)
3           u32     sensor time of the first sample, microseconds (wraps every ~71.6 min)
7           u8      bits 0-4: sample count n (1-31); bits 5-7: rate code (period)
8 + 12 i    6 i16   sample i: acc x, y, z then gyro x, y, z
==========  ======  ==================================================================

Scales: acceleration ``raw * 16 / 32768`` g (range +-16 g, specific force: +1 g on the up
axis at rest), angular rate ``raw * 2000 / 32768`` deg/s (range +-2000 deg/s). Sample ``i``
was taken at ``t0 + i * period``. Rate codes: 0 = 25 Hz, 1 = 50, 2 = 100, 3 = 200, 4 = 400,
5 = 500 Hz (for IMUs without a 400 Hz rate), 6-7 reserved.
An 8-byte header + 12 bytes per sample fits 1 sample at ATT MTU 23 and 19 samples in a
244-byte notification (ATT MTU 247 with data length extension).

Control characteristic (write): ``01`` start, ``02`` stop, ``03 rateL rateH`` set rate in Hz
(u16), ``04 n`` cap samples per notification (latency). Status characteristic (read/notify):
see :func:`parse_status`. Battery: standard Battery Service 0x180F / Battery Level 0x2A19.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hipsense.sensors.protocols.base import (
    BATTERY_LEVEL_CHAR_UUID,
    BATTERY_SERVICE_UUID,
    DEG_TO_RAD,
    STANDARD_GRAVITY_M_S2,
    DecodedSamples,
    GattWrite,
    ProtocolDecoder,
    ProtocolSpec,
    TimestampUnwrapper,
    parse_battery_level,
)

UUID_BASE = "80e2{:04x}-22a2-49a1-b0c8-1e63d6fd335a"
"""Random (version 4) base chosen for this profile; the 16-bit slot is bytes 2-3."""
SERVICE_UUID = UUID_BASE.format(0x1000)
DATA_CHAR_UUID = UUID_BASE.format(0x1001)
CONTROL_CHAR_UUID = UUID_BASE.format(0x1002)
STATUS_CHAR_UUID = UUID_BASE.format(0x1003)

FORMAT_VERSION = 1
HEADER_LEN = 8
SAMPLE_LEN = 12
MAX_SAMPLES_PER_FRAME = 31
SAMPLES_PER_DLE_NOTIFICATION = 19
"""(244 - 8) // 12: samples in one notification at ATT MTU 247."""

INT16_FULL_SCALE = 32768.0
ACC_RANGE_G = 16.0
GYR_RANGE_DEG_S = 2000.0
ACC_M_S2_PER_LSB = ACC_RANGE_G / INT16_FULL_SCALE * STANDARD_GRAVITY_M_S2
GYR_RAD_S_PER_LSB = GYR_RANGE_DEG_S / INT16_FULL_SCALE * DEG_TO_RAD
TIME_TICK_S = 1e-6

RATE_CODE_HZ: dict[int, float] = {0: 25.0, 1: 50.0, 2: 100.0, 3: 200.0, 4: 400.0, 5: 500.0}
RATE_HZ_CODE = {hz: code for code, hz in RATE_CODE_HZ.items()}
DEFAULT_RATE_HZ = 100.0

CMD_START = 0x01
CMD_STOP = 0x02
CMD_SET_RATE = 0x03
CMD_SET_MAX_SAMPLES = 0x04

_HEADER = struct.Struct("<BHIB")
_SCALE = np.array([ACC_M_S2_PER_LSB] * 3 + [GYR_RAD_S_PER_LSB] * 3)
_OFFSETS_S = {
    code: np.arange(MAX_SAMPLES_PER_FRAME, dtype=np.float64) / hz
    for code, hz in RATE_CODE_HZ.items()
}
_ONES_I64 = np.ones(MAX_SAMPLES_PER_FRAME, dtype=np.int64)


def samples_per_notification(att_mtu: int) -> int:
    """Samples that fit one notification at ``att_mtu`` (payload ``att_mtu - 3``)."""
    return max(0, min(MAX_SAMPLES_PER_FRAME, (att_mtu - 3 - HEADER_LEN) // SAMPLE_LEN))


def _header_ok(version: int, count_rate: int) -> bool:
    count = count_rate & 0x1F
    return version == FORMAT_VERSION and count >= 1 and (count_rate >> 5) in RATE_CODE_HZ


@dataclass(frozen=True)
class SequenceGap:
    """Notifications missing between two received ones (by sequence number)."""

    expected_seq: int
    received_seq: int
    notifications_lost: int
    sensor_time_s: float


class OpenProfileDecoder(ProtocolDecoder):
    """Decoder of open-profile frames with sequence-gap and timestamp-wrap handling.

    Attributes
    ----------
    gaps : the most recent sequence gaps (at most ``max_gaps_kept``).
    gap_count / notifications_lost : totals over the decoder's life.
    """

    max_gaps_kept = 100

    def __init__(self) -> None:
        super().__init__()
        self._time = TimestampUnwrapper(32)
        self._seq = TimestampUnwrapper(16)
        self._last_seq_unwrapped: int | None = None
        self.gaps: list[SequenceGap] = []
        self.gap_count = 0
        self.notifications_lost = 0

    def reset(self) -> None:
        """Forget buffered bytes, sequence and timestamp state (new connection)."""
        super().reset()
        self._time = TimestampUnwrapper(32)
        self._seq = TimestampUnwrapper(16)
        self._last_seq_unwrapped = None

    def _feed(self, data: bytes, host_time_ns: int) -> DecodedSamples:
        if not self._pending and len(data) >= HEADER_LEN:
            version, seq, t0, count_rate = _HEADER.unpack_from(data)
            if _header_ok(version, count_rate) and len(data) == (
                HEADER_LEN + SAMPLE_LEN * (count_rate & 0x1F)
            ):
                self.bytes_accepted += len(data)
                return self._one_frame(data, seq, t0, count_rate, host_time_ns)
        if self._pending:
            joined = self._pending + data
            _, rest, skipped = _split_frames(joined)
            if rest or skipped:
                alone, rest_alone, skipped_alone = _split_frames(data)
                if alone and not rest_alone and not skipped_alone:
                    lost = len(self._pending)
                    self._pending = b""
                    self._malformed(lost, f"open profile: dropped an unfinished {lost}-byte frame")
                    return self._accept(alone, data, host_time_ns)
            return self._accept_stream(joined, host_time_ns)
        return self._accept_stream(data, host_time_ns)

    def _one_frame(
        self, data: bytes, seq: int, t0: int, count_rate: int, host_time_ns: int
    ) -> DecodedSamples:
        # Hot path (one notification = one frame): scalar bookkeeping, three numpy calls.
        n = count_rate & 0x1F
        scaled = np.frombuffer(data, dtype="<i2", offset=HEADER_LEN).reshape(n, 6) * _SCALE
        seq_u = self._seq.unwrap_one(seq)
        t0_u = self._time.unwrap_one(t0)
        prev = self._last_seq_unwrapped
        self._last_seq_unwrapped = seq_u
        if prev is not None and seq_u != prev + 1:
            self._record_gap(prev + 1, seq_u, t0_u)
        ones = _ONES_I64[:n]
        return DecodedSamples(
            acc_m_s2=scaled[:, :3],
            gyr_rad_s=scaled[:, 3:],
            host_time_ns=ones * host_time_ns,
            sensor_time_s=_OFFSETS_S[count_rate >> 5][:n] + t0_u * TIME_TICK_S,
            seq=ones * seq_u,
        )

    def feed_many(
        self, notifications: Sequence[bytes], host_times_ns: Sequence[int]
    ) -> DecodedSamples:
        """Same result as ``feed`` on each; runs of equal-length whole frames are vectorised."""
        parts: list[DecodedSamples] = []
        start = 0
        total = len(notifications)
        while start < total:
            stop = start + 1
            length = len(notifications[start])
            while stop < total and len(notifications[stop]) == length:
                stop += 1
            run = notifications[start:stop]
            hosts = host_times_ns[start:stop]
            out = self._feed_uniform(run, hosts)
            parts.append(out if out is not None else super().feed_many(run, hosts))
            start = stop
        return DecodedSamples.concat(parts)

    def _feed_uniform(
        self, notifications: Sequence[bytes], host_times_ns: Sequence[int]
    ) -> DecodedSamples | None:
        if self._pending or len(notifications) < 2:
            return None
        first = bytes(notifications[0])
        if len(first) < HEADER_LEN:
            return None
        version, _, _, count_rate = _HEADER.unpack_from(first)
        n = count_rate & 0x1F
        length = HEADER_LEN + SAMPLE_LEN * n
        if not _header_ok(version, count_rate) or any(len(b) != length for b in notifications):
            return None
        dtype = np.dtype(
            [("v", "u1"), ("seq", "<u2"), ("t0", "<u4"), ("cr", "u1"), ("s", "<i2", (n, 6))]
        )
        frames = np.frombuffer(b"".join(notifications), dtype=dtype)
        if not (
            bool(np.all(frames["v"] == FORMAT_VERSION)) and bool(np.all(frames["cr"] == count_rate))
        ):
            return None
        n_bytes = length * frames.shape[0]
        self.bytes_received += n_bytes
        self.bytes_accepted += n_bytes
        seq_u = self._seq.unwrap(frames["seq"])
        t0_u = self._time.unwrap(frames["t0"])
        self._check_gaps(seq_u, t0_u)
        scaled = frames["s"].reshape(-1, 6) * _SCALE
        t_s = (t0_u[:, None] * TIME_TICK_S + _OFFSETS_S[count_rate >> 5][None, :n]).ravel()
        out = DecodedSamples(
            acc_m_s2=scaled[:, :3],
            gyr_rad_s=scaled[:, 3:],
            host_time_ns=np.repeat(np.asarray(host_times_ns, dtype=np.int64), n),
            sensor_time_s=t_s,
            seq=np.repeat(seq_u, n),
        )
        self.records_decoded += len(out)
        return out

    def _accept_stream(self, buf: bytes, host_time_ns: int) -> DecodedSamples:
        frames, rest, skipped = _split_frames(buf)
        if skipped:
            self._malformed(skipped, f"open profile: skipped {skipped} bytes without a header")
        self._pending = rest
        return self._accept(frames, buf, host_time_ns)

    def _accept(
        self, frames: list[tuple[int, int, int, int]], buf: bytes, host_time_ns: int
    ) -> DecodedSamples:
        if not frames:
            return DecodedSamples.empty()
        body = b"".join(
            buf[o + HEADER_LEN : o + HEADER_LEN + SAMPLE_LEN * (cr & 0x1F)]
            for o, _, _, cr in frames
        )
        self.bytes_accepted += len(body) + HEADER_LEN * len(frames)
        return self._frames_to_samples([f[1:] for f in frames], body, host_time_ns)

    def _frames_to_samples(
        self, headers: list[tuple[int, int, int]], body: bytes, host_time_ns: int
    ) -> DecodedSamples:
        raw = np.frombuffer(body, dtype="<i2").reshape(-1, 6)
        scaled = raw * _SCALE
        counts = np.fromiter((cr & 0x1F for _, _, cr in headers), dtype=np.int64)
        periods_s = np.fromiter(
            (1.0 / RATE_CODE_HZ[cr >> 5] for _, _, cr in headers), dtype=np.float64
        )
        if len(headers) == 1:
            seq_raw, t0_raw, _ = headers[0]
            seq_u = np.array([self._seq.unwrap_one(seq_raw)])
            t0_u = np.array([self._time.unwrap_one(t0_raw)])
        else:
            seq_u = self._seq.unwrap(np.fromiter((h[0] for h in headers), dtype=np.int64))
            t0_u = self._time.unwrap(np.fromiter((h[1] for h in headers), dtype=np.int64))
        self._check_gaps(seq_u, t0_u)
        n = int(counts.sum())
        if len(headers) == 1:
            sample_idx = np.arange(n, dtype=np.float64)
            t_s = t0_u[0] * TIME_TICK_S + sample_idx * periods_s[0]
            seq = np.full(n, seq_u[0], dtype=np.int64)
        else:
            starts = np.repeat(np.cumsum(counts) - counts, counts)
            sample_idx = (np.arange(n) - starts).astype(np.float64)
            t_s = np.repeat(t0_u * TIME_TICK_S, counts) + sample_idx * np.repeat(periods_s, counts)
            seq = np.repeat(seq_u, counts)
        return DecodedSamples(
            acc_m_s2=scaled[:, :3],
            gyr_rad_s=scaled[:, 3:],
            host_time_ns=np.full(n, host_time_ns, dtype=np.int64),
            sensor_time_s=t_s,
            seq=seq,
        )

    def _check_gaps(self, seq_u: npt.NDArray[np.int64], t0_u: npt.NDArray[np.int64]) -> None:
        prev = self._last_seq_unwrapped
        self._last_seq_unwrapped = int(seq_u[-1])
        expected = np.empty_like(seq_u)
        expected[1:] = seq_u[:-1] + 1
        expected[0] = seq_u[0] if prev is None else prev + 1
        lost = seq_u - expected
        if not bool(np.any(lost)):
            return
        for i in np.flatnonzero(lost):
            self._record_gap(int(expected[i]), int(seq_u[i]), int(t0_u[i]))

    def _record_gap(self, expected_u: int, received_u: int, t0_u: int) -> None:
        gap = SequenceGap(
            expected_seq=expected_u & 0xFFFF,
            received_seq=received_u & 0xFFFF,
            notifications_lost=received_u - expected_u,
            sensor_time_s=t0_u * TIME_TICK_S,
        )
        self.gap_count += 1
        self.notifications_lost += max(0, gap.notifications_lost)
        self.gaps.append(gap)
        del self.gaps[: -self.max_gaps_kept]
        self.last_error = (
            f"open profile: sequence gap, expected {gap.expected_seq} got "
            f"{gap.received_seq} ({gap.notifications_lost} notifications lost)"
        )


def _split_frames(buf: bytes) -> tuple[list[tuple[int, int, int, int]], bytes, int]:
    """Walk ``buf`` frame by frame: ([(offset, seq, t0, count_rate)], unfinished tail, skipped).

    Bytes that cannot start a frame are skipped one at a time (re-synchronisation).
    """
    frames: list[tuple[int, int, int, int]] = []
    pos = 0
    skipped = 0
    n = len(buf)
    while pos < n:
        if n - pos < HEADER_LEN:
            if buf[pos] == FORMAT_VERSION:
                return frames, buf[pos:], skipped
            pos += 1
            skipped += 1
            continue
        version, seq, t0, count_rate = _HEADER.unpack_from(buf, pos)
        if not _header_ok(version, count_rate):
            pos += 1
            skipped += 1
            continue
        end = pos + HEADER_LEN + SAMPLE_LEN * (count_rate & 0x1F)
        if end > n:
            return frames, buf[pos:], skipped
        frames.append((pos, seq, t0, count_rate))
        pos = end
    return frames, b"", skipped


# --- encoders ---------------------------------------------------------------------------------


def rate_code_for_period(period_us: float) -> int:
    """Rate code whose nominal period matches ``period_us`` within 1 %."""
    for code, hz in RATE_CODE_HZ.items():
        if abs(period_us * hz - 1e6) <= 1e4:
            return code
    raise ValueError(
        f"period {period_us} us matches no open-profile rate ({sorted(RATE_HZ_CODE)} Hz)"
    )


def _to_int16(x: npt.NDArray[np.float64], per_lsb: float) -> npt.NDArray[np.int16]:
    return np.clip(np.rint(x / per_lsb), -32768, 32767).astype("<i2")


def encode_samples(
    acc_m_s2: npt.ArrayLike,
    gyr_rad_s: npt.ArrayLike,
    seq: int,
    t0_us: int,
    period_us: float,
    samples_per_frame: int = SAMPLES_PER_DLE_NOTIFICATION,
) -> list[bytes]:
    """Frames (one per notification) for N consecutive samples.

    Parameters
    ----------
    acc_m_s2, gyr_rad_s : (N, 3) specific force and angular rate; saturate at the ranges.
    seq : sequence number of the first frame (incremented per frame, wraps at 65536).
    t0_us : sensor time of the first sample in microseconds (wraps at 2**32).
    period_us : sample period; must match a rate code (40000, 20000, 10000, 5000, 2500, 2000).
    samples_per_frame : at most this many samples per frame (19 with DLE, 1 at MTU 23).

    Examples
    --------
    >>> frames = encode_samples(np.zeros((40, 3)), np.zeros((40, 3)), 0, 0, 10000.0)
    >>> [len(f) for f in frames]
    [236, 236, 32]
    """
    acc = np.atleast_2d(np.asarray(acc_m_s2, dtype=np.float64))
    gyr = np.atleast_2d(np.asarray(gyr_rad_s, dtype=np.float64))
    if acc.shape != gyr.shape or acc.shape[1:] != (3,):
        raise ValueError(f"acc {acc.shape} and gyr {gyr.shape} must both be (N, 3)")
    if not 1 <= samples_per_frame <= MAX_SAMPLES_PER_FRAME:
        raise ValueError(f"samples_per_frame must be 1..{MAX_SAMPLES_PER_FRAME}")
    code = rate_code_for_period(period_us)
    body = np.concatenate(
        [_to_int16(acc, ACC_M_S2_PER_LSB), _to_int16(gyr, GYR_RAD_S_PER_LSB)], axis=1
    ).tobytes()
    frames = []
    n = acc.shape[0]
    for k, first in enumerate(range(0, n, samples_per_frame)):
        count = min(samples_per_frame, n - first)
        t_us = round(t0_us + first * period_us) & 0xFFFFFFFF
        header = _HEADER.pack(FORMAT_VERSION, (seq + k) & 0xFFFF, t_us, count | (code << 5))
        frames.append(header + body[first * SAMPLE_LEN : (first + count) * SAMPLE_LEN])
    return frames


# --- control, status, battery -----------------------------------------------------------------


def command_start() -> bytes:
    """``01``: start streaming."""
    return bytes([CMD_START])


def command_stop() -> bytes:
    """``02``: stop streaming."""
    return bytes([CMD_STOP])


def command_set_rate(rate_hz: float) -> bytes:
    """``03 rateL rateH``: output rate in Hz (one of the rate-code rates)."""
    if rate_hz not in RATE_HZ_CODE:
        raise ValueError(f"open profile rate {rate_hz} Hz unsupported; use {sorted(RATE_HZ_CODE)}")
    return struct.pack("<BH", CMD_SET_RATE, int(rate_hz))


def command_set_max_samples(n: int) -> bytes:
    """``04 n``: at most n samples per notification (lower latency, more notifications)."""
    if not 1 <= n <= MAX_SAMPLES_PER_FRAME:
        raise ValueError(f"n must be 1..{MAX_SAMPLES_PER_FRAME}")
    return bytes([CMD_SET_MAX_SAMPLES, n])


def parse_command(data: bytes) -> tuple[str, int | None] | None:
    """Decode a control write (for the virtual sensor): ("start"|"stop"|"rate"|"max", arg)."""
    if data == command_start():
        return ("start", None)
    if data == command_stop():
        return ("stop", None)
    if len(data) == 3 and data[0] == CMD_SET_RATE:
        return ("rate", struct.unpack_from("<H", data, 1)[0])
    if len(data) == 2 and data[0] == CMD_SET_MAX_SAMPLES:
        return ("max", data[1])
    return None


_STATUS = struct.Struct("<BBHIBxH")


@dataclass(frozen=True)
class OpenProfileStatus:
    """Contents of the status characteristic (12 bytes)."""

    format_version: int
    streaming: bool
    rate_hz: int
    measured_period_ns: int
    acc_range_g: int
    gyr_range_deg_s: int


def encode_status(status: OpenProfileStatus) -> bytes:
    """``<BBHIBxH``: version, streaming, rate Hz, measured period ns, acc g, pad, gyro deg/s."""
    return _STATUS.pack(
        status.format_version,
        int(status.streaming),
        status.rate_hz,
        status.measured_period_ns,
        status.acc_range_g,
        status.gyr_range_deg_s,
    )


def parse_status(data: bytes) -> OpenProfileStatus | None:
    """Inverse of :func:`encode_status`; None if the length is wrong."""
    if len(data) != _STATUS.size:
        return None
    v, s, r, p, a, g = _STATUS.unpack(data)
    return OpenProfileStatus(v, bool(s), r, p, a, g)


def start_commands(rate_hz: float) -> list[GattWrite]:
    """Set the rate, then start (after subscribing to the data characteristic)."""
    rate = SPEC.check_rate(rate_hz)
    return [
        GattWrite(CONTROL_CHAR_UUID, command_set_rate(rate)),
        GattWrite(CONTROL_CHAR_UUID, command_start()),
    ]


def stop_commands() -> list[GattWrite]:
    """Stop streaming."""
    return [GattWrite(CONTROL_CHAR_UUID, command_stop())]


def battery_request() -> list[GattWrite]:
    """Nothing to write: read the Battery Level characteristic."""
    return []


SPEC = ProtocolSpec(
    name="open_profile",
    service_uuids=(SERVICE_UUID,),
    data_char_uuid=DATA_CHAR_UUID,
    control_char_uuids={"control": CONTROL_CHAR_UUID, "status": STATUS_CHAR_UUID},
    battery_char_uuid=BATTERY_LEVEL_CHAR_UUID,
    battery_service_uuid=BATTERY_SERVICE_UUID,
    supported_rates_hz=tuple(sorted(RATE_HZ_CODE)),
    default_rate_hz=DEFAULT_RATE_HZ,
    name_patterns=("hipsense",),
    new_decoder=OpenProfileDecoder,
    start_commands=start_commands,
    stop_commands=stop_commands,
    battery_request=battery_request,
    parse_battery=parse_battery_level,
    min_att_mtu=23,
)
