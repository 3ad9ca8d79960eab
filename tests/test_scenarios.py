"""Scenarios run end to end on real data and write complete, self-describing HDF5 files."""

import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from bridges.datasets import data_dir
from scenarios.__main__ import main as scenarios_main
from scenarios.setups.models import load_split

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


needs_mnist = pytest.mark.skipif(not (data_dir() / "mnist").is_dir(), reason="MNIST not in the data directory ($EVSIM_DATA)")

FIG2_DATASETS = [
    "ann/accuracy_clean", "ann/accuracy_attacked", "eps_sweep/eps", "eps_sweep/ann/accuracy",
] + [
    f"snn/{e}/{k}"
    for e in ("current", "poisson", "ratesyn_s", "ratesyn_e")
    for k in ("taacc_clean", "taacc_attacked", "taacc_attacked_fg", "taacc_attacked_bg", "perturbation_timing", "sops")
]  # fmt: skip


@needs_mnist
def test_fig2_small_run_writes_the_documented_layout_and_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("EVSIM_MODELS", str(tmp_path / "models"))
    out = tmp_path / "fig2.h5"
    args = ["fig2", "--test-samples", "150", "--ann-epochs", "1", "--stability-trials", "2", "--out", str(out)]
    scenarios_main(args)
    with h5py.File(out, "r") as f:
        for name in FIG2_DATASETS:
            assert name in f, name
        T = f.attrs["T"]
        assert f.attrs["scenario"] == "fig2" and f.attrs["test_samples"] == 150 and f.attrs["ann_epochs"] == 1
        for e in ("current", "ratesyn_e"):
            assert f[f"snn/{e}/taacc_clean"].shape == (T,)
            assert f[f"snn/{e}/perturbation_timing"][()].sum() == pytest.approx(1.0)
            both = f[f"snn/{e}/perturbation_timing_fg"][()] + f[f"snn/{e}/perturbation_timing_bg"][()]
            assert both.sum() == pytest.approx(1.0)
        # current encoding feeds floats: layer 0 does MACs, no SOPs; spike encodings the reverse. Each
        # non-zero pixel costs its 100 synapses at every step (zero pixels reach nothing)
        x = load_split("mnist", "test", 150).x
        assert f["snn/current/sops"][0] == 0
        assert f["snn/current/macs"][0] == pytest.approx(100 * T * (x != 0).sum(axis=1).mean())
        assert f["snn/ratesyn_e/sops"][0] > 0 and f["snn/ratesyn_e/macs"][0] == 0
        # the eps sweep starts clean: at eps 0 the SNN accuracy is its clean accuracy
        assert f["eps_sweep/ratesyn_e/accuracy"][0] == pytest.approx(f["snn/ratesyn_e/accuracy_clean"][()])
        assert 0 <= f["snn/poisson/stability"][()] <= 1
    # a rerun reloads the cached models and finished stages and writes the same numbers
    with h5py.File(out, "r") as f:
        before = {name: f[name][()] for name in FIG2_DATASETS}
    stages = sorted(p.name for p in (tmp_path / "fig2.h5.stages").iterdir())
    assert "snn_ratesyn_e.h5" in stages and "adv_eps0.1.h5" in stages
    scenarios_main(args)
    with h5py.File(out, "r") as f:
        for name in FIG2_DATASETS:
            np.testing.assert_array_equal(f[name][()], before[name])
    scenarios_main(["plot", str(out)])
    pngs = sorted(p.name for p in (tmp_path / "fig2").glob("*.png"))
    assert pngs == sorted([
        "fig2c_perturbation_timing.png", "fig2d_taacc.png", "fig2e_ratesyne_fg_bg_timing.png",
        "fig2f_ratesyne_fg_bg_taacc.png", "fig2_eps_sweep.png",
    ])  # fmt: skip


def test_plot_rejects_foreign_files(tmp_path):
    from scenarios.plot import plot_file

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["scenario"] = "bench_engine"
    with pytest.raises(ValueError, match="no figures for scenario"):
        plot_file(other)
    text = tmp_path / "x.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        plot_file(text)
    with pytest.raises(FileNotFoundError):
        plot_file(tmp_path / "missing.h5")


