"""Neuron parameter records: SPEC defaults, derived decays and validation."""

import pytest

import evsim


def test_if_defaults_follow_spec():
    n = evsim.IF()
    assert (n.theta, n.reset) == (1.0, "subtract")
    assert (n.decay_m, n.decay_s, n.input_gain) == (1.0, 0.0, 1.0)


def test_lif_decays_and_gain():
    n = evsim.LIF(tau_m=10, tau_s=2)
    assert n.reset == "zero" and n.theta == 1.0
    assert n.decay_m == pytest.approx(0.9) and n.decay_s == 0.5 and n.input_gain == 0.5
    assert evsim.LIF(1, 1).decay_m == 0.0  # tau = 1: no memory


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: evsim.LIF(0.5, 10), "tau_m must be >= 1"),
        (lambda: evsim.LIF(10, 0), "tau_s must be finite and > 0"),
        (lambda: evsim.LIF(10, float("nan")), "tau_s must be finite"),
        (lambda: evsim.LIF(10, 10, theta=-1), "theta"),
        (lambda: evsim.IF(theta=0), "theta"),
        (lambda: evsim.IF(theta="1"), "real number"),
        (lambda: evsim.IF(reset="hard"), "reset must be one of"),
    ],
)
def test_invalid_parameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_neurons_are_immutable_and_comparable():
    n = evsim.LIF(10, 10)
    assert n == evsim.LIF(10.0, 10.0)
    with pytest.raises(AttributeError):
        n.theta = 2.0
