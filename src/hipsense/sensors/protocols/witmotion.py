"""WitMotion WT901BLECL / BWT901BLECL5.0: the ``55 61`` stream and ``FF AA`` register commands.

Wire format (all little-endian)
-------------------------------
* Stream record, 20 bytes: ``55 61`` then 9 x int16: acceleration x/y/z (``raw / 32768 * 16`` g),
  angular rate x/y/z (``raw / 32768 * 2000`` deg/s), roll/pitch/yaw (``raw / 32768 * 180`` deg).
  No timestamp, counter or checksum. Records are not aligned to notifications: a notification may
  hold several records or part of one, so the decoder buffers and re-synchronises on ``55 61``.
* Register reply, 20 bytes, inside the same notify stream: ``55 71 regL regH`` then 8 x int16,
  the values of registers ``reg, reg+1, ...``. Requested with ``FF AA 27 reg 00``.
* Commands, 5 bytes written to the write characteristic: ``FF AA reg valueL valueH``; unlock
  ``FF AA 69 88 B5``, save ``FF AA 00 00 00``, output rate ``FF AA 03 code 00``. The vendor SDK
  writes unlock, value, save with 100 ms between them.
* Battery: register 0x64, volts x 100. The percentage is the vendor SDK's single-cell
  voltage-to-percent table (an estimate; ``BatteryStatus.percent_is_estimate`` is True).
* UUIDs use the base ``-0000-1000-8000-00805f9a34fb`` (note ``9a``, not the Bluetooth SIG
  ``9b``): a 16-bit short form such as ``ffe4`` expands to a different UUID, so only full UUIDs
  are used here.

Sources
-------
* WITMOTION/WitBluetooth_BWT901BLE5_0, ``Python/BWT901BLE5.0_python_sdk/device_model.py``:
  UUIDs, record layout and scales, ``FF AA`` read/write/unlock/save commands, 100 ms waits.
* Same repository, ``Android_Java/wit-example-ble5/.../components/Bwt901bleResolver.java``
  (``55 71`` reply: register at bytes 2-3, values from byte 4) and ``Bwt901bleProcessor.java``
  (battery register 0x64 / 100 -> volts; voltage-to-percent table; rate command register 0x03).
* rubenmuehlhans/esphome-witmotion ``components/witmotion/witmotion_struct.h`` (WT901BLECL
  datasheet v23-0420): rate codes 0x06 = 10 Hz ... 0x09 = 100 Hz, 0x0A = 200 Hz; battery
  register 0x64 in 1/100 V. WITMOTION/WitStandardProtocol_JY901 ``REG.h`` (the serial JY901
  family) lists 0x0A = 125 Hz (WT931 only) and 0x0B = 200 Hz instead: the 200 Hz code is not
  confirmed for the BLE product by WitMotion's own BLE SDK (see firmware_notes/witmotion.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hipsense.sensors.protocols.base import (
    DEG_TO_RAD,
    STANDARD_GRAVITY_M_S2,
    BatteryStatus,
    DecodedSamples,
    GattWrite,
    ProtocolDecoder,
    ProtocolSpec,
)

_BASE = "-0000-1000-8000-00805f9a34fb"
SERVICE_UUID = "0000ffe5" + _BASE
NOTIFY_CHAR_UUID = "0000ffe4" + _BASE
WRITE_CHAR_UUID = "0000ffe9" + _BASE

RECORD_LEN = 20
HEADER_BYTE = 0x55
FLAG_SAMPLE = 0x61
FLAG_REGISTER = 0x71

INT16_FULL_SCALE = 32768.0
ACC_FULL_SCALE_G = 16.0
GYR_FULL_SCALE_DEG_S = 2000.0
ANGLE_FULL_SCALE_DEG = 180.0
ACC_M_S2_PER_LSB = ACC_FULL_SCALE_G / INT16_FULL_SCALE * STANDARD_GRAVITY_M_S2
GYR_RAD_S_PER_LSB = GYR_FULL_SCALE_DEG_S / INT16_FULL_SCALE * DEG_TO_RAD
ANGLE_DEG_PER_LSB = ANGLE_FULL_SCALE_DEG / INT16_FULL_SCALE

REG_SAVE = 0x00
REG_RATE = 0x03
REG_READ = 0x27
REG_UNLOCK = 0x69
UNLOCK_KEY = 0xB588
REG_BATTERY = 0x64
BATTERY_VOLTS_PER_LSB = 0.01
COMMAND_GAP_S = 0.1

RATE_CODES: dict[float, int] = {10.0: 0x06, 20.0: 0x07, 50.0: 0x08, 100.0: 0x09, 200.0: 0x0A}
"""Output rate (Hz) -> value of register 0x03 (BLE datasheet via esphome-witmotion)."""
DEFAULT_RATE_HZ = 10.0

# Single-cell Li-ion voltage -> percent breakpoints used by the vendor SDK
# (Bwt901bleProcessor.getEqPercent, branch for voltages <= 5.5 V). Linear in between.
BATTERY_CURVE_VOLTS = (3.4, 3.5, 3.68, 3.7, 3.73, 3.77, 3.79, 3.82, 3.87, 3.93, 3.96, 3.99)
BATTERY_CURVE_PERCENT = (0, 5, 10, 15, 20, 30, 40, 50, 60, 75, 90, 100)

_VALUES_DTYPE = np.dtype("<i2")


def battery_percent_from_volts(volts: float) -> float:
    """Approximate state of charge (0-100 %) of the single cell, from the vendor SDK's table."""
    return float(np.interp(volts, BATTERY_CURVE_VOLTS, BATTERY_CURVE_PERCENT))


