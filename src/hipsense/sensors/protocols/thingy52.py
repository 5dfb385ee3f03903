"""Nordic Thingy:52 motion service: raw accelerometer, gyroscope and compass notifications.

Wire format (little-endian)
---------------------------
* Raw data characteristic ``EF680406-...``: one notification = 18 bytes, 9 x int16:
  acc x/y/z, gyro x/y/z, compass x/y/z. The firmware holds each value as Q16.16 and shifts it
  right by 6 (acc), 11 (gyro) and 12 (compass) bits before sending, so
  acc ``raw / 2**10`` g, gyro ``raw / 2**5`` deg/s, compass ``raw / 2**4`` uT.
  Before shifting it clamps the integer part to 6 / 11 / 12 signed bits: acc -32 .. +31 g,
  gyro -1024 .. +1023 deg/s, compass -2048 .. +2047 uT. No timestamp or counter.
* Configuration characteristic ``EF680401-...`` (write with response, checked by the firmware):
  9 bytes ``<HHHHB``: step counter interval ms, temperature interval ms, compass interval ms
  (each 100-5000), motion processing frequency Hz (1-200), wake-on-motion (0/1). Firmware
  default 1000, 500, 500, 10 Hz, 1. The firmware rejects a write of any other length.
* Enabling notifications on the raw characteristic starts the raw feature; disabling stops it.
* Battery: standard Battery Service 0x180F / Battery Level 0x2A19. Advertised name "Thingy".

Sources
-------
NordicSemiconductor/Nordic-Thingy52-FW: ``include/ble_services/ble_tms.h`` (structs
``ble_tms_raw_t``, ``ble_tms_config_t``, limits ``BLE_TMS_CONFIG_*``),
``source/ble_services/ble_tms.c`` (base UUID ``EF68xxxx-9B35-4933-9B10-52FFA9740042``,
characteristic UUIDs 0x0401-0x040A, config length/range check), ``source/modules/m_motion.c``
(Q-format shifts and clamping, units g, deg/s, uT), ``include/modules/m_motion.h`` (default
config), ``include/modules/m_ble.h`` (device name, connection interval 7.5-30 ms, MTU 23).
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from hipsense.sensors.protocols.base import (
    BATTERY_LEVEL_CHAR_UUID,
    BATTERY_SERVICE_UUID,
    DEG_TO_RAD,
    STANDARD_GRAVITY_M_S2,
    DatagramDecoder,
    DecodedSamples,
    GattWrite,
    IntArray,
    ProtocolSpec,
    parse_battery_level,
)

UUID_BASE = "ef68{:04x}-9b35-4933-9b10-52ffa9740042"
MOTION_SERVICE_UUID = UUID_BASE.format(0x0400)
CONFIG_CHAR_UUID = UUID_BASE.format(0x0401)
QUATERNION_CHAR_UUID = UUID_BASE.format(0x0404)
RAW_CHAR_UUID = UUID_BASE.format(0x0406)
EULER_CHAR_UUID = UUID_BASE.format(0x0407)

RECORD_LEN = 18
ACC_FRACTION_BITS = 10  # 16 - 6 integer bits
GYR_FRACTION_BITS = 5  # 16 - 11
MAG_FRACTION_BITS = 4  # 16 - 12
ACC_M_S2_PER_LSB = STANDARD_GRAVITY_M_S2 / (1 << ACC_FRACTION_BITS)
GYR_RAD_S_PER_LSB = DEG_TO_RAD / (1 << GYR_FRACTION_BITS)
MAG_UT_PER_LSB = 1.0 / (1 << MAG_FRACTION_BITS)
ACC_LIMIT_G = (-32.0, 31.0)
GYR_LIMIT_DEG_S = (-1024.0, 1023.0)
MAG_LIMIT_UT = (-2048.0, 2047.0)

CONFIG = struct.Struct("<HHHHB")
CONFIG_INTERVAL_MS_RANGE = (100, 5000)
MOTION_RATE_HZ_RANGE = (1, 200)
DEFAULT_CONFIG = (1000, 500, 500, 10, 1)
DEFAULT_RATE_HZ = 10.0
SUPPORTED_RATES_HZ = (10.0, 20.0, 25.0, 50.0, 100.0, 200.0)

_SCALE = np.array(
    [ACC_M_S2_PER_LSB] * 3 + [GYR_RAD_S_PER_LSB] * 3 + [MAG_UT_PER_LSB] * 3, dtype=np.float64
)


class Thingy52Decoder(DatagramDecoder):
    """Decoder of raw-data notifications (18 bytes each, one sample per notification)."""

    valid_lengths = (RECORD_LEN,)

    def _decode_records(self, records: list[bytes], host_time_ns: IntArray) -> DecodedSamples:
        raw = np.frombuffer(b"".join(records), dtype="<i2").reshape(-1, 9)
        v = raw * _SCALE
        return DecodedSamples(
            acc_m_s2=v[:, 0:3],
            gyr_rad_s=v[:, 3:6],
            host_time_ns=np.asarray(host_time_ns, dtype=np.int64),
            mag_uT=v[:, 6:9],
        )


def _q(x: npt.ArrayLike, per_lsb: float, limits: tuple[float, float], unit: float) -> npt.NDArray:
    lo, hi = limits
    phys = np.clip(np.asarray(x, dtype=np.float64) / unit, lo, hi)
    return np.clip(np.rint(phys * unit / per_lsb), -32768, 32767).astype("<i2")


def encode_raw(
    acc_m_s2: npt.ArrayLike, gyr_rad_s: npt.ArrayLike, mag_uT: npt.ArrayLike | None = None
) -> list[bytes]:
    """One 18-byte raw notification per sample, clamped like the firmware does."""
    acc = np.atleast_2d(np.asarray(acc_m_s2, dtype=np.float64))
    n = acc.shape[0]
    mag = np.zeros((n, 3)) if mag_uT is None else np.atleast_2d(mag_uT)
    vals = np.concatenate(
        [
            _q(acc, ACC_M_S2_PER_LSB, ACC_LIMIT_G, STANDARD_GRAVITY_M_S2),
            _q(np.atleast_2d(gyr_rad_s), GYR_RAD_S_PER_LSB, GYR_LIMIT_DEG_S, DEG_TO_RAD),
            _q(mag, MAG_UT_PER_LSB, MAG_LIMIT_UT, 1.0),
        ],
        axis=1,
    ).astype("<i2")
    body = vals.tobytes()
    return [body[i * RECORD_LEN : (i + 1) * RECORD_LEN] for i in range(n)]


def command_config(
    rate_hz: float,
    step_interval_ms: int = DEFAULT_CONFIG[0],
    temperature_interval_ms: int = DEFAULT_CONFIG[1],
    compass_interval_ms: int = DEFAULT_CONFIG[2],
    wake_on_motion: bool = bool(DEFAULT_CONFIG[4]),
) -> bytes:
    """The 9-byte motion configuration; raises ValueError outside the firmware's limits."""
    lo, hi = CONFIG_INTERVAL_MS_RANGE
    for ms in (step_interval_ms, temperature_interval_ms, compass_interval_ms):
        if not lo <= ms <= hi:
            raise ValueError(f"Thingy interval {ms} ms outside {lo}-{hi} ms")
    rate = round(rate_hz)
    if not MOTION_RATE_HZ_RANGE[0] <= rate <= MOTION_RATE_HZ_RANGE[1]:
        raise ValueError(f"Thingy motion rate {rate_hz} Hz outside 1-200 Hz")
    return CONFIG.pack(
        step_interval_ms, temperature_interval_ms, compass_interval_ms, rate, int(wake_on_motion)
    )


