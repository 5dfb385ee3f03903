"""Helpers shared by the API tests (imported by module name; tests/api is on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real import happens in conftest, under a warning filter
    from fastapi.testclient import TestClient


def wait_for(
    client: TestClient, path: str, predicate: Callable[[Any], bool], timeout_s: float = 30.0
) -> Any:
    """GET ``path`` until ``predicate(body)`` holds (generous: CI machines can be slow)."""
    deadline = time.monotonic() + timeout_s
    body: Any = {}
    while time.monotonic() < deadline:
        body = client.get(path).json()
        if predicate(body):
            return body
        time.sleep(0.05)
    raise AssertionError(f"{path} never satisfied the condition; last: {body}")
