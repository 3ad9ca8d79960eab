"""Input encoders (SPEC "Time", "Encoders"): exact spike trains, RateSyn counts, Poisson statistics,
the fused encoding and input validation; SPEC's generic properties (shape, dtype, purity, kind)
are `evsim.testing.check_encoder`, the kit users get, run on the five built-ins.

Expected values come from the small reference helpers below (plain loops over elements and
Python float / integer arithmetic), never from the encoder under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import examples
from evsim.encoding import ENCODERS, encode, ratesyn_count
from evsim.testing import check_encoder

DETERMINISTIC = ("current", "ratesyn_s", "ratesyn_e", "ttfs")
GUARD = 1e-4  # SPEC: n(x) = ceil(x*T - 1e-4) clipped to [0, T]

FEW = settings(max_examples=60, deadline=None)
SOME = settings(max_examples=150, deadline=None)

# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

steps = st.one_of(st.integers(1, 12), st.integers(1, 1000))  # T, small values often
dtypes = st.sampled_from([np.float32, np.float64])


def unit_values(dtype) -> st.SearchStrategy[float]:
    """Floats in [0, 1] exactly representable in dtype, with the SPEC's tricky values mixed in."""
    width = 32 if dtype == np.float32 else 64
    specials = [0.0, 1.0, 0.5, 0.3, 0.6, 0.1, 0.7, 1 / 3] + [k / 255 for k in (1, 51, 128, 254)]
    return st.one_of(
        st.floats(0.0, 1.0, width=width),
        st.sampled_from([float(dtype(v)) for v in specials]),
    )


@st.composite
def unit_arrays(draw, min_dims: int = 0, max_dims: int = 4, max_side: int = 4, dtype=None) -> np.ndarray:
    """An array of any shape (scalars and batches included) with values in [0, 1]."""
    dtype = dtype if dtype is not None else draw(dtypes)
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side))
    return draw(hnp.arrays(dtype, shape, elements=unit_values(dtype)))


@st.composite
def sorted_unit_vectors(draw) -> np.ndarray:
    """A 1-D array of values in [0, 1] in non-decreasing order."""
    x = draw(unit_arrays(min_dims=1, max_dims=1, max_side=30))
    return np.sort(x)


# ---------------------------------------------------------------------------------------------
# Reference implementations (loops over elements, Python arithmetic)
# ---------------------------------------------------------------------------------------------


def n_ref(x: np.ndarray, T: int) -> np.ndarray:
    """SPEC n(x) = ceil(x*T - 1e-4) clipped to [0, T], element by element in Python floats."""
    out = np.empty(x.shape, dtype=np.int64)
    for idx in np.ndindex(x.shape):
        n = math.ceil(float(x[idx]) * T - GUARD)
        out[idx] = min(max(n, 0), T)
    return out


def current_ref(x: np.ndarray, T: int) -> np.ndarray:
    out = np.empty((T,) + x.shape, dtype=np.float32)
    for k in range(T):
        out[k] = x
    return out


def ratesyn_s_ref(x: np.ndarray, T: int) -> np.ndarray:
    n = n_ref(x, T)
    out = np.zeros((T,) + x.shape, dtype=np.float32)
    for idx in np.ndindex(x.shape):
        out[(slice(0, n[idx]),) + idx] = 1.0
    return out


def ratesyn_e_ref(x: np.ndarray, T: int) -> np.ndarray:
    n = n_ref(x, T)
    out = np.zeros((T,) + x.shape, dtype=np.float32)
    for idx in np.ndindex(x.shape):
        out[(slice(T - n[idx], T),) + idx] = 1.0
    return out


def ttfs_ref(x: np.ndarray, T: int) -> np.ndarray:
    n = n_ref(x, T)
    out = np.zeros((T,) + x.shape, dtype=np.float32)
    for idx in np.ndindex(x.shape):
        if n[idx] > 0:
            out[(T - n[idx],) + idx] = 1.0
    return out


REFERENCE = {"current": current_ref, "ratesyn_s": ratesyn_s_ref, "ratesyn_e": ratesyn_e_ref, "ttfs": ttfs_ref}


