"""A client's progress as a chart, a CSV and a report to hand over (one self-contained HTML).

All three read the progress document of :func:`hipsense.exercises.progress.progress`, so
they say what ``GET /api/clients/{id}/progress`` says. The report prints to A4 from any
browser (print stylesheet: no split cards or table rows, the chart kept whole).
"""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any

from hipsense.exercises.progress import METRIC, METRICS, latest
from hipsense.report.svg import COLORS

CLASS_TEXT = {
    "within_norms": "within norms",
    "motor_control_deficit": "motor control deficit",
    "passive_restricted": "passive range restricted",
    "incomplete": "incomplete",
}
REPORT_TABLE_ROWS = 20
"""The report's table shows the latest sessions; the CSV has all of them."""
REPORT_SESSIONS = 60
"""The report's and the page's chart show the latest sessions (about a year of weekly visits)."""

CHART_METRICS = ("active_deg", "passive_deg")


def fmt(value: Any, unit: str = "") -> str:
    """A figure as the page shows it: one decimal, a dash when absent."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:.1f}{unit}"
    return str(value)


def signed(value: float) -> str:
    """A change with its sign (``+2.0``, ``-1.5``, ``0.0``)."""
    text = f"{value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def progress_chart(doc: dict[str, Any], width: int = 520, height: int = 250) -> str:
    """SVG of the active and passive hip extension per side over the sessions.

    Every point is a ``<circle>`` with ``data-session``, ``data-side``, ``data-metric`` and
    ``data-value`` (what the table shows), and a tooltip.
    """
    sessions = doc["sessions"]
    sides = doc["sides"]
    points = []
    for i, s in enumerate(sessions):
        for side in sides:
            figures = (s.get("figures") or {}).get("sides", {}).get(side) or {}
            for key in CHART_METRICS:
                value = figures.get(key)
                if value is not None:
                    points.append((i, side, key, float(value), s))
    left, right, top, bottom = 40, 12, 26, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    if points:
        lo = min(p[3] for p in points)
        hi = max(p[3] for p in points)
    else:
        lo, hi = 0.0, 20.0
    lo, hi = 5.0 * ((lo - 1.0) // 5.0), 5.0 * (-(-(hi + 1.0) // 5.0))
    n = max(len(sessions), 1)

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return top + plot_h * (1.0 - (v - lo) / (hi - lo))

    out = [
        f'<svg class="progress-chart" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="hip extension per session" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{left}" y="16" font-size="14">hip extension (°): solid active, '
        "dashed passive</text>",
    ]
    step = 5.0 if hi - lo <= 40 else 10.0
    v = lo
    while v <= hi + 1e-9:
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            'stroke="#e5e5e5"/>'
            f'<text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="13" text-anchor="end">{v:g}</text>'
        )
        v += step
    label_every = max(1, -(-n // 6))
    for i, s in enumerate(sessions):
        if i % label_every == 0 or i == n - 1:
            out.append(
                f'<text x="{x(i):.1f}" y="{height - 22}" font-size="13" text-anchor="middle">'
                f"{escape(_short_date(str(s['created_utc']), sessions))}</text>"
            )
    for side in sides:
        for key in CHART_METRICS:
            mine = [p for p in points if p[1] == side and p[2] == key]
            if len(mine) > 1:
                path = " ".join(f"{x(p[0]):.1f},{y(p[3]):.1f}" for p in mine)
                dash = ' stroke-dasharray="5 4"' if key == "passive_deg" else ""
                out.append(
                    f'<polyline points="{path}" fill="none" stroke="{COLORS[side]}" '
                    f'stroke-width="2"{dash}/>'
                )
            for i, _, _, value, s in mine:
                label = f"{side} {METRIC[key].label}"
                out.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3.5" fill="{COLORS[side]}" '
                    f'data-session="{escape(s["name"])}" data-side="{side}" data-metric="{key}" '
                    f'data-value="{value:.1f}"><title>{escape(s["name"])}: {label} '
                    f"{value:.1f} deg</title></circle>"
                )
    legend_x = left
    for side in sides:
        out.append(
            f'<rect x="{legend_x}" y="{height - 13}" width="11" height="11" '
            f'fill="{COLORS[side]}"/><text x="{legend_x + 15}" y="{height - 3}" '
            f'font-size="13">{side}</text>'
        )
        legend_x += 64
    if not points:
        out.append(
            f'<text x="{width / 2}" y="{height / 2}" font-size="13" text-anchor="middle">'
            "no assessed session yet</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _short_date(iso: str, sessions: list[dict[str, Any]]) -> str:
    """``MM-DD`` when every session is in one year, else ``YYYY-MM-DD``."""
    years = {str(s["created_utc"])[:4] for s in sessions}
    return iso[5:10] if len(years) == 1 else iso[:10]


def change_sentence(side: str, key: str, doc: dict[str, Any], session: dict[str, Any]) -> str:
    """What changed in one figure since the first session, in a plain sentence."""
    metric = METRIC[key]
    entry = (session.get("changes", {}).get(side, {}) or {}).get(key)
    value = ((session.get("figures") or {}).get("sides", {}).get(side) or {}).get(key)
    if value is None:
        return ""
    what = f"{side.capitalize()} {metric.label}"
    if entry is None or entry["since_first"] is None:
        return f"{what}: {value:.1f}° (the first measurement)."
    first = entry["since_first"]
    start = value - first["change"]
    text = (
        f"{what}: {start:.1f}° → {value:.1f}° since the first session ({signed(first['change'])}°)"
    )
    noise = doc["detectable_change_deg"].get(metric.noise or "")
    clinical = doc["clinical_mdc"].get("deg")
    if first["detectable"]:
        text += f", {first['direction']}: larger than hipsense's {noise:.1f}° repeat noise"
        if clinical is not None:
            text += (
                f" and than the {clinical:.1f}° a person varies between visits in clinical studies"
                if first["beyond_clinical_mdc"]
                else f", within the {clinical:.1f}° a person varies between visits in clinical "
                "studies"
            )
        text += "."
    elif first["detectable"] is False:
        text += f": within hipsense's {noise:.1f}° repeat noise, no change."
    else:
        text += "."
    prev = entry["since_previous"]
    if prev is not None:
        real = "real" if prev["detectable"] else "within noise"
        text += f" Since the previous session {signed(prev['change'])}° ({real})."
    return text


def what_changed(doc: dict[str, Any]) -> list[str]:
    """Plain sentences on the latest analysed session: each side's active and passive hip
    extension and gap against the first and the previous session."""
    newest = latest(doc)
    if newest is None:
        return []
    sentences = [
        change_sentence(side, key, doc, newest)
        for side in doc["sides"]
        for key in ("active_deg", "passive_deg", "gap_deg")
    ]
    return [s for s in sentences if s]


def progress_csv(doc: dict[str, Any]) -> str:
    """The progress table as CSV: one row per session, every figure and its change."""
    sides = doc["sides"]
    header = ["session", "date_utc", "status", "message"]
    columns: list[tuple[str | None, str]] = []
    for side in sides:
        header.append(f"{side}_classification")
        for m in METRICS:
            if m.per_side:
                columns.append((side, m.key))
                header += [
                    f"{side}_{m.key}",
                    f"{side}_{m.key}_change_since_first",
                    f"{side}_{m.key}_change_since_previous",
                    f"{side}_{m.key}_change_detectable",
                ]
    for m in METRICS:
        if not m.per_side:
            columns.append((None, m.key))
            header += [m.key, f"{m.key}_change_since_first", f"{m.key}_change_since_previous"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for s in doc["sessions"]:
        figures = s.get("figures") or {}
        row: list[Any] = [s["name"], s["created_utc"], s["status"], s.get("message", "")]
        for side in sides:
            side_figs = figures.get("sides", {}).get(side) or {}
            row.append(side_figs.get("classification") or "")
            for col_side, key in columns:
                if col_side != side:
                    continue
                entry = (s["changes"].get(side, {}) or {}).get(key) or {}
                first, prev = entry.get("since_first"), entry.get("since_previous")
                row += [
                    _csv(side_figs.get(key)),
                    _csv(None if first is None else first["change"]),
                    _csv(None if prev is None else prev["change"]),
                    "" if first is None or first["detectable"] is None else first["detectable"],
                ]
        session_figs = figures.get("session") or {}
        for col_side, key in columns:
            if col_side is None:
                entry = (s["changes"].get("session", {}) or {}).get(key) or {}
                first, prev = entry.get("since_first"), entry.get("since_previous")
                row += [
                    _csv(session_figs.get(key)),
                    _csv(None if first is None else first["change"]),
                    _csv(None if prev is None else prev["change"]),
                ]
        writer.writerow(row)
    return buf.getvalue()


def _csv(value: Any) -> str:
    return "" if value is None else f"{float(value):.1f}"


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:0 auto;
padding:12px;max-width:900px;line-height:1.4}
h1{font-size:1.35em;margin:.2em 0}h2{font-size:1.1em;margin:1.1em 0 .4em;
border-bottom:1px solid #ddd}
.muted{color:#666;font-size:.85em}.cards{display:flex;flex-wrap:wrap;gap:8px}
.card{flex:1 1 260px;border:1px solid #ddd;border-radius:8px;padding:8px 10px}
.within_norms{border-left:6px solid #2ca02c}.motor_control_deficit{border-left:6px solid #ff7f0e}
.passive_restricted{border-left:6px solid #d62728}.incomplete{border-left:6px solid #999}
table{border-collapse:collapse;font-size:.85em;width:100%}
th,td{border-bottom:1px solid #eee;padding:3px 5px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}td:nth-child(2){white-space:nowrap}
.scroll{overflow-x:auto}.real{font-weight:600}.status-bad{color:#b03a2e}
ul.changes li{margin:.25em 0}.chart{max-width:620px}
@page{size:A4;margin:14mm 12mm}
@media print{body{max-width:none;padding:0;font-size:10.5pt}.scroll{overflow:visible}
.card,tr,.chart,ul.changes li{break-inside:avoid}.chart{max-width:14cm}h2{break-after:avoid}
a{color:inherit;text-decoration:none}}
"""


