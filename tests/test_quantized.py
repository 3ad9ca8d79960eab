"""The torch twin of fixed-point mode (bridges.quantized): bit-exact spikes on real images (with
saturation) and on random conv, pool and residual networks (quantised, or raw integers that
saturate) and a quantised SpikingResNet, quantisation-aware training of an MLP and of a
SpikingResNet (straight-through gradients, lower loss, export with the same integers), white-box
attacks through it, what it refuses, and the quantization scenario end to end."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_fixed import _smallest_state_bits, raw_fixed, spike_batches

import evsim
from bridges.attacks import make_attack, run_attack
from bridges.datasets import data_dir, load_idx_dataset
from bridges.export import to_evsim
from bridges.quantized import (
    FixedPointClassifier, FixedPointMLP, FixedPointNetwork, QATSpikingMLP, QATSpikingNetwork, qat_loss,
)  # fmt: skip
from bridges.resnet import SpikingConv, SpikingResNet
from bridges.snn import SpikingMLP, decoder_scores
from bridges.training import TrainConfig, fit
from conftest import examples
from evsim.quantizer import mantissas
from evsim.network import INPUT, Conv2d, Dense, Network, Population
from evsim.neurons import IntNeuron
from evsim.testing.strategies import deep_networks, networks, spec_neurons

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _images(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n real test images (n, 784) float64 in [0, 1] and labels, from bridges.datasets."""
    try:
        x, y = load_idx_dataset(name, "test", root=data_dir())
    except FileNotFoundError:
        if name != "mnist":
            pytest.skip(f"no {name} in the data directory ($EVSIM_DATA)")
        x, y = load_idx_dataset("mnist-sample", "test")  # shipped with the repository
    return x[:n].reshape(n, -1) / 255.0, y[:n].astype(np.int64)


def _random_net(neuron, seed: int = 1) -> Network:
    """784-100-10 with random weights scaled so both layers are active on real images."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.0, 1.0, (100, 784)) * 1.5 / np.sqrt(784) + 0.01
    w2 = rng.normal(0.0, 1.0, (10, 100)) * 3.0 / np.sqrt(100) + 0.03
    if isinstance(neuron, evsim.IF):
        w1, w2 = w1 / 4, w2 / 2  # no leak: less drive for the same activity
    return Network.dense([w1, w2], neuron=neuron)


def _twin_run(qnet: Network, x: np.ndarray, T: int, encoder: str) -> tuple[evsim.SimulationResult, object]:
    spikes = evsim.encode(x, T, encoder, seed=3)
    res = evsim.simulate(qnet, spikes, record_hidden=True)
    with torch.no_grad():
        out = FixedPointMLP(qnet, rule="none")(torch.from_numpy(spikes))
    return res, out


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("neuron", [evsim.LIF(tau_m=10, tau_s=10), evsim.IF(reset="subtract")], ids=["lif", "if"])
def test_twin_spikes_equal_evsim_fixed_point_on_real_images(dataset, neuron):
    """Every spike of every layer, on 200 real test images, at 16, 8 and 4 weight bits: 100%."""
    x, _ = _images(dataset, 200)
    net = _random_net(neuron)
    for W, S, D, encoder in ((16, 32, 16, "ratesyn_e"), (8, 24, 12, "poisson"), (4, 20, 12, "ratesyn_s")):
        qnet = evsim.quantize(net, W, S, D)
        res, out = _twin_run(qnet, x, 20, encoder)
        assert res.hidden_spikes[0].mean() > 0.02 and res.output_spikes.mean() > 0.02, (W, encoder)  # not vacuous
        np.testing.assert_array_equal(out.spikes.numpy().astype(bool), res.output_spikes, err_msg=str(W))
        np.testing.assert_array_equal(out.hidden[0].numpy().astype(bool), res.hidden_spikes[0], err_msg=str(W))


def _saturating_net(S: int) -> Network:
    """784 -> 30 (LIF, hard reset) -> 10 (IF, reset by subtraction), integer weights in [-7, 7] by
    hand: a step brings far more than the S-bit state holds, so both signs saturate."""
    rng = np.random.default_rng(4)
    pops = [Population((30,), IntNeuron(theta=60, d_m=3, d_s=5, reset="zero")),
            Population((10,), IntNeuron(theta=25, d_m=0, d_s=16, reset="subtract"))]  # fmt: skip
    projs = [Dense(INPUT, 0, rng.integers(-6, 8, (30, 784)), exponent=0),
             Dense(0, 1, rng.integers(-7, 8, (10, 30)), exponent=0)]  # fmt: skip
    meta = {"fixed_point.state_scale.0": 1.0, "fixed_point.state_scale.1": 1.0}
    return Network((784,), pops, projs, meta, fixed_point=(4, S, 4))


def test_twin_saturates_as_evsim_does():
    """With 8 state bits the states clip at +-127 and the spikes differ from a 40-bit run; the twin
    gives evsim's saturated spikes exactly (and the unsaturated ones at 40 bits)."""
    x, _ = _images("mnist", 100)
    narrow, wide = _twin_run(_saturating_net(8), x, 30, "ratesyn_e"), _twin_run(_saturating_net(40), x, 30, "ratesyn_e")
    assert not (narrow[0].hidden_spikes[0] == wide[0].hidden_spikes[0]).all()  # saturation changes spikes
    assert narrow[0].hidden_spikes[0].mean() > 0.02 and narrow[0].output_spikes.mean() > 0.02
    for res, out in (narrow, wide):
        np.testing.assert_array_equal(out.hidden[0].numpy().astype(bool), res.hidden_spikes[0])
        np.testing.assert_array_equal(out.spikes.numpy().astype(bool), res.output_spikes)


