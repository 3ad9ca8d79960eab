"""The dense time-stepped torch baseline runs the same network as evsim."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import deep_networks, image_batches, spec_neurons
from hypothesis import given, settings
from hypothesis import strategies as st

import evsim
from bridges.timestep import DenseSimulator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@settings(max_examples=30, deadline=None)
@given(data=st.data(), batch=st.integers(1, 3))
def test_dense_simulator_equals_evsim_float64(data, batch):
    """In float64 the dense loop gives evsim's output spikes on random deep networks (ties at the
    threshold aside, which random Gaussian weights do not produce)."""
    net = data.draw(deep_networks(neuron_kinds=spec_neurons))  # the torch simulator runs SPEC's >=
    x, T, seed = data.draw(image_batches(net.input_shape))
    method = data.draw(st.sampled_from(["ratesyn_e", "ttfs", "poisson"]))
    inputs = evsim.encode(x, T, method, seed=seed)
    want = evsim.simulate(net, inputs, dtype=np.float64)
    got, steps = DenseSimulator(net, dtype=torch.float64).run(inputs, batch)
    np.testing.assert_array_equal(got, want.output_spikes)
    assert (steps == T).all()


def test_stop_when_decided_stops_a_batch_once_every_sample_fired():
    net = evsim.Network.dense([np.eye(2)], neuron=evsim.IF())
    spikes = np.zeros((5, 2, 2), dtype=np.float32)
    spikes[1, 0, 0] = spikes[3, 1, 1] = 1  # sample 0 decides at step 1, sample 1 at step 3
    out, steps = DenseSimulator(net).run(spikes, batch=2, stop_when_decided=True)
    assert steps.tolist() == [4, 4]
    out, steps = DenseSimulator(net).run(spikes, batch=1, stop_when_decided=True)
    assert steps.tolist() == [2, 4]
    assert evsim.decode(out, "ttfs").tolist() == [0, 1]


def _old_run(sim: DenseSimulator, inputs: np.ndarray, batch: int, stop_when_decided: bool):
    """DenseSimulator.run's loop before issue 19 (its own loop over time, not bridges.neuron's)."""
    from bridges import neuron
    from evsim.network import INPUT

    net = sim.net
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(sim.dtype)
    T, B = x.shape[:2]
    x = x.reshape((T, B) + net.input_shape)
    out, steps = torch.zeros((T, B, net.n_out), dtype=torch.bool), np.zeros(B, dtype=np.int64)
    for lo in range(0, B, batch):
        xb = x[:, lo : lo + batch]
        n = xb.shape[1]
        current = [torch.zeros((n,) + p.shape, dtype=sim.dtype) for p in net.populations]
        membrane = [torch.zeros((n,) + p.shape, dtype=sim.dtype) for p in net.populations]
        decided = torch.zeros(n, dtype=torch.bool)
        for k in range(T):
            spikes = []
            for p in range(len(net.populations)):
                c = sim.parameters[p]
                i = current[p].mul_(c.decay_s)
                for q in sim.incoming[p]:
                    src = xb[k] if net.projections[q].source == INPUT else spikes[net.projections[q].source]
                    i.add_(sim._apply(q, src).view(i.shape))
                u = membrane[p].mul_(c.decay_m).add_(i)
                if sim.bias[p] is not None:
                    u.add_(sim.bias[p])
                fired = u >= c.theta
                u.masked_fill_(fired, 0.0) if c.reset_to_zero else u.sub_(fired.to(u.dtype) * c.theta)
                spikes.append(fired.to(sim.dtype))
            fired_out = fired.view(n, -1)
            out[k, lo : lo + n] = fired_out
            steps[lo : lo + n] = k + 1
            decided |= fired_out.any(dim=1)
            if stop_when_decided and bool(decided.all()):
                break
    return out.numpy(), steps


@settings(max_examples=15, deadline=None)
@given(
    data=st.data(), batch=st.integers(1, 3), stop=st.booleans(), dtype=st.sampled_from([torch.float32, torch.float64])
)
def test_dense_simulator_equals_its_old_loop(data, batch, stop, dtype):
    """Run by bridges.neuron.run_over_time, the network step gives the old loop's spikes and steps
    exactly, in float32 too, with and without the early stop."""
    net = data.draw(deep_networks(neuron_kinds=spec_neurons))  # the torch simulator runs SPEC's >=
    x, T, seed = data.draw(image_batches(net.input_shape))
    inputs = evsim.encode(x, T, data.draw(st.sampled_from(["ratesyn_e", "ttfs", "current"])), seed=seed)
    sim = DenseSimulator(net, dtype=dtype)
    got, steps = sim.run(inputs, batch, stop_when_decided=stop)
    want, want_steps = _old_run(sim, inputs, batch, stop)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(steps, want_steps)
