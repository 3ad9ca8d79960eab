"""Training: the loss goes down, runs resume exactly, models reload with their settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import evsim
from bridges.ann import ReLUMLP
from bridges.datasets import load_idx_dataset
from bridges.snn import SpikingMLP
from bridges.training import TrainConfig, ann_loss, ann_spec, fit, load_model, snn_loss, snn_spec


@pytest.fixture(scope="module")
def sample():
    x, y = load_idx_dataset("mnist-sample", "test")
    return (x[:256].reshape(256, -1) / 255.0).astype(np.float32), y[:256]


def _loss(model, loss_fn, x, y):
    with torch.no_grad():
        return loss_fn(model, x, torch.as_tensor(y), np.random.default_rng(0)).item()


@pytest.mark.parametrize("kind", ["ann", "actbp", "tempbp"])
def test_training_lowers_the_loss(sample, kind):
    x, y = sample
    torch.manual_seed(0)
    if kind == "ann":
        model, loss_fn = ReLUMLP([784, 32, 10]), ann_loss
        spec = ann_spec(model)
    else:
        model = SpikingMLP([784, 32, 10], evsim.LIF(10, 10), rule=kind)
        loss_fn = snn_loss("ratesyn_e", 8, "rate")
        spec = snn_spec(model, "ratesyn_e", 8, "rate")
    before = _loss(model, loss_fn, x, y)
    history = fit(model, spec, x, y, loss_fn, TrainConfig(epochs=3, lr=2e-3, batch_size=32))
    after = _loss(model, loss_fn, x, y)
    assert after < 0.8 * before
    assert [h["epoch"] for h in history] == [1, 2, 3] and history[-1]["loss"] < history[0]["loss"]


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_model(sample, tmp_path):
    """Killed during epoch 2, the rerun resumes after epoch 1 and ends with the very same weights."""
    x, y = sample
    config = TrainConfig(epochs=2, lr=1e-3, batch_size=64, seed=3)
    loss_fn = snn_loss("poisson", 6, "rate")  # stochastic encoder: its draws must resume too

    def build():
        torch.manual_seed(1)
        m = SpikingMLP([784, 16, 10], evsim.LIF(5, 5))
        return m, snn_spec(m, "poisson", 6, "rate")

    straight, spec = build()
    fit(straight, spec, x, y, loss_fn, config)

    calls = {"n": 0}

    def failing(model, xb, yb, rng):
        calls["n"] += 1
        if calls["n"] == 6:  # 4 batches per epoch: the 2nd batch of epoch 2
            raise Interrupt
        return loss_fn(model, xb, yb, rng)

    ckpt = tmp_path / "model.pt"
    first, spec = build()
    with pytest.raises(Interrupt):
        fit(first, spec, x, y, failing, config, checkpoint=ckpt)
    resumed, spec = build()
    history = fit(resumed, spec, x, y, loss_fn, config, checkpoint=ckpt)
    assert [h["epoch"] for h in history] == [1, 2]
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    # a finished run is reloaded, not retrained
    again, spec = build()
    fit(again, spec, x, y, failing, config, checkpoint=ckpt)
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(), resumed.parameters()))


def test_more_epochs_extend_a_finished_model(sample, tmp_path):
    """Trained 1 epoch, then asked for 2: it continues to the same weights as a straight 2-epoch run;
    asked for fewer epochs than it has, or with a cosine schedule (tied to the epoch count), it refuses."""
    x, y = sample

    def build():
        torch.manual_seed(1)
        return ReLUMLP([784, 8, 10])

    straight = build()
    fit(straight, ann_spec(straight), x, y, ann_loss, TrainConfig(epochs=2))
    ckpt = tmp_path / "ann.pt"
    first = build()
    fit(first, ann_spec(first), x, y, ann_loss, TrainConfig(epochs=1), checkpoint=ckpt)
    extended = build()
    history = fit(extended, ann_spec(extended), x, y, ann_loss, TrainConfig(epochs=2), checkpoint=ckpt)
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(torch.equal(a, b) for a, b in zip(straight.parameters(), extended.parameters()))
    with pytest.raises(ValueError, match="trained for 2 epochs; 1 were asked"):
        fit(build(), ann_spec(extended), x, y, ann_loss, TrainConfig(epochs=1), checkpoint=ckpt)
    with pytest.raises(ValueError, match="other settings"):
        fit(build(), ann_spec(extended), x, y, ann_loss, TrainConfig(epochs=3, cosine=True), checkpoint=ckpt)


def test_saved_model_reloads_with_its_settings(sample, tmp_path):
    x, y = sample
    model = SpikingMLP([784, 8, 10], evsim.LIF(tau_m=10, tau_s=4, theta=0.9), rule="actbp", bias=True)
    spec = snn_spec(model, ["current", "ratesyn_e"][0], 5, "ttfs")
    fit(model, spec, x, y, snn_loss("current", 5, "ttfs"), TrainConfig(epochs=1), checkpoint=tmp_path / "m.pt",
        evaluate=lambda m: 0.5)  # fmt: skip
    loaded, loaded_spec, history = load_model(tmp_path / "m.pt")
    assert loaded_spec == spec and loaded_spec["neuron"] == {"kind": "lif", "tau_m": 10, "tau_s": 4, "theta": 0.9, "reset": "zero"}
    assert history[0]["accuracy"] == 0.5 and not loaded.training
    assert loaded.neuron == model.neuron and loaded.rule == "actbp"
    for a, b in zip(model.parameters(), loaded.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_errors(sample, tmp_path):
    x, y = sample
    model = ReLUMLP([784, 4, 10])
    ckpt = tmp_path / "ann.pt"
    fit(model, ann_spec(model), x, y, ann_loss, TrainConfig(epochs=1), checkpoint=ckpt)
    with pytest.raises(ValueError, match="other settings"):
        fit(model, ann_spec(model), x, y, ann_loss, TrainConfig(epochs=1, lr=0.1), checkpoint=ckpt)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_model(bad)
    torch.save({"weights": torch.ones(2)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not an evsim training checkpoint"):
        load_model(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="images"):
        fit(model, ann_spec(model), x, y[:3], ann_loss, TrainConfig(epochs=1))