SMALL = ["--train-samples", "2000", "--test-samples", "60", "--loss-samples", "20", "--ann-epochs", "1", "--snn-epochs", "1"]


@pytest.fixture(scope="module")
def fashion_runs(tmp_path_factory):
    """Fig. 3 and Fig. 4 on a few images, sharing one model folder (as the real runs do)."""
    if not (data_dir() / "fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST not in the data directory ($EVSIM_DATA)")
    folder = tmp_path_factory.mktemp("fashion")
    patch = pytest.MonkeyPatch()
    patch.setenv("EVSIM_MODELS", str(folder / "models"))
    try:
        scenarios_main(["fig3", *SMALL, "--grid", "3", "--out", str(folder / "fig3.h5")])
        models_after_fig3 = sorted(p.name for p in (folder / "models" / "fashion-mnist").iterdir())
        shutil.copyfile(folder / "fig3.h5", folder / "fig3_first.h5")
        scenarios_main(["fig3", *SMALL, "--grid", "3", "--out", str(folder / "fig3.h5")])  # resumes: every stage done
        scenarios_main(["fig4", *SMALL, "--out", str(folder / "fig4.h5")])
    finally:
        patch.undo()
    return folder, models_after_fig3


def test_fig3_small_run_writes_the_documented_layout(fashion_runs):
    folder, _ = fashion_runs
    with h5py.File(folder / "fig3.h5", "r") as f:
        T = f.attrs["T"]
        assert f.attrs["scenario"] == "fig3" and f.attrs["train_samples"] == 2000 and f.attrs["snn_epochs"] == 1
        eps = f["fig3b/eps"][()]
        assert eps[0] == 0 and eps[-1] == pytest.approx(0.5) and len(eps) == 11
        assert f["fig3b/ann/none/accuracy"].shape == (11,)
        for m in ("cvt", "actbp", "tempbp"):
            for e in ("current", "poisson", "ratesyn_e"):
                acc = f[f"fig3b/{m}/{e}/accuracy"][()]
                assert acc.shape == (11,) and ((0 <= acc) & (acc <= 1)).all()
                assert f[f"fig3b/{m}/{e}/accuracy_per_attacker"].shape == (11, 5)
                # TAAcc at the last step is the accuracy of the same run
                assert f[f"fig3c/{m}/{e}/taacc_clean"].shape == (T,)
                assert f[f"fig3c/{m}/{e}/taacc_clean"][-1] == pytest.approx(acc[0])
                assert f[f"fig3c/{m}/{e}/taacc_attacked"][-1] == pytest.approx(acc[2])  # eps 0.1
        labels = list(f.attrs["fig3d_models"])
        assert labels == ["ann_0", "cvt_0", "actbp_0", "tempbp_0", "ann_1", "cvt_1", "actbp_1", "tempbp_1"]
        for attack in ("pgd_linf", "bim_l2"):
            acc = f[f"fig3d/{attack}/accuracy"][()]
            assert acc.shape == (8, 8)
            assert list(f[f"fig3d/{attack}/accuracy"].attrs["rows"]) == [f"attacker {v}" for v in labels]
            assert list(f[f"fig3d/{attack}/accuracy"].attrs["columns"]) == [f"victim {v}" for v in labels]
            assert np.allclose(f[f"fig3d/{attack}/attack_success_rate"][()], 1 - acc)  # Eq. 28
        # the ANN's white-box PGD is strong: it falls below its clean accuracy
        assert f["fig3d/pgd_linf/accuracy"][0, 0] < f["fig3d/clean_accuracy"][0]
        t = f["figs8/t"][()]
        assert list(t) == [-1.0, 0.0, 1.0]
        for rule in ("actbp", "tempbp"):
            lc = f[f"figs8/{rule}/current/loss_change"][()]
            assert lc.shape == (3, 3) and lc[1, 1] == 0.0  # no move, no change


