"""Export to evsim on real images: torch's forward pass and evsim give the same spikes.

Exact in float64 for every sample; in float32 both sides round differently (evsim adds weight
rows event by event, torch multiplies matrices), so a membrane potential within rounding of the
threshold can flip a spike: at least 99.9% of samples must still agree.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import evsim
from bridges.ann import ReLUMLP
from bridges.conversion import convert
from bridges.datasets import load_idx_dataset
from bridges.export import from_evsim, to_evsim
from bridges.snn import SpikingMLP
from bridges.training import TrainConfig, ann_loss, ann_spec, fit, snn_loss, snn_spec


@pytest.fixture(scope="module")
def images():
    x, y = load_idx_dataset("mnist-sample", "test")
    return (x.reshape(len(x), -1) / 255.0).astype(np.float32), y


@pytest.fixture(scope="module")
def trained(images):
    """Act-BP and Temp-BP LIF networks (784-100-10, tau 10, T 10) and a converted IF network."""
    x, y = images
    models = {}
    for rule in ("actbp", "tempbp"):
        torch.manual_seed(0)
        model = SpikingMLP([784, 100, 10], evsim.LIF(10, 10), rule=rule)
        fit(model, snn_spec(model, "ratesyn_e", 10, "rate"), x, y, snn_loss("ratesyn_e", 10, "rate"),
            TrainConfig(epochs=5, lr=2e-3, batch_size=50))  # fmt: skip
        models[rule] = model
    torch.manual_seed(0)
    ann = ReLUMLP([784, 100, 10])
    fit(ann, ann_spec(ann), x, y, ann_loss, TrainConfig(epochs=3))
    models["converted"] = from_evsim(convert(ann, torch.from_numpy(x)), rule="none")
    return models


def _agreement(model: SpikingMLP, inputs: np.ndarray, dtype) -> tuple[float, float]:
    """(fraction of samples with identical output spike trains, fraction with identical predictions)."""
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    with torch.no_grad():
        out = model.to(tdtype)(torch.from_numpy(inputs).to(tdtype)).spikes.numpy().astype(bool)
    res = evsim.simulate(to_evsim(model), inputs, dtype=dtype)
    same_trains = (out == res.output_spikes).all(axis=(0, 2))
    return same_trains.mean(), (evsim.decode(out, "rate") == res.predictions).mean()


@pytest.mark.parametrize("name", ["actbp", "tempbp", "converted"])
@pytest.mark.parametrize("method", ["current", "ratesyn_e", "poisson"])
def test_spike_exact_agreement_on_real_images(trained, images, name, method):
    x, _ = images
    model = trained[name]
    T = 30 if name == "converted" else 10
    inputs = evsim.encode(x, T, method, seed=0)
    trains64, preds64 = _agreement(model, inputs, np.float64)
    assert trains64 == 1.0 and preds64 == 1.0
    trains32, preds32 = _agreement(model, inputs, np.float32)
    assert trains32 >= 0.999 and preds32 >= 0.999
    model.double()


def test_trained_models_are_not_trivial(trained, images):
    """The agreement above is about working classifiers, not silent networks."""
    x, y = images
    for name, model in trained.items():
        T = 30 if name == "converted" else 10
        res = evsim.simulate(to_evsim(model), evsim.encode(x, T, "ratesyn_e"))
        assert (res.predictions == y).mean() > 0.6, name
        assert res.output_spikes.mean() > 0.01


def test_to_evsim_exports_by_architecture():
    """One entry point: a SpikingMLP becomes Network.dense, a SpikingResNet the ResNet18 network
    (resnet_to_evsim), and fixed_point=(W, S, D) quantises either; anything else is refused."""
    import warnings

    import bridges.resnet
    from bridges.export import resnet_to_evsim
    from bridges.resnet import SpikingResNet

    torch.manual_seed(0)
    resnet = SpikingResNet(width=2, n_classes=3, rule="none").eval()
    net = to_evsim(resnet, metadata={"note": "x"})
    ref = resnet_to_evsim(resnet, metadata={"note": "x"})
    assert net.metadata == ref.metadata and net.metadata["origin"] == "bridges.resnet.resnet_to_evsim"
    assert [p.kind for p in net.projections] == [p.kind for p in ref.projections]
    for got, want in zip(net.projections, ref.projections):
        if hasattr(want, "weight"):
            np.testing.assert_array_equal(got.weight, want.weight)
    mlp = SpikingMLP([6, 5, 3], evsim.LIF(3, 3), bias=True)
    q = to_evsim(mlp, fixed_point=(6, 20, 10))
    want = evsim.quantize(to_evsim(mlp), 6, 20, 10)
    assert q.fixed_point == want.fixed_point == (6, 20, 10) and q.metadata == want.metadata
    for got, exp in zip(q.projections, want.projections):
        np.testing.assert_array_equal(got.weight, exp.weight)
    with pytest.raises(ValueError, match="SpikingMLP or bridges.resnet.SpikingResNet"):
        to_evsim(torch.nn.Linear(2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # bridges.resnet.resnet_to_evsim is part of its interface: no warning
        assert bridges.resnet.resnet_to_evsim is resnet_to_evsim
        with pytest.raises(AttributeError):
            bridges.resnet.no_such_name  # noqa: B018


def test_evsim_parameters_are_to_evsims_numbers_with_their_gradients():
    """evsim_parameters(model) holds, in torch and differentiable, exactly the float weights and
    biases to_evsim(model) exports (float64 models: bit for bit), projection by projection: the
    order QAT's straight-through gradient relies on."""
    from bridges.export import evsim_parameters
    from bridges.resnet import SpikingResNet

    torch.manual_seed(1)
    resnet = SpikingResNet(width=2, in_channels=1, n_classes=3).double().eval()
    with torch.no_grad():  # BN statistics that are not the identity, so the folding matters
        for m in resnet.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0), m.weight.uniform_(0.5, 2.0)
                m.bias.uniform_(-0.3, 0.3)
    plain = SpikingResNet(width=2, in_channels=1, n_classes=3, batchnorm=False).double()  # constant currents, out bias
    with torch.no_grad():
        for name, t in plain.named_parameters():
            if "bias" in name:
                t.uniform_(-0.3, 0.3)
    mlp = SpikingMLP([6, 5, 3], evsim.LIF(3, 3), bias=True).double()
    for model in (resnet, plain, mlp):
        net, params = to_evsim(model), evsim_parameters(model)
        assert len(params.weights) == len(net.projections) and len(params.biases) == len(net.populations)
        for w, proj in zip(params.weights, net.projections):
            if proj.kind == "identity":
                assert w is None
            else:
                assert w.requires_grad and w.dtype == torch.float64
                np.testing.assert_array_equal(w.detach().numpy(), proj.weight)
        for b, pop in zip(params.biases, net.populations):
            assert (b is None) == (pop.bias is None)
            if b is not None:
                np.testing.assert_array_equal(b.detach().numpy(), pop.bias)
    with pytest.raises(ValueError, match="SpikingMLP or bridges.resnet.SpikingResNet"):
        evsim_parameters(torch.nn.Linear(2, 2))
