"""The torch neuron (bridges.neuron): parameters from evsim's records, the one loop over time, and the
float step bit for bit equal to the loops it replaced (frozen copies below, as they stood before
issue 19), memory layout included (BatchNorm and convolution backward reduce in layout order)."""

from __future__ import annotations

import warnings

import pytest
import torch

import evsim
from bridges import neuron as bn
from bridges.neuron import (
    NeuronParameters,
    NeuronState,
    SigmoidSurrogate,
    SigmoidSurrogateSpike,
    neuron_parameters,
    run_over_time,
    run_population,
)
from bridges.snn import actbp_layer_reference

NEURONS = [evsim.IF(), evsim.IF(theta=0.8, reset="zero"), evsim.LIF(3, 2, theta=0.9), evsim.LIF(4, 3, reset="subtract")]
INT = {torch.float32: torch.int32, torch.float64: torch.int64}


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit patterns (torch.equal takes -0.0 for 0.0)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(a.contiguous().view(INT[a.dtype]), b.contiguous().view(INT[b.dtype]))


def old_run_population(current, c, keep_membrane):
    """bridges.snn._run_population before issue 19 (the Act-BP forward, no graph)."""
    traces, spikes = torch.empty_like(current), torch.empty_like(current)
    u_pre_all = torch.empty_like(current) if keep_membrane else None
    u, a = torch.zeros_like(current[0]), torch.zeros_like(current[0])
    for k in range(current.shape[0]):
        u_pre = u * c.decay_m + current[k]
        fired = u_pre >= c.theta
        s = fired.to(current.dtype)
        if keep_membrane:
            u_pre_all[k] = u_pre
        u = u_pre.masked_fill_(fired, 0.0) if c.reset_to_zero else u_pre.sub_(fired.to(u_pre.dtype) * c.theta)
        a = a * c.decay_s + s * c.gain if c.has_trace else s
        traces[k], spikes[k] = a, s
    return traces, spikes, u_pre_all


def old_actbp_reference(current, c, rho):
    """bridges.snn.actbp_layer_reference before issue 19 (autograd through every step)."""
    u, a = torch.zeros_like(current[0]), torch.zeros_like(current[0])
    traces, spikes = [], []
    for k in range(current.shape[0]):
        u = u * c.decay_m + current[k]
        s = SigmoidSurrogateSpike.apply(u - c.theta, rho)
        u = u * (1 - s) if c.reset_to_zero else u - s * c.theta
        a = a * c.decay_s + s * c.gain if c.has_trace else s
        traces.append(a)
        spikes.append(s)
    return torch.stack(traces), torch.stack(spikes)


def _current(dtype, channels_last: bool):
    gen = torch.Generator().manual_seed(5)
    current = 0.9 * torch.randn(6, 3 * 2, 4, 4, 4, generator=gen, dtype=dtype) + 0.4
    if channels_last:  # (T*B, C, H, W) channels-last viewed as (T, B, C, H, W), as SpikingConv makes it
        current = current.flatten(0, 1).contiguous(memory_format=torch.channels_last).view(6, 6, 4, 4, 4)
    return current


