"""A client's progress: the assessment figures of every session over time, and what changed.

:func:`analyze_recording` analyses one finished recording the way ``hipsense analyze`` does
(whole-session smoothing, then :func:`~hipsense.exercises.session.analyze_session`);
:func:`session_figures` keeps the figures a history needs: per side the active and passive
hip extension, the gap and its classification, the Thomas test, CARs ranges and RAILs gain,
and the session's hold compliance. :func:`progress` lines the sessions up and gives each
figure's change since the first and since the previous session that has it, and whether the
change is larger than the measurement's own repeat noise (:data:`DETECTABLE_CHANGE_DEG`) and
than what clinical reliability studies report (:data:`CLINICAL_MDC`).

The JSON of :func:`progress` is what ``GET /api/clients/{id}/progress`` answers, the page and
the report draw, and the progress CSV flattens (``docs/clients.md``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hipsense import __version__
from hipsense.exercises.schema import SCHEMA_VERSION

FIGURES_VERSION = 1
ANALYSIS_VERSION = (
    f"hipsense {__version__}, results schema {SCHEMA_VERSION}, figures {FIGURES_VERSION}"
)
"""Cached figures made by another version are computed again."""

DETECTABLE_CHANGE_DEG: dict[str, float] = {"active": 0.3, "passive": 1.3, "gap": 1.3}
"""Smallest change of a range (deg) hipsense tells apart from its own repeat-measurement noise:
MDC95 = 1.96 * sqrt(2) * SEM over simulated repeat sessions of one unchanged person (new sensor
mounting, sensor errors and movement timing each time), with accelerometer errors included
(``benchmarks/repeatability.py --errors realistic``: pooled MDC95 active 0.21, passive 1.22,
gap 1.21 deg, rounded up; without accelerometer errors 0.08 / 0.11 / 0.14 deg). See
``docs/detectable_change.md``."""

CLINICAL_MDC: dict[str, Any] = {
    "deg": 2.8,
    "range_deg": [2.8, 13.0],
    "source": "MDC95 from the SEMs clinical test-retest studies report for hip extension: "
    "1 deg (Thomas test, goniometer; Peeler and Anderson 2007) to 4.7 deg (passive hip "
    "extension in hip osteoarthritis; Pua et al.)",
}
"""What clinical reliability studies imply as minimal detectable change of hip extension
measured by hand (``docs/detectable_change.md``): a change beyond the instrument's noise can
still be within a person's day-to-day variation and the tester's. ``deg`` is the smallest of
the range."""


@dataclass(frozen=True)
class Metric:
    """One figure of the history.

    ``key`` names it in the figures of a side (or of the session, ``per_side`` False);
    ``noise`` is the key of :data:`DETECTABLE_CHANGE_DEG` that bounds its repeat noise, None
    when hipsense has no measured noise figure for it (its changes are shown, never flagged).
    ``better`` is +1 when a larger value is the improvement, -1 when smaller is.
    """

    key: str
    label: str
    unit: str
    per_side: bool = True
    noise: str | None = None
    better: int = 1


METRICS: tuple[Metric, ...] = (
    Metric("active_deg", "active hip extension", "deg", noise="active"),
    Metric("passive_deg", "passive hip extension", "deg", noise="passive"),
    Metric("gap_deg", "gap (passive - active)", "deg", noise="gap", better=-1),
    Metric("thomas_extension_deg", "Thomas test hip extension", "deg"),
    Metric("cars_flexion_range_deg", "CARs flexion range", "deg"),
    Metric("cars_abduction_range_deg", "CARs abduction range", "deg"),
    Metric("cars_rotation_range_deg", "CARs rotation range", "deg"),
    Metric("rails_gain_deg", "RAILs gain", "deg"),
    Metric("hold_compliance_pct", "hold compliance", "%", per_side=False),
)
METRIC = {m.key: m for m in METRICS}


def _r1(value: Any) -> float | None:
    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return round(float(value), 1)


def _mean(values: Iterable[float]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def session_figures(analysis: dict[str, Any]) -> dict[str, Any]:
    """The history's figures of one session's analysis (the dict of ``analyze_session``).

    Returns ``{"sides": {side: {metric: value, "classification": ...}}, "session":
    {"hold_compliance_pct", "holds", "holds_complete", "hold_protocol"}, "warnings": [...]}``
    with values rounded to 0.1 (None where the session did not measure it).
    """
    sides: dict[str, dict[str, Any]] = {}

    def side(name: str) -> dict[str, Any]:
        return sides.setdefault(name, {})

    for g in analysis.get("gaps", []):
        s = side(g["side"])
        s["active_deg"] = _r1(g.get("active_deg"))
        s["passive_deg"] = _r1(g.get("passive_deg"))
        s["gap_deg"] = _r1(g.get("gap_deg"))
        s["classification"] = g.get("classification")
        s["interpretation"] = g.get("interpretation", "")
    results = analysis.get("results", [])
    for r in results:
        if r.get("kind") == "thomas" and r.get("valid") and r.get("hip_extension_deg") is not None:
            s = side(r["side"])
            old = s.get("thomas_extension_deg")
            value = _r1(r["hip_extension_deg"])
            s["thomas_extension_deg"] = value if old is None else max(old, value or old)
    cars_reps: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        if r.get("kind") == "cars":
            reps = [rep for rep in r.get("reps", []) if not rep.get("compensated")]
            cars_reps.setdefault(r["side"], []).extend(reps)
    for name, reps in cars_reps.items():
        s = side(name)
        for axis in ("flexion", "abduction", "rotation"):
            s[f"cars_{axis}_range_deg"] = _r1(_mean(rep[f"{axis}_range_deg"] for rep in reps))
    summary = analysis.get("hold_summary") or None
    session: dict[str, Any] = {"hold_compliance_pct": None}
    if summary:
        session = {
            "hold_compliance_pct": _r1(100.0 * float(summary["compliance"])),
            "holds": int(summary["holds"]),
            "holds_complete": int(summary["complete"]),
            "hold_protocol": str(summary.get("protocol", "")),
        }
        for name, gain in (summary.get("rails_gain_deg") or {}).items():
            side(name)["rails_gain_deg"] = _r1(gain)
    return {"sides": sides, "session": session, "warnings": list(analysis.get("warnings", []))}


def analyze_recording(path: str | Path) -> tuple[str, str, dict[str, Any]]:
    """``(status, message, analysis)`` of a finished recording, as ``hipsense analyze`` makes
    it (whole-session smoothing, the recording's markers). ``status`` is ``ok`` or
    ``damaged`` (analysed from the intact records; the message says what was lost).

    Raises
    ------
    HipsenseError
        when the recording cannot be analysed at all (no samples, no calibration, ...).
    """
    from hipsense.exercises.session import analyze_session
    from hipsense.recording.replay import smooth_recording

    result = smooth_recording(path)
    analysis = analyze_session(result.angles, result.markers).to_dict()
    if result.damage.clean:
        return "ok", "", analysis
    return "damaged", result.damage.describe(), analysis


def _value(figures: dict[str, Any], metric: Metric, side: str | None) -> float | None:
    if metric.per_side:
        return (figures.get("sides", {}).get(side or "", {}) or {}).get(metric.key)
    return (figures.get("session") or {}).get(metric.key)


def change_entry(metric: Metric, delta: float) -> dict[str, Any]:
    """A change of a figure: its size and whether it is beyond the measurement's noise."""
    noise = None if metric.noise is None else DETECTABLE_CHANGE_DEG[metric.noise]
    clinical = CLINICAL_MDC.get("deg") if metric.unit == "deg" and metric.noise else None
    return {
        "change": round(delta, 1),
        "detectable": None if noise is None else abs(delta) > noise,
        "beyond_clinical_mdc": None if clinical is None else abs(delta) > float(clinical),
        "direction": "same"
        if round(delta, 1) == 0
        else ("better" if delta * metric.better > 0 else "worse"),
    }


def progress(
    client: dict[str, Any],
    sessions: list[dict[str, Any]],
    sides: list[str] | None = None,
    last: int | None = None,
) -> dict[str, Any]:
    """The progress of a client: every session, oldest first, with the changes.

    Parameters
    ----------
    client : the client (``Client.to_dict()``).
    sessions : oldest first, each ``{"name", "created_utc", "status", "message", "figures"}``
        (``figures`` from :func:`session_figures`, empty for sessions that could not be
        analysed: status ``missing``, ``error`` or ``pending``).
    sides : sides to report (default: the client's sides of concern, else both).
    last : only the newest ``last`` sessions are listed (their changes still count from the
        client's first session); None: all of them.

    Returns
    -------
    dict
        ``{"client", "sides", "metrics", "detectable_change_deg", "clinical_mdc", "sessions"}``;
        each session gets ``changes[side][metric] = {"since_first": ..., "since_previous":
        ...}`` (entries of :func:`change_entry`, None when there is nothing to compare with).
    """
    sides = sides or list(client.get("sides") or []) or ["left", "right"]
    first: dict[tuple[str | None, str], float] = {}
    previous: dict[tuple[str | None, str], float] = {}
    rows = []
    shown_from = 0 if last is None else max(0, len(sessions) - last)
    for index, s in enumerate(sessions):
        figures = s.get("figures") or {}
        if index < shown_from:
            # Not listed: only the first and previous values are followed.
            for metric in METRICS:
                for side in sides if metric.per_side else [None]:
                    value = _value(figures, metric, side)
                    if value is not None:
                        first.setdefault((side, metric.key), value)
                        previous[(side, metric.key)] = value
            continue
        changes: dict[str, dict[str, Any]] = {}
        for metric in METRICS:
            for side in sides if metric.per_side else [None]:
                value = _value(figures, metric, side)
                if value is None:
                    continue
                key = (side, metric.key)
                entry: dict[str, Any] = {"since_first": None, "since_previous": None}
                if key in first:
                    entry["since_first"] = change_entry(metric, value - first[key])
                    entry["since_previous"] = change_entry(metric, value - previous[key])
                else:
                    first[key] = value
                previous[key] = value
                changes.setdefault(side or "session", {})[metric.key] = entry
        rows.append({**s, "figures": figures, "changes": changes})
    return {
        "client": client,
        "sides": sides,
        "metrics": [
            {
                "key": m.key,
                "label": m.label,
                "unit": m.unit,
                "per_side": m.per_side,
                "detectable_change": None if m.noise is None else DETECTABLE_CHANGE_DEG[m.noise],
                "better": "higher" if m.better > 0 else "lower",
            }
            for m in METRICS
        ],
        "detectable_change_deg": dict(DETECTABLE_CHANGE_DEG),
        "clinical_mdc": dict(CLINICAL_MDC),
        "analysis_version": ANALYSIS_VERSION,
        "sessions_total": len(sessions),
        "sessions": rows,
    }


def latest(progress_doc: dict[str, Any]) -> dict[str, Any] | None:
    """The newest analysed session of a progress document that measured a side (else the
    newest analysed one), or None."""
    analysed = [s for s in progress_doc["sessions"] if s["status"] in ("ok", "damaged")]
    measured = [s for s in analysed if (s.get("figures") or {}).get("sides")]
    chosen = (measured or analysed or [None])[-1]
    return None if chosen is None else dict(chosen)