def test_fig3_rerun_resumes_from_its_stages_with_the_same_results(fashion_runs):
    folder, _ = fashion_runs
    with h5py.File(folder / "fig3_first.h5", "r") as first, h5py.File(folder / "fig3.h5", "r") as again:
        names = []
        first.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        assert len(names) > 50
        for name in names:
            np.testing.assert_array_equal(again[name][()], first[name][()], err_msg=name)
        # the rerun computed nothing: every stage came from the cache (timings would be flaky on a busy machine)
        stages = again["provenance/stages"]
        assert len(stages) > 0 and all(bool(stages[s].attrs["cached"]) for s in stages)
        assert not any(bool(first[f"provenance/stages/{s}"].attrs["cached"]) for s in first["provenance/stages"])


def test_fig4_small_run_writes_the_documented_layout(fashion_runs):
    folder, models_after_fig3 = fashion_runs
    # Fig. 4 reuses Fig. 3's models (the Act-BP current-encoded one) instead of training them again
    files = sorted(p.name for p in (folder / "models" / "fashion-mnist").iterdir())
    assert set(models_after_fig3) <= set(files) and all("_n2000" in name for name in files)
    with h5py.File(folder / "fig4.h5", "r") as f:
        T = f.attrs["T"]
        assert f.attrs["scenario"] == "fig4"
        assert len(f["fig4c/eps"][()]) == 11
        for label in ("current_rate_actbp", "current_ttfs_actbp", "ttfs_rate_actbp", "ttfs_ttfs_actbp",
                      "ttfs_rate_tempbp", "ttfs_ttfs_tempbp"):  # fmt: skip
            assert f[f"fig4c/{label}/accuracy"].shape == (11,)
            assert np.isfinite(f[f"fig4e/{label}/directional_derivative"][()])
        # rate decoding needs every step; TTFS decides at the first output spike, never later
        assert np.array_equal(f["fig4d/decision_step/rate"][()], [T - 1, T - 1])
        assert (f["fig4d/decision_step/ttfs"][()] <= T - 1).all()
        for d in ("rate", "ttfs"):
            first = f[f"fig4d/first_spike_step/{d}"][()]
            assert first.shape == (2,) and ((0 <= first) & (first < T)).all()
            assert f[f"fig4d/first_spike_histogram/{d}"][()].sum() == 60 * 6  # clean + 5 attackers
        with_exit = f["fig4d/decision_step/ttfs"][()]
        assert np.allclose(with_exit, f["fig4f/ttfs/ttfs/steps"][()] - 1)
        assert f["fig4d/zeta"][()].sum() == pytest.approx(1.0)
        for e in ("poisson", "ratesyn_e", "ttfs"):
            for d in ("rate", "ttfs"):
                g = f"fig4f/{e}/{d}"
                exact, estimate = f[f"{g}/sops_exact"][()], f[f"{g}/sops_estimate"][()]
                assert exact.shape == (2,) and estimate.shape == (2,)
                # dense layers: xi * FLOP is the exact count when xi counts the simulated steps
                assert np.allclose(exact, estimate)
                steps = f[f"{g}/steps"][()]
                if d == "rate":
                    assert (steps == T).all()
                else:  # early exit: never more steps, never more operations than the full run
                    assert (steps <= T).all() and (f[f"{g}/sops_no_exit"][()] >= exact).all()


def test_fig3_and_fig4_figures_draw_from_the_files(fashion_runs):
    folder, _ = fashion_runs
    from scenarios.plot import plot_file

    assert len(plot_file(folder / "fig3.h5")) == 5
    assert len(plot_file(folder / "fig4.h5")) == 4
    assert all(p.stat().st_size > 10_000 for p in (folder / "fig3").iterdir())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fig3", "--grid", "1"], "needs at least 2 points"),
        (["fig3", "--test-samples", "0"], "--test-samples in 1..10000"),
        (["fig4", "--snn-epochs", "0"], "epochs and --threads must be >= 1"),
        (["fig4", "--test-samples", "100", "--loss-samples", "200"], "--loss-samples must lie in 1..--test-samples"),
    ],
)
def test_fig3_and_fig4_reject_bad_options(argv, message):
    result = subprocess.run([sys.executable, "-m", "scenarios", *argv], capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr, result.stderr
