"""Result files: settings, provenance and per-dataset attributes written atomically, or nothing."""

import h5py
import numpy as np
import pytest

from scenarios.machinery.compare import main as compare_main
from scenarios.machinery.results import StageCache, StaleStageError, write_results


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


def test_stage_cache_reports_provenance_and_the_result_file_stores_it(tmp_path):
    logs = []
    cache = StageCache(tmp_path / "r.h5", {"eps": 0.1}, log=logs.append)
    cache.get("a/b", lambda: {"x": np.arange(3)})
    info = cache.provenance["a/b"]
    assert info["cached"] is False and len(info["code_hash"]) == 64 and info["host"] and info["git_revision"]
    assert info["seconds"] >= 0 and "version_numpy" in info
    again = StageCache(tmp_path / "r.h5", {"eps": 0.1}, log=logs.append)
    again.get("a/b", lambda: {"x": np.arange(3)})
    assert again.provenance["a/b"]["cached"] is True and again.keys["a/b"] == cache.keys["a/b"]
    assert logs[-1] == "stage a/b: loaded (finished earlier)"
    write_results(tmp_path / "r.h5", {"x": np.arange(3)}, {"scenario": "demo"}, stages=again)
    with h5py.File(tmp_path / "r.h5", "r") as f:
        group = f["provenance/stages/a__b"]
        assert group.attrs["stage"] == "a/b" and bool(group.attrs["cached"]) is True
        assert group.attrs["code_hash"] == info["code_hash"] and group.attrs["key"] == info["key"]


def test_a_damaged_stage_file_is_reported_and_recomputed(tmp_path):
    logs = []
    StageCache(tmp_path / "r.h5", {}).get("s", lambda: {"x": np.arange(3)})
    stage = tmp_path / "r.h5.stages" / "s.h5"
    stage.write_bytes(stage.read_bytes()[:100])  # truncated
    got = StageCache(tmp_path / "r.h5", {}, log=logs.append).get("s", lambda: {"x": np.arange(4)})
    assert len(got["x"]) == 4 and "damaged" in logs[0] and "recomputing" in logs[0]


def test_a_stale_stage_is_refused_with_a_message_naming_recompute(tmp_path):
    StageCache(tmp_path / "r.h5", {}).get("s", lambda: {"x": 1}, inputs={"model": "aaa"})
    strict = StageCache(tmp_path / "r.h5", {}, on_stale="refuse", log=lambda _: None)
    with pytest.raises(StaleStageError, match=r"stale: it was computed with other input model.*--recompute"):
        strict.get("s", lambda: {"x": 2}, inputs={"model": "bbb"})
    forced = StageCache(tmp_path / "r.h5", {}, recompute=True, log=lambda _: None)
    assert forced.get("s", lambda: {"x": 2}, inputs={"model": "aaa"})["x"] == 2


def _graph(tmp_path, code_a, code_b, model, log):
    """A synthetic stage graph: data -> prepare (code a) -> attack (code b, reads prepare) and
    simulate (code a, reads the model and prepare); sweep (code b) reads only the model."""
    cache = StageCache(tmp_path / "r.h5", {"T": 10}, log=log)
    prep = cache.get("prepare", lambda: {"x": np.arange(4)}, inputs={"data": "d1"}, code=[code_a])
    cache.get("attack", lambda: {"x": prep["x"] + 1}, inputs={"prepare": cache.keys["prepare"]}, code=[code_b])
    cache.get("simulate", lambda: {"x": prep["x"] * 2}, inputs={"prepare": cache.keys["prepare"], "model": model}, code=[code_a])
    cache.get("sweep", lambda: {"x": np.zeros(2)}, inputs={"model": model}, code=[code_b])
    return {name: info["cached"] for name, info in cache.provenance.items()}


def test_a_code_or_model_change_invalidates_exactly_the_stages_that_depend_on_it(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("A = 1\n")
    b.write_text("B = 1\n")
    logs = []
    assert _graph(tmp_path, a, b, "m1", logs.append) == dict.fromkeys(["prepare", "attack", "simulate", "sweep"], False)
    assert all(_graph(tmp_path, a, b, "m1", logs.append).values())  # nothing changed: all reused
    b.write_text("B = 2\n")  # code of attack and sweep
    assert _graph(tmp_path, a, b, "m1", logs.append) == {"prepare": True, "attack": False, "simulate": True, "sweep": False}
    assert "stage attack: not reused, it was computed with other code; recomputing" in logs
    logs.clear()
    assert _graph(tmp_path, a, b, "m2", logs.append) == {"prepare": True, "attack": True, "simulate": False, "sweep": False}
    assert "stage simulate: not reused, it was computed with other input model; recomputing" in logs
    a.write_text("A = 2\n")  # prepare's code: everything downstream of it recomputes, sweep does not
    assert _graph(tmp_path, a, b, "m2", logs.append) == {"prepare": False, "attack": False, "simulate": False, "sweep": True}


def test_compare_finds_every_changed_number_and_setting_but_ignores_provenance(tmp_path, capsys):
    data = {"a/x": np.array([0.1, np.nan], np.float32), "b": np.arange(3)}
    write_results(tmp_path / "one.h5", data, {"scenario": "demo", "T": 10})
    write_results(tmp_path / "two.h5", data, {"scenario": "demo", "T": 10, "seconds": 3.5})  # other time, same numbers
    assert compare_main([str(tmp_path / "one.h5"), str(tmp_path / "two.h5")]) == 0
    assert "equal      a/x" in capsys.readouterr().out
    cases = {
        "value": ({"a/x": np.array([0.1, 0.2], np.float32), "b": np.arange(3)}, {"T": 10}, "different  a/x: 1 of 2 values differ"),
        "dtype": ({"a/x": np.array([0.1, np.nan]), "b": np.arange(3)}, {"T": 10}, "different  a/x: dtype float32 vs float64"),
        "missing": ({"a/x": data["a/x"]}, {"T": 10}, "different  b: only in"),
        "setting": (data, {"T": 12}, "different  attribute @T: 10 vs 12"),
    }
    for name, (datasets, settings, message) in cases.items():
        write_results(tmp_path / f"{name}.h5", datasets, {"scenario": "demo"} | settings)
        assert compare_main([str(tmp_path / "one.h5"), str(tmp_path / f"{name}.h5")]) == 1, name
        assert message in capsys.readouterr().out, name
    assert compare_main([str(tmp_path / "one.h5"), str(tmp_path / "nothing.h5")]) == 2
