"""The fused neuron kernels against the torch loops they replace: the same bits, forward and backward.

References: `bridges.neuron.run_population` / `bridges.snn.ActBPPopulation` (forward and hand-written BPTT),
`actbp_layer_reference` (step-by-step autograd), `bridges.tempbp.TempBPNeuron` (Temp-BP).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evsim
from bridges.neuron import neuron_parameters as constants
from bridges.neuron import run_population
from bridges.neuron_kernels import (
    FusedActBP,
    FusedTempBP,
    actbp_backward,
    disabled,
    enabled,
    population_forward,
    supports,
    tempbp_backward,
    use_kernels,
)
from bridges.resnet import SpikingResNet
from bridges.snn import ActBPPopulation, SpikingMLP, actbp_layer_reference, decoder_scores, spiking_layer
from bridges.tempbp import TempBPNeuron

from conftest import spec_neurons as neurons  # the torch neuron runs SPEC's >= only

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from([torch.float32, torch.float64])


@st.composite
def currents(draw, max_T: int = 12) -> torch.Tensor:
    """A random input current (T, B, ...) (dense or conv-shaped), centred near the threshold so
    that neurons both fire and stay silent, with a few exact zeros and ties at theta = 1."""
    T = draw(st.integers(1, max_T))
    if draw(st.booleans()):
        shape = (draw(st.integers(1, 6)), draw(st.integers(1, 40)))  # (B, N)
    else:
        shape = tuple(draw(st.integers(1, 4)) for _ in range(4))  # (B, C, H, W)
    dtype = draw(DTYPES)
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    current = draw(st.sampled_from([0.5, 0.9, 1.5])) * torch.randn(T, *shape, generator=gen, dtype=dtype) + 0.4
    current[torch.rand(current.shape, generator=gen) < 0.05] = 0.0
    current[torch.rand(current.shape, generator=gen) < 0.05] = 1.0
    return relaid(current, draw(st.permutations(range(1, current.ndim))))


def relaid(current: torch.Tensor, axes) -> torch.Tensor:
    """The same values laid out in memory with time outermost and then `axes` (e.g. channels
    last): a dense tensor that is not contiguous unless axes are in order."""
    order = (0, *axes)
    inverse = sorted(range(len(order)), key=order.__getitem__)
    return current.permute(order).contiguous().permute(inverse)


def channels_last(T: int, B: int, C: int, H: int, W: int, dtype=torch.float32, seed: int = 0) -> torch.Tensor:
    """A current laid out as the ResNet's: a channels-last conv output (T*B, C, H, W) viewed as (T, B, C, H, W)."""
    gen = torch.Generator().manual_seed(seed)
    x = (0.8 * torch.randn(T * B, C, H, W, generator=gen, dtype=dtype) + 0.4).contiguous(memory_format=torch.channels_last)
    return x.view(T, B, C, H, W)


def _grads(current: torch.Tensor, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, *current.shape, generator=gen, dtype=current.dtype)


class _Probe(torch.autograd.Function):
    """Identity that keeps the gradient it is handed, as the node upstream of a layer sees it
    (a leaf's .grad would not do: AccumulateGrad restrides it to the leaf's layout)."""

    seen: list = []

    @staticmethod
    def forward(ctx, x):
        return x.clone()  # preserve_format: x's layout

    @staticmethod
    def backward(ctx, grad):
        _Probe.seen.append(grad)
        return grad


def _backward(layer, current, grad_a, grad_s=None):
    """(a, s, dL/dI) of `layer` on a copy of current; dL/dI as the layer returns it (its strides too)."""
    x = current.detach().clone().requires_grad_()  # clone keeps the layout (preserve_format)
    assert x.stride() == current.stride()
    a, s = layer(_Probe.apply(x))
    outputs, grads = ((a, s), (grad_a, grad_s)) if grad_s is not None else ((a,), (grad_a,))
    _Probe.seen.clear()
    torch.autograd.backward(outputs, grads)
    (grad,) = _Probe.seen
    assert torch.equal(grad, x.grad)
    return a.detach(), s.detach(), grad


