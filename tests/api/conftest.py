"""Shared fixtures: one simulated demo session, apps on the simulated source."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient; httpx is what the project installs.
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from fastapi.testclient import TestClient

from hipsense.api.app import create_app
from hipsense.api.service import ServiceSettings
from hipsense.sources.simulated import SimulatedSession, SimulatedSource, simulate_demo

FAST = 10.0  # playback speed: the 28 s calibration routine takes < 3 s


@pytest.fixture(scope="session")
def demo_session() -> SimulatedSession:
    """Calibration routine + active extension exercises (about 66 s), simulated once."""
    return simulate_demo("active_extension", seed=3)


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(demo_session: SimulatedSession, tmp_path: Path) -> ClientFactory:
    """``make_client(speed=..., **settings)``: a TestClient on an app playing the demo."""

    def make(speed: float = FAST, **settings: Any) -> TestClient:
        app = create_app(
            ServiceSettings(data_dir=tmp_path, **settings),
            lambda: SimulatedSource(demo_session, speed=speed),
            auto_calibrate=True,
        )
        return TestClient(app)

    return make


@pytest.fixture
def client(make_client: ClientFactory) -> Iterator[TestClient]:
    """A running app on the simulated source, 10x real time."""
    with make_client() as c:
        yield c


@pytest.fixture
def make_app(demo_session: SimulatedSession, tmp_path: Path) -> Callable[..., FastAPI]:
    """``make_app(speed=..., **settings)``: an app playing the demo (for a real server)."""

    def make(speed: float = FAST, **settings: Any) -> FastAPI:
        return create_app(
            ServiceSettings(data_dir=tmp_path, **settings),
            lambda: SimulatedSource(demo_session, speed=speed),
            auto_calibrate=True,
        )

    return make


@pytest.fixture
def client_for() -> Callable[[FastAPI], TestClient]:
    """``client_for(app)``: a TestClient on any app (the warning-filtered import above)."""
    return TestClient
