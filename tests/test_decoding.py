"""Output decoders (SPEC "Decoders and predictions"): rate and TTFS scores, predictions with ties
and abstention, invariances, early decision, predictions over time and input validation.

Expected values come from the plain-loop reference helpers below, never from the decoder under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from evsim.decoding import (
    ABSTAIN,
    DECODERS,
    decode,
    first_spike_step,
    predict,
    predictions_over_time,
    rate_scores,
    scores,
    ttfs_scores,
)

SETTINGS = settings(max_examples=150, deadline=None)

# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

spike_dtypes = st.sampled_from([np.bool_, np.uint8, np.int64, np.float32, np.float64])


@st.composite
def spike_arrays(draw, max_T: int = 30, max_B: int = 8, max_N: int = 12) -> np.ndarray:
    """Binary spikes (T, B, N): either drawn element by element (shrinks well) or from a seeded
    Bernoulli of a random density (sparse arrays give late first spikes and silent samples)."""
    T, B, N = draw(st.integers(1, max_T)), draw(st.integers(1, max_B)), draw(st.integers(1, max_N))
    dtype = draw(spike_dtypes)
    if draw(st.booleans()):
        arr = draw(hnp.arrays(np.uint8, (T, B, N), elements=st.integers(0, 1)))
    else:
        density = draw(st.sampled_from([0.0, 0.005, 0.02, 0.05, 0.15, 0.4, 0.8, 1.0]))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        arr = rng.random((T, B, N)) < density
        # silence a random subset of samples entirely
        arr[:, rng.random(B) < 0.2, :] = False
    return arr.astype(dtype)


@st.composite
def score_arrays(draw) -> np.ndarray:
    """Non-negative integer scores (B, N) from a small range, so ties and all-zero rows are common."""
    B, N = draw(st.integers(1, 8)), draw(st.integers(1, 12))
    top = draw(st.sampled_from([1, 2, 3, 30]))
    return draw(hnp.arrays(np.int64, (B, N), elements=st.integers(0, top)))


# ---------------------------------------------------------------------------------------------
# Reference implementations (explicit loops)
# ---------------------------------------------------------------------------------------------


def rate_ref(spikes: np.ndarray) -> np.ndarray:
    T, B, N = spikes.shape
    out = np.zeros((B, N), dtype=np.int64)
    for b in range(B):
        for i in range(N):
            for k in range(T):
                if spikes[k, b, i]:
                    out[b, i] += 1
    return out


def ttfs_ref(spikes: np.ndarray) -> np.ndarray:
    T, B, N = spikes.shape
    out = np.zeros((B, N), dtype=np.int64)
    for b in range(B):
        for i in range(N):
            for k in range(T):
                if spikes[k, b, i]:
                    out[b, i] = T - k
                    break
    return out


SCORE_REF = {"rate": rate_ref, "ttfs": ttfs_ref}


def predict_ref(omega: np.ndarray) -> np.ndarray:
    """First index of the largest score; -1 when every score is 0."""
    out = np.full(omega.shape[0], -1, dtype=np.int64)
    for b, row in enumerate(omega):
        if all(v == 0 for v in row):
            continue
        best = 0
        for i in range(1, len(row)):
            if row[i] > row[best]:
                best = i
        out[b] = best
    return out


def first_spike_ref(spikes: np.ndarray) -> np.ndarray:
    T, B, N = spikes.shape
    out = np.full(B, T, dtype=np.int64)
    for b in range(B):
        for k in range(T):
            if any(spikes[k, b, i] for i in range(N)):
                out[b] = k
                break
    return out


# ---------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(spikes=spike_arrays())
def test_rate_scores_are_spike_counts(spikes):
    """rate omega_i = number of steps at which neuron i spiked."""
    expected = rate_ref(spikes)
    np.testing.assert_array_equal(rate_scores(spikes), expected)
    np.testing.assert_array_equal(scores(spikes, "rate"), expected)


@SETTINGS
@given(spikes=spike_arrays())
def test_ttfs_scores_are_T_minus_first_spike_step(spikes):
    """TTFS omega_i = T - (first spike step of i), 0 when i is silent."""
    expected = ttfs_ref(spikes)
    np.testing.assert_array_equal(ttfs_scores(spikes), expected)
    np.testing.assert_array_equal(scores(spikes, "ttfs"), expected)


# ---------------------------------------------------------------------------------------------
# Predictions
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(omega=score_arrays())
def test_predict_argmax_ties_lowest_abstain_minus_one(omega):
    """predict = argmax with ties to the lowest index, -1 (ABSTAIN) when every score is 0."""
    pred = predict(omega)
    assert pred.shape == (omega.shape[0],)
    np.testing.assert_array_equal(pred, predict_ref(omega))
    assert ((pred >= -1) & (pred < omega.shape[1])).all()


def test_predict_examples():
    """Hand-checked rows: a tie, an abstention, a clear winner, a single neuron."""
    assert ABSTAIN == -1
    np.testing.assert_array_equal(predict(np.array([[0, 3, 3], [0, 0, 0], [5, 1, 4]])), [1, -1, 0])
    np.testing.assert_array_equal(predict(np.array([[0], [2]])), [-1, 0])
    np.testing.assert_array_equal(predict(np.array([[0.0, 0.5, 0.25]])), [1])


@SETTINGS
@given(spikes=spike_arrays(), decoder=st.sampled_from(DECODERS))
def test_decode_matches_loop_reference(spikes, decoder):
    """decode = loop argmax of the loop scores; predictions lie in [-1, N)."""
    pred = decode(spikes, decoder)
    assert pred.shape == (spikes.shape[1],)
    np.testing.assert_array_equal(pred, predict_ref(SCORE_REF[decoder](spikes)))
    assert ((pred >= -1) & (pred < spikes.shape[2])).all()
    silent = ~spikes.astype(bool).any(axis=(0, 2))
    assert (pred[silent] == -1).all() and (pred[~silent] >= 0).all()


@SETTINGS
@given(data=st.data(), spikes=spike_arrays())
def test_rate_decoding_ignores_spike_order(data, spikes):
    """Permuting the time axis leaves rate predictions (and scores) unchanged."""
    perm = data.draw(st.permutations(range(spikes.shape[0])))
    shuffled = spikes[list(perm)]
    np.testing.assert_array_equal(decode(shuffled, "rate"), decode(spikes, "rate"))
    np.testing.assert_array_equal(rate_scores(shuffled), rate_scores(spikes))


@SETTINGS
@given(spikes=spike_arrays(), seed=st.integers(0, 2**32 - 1), density=st.sampled_from([0.1, 0.5, 1.0]))
def test_ttfs_decision_ignores_everything_after_first_spike(spikes, seed, density):
    """Replacing every step after a sample's first output spike step by random spikes changes nothing."""
    T, B, N = spikes.shape
    first = first_spike_ref(spikes)
    junk = (np.random.default_rng(seed).random((T, B, N)) < density).astype(spikes.dtype)
    later = np.arange(T)[:, None] > first[None, :]  # (T, B): strictly after the first spike step
    changed = np.where(later[:, :, None], junk, spikes)
    np.testing.assert_array_equal(decode(changed, "ttfs"), decode(spikes, "ttfs"))


