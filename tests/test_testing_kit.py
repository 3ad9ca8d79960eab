"""`evsim.testing.check_encoder` (issue 22, item 2): it passes correct encoders (the built-ins:
tests/test_encoding.py; written-out and registered ones here) and catches broken ones, each with
an AssertionError naming the property and a shrunk counterexample: off-by-one counts, non-monotone
counts, batch-dependent normalisation, input mutation, global random state, and more.

Each broken encoder differs from a correct one in one respect, so a catch is that respect's.
Inputs are small batches (<= 2 axes of <= 3) and few examples: every check here takes well under
a second or two.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from hypothesis import strategies as st

import evsim
from evsim.testing import batches, check_encoder, steps

GRID = ("8-bit",)  # values k/255: found and shrunk in a few calls (floats shrink slowly)
SMALL = batches(max_dims=2, max_side=4, styles=GRID)
STEPS = st.integers(2, 10)
FEW = 8


def n(x, T):
    return np.clip(np.ceil(np.asarray(x, np.float64) * T - 1e-4), 0, T)


def k(T, x):
    return np.arange(T).reshape((T,) + (1,) * x.ndim)


def rate(x, T, rng):
    return k(T, x) < n(x, T)  # RateSynS


def latency(x, T, rng):
    c = n(x, T)
    return (k(T, x) == T - c) & (c > 0)  # TTFS


def poisson(x, T, rng):
    return rng.random((T,) + x.shape) < x


def current(x, T, rng):
    return np.repeat(np.asarray(x, np.float32)[None], T, axis=0)


def mutating(x, T, rng):
    out = rate(x, T, rng)
    x *= 0.5  # in place: the caller's x
    return out


def global_rng(x, T, rng):
    return np.random.random((T,) + x.shape) < x


def python_random(x, T, rng):
    random.random()  # moves Python's global generator (output untouched)
    return rate(x, T, rng)


_OWN = np.random.default_rng(0)


def own_generator(x, T, rng):
    return _OWN.random((T,) + x.shape) < x  # ignores the rng it is given


def aliasing(x, T, rng):
    return np.broadcast_to(x, (T,) + x.shape)  # a view of x


BROKEN = {
    # name: (fn, kind, options, the property that must catch it)
    "one spike short at x = 1": (lambda x, T, rng: k(T, x) < np.maximum(n(x, T) - (x == 1), 0), "rate", {}, "T spikes at 1"),
    "one spike too many (floor + 1)": (lambda x, T, rng: k(T, x) < np.floor(x * T) + 1, "rate", {}, "silent at 0"),
    "non-monotone counts": (lambda x, T, rng: rate(np.where((x > 0.4) & (x < 1), 1.4 - x, x), T, rng), "rate",
                            {"max_examples": 3 * FEW}, "count non-decreasing in x"),
    "batch-dependent normalisation": (lambda x, T, rng: rate(x / max(float(x.max()), 1e-9), T, rng), "rate", {},
                                      "batch independence"),
    "batch-dependent draws": (lambda x, T, rng: rng.random((T,) + x.shape) < x / max(float(x.max()), 1e-9), "rate", {},
                              "batch independence"),  # a stochastic encoder normalised by the batch maximum
    "position-dependent code": (lambda x, T, rng: rate(x, T, rng) & (np.arange(x.shape[0]) == 0).reshape(
        (1, -1) + (1,) * (x.ndim - 1)), "spikes", {"deterministic": True}, "batch independence"),
    "input mutation": (mutating, "rate", {}, "input left unchanged"),
    "output aliases x": (aliasing, "current", {}, "input left unchanged"),
    "numpy global random state": (global_rng, "rate", {}, "no global random state"),
    "python global random state": (python_random, "rate", {}, "no global random state"),
    "own generator, seed ignored": (own_generator, "rate", {}, "same seed, same output"),
    "stochastic, declared deterministic": (poisson, "rate", {"deterministic": True}, "deterministic"),
    "two spikes for a latency code": (lambda x, T, rng: latency(x, T, rng) | latency(x / 2, T, rng), "latency", {},
                                      "at most one spike"),
    "later spikes for larger x": (lambda x, T, rng: latency(1 - x, T, rng) & (x > 0), "latency", {},
                                  "first spike non-increasing in x"),
    "non-binary spikes": (lambda x, T, rng: rate(x, T, rng) * 0.5, "spikes", {}, "binary values"),
    "wrong shape": (lambda x, T, rng: rate(x, T, rng)[:, :1], "rate", {}, "shape and dtype"),
    "NaN currents": (lambda x, T, rng: np.where(x > 0.5, current(x, T, rng), np.nan), "current", {}, "shape and dtype"),
    "raises": (lambda x, T, rng: rate(x.reshape(2, -1), T, rng), "rate", {}, "shape and dtype"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_broken_encoders_are_caught_by_their_property(name):
    fn, kind, options, prop = BROKEN[name]
    state = np.random.get_state()
    with pytest.raises(AssertionError, match=f"property '{prop}' fails") as err:
        check_encoder(fn, T=STEPS, kind=kind, **{"max_examples": FEW, "inputs": SMALL, "styles": GRID, **options})
    message = str(err.value)
    assert "counterexample (shrunk): x=np.array(" in message and ", T=" in message and ", seed=" in message, message
    assert np.array_equal(np.random.get_state()[1], state[1])  # the kit leaves the global generator as it was
    if prop == "batch independence" and "others" in message:  # what the property drew beside x is shown too
        assert re.search(r"sample=\d, others=np.array\(", message), message


def test_a_shrunk_counterexample_is_minimal_and_replays():
    """The off-by-one at x = 1 shrinks to one element and the smallest T, and the numbers shown
    are the failing ones: T spikes expected, T - 1 seen."""
    fn = BROKEN["one spike short at x = 1"][0]
    with pytest.raises(AssertionError) as err:
        check_encoder(fn, T=STEPS, kind="rate", max_examples=FEW, inputs=SMALL, styles=GRID)
    message = str(err.value)
    assert "x=np.array([0.], dtype=float" in message and "T=2," in message and "spiked 1 times, not T = 2" in message


@pytest.mark.parametrize(
    "fn, kind, options, absent",
    [
        (rate, "rate", {}, ()),
        (latency, "latency", {}, ()),
        (poisson, "rate", {}, ("deterministic",)),  # detected as stochastic
        (lambda x, T, rng: rng.random((T,) + x.shape) < x / 2, "rate", {"full_at_one": False},
         ("T spikes at 1", "deterministic")),
        (current, "current", {}, ()),
        (lambda x, T, rng: np.stack([x] * T).astype(np.float64) ** 2, "current", {}, ()),
    ],
)
def test_correct_encoders_pass(fn, kind, options, absent):
    ran = check_encoder(fn, T=steps(40), kind=kind, max_examples=FEW, inputs=SMALL, styles=GRID, **options)
    common = {"shape and dtype", "no global random state", "same seed, same output", "input left unchanged",
              "batch independence"}  # fmt: skip
    extra = {"rate": {"binary values", "silent at 0", "T spikes at 1", "count non-decreasing in x"},
             "latency": {"binary values", "at most one spike", "first spike non-increasing in x"}, "current": set()}
    assert set(ran) == (common | extra[kind] | {"deterministic"}) - set(absent)


def test_a_registered_encoder_is_checked_by_name_with_its_own_kind():
    with evsim.register_encoder("kit_rate", rate, "rate"):
        assert "count non-decreasing in x" in check_encoder("kit_rate", 6, max_examples=FEW, inputs=SMALL, styles=GRID)
        with pytest.raises(ValueError, match="of kind 'rate', not 'latency'"):
            check_encoder("kit_rate", 6, kind="latency")
    with evsim.register_encoder("kit_mutating", mutating, "rate"):  # its own fn: the mutation is seen as such
        with pytest.raises(AssertionError, match="'kit_mutating'.*'input left unchanged'"):
            check_encoder("kit_mutating", 6, max_examples=FEW, inputs=SMALL, styles=GRID)


def test_a_fixed_sample_shape_is_an_inputs_strategy():
    def flat_only(x, T, rng):
        assert x.ndim == 2 and x.shape[1] == 5
        return rate(x, T, rng)

    assert check_encoder(flat_only, 3, "rate", max_examples=FEW, inputs=batches(sample_shape=(5,), max_B=3))


@pytest.mark.parametrize(
    "args, error, match",
    [
        (("ttfs", 0), ValueError, "T must be"),
        (("ttfs", 2.5), ValueError, "T must be"),
        (("nope", 4), ValueError, "unknown encoder 'nope'"),
        ((rate, 4), ValueError, "give the kind"),
        ((rate, 4, "poisson"), ValueError, "unknown encoder kind"),
        ((42, 4), TypeError, "name or a callable"),
        (("ttfs", 4, "rate"), ValueError, "of kind 'latency'"),
    ],
)
def test_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        check_encoder(*args)
