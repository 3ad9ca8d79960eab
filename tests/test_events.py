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

from conftest import examples


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    T=st.integers(1, 30),
    method=st.one_of(st.sampled_from(evsim.ENCODERS), st.sampled_from([["current", "ratesyn_e", "ttfs"], ["ttfs", "poisson"], ["poisson", "current", "poisson"]])),
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


CLOSED_FORM = ("current", "ratesyn_s", "ratesyn_e", "ttfs")


def assert_same_events(got: evsim.InputEvents, want: evsim.InputEvents) -> None:
    for name in ("offsets", "index", "value", "current"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert (got.T, got.B, got.shape) == (want.T, want.B, want.shape)


@settings(max_examples=examples(100), deadline=None)
@given(
    data=st.data(),
    T=st.one_of(st.integers(1, 12), st.sampled_from([29, 255, 1000])),
    methods=st.one_of(st.sampled_from(CLOSED_FORM), st.lists(st.sampled_from(CLOSED_FORM), min_size=1, max_size=4)),
    shape=st.sampled_from([(3, 17), (2, 2, 3, 3), (1, 1), (2, 784)]),
    dtype=st.sampled_from([np.float64, np.float32]),
    grid=st.booleans(),
)
def test_closed_form_events_equal_the_dense_path_bit_for_bit(data, T, methods, shape, dtype, grid):
    """The two-pass kernels (evsim.event_encoding) give the arrays of `from_dense(encode(...))`,
    dtypes included, for every closed-form code alone or fused in any order and repetition, on 8-bit
    pixels k / 255 (the images users feed) or any float, with many exact 0s and 1s, and the result
    passes the full constructor checks that the kernels' output skips."""
    B = shape[0]
    n = int(np.prod(shape[1:]))
    if grid:
        levels = data.draw(st.lists(st.integers(0, 255), min_size=B * n, max_size=B * n))
        x = (np.array(levels, dtype=np.float64) / 255.0).astype(dtype).reshape(shape)
    else:
        x = np.array(data.draw(st.lists(st.one_of(st.just(0.0), st.just(1.0), st.floats(0, 1, width=32)),
                                        min_size=B * n, max_size=B * n)), dtype=dtype).reshape(shape)  # fmt: skip
    got = evsim.encode_events(x, T, methods).validate()
    kind = [methods] if isinstance(methods, str) else methods
    want = evsim.InputEvents.from_dense(evsim.encode(x, T, methods), got.shape, input_kind=kind)
    assert_same_events(got, want)


def _guard_batch(T: int) -> np.ndarray:
    # n = 0, T, T/2, 3, 4 (1.05e-4 over 3: past the guard), 3 (0.35e-4 over: within it), 0
    return np.array([[0.0, 1.0, 0.5, 3 / T, 3 / T + 1.05e-4 / T, 3 / T + 0.35e-4 / T, np.nextafter(0.0, 1.0)]])


def _assert_guard_events(T: int) -> None:
    x = _guard_batch(T)
    for method in ("ratesyn_e", ["ttfs", "ratesyn_s", "current"]):
        got = evsim.encode_events(x, T, method).validate()
        want = evsim.InputEvents.from_dense(evsim.encode(x, T, method), got.shape,
                                            input_kind=[method] if isinstance(method, str) else method)  # fmt: skip
        assert_same_events(got, want)
    counts = np.diff(evsim.encode_events(x, T, "ratesyn_s").offsets)
    assert counts[0] == 5 and counts[3] == 3 and counts[4] == 2 and counts[T - 1] == 1


def test_closed_form_events_near_the_guard_and_for_integer_and_bool_inputs():
    """n(x) = ceil(x*T - 1e-4) in float64 at each side of the guard, at the largest T of the
    uint16 counts, and integer / bool batches, each as the dense path gives them."""
    _assert_guard_events(2**16 - 1)
    for x in (np.array([[1, 0, 1]], dtype=np.int64), np.array([[True, False], [False, True]])):
        assert_same_events(evsim.encode_events(x, 4, ["ttfs", "current"]),
                           evsim.InputEvents.from_dense(evsim.encode(x, 4, ["ttfs", "current"]), (2 * x.shape[1],),
                                                        input_kind=["ttfs", "current"]))  # fmt: skip


@pytest.mark.slow
def test_closed_form_events_past_the_uint16_counts():
    """T >= 2**16 keeps n(x) in int32 (a second compilation of both passes: slow)."""
    _assert_guard_events(2**16)


@pytest.mark.parametrize("bad", [[[0.2, np.nan]], [[1.0 + 1e-7, 0.0]], [[-0.0, -1e-30]], [[np.inf]]])
def test_closed_form_events_refuse_what_encode_refuses_with_its_message(bad):
    x = np.array(bad)
    with pytest.raises(ValueError) as theirs:
        evsim.encode(x, 5, "ttfs")
    with pytest.raises(ValueError) as ours:
        evsim.encode_events(x, 5, ["ttfs", "ratesyn_e"])
    assert str(ours.value) == str(theirs.value)


@settings(max_examples=examples(100), deadline=None)
@given(
    data=st.data(),
    T=st.integers(1, 24),
    shape=st.sampled_from([(1, 1), (3, 17), (2, 3, 2, 2), (5, 40)]),
    skip=st.integers(0, 2**70),
    grid=st.booleans(),
)
def test_poisson_events_jump_over_the_draws_of_0_and_1_and_keep_encodes_stream(data, T, shape, skip, grid):
    """For PCG64 the Poisson kernel makes only the draws of pixels strictly between 0 and 1 and
    jumps over the rest: its spikes are still encode's, from a generator anywhere in its stream
    (advanced by up to 2^70 draws first), and it leaves the generator where encode does."""
    B, n = shape[0], int(np.prod(shape[1:]))
    if grid:
        x = np.array(data.draw(st.lists(st.integers(0, 255), min_size=B * n, max_size=B * n))) / 255.0
    else:
        x = np.array(data.draw(st.lists(st.one_of(st.just(0.0), st.just(1.0), st.floats(0, 1)),
                                        min_size=B * n, max_size=B * n)))  # fmt: skip
    x = x.reshape(shape)
    seed = data.draw(st.integers(0, 2**64 - 1))
    ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    ours.bit_generator.advance(skip)
    theirs.bit_generator.advance(skip)
    got = evsim.encode_events(x, T, "poisson", seed=ours).validate()
    want = evsim.InputEvents.from_dense(evsim.encode(x, T, "poisson", seed=theirs), got.shape, input_kind="spikes")
    assert_same_events(got, want)
    assert ours.bit_generator.state == theirs.bit_generator.state


def test_poisson_events_keep_the_generators_buffered_32_bit_half():
    """A float32 draw leaves half of a 64-bit number buffered in PCG64; encode's float64 draws keep
    it, and so do the Poisson events (numpy's advance alone would drop it)."""
    ours, theirs = np.random.default_rng(4), np.random.default_rng(4)
    ours.random(dtype=np.float32), theirs.random(dtype=np.float32)
    assert ours.bit_generator.state["has_uint32"] == 1
    x = np.random.default_rng(5).random((3, 7))
    got = evsim.encode_events(x, 5, "poisson", seed=ours)
    np.testing.assert_array_equal(got.to_dense(), evsim.encode(x, 5, "poisson", seed=theirs))
    assert ours.bit_generator.state == theirs.bit_generator.state
    np.testing.assert_array_equal(ours.random(3, dtype=np.float32), theirs.random(3, dtype=np.float32))


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
