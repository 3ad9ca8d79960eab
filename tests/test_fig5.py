"""Fig. 5 (CIFAR-10) end to end on a tiny subset: the documented layout, numbers that mean what
they say, a rerun that reloads every stage, the figures, and bad options."""

import sys

import h5py
import numpy as np
import pytest

from bridges.datasets import cifar10_source, data_dir
from scenarios.__main__ import main as scenarios_main
from scenarios.setups.cifar import load_cifar
from scenarios.paper.fig5 import ATTACKS, CONDITIONS, DECODERS, ENCODERS, F_MODELS

try:
    HAVE_CIFAR = cifar10_source("test") is not None
except (OSError, ValueError):
    HAVE_CIFAR = False
needs_cifar = pytest.mark.skipif(not HAVE_CIFAR, reason=f"CIFAR-10 not in the data directory {data_dir()}")

ARGS = ["--width", "8", "--train-samples", "16", "--ann-epochs", "1", "--snn-epochs", "1", "--test-samples", "12",
        "--attackers", "1", "--stability-runs", "3", "--stability-samples", "6"]  # fmt: skip


def documented_datasets() -> list[str]:
    names = [f"fig5b/{a}/perturbation_timing" for a in ATTACKS]
    names += [f"fig5c/{e}/{k}" for e in ENCODERS for k in ("accuracy", "stability")]
    names += [f"fig5d/{e}/{d}/accuracy" for e in ENCODERS for d in DECODERS]
    names += [f"fig5f/{m}/accuracy" for m in ("ann", *F_MODELS)]
    names += [f"fig5g/{m}/{k}" for m in ("ann", *F_MODELS) for k in ("energy_pj", "edp", "energy_pj_exact", "edp_exact")]
    return names


@pytest.fixture(scope="module")
def fig5_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fig5")
    out = tmp / "fig5.h5"
    mp = pytest.MonkeyPatch()
    mp.setenv("EVSIM_MODELS", str(tmp / "models"))
    try:
        scenarios_main(["fig5", *ARGS, "--out", str(out)])
        yield tmp, out
    finally:
        mp.undo()


@needs_cifar
def test_fig5_writes_the_documented_layout(fig5_run):
    tmp, out = fig5_run
    with h5py.File(out, "r") as f:
        for name in documented_datasets():
            assert name in f, name
        assert f.attrs["scenario"] == "fig5" and f.attrs["width"] == 8 and f.attrs["test_samples"] == 12
        assert f.attrs["dataset"] in ("CIFAR-10", "CIFAR-10 (JPEG mirror)")
        assert list(f.attrs["conditions"]) == list(CONDITIONS)
        assert f.attrs["attack_l1_eps"] == 20.0 and f.attrs["attack_l0_k"] == 10 and f.attrs["attack_linf_steps"] == 40
        for a in ATTACKS:
            zeta = f[f"fig5b/{a}/perturbation_timing"][()]
            assert zeta.shape == (f.attrs["T"],) and zeta.sum() == pytest.approx(1.0)
        for m in ("ann", *F_MODELS):
            acc = f[f"fig5f/{m}/accuracy"][()]
            assert acc.shape == (5,) and ((0 <= acc) & (acc <= 1)).all()
        # the attacks are real within their budgets: L0 changes at most k = 10 pixels, Linf at most 0.1
        norms = {a: f[f"attacks/{a}/norm"][()] for a in ATTACKS}
        assert norms["l0"][0] <= 10 and norms["linf"][3] <= 0.1 + 1e-6
        assert norms["l1"][1] <= 20 + 1e-3 and norms["l2"][2] <= 2.5 + 1e-4
        # deterministic encoders: stability is the clean accuracy; Poisson: a probability over its runs
        assert f["fig5c/ttfs/stability"][()] == f["fig5c/ttfs/accuracy"][0]
        assert f["fig5c/poisson/stability_per_run"].shape == (3,)
        assert f["fig5c/poisson/stability"][()] == pytest.approx(f["fig5c/poisson/stability_per_run"][()].mean())
        # the fused first layer costs MACs (its current third) and SOPs (its spikes); the current-encoded
        # model's first layer only MACs; TTFS decoding exits early
        assert f["fig5g/fused_actbp_rate/macs_exact"][()] > 0
        assert f["fig5g/fused_actbp_rate/sops_exact_per_layer"][0] > 0
        assert f["fig5g/current_actbp_rate/sops_exact_per_layer"][0] == 0
        assert f["fig5g/fused_actbp_ttfs/steps"][()] <= f.attrs["T"]
        assert f["fig5g/ann/energy_pj"][()] > 0 and f["fig5g/ann/edp"][()] > 0
        # the paper's estimate charges the current third of the fused layer one ANN pass: 3 channels
        x = load_cifar("test", 12)[0].x
        assert f["fig5g/fused_actbp_rate/macs_estimate"][()] == 3 * 8 * 9 * 32 * 32
        # exact MACs (rate decoding runs all T steps): each non-zero pixel reaches C_out (8) x the rows x
        # the columns its 3x3 window covers (2 at a border, 3 inside), at every step
        reach = np.full(32, 3)
        reach[[0, -1]] = 2
        per_image = ((x.reshape(-1, 3, 32, 32) != 0) * (8 * reach[:, None] * reach[None, :])).sum(axis=(1, 2, 3))
        assert f["fig5g/current_actbp_rate/macs_exact"][()] == pytest.approx(f.attrs["T"] * per_image.mean())
        assert "provenance/stages/attack_l2" in f
        # the chain of warm starts: every SNN's start scored before its first step, its abstention in evsim
        assert f.attrs["recipe_init"] == "chain" and f.attrs["chain_base"] == "actbp_current_rate"
        # the claims table: every claim and target once, each verdict read from the numbers beside it
        verdicts = [v.decode() for v in f["verdicts/verdict"][()]]
        claims = [c.decode() for c in f["verdicts/claim"][()]]
        assert len(claims) == 11 and len(set(claims)) == 11 and set(verdicts) <= {"holds", "not reproduced", "met", "not met"}
        ann_clean = f["fig5f/ann/accuracy"][0]
        assert verdicts[claims.index("target: ANN clean accuracy")] == ("met" if ann_clean >= 0.65 else "not met")
        for rule, encoder, decoder in {("actbp", e, d) for e in ENCODERS for d in DECODERS} | set(F_MODELS.values()):
            g = f"models/{encoder}_{rule}_{decoder}"
            for k in ("start_accuracy", "start_abstention", "clean_abstention"):
                assert 0 <= f[f"{g}/{k}"][()] <= 1, (g, k)