def _side_card(side: str, figs: dict[str, Any]) -> str:
    cls = str(figs.get("classification") or "incomplete")
    lines = [
        f"<b>{side.capitalize()}: {escape(CLASS_TEXT.get(cls, cls))}</b>",
        f"active {fmt(figs.get('active_deg'), ' deg')}, passive "
        f"{fmt(figs.get('passive_deg'), ' deg')}, gap {fmt(figs.get('gap_deg'), ' deg')}",
    ]
    extra = []
    if figs.get("thomas_extension_deg") is not None:
        extra.append(f"Thomas test hip extension {fmt(figs['thomas_extension_deg'], ' deg')}")
    if figs.get("cars_flexion_range_deg") is not None:
        extra.append(
            f"CARs ranges: flexion {fmt(figs['cars_flexion_range_deg'])}, abduction "
            f"{fmt(figs.get('cars_abduction_range_deg'))}, rotation "
            f"{fmt(figs.get('cars_rotation_range_deg'))} deg"
        )
    if figs.get("rails_gain_deg") is not None:
        extra.append(f"RAILs gain {fmt(figs['rails_gain_deg'], ' deg')}")
    if extra:
        lines.append("; ".join(extra))
    if figs.get("interpretation"):
        lines.append(f'<span class="muted">{escape(figs["interpretation"])}</span>')
    return f'<div class="card {escape(cls)}" data-side="{side}">{"<br>".join(lines)}</div>'


