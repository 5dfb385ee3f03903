"""Session reports: one self-contained HTML file with hand-made inline SVG plots."""

from hipsense.report.html import render_report

__all__ = ["render_report"]