@FAST
@given(current=currents(), neuron=neurons)
def test_forward_equals_run_population_bit_for_bit(current, neuron):
    """Traces, spikes and membranes before reset: torch.equal to the torch loop, float32 and float64."""
    c = constants(neuron)
    a_ref, s_ref, u_ref = run_population(current, c, record_membrane=True)
    a, s, u, du = population_forward(current, c, keep_membrane=True)
    assert torch.equal(a, a_ref) and torch.equal(s, s_ref) and torch.equal(u, u_ref)
    assert du is None and a.dtype == s.dtype == current.dtype and a.shape == current.shape
    assert a.stride() == s.stride() == u.stride() == a_ref.stride() == current.stride()
    a, s, u, _ = population_forward(current, c)
    assert u is None and torch.equal(a, a_ref) and torch.equal(s, s_ref)


@FAST
@given(current=currents(), neuron=neurons, rho=st.sampled_from([1.0, 5.0]), spike_loss=st.booleans())
def test_actbp_equals_actbp_population_bit_for_bit(current, neuron, rho, spike_loss):
    """FusedActBP gives ActBPPopulation's outputs and input gradient to the bit (float32 and
    float64), for IF and LIF, both resets, with losses on the trace alone or on trace and spikes."""
    c = constants(neuron)
    g_a, g_s = _grads(current)
    g_s = g_s if spike_loss else None
    a_ref, s_ref, grad_ref = _backward(lambda x: ActBPPopulation.apply(x, c, rho), current, g_a, g_s)
    a, s, grad = _backward(lambda x: FusedActBP.apply(x, c, rho), current, g_a, g_s)
    assert torch.equal(a, a_ref) and torch.equal(s, s_ref)
    assert torch.equal(grad, grad_ref)
    assert a.stride() == s.stride() == a_ref.stride() == current.stride() and grad.stride() == grad_ref.stride()


@pytest.mark.parametrize(
    "neuron",
    [evsim.LIF(tau_m=2, tau_s=2), evsim.LIF(tau_m=5, tau_s=3, theta=0.7), evsim.LIF(3, 4, reset="subtract"),
     evsim.IF(), evsim.IF(reset="zero")],
)
@pytest.mark.parametrize("T", [1, 2, 11])
def test_actbp_gradient_equals_autograd_bptt(neuron, T):
    """The gradient of the step-by-step autograd layer (float64) within 1e-10, and its forward exactly."""
    gen = torch.Generator().manual_seed(T)
    current = 0.9 * torch.randn(T, 3, 2, 4, 5, generator=gen, dtype=torch.float64) + 0.4
    g_a, g_s = _grads(current, seed=T)
    a_ref, s_ref, grad_ref = _backward(lambda x: actbp_layer_reference(x, neuron), current, g_a, g_s)
    a, s, grad = _backward(lambda x: FusedActBP.apply(x, constants(neuron), 5.0), current, g_a, g_s)
    assert torch.equal(a, a_ref) and torch.equal(s, s_ref) and 0.05 < s.mean() < 0.95
    assert grad.abs().max() > 0.1
    torch.testing.assert_close(grad, grad_ref, rtol=0, atol=1e-10)


@FAST
@given(
    current=currents(),
    tau_m=st.floats(1.0, 20.0),
    tau_s=st.floats(1.0, 20.0),
    theta=st.sampled_from([0.5, 1.0, 1.7]),
)
def test_tempbp_equals_tempbp_neuron_bit_for_bit(current, tau_m, tau_s, theta):
    """FusedTempBP gives TempBPNeuron's trace, spikes and Temp-BP gradient to the bit."""
    g_a, _ = _grads(current)
    a_ref, s_ref, grad_ref = _backward(lambda x: TempBPNeuron.apply(x, tau_m, tau_s, theta), current, g_a)
    a, s, grad = _backward(lambda x: FusedTempBP.apply(x, tau_m, tau_s, theta), current, g_a)
    assert torch.equal(a, a_ref) and torch.equal(s, s_ref)
    assert torch.equal(grad, grad_ref)
    assert a.stride() == s.stride() == a_ref.stride() == current.stride() and grad.stride() == grad_ref.stride()


