"""Result files: settings, provenance and per-dataset attributes written atomically, or nothing."""

import h5py
import numpy as np
import pytest

from scenarios.results import StageCache, write_results


def test_write_results_stores_settings_provenance_and_dataset_attributes(tmp_path):
    path = write_results(
        tmp_path / "r.h5",
        {"fig/matrix": np.eye(2), "fig/eps": [0.0, 0.1]},
        {"scenario": "demo", "models": ["a", "b"], "T": 10},
        {"fig/matrix": {"rows": ["attacker a", "attacker b"], "columns": ["victim a", "victim b"]}},
    )
    with h5py.File(path, "r") as f:
        assert f.attrs["scenario"] == "demo" and f.attrs["T"] == 10 and list(f.attrs["models"]) == ["a", "b"]
        assert f.attrs["git_revision"] and f.attrs["version_numpy"] == np.__version__
        assert list(f["fig/matrix"].attrs["rows"]) == ["attacker a", "attacker b"]
        assert "rows" not in f["fig/eps"].attrs
        np.testing.assert_array_equal(f["fig/matrix"][()], np.eye(2))


def test_write_results_refuses_attributes_of_missing_datasets_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="not written"):
        write_results(tmp_path / "r.h5", {"a": [1]}, {}, {"b": {"rows": ["x"]}})
    assert not (tmp_path / "r.h5").exists()


def test_stage_cache_recomputes_only_when_the_settings_change(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3), "cvt/current/accuracy": np.array([0.5, 0.25])}  # names with groups too

    first = StageCache(tmp_path / "r.h5", {"eps": 0.1}).get("stage", compute)
    again = StageCache(tmp_path / "r.h5", {"eps": 0.1}).get("stage", compute)
    other = StageCache(tmp_path / "r.h5", {"eps": 0.2}).get("stage", compute)
    assert len(calls) == 2 and np.array_equal(other["x"], np.arange(3))
    assert set(again) == {"x", "cvt/current/accuracy"}  # a resumed run gets back what the first one stored
    for name in first:
        np.testing.assert_array_equal(again[name], first[name])
