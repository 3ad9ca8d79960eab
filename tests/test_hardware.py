"""evsim.hardware's chip profiles: the published figures exactly, 'not published' where none is, and
the Loihi profile's arithmetic the one lava_network builds (tests/test_lava.py checks that against Lava)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import assert_same_run

import evsim
from evsim.energy import DATTA_65NM_32BIT
from evsim.hardware import NOT_PUBLISHED, Constant, lava_network, profile, profiles


def test_the_listing_has_every_chip_and_the_paper_model_first():
    assert profiles() == ("paper_65nm", "loihi", "loihi2", "speck", "spinnaker2", "truenorth", "xylo")
    assert profile().name == "paper_65nm"
    with pytest.raises(ValueError, match="unknown chip profile 'loihi3'"):
        profile("loihi3")


def test_profiles_are_frozen_records():
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile("loihi").name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile("loihi").energy["per_sop"].value = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        profile("loihi").energy["per_sop"] = Constant(1.0, "pJ", "a guess")  # type: ignore[index]


def test_published_figures_are_the_sources_figures():
    """Issue 21's figures, each with its source; nothing else is a number."""
    loihi = profile("loihi").energy
    assert {k: c.value for k, c in loihi.items()} == {
        "per_sop": 23.6, "per_inactive_neuron_update": 52.0, "per_active_neuron_update": 81.0,
        "per_spike_within_tile": 1.7, "per_tile_hop": (3.0, 4.0)}  # fmt: skip
    assert all(c.source.startswith("Davies et al., IEEE Micro 2018") and c.voltage == "0.75 V" and c.unit == "pJ"
               for c in loihi.values())  # fmt: skip
    assert profile("truenorth").energy["per_synaptic_event"].value == 26.0
    assert "static power included" in profile("truenorth").energy["per_synaptic_event"].basis
    s2 = profile("spinnaker2").energy
    assert (s2["per_synaptic_event"].value, s2["per_neuron_update"].value) == (450.0, 2190.0)  # 2.19 nJ


@pytest.mark.parametrize("name", ["loihi2", "speck", "xylo"])
def test_chips_without_published_energy_say_so(name):
    p = profile(name)
    for c in list(p.energy.values()) + list(p.latency.values()):
        assert c.value == NOT_PUBLISHED and not c.published


def test_every_constant_names_its_source_and_unit():
    for name in profiles():
        for key, c in {**profile(name).energy, **profile(name).latency}.items():
            assert isinstance(c, Constant) and c.source and c.unit in ("pJ", "ns", "nW"), (name, key)
            assert c.published == (not isinstance(c.value, str))


def test_the_paper_profile_reads_the_energy_modules_table():
    p = profile("paper_65nm")
    assert p.model is DATTA_65NM_32BIT
    assert p.energy["per_sop"].value == DATTA_65NM_32BIT.E_ac and p.energy["per_mac"].value == DATTA_65NM_32BIT.E_mac
    assert p.latency["per_read"].value == DATTA_65NM_32BIT.T_read and p.energy["per_sop"].node == "65 nm"


def test_chip_limits():
    loihi, speck, xylo = profile("loihi"), profile("speck"), profile("xylo")
    assert [loihi.limit(n).value for n in ("compartments", "fan_in_axons", "fan_out_edges", "synaptic_memory_bytes")] \
        == [1024, 4096, 4096, 131072]  # fmt: skip
    assert speck.limit("strides").value == (1, 2, 4, 8) and speck.limit("layers").value == 9
    assert (xylo.limit("inputs_max").value, xylo.limit("hidden_max").value, xylo.limit("outputs_max").value) == (
        16, 1000, 8)
    with pytest.raises(KeyError, match="no limit 'cores'"):
        loihi.limit("cores")


def test_the_loihi_profile_is_what_lava_network_builds():
    a = profile("loihi").arithmetic
    net = lava_network([np.array([[3, -5]])], du=7, dv=9, vth=4)
    nrn = net.populations[0].neuron
    assert net.fixed_point[1:] == (a.state_bits, a.decay_bits)
    assert (nrn.threshold_test, nrn.current_overflow, nrn.input_delay) == (a.threshold_test, a.current_overflow,
                                                                          a.hop_delay_steps)
    assert isinstance(evsim.hardware.profile("loihi2").arithmetic, type(a))


