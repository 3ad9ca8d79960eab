"""Torch SNN layers: forward identical to evsim, Act-BP surrogate gradients, export both ways."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import evsim
from bridges.export import from_evsim, to_evsim
from bridges.snn import SigmoidSurrogateSpike, SpikingMLP, decoder_scores, differentiable_spikes, spiking_layer

neurons = st.one_of(
    st.builds(evsim.IF, theta=st.sampled_from([0.5, 1.0])),
    st.builds(evsim.LIF, tau_m=st.floats(1.0, 20.0), tau_s=st.floats(1.0, 20.0), theta=st.sampled_from([0.5, 1.0])),
)


def _random_mlp(sizes, neuron, seed, bias=False, dtype=torch.float64) -> SpikingMLP:
    torch.manual_seed(seed)
    model = SpikingMLP(sizes, neuron, rule="actbp", bias=bias).to(dtype)
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.normal_(0.3 / math.sqrt(layer.in_features), 1.5 / math.sqrt(layer.in_features))
    return model


@settings(max_examples=60, deadline=None)
@given(
    neuron=neurons,
    seed=st.integers(0, 10_000),
    sizes=st.lists(st.integers(1, 12), min_size=2, max_size=4),
    T=st.integers(1, 15),
    method=st.sampled_from(evsim.ENCODERS),
    bias=st.booleans(),
)
def test_torch_forward_equals_evsim_float64(neuron, seed, sizes, T, method, bias):
    """Every layer's spikes of the torch forward pass equal evsim's, bit for bit, in float64."""
    model = _random_mlp(sizes, neuron, seed, bias)
    x = evsim.encode(np.random.default_rng(seed).random((4, sizes[0])), T, method, seed=seed)
    with torch.no_grad():
        out = model(torch.from_numpy(x).double())
    res = evsim.simulate(to_evsim(model), x, dtype=np.float64, record_hidden=True)
    np.testing.assert_array_equal(out.spikes.numpy().astype(bool), res.output_spikes)
    assert len(out.hidden) == len(res.hidden_spikes) == len(sizes) - 2
    for h_torch, h_evsim in zip(out.hidden, res.hidden_spikes):
        np.testing.assert_array_equal(h_torch.numpy().astype(bool), h_evsim)


def test_surrogate_gradient_values():
    """d Heaviside / dx is replaced by rho sigmoid(rho x)(1 - sigmoid(rho x)), rho = 5."""
    x = torch.tensor([0.0, 0.4, -0.4, 3.0], dtype=torch.float64, requires_grad=True)
    s = SigmoidSurrogateSpike.apply(x, 5.0)
    assert s.tolist() == [1.0, 1.0, 0.0, 1.0]  # x >= 0 spikes, including x = 0
    s.sum().backward()
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected = [5 * sig(5 * v) * (1 - sig(5 * v)) for v in (0.0, 0.4, -0.4, 3.0)]
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
    assert x.grad[0].item() == pytest.approx(1.25)


def test_actbp_backpropagates_through_the_reset():
    """One LIF neuron (tau_m = tau_s = 2, theta = 1), I = [1.2, 0.7], loss = s0 + s1.

    u0 = 1.2 spikes (s0 = 1) and is reset: u0' = u0 (1 - s0); u1 = u0'/2 + 0.7 = 0.7, no spike.
    dL/dI0 = g(0.2) + g(-0.3) * 1/2 * du0'/dI0 with du0'/dI0 = (1 - s0) - u0 g(0.2) = -1.2 g(0.2),
    where g is the surrogate; a detached reset would drop the second term.
    """
    current = torch.tensor([[1.2], [0.7]], dtype=torch.float64, requires_grad=True)
    _, s = spiking_layer(current, evsim.LIF(tau_m=2, tau_s=2), rule="actbp")
    assert s[:, 0].tolist() == [1.0, 0.0]
    s.sum().backward()
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    g = lambda v: 5 * sig(5 * v) * (1 - sig(5 * v))  # noqa: E731
    assert current.grad[0, 0].item() == pytest.approx(g(0.2) + g(-0.3) * 0.5 * (-1.2 * g(0.2)), rel=1e-12)
    assert current.grad[1, 0].item() == pytest.approx(g(-0.3), rel=1e-12)


def test_if_layer_resets_by_subtraction_and_has_no_trace():
    current = torch.tensor([[0.625]] * 8, dtype=torch.float64)
    a, s = spiking_layer(current, evsim.IF(), rule="none")
    assert np.flatnonzero(s[:, 0].numpy()).tolist() == [1, 3, 4, 6, 7]
    assert torch.equal(a, s)


def test_ttfs_scores_reward_the_first_spike():
    spikes = torch.zeros(5, 1, 3, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        spikes[1, 0, 0] = 1
        spikes[3, 0, 0] = 1
        spikes[2, 0, 2] = 1
    omega = decoder_scores(spikes, "ttfs")
    assert omega.tolist() == [[4.0, 0.0, 3.0]]
    omega[0, 0].backward()
    assert spikes.grad[:, 0, 0].tolist() == [0.0, 4.0, 0.0, 0.0, 0.0]  # only the first spike counts
    assert decoder_scores(spikes, "rate").tolist() == [[2.0, 0.0, 1.0]]
    with pytest.raises(ValueError, match="unknown decoder"):
        decoder_scores(spikes, "latency")


def test_tempbp_spikes_keep_their_value_and_reach_the_trace():
    """Temp-BP's output spikes are s exactly; their gradient is that of s[k] = (a[k] - d_s a[k-1]) / gain."""
    neuron = evsim.LIF(tau_m=4, tau_s=4)
    s = torch.tensor([[1.0], [0.0], [1.0]], dtype=torch.float64)
    a_values = [0.25, 0.1875, 0.390625]  # a[k] = 0.75 a[k-1] + 0.25 s[k]
    a = torch.tensor([[v] for v in a_values], dtype=torch.float64, requires_grad=True)
    out = differentiable_spikes(a, s, neuron, "tempbp")
    assert torch.equal(out, s)
    out[1, 0].backward()  # s[1] = 4 (a[1] - 0.75 a[0])
    assert a.grad[:, 0].tolist() == [-3.0, 4.0, 0.0]
    assert differentiable_spikes(a, s, neuron, "actbp") is s


