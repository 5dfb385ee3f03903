"""A sentence from the server and a number card on the page show the same digits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import classify_gap, shown_1dp

COMMON_JS = Path(__file__).parents[2] / "src" / "hipsense" / "api" / "static" / "common.js"


def test_shown_1dp_equals_the_pages_deg(browser: Any) -> None:
    """``shown_1dp`` against the dashboard's own ``fmt`` (common.js) in chromium, on values as
    the API sends them (rounded to 2 decimals): ties, values just below a tie, negatives."""
    rng = np.random.default_rng(3)
    values = [9.0499, 9.05, 9.25, 19.95, -0.25, -0.04, 0.04, 10.949, 0.0, 2.45, -7.75]
    values += [float(v) for v in rng.uniform(-40.0, 40.0, 400)]
    sent = [round(v, 2) for v in values]
    page = browser.new_page()
    try:
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=COMMON_JS.read_text())
        shown = page.evaluate("(vs) => vs.map((v) => fmt(v, 1))", sent)
    finally:
        page.close()
    assert [shown_1dp(v) for v in values] == shown


def test_the_gap_sentence_uses_the_cards_numbers() -> None:
    """The assessment of the screenshot: active 9.0499 shows as 9.1 on the card."""
    gap = classify_gap("left", 9.0499, 19.9499, AnalysisConfig())
    assert gap.classification == "motor_control_deficit"
    assert "active reaches only 9.1 deg" in gap.interpretation
    assert "Passive extension 19.9 deg" in gap.interpretation
