"""Movella DOT (formerly Xsens DOT) measurement service: real-time streaming payloads.

Wire format (little-endian, IEEE-754 float32)
---------------------------------------------
* UUIDs ``1517xxxx-4947-11E9-8646-D663BD873D93``. Measurement service 0x2000: control 0x2001
  (3 bytes: type 1 = measurement, action 1 start / 0 stop, payload mode), long payload 0x2002
  (63 bytes), medium 0x2003 (40 bytes), short 0x2004 (20 bytes); unused trailing bytes are 0.
  Enable notify on the payload characteristic before writing start; stop, then disable.
* Payload modes implemented here (timestamp = u32 microseconds on the sensor clock, wraps every
  2**32 us = 71.6 min):

  ======  ======================  =======  =====  ============================================
  mode    name                    char     bytes  fields after the timestamp
  ======  ======================  =======  =====  ============================================
  26      custom mode 5           long     44     quaternion w,x,y,z; acc m/s^2; gyro deg/s
  21      rate quantities         medium   28     acc m/s^2; gyro deg/s
  20      rate quantities + mag   medium   34     acc; gyro; mag int16 / 2**12 (a.u.)
  19      delta quantities        medium   32     dq w,x,y,z; dv x,y,z (m/s)
  ======  ======================  =======  =====  ============================================

  Acceleration is calibrated, in sensor coordinates, gravity included (specific force).
  For mode 19 the decoder also derives acc = dv / dt and gyro = rotation angle of dq / dt
  with dt = 1 / output rate (an assumption: the spec does not state the interval).
* Configuration service 0x1000, device control 0x1002 (32 bytes): byte 0 visit-index bitmask
  (bit 4 = output rate), bytes 24-25 output rate u16 Hz: 1, 4, 10, 12, 15, 20, 30, 60
  (default); 120 Hz is for recording only. Not changeable while measuring.
* Battery service 0x3000, characteristic 0x3001 (read/notify): level %, charging flag.
* Advertised name "Movella DOT" (firmware >= 2.x per the spec's table) or "Xsens DOT".

Sources
-------
* Movella DOT BLE Service Specification, document XD0506P revision C (July 2023):
  base UUID, tables 12-17 (characteristics, control structure, payload modes, sizes, data
  types and units), table 7 (device control), table 21 (battery), 1.2 (name, company 2182).
* xsens/xsens_dot_server ``bleHandler.js`` (field offsets: acc at 4, gyro at 16, mag at 28 as
  int16 / 2**12 for mode 20; u32 timestamp at 0; rollover at 2**32) and ``global.js``
  (payload mode numbers 2, 16, 20, 22, 23, 24).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hipsense.sensors.protocols.base import (
    DEG_TO_RAD,
    BatteryStatus,
    DatagramDecoder,
    DecodedSamples,
    GattWrite,
    IntArray,
    ProtocolSpec,
    TimestampUnwrapper,
)

UUID_BASE = "1517{:04x}-4947-11e9-8646-d663bd873d93"
CONFIG_SERVICE_UUID = UUID_BASE.format(0x1000)
DEVICE_INFO_CHAR_UUID = UUID_BASE.format(0x1001)
DEVICE_CONTROL_CHAR_UUID = UUID_BASE.format(0x1002)
DEVICE_REPORT_CHAR_UUID = UUID_BASE.format(0x1004)
MEASUREMENT_SERVICE_UUID = UUID_BASE.format(0x2000)
CONTROL_CHAR_UUID = UUID_BASE.format(0x2001)
LONG_PAYLOAD_CHAR_UUID = UUID_BASE.format(0x2002)
MEDIUM_PAYLOAD_CHAR_UUID = UUID_BASE.format(0x2003)
SHORT_PAYLOAD_CHAR_UUID = UUID_BASE.format(0x2004)
BATTERY_SERVICE_UUID = UUID_BASE.format(0x3000)
BATTERY_CHAR_UUID = UUID_BASE.format(0x3001)

LONG_PAYLOAD_LEN = 63
MEDIUM_PAYLOAD_LEN = 40
SHORT_PAYLOAD_LEN = 20
DEVICE_CONTROL_LEN = 32
VISIT_OUTPUT_RATE = 0x10
OUTPUT_RATE_OFFSET = 24

MODE_DELTA_QUANTITIES = 19
MODE_RATE_QUANTITIES_WITH_MAG = 20
MODE_RATE_QUANTITIES = 21
MODE_CUSTOM_5 = 26
DEFAULT_MODE = MODE_CUSTOM_5

MAG_AU_PER_LSB = 1.0 / (1 << 12)
TIME_TICK_S = 1e-6
SUPPORTED_RATES_HZ = (1.0, 4.0, 10.0, 12.0, 15.0, 20.0, 30.0, 60.0)
DEFAULT_RATE_HZ = 60.0


@dataclass(frozen=True)
class PayloadMode:
    """One payload mode: id, characteristic, record dtype."""

    mode_id: int
    name: str
    char_uuid: str
    char_len: int
    dtype: np.dtype[np.void]

    @property
    def size(self) -> int:
        """Bytes of meaningful data (the rest of the characteristic is zero padding)."""
        return int(self.dtype.itemsize)


def _dt(fields: list[tuple[str, str, int]]) -> np.dtype[np.void]:
    return np.dtype([("t_us", "<u4")] + [(n, t, (k,)) for n, t, k in fields])


PAYLOAD_MODES: dict[int, PayloadMode] = {
    m.mode_id: m
    for m in (
        PayloadMode(
            MODE_CUSTOM_5,
            "custom mode 5",
            LONG_PAYLOAD_CHAR_UUID,
            LONG_PAYLOAD_LEN,
            _dt([("quat", "<f4", 4), ("acc", "<f4", 3), ("gyr", "<f4", 3)]),
        ),
        PayloadMode(
            MODE_RATE_QUANTITIES,
            "rate quantities",
            MEDIUM_PAYLOAD_CHAR_UUID,
            MEDIUM_PAYLOAD_LEN,
            _dt([("acc", "<f4", 3), ("gyr", "<f4", 3)]),
        ),
        PayloadMode(
            MODE_RATE_QUANTITIES_WITH_MAG,
            "rate quantities with mag",
            MEDIUM_PAYLOAD_CHAR_UUID,
            MEDIUM_PAYLOAD_LEN,
            _dt([("acc", "<f4", 3), ("gyr", "<f4", 3), ("mag", "<i2", 3)]),
        ),
        PayloadMode(
            MODE_DELTA_QUANTITIES,
            "delta quantities",
            MEDIUM_PAYLOAD_CHAR_UUID,
            MEDIUM_PAYLOAD_LEN,
            _dt([("dq", "<f4", 4), ("dv", "<f4", 3)]),
        ),
    )
}


class MovellaDotDecoder(DatagramDecoder):
    """Decoder of one payload mode; notifications may be padded to the characteristic length.

    Parameters
    ----------
    mode : payload mode id (26, 21, 20 or 19).
    output_rate_hz : configured output rate; only used to derive acc/gyro in mode 19.
    """

    def __init__(self, mode: int = DEFAULT_MODE, output_rate_hz: float = DEFAULT_RATE_HZ) -> None:
        super().__init__()
        if mode not in PAYLOAD_MODES:
            raise ValueError(f"unsupported DOT payload mode {mode}; use {sorted(PAYLOAD_MODES)}")
        self.mode = PAYLOAD_MODES[mode]
        self.output_rate_hz = output_rate_hz
        self.valid_lengths = tuple(sorted({self.mode.size, self.mode.char_len}))
        self._time = TimestampUnwrapper(32)

    def reset(self) -> None:
        """Forget buffered bytes and the timestamp unwrapping state."""
        super().reset()
        self.valid_lengths = tuple(sorted({self.mode.size, self.mode.char_len}))
        self._time = TimestampUnwrapper(32)

    def _decode_records(self, records: list[bytes], host_time_ns: IntArray) -> DecodedSamples:
        # A signalling NaN on the wire warns when cast to float64: cast quietly, then drop
        # every record that is not finite (it would poison the filter's state for good).
        with np.errstate(invalid="ignore"):
            out = self._decode_records_checked(records, host_time_ns)
        finite = np.isfinite(out.acc_m_s2).all(axis=1) & np.isfinite(out.gyr_rad_s).all(axis=1)
        for values in out.extra.values():
            finite &= np.isfinite(values).reshape(len(values), -1).all(axis=1)
        if bool(finite.all()):
            return out
        bad = np.flatnonzero(~finite)
        self._malformed(
            sum(len(records[i]) for i in bad),
            f"dropped {len(bad)} record(s) with non-finite values",
        )
        return DecodedSamples(
            acc_m_s2=out.acc_m_s2[finite],
            gyr_rad_s=out.gyr_rad_s[finite],
            host_time_ns=out.host_time_ns[finite],
            mag_uT=None if out.mag_uT is None else out.mag_uT[finite],
            sensor_time_s=None if out.sensor_time_s is None else out.sensor_time_s[finite],
            extra={k: v[finite] for k, v in out.extra.items()},
        )

    def _decode_records_checked(
        self, records: list[bytes], host_time_ns: IntArray
    ) -> DecodedSamples:
        size = self.mode.size
        rec = np.frombuffer(b"".join(r[:size] for r in records), dtype=self.mode.dtype)
        t_s = self._time.unwrap(rec["t_us"]).astype(np.float64) * TIME_TICK_S
        extra: dict[str, npt.NDArray[np.float64]] = {}
        mag = None
        if self.mode.mode_id == MODE_DELTA_QUANTITIES:
            dq = rec["dq"].astype(np.float64)
            dv = rec["dv"].astype(np.float64)
            dt_s = 1.0 / self.output_rate_hz
            acc = dv / dt_s
            gyr = _rotation_vector(dq) / dt_s
            extra = {"dq_wxyz": dq, "dv_m_s": dv}
        else:
            acc = rec["acc"].astype(np.float64)
            gyr = rec["gyr"].astype(np.float64) * DEG_TO_RAD
            if "quat" in rec.dtype.names:  # type: ignore[operator]
                extra["quat_wxyz"] = rec["quat"].astype(np.float64)
            if "mag" in rec.dtype.names:  # type: ignore[operator]
                extra["mag_au"] = rec["mag"] * MAG_AU_PER_LSB
        return DecodedSamples(
            acc_m_s2=acc,
            gyr_rad_s=gyr,
            host_time_ns=np.asarray(host_time_ns, dtype=np.int64),
            mag_uT=mag,
            sensor_time_s=t_s,
            extra=extra,
        )


def _rotation_vector(q_wxyz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Rotation vector (axis * angle, rad) of unit quaternions, shortest rotation."""
    w = q_wxyz[:, :1]
    v = q_wxyz[:, 1:]
    v = np.where(w < 0, -v, v)
    norm_v = np.linalg.norm(v, axis=1, keepdims=True)
    angle = 2.0 * np.arctan2(norm_v, np.abs(w))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(norm_v > 1e-12, v / norm_v * angle, 2.0 * v)
    return np.asarray(out, dtype=np.float64)


