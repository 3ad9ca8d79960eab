"""ResNet18 (CIFAR variant) in torch: shapes, BN folding, export to evsim with identical spikes on
real CIFAR-10 images (plain and fused 9-channel input), Temp-BP gradients, a training smoke test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import evsim
from bridges.datasets import load_cifar10
from bridges.export import resnet_from_evsim, resnet_to_evsim
from bridges.resnet import ResNetANN, SpikingResNet, fold_batchnorm
from bridges.training import (
    TrainConfig,
    cifar_ann_loss,
    cifar_snn_loss,
    fit,
    load_model,
    resnet_ann_spec,
    resnet_snn_spec,
)

FUSED = ["current", "ratesyn_e", "ttfs"]
T = 10


@pytest.fixture(scope="module")
def images():
    """Eight real CIFAR-10 test images (8, 3072) float32 in [0, 1] and their labels."""
    x, y = load_cifar10("test")
    return (x[:8].reshape(8, -1) / 255.0).astype(np.float32), y[:8]


def _realistic(model: SpikingResNet, inputs: np.ndarray, seed: int = 0) -> SpikingResNet:
    """BN statistics measured on `inputs` (one train-mode pass, cumulative average), then gamma
    and beta drawn so that hidden populations spike at a few to a few tens of percent per step,
    as a trained net does; the classifier is scaled up so the output spikes too."""
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = None
        bn.reset_running_stats()
    with torch.no_grad():
        model.train()
        model(torch.from_numpy(inputs))
        model.eval()
        for bn in bns:
            bn.weight.copy_(0.6 + 0.5 * torch.rand(bn.num_features, generator=gen))
            bn.bias.copy_(-0.25 + 0.3 * torch.rand(bn.num_features, generator=gen))
        model.fc.weight.mul_(8.0)
    return model


# ---------------------------------------------------------------------------------------------
# shapes and arguments
# ---------------------------------------------------------------------------------------------


def test_ann_shapes_and_inputs():
    torch.manual_seed(0)
    ann = ResNetANN(width=4).eval()
    x = torch.rand(2, 3, 32, 32)
    logits = ann(x)
    assert logits.shape == (2, 10)
    torch.testing.assert_close(ann(x.reshape(2, -1)), logits)
    assert ResNetANN(width=2, in_channels=9, n_classes=7)(torch.rand(3, 9 * 1024)).shape == (3, 7)


def test_snn_shapes_and_hidden_populations():
    torch.manual_seed(0)
    model = SpikingResNet(width=2, in_channels=9, rule="none")
    out = model(torch.rand(4, 3, 9, 32, 32).round())
    assert out.spikes.shape == (4, 3, 10)
    shapes = [h.shape[2:] for h in out.hidden]
    assert len(shapes) == 17  # stem + 2 per block
    assert shapes[0] == (2, 32, 32) and shapes[4] == (2, 32, 32)
    assert shapes[5] == (4, 16, 16) and shapes[9] == (8, 8, 8) and shapes[16] == (16, 4, 4)
    flat = model(torch.rand(4, 3, 9 * 1024).round())
    assert flat.spikes.shape == (4, 3, 10)


@pytest.mark.parametrize(
    "kwargs",
    [{"width": 0}, {"in_channels": -1}, {"n_classes": 2.5}, {"rule": "stdp"},
     {"rule": "tempbp", "neuron": evsim.IF()}, {"neuron": "lif"}],  # fmt: skip
)
def test_snn_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SpikingResNet(**{"width": 2, **kwargs})


def test_bad_inputs():
    model, ann = SpikingResNet(width=2), ResNetANN(width=2)
    for bad in (torch.zeros(4, 2, 3, 28, 28), torch.zeros(2, 3, 32, 32), torch.zeros(4, 2, 3 * 1024 + 1)):
        with pytest.raises(ValueError, match="shape"):
            model(bad)
    with pytest.raises(ValueError, match="float"):
        model(torch.zeros(4, 2, 3, 32, 32, dtype=torch.int64))
    with pytest.raises(ValueError, match="torch.Tensor"):
        ann(np.zeros((2, 3072), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        ann(torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match="SpikingResNet"):
        resnet_to_evsim(ann)


# ---------------------------------------------------------------------------------------------
# BatchNorm folding and export
# ---------------------------------------------------------------------------------------------


def test_batchnorm_folding_matches_batchnorm_at_eval():
    """conv(x, W gamma/sigma) + (beta - gamma mu/sigma) is BN(conv(x)) at eval, to rounding."""
    gen = torch.Generator().manual_seed(1)
    conv = torch.nn.Conv2d(3, 5, 3, padding=1, bias=False).double()
    bn = torch.nn.BatchNorm2d(5).double().eval()
    with torch.no_grad():
        for t in (bn.weight, bn.bias, bn.running_mean):
            t.copy_(torch.randn(5, generator=gen, dtype=torch.float64))
        bn.running_var.copy_(0.1 + torch.rand(5, generator=gen, dtype=torch.float64))
        x = torch.rand(4, 3, 8, 8, generator=gen, dtype=torch.float64)
        w, b = fold_batchnorm(conv.weight, bn)
        torch.testing.assert_close(F.conv2d(x, w, padding=1) + b.view(-1, 1, 1), bn(conv(x)), rtol=1e-12, atol=1e-12)


def test_export_holds_the_folded_numbers():
    """The evsim network holds exactly the float64 folded weights and summed biases."""
    torch.manual_seed(0)
    model = _realistic(SpikingResNet(width=2), np.random.default_rng(0).random((T, 2, 3072)).round().astype(np.float32))
    model.double()
    net = resnet_to_evsim(model)
    w, b = model.stem.folded()
    np.testing.assert_array_equal(net.projections[0].weight, w.detach().numpy())
    np.testing.assert_array_equal(net.populations[0].bias, np.repeat(b.detach().numpy(), 32 * 32))
    block = model.blocks[2]  # the first block of stage 2: a 1x1 conv shortcut
    assert block.shortcut is not None
    second = 2 + 2 * 2
    bias = block.conv2.folded()[1] + block.shortcut.folded()[1]
    np.testing.assert_array_equal(net.populations[second].bias, np.repeat(bias.detach().numpy(), 16 * 16))
    assert [p.kind for p in net.projections].count("identity") == 5
    assert net.projections[-1].weight.shape == (10, 16 * 16)
    np.testing.assert_array_equal(net.projections[-1].weight[:, :16], np.repeat(model.fc.weight.detach().numpy()[:, :1] / 16, 16, 1))


@pytest.fixture(scope="module")
def fused_model(images):
    x, _ = images
    torch.manual_seed(0)
    inputs = evsim.encode(x, T, FUSED)
    return _realistic(SpikingResNet(width=4, in_channels=9, rule="none"), inputs), inputs


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spike_exact_agreement_on_real_images(fused_model, dtype):
    """Fused 9-channel CIFAR-10 input: the torch eval forward and evsim give the same output and
    hidden spikes (100% in float64; >= 99.9% in float32), at realistic activity."""
    model, inputs = fused_model
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    model.to(tdtype)
    with torch.no_grad():
        out = model(torch.from_numpy(inputs).to(tdtype))
    net = resnet_to_evsim(model)
    res = evsim.simulate(net, inputs, dtype=dtype, input_kind=FUSED, record_hidden=True)
    rates = [h.float().mean().item() for h in out.hidden]
    assert 0.03 < np.mean(rates) < 0.25 and min(rates) > 0.005, rates
    assert out.spikes.mean() > 0.01
    agree = [(out.spikes.numpy().astype(bool) == res.output_spikes).mean()]
    for h_torch, h_evsim in zip(out.hidden, res.hidden_spikes):
        agree.append((h_torch.numpy().reshape(h_evsim.shape).astype(bool) == h_evsim).mean())
    assert min(agree) == 1.0 if dtype == np.float64 else min(agree) >= 0.999
    # and back: the BN-free torch twin of the evsim network reproduces evsim's spikes
    twin = resnet_from_evsim(net, dtype=tdtype)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in twin.modules())
    with torch.no_grad():
        back = twin(torch.from_numpy(inputs).to(tdtype))
    same = (back.spikes.numpy().astype(bool) == res.output_spikes).mean()
    assert same == 1.0 if dtype == np.float64 else same >= 0.999
    model.float()


def test_fused_input_costs_macs_for_current_and_sops_for_spikes(fused_model):
    """The stem's MACs are the synapses reached by non-zero current values (channels 0-2), its
    SOPs those reached by the spikes of channels 3-8, border-exact (sum of conv2d with ones)."""
    model, inputs = fused_model
    res = evsim.simulate(resnet_to_evsim(model), inputs, input_kind=FUSED)
    x = torch.from_numpy(inputs).reshape(T, -1, 9, 32, 32)
    ones = torch.ones(model.width, 3, 3, 3, dtype=torch.float64)
    per_step = lambda part: F.conv2d(part.flatten(0, 1).double(), ones, padding=1).sum().item()  # noqa: E731
    assert res.macs_per_step[:, :, 0].sum() == per_step((x[:, :, :3] != 0).float())
    ones = torch.ones(model.width, 6, 3, 3, dtype=torch.float64)
    assert res.sops_per_step[:, :, 0].sum() == per_step(x[:, :, 3:])
    assert res.macs_per_step[:, :, 1:].sum() == 0


def test_from_evsim_rejects_other_networks():
    lif = evsim.LIF(2, 2)
    plain = evsim.Network((3, 32, 32), [evsim.Population((10,), lif)], [evsim.network.Dense(-1, 0, np.ones((10, 3072)))])
    with pytest.raises(ValueError, match="topology"):
        resnet_from_evsim(plain)
    net = resnet_to_evsim(SpikingResNet(width=2))
    projs = list(net.projections)
    w = projs[-1].weight.copy()
    w[0, 0] += 1.0
    projs[-1] = evsim.network.Dense(projs[-1].source, projs[-1].target, w)
    with pytest.raises(ValueError, match="average-pooled"):
        resnet_from_evsim(evsim.Network(net.input_shape, net.populations, projs))


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


def test_tempbp_gives_finite_nonzero_gradients_on_the_conv_net(images):
    x, y = images
    torch.manual_seed(0)
    model = SpikingResNet(width=8, in_channels=9, rule="tempbp")
    loss = cifar_snn_loss(FUSED, T, "rate")(model, x, torch.as_tensor(y), np.random.default_rng(0))
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    convs = [m.weight.grad for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(g.abs().sum() > 0 for g in convs)


@pytest.mark.parametrize("kind", ["ann", "actbp", "tempbp"])
def test_a_few_steps_lower_the_loss(images, kind):
    x, y = images
    yb = torch.as_tensor(y)
    torch.manual_seed(0)
    if kind == "ann":
        model, loss_fn, lr = ResNetANN(width=8), cifar_ann_loss(augment=False), 1e-2
    else:
        model, loss_fn, lr = SpikingResNet(width=8, in_channels=9, rule=kind), cifar_snn_loss(FUSED, T, "rate", augment=False), 1e-2
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    for step in range(4):
        opt.zero_grad()
        loss = loss_fn(model, x, yb, np.random.default_rng(step))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses


def test_losses_are_reproducible_from_rng(images):
    """Augmentation and encoding draw only from rng: the same rng gives the same loss."""
    x, y = images
    torch.manual_seed(0)
    model = SpikingResNet(width=2, in_channels=3, rule="none").eval()
    loss = cifar_snn_loss("poisson", T, "ttfs")
    a = loss(model, x, torch.as_tensor(y), np.random.default_rng(5))
    b = loss(model, x, torch.as_tensor(y), np.random.default_rng(5))
    assert a.item() == b.item()


def test_specs_reload_through_checkpoints(images, tmp_path):
    x, y = images
    torch.manual_seed(0)
    snn = SpikingResNet(width=8, in_channels=9, rule="tempbp")
    ann = ResNetANN(width=8)
    for model, spec, loss in (
        (snn, resnet_snn_spec(snn, FUSED, T, "ttfs"), cifar_snn_loss(FUSED, T, "ttfs")),
        (ann, resnet_ann_spec(ann), cifar_ann_loss()),
    ):
        path = tmp_path / f"{spec['kind']}.pt"
        fit(model, spec, x, y, loss, TrainConfig(epochs=1, batch_size=4), checkpoint=path)
        loaded, loaded_spec, history = load_model(path)
        assert loaded_spec == spec and type(loaded) is type(model) and len(history) == 1
        for k, v in model.state_dict().items():
            torch.testing.assert_close(loaded.state_dict()[k], v, rtol=0, atol=0)
    assert loaded_spec["kind"] == "resnet_ann" and snn.rule == "tempbp"


def test_ann_input_gradient_keeps_the_callers_layout():
    """torchattacks' PGD-L2 views the input gradient as (B, -1): a channels-last gradient broke it."""
    from bridges.attacks import make_attack, run_attack

    model = ResNetANN(width=8).eval()
    x = torch.rand(3, 3, 32, 32, requires_grad=True)
    model(x).sum().backward()
    assert x.grad.is_contiguous()
    adv = run_attack(make_attack("cifar10_l2", model, steps=2), x.detach(), torch.tensor([0, 1, 2]), batch_size=3)
    assert adv.shape == x.shape and float((adv - x.detach()).flatten(1).norm(dim=1).max()) <= 2.5 + 1e-4