def test_twin_refuses_what_it_cannot_compute_exactly():
    net = _random_net(evsim.LIF(10, 10))
    with pytest.raises(ValueError, match="not quantised"):
        FixedPointMLP(net)
    with pytest.raises(ValueError, match="exact float64"):
        FixedPointMLP(evsim.quantize(net, 16, 40, 20))
    twin = FixedPointMLP(evsim.quantize(net, 8))
    with pytest.raises(ValueError, match="spike inputs only"):
        twin(torch.full((5, 2, 784), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(T, B, 784\)"):
        twin(torch.zeros(5, 784))
    with pytest.raises(ValueError, match="rule"):
        FixedPointMLP(evsim.quantize(net, 8), rule="tempbp")
    with pytest.raises(ValueError, match="state_bits"):
        QATSpikingMLP(SpikingMLP([784, 20, 10], evsim.LIF(10, 10)), weight_bits=16, state_bits=16)


def _small_snn(seed: int = 0) -> SpikingMLP:
    torch.manual_seed(seed)
    return SpikingMLP([784, 64, 10], evsim.LIF(tau_m=10, tau_s=10), rule="actbp").to(torch.float64)


def test_qat_forward_is_the_exported_network_and_gradients_flow():
    """The QAT forward's spikes are evsim's on export() bit for bit, and the straight-through
    estimator gives every float weight a gradient (which a plain round would zero)."""
    x, y = _images("fashion-mnist", 64)
    qat = QATSpikingMLP(_small_snn(), weight_bits=4, state_bits=20, decay_bits=12)
    spikes = evsim.encode(x, 10, "ratesyn_e")
    out = qat(torch.from_numpy(spikes))
    res = evsim.simulate(qat.export(), spikes, record_hidden=True)
    np.testing.assert_array_equal(out.spikes.detach().numpy().astype(bool), res.output_spikes)
    np.testing.assert_array_equal(out.hidden[0].numpy().astype(bool), res.hidden_spikes[0])
    torch.nn.functional.cross_entropy(decoder_scores(out.spikes, "rate"), torch.from_numpy(y)).backward()
    for layer in qat.snn.layers:
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert 4 <= np.abs(mantissas(qat.export())[0]).max() <= 7  # 4-bit mantissas, the top bit used


def test_qat_lowers_the_loss_and_exports_the_trained_integers():
    x, y = _images("fashion-mnist", 128)
    qat = QATSpikingMLP(_small_snn(), weight_bits=4, state_bits=20, decay_bits=12)
    loss_fn = qat_loss("ratesyn_e", 10, "rate")

    def loss() -> float:
        with torch.no_grad():
            return float(loss_fn(qat, x, torch.from_numpy(y), None))

    before, exported_before = loss(), qat.export()
    fit(qat, {"kind": "qat"}, x, y, loss_fn, TrainConfig(epochs=4, lr=2e-3, batch_size=32), desc="QAT test")
    after, exported = loss(), qat.export()
    assert after < 0.9 * before, (before, after)
    assert any((a.weight != b.weight).any() for a, b in zip(exported.projections, exported_before.projections))
    # the exported network is the one the loss was computed with: same integers, same predictions
    spikes = evsim.encode(x, 10, "ratesyn_e")
    with torch.no_grad():
        scores = decoder_scores(qat(torch.from_numpy(spikes)).spikes, "rate").numpy()
    np.testing.assert_array_equal(scores, evsim.simulate(exported, spikes).scores)
    assert exported.fixed_point == (4, 20, 12)


def test_white_box_attacks_go_through_the_quantised_model():
    x, y = _images("mnist", 48)
    qnet = evsim.quantize(_random_net(evsim.LIF(10, 10)), 8)
    clf = FixedPointClassifier(qnet, "ratesyn_e", 20, "rate")
    images = torch.from_numpy(x).float().requires_grad_(True)
    torch.nn.functional.cross_entropy(clf(images), torch.from_numpy(y)).backward()
    grad = images.grad
    assert grad.abs().sum() > 0
    assert (grad[torch.from_numpy(x) == 0] == 0).all()  # RateSynE: no spike, no gradient (SPEC "Attacks")
    np.testing.assert_array_equal(clf.predict(images.detach()).numpy(),
                                  evsim.simulate(qnet, evsim.encode(x, 20, "ratesyn_e")).predictions)  # fmt: skip
    adv = run_attack(make_attack("fgsm", clf, eps=0.1), x.astype(np.float32), y, batch_size=48)
    delta = adv.numpy() - x.astype(np.float32)
    assert np.abs(delta).max() <= 0.1 + 1e-6 and np.abs(delta).max() > 0.05
    with pytest.raises(ValueError, match="spiking"):
        FixedPointClassifier(qnet, "current", 20, "rate")


needs_both = pytest.mark.skipif(
    not ((data_dir() / "mnist").is_dir() and (data_dir() / "fashion-mnist").is_dir()),
    reason="MNIST and Fashion-MNIST not in the data directory ($EVSIM_DATA)",
)


@needs_both
def test_quantization_scenario_small_run_writes_a_file_and_figures(tmp_path, monkeypatch):
    from scenarios.__main__ import main as scenarios_main
    from scenarios.plot import plot_file

    monkeypatch.setenv("EVSIM_MODELS", str(tmp_path / "models"))
    out = tmp_path / "q.h5"
    models = ["mnist_cvt_ratesyn_e_rate", "fmnist_actbp_ttfs_ttfs"]
    scenarios_main(["quantization", "--models", *models, "--bits", "8", "2", "--train-samples", "200",
                    "--test-samples", "40", "--qat-samples", "64", "--mnist-epochs", "1", "--fmnist-epochs", "1",
                    "--threads", "1", "--out", str(out)])  # fmt: skip
    with h5py.File(out, "r") as f:
        assert f.attrs["scenario"] == "quantization" and list(f.attrs["weight_bits"]) == [8, 2]
        assert f.attrs["decay_bits"] == 16 and f.attrs["git_revision"] and f.attrs["test_samples"] == 40
        for m in models:
            assert f[f"{m}/float/agreement_entries"][()] == 1.0
            assert f[f"{m}/ptq_w8/state_bits"][()] >= 24 and f[f"{m}/qat_w2/weight_bits"][()] == 2
            for v in ("float", "ptq_w8", "ptq_w2", "qat_w8", "qat_w2"):
                g = f"{m}/{v}"
                assert 0 <= f[f"{g}/accuracy_clean"][()] <= 1 and f[f"{g}/accuracy_sweep"].shape == (5,)
                assert f[f"{g}/accuracy_sweep_per_attacker"].shape == (5, 5)
                assert f[f"{g}/taacc_attacked"].shape == f[f"{g}/taacc_clean"].shape
            # B_W: the weight reads of the 8-bit network cost a quarter of the 32-bit ones
            assert f[f"{m}/ptq_w8/read_pj"][()] == pytest.approx(f[f"{m}/ptq_w8/read_pj_32bit"][()] / 4)
            assert f[f"{m}/float/read_pj"][()] == f[f"{m}/float/read_pj_32bit"][()]
    pngs = plot_file(out)
    assert len(pngs) >= 3 and all(p.exists() and p.stat().st_size > 0 for p in pngs)


# ---------------------------------------------------------------- the one loop, bit for bit


def _old_fixed_point_forward(x, weights, biases, layers, state_bits, decay_bits, rule, rho):
    """fixed_point_forward's loop before issue 19 (its own step loop, not bridges.neuron's)."""
    from bridges.snn import SigmoidSurrogateSpike

    s_max, scale = float(2 ** (state_bits - 1) - 1), float(2**decay_bits)
    s_in, hidden = x, []
    for i, (w, b, layer) in enumerate(zip(weights, biases, layers)):
        drive = s_in @ w.T
        current, membrane, spikes = torch.zeros_like(drive[0]), torch.zeros_like(drive[0]), []
        for k in range(drive.shape[0]):
            current = torch.clamp(_trunc(current * layer.keep_s / scale) + drive[k], -s_max, s_max)
            membrane = _trunc(membrane * layer.keep_m / scale) + current
            if b is not None:
                membrane = membrane + b
            membrane = torch.clamp(membrane, -s_max, s_max)
            if rule == "actbp":
                s = SigmoidSurrogateSpike.apply((membrane - layer.theta) / layer.unit, rho)
            else:
                s = (membrane >= layer.theta).to(membrane.dtype)
            membrane = membrane * (1 - s) if layer.reset_to_zero else membrane - layer.theta * s
            spikes.append(s)
        s_in = torch.stack(spikes)
        if i < len(layers) - 1:
            hidden.append(s_in.detach())
    return s_in, hidden


def _trunc(x):
    return x + (torch.trunc(x) - x).detach()


@pytest.mark.parametrize("neuron", [evsim.LIF(4, 3), evsim.LIF(4, 3, reset="subtract"), evsim.IF()], ids=repr)
@pytest.mark.parametrize("rule", ["actbp", "none"])
def test_twin_equals_its_old_loop_forward_and_gradients(neuron, rule):
    """The fixed-point step run by bridges.neuron.run_over_time gives the old loop's spikes and
    gradients (of the input spikes, integer weights and biases) bit for bit."""
    from bridges.quantized import _populations, fixed_point_forward

    torch.manual_seed(2)
    snn = SpikingMLP([30, 12, 4], neuron, bias=True)
    with torch.no_grad():
        snn.layers[0].weight.mul_(3.0)
        snn.layers[0].bias.uniform_(-0.2, 0.4)
    qat = QATSpikingMLP(snn, weight_bits=6, state_bits=14, decay_bits=8)
    qnet = qat.export()
    layers = _populations(qnet)
    x = torch.from_numpy(evsim.encode(np.random.default_rng(4).random((7, 30)), 12, "ratesyn_e")).double()
    results = []
    for forward in (fixed_point_forward, _old_fixed_point_forward):
        xg = x.clone().requires_grad_()
        weights = [torch.tensor(p.weight, dtype=torch.float64, requires_grad=True) for p in qnet.projections]
        biases = [torch.tensor(p.bias, dtype=torch.float64, requires_grad=True) for p in qnet.populations]
        out = forward(xg, weights, biases, layers, 14, 8, rule, 5.0)
        spikes, hidden = (out.spikes, out.hidden) if hasattr(out, "spikes") else out
        grads = []
        if rule == "actbp":
            (spikes * torch.arange(1.0, 5.0, dtype=torch.float64)).sum().backward()
            grads = [t.grad for t in (xg, *weights, *biases)]
        results.append([spikes.detach(), *hidden, *grads])
    new, old = results
    assert len(new) == len(old) and all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(new, old))
    assert 0.02 < float(new[0].mean()) < 0.98 and (rule == "none" or all(g.abs().sum() > 0 for g in new[2:]))


# ------------------------------------------------- conv, pool and residual networks: the twin


def _same_spikes(out, res: evsim.SimulationResult) -> None:
    """The twin's spikes (values 0.0/1.0, every population) are evsim's, bit for bit."""
    T, B = res.output_spikes.shape[:2]
    assert len(out.hidden) == len(res.hidden_spikes)
    for p, (got, want) in enumerate(zip(out.hidden, res.hidden_spikes)):
        np.testing.assert_array_equal(got.reshape(T, B, -1).numpy(), want.astype(np.float64), err_msg=f"population {p}")
    np.testing.assert_array_equal(out.spikes.detach().numpy(), res.output_spikes.astype(np.float64), err_msg="output")


def _compare(qnet: Network, spikes: np.ndarray, rule: str = "none") -> evsim.SimulationResult:
    res = evsim.simulate(qnet, spikes, record_hidden=True)
    with torch.no_grad():
        _same_spikes(FixedPointNetwork(qnet, rule=rule)(torch.from_numpy(spikes)), res)
    return res


@settings(max_examples=examples(150), deadline=None)
@given(data=st.data(), net=st.one_of(deep_networks(neuron_kinds=spec_neurons), networks(neuron_kinds=spec_neurons)))
def test_twin_equals_evsim_on_random_quantised_graphs(data, net):
    """Conv (kernels 1-5, strides, padding), pool and residual stages (identity or 1x1-conv
    shortcuts summed into one population) with a dense readout, and dense graphs with skips,
    quantised at 3-8 weight bits: every spike of every population equals evsim's, both rules."""
    qnet = _smallest_state_bits(net, data.draw(st.sampled_from([3, 4, 8])), data.draw(st.sampled_from([4, 12])))
    assume(qnet is not None)
    _compare(qnet, data.draw(spike_batches(qnet.n_in, max_T=12, max_B=3)), data.draw(st.sampled_from(["none", "actbp"])))


def _spec_arithmetic(net: Network) -> Network:
    """net with every population's neuron reduced to SPEC's arithmetic (theta, decays, reset kept;
    a bit-shift's shifts read as numerators, capped at 2**D), and a unit state scale recorded."""
    D = net.fixed_point[2]
    pops = [Population(p.shape, IntNeuron(p.neuron.theta, min(p.neuron.d_m, 2**D), min(p.neuron.d_s, 2**D),
                                          p.neuron.reset), p.bias) for p in net.populations]  # fmt: skip
    meta = {f"fixed_point.state_scale.{p}": 1.0 for p in range(len(pops))}
    return Network(net.input_shape, pops, net.projections, meta, fixed_point=net.fixed_point)


@settings(max_examples=examples(150), deadline=None)
@given(data=st.data(), net=st.one_of(deep_networks(neuron_kinds=spec_neurons), networks(neuron_kinds=spec_neurons)))
def test_twin_equals_evsim_on_raw_integer_graphs_that_saturate(data, net):
    """Random integer parameters (full mantissas, any exponents, thresholds and decays: sums often
    pass the state range, so I and U saturate): evsim's spikes; the chip variants that the raw
    networks also draw (strict test, wrap, delay, bit-shift, v_min) are refused, not mis-computed."""
    raw = data.draw(raw_fixed(net))
    spec = _spec_arithmetic(raw)
    if any(a.neuron != b.neuron for a, b in zip(raw.populations, spec.populations)):
        with pytest.raises(ValueError, match="SPEC's fixed-point arithmetic only"):
            FixedPointNetwork(Network(raw.input_shape, raw.populations, raw.projections, spec.metadata,
                                      fixed_point=raw.fixed_point))  # fmt: skip
    _compare(spec, data.draw(spike_batches(spec.n_in, max_T=12, max_B=3)))


def _active_resnet(neuron=evsim.LIF(2, 2), n_classes: int = 3, seed: int = 0) -> SpikingResNet:
    """A width-2 SpikingResNet18 on 1-channel 32 x 32 images (17 hidden populations, 17,411
    neurons in all) whose BatchNorm gains keep every population firing at random initialisation."""
    torch.manual_seed(seed)
    model = SpikingResNet(width=2, in_channels=1, n_classes=n_classes, neuron=neuron).double().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, SpikingConv):
                m.bn.weight.uniform_(1.0, 3.0)
                m.bn.bias.uniform_(-0.2, 0.4)
        model.fc.weight.mul_(4.0)
    return model


