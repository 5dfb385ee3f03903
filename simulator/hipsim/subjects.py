"""Scripted subjects with known ranges, built on hipsim's script API (tests and benchmarks).

``scripted_session(block, seed)`` runs the simulator's calibration routine, then ``block``
(a function appending phases to a :class:`hipsim.script.ScriptBuilder`), and samples the
sensors exactly as :func:`hipsim.simulate_session` does. ``subject_block`` scripts a subject
with a chosen active and passive hip extension range, PAILs/RAILs holds and, optionally,
anterior pelvic tilt episodes during the passive hold.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hipsense.exercises.protocols import AnalysisConfig
from hipsense.exercises.rom import compensation_episodes, compensation_mask, reference
from hipsense.types import ROLES, AngleBlock, Marker, SampleBlock
from hipsim.accuracy import issue_error_model
from hipsim.imu import ImuErrors, SensorErrorDraw, sample_sensor
from hipsim.kinematics import make_body
from hipsim.scenarios import calibration_routine, rest_standing
from hipsim.script import ScriptBuilder
from hipsim.session import SimSession

Block = Callable[[ScriptBuilder, np.random.Generator], None]


def scripted_session(
    block: Block, seed: int, errors: ImuErrors | None = None, rate_hz: float = 100.0
) -> SimSession:
    """Calibration routine + ``block``, sampled like ``simulate_session`` (seeded)."""
    errors = issue_error_model() if errors is None else errors
    rng = np.random.default_rng([seed, 11])
    b = ScriptBuilder()
    calibration_routine(b, rng)
    block(b, rng)
    script = b.build()
    body = make_body(np.random.default_rng([seed, 12]), False)
    samples: dict[str, SampleBlock] = {}
    draws: dict[str, SensorErrorDraw] = {}
    for k, role in enumerate(ROLES):
        samples[role], draws[role] = sample_sensor(
            script, body, role, rate_hz, errors, np.random.default_rng([seed, 13, k])
        )
    return SimSession(
        scenario="scripted",
        seed=seed,
        samples=samples,
        mounting={r: body.mounting[r].copy() for r in ROLES},
        markers=list(script.markers),
        duration_s=script.duration_s,
        rate_hz=dict.fromkeys(ROLES, rate_hz),
        errors=errors,
        error_draws=draws,
        body=body,
        script=script,
    )


def subject_block(active_deg: float, passive_deg: float, tilt_episodes: int = 0) -> Block:
    """Per side: 3 active extensions held 2-3 s, then a partner-assisted passive extension
    (hold_passive 10 s with ``tilt_episodes`` anterior tilt episodes of 1.5-2.5 s and
    7-10 deg), PAILs 4 s and RAILs (3-5 deg deeper) 4 s."""

    def block(b: ScriptBuilder, rng: np.random.Generator) -> None:
        for side in ("left", "right"):
            for _ in range(3):
                with b.marker("active_extension", side):
                    a = active_deg + rng.uniform(-1.0, 1.0)
                    b.move(1.2, **{f"hip_flexion_{side}_deg": -a, f"hip_abduction_{side}_deg": 2.0})
                    b.hold(rng.uniform(2.0, 3.0))
                    b.move(
                        1.2, **{f"hip_flexion_{side}_deg": 0.0, f"hip_abduction_{side}_deg": 0.0}
                    )
                b.hold(0.8)
            flex = f"hip_flexion_{side}_deg"
            with b.marker("passive_extension", side):
                b.move(2.0, **{flex: -passive_deg})
                with b.marker("hold_passive", side):
                    start = b.t
                    b.hold(10.0)
                    slots = np.linspace(start + 1.5, b.t - 1.0, tilt_episodes + 1)
                    for s0, s1 in zip(slots[:-1], slots[1:], strict=True):
                        length = rng.uniform(1.5, 2.5)
                        mid = 0.5 * (s0 + s1)
                        amount = rng.uniform(7.0, 10.0)
                        b.offset("pelvic_tilt_deg", amount, mid - length / 2, mid + length / 2, 0.3)
                with b.marker("hold_pails", side):
                    b.move(0.8, **{flex: -passive_deg + rng.uniform(0.3, 0.8)})
                    b.hold(3.2)
                b.move(0.6, **{flex: -passive_deg})
                with b.marker("hold_rails", side):
                    b.move(1.0, **{flex: -passive_deg - rng.uniform(3.0, 5.0)})
                    b.hold(3.0)
                b.move(1.5, **{flex: 0.0})
            rest_standing(b)

    return block


def markers_of(session: SimSession) -> list[Marker]:
    """The session's exercise markers as hipsense markers."""
    return [Marker(m.start_s, m.end_s, m.label, m.side) for m in session.exercise_markers()]


def truth_block(session: SimSession, time_s: np.ndarray) -> AngleBlock:
    """Exact truth angles on the given timeline."""
    return AngleBlock(time_s, session.truth_at(time_s))


def truth_episodes(
    session: SimSession,
    start_s: float,
    end_s: float,
    config: AnalysisConfig,
    rate_hz: float = 100.0,
) -> list[tuple[float, float]]:
    """Compensation episodes of the exact truth in a window (tilt vs its start, the limit)."""
    t = np.arange(start_s, end_s, 1.0 / rate_hz)
    tilt = session.truth_at(t)["pelvic_tilt_deg"]
    mask = compensation_mask(t, tilt, reference(t, tilt), config.compensation_limit_deg)
    return compensation_episodes(t, mask, config)


def match_episodes(
    found: list[tuple[float, float]], truth: list[tuple[float, float]]
) -> tuple[int, int, int]:
    """(true positives among found, found, truth episodes recovered): overlap counts."""

    def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] < b[1] and b[0] < a[1]

    tp_found = sum(any(overlaps(f, t) for t in truth) for f in found)
    recovered = sum(any(overlaps(t, f) for f in found) for t in truth)
    return tp_found, len(found), recovered
