"""Fig. 2 (MNIST) end to end on a small subset: the documented layout, numbers that mean what they
say, a rerun that reloads the models and stages, and the figures."""

import h5py
import numpy as np
import pytest

import evsim
from bridges.datasets import data_dir
from scenarios.__main__ import main as scenarios_main
from scenarios.machinery.plotting import as_strings
from scenarios.setups.models import load_split

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
        default = {name: f[name][()] for name in ("ann/accuracy_attacked_per_attacker", "eps_sweep/ratesyn_s/accuracy")}
        default |= {f"snn/{e}/{k}": f[f"snn/{e}/{k}"][()] for e in ("current", "ratesyn_s") for k in f[f"snn/{e}"]}
        assert as_strings(f.attrs["encoders"]) == ["current", "poisson", "ratesyn_s", "ratesyn_e"]
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

    # --encoders: the literature's three beside RateSynS, on the cached models. The other encoders'
    # numbers do not depend on which are chosen (RateSynS's equal the default run's), phase's
    # weighted spikes are currents (MACs), burst and sigma-delta spikes (SOPs); the registry is
    # left as it was, and the figures draw the new names
    other = tmp_path / "literature" / "fig2.h5"
    chosen = ["ratesyn_s", "phase", "burst", "sigma_delta"]
    scenarios_main([*args[:-2], "--out", str(other), "--encoders", *chosen])
    assert evsim.encoding.encoder_names() == evsim.ENCODERS
    with h5py.File(other, "r") as f:
        assert as_strings(f.attrs["encoders"]) == chosen
        assert "snn/current/taacc_clean" not in f and "eps_sweep/ratesyn_e/accuracy" not in f
        for name, value in (before | default).items():
            if not any(e in name for e in ("current", "poisson", "ratesyn_e")):
                np.testing.assert_array_equal(f[name][()], value, err_msg=name)
        for e in ("phase", "burst", "sigma_delta"):
            assert f[f"snn/{e}/taacc_clean"].shape == f[f"snn/{e}/taacc_attacked"].shape == (T,)
            assert f[f"snn/{e}/perturbation_timing"][()].sum() == pytest.approx(1.0)
            assert f[f"eps_sweep/{e}/accuracy"][0] == pytest.approx(f[f"snn/{e}/accuracy_clean"][()])
        assert f["snn/phase/sops"][0] == 0 < f["snn/phase/macs"][0] < default["snn/current/macs"][0]  # only the 1-bits
        assert f["snn/burst/macs"][0] == f["snn/sigma_delta/macs"][0] == 0 < f["snn/sigma_delta/sops"][0]
    scenarios_main(["plot", str(other)])
    assert len(list((tmp_path / "literature" / "fig2").glob("*.png"))) == 3  # no RateSynE panels (2E, 2F)
    with pytest.raises(SystemExit):
        scenarios_main([*args, "--encoders", "current", "nonesuch"])