@pytest.mark.parametrize("neuron", NEURONS, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_run_population_equals_the_old_loop_bit_for_bit(neuron, dtype, channels_last):
    current = _current(dtype, channels_last)
    p = neuron_parameters(neuron)
    a, s, u_pre = run_population(current, p, record_membrane=True)
    a_old, s_old, u_old = old_run_population(current, p, keep_membrane=True)
    assert same_bits(a, a_old) and same_bits(s, s_old) and same_bits(u_pre, u_old)
    assert 0.05 < s.mean() < 0.95
    # the buffers are laid out as the drive, as empty_like made them
    assert a.stride() == s.stride() == u_pre.stride() == current.stride() == a_old.stride()


@pytest.mark.parametrize("neuron", NEURONS, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_actbp_reference_equals_the_old_loop_forward_and_gradient(neuron, dtype):
    current = _current(dtype, False).requires_grad_()
    w_a, w_s = torch.randn(2, *current.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    a, s = actbp_layer_reference(current, neuron, 4.0)
    a_old, s_old = old_actbp_reference(current, neuron_parameters(neuron), 4.0)
    assert same_bits(a, a_old) and same_bits(s, s_old)
    (g,) = torch.autograd.grad((a * w_a).sum() + (s * w_s).sum(), current)
    (g_old,) = torch.autograd.grad((a_old * w_a).sum() + (s_old * w_s).sum(), current)
    assert same_bits(g, g_old) and g.abs().max() > 0.1


def test_run_over_time_stops_when_told_and_leaves_zeros_after():
    drive = torch.arange(1.0, 7.0).view(6, 1)

    def count(total, x):
        total = total + x
        return total, (total, x > 2)

    run = run_over_time(count, torch.zeros(1), drive, until=lambda total: bool(total >= 6))
    assert run.steps == 3 and float(run.state) == 6.0
    assert run.outputs[0].view(-1).tolist() == [1, 3, 6, 0, 0, 0]
    assert run.outputs[1].dtype == torch.bool and run.outputs[1].view(-1).tolist() == [False, False, True] + [False] * 3
    full = run_over_time(count, torch.zeros(1), drive)
    assert full.steps == 6 and full.outputs[0].view(-1).tolist() == [1, 3, 6, 10, 15, 21]
    with pytest.raises(ValueError, match="at least one time step"):
        run_over_time(count, torch.zeros(1), drive[:0])


def test_run_over_time_keeps_the_graph_of_differentiable_steps():
    x = torch.tensor([0.5, 1.5, 2.0], requires_grad=True)
    p = neuron_parameters(evsim.IF())
    a, s = run_population(x.view(3, 1), p, SigmoidSurrogate(5.0))
    assert s.view(-1).tolist() == [0, 1, 1] and s.requires_grad
    s.sum().backward()
    assert (x.grad != 0).all()
    with torch.no_grad():
        a, s = run_population(x.view(3, 1), p, SigmoidSurrogate(5.0))
    assert not s.requires_grad


def test_the_pure_step_changes_no_tensor():
    p = neuron_parameters(evsim.LIF(2, 2, theta=0.5))
    state = NeuronState(torch.tensor([0.4, 0.1]), torch.tensor([0.2, 0.0]))
    before = [t.clone() for t in state]
    current = torch.tensor([0.5, 0.1])
    new, record = bn.step(p, state, current)
    assert all(torch.equal(t, b) for t, b in zip(state, before))
    u_pre = before[0] * 0.5 + current
    assert torch.equal(record.u_pre, u_pre) and record.s.tolist() == [1.0, 0.0]
    assert torch.equal(new.u, torch.stack([torch.tensor(0.0), u_pre[1]]))
    assert torch.equal(new.a, record.a) and torch.equal(record.a, before[1] * 0.5 + record.s * 0.5)


@pytest.mark.parametrize("neuron", NEURONS, ids=repr)
def test_parameters_are_the_evsim_records(neuron):
    p = neuron_parameters(neuron)
    assert p == (neuron.decay_m, neuron.decay_s, neuron.input_gain, neuron.theta, neuron.reset == "zero")
    assert p.has_trace == isinstance(neuron, evsim.LIF)
    decay_m, decay_s, gain, theta, to_zero = p  # a named tuple unpacks as the old 5-tuple did
    assert (decay_m, to_zero) == (p.decay_m, p.reset_to_zero)


def test_parameters_refuse_anything_but_if_and_lif():
    with pytest.raises(ValueError, match="evsim.IF or evsim.LIF"):
        neuron_parameters("lif")


def test_old_names_warn_and_give_the_new_objects():
    import bridges.snn

    for module, old, new in [(bn, "NeuronConstants", NeuronParameters), (bn, "constants", neuron_parameters),
                             (bridges.snn, "neuron_constants", neuron_parameters)]:  # fmt: skip
        with pytest.warns(DeprecationWarning, match=old):
            assert getattr(module, old) is new
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            bn.no_such_name  # noqa: B018
