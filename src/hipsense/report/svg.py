"""Small hand-made SVG charts (no plotting dependency): lines with shaded phases, bars, loops.

Every chart scales to its container (``viewBox`` + ``width=100%``), so it reads on a phone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import numpy as np

from hipsense.types import FloatArray

COLORS = {
    "left": "#1f77b4",
    "right": "#d62728",
    "pelvis": "#555555",
    "band": "#2ca02c",
    "active": "#9467bd",
    "passive": "#ff7f0e",
}
PHASE_COLORS = {
    "active_extension": "#e6e0f3",
    "passive_extension": "#fdebd3",
    "hold_passive": "#fbd9b0",
    "hold_pails": "#d6ead2",
    "hold_rails": "#cfe3f3",
    "cars": "#efe1ef",
    "thomas_test": "#f3e6d8",
    "hip_lift": "#e2eff1",
    "reverse_walking": "#eaeaea",
    "sitting": "#f5f0d0",
}
MAX_POINTS = 1500


@dataclass
class Series:
    """One line: x and y values, colour and legend label."""

    x: FloatArray
    y: FloatArray
    color: str
    label: str
    dashed: bool = False


@dataclass
class Chart:
    """A line chart in data coordinates, rendered to SVG by :meth:`svg`."""

    title: str
    x_label: str = "time (s)"
    y_label: str = "deg"
    width: int = 900
    height: int = 300
    series: list[Series] = field(default_factory=list)
    spans: list[tuple[float, float, str, str]] = field(default_factory=list)  # x0, x1, fill, text
    bands: list[tuple[float, float, float, float]] = field(default_factory=list)  # x0,x1,y0,y1
    equal_axes: bool = False

    def svg(self) -> str:
        """The chart as an inline ``<svg>`` element."""
        left, right, top, bottom = 52, 12, 44, 38
        w, h = self.width - left - right, self.height - top - bottom
        xs = [s.x for s in self.series if len(s.x)]
        ys = [s.y[np.isfinite(s.y)] for s in self.series if len(s.y)]
        if not xs:
            return f'<p class="empty">{escape(self.title)}: no data</p>'
        x0 = min(float(np.min(x)) for x in xs)
        x1 = max(float(np.max(x)) for x in xs)
        yv = np.concatenate(ys + [np.array([b[2], b[3]]) for b in self.bands])
        y0, y1 = float(np.min(yv)), float(np.max(yv))
        pad = 0.06 * (y1 - y0 or 1.0)
        y0, y1 = y0 - pad, y1 + pad
        if self.equal_axes:
            sx, sy = w / max(x1 - x0, 1e-9), h / max(y1 - y0, 1e-9)
            scale = min(sx, sy)
            cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
            x0, x1 = cx - 0.5 * w / scale, cx + 0.5 * w / scale
            y0, y1 = cy - 0.5 * h / scale, cy + 0.5 * h / scale
        x1 = x1 if x1 > x0 else x0 + 1.0

        def px(x: FloatArray | float) -> FloatArray:
            return left + (np.asarray(x, float) - x0) / (x1 - x0) * w

        def py(y: FloatArray | float) -> FloatArray:
            return top + (y1 - np.asarray(y, float)) / (y1 - y0) * h

        out = [
            f'<svg class="chart" viewBox="0 0 {self.width} {self.height}" width="100%" role="img" '
            f'aria-label="{escape(self.title)}" xmlns="http://www.w3.org/2000/svg" '
            'font-family="system-ui,sans-serif" font-size="12">',
            f'<text x="{left}" y="16" font-weight="600" font-size="14">{escape(self.title)}</text>',
        ]
        for a, b, fill, text in self.spans:
            xa, xb = float(px(max(a, x0))), float(px(min(b, x1)))
            if xb <= xa:
                continue
            out.append(
                f'<rect x="{xa:.1f}" y="{top}" width="{xb - xa:.1f}" height="{h}" fill="{fill}">'
                f"<title>{escape(text)}</title></rect>"
            )
        for a, b, lo, hi in self.bands:
            xa, xb = float(px(a)), float(px(b))
            ya, yb = float(py(hi)), float(py(lo))
            out.append(
                f'<rect x="{xa:.1f}" y="{ya:.1f}" width="{max(xb - xa, 0.5):.1f}" '
                f'height="{max(yb - ya, 0.5):.1f}" fill="{COLORS["band"]}" fill-opacity="0.22" '
                f'stroke="{COLORS["band"]}" stroke-width="0.8"/>'
            )
        for tick in _ticks(y0, y1):
            y = float(py(tick))
            out.append(
                f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>'
            )
        for tick in _ticks(x0, x1):
            x = float(px(tick))
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + h}" y2="{top + h + 4}" stroke="#888"/>'
                f'<text x="{x:.1f}" y="{top + h + 16}" text-anchor="middle">{tick:g}</text>'
            )
        out.append(
            f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#888"/>'
            f'<text x="{left + w / 2:.0f}" y="{self.height - 4}" text-anchor="middle">'
            f"{escape(self.x_label)}</text>"
            f'<text x="12" y="{top + h / 2:.0f}" text-anchor="middle" '
            f'transform="rotate(-90 12 {top + h / 2:.0f})">{escape(self.y_label)}</text>'
        )
        legend_x = left
        for s in self.series:  # one legend row under the title
            out.append(
                f'<line x1="{legend_x}" x2="{legend_x + 14}" y1="29" y2="29" stroke="{s.color}" '
                f'stroke-width="3"/><text x="{legend_x + 18}" y="33">{escape(s.label)}</text>'
            )
            legend_x += 30 + 7 * len(s.label)
        for s in self.series:
            xd, yd = _decimate(s.x, s.y)
            pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px(xd), py(yd), strict=True))
            dash = ' stroke-dasharray="5 3"' if s.dashed else ""
            out.append(
                f'<polyline points="{pts}" fill="none" stroke="{s.color}" stroke-width="1.6"'
                f"{dash}/>"
            )
        out.append("</svg>")
        return "".join(out)


def bar_chart(
    title: str, groups: list[str], bars: list[tuple[str, str, list[float | None]]], unit: str
) -> str:
    """Grouped vertical bars: ``bars`` = (label, colour, value per group); None = missing."""
    width, height, left, top, bottom = 520, 260, 44, 30, 40
    w, h = width - left - 12, height - top - bottom
    values = [v for _, _, vs in bars for v in vs if v is not None]
    hi = max([*values, 1.0]) * 1.15
    lo = min([*values, 0.0]) * 1.15
    out = [
        f'<svg class="bars" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
        'font-family="system-ui,sans-serif" font-size="12">',
        f'<text x="{left}" y="16" font-weight="600" font-size="14">{escape(title)}</text>',
    ]

    def py(v: float) -> float:
        return top + (hi - v) / (hi - lo) * h

    for tick in _ticks(lo, hi):
        y = py(tick)
        out.append(
            f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>'
        )
    group_w = w / max(1, len(groups))
    bar_w = group_w * 0.7 / max(1, len(bars))
    for g, name in enumerate(groups):
        gx = left + g * group_w + group_w * 0.15
        for b, (label, color, vals) in enumerate(bars):
            v = vals[g]
            x = gx + b * bar_w
            if v is None:
                out.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{py(0) - 4:.1f}" '
                    f'text-anchor="middle" fill="#999">n/a</text>'
                )
                continue
            y0, y1 = sorted((py(0.0), py(v)))
            out.append(
                f'<rect x="{x:.1f}" y="{y0:.1f}" width="{bar_w * 0.92:.1f}" '
                f'height="{max(y1 - y0, 0.5):.1f}" fill="{color}"><title>{escape(label)} '
                f"{v:.1f} {unit}</title></rect>"
                f'<text x="{x + bar_w * 0.46:.1f}" y="{min(y0, y1) - 3:.1f}" '
                f'text-anchor="middle">{v:.1f}</text>'
            )
        out.append(
            f'<text x="{gx + 0.35 * group_w:.1f}" y="{top + h + 18}" text-anchor="middle" '
            f'font-weight="600">{escape(name)}</text>'
        )
    lx = left + 4
    for label, color, _ in bars:
        out.append(
            f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{height - 5}">{escape(label)}</text>'
        )
        lx += 24 + 7 * len(label)
    out.append(
        f'<line x1="{left}" x2="{left + w}" y1="{py(0):.1f}" y2="{py(0):.1f}" stroke="#444"/></svg>'
    )
    return "".join(out)


def _ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    span = hi - lo
    if not np.isfinite(span) or span <= 0:
        return [lo]
    raw = span / n
    mag = 10 ** np.floor(np.log10(raw))
    step = mag * min((m for m in (1, 2, 5, 10) if m * mag >= raw), default=10)
    start = np.ceil(lo / step) * step
    return [(round(float(v), 6) or 0.0) for v in np.arange(start, hi + 1e-9, step)]


def _decimate(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """At most ~MAX_POINTS points, keeping each bucket's min and max (peaks stay visible)."""
    n = len(x)
    if n <= MAX_POINTS:
        return x, y
    k = int(np.ceil(n / (MAX_POINTS / 2)))
    m = n // k * k
    yb = y[:m].reshape(-1, k)
    xb = x[:m].reshape(-1, k)
    lo, hi = np.nanargmin(yb, axis=1), np.nanargmax(yb, axis=1)
    rows = np.arange(len(yb))
    first = np.minimum(lo, hi)
    second = np.maximum(lo, hi)
    xs = np.column_stack([xb[rows, first], xb[rows, second]]).ravel()
    ys = np.column_stack([yb[rows, first], yb[rows, second]]).ravel()
    return xs, ys
