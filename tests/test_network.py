"""Network description: construction, shapes, synapse counts and validation."""

import numpy as np
import pytest

import evsim
from evsim.network import INPUT, Dense, Network, Population


def test_dense_builds_a_chain():
    W1, W2 = np.ones((5, 4)), np.ones((3, 5))
    net = Network.dense([W1, W2], biases=[None, np.zeros(3)], neuron=evsim.LIF(10, 10))
    assert net.input_shape == (4,) and net.n_in == 4 and net.n_out == 3
    assert net.layer_sizes == (4, 5, 3)
    assert [(p.source, p.target) for p in net.projections] == [(INPUT, 0), (0, 1)]
    assert net.populations[0].bias is None and net.populations[1].bias.shape == (3,)
    np.testing.assert_array_equal(net.n_synapses(), [20, 15])
    np.testing.assert_array_equal(net.projections[0].fan_out(), [5, 5, 5, 5])


def test_weights_are_copied_and_read_only():
    W = np.ones((2, 2))
    net = Network.dense([W])
    W[0, 0] = 7.0
    assert net.projections[0].weight[0, 0] == 1.0
    with pytest.raises(ValueError):
        net.projections[0].weight[0, 0] = 3.0


def test_multi_dimensional_input_is_read_flat():
    pops = [Population((2,), evsim.IF())]
    net = Network((2, 3, 3), pops, [Dense(INPUT, 0, np.zeros((2, 18)))])
    assert net.n_in == 18


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Network.dense([]), "at least one weight"),
        (lambda: Network.dense([np.ones(3)]), "2-D"),
        (lambda: Network.dense([np.ones((2, 3)), np.ones((2, 3))]), "projection 1"),
        (lambda: Network.dense([np.ones((2, 3))], biases=[np.ones(3)]), "bias has 3 values"),
        (lambda: Network.dense([np.ones((2, 3))], biases=[None, None]), "2 biases for 1"),
        (lambda: Network.dense([np.full((2, 3), np.nan)]), "non-finite"),
        (lambda: Network.dense([np.ones((2, 3))], neuron="lif"), "evsim.IF or evsim.LIF"),
        (lambda: Network((3,), [], []), "at least one population"),
        (lambda: Network((3,), [Population((2,), evsim.IF())], []), "receive no projection"),
        (
            lambda: Network(
                (3,),
                [Population((2,), evsim.IF()), Population((2,), evsim.IF())],
                [Dense(INPUT, 0, np.ones((2, 3))), Dense(1, 1, np.ones((2, 2)))],
            ),
            "earlier population",
        ),
        (lambda: Network((3,), [Population((2,), evsim.IF())], [Dense(INPUT, 4, np.ones((2, 3)))]), "targets"),
        (lambda: Network((0,), [Population((2,), evsim.IF())], []), "input_shape"),
        (lambda: Network.dense([np.ones((2, 3))], metadata={"seed": [1, 2]}), "metadata"),
    ],
)
def test_invalid_networks_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()
