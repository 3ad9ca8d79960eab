"""Training: the loss goes down, runs resume exactly, models reload with their settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

import evsim
from bridges.ann import ReLUMLP
from bridges.datasets import load_idx_dataset
from bridges.snn import SpikingMLP
from bridges.training import TrainConfig, ann_loss, ann_spec, fit, load_model, scheduled_lr, snn_loss, snn_spec


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


@pytest.mark.parametrize("schedule", ["constant", "cosine_batch"])
def test_interrupted_run_resumes_to_the_same_model(sample, tmp_path, schedule):
    """Killed during epoch 2, the rerun resumes after epoch 1 and ends with the very same weights
    (with the per-batch schedule too: its position is in the checkpoint)."""
    x, y = sample
    warmup = 3 if schedule == "cosine_batch" else 0
    config = TrainConfig(epochs=2, lr=1e-3, batch_size=64, seed=3, schedule=schedule, warmup=warmup)
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


def _learning_rates(run) -> list[float]:
    """The learning rate of every optimizer step taken while run() runs."""
    seen = []
    hook = register_optimizer_step_pre_hook(
        lambda opt, args, kwargs: seen.append(opt.param_groups[0]["lr"])
    )
    try:
        run()
    finally:
        hook.remove()
    return seen


def test_per_batch_schedule_warms_up_then_anneals_to_zero(sample, tmp_path):
    """cosine_batch: lr (t+1)/W for the first W batches, then lr (1 + cos(pi (t-W)/(N-W)))/2, set
    before every batch across epochs; recorded in the checkpoint's settings and the history."""
    x, y = sample  # 256 images, batch 32: 8 batches per epoch, N = 16
    config = TrainConfig(epochs=2, lr=4e-3, batch_size=32, schedule="cosine_batch", warmup=3)
    torch.manual_seed(0)
    model = ReLUMLP([784, 8, 10])
    ckpt = tmp_path / "ann.pt"
    lrs = _learning_rates(lambda: fit(model, ann_spec(model), x, y, ann_loss, config, checkpoint=ckpt))
    assert len(lrs) == 16
    expected = [4e-3 * (t + 1) / 3 if t < 3 else 4e-3 * (1 + math.cos(math.pi * (t - 3) / 13)) / 2 for t in range(16)]
    assert lrs == pytest.approx(expected, rel=1e-12, abs=0)
    assert lrs[2] == 4e-3 and lrs[3] == 4e-3 and 0 < lrs[-1] < 1e-4  # the peak, held for one batch; near 0 at the end
    assert lrs == [scheduled_lr(config, t, 16) for t in range(16)]
    _, _, history = load_model(ckpt)
    assert [h["lr"] for h in history] == [lrs[7], lrs[15]]
    saved = torch.load(ckpt, weights_only=True)
    assert saved["config"]["schedule"] == "cosine_batch" and saved["config"]["warmup"] == 3
    assert saved["scheduler"] == {"schedule": "cosine_batch", "batches_done": 16, "total_batches": 16, "warmup": 3}


def test_legacy_schedules_keep_their_settings_and_rates(sample):
    """cosine=True is schedule "cosine_epoch" (stored as before: old checkpoints resume); it holds
    lr through each epoch and halves it for the 2nd of 2; the constant schedule never moves it."""
    old_keys = {"epochs", "lr", "weight_decay", "batch_size", "seed", "cosine"}
    assert TrainConfig(epochs=2, cosine=True) == TrainConfig(epochs=2, schedule="cosine_epoch")
    assert TrainConfig(epochs=2, cosine=True).settings() == {
        "epochs": 2, "lr": 1e-3, "weight_decay": 0.01, "batch_size": 128, "seed": 0, "cosine": True}  # fmt: skip
    assert set(TrainConfig(epochs=2).settings()) == old_keys and TrainConfig(epochs=2).schedule == "constant"
    x, y = sample
    for config, expected in ((TrainConfig(epochs=2, batch_size=64, cosine=True), [1e-3] * 4 + [5e-4] * 4),
                             (TrainConfig(epochs=2, batch_size=64), [1e-3] * 8)):  # fmt: skip
        torch.manual_seed(0)
        model = ReLUMLP([784, 8, 10])
        lrs = _learning_rates(lambda: fit(model, ann_spec(model), x, y, ann_loss, config))
        assert lrs == pytest.approx(expected, rel=1e-12, abs=0)


def test_schedule_errors(sample, tmp_path):
    with pytest.raises(ValueError, match="unknown schedule"):
        TrainConfig(epochs=1, schedule="linear")
    with pytest.raises(ValueError, match="contradicts"):
        TrainConfig(epochs=1, cosine=True, schedule="cosine_batch")
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="number of batches"):
            TrainConfig(epochs=1, schedule="cosine_batch", warmup=bad)
    with pytest.raises(ValueError, match="part of the 'cosine_batch' schedule"):
        TrainConfig(epochs=1, warmup=5)
    with pytest.raises(ValueError, match="'cosine_batch' schedule"):
        scheduled_lr(TrainConfig(epochs=1), 0, 10)
    x, y = sample
    model = ReLUMLP([784, 4, 10])
    with pytest.raises(ValueError, match="leaves no batch to anneal"):  # 256 images, batch 128: 2 batches
        fit(model, ann_spec(model), x, y, ann_loss, TrainConfig(epochs=1, schedule="cosine_batch", warmup=2))
    ckpt = tmp_path / "ann.pt"
    config = TrainConfig(epochs=1, batch_size=64, schedule="cosine_batch", warmup=1)
    fit(model, ann_spec(model), x, y, ann_loss, config, checkpoint=ckpt)
    with pytest.raises(ValueError, match="other settings"):  # tied to the run's length: never extended
        fit(model, ann_spec(model), x, y, ann_loss, TrainConfig(epochs=2, batch_size=64, schedule="cosine_batch", warmup=1),
            checkpoint=ckpt)  # fmt: skip
    with pytest.raises(ValueError, match="does not fit this run"):  # 192 images: 3 batches, the checkpoint ran 4
        fit(model, ann_spec(model), x[:192], y[:192], ann_loss, config, checkpoint=ckpt)
