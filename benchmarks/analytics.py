"""Exercise analytics against simulator ground truth: prints the figures of issue 5.

Run: ``.venv/bin/python benchmarks/analytics.py [--seeds 5]``. Every session is simulated with
the issue error model, processed by the pipeline like ``hipsense process``, and analysed with
the simulator's markers; truth comes from ``SimSession.truth_at`` (never hard-coded):

- ROM: held hip extension (>= 1 s, pelvis within 5 deg) vs the same definition on exact truth;
  apparent range (thigh inclination) likewise;
- holds: time in band / longest in band vs truth, RAILs gain;
- compensation episodes (compensated active extension, scripted tilt episodes during holds):
  precision and recall (an episode counts when it overlaps one of the other side);
- gap classification of scripted restricted / control-deficit / normal subjects;
- CARs pace and ranges, reverse-walking step counts, sitting time (the same bout definition,
  hysteresis and minimum bout included, on exact truth);
- CARs: where the per-rep flexion error comes from (rep boundaries measured vs exact, the
  analysis on exact angles vs the script, the pipeline's flexion error at the rep peaks);
- automatic segment detection (sitting, CARs, walking): phases found, false detections in the
  other scenarios (calibration routine included), boundaries vs the same detector on exact
  truth and vs the scripted phases.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.signal import find_peaks

from hipsense.exercises.detect import detect_segments
from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.session import analyze_session
from hipsense.pipeline import process_session
from hipsim import simulate_session
from hipsim.accuracy import issue_error_model
from hipsim.subjects import (
    markers_of,
    match_episodes,
    scripted_session,
    subject_block,
    truth_block,
    truth_episodes,
)

CONFIG = AnalysisConfig()
SUBJECTS = {
    "within_norms": (15.0, 18.0),
    "passive_restricted": (4.0, 6.0),
    "motor_control_deficit": (6.0, 18.0),
}


def run(session):
    angles = process_session(session.samples).angles
    markers = markers_of(session)
    got = analyze_session(angles, markers, CONFIG).to_dict()
    ref = analyze_session(truth_block(session, angles.time_s), markers, CONFIG).to_dict()
    return got, ref, angles


def pairs(got, ref, kind):
    a = [r for r in got["results"] if r["kind"] == kind]
    b = [r for r in ref["results"] if r["kind"] == kind]
    assert len(a) == len(b)
    return list(zip(a, b, strict=True))


def err(a, b):
    return abs(a - b) if a is not None and b is not None else np.nan


DETECTED = ("sitting", "cars", "reverse_walking")


class DetectionTally:
    """Detected segments vs scripted phases and vs the detector on exact truth."""

    def __init__(self):
        self.phases = self.found = self.detected = self.false = 0
        self.vs_truth, self.vs_script = [], []

    def add(self, session, angles):
        got = [d for d in detect_segments(angles, CONFIG) if d.exercise in DETECTED]
        ref = detect_segments(truth_block(session, angles.time_s), CONFIG)
        marks = [m for m in markers_of(session) if m.exercise in DETECTED]

        def same(d, m):
            return (
                d.exercise == m.exercise
                and (m.side in (None, d.side))
                and (d.start_s < m.end_s and m.start_s < d.end_s)
            )

        self.phases += len(marks)
        self.found += sum(any(same(d, m) for d in got) for m in marks)
        self.detected += len(got)
        self.false += sum(not any(same(d, m) for m in marks) for d in got)
        for d in got:
            twins = [r for r in ref if r.exercise == d.exercise and r.side == d.side]
            if twins:
                r = min(twins, key=lambda r: abs(r.start_s - d.start_s))
                self.vs_truth += [abs(d.start_s - r.start_s), abs(d.end_s - r.end_s)]
            for m in marks:
                if same(d, m) and d.exercise != "sitting":  # a sitting bout includes transitions
                    self.vs_script += [abs(d.start_s - m.start_s), abs(d.end_s - m.end_s)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    seeds = range(1, args.seeds + 1)
    t0 = time.perf_counter()
    rom, apparent, band, longest, gain, drift = [], [], [], [], [], []
    ep = np.zeros(4)  # tp among found, found, recovered truth, truth
    cars_pace, cars_range, steps, sitting, thomas, bridge = [], [], [], [], [], []
    cars_cut, cars_exact, cars_peak, cars_explained = [], [], [], []
    detection = DetectionTally()
    gap_ok = gap_n = 0
    for seed in seeds:
        s = simulate_session("calibration", seed=seed, errors=issue_error_model())
        detection.add(s, process_session(s.samples).angles)
        for scenario in ("active_extension", "active_extension_compensated"):
            s = simulate_session(scenario, seed=seed, errors=issue_error_model())
            got, ref, angles = run(s)
            detection.add(s, angles)
            for a, b in pairs(got, ref, "rom"):
                rom.append(err(a["extension_deg"], b["extension_deg"]))
                apparent.append(err(a["apparent_extension_deg"], b["apparent_extension_deg"]))
                truth = truth_episodes(s, a["start_s"], a["end_s"] + 0.01, CONFIG)
                found = [tuple(e) for e in a["compensation_episodes"]]
                x, y, z = match_episodes(found, truth)
                ep += (x, y, z, len(truth))
        s = simulate_session("half_kneeling_stretch", seed=seed, errors=issue_error_model())
        got, ref, angles = run(s)
        detection.add(s, angles)
        for a, b in pairs(got, ref, "hold"):
            band.append(err(a["time_in_band_s"], b["time_in_band_s"]))
            longest.append(err(a["longest_in_band_s"], b["longest_in_band_s"]))
            drift.append(err(a["drift_deg"], b["drift_deg"]))
            if a["gain_deg"] is not None:
                gain.append(err(a["gain_deg"], b["gain_deg"]))
        for name, (active, passive) in SUBJECTS.items():
            s = scripted_session(subject_block(active, passive, 3), seed)
            got, ref, angles = run(s)
            for g in got["gaps"]:
                gap_n += 1
                gap_ok += g["classification"] == name
            for a, b in pairs(got, ref, "rom"):
                rom.append(err(a["extension_deg"], b["extension_deg"]))
            for a, b in pairs(got, ref, "hold"):
                band.append(err(a["time_in_band_s"], b["time_in_band_s"]))
                longest.append(err(a["longest_in_band_s"], b["longest_in_band_s"]))
                truth = truth_episodes(s, a["start_s"], a["end_s"] + 0.01, CONFIG)
                found = [tuple(e) for e in a["compensation_episodes"]]
                x, y, z = match_episodes(found, truth)
                ep += (x, y, z, len(truth))
        s = simulate_session("hip_cars", seed=seed, errors=issue_error_model())
        got, ref, angles = run(s)
        detection.add(s, angles)
        for a, b in pairs(got, ref, "cars"):
            cars_pace.append(abs(a["pace_s_per_rep"] - b["pace_s_per_rep"]))
            column = f"hip_flexion_{a['side']}_deg"
            for ra, rb in zip(a["reps"], b["reps"], strict=True):
                cars_range.append(abs(ra["flexion_range_deg"] - rb["flexion_range_deg"]))
                cars_cut += [abs(ra["start_s"] - rb["start_s"]), abs(ra["end_s"] - rb["end_s"])]
                # Script truth over the scripted 4 s circle holding this rep's middle.
                k = int((0.5 * (rb["start_s"] + rb["end_s"]) - a["start_s"]) // 4.0)
                t = a["start_s"] + 4.0 * k + np.arange(0.0, 4.0, 0.01)
                cars_exact.append(abs(rb["flexion_range_deg"] - np.ptp(s.truth_at(t)[column])))
                # The pipeline's own flexion error at the rep's truth peak and minimum.
                i, j = np.searchsorted(angles.time_s, (ra["start_s"], ra["end_s"]))
                truth = s.truth_at(angles.time_s[i:j])[column]
                error = angles.columns[column][i:j] - truth
                top, bottom = int(np.argmax(truth)), int(np.argmin(truth))
                cars_peak.append(abs(error[top]))
                cars_explained.append(abs(error[top] - error[bottom]))
        s = simulate_session("reverse_walking", seed=seed, errors=issue_error_model())
        got, _, angles = run(s)
        detection.add(s, angles)
        for g in [r for r in got["results"] if r["kind"] == "gait"]:
            t = np.arange(g["start_s"], g["end_s"], 0.01)
            truth = s.truth_at(t)
            n = sum(
                len(find_peaks(-truth[f"hip_flexion_{side}_deg"], prominence=10.0)[0])
                for side in ("left", "right")
            )
            steps.append((g["steps"], n))
        s = simulate_session("sit_to_stand", seed=seed, errors=issue_error_model())
        got, ref, angles = run(s)
        detection.add(s, angles)
        for a, b in pairs(got, ref, "sitting") + pairs(got, ref, "sitting_session"):
            sitting.append(abs(a["flexed_s"] - b["flexed_s"]))
        s = simulate_session("thomas_test", seed=seed, errors=issue_error_model())
        got, ref, angles = run(s)
        detection.add(s, angles)
        for a, b in pairs(got, ref, "thomas"):
            thomas.append(err(a["thigh_below_horizontal_deg"], b["thigh_below_horizontal_deg"]))
        s = simulate_session("hip_lift", seed=seed, errors=issue_error_model())
        got, ref, angles = run(s)
        detection.add(s, angles)
        for a, b in pairs(got, ref, "bridge"):
            bridge.append(abs(a["hold_s"] - b["hold_s"]))

    def line(name, values, unit, bar):
        v = np.asarray(values, float)
        v = v[np.isfinite(v)]
        print(
            f"{name:<44} n={len(v):3d}  mean {np.mean(v):6.3f} {unit:<3} "
            f"max {np.max(v):6.3f} {unit:<3} (bar < {bar:g} {unit})"
        )

    print(f"exercise analytics vs simulator truth, seeds 1..{args.seeds}, issue error model")
    line("ROM held hip extension |error|", rom, "deg", 1.0)
    line("ROM apparent (thigh inclination) |error|", apparent, "deg", 1.0)
    line("hold time in band |error|", band, "s", 0.5)
    line("hold longest in band |error|", longest, "s", 0.5)
    line("hold drift |error|", drift, "deg", 1.0)
    line("RAILs gain |error|", gain, "deg", 1.0)
    line("CARs pace |error|", cars_pace, "s", 0.5)
    line("CARs flexion range per rep |error|", cars_range, "deg", 1.0)
    line("  rep boundaries, measured vs exact |diff|", cars_cut, "s", 0.05)
    line("  analysis on exact angles vs script |error|", cars_exact, "deg", 0.05)
    line("  pipeline flexion |error| at the rep peak", cars_peak, "deg", 1.0)
    line("  pipeline |err at peak - err at minimum|", cars_explained, "deg", 1.0)
    line("Thomas thigh-to-horizontal |error|", thomas, "deg", 1.0)
    line("hip lift hold time |error|", bridge, "s", 0.5)
    line("sitting time |error|", sitting, "s", 0.5)
    precision, recall = ep[0] / max(ep[1], 1), ep[2] / max(ep[3], 1)
    print(
        f"{'compensation episodes precision / recall':<44} {precision:.3f} / {recall:.3f} "
        f"({int(ep[2])} of {int(ep[3])} truth episodes, {int(ep[1])} found; bar >= 0.95)"
    )
    exact = sum(a == b for a, b in steps)
    print(
        f"{'reverse walking step counts exact':<44} {exact} of {len(steps)} bouts "
        f"(found/truth: {', '.join(f'{a}/{b}' for a, b in steps)})"
    )
    print(f"{'gap classification correct':<44} {gap_ok} of {gap_n} side-subjects")
    d = detection
    print(
        f"{'detection: scripted phases found':<44} {d.found} of {d.phases} "
        f"(sitting, CARs, walking); {d.false} false of {d.detected} detected "
        "(all scenarios incl. calibration)"
    )
    line("detection bounds vs exact-truth detection", d.vs_truth, "s", 0.1)
    line("detection bounds vs scripted CARs/walking", d.vs_script, "s", 1.0)
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
