"""Thresholds and exercise protocols as data (defaults cited in ``docs/analytics.md``).

Every analysis takes an :class:`AnalysisConfig`; a JSON file with the same keys (partial is
fine) overrides the defaults: ``AnalysisConfig.from_dict(json.load(f))``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hipsense.errors import ConfigurationError


@dataclass(frozen=True)
class PhaseSpec:
    """One phase of a hold protocol.

    ``band`` is ``"two_sided"`` (stay within +-tolerance of the captured end range) or
    ``"at_least"`` (RAILs: the end range or deeper counts).
    """

    exercise: str
    min_s: float
    max_s: float
    band: str = "two_sided"


@dataclass(frozen=True)
class HoldProtocol:
    """An isometric hold protocol: phases in order, repeated ``repeats`` times per side.

    Default: hip flexor end-range routine: passive hold 120 s, PAILs 10-20 s, RAILs 10-20 s,
    twice per side.
    """

    name: str = "passive-pails-rails"
    phases: tuple[PhaseSpec, ...] = (
        PhaseSpec("hold_passive", 120.0, 120.0),
        PhaseSpec("hold_pails", 10.0, 20.0),
        PhaseSpec("hold_rails", 10.0, 20.0, "at_least"),
    )
    repeats: int = 2
    tolerance_deg: float = 3.0
    capture_s: float = 0.5
    compensation_limit_deg: float = 5.0

    def phase(self, exercise: str) -> PhaseSpec:
        """The spec of a phase by exercise name (``hold_passive``, ...)."""
        for p in self.phases:
            if p.exercise == exercise:
                return p
        raise ConfigurationError(
            f"protocol {self.name!r} has no phase {exercise!r}; "
            f"it has {', '.join(p.exercise for p in self.phases)}"
        )

    @staticmethod
    def from_dict(d: dict[str, Any]) -> HoldProtocol:
        """Protocol from JSON-like data; ``phases`` is a list of PhaseSpec dicts."""
        kw = dict(d)
        if "phases" in kw:
            kw["phases"] = tuple(PhaseSpec(**p) for p in kw["phases"])
        return HoldProtocol(**kw)


@dataclass(frozen=True)
class AnalysisConfig:
    """All thresholds of the analyses (degrees, seconds)."""

    hold_s: float = 1.0  # a range counts only when held this long
    compensation_limit_deg: float = 5.0  # pelvic tilt change from the position's start
    min_episode_s: float = 0.2  # shorter compensation blips are ignored
    smooth_s: float = 0.2  # moving average before range extraction
    passive_normal_min_deg: float = 10.0  # normal passive hip extension 10-20 deg
    gap_threshold_deg: float = 5.0  # passive - active beyond this: motor control deficit
    cars_pelvis_limit_deg: float = 5.0
    thomas_posterior_tilt_deg: float = -80.0  # tilt at or below this: pelvis held posteriorly
    bridge_tolerance_deg: float = 3.0
    bridge_target_hold_s: float = 3.0
    step_prominence_deg: float = 10.0
    sitting_flexion_deg: float = 60.0
    sitting_hysteresis_deg: float = 5.0  # a bout ends below sitting_flexion_deg - this
    sitting_min_bout_s: float = 2.0  # shorter bouts are transient bends, not sitting
    protocol: HoldProtocol = field(default_factory=HoldProtocol)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> AnalysisConfig:
        """Config from JSON-like data (unknown keys are an error, missing keys default)."""
        names = {f.name for f in dataclasses.fields(AnalysisConfig)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigurationError(
                f"unknown analysis setting(s) {unknown}; known: {sorted(names)}"
            )
        kw = dict(d)
        if "protocol" in kw:
            kw["protocol"] = HoldProtocol.from_dict(kw["protocol"])
        return AnalysisConfig(**kw)
