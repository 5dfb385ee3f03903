"""A population of simulated subjects, not one: how each does the routine, how fast its sensors are.

Each :class:`Subject` performs the calibration routine in its own way (amplitudes, speed,
repetitions, order, pauses, sometimes an unrelated movement in between), its sensors sample
at their own rates, and its seed draws the body, the sensor mounting and the sensor errors
exactly as :func:`hipsim.simulate_session` does for any seed. The continuous parameters are
drawn stratified (one draw in each of ``n`` equal slices of the range, slices shuffled), so
that even a population of 30 reaches both ends of every range: a 10-12 deg hinge, a 25-27 Hz
sensor and one near 200 Hz for every role. The counts and choices are balanced the same way.

>>> from hipsim.population import draw_population
>>> subjects = draw_population(30, seed=0)
>>> session = subjects[0].simulate("active_extension")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hipsense.types import ROLES
from hipsim.imu import ImuErrors
from hipsim.scenarios import ROUTINE_GROUPS, CalibrationRoutine
from hipsim.session import SimSession, simulate_session

HINGE_RANGE_DEG: tuple[float, float] = (10.0, 60.0)
KNEE_LIFT_RANGE_DEG: tuple[float, float] = (30.0, 100.0)
DURATION_FACTOR_RANGE: tuple[float, float] = (0.5, 2.0)  # > 1 is slower
RATE_RANGE_HZ: tuple[float, float] = (25.0, 200.0)
PAUSE_RANGE_S: tuple[float, float] = (0.0, 3.0)
KNEE_LIFTS_RANGE: tuple[int, int] = (1, 4)  # per leg
HINGES_RANGE: tuple[int, int] = (1, 3)
# Repetitions of one subject vary around its own amplitude by up to this much (deg).
HINGE_SPREAD_DEG, KNEE_LIFT_SPREAD_DEG = 2.0, 4.0

_STREAM_POPULATION = 41
_DEFAULT = CalibrationRoutine()


@dataclass(frozen=True)
class Subject:
    """One simulated subject.

    Attributes
    ----------
    subject_id : index in its population (0-based).
    seed : the :func:`hipsim.simulate_session` seed: body, mounting, sensor errors and the
        script's random draws (each repetition's amplitude).
    routine : how the subject performs the calibration routine.
    rates_hz : per role, the sensor's output rate (Hz).
    hinge_deg, knee_lift_deg : the subject's typical amplitudes (deg); each repetition is
        drawn within ``routine.hinge_deg`` / ``routine.knee_lift_deg`` around them.
    duration_factor : the routine's movement and hold durations relative to the default
        routine (0.5: twice as fast).
    """

    subject_id: int
    seed: int
    routine: CalibrationRoutine
    rates_hz: dict[str, float]
    hinge_deg: float
    knee_lift_deg: float
    duration_factor: float

    def simulate(self, scenario: str, exercise_s: float | None = None, **kwargs: Any) -> SimSession:
        """Simulate ``scenario`` for this subject.

        Parameters
        ----------
        scenario : one of :data:`hipsim.SCENARIOS`.
        exercise_s : session length after the calibration routine (s); None: one whole
            exercise block. Shorter sessions end in the middle of the block.
        **kwargs : further :func:`hipsim.simulate_session` keywords (``errors``, ``roles``,
            ``with_mag``, ...); not ``rate_hz``, ``routine`` or ``duration_s``.

        Returns
        -------
        SimSession
        """
        duration_s = None if exercise_s is None else self.routine.duration_s + exercise_s
        return simulate_session(
            scenario,
            self.seed,
            rate_hz=dict(self.rates_hz),
            routine=self.routine,
            duration_s=duration_s,
            **kwargs,
        )

    def describe(self) -> str:
        """One line: the subject's routine and rates."""
        r = self.routine
        rates = "/".join(f"{self.rates_hz[role]:.0f}" for role in ROLES if role in self.rates_hz)
        extra = (
            ""
            if r.extra_movement is None
            else f", {r.extra_movement} after group {r.extra_after + 1}"
        )
        order = " > ".join(
            g.replace("knee_lift_", "lifts ").replace("hip_hinge", "hinges") for g in r.order
        )
        return (
            f"#{self.subject_id} (seed {self.seed}): {r.knee_lifts}x knee lift "
            f"{self.knee_lift_deg:.0f} deg, {r.hinges}x hinge {self.hinge_deg:.0f} deg, "
            f"durations x{self.duration_factor:.2f}, {order}{extra}, pauses "
            f"{'/'.join(f'{p:.1f}' for p in r.pauses_s)} s (reps {r.rep_pause_s:.1f} s), "
            f"rates {rates} Hz ({'/'.join(ROLES)})"
        )


