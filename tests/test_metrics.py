"""Robustness metrics (paper, Methods, Eq. 25-30): hand-computed cases, agreement with plain loops
(TAAcc against truncated decodes), perturbation timing on hand-made and encoded pairs, the
foreground/background split, and input validation.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import networks
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import evsim
from evsim.decoding import decode
from evsim.metrics import (
    accuracy,
    attack_success_rate,
    cumulative_hidden_rate,
    foreground_mask,
    hidden_rate,
    perturbation_counts,
    perturbation_timing,
    split_perturbation,
    stability,
    taacc,
)

SETTINGS = settings(max_examples=60, deadline=None)

# ---------------------------------------------------------------------------------------------
# accuracy, stability, ASR (Eq. 25, 27, 28)
# ---------------------------------------------------------------------------------------------


def test_accuracy_hand_computed_abstain_is_wrong():
    # sample 0 right, 1 wrong, 2 abstains on label 0 (wrong, never class 0), 3 right: 2/4
    assert accuracy(np.array([0, 1, -1, 2]), np.array([0, 2, 0, 2])) == 0.5
    assert accuracy(np.array([-1, -1]), np.array([0, 0])) == 0.0
    assert accuracy(np.array([3], dtype=np.uint8), np.array([3], dtype=np.int32)) == 1.0


@SETTINGS
@given(data=st.data())
def test_accuracy_and_stability_equal_plain_loops(data):
    K, B = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 20))
    labels = data.draw(hnp.arrays(np.int64, B, elements=st.integers(0, 3)))
    preds = data.draw(hnp.arrays(np.int64, (K, B), elements=st.integers(-1, 3)))
    assert accuracy(preds[0], labels) == pytest.approx(sum(int(p == y) for p, y in zip(preds[0], labels)) / B)
    want = sum(int(preds[k, b] == labels[b]) for k in range(K) for b in range(B)) / (K * B)
    assert stability(preds, labels) == pytest.approx(want)


def test_stability_hand_computed():
    # K = 2 Poisson trials of B = 3 samples: trial 0 gets 3/3 right, trial 1 gets 1/3: 4/6
    preds = np.array([[1, 0, 2], [1, -1, 0]])
    assert stability(preds, np.array([1, 0, 2])) == pytest.approx(4 / 6)


def test_attack_success_rate_both_definitions():
    labels = np.array([0, 1, 2, 3, 4])
    clean = np.array([0, 1, 2, 0, 0])  # samples 3 and 4 are wrong before any attack
    attacked = np.array([0, 2, -1, 0, 4])  # 1 misled, 2 abstains (misled), 3 stays wrong, 4 fixed
    # paper (Eq. 28): N_attack = all 5 samples, N_success = wrong under attack = {1, 2, 3}
    assert attack_success_rate(attacked, labels) == pytest.approx(3 / 5)
    assert attack_success_rate(attacked, labels) == pytest.approx(1 - accuracy(attacked, labels))
    # restricted: only the 3 clean-correct samples {0, 1, 2} are attacked; {1, 2} are misled
    assert attack_success_rate(attacked, labels, clean_predictions=clean) == pytest.approx(2 / 3)


def test_attack_success_rate_undefined_without_correct_clean_samples():
    with pytest.raises(ValueError, match="no sample is classified correctly"):
        attack_success_rate(np.array([0, 1]), np.array([1, 0]), clean_predictions=np.array([0, 1]))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: accuracy(np.array([0, 1]), np.array([0])), "2 samples but labels has 1"),
        (lambda: accuracy(np.array([], dtype=int), np.array([], dtype=int)), "empty"),
        (lambda: accuracy(np.array([0.0]), np.array([0])), "integer class indices"),
        (lambda: accuracy(np.array([0]), np.array([-1])), "labels must be >= 0"),
        (lambda: accuracy(np.array([-2]), np.array([0])), "abstain"),
        (lambda: accuracy(np.array([0]), np.array([10]), n_classes=10), r"labels must be < 10"),
        (lambda: accuracy(np.array([[0]]), np.array([0])), "1 dimension"),
        (lambda: accuracy(np.array([0]), np.array([0]), n_classes=0), "n_classes"),
        (lambda: stability(np.array([0, 1]), np.array([0, 1])), "2 dimension"),
        (lambda: stability(np.zeros((2, 3), int), np.array([0, 1])), "3 samples but labels has 2"),
        (lambda: attack_success_rate(np.array([0]), np.array([0]), np.array([0, 1])), "clean_predictions has 2"),
    ],
)
def test_accuracy_type_metrics_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# TAAcc (Eq. 26)
# ---------------------------------------------------------------------------------------------


def test_taacc_hand_computed():
    # T = 3, B = 2, N = 2. Sample 0 (label 1): neuron 0 spikes at k=0, neuron 1 at k=1 and k=2.
    # Sample 1 (label 0): silent until neuron 0 spikes at k=2.
    s = np.zeros((3, 2, 2), dtype=bool)
    s[0, 0, 0] = s[1, 0, 1] = s[2, 0, 1] = True
    s[2, 1, 0] = True
    labels = np.array([1, 0])
    # rate: sample 0 counts (1,0) -> 0, (1,1) -> 0 (tie to lowest), (1,2) -> 1; sample 1: -1, -1, 0
    np.testing.assert_allclose(taacc(s, labels, "rate"), [0.0, 0.0, 1.0])
    # ttfs: sample 0's first spike is neuron 0 at k=0, so it stays 0; sample 1: -1, -1, 0
    np.testing.assert_allclose(taacc(s, labels, "ttfs"), [0.0, 0.0, 0.5])


@SETTINGS
@given(
    s=hnp.arrays(np.bool_, hnp.array_shapes(min_dims=3, max_dims=3, max_side=8)),
    decoder=st.sampled_from(evsim.DECODERS),
    seed=st.integers(0, 2**32 - 1),
)
def test_taacc_equals_loop_over_truncated_decodes(s, decoder, seed):
    T, B, N = s.shape
    labels = np.random.default_rng(seed).integers(0, N, B)
    want = [np.mean(decode(s[: k + 1], decoder) == labels) for k in range(T)]
    np.testing.assert_allclose(taacc(s, labels, decoder), want)


@settings(max_examples=25, deadline=None)
@given(net=networks(max_populations=2, max_size=8), seed=st.integers(0, 2**32 - 1))
def test_taacc_of_early_exit_run_equals_full_run(net, seed):
    """One early-exit run gives the full run's TTFS TAAcc curve: no re-simulation is needed."""
    rng = np.random.default_rng(seed)
    inputs = evsim.encode(rng.random((6, net.n_in)), 8, "ratesyn_e")
    labels = rng.integers(0, net.n_out, 6)
    full = evsim.simulate(net, inputs, decoder="ttfs")
    early = evsim.simulate(net, inputs, decoder="ttfs", early_exit=True)
    np.testing.assert_allclose(taacc(early.output_spikes, labels, "ttfs"), taacc(full.output_spikes, labels, "ttfs"))
    assert taacc(full.output_spikes, labels, "ttfs")[-1] == accuracy(full.predictions, labels)


