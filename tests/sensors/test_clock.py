"""Sensor clock: offset + drift from burst arrivals, gaps with and without timestamps."""

import numpy as np
import pytest

from hipsense.sensors.clock import SensorClock

RATE_HZ = 100.0
START_NS = 5_000_000_000


def _stream(drift_ppm, n=6000, per_note=3, drop=0.0, seed=0, timestamps=True):
    """True sample instants, and per-notification (host ns, sensor time s) as a BLE link gives."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    true_s = 0.25 + k / RATE_HZ  # session time of each sample
    sensor_s = 1000.0 + k / RATE_HZ / (1 + drift_ppm * 1e-6)  # sensor's own clock
    notes = []
    for i in range(0, n, per_note):
        if rng.random() < drop:
            continue
        j = np.arange(i, min(i + per_note, n))
        # The notification leaves after its last sample; connection events add 0-45 ms.
        delay = 0.002 + rng.exponential(0.012) + (0.03 if rng.random() < 0.1 else 0.0)
        host_ns = START_NS + int((true_s[j[-1]] + delay) * 1e9)
        notes.append((j, host_ns))
    return true_s, sensor_s, notes


@pytest.mark.parametrize("drift_ppm", [-300.0, 0.0, 300.0])
@pytest.mark.parametrize("timestamps", [True, False])
def test_times_follow_truth_despite_bursts(drift_ppm, timestamps):
    true_s, sensor_s, notes = _stream(drift_ppm, timestamps=timestamps)
    clock = SensorClock(RATE_HZ, START_NS)
    got = np.full(len(true_s), np.nan)
    for j, host_ns in notes:
        t, _ = clock.map(np.full(len(j), host_ns), sensor_s[j] if timestamps else None)
        got[j] = t
    err = got - true_s
    # Session time is defined up to the minimal link latency (constant); look at the spread.
    settled = err[len(err) // 3 :]
    assert np.ptp(settled) < 0.004
    assert abs(np.median(settled)) < 0.01
    assert np.all(np.diff(got) > 0)
    if timestamps:
        assert clock.drift_ppm == pytest.approx(drift_ppm, abs=60)
    assert clock.measured_rate_hz == pytest.approx(RATE_HZ, rel=0.02)


def test_gaps_from_timestamps_are_reported():
    true_s, sensor_s, notes = _stream(0.0, drop=0.05, seed=4)
    clock = SensorClock(RATE_HZ, START_NS)
    received = 0
    for j, host_ns in notes:
        clock.map(np.full(len(j), host_ns), sensor_s[j])
        received += len(j)
    assert clock.samples_missing == len(true_s) - received
    assert sum(g.missing_samples for g in clock.gaps) == len(true_s) - received


def test_loss_without_timestamps_keeps_time_aligned():
    true_s, _, notes = _stream(100.0, drop=0.05, seed=2, timestamps=False)
    clock = SensorClock(RATE_HZ, START_NS)
    got = np.full(len(true_s), np.nan)
    for j, host_ns in notes:
        t, _ = clock.map(np.full(len(j), host_ns), None)
        got[j] = t
    err = (got - true_s)[np.isfinite(got)]
    # Without timestamps a loss is noticed within one 2 s envelope window; afterwards
    # samples are back on time.
    assert np.median(np.abs(err - np.median(err))) < 0.01
    assert clock.samples_missing > 0.5 * (len(true_s) - np.isfinite(got).sum())
