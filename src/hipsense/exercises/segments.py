"""Marked segments: which exercise ran when, on which side; slicing angles to a segment.

Offline, segments come from a recording's markers or a markers CSV
(``start_s,end_s,exercise,side``); live, from the markers the user or a protocol adds.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hipsense.errors import InputFormatError
from hipsense.types import AngleBlock, Marker

# Prone active extension is reported beside the standing one, never mixed into the gap: lying
# prone, gravity and the pelvis's support differ from standing.
ROM_EXERCISES: dict[str, str] = {
    "active_extension": "active",
    "passive_extension": "passive",
    "active_extension_prone": "active_prone",
}
HOLD_EXERCISES: tuple[str, ...] = ("hold_passive", "hold_pails", "hold_rails")
EXERCISES: tuple[str, ...] = (
    *ROM_EXERCISES,
    *HOLD_EXERCISES,
    "cars",
    "thomas_test",
    "hip_lift",
    "reverse_walking",
    "sitting",
)
ONE_SIDED: frozenset[str] = frozenset((*ROM_EXERCISES, *HOLD_EXERCISES, "cars", "thomas_test"))
# A marker's text may end with "params={json}": the settings the segment was run with (a hold's
# typed target, tolerance and duration), so the offline analysis uses what was actually run.
PARAMS_TAG = "params="


def marker_text(text: str, params: dict[str, Any]) -> str:
    """A marker text carrying ``params`` (see :func:`marker_params`)."""
    return f"{text} {PARAMS_TAG}{json.dumps(params, sort_keys=True, separators=(',', ':'))}"


def marker_params(text: str) -> dict[str, Any]:
    """The params a marker text carries ({} when none or unreadable)."""
    i = text.find(PARAMS_TAG)
    if i < 0:
        return {}
    try:
        value = json.loads(text[i + len(PARAMS_TAG) :])
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Segment:
    """A closed exercise window on the session clock (s).

    ``source`` is ``"marked"`` (the user, a protocol or a markers CSV) or ``"detected"``
    (:mod:`hipsense.exercises.detect`).
    """

    start_s: float
    end_s: float
    exercise: str
    side: str | None = None
    source: str = "marked"
    params: tuple[tuple[str, Any], ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (``params`` only when the segment has any)."""
        d: dict[str, object] = {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "exercise": self.exercise,
            "side": self.side,
            "source": self.source,
        }
        if self.params:
            d["params"] = dict(self.params)
        return d


def segments_from_markers(markers: list[Marker]) -> list[Segment]:
    """Closed markers of known exercises, in time order (notes and open markers skipped)."""
    out = [
        Segment(
            float(m.start_s),
            float(m.end_s),
            m.exercise,
            m.side or None,
            params=tuple(sorted(marker_params(m.text).items())),
        )
        for m in markers
        if m.exercise in EXERCISES and m.end_s is not None and m.end_s > m.start_s
    ]
    return sorted(out, key=lambda s: (s.start_s, s.end_s))


def read_markers_csv(path: str | Path) -> list[Marker]:
    """Markers CSV ``start_s,end_s,exercise,side`` (side may be empty) -> markers.

    Raises
    ------
    InputFormatError
        Naming the row when a column is missing, a time is not a number, or the exercise is
        not one of :data:`EXERCISES` (other labels, e.g. ``note``, are kept but not analysed).
    """
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"start_s", "end_s", "exercise"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise InputFormatError(
                f"{path}: header must be start_s,end_s,exercise,side (got {reader.fieldnames})"
            )
        out: list[Marker] = []
        for row_no, row in enumerate(reader, start=2):
            try:
                start, end = float(row["start_s"]), float(row["end_s"])
            except (TypeError, ValueError):
                raise InputFormatError(
                    f"{path}:{row_no}: start_s/end_s must be numbers in seconds"
                ) from None
            if not end > start:
                raise InputFormatError(f"{path}:{row_no}: end_s must be after start_s")
            side = (row.get("side") or "").strip() or None
            if side not in (None, "left", "right"):
                raise InputFormatError(f"{path}:{row_no}: side must be left, right or empty")
            out.append(Marker(start, end, row["exercise"].strip(), side))
    return out


def slice_block(angles: AngleBlock, start_s: float, end_s: float) -> AngleBlock:
    """Frames with ``start_s <= t < end_s`` (views)."""
    i, j = np.searchsorted(angles.time_s, (start_s, end_s), side="left")
    return AngleBlock(angles.time_s[i:j], {k: v[i:j] for k, v in angles.columns.items()})
