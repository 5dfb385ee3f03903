"""A real recording without our routine: the OpenSense example trial (opensim-core, Apache-2.0;
tests/data/opensense/README.md). Xsens MTw on the pelvis and both femurs, 100 Hz, standing 2 s
then walking with turns; the files carry no gyroscope, so it is derived from the Xsens
orientation (hipsense.recording.xsens).

What is compared: hipsense's hip flexion and pelvic tilt (our 6D fusion of the accelerometer and
the derived rate, calibrated automatically) against the same angles from the Xsens on-board 9D
orientation with the same sensor-to-segment calibration; and the relative heading between the
pelvis and each thigh sensor that the walking calibration found, against the one of the Xsens
9D orientations (a common magnetic north); and the axes from declared placements (sacrum,
lateral thighs) against the walking calibration's. Run as a script for the figures::

    .venv/bin/python tests/test_opensense_trial.py
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from hipsense.body.auto_calibration import calibrate_auto
from hipsense.body.calibration import Calibration, segment_from_axes
from hipsense.body.frames import qconj, qmul, quat_to_matrix
from hipsense.body.kinematics import HipKinematics
from hipsense.body.mounting import calibrate_mounting, parse_placements
from hipsense.cli import main
from hipsense.errors import CalibrationError
from hipsense.pipeline import HipPipeline, SessionResult, process_session
from hipsense.recording.xsens import XsensExport, read_xsens_txt
from hipsense.sources import DeviceInfo, SourceBatch
from hipsense.types import AlignedBlock, AngleBlock

DATA = Path(__file__).parent / "data" / "opensense"
TRIAL = {
    "pelvis": DATA / "pelvis_00B42279.txt.gz",
    "thigh_left": DATA / "thigh_left_00B421EE.txt.gz",
    "thigh_right": DATA / "thigh_right_00B4227C.txt.gz",
}
COMPARED = ("hip_flexion_left_deg", "hip_flexion_right_deg", "pelvic_tilt_deg")


def _exports() -> dict[str, XsensExport]:
    return {role: read_xsens_txt(path, role) for role, path in TRIAL.items()}


def xsens_angles(exports: dict[str, XsensExport], cal: Calibration, time_s) -> AngleBlock:
    """The angles of the Xsens on-board orientations with ``cal``'s sensor-to-segment axes.

    The mounting (``q_segment_to_sensor``) is the same; the heading zero is taken again at the
    same static pose, in the Xsens earth frame (a calibration's heading offsets belong to the
    earth frames of the fusion they were found with). The files start on the same packet, so
    sample k of every file is session time k / 100 s.
    """
    n = len(time_s)
    rows = np.round(np.asarray(time_s) * 100.0).astype(int)
    s0, s1 = (round(v * 100.0) for v in cal.static_window_s)
    segments = {}
    for role, seg in cal.segments.items():
        axes = quat_to_matrix(np.asarray(seg.q_segment_to_sensor))
        q = exports[role].quat
        assert q is not None
        segments[role] = segment_from_axes(
            role, q[s0 : s1 + 1], axes[:, 2], axes[:, 1], dict(seg.quality)
        )
    xcal = Calibration(
        segments, cal.static_window_s, cal.functional_window_s, cal.quality_score, method=cal.method
    )
    block = AlignedBlock(
        np.asarray(time_s),
        {r: e.quat[rows] for r, e in exports.items() if e.quat is not None},
        {r: e.samples.gyr_rad_s[rows] for r, e in exports.items()},
        {r: e.samples.acc_m_s2[rows] for r, e in exports.items()},
        {r: np.zeros(n, dtype=bool) for r in exports},
    )
    return HipKinematics(xcal, 100.0).process(block)


def agreement(
    result: SessionResult, exports: dict[str, XsensExport]
) -> dict[str, dict[str, float]]:
    """Per compared angle: RMSE, mean difference, and range (max - min) difference, degrees,
    after the static pose."""
    ref = xsens_angles(exports, result.calibration, result.angles.time_s)
    keep = result.angles.time_s > result.calibration.static_window_s[1]
    out = {}
    for name in COMPARED:
        ours, theirs = result.angles.columns[name][keep], ref.columns[name][keep]
        diff = ours - theirs
        out[name] = {
            "rmse_deg": float(np.sqrt(np.nanmean(diff**2))),
            "bias_deg": float(np.nanmean(diff)),
            "range_diff_deg": float(np.ptp(ours) - np.ptp(theirs)),
            "range_deg": float(np.ptp(theirs)),
        }
    return out


def heading_check(exports: dict[str, XsensExport]) -> dict[str, tuple[float, float]]:
    """Per thigh: (heading of its fused earth frame in the pelvis sensor's, from the walking
    calibration; the same from the Xsens 9D orientations), degrees, over the walking."""
    pipe = HipPipeline({r: 100.0 for r in exports}, buffer_limit_s=np.inf)
    pipe.process([e.samples for e in exports.values()])
    data = pipe.buffered()
    cal = calibrate_auto(data)
    assert cal.method == "walking"
    rows = np.round(data.time_s * 100.0).astype(int)
    heading = {}
    for role, e in exports.items():
        assert e.quat is not None
        d = qmul(data.quat[role], qconj(e.quat[rows]))  # fused = Rz(h) * Xsens
        heading[role] = 2 * np.arctan2(d[:, 3], d[:, 0])
    walk = (data.time_s > cal.functional_window_s[0]) & (data.time_s < cal.functional_window_s[1])
    out = {}
    for role in ("thigh_left", "thigh_right"):
        rel = np.exp(1j * (heading["pelvis"] - heading[role])[walk])
        xsens_deg = float(np.degrees(np.angle(np.mean(rel))))
        out[role] = (cal.segments[role].quality["heading_offset_deg"], xsens_deg)
    return out


def _wrap_deg(a: float) -> float:
    return float(np.angle(np.exp(1j * np.radians(a)), deg=True))


@pytest.fixture(scope="module")
def exports():
    return _exports()


@pytest.fixture(scope="module", params=[True, False], ids=["smoothed", "causal"])
def result(request, exports):
    return process_session({r: e.samples for r, e in exports.items()}, offline=request.param)


def test_process_without_windows_calibrates_by_walking(tmp_path, capsys):
    out = tmp_path / "angles.csv"
    argv = ["process", *(f"{role}={path}" for role, path in TRIAL.items()), "--out", str(out)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "method walking" in err
    assert "derived from the Xsens on-board orientation" in err
    assert "no calibration routine" in err
    header = out.read_text().splitlines()[0].split(",")
    assert header[0] == "time_s" and "pelvic_tilt_deg" in header
    assert len(out.read_text().splitlines()) == 2452 + 1


def test_bad_placement_option_is_one_line(capsys):
    with pytest.raises(SystemExit):
        main(
            ["process", f"pelvis={TRIAL['pelvis']}", "--out", "x.csv", "--placement", "pelvis=hip"]
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert "is not one of sacrum" in err[-1]


def test_calibration_is_walking_with_its_expected_error(result):
    cal = result.calibration
    assert cal.method == "walking"
    assert cal.static_window_s[0] == 0.0 and 1.5 < cal.static_window_s[1] < 2.5
    assert cal.expected_error_deg is not None and cal.expected_error_deg > 0


def test_hip_flexion_and_pelvic_tilt_agree_with_the_xsens_orientation(result, exports):
    figures = agreement(result, exports)
    # Measured: flexion RMSE 0.33-0.68 deg over ranges of 39-44 deg, tilt 0.82-1.03 deg. The
    # reference is not truth: another filter (Xsens's 9D), whose rates are what we fuse here, so
    # the difference is the two filters' inclination estimates under walking accelerations (our
    # own fusion shows 0.3-1.0 deg of inclination error under hipsim's walking); limits at
    # about twice the measured figures.
    for side in ("left", "right"):
        f = figures[f"hip_flexion_{side}_deg"]
        assert f["rmse_deg"] < 1.0, figures
        assert abs(f["range_diff_deg"]) < 2.0, figures
        assert f["range_deg"] > 30.0  # it is a walk: hip flexion swings 39-44 deg
    assert figures["pelvic_tilt_deg"]["rmse_deg"] < 2.0, figures


def test_relative_heading_found_by_walking_against_xsens_9d(exports):
    check = heading_check(exports)
    errors = {role: _wrap_deg(ours - xsens) for role, (ours, xsens) in check.items()}
    # Measured: left -2.9, right -7.9 deg. Both the fit (a rigid-body model of each hip joint
    # centre's acceleration on a real, soft-tissue-mounted recording) and the reference (9D
    # heading, a magnetometer's indoors) carry errors of a few degrees; the pelvis's axis uses
    # their mean (-5.4 deg).
    for err in errors.values():
        assert abs(err) < 12.0, errors
    assert abs(np.mean(list(errors.values()))) < 8.0, errors


DECLARED = {"pelvis": "sacrum:-z", "thigh_left": "lateral:-z", "thigh_right": "lateral:-z"}


def placement_check(exports: dict[str, XsensExport]) -> dict[str, float]:
    """Per segment, the angle (deg) between the left axes of the walking calibration and of the
    declared placements (``DECLARED``: the MTw's -z faces away from the skin here; the sacrum's
    normal then points up by 16 deg, its slope)."""
    pipe = HipPipeline({r: 100.0 for r in exports}, buffer_limit_s=np.inf)
    pipe.process([e.samples for e in exports.values()])
    data = pipe.buffered()
    walking = calibrate_auto(data)
    mounting = calibrate_mounting(data, parse_placements(DECLARED))
    out = {}
    for role, seg in walking.segments.items():
        a = quat_to_matrix(np.asarray(seg.q_segment_to_sensor))[:, 1]
        b = quat_to_matrix(np.asarray(mounting.segments[role].q_segment_to_sensor))[:, 1]
        out[role] = float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))
    return out


def test_declared_placements_agree_with_the_walking_axes(exports):
    angles = placement_check(exports)
    # Measured: pelvis 3.3, left thigh 2.7, right thigh 17.8 deg; the walking axes' own stated
    # uncertainty here is 13 deg (thighs) and a hand placement's about 12.5 deg.
    assert angles["pelvis"] < 10.0, angles
    assert max(angles["thigh_left"], angles["thigh_right"]) < 30.0, angles


def test_static_pose_only_calibrates_from_declared_placements(exports):
    first_s = {r: e.samples.slice(0, 300) for r, e in exports.items()}
    with pytest.raises(CalibrationError, match="no placements declared"):
        process_session(first_s)
    result = process_session(first_s, placements=DECLARED)
    assert result.calibration.method == "mounting"
    assert result.calibration.expected_error_deg == pytest.approx(np.hypot(12.5, 12.5))


class _TrialSource:
    """The trial's sensors as a live source (its blocks are fed with ``LiveSession.ingest``)."""

    name = "opensense"
    session_start_ns = None

    def __init__(self, exports: dict[str, XsensExport]) -> None:
        self.roles = list(exports)
        self.rate_hz = {r: e.rate_hz for r, e in exports.items()}

    def devices(self) -> list[DeviceInfo]:
        return [DeviceInfo(r, "xsens export", "") for r in self.roles]

    async def stream(self) -> AsyncIterator[SourceBatch]:
        return
        yield

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("declared", [True, False], ids=["placements", "none"])
async def test_live_calibration_from_the_still_pose_and_declared_placements(exports, declared):
    """``serve --placement``: the guided calibration takes the still pose and calibrates from
    the placements; without them it waits for the knee lifts, which never come."""
    from hipsense.live import LiveSession

    live = LiveSession(_TrialSource(exports), placements=DECLARED if declared else None)
    live.start_calibration()
    first_s = {r: e.samples for r, e in exports.items()}
    for lo in np.arange(0.0, 6.0, 0.1):
        await live.ingest(
            [b.slice(*np.searchsorted(b.time_s, (lo, lo + 0.1)).tolist()) for b in first_s.values()]
        )
    guide = live.calibration_guide
    if not declared:
        assert guide.step == "knee_lifts" and live.pipeline.calibration_ is None
        return
    assert guide.step == "done", guide.message
    cal = live.pipeline.calibration_
    assert cal is not None and cal.method == "mounting"
    assert cal.static_window_s[1] - cal.static_window_s[0] >= 2.0
    # The same calibration as `hipsense process --placement` on the first 3 s.
    batch = process_session(
        {r: e.samples.slice(0, 300) for r, e in exports.items()}, placements=DECLARED
    ).calibration
    for role, seg in cal.segments.items():
        a = quat_to_matrix(np.asarray(seg.q_segment_to_sensor))
        b = quat_to_matrix(np.asarray(batch.segments[role].q_segment_to_sensor))
        assert np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1))) < 2.0, role


def _print_figures() -> None:
    ex = _exports()
    samples = {r: e.samples for r, e in ex.items()}
    for offline in (True, False):
        res = process_session(samples, offline=offline)
        cal = res.calibration
        label = "smoothed" if offline else "causal"
        print(
            f"{label}: method {cal.method}, expected error {cal.expected_error_deg:.1f} deg, "
            f"quality {cal.quality_score:.0f}"
        )
        for name, f in agreement(res, ex).items():
            print(
                f"  {name:24s} RMSE {f['rmse_deg']:.2f}  mean {f['bias_deg']:+.2f}  "
                f"range {f['range_deg']:.1f} (ours {f['range_diff_deg']:+.2f})"
            )
    angles = placement_check(ex)
    print(
        "declared placements vs walking, left axes: "
        + ", ".join(f"{r} {v:.1f} deg" for r, v in angles.items())
    )
    for role, (ours, xsens) in heading_check(ex).items():
        print(
            f"heading of {role}'s earth frame in the pelvis's: walking {ours:+.1f} deg, "
            f"Xsens 9D {xsens:+.1f} deg, difference {_wrap_deg(ours - xsens):+.1f} deg"
        )


if __name__ == "__main__":
    _print_figures()
    sys.exit(0)