def draw_population(n: int, seed: int = 0) -> list[Subject]:
    """Draw ``n`` subjects that differ in how they calibrate and in their sensor rates.

    Per subject: hinge amplitude in :data:`HINGE_RANGE_DEG`, knee-lift amplitude in
    :data:`KNEE_LIFT_RANGE_DEG`, a duration factor in :data:`DURATION_FACTOR_RANGE`
    (log-uniform), 1-4 knee lifts per leg and 1-3 hinges, the left or the right leg first,
    the hinges first in a third of the subjects, a small squat or steps in place between two
    movement groups in half of them, pauses in :data:`PAUSE_RANGE_S` after each group and
    between repetitions, and per role a rate in :data:`RATE_RANGE_HZ` (log-uniform, whole
    Hz). Body, mounting and sensor errors come from the subject's seed.

    Parameters
    ----------
    n : number of subjects.
    seed : the population's seed; the same ``(n, seed)`` gives the same subjects (the
        stratified draws make subject ``k`` depend on ``n`` too).

    Returns
    -------
    list of Subject, ``subject_id`` 0 .. n-1.

    Examples
    --------
    >>> subjects = draw_population(30, seed=0)
    >>> min(s.hinge_deg for s in subjects) < 12.0, max(s.rates_hz["pelvis"] for s in subjects)
    (True, 188.0)
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng([seed, _STREAM_POPULATION])
    hinge = _stratified(rng, n, *HINGE_RANGE_DEG)
    knee = _stratified(rng, n, *KNEE_LIFT_RANGE_DEG)
    factor = np.exp(_stratified(rng, n, *np.log(DURATION_FACTOR_RANGE)))
    rates = {role: np.round(np.exp(_stratified(rng, n, *np.log(RATE_RANGE_HZ)))) for role in ROLES}
    knee_lifts = KNEE_LIFTS_RANGE[0] + _balanced(
        rng, n, KNEE_LIFTS_RANGE[1] - KNEE_LIFTS_RANGE[0] + 1
    )
    hinges = HINGES_RANGE[0] + _balanced(rng, n, HINGES_RANGE[1] - HINGES_RANGE[0] + 1)
    right_first = _balanced(rng, n, 2) == 1
    hinges_first = _balanced(rng, n, 3) == 0
    extra = _balanced(rng, n, 4)  # 0, 1: none; 2: squat; 3: steps in place
    seeds = rng.integers(0, 2**31, n)
    subjects = []
    for k in range(n):
        lifts = ("knee_lift_right", "knee_lift_left") if right_first[k] else ROUTINE_GROUPS[:2]
        order = ("hip_hinge", *lifts) if hinges_first[k] else (*lifts, "hip_hinge")
        f = float(factor[k])
        pauses = rng.uniform(*PAUSE_RANGE_S, size=4)
        routine = dataclasses.replace(
            _DEFAULT,
            order=order,
            knee_lifts=int(knee_lifts[k]),
            knee_lift_deg=_spread(float(knee[k]), KNEE_LIFT_SPREAD_DEG, KNEE_LIFT_RANGE_DEG),
            knee_lift_move_s=_DEFAULT.knee_lift_move_s * f,
            knee_lift_top_s=_DEFAULT.knee_lift_top_s * f,
            hinges=int(hinges[k]),
            hinge_deg=_spread(float(hinge[k]), HINGE_SPREAD_DEG, HINGE_RANGE_DEG),
            hinge_move_s=_DEFAULT.hinge_move_s * f,
            hinge_bottom_s=_DEFAULT.hinge_bottom_s * f,
            rep_pause_s=float(pauses[3]),
            pauses_s=(float(pauses[0]), float(pauses[1]), float(pauses[2])),
            extra_movement=(None, None, "squat", "step_in_place")[int(extra[k])],
            extra_after=int(rng.integers(0, 2)),
            extra_move_s=_DEFAULT.extra_move_s * f,
            extra_steps=int(rng.integers(4, 7)),
            extra_pause_s=float(rng.uniform(*PAUSE_RANGE_S)),
        )
        subjects.append(
            Subject(
                subject_id=k,
                seed=int(seeds[k]),
                routine=routine,
                rates_hz={role: float(rates[role][k]) for role in ROLES},
                hinge_deg=float(hinge[k]),
                knee_lift_deg=float(knee[k]),
                duration_factor=f,
            )
        )
    return subjects


def simulate_population(
    subjects: Sequence[Subject],
    scenario: str,
    *,
    errors: ImuErrors,
    exercise_s: float | None = None,
) -> dict[int, SimSession]:
    """Each subject's session of ``scenario``: subject id -> session.

    Parameters
    ----------
    subjects : e.g. :func:`draw_population` ``(30)``.
    scenario : one of :data:`hipsim.SCENARIOS`.
    errors : sensor error model, e.g. :func:`hipsim.accuracy.issue_error_model` (the one the
        accuracy bars are set for).
    exercise_s : session length after each subject's calibration routine (s); None: one
        whole exercise block.

    Returns
    -------
    dict of int to SimSession
    """
    return {s.subject_id: s.simulate(scenario, exercise_s, errors=errors) for s in subjects}


def _stratified(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    """One uniform draw in each of ``n`` equal slices of [low, high], in random order."""
    return low + (high - low) * (rng.permutation(n) + rng.uniform(size=n)) / n


def _balanced(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``n`` integers 0 .. k-1, each as often as possible, in random order."""
    return rng.permutation(np.arange(n) % k)


def _spread(centre: float, spread: float, bounds: tuple[float, float]) -> tuple[float, float]:
    return max(bounds[0], centre - spread), min(bounds[1], centre + spread)


__all__ = ["Subject", "draw_population", "simulate_population"]
