"""The newest sessions of a long history (``last``) say exactly what the whole history says."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from hipsense import clients
from hipsense.exercises.progress import ANALYSIS_VERSION
from hipsense.recording.index import COLUMNS
from hipsense.recording.sessions import SessionStore


def _figures(rng: random.Random, i: int) -> dict[str, object]:
    left: dict[str, object] = {"active_deg": round(8 + 0.1 * i + rng.uniform(-1, 1), 1)}
    if i % 3 == 0:  # the passive range only every third visit
        left["passive_deg"] = round(20 + rng.uniform(-1, 1), 1)
    if i == 70:  # a Thomas test once, late: its first value is inside the window
        left["thomas_extension_deg"] = 12.0
    if i == 5:  # CARs once, early: only the first value, nothing after
        left["cars_flexion_range_deg"] = 90.0
    session = {"hold_compliance_pct": 80.0} if i % 10 == 0 else {"hold_compliance_pct": None}
    return {"sides": {"left": left}, "session": session, "warnings": []}


@pytest.mark.parametrize("last", [1, 7, 30, 79, 80, 200])
def test_window_equals_the_whole_history(tmp_path: Path, last: int) -> None:
    store = SessionStore(tmp_path)
    try:
        client = store.clients.create("Window", sides=["left"])
        rng = random.Random(4)
        rows, results = [], []
        for i in range(80):
            name = f"s{i:03d}"
            path = store.path(name)
            path.write_bytes(b"x" * 10)  # a file of the indexed size (never read: cached)
            created = f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00"
            rows.append((name, "", created, 60.0, "[]", "[]", "{}", 10, 0, client.id, 0))
            figures = json.dumps(_figures(rng, i))
            results.append((name, 10, ANALYSIS_VERSION, created, "ok", "", figures, "{}"))
        with store.index.lock:
            store.index.db.executemany(
                f"INSERT INTO sessions ({COLUMNS}) VALUES ({','.join('?' * 11)})", rows
            )
            store.index.db.executemany(
                "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)", results
            )
            store.index.db.commit()
        whole = clients.client_progress(store, client.id)
        window = clients.client_progress(store, client.id, last=last)
        shown = min(last, 80)
        assert window["sessions_total"] == whole["sessions_total"] == 80
        assert window["sessions"] == whole["sessions"][-shown:]
        # The changes really count from the first visit, not from the window's start.
        if shown < 80:
            newest = window["sessions"][-1]["changes"]["left"]["active_deg"]["since_first"]
            first = whole["sessions"][0]["figures"]["sides"]["left"]["active_deg"]
            now = whole["sessions"][-1]["figures"]["sides"]["left"]["active_deg"]
            assert newest["change"] == pytest.approx(now - first, abs=0.051)
    finally:
        store.close()
