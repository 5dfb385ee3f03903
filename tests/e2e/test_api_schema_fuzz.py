"""Schemathesis against the OpenAPI schema of the running service: no 5xx on any input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from hipsense.api.app import create_app
from hipsense.api.background import BackgroundServer
from hipsense.api.service import ServiceSettings
from hipsense.sources.simulated import SimulatedSource, simulate_demo


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    session = simulate_demo("calibration", seed=2, duration_s=40.0)
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    (data_dir / "recordings").mkdir()
    (data_dir / "recordings" / "demo.hsr").write_bytes(b"not a real recording")
    app = create_app(
        ServiceSettings(data_dir=data_dir),
        lambda: SimulatedSource(session, speed=5.0),
        auto_calibrate=True,
    )
    with BackgroundServer(app) as srv:
        yield srv


def test_no_server_errors(fuzz_server: BackgroundServer) -> None:
    schema = schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: Any) -> None:
            response = case.call(base_url=fuzz_server.url, timeout=10)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")
            elif response.status_code >= 400:
                body = response.json()
                if not (isinstance(body.get("error"), str) and body["error"]):
                    failures.append(f"{case.method} {case.formatted_path}: not a JSON error")

        run()
    assert not failures, "\n".join(failures[:10])