def test_from_evsim_round_trip():
    rng = np.random.default_rng(0)
    net = evsim.Network.dense([rng.normal(size=(5, 4)), rng.normal(size=(3, 5))], [rng.normal(size=5), None], evsim.LIF(5, 3))
    model = from_evsim(net, dtype=torch.float64)
    back = to_evsim(model)
    for p, q in zip(net.projections, back.projections):
        np.testing.assert_array_equal(p.weight, q.weight)
    np.testing.assert_array_equal(back.populations[0].bias, net.populations[0].bias)
    np.testing.assert_array_equal(back.populations[1].bias, np.zeros(3))
    assert back.populations[0].neuron == net.populations[0].neuron
    skip = evsim.Network(
        (4,),
        [evsim.Population((3,), evsim.IF())],
        [evsim.Dense(-1, 0, np.ones((3, 4))), evsim.Dense(-1, 0, np.ones((3, 4)))],
    )
    with pytest.raises(ValueError, match="plain chain"):
        from_evsim(skip)


def test_ttfs_score_gradient_reaches_every_step_of_a_silent_output():
    """omega = max_k (T-k) s[k]: a spiking output's gradient goes to its first spike only; a silent
    output's T tied zeros share it equally, (T-k)/T at step k (a valid subgradient of the max).
    With the gradient on one step (torch's max) a silent output learns only at step 0, where its
    membrane has seen no input yet, and TTFS-decoded training stalls with half the outputs silent."""
    T = 4
    spikes = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 0.0]]).view(T, 1, 2).requires_grad_(True)
    decoder_scores(spikes, "ttfs").sum().backward()
    assert spikes.grad[:, 0, 0].tolist() == [0.0, 3.0, 0.0, 0.0]
    assert spikes.grad[:, 0, 1].tolist() == [1.0, 0.75, 0.5, 0.25]


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: SpikingMLP([784], evsim.IF()), "sizes"),
        (lambda: SpikingMLP([4, 2], evsim.IF(), rule="stdp"), "unknown training rule"),
        (lambda: SpikingMLP([4, 2], evsim.IF(), rule="tempbp"), "Temp-BP needs"),
        (lambda: SpikingMLP([4, 2], "lif"), "evsim.IF or evsim.LIF"),
        (lambda: SpikingMLP([4, 2], evsim.IF())(torch.zeros(3, 2, 5)), r"shape \(T, B, 4\)"),
        (lambda: to_evsim(torch.nn.Linear(2, 2)), "SpikingMLP"),
    ],
)
def test_invalid_use_raises(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    "neuron", [evsim.LIF(tau_m=2, tau_s=2), evsim.LIF(tau_m=5, tau_s=3, theta=0.7), evsim.LIF(3, 4, reset="subtract"), evsim.IF()]
)
def test_fused_actbp_population_equals_autograd_bptt(neuron):
    """`ActBPPopulation` (one autograd node, hand-written reverse-time BPTT) gives the forward
    of the step-by-step autograd layer bit for bit and its gradients to rounding (float64), for
    losses on both the trace and the spikes, on conv-shaped currents (T, B, C, H, W)."""
    from bridges.snn import ActBPPopulation, actbp_layer_reference
    from bridges.neuron import neuron_parameters as constants

    gen = torch.Generator().manual_seed(3)
    current = (0.9 * torch.randn(8, 3, 2, 5, 5, generator=gen, dtype=torch.float64) + 0.4).requires_grad_()
    w_a, w_s = torch.randn(2, *current.shape, generator=gen, dtype=torch.float64)
    a_ref, s_ref = actbp_layer_reference(current, neuron)
    a, s = ActBPPopulation.apply(current, constants(neuron), 5.0)
    assert torch.equal(a, a_ref) and torch.equal(s, s_ref) and 0.05 < s.mean() < 0.95
    g_ref = torch.autograd.grad((a_ref * w_a).sum() + (s_ref * w_s).sum(), current, retain_graph=True)[0]
    g = torch.autograd.grad((a * w_a).sum() + (s * w_s).sum(), current)[0]
    assert g.abs().max() > 0.1
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)
    # only the trace used (as by the next layer): the spike gradient arrives as zeros
    g_ref = torch.autograd.grad((a_ref * w_a).sum(), current)[0]
    a = ActBPPopulation.apply(current, constants(neuron), 5.0)[0]
    torch.testing.assert_close(torch.autograd.grad((a * w_a).sum(), current)[0], g_ref, rtol=1e-10, atol=1e-12)
