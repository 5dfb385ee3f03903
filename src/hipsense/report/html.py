"""The session report: one self-contained HTML file (inline CSS and SVG, no scripts, no CDN).

``render_report(angles, analysis)`` takes the calibrated angles and the dict of
:func:`hipsense.exercises.session.analyze_session` and returns the HTML text.
"""

from __future__ import annotations

from html import escape
from typing import Any

from hipsense.exercises.segments import slice_block
from hipsense.report.svg import COLORS, PHASE_COLORS, Chart, Series, bar_chart
from hipsense.types import AngleBlock, hip_columns

CSS = """
body{font-family:system-ui,-apple-system,sans-serif;margin:0;padding:12px;color:#222;
max-width:980px;margin:auto;line-height:1.4}
h1{font-size:1.4em;margin:.2em 0}
h2{font-size:1.15em;margin:1.2em 0 .4em;border-bottom:1px solid #ddd}
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{flex:1 1 260px;border:1px solid #ddd;
border-radius:8px;padding:8px 10px}.card b{font-size:1.05em}
.within_norms{border-left:6px solid #2ca02c}.motor_control_deficit{border-left:6px solid #ff7f0e}
.passive_restricted{border-left:6px solid #d62728}.incomplete{border-left:6px solid #999}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.9em;min-width:100%}
th,td{border-bottom:1px solid #eee;padding:3px 6px;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}
.muted{color:#777;font-size:.85em}.bad{color:#c0392b}.ok{color:#2e7d32}
.wide{overflow-x:auto}.wide svg{min-width:620px}svg.bars{max-width:520px;display:block}
.legend span{display:inline-block;padding:1px 6px;margin:2px;border-radius:3px;font-size:.8em}
"""


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float | int):
        return f"{v:.{digits}f}"
    return escape(str(v))


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def _wide(svg: str) -> str:
    """A wide chart: scrolls sideways on a narrow screen instead of shrinking its text."""
    return f'<div class="wide">{svg}</div>'


def _of(analysis: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in analysis["results"] if r["kind"] == kind]


def _sides(angles: AngleBlock) -> list[str]:
    return [s for s in ("left", "right") if hip_columns(s)[0] in angles.columns]


def _angle_chart(
    angles: AngleBlock, analysis: dict[str, Any], title: str, t0: float, t1: float
) -> str:
    block = slice_block(angles, t0, t1)
    chart = Chart(title, y_label="hip extension / pelvic tilt (deg)")
    for side in _sides(block):
        chart.series.append(
            Series(
                block.time_s,
                -block.columns[hip_columns(side)[0]],
                COLORS[side],
                f"{side} hip extension",
            )
        )
    if "pelvic_tilt_deg" in block.columns:
        tilt = block.columns["pelvic_tilt_deg"]
        chart.series.append(Series(block.time_s, tilt, COLORS["pelvis"], "pelvic tilt", True))
    for seg in analysis["segments"]:
        if seg["end_s"] > t0 and seg["start_s"] < t1 and not seg["exercise"].startswith("hold"):
            text = f"{seg['exercise']} {seg['side'] or ''}"
            if seg.get("source") == "detected":
                text += " (detected)"
            chart.spans.append(
                (seg["start_s"], seg["end_s"], PHASE_COLORS.get(seg["exercise"], "#eee"), text)
            )
    for seg in analysis["segments"]:
        if seg["end_s"] > t0 and seg["start_s"] < t1 and seg["exercise"].startswith("hold"):
            chart.spans.append(
                (
                    seg["start_s"],
                    seg["end_s"],
                    PHASE_COLORS[seg["exercise"]],
                    f"{seg['exercise']} {seg['side'] or ''}",
                )
            )
    for h in _of(analysis, "hold"):
        if h["end_s"] > t0 and h["start_s"] < t1:
            hi = h["band_high_deg"] if h["band_high_deg"] is not None else h["band_low_deg"] + 8
            chart.bands.append((h["start_s"], h["end_s"], h["band_low_deg"], hi))
    return chart.svg()


def _segment_count(analysis: dict[str, Any]) -> str:
    detected = sum(s.get("source") == "detected" for s in analysis["segments"])
    marked = len(analysis["segments"]) - detected
    return f"{marked} marked segments" + (f", {detected} detected" if detected else "")


def _legend(analysis: dict[str, Any]) -> str:
    used = sorted({s["exercise"] for s in analysis["segments"]})
    spans = "".join(
        f'<span style="background:{PHASE_COLORS.get(e, "#eee")}">{escape(e)}</span>' for e in used
    )
    bands = ' <span class="muted">green boxes: hold target bands</span>'
    return f'<div class="legend">{spans}{bands if _of(analysis, "hold") else ""}</div>'


