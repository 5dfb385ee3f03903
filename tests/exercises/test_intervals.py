"""Threshold runs with hysteresis and interpolated crossing instants."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hipsense.exercises.intervals import hysteresis_intervals, intervals


def test_crossings_are_interpolated_not_quantised():
    t = np.arange(0.0, 10.0, 0.1)
    ramp = np.interp(t, [0, 2, 4, 6, 8], [0, 0, 100, 100, 0])
    # Up through 60 at 2 + 2 * 0.6 = 3.2 s, down through 50 at 6 + 2 * 0.5 = 7.0 s.
    assert hysteresis_intervals(t, ramp, 60.0, 50.0) == [(3.2, 7.0)]
    assert hysteresis_intervals(t, ramp + 0.37, 60.0, 50.0) == [
        (round(3.2 - 0.02 * 0.37, 3), round(7.0 + 0.02 * 0.37, 3))
    ]


def test_edges_and_missing_values():
    t = np.arange(6) * 1.0
    above = np.array([9.0, 9, 9, 9, 9, 9])
    assert hysteresis_intervals(t, above, 5.0, 4.0) == [(0.0, 6.0)]  # one period past the end
    between = np.array([4.5, 4.5, 9, 4.5, 3, 3])
    assert hysteresis_intervals(t, between, 5.0, 4.0) == [(1.111, 3.333)]
    gap = np.array([9.0, 9, np.nan, 9, 9, 0])
    assert hysteresis_intervals(t, gap, 5.0, 4.0) == [(0.0, 2.0), (3.0, 4.556)]
    assert hysteresis_intervals(t[:0], gap[:0], 5.0, 4.0) == []


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(2, 60), elements=st.floats(-10, 10).filter(bool)))
def test_without_hysteresis_runs_follow_the_mask(values):
    # enter == leave (and no value exactly at it): the same runs as the frame mask, each
    # end moved by less than a frame.
    t = np.arange(len(values)) * 0.1
    got = hysteresis_intervals(t, values, 0.0, 0.0)
    frames = intervals(t, values > 0.0)
    assert len(got) == len(frames)
    for (a, b), (c, d) in zip(got, frames, strict=True):
        assert c - 0.1 - 1e-6 <= a <= c + 1e-6
        assert d - 0.1 - 1e-6 <= b <= d + 1e-6
        assert a <= b  # rounded to 1 ms