# ---------------------------------------------------------------------------------------------
# check: does a network fit?
# ---------------------------------------------------------------------------------------------

from evsim.hardware import check  # noqa: E402
from evsim.hardware.check import _window_mask  # noqa: E402
from evsim.network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population  # noqa: E402


def _dense(*sizes):
    return Network.dense([np.ones((b, a)) for a, b in zip(sizes[:-1], sizes[1:])])


def test_a_small_mlp_fits_loihi_by_hand():
    """784-100-10: one core per layer, 784 x 100 + 100 x 10 synapses of 8 bits."""
    fit = check(_dense(784, 100, 10), "loihi")
    assert fit.fits and fit.cores == (1, 1) and fit.neurons_per_core == (100, 10)
    assert fit.memory_bytes == (78400, 1000)


def test_loihi_splits_by_compartments_and_by_memory():
    fit = check(_dense(10, 3000), "loihi")  # 1,024 compartments a core: 3 cores
    assert fit.fits and fit.cores == (3,) and fit.neurons_per_core == (1024,)
    fit = check(_dense(4000, 100), "loihi")  # 4,000 bytes a neuron, 131,072 a core: 32 neurons
    assert fit.fits and fit.neurons_per_core == (32,) and fit.cores == (4,) and fit.memory_bytes == (400000,)
    fit = check(evsim.quantize(_dense(4000, 100), 4, 24, 12), "loihi")  # 4-bit weights: 2,000 bytes a neuron
    assert fit.neurons_per_core == (65,) and fit.cores == (2,)  # 65 x 2,000 <= 131,072 < 66 x 2,000


def test_loihi_names_what_no_split_can_fix():
    fit = check(_dense(5000, 20), "loihi")
    assert not fit.fits
    assert [(v.where, v.limit, v.value, v.excess) for v in fit.violations] == [
        ("population 0", "fan_in_axons (one neuron)", 5000, 904)]
    # fan-out: 1,024 neurons on one core, each reaching all 40 cores of the next layer (128 each by memory)
    fit = check(_dense(2, 1024, 5120), "loihi")
    assert fit.cores == (1, 40)
    assert [(v.limit, v.value, v.excess) for v in fit.violations] == [("fan_out_edges", 40960, 36864)]
    fit = check(evsim.quantize(_dense(8, 4), 12, 24, 12), "loihi")
    assert [(v.limit, v.value, v.excess) for v in fit.violations] == [("weight_bits", 12, 3)]


