"""The ResNet18 benchmark's network: the CIFAR ResNet18 topology, runnable and calibratable."""

from __future__ import annotations

import numpy as np
import pytest

import evsim
from evsim.network import Conv2d, Dense, Identity
from scenarios.bench.bench_resnet import METHODS, T, resnet18, truncated


def test_resnet18_topology():
    net = resnet18(np.random.default_rng(0))
    assert len(net.populations) == 18  # stem, 8 blocks x 2, output
    assert net.input_shape == (9, 32, 32)  # the fused current + RateSynE + TTFS input
    shapes = [p.shape for p in net.populations]
    assert shapes[0] == (64, 32, 32) and shapes[4] == (64, 32, 32)
    assert shapes[5] == (128, 16, 16) and shapes[9] == (256, 8, 8) and shapes[13] == (512, 4, 4)
    assert shapes[16] == (512, 4, 4) and shapes[17] == (10,)
    kinds = [type(p) for p in net.projections]
    assert kinds.count(Identity) == 5  # identity shortcuts; three blocks change size with a 1x1 conv
    one_by_one = [p for p in net.projections if isinstance(p, Conv2d) and p.kernel_size == (1, 1)]
    assert len(one_by_one) == 3 and all(p.stride == (2, 2) for p in one_by_one)
    # the residual addition: block outputs have two incoming projections
    incoming = np.bincount([p.target for p in net.projections], minlength=18)
    assert incoming[[2, 4, 6, 8, 10, 12, 14, 16]].tolist() == [2] * 8
    assert sum(p.size for p in net.populations) == 557_066
    # global average pooling folded into the classifier: every position of a channel has one weight
    fc = net.projections[-1]
    assert isinstance(fc, Dense) and fc.weight.shape == (10, 512 * 16)
    np.testing.assert_array_equal(fc.weight.reshape(10, 512, 16), fc.weight.reshape(10, 512, 16)[:, :, :1].repeat(16, 2))


def test_truncated_network_runs_and_counts():
    net = truncated(resnet18(np.random.default_rng(1), scales=np.full(18, 3.0)), 2)
    x = np.random.default_rng(2).random((1, 3, 32, 32)).astype(np.float32)
    res = evsim.simulate(net, evsim.encode_events(x, T, list(METHODS)))
    assert res.spike_counts[0, 0] > 0 and res.sops[0].sum() > 0 and res.macs[0, 0] > 0
    assert len(net.populations) == 3 and net.populations[-1].shape == (64, 32, 32)


@pytest.mark.parametrize("sweep", [[], ["0.5"], ["0.5", "0.5"]])
def test_a_sweep_without_two_scales_is_refused_before_any_work(sweep, capsys):
    """The cost-against-SOPs line needs two points: an empty --sweep crashed in np.polyfit at the end of a run."""
    from scenarios.__main__ import main as scenarios_main

    with pytest.raises(SystemExit) as exit_:
        scenarios_main(["bench_resnet", "--sweep", *sweep])
    assert exit_.value.code == 2 and "--sweep needs at least two different input scales" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """bench_resnet end to end at width 4 on 4 test images; Fig. 5's models replaced by one random
    width-2 SNN (the current-encoded rate model) and one missing (the fused TTFS model)."""
    from bridges.datasets import cifar10_source

    if cifar10_source("test") is None:
        pytest.skip("CIFAR-10 not in the data directory ($EVSIM_DATA)")
    import torch

    from bridges.resnet import SpikingResNet
    from scenarios.__main__ import main as scenarios_main
    from scenarios.bench import resnet_parts

    torch.manual_seed(0)
    model = SpikingResNet(width=2, in_channels=3).eval()
    model.checkpoint, model.checkpoint_key_matches = tmp_path_factory.mktemp("m") / "resnet_actbp_current.pt", False
    out = tmp_path_factory.mktemp("bench") / "bench_resnet.h5"
    patch = pytest.MonkeyPatch()
    patch.setattr(resnet_parts, "trained_models", lambda folder, data=None: {
        "current_actbp_rate": model, "fused_actbp_ttfs": "no finished checkpoint (test)"})  # fmt: skip
    try:
        scenarios_main(["bench_resnet", "--samples", "4", "--baseline-samples", "4", "--scaling-samples", "0",
                        "--trained-samples", "3", "--width", "4", "--threads", "1", "--chunk", "4", "--batch", "4",
                        "--sweep", "0.5", "1.0", "--out", str(out)])  # fmt: skip
    finally:
        patch.undo()
    return out