def first_spike(train: np.ndarray) -> np.ndarray:
    """Step of the first spike along axis 0, T when there is none (loop over elements)."""
    T = train.shape[0]
    out = np.full(train.shape[1:], T, dtype=np.int64)
    for idx in np.ndindex(train.shape[1:]):
        for k in range(T):
            if train[(k,) + idx] != 0:
                out[idx] = k
                break
    return out


# ---------------------------------------------------------------------------------------------
# Shape, dtype, values
# ---------------------------------------------------------------------------------------------


@SOME
@given(x=unit_arrays(), T=steps)
def test_current_repeats_x_every_step(x, T):
    """`current` is x itself (as float32) at every step."""
    out = encode(x, T, "current")
    x32 = x.astype(np.float32)
    for k in range(T):
        np.testing.assert_array_equal(out[k], x32)


@SOME
@given(x=unit_arrays(), T=steps)
def test_deterministic_encoders_match_reference_trains(x, T):
    """RateSynS spikes at k < n(x), RateSynE at k >= T - n(x), TTFS only at k = T - n(x)."""
    for method in ("ratesyn_s", "ratesyn_e", "ttfs"):
        np.testing.assert_array_equal(encode(x, T, method), REFERENCE[method](x, T), err_msg=method)


# ---------------------------------------------------------------------------------------------
# RateSyn counts
# ---------------------------------------------------------------------------------------------


@SOME
@given(x=unit_arrays(), T=steps)
def test_ratesyn_count_follows_spec_formula(x, T):
    """ratesyn_count(x, T) is ceil(x*T - 1e-4) clipped to [0, T], integer-valued, of x's shape."""
    n = ratesyn_count(x, T)
    assert n.shape == x.shape
    assert np.issubdtype(n.dtype, np.integer)
    np.testing.assert_array_equal(n, n_ref(x, T))


@SOME
@given(
    data=st.data(),
    T=steps,
    d_and_extra=st.sampled_from([(0.0, 0), (0.5e-4, 0), (0.9e-4, 0), (1.1e-4, 1), (2e-4, 1), (0.5, 1), (0.9999, 1)]),
)
def test_ratesyn_count_guard_boundary(data, T, d_and_extra):
    """x*T = m + d (float64): d <= 1e-4 adds no spike, d > 1e-4 does (n = ceil(x*T - 1e-4))."""
    d, extra = d_and_extra
    m = data.draw(st.integers(0, T - 1))
    x = np.array([(m + d) / T])
    assert int(ratesyn_count(x, T)[0]) == m + extra
    assert encode(x, T, "ratesyn_s").sum() == m + extra


@SOME
@given(x=unit_arrays(), T=steps)
def test_ratesyn_variants_are_mirror_images(x, T):
    """ratesyn_e(x)[k] == ratesyn_s(x)[T-1-k] for every k."""
    s = encode(x, T, "ratesyn_s")
    e = encode(x, T, "ratesyn_e")
    for k in range(T):
        np.testing.assert_array_equal(e[k], s[T - 1 - k])


@SOME
@given(x=unit_arrays(), T=steps)
def test_ratesyn_counts_equal_n_and_are_close_to_xT(x, T):
    """Both RateSyn variants emit n(x) spikes per element, and |n(x) - x*T| < 1."""
    n = ratesyn_count(x, T)
    for method in ("ratesyn_s", "ratesyn_e"):
        np.testing.assert_array_equal(encode(x, T, method).sum(axis=0), n, err_msg=method)
    assert (np.abs(n - x.astype(np.float64) * T) < 1).all()
    assert ((0 <= n) & (n <= T)).all()


@SOME
@given(x=sorted_unit_vectors(), T=steps)
def test_ratesyn_count_is_non_decreasing_in_x(x, T):
    """n is non-decreasing in x (checked on a sorted vector, for ratesyn_count and the trains)."""
    n = ratesyn_count(x, T)
    assert (np.diff(n) >= 0).all()
    for method in ("ratesyn_s", "ratesyn_e"):
        assert (np.diff(encode(x, T, method).sum(axis=0)) >= 0).all()


