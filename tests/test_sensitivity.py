"""Gradient metrics (Eq. 31-32): FGSM directions, directional derivatives as finite differences,
loss-change surfaces that start at 0 and rise along the adversarial directions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import evsim
from bridges.ann import ReLUMLP
from bridges.datasets import load_idx_dataset
from bridges.sensitivity import directional_derivative, fgsm_direction, loss_change_surface
from bridges.snn import SpikingMLP
from bridges.training import TrainConfig, ann_loss, ann_spec, fit
from bridges.whitebox import SNNClassifier


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    x, y = load_idx_dataset("mnist-sample", "test")
    return torch.from_numpy((x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)), torch.from_numpy(y)


@pytest.fixture(scope="module")
def ann(data):
    x, y = data
    torch.manual_seed(0)
    model = ReLUMLP([784, 32, 10])
    config = TrainConfig(epochs=6, lr=1e-2, batch_size=100)
    fit(model, ann_spec(model), x[:800].numpy(), y[:800].numpy(), ann_loss, config)
    return model.eval()


def _loss(model, x, y):
    with torch.no_grad():
        return F.cross_entropy(model(x), y, reduction="none")


def test_fgsm_direction_is_the_sign_of_the_input_gradient(ann, data):
    x, y = data[0][800:864], data[1][800:864]
    v = fgsm_direction(ann, x, y, batch_size=20)  # batching must not change it
    xg = x.clone().requires_grad_(True)
    F.cross_entropy(ann(xg), y, reduction="sum").backward()
    assert torch.equal(v, xg.grad.sign())
    assert set(v.unique().tolist()) <= {-1.0, 0.0, 1.0} and v.shape == x.shape


def test_directional_derivative_is_the_finite_difference_along_v(ann, data):
    x, y = data[0][800:900], data[1][800:900]
    res = directional_derivative(ann, x, y, t=0.05, batch_size=30)
    v = fgsm_direction(ann, x, y)
    want = (_loss(ann, (x + 0.05 * v).clamp(0, 1), y) - _loss(ann, x, y)) / 0.05
    torch.testing.assert_close(res.values, want)
    assert res.mean == pytest.approx(float(want.mean()))
    assert res.mean > 0  # the loss rises along the adversarial direction


def test_directional_derivative_tends_to_the_gradient_along_v(ann, data):
    """Unclipped, in float64, as t -> 0 Eq. 31 becomes grad . v = ||grad||_1 for v = sign(grad)."""
    model = ReLUMLP([784, 32, 10]).double()
    model.load_state_dict(ann.state_dict())
    x, y = data[0][800:820].double(), data[1][800:820]
    xg = x.clone().requires_grad_(True)
    F.cross_entropy(model(xg), y, reduction="sum").backward()
    exact = xg.grad.reshape(20, -1).abs().sum(dim=1)
    res = directional_derivative(model, x, y, t=1e-7, clip=False)
    torch.testing.assert_close(res.values, exact, rtol=1e-4, atol=1e-6)


def test_loss_change_surface(ann, data):
    x, y = data[0][800:900], data[1][800:900]
    grid = np.linspace(-1, 1, 5)
    s = loss_change_surface(ann, x, y, grid, grid, batch_size=40)
    assert s.loss_change.shape == (5, 5)
    assert s.loss_change[2, 2] == 0.0  # (t1, t2) = (0, 0): exactly the clean loss
    assert s.loss_change[4, 2] > 0 and s.loss_change[2, 4] > 0  # both directions are adversarial
    assert 0 <= s.agreement <= 1 and not torch.equal(s.v1, s.v2)
    torch.testing.assert_close(s.v1, fgsm_direction(ann, x, y))
    # the axis t2 = 0 is Eq. 31 along v1 times t
    d = directional_derivative(ann, x, y, t=0.5, v=s.v1)
    assert s.loss_change[3, 2] == pytest.approx(0.5 * d.mean, rel=1e-5)


def test_given_directions_are_used(ann, data):
    x, y = data[0][800:840], data[1][800:840]
    v1 = torch.zeros_like(x)
    v2 = torch.ones_like(x)
    s = loss_change_surface(ann, x, y, [0.0, 1.0], [0.0, 0.3], v1=v1, v2=v2)
    assert s.loss_change[1, 0] == 0.0  # v1 = 0 moves nothing
    want = float((_loss(ann, (x + 0.3).clamp(0, 1), y) - _loss(ann, x, y)).double().mean())
    assert s.loss_change[0, 1] == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("encoder", ["poisson", "ratesyn_e"])
def test_metrics_on_an_snn(encoder, data):
    """SNNClassifier: deterministic with an int seed, so the surface is exactly 0 at the origin."""
    x, y = data[0][800:840], data[1][800:840]
    torch.manual_seed(0)
    snn = SpikingMLP([784, 32, 10], evsim.LIF(5, 5), rule="actbp")
    clf = SNNClassifier(snn, encoder, 6, "rate", seed=3)
    s = loss_change_surface(clf, x, y, [-0.5, 0.0, 0.5], [0.0, 0.5], batch_size=16)
    assert s.loss_change[1, 0] == 0.0 and np.isfinite(s.loss_change).all()
    d = directional_derivative(clf, x, y, batch_size=16)
    assert d.values.shape == (40,) and torch.isfinite(d.values).all()