def test_the_tiny_run_stores_the_layer_table_the_trained_model_and_settings(tiny_run, capsys):
    import h5py

    with h5py.File(tiny_run, "r") as f:
        L = len(resnet18(np.random.default_rng(0), width=4).projections)
        assert f.attrs["width"] == 4 and f.attrs["layer_profile_samples"] == 4 and f.attrs["layer_profile_threads"] == 1
        names = list(f["layers/gsop_per_s"].attrs["layers"])
        assert len(names) == L and "conv3x3 input->p0 9->4 @ 32x32" in names[0] and "dense" in names[-1]
        for key in ("map_size", "sops_per_image", "macs_per_image", "kernel_s", "gsop_per_s"):
            assert f[f"layers/{key}"].shape == (L,), key
        assert f["layers/map_size"][()].tolist()[:2] == [32, 32] and f["layers/map_size"][()][-1] == 1
        # the profiled run counts what the whole-set run counted on the same images
        np.testing.assert_allclose(f["layers/sops_per_image"][()], f["sops_per_layer"][()])
        work = f["layers/sops_per_image"][()] + f["layers/macs_per_image"][()] > 0
        assert (f["layers/gsop_per_s"][()][work] > 0).all()
        shares = f["layers/time_shares"][()]
        assert list(f["layers/time_shares"].attrs["shares"]) == ["kernels", "integrate", "loop_other", "idle", "outside_loop"]
        assert abs(shares.sum() - 1) < 1e-9 and 0 < f["layers/outside_kernels_share"][()] < 1
        assert f["layers/integrate_s"].shape == (18,)
        # one thread given: no scaling measured, and the file says so
        assert "scaling/evsim_speedup" not in f and list(f.attrs["scaling_threads"]) == []
        # the trained model that exists is timed; the missing one is named, not trained
        assert list(f.attrs["trained_models"]) == ["current_actbp_rate"]
        checkpoints = list(f.attrs["trained_checkpoints"])
        assert "resnet_actbp_current.pt (other code)" in checkpoints[0] and "not found" in checkpoints[1]
        row = {k: f[f"trained/current_actbp_rate/{k}"][()] for k in f["trained/current_actbp_rate"]}
        assert row["samples"] == 3 and row["width"] == 2 and row["ratio"] > 0 and row["evsim_samples_per_s"] > 0
        assert 0 <= row["accuracy"] <= 1 and row["macs_per_image"] > 0 and row["mean_steps"] == T
    from scenarios.plot import plot_file

    assert sorted(p.name for p in plot_file(tiny_run)) == ["bench_resnet_cost_vs_sops.png", "bench_resnet_layers.png"]


def test_thread_scaling_measures_both_counts_and_restores_them():
    import numba
    import torch

    from scenarios.bench.resnet_parts import thread_scaling

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba was started with one thread")
    net = truncated(resnet18(np.random.default_rng(1), scales=np.full(18, 3.0), width=2), 2)
    x = np.random.default_rng(2).random((2, 3, 32, 32)).astype(np.float32)
    before = numba.get_num_threads(), torch.get_num_threads()
    got = thread_scaling(net, x, T, list(METHODS), 2, batch=2, repeats=1)
    assert (numba.get_num_threads(), torch.get_num_threads()) == before
    assert got["threads"].tolist() == [1, 2] and got["evsim_s"].shape == got["dense_s"].shape == (2,)
    assert got["identical"] and got["evsim_speedup"] > 0 and got["dense_speedup"] > 0


def test_trained_models_without_a_models_folder_say_so(tmp_path):
    from scenarios.bench.resnet_parts import TRAINED, trained_models

    got = trained_models(tmp_path / "nowhere")
    assert list(got) == list(TRAINED) and all(isinstance(v, str) and "cifar-10" in v for v in got.values())