def _gap_section(analysis: dict[str, Any]) -> str:
    gaps = analysis["gaps"]
    if not gaps:
        return ""
    cards = "".join(
        f'<div class="card {escape(g["classification"])}"><b>{escape(g["side"])} hip: '
        f"{escape(g['classification'].replace('_', ' '))}</b><br>active {_fmt(g['active_deg'])}°"
        f" · passive {_fmt(g['passive_deg'])}° · gap {_fmt(g['gap_deg'])}°<br>"
        f'<span class="muted">{escape(g["interpretation"])}</span></div>'
        for g in gaps
    )
    bars = bar_chart(
        "Hip extension held ≥ 1 s, pelvis steady (deg)",
        [g["side"] for g in gaps],
        [
            ("active", COLORS["active"], [g["active_deg"] for g in gaps]),
            ("passive", COLORS["passive"], [g["passive_deg"] for g in gaps]),
        ],
        "deg",
    )
    return f'<h2>Active vs passive hip extension</h2><div class="cards">{cards}</div>{bars}'


def _rom_section(analysis: dict[str, Any]) -> str:
    rows = [
        [
            f"{r['exercise']}",
            escape(r["side"]),
            _fmt(r["start_s"]),
            _fmt(r["extension_deg"]),
            _fmt(r["apparent_extension_deg"]),
            _fmt(r["pelvic_tilt_at_apparent_deg"]),
            _fmt(r["compensation_s"]),
            '<span class="ok">yes</span>' if r["valid"] else '<span class="bad">no</span>',
        ]
        for r in _of(analysis, "rom")
    ]
    if not rows:
        return ""
    return (
        "<h2>Range of motion per segment</h2>"
        + _table(
            [
                "exercise",
                "side",
                "start s",
                "hip ext °",
                "apparent °",
                "tilt Δ °",
                "comp. s",
                "counts",
            ],
            rows,
        )
        + (
            '<p class="muted">apparent: thigh inclination, what the thigh alone shows when the '
            "pelvis tilts; tilt Δ: anterior pelvic tilt at that moment.</p>"
        )
    )


def _hold_section(angles: AngleBlock, analysis: dict[str, Any]) -> str:
    holds = _of(analysis, "hold")
    if not holds:
        return ""
    rows = [
        [
            escape(h["exercise"]),
            escape(h["side"] or ""),
            _fmt(h["start_s"]),
            _fmt(h["duration_s"]),
            _fmt(h["target_duration_s"], 0),
            _fmt(h["target_deg"]),
            _fmt(h["time_in_band_s"]),
            _fmt(h["longest_in_band_s"]),
            _fmt(h["drift_deg"]),
            _fmt(h["compensation_s"]),
            _fmt(h["gain_deg"]),
            f"{100 * h['compliance']:.0f} %",
        ]
        for h in holds
    ]
    out = ["<h2>Isometric holds</h2>"]
    summary = analysis.get("hold_summary")
    if summary:
        out.append(
            f"<p>Protocol <b>{escape(summary['protocol'])}</b>: {summary['holds']} of "
            f"{summary['holds_expected']} holds, {summary['complete']} complete, session "
            f"compliance <b>{100 * summary['compliance']:.0f} %</b>.</p>"
        )
    out.append(
        _table(
            [
                "phase",
                "side",
                "start s",
                "dur. s",
                "target s",
                "target °",
                "in band s",
                "longest s",
                "drift °",
                "comp. s",
                "RAILs gain °",
                "compliance",
            ],
            rows,
        )
    )
    for seg in analysis["segments"]:
        if seg["exercise"] == "passive_extension":
            title = f"Passive extension, {seg['side'] or ''} side"
            t0, t1 = seg["start_s"] - 1.0, seg["end_s"] + 1.0
            out.append(_wide(_angle_chart(angles, analysis, title, t0, t1)))
    return "".join(out)


def _cars_section(angles: AngleBlock, analysis: dict[str, Any]) -> str:
    cars = _of(analysis, "cars")
    if not cars:
        return ""
    out = ["<h2>Hip CARs</h2>"]
    for c in cars:
        block = slice_block(angles, c["start_s"], c["end_s"])
        flex, abd, _ = hip_columns(c["side"])
        chart = Chart(
            f"{c['side']} hip CARs {c['start_s']:.0f}-{c['end_s']:.0f} s: flexion vs abduction",
            x_label="abduction (deg)",
            y_label="flexion (deg)",
            width=520,
            height=380,
            equal_axes=True,
        )
        for k, rep in enumerate(c["reps"]):
            part = slice_block(block, rep["start_s"], rep["end_s"])
            shade = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"][k % 6]
            chart.series.append(
                Series(part.columns[abd], part.columns[flex], shade, f"rep {k + 1}")
            )
        rows = [
            [
                str(k + 1),
                _fmt(r["duration_s"]),
                escape(r["direction"]),
                _fmt(r["flexion_range_deg"]),
                _fmt(r["abduction_range_deg"]),
                _fmt(r["rotation_range_deg"]),
                _fmt(r["area_deg2"], 0),
                _fmt(r["sparc"], 2),
                _fmt(
                    max(
                        r["pelvic_tilt_range_deg"],
                        r["pelvic_obliquity_range_deg"],
                        r["pelvic_rotation_range_deg"],
                    )
                ),
                '<span class="bad">yes</span>' if r["compensated"] else "no",
            ]
            for k, r in enumerate(c["reps"])
        ]
        out.append(f'<div style="max-width:560px">{chart.svg()}</div>')
        out.append(
            _table(
                [
                    "rep",
                    "s",
                    "direction",
                    "flex °",
                    "abd °",
                    "rot °",
                    "area °²",
                    "SPARC",
                    "pelvis °",
                    "compensated",
                ],
                rows,
            )
        )
    out.append(
        '<p class="muted">SPARC: spectral arc length of the angular speed; closer to 0 is '
        "smoother. Pelvis: largest pelvic range during the rep.</p>"
    )
    return "".join(out)


