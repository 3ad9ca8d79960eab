"""The literature encoders (`scenarios.setups.literature_encoders`: phase, burst, sigma-delta),
registered through `evsim.register_encoder`: the property kit for the kind each claims, their
defining behaviour on hand-computed cases and on every 8-bit pixel (integer arithmetic, never the
encoder under test), and what phase coding's weighted spikes cost in evsim's counts."""

from __future__ import annotations

import numpy as np
import pytest

import evsim
from conftest import examples
from evsim.testing import check_encoder, steps
from scenarios.setups import literature_encoders as lit

PIXELS = np.arange(256)  # every 8-bit value v; x = v / 255


@pytest.fixture
def literature():
    """The three registered for one test, removed after it (the registry is module-level)."""
    with lit.register():
        yield
    assert not set(lit.LITERATURE) & set(evsim.encoding.encoder_names())


KIT = {
    "phase": ("shape and dtype", "no global random state", "same seed, same output", "deterministic",
              "input left unchanged", "batch independence"),
    "burst": ("shape and dtype", "binary values", "no global random state", "same seed, same output", "deterministic",
              "input left unchanged", "batch independence", "silent at 0", "count non-decreasing in x"),
    "sigma_delta": ("shape and dtype", "binary values", "no global random state", "same seed, same output",
                    "deterministic", "input left unchanged", "batch independence", "silent at 0", "T spikes at 1",
                    "count non-decreasing in x"),
}  # fmt: skip


@pytest.mark.parametrize("name", tuple(lit.LITERATURE))
def test_literature_encoders_pass_the_kit_for_the_kind_they_claim(literature, name):
    """phase is a current (float weighted spikes), burst and sigma_delta rate codes; detected as
    deterministic; burst declares full_at_one=False (and only that), sigma_delta needs nothing."""
    fn, kind, options = lit.LITERATURE[name]
    assert evsim.encoding.encoder_kind(name) == kind
    assert check_encoder(name, T=steps(40), max_examples=examples(15), **options) == KIT[name]


def test_burst_needs_its_declaration_and_the_kit_says_which_property():
    """At x = 1 a burst fills 5 of each window's 6 steps: 'T spikes at 1' fails without the
    declaration (so the declaration is needed, not decorative)."""
    with pytest.raises(AssertionError, match="property 'T spikes at 1' fails"):
        check_encoder(lit.burst, T=12, kind="rate", max_examples=examples(15), styles=("8-bit",))


# ------------------------------------------------------------------ phase (Kim et al. 2018)

W8 = 8 * 2.0 ** -(1 + np.arange(8))  # K * 2^-(1+p): 4, 2, 1, ..., 1/32


def test_phase_sends_the_8_bit_expansion_msb_first_weighted_by_phase():
    x = np.array([0, 0.5, 1, 3 / 255, 170 / 255])  # v = 0, 128 (rint of 127.5), 255, 0b11, 0b10101010
    got = lit.phase(x, 10)
    bits = np.array([[0] * 8, [1, 0, 0, 0, 0, 0, 0, 0], [1] * 8, [0, 0, 0, 0, 0, 0, 1, 1], [1, 0, 1, 0, 1, 0, 1, 0]])
    want = np.concatenate([bits * W8, (bits * W8)[:, :2]], axis=1).T  # step 8 is phase 0 again
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_phase_period_sums_to_the_pixel_over_256_at_the_papers_scale(dtype):
    """gain=1: the weights 2^-(1+p) make one period carry v / 256 (v the 8-bit pixel), every
    period the same; the default gain K = 8 carries 8 v / 256 per 8 steps (about x per step)."""
    x = (PIXELS / 255).astype(dtype)
    paper = lit.phase(x, 24, gain=1.0)
    for period in paper.reshape(3, 8, 256):
        np.testing.assert_array_equal(period.sum(axis=0), PIXELS / 256)
    np.testing.assert_array_equal(lit.phase(x, 8).sum(axis=0), 8 * PIXELS / 256)
    np.testing.assert_array_equal(lit.phase(x, 8) != 0, paper[:8] != 0)  # same spikes, other weights


def test_a_weighted_phase_spike_costs_macs_and_drains_through_an_if_neuron(literature):
    """One input, one IF neuron (weight 1, theta 1), x = 0.5 (v = 128): one spike of weight 4 at
    step 0, so U = 4, 3, 2, 1 spike and subtract: 4 output spikes = x T, the rate the conversion
    expects. Layer 0 counts 1 MAC (one weighted spike, one synapse) and no SOP."""
    net = evsim.Network.dense([np.ones((1, 1))], neuron=evsim.IF())
    res = evsim.simulate(net, evsim.encode_events(np.array([[0.5]]), 8, "phase"))
    np.testing.assert_array_equal(res.output_spikes[:, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0])
    assert res.macs[0, 0] == 1 and res.sops[0, 0] == 0


