"""Segment orientations -> hip JCS angles, pelvic tilt/obliquity/rotation, thigh inclination.

Every sign follows :mod:`hipsense.body.frames`. With 6D fusion the relative heading of the
sensors drifts slowly (yaw is unobservable from gravity); it is re-aligned whenever the subject
stands still in the calibration pose (every sensor at rest, pelvis and thighs within
``realign_max_pose_deg`` of upright) for ``realign_rest_s``: the thighs' headings are set to the
pelvis's, as at calibration. A correction larger than ``realign_max_correction_deg`` is taken for
a deliberately rotated stance and ignored. This assumes the feet point forward when standing at
rest; a toes-out stance held still is read as zero hip rotation.

At the same moments pelvic rotation is re-zeroed: it is reported relative to the direction
the subject faced at the last standing rest (at first, the calibration pose), so turning
around between exercises does not read as 180 deg of pelvic rotation.
"""

from __future__ import annotations

import numpy as np

from hipsense.body.calibration import Calibration, sensor_to_segment
from hipsense.body.frames import (
    HIP_SIGNS,
    heading_rad,
    qmul,
    quat_to_matrix,
    rot_z,
    sandwich_matrices,
)
from hipsense.kernels import apply_matrices, hip_angles_deg, pelvis_angles_deg, standing_role
from hipsense.types import (
    PELVIS_COLUMNS,
    SIDES,
    AlignedBlock,
    AngleBlock,
    FloatArray,
    hip_columns,
    thigh_inclination_column,
)

GRAVITY_M_S2 = 9.81
REST_MAX_GYR_RAD_S = np.deg2rad(4.0)
REST_MAX_ACC_DEVIATION_M_S2 = 0.3


