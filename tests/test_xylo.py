"""Xylo's arithmetic (evsim.hardware.xylo_network) against SynSense's own simulator, xylosim 0.1.3.

xylosim is the C++ core simulator behind rockpool's `XyloSim`; it is driven here directly
(`xylosim.v2.XyloLayer`), because rockpool 3.1.0's `rockpool.devices.xylo` package imports samna
at import time (syns65302/afe_samna_pdm.py) and samna does not install here (docs/guide/hardware.md).
Random networks with every decay shift from none to slow, biases, weight shifts and real MNIST
images (pooled to Xylo's 16 inputs): every readout and hidden spike at every step must be equal.
The hand-computed bit-shift cases run without xylosim.
"""

from __future__ import annotations

import numpy as np
import pytest

import evsim
import evsim.hardware as hw
from evsim.network import Network, Population

try:
    from xylosim.v2 import XyloLayer, XyloSynapse
except ImportError:  # the Makefile's $(STAMP) installs it (pip install --no-deps xylosim==0.1.3: a C++ build)
    XyloLayer = XyloSynapse = None
needs_xylosim = pytest.mark.skipif(XyloLayer is None, reason="xylosim is not installed (make install builds "
                                   "xylosim==0.1.3 from source, needs a C++ compiler and pybind11)")