# --- encoders ---------------------------------------------------------------------------------


def encode_payloads(
    t_us: npt.ArrayLike,
    acc_m_s2: npt.ArrayLike,
    gyr_rad_s: npt.ArrayLike,
    quat_wxyz: npt.ArrayLike | None = None,
    mode: int = DEFAULT_MODE,
    mag_au: npt.ArrayLike | None = None,
    pad: bool = True,
) -> list[bytes]:
    """One notification per sample for rate-quantity modes (26, 21, 20).

    Parameters
    ----------
    t_us : (N,) sensor time in microseconds (taken modulo 2**32).
    acc_m_s2, gyr_rad_s : (N, 3); gyro is sent in deg/s as the device does.
    quat_wxyz : (N, 4) for mode 26 (identity if omitted).
    pad : zero-pad to the characteristic length (63 / 40 bytes) as the device does.
    """
    if mode not in PAYLOAD_MODES or mode == MODE_DELTA_QUANTITIES:
        raise ValueError(f"encode_payloads supports modes 26, 21, 20, not {mode}")
    pm = PAYLOAD_MODES[mode]
    acc = np.atleast_2d(np.asarray(acc_m_s2, dtype=np.float64))
    n = acc.shape[0]
    rec = np.zeros(n, dtype=pm.dtype)
    rec["t_us"] = np.asarray(t_us, dtype=np.int64) % (1 << 32)
    rec["acc"] = acc
    rec["gyr"] = np.atleast_2d(np.asarray(gyr_rad_s, dtype=np.float64)) / DEG_TO_RAD
    if mode == MODE_CUSTOM_5:
        rec["quat"] = [1.0, 0.0, 0.0, 0.0] if quat_wxyz is None else np.atleast_2d(quat_wxyz)
    if mode == MODE_RATE_QUANTITIES_WITH_MAG and mag_au is not None:
        rec["mag"] = np.clip(np.rint(np.atleast_2d(mag_au) / MAG_AU_PER_LSB), -32768, 32767)
    return _records_to_notifications(rec, pm, pad)


