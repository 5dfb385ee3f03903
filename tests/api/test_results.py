"""The exercise analyzer runs inside the live service: marked segments produce results."""

from __future__ import annotations

import time
from typing import Any


def test_live_results_come_from_the_exercise_analyzer(make_client: Any) -> None:
    with make_client(speed=20.0) as client:
        body = client.get("/api/results").json()
        assert "ExerciseAnalyzer" in body["analyzers"]
        deadline = time.monotonic() + 30.0
        rom: list[dict] = []
        while time.monotonic() < deadline and not rom:
            time.sleep(0.5)
            rom = client.get("/api/results").json()["rom"]
        assert rom, "no ROM result from the simulated active extension segments"
        result = rom[0]
        assert result["exercise"] == "active_extension"
        assert result["side"] in ("left", "right")
        # The simulated subject extends each hip to 15-20 deg and holds it.
        assert 10.0 < result["extension_deg"] < 25.0