def _xylosim(spec: dict, spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """xylosim's readout and hidden spike counts (T, B, n) for 0/1 spikes (T, B, Nin), sample by sample."""
    w_in, w_out = spec["weights_in"], spec["weights_out"]
    n_h, n_o = w_out.shape

    def synapses(w):
        return [[XyloSynapse(int(j), 0, int(w[i, j])) for j in np.flatnonzero(w[i])] for i in range(w.shape[0])]

    def per(name, n, default):
        return [int(v) for v in np.broadcast_to(spec.get(name, default) if spec.get(name) is not None else default,
                                                (n,))]  # fmt: skip

    keep = (synapses(w_in), [[] for _ in range(n_h)], synapses(w_out))  # xylosim holds raw pointers: keep them
    bias, bias_out = spec.get("bias"), spec.get("bias_out")
    layer = XyloLayer(synapses_in=keep[0], synapses_rec=keep[1], synapses_out=keep[2], aliases=[[] for _ in range(n_h)],
                      threshold=per("threshold", n_h, 1), threshold_out=per("threshold_out", n_o, 1),
                      has_bias=bias is not None or bias_out is not None, bias=per("bias", n_h, 0),
                      bias_out=per("bias_out", n_o, 0), weight_shift_inp=spec.get("weight_shift_in", 0),
                      weight_shift_rec=0, weight_shift_out=spec.get("weight_shift_out", 0),
                      dash_mem=per("dash_mem", n_h, 1), dash_mem_out=per("dash_mem_out", n_o, 1),
                      dash_syns=[[d] for d in per("dash_syn", n_h, 1)],
                      dash_syns_out=[[d] for d in per("dash_syn_out", n_o, 1)], name="evsim-check")
    T, B, _ = spikes.shape
    out, hidden = np.zeros((T, B, n_o), np.int64), np.zeros((T, B, n_h), np.int64)
    for b in range(B):
        layer.reset_all()
        out[:, b] = np.array(layer.evolve(spikes[:, b].astype(np.uint8).tolist()))
        hidden[:, b] = np.array(layer.rec_recurrent_spikes)
    del keep
    return out, hidden


def _random_spec(rng, n_in=16, n_h=40, n_o=8, lo=-40, hi=80) -> dict:
    dash_syn = int(rng.integers(1, 5))  # dash_syn 0 decays the whole current before it reaches V: silent
    spec = dict(weights_in=rng.integers(lo, hi, (n_in, n_h)), weights_out=rng.integers(lo, hi, (n_h, n_o)),
                dash_mem=int(rng.integers(0, 8)), dash_mem_out=int(rng.integers(0, 8)), dash_syn=dash_syn,
                dash_syn_out=int(rng.integers(1, 5)), weight_shift_in=int(rng.integers(0, 2)), weight_shift_out=0)
    reach = max(int(np.clip(spec["weights_in"], 0, None).sum(axis=0).mean()), 1) << spec["weight_shift_in"]
    spec["threshold"] = int(min(reach * rng.uniform(0.1, 0.4) * 2**dash_syn, 2**15 - 1))
    spec["threshold_out"] = int(rng.integers(50, 400))
    if rng.random() < 0.5:
        spec["bias"] = rng.integers(-20, 20, n_h)
        spec["bias_out"] = rng.integers(-5, 10, n_o)
    return spec


def _cases() -> dict:
    rng = np.random.default_rng(21)
    cases = {}
    for i in range(4):
        spec = _random_spec(rng)
        cases[f"random{i}"] = (spec, rng.random((40, 3, 16)) < rng.uniform(0.2, 0.6))
    # saturation both ways: inputs 0-7 (weights 100-127 << 7) drive the currents to +2**15 - 1 for 20
    # steps, then inputs 8-15 (weights -128..-100 << 7) to -2**15: the two's complement bounds. One
    # sign per step, so xylosim's per-spike saturation and evsim's per-step one agree
    w_in = np.concatenate([rng.integers(100, 128, (8, 12)), rng.integers(-128, -99, (8, 12))])
    sat = dict(weights_in=w_in, weights_out=rng.integers(-20, 60, (12, 4)), dash_mem=5, dash_mem_out=2, dash_syn=4,
               dash_syn_out=2, threshold=30000, threshold_out=60, weight_shift_in=7)
    spikes = np.zeros((40, 2, 16), dtype=bool)
    spikes[:20, :, :8] = rng.random((20, 2, 8)) < 0.7
    spikes[20:, :, 8:] = rng.random((20, 2, 8)) < 0.7
    cases["saturate"] = (sat, spikes)
    from bridges.datasets import load_idx_dataset

    try:
        images, _ = load_idx_dataset("mnist", "test")
    except FileNotFoundError:
        images, _ = load_idx_dataset("mnist-sample", "test")
    x = images[:8].reshape(8, 4, 7, 4, 7).mean(axis=(2, 4)).reshape(8, 16) / 255.0  # 7x7 pooled: 16 inputs
    spec = _random_spec(rng, n_h=64, n_o=8, lo=-30, hi=60)
    cases["mnist"] = (spec, evsim.encode(x, 30, "ratesyn_s").astype(bool))
    return cases


@pytest.fixture(scope="module")
def runs():
    """Each case with xylosim's spikes, its hidden threshold raised (x 5/4) until xylosim's hidden
    neurons spike at most once per step, as evsim's do (module docstring of evsim.hardware.xylo)."""
    if XyloLayer is None:
        return {}
    out = {}
    for name, (spec, spikes) in _cases().items():
        while (theirs := _xylosim(spec, spikes))[1].max() > 1:
            spec["threshold"] = min(spec["threshold"] * 5 // 4 + 1, 2**15 - 1)
        out[name] = (spec, spikes, theirs)
    return out


@needs_xylosim
@pytest.mark.parametrize("name", ["random0", "random1", "random2", "random3", "saturate", "mnist"])
def test_every_spike_equals_xylosims(runs, name):
    spec, spikes, (out, hidden) = runs[name]
    assert hidden.max() <= 1, "the case must keep xylosim's hidden neurons to one spike per step (evsim's)"
    assert hidden.any() and out.any(), "a silent layer would make the comparison vacuous"
    r = evsim.simulate(hw.xylo_network(**spec), spikes, record_hidden=True)
    np.testing.assert_array_equal(r.hidden_spikes[0], hidden.astype(bool))
    np.testing.assert_array_equal(r.output_spikes, out.astype(bool))


@needs_xylosim
def test_spec_arithmetic_would_not_match(runs):
    """Not vacuous: SPEC's generic decay (trunc, decay before the input) on the same integers spikes
    differently from xylosim on at least one case."""
    differs = False
    for spec, spikes, (out, hidden) in runs.values():
        net = hw.xylo_network(**spec)
        pops = [Population(p.shape, evsim.IntNeuron(p.neuron.theta, 2**4 >> min(p.neuron.d_m, 4),
                                                    2**4 >> min(p.neuron.d_s, 4), "subtract",
                                                    input_delay=p.neuron.input_delay), p.bias)
                for p in net.populations]  # fmt: skip
        generic = Network(net.input_shape, pops, net.projections, fixed_point=net.fixed_point)
        r = evsim.simulate(generic, spikes, record_hidden=True)
        differs |= not (r.hidden_spikes[0] == hidden.astype(bool)).all()
    assert differs


def test_bitshift_decay_by_hand():
    """One input spike of weight 1 << 2 = 4 into dash_syn 1, dash_mem 1. The current is added, then
    decayed: 4 - 2 = 2, 2 - 1 = 1, 1 - max(1 >> 1, 1) = 0 (the least decay is one unit). The
    membrane with threshold 3: 0 + 2 = 2, 2 - 1 + 1 = 2, 2 - 1 + 0 = 1, 1 - 1 = 0: never 3."""
    net = hw.xylo_network(np.array([[1]]), np.array([[1]]), dash_mem=1, dash_syn=1, threshold=3, weight_shift_in=2,
                          threshold_out=2**15 - 1)  # fmt: skip
    r = evsim.reference_simulate(net, np.array([1, 0, 0, 0], dtype=np.uint8).reshape(4, 1, 1))
    assert not r.hidden_spikes[0].any()  # V peaks at 2 < 3
    fired = evsim.simulate(hw.xylo_network(np.array([[1]]), np.array([[1]]), dash_mem=1, dash_syn=1, threshold=2,
                                           weight_shift_in=2, threshold_out=2**15 - 1),
                           np.array([1, 0, 0, 0], dtype=np.uint8).reshape(4, 1, 1), record_hidden=True)
    # V: 2 -> spike, 0; 0 - 0 + 1 = 1; 1 - 1 + 0 = 0; 0
    assert fired.hidden_spikes[0][:, 0, 0].tolist() == [True, False, False, False]
    # a negative current decays toward 0 too: -3 >> 1 = -2, so -3 + 2 = -1, then -1 - (-1) = 0
    neg = evsim.simulate(hw.xylo_network(np.array([[-3]]), np.array([[1]]), dash_mem=0, dash_syn=1, threshold=1,
                                         bias=[1], threshold_out=2**15 - 1),
                         np.array([1, 0, 0], dtype=np.uint8).reshape(3, 1, 1), record_hidden=True)
    # dash_mem 0: V keeps nothing: V = I + bias: -1 + 1 = 0 (no spike), 0 + 1 = 1 (spike), 0 + 1 = 1 (spike)
    assert neg.hidden_spikes[0][:, 0, 0].tolist() == [False, True, True]


def test_a_full_range_core_fits_xylo_and_a_wider_one_does_not():
    w_in, w_out = np.full((16, 20), -128), np.full((20, 8), 127)
    assert hw.check(hw.xylo_network(w_in, w_out), "xylo").fits  # int8 fills the chip's 8 bits
    wide = hw.check(hw.xylo_network(np.ones((17, 20), int), w_out), "xylo")
    assert [(v.limit, v.value, v.excess) for v in wide.violations] == [("inputs_max", 17, 1)]


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights_in=np.array([[200]])), "int8"),
    (dict(dash_mem=16), "dash_mem"),
    (dict(threshold=[3, 4]), "per population"),
    (dict(threshold=0), "threshold"),
    (dict(weight_shift_in=8), "weight shifts"),
    (dict(weights_out=np.zeros((3, 1), int)), "rows"),
])  # fmt: skip
def test_bad_arguments(kwargs, message):
    args = dict(weights_in=np.ones((2, 2), int), weights_out=np.ones((2, 1), int))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        hw.xylo_network(**args)