def _dark_images(n: int, seed: int = 0) -> np.ndarray:
    """(n, 1024) in [0, 1] with dark backgrounds, as 32 x 32 images."""
    x = np.random.default_rng(seed).random((n, 1024))
    x[x < 0.3] = 0.0
    return x


@pytest.mark.parametrize("neuron, bits", [(evsim.LIF(2, 2), (8, 24, 12)), (evsim.LIF(2, 2), (4, 20, 12)),
                                          (evsim.IF(reset="subtract"), (6, 24, 8))], ids=["lif-w8", "lif-w4", "if-w6"])  # fmt: skip
def test_twin_equals_evsim_on_a_quantised_spiking_resnet(neuron, bits):
    """bridges.export.to_evsim of a SpikingResNet (stem, 8 residual blocks with identity and 1x1
    stride-2 shortcuts, pooled classifier), quantised: all 18 populations' spikes equal evsim's."""
    qnet = to_evsim(_active_resnet(neuron), fixed_point=bits)
    assert {p.kind for p in qnet.projections} == {"conv2d", "identity", "dense"}
    res = _compare(qnet, evsim.encode(_dark_images(4), 8, "ratesyn_e", seed=1), rule="actbp")
    assert min(h.mean() for h in res.hidden_spikes) > 0.005 and res.output_spikes.mean() > 0.02  # not vacuous


