"""evsim.hardware.lava_network against Lava 0.10 itself (Intel's bit-accurate Loihi models, fixed_pt).

Lava needs Python 3.10 and numpy < 2, so it lives in its own environment, `.venv-lava` (`make lava`);
tests/lava/driver.py runs every case there in one subprocess (the module fixture), exchanging arrays
through .npz files. Where `.venv-lava` does not exist the tests skip and say how to make it.
Cases: random chains (weights beyond 8 bits and of every sign mode, biases, weight_exp, every du /
dv), a chain built to wrap the 24-bit current around, one built to saturate the voltage, and real
MNIST images encoded as spikes. Each compares every layer's spikes at every step."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest

import evsim
import evsim.hardware as hw
from evsim.hardware import lava_network, lava_weights

ROOT = Path(__file__).resolve().parent.parent
LAVA_PYTHON = ROOT / ".venv-lava" / "bin" / "python"
DRIVER = Path(__file__).resolve().parent / "lava" / "driver.py"


def _chain(rng, sizes, w_lo, w_hi, T, B, rate, **params):
    weights = [rng.integers(w_lo, w_hi + 1, (b, a)) for a, b in zip(sizes[:-1], sizes[1:])]
    spikes = rng.random((T, B, sizes[0])) < rate
    return dict(weights=weights, spikes=spikes, **params)


def _cases():
    rng = np.random.default_rng(21)
    cases = {}
    for i in range(4):  # random chains: clipped and truncated weights, biases, decays, exponents
        sizes = [int(s) for s in rng.integers(3, 12, rng.integers(3, 6))]  # 2-4 layers
        L = len(sizes) - 1
        cases[f"random{i}"] = _chain(
            rng, sizes, -300, 300, 25, 4, 0.3, du=[int(v) for v in rng.integers(0, 4096, L)],
            dv=[int(v) for v in rng.integers(0, 4096, L)], vth=[int(v) for v in rng.integers(1, 400, L)],
            bias_mant=[rng.integers(-20, 40, n) for n in sizes[1:]], bias_exp=[int(v) for v in rng.integers(0, 3, L)],
            weight_exp=[int(v) for v in rng.integers(0, 3, L)])  # fmt: skip
    cases["excitatory"] = _chain(rng, [6, 5, 3], 0, 255, 20, 3, 0.4, du=200, dv=300, vth=[300, 200])
    # the current wraps: strong excitatory input, almost no current decay, a threshold out of reach
    cases["wrap"] = _chain(rng, [20, 4], 200, 255, 30, 2, 0.9, du=0, dv=4095, vth=2**17 - 1, weight_exp=3)
    # the voltage saturates: no leak, no current memory; 20 steps of strong inhibition drive v to
    # -(2**23 - 1), where it stops, then excitation brings it to threshold far sooner than unclamped
    sat = _chain(rng, [16, 5, 3], -60, 60, 40, 3, 0.0, du=4095, dv=0, vth=[2**17 - 1, 30], weight_exp=[5, 0])
    sat["weights"][0][:, :8] = rng.integers(-256, -200, (5, 8))
    sat["weights"][0][:, 8:] = rng.integers(200, 255, (5, 8))
    sat["spikes"][:20, :, :8] = rng.random((20, 3, 8)) < 0.9
    sat["spikes"][20:, :, 8:] = rng.random((20, 3, 8)) < 0.9
    cases["saturate"] = sat
    from bridges.datasets import load_idx_dataset

    try:
        images, _ = load_idx_dataset("mnist", "test")
    except FileNotFoundError:
        images, _ = load_idx_dataset("mnist-sample", "test")
    x = images[:16].reshape(16, -1) / 255.0
    mnist = _chain(rng, [784, 48, 10], -40, 60, 20, 1, 0.0, du=400, dv=600, vth=[60, 40], bias_mant=[0, 2])
    mnist["spikes"] = evsim.encode(x, 20, "ratesyn_s").astype(bool)
    cases["mnist"] = mnist
    # a float LIF network compiled onto Loihi (evsim.hardware.compile), on the same MNIST spikes
    fnet = evsim.Network.dense([rng.normal(0.004, 0.02, (32, 784)), rng.normal(0.05, 0.3, (10, 32))],
                               biases=[rng.normal(0, 0.01, 32), None], neuron=evsim.LIF(tau_m=4, tau_s=2))
    compiled = hw.compile(fnet)
    cases["compiled"] = dict(hw.lava_parameters(compiled), spikes=mnist["spikes"], net=compiled)
    return cases


def _network(case):
    if "net" in case:  # compiled: the network compile built, not one rebuilt from its parameters
        return case["net"]
    keys = ("du", "dv", "vth", "bias_mant", "bias_exp", "weight_exp")
    return lava_network(case["weights"], **{k: case[k] for k in keys if k in case})


def _per_layer(case, key, default, L):
    value = case.get(key, default)
    return list(value) if isinstance(value, (list, tuple)) else [value] * L


@pytest.fixture(scope="module")
def lava_runs(tmp_path_factory):
    if not LAVA_PYTHON.exists():
        pytest.skip(f"no Lava environment at {LAVA_PYTHON.parent.parent} (Lava 0.10 needs Python 3.10 and numpy < 2): "
                    "run `make lava` to build it")
    cases = _cases()
    arrays = {"n_cases": np.array(len(cases))}
    for c, case in enumerate(cases.values()):
        L = len(case["weights"])
        sizes = [w.shape[0] for w in case["weights"]]
        arrays[f"c{c}_spikes"] = case["spikes"]
        for key, default in (("du", 0), ("dv", 0), ("vth", 10), ("weight_exp", 0)):
            arrays[f"c{c}_{key}"] = np.array(_per_layer(case, key, default, L), dtype=np.int64)
        mant, bexp = _per_layer(case, "bias_mant", 0, L), _per_layer(case, "bias_exp", 0, L)
        for l in range(L):
            arrays[f"c{c}_weights_{l}"] = case["weights"][l]
            arrays[f"c{c}_bias_mant_{l}"] = np.broadcast_to(mant[l], (sizes[l],)).astype(np.int64)
            arrays[f"c{c}_bias_exp_{l}"] = np.broadcast_to(bexp[l], (sizes[l],)).astype(np.int64)
    tmp = tmp_path_factory.mktemp("lava")
    np.savez(tmp / "in.npz", **arrays)
    proc = subprocess.run([str(LAVA_PYTHON), str(DRIVER), str(tmp / "in.npz"), str(tmp / "out.npz")],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = np.load(tmp / "out.npz")
    return {name: (case, [out[f"c{c}_layer{l}"] for l in range(len(case["weights"]))])
            for c, (name, case) in enumerate(cases.items())}  # fmt: skip


CASES = ["random0", "random1", "random2", "random3", "excitatory", "wrap", "saturate", "mnist", "compiled"]


@pytest.mark.parametrize("name", CASES)
def test_every_layer_spikes_as_in_lava(lava_runs, name):
    """Every LIF layer's spikes at every step equal Lava's, from evsim.simulate and the integer reference."""
    case, theirs = lava_runs[name]
    net = _network(case)
    res = evsim.simulate(net, case["spikes"], record_hidden=True)
    ours = list(res.hidden_spikes) + [res.output_spikes]
    ref = evsim.reference_simulate(net, case["spikes"])
    assert all(t.any() for t in theirs) or name in ("wrap",)  # the layers are not silent
    for l, (mine, lava, oracle) in enumerate(zip(ours, theirs, list(ref.hidden_spikes) + [ref.output_spikes])):
        assert mine.shape == lava.shape
        assert np.array_equal(mine, lava), f"layer {l}: {np.argwhere(mine != lava)[:5].tolist()}"
        assert np.array_equal(oracle, lava)


def test_the_wrap_and_saturation_cases_need_lavas_overflow_rules(lava_runs):
    """Not vacuous: with SPEC's saturating current the wrap case spikes differently, and with room to
    spare (40-bit state, no saturation) so does the saturation case; Lava agrees with the rules."""
    for name, change in (("wrap", {"current_overflow": "saturate"}), ("saturate", None)):
        case, theirs = lava_runs[name]
        net = _network(case)
        if change is None:
            twin = evsim.Network(net.input_shape, net.populations, net.projections, fixed_point=(9, 40, 12))
        else:
            twin = evsim.Network(net.input_shape, [evsim.Population(p.shape, dataclasses.replace(p.neuron, **change),
                                                                    p.bias) for p in net.populations],
                                 net.projections, fixed_point=net.fixed_point)  # fmt: skip
        res = evsim.simulate(twin, case["spikes"], record_hidden=True)
        assert any(not np.array_equal(a, b) for a, b in zip(list(res.hidden_spikes) + [res.output_spikes], theirs))


def test_lava_weight_rules_by_hand():
    """Lava's clip and truncation (8 bits by sign mode; mixed: even, floor) and the a_in << 6 scale."""
    assert lava_weights(np.array([[-300, -3, 3, 300]])).tolist() == [[-256, -4, 2, 254]]
    assert lava_weights(np.array([[0, 3, 300]])).tolist() == [[0, 3, 255]]
    assert lava_weights(np.array([[0, -3, -300]])).tolist() == [[0, -3, -255]]
    net = lava_network([np.array([[3, -3]])], du=0, dv=0, vth=5, weight_exp=1)
    assert net.projections[0].weight.tolist() == [[2 << 7, -4 << 7]]
    nrn = net.populations[0].neuron
    assert (nrn.theta, nrn.d_s, nrn.d_m, nrn.threshold_test, nrn.input_delay) == (5 << 6, 1, 0, ">", 1)