class WitMotionDecoder(ProtocolDecoder):
    """Decoder of the WitMotion notify stream (samples plus interleaved register replies).

    Attributes
    ----------
    registers : register address -> last value read (int16), from ``55 71`` replies.
    battery : last battery reading seen in the stream, or None.
    replies_decoded : number of ``55 71`` replies decoded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.registers: dict[int, int] = {}
        self.battery: BatteryStatus | None = None
        self.replies_decoded = 0

    def _feed(self, data: bytes, host_time_ns: int) -> DecodedSamples:
        if not self._pending and len(data) % RECORD_LEN == 0 and data:
            # Fast path: the notification is whole records, all sample records.
            rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_LEN)
            if bool(np.all(rec[:, 0] == HEADER_BYTE)) and bool(np.all(rec[:, 1] == FLAG_SAMPLE)):
                self.bytes_accepted += len(data)
                n = rec.shape[0]
                return self._samples(rec, np.full(n, host_time_ns, dtype=np.int64))
        records, _ = self._split(self._pending + data)
        return self._samples(records, np.full(records.shape[0], host_time_ns, dtype=np.int64))

    def feed_many(
        self, notifications: Sequence[bytes], host_times_ns: Sequence[int]
    ) -> DecodedSamples:
        """Decode a burst as one byte stream; each sample gets the host time of the
        notification that completed it (same result as ``feed`` on each)."""
        if not notifications:
            return DecodedSamples.empty()
        chunks = [bytes(b) for b in notifications]
        n_in = sum(len(c) for c in chunks)
        self.bytes_received += n_in
        pending = len(self._pending)
        try:
            records, ends = self._split(self._pending + b"".join(chunks))
            chunk_ends = pending + np.cumsum([len(c) for c in chunks])
            which = np.searchsorted(chunk_ends, ends, side="left")
            hosts = np.asarray(host_times_ns, dtype=np.int64)[which]
            out = self._samples(records, hosts)
        except Exception as exc:  # the contract: arbitrary bytes never raise
            self._pending = b""
            self._malformed(0, f"WitMotion: internal decode error {exc!r}")
            return DecodedSamples.empty()
        self.records_decoded += len(out)
        return out

    def _split(self, buf: bytes) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        """Whole records of ``buf`` (k, 20) and the end offset of each; keeps the tail."""
        self._pending = b""
        arr = np.frombuffer(buf, dtype=np.uint8)
        n = arr.size
        runs: list[npt.NDArray[np.uint8]] = []
        run_ends: list[npt.NDArray[np.int64]] = []
        pos = 0
        while pos < n:
            start = _find_header(arr, pos)
            if start < 0:
                self._skip(n - pos, "no 55 61 / 55 71 header")
                break
            if start > pos:
                self._skip(start - pos, "bytes before a header")
            if n - start < RECORD_LEN:
                self._pending = buf[start:]
                break
            k_max = (n - start) // RECORD_LEN
            rec = arr[start : start + RECORD_LEN * k_max].reshape(k_max, RECORD_LEN)
            ok = (rec[:, 0] == HEADER_BYTE) & (
                (rec[:, 1] == FLAG_SAMPLE) | (rec[:, 1] == FLAG_REGISTER)
            )
            k = k_max if bool(ok.all()) else int(np.argmin(ok))
            runs.append(rec[:k])
            run_ends.append(start + RECORD_LEN * np.arange(1, k + 1, dtype=np.int64))
            pos = start + RECORD_LEN * k
        if not runs:
            return np.zeros((0, RECORD_LEN), dtype=np.uint8), np.zeros(0, dtype=np.int64)
        records = runs[0] if len(runs) == 1 else np.concatenate(runs)
        self.bytes_accepted += records.size
        return records, np.concatenate(run_ends)

    def _samples(
        self, records: npt.NDArray[np.uint8], host_time_ns: npt.NDArray[np.int64]
    ) -> DecodedSamples:
        if records.shape[0] == 0:
            return DecodedSamples.empty()
        is_sample = records[:, 1] == FLAG_SAMPLE
        if not bool(is_sample.all()):
            self._read_replies(records[~is_sample])
            records = records[is_sample]
            host_time_ns = host_time_ns[is_sample]
        values = np.ascontiguousarray(records[:, 2:]).view(_VALUES_DTYPE).astype(np.float64)
        return DecodedSamples(
            acc_m_s2=values[:, 0:3] * ACC_M_S2_PER_LSB,
            gyr_rad_s=values[:, 3:6] * GYR_RAD_S_PER_LSB,
            host_time_ns=host_time_ns,
            extra={"euler_deg": values[:, 6:9] * ANGLE_DEG_PER_LSB},
        )

    def _skip(self, n_bytes: int, why: str) -> None:
        if n_bytes > 0:
            self._malformed(n_bytes, f"WitMotion: discarded {n_bytes} bytes ({why})")

    def _read_replies(self, replies: npt.NDArray[np.uint8]) -> None:
        # Replies are rare (one per explicit read), so a loop over them is fine.
        for row in replies:
            reg = int(row[2]) | (int(row[3]) << 8)
            vals = np.ascontiguousarray(row[4:]).view(_VALUES_DTYPE)
            for i, v in enumerate(vals):
                self.registers[reg + i] = int(v)
            self.replies_decoded += 1
            if reg == REG_BATTERY:
                self.battery = _battery_from_raw(int(vals[0]))


def _find_header(arr: npt.NDArray[np.uint8], pos: int) -> int:
    """Index of the first plausible record start at or after ``pos`` (-1 if none).

    A trailing lone ``0x55`` counts: its flag byte may arrive with the next notification.
    """
    n = arr.size
    idx = np.flatnonzero(arr[pos:] == HEADER_BYTE) + pos
    if idx.size == 0:
        return -1
    nxt = arr[np.minimum(idx + 1, n - 1)]
    valid = (idx == n - 1) | (nxt == FLAG_SAMPLE) | (nxt == FLAG_REGISTER)
    hits = np.flatnonzero(valid)
    return int(idx[hits[0]]) if hits.size else -1


def _battery_from_raw(raw: int) -> BatteryStatus:
    volts = raw * BATTERY_VOLTS_PER_LSB
    return BatteryStatus(
        percent=battery_percent_from_volts(volts), volts=volts, percent_is_estimate=True
    )


# --- encoders (used by the simulator's virtual WitMotion) -----------------------------------


def _to_int16(x: npt.ArrayLike, per_lsb: float) -> npt.NDArray[np.int16]:
    q = np.rint(np.asarray(x, dtype=np.float64) / per_lsb)
    return np.clip(q, -32768, 32767).astype("<i2")


def encode_records(
    acc_m_s2: npt.ArrayLike, gyr_rad_s: npt.ArrayLike, euler_deg: npt.ArrayLike | None = None
) -> bytes:
    """Stream records (20 bytes each, concatenated) for N samples; values saturate at int16.

    ``euler_deg`` (N, 3) is roll, pitch, yaw; zeros if omitted.
    """
    acc = np.atleast_2d(np.asarray(acc_m_s2, dtype=np.float64))
    n = acc.shape[0]
    euler = np.zeros((n, 3)) if euler_deg is None else np.asarray(euler_deg, dtype=np.float64)
    out = np.empty((n, RECORD_LEN), dtype=np.uint8)
    out[:, 0] = HEADER_BYTE
    out[:, 1] = FLAG_SAMPLE
    body = np.concatenate(
        [
            _to_int16(acc, ACC_M_S2_PER_LSB),
            _to_int16(np.atleast_2d(gyr_rad_s), GYR_RAD_S_PER_LSB),
            _to_int16(np.atleast_2d(euler), ANGLE_DEG_PER_LSB),
        ],
        axis=1,
    )
    out[:, 2:] = body.view(np.uint8).reshape(n, 18)
    return out.tobytes()


def encode_register_reply(reg: int, values: list[int]) -> bytes:
    """A ``55 71`` reply for register ``reg``: up to 8 int16 values, zero-filled."""
    vals = np.zeros(8, dtype="<i2")
    vals[: len(values)] = values[:8]
    return bytes([HEADER_BYTE, FLAG_REGISTER, reg & 0xFF, reg >> 8]) + vals.tobytes()


def encode_battery_reply(volts: float) -> bytes:
    """Reply to a battery read (register 0x64, volts x 100)."""
    return encode_register_reply(REG_BATTERY, [round(volts / BATTERY_VOLTS_PER_LSB)])


def split_notifications(stream: bytes, max_len: int = 20) -> list[bytes]:
    """Cut a byte stream into notifications of at most ``max_len`` bytes (ATT MTU - 3)."""
    return [stream[i : i + max_len] for i in range(0, len(stream), max_len)]


# --- commands ---------------------------------------------------------------------------------


def command_write_register(reg: int, value: int) -> bytes:
    """``FF AA reg valueL valueH``."""
    return bytes([0xFF, 0xAA, reg & 0xFF, value & 0xFF, (value >> 8) & 0xFF])


def command_unlock() -> bytes:
    """``FF AA 69 88 B5``: unlock before writing a register."""
    return command_write_register(REG_UNLOCK, UNLOCK_KEY)


def command_save() -> bytes:
    """``FF AA 00 00 00``: save the configuration."""
    return command_write_register(REG_SAVE, 0x0000)


def command_read_register(reg: int) -> bytes:
    """``FF AA 27 reg 00``: the answer arrives as a ``55 71`` reply in the notify stream."""
    return bytes([0xFF, 0xAA, REG_READ, reg & 0xFF, 0x00])


def command_set_rate(rate_hz: float) -> bytes:
    """``FF AA 03 code 00`` for one of :data:`RATE_CODES`."""
    if rate_hz not in RATE_CODES:
        raise ValueError(f"WitMotion rate {rate_hz} Hz unsupported; use one of {list(RATE_CODES)}")
    return command_write_register(REG_RATE, RATE_CODES[rate_hz])


def rate_from_command(cmd: bytes) -> float | None:
    """Inverse of :func:`command_set_rate` (for the virtual sensor); None if not a rate command."""
    if len(cmd) != 5 or cmd[:3] != bytes([0xFF, 0xAA, REG_RATE]):
        return None
    for rate, code in RATE_CODES.items():
        if code == cmd[3]:
            return rate
    return None


def start_commands(rate_hz: float) -> list[GattWrite]:
    """Unlock, set rate, save, 100 ms apart. The device streams as soon as notify is on."""
    rate = SPEC.check_rate(rate_hz)
    return [
        GattWrite(WRITE_CHAR_UUID, cmd, with_response=False, delay_after_s=COMMAND_GAP_S)
        for cmd in (command_unlock(), command_set_rate(rate), command_save())
    ]


def stop_commands() -> list[GattWrite]:
    """Nothing to write: streaming stops when notifications are disabled."""
    return []


def battery_request() -> list[GattWrite]:
    """Read register 0x64; the reply comes back in the notify stream."""
    return [GattWrite(WRITE_CHAR_UUID, command_read_register(REG_BATTERY), with_response=False)]


def parse_battery(data: bytes) -> BatteryStatus | None:
    """Battery from the first ``55 71 64 00`` reply inside ``data``, else None."""
    marker = bytes([HEADER_BYTE, FLAG_REGISTER, REG_BATTERY, 0x00])
    i = data.find(marker)
    if i < 0 or len(data) - i < RECORD_LEN:
        return None
    raw = int(np.frombuffer(data, dtype=_VALUES_DTYPE, count=1, offset=i + 4)[0])
    return _battery_from_raw(raw)


SPEC = ProtocolSpec(
    name="witmotion",
    service_uuids=(SERVICE_UUID,),
    data_char_uuid=NOTIFY_CHAR_UUID,
    control_char_uuids={"write": WRITE_CHAR_UUID},
    battery_char_uuid=None,
    supported_rates_hz=tuple(RATE_CODES),
    default_rate_hz=DEFAULT_RATE_HZ,
    name_patterns=("wt901", "bwt901", "wt9011"),
    new_decoder=WitMotionDecoder,
    start_commands=start_commands,
    stop_commands=stop_commands,
    battery_request=battery_request,
    parse_battery=parse_battery,
    min_att_mtu=23,
)