def test_phase_macs_are_the_sops_of_its_bit_train(literature):
    """Each weighted spike reaches its 3 synapses once: layer 0's MACs equal 3 x the non-zero
    values, the SOPs the binary bit train (the same events, unweighted) costs as spikes."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (4, 5)) / 255
    net = evsim.Network.dense([rng.normal(size=(3, 5))], neuron=evsim.IF())
    weighted = evsim.simulate(net, evsim.encode_events(x, 11, "phase"))
    dense = evsim.encode(x, 11, "phase")
    bits = evsim.simulate(net, (dense != 0).astype(np.float32), input_kind="spikes")
    np.testing.assert_array_equal(weighted.macs[:, 0], 3 * (dense != 0).sum(axis=(0, 2)))
    np.testing.assert_array_equal(weighted.macs[:, 0], bits.sops[:, 0])
    assert (weighted.sops[:, 0] == 0).all() and (bits.macs[:, 0] == 0).all()


# ------------------------------------------------------------------ burst (Park et al. 2019)


def test_burst_opens_every_6_step_window_with_up_to_5_spikes():
    x = np.array([0, 0.01, 0.2, 0.5, 0.8, 1])  # n = ceil(5x - 1e-4) = 0, 1, 1, 3, 4, 5
    got = lit.burst(x, 13)
    window = {0: [], 1: [0], 3: [0, 1, 2], 4: [0, 1, 2, 3], 5: [0, 1, 2, 3, 4]}
    for i, n in enumerate([0, 1, 1, 3, 4, 5]):
        want = [k for k in range(13) if k % 6 in window[n]]
        assert np.flatnonzero(got[:, i]).tolist() == want, (x[i], n)
    assert got.dtype == bool


@pytest.mark.parametrize("T", [1, 5, 6, 30, 31])
def test_burst_count_of_every_8_bit_pixel(T):
    """n = ceil(5 v / 255) in integers (SPEC's guard never moves an 8-bit pixel's count), the
    count (T // 6) n + min(n, T mod 6), every burst at its window's start."""
    n = -(-5 * PIXELS // 255)
    got = lit.burst(PIXELS / 255, T)
    np.testing.assert_array_equal(got.sum(axis=0), (T // 6) * n + np.minimum(n, T % 6))
    k = np.arange(T)[:, None]
    np.testing.assert_array_equal(got, (k % 6) < n)


# ------------------------------------------------------------------ sigma-delta (Loihi's input)


def test_sigma_delta_spikes_when_the_accumulated_input_crosses_the_threshold():
    got = lit.sigma_delta(np.array([0, 0.25, 0.4, 1]), 8)
    assert [np.flatnonzero(got[:, i]).tolist() for i in range(4)] == [[], [3, 7], [2, 4, 7], list(range(8))]


def modulator(v: int, T: int, threshold: int = 255) -> list[int]:
    """The sigma-delta loop in integers (units of 1/255): u += v, spike and subtract at threshold."""
    u, out = 0, []
    for _ in range(T):
        u += v
        out.append(int(u >= threshold))
        u -= threshold * out[-1]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigma_delta_is_the_integer_modulator_on_every_8_bit_pixel(dtype):
    """The closed form equals the loop exactly on every 8-bit pixel (float32 or float64), at
    threshold 1 and 2 (the count floor(T x / threshold), the first spike at ceil(1 / x) - 1)."""
    x = (PIXELS / 255).astype(dtype)
    for threshold in (1, 2):
        want = np.array([modulator(int(v), 30, 255 * threshold) for v in PIXELS]).T
        np.testing.assert_array_equal(lit.sigma_delta(x, 30, threshold=threshold), want)


# ------------------------------------------------------------------ registering


def test_available_registers_only_what_is_missing_and_removes_only_that():
    mine = evsim.register_encoder("burst", lit.sigma_delta, "rate")  # a user's own "burst"
    try:
        with lit.available(["current", "burst", "phase"]):
            assert evsim.encoding.encoder_names()[-2:] == ("burst", "phase")
            assert evsim.encoding.registered_encoders()["burst"] is mine
        assert evsim.encoding.registered_encoders() == {"burst": mine}
    finally:
        evsim.encoding.unregister_encoder("burst")
    with pytest.raises(ValueError, match="no literature encoder 'poisson'"):
        lit.register(["poisson"])
    with pytest.raises(ValueError, match="already registered"), lit.register(["phase"]):
        lit.register(["sigma_delta", "phase"])
    assert evsim.encoding.registered_encoders() == {}  # the failed call left nothing behind
