"""Speck / DYNAP-CNN arithmetic (evsim.hardware.speck_network) against sinabs 3.1.3's own layers.

sinabs' simulation layers (Conv2d into `IAFSqueeze` with spike_fn=SingleSpike, MembraneSubtract or
MembraneReset, min_v_mem; `SumPool2d`; Flatten + Linear) run without samna; `DynapcnnNetwork` and
its chip simulator (samna's specksim) need samna, which does not install here (docs/guide/
hardware.md). Random conv + pool + linear chains with every reset and lower bound, and real MNIST
images: every layer's spikes at every step must be equal.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_same_run

import evsim
import evsim.hardware as hw
from evsim.network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Population

try:
    import sinabs.layers as sl
    import torch
    from sinabs.activation import MembraneReset, MembraneSubtract, SingleSpike
except ImportError:  # the Makefile's $(STAMP) installs it (pip install --no-deps sinabs==3.1.3 pbr==7.1.3)
    sl = None
needs_sinabs = pytest.mark.skipif(sl is None, reason="sinabs is not installed (make install adds sinabs==3.1.3 with "
                                  "--no-deps: it pins nir<=1.0.4; it needs pbr at import)")  # fmt: skip


def _sinabs(spec: dict, spikes: np.ndarray) -> list[np.ndarray]:
    """Each IAF layer's spikes (T, B, n) (C-major), from sinabs' layers built from `spec`."""
    T, B = spikes.shape[:2]
    L = len(spec["weights"])

    def per(name, default):
        v = spec.get(name, default)
        return list(v) if isinstance(v, (list, tuple)) else [v] * L

    theta, low, stride, padding, pool, to_zero = (per(n, d) for n, d in (
        ("spike_threshold", 1), ("min_v_mem", None), ("stride", 1), ("padding", 0), ("pool", 1),
        ("return_to_zero", False)))  # fmt: skip
    x = torch.from_numpy(np.ascontiguousarray(spikes.swapaxes(0, 1))).float().flatten(0, 1)  # (B*T, C, H, W)
    out = []
    with torch.no_grad():
        for l, w in enumerate(spec["weights"]):
            wt = torch.from_numpy(np.asarray(w, dtype=np.float32))
            if w.ndim == 4:
                conv = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], stride[l], padding[l], bias=False)
            else:
                x = x.flatten(1)
                conv = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
            conv.weight.copy_(wt)
            iaf = sl.IAFSqueeze(batch_size=B, spike_threshold=float(theta[l]), spike_fn=SingleSpike,
                                reset_fn=MembraneReset() if to_zero[l] else MembraneSubtract(),
                                min_v_mem=-(2.0**15) if low[l] is None else float(low[l]))  # the chip's default
            x = iaf(conv(x))
            out.append(x.unflatten(0, (B, T)).swapaxes(0, 1).reshape(T, B, -1).numpy().astype(bool))
            if pool[l] > 1:
                x = sl.SumPool2d(pool[l])(x)
    return out


def _cases() -> dict:
    rng = np.random.default_rng(6)
    cases = {}
    for i in range(3):
        spec = dict(weights=[rng.integers(-40, 80, (6, 2, 3, 3)), rng.integers(-40, 80, (8, 6, 3, 3)),
                             rng.integers(-40, 80, (10, 8 * 4 * 4))],
                    spike_threshold=[int(rng.integers(60, 250)), int(rng.integers(1500, 4000)),
                                     int(rng.integers(1500, 4000))],
                    min_v_mem=[[None, 0, -100][int(rng.integers(0, 3))] for _ in range(3)],
                    stride=[1, 2, 1], padding=[1, 1, 0], pool=[2, 1, 1],
                    return_to_zero=[bool(rng.random() < 0.5) for _ in range(3)])
        cases[f"random{i}"] = (spec, (2, 16, 16), rng.random((20, 3, 2, 16, 16)) < 0.3)
    # the lower bound at work: inhibition-heavy weights with min_v_mem = 0 in every layer
    spec = dict(weights=[rng.integers(-100, 60, (6, 2, 3, 3)), rng.integers(-60, 70, (10, 6 * 16 * 16))],
                spike_threshold=[60, 3000], min_v_mem=0, padding=[1, 0])
    cases["bounded"] = (spec, (2, 16, 16), rng.random((20, 2, 2, 16, 16)) < 0.4)
    from bridges.datasets import load_idx_dataset

    try:
        images, _ = load_idx_dataset("mnist", "test")
    except FileNotFoundError:
        images, _ = load_idx_dataset("mnist-sample", "test")
    x = images[:8].reshape(8, 1, 28, 28) / 255.0
    spec = dict(weights=[rng.integers(-30, 60, (8, 1, 5, 5)), rng.integers(-30, 60, (10, 8 * 6 * 6))],
                spike_threshold=[200, 8000], min_v_mem=[-200, None], stride=[2, 1], pool=[2, 1])
    cases["mnist"] = (spec, (1, 28, 28), evsim.encode(x, 20, "ratesyn_s").astype(bool))
    return cases


@pytest.fixture(scope="module")
def runs():
    return {name: (spec, shape, spikes, _sinabs(spec, spikes)) for name, (spec, shape, spikes) in _cases().items()}


@needs_sinabs
@pytest.mark.parametrize("name", ["random0", "random1", "random2", "bounded", "mnist"])
def test_every_spike_equals_sinabs(runs, name):
    spec, shape, spikes, theirs = runs[name]
    assert all(s.any() for s in theirs), "a silent layer would make the comparison vacuous"
    r = evsim.simulate(hw.speck_network(shape, **spec), spikes, record_hidden=True)
    for l, (ours, want) in enumerate(zip(list(r.hidden_spikes) + [r.output_spikes], theirs)):
        np.testing.assert_array_equal(ours, want, err_msg=f"layer {l}")


@needs_sinabs
def test_the_lower_bound_matters(runs):
    """Not vacuous: without min_v_mem = 0 (the chip default -2**15 instead) the bounded case spikes
    differently from sinabs'."""
    spec, shape, spikes, theirs = runs["bounded"]
    r = evsim.simulate(hw.speck_network(shape, **dict(spec, min_v_mem=None)), spikes, record_hidden=True)
    assert not all((a == b).all() for a, b in zip(list(r.hidden_spikes) + [r.output_spikes], theirs))