def test_taacc_rejects_bad_input():
    s = np.zeros((3, 2, 4), dtype=bool)
    with pytest.raises(ValueError, match="labels must be < 4"):
        taacc(s, np.array([0, 4]), "rate")
    with pytest.raises(ValueError, match="2 samples but labels has 3"):
        taacc(s, np.array([0, 1, 2]), "rate")
    with pytest.raises(ValueError, match=r"\(T, B, N\)"):
        taacc(s[0], np.array([0, 1]), "rate")
    with pytest.raises(ValueError, match="empty"):
        taacc(np.zeros((0, 2, 4)), np.array([0, 1]), "rate")
    with pytest.raises(ValueError, match="unknown decoder"):
        taacc(s, np.array([0, 1]), "latency")


# ---------------------------------------------------------------------------------------------
# temporal distribution of perturbations zeta
# ---------------------------------------------------------------------------------------------


def test_perturbation_timing_hand_computed():
    # T = 4, B = 2 images of 3 pixels. Differences: step 0: 1, step 1: 0, step 2: 2, step 3: 1 -> /4
    clean = np.zeros((4, 2, 3), dtype=np.float32)
    atk = clean.copy()
    atk[0, 0, 0] = 1
    atk[2, 0, 1] = 1
    atk[2, 1, 2] = 0.5
    atk[3, 1, 0] = 1
    np.testing.assert_allclose(perturbation_timing(clean, atk), [0.25, 0.0, 0.5, 0.25])
    # foreground = pixel 0 of each image: steps 0 and 3; background the rest; parts add up
    fg = np.array([[True, False, False], [True, False, False]])
    np.testing.assert_allclose(perturbation_timing(clean, atk, where=fg), [0.25, 0, 0, 0.25])
    np.testing.assert_allclose(perturbation_timing(clean, atk, where=~fg), [0, 0, 0.5, 0])


