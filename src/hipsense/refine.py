"""Fixed-lag refinement: a finished trial's angles fused again with the whole-session smoother.

The live angles come from a causal filter: each frame knows only the samples before it. When
a trial or a hold series ends, everything it needs is in: its samples can be fused again
forward and backward (:meth:`OrientationFilter.smooth`, with rest anchoring), which is what a
finished session gets, at the cost of waiting until the segment ends.

Measured on 6 simulated assessments (``benchmarks/fixed_lag.py --segment trial``: 75 reps and
holds, 52-200 Hz, the issue-2 error model), the peak hip extension of each rep and hold against
truth: RMSE 0.20 -> 0.10 deg, worst 0.53 -> 0.21 deg; peak pelvic tilt RMSE 0.12 -> 0.05 deg,
worst 0.44 -> 0.11 deg; 21 ms of compute per trial (median; 42 ms at most). The whole-session
smoother reaches 0.09 / 0.20 and 0.06 / 0.11 deg: the lead-in of ``REFINE_LEAD_S`` gives
almost all of it.

How (:func:`refine_segment`):

- each sensor's samples from ``lead_s`` before the segment to its end are smoothed with the
  calibration's lever-arm and gyroscope corrections;
- heading is unobservable without a magnetometer, so each re-fused sensor takes over the live
  estimate's heading, matched over the ``HEADING_MATCH_S`` before the segment starts (the
  calibration's heading alignment refers to the live one);
- the re-fused frames go through a copy of the live kinematics stage as it was at the start
  of the lead-in (:class:`SessionHistory` keeps one copy a second), so its heading
  re-alignments at standing rests carry over.

Only samples up to the segment's end are used (and the one that completed its last frame, which
the live session had too): refining at the end of a trial gives the same numbers whether it
runs live, in a replay, or on a whole session processed afterwards.
"""

from __future__ import annotations

import copy
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np

from hipsense.body.calibration import Calibration
from hipsense.body.frames import qconj, qmul, rot_z
from hipsense.body.kinematics import HipKinematics
from hipsense.fusion import make_filter
from hipsense.kernels import resample_role
from hipsense.types import AlignedBlock, AngleBlock, FloatArray, SampleBlock

# Lead-in fused before a segment: worst extension error 0.34 deg with 2 s, 0.26 with 10 s,
# 0.21 with 30 s (benchmarks/fixed_lag.py --segment trial --lead-s 2,10,30).
REFINE_LEAD_S = 30.0
# How much of a live session is kept for refinement: the longest trial (the assessment's
# limits end a trial within 2 minutes) plus its lead-in, with room.
REFINE_HISTORY_S = 300.0
# The re-fused estimate takes over the live heading over this stretch before the segment.
HEADING_MATCH_S = 1.0
# A copy of the kinematics state is kept this often (s of frame time).
SNAPSHOT_EVERY_S = 1.0


class SessionHistory:
    """The last ``keep_s`` of a calibrated pipeline's raw samples, aligned frames and copies
    of its kinematics stage (see the module docstring).

    :meth:`add` is called by :meth:`hipsense.pipeline.HipPipeline.process` with each block
    before its kinematics runs.
    """

    def __init__(self, keep_s: float = REFINE_HISTORY_S) -> None:
        self.keep_s = float(keep_s)
        self.samples: dict[str, deque[SampleBlock]] = {}
        self.frames: deque[AlignedBlock] = deque()
        self.snapshots: deque[tuple[float, HipKinematics]] = deque()

    def clear(self) -> None:
        """Forget everything (a new calibration: the old kinematics state no longer applies)."""
        self.samples.clear()
        self.frames.clear()
        self.snapshots.clear()

    def add(
        self, blocks: Iterable[SampleBlock], aligned: AlignedBlock, kinematics: HipKinematics
    ) -> None:
        """Keep ``blocks`` and ``aligned``; ``kinematics`` is the stage before it processes
        ``aligned`` (copied once every ``SNAPSHOT_EVERY_S``)."""
        for block in blocks:
            if len(block):
                self.samples.setdefault(block.role, deque()).append(block)
        if len(aligned) == 0:
            return
        t0 = float(aligned.time_s[0])
        # On a fixed grid of frame time, so the copies do not depend on how blocks were cut.
        slot = np.floor(t0 / SNAPSHOT_EVERY_S)
        if not self.snapshots or slot > np.floor(self.snapshots[-1][0] / SNAPSHOT_EVERY_S):
            self.snapshots.append((t0, copy.deepcopy(kinematics)))
        self.frames.append(aligned)
        self._trim(float(aligned.time_s[-1]) - self.keep_s)

    def _trim(self, cutoff_s: float) -> None:
        while len(self.snapshots) > 1 and self.snapshots[1][0] <= cutoff_s:
            self.snapshots.popleft()
        # Nothing older than the oldest snapshot can be used.
        oldest = self.snapshots[0][0] if self.snapshots else cutoff_s
        while self.frames and float(self.frames[0].time_s[-1]) < oldest:
            self.frames.popleft()
        for blocks in self.samples.values():
            while len(blocks) > 1 and float(blocks[0].time_s[-1]) < oldest - 1.0:
                blocks.popleft()