def test_integrate_and_fire_by_hand():
    """A 1x1 convolution of weight 3 on a pixel spiking every step, threshold 5, no leak: v = 3, 6 (spike,
    1), 4, 7 (spike, 2), 5 (spike, 0), 3. With return_to_zero: 3, 6 (spike, 0), 3, 6 (spike, 0), ...
    With weight -3 and min_v_mem = -4 the membrane stops at -4: the bound, not -2**15."""
    spikes = np.ones((6, 1, 1, 1, 1), dtype=np.uint8)
    fired = [evsim.simulate(hw.speck_network((1, 1, 1), [np.full((1, 1, 1, 1), 3)], 5, return_to_zero=z), spikes)
             .output_spikes[:, 0, 0].tolist() for z in (False, True)]  # fmt: skip
    assert fired == [[False, True, False, True, True, False], [False, True, False, True, False, True]]
    net = hw.speck_network((2, 1, 1), [np.array([[[[-3]], [[4]]]])], 5, min_v_mem=-4)
    x = np.zeros((5, 1, 2, 1, 1), dtype=np.uint8)
    x[:3, :, 0] = 1  # three inhibitory steps (v: -3, then -4, -4), then two excitatory ones: 0, 4
    x[3:, :, 1] = 1
    assert not evsim.simulate(net, x).output_spikes.any()
    x[2:, :, 1] = 1  # one more excitatory step: -4 + 1 = -3... then 1, 5: a spike at the last step
    assert evsim.simulate(net, x).output_spikes[:, 0, 0].tolist() == [False, False, False, False, True]