def test_tempbp_gradient_uses_every_branch_and_matches_in_float64():
    """A case where spikes, the intra-neuron carry and the low-trace fallback all shape the
    gradient: equal within 1e-10 (and to the bit) in float64, spikes not differentiable."""
    gen = torch.Generator().manual_seed(5)
    current = 0.8 * torch.randn(12, 4, 50, generator=gen, dtype=torch.float64) + 0.45
    g_a, _ = _grads(current, seed=5)
    a_ref, _, grad_ref = _backward(lambda x: TempBPNeuron.apply(x, 4.0, 3.0, 1.0), current, g_a)
    a, s, grad = _backward(lambda x: FusedTempBP.apply(x, 4.0, 3.0, 1.0), current, g_a)
    low = a < 1.0 / 12.0
    assert 0.1 < low.double().mean() < 0.9 and 0.05 < s.mean() < 0.5
    torch.testing.assert_close(grad, grad_ref, rtol=0, atol=1e-10)
    assert torch.equal(grad, grad_ref)
    assert not FusedTempBP.apply(current.clone().requires_grad_(), 4.0, 3.0, 1.0)[1].requires_grad


def test_kernel_functions_match_the_autograd_nodes():
    """The loop-shaped functions (no autograd) give what the nodes give: the interface the time loop calls."""
    gen = torch.Generator().manual_seed(2)
    current = torch.randn(6, 3, 17, generator=gen) + 0.5
    g_a, g_s = _grads(current)
    c = constants(evsim.LIF(tau_m=3, tau_s=2))
    _, _, u_pre, _ = population_forward(current, c, keep_membrane=True)
    assert torch.equal(actbp_backward(g_a, g_s, u_pre, c, 5.0), _backward(lambda x: ActBPPopulation.apply(x, c, 5.0), current, g_a, g_s)[2])
    # Temp-BP's LIF: the constants as TempBPNeuron computes them from (tau_m, tau_s, theta)
    a, s, u_pre, du = population_forward(current, c, keep_membrane=True, keep_change=True)
    grad = tempbp_backward(g_a, u_pre, du, s, a, 3.0, 2.0, 1.0)
    assert torch.equal(grad, _backward(lambda x: TempBPNeuron.apply(x, 3.0, 2.0, 1.0), current, g_a)[2])


def test_expanded_and_missing_gradients():
    """Autograd hands expanded (non-contiguous) gradients for a plain sum and zeros for an unused
    output; both give the torch path's gradient."""
    current = torch.randn(5, 2, 9, dtype=torch.float64) + 0.5
    c = constants(evsim.LIF(tau_m=2, tau_s=2))

    def grad_of_sum(node):
        x = current.clone().requires_grad_()
        node(x)[0].sum().backward()  # the spikes unused: their gradient arrives as zeros
        assert x.grad.abs().max() > 0.1
        return x.grad

    assert torch.equal(grad_of_sum(lambda x: FusedActBP.apply(x, c, 5.0)),
                       grad_of_sum(lambda x: ActBPPopulation.apply(x, c, 5.0)))
    assert torch.equal(grad_of_sum(lambda x: FusedTempBP.apply(x, 2.0, 2.0, 1.0)),
                       grad_of_sum(lambda x: TempBPNeuron.apply(x, 2.0, 2.0, 1.0)))


def test_float32_membrane_is_rounded_per_operation_not_fused():
    """U = U * decay_m + I rounds the product before the add (no FMA): the float32 membrane is
    NumPy's two-rounding result, and on these inputs a fused multiply-add would differ."""
    rng = np.random.default_rng(0)
    current = rng.normal(0.0, 0.3, (2, 4096)).astype(np.float32)
    c = constants(evsim.LIF(tau_m=3, tau_s=2, theta=100.0))  # no spikes: U[1] = U[0] * decay_m + I[1]
    _, _, u_pre, _ = population_forward(torch.from_numpy(current), c, keep_membrane=True)
    d = np.float32(c.decay_m)
    two_roundings = current[0] * d + current[1]
    fused = (current[0].astype(np.float64) * np.float64(d) + current[1]).astype(np.float32)  # FMA-like
    np.testing.assert_array_equal(u_pre[1].numpy(), two_roundings)
    assert (fused != two_roundings).any()


