"""Simulated sessions processed once per test run (the pipeline is the slow part)."""

from __future__ import annotations

from functools import cache

import pytest

from hipsense.pipeline import process_session
from hipsense.types import AngleBlock, Marker
from hipsim import simulate_session
from hipsim.accuracy import issue_error_model
from hipsim.session import SimSession
from hipsim.subjects import markers_of, scripted_session, subject_block

SUBJECTS = {  # (active, passive) hip extension, degrees
    "within_norms": (15.0, 18.0),
    "passive_restricted": (4.0, 6.0),
    "motor_control_deficit": (6.0, 18.0),
}


@cache
def processed(scenario: str, seed: int) -> tuple[SimSession, AngleBlock, list[Marker]]:
    """A simulator scenario (issue error model) and its pipeline angles."""
    session = simulate_session(scenario, seed=seed, errors=issue_error_model())
    angles = process_session(session.samples).angles
    return session, angles, markers_of(session)


@cache
def processed_subject(
    name: str, seed: int, tilt_episodes: int = 0
) -> tuple[SimSession, AngleBlock, list[Marker]]:
    """A scripted subject of :data:`SUBJECTS` and its pipeline angles."""
    active, passive = SUBJECTS[name]
    session = scripted_session(subject_block(active, passive, tilt_episodes), seed)
    angles = process_session(session.samples).angles
    return session, angles, markers_of(session)


@pytest.fixture(scope="session")
def sim() -> object:
    """``sim(scenario, seed)`` -> (session, angles, markers), cached."""
    return processed


@pytest.fixture(scope="session")
def subject() -> object:
    """``subject(name, seed, tilt_episodes=0)`` -> (session, angles, markers), cached."""
    return processed_subject