def parse_config(data: bytes) -> tuple[int, int, int, int, int] | None:
    """(step ms, temperature ms, compass ms, rate Hz, wake on motion), None if invalid."""
    if len(data) != CONFIG.size:
        return None
    cfg: tuple[int, int, int, int, int] = CONFIG.unpack(data)
    lo, hi = CONFIG_INTERVAL_MS_RANGE
    if not all(lo <= ms <= hi for ms in cfg[:3]):
        return None
    if not MOTION_RATE_HZ_RANGE[0] <= cfg[3] <= MOTION_RATE_HZ_RANGE[1] or cfg[4] > 1:
        return None
    return cfg


def start_commands(rate_hz: float) -> list[GattWrite]:
    """Write the motion configuration; notifications on the raw characteristic start data."""
    return [GattWrite(CONFIG_CHAR_UUID, command_config(SPEC.check_rate(rate_hz)))]


def stop_commands() -> list[GattWrite]:
    """Nothing to write: disabling notifications stops the raw feature."""
    return []


def battery_request() -> list[GattWrite]:
    """Nothing to write: read the Battery Level characteristic."""
    return []


SPEC = ProtocolSpec(
    name="thingy52",
    service_uuids=(MOTION_SERVICE_UUID,),
    data_char_uuid=RAW_CHAR_UUID,
    control_char_uuids={"config": CONFIG_CHAR_UUID},
    battery_char_uuid=BATTERY_LEVEL_CHAR_UUID,
    battery_service_uuid=BATTERY_SERVICE_UUID,
    supported_rates_hz=SUPPORTED_RATES_HZ,
    default_rate_hz=DEFAULT_RATE_HZ,
    name_patterns=("thingy",),
    new_decoder=Thingy52Decoder,
    start_commands=start_commands,
    stop_commands=stop_commands,
    battery_request=battery_request,
    parse_battery=parse_battery_level,
    min_att_mtu=23,
)