# ------------------------------------------------------------- QAT and attacks of a conv SNN


def _stripes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A tiny 2-class task on (n, 1, 32, 32) float32 images: a bright left or right half, noisy."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.random((n, 1, 32, 32)) * 0.4
    for i, label in enumerate(y):
        x[i, 0, :, 16 * label : 16 * label + 16] += 0.6
    return np.clip(x, 0.0, 1.0).astype(np.float32), y.astype(np.int64)


def test_qat_of_a_spiking_resnet_lowers_the_loss_and_exports_what_it_ran():
    """QAT of a conv SNN: a few Adam steps on 16 images lower the loss; the gradient reaches the
    conv weights, BatchNorm's gamma and beta and the classifier (straight through the rounding);
    and export() is the network the forward pass ran (the spikes of every population equal evsim's)."""
    x, y = _stripes(16)
    snn = _active_resnet(n_classes=2)
    qat = QATSpikingNetwork(snn, weight_bits=6, state_bits=24, decay_bits=12)
    loss_fn = qat_loss("ratesyn_e", 6, "rate")
    rng = np.random.default_rng(0)

    def loss() -> torch.Tensor:
        return loss_fn(qat, x, torch.from_numpy(y), None)

    first = loss()
    first.backward()
    block = snn.blocks[2]  # a stride-2 block: its shortcut is a 1x1 conv + BN
    for t in (snn.stem.conv.weight, snn.stem.bn.weight, snn.stem.bn.bias, block.shortcut.conv.weight, snn.fc.weight):
        assert t.grad is not None and t.grad.abs().sum() > 0
    exported_before = qat.export()
    opt = torch.optim.Adam(qat.parameters(), lr=0.02)
    for _ in range(6):
        opt.zero_grad()
        loss().backward()
        opt.step()
    with torch.no_grad():
        after = float(loss())
    assert after < 0.9 * float(first.detach()), (float(first.detach()), after)  # measured: 0.693 -> 0.46
    exported = qat.export()
    assert any((a.weight != b.weight).any() for a, b in zip(exported.projections, exported_before.projections)
               if isinstance(a, Conv2d))  # fmt: skip
    spikes = evsim.encode(x.reshape(16, -1), 6, "ratesyn_e", seed=rng)
    with torch.no_grad():
        out = qat(torch.from_numpy(spikes))
    res = evsim.simulate(exported, spikes, record_hidden=True)
    _same_spikes(out, res)
    np.testing.assert_array_equal(decoder_scores(out.spikes, "rate").numpy(), res.scores)


