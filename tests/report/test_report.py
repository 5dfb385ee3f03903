"""The HTML report and the analyze/report CLI on a small simulated session."""

from __future__ import annotations

import json
import re
from functools import cache

from hipsense.cli import main
from hipsense.exercises.session import analyze_session
from hipsense.report import render_report
from hipsim import simulate_session, write_markers_csv, write_samples_csv
from hipsim.accuracy import issue_error_model


@cache
def _session():
    return simulate_session("half_kneeling_stretch", seed=1, errors=issue_error_model())


def _files(tmp_path):
    s = _session()
    samples, markers = tmp_path / "s.csv", tmp_path / "m.csv"
    write_samples_csv(s, samples)
    write_markers_csv(s, markers)
    return samples, markers


def test_analyze_json_and_report_cli(tmp_path, capsys):
    samples, markers = _files(tmp_path)
    assert main(["analyze", str(samples), "--markers", str(markers), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "session_analysis" and data["schema_version"] == 1
    kinds = {r["kind"] for r in data["results"]}
    assert {"rom", "hold", "sitting_session"} <= kinds
    assert len(data["gaps"]) == 2 and data["hold_summary"]["holds"] == 12
    out = tmp_path / "r.html"
    assert main(["report", str(samples), "--markers", str(markers), "--out", str(out)]) == 0
    html = out.read_text()
    assert html.startswith("<!doctype html>") and html.count("<svg") >= 3
    assert not re.search(r"(src|href)=['\"]https?:", html)  # self-contained
    assert "Isometric holds" in html and "passive_extension" in html


def test_bad_markers_csv_is_a_one_line_error(tmp_path, capsys):
    samples, _ = _files(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("start_s,end_s,exercise,side\n1,oops,cars,left\n")
    assert main(["analyze", str(samples), "--markers", str(bad)]) == 2
    assert "bad.csv:2" in capsys.readouterr().err


def test_report_without_markers_renders(tmp_path):
    from hipsense.pipeline import process_session

    angles = process_session(_session().samples).angles
    html = render_report(angles, analyze_session(angles, []).to_dict())
    assert "Session overview" in html and "<svg" in html
