"""Scenarios run end to end on real data and write complete, self-describing HDF5 files."""

import subprocess
import sys

import h5py
import pytest

from bridges.datasets import data_dir
from scenarios.__main__ import main as scenarios_main

needs_fashion_mnist = pytest.mark.skipif(
    not (data_dir() / "fashion-mnist").is_dir(), reason="Fashion-MNIST not in the data directory ($EVSIM_DATA)"
)


@needs_fashion_mnist
def test_bench_engine_small_run(tmp_path):
    out = tmp_path / "bench.h5"
    scenarios_main(["bench_engine", "--samples", "300", "--repeats", "1", "--train-epochs", "1", "--out", str(out)])
    with h5py.File(out, "r") as f:
        assert f.attrs["scenario"] == "bench_engine" and f.attrs["samples"] == 300
        assert f.attrs["git_revision"] and f.attrs["version_numba"]
        assert list(f.attrs["sweep_encoders"]) == ["ttfs", "ratesyn_e", "ratesyn_e", "ratesyn_e", "ratesyn_e"]
        # float32 evsim and float32 torch follow the same equations: predictions agree
        assert f["agreement/dense"][()] >= 0.99
        assert f["agreement/reference_float64"][()] >= 0.99
        assert f["sops_per_image"].shape == (2,) and f["sops_per_image"][0] > 0
        assert f["samples_per_s/evsim"][()] > 0 and len(f["sweep/sops_per_image"]) == 5
        # the activity sweep really varies activity
        assert f["sweep/sops_per_image"][4] > 2 * f["sweep/sops_per_image"][1]
        # images to predictions and every encoder's share, measured in this run
        assert f["pipeline/samples_per_s/evsim"][()] > 0 and f["pipeline/ratio/dense"][()] > 0
        names = list(f.attrs["share_encoders"])
        assert names == ["ttfs", "ratesyn_e", "ratesyn_s", "poisson", "current", "fused ratesyn_e+ttfs"]
        assert list(f["encoders/share"].attrs["encoders"]) == names
        assert (f["encoders/encode_s"][()] > 0).all() and (f["encoders/simulate_s"][()] > 0).all()
        events = dict(zip(names, f["encoders/events_per_image"][()]))
        # RateSynE and RateSynS emit the same n(x) spikes, TTFS one per non-zero pixel, current T per non-zero pixel
        assert events["ratesyn_e"] == events["ratesyn_s"] and events["current"] == 10 * events["ttfs"]
        assert events["fused ratesyn_e+ttfs"] == events["ratesyn_e"] + events["ttfs"]
    from scenarios.plot import plot_file

    assert sorted(p.name for p in plot_file(out)) == ["bench_engine_cost_vs_sops.png", "bench_engine_encoder_share.png"]


def test_scenarios_lists_and_rejects(capsys):
    assert scenarios_main([]) == 0
    assert "bench_engine" in capsys.readouterr().out
    assert scenarios_main(["fig9"]) == 2


def test_old_module_names_import_the_moved_modules_with_a_warning(monkeypatch):
    import importlib

    from scenarios import MOVED
    from scenarios.machinery.content import module_file

    assert all(module_file(new) is not None and module_file(old) is None for old, new in MOVED.items())
    for old, new in (("scenarios.content", "scenarios.machinery.content"), ("scenarios.fig2", "scenarios.paper.fig2")):
        monkeypatch.delitem(sys.modules, old, raising=False)
        with pytest.warns(DeprecationWarning, match=rf"{old} moved to {new}"):
            module = importlib.import_module(old)
        assert module is importlib.import_module(new) and module.__spec__.name == new


def test_bench_engine_rejects_bad_options():
    result = subprocess.run(
        [sys.executable, "-m", "scenarios", "bench_engine", "--samples", "0"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "--samples must lie in 1..10000" in result.stderr


def test_plot_rejects_foreign_files(tmp_path):
    from scenarios.plot import plot_file

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["scenario"] = "bench_training"
    with pytest.raises(ValueError, match="no figures for scenario"):
        plot_file(other)
    text = tmp_path / "x.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        plot_file(text)
    with pytest.raises(FileNotFoundError):
        plot_file(tmp_path / "missing.h5")