def test_one_step_per_dense_by_hand():
    """One input spike at step 0 through two layers of weight 2 (vth 0: any positive v fires): Lava's
    Dense delivers one step late, so layer 0 fires at step 1 and layer 1 at step 2."""
    net = lava_network([np.array([[2]]), np.array([[2]])], du=4095, dv=4095, vth=0)
    x = np.zeros((5, 1, 1))
    x[0] = 1
    res = evsim.simulate(net, x, record_hidden=True)
    assert res.hidden_spikes[0][:, 0, 0].astype(int).tolist() == [0, 1, 0, 0, 0]
    assert res.output_spikes[:, 0, 0].astype(int).tolist() == [0, 0, 1, 0, 0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(du=4096), "du"), (dict(vth=2**17), "vth"), (dict(weight_exp=-1), "weight_exp"),
    (dict(du=[1, 2]), "one per layer"), (dict(du=1.5), "integer"), (dict(bias_mant=np.ones(3, int)), r"\(1,\) arrays"),
    (dict(bias_mant=2**17, bias_exp=7), "24-bit voltage"),
])  # fmt: skip
def test_bad_lava_arguments(kwargs, message):
    """Every refusal names the argument and says why."""
    args = dict(du=0, dv=0, vth=10) | kwargs
    with pytest.raises(ValueError, match=message):
        lava_network([np.array([[3, -3]])], **args)
