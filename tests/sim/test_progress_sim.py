"""Weekly assessment recordings (hipsim.progress): readable, true to the script, a week apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hipsense.exercises.load import load_session
from hipsense.exercises.session import analyze_session
from hipsense.recording.reader import RecordingReader
from hipsense.recording.sessions import read_details
from hipsim.progress import weekly_client, write_weekly_client

SIDES = ("left", "right")
WEEKS = 3
GAIN = 2.0
START = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def weeks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("client")
    return write_weekly_client(
        directory, weeks=WEEKS, start_active_deg=8.0, gain_deg_per_week=GAIN, first_utc=START
    )


def _gaps(path: str) -> dict[str, dict[str, Any]]:
    angles, markers = load_session(path, None, "vqf", True)
    return {g["side"]: g for g in analyze_session(angles, markers).to_dict()["gaps"]}


def test_weekly_subjects_change_only_the_active_range_of_concern() -> None:
    subjects = weekly_client(weeks=4, start_active_deg=6.0, gain_deg_per_week=1.5)
    assert [s.active_deg["left"] for s in subjects] == [6.0, 7.5, 9.0, 10.5]
    assert {s.active_deg["right"] for s in subjects} == {subjects[0].active_deg["right"]}
    assert {(s.passive_deg["left"], s.passive_deg["right"]) for s in subjects} == {(20.0, 19.0)}
    assert all(s.hold_series is None and not s.include_prone for s in subjects)
    with pytest.raises(ValueError):
        weekly_client(weeks=0)
    with pytest.raises(ValueError):
        weekly_client(sides_of_concern=("middle",))


def test_files_are_named_by_week_and_dated_a_week_apart(weeks: list[dict[str, Any]]) -> None:
    assert [Path(w["path"]).name for w in weeks] == [f"client-w{k}.hsr" for k in (1, 2, 3)]
    for k, w in enumerate(weeks):
        with RecordingReader(w["path"]) as reader:
            meta = reader.metadata()
        assert meta.subject == "client"
        assert meta.source == "simulator"
        assert sorted(s.role for s in meta.sensors) == ["pelvis", "thigh_left", "thigh_right"]
        assert datetime.fromisoformat(meta.created_utc) == START + k * timedelta(days=7)
        assert w["created_utc"] == meta.created_utc
        assert not w["errors"]


def test_recordings_hold_samples_markers_and_the_live_calibration(
    weeks: list[dict[str, Any]],
) -> None:
    details = read_details(Path(weeks[0]["path"]))
    assert details["clean"]
    assert details["calibration"] is not None
    exercises = [m["exercise"] for m in details["markers"]]
    assert exercises.count("active_extension") == 6  # 3 counted reps per side
    assert exercises.count("passive_extension") == 2
    summary = details["summary"]
    assert set(summary["samples"]) == {"pelvis", "thigh_left", "thigh_right"}
    assert summary["duration_s"] == pytest.approx(weeks[0]["duration_s"], abs=0.1)


def test_offline_analysis_gives_the_truth_and_the_weekly_gain(
    weeks: list[dict[str, Any]],
) -> None:
    measured = [_gaps(w["path"]) for w in weeks]
    for w, got in zip(weeks, measured, strict=True):
        for side in SIDES:
            truth = w["truth"][side]
            assert got[side]["classification"] == truth["classification"]
            for key in ("active_deg", "passive_deg"):
                assert got[side][key] == pytest.approx(truth[key], abs=1.0), (w["week"], side)
                assert truth[key] == pytest.approx(w["subject"][key][side], abs=1e-6)
    for before, after, got0, got1 in zip(weeks, weeks[1:], measured, measured[1:], strict=False):
        true_gain = after["truth"]["left"]["active_deg"] - before["truth"]["left"]["active_deg"]
        assert true_gain == pytest.approx(GAIN, abs=1e-6)
        gain = got1["left"]["active_deg"] - got0["left"]["active_deg"]
        assert gain == pytest.approx(GAIN, abs=0.5)
        assert got1["right"]["active_deg"] == pytest.approx(got0["right"]["active_deg"], abs=0.5)
        assert got1["left"]["passive_deg"] == pytest.approx(got0["left"]["passive_deg"], abs=0.5)
    # Week 1 is a motor control deficit on the left (active 8 of passive 20 deg).
    assert measured[0]["left"]["classification"] == "motor_control_deficit"