@settings(max_examples=60, deadline=None)
@given(T=st.integers(1, 1000), dtype=dtypes, shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
def test_count_of_zero_is_zero_and_of_one_is_T(T, dtype, shape):
    """n(0) = 0 and n(1) = T (all T spikes: the authors' `post` bug drops one)."""
    zeros, ones = np.zeros(shape, dtype), np.ones(shape, dtype)
    assert (ratesyn_count(zeros, T) == 0).all()
    assert (ratesyn_count(ones, T) == T).all()
    for method in ("ratesyn_s", "ratesyn_e"):
        assert (encode(zeros, T, method) == 0).all()
        assert (encode(ones, T, method) == 1).all()
    assert (encode(zeros, T, "ttfs") == 0).all()
    ttfs_one = encode(ones, T, "ttfs")
    assert (ttfs_one[0] == 1).all() and (ttfs_one[1:] == 0).all()


# ---------------------------------------------------------------------------------------------
# The SPEC's float-error examples
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["ratesyn_s", "ratesyn_e"])
def test_spec_float_error_examples(method):
    """0.3 with T=10 gives exactly 3 spikes, float32(0.6) with T=100 exactly 60 (no extra spike)."""
    assert float(np.float32(0.6)) * 100 > 60  # the float error the guard must absorb is real
    assert int(ratesyn_count(np.array([0.3]), 10)[0]) == 3
    assert int(ratesyn_count(np.array([0.6], np.float32), 100)[0]) == 60
    assert encode(np.array([0.3]), 10, method).sum() == 3
    assert encode(np.array([0.6], np.float32), 100, method).sum() == 60
    assert encode(np.array([0.3], np.float32), 10, method).sum() == 3
    assert encode(np.array([0.6]), 100, method).sum() == 60


@pytest.mark.parametrize("x, T, n", [(0.07, 100, 7), (0.14, 100, 14), (0.28, 100, 28), (0.55, 100, 55)])
@pytest.mark.parametrize("method", ["ratesyn_s", "ratesyn_e"])
def test_float64_products_just_above_an_integer(x, T, n, method):
    """float64 products like 0.07*100 = 7.000000000000001 still give exactly n spikes."""
    assert x * T > n  # float error above the integer
    assert int(ratesyn_count(np.array([x]), T)[0]) == n
    assert encode(np.array([x]), T, method).sum() == n


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_8bit_pixels_every_T_exact_integer_count(dtype):
    """Pixels k/255 (all k, every T in 1..1000) give n = ceil(k*T/255) = (k*T + 254) // 255 exactly."""
    k = np.arange(256)
    x = (k / 255).astype(dtype)
    for T in range(1, 1001):
        expected = (k * T + 254) // 255
        np.testing.assert_array_equal(ratesyn_count(x, T), expected, err_msg=f"T={T}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [1, 7, 10, 30, 100, 255, 256, 999, 1000])
def test_8bit_pixels_encoded_trains(dtype, T):
    """Encoded 8-bit images k/255 carry (k*T + 254)//255 RateSyn spikes; TTFS fires at T - n."""
    k = np.arange(256)
    x = (np.arange(256, dtype=np.uint8).astype(np.float64) / 255).astype(dtype)
    n = (k * T + 254) // 255
    assert (encode(x, T, "ratesyn_s").sum(axis=0) == n).all()
    assert (encode(x, T, "ratesyn_e").sum(axis=0) == n).all()
    ttfs = encode(x, T, "ttfs")
    for i in range(256):
        col = ttfs[:, i]
        if n[i] == 0:
            assert not col.any()
        else:
            assert col.sum() == 1 and col[T - n[i]] == 1


# ---------------------------------------------------------------------------------------------
# TTFS
# ---------------------------------------------------------------------------------------------


@SOME
@given(x=unit_arrays(), T=steps)
def test_ttfs_single_spike_at_first_ratesyn_e_step(x, T):
    """TTFS has at most one spike, at the first spike step of ratesyn_e(x); none when n(x) = 0."""
    ttfs = encode(x, T, "ttfs")
    e = encode(x, T, "ratesyn_e")
    n = n_ref(x, T)
    counts = ttfs.sum(axis=0)
    assert (counts <= 1).all()
    np.testing.assert_array_equal(counts, (n > 0).astype(np.float32))
    first_t, first_e = first_spike(ttfs), first_spike(e)
    np.testing.assert_array_equal(first_t, first_e)
    np.testing.assert_array_equal(first_t[n > 0], T - n[n > 0])


# ---------------------------------------------------------------------------------------------
# Poisson
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.02, 0.3, 0.5, 0.77, 0.98])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_poisson_mean_count_is_xT(p, dtype):
    """Mean spike count is x*T within 5 standard deviations (20000 elements, T=25, fixed seed)."""
    N, T = 20000, 25
    p = float(dtype(p))
    out = encode(np.full(N, p, dtype), T, "poisson", seed=12345)
    total = out.sum(dtype=np.float64)
    mean, sd = N * T * p, math.sqrt(N * T * p * (1 - p))
    assert abs(total - mean) < 5 * sd
    # each step on its own also has rate p (draws are not concentrated on some steps)
    per_step = out.sum(axis=1, dtype=np.float64)
    sd_step = math.sqrt(N * p * (1 - p))
    assert (np.abs(per_step - N * p) < 6 * sd_step).all()