def test_supports():
    assert supports(torch.zeros(2, 3)) and supports(torch.zeros(2, 3, dtype=torch.float64))
    assert supports(channels_last(2, 3, 4, 5, 5)) and supports(torch.zeros(1, 1, 3)) and supports(torch.zeros(3, 0))
    assert not supports(torch.zeros(2, 3, dtype=torch.float16)) and not supports(np.zeros((2, 3)))
    assert not supports(torch.zeros(2, 3, device="meta")) and not supports(torch.zeros(3))
    for view in STRIDED_VIEWS:
        assert not supports(view)


# dense tensors with time inside (not outermost), expanded axes, gaps: the torch loop's business
STRIDED_VIEWS = [
    torch.zeros(4, 3).t(),
    torch.zeros(5, 2, 3).permute(1, 0, 2),
    torch.zeros(1, 3).expand(4, 3),
    torch.zeros(4, 6)[:, ::2],
    torch.zeros(4, 5, 3)[:, 1:4],
]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "permuted"])
@pytest.mark.parametrize("grad_layout", ["same", "contiguous", "expanded"])
def test_layouts_and_gradient_strides_follow_the_torch_path(layout, grad_layout):
    """Any dense current with time outermost: outputs in the current's layout, dL/dI in the layout
    of the torch path's (empty_like dL/da), every number the torch path's, for incoming gradients
    laid out as the current, contiguous, or expanded (the gradient of a sum)."""
    current = channels_last(4, 2, 3, 5, 6, torch.float64, seed=3)
    if layout == "contiguous":
        current = current.contiguous()
    elif layout == "permuted":
        current = relaid(current, (4, 2, 1, 3))
    g_a = _grads(current, seed=4)[0]
    g_a = {"same": torch.empty_like(current).copy_(g_a), "contiguous": g_a.contiguous(),
           "expanded": g_a[:1, :1, :1, :1, :1].expand(current.shape)}[grad_layout]  # fmt: skip
    c = constants(evsim.LIF(tau_m=2, tau_s=2))
    for ref, fused in (
        (lambda x: ActBPPopulation.apply(x, c, 5.0), lambda x: FusedActBP.apply(x, c, 5.0)),
        (lambda x: TempBPNeuron.apply(x, 2.0, 2.0, 1.0), lambda x: FusedTempBP.apply(x, 2.0, 2.0, 1.0)),
    ):
        a_ref, s_ref, grad_ref = _backward(ref, current, g_a)
        a, s, grad = _backward(fused, current, g_a)
        assert torch.equal(a, a_ref) and torch.equal(s, s_ref) and torch.equal(grad, grad_ref)
        assert a.stride() == s.stride() == a_ref.stride() == current.stride()
        assert grad.stride() == grad_ref.stride() and grad.abs().max() > 0.1
        if grad_layout == "contiguous" and layout != "contiguous":
            assert grad.is_contiguous() and not a.is_contiguous()  # the two layouts really differ


def test_strided_views_fall_back_to_the_torch_loop():
    """spiking_layer and lif_tempbp run a current that the kernels do not support on the torch
    loop (the same numbers as its contiguous copy), where the kernels themselves raise."""
    lif = evsim.LIF(tau_m=2, tau_s=2)
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(6, 5, 7, generator=gen, dtype=torch.float64) + 0.5
    for view in (lambda t: t.transpose(0, 1), lambda t: t[:, 1:4], lambda t: t[:, :, ::2]):
        current = view(base)
        assert not supports(current)
        with pytest.raises(ValueError, match="time axis outermost"):
            population_forward(current, constants(lif))
        for rule in ("actbp", "tempbp", "none"):
            x = view(base.clone().requires_grad_()) if rule != "none" else current
            assert x.stride() == current.stride()
            a, s = spiking_layer(x, lif, rule)
            a_ref, s_ref = spiking_layer(current.contiguous(), lif, rule)
            assert torch.equal(a, a_ref) and torch.equal(s, s_ref)
            if rule != "none":
                name = type(a.grad_fn).__name__
                assert name == ("ActBPPopulationBackward" if rule == "actbp" else "TempBPNeuronBackward")