def _other_sections(analysis: dict[str, Any]) -> str:
    out = []
    thomas = _of(analysis, "thomas")
    if thomas:
        rows = [
            [
                escape(r["side"]),
                _fmt(r["thigh_below_horizontal_deg"]),
                _fmt(r["hip_extension_deg"]),
                _fmt(r["abduction_deg"]),
                _fmt(r["abduction_drift_deg"]),
                _fmt(r["pelvic_tilt_deg"]),
                '<span class="ok">valid</span>'
                if r["valid"]
                else '<span class="bad">invalid</span>',
            ]
            for r in thomas
        ]
        out.append("<h2>Modified Thomas test</h2>")
        out.append(
            _table(
                [
                    "side",
                    "thigh below horiz. °",
                    "hip ext °",
                    "abduction °",
                    "abd. drift °",
                    "pelvic tilt °",
                    "validity",
                ],
                rows,
            )
        )
        out.append(f'<p class="muted">{escape(thomas[0]["note"])}</p>')
    bridges = _of(analysis, "bridge")
    if bridges:
        rows = [
            [
                str(k + 1),
                _fmt(r["hip_extension_top_deg"]),
                _fmt(r["posterior_tilt_deg"]),
                _fmt(r["hold_s"]),
                _fmt(r["tilt_held_s"]),
                f"{100 * r['compliance']:.0f} %",
            ]
            for k, r in enumerate(bridges)
        ]
        out.append("<h2>Hip lift / glute bridge</h2>")
        out.append(
            _table(
                ["rep", "hip ext top °", "posterior tilt °", "hold s", "tilt held s", "compliance"],
                rows,
            )
        )
    gait = _of(analysis, "gait")
    if gait:
        rows = [
            [
                _fmt(g["start_s"]),
                str(g["steps"]),
                _fmt(g["cadence_steps_min"]),
                _fmt(g["mean_peak_extension_deg"].get("left")),
                _fmt(g["mean_peak_extension_deg"].get("right")),
                _fmt(g["asymmetry_index_pct"]),
            ]
            for g in gait
        ]
        out.append("<h2>Reverse walking</h2>")
        out.append(
            _table(
                ["start s", "steps", "cadence /min", "peak ext L °", "peak ext R °", "asymmetry %"],
                rows,
            )
        )
        out.append(
            bar_chart(
                "Mean peak hip extension per step (deg)",
                [f"bout {k + 1}" for k in range(len(gait))],
                [
                    (s, COLORS[s], [g["mean_peak_extension_deg"].get(s) for g in gait])
                    for s in ("left", "right")
                ],
                "deg",
            )
        )
    sitting = _of(analysis, "sitting") + _of(analysis, "sitting_session")
    if sitting:
        rows = [
            [
                "whole session" if r["kind"] == "sitting_session" else f"{r['start_s']:.1f} s",
                _fmt(r["flexed_s"]),
                _fmt(r["longest_bout_s"]),
                str(len(r["bouts"])),
            ]
            for r in sitting
        ]
        out.append(f"<h2>Sitting exposure (hips flexed &gt; {sitting[0]['threshold_deg']:g}°)</h2>")
        out.append(_table(["window", "time s", "longest bout s", "bouts"], rows))
    return "".join(out)


def render_report(angles: AngleBlock, analysis: dict[str, Any], title: str = "session") -> str:
    """The whole report as one HTML string (no external resources).

    Examples
    --------
    >>> html = render_report(angles, analyze_session(angles, markers).to_dict())  # doctest: +SKIP
    """
    t = angles.time_s
    t0, t1 = (float(t[0]), float(t[-1])) if len(t) else (0.0, 0.0)
    warnings = "".join(f"<li>{escape(w)}</li>" for w in analysis.get("warnings", []))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>hipsense report &ndash; {escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>hipsense session report</h1><p class='muted'>{escape(title)} · "
        f"{analysis['duration_s']:.0f} s · {_segment_count(analysis)} · "
        "hip extension shown as &minus;flexion (positive = thigh behind the pelvis); pelvic tilt "
        "anterior positive</p>",
        f"<ul class='bad'>{warnings}</ul>" if warnings else "",
        _gap_section(analysis),
        "<h2>Session overview</h2>",
        _wide(_angle_chart(angles, analysis, "Hip extension and pelvic tilt", t0, t1 + 0.01)),
        _legend(analysis),
        _rom_section(analysis),
        _hold_section(angles, analysis),
        _cars_section(angles, analysis),
        _other_sections(analysis),
        "<p class='muted'>Generated by hipsense. Thresholds and citations: docs/analytics.md."
        "</p></body></html>",
    ]
    return "".join(parts)