def test_poisson_draws_are_fresh_per_step_and_element():
    """For x = 0.5, P(spike at step 0 and 1) is 1/4 and neighbouring elements are independent too."""
    N = 40000
    out = encode(np.full(N, 0.5), 2, "poisson", seed=7).astype(np.float64)
    sd = math.sqrt(N * 0.25 * 0.75)
    assert abs((out[0] * out[1]).sum() - N / 4) < 5 * sd  # the same u reused per step gives N/2
    pairs = out[0, 0::2] * out[0, 1::2]
    sd_pairs = math.sqrt(N / 2 * 0.25 * 0.75)
    assert abs(pairs.sum() - N / 8) < 5 * sd_pairs  # the same u reused per element gives N/4


@FEW
@given(seeds=st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=2, unique=True))
def test_poisson_different_seeds_differ(seeds):
    """Two different seeds give different trains for x = 0.5 (2000 draws: equal with prob. 2^-2000)."""
    x = np.full((4, 50), 0.5)
    a = encode(x, 10, "poisson", seed=seeds[0])
    b = encode(x, 10, "poisson", seed=seeds[1])
    assert not np.array_equal(a, b)


def test_poisson_accepts_numpy_generator():
    """A numpy Generator is accepted as seed; equal Generator states give equal trains."""
    x = np.full((3, 40), 0.5)
    a = encode(x, 12, "poisson", seed=np.random.default_rng(2024))
    b = encode(x, 12, "poisson", seed=np.random.default_rng(2024))
    assert a.shape == (12, 3, 40) and a.dtype == np.float32
    assert np.isin(a, (0.0, 1.0)).all() and 0 < a.sum() < a.size
    np.testing.assert_array_equal(a, b)
    c = encode(x, 12, "poisson", seed=np.random.default_rng(2025))
    assert not np.array_equal(a, c)


# ---------------------------------------------------------------------------------------------
# SPEC's generic properties: the kit users get (evsim.testing.check_encoder), run on the built-ins
# ---------------------------------------------------------------------------------------------

KIT_PROPERTIES = {
    "current": ("shape and dtype", "no global random state", "same seed, same output", "deterministic",
                "input left unchanged", "batch independence"),
    "poisson": ("shape and dtype", "binary values", "no global random state", "same seed, same output",
                "input left unchanged", "batch independence", "silent at 0", "T spikes at 1", "count non-decreasing in x"),
    "ttfs": ("shape and dtype", "binary values", "no global random state", "same seed, same output", "deterministic",
             "input left unchanged", "batch independence", "at most one spike", "first spike non-increasing in x"),
}  # fmt: skip
KIT_PROPERTIES["ratesyn_s"] = KIT_PROPERTIES["ratesyn_e"] = KIT_PROPERTIES["poisson"][:4] + (
    "deterministic",) + KIT_PROPERTIES["poisson"][4:]  # fmt: skip