def progress_table(doc: dict[str, Any], last: int | None = None) -> str:
    """HTML table of the sessions (newest first; ``last``: only that many)."""
    sides = doc["sides"]
    heads = ["session", "date"]
    for side in sides:
        heads += [f"{side} active", f"{side} passive", f"{side} gap", f"{side} class"]
    heads += ["holds", "status"]
    rows = []
    sessions = list(reversed(doc["sessions"]))
    if last is not None:
        sessions = sessions[:last]
    for s in sessions:
        figures = s.get("figures") or {}
        cells = [escape(s["name"]), escape(str(s["created_utc"])[:10])]
        for side in sides:
            f = figures.get("sides", {}).get(side) or {}
            ch = s.get("changes", {}).get(side, {}) or {}
            for key in ("active_deg", "passive_deg", "gap_deg"):
                entry = ch.get(key) or {}
                prev = entry.get("since_previous")
                mark = ' class="real"' if prev and prev.get("detectable") else ""
                cells.append(
                    f'<span data-side="{side}" data-metric="{key}"{mark}>{fmt(f.get(key))}</span>'
                )
            cells.append(escape(CLASS_TEXT.get(str(f.get("classification")), "\u2013")))
        compliance = (figures.get("session") or {}).get("hold_compliance_pct")
        cells.append(fmt(compliance, " %"))
        status = s["status"]
        bad = status not in ("ok",)
        text = status if not s.get("message") else f"{status}: {s['message']}"
        cells.append(f'<span class="{"status-bad" if bad else ""}">{escape(text[:120])}</span>')
        rows.append(
            f'<tr data-session="{escape(s["name"])}">' + "".join(f"<td>{c}</td>" for c in cells)
        )
    head = "".join(f"<th>{escape(h)}</th>" for h in heads)
    body = "".join(rows)
    return f'<div class="scroll"><table class="progress"><tr>{head}</tr>{body}</table></div>'


