"""Run every analysis on the marked segments of a session: the batch entry point.

``analyze_session(angles, markers)`` -> :class:`SessionAnalysis` (``to_dict`` is what
``hipsense analyze --json`` prints). The live analyzer calls :func:`analyze_segment` on the
same frames when a segment closes, so live and batch results are identical.
"""

from __future__ import annotations

from typing import Any

from hipsense.exercises.bridge import analyze_bridge
from hipsense.exercises.cars import analyze_cars
from hipsense.exercises.detect import add_detected, detect_segments
from hipsense.exercises.gait import analyze_gait
from hipsense.exercises.holds import analyze_hold, summarize_holds
from hipsense.exercises.protocols import AnalysisConfig, HoldProtocol, PhaseSpec
from hipsense.exercises.rom import analyze_range, gaps
from hipsense.exercises.schema import (
    SCHEMA_VERSION,
    HoldResult,
    RangeResult,
    Result,
    SessionAnalysis,
)
from hipsense.exercises.segments import (
    HOLD_EXERCISES,
    ONE_SIDED,
    ROM_EXERCISES,
    Segment,
    segments_from_markers,
    slice_block,
)
from hipsense.exercises.sitting import analyze_sitting
from hipsense.exercises.thomas import analyze_thomas
from hipsense.types import AngleBlock, Marker, hip_columns

MIN_SEGMENT_FRAMES = 5


def available_sides(angles: AngleBlock) -> list[str]:
    """Sides whose hip columns are present."""
    return [s for s in ("left", "right") if hip_columns(s)[0] in angles.columns]


def contraction_windows(segments: list[Segment], side: str | None) -> list[tuple[float, float]]:
    """PAILs/RAILs windows of a side: active contractions that never count as passive range."""
    return [
        (s.start_s, s.end_s)
        for s in segments
        if s.exercise in ("hold_pails", "hold_rails") and (s.side in (None, side) or side is None)
    ]


def hold_settings(segment: Segment, config: AnalysisConfig) -> tuple[HoldProtocol, float | None]:
    """The hold protocol and typed target a hold segment was run with.

    A hold marked by a server-side hold series carries its settings in the marker's params
    (``target_deg`` or None, ``tolerance_deg``, ``hold_s``, ``max_s``, ``band``, ``series``);
    other holds use ``config.protocol`` with the target captured at the start.
    """
    p = dict(segment.params)
    if "hold_s" not in p:
        return config.protocol, None
    base = config.protocol
    phase = PhaseSpec(
        segment.exercise,
        float(p["hold_s"]),
        float(p.get("max_s", p["hold_s"])),
        str(p.get("band", base.phase(segment.exercise).band)),
    )
    protocol = HoldProtocol(
        name=str(p.get("series", base.name)),
        phases=(phase,),
        repeats=1,
        tolerance_deg=float(p.get("tolerance_deg", base.tolerance_deg)),
        capture_s=float(p.get("capture_s", base.capture_s)),
        compensation_limit_deg=float(p.get("compensation_limit_deg", base.compensation_limit_deg)),
    )
    target = p.get("target_deg")
    return protocol, None if target is None else float(target)


def analyze_segment(
    angles: AngleBlock,
    segment: Segment,
    config: AnalysisConfig | None = None,
    others: list[Segment] | None = None,
) -> list[Result]:
    """Results of one segment (``angles`` may be the whole session; it is sliced here).

    One-sided exercises without a side are analysed for every instrumented side. ``others``
    are the session's other segments: PAILs/RAILs inside a passive position are excluded
    from its passive range.
    """
    config = config or AnalysisConfig()
    block = slice_block(angles, segment.start_s, segment.end_s)
    if len(block) < MIN_SEGMENT_FRAMES:
        return []
    ex = segment.exercise
    sides = [segment.side] if segment.side else available_sides(block)
    sides = [s for s in sides if s in available_sides(block)]
    out: list[Result] = []
    if ex in ONE_SIDED:
        for side in sides:
            if ex in ROM_EXERCISES:
                skip = contraction_windows(others or [], side) if ex == "passive_extension" else []
                out.append(analyze_range(block, side, ex, config, skip))
            elif ex in HOLD_EXERCISES:
                protocol, target = hold_settings(segment, config)
                out.append(analyze_hold(block, side, ex, protocol, config, target))
            elif ex == "cars":
                out.append(analyze_cars(block, side, config))
            elif ex == "thomas_test":
                out.append(analyze_thomas(block, side, config))
    elif ex == "hip_lift":
        out.append(analyze_bridge(block, config))
    elif ex == "reverse_walking":
        out.append(analyze_gait(block, config))
    elif ex == "sitting":
        out.append(analyze_sitting(block, config))
    for r in out:
        r.source = segment.source
    return out


def analyze_session(
    angles: AngleBlock,
    markers: list[Marker],
    config: AnalysisConfig | None = None,
    whole_session_sitting: bool = True,
    detect: bool = False,
) -> SessionAnalysis:
    """Every analysis on every marked segment of a session, plus gaps and hold compliance.

    Parameters
    ----------
    angles : the session's calibrated angles.
    markers : exercise markers (unknown labels and open markers are ignored).
    config : thresholds and the hold protocol.
    whole_session_sitting : also report sitting exposure over the whole session (automatic,
        no marker needed; ``source`` ``"session"``).
    detect : also analyse segments found by :func:`hipsense.exercises.detect.detect_segments`
        (sitting, CARs, walking) that overlap no marked segment; their segments and results
        carry ``source`` ``"detected"``.

    Examples
    --------
    >>> analysis = analyze_session(result.angles, markers)  # doctest: +SKIP
    >>> analysis.to_dict()["gaps"]  # doctest: +SKIP
    """
    config = config or AnalysisConfig()
    segments = segments_from_markers(markers)
    if detect:
        segments = add_detected(segments, detect_segments(angles, config))
    results: list[Result] = []
    warnings: list[str] = []
    t = angles.time_s
    for seg in segments:
        if len(t) == 0 or seg.end_s <= t[0] or seg.start_s >= t[-1]:
            warnings.append(
                f"{seg.exercise} {seg.start_s:.1f}-{seg.end_s:.1f} s has no calibrated angles"
            )
            continue
        results.extend(analyze_segment(angles, seg, config, segments))
    if whole_session_sitting and len(t):
        whole = analyze_sitting(angles, config)
        whole.kind = "sitting_session"
        whole.source = "session"
        results.append(whole)
    ranges = [r for r in results if isinstance(r, RangeResult)]
    holds = [r for r in results if isinstance(r, HoldResult)]
    summary = None
    if holds:
        sides = sorted({h.side for h in holds if h.side})
        run = [s for s in segments if s.exercise in HOLD_EXERCISES and dict(s.params)]
        if run:
            # Holds of a server-side series: the protocol actually run is the holds marked.
            names = sorted({str(dict(s.params).get("series", "series")) for s in run})
            summary = summarize_holds(
                holds, config.protocol, sides, expected=len(holds), name=", ".join(names)
            ).to_dict()
        else:
            summary = summarize_holds(holds, config.protocol, sides).to_dict()
    dicts: list[dict[str, Any]] = [r.to_dict() for r in results]
    return SessionAnalysis(
        schema_version=SCHEMA_VERSION,
        duration_s=float(t[-1] - t[0]) if len(t) > 1 else 0.0,
        segments=[s.to_dict() for s in segments],
        results=dicts,
        gaps=[g.to_dict() for g in gaps(ranges, config)] if ranges else [],
        hold_summary=summary,
        warnings=warnings,
    )