@pytest.mark.parametrize("method", ENCODERS)
def test_builtin_encoders_pass_the_property_kit(method):
    """Every built-in passes `check_encoder` for its kind: float32 (T, *x.shape) (spikes only 0 and 1),
    a pure function of (x, T, seed) with no global random state (the deterministic ones of (x, T)),
    x left alone and not aliased, batch independence; rate: silent at 0, T spikes at 1 (the
    authors' `post` bug drops one), counts non-decreasing in x (Poisson under the same draws);
    TTFS: at most one spike, never later for a larger x. Poisson is detected as stochastic."""
    ran = check_encoder(method, T=steps, max_examples=examples(40))
    assert ran == KIT_PROPERTIES[method]


# ---------------------------------------------------------------------------------------------
# Fused encoding
# ---------------------------------------------------------------------------------------------


@st.composite
def batches(draw) -> np.ndarray:
    """A batch (B, C, H, W) or (B, N) of values in [0, 1]."""
    dtype = draw(dtypes)
    if draw(st.booleans()):
        shape = tuple(draw(st.integers(1, 3)) for _ in range(4))
    else:
        shape = (draw(st.integers(1, 4)), draw(st.integers(1, 6)))
    return draw(hnp.arrays(dtype, shape, elements=unit_values(dtype)))


