"""Fixtures for recording tests."""

from __future__ import annotations

import pytest
from recording_helpers import write_full_recording


@pytest.fixture
def full_recording(tmp_path):
    path = tmp_path / "full.hsr"
    written = write_full_recording(path)
    return path, written
