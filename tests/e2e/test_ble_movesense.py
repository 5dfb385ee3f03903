"""Movesense GSP end to end: bumble GATT server -> bleak -> decoder (and BleSession).

IMU6 goes through hipsense's BleSession like any sensor; IMU9 frames are longer than a
notification at ATT MTU 247, so they travel as DATA + DATA_PART2 and are reassembled.
"""

from __future__ import annotations

import numpy as np
import pytest
from bleak import BleakClient

from hipsense.sensors.ble import scan
from hipsense.sensors.protocols import movesense as ms
from hipsense.types import RawNotification, SampleBlock
from hipsim import simulate_session
from hipsim.ble import MovesenseSensor, VirtualRadio

pytestmark = pytest.mark.slow

RATE_HZ = ms.DEFAULT_RATE_HZ
PROTOCOLS = {"pelvis": "movesense", "thigh_left": "movesense", "thigh_right": "movesense"}


def _wrapped_ms(a: np.ndarray) -> np.ndarray:
    """Differences of u32 millisecond clocks, folded into +-2**31."""
    return (a + 2**31) % 2**32 - 2**31


def _check_sensor_times(sensor: MovesenseSensor, decoded_s: np.ndarray, sim_s: np.ndarray) -> None:
    # The frame carries its first sample's time in whole ms; the rest follow at 1000/104 ms.
    error_ms = _wrapped_ms(decoded_s * 1e3 - sensor.sensor_time_ms(sim_s))
    assert np.max(np.abs(error_ms)) <= 0.5 + 1e-6
    starts = slice(None, None, ms.SAMPLES_PER_FRAME)
    exact = _wrapped_ms(decoded_s[starts] * 1e3 - np.rint(sensor.sensor_time_ms(sim_s[starts])))
    np.testing.assert_allclose(exact, 0.0, atol=1e-6)


async def test_imu6_streams_through_the_session_exactly(virtual_ble):
    sim = simulate_session("active_extension", 11, duration_s=12.0, rate_hz=RATE_HZ)
    blocks: dict[str, list[SampleBlock]] = {r: [] for r in PROTOCOLS}
    raw: dict[str, list[bytes]] = {r: [] for r in PROTOCOLS}

    def collect(items: list) -> None:
        for item in items:
            if isinstance(item, SampleBlock):
                blocks[item.role].append(item)
            elif isinstance(item, RawNotification):
                raw[item.role].append(item.data)

    status, radio = await virtual_ble(
        sim.samples, PROTOCOLS, dict.fromkeys(PROTOCOLS, 100.0), collect
    )
    by_role = {s.role: s for s in status}
    for role, truth in sim.samples.items():
        time_s = np.concatenate([b.time_s for b in blocks[role]])
        acc = np.concatenate([b.acc_m_s2 for b in blocks[role]])
        gyr = np.concatenate([b.gyr_rad_s for b in blocks[role]])
        # Every sample, once, in order, equal to the simulated one within float32.
        assert len(acc) == len(truth), role
        np.testing.assert_allclose(acc, truth.acc_m_s2, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(gyr, truth.gyr_rad_s, rtol=1e-6, atol=1e-7)
        assert np.all(np.diff(time_s) > 0)
        assert np.median(np.abs(time_s - truth.time_s)) < 0.02, role
        s = by_role[role]
        assert s.protocol == "movesense" and s.nominal_rate_hz == RATE_HZ
        assert s.malformed == 0 and s.gaps == 0
        # The sensor clock: decode the raw notifications again and compare with the sensor's.
        sensor = radio.sensor(s.address)
        assert isinstance(sensor, MovesenseSensor)
        notes = raw[role]
        assert {len(n) for n in notes[:-1]} == {ms.frame_length("IMU6", 8)}  # 8 per frame
        decoded = ms.MovesenseDecoder().feed_many(notes, list(range(len(notes))))
        assert decoded.sensor_time_s is not None
        _check_sensor_times(sensor, decoded.sensor_time_s, truth.time_s)


async def test_imu9_frames_split_over_mtu_247_and_reassemble_through_bleak():
    sim = simulate_session(
        "active_extension", 12, duration_s=6.0, rate_hz=RATE_HZ, roles=("pelvis",), with_mag=True
    )
    truth = sim.samples["pelvis"]
    assert truth.mag_uT is not None
    sensor = MovesenseSensor(truth, "D0:00:00:00:00:01")
    notes: list[bytes] = []
    async with VirtualRadio([sensor]) as radio:
        backend = radio.ble_backend()
        (found,) = await scan(0.3, backend)
        assert found.protocol == "movesense" and found.device is not None
        async with BleakClient(found.device, backend=backend.client) as client:
            assert client.mtu_size == 247
            await client.start_notify(ms.NOTIFY_CHAR_UUID, lambda _c, d: notes.append(bytes(d)))
            await client.write_gatt_char(
                ms.WRITE_CHAR_UUID, ms.command_subscribe("IMU9", RATE_HZ), response=True
            )
            await radio.wait_finished(60.0)
            await client.write_gatt_char(ms.WRITE_CHAR_UUID, ms.command_unsubscribe(), True)
            assert not sensor.started
    assert max(len(n) for n in notes) == 244
    assert [n[0] for n in notes[:4]] == [ms.PACKET_DATA, ms.PACKET_DATA_PART2] * 2
    d = ms.MovesenseDecoder("IMU9")
    out = d.feed_many(notes, list(range(len(notes))))
    assert d.malformed_count == 0 and d.frames_reassembled >= len(truth) // 8
    assert len(out) == len(truth)
    np.testing.assert_allclose(out.acc_m_s2, truth.acc_m_s2, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(out.gyr_rad_s, truth.gyr_rad_s, rtol=1e-6, atol=1e-7)
    assert out.mag_uT is not None
    np.testing.assert_allclose(out.mag_uT, truth.mag_uT, rtol=1e-6, atol=1e-4)
    assert out.sensor_time_s is not None
    _check_sensor_times(sensor, out.sensor_time_s, truth.time_s)
