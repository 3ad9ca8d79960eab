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


def test_scenarios_lists_and_rejects(capsys):
    assert scenarios_main([]) == 0
    assert "bench_engine" in capsys.readouterr().out
    assert scenarios_main(["fig9"]) == 2


def test_bench_engine_rejects_bad_options():
    result = subprocess.run(
        [sys.executable, "-m", "scenarios", "bench_engine", "--samples", "0"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "--samples must lie in 1..10000" in result.stderr
