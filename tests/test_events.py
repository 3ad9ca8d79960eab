"""Input events (`evsim.events`): `InputEvents.from_dense` and `evsim.encode_events` give the same
event lists as the dense encoding, Poisson events draw `encode`'s stream, and a dense batch
survives the round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evsim
from evsim.metrics import perturbation_counts


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    T=st.integers(1, 30),
    method=st.one_of(st.sampled_from(evsim.ENCODERS), st.sampled_from([["current", "ratesyn_e", "ttfs"], ["ttfs", "poisson"]])),
    shape=st.sampled_from([(4, 9), (3, 2, 3, 3), (1, 1)]),
)
def test_encode_events_equal_the_dense_encoding(seed, T, method, shape):
    """Events straight from the encoder equal the dense encoding turned into events: same steps,
    indices, values, the same draws for Poisson, and the current mask of the fused blocks."""
    x = np.random.default_rng(seed).random(shape)
    x[x < 0.3] = 0.0
    got = evsim.encode_events(x, T, method, seed=seed)
    kind = "auto" if isinstance(method, str) and method != "current" else ([method] if isinstance(method, str) else method)
    want = evsim.InputEvents.from_dense(evsim.encode(x, T, method, seed=seed), got.shape, input_kind=kind)
    for name in ("offsets", "index", "value", "current"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert got.T == T and got.B == shape[0]
    np.testing.assert_array_equal(got.to_dense(), evsim.encode(x, T, method, seed=seed).reshape((T,) + (shape[0],) + got.shape))


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937])
def test_poisson_events_draw_encodes_stream_and_leave_the_generator_where_encode_does(bit_generator):
    """Poisson events are drawn in parts at once (a PCG64 stream jumps ahead) or in one go (other
    bit generators): either way the spikes are encode's and the generator ends in encode's state,
    so later draws from it do not change."""
    x = np.random.default_rng(1).random((7, 3, 5))
    ours, theirs = np.random.Generator(bit_generator(9)), np.random.Generator(bit_generator(9))
    got = evsim.encode_events(x, 13, "poisson", seed=ours)
    want = evsim.encode(x, 13, "poisson", seed=theirs)
    np.testing.assert_array_equal(got.to_dense(), want)
    np.testing.assert_array_equal(ours.random(4), theirs.random(4))
    x_adv = np.clip(x + 0.1, 0, 1)
    a, b = np.random.Generator(bit_generator(2)), np.random.Generator(bit_generator(2))
    counts = perturbation_counts(x, x_adv, 13, "poisson", seed=a)
    dense = (evsim.encode(x, 13, "poisson", seed=b) != evsim.encode(x_adv, 13, "poisson", seed=np.random.Generator(bit_generator(2))))
    np.testing.assert_array_equal(counts, dense.reshape(13, -1).sum(axis=1))
    np.testing.assert_array_equal(a.random(3), b.random(3))


@pytest.mark.parametrize("kind", ["auto", "spikes", "current", ["current", "ratesyn_e", "ttfs"]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, bool, np.uint8])
def test_from_dense_round_trip(kind, dtype):
    """to_dense gives the batch back (spikes as ones, currents with their values and dtype) and the
    current mask follows input_kind per channel block."""
    rng = np.random.default_rng(2)
    x = rng.random((5, 2, 3, 2, 2))
    dense = (x < 0.4).astype(dtype) if kind in ("auto", "spikes") or dtype in (bool, np.uint8) else x.astype(dtype)
    if isinstance(kind, list):
        dense = np.concatenate([x[:, :, :1].astype(np.float32), (x[:, :, 1:] < 0.5).astype(np.float32)], axis=2)
    ev = evsim.InputEvents.from_dense(dense, (3, 2, 2), kind)
    assert (ev.T, ev.B, ev.shape) == (5, 2, (3, 2, 2))
    np.testing.assert_array_equal(ev.to_dense(), dense.astype(ev.to_dense().dtype))
    want_current = {"auto": False, "spikes": False, "current": True}.get(kind) if isinstance(kind, str) else None
    if want_current is not None:
        assert (ev.current == want_current).all()
    else:
        np.testing.assert_array_equal(ev.current, np.repeat([True, False, False], 4))
    assert ev.n_events == int((dense != 0).sum())
