"""The dense time-stepped torch baseline runs the same network as evsim."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import deep_networks, image_batches
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
    net = data.draw(deep_networks())
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
