"""White-box encoders and SNNClassifier: values exactly evsim's, gradients by the paper's rules,
logits equal to the SpikingMLP's decoder scores, and an attack through the SNN that works."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import evsim
from bridges import attacks as A
from bridges.datasets import load_idx_dataset
from bridges.ann import ReLUMLP
from bridges.conversion import convert
from bridges.export import from_evsim, to_evsim
from bridges.snn import SpikingMLP, decoder_scores
from bridges.training import TrainConfig, ann_loss, ann_spec, fit
from bridges.whitebox import SNNClassifier, encode

METHODS = ["current", "poisson", "ratesyn_s", "ratesyn_e", "ttfs", ["current", "ratesyn_e", "poisson", "ttfs"]]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _x(shape, seed=0) -> np.ndarray:
    """Values in [0, 1] with the edge cases: 0, 1, and products on the spike-count guard."""
    rng = np.random.default_rng(seed)
    x = rng.random(shape).astype(np.float32)
    flat = x.reshape(-1)
    flat[:6] = [0.0, 1.0, 0.3, 0.5, 0.7, 1 / 255]
    return x


@pytest.mark.parametrize("method", METHODS, ids=str)
@pytest.mark.parametrize("shape, channel_axis", [((5, 9), 1), ((3, 2, 4, 4), 1), ((2, 3, 3), 0)])
@pytest.mark.parametrize("T", [1, 4, 10])
def test_values_equal_evsim_exactly(method, shape, channel_axis, T):
    x = _x(shape)
    got = encode(torch.from_numpy(x), T, method, seed=7, channel_axis=channel_axis)
    want = torch.from_numpy(evsim.encode(x, T, method, seed=7, channel_axis=channel_axis))
    assert torch.equal(got, want)


def test_poisson_with_a_generator_follows_evsim_draw_for_draw():
    x = _x((4, 6))
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(3):  # the generator advances the same way in both
        want = torch.from_numpy(evsim.encode(x, 5, "poisson", seed=g2))
        assert torch.equal(encode(torch.from_numpy(x), 5, "poisson", seed=g1), want)


def _input_grad(method, x_value: float, g: list[float]) -> float:
    """dL/dx for L = sum_k g[k] * encoded[k] of a single pixel."""
    x = torch.tensor([[x_value]], requires_grad=True)
    enc = encode(x, len(g), method, seed=0)
    (enc[:, 0, 0] * torch.tensor(g)).sum().backward()
    return float(x.grad)


G = [1.0, 2.0, 4.0, 8.0]  # g[k] = 2^k: the gradient names the steps it came from


@pytest.mark.parametrize(
    "method, x_value, expected",
    [
        ("current", 0.5, 15.0),  # exact: every step
        ("current", 0.0, 15.0),
        ("poisson", 0.5, 15.0),  # straight-through: ds[k]/dx = 1 at every step
        ("poisson", 0.0, 15.0),
        ("ratesyn_s", 0.5, 1.0 + 2.0),  # n = 2 spikes at steps 0, 1
        ("ratesyn_e", 0.5, 4.0 + 8.0),  # spikes at steps 2, 3
        ("ratesyn_e", 0.75, 2.0 + 4.0 + 8.0),  # n = 3: steps 1, 2, 3
        ("ratesyn_e", 1.0, 15.0),
        ("ratesyn_e", 0.0, 0.0),  # no spike, no gradient (MNIST background)
        ("ttfs", 0.5, 4.0),  # one spike at step T - n = 2
        ("ttfs", 0.2, 8.0),  # n = 1: step 3
        ("ttfs", 0.0, 0.0),
    ],
)
def test_gradient_rules_on_hand_made_cases(method, x_value, expected):
    assert _input_grad(method, x_value, G) == expected


def test_fused_gradient_splits_by_encoder():
    x = torch.tensor([[0.5, 0.25]], requires_grad=True)  # (B=1, N=2); T = 4
    enc = encode(x, 4, ["ratesyn_e", "ttfs", "current"], seed=0)  # (4, 1, 6)
    assert enc.shape == (4, 1, 6)
    g = torch.arange(24, dtype=torch.float32).reshape(4, 1, 6)
    (enc * g).sum().backward()
    # x0 = 0.5: ratesyn_e steps 2,3 (column 0), ttfs step 2 (column 2), current all (column 4)
    # x1 = 0.25: ratesyn_e step 3 (column 1), ttfs step 3 (column 3), current all (column 5)
    col = lambda c, steps: float(sum(g[k, 0, c] for k in steps))  # noqa: E731
    want = [col(0, [2, 3]) + col(2, [2]) + col(4, range(4)), col(1, [3]) + col(3, [3]) + col(5, range(4))]
    assert x.grad[0].tolist() == want


def test_encode_rejects_values_outside_the_unit_interval():
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        encode(torch.tensor([[1.2]]), 4, "current")
    with pytest.raises(ValueError, match="NaN"):
        encode(torch.tensor([[float("nan")]]), 4, "ttfs")
    with pytest.raises(ValueError, match="unknown"):
        encode(torch.tensor([[0.5]]), 4, "latency")


# ---------------------------------------------------------------------------- SNNClassifier


def _snn(rule: str, n_in: int, seed: int = 0, dtype=torch.float32) -> SpikingMLP:
    torch.manual_seed(seed)
    snn = SpikingMLP([n_in, 24, 6], evsim.LIF(4, 4), rule=rule).to(dtype)
    with torch.no_grad():
        for layer in snn.layers:
            layer.weight.mul_(2.0)  # active enough that the outputs spike
    return snn


@pytest.mark.parametrize("encoder", METHODS, ids=str)
@pytest.mark.parametrize("decoder", ["rate", "ttfs"])
@pytest.mark.parametrize("rule", ["actbp", "tempbp"])
def test_logits_equal_decoder_scores_of_the_snn(encoder, decoder, rule):
    images = torch.from_numpy(_x((8, 1, 4, 5), seed=2))
    k = 1 if isinstance(encoder, str) else len(encoder)
    snn = _snn(rule, 20 * k)
    clf = SNNClassifier(snn, encoder, 6, decoder, seed=11)
    inputs = torch.from_numpy(evsim.encode(images.numpy().reshape(8, -1), 6, encoder, seed=11))
    with torch.no_grad():
        want = decoder_scores(snn(inputs).spikes, decoder)
        got = clf(images)
    assert got.shape == (8, 6) and torch.equal(got, want)
    assert want.sum() > 0  # not a silent network
    assert clf.snn.rule == "actbp"
    assert {id(p) for p in clf.parameters()} == {id(p) for p in snn.parameters()}  # weights shared


@pytest.mark.parametrize("decoder", ["rate", "ttfs"])
def test_predictions_equal_evsim_simulate(decoder):
    """In float64 torch and evsim agree spike for spike (tests/test_export.py)."""
    images = torch.from_numpy(_x((16, 20), seed=4).astype(np.float64))
    snn = _snn("actbp", 40, dtype=torch.float64)
    clf = SNNClassifier(snn, ["ratesyn_e", "ttfs"], 8, decoder)
    inputs = evsim.encode(images.numpy(), 8, ["ratesyn_e", "ttfs"])
    res = evsim.simulate(to_evsim(snn), inputs, decoder=decoder, dtype=np.float64)
    assert np.array_equal(clf.predict(images).numpy(), res.predictions)
    assert np.array_equal(clf(images).detach().numpy(), evsim.decoding.scores(res.output_spikes, decoder))


@pytest.mark.parametrize("encoder", ["current", "poisson", "ratesyn_e", "ttfs"])
def test_gradients_reach_the_images(encoder):
    images = torch.from_numpy(_x((8, 20), seed=5)).requires_grad_(True)
    clf = SNNClassifier(_snn("tempbp", 20), encoder, 6, "rate")
    torch.nn.functional.cross_entropy(clf(images), torch.zeros(8, dtype=torch.long)).backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


@pytest.mark.parametrize("rule", ["actbp", "tempbp", "none"])
def test_trained_gradient_uses_the_training_rule(rule):
    """gradient="trained": Temp-BP networks are attacked through Temp-BP's own rule, converted ones
    ("none") through Act-BP; the logits do not depend on the rule, the input gradients do."""
    images = torch.from_numpy(_x((8, 20), seed=6))
    snn = _snn(rule, 20)
    labels = torch.arange(8) % 6
    grads = {}
    for gradient in ("actbp", "trained"):
        clf = SNNClassifier(snn, "current", 6, "rate", gradient=gradient)
        x = images.clone().requires_grad_(True)
        logits = clf(x)
        torch.nn.functional.cross_entropy(logits, labels).backward()
        grads[gradient] = (logits.detach(), x.grad)
        assert clf.snn.rule == ("tempbp" if rule == "tempbp" and gradient == "trained" else "actbp")
    assert torch.equal(grads["actbp"][0], grads["trained"][0])
    assert torch.isfinite(grads["trained"][1]).all() and grads["trained"][1].abs().sum() > 0
    assert torch.equal(grads["actbp"][1], grads["trained"][1]) == (rule != "tempbp")


def test_snn_classifier_rejects_an_unknown_gradient():
    with pytest.raises(ValueError, match="unknown gradient"):
        SNNClassifier(_snn("actbp", 20), "current", 4, "rate", gradient="tempbp")


def test_snn_classifier_rejects_a_wrong_input_size():
    clf = SNNClassifier(_snn("actbp", 20), ["current", "ttfs"], 4, "rate")
    with pytest.raises(ValueError, match="takes 20"):
        clf(torch.rand(2, 20))


@pytest.mark.parametrize("encoder", ["current", "poisson"])
def test_white_box_attack_through_a_converted_snn(encoder):
    """FGSM (eps 0.1) through Act-BP's surrogate lowers the accuracy of a converted IF network
    (rule "none": the classifier attacks through its Act-BP twin, as the paper's Fig. 3D)."""
    x, y = load_idx_dataset("mnist-sample", "test")
    x = (x.reshape(-1, 784) / 255.0).astype(np.float32)
    torch.manual_seed(0)
    ann = ReLUMLP([784, 32, 10])
    fit(ann, ann_spec(ann), x[:800], y[:800], ann_loss, TrainConfig(epochs=6, lr=1e-2, batch_size=100))
    snn = from_evsim(convert(ann, torch.from_numpy(x[:800]), percentile=99.9), rule="none")
    clf = SNNClassifier(snn, encoder, 20, "rate")
    xt, yt = torch.from_numpy(x[800:]), torch.from_numpy(y[800:])
    clean = float((clf.predict(xt) == yt).float().mean())
    adv = A.run_attack(A.make_attack("fgsm", clf), xt, yt, batch_size=200)
    attacked = float((clf.predict(adv) == yt).float().mean())
    assert clean > 0.8 and attacked < clean - 0.3, (clean, attacked)


def test_one_classifier_wraps_the_float_and_the_fixed_point_twins():
    """SNNClassifier is SpikingClassifier; FixedPointClassifier only adds quantised evsim networks
    (and logits in the images' dtype): the same validation, encoding and prediction."""
    from bridges.quantized import FixedPointClassifier, FixedPointMLP
    from bridges.whitebox import SpikingClassifier

    assert SNNClassifier is SpikingClassifier and issubclass(FixedPointClassifier, SpikingClassifier)
    snn = _snn("actbp", 20)
    qnet = evsim.quantize(to_evsim(snn), 8)
    images = torch.from_numpy(_x((8, 20), seed=4)).float()
    twin = FixedPointClassifier(qnet, "ratesyn_e", 6, "rate")
    plain = SpikingClassifier(FixedPointMLP(qnet), "ratesyn_e", 6, "rate")
    logits = plain(images)
    assert logits.dtype == torch.float64 and twin(images).dtype == torch.float32
    assert torch.equal(twin(images), logits.float()) and logits.abs().sum() > 0
    assert torch.equal(twin.predict(images), plain.predict(images))
    want = evsim.simulate(qnet, evsim.encode(images.double().numpy(), 6, "ratesyn_e")).predictions
    np.testing.assert_array_equal(plain.predict(images).numpy(), want)
    with pytest.raises(ValueError, match="spiking evsim encoder"):
        SpikingClassifier(FixedPointMLP(qnet), "current", 6, "rate")
    with pytest.raises(ValueError, match="SpikingMLP"):
        SpikingClassifier(torch.nn.Linear(20, 6), "current", 6, "rate")
