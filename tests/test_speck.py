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

import evsim
import evsim.hardware as hw

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
