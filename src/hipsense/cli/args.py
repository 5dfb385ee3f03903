"""Argument types shared by the sub-commands (light: nothing heavy is imported here)."""

from __future__ import annotations

import argparse

FILTER_NAMES = ("ekf", "madgwick", "mahony", "vqf")
"""The orientation filters' names (``hipsense.fusion.FILTERS``, sorted), for ``--filter``
without importing the filters when the parser is built (a test checks they agree)."""


def window_arg(text: str) -> tuple[float, float]:
    """``START:END`` in seconds (``process --static/--functional``), checked."""
    try:
        start, end = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not START:END in seconds (e.g. 0.5:3.0)"
        ) from None
    if not end > start:
        raise argparse.ArgumentTypeError(f"{text!r}: END must be after START")
    return start, end


def placement_arg(text: str) -> tuple[str, str]:
    """``ROLE=SITE`` of ``--placement`` (``process``, ``serve``), checked."""
    from hipsense.body.mounting import parse_placement
    from hipsense.errors import ConfigurationError

    role, sep, site = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not ROLE=SITE (e.g. pelvis=sacrum)")
    try:
        parse_placement(role.strip(), site)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return role.strip(), site.strip()