def encode_delta_payloads(
    t_us: npt.ArrayLike, dq_wxyz: npt.ArrayLike, dv_m_s: npt.ArrayLike, pad: bool = True
) -> list[bytes]:
    """Mode 19 notifications from orientation (dq) and velocity (dv) increments."""
    pm = PAYLOAD_MODES[MODE_DELTA_QUANTITIES]
    dq = np.atleast_2d(np.asarray(dq_wxyz, dtype=np.float64))
    rec = np.zeros(dq.shape[0], dtype=pm.dtype)
    rec["t_us"] = np.asarray(t_us, dtype=np.int64) % (1 << 32)
    rec["dq"] = dq
    rec["dv"] = np.atleast_2d(dv_m_s)
    return _records_to_notifications(rec, pm, pad)


def _records_to_notifications(rec: npt.NDArray[np.void], pm: PayloadMode, pad: bool) -> list[bytes]:
    filler = bytes(pm.char_len - pm.size) if pad else b""
    body = rec.tobytes()
    return [body[i * pm.size : (i + 1) * pm.size] + filler for i in range(rec.shape[0])]


# --- commands ---------------------------------------------------------------------------------


def command_start(mode: int = DEFAULT_MODE) -> bytes:
    """``01 01 mode``: start measuring in payload ``mode``."""
    return bytes([0x01, 0x01, mode])