def render_client_report(doc: dict[str, Any], generated_utc: str) -> str:
    """The report of a client's latest session with their progress (self-contained HTML)."""
    client = doc["client"]
    newest = latest(doc)
    title = f"hipsense report: {client['name']}"
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(client['name'])}: hip extension report</h1>",
    ]
    analysed = [s for s in doc["sessions"] if s["status"] in ("ok", "damaged")]
    sides_text = ", ".join(client.get("sides") or []) or "not set"
    total, shown = doc.get("sessions_total", len(doc["sessions"])), len(doc["sessions"])
    of = "" if shown == total else f" of the latest {shown}"
    parts.append(
        f'<p class="muted">{total} sessions ({len(analysed)}{of} analysed), side(s) '
        f"of concern: {escape(sides_text)}. Generated {escape(generated_utc)} by "
        f"{escape(doc['analysis_version'])}.</p>"
    )
    if newest is None:
        parts.append("<p>No session of this client could be analysed yet.</p>")
    else:
        parts.append(
            f"<h2>Latest session: {escape(newest['name'])} "
            f"({escape(str(newest['created_utc'])[:10])})</h2>"
        )
        if newest["status"] == "damaged":
            parts.append(
                f'<p class="status-bad">The recording is damaged: {escape(newest["message"])}; '
                "the figures come from its intact part.</p>"
            )
        figures = newest.get("figures") or {}
        cards = [
            _side_card(side, figures.get("sides", {}).get(side) or {}) for side in doc["sides"]
        ]
        parts.append(f'<div class="cards">{"".join(cards)}</div>')
        session = figures.get("session") or {}
        if session.get("hold_compliance_pct") is not None:
            parts.append(
                f"<p>Isometric holds ({escape(session.get('hold_protocol', ''))}): "
                f"{session.get('holds_complete', 0)} of {session.get('holds', 0)} complete, "
                f"compliance {fmt(session['hold_compliance_pct'], ' %')}.</p>"
            )
        else:
            parts.append("<p>No isometric holds in this session.</p>")
        items = "".join(f"<li>{escape(t)}</li>" for t in what_changed(doc))
        parts.append(f'<h2>What changed</h2><ul class="changes">{items}</ul>')
    parts.append(f'<h2>Progress</h2><div class="chart">{progress_chart(doc)}</div>')
    earlier = doc.get("sessions_total", len(doc["sessions"])) - REPORT_TABLE_ROWS
    parts.append(progress_table(doc, REPORT_TABLE_ROWS))
    parts.append(
        '<p class="muted">Newest first; a figure in bold changed by more than the measurement\'s '
        "repeat noise since the session before.</p>"
    )
    if earlier > 0:
        parts.append(f'<p class="muted">{earlier} earlier sessions are in the progress CSV.</p>')
    noise = doc["detectable_change_deg"]
    clinical = doc["clinical_mdc"]
    note = (
        f"A change counts as real when it is larger than what hipsense's repeat measurements of "
        f"an unchanged person differ by (95 %): active {noise['active']:.1f} deg, passive "
        f"{noise['passive']:.1f} deg, gap {noise['gap']:.1f} deg."
    )
    if clinical.get("deg") is not None:
        note += (
            f" Clinical reliability studies report about {clinical['deg']:.1f} deg as the "
            f"smallest real change of hip extension measured by hand ({clinical['source']})."
        )
    parts.append(f'<p class="muted">{escape(note)}</p></body></html>')
    return "".join(parts)
