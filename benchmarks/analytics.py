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
- CARs pace and ranges, reverse-walking step counts, sitting time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.signal import find_peaks

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
    return got, ref


def pairs(got, ref, kind):
    a = [r for r in got["results"] if r["kind"] == kind]
    b = [r for r in ref["results"] if r["kind"] == kind]
    assert len(a) == len(b)
    return list(zip(a, b, strict=True))


def err(a, b):
    return abs(a - b) if a is not None and b is not None else np.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    seeds = range(1, args.seeds + 1)
    t0 = time.perf_counter()
    rom, apparent, band, longest, gain, drift = [], [], [], [], [], []
    ep = np.zeros(4)  # tp among found, found, recovered truth, truth
    cars_pace, cars_range, steps, sitting, thomas, bridge = [], [], [], [], [], []
    gap_ok = gap_n = 0
    for seed in seeds:
        for scenario in ("active_extension", "active_extension_compensated"):
            s = simulate_session(scenario, seed=seed, errors=issue_error_model())
            got, ref = run(s)
            for a, b in pairs(got, ref, "rom"):
                rom.append(err(a["extension_deg"], b["extension_deg"]))
                apparent.append(err(a["apparent_extension_deg"], b["apparent_extension_deg"]))
                truth = truth_episodes(s, a["start_s"], a["end_s"] + 0.01, CONFIG)
                found = [tuple(e) for e in a["compensation_episodes"]]
                x, y, z = match_episodes(found, truth)
                ep += (x, y, z, len(truth))
        s = simulate_session("half_kneeling_stretch", seed=seed, errors=issue_error_model())
        got, ref = run(s)
        for a, b in pairs(got, ref, "hold"):
            band.append(err(a["time_in_band_s"], b["time_in_band_s"]))
            longest.append(err(a["longest_in_band_s"], b["longest_in_band_s"]))
            drift.append(err(a["drift_deg"], b["drift_deg"]))
            if a["gain_deg"] is not None:
                gain.append(err(a["gain_deg"], b["gain_deg"]))
        for name, (active, passive) in SUBJECTS.items():
            s = scripted_session(subject_block(active, passive, 3), seed)
            got, ref = run(s)
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
        got, ref = run(s)
        for a, b in pairs(got, ref, "cars"):
            cars_pace.append(abs(a["pace_s_per_rep"] - b["pace_s_per_rep"]))
            for ra, rb in zip(a["reps"], b["reps"], strict=True):
                cars_range.append(abs(ra["flexion_range_deg"] - rb["flexion_range_deg"]))
        s = simulate_session("reverse_walking", seed=seed, errors=issue_error_model())
        got, _ = run(s)
        for g in [r for r in got["results"] if r["kind"] == "gait"]:
            t = np.arange(g["start_s"], g["end_s"], 0.01)
            truth = s.truth_at(t)
            n = sum(
                len(find_peaks(-truth[f"hip_flexion_{side}_deg"], prominence=10.0)[0])
                for side in ("left", "right")
            )
            steps.append((g["steps"], n))
        s = simulate_session("sit_to_stand", seed=seed, errors=issue_error_model())
        got, ref = run(s)
        for a, b in pairs(got, ref, "sitting") + pairs(got, ref, "sitting_session"):
            sitting.append(abs(a["flexed_s"] - b["flexed_s"]))
        s = simulate_session("thomas_test", seed=seed, errors=issue_error_model())
        got, ref = run(s)
        for a, b in pairs(got, ref, "thomas"):
            thomas.append(err(a["thigh_below_horizontal_deg"], b["thigh_below_horizontal_deg"]))
        s = simulate_session("hip_lift", seed=seed, errors=issue_error_model())
        got, ref = run(s)
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
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