@SETTINGS
@given(spikes=spike_arrays())
def test_ttfs_prediction_is_lowest_neuron_at_first_spike_step(spikes):
    """The TTFS prediction is the lowest index among neurons that spike at the first spike step."""
    T, B, N = spikes.shape
    pred = decode(spikes, "ttfs")
    for b in range(B):
        expected = -1
        for k in range(T):
            spiking = [i for i in range(N) if spikes[k, b, i]]
            if spiking:
                expected = spiking[0]
                break
        assert pred[b] == expected


# ---------------------------------------------------------------------------------------------
# Predictions over time (TAAcc) and first spike step
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(spikes=spike_arrays(max_T=20))
def test_predictions_over_time_use_steps_up_to_k(spikes):
    """Row k is the decision from steps 0..k: TTFS on the zero-padded prefix, rate on the prefix."""
    T, B, _ = spikes.shape
    for decoder in DECODERS:
        rows = predictions_over_time(spikes, decoder)
        assert rows.shape == (T, B)
        for k in range(T):
            if decoder == "ttfs":
                prefix = np.zeros_like(spikes)
                prefix[: k + 1] = spikes[: k + 1]
            else:
                prefix = spikes[: k + 1]
            np.testing.assert_array_equal(rows[k], predict_ref(SCORE_REF[decoder](prefix)), err_msg=f"{decoder} k={k}")
            np.testing.assert_array_equal(rows[k], decode(prefix, decoder), err_msg=f"{decoder} k={k}")
        np.testing.assert_array_equal(rows[-1], decode(spikes, decoder), err_msg=decoder)