@pytest.mark.parametrize("seed", range(6))
def test_the_fan_in_of_a_conv_or_pool_core_is_exact(seed):
    """The sources a range of conv / pool targets reaches equal a brute-force count from the weights'
    support (every (target, source) pair the projection connects)."""
    rng = np.random.default_rng(seed)
    c_in, h, w = int(rng.integers(1, 4)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
    k, s = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    if seed % 2:
        proj = Conv2d(INPUT, 0, np.ones((int(rng.integers(1, 4)), c_in, k, k)), stride=s, padding=int(rng.integers(0, k)))
    else:
        proj = AvgPool2d(INPUT, 0, min(k + 1, h, w), s)
    out = proj.output_shape((c_in, h, w))
    n_t, n_s = int(np.prod(out)), c_in * h * w
    support = np.zeros((n_t, n_s), dtype=bool)  # brute force: which sources feed each target
    for t in range(n_t):
        co, rem = divmod(t, out[1] * out[2])
        oy, ox = divmod(rem, out[2])
        (kh, kw), (sy, sx) = proj.kernel_size, proj.stride
        py, px = proj.padding if isinstance(proj, Conv2d) else (0, 0)
        for ci in ([co] if isinstance(proj, AvgPool2d) else range(c_in)):
            for ky in range(kh):
                for kx in range(kw):
                    y, x = oy * sy - py + ky, ox * sx - px + kx
                    if 0 <= y < h and 0 <= x < w:
                        support[t, (ci * h + y) * w + x] = True
    for _ in range(20):
        lo = int(rng.integers(0, n_t))
        hi = int(rng.integers(lo + 1, n_t + 1))
        assert np.array_equal(_window_mask(proj, (c_in, h, w), out, lo, hi), support[lo:hi].any(axis=0))


def test_speck_and_xylo_limits():
    lif = evsim.LIF(2, 2)
    net = Network((2, 40, 40), [Population((4, 13, 13), lif), Population((4, 1, 1), lif), Population((3,), lif)],
                  [Conv2d(INPUT, 0, np.ones((4, 2, 3, 3)), stride=3), Conv2d(0, 1, np.ones((4, 4, 13, 13))),
                   Dense(1, 2, np.ones((3, 4)))])  # fmt: skip
    fit = check(net, "speck")
    assert [(v.where, v.limit) for v in fit.violations] == [("projection 0 (conv2d)", "strides")]
    many = _dense(*[4] * 11)  # 10 layers
    assert [(v.limit, v.value, v.excess) for v in check(many, "speck").violations] == [("layers", 10, 1)]
    fit = check(_dense(784, 100, 10), "xylo")
    assert [(v.limit, v.excess) for v in fit.violations] == [("inputs_max", 768), ("outputs_max", 2)]
    assert check(_dense(16, 1000, 8), "xylo").fits and not check(_dense(16, 1001, 8), "xylo").fits


def test_a_profile_without_limits_checks_nothing_and_says_so():
    fit = check(_dense(5000, 20), "truenorth")
    assert fit.checked == () and "nothing was checked" in fit.notes[0] and str(fit).startswith("nothing checked")


# ---------------------------------------------------------------------------------------------
# cost: energy per image term by term, and chip time
# ---------------------------------------------------------------------------------------------

from evsim.hardware import cost  # noqa: E402


def _tiny():
    """2 inputs -> 1 IF (theta 1, weights 1) -> 1,100 IF: the second layer takes two Loihi cores, so
    every hidden spike is two messages."""
    return Network.dense([np.ones((1, 2)), np.full((1100, 1), 2.0)], neuron=evsim.IF(reset="zero"))


def test_loihi_cost_term_by_term_by_hand():
    """Input 1 on both channels for 3 steps: the hidden neuron fires every step (2 SOPs a step in,
    1,100 out), so 3 x (2 + 1100) SOPs, 3 x 1101 updates of which 3 + 3 x 1100 fire, 3 spikes x 2
    destination cores as messages."""
    net = _tiny()
    res = evsim.simulate(net, np.ones((3, 1, 2)), record_hidden=True)
    c = cost(net, res, "loihi")
    assert c.term("synaptic operations").count.tolist() == [3 * 1102]
    assert c.term("synaptic operations").energy_low_pj.tolist() == pytest.approx([3 * 1102 * 23.6])
    assert c.term("active neuron updates").count.tolist() == [3 + 3 * 1100]
    assert c.term("inactive neuron updates").count.tolist() == [0]
    assert c.term("spike messages within a tile").count.tolist() == [3 * 2]
    assert c.term("tile hops").count is None and c.missing == ("tile hops",)
    want = 3 * 1102 * 23.6 + 3303 * 81.0 + 6 * 1.7
    assert c.total_low_pj.tolist() == pytest.approx([want]) and c.steps.tolist() == [3] and c.time_ns is None


def test_early_exit_is_counted_in_chip_time_and_energy():
    """TTFS with early exit: the run stops at the first output spike, step 0 here (zero delay: the
    hidden spike of step 0 drives the output at step 0), so one step is run and paid for."""
    net = _tiny()
    x = np.ones((5, 1, 2))
    full = cost(net, evsim.simulate(net, x, decoder="ttfs", record_hidden=True), "truenorth")
    early = cost(net, evsim.simulate(net, x, decoder="ttfs", early_exit=True, record_hidden=True), "truenorth")
    assert full.steps.tolist() == [5] and early.steps.tolist() == [1]
    assert early.total_low_pj.tolist() == pytest.approx([1102 * 26.0])
    assert full.total_low_pj.tolist() == pytest.approx([5 * 1102 * 26.0])


def test_unpublished_constants_price_nothing():
    net = _tiny()
    res = evsim.simulate(net, np.ones((3, 2, 2)), record_hidden=True)
    for name in ("loihi2", "speck", "xylo"):
        c = cost(net, res, name)
        assert c.total_low_pj is None and set(c.missing) == {"synaptic operations", "neuron updates"}
        assert c.term("synaptic operations").count.tolist() == [3 * 1102] * 2  # counted, not priced
    s2 = cost(net, res, "spinnaker2")
    assert s2.total_low_pj.tolist() == pytest.approx([3 * 1102 * 450.0 + 3 * 1101 * 2190.0] * 2)


def test_the_paper_profile_is_snn_energy_exact():
    net = _tiny()
    res = evsim.simulate(net, np.ones((3, 1, 2)), record_hidden=True)
    rep = evsim.energy.snn_energy_exact(net, res)
    c = cost(net, res, "paper_65nm")
    assert c.total_low_pj.tolist() == pytest.approx(rep.total_energy_pj.tolist())
    assert c.time_ns.tolist() == pytest.approx([rep.total_delay_ns])


def test_messages_need_the_hidden_spikes():
    net = _tiny()
    with pytest.raises(ValueError, match="record_hidden=True"):
        cost(net, evsim.simulate(net, np.ones((3, 1, 2))), "loihi")


# ---------------------------------------------------------------------------------------------
# compile: a float network onto Loihi's arithmetic
# ---------------------------------------------------------------------------------------------

from evsim.hardware import compile as loihi_compile, lava_parameters  # noqa: E402


def test_a_compiled_dense_chain_is_its_lava_network():
    """compile's network equals lava_network built from its own Lava arguments (which
    tests/test_lava.py runs in Lava), and every part is in Lava's ranges."""
    rng = np.random.default_rng(4)
    net = Network.dense([rng.normal(0.02, 0.06, (40, 64)), rng.normal(0.1, 0.3, (10, 40))],
                        biases=[rng.normal(0, 0.02, 40), None], neuron=evsim.LIF(tau_m=4, tau_s=2))
    c = loihi_compile(net)
    params = lava_parameters(c)
    again = lava_network(**params)
    for a, b in zip(c.populations, again.populations):
        assert a.neuron == b.neuron and np.array_equal(a.bias if a.bias is not None else 0, b.bias if b.bias is not None else 0)
    for a, b in zip(c.projections, again.projections):
        assert np.array_equal(a.weight, b.weight) and a.exponent == b.exponent
    assert all(np.abs(w).max() <= 256 and (w % 2 == 0).all() for w in params["weights"])  # mixed signs: even
    assert all(0 <= v < 2**17 for v in params["vth"]) and params["du"] == [2047, 2047] and params["dv"] == [1024] * 2
    assert all(np.abs(m).max() < 2**12 for m in params["bias_mant"])


def test_compile_takes_conv_pool_and_residual_networks():
    rng = np.random.default_rng(2)
    lif = evsim.LIF(tau_m=5, tau_s=2)
    net = Network((1, 8, 8), [Population((4, 8, 8), lif), Population((4, 4, 4), lif), Population((4, 4, 4), lif),
                              Population((5,), lif)],
                  [Conv2d(INPUT, 0, rng.normal(0.3, 0.5, (4, 1, 3, 3)), padding=1), AvgPool2d(0, 1, 2),
                   Conv2d(1, 2, rng.normal(0.1, 0.4, (4, 4, 3, 3)), padding=1), Identity(1, 2),  # a residual shortcut
                   Dense(2, 3, rng.normal(0.1, 0.3, (5, 64)))])
    c = loihi_compile(net)
    assert all(p.neuron.input_delay == 1 and p.neuron.threshold_test == ">" for p in c.populations)
    x = evsim.encode(rng.random((6, 1, 8, 8)), 12, "ratesyn_s")
    res = evsim.simulate(c, x, record_hidden=True)
    assert not res.hidden_spikes[0][0].any() and res.hidden_spikes[0][1:].any()  # one step per projection
    assert not res.output_spikes[:4].any()  # four projections deep: silent before step 4
    assert_same_run(res, evsim.reference_simulate(c, x))  # the integer reference follows Loihi's rules too


def test_compile_refuses_what_loihi_cannot_hold():
    with pytest.raises(ValueError, match="reset by subtraction"):
        loihi_compile(_dense(4, 3))  # IF's default reset
    assert loihi_compile(_dense(4, 3), lossy_reset=True).populations[0].neuron.reset == "zero"
    big = Network.dense([np.ones((3, 5000))], neuron=evsim.LIF(2, 2))
    with pytest.raises(ValueError, match="fan_in_axons"):
        loihi_compile(big)
    assert loihi_compile(big, force=True).fixed_point == (9, 24, 12)
    with pytest.raises(ValueError, match="'loihi' and 'speck' only"):  # Speck's compile: tests/test_speck.py
        loihi_compile(_dense(4, 3), "xylo")
