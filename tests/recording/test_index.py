"""Session index: add/list/get/delete, summaries, rebuild from files, name escapes."""

from __future__ import annotations

import pytest
from recording_helpers import write_full_recording

from hipsense.errors import ConfigurationError
from hipsense.recording.index import SessionIndex, check_name, data_dir


def test_index_lists_and_rebuilds(tmp_path):
    with SessionIndex(tmp_path) as index:
        write_full_recording(index.path_for("2024-05-01_P01"), duration_s=3.0)
        write_full_recording(index.path_for("2024-05-02_P01.hsr"), duration_s=2.0)
        a = index.add("2024-05-01_P01")
        index.add("2024-05-02_P01")
        assert a.subject == "P01" and 2.8 < a.duration_s < 3.0
        assert a.exercises == ["active_extension"]
        assert [s["role"] for s in a.sensors] == ["pelvis", "thigh_left", "thigh_right"]
        index.set_summary("2024-05-01_P01", {"active_extension": {"left_max_deg": 11.5}})
        assert index.get("2024-05-01_P01").summary["active_extension"]["left_max_deg"] == 11.5
        assert len(index.list()) == 2 and len(index.list(subject="nobody")) == 0
    (tmp_path / "sessions.sqlite3").unlink()  # the index is lost
    with SessionIndex.rebuild(tmp_path) as index:
        rows = {s.name: s for s in index.list()}
        assert set(rows) == {"2024-05-01_P01", "2024-05-02_P01"}
        assert rows["2024-05-01_P01"].summary == {"active_extension": {"left_max_deg": 11.5}}
        assert index.delete("2024-05-02_P01")
        assert not index.path_for("2024-05-02_P01").exists()
        assert index.get("2024-05-02_P01") is None


@pytest.mark.parametrize(
    "name", ["../evil", "a/b", "a\\b", "..", ".hidden", "", "x/../../etc/passwd", "a\x00b", "..hsr"]
)
def test_names_cannot_escape_the_data_directory(tmp_path, name):
    with pytest.raises(ConfigurationError, match="invalid recording name"):
        check_name(name)
    with SessionIndex(tmp_path) as index, pytest.raises(ConfigurationError):
        index.path_for(name)


def test_data_dir_from_argument_env_or_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HIPSENSE_DATA_DIR", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("HIPSENSE_DATA_DIR")
    assert data_dir().parts[-3:] == (".local", "share", "hipsense")