@SETTINGS
@given(spikes=spike_arrays())
def test_ttfs_over_time_abstains_until_first_spike_then_is_final(spikes):
    """TTFS rows are -1 before the first spike step and the final prediction from that step on."""
    rows = predictions_over_time(spikes, "ttfs")
    final = decode(spikes, "ttfs")
    first = first_spike_ref(spikes)
    for b in range(spikes.shape[1]):
        assert (rows[: first[b], b] == -1).all()
        assert (rows[first[b] :, b] == final[b]).all()


@SETTINGS
@given(spikes=spike_arrays())
def test_first_spike_step_matches_loop(spikes):
    """first_spike_step = first step at which any output neuron spikes, T when the sample is silent."""
    got = first_spike_step(spikes)
    assert got.shape == (spikes.shape[1],)
    np.testing.assert_array_equal(got, first_spike_ref(spikes))


def test_first_spike_step_example():
    """A hand-checked (T=4, B=3, N=2) case: spikes first at step 2, silent, spikes at step 0."""
    s = np.zeros((4, 3, 2), np.float32)
    s[2, 0, 1] = s[3, 0, 0] = 1
    s[0, 2, 0] = s[1, 2, 1] = 1
    np.testing.assert_array_equal(first_spike_step(s), [2, 4, 0])
    np.testing.assert_array_equal(decode(s, "ttfs"), [1, -1, 0])
    np.testing.assert_array_equal(ttfs_scores(s), [[1, 2], [0, 0], [4, 3]])


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

SPIKE_FUNCTIONS = [
    rate_scores,
    ttfs_scores,
    first_spike_step,
    lambda s: scores(s, "rate"),
    lambda s: scores(s, "ttfs"),
    lambda s: decode(s, "rate"),
    lambda s: decode(s, "ttfs"),
    lambda s: predictions_over_time(s, "rate"),
    lambda s: predictions_over_time(s, "ttfs"),
]


@pytest.mark.parametrize("shape", [(5,), (5, 3), (5, 2, 3, 1), ()])
@pytest.mark.parametrize("fn", SPIKE_FUNCTIONS)
def test_wrong_ndim_raises(fn, shape):
    """Spikes must be (T, B, N)."""
    with pytest.raises(ValueError, match=r"\(T, B, N\)"):
        fn(np.zeros(shape))


@pytest.mark.parametrize("fn", SPIKE_FUNCTIONS)
def test_zero_steps_raises(fn):
    """An empty time axis (T = 0) is an error, not an abstention."""
    with pytest.raises(ValueError, match="T >= 1"):
        fn(np.zeros((0, 2, 3)))


@pytest.mark.parametrize("decoder", ["RATE", "latency", "", "ttfs "])
@pytest.mark.parametrize("fn", [decode, scores, predictions_over_time])
def test_unknown_decoder_raises(fn, decoder):
    """Only "rate" and "ttfs" are decoders."""
    with pytest.raises(ValueError, match="unknown decoder"):
        fn(np.zeros((3, 2, 4)), decoder)


@pytest.mark.parametrize("omega", [np.zeros((3, 0)), np.zeros((0, 0)), np.zeros(4), np.zeros((2, 3, 1))])
def test_bad_scores_raise(omega):
    """predict needs scores (B, N) with N >= 1."""
    with pytest.raises(ValueError, match=r"\(B, N\) with N >= 1"):
        predict(omega)