C = constants(evsim.LIF(tau_m=2, tau_s=2))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: population_forward(torch.zeros(3, 2, dtype=torch.float16), C), "float32 or float64"),
        (lambda: population_forward(torch.zeros(3, 2, dtype=torch.int64), C), "float32 or float64"),
        (lambda: population_forward(torch.zeros(0, 2), C), "T >= 1"),
        (lambda: population_forward(torch.zeros(3), C), r"\(T, B, ...\)"),
        (lambda: population_forward(torch.zeros(4, 3).t(), C), "time axis outermost"),
        (lambda: population_forward(torch.zeros(1, 3).expand(4, 3), C), "time axis outermost"),
        (lambda: tempbp_backward(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(2, 3).t(),
                                 torch.zeros(3, 2), torch.zeros(3, 2), 2.0, 2.0, 1.0), "memory layout"),
        (lambda: population_forward(torch.zeros(3, 2, device="meta"), C), "CPU only"),
        (lambda: population_forward(np.zeros((3, 2)), C), "torch.Tensor"),
        (lambda: population_forward(torch.zeros(3, 2), "LIF"), "decay_m"),
        (lambda: FusedActBP.apply(torch.zeros(3, 2, device="meta"), C, 5.0), "CPU only"),
        (lambda: FusedTempBP.apply(torch.zeros(3, 2), 0.5, 2.0, 1.0), "tau_m and tau_s"),
        (lambda: FusedTempBP.apply(torch.zeros(3, 2), 2.0, 2.0, 0.0), "theta must be > 0"),
        (lambda: actbp_backward(torch.zeros(3, 2), torch.zeros(3, 3), torch.zeros(3, 2), C, 5.0), "match the current"),
        (lambda: tempbp_backward(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2, dtype=torch.float64),
                                 torch.zeros(3, 2), torch.zeros(3, 2), 2.0, 2.0, 1.0), "match the current"),
    ],
)
def test_bad_inputs_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# dispatch and whole networks: the fused path against the torch loop (`disabled()`)
# ---------------------------------------------------------------------------------------------


def test_dispatch_and_disabled():
    """spiking_layer / lif_tempbp pick the kernels on the CPU, the torch loop inside disabled()
    (nested too); without a gradient both run the plain forward."""
    lif = evsim.LIF(tau_m=2, tau_s=2)
    x = channels_last(3, 2, 4, 3, 3).requires_grad_()
    names = {rule: type(spiking_layer(x, lif, rule)[0].grad_fn).__name__ for rule in ("actbp", "tempbp")}
    assert names == {"actbp": "FusedActBPBackward", "tempbp": "FusedTempBPBackward"} and enabled()
    with disabled():
        with disabled():
            assert not use_kernels(x)
        assert not enabled() and supports(x)
        names = {rule: type(spiking_layer(x, lif, rule)[0].grad_fn).__name__ for rule in ("actbp", "tempbp")}
        assert names == {"actbp": "ActBPPopulationBackward", "tempbp": "TempBPNeuronBackward"}
        reference = [spiking_layer(x, lif, rule) for rule in ("none", "actbp", "tempbp")]
    assert use_kernels(x)
    with torch.no_grad():
        for rule, (a_ref, s_ref) in zip(("none", "actbp", "tempbp"), reference):
            a, s = spiking_layer(x, lif, rule)
            assert torch.equal(a, a_ref) and torch.equal(s, s_ref) and a.grad_fn is None
            assert a.stride() == a_ref.stride() == x.stride() and 0 < s.mean() < 1