class HipKinematics:
    """Stateful stage: aligned sensor orientations in, joint angles (degrees) out.

    Parameters
    ----------
    calibration : sensor-to-segment calibration of every role in the data.
    rate_hz : rate of the aligned timeline (for the rest duration).
    realign : re-align thigh headings at detected standing rest.
    realign_rest_s : how long the standing rest must last before re-aligning.
    realign_max_pose_deg : how close to upright pelvis and thighs must be.
    realign_max_correction_deg : larger heading differences are left alone.
    """

    def __init__(
        self,
        calibration: Calibration,
        rate_hz: float,
        realign: bool = True,
        realign_rest_s: float = 1.0,
        realign_max_pose_deg: float = 10.0,
        realign_max_correction_deg: float = 12.0,
    ) -> None:
        self.calibration = calibration
        self.realign = realign
        self.realign_samples = max(1, round(realign_rest_s * rate_hz))
        self.realign_max_pose_rad = np.deg2rad(realign_max_pose_deg)
        self.realign_max_correction_rad = np.deg2rad(realign_max_correction_deg)
        self.roles = list(calibration.segments)
        self._heading_q: dict[str, FloatArray] = {}
        self._mount_q: dict[str, FloatArray] = {}
        for role in self.roles:
            self._heading_q[role], self._mount_q[role] = sensor_to_segment(calibration, role)
        # The segment's z axis in sensor coordinates (the standing-pose test), per role.
        self._z_segment = {
            r: np.ascontiguousarray(quat_to_matrix(self._mount_q[r])[:, 2]) for r in self.roles
        }
        # Sandwich matrix of the current heading per role, rebuilt when the heading changes.
        self._matrix: dict[str, tuple[FloatArray, FloatArray]] = {}
        self._rest_run = 0
        self.realignments_: list[tuple[float, dict[str, float]]] = []

    def _segments(
        self,
        block: AlignedBlock,
        roles: list[str],
        rows: np.ndarray | None = None,
        turns: dict[str, FloatArray] | None = None,
        bounds: np.ndarray | None = None,
    ) -> dict[str, FloatArray]:
        """Segment -> heading-aligned earth quaternions (N, 4) per role, for frames ``rows``
        (all by default). With ``turns`` (role -> heading turn in rad per interval) and
        ``bounds`` (interval edges in frames), interval ``i`` has its heading turned by
        ``turns[role][i]`` about the vertical."""
        out = {}
        for r in roles:
            q = block.quat[r] if rows is None else block.quat[r][rows]
            if turns is None or bounds is None:
                mats, edges = self._current_matrix(r), np.array([0, len(q)])
            else:
                heading = qmul(rot_z(np.asarray(turns[r])), self._heading_q[r])
                mats, edges = sandwich_matrices(heading, self._mount_q[r]), bounds
            out[r] = np.empty((len(q), 4))
            apply_matrices(q, mats, edges, out[r])
        return out

    def _current_matrix(self, role: str) -> FloatArray:
        """(1, 4, 4) sandwich matrix of the role's current heading and mounting."""
        heading = self._heading_q[role]
        cached = self._matrix.get(role)
        if cached is None or not np.array_equal(cached[0], heading):
            mats = sandwich_matrices(np.asarray(heading)[None, :], self._mount_q[role])
            cached = self._matrix[role] = (np.array(heading), mats)
        return cached[1]

    def process(self, block: AlignedBlock) -> AngleBlock:
        """Angles for every frame of ``block``; NaN where a sensor has no data."""
        n = len(block)
        thighs = [r for r in self.roles if r != "pelvis"]
        triggers = self._triggers(block) if self.realign and thighs and n else []
        if not triggers:
            seg = self._segments(block, self.roles)
        else:
            # Heading corrections take effect after each trigger. A correction is a rotation
            # about the vertical, so the headings at every trigger follow from the segments
            # before correction plus the corrections so far: one vectorised evaluation, a
            # scalar loop, then every interval built at once with its own constant rotations.
            at = self._segments(block, self.roles, np.asarray(triggers))
            heading0 = {r: heading_rad(q) for r, q in at.items()}
            planned = self._plan_realignments(block, triggers, heading0, thighs)
            turns = {r: np.concatenate(([0.0], planned[r])) for r in self.roles}
            bounds = np.array([0, *(k + 1 for k in triggers), n], dtype=np.int64)
            seg = self._segments(block, self.roles, turns=turns, bounds=bounds)
            for r in self.roles:
                self._heading_q[r] = qmul(rot_z(np.asarray(turns[r][-1])), self._heading_q[r])
        columns: dict[str, FloatArray] = {}
        self._fill(columns, seg, thighs, n)
        return AngleBlock(block.time_s, columns)

    def _fill(
        self,
        columns: dict[str, FloatArray],
        seg: dict[str, FloatArray],
        thighs: list[str],
        n: int,
    ) -> None:
        pelvis = seg["pelvis"]
        for role in thighs:
            side = SIDES[role]  # type: ignore[index]
            flex, abd, rot, incl = (np.empty(n) for _ in range(4))
            hip_angles_deg(pelvis, seg[role], *HIP_SIGNS[side], flex, abd, rot, incl)
            for name, val in zip(
                (*hip_columns(side), thigh_inclination_column(side)),
                (flex, abd, rot, incl),
                strict=True,
            ):
                columns[name] = val
        tilt, obliquity, rotation = (np.empty(n) for _ in range(3))
        pelvis_angles_deg(pelvis, tilt, obliquity, rotation)
        for name, val in zip(PELVIS_COLUMNS, (tilt, obliquity, rotation), strict=True):
            columns[name] = val

    def _standing(self, block: AlignedBlock) -> np.ndarray:
        """Still and upright, judged by quantities no heading correction changes."""
        standing = np.ones(len(block), dtype=bool)
        cos_lim = float(np.cos(self.realign_max_pose_rad))
        for role in self.roles:
            standing_role(
                block.gyr_rad_s[role],
                block.acc_m_s2[role],
                block.quat[role],
                self._z_segment[role],
                REST_MAX_GYR_RAD_S,
                GRAVITY_M_S2,
                REST_MAX_ACC_DEVIATION_M_S2,
                cos_lim,
                standing,
            )
        return standing

    def _triggers(self, block: AlignedBlock) -> list[int]:
        """Frames where a standing rest has lasted ``realign_rest_s`` (continuing the run of
        the previous block)."""
        standing = self._standing(block)
        idx = np.arange(len(standing))
        last_false = np.maximum.accumulate(np.where(~standing, idx, -1))
        run = idx - last_false
        first_break = np.flatnonzero(~standing)
        head = first_break[0] if len(first_break) else len(standing)
        run[:head] += self._rest_run
        run[~standing] = 0
        self._rest_run = int(run[-1])
        return [int(k) for k in np.flatnonzero(run == self.realign_samples)]

    def _plan_realignments(
        self,
        block: AlignedBlock,
        triggers: list[int],
        heading0: dict[str, FloatArray],
        thighs: list[str],
    ) -> dict[str, list[float]]:
        """Cumulative heading turn (rad) per role after each trigger, from the uncorrected
        headings at the triggers; records each re-alignment in ``realignments_``."""
        total = dict.fromkeys(self.roles, 0.0)
        turns: dict[str, list[float]] = {r: [] for r in self.roles}
        for i, k in enumerate(triggers):
            headings = {r: float(heading0[r][i]) + total[r] for r in self.roles}
            pelvis_heading = headings["pelvis"]
            changes: dict[str, float] = {}
            for role in thighs:
                delta = float(np.angle(np.exp(1j * (pelvis_heading - headings[role]))))
                if abs(delta) <= self.realign_max_correction_rad:
                    changes[role] = delta
            # Pelvic rotation restarts from zero in the direction the subject now faces.
            for role in self.roles:
                total[role] += -pelvis_heading + changes.get(role, 0.0)
                turns[role].append(total[role])
            self.realignments_.append(
                (
                    float(block.time_s[k]),
                    {"pelvis": float(np.degrees(-pelvis_heading))}
                    | {r: float(np.degrees(d)) for r, d in changes.items()},
                )
            )
        return turns
