"""Recorded sessions in the data directory: one folder per session, written while live.

::

    <data-dir>/sessions/<name>/session.json   metadata, markers, calibration, protocols
                              samples.csv    raw samples (generic CSV, ``hipsense process``)
                              angles.csv     time_s + angle columns (degrees)
                              events.jsonl   sensor, calibration, marker and analysis events

Names are checked against a strict pattern and resolved inside the data directory, so a
request can never read or delete anything else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from hipsense.api.errors import ApiError
from hipsense.live import marker_dict
from hipsense.types import AngleBlock, Marker, SampleBlock

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SAMPLE_HEADER = "time_s,role,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n"


def safe_child(root: Path, name: str, what: str = "session") -> Path:
    """``root / name`` if ``name`` is a plain name that stays inside ``root``, else 400."""
    if not NAME_RE.match(name) or ".." in name:
        raise ApiError(
            400,
            f"invalid {what} name {name[:80]!r}: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (at most 64 characters)",
        )
    path = (root / name).resolve()
    if path.parent != root.resolve():
        raise ApiError(400, f"invalid {what} name {name[:80]!r}: it leaves the data directory")
    return path


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False))
    os.replace(tmp, path)


class SessionRecorder:
    """Writes one session folder; :meth:`write_batch` runs in a worker thread."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder = folder
        self.meta = meta
        self._lock = threading.Lock()
        self._angle_columns: list[str] | None = None
        self._last_meta_write = 0.0
        folder.mkdir(parents=True, exist_ok=False)
        (folder / "samples.csv").write_text(SAMPLE_HEADER)
        self._save_meta()

    def _save_meta(self) -> None:
        _write_json_atomic(self.folder / "session.json", self.meta)
        self._last_meta_write = time.monotonic()

    def write_batch(self, batch: list[tuple[str, Any]]) -> None:
        """Append items of kinds samples, angles, event, marker, calibration, raw."""
        with self._lock:
            samples: list[SampleBlock] = []
            angles: list[AngleBlock] = []
            events: list[str] = []
            for kind, obj in batch:
                if kind == "samples":
                    samples.append(obj)
                elif kind == "angles":
                    angles.append(obj)
                elif kind == "event":
                    events.append(json.dumps(obj, allow_nan=False))
                elif kind == "marker" and isinstance(obj, Marker):
                    self.meta["markers"].append(marker_dict(obj))
                elif kind == "calibration":
                    self.meta["calibration"] = obj
                elif kind == "raw":
                    self.meta["raw_notifications"] = self.meta.get("raw_notifications", 0) + 1
            if samples:
                self._write_samples(samples)
            if angles:
                self._write_angles(angles)
            if events:
                with open(self.folder / "events.jsonl", "a") as fh:
                    fh.write("\n".join(events) + "\n")
            if time.monotonic() - self._last_meta_write > 2.0:
                self._save_meta()

    def _write_samples(self, blocks: list[SampleBlock]) -> None:
        rows = []
        for b in blocks:
            data = np.column_stack((b.time_s, b.acc_m_s2, b.gyr_rad_s))
            for row in data:
                values = ",".join(f"{v:.6g}" for v in row[1:])
                rows.append((row[0], f"{row[0]:.5f},{b.role},{values}"))
        rows.sort(key=lambda r: r[0])
        with open(self.folder / "samples.csv", "a") as fh:
            fh.write("".join(text + "\n" for _, text in rows))
        self.meta["samples"] = self.meta.get("samples", 0) + sum(len(b) for b in blocks)

    def _write_angles(self, blocks: list[AngleBlock]) -> None:
        block = AngleBlock.concat(blocks)
        path = self.folder / "angles.csv"
        if self._angle_columns is None:
            self._angle_columns = list(block.columns)
            path.write_text(",".join(["time_s", *self._angle_columns]) + "\n")
        cols = self._angle_columns
        data = np.column_stack([block.time_s] + [block.columns[c] for c in cols])
        with open(path, "a") as fh:
            np.savetxt(fh, data, fmt=["%.5f"] + ["%.4f"] * len(cols), delimiter=",")
        self.meta["frames"] += len(block)
        if self.meta["first_time_s"] is None:
            self.meta["first_time_s"] = float(block.time_s[0])
        self.meta["last_time_s"] = float(block.time_s[-1])

    def add_protocol(self, protocol: dict[str, Any]) -> None:
        """Keep an exercise protocol request in the session's metadata."""
        with self._lock:
            self.meta["protocols"].append(protocol)

    def finish(self) -> None:
        """Mark the session complete."""
        with self._lock:
            self.meta["recording"] = False
            self.meta["stopped_at"] = datetime.now().isoformat(timespec="seconds")
            self._save_meta()


class SessionStore:
    """The sessions folder of the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.root = (data_dir / "sessions").resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.active: SessionRecorder | None = None

    def folder(self, name: str) -> Path:
        """Existing session folder, or 404."""
        path = safe_child(self.root, name)
        if not (path / "session.json").is_file():
            raise ApiError(404, f"no session named {name!r}; GET /api/sessions lists them")
        return path

    def create(self, name: str | None, note: str, source: str) -> SessionRecorder:
        """A new session folder and its recorder (409 if one is already recording)."""
        if self.active is not None:
            raise ApiError(
                409, f"session {self.active.meta['name']!r} is already recording; stop it first"
            )
        name = name or datetime.now().strftime("session-%Y%m%d-%H%M%S")
        path = safe_child(self.root, name)
        if path.exists():
            raise ApiError(409, f"a session named {name!r} exists already; choose another name")
        meta: dict[str, Any] = {
            "name": name,
            "note": note,
            "source": source,
            "started_at": datetime.now().isoformat(timespec="seconds"),
            "recording": True,
            "frames": 0,
            "first_time_s": None,
            "last_time_s": None,
            "markers": [],
            "protocols": [],
            "calibration": None,
        }
        self.active = SessionRecorder(path, meta)
        return self.active

    def load(self, name: str) -> dict[str, Any]:
        """A session's metadata (the live one includes what is not yet flushed)."""
        if self.active is not None and self.active.meta["name"] == name:
            meta = dict(self.active.meta)
        else:
            path = self.folder(name)
            try:
                meta = json.loads((path / "session.json").read_text())
            except (OSError, ValueError) as exc:
                raise ApiError(
                    409, f"session {name!r} has an unreadable session.json: {exc}"
                ) from None
        path = safe_child(self.root, name)
        meta["files"] = sorted(p.name for p in path.iterdir() if p.is_file())
        first, last = meta.get("first_time_s"), meta.get("last_time_s")
        meta["duration_s"] = round(last - first, 3) if first is not None and last else 0.0
        meta["report_url"] = f"/api/sessions/{name}/report"
        return meta

    def names(self) -> list[str]:
        """Session names, newest first."""
        found = [p for p in self.root.iterdir() if (p / "session.json").is_file()]
        found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        return [p.name for p in found if NAME_RE.match(p.name)]

    def delete(self, name: str) -> None:
        """Remove a finished session."""
        path = self.folder(name)
        if self.active is not None and self.active.meta["name"] == name:
            raise ApiError(409, f"session {name!r} is recording; stop it before deleting it")
        shutil.rmtree(path)
