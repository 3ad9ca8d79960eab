"""Energy and delay models (paper, Methods, Eq. 33-37, Table 2): the constants, layer geometry,
the spike ratio xi against evsim's exact SOP count, hand-computed energies, delays and EDPs of a
4-3-2 network, the current-encoding rule, units, and input validation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import encoded_batches, networks
from hypothesis import given, settings
from hypothesis import strategies as st

import evsim
from evsim.energy import (
    DATTA_65NM_32BIT,
    HardwareModel,
    LayerGeometry,
    ann_energy,
    ann_layer_delay,
    ann_layer_energy,
    leakage_energy,
    mac_layers,
    network_geometry,
    snn_energy,
    snn_energy_exact,
    snn_layer_delay,
    snn_layer_energy,
    sop_estimate,
    source_spike_counts,
    spike_ratio,
)

# ---------------------------------------------------------------------------------------------
# constants and geometry
# ---------------------------------------------------------------------------------------------


def test_table_2_constants():
    hw = DATTA_65NM_32BIT
    assert (hw.B_W, hw.B_IO, hw.N_bank, hw.N_mac, hw.N_ac) == (32, 64, 4, 175, 175)
    assert (hw.E_read, hw.T_read, hw.P_leak) == (5.2, 4, 2.4)  # pJ, ns, nW
    assert (hw.E_mac, hw.E_ac, hw.T_mac, hw.T_ac) == (3.1, 0.1, 4, 0.4)  # pJ, pJ, ns, ns
    assert hw.weights_per_read == 8  # 64 / 32 bits per bank x 4 banks
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.E_ac = 0.2


@pytest.mark.parametrize("field, value", [("E_ac", -0.1), ("N_ac", 0), ("T_read", float("inf")), ("B_W", "32")])
def test_hardware_model_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        HardwareModel(**{field: value})


def test_weight_bit_width_scales_the_weight_reads_only():
    """B_W at 8 bits: a quarter of the read energy per weight, four times the weights per SRAM read
    (a quarter of the read delay); AC/MAC costs and the default (Table 2's 32 bits) unchanged."""
    hw8 = DATTA_65NM_32BIT.at_weight_bits(8)
    assert (hw8.B_W, hw8.E_read, hw8.weights_per_read) == (8, 5.2 / 4, 32)
    assert (hw8.E_ac, hw8.E_mac, hw8.T_ac, hw8.T_read) == (0.1, 3.1, 0.4, 4.0)
    assert DATTA_65NM_32BIT.at_weight_bits(32) == DATTA_65NM_32BIT and DATTA_65NM_32BIT.B_W == 32
    g = LayerGeometry(c_in=100, c_out=10)
    read32, read8 = 1000 * 5.2, 1000 * 5.2 / 4
    assert snn_layer_energy(g, 0.5, hw8) == pytest.approx(
        snn_layer_energy(g, 0.5) - read32 + read8 - float(leakage_energy(snn_layer_delay(g))) + float(leakage_energy(snn_layer_delay(g, hw8), hw8))
    )  # fmt: skip
    assert snn_layer_delay(g, hw8) == pytest.approx(1000 / 32 * 4.0 + 1000 / 175 * 0.4)
    for bad in (0, -8, float("nan"), "8", True):
        with pytest.raises(ValueError, match="bits"):
            DATTA_65NM_32BIT.at_weight_bits(bad)


def test_layer_geometry_dense_and_conv():
    net = evsim.Network.dense([np.ones((3, 4)), np.ones((2, 3))])
    g0, g1 = network_geometry(net)
    assert (g0.c_in, g0.c_out, g0.k, g0.h_out, g0.w_out, g0.n_source) == (4, 3, 1, 1, 1, 4)
    assert (g0.n_weights, g0.flops, g1.n_weights, g1.flops) == (12, 12, 6, 6)
    # a 3x3 convolution 3 -> 16 channels on 32x32 (stride 1, same padding): 3*16*9 = 432 weights,
    # 432 * 32 * 32 = 442368 MACs per ANN pass, 3*32*32 = 3072 presynaptic neurons
    conv = LayerGeometry(c_in=3, c_out=16, k=3, h_out=32, w_out=32, n_source=3 * 32 * 32)
    assert (conv.n_weights, conv.flops) == (432, 442_368)
    assert LayerGeometry(5, 7).n_source == 5
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        LayerGeometry(3, 16, k=0)


def test_layer_models_hand_computed_are_what_the_reports_compute():
    """Eq. 34-37 by hand for a 3x3 convolution 3 -> 16 channels on 32x32, checked on the reports the
    scenarios call (ann_energy, snn_energy) and on the per-layer functions, which must give the
    reports' numbers bit for bit (one coding of each equation)."""
    hw = DATTA_65NM_32BIT
    net = evsim.Network((3, 32, 32), [evsim.Population((16, 32, 32), evsim.IF(theta=1e9))],
                        [evsim.Conv2d(evsim.INPUT, 0, np.ones((16, 3, 3, 3)), padding=1)])
    (g,) = network_geometry(net)
    assert g == LayerGeometry(c_in=3, c_out=16, k=3, h_out=32, w_out=32, n_source=3 * 32 * 32)
    # Eq. 35: 432 / 8 reads x 4 ns + 442368 / 175 MAC cycles x 4 ns
    t_ann = 432 / 8 * 4 + 442_368 / 175 * 4
    # Eq. 37: the same reads + 442368 / 175 AC cycles x 0.4 ns
    t_snn = 432 / 8 * 4 + 442_368 / 175 * 0.4
    # Eq. 34: 432 x 5.2 pJ + 442368 x 3.1 pJ + 2.4 nW x T_ANN ns x 1e-6 pJ/(nW ns)
    ann = ann_energy(net)
    assert ann.delay_ns[0] == pytest.approx(t_ann) and ann.delay_ns[0] == ann_layer_delay(g)
    assert ann.energy_pj[0, 0] == pytest.approx(432 * 5.2 + 442_368 * 3.1 + 2.4 * t_ann * 1e-6)
    assert ann.energy_pj[0, 0] == ann_layer_energy(g)
    # Eq. 36 with xi = 0.25 (768 of the 3072 inputs spike once) and xi = 2 (all spike at both steps)
    spikes = np.zeros((2, 2, 3 * 32 * 32), dtype=np.float32)
    spikes[0, 0, :768] = 1
    spikes[:, 1] = 1
    res = evsim.simulate(net, spikes.reshape(2, 2, 3, 32, 32))
    xi = np.array([0.25, 2.0])
    np.testing.assert_array_equal(spike_ratio(net, res)[:, 0], xi)
    snn = snn_energy(net, res, hw)
    assert snn.delay_ns[0] == pytest.approx(t_snn) and snn.delay_ns[0] == snn_layer_delay(g)
    np.testing.assert_allclose(snn.energy_pj[:, 0], 432 * 5.2 + xi * 442_368 * 0.1 + 2.4 * t_snn * 1e-6)
    np.testing.assert_array_equal(snn.energy_pj[:, 0], snn_layer_energy(g, xi, hw))  # arrays broadcast


def test_units_leakage_and_edp():
    # 1 mW = 1e6 nW for 1 ns is 1e-12 J = 1 pJ: with P_leak = 1e6 nW, leakage in pJ == delay in ns
    hw = HardwareModel(P_leak=1e6)
    np.testing.assert_allclose(leakage_energy(np.array([1.0, 7.5]), hw), [1.0, 7.5])
    # Table 2's 2.4 nW for 1000 ns is 2.4e-15 J = 2.4e-3 pJ
    assert float(leakage_energy(1000.0)) == pytest.approx(2.4e-3)
    rep = ann_energy(evsim.Network.dense([np.ones((3, 4)), np.ones((2, 3))]), hw)
    np.testing.assert_allclose(rep.leak_pj, rep.delay_ns)
    # pJ * ns = 1e-12 J * 1e-9 s = 1e-21 J s
    np.testing.assert_allclose(rep.edp_j_s, rep.edp_pj_ns * 1e-21)


# ---------------------------------------------------------------------------------------------
# the 4-3-2 network, by hand
# ---------------------------------------------------------------------------------------------

# IF neurons (theta = 1, reset by subtraction). Layer 0 (4 -> 3): hidden 0 copies input 0, hidden 1
# copies input 1, hidden 2 sums inputs 1 and 2 at weight 0.5. Layer 1 (3 -> 2): output 0 copies
# hidden 0, output 1 gets 0.4 from hidden 1 and 2 (never reaches 1).
W1 = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0.5, 0.5, 0]])
W2 = np.array([[1.0, 0, 0], [0, 0.4, 0.4]])
# T = 3 steps, B = 1: input spikes (1,0,1,0), (0,1,0,0), (0,0,0,0): 3 spikes.
# hidden: step 0 (1,0,0) [hidden 2 at 0.5], step 1 (0,1,1) [hidden 2 at 1.0], step 2 none: 3 spikes.
# output: output 0 at step 0 only.
SPIKES = np.array([[[1, 0, 1, 0]], [[0, 1, 0, 0]], [[0, 0, 0, 0]]], dtype=np.float32)


