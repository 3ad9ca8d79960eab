"""User encoders end to end (issue 22, item 1): `evsim.register_encoder(name, fn, kind)` validates
its arguments and every call's output, and a registered encoder works wherever a built-in one
does: `encode`, `encode_events`, fused lists, `simulate`'s input kinds (spikes cost SOPs, currents
MACs), the reference simulators, `perturbation_timing` / `perturbation_counts`.

The registered twins of built-ins (a copy of RateSynE, Poisson and the current encoding written
here from SPEC's formulas) must give the built-ins' numbers exactly.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import evsim
from conftest import assert_same_run
from evsim.encoding import encoder_kind, encoder_names, registered_encoders, unregister_encoder

ROOT = Path(evsim.__file__).resolve().parent.parent
RNG = np.random.default_rng(2024)
X = RNG.random((3, 2, 4, 4))  # (B, C, H, W)
X[X < 0.3] = 0.0


def steps(T, ndim):
    return np.arange(T).reshape((T,) + (1,) * ndim)


def count(x, T):
    return np.clip(np.ceil(np.asarray(x, np.float64) * T - 1e-4), 0, T)


def my_ratesyn_e(x, T, rng):
    return steps(T, x.ndim) >= T - count(x, T)  # bool: becomes float32 0/1


def my_poisson(x, T, rng):
    return (rng.random((T,) + x.shape) < x).astype(np.float32)


def my_current(x, T, rng):
    return np.repeat(x.astype(np.float32)[None], T, axis=0)


@pytest.fixture
def twins():
    """The three twins registered for one test, removed after it (the registry is module-level)."""
    with (evsim.register_encoder("my_ratesyn_e", my_ratesyn_e, "rate"),
          evsim.register_encoder("my_poisson", my_poisson, "rate"),
          evsim.register_encoder("my_current", my_current, "current")):  # fmt: skip
        yield
    assert not registered_encoders()


# ------------------------------------------------------------------ registering


def test_register_lists_the_name_and_the_context_manager_removes_it():
    assert evsim.register_encoder is evsim.encoding.register_encoder and "register_encoder" in evsim.__all__
    enc = evsim.register_encoder("burst", my_ratesyn_e, "spikes")
    try:
        assert (enc.name, enc.fn, enc.kind) == ("burst", my_ratesyn_e, "spikes")
        assert encoder_names() == evsim.ENCODERS + ("burst",) and encoder_kind("burst") == "spikes"
        assert evsim.ENCODERS == ("current", "poisson", "ratesyn_s", "ratesyn_e", "ttfs")  # the built-ins only
    finally:
        unregister_encoder("burst")
    assert encoder_names() == evsim.ENCODERS
    with pytest.raises(ValueError, match="unknown encoding method 'burst'"):
        evsim.encode(X, 4, "burst")
    with evsim.register_encoder("burst", my_ratesyn_e, "rate") as enc:
        assert registered_encoders() == {"burst": enc}
    assert registered_encoders() == {}


@pytest.mark.parametrize(
    "name, fn, kind, error, match",
    [
        ("ttfs", my_poisson, "rate", ValueError, "taken by evsim"),
        ("current", my_current, "current", ValueError, "taken by evsim"),
        ("auto", my_poisson, "rate", ValueError, "reserved"),
        ("fused", my_poisson, "rate", ValueError, "reserved"),
        ("", my_poisson, "rate", ValueError, "encoder name"),
        ("two words", my_poisson, "rate", ValueError, "encoder name"),
        ("a/b", my_poisson, "rate", ValueError, "encoder name"),
        (3, my_poisson, "rate", ValueError, "encoder name"),
        ("mine", my_poisson, "poisson", ValueError, "unknown encoder kind 'poisson'"),
        ("mine", my_poisson, None, ValueError, "unknown encoder kind"),
        ("mine", "not a function", "rate", TypeError, "callable"),
    ],
)
def test_bad_registrations_are_clear_errors(name, fn, kind, error, match):
    with pytest.raises(error, match=match):
        evsim.register_encoder(name, fn, kind)
    assert registered_encoders() == {}


def test_a_registered_name_is_taken_and_only_registered_names_can_be_removed():
    with evsim.register_encoder("mine", my_poisson, "rate"):
        with pytest.raises(ValueError, match="already registered"):
            evsim.register_encoder("mine", my_current, "current")
        assert registered_encoders()["mine"].fn is my_poisson
    with pytest.raises(ValueError, match="built-in"):
        unregister_encoder("poisson")
    with pytest.raises(ValueError, match="no encoder 'mine'"):
        unregister_encoder("mine")


# ------------------------------------------------------------------ every call's output is checked

BAD_OUTPUTS = [
    ("rate", lambda x, T, rng: np.zeros((T + 1,) + x.shape), r"shape \(5, 3, 2, 4, 4\).*\(4, 3, 2, 4, 4\)"),
    ("rate", lambda x, T, rng: np.zeros(x.shape), "must be \\(T, \\*x.shape\\)"),
    ("current", lambda x, T, rng: np.zeros((T,) + x.shape, complex), "dtype complex128"),
    ("current", lambda x, T, rng: np.full((T,) + x.shape, "a"), "dtype <U1"),
    ("current", lambda x, T, rng: np.zeros((T,) + x.shape).tolist(), "returned list, not a numpy array"),
    ("current", lambda x, T, rng: np.full((T,) + x.shape, np.nan), "NaN or inf"),
    ("current", lambda x, T, rng: np.full((T,) + x.shape, 1e300), "NaN or inf value.*float32"),
    ("rate", lambda x, T, rng: np.full((T,) + x.shape, 0.5, np.float32), "other than 0 and 1, e.g. 0.5"),
    ("latency", lambda x, T, rng: np.full((T,) + x.shape, 2, np.int64), "other than 0 and 1"),
    ("spikes", lambda x, T, rng: np.full((T,) + x.shape, -1.0), "of kind 'spikes'"),
    ("rate", lambda x, T, rng: x.__setitem__(..., 0), "read-only"),  # x is a read-only view
]


@pytest.mark.parametrize("kind, fn, match", BAD_OUTPUTS)
@pytest.mark.parametrize("call", ["encode", "fused", "encode_events"])
def test_a_wrong_output_is_a_clear_error_naming_the_encoder(kind, fn, match, call):
    before = X.copy()
    with evsim.register_encoder("bad", fn, kind):
        with pytest.raises(ValueError, match=match) as err:
            if call == "encode":
                evsim.encode(X, 4, "bad")
            elif call == "fused":
                evsim.encode(X, 4, ["current", "bad"])
            else:
                evsim.encode_events(X, 4, "bad")
    assert "read-only" in str(err.value) or "encoder 'bad'" in str(err.value)
    np.testing.assert_array_equal(X, before)


def test_bool_and_integer_spikes_and_float64_currents_become_float32_copies():
    out64 = []

    def current64(x, T, rng):
        out64.append(np.repeat(np.asarray(x, np.float64)[None], T, axis=0))
        return out64[-1]

    with (evsim.register_encoder("ints", lambda x, T, rng: (my_ratesyn_e(x, T, rng)).astype(np.int8), "rate"),
          evsim.register_encoder("c64", current64, "current")):  # fmt: skip
        ints = evsim.encode(X, 5, "ints")
        assert ints.dtype == np.float32
        np.testing.assert_array_equal(ints, evsim.encode(X, 5, "ratesyn_e"))
        c = evsim.encode(X, 5, "c64")
        assert c.dtype == np.float32 and not np.shares_memory(c, out64[-1])
        np.testing.assert_array_equal(c, evsim.encode(X, 5, "current"))


# ------------------------------------------------------------------ encode, seeds, fused lists


def test_the_fn_gets_x_T_and_the_generator_of_the_seed():
    seen = []

    def spy(x, T, rng):
        seen.append((x, T, rng))
        return my_poisson(x, T, rng)

    gen = np.random.default_rng(5)
    with evsim.register_encoder("spy", spy, "rate"):
        a = evsim.encode(X, 6, "spy", seed=11)
        b = evsim.encode(X, 6, "spy", seed=gen)
    (x, T, rng), (_, _, rng2) = seen
    assert T == 6 and isinstance(T, int) and isinstance(rng, np.random.Generator) and rng2 is gen
    np.testing.assert_array_equal(x, X) and not x.flags.writeable
    np.testing.assert_array_equal(a, my_poisson(X, 6, np.random.default_rng(11)))  # evsim.encoding.generator(11)
    np.testing.assert_array_equal(b, my_poisson(X, 6, np.random.default_rng(5)))


def test_twins_give_the_builtins_numbers_exactly(twins):
    for mine, theirs in [("my_ratesyn_e", "ratesyn_e"), ("my_poisson", "poisson"), ("my_current", "current")]:
        np.testing.assert_array_equal(evsim.encode(X, 7, mine, seed=3), evsim.encode(X, 7, theirs, seed=3))
    # fused: one Generator for the list, drawn in list order (poisson draws before the second poisson)
    fused = evsim.encode(X, 7, ["my_current", "my_poisson", "my_ratesyn_e", "my_poisson"], seed=9)
    want = evsim.encode(X, 7, ["current", "poisson", "ratesyn_e", "poisson"], seed=9)
    np.testing.assert_array_equal(fused, want)
    single = evsim.encode(X[0], 7, ["my_current", "my_poisson"], seed=9, channel_axis=0)
    np.testing.assert_array_equal(single, evsim.encode(X[0], 7, ["current", "poisson"], seed=9, channel_axis=0))


@pytest.mark.parametrize(
    "mine, theirs",
    [
        ("my_ratesyn_e", "ratesyn_e"),
        ("my_poisson", "poisson"),
        ("my_current", "current"),
        (["my_current", "my_ratesyn_e", "ttfs"], ["current", "ratesyn_e", "ttfs"]),
        (["my_poisson", "my_current"], ["poisson", "current"]),
    ],
)
def test_encode_events_and_the_current_mask_follow_the_kind(twins, mine, theirs):
    """A registered encoder's events equal the built-in twin's: the same events and values, and
    the same current mask (its blocks are currents when its kind is "current")."""
    a, b = evsim.encode_events(X, 6, mine, seed=4), evsim.encode_events(X, 6, theirs, seed=4)
    np.testing.assert_array_equal(a.current, b.current)
    np.testing.assert_array_equal(a.to_dense(), b.to_dense())
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.index, b.index)
    names = [mine] if isinstance(mine, str) else mine
    blocks = np.repeat([encoder_kind(m) == "current" for m in names], X[0].size)
    np.testing.assert_array_equal(a.current, blocks)


# ------------------------------------------------------------------ simulate: spikes cost SOPs, currents MACs


def conv_net(seed=0):
    rng = np.random.default_rng(seed)
    pops = [evsim.Population((3, 4, 4), evsim.LIF(tau_m=5, tau_s=5, theta=0.5)), evsim.Population((5,), evsim.IF(theta=0.8))]
    projections = [evsim.Conv2d(evsim.INPUT, 0, rng.normal(0.3, 0.5, (3, 4, 3, 3)), 1, 1),
                   evsim.Dense(0, 1, rng.normal(0.3, 0.5, (5, 48)))]  # fmt: skip
    return evsim.Network((4, 4, 4), pops, projections)


def test_simulate_counts_a_registered_current_as_macs_and_spikes_as_sops(twins):
    net = conv_net()
    x = X.copy()  # (B, 2, 4, 4): fused lists of two blocks give the network's 4 channels
    mine, theirs = ["my_current", "my_ratesyn_e"], ["current", "ratesyn_e"]
    want = evsim.simulate(net, evsim.encode_events(x, 8, theirs), record_hidden=True)
    got = evsim.simulate(net, evsim.encode_events(x, 8, mine), record_hidden=True)
    assert_same_run(got, want)
    dense = evsim.encode(x, 8, mine)
    assert_same_run(evsim.simulate(net, dense, input_kind=mine, record_hidden=True), want)
    ref = evsim.reference_simulate(net, evsim.encode(x, 8, theirs), input_kind=theirs)
    assert_same_run(evsim.reference_simulate(net, dense, input_kind=mine), ref)  # the oracle reads the kinds too
    first = want.macs_per_step[:, :, 0].sum()  # the input projection: the current block's MACs
    assert first > 0 and want.sops_per_step[:, :, 0].sum() > 0
    spikes_only = evsim.simulate(net, evsim.encode_events(x, 8, ["my_ratesyn_e", "my_poisson"], seed=1))
    assert spikes_only.macs_per_step.sum() == 0 and spikes_only.sops_per_step.sum() > 0


def test_the_fixed_point_oracle_refuses_a_registered_current(twins):
    net = evsim.quantize(conv_net(), weight_bits=8)
    dense = evsim.encode(X, 4, ["my_current", "my_ratesyn_e"])
    with pytest.raises(ValueError, match="spike"):
        evsim.reference_simulate(net, dense, input_kind=["my_current", "my_ratesyn_e"])
    ok = evsim.encode(X, 4, ["my_ratesyn_e", "my_poisson"], seed=2)
    assert_same_run(evsim.reference_simulate(net, ok, input_kind=["my_ratesyn_e", "my_poisson"]),
                    evsim.simulate(net, ok, input_kind=["ratesyn_e", "poisson"], record_hidden=True))  # fmt: skip


# ------------------------------------------------------------------ perturbation metrics


@pytest.mark.parametrize("mine, theirs", [("my_ratesyn_e", "ratesyn_e"), ("my_poisson", "poisson"), ("my_current", "current")])
def test_perturbation_counts_and_timing_of_registered_encoders(twins, mine, theirs):
    adv = np.clip(X + np.random.default_rng(1).normal(0, 0.1, X.shape), 0, 1)
    got = evsim.metrics.perturbation_counts(X, adv, 9, mine, seed=6)
    assert got.dtype == np.int64 and got.shape == (9,)
    np.testing.assert_array_equal(got, evsim.metrics.perturbation_counts(X, adv, 9, theirs, seed=6))
    clean, attacked = evsim.encode(X, 9, mine, seed=6), evsim.encode(adv, 9, mine, seed=6)
    np.testing.assert_array_equal(got, (clean != attacked).reshape(9, -1).sum(axis=1))
    zeta = evsim.metrics.perturbation_timing(clean, attacked)
    assert math.isclose(zeta.sum(), 1.0) and np.allclose(zeta, got / got.sum())
    # a Generator seed: the same draws for both batches, left where one encoding leaves it
    g, h = np.random.default_rng(8), np.random.default_rng(8)
    np.testing.assert_array_equal(evsim.metrics.perturbation_counts(X, adv, 9, mine, seed=g),
                                  evsim.metrics.perturbation_counts(X, adv, 9, theirs, seed=h))  # fmt: skip
    assert g.random() == h.random()


def test_perturbation_counts_names_registered_encoders_when_the_method_is_unknown(twins):
    with pytest.raises(ValueError, match="my_poisson"):
        evsim.metrics.perturbation_counts(X, X, 4, "nope")


# ------------------------------------------------------------------ the kit stays optional


def test_import_evsim_loads_neither_the_kit_nor_hypothesis():
    code = ("import sys, evsim; print('hypothesis' in sys.modules, 'evsim.testing' in sys.modules); "
            "evsim.testing.check_encoder; print('evsim.testing' in sys.modules, 'testing' in dir(evsim))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1", "PATH": ""})  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:2] == ["False False", "True True"]
