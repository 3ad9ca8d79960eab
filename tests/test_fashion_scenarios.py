"""Figs. 3 and 4 (Fashion-MNIST) end to end on a few images, sharing one model folder: the
documented layouts, a rerun that resumes from its stages, the figures, and bad options."""

import shutil

import h5py
import numpy as np
import pytest

from bridges.datasets import data_dir
from scenarios.__main__ import main as scenarios_main

TRAIN, TEST = 2000, 30  # the fewest images that keep every property below meaningful: time goes with them
SMALL = ["--train-samples", str(TRAIN), "--test-samples", str(TEST), "--loss-samples", "10", "--ann-epochs", "1",
         "--snn-epochs", "1"]  # fmt: skip


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
        assert f.attrs["scenario"] == "fig3" and f.attrs["train_samples"] == TRAIN and f.attrs["snn_epochs"] == 1
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
    assert set(models_after_fig3) <= set(files) and all(f"_n{TRAIN}" in name for name in files)
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
            assert f[f"fig4d/first_spike_histogram/{d}"][()].sum() == TEST * 6  # clean + 5 attackers
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
def test_fig3_and_fig4_reject_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:  # in process, as tests/test_fig5.py says why
        scenarios_main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err, err
