"""ANN-to-SNN conversion: weight normalisation by hand, and accuracy kept on real images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import evsim
from bridges.ann import ReLUMLP
from bridges.conversion import activation_scales, convert, copy_to_snn
from bridges.export import to_evsim
from bridges.datasets import data_dir, load_idx_dataset
from bridges.training import TrainConfig, ann_loss, ann_spec, fit


def _tiny_ann() -> ReLUMLP:
    ann = ReLUMLP([2, 2, 1])
    with torch.no_grad():
        ann.layers[0].weight.copy_(torch.tensor([[2.0, 0.0], [0.0, -1.0]]))
        ann.layers[1].weight.copy_(torch.tensor([[3.0, 1.0]]))
    return ann


def test_scales_and_normalised_weights_by_hand():
    """x = (0.5, 0) and (1, 1): hidden (1, 0) and (2, 0): lambda_1 = 2; output 3 and 6: lambda_2 = 6."""
    ann = _tiny_ann()
    x = torch.tensor([[0.5, 0.0], [1.0, 1.0]])
    assert activation_scales(ann, x) == [2.0, 6.0]
    net = convert(ann, x)
    np.testing.assert_allclose(net.projections[0].weight, [[1.0, 0.0], [0.0, -0.5]])  # W1 / 2
    np.testing.assert_allclose(net.projections[1].weight, [[1.0, 1 / 3]])  # W2 * 2 / 6
    assert net.populations[0].neuron == evsim.IF(theta=1.0, reset="subtract")
    assert net.metadata["percentile"] == 100.0


def test_percentile_ignores_outliers():
    ann = ReLUMLP([1, 1, 1])
    with torch.no_grad():
        ann.layers[0].weight.fill_(1.0)
        ann.layers[1].weight.fill_(1.0)
    x = torch.cat([torch.full((999, 1), 0.1), torch.ones(1, 1)])
    assert activation_scales(ann, x, 100.0)[0] == pytest.approx(1.0)
    assert activation_scales(ann, x, 99.0)[0] == pytest.approx(0.1)


def test_conversion_errors():
    ann = _tiny_ann()
    with pytest.raises(ValueError, match="percentile"):
        activation_scales(ann, torch.ones(2, 2), percentile=0)
    with pytest.raises(ValueError, match="never active"):
        activation_scales(ann, torch.zeros(3, 2))


def _train_ann(x, y, epochs):
    torch.manual_seed(0)
    ann = ReLUMLP([784, 100, 10])
    fit(ann, ann_spec(ann), x, y, ann_loss, TrainConfig(epochs=epochs))
    with torch.no_grad():
        return ann, ann(torch.from_numpy(x)).argmax(1).numpy()


def test_converted_snn_follows_the_ann_on_the_shipped_sample():
    """784-100-10 on the 1,000 shipped MNIST images, converted at T = 30 (current encoding):
    the SNN decides as the ANN does on nearly every image."""
    x, y = load_idx_dataset("mnist-sample", "test")
    x = (x.reshape(len(x), -1) / 255.0).astype(np.float32)
    ann, ann_pred = _train_ann(x, y, epochs=10)
    res = evsim.simulate(convert(ann, torch.from_numpy(x)), evsim.encode(x, 30, "current"))
    assert (ann_pred == y).mean() > 0.9
    assert (res.predictions == ann_pred).mean() >= 0.97
    assert (res.predictions == y).mean() >= (ann_pred == y).mean() - 0.01


@pytest.mark.skipif(not (data_dir() / "mnist").is_dir(), reason="MNIST not in the data directory ($EVSIM_DATA)")
def test_converted_snn_reaches_ann_accuracy_on_mnist():
    """The issue's bar: on the MNIST test set, T = 30, within 1 point of the ANN's clean accuracy."""
    x, y = load_idx_dataset("mnist", "train")
    xt, yt = load_idx_dataset("mnist", "test")
    x, xt = (x.reshape(len(x), -1) / 255.0).astype(np.float32), (xt.reshape(len(xt), -1) / 255.0).astype(np.float32)
    ann, _ = _train_ann(x, y, epochs=3)
    with torch.no_grad():
        ann_acc = (ann(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean()
    assert ann_acc > 0.95
    inputs = evsim.encode(xt, 30, "current")
    for percentile in (100.0, 99.9):  # max norm and the robust variant
        net = convert(ann, torch.from_numpy(x[:5000]), percentile=percentile)
        snn_acc = (evsim.simulate(net, inputs, record_hidden=False).predictions == yt).mean()
        assert snn_acc >= ann_acc - 0.01, percentile


def test_copy_to_snn_copies_the_ann_weights_into_lif_layers():
    """The paper's CVT: the same weights, now driving LIF neurons; evsim runs it spike for spike."""
    torch.manual_seed(3)
    ann = ReLUMLP([20, 16, 5])
    with torch.no_grad():
        for layer in ann.layers:
            layer.weight.mul_(6)  # strong enough that LIF outputs spike within 8 steps
    lif = evsim.LIF(tau_m=4, tau_s=4)
    snn = copy_to_snn(ann, lif)
    assert snn.neuron == lif and snn.rule == "none" and snn.sizes == [20, 16, 5]
    for a, s in zip(ann.layers, snn.layers):
        assert torch.equal(a.weight, s.weight) and a.weight.data_ptr() != s.weight.data_ptr()
    with torch.no_grad():
        ann.layers[0].weight.mul_(3)  # a copy: later changes to the ANN do not leak into the SNN
    assert torch.equal(snn.layers[0].weight * 3, ann.layers[0].weight)
    snn = snn.double()
    x = np.random.default_rng(0).random((12, 20))
    inputs = evsim.encode(x, 8, "current")
    res = evsim.simulate(to_evsim(snn), inputs, dtype=np.float64)
    with torch.no_grad():
        spikes = snn(torch.from_numpy(inputs).double()).spikes.numpy()
    assert np.array_equal(spikes, res.output_spikes) and spikes.sum() > 0
    with pytest.raises(ValueError, match="ReLUMLP"):
        copy_to_snn(snn, lif)