def _train_step(model, x, y, fused: bool):
    """Forward, rate cross-entropy, backward on a copy of `model`; returns (output spikes, hidden
    spikes, {name: grad}, copy)."""
    model = copy.deepcopy(model)
    if fused:
        out = model(x)
    else:
        with disabled():
            out = model(x)
    loss = torch.nn.functional.cross_entropy(decoder_scores(out.spikes, "rate"), y)
    if fused:
        loss.backward()
    else:
        with disabled():
            loss.backward()
    return out.spikes.detach(), out.hidden, {n: p.grad for n, p in model.named_parameters()}, model


def _assert_same_training_step(model, x, y):
    spikes, hidden, grads, _ = _train_step(model, x, y, fused=True)
    spikes_ref, hidden_ref, grads_ref, _ = _train_step(model, x, y, fused=False)
    assert torch.equal(spikes, spikes_ref) and spikes.stride() == spikes_ref.stride()
    assert len(hidden) == len(hidden_ref) > 0
    for h, h_ref in zip(hidden, hidden_ref):
        assert torch.equal(h, h_ref) and h.stride() == h_ref.stride()
    assert grads.keys() == grads_ref.keys()
    for name, g in grads.items():
        assert torch.equal(g, grads_ref[name]), name
    assert max(g.abs().max() for g in grads.values()) > 0  # the loss reached the weights
    return hidden


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("neuron, rule", [(evsim.LIF(tau_m=4, tau_s=2), "actbp"), (evsim.IF(), "actbp"),
                                          (evsim.LIF(tau_m=4, tau_s=2), "tempbp")])  # fmt: skip
def test_mlp_trains_to_the_same_bits_on_both_paths(neuron, rule, dtype, monkeypatch):
    """A SpikingMLP's output spikes, hidden spikes and every parameter's gradient: torch.equal
    between the fused kernels and the torch loop, and the fused path really ran."""
    torch.manual_seed(0)
    model = SpikingMLP([30, 40, 20, 5], neuron, rule, bias=True).to(dtype)
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(8, 6, 30, generator=gen) < 0.4).to(dtype)
    y = torch.randint(0, 5, (6,), generator=gen)
    calls = _count_fused(monkeypatch)
    hidden = _assert_same_training_step(model, x, y)
    assert calls == [3] and all(0 < h.mean() < 1 for h in hidden)


def _count_fused(monkeypatch) -> list[int]:
    """Counts the calls of the fused autograd nodes (made by the fused side only)."""
    calls = [0]
    for node in (FusedActBP, FusedTempBP):
        original = node.apply

        def counting(*args, original=original):
            calls[0] += 1
            return original(*args)

        monkeypatch.setattr(node, "apply", counting)
    return calls


@pytest.mark.parametrize("rule", ["actbp", "tempbp"])
def test_resnet_trains_to_the_same_bits_on_both_paths(rule, monkeypatch):
    """A SpikingResNet (width 8: torch's CPU conv backward misbehaves below 8 channels) in train
    mode, its currents channels-last: output and hidden spikes (and their strides) and every
    parameter's gradient torch.equal on both paths; eval forwards equal too."""
    torch.manual_seed(0)
    model = SpikingResNet(width=8, in_channels=3, n_classes=10, rule=rule)
    gen = torch.Generator().manual_seed(2)
    x = 2.0 * torch.rand(3, 2, 3, 32, 32, generator=gen)
    y = torch.tensor([3, 7])
    calls = _count_fused(monkeypatch)
    hidden = _assert_same_training_step(model, x, y)
    assert calls == [18]  # every population: stem, 2 per block, output
    assert not hidden[0].is_contiguous() and hidden[0].permute(0, 1, 3, 4, 2).is_contiguous()  # channels last
    assert all(h.sum() > 0 for h in hidden)
    _, _, _, trained = _train_step(model, x, y, fused=True)
    trained.eval()
    with torch.no_grad():
        out = trained(x)
        with disabled():
            out_ref = trained(x)
    assert calls == [36]  # no autograd node without a gradient: the plain forward kernel
    for h, h_ref in zip([out.spikes, *out.hidden], [out_ref.spikes, *out_ref.hidden]):
        assert torch.equal(h, h_ref) and h.stride() == h_ref.stride()
    assert sum(h.sum() for h in out.hidden) > 0