def test_fused_current_ratesyn_e_example():
    """encode(x, T, ["current", "ratesyn_e"]) for (B, N): channels [0, N) current, [N, 2N) RateSynE."""
    x = np.array([[0.0, 0.25, 1.0], [0.5, 0.3, 0.75]])  # B=2, N=3
    T = 4
    out = encode(x, T, ["current", "ratesyn_e"])
    assert out.shape == (T, 2, 6)
    np.testing.assert_array_equal(out[:, :, :3], np.stack([x.astype(np.float32)] * T))
    # n = ceil(x*4 - 1e-4): [[0, 1, 4], [2, 2, 3]]; RateSynE occupies the last n steps
    expected_e = np.array(
        [
            [[0, 0, 1], [0, 0, 0]],
            [[0, 0, 1], [0, 0, 1]],
            [[0, 0, 1], [1, 1, 1]],
            [[0, 1, 1], [1, 1, 1]],
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(out[:, :, 3:], expected_e)


@SOME
@given(
    x=batches(),
    T=st.integers(1, 40),
    methods=st.lists(st.sampled_from(DETERMINISTIC), min_size=1, max_size=4),
)
def test_fused_is_concatenation_on_channel_axis(x, T, methods):
    """Fused output of a batch is the per-method trains concatenated on axis 2, in the given order."""
    out = encode(x, T, methods)
    K, C = len(methods), x.shape[1]
    assert out.shape == (T, x.shape[0], K * C) + x.shape[2:]
    assert out.dtype == np.float32
    for i, m in enumerate(methods):
        np.testing.assert_array_equal(out[:, :, i * C : (i + 1) * C], REFERENCE[m](x, T), err_msg=m)
    np.testing.assert_array_equal(out, np.concatenate([encode(x, T, m) for m in methods], axis=2))


@FEW
@given(
    x=unit_arrays(min_dims=3, max_dims=3, max_side=3),
    T=st.integers(1, 40),
    methods=st.lists(st.sampled_from(DETERMINISTIC), min_size=1, max_size=3),
)
def test_fused_single_image_channel_axis_0(x, T, methods):
    """A single image (C, H, W) with channel_axis=0 is concatenated on output axis 1."""
    out = encode(x, T, methods, channel_axis=0)
    C = x.shape[0]
    assert out.shape == (T, len(methods) * C) + x.shape[1:]
    for i, m in enumerate(methods):
        np.testing.assert_array_equal(out[:, i * C : (i + 1) * C], REFERENCE[m](x, T), err_msg=m)


def test_fused_order_matters():
    """Swapping the method list swaps the channel blocks."""
    x = np.linspace(0, 1, 12).reshape(2, 2, 3)  # (B, C, N)
    ab = encode(x, 5, ["current", "ratesyn_e"])
    ba = encode(x, 5, ["ratesyn_e", "current"])
    np.testing.assert_array_equal(ab[:, :, :2], ba[:, :, 2:])
    np.testing.assert_array_equal(ab[:, :, 2:], ba[:, :, :2])
    assert not np.array_equal(ab, ba)


@FEW
@given(x=batches(), T=st.integers(1, 30), seed=st.integers(0, 2**32 - 1), K=st.integers(1, 4))
def test_fused_with_poisson_shape_and_purity(x, T, seed, K):
    """K methods including Poisson multiply the channel axis by K and stay reproducible per seed."""
    methods = (["poisson", "ttfs", "current", "ratesyn_s"] * 2)[:K]
    out = encode(x, T, methods, seed=seed)
    C = x.shape[1]
    assert out.shape == (T, x.shape[0], K * C) + x.shape[2:]
    np.testing.assert_array_equal(out, encode(x, T, methods, seed=seed))
    poisson = out[:, :, :C]
    assert np.isin(poisson, (0.0, 1.0)).all()
    zero = np.broadcast_to(x == 0, poisson.shape)
    one = np.broadcast_to(x == 1, poisson.shape)
    assert (poisson[zero] == 0).all() and (poisson[one] == 1).all()


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

GOOD = np.full((2, 3), 0.5)
BAD_X = [
    (np.array([0.5, -0.1]), r"\[0, 1\]"),
    (np.array([0.0, -1e-12]), r"\[0, 1\]"),
    (np.array([[1.0, 1.0001]]), r"\[0, 1\]"),
    (np.array([0.2, np.nan, 0.4]), "NaN"),
    (np.array([np.nan], np.float32), "NaN"),
    (np.arange(256, dtype=np.uint8).reshape(16, 16), r"\[0, 1\]"),
]


@pytest.mark.parametrize(
    "call",
    [lambda x, m=m: encode(x, 10, m, seed=0) for m in list(ENCODERS) + [["current", "ratesyn_e"]]]
    + [lambda x: ratesyn_count(x, 10)],
    ids=list(ENCODERS) + ["fused", "ratesyn_count"],
)
@pytest.mark.parametrize("x, match", BAD_X)
def test_invalid_x_raises(x, match, call):
    """Values < 0, > 1, NaN and an unscaled uint8 image are clear errors, never clipped, in every
    encoder and in ratesyn_count."""
    with pytest.raises(ValueError, match=match):
        call(x)


@pytest.mark.parametrize(
    "T, match",
    [(0, "T must be >= 1"), (-1, "T must be >= 1"), (2.5, "integer"), (True, "integer"), (10.0, "integer")],
)
@pytest.mark.parametrize("method", list(ENCODERS) + [["ttfs", "poisson"]])
def test_invalid_T_raises(T, match, method):
    """T must be a positive integer (not a float, not a bool)."""
    with pytest.raises(ValueError, match=match):
        encode(GOOD, T, method, seed=0)
    with pytest.raises(ValueError, match=match):
        ratesyn_count(GOOD, T)


@pytest.mark.parametrize(
    "method, match",
    [
        ("rate", "unknown encoding method"),
        ("RateSynE", "unknown encoding method"),
        ("", "unknown encoding method"),
        ([], "at least one method"),
        (["current", "bogus"], "unknown encoding method"),
        (["post"], "unknown encoding method"),
    ],
)
def test_unknown_or_empty_method_raises(method, match):
    """Unknown names (alone or inside a fused list) and an empty fused list are errors."""
    with pytest.raises(ValueError, match=match):
        encode(GOOD, 10, method)


@pytest.mark.parametrize("shape, axis", [((2, 3), 2), ((2, 3), 5), ((2, 1, 4, 4), 4), ((3, 4, 4), 3)])
def test_channel_axis_out_of_range_raises(shape, axis):
    """A fused channel_axis outside x's dimensions is an error."""
    with pytest.raises(ValueError, match="channel_axis"):
        encode(np.full(shape, 0.5), 10, ["current", "ratesyn_s"], channel_axis=axis)