def test_white_box_attacks_go_through_a_quantised_spiking_resnet():
    x, y = _stripes(8, seed=1)
    qnet = to_evsim(_active_resnet(n_classes=2), fixed_point=(8, 24, 12))
    clf = FixedPointClassifier(qnet, "ratesyn_e", 6, "rate")
    images = torch.from_numpy(x).requires_grad_(True)
    torch.nn.functional.cross_entropy(clf(images), torch.from_numpy(y)).backward()
    assert images.grad.abs().sum() > 0 and images.grad.shape == images.shape
    np.testing.assert_array_equal(clf.predict(images.detach()).numpy(),
                                  evsim.simulate(qnet, evsim.encode(x.reshape(8, -1), 6, "ratesyn_e")).predictions)  # fmt: skip
    adv = run_attack(make_attack("fgsm", clf, eps=0.1), x, y, batch_size=8)
    delta = adv.numpy() - x
    assert np.abs(delta).max() <= 0.1 + 1e-6 and np.abs(delta).max() > 0.05
    qat = QATSpikingNetwork(_active_resnet(n_classes=2), weight_bits=8)
    assert FixedPointClassifier(qat, "ratesyn_e", 6, "rate")(images.detach()).shape == (8, 2)


def test_conv_twin_refuses_what_it_cannot_compute_and_says_why():
    qnet = to_evsim(_active_resnet(), fixed_point=(8, 24, 12))
    twin = FixedPointNetwork(qnet)
    with pytest.raises(ValueError, match=r"\(T, B, 1024\) or \(T, B, 1, 32, 32\)"):
        twin(torch.zeros(4, 2, 3, 32, 32, dtype=torch.float64))
    assert twin(torch.zeros(4, 2, 1, 32, 32, dtype=torch.float64)).spikes.shape == (4, 2, 3)
    # chip arithmetic (evsim.hardware's variants of IntNeuron): each field named
    for field, value in (("threshold_test", ">"), ("current_overflow", "wrap"), ("input_delay", 1),
                         ("decay", "bitshift"), ("v_min", 0)):  # fmt: skip
        nrn = qnet.populations[3].neuron
        variant = IntNeuron(nrn.theta, min(nrn.d_m, 17), min(nrn.d_s, 17), nrn.reset, **{field: value})
        pops = list(qnet.populations)
        pops[3] = Population(pops[3].shape, variant, pops[3].bias)
        chip = Network(qnet.input_shape, pops, qnet.projections, qnet.metadata, fixed_point=qnet.fixed_point)
        with pytest.raises(ValueError, match=f"population 3 has {field}=.*SPEC's fixed-point arithmetic only"):
            FixedPointNetwork(chip)
    # a quantiser never makes weights this large, but a hand-built network may: float64 would round the sums
    huge = Network((784,), [Population((2,), IntNeuron(theta=1, d_m=0, d_s=16))],
                   [Dense(INPUT, 0, np.full((2, 784), 1 << 45), exponent=45)], {"fixed_point.state_scale.0": 1.0},
                   fixed_point=(2, 8, 4))  # fmt: skip
    with pytest.raises(ValueError, match="2\\*\\*53"):
        FixedPointNetwork(huge)
    with pytest.raises(ValueError, match="SpikingMLP or bridges.resnet.SpikingResNet"):
        QATSpikingNetwork(torch.nn.Linear(3, 2))
    assert FixedPointMLP is FixedPointNetwork and QATSpikingMLP is QATSpikingNetwork  # the old names, kept