def test_neurons_as_the_chip_config_sets_them():
    net = hw.speck_network((1, 4, 4), [np.ones((2, 1, 3, 3), int), np.ones((3, 2 * 2 * 2), int)], [5, 7],
                           min_v_mem=[None, -3], return_to_zero=[False, True], pool=[2, 1], padding=[1, 0])
    a, b = (p.neuron for p in net.populations)
    assert (a.theta, a.d_m, a.d_s, a.reset, a.v_min, a.threshold_test) == (5, 0, 4, "subtract", -(2**15), ">=")
    assert (b.theta, b.reset, b.v_min) == (7, "zero", -3)
    assert net.projections[1].weight.shape == (3, 2 * 4 * 4)  # the 2x2 sum pool folded into the Linear layer
    # int8 weights fill 8 chip bits (SPEC's symmetric mantissas need W = 9 for -128): the chip holds it
    full = hw.speck_network((1, 4, 4), [np.full((2, 1, 3, 3), -128), np.full((3, 8), 127)], 5)
    assert full.fixed_point[0] == 9 and hw.check(full, "speck").fits


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=[np.full((2, 1, 3, 3), 200)]), "int8"),
    (dict(spike_threshold=0), "spike_threshold"),
    (dict(min_v_mem=5), "min_v_mem"),
    (dict(pool=2), "last layer"),
    (dict(weights=[np.ones((2, 1, 3, 3), int), np.ones((3, 5), int)]), "takes 5 inputs"),
])  # fmt: skip
def test_bad_arguments(kwargs, message):
    args = dict(input_shape=(1, 4, 4), weights=[np.ones((2, 1, 3, 3), int)], spike_threshold=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        hw.speck_network(**args)


# ------------------------------------------------------------ compile(net, "speck"): from a float network


def _half_away(x) -> np.ndarray:
    """Round half away from zero, to int64 (how the scale rule rounds, written out again here)."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def _float_chain(kind: str, seed: int, to_zero) -> tuple[evsim.Network, dict, tuple, np.ndarray]:
    """A random float IF chain, the `speck_network` arguments its compilation should equal (computed
    here from the rule: int8 weights w 127 / max|w| per layer, thresholds scaled alike), the hand-built
    input shape and input spikes (T, B, C, H, W)."""
    rng = np.random.default_rng(seed)
    if kind == "conv":  # (2, 10, 10) -> conv 3x3 pad 1 -> conv 3x3 stride 2 pad 1 -> linear
        ws = [rng.normal(0.15, 0.4, (6, 2, 3, 3)), rng.normal(0.1, 0.3, (8, 6, 3, 3)), rng.normal(0.05, 0.2, (10, 200))]
        thetas = [1.0, 1.5, 1.2]
        layers = dict(stride=[1, 2, 1], padding=[1, 1, 0])
        shape = (2, 10, 10)
        projections = [Conv2d(INPUT, 0, ws[0], 1, 1), Conv2d(0, 1, ws[1], 2, 1), Dense(1, 2, ws[2])]
        shapes = [(6, 10, 10), (8, 5, 5), (10,)]
    else:  # 40 -> 30 -> 10, Speck's Linear layers over a (40, 1, 1) input
        ws = [rng.normal(0.1, 0.3, (30, 40)), rng.normal(0.1, 0.3, (10, 30))]
        thetas = [1.0, 0.8]
        layers = {}
        shape = (40, 1, 1)
        projections = [Dense(INPUT, 0, ws[0]), Dense(0, 1, ws[1])]
        shapes = [(30,), (10,)]
    thetas = [t * float(rng.uniform(0.7, 1.3)) for t in thetas]
    pops = [Population(s, evsim.IF(t, reset="zero" if z else "subtract")) for s, t, z in zip(shapes, thetas, to_zero)]
    net = evsim.Network(shape if kind == "conv" else (40,), pops, projections)
    scales = [127 / np.abs(w).max() for w in ws]
    spec = dict(weights=[_half_away(w * s) for w, s in zip(ws, scales)],
                spike_threshold=[int(_half_away(t * s)) for t, s in zip(thetas, scales)],
                return_to_zero=list(to_zero), **layers)  # fmt: skip
    spikes = (rng.random((16, 3, *shape)) < 0.3).astype(np.uint8)
    return net, spec, shape, spikes


COMPILE_CASES = {"conv-subtract": ("conv", 1, [False] * 3), "conv-mixed": ("conv", 2, [True, False, True]),
                 "dense-subtract": ("dense", 3, [False] * 2), "dense-zero": ("dense", 4, [True] * 2)}  # fmt: skip


@pytest.mark.parametrize("name", list(COMPILE_CASES))
def test_compile_is_the_hand_built_network_and_spikes_as_sinabs(name):
    net, spec, shape, spikes = _float_chain(*COMPILE_CASES[name])
    c = hw.compile(net, "speck")
    hand = hw.speck_network(shape, **spec)
    assert c.fixed_point == hand.fixed_point == (9, 16, 2) and c.metadata["hardware.profile"] == "speck"
    for l, (pc, ph) in enumerate(zip(c.populations, hand.populations)):
        assert pc.neuron == ph.neuron, f"layer {l}"  # threshold, reset, v_min = -2**15, '>=', no leak
        assert pc.bias is None
    for l, (qc, w) in enumerate(zip(c.projections, spec["weights"])):
        np.testing.assert_array_equal(qc.weight, w, err_msg=f"layer {l}")  # the largest |w| is 127, round half away
        assert np.abs(qc.weight).max() == 127
    x = spikes.reshape(spikes.shape[:2] + net.input_shape)
    ours = evsim.simulate(c, x, record_hidden=True)
    theirs = evsim.simulate(hand, spikes, record_hidden=True)
    assert_same_run(ours, theirs)  # every layer's spikes, the SOPs and every other count
    layers = list(ours.hidden_spikes) + [ours.output_spikes]
    assert all(s.any() for s in layers) and not all(s.all() for s in layers), "silent or saturated: vacuous"
    assert hw.check(c, "speck").fits  # int8 weights, 16-bit state: what the chip holds
    if sl is not None:
        for l, (a, b) in enumerate(zip(layers, _sinabs(spec, spikes))):
            np.testing.assert_array_equal(a, b, err_msg=f"layer {l} against sinabs")


def _grid_network(strict: bool) -> evsim.Network:
    """Conv, average pool, conv + residual shortcut, linear, with float weights on Speck's grid: every
    population's largest |w| is 127 / 128 and its other weights and threshold multiples of 1/128 (the
    pool's 1/4 and thresholds multiples of 1/4 for the pool population), so the float sums are exact
    and compiling changes no number, only its unit. The second convolution's weights are multiples of
    16/128 and its population's threshold 64/128, so its membranes often sit exactly at threshold."""
    rng = np.random.default_rng(11)

    def grid(shape, lo, hi, step=1):
        m = rng.integers(lo, hi, shape) * step
        m.flat[0] = 127
        return m / 128

    pops = [Population((4, 8, 8), evsim.IF(40 / 128)), Population((4, 4, 4), evsim.IF(0.75, reset="zero")),
            Population((4, 4, 4), evsim.IF(0.5, reset="zero", threshold_test=">" if strict else ">=")),
            Population((5,), evsim.IF(200 / 128))]  # fmt: skip
    projs = [Conv2d(INPUT, 0, grid((4, 1, 3, 3), -40, 90), padding=1), AvgPool2d(0, 1, 2),
             Conv2d(1, 2, grid((4, 4, 3, 3), -4, 6, 16), padding=1), Identity(1, 2, 0.5),
             Dense(2, 3, grid((5, 64), -50, 90))]
    return evsim.Network((1, 8, 8), pops, projs)


@pytest.mark.parametrize("strict", [False, True])
def test_compile_keeps_the_float_spikes_and_sops_on_the_grid(strict):
    """Where the float weights lie on the int8 grid the compiled network is the float one in other
    units: the same spikes in every layer at every step, the same SOPs per step and projection.
    A strict test ('>') becomes Speck's '>=' one unit higher (the population here resets to 0)."""
    net = _grid_network(strict)
    c = hw.compile(net, "speck")
    assert [p.neuron.theta for p in c.populations] == [40, 381, 64 + strict, 200]  # pool: 0.75 x 127 x 4
    assert c.projections[1].weight == 127 and c.projections[3].scale == 64
    x = evsim.encode(np.random.default_rng(12).random((4, 1, 8, 8)), 12, "ratesyn_s")
    ours = evsim.simulate(c, x, record_hidden=True)
    float_run = evsim.simulate(net, x, record_hidden=True, dtype=np.float64)
    assert_same_run(ours, float_run)
    assert all(s.any() for s in list(ours.hidden_spikes) + [ours.output_spikes])
    assert_same_run(ours, evsim.reference_simulate(c, x))  # the integer oracle agrees
    if strict:  # not vacuous: the membrane sits exactly at the threshold somewhere, so '>=' would differ
        lax = hw.compile(_grid_network(False), "speck")
        assert not (evsim.simulate(lax, x, record_hidden=True).hidden_spikes[2] == ours.hidden_spikes[2]).all()


def test_compile_lossy_leak_makes_lif_integrate_and_fire():
    rng = np.random.default_rng(5)
    ws = [rng.normal(0.1, 0.3, (20, 30)), rng.normal(0.1, 0.3, (6, 20))]
    lif = evsim.Network.dense(ws, neuron=evsim.LIF(tau_m=4, tau_s=2, theta=1.0))
    with pytest.raises(ValueError, match=r"LIF \(0: tau_m = 4, tau_s = 2.*no membrane leak.*lossy_leak=True"):
        hw.compile(lif, "speck")
    c = hw.compile(lif, "speck", lossy_leak=True)
    # an IF twin with LIF's reset to 0 compiles to the same network: the whole charge W per spike, no leak
    twin = hw.compile(evsim.Network.dense(ws, neuron=evsim.IF(1.0, reset="zero")), "speck")
    assert [p.neuron for p in c.populations] == [p.neuron for p in twin.populations]
    assert all(p.neuron.d_m == 0 and p.neuron.d_s == 4 for p in c.populations)
    for a, b in zip(c.projections, twin.projections):
        np.testing.assert_array_equal(a.weight, b.weight)
    assert "compiled as integrate-and-fire" in c.metadata["hardware.lossy_leak"]
    assert "hardware.lossy_leak" not in twin.metadata


def test_compile_refuses_what_speck_cannot_run():
    ws = [np.full((3, 4), 0.5), np.full((2, 3), 0.5)]
    with pytest.raises(ValueError, match=r"population\(s\) \[1\] have a non-zero bias"):
        hw.compile(evsim.Network.dense(ws, [None, np.array([0.0, 0.1])]), "speck")
    assert hw.compile(evsim.Network.dense(ws, [np.zeros(3), None]), "speck").populations[0].bias is None
    deep = evsim.Network.dense([np.full((3, 4), 0.5)] + [np.full((3, 3), 0.5)] * 9)  # 10 layers, Speck holds 9
    with pytest.raises(ValueError, match=r"(?s)does not fit speck.*layers = 10, the chip allows 9.*force=True"):
        hw.compile(deep, "speck")
    assert len(hw.compile(deep, "speck", force=True).populations) == 10
    too_high = r"population 0: its threshold 150 is 300 times .* 38100 membrane units, outside Speck's"
    with pytest.raises(ValueError, match=too_high):  # over 258 x the largest weight: over 2**15 - 1
        hw.compile(evsim.Network.dense(ws, neuron=evsim.IF(150.0)), "speck")
    at_258 = hw.compile(evsim.Network.dense(ws, neuron=evsim.IF(129.0)), "speck")  # 258 x: 32766 fits
    assert at_258.populations[0].neuron.theta == 32766
    with pytest.raises(ValueError, match="outside Speck's"):  # 1/300 of the largest weight rounds to 0
        hw.compile(evsim.Network.dense(ws, neuron=evsim.IF(0.5 / 300)), "speck")
    with pytest.raises(ValueError, match="population 1 receives only zero weights"):
        hw.compile(evsim.Network.dense([ws[0], np.zeros((2, 3))]), "speck")
    with pytest.raises(ValueError, match="'loihi' and 'speck' only"):
        hw.compile(evsim.Network.dense(ws), "xylo")
    with pytest.raises(ValueError, match="float evsim.Network"):
        hw.compile(hw.compile(evsim.Network.dense(ws), "speck"), "speck")