def test_perturbation_timing_of_identical_encodings_is_zero_not_nan():
    enc = evsim.encode(np.full((2, 5), 0.5), 6, "ratesyn_s")
    zeta = perturbation_timing(enc, enc)
    np.testing.assert_array_equal(zeta, np.zeros(6))


def _toy_image_and_attack(seed: int = 0):
    """A 2 x 20-pixel 'digit': foreground 0.8-1.0 on a dark background, FGSM-like +-0.1 everywhere."""
    rng = np.random.default_rng(seed)
    x = np.zeros((2, 20))
    x[:, 5:12] = rng.uniform(0.8, 1.0, (2, 7))
    delta = 0.1 * rng.choice([-1.0, 1.0], x.shape)
    return x, np.clip(x + delta, 0.0, 1.0)


def test_ratesyn_e_puts_foreground_perturbations_before_background_ones():
    """Paper Fig. 2E: with RateSynE the foreground perturbations come early, the background late."""
    x, x_adv = _toy_image_and_attack()
    T = 10
    clean, atk = evsim.encode(x, T, "ratesyn_e"), evsim.encode(x_adv, T, "ratesyn_e")
    fg = foreground_mask(x)
    zeta_fg = perturbation_timing(clean, atk, where=fg)
    zeta_bg = perturbation_timing(clean, atk, where=~fg)
    np.testing.assert_allclose(zeta_fg + zeta_bg, perturbation_timing(clean, atk))
    assert zeta_fg.sum() > 0 and zeta_bg.sum() > 0
    steps = np.arange(T)
    assert zeta_fg[zeta_fg > 0].size and steps[zeta_fg > 0].max() < steps[zeta_bg > 0].min()
    # RateSynS is the mirror: background first
    clean_s, atk_s = evsim.encode(x, T, "ratesyn_s"), evsim.encode(x_adv, T, "ratesyn_s")
    zs_fg = perturbation_timing(clean_s, atk_s, where=fg)
    zs_bg = perturbation_timing(clean_s, atk_s, where=~fg)
    assert steps[zs_bg > 0].max() < steps[zs_fg > 0].min()


def test_current_encoding_spreads_perturbations_evenly():
    x, x_adv = _toy_image_and_attack(1)
    zeta = perturbation_timing(evsim.encode(x, 5, "current"), evsim.encode(x_adv, 5, "current"))
    np.testing.assert_allclose(zeta, np.full(5, 0.2))


@SETTINGS
@given(data=st.data())
def test_perturbation_timing_sums_to_one_and_counts_differences(data):
    shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=4, max_side=5))
    a = data.draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 1)))
    b = data.draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 1)))
    zeta = perturbation_timing(a, b)
    diff = [(a[k] != b[k]).sum() for k in range(shape[0])]
    if sum(diff) == 0:
        np.testing.assert_array_equal(zeta, 0)
    else:
        assert zeta.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(zeta, np.array(diff) / sum(diff))


def test_perturbation_timing_rejects_bad_input():
    a = np.zeros((3, 2, 4))
    with pytest.raises(ValueError, match="differ in shape"):
        perturbation_timing(a, np.zeros((3, 2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        perturbation_timing(a, np.full((3, 2, 4), np.nan))
    with pytest.raises(ValueError, match="empty"):
        perturbation_timing(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="boolean mask"):
        perturbation_timing(a, a, where=np.ones((2, 4)))
    with pytest.raises(ValueError, match="must broadcast"):
        perturbation_timing(a, a, where=np.ones((3,), bool))


# ---------------------------------------------------------------------------------------------
# foreground / background split
# ---------------------------------------------------------------------------------------------


def test_foreground_mask_threshold_is_strict():
    x = np.array([0.0, 0.1, 0.2, 0.2000001, 0.5, 1.0])
    np.testing.assert_array_equal(foreground_mask(x), [False, False, False, True, True, True])
    np.testing.assert_array_equal(foreground_mask(x, threshold=0.5), [False] * 5 + [True])


def test_split_perturbation_hand_computed():
    x = np.array([0.0, 0.9, 0.2, 0.5])
    adv = np.array([0.1, 0.8, 0.3, 0.5])
    fg_only, bg_only = split_perturbation(x, adv)
    # foreground pixels (> 0.2): 1 and 3; pixel 2 (= 0.2) is background
    np.testing.assert_array_equal(fg_only, [0.0, 0.8, 0.2, 0.5])
    np.testing.assert_array_equal(bg_only, [0.1, 0.9, 0.3, 0.5])


images = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
    elements=st.floats(0.0, 1.0, allow_nan=False),
)


@SETTINGS
@given(x=images, data=st.data())
def test_split_perturbation_sums_back(x, data):
    adv = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(0.0, 1.0)))
    fg_only, bg_only = split_perturbation(x, adv)
    np.testing.assert_allclose(fg_only + bg_only - x, adv, atol=1e-12)
    fg = x > 0.2
    # each pixel is exactly its clean or its adversarial value
    np.testing.assert_array_equal(fg_only, np.where(fg, adv, x))
    np.testing.assert_array_equal(bg_only, np.where(fg, x, adv))
    assert fg_only.min() >= 0 and bg_only.max() <= 1


