"""The progress figures of real analyses: holds and RAILs gain, CARs ranges, the Thomas test."""

from __future__ import annotations

from pathlib import Path

import pytest

from hipsense.exercises.progress import analyze_recording, session_figures
from hipsense.exercises.session import analyze_session
from hipsense.pipeline import process_session
from hipsim import simulate_session
from hipsim.assessment import HoldSeries
from hipsim.progress import lean_subject, write_assessment_recording
from hipsim.subjects import markers_of


def test_hold_series_compliance_and_rails_gain(tmp_path: Path) -> None:
    base = lean_subject({"left": 10.0, "right": 16.0}, {"left": 20.0, "right": 18.0})
    series = HoldSeries(
        side="left", passive_s=12.0, pails_s=8.0, rails_s=8.0, reps=1, failed=((1, "pails"),)
    )
    subject = type(base)(**{**base.__dict__, "hold_series": series})
    path = tmp_path / "holds.hsr"
    write_assessment_recording(subject, seed=2, path=path)
    status, message, analysis = analyze_recording(path)
    assert status == "ok" and message == ""
    figures = session_figures(analysis)
    summary = analysis["hold_summary"]
    # Three holds, the PAILs one drifts out of the band: 2 of 3 complete.
    assert figures["session"]["holds"] == summary["holds"] == 3
    assert figures["session"]["holds_complete"] == summary["complete"] == 2
    assert figures["session"]["hold_compliance_pct"] == round(100 * summary["compliance"], 1)
    gain = summary["rails_gain_deg"]["left"]
    assert gain is not None and figures["sides"]["left"]["rails_gain_deg"] == round(gain, 1)
    # RAILs pull 3-5 deg deeper in the script.
    assert 2.0 < gain < 6.0
    assert figures["sides"]["left"]["passive_deg"] == pytest.approx(20.0, abs=1.0)


@pytest.mark.parametrize("scenario", ["hip_cars", "thomas_test"])
def test_cars_and_thomas_figures(scenario: str) -> None:
    sim = simulate_session(scenario, 1)
    result = process_session(sim.samples)
    analysis = analyze_session(result.angles, markers_of(sim)).to_dict()
    figures = session_figures(analysis)
    if scenario == "hip_cars":
        cars = [r for r in analysis["results"] if r["kind"] == "cars"]
        assert cars, "the demo marks its CARs"
        pooled: dict[str, list[float]] = {}
        for r in cars:  # a side's figure pools its reps over every CARs segment
            pooled.setdefault(r["side"], []).extend(
                rep["flexion_range_deg"] for rep in r["reps"] if not rep["compensated"]
            )
        for side_name, values in pooled.items():
            side = figures["sides"][side_name]
            mean = sum(values) / len(values)
            assert side["cars_flexion_range_deg"] == pytest.approx(mean, abs=0.051)
            assert side["cars_abduction_range_deg"] is not None
            assert side["cars_flexion_range_deg"] > 30.0
    else:
        thomas = [r for r in analysis["results"] if r["kind"] == "thomas" and r["valid"]]
        assert thomas, "the demo's Thomas test is valid"
        for r in thomas:
            value = figures["sides"][r["side"]]["thomas_extension_deg"]
            assert value == pytest.approx(r["hip_extension_deg"], abs=0.051)