def command_stop(mode: int = DEFAULT_MODE) -> bytes:
    """``01 00 mode``: stop measuring."""
    return bytes([0x01, 0x00, mode])


def command_output_rate(rate_hz: float) -> bytes:
    """32-byte device-control write setting only the output rate (visit index bit 4)."""
    if rate_hz not in SUPPORTED_RATES_HZ:
        raise ValueError(f"DOT output rate {rate_hz} Hz unsupported; use {SUPPORTED_RATES_HZ}")
    out = bytearray(DEVICE_CONTROL_LEN)
    out[0] = VISIT_OUTPUT_RATE
    out[OUTPUT_RATE_OFFSET : OUTPUT_RATE_OFFSET + 2] = int(rate_hz).to_bytes(2, "little")
    return bytes(out)


def parse_command(data: bytes) -> tuple[str, int] | None:
    """Decode a control (0x2001) write for the virtual sensor: ("start"|"stop", mode)."""
    if len(data) == 3 and data[0] == 0x01 and data[1] in (0, 1):
        return ("start" if data[1] else "stop", data[2])
    return None


def rate_from_device_control(data: bytes) -> int | None:
    """Output rate of a device-control write with the output-rate bit set, else None."""
    if len(data) != DEVICE_CONTROL_LEN or not data[0] & VISIT_OUTPUT_RATE:
        return None
    return int.from_bytes(data[OUTPUT_RATE_OFFSET : OUTPUT_RATE_OFFSET + 2], "little")


def encode_battery(percent: int, charging: bool = False) -> bytes:
    """Battery characteristic value: level %, charging flag."""
    return bytes([max(0, min(100, percent)), int(charging)])


def parse_battery(data: bytes) -> BatteryStatus | None:
    """Battery characteristic (0x3001): ``[level %, charging]``."""
    if len(data) != 2 or data[0] > 100 or data[1] > 1:
        return None
    return BatteryStatus(percent=float(data[0]), charging=bool(data[1]))


def spec_for_mode(mode: int = DEFAULT_MODE) -> ProtocolSpec:
    """The DOT protocol descriptor streaming in payload ``mode``."""
    pm = PAYLOAD_MODES[mode]

    def start(rate_hz: float) -> list[GattWrite]:
        rate = min(SUPPORTED_RATES_HZ, key=lambda r: abs(r - rate_hz))
        return [
            GattWrite(DEVICE_CONTROL_CHAR_UUID, command_output_rate(rate)),
            GattWrite(CONTROL_CHAR_UUID, command_start(mode)),
        ]

    def stop() -> list[GattWrite]:
        return [GattWrite(CONTROL_CHAR_UUID, command_stop(mode))]

    return ProtocolSpec(
        name="movella_dot",
        service_uuids=(MEASUREMENT_SERVICE_UUID, CONFIG_SERVICE_UUID),
        data_char_uuid=pm.char_uuid,
        control_char_uuids={
            "control": CONTROL_CHAR_UUID,
            "device_control": DEVICE_CONTROL_CHAR_UUID,
        },
        battery_char_uuid=BATTERY_CHAR_UUID,
        battery_service_uuid=BATTERY_SERVICE_UUID,
        supported_rates_hz=SUPPORTED_RATES_HZ,
        default_rate_hz=DEFAULT_RATE_HZ,
        name_patterns=("movella dot", "xsens dot"),
        new_decoder=lambda: MovellaDotDecoder(mode),
        start_commands=start,
        stop_commands=stop,
        battery_request=lambda: [],
        parse_battery=parse_battery,
        min_att_mtu=pm.char_len + 3,
    )


SPEC = spec_for_mode(DEFAULT_MODE)