def heading_offset_rad(q_live: FloatArray, q_new: FloatArray) -> float:
    """Mean rotation about earth z taking ``q_new`` onto ``q_live`` (circular mean)."""
    e = qmul(q_live, qconj(q_new))  # earth-frame difference; its twist about z is the heading
    twist = 2.0 * np.arctan2(e[:, 3], e[:, 0])
    return float(np.angle(np.mean(np.exp(1j * twist))))


def _overlapping(blocks: Iterable[Any], start_s: float, end_s: float) -> list[Any]:
    """The blocks (time-ordered, with ``time_s``) that hold a time in ``start_s`` .. ``end_s``."""
    return [b for b in blocks if b.time_s[-1] >= start_s and b.time_s[0] <= end_s]


def refine_segment(
    history: SessionHistory,
    calibration: Calibration,
    method: str,
    start_s: float,
    end_s: float,
    lead_s: float = REFINE_LEAD_S,
    filter_params: dict[str, Any] | None = None,
    max_gap_s: float = 0.25,
) -> AngleBlock | None:
    """Angles of ``start_s`` .. ``end_s`` from the samples re-fused by the smoother.

    The re-fused orientations are put onto the live frames' times by the live resampler's own
    kernel (:func:`hipsense.kernels.resample_role`, ``max_gap_s`` as the pipeline's), from the
    samples up to the one that completed the segment's last frame. None when the history
    holds no frames of the segment or the filter has no smoother.
    """
    if not history.snapshots or not history.frames:
        return None
    times = [t for t, _ in history.snapshots]
    k = max(0, bisect_right(times, start_s - lead_s) - 1)
    t0, kinematics = history.snapshots[k]
    parts = _overlapping(history.frames, t0, end_s)
    if not parts:
        return None
    live = AlignedBlock.concat(parts).between(t0, end_s)
    if len(live) == 0 or float(live.time_s[-1]) < start_s:
        return None
    last_frame_s = float(live.time_s[-1])
    before = (live.time_s >= start_s - HEADING_MATCH_S) & (live.time_s <= start_s)
    if not before.any():
        before = live.time_s <= live.time_s[0] + HEADING_MATCH_S
    n = len(live)
    quat: dict[str, FloatArray] = {}
    for role in live.quat:
        blocks = _overlapping(history.samples.get(role, ()), t0 - 0.1, np.inf)
        if not blocks:
            return None
        block = SampleBlock.concat(blocks)
        i0 = int(np.searchsorted(block.time_s, t0 - 0.1, side="left"))
        # Up to the first sample at or after the last frame: the one that completed it.
        i1 = int(np.searchsorted(block.time_s, last_frame_s, side="left")) + 1
        part = block.slice(i0, min(i1, len(block)))
        if len(part) < 4 or part.time_s[-1] < last_frame_s:
            return None
        rate_hz = float(1.0 / np.median(np.diff(part.time_s)))
        filt = make_filter(method, rate_hz, **(filter_params or {}))
        if not filt.supports_smoothing:
            return None
        seg = calibration.segments[role]
        filt.use_corrections(seg.lever_arm_m, seg.gyro_correction)
        smoothed = filt.smooth(part)
        q = np.empty((n, 4))
        resample_role(
            smoothed.time_s,
            smoothed.quat,
            smoothed.gyr_rad_s,
            smoothed.acc_m_s2,
            smoothed.rest,
            live.time_s,
            max_gap_s,
            q,
            np.empty((n, 3)),
            np.empty((n, 3)),
            np.empty(n, dtype=bool),
        )
        offset = heading_offset_rad(live.quat[role][before], q[before])
        quat[role] = np.ascontiguousarray(qmul(rot_z(np.asarray(offset)), q))
    frames = AlignedBlock(live.time_s, quat, live.gyr_rad_s, live.acc_m_s2, live.rest)
    angles = copy.deepcopy(kinematics).process(frames)
    keep = angles.time_s >= start_s
    return AngleBlock(angles.time_s[keep], {c: v[keep] for c, v in angles.columns.items()})
