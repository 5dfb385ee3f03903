"""Guided calibration does not depend on how samples are batched."""

from __future__ import annotations

import numpy as np
import pytest

from hipsense.body.guided import GuidedCalibration
from hipsense.sources.simulated import SimulatedSession
from hipsense.types import ROLES, SampleBlock


def _run(guide: GuidedCalibration, batches: list[list[SampleBlock]]) -> float | None:
    """Feed batches until the routine is complete; the session time it completed at."""
    guide.start(None)
    for batch in batches:
        guide.feed(batch)
        if guide.ready:
            return float(max(b.time_s[-1] for b in batch))
        if guide.step == "failed":
            return None
    return None


def _all_roles_blocks(session: SimulatedSession, block_s: float) -> list[list[SampleBlock]]:
    """Every sensor in every batch (``block_s`` of samples each)."""
    samples = {r: session.samples[r] for r in ROLES if r in session.samples}
    end = max(float(b.time_s[-1]) for b in samples.values())
    batches = []
    for t0 in np.arange(0.0, end, block_s):
        batch = []
        for block in samples.values():
            i, j = np.searchsorted(block.time_s, [t0, t0 + block_s])
            if j > i:
                batch.append(block.slice(int(i), int(j)))
        batches.append(batch)
    return batches


def _one_sensor_per_batch(session: SimulatedSession, per_batch: int) -> list[list[SampleBlock]]:
    """Each batch holds ``per_batch`` samples of a single sensor, sensors taking turns
    (what a short batch window gives: one connection event per batch)."""
    samples = [session.samples[r] for r in ROLES if r in session.samples]
    pieces = []
    for k, block in enumerate(samples):
        for i in range(0, len(block), per_batch):
            piece = block.slice(i, min(i + per_batch, len(block)))
            pieces.append((float(piece.time_s[-1]), k, piece))
    pieces.sort(key=lambda p: (p[0], p[1]))
    return [[piece] for _, _, piece in pieces]


@pytest.mark.parametrize("per_batch", [1, 2])
def test_single_sensor_batches_calibrate_like_full_batches(
    demo_session: SimulatedSession, per_batch: int
) -> None:
    roles = [r for r in ROLES if r in demo_session.samples]
    full = GuidedCalibration(roles)
    done_full = _run(full, _all_roles_blocks(demo_session, 0.05))
    assert done_full is not None, full.message

    tiny = GuidedCalibration(roles)
    done_tiny = _run(tiny, _one_sensor_per_batch(demo_session, per_batch))
    assert done_tiny is not None, tiny.message  # was stuck at "stand still" forever
    assert abs(done_tiny - done_full) < 0.2
    assert tiny.lifts == full.lifts and tiny.hinges == full.hinges
    windows_full, windows_tiny = full.windows(), tiny.windows()
    assert windows_full is not None and windows_tiny is not None
    np.testing.assert_allclose(np.ravel(windows_tiny), np.ravel(windows_full), atol=0.1)


def test_a_silent_sensor_does_not_hold_the_others_back(demo_session: SimulatedSession) -> None:
    roles = [r for r in ROLES if r in demo_session.samples]
    guide = GuidedCalibration(roles, timeout_s=20.0)
    batches = _all_roles_blocks(demo_session, 0.05)
    # The right thigh stops after 1 s: the routine still advances and times out on the
    # remaining sensors' time instead of waiting forever.
    cut = [[b for b in batch if b.role != "thigh_right" or b.time_s[0] < 1.0] for batch in batches]
    assert _run(guide, cut[:600]) is None
    assert guide.step == "failed"
    assert guide.last_time_s is not None and guide.last_time_s > 20.0
