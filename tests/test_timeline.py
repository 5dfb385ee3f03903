"""Resampling sensors that sample at different instants and rates onto one timeline."""

import numpy as np
import pytest

from hipsense.body.frames import qconj, qmul, quat_from_rotvec, quat_to_rotvec
from hipsense.timeline import TimelineResampler
from hipsense.types import OrientationBlock


def _truth(t):
    """Smooth analytic orientation and angular rate as functions of time."""
    rv = np.stack((0.4 * np.sin(1.3 * t), 0.3 * np.cos(0.7 * t), 0.2 * t), axis=-1)
    return quat_from_rotvec(rv), rv


def _block(role, t):
    q, rv = _truth(t)
    return OrientationBlock(role, t, q, rv * 9.81, rv, np.zeros(len(t), dtype=bool))


def _sensors():
    t_p = 0.0031 + np.arange(1000) / 100.0  # 100 Hz, own phase
    t_l = 0.0107 + np.arange(600) / 60.0  # 60 Hz
    return {"pelvis": _block("pelvis", t_p), "thigh_left": _block("thigh_left", t_l)}


def _feed(res, blocks, size_s):
    out = []
    t_end = max(b.time_s[-1] for b in blocks.values())
    edges = np.arange(0.0, t_end + size_s, size_s)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        for blk in blocks.values():
            m = (blk.time_s >= a) & (blk.time_s < b)
            res.push(
                OrientationBlock(
                    blk.role,
                    blk.time_s[m],
                    blk.quat[m],
                    blk.acc_m_s2[m],
                    blk.gyr_rad_s[m],
                    blk.rest[m],
                )
            )
        out.append(res.pull())
    return out


def test_grid_values_match_truth():
    blocks = _sensors()
    res = TimelineResampler(["pelvis", "thigh_left"], 100.0)
    for b in blocks.values():
        res.push(b)
    out = res.pull()
    assert out.time_s[0] == pytest.approx(0.0107)  # latest first sample
    assert np.allclose(np.diff(out.time_s), 0.01)
    q_true, _ = _truth(out.time_s)
    for role in blocks:
        err = np.linalg.norm(quat_to_rotvec(qmul(qconj(q_true), out.quat[role])), axis=1)
        # slerp between 60 Hz samples of a smooth motion: sub-0.05 deg error
        assert np.degrees(err).max() < 0.05
    assert out.time_s[-1] <= min(b.time_s[-1] for b in blocks.values())


@pytest.mark.parametrize("size_s", [0.01, 0.037, 1.0])
def test_block_size_does_not_change_output(size_s):
    blocks = _sensors()
    whole = TimelineResampler(["pelvis", "thigh_left"], 100.0)
    for b in blocks.values():
        whole.push(b)
    ref = whole.pull()
    parts = _feed(TimelineResampler(["pelvis", "thigh_left"], 100.0), blocks, size_s)
    t = np.concatenate([p.time_s for p in parts])
    assert np.array_equal(t, ref.time_s)
    for role in blocks:
        q = np.concatenate([p.quat[role] for p in parts])
        assert np.max(np.abs(q - ref.quat[role])) < 1e-12


def test_gap_is_not_interpolated():
    blocks = _sensors()
    keep = (blocks["thigh_left"].time_s < 3.0) | (blocks["thigh_left"].time_s > 4.0)
    b = blocks["thigh_left"]
    blocks["thigh_left"] = OrientationBlock(
        b.role, b.time_s[keep], b.quat[keep], b.acc_m_s2[keep], b.gyr_rad_s[keep], b.rest[keep]
    )
    res = TimelineResampler(["pelvis", "thigh_left"], 100.0)
    for blk in blocks.values():
        res.push(blk)
    out = res.pull()
    t_l = blocks["thigh_left"].time_s
    inside = (out.time_s > t_l[t_l < 3.0][-1]) & (out.time_s < t_l[t_l > 4.0][0])
    assert np.isnan(out.quat["thigh_left"][inside]).all()
    assert np.isfinite(out.quat["pelvis"]).all()
    assert np.isfinite(out.quat["thigh_left"][~inside]).all()