def test_split_rejects_bad_input():
    with pytest.raises(ValueError, match="differ in shape"):
        split_perturbation(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        split_perturbation(np.zeros(3), np.full(3, 255.0))
    with pytest.raises(ValueError, match="NaN"):
        foreground_mask(np.array([np.nan]))
    with pytest.raises(ValueError, match="empty"):
        foreground_mask(np.zeros(0))
    with pytest.raises(ValueError, match="threshold"):
        foreground_mask(np.zeros(2), threshold=float("nan"))


# ---------------------------------------------------------------------------------------------
# hidden activity (Eq. 29, 30)
# ---------------------------------------------------------------------------------------------


def test_hidden_rates_hand_computed():
    # T = 3, B = 1, N = 4: spikes per step 2, 0, 4
    s = np.zeros((3, 1, 4), dtype=bool)
    s[0, 0, :2] = True
    s[2, 0, :] = True
    # Eq. 29: cumulative counts 2, 2, 6 divided by t = 1, 2, 3 -> 2, 1, 2 (not divided by N)
    np.testing.assert_allclose(cumulative_hidden_rate(s)[:, 0], [2.0, 1.0, 2.0])
    # Eq. 30: fraction of the 4 neurons per step
    np.testing.assert_allclose(hidden_rate(s)[:, 0], [0.5, 0.0, 1.0])


def test_hidden_rates_take_all_hidden_layers_of_a_result():
    a = np.zeros((2, 1, 2), dtype=bool)
    b = np.zeros((2, 1, 3), dtype=bool)
    a[0, 0, 0] = b[1, 0, :] = True
    # 5 hidden neurons: step 0 one spike, step 1 three
    np.testing.assert_allclose(hidden_rate((a, b))[:, 0], [1 / 5, 3 / 5])
    np.testing.assert_allclose(cumulative_hidden_rate([a, b])[:, 0], [1.0, 2.0])


@SETTINGS
@given(s=hnp.arrays(np.bool_, hnp.array_shapes(min_dims=3, max_dims=3, max_side=6)))
def test_cumulative_rate_over_n_is_the_running_mean_of_hidden_rate(s):
    N = s.shape[2]
    running = np.cumsum(hidden_rate(s), axis=0) / np.arange(1, s.shape[0] + 1)[:, None]
    np.testing.assert_allclose(cumulative_hidden_rate(s) / N, running)


def test_hidden_rates_reject_bad_input():
    with pytest.raises(ValueError, match="record_hidden=False"):
        hidden_rate(())
    with pytest.raises(ValueError, match=r"\(T, B, N\)"):
        cumulative_hidden_rate(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="differ in"):
        hidden_rate([np.zeros((2, 1, 2)), np.zeros((3, 1, 2))])


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    T=st.integers(1, 40),
    method=st.sampled_from(evsim.ENCODERS),
    shape=st.sampled_from([(7,), (3, 5), (2, 1, 4, 4)]),
    eps=st.sampled_from([0.0, 0.02, 0.1, 0.5]),
)
def test_perturbation_counts_equal_counting_dense_encodings(seed, T, method, shape, eps):
    """The counts from n(x) equal the differences of the two dense encodings, step by step."""
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    x[x < 0.3] = 0.0
    x_adv = np.clip(x + eps * np.sign(rng.normal(size=shape)), 0, 1).astype(np.float32)
    want = (evsim.encode(x, T, method, seed=seed) != evsim.encode(x_adv, T, method, seed=seed)).reshape(T, -1).sum(1)
    np.testing.assert_array_equal(perturbation_counts(x, x_adv, T, method, seed=seed), want)


def test_perturbation_counts_reject_bad_input():
    with pytest.raises(ValueError, match="differ in shape"):
        perturbation_counts(np.zeros(3), np.zeros(4), 5, "ttfs")
    with pytest.raises(ValueError, match="unknown encoding"):
        perturbation_counts(np.zeros(3), np.zeros(3), 5, "latency")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        perturbation_counts(np.zeros(3), np.full(3, 1.5), 5, "ttfs")
