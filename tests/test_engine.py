"""The event-driven engine: agreement with the reference, exact SOPs, early exit, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import assert_same_run, encoded_batches, examples, networks
from hypothesis import event, given, settings
from hypothesis import strategies as st

import evsim
from evsim.engine.plan import build_plan
from evsim.network import INPUT, Dense, Network, Population


run_modes = st.sampled_from([("rate", False), ("ttfs", False), ("ttfs", True)])


@settings(max_examples=examples(150), deadline=None)  # thorough profile: 1,500
@given(data=st.data(), net=networks(), mode=run_modes)
def test_engine_equals_reference_float64(data, net, mode):
    """Spikes of every layer, predictions, exit steps, SOPs and MACs are identical in float64."""
    inputs = data.draw(encoded_batches(net.n_in))
    decoder, early_exit = mode
    got = evsim.simulate(net, inputs, decoder=decoder, early_exit=early_exit, dtype=np.float64, record_hidden=True)
    want = evsim.reference_simulate(net, inputs, decoder=decoder, early_exit=early_exit, dtype=np.float64)
    assert_same_run(got, want)


def test_engine_float32_agrees_with_float64_reference():
    """float32 differs from float64 only by rounding: nearly every sample keeps its spike trains."""
    rng = np.random.default_rng(7)
    W = [rng.normal(0.05, 0.15, (60, 100)), rng.normal(0.1, 0.3, (10, 60))]
    net = Network.dense(W, neuron=evsim.LIF(tau_m=10, tau_s=10))
    x = rng.random((400, 100))
    inputs = evsim.encode(x, 20, "ratesyn_e")
    got = evsim.simulate(net, inputs, dtype=np.float32, record_hidden=True)
    want = evsim.reference_simulate(net, inputs, dtype=np.float64)
    same = (got.output_spikes == want.output_spikes).all(axis=(0, 2)) & (
        got.hidden_spikes[0] == want.hidden_spikes[0]
    ).all(axis=(0, 2))
    assert want.output_spikes.mean() > 0.02  # the case is not vacuous
    assert same.mean() >= 0.99


@settings(max_examples=100, deadline=None)
@given(data=st.data(), net=networks())
def test_early_exit_matches_full_run_and_stops_work(data, net):
    """Early exit keeps the TTFS prediction of the full run and does no work after its exit step."""
    inputs = data.draw(encoded_batches(net.n_in))
    T = inputs.shape[0]
    full = evsim.simulate(net, inputs, decoder="ttfs", dtype=np.float64, record_hidden=True)
    early = evsim.simulate(net, inputs, decoder="ttfs", early_exit=True, dtype=np.float64, record_hidden=True)
    np.testing.assert_array_equal(early.predictions, full.predictions)
    np.testing.assert_array_equal(early.exit_step, full.first_spike_step)
    assert (full.exit_step == T).all()
    steps = np.arange(T)[:, None]
    before = steps <= early.exit_step[None, :]  # (T, B): steps the early run simulated
    after = ~before
    for e, f in zip(early.hidden_spikes + (early.output_spikes,), full.hidden_spikes + (full.output_spikes,)):
        assert not e[after].any()
        np.testing.assert_array_equal(e[before], f[before])
    assert not early.sops_per_step[after].any() and not early.macs_per_step[after].any()
    np.testing.assert_array_equal(early.sops_per_step[before], full.sops_per_step[before])
    np.testing.assert_array_equal(early.steps, np.minimum(early.exit_step + 1, T))


def _chain_if():
    """3 inputs -> 2 IF -> 1 IF; hidden 0 copies input 0, hidden 1 copies input 2."""
    W1 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    W2 = np.array([[1.0, 1.0]])
    return Network.dense([W1, W2], neuron=evsim.IF())


def _spikes(T, B, n, on):
    s = np.zeros((T, B, n), dtype=np.float32)
    for k, b, j in on:
        s[k, b, j] = 1
    return s


def test_sops_hand_computed():
    """Step 0: inputs 0 and 1 spike (2 x fan-out 2 = 4 SOPs), hidden 0 fires (1 x 1 SOP);
    step 1: input 2 spikes (2 SOPs), hidden 1 fires (1 SOP); step 2: nothing."""
    net = _chain_if()
    inputs = _spikes(3, 1, 3, [(0, 0, 0), (0, 0, 1), (1, 0, 2)])
    res = evsim.simulate(net, inputs, record_hidden=True)
    np.testing.assert_array_equal(res.sops_per_step[:, 0, :], [[4, 1], [2, 1], [0, 0]])
    np.testing.assert_array_equal(res.sops, [[6, 2]])
    np.testing.assert_array_equal(res.macs, [[0, 0]])
    np.testing.assert_array_equal(res.hidden_spikes[0][:, 0, :], [[1, 0], [0, 1], [0, 0]])
    np.testing.assert_array_equal(res.output_spikes[:, 0, 0], [1, 1, 0])
    assert res.predictions.tolist() == [0]
    # early exit at the first output spike (step 0): only step 0's work is done
    early = evsim.simulate(net, inputs, decoder="ttfs", early_exit=True, record_hidden=True)
    np.testing.assert_array_equal(early.sops, [[4, 1]])
    assert early.exit_step.tolist() == [0] and early.steps.tolist() == [1]


def test_macs_for_current_input_count_non_zero_values():
    """A float input feeds layer 0 through MACs: each non-zero value costs its fan-out (n_out) per
    simulated step; a zero value reaches nothing (SPEC "Deep networks": exact MACs)."""
    net = _chain_if()
    x = np.array([[0.0, 0.5, 0.25]])
    inputs = evsim.encode(x, 4, "current")
    res = evsim.simulate(net, inputs, record_hidden=True)
    np.testing.assert_array_equal(res.macs, [[4 * 2 * 2, 0]])  # 4 steps x 2 non-zero inputs x fan-out 2
    np.testing.assert_array_equal(res.values_in, [[4 * 2, 0]])
    assert res.sops[0, 0] == 0
    # hidden 1 integrates 0.25 per step: fires at step 3 only, costing 1 SOP downstream
    np.testing.assert_array_equal(res.hidden_spikes[0][:, 0, 1], [0, 0, 0, 1])
    np.testing.assert_array_equal(res.sops, [[0, 1]])
    forced = evsim.simulate(net, evsim.encode(np.array([[1.0, 0.0, 1.0]]), 2, "current"), input_kind="current")
    np.testing.assert_array_equal(forced.macs, [[8, 0]])  # 2 steps x 2 non-zero inputs x fan-out 2


def test_skip_projection_counts_its_own_sops():
    """An input -> output skip (a residual addition) adds its current and counts fan-out 1 per input spike."""
    pops = [Population((2,), evsim.IF()), Population((1,), evsim.IF())]
    projs = [
        Dense(INPUT, 0, np.zeros((2, 3))),
        Dense(0, 1, np.zeros((1, 2))),
        Dense(INPUT, 1, np.array([[0.5, 0.5, 0.0]])),
    ]
    net = Network((3,), pops, projs)
    inputs = _spikes(2, 1, 3, [(0, 0, 0), (1, 0, 1), (1, 0, 2)])
    res = evsim.simulate(net, inputs, record_hidden=True)
    np.testing.assert_array_equal(res.sops_per_step[:, 0, :], [[2, 0, 1], [4, 0, 2]])
    np.testing.assert_array_equal(res.output_spikes[:, 0, 0], [0, 1])  # 0.5 + 0.5 reaches theta = 1


def test_lif_trace_and_threshold_hand_computed():
    """LIF tau_m = tau_s = 2, one input spike of weight 1 at step 0: I = 1/2, U = 1/2 >= theta = 1/2."""
    net = Network.dense([np.array([[1.0]])], neuron=evsim.LIF(tau_m=2, tau_s=2, theta=0.5))
    inputs = _spikes(4, 1, 1, [(0, 0, 0)])
    res = evsim.simulate(net, inputs, dtype=np.float64, record_hidden=True)
    # step 0: spike (>=) and hard reset; step 1: I = 1/4, U = 1/4; step 2: I = 1/8, U = 1/8 + 1/8 = 1/4
    np.testing.assert_array_equal(res.output_spikes[:, 0, 0], [1, 0, 0, 0])
    higher = Network.dense([np.array([[1.0]])], neuron=evsim.LIF(tau_m=2, tau_s=2, theta=0.5 + 1e-9))
    # U: 0.5, 0.5 (0.25 leak + 0.25 input), 0.375, ...: just below theta, never spikes
    assert not evsim.simulate(higher, inputs, dtype=np.float64, record_hidden=True).output_spikes.any()


@pytest.mark.parametrize("reset, steps", [("subtract", [1, 3, 4, 6, 7]), ("zero", [1, 3, 5, 7])])
def test_reset_modes_hand_computed(reset, steps):
    """IF with bias 0.625 and no input: subtraction keeps the excess (U: .625, 1.25, .875, 1.5,
    1.125, .75, 1.375, 1.0), zero reset drops it (U: .625, 1.25, .625, 1.25, ...)."""
    pop = Population((1,), evsim.IF(theta=1.0, reset=reset), bias=np.array([0.625]))
    net = Network((1,), [pop], [Dense(INPUT, 0, np.zeros((1, 1)))])
    res = evsim.simulate(net, np.zeros((8, 1, 1), dtype=np.float32), record_hidden=True)
    assert np.flatnonzero(res.output_spikes[:, 0, 0]).tolist() == steps


def test_silent_output_abstains():
    net = Network.dense([np.zeros((4, 3)), np.zeros((2, 4))])
    res = evsim.simulate(net, np.ones((5, 2, 3), dtype=np.float32), decoder="ttfs", early_exit=True, record_hidden=True)
    assert res.predictions.tolist() == [-1, -1]
    assert res.exit_step.tolist() == [5, 5] and res.first_spike_step.tolist() == [5, 5]
    np.testing.assert_array_equal(res.sops, [[5 * 3 * 4, 0], [5 * 3 * 4, 0]])


def test_input_forms_are_equivalent():
    """bool, uint8, float32 and float64 spikes, and (T, B, *input_shape) batches, give one result."""
    rng = np.random.default_rng(5)
    pops = [Population((6,), evsim.LIF(4, 2)), Population((3,), evsim.LIF(4, 2))]
    projs = [Dense(INPUT, 0, rng.normal(0.3, 0.5, (6, 12))), Dense(0, 1, rng.normal(0.3, 0.5, (3, 6)))]
    net = Network((3, 2, 2), pops, projs)
    spikes = rng.random((9, 4, 3, 2, 2)) < 0.4
    base = evsim.simulate(net, spikes.reshape(9, 4, 12).astype(np.float32), record_hidden=True)
    for form in (spikes, spikes.astype(np.uint8), spikes.astype(np.float64), spikes.astype(np.int32)):
        assert_same_run(evsim.simulate(net, form, record_hidden=True), base)
    assert base.output_spikes.any()


def test_record_hidden_off_keeps_output_and_counts():
    rng = np.random.default_rng(11)
    net = Network.dense([rng.normal(0.2, 0.3, (20, 30)), rng.normal(0.2, 0.3, (4, 20))], neuron=evsim.LIF(8, 4))
    inputs = evsim.encode(rng.random((6, 30)), 10, "ratesyn_s")
    full = evsim.simulate(net, inputs, record_hidden=True)
    lean = evsim.simulate(net, inputs, record_hidden=False)
    assert lean.hidden_spikes == ()
    np.testing.assert_array_equal(lean.output_spikes, full.output_spikes)
    np.testing.assert_array_equal(lean.sops_per_step, full.sops_per_step)


def test_dtype_follows_request():
    net = _chain_if()
    inputs = _spikes(3, 1, 3, [(0, 0, 0)])
    for dtype in (np.float32, np.float64):
        assert evsim.simulate(net, inputs, dtype=dtype, record_hidden=True).predictions.dtype == np.int64


@pytest.mark.parametrize(
    "kwargs, inputs, message",
    [
        ({}, np.zeros((3, 3)), r"shape \(T, B, \.\.\.\)"),
        ({}, np.zeros((0, 1, 3)), "T >= 1"),
        ({}, np.zeros((2, 1, 4)), "expects"),
        ({}, np.full((2, 1, 3), np.nan), "NaN"),
        ({"input_kind": "spikes"}, np.full((2, 1, 3), 0.5), "only 0 and 1"),
        ({"input_kind": "pixels"}, np.zeros((2, 1, 3)), "input_kind"),
        ({"decoder": "latency"}, np.zeros((2, 1, 3)), "unknown decoder"),
        ({"early_exit": True}, np.zeros((2, 1, 3)), "early_exit needs decoder='ttfs'"),
        ({"dtype": np.float16}, np.zeros((2, 1, 3)), "float32 or float64"),
        ({}, np.zeros((2, 1, 3), dtype=complex), "real numbers"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, inputs, message):
    with pytest.raises(ValueError, match=message):
        evsim.simulate(_chain_if(), inputs, **kwargs)
    with pytest.raises(ValueError, match=message):
        evsim.reference_simulate(_chain_if(), inputs, **kwargs)


def test_simulate_rejects_non_network():
    with pytest.raises(ValueError, match="evsim.Network"):
        evsim.simulate([np.eye(3)], np.zeros((1, 1, 3)))


class _UnknownProjection:
    """A projection kind no kernel knows (Network refuses one, so the test sets it afterwards)."""

    kind = "lstm"
    exponent = None

    def __init__(self, source: int, target: int):
        self.source, self.target = source, target


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_plan_refuses_an_unknown_projection_kind(dtype):
    """The one plan builder raises for a kind it has no kernel for, for float and fixed-point
    networks alike (the old integer plan ran any unknown kind as an identity)."""
    net = _chain_if() if dtype != np.int64 else evsim.quantize(_chain_if())
    build_plan(net, dtype)  # the network itself is fine
    object.__setattr__(net, "projections", net.projections + (_UnknownProjection(0, 1),))
    with pytest.raises(ValueError, match="cannot run projection kind 'lstm'"):
        build_plan(net, dtype)



# ---------------------------------------------------------------------------------------------
# the threshold test: >= (SPEC) or > (strict, NIR's and Loihi's)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("test, hidden, output", [(">=", [0, 1, 0, 1], [0, 1, 0, 1]), (">", [0, 0, 1, 0], [0, 0, 0, 0])])
def test_a_tie_at_theta_flips_the_spike_by_hand(test, hidden, output):
    """IF, theta 1, input 0.5 every step: the hidden membrane reads 0.5, 1.0, 1.5, ... `>=` fires at
    1.0 (then 0.5, 1.0 again: steps 1 and 3); `>` waits for 1.5 (step 2, leaving 0.5, then 1.0:
    silent at step 3). The output (weight 1) sits exactly on theta after each hidden spike: `>=`
    passes every spike on, `>` none. Engine, reference and the integer engine agree."""
    nrn = evsim.IF(theta=1.0, threshold_test=test)
    net = Network.dense([np.array([[0.5]]), np.array([[1.0]])], neuron=nrn)
    x = np.ones((4, 1, 1))
    for res in (evsim.simulate(net, x, record_hidden=True), evsim.reference_simulate(net, x),
                evsim.simulate(net, x, dtype=np.float32, record_hidden=True)):
        assert res.hidden_spikes[0][:, 0, 0].astype(int).tolist() == hidden
        assert res.output_spikes[:, 0, 0].astype(int).tolist() == output
    fixed = evsim.quantize(net, 8, 16, 12)
    assert all(p.neuron.threshold_test == test for p in fixed.populations)
    res = evsim.simulate(fixed, x, record_hidden=True)
    assert res.hidden_spikes[0][:, 0, 0].astype(int).tolist() == hidden
    assert res.output_spikes[:, 0, 0].astype(int).tolist() == output


@st.composite
def tie_networks(draw):
    """Dense IF / LIF(tau_m 1 or 2, tau_s 1) chains of dyadic weights (multiples of 1/4) and theta
    1: every membrane is exact in binary, so membranes land exactly on theta often."""
    sizes = draw(st.lists(st.integers(1, 8), min_size=2, max_size=4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    test = draw(st.sampled_from([">=", ">"]))
    nrn = draw(st.sampled_from([evsim.IF(threshold_test=test), evsim.IF(reset="zero", threshold_test=test),
                                evsim.LIF(tau_m=2, tau_s=1, threshold_test=test),
                                evsim.LIF(tau_m=1, tau_s=1, reset="subtract", threshold_test=test)]))
    W = [rng.integers(-2, 6, (b, a)) / 4 for a, b in zip(sizes[:-1], sizes[1:])]
    return Network.dense(W, neuron=nrn)


@settings(max_examples=examples(80), deadline=None)
@given(data=st.data(), net=tie_networks(), mode=run_modes)
def test_engine_equals_reference_where_membranes_tie(data, net, mode):
    """With either test, on networks built to tie: engine (float64 and float32: dyadic values are
    exact in both) and reference give the same run; and the tie cases are real: the other test
    changes some spike in a good share of the examples (hypothesis' statistics show it)."""
    inputs = data.draw(encoded_batches(net.n_in))
    decoder, early_exit = mode
    want = evsim.reference_simulate(net, inputs, decoder=decoder, early_exit=early_exit)
    for dtype in (np.float64, np.float32):
        got = evsim.simulate(net, inputs, decoder=decoder, early_exit=early_exit, dtype=dtype, record_hidden=True)
        assert_same_run(got, want)
    test = net.populations[0].neuron.threshold_test
    other = Network.dense([p.weight for p in net.projections], neuron=dataclasses.replace(
        net.populations[0].neuron, threshold_test=">" if test == ">=" else ">="))
    flipped = evsim.reference_simulate(other, inputs, decoder=decoder, early_exit=early_exit)
    event("a tie flips a spike" if any((a != b).any() for a, b in zip(
        want.hidden_spikes + (want.output_spikes,), flipped.hidden_spikes + (flipped.output_spikes,))) else "no tie")


def test_the_strict_test_by_hand_on_a_layer_of_ties():
    """IF (subtract), theta 1, four inputs of weight 1/4 always on: the hidden membrane gains 1.0 a
    step. `>=` fires every step (3 x 8 spikes); `>` finds a tie at step 0 and fires from step 1 on,
    where the membrane reads 2.0 then 1.0 + 1.0 again (3 x 7). The output (three hidden spikes of
    1/2: 1.5 a step) fires whenever fed: 2 x 8 and 2 x 7."""
    for test, counts in ((">=", [24, 16]), (">", [21, 14])):
        net = Network.dense([np.full((3, 4), 0.25), np.full((2, 3), 0.5)], neuron=evsim.IF(threshold_test=test))
        x = np.ones((8, 2, 4))
        for res in (evsim.simulate(net, x, record_hidden=True), evsim.reference_simulate(net, x)):
            assert res.spike_counts[0].tolist() == counts and res.spike_counts[1].tolist() == counts


def test_a_profiled_run_is_the_same_run_and_accounts_for_its_time():
    """profile=True times each projection's kernels and each population's integrate pass inside
    the compiled loop; the counts and spikes stay those of the plain run, every projection that did
    work has time, and the shares of the run's thread time sum to 1."""
    from evsim.engine.precompile import _networks

    net = _networks()["deep"]  # conv, identity, pool and dense projections on a (2, 4, 4) input
    rng = np.random.default_rng(3)
    for method, channels in (("ratesyn_e", 2), (["current", "ttfs"], 1)):  # spikes; currents and spikes
        inputs = evsim.encode_events(rng.random((16, channels, 4, 4)), 6, method, seed=0)
        plain = evsim.simulate(net, inputs, record_hidden=True)
        got = evsim.simulate(net, inputs, record_hidden=True, profile=True)
        assert plain.profile is None
        assert_same_run(got, plain)
        prof = got.profile
        assert prof.kernel_s.shape == (len(net.projections),) and prof.integrate_s.shape == (len(net.populations),)
        work = (got.sops + got.macs).sum(axis=0) > 0
        assert work.any() and (prof.kernel_s[work] > 0).all() and (prof.integrate_s > 0).all()
        assert prof.kernel_s.sum() + prof.integrate_s.sum() <= prof.loop_s <= prof.threads * prof.run_s * 1.05
        assert prof.run_s <= prof.total_s and prof.threads >= 1
        shares = prof.shares()
        assert set(shares) == {"kernels", "integrate", "loop_other", "idle", "outside_loop"}
        assert abs(sum(shares.values()) - 1) < 1e-9 and shares["kernels"] > 0


def test_profile_is_refused_where_it_cannot_apply():
    net = Network.dense([np.full((3, 4), 0.5)])
    x = np.ones((4, 2, 4))
    with pytest.raises(ValueError, match="profile must be True or False"):
        evsim.simulate(net, x, profile="yes")
    with pytest.raises(ValueError, match="fixed-point network has no profile"):
        evsim.simulate(evsim.quantize(net), x, profile=True)