def test_init_from_ann_copies_the_ann_and_spreads_a_fused_stem():
    from bridges.resnet import init_from_ann

    torch.manual_seed(0)
    ann = ResNetANN(width=2).eval()
    with torch.no_grad():
        for bn in (m for m in ann.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.uniform_(0.5, 2)
    snn = init_from_ann(SpikingResNet(width=2, in_channels=9), ann)
    stem = snn.stem.conv.weight
    for part in range(3):  # each encoding's third of the stem carries a third of the ANN's weights
        torch.testing.assert_close(stem[:, 3 * part : 3 * part + 3], ann.stem[0].weight / 3)
    torch.testing.assert_close(snn.blocks[2].shortcut.bn.running_var, ann.blocks[2].shortcut[1].running_var)
    torch.testing.assert_close(snn.blocks[5].conv2.conv.weight, ann.blocks[5].conv2[0].weight)
    torch.testing.assert_close(snn.fc.weight, ann.fc.weight)
    with pytest.raises(ValueError, match="does not fit"):
        init_from_ann(SpikingResNet(width=4), ann)
    with pytest.raises(ValueError, match="does not fit"):
        init_from_ann(SpikingResNet(width=2, in_channels=4), ann)


def test_init_from_snn_keeps_every_weight_and_spreads_a_fused_stem():
    """The chain's warm start: a Temp-BP TTFS (or fused) SNN takes the base SNN's weights, BN
    statistics included; same encoder width: the same network, spike for spike."""
    from bridges.resnet import init_from_snn

    torch.manual_seed(0)
    base = SpikingResNet(width=2, rule="actbp")
    with torch.no_grad():
        for bn in (m for m in base.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.uniform_(0.5, 2)
    snn = init_from_snn(SpikingResNet(width=2, rule="tempbp"), base)
    for (name, mine), theirs in zip(snn.state_dict().items(), base.state_dict().values()):
        assert torch.equal(mine, theirs), name
    x = torch.rand(10, 3, 3 * 32 * 32)
    assert torch.equal(snn.eval()(x).spikes, base.eval()(x).spikes)
    fused = init_from_snn(SpikingResNet(width=2, in_channels=9), base)
    for part in range(3):
        torch.testing.assert_close(fused.stem.conv.weight[:, 3 * part : 3 * part + 3], base.stem.conv.weight / 3)
    assert torch.equal(fused.fc.weight, base.fc.weight)
    with pytest.raises(ValueError, match="does not fit"):
        init_from_snn(SpikingResNet(width=4), base)
    with pytest.raises(ValueError, match="two SpikingResNets"):
        init_from_snn(SpikingResNet(width=2), ResNetANN(width=2))


def test_strided_pointwise_conv_is_torchs_bit_for_bit():
    """bridges.resnet.conv2d subsamples before a strided 1x1 convolution: the same values and gradients
    (up to float rounding: the two kernels may add the same terms in another order)."""
    from bridges.resnet import conv2d

    torch.manual_seed(0)
    for c_in, batch in ((8, 4), (16, 10), (3, 2)):  # even batches: torch's own kernel survives them
        weight = torch.randn(2 * c_in, c_in, 1, 1, requires_grad=True)
        x = torch.rand(batch, c_in, 32, 32).contiguous(memory_format=torch.channels_last).requires_grad_()
        ours, theirs = conv2d(x, weight, (2, 2), (0, 0)), torch.nn.functional.conv2d(x, weight, None, 2, 0)
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
        g = torch.rand_like(ours)
        for a, b in zip(torch.autograd.grad(ours, (x, weight), g), torch.autograd.grad(theirs, (x, weight), g)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_resnet_backward_survives_odd_batches_on_two_threads():
    """torch 2.13's strided 1x1 conv backward (channels-last, 2 threads) crashed the process at batch 3."""
    code = (
        "import torch; torch.set_num_threads(2)\n"
        "from bridges.resnet import ResNetANN\n"
        "for batch in (3, 5, 7, 3, 5, 7, 33):\n"
        "    x = torch.rand(batch, 3, 32, 32, requires_grad=True)\n"
        "    ResNetANN(width=8).eval()(x).sum().backward()\n"
        "    ResNetANN(width=8).train()(x).sum().backward()\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
