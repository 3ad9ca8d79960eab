"""The engine's Numba cache is dropped when the engine's sources change (Numba itself checks only
the timestamp of each function's own file, and the runs inline kernels.py)."""

from evsim.engine import cache_guard


def _folder(tmp_path):
    (tmp_path / "kernels.py").write_text("x = 1\n")
    (tmp_path / "float_run.py").write_text("y = 2\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    return cache


def _cached(cache):
    for name in ("float_run._run-60.py311.nbi", "float_run._run-60.py311.1.nbc"):
        (cache / name).write_bytes(b"machine code")


def test_an_edit_to_any_engine_source_drops_the_cached_machine_code(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    cache = _folder(tmp_path)
    assert cache_guard.drop_stale(tmp_path)  # no stamp yet: the cache is of unknown sources
    _cached(cache)
    assert not cache_guard.drop_stale(tmp_path) and len(list(cache.glob("*.nb?"))) == 2  # unchanged: kept
    (tmp_path / "kernels.py").write_text("x = 3\n")  # an inlined kernel edited, float_run.py untouched
    assert cache_guard.drop_stale(tmp_path) and not list(cache.glob("*.nb?"))
    _cached(cache)
    assert not cache_guard.drop_stale(tmp_path) and len(list(cache.glob("*.nb?"))) == 2


def test_a_cache_moved_by_numba_cache_dir_is_left_alone(tmp_path, monkeypatch):
    cache = _folder(tmp_path)
    _cached(cache)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert not cache_guard.drop_stale(tmp_path) and len(list(cache.glob("*.nb?"))) == 2