@needs_cifar
def test_fig5_rerun_reloads_every_stage_and_draws(fig5_run):
    tmp, out = fig5_run
    with h5py.File(out, "r") as f:
        before = {name: f[name][()] for name in documented_datasets()}
    mp = pytest.MonkeyPatch()
    mp.setenv("EVSIM_MODELS", str(tmp / "models"))
    try:
        scenarios_main(["fig5", *ARGS, "--out", str(out)])
    finally:
        mp.undo()
    with h5py.File(out, "r") as f:
        for name, value in before.items():
            np.testing.assert_array_equal(f[name][()], value)
        cached = [bool(g.attrs["cached"]) for g in f["provenance/stages"].values()]
        assert cached and all(cached)
    scenarios_main(["plot", str(out)])
    pngs = sorted(p.name for p in (tmp / "fig5").glob("*.png"))
    assert pngs == sorted([
        "fig5b_perturbation_timing.png", "fig5c_radar_encoders.png", "fig5d_radar_decoders.png",
        "fig5f_models.png", "fig5g_energy_edp.png", "s13_fused_vs_single.png",
    ])  # fmt: skip


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--attackers", "6"], "--attackers must lie in 1..5"),
        (["--width", "0"], "must be >= 1"),
        (["--test-samples", "10", "--stability-samples", "20"], "--stability-samples must be <= --test-samples"),
        (["--train-samples", "50001"], "--train-samples must lie in 1..50000"),
        (["--ray", "--jobs", "2"], "--jobs runs the tasks in local processes, --ray on Ray: give one of them"),
    ],
)
def test_fig5_rejects_bad_options(argv, message, capsys):
    # in process: the command line's exit status is argparse's, checked once by a subprocess in
    # tests/test_hostile_inputs_bridges.py; a subprocess per option would cost a torch start each
    with pytest.raises(SystemExit) as exit_:
        scenarios_main(["fig5", *argv])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_chain_recipe_starts_every_snn_from_the_base():
    """Quick mode's chain: the base SNN from its ANN, every other SNN from the base; the paper's
    recipe starts from scratch; a warm-up never eats a tiny run."""
    from scenarios.setups.cifar import BASE_SNN, PAPER_RECIPE, QUICK_RECIPE, CifarZoo, Recipe, capped_warmup
    from scenarios.setups.models import Split

    split = Split(np.zeros((4, 3072), np.float32), np.zeros(4, np.int64))
    quick = CifarZoo(split, split, width=2, ann_epochs=1, snn_epochs=1, recipe=QUICK_RECIPE)
    assert quick.starts_from(("snn", *BASE_SNN, 0)) == [("ann", 0)]
    assert quick.starts_from(("snn", "tempbp", "fused", "ttfs", 3)) == [("snn", *BASE_SNN, 3)]
    assert quick.starts_from(("ann", 1)) == []
    paper = CifarZoo(split, split, width=2, ann_epochs=1, snn_epochs=1, recipe=PAPER_RECIPE)
    assert paper.starts_from(("snn", "tempbp", "fused", "ttfs", 0)) == []
    assert capped_warmup(100, 50000, 128, 6) == 100 and capped_warmup(100, 16, 64, 1) == 0
    with pytest.raises(ValueError, match="init must be one of"):
        Recipe(init="copy")
    assert QUICK_RECIPE.settings()["recipe_finetune_samples"] == 12800 and PAPER_RECIPE.settings()["recipe_finetune_samples"] == "all"