def _net():
    return evsim.Network.dense([W1, W2], neuron=evsim.IF())


def test_hand_network_spikes_are_as_designed():
    res = evsim.simulate(_net(), SPIKES, decoder="rate", dtype=np.float64, record_hidden=True)
    np.testing.assert_array_equal(res.hidden_spikes[0][:, 0], [[1, 0, 0], [0, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(res.output_spikes[:, 0], [[1, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(res.sops, [[9, 6]])  # 3 spikes x fan-out 3, 3 spikes x fan-out 2


def test_hand_network_xi_and_sops():
    net = _net()
    res = evsim.simulate(net, SPIKES, decoder="rate", dtype=np.float64)
    # xi0 = 3 input spikes / 4 inputs = 0.75; xi1 = 3 hidden spikes / 3 hidden neurons = 1
    np.testing.assert_array_equal(source_spike_counts(net, res), [[3, 3]])
    np.testing.assert_allclose(spike_ratio(net, res), [[0.75, 1.0]])
    # SOP = xi FLOP: 0.75 x 12 = 9, 1 x 6 = 6, equal to the exact count
    np.testing.assert_array_equal(sop_estimate(net, res), [[9.0, 6.0]])
    np.testing.assert_array_equal(sop_estimate(net, res), res.sops)


def test_hand_network_early_exit_counts_only_simulated_steps():
    net = _net()
    res = evsim.simulate(net, SPIKES, decoder="ttfs", early_exit=True, dtype=np.float64)
    assert res.exit_step[0] == 0 and res.steps[0] == 1
    # only step 0 is simulated: 2 input spikes (xi0 = 2/4), 1 hidden spike (xi1 = 1/3); the input
    # spike at step 1 is never processed and must not count
    np.testing.assert_allclose(spike_ratio(net, res), [[0.5, 1 / 3]])
    np.testing.assert_allclose(sop_estimate(net, res), [[6.0, 2.0]])
    np.testing.assert_array_equal(res.sops, [[6, 2]])


def test_hand_network_snn_energy_delay_edp():
    net = _net()
    res = evsim.simulate(net, SPIKES, decoder="rate", dtype=np.float64)
    rep = snn_energy(net, res)
    # layer 0: 12 weights x 5.2 pJ = 62.4 pJ read; 0.75 x 12 x 0.1 pJ = 0.9 pJ AC
    #   delay (Eq. 37) = 12/8 x 4 ns + 12/175 x 0.4 ns = 6.027428... ns; leak 2.4 nW x that x 1e-6
    # layer 1: 6 x 5.2 = 31.2 pJ read; 1 x 6 x 0.1 = 0.6 pJ AC
    #   delay = 6/8 x 4 + 6/175 x 0.4 = 3.013714... ns
    t0, t1 = 6 + 12 / 175 * 0.4, 3 + 6 / 175 * 0.4
    e0, e1 = 62.4 + 0.9 + 2.4 * t0 * 1e-6, 31.2 + 0.6 + 2.4 * t1 * 1e-6
    np.testing.assert_allclose(rep.delay_ns, [t0, t1])
    np.testing.assert_allclose(rep.read_pj, [62.4, 31.2])
    np.testing.assert_allclose(rep.compute_pj, [[0.9, 0.6]])
    np.testing.assert_allclose(rep.energy_pj, [[e0, e1]])
    # totals: E = 95.1000217 pJ, T = 9.0411429 ns, EDP = E x T = 859.81 pJ ns = 8.598e-19 J s
    assert rep.total_energy_pj[0] == pytest.approx(95.1000216987, rel=1e-10)
    assert rep.total_delay_ns == pytest.approx(9.0411428571, rel=1e-10)
    assert rep.edp_pj_ns[0] == pytest.approx((e0 + e1) * (t0 + t1))
    assert rep.edp_j_s[0] == pytest.approx((e0 + e1) * (t0 + t1) * 1e-21)
    assert rep.model == "snn" and not rep.ann_layers.any()
    # on a dense network the exact-count energy equals the estimate
    exact = snn_energy_exact(net, res)
    np.testing.assert_allclose(exact.energy_pj, rep.energy_pj)
    assert exact.model == "snn-exact"


def test_hand_network_ann_energy():
    rep = ann_energy(_net())
    # layer 0: 62.4 pJ read + 12 x 3.1 = 37.2 pJ MAC; delay 12/8 x 4 + 12/175 x 4 = 6.274286 ns
    # layer 1: 31.2 + 6 x 3.1 = 18.6 pJ; delay 6/8 x 4 + 6/175 x 4 = 3.137143 ns
    t0, t1 = 6 + 12 / 175 * 4, 3 + 6 / 175 * 4
    np.testing.assert_allclose(rep.delay_ns, [t0, t1])
    np.testing.assert_allclose(rep.energy_pj, [[99.6 + 2.4e-6 * t0, 49.8 + 2.4e-6 * t1]])
    assert rep.energy_pj.shape == (1, 2) and rep.ann_layers.all()
    assert rep.mean_edp_pj_ns == pytest.approx((149.4 + 2.4e-6 * (t0 + t1)) * (t0 + t1))


def test_reports_keep_their_numbers_to_the_last_bit():
    """What the reports gave before Eq. 33-37 were coded once (issue 19), as exact floats: result files
    must not change, so a reordered float operation (read + (compute + leak), xi x FLOP for
    spikes x FLOP / n_source...) fails here, where the approximate hand checks above would pass."""
    net = _net()
    res = evsim.simulate(net, SPIKES, decoder="rate", dtype=np.float64)
    hw8 = DATTA_65NM_32BIT.at_weight_bits(8)
    for rep, energy, edp in [
        (snn_energy(net, res), [63.300014465828575, 31.80000723291429], 859.8128818957198),
        (snn_energy_exact(net, res, hw8), [16.500003665828572, 8.400001832914286], 57.049469741262556),
        (ann_energy(net, hw8), [52.80000425828572, 26.40000212914286], 210.78515985682776),
    ]:
        assert rep.energy_pj.ravel().tolist() == energy and rep.edp_pj_ns[0] == edp, rep.model
    # Eq. 33 as spikes x FLOP / n_source: 3 x 7 / 10 = 2.1, where 3 x (7 / 10) = 2.0999999999999996
    geom = [network_geometry(net)[0], LayerGeometry(c_in=1, c_out=1, h_out=7, n_source=10)]
    assert sop_estimate(net, res, geometry=geom)[0, 1] == 2.1 == snn_energy(net, res, geometry=geom).sops[0, 1]
    assert 3 * (7 / 10) != 2.1
    fused, x = _fused_network_and_input()
    res = evsim.simulate(fused, x, input_kind=["current", "ratesyn_e", "ttfs"], dtype=np.float64)
    for rep, energy, edp in [(snn_energy(fused, res, current_channels=1), 56.60000772662858, 182.21968201818595),
                             (snn_energy_exact(fused, res, current_channels=1), 69.00000772662857, 222.1405963039002)]:
        assert rep.energy_pj[0, 0] == energy and rep.delay_ns[0] == 3.2194285714285713 and rep.edp_pj_ns[0] == edp


def test_current_encoded_layer_follows_the_ann_model():
    net = _net()
    inputs = evsim.encode(np.array([[0.5, 0.0, 1.0, 0.25]]), 3, "current")
    res = evsim.simulate(net, inputs, decoder="rate", dtype=np.float64, record_hidden=True)
    np.testing.assert_array_equal(res.macs, [[27, 0]])  # 3 steps x 3 non-zero inputs x fan-out 3
    np.testing.assert_array_equal(mac_layers(res), [True, False])
    rep = snn_energy(net, res)
    t0 = 6 + 12 / 175 * 4  # Eq. 35 for layer 0
    t1 = 3 + 6 / 175 * 0.4  # Eq. 37 for layer 1
    np.testing.assert_allclose(rep.delay_ns, [t0, t1])
    # paper: layer 0 costs one ANN pass, 62.4 + 12 x 3.1 pJ
    assert rep.energy_pj[0, 0] == pytest.approx(62.4 + 37.2 + 2.4e-6 * t0)
    hidden = res.hidden_spikes[0].sum()
    assert rep.energy_pj[0, 1] == pytest.approx(31.2 + hidden / 3 * 6 * 0.1 + 2.4e-6 * t1)
    np.testing.assert_array_equal(rep.ann_layers, [True, False])
    # evsim's exact count: 27 MACs (the non-zero inputs' synapses at every simulated step) x 3.1 pJ
    exact = snn_energy_exact(net, res)
    assert exact.energy_pj[0, 0] == pytest.approx(62.4 + 27 * 3.1 + 2.4e-6 * t0)
    assert exact.energy_pj[0, 1] == pytest.approx(rep.energy_pj[0, 1])


def test_summary_holds_means():
    net = _net()
    batch = np.concatenate([SPIKES, np.zeros_like(SPIKES)], axis=1)  # B = 2, second sample silent
    res = evsim.simulate(net, batch, decoder="rate", dtype=np.float64)
    rep = snn_energy(net, res)
    s = rep.summary()
    np.testing.assert_allclose(s["sops_per_layer"], [4.5, 3.0])
    assert s["total_energy_pj"] == pytest.approx(rep.total_energy_pj.mean())
    assert rep.compute_pj[1].sum() == 0.0  # the silent sample pays reads and leakage only
    assert s["edp_j_s"] == pytest.approx(s["edp_pj_ns"] * 1e-21)


# ---------------------------------------------------------------------------------------------
# xi FLOP == exact SOPs on dense networks; geometry overrides (the convolution case)
# ---------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(data=st.data(), net=networks(), mode=st.sampled_from([("rate", False), ("ttfs", False), ("ttfs", True)]))
def test_dense_sop_estimate_equals_exact_count(data, net, mode):
    inputs = data.draw(encoded_batches(net.n_in, max_T=12))
    res = evsim.simulate(net, inputs, decoder=mode[0], early_exit=mode[1])
    np.testing.assert_array_equal(sop_estimate(net, res), res.sops)
    est, exact = snn_energy(net, res), snn_energy_exact(net, res)
    np.testing.assert_array_equal(est.ann_layers, exact.ann_layers)
    spiking = ~est.ann_layers
    np.testing.assert_allclose(est.energy_pj[:, spiking], exact.energy_pj[:, spiking])
    # the reports are the per-layer equations: bit for bit for the delays and for the ANN model (a
    # float-fed layer costs one ANN pass), to rounding where xi = spikes / n_source is not exact
    ann, xi = ann_energy(net), spike_ratio(net, res)
    for q, g in enumerate(network_geometry(net)):
        assert ann.delay_ns[q] == ann_layer_delay(g) and ann.energy_pj[0, q] == ann_layer_energy(g)
        if est.ann_layers[q]:
            assert est.delay_ns[q] == ann_layer_delay(g) and np.all(est.energy_pj[:, q] == ann_layer_energy(g))
        else:
            assert est.delay_ns[q] == snn_layer_delay(g)
            np.testing.assert_allclose(est.energy_pj[:, q], snn_layer_energy(g, xi[:, q]), rtol=1e-13)


def test_geometry_override_estimate_differs_from_exact_like_a_convolution():
    """A conv layer's xi FLOP counts every spike at an interior fan-out; the exact count knows the
    borders. Emulated with a geometry whose FLOP per presynaptic neuron exceeds the real fan-out."""
    net = _net()
    res = evsim.simulate(net, SPIKES, decoder="rate", dtype=np.float64)
    geom = list(network_geometry(net))
    geom[0] = LayerGeometry(c_in=4, c_out=3, k=1, h_out=2, w_out=1, n_source=4)  # FLOP 24: 6 per neuron
    est = sop_estimate(net, res, geometry=geom)
    np.testing.assert_allclose(est, [[18.0, 6.0]])  # 3 spikes x 6, beside the exact 9
    assert est[0, 0] != res.sops[0, 0]


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def test_energy_functions_reject_bad_input():
    net = _net()
    res = evsim.simulate(net, SPIKES, decoder="rate")
    other = evsim.Network.dense([np.ones((3, 4))])
    with pytest.raises(ValueError, match="result counts 2 projections but the network has 1"):
        snn_energy_exact(other, res)
    with pytest.raises(ValueError, match="SimulationResult"):
        snn_energy(net, object())
    with pytest.raises(ValueError, match="evsim.Network"):
        network_geometry("net")
    with pytest.raises(ValueError, match="HardwareModel"):
        ann_energy(net, hw={"E_ac": 0.1})
    with pytest.raises(ValueError, match="2 LayerGeometry entries"):
        ann_energy(net, geometry=[LayerGeometry(4, 3)])


# ---------------------------------------------------------------------------------------------
# convolutions: the estimate and the exact count part at borders
# ---------------------------------------------------------------------------------------------


def _conv_net(padding):
    weight = np.ones((2, 1, 3, 3))
    h = 4 + 2 * padding - 2
    pops = [evsim.Population((2, h, h), evsim.IF(theta=100)), evsim.Population((1,), evsim.IF(theta=100))]
    projs = [evsim.Conv2d(evsim.INPUT, 0, weight, padding=padding), evsim.Dense(0, 1, np.ones((1, 2 * h * h)))]
    return evsim.Network((1, 4, 4), pops, projs)


def test_conv_geometry_and_estimate_against_exact_count():
    """3x3 conv, padding 1, 4x4 input, C_out 2: FLOP = 1*2*9*16 = 288, n_source 16, so xi FLOP
    charges each spike 18 SOPs, while a corner spike reaches only 2 x 4 = 8 synapses."""
    net = _conv_net(padding=1)
    g = network_geometry(net)[0]
    assert (g.c_in, g.c_out, g.k, g.kw, g.h_out, g.w_out, g.n_source) == (1, 2, 3, 3, 4, 4, 16)
    assert g.flops == 288 and g.n_weights == 18
    spikes = np.zeros((1, 1, 1, 4, 4), dtype=np.float32)
    spikes[0, 0, 0, 0, 0] = 1  # a corner
    res = evsim.simulate(net, spikes)
    assert res.sops[0, 0] == 8
    assert sop_estimate(net, res)[0, 0] == 18.0
    spikes[0, 0, 0, 0, 0], spikes[0, 0, 0, 1, 1] = 0, 1  # an interior pixel: the two agree
    res = evsim.simulate(net, spikes)
    assert res.sops[0, 0] == 18 == sop_estimate(net, res)[0, 0]
    # all 16 pixels: exact 2 x (4 x 4 + 8 x 6 + 4 x 9) = 200 against the estimate 288
    res = evsim.simulate(net, np.ones((1, 1, 1, 4, 4), dtype=np.float32))
    assert res.sops[0, 0] == 200 and sop_estimate(net, res)[0, 0] == 288.0


def test_pool_and_identity_geometry():
    pops = [evsim.Population((3, 2, 2), evsim.IF()), evsim.Population((12,), evsim.IF())]
    projs = [evsim.AvgPool2d(evsim.INPUT, 0, 2), evsim.Identity(0, 1)]
    net = evsim.Network((3, 4, 4), pops, projs)
    pool, ident = network_geometry(net)
    assert pool.flops == 3 * 4 * 4 and pool.n_weights == 0 and pool.n_source == 48
    assert ident.flops == 12 and ident.n_weights == 0
    res = evsim.simulate(net, np.ones((1, 1, 3, 4, 4), dtype=np.float32))
    # without padding and with stride = kernel, every pixel is in exactly one window: exact = estimate
    np.testing.assert_array_equal(sop_estimate(net, res), res.sops)


def _fused_network_and_input():
    net = evsim.Network(
        (3, 2, 2),
        [evsim.Population((2, 2, 2), evsim.LIF(tau_m=2, tau_s=2, theta=100.0))],
        [evsim.Conv2d(evsim.INPUT, 0, np.ones((2, 3, 1, 1)))],
    )
    x = np.zeros((2, 1, 3, 2, 2), dtype=np.float32)
    x[:, 0, 0] = [[0.5, 0.0], [0.25, 1.0]]  # 3 non-zero currents per step
    x[0, 0, 1, 0, 0] = x[1, 0, 2, 1, 1] = x[1, 0, 1, 0, 1] = 1  # 3 spikes
    return net, x


def test_fused_first_layer_is_the_sum_of_its_encodings():
    """Input (3, 2, 2): channel 0 current, channels 1-2 spikes; a 1x1 conv to C_out 2 over 2 steps.
    Paper, Methods: the fused first layer's estimate is the ANN model over the current channel
    (FLOP 1*2*1*4 = 8 MACs) plus the SNN model over the spike channels (each spike reaches 2
    synapses, n_source 8, FLOP 16), with delays and leakage of the two parts added."""
    net, x = _fused_network_and_input()
    res = evsim.simulate(net, x, input_kind=["current", "ratesyn_e", "ttfs"], dtype=np.float64)
    assert res.macs[0, 0] == 2 * 3 * 2 and res.sops[0, 0] == 3 * 2
    whole = snn_energy(net, res)  # without the split: one ANN pass over all 9 channels
    assert whole.macs[0, 0] == 3 * 2 * 4
    est = snn_energy(net, res, current_channels=1)
    assert est.macs[0, 0] == 8 and est.sops[0, 0] == 3 * 16 / 8
    cur = LayerGeometry(c_in=1, c_out=2, h_out=2, w_out=2, n_source=4)
    spk = LayerGeometry(c_in=2, c_out=2, h_out=2, w_out=2, n_source=8)
    delay = ann_layer_delay(cur) + snn_layer_delay(spk)
    assert est.delay_ns[0] == pytest.approx(6 / 8 * 4 + 8 / 175 * 4 + 16 / 175 * 0.4) and est.delay_ns[0] == delay
    assert est.energy_pj[0, 0] == pytest.approx(6 * 5.2 + 8 * 3.1 + 6 * 0.1 + 2.4e-6 * delay)
    exact = snn_energy_exact(net, res, current_channels=1)
    assert exact.energy_pj[0, 0] == pytest.approx(6 * 5.2 + 12 * 3.1 + 6 * 0.1 + 2.4e-6 * delay)
    for bad in (0, 3, 1.5, True):
        with pytest.raises(ValueError, match="current_channels"):
            snn_energy(net, res, current_channels=bad)
