"""Fixed-point mode: the integer engine against the independent integer reference (dense and deep,
saturation, early exit, batch splits; thread counts: test_threads.py), the quantiser's properties,
agreement with the float model at 16 bits on real images, errors, and files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_same_run, deep_networks, examples, image_batches, methods, networks
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import evsim
from evsim.engine import fixed_run
from evsim.engine.fixed_run import _decay_current
from evsim.engine.plan import build_plan
from evsim.integer_reference import _ref_trunc, integer_reference
from evsim.network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population
from evsim.neurons import IntNeuron
from evsim.quantizer import mantissas

SPIKING = ("poisson", "ratesyn_s", "ratesyn_e", "ttfs")
run_modes = st.sampled_from([("rate", False), ("ttfs", False), ("ttfs", True)])


def _smallest_state_bits(net, W, D):
    """quantize(net, W, S, D) at the smallest S that works (None if none does up to 40)."""
    for S in range(W, 41):
        try:
            return evsim.quantize(net, W, S, D)
        except ValueError as err:
            if "too small" not in str(err):
                raise
    return None


@st.composite
def raw_fixed(draw, net: Network) -> Network:
    """`net`'s graph with random integer parameters, not from the quantiser: any W, S, D, weights
    m << e up to the full mantissa (so sums often exceed the state range: saturation), thresholds
    from 1 to the state limit, decays from none to full (0 .. 2**D), integer biases, both threshold
    tests, Loihi's variants (the current wrapping around, inputs one step late), Xylo's bit-shift
    decay and DYNAP-CNN's lower membrane bound per population."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    W = draw(st.integers(2, 10))
    S = draw(st.integers(W, 24))
    D = draw(st.integers(2, 14))
    s_max, m_max = 2 ** (S - 1) - 1, 2 ** (W - 1) - 1
    projections, scales = [], {}
    for proj in net.projections:
        e = draw(st.integers(0, S - W))
        scales.setdefault(proj.target, []).append(m_max << e)
        if isinstance(proj, (Dense, Conv2d)):
            w = proj.weight / max(np.abs(proj.weight).max(), 1e-12) * m_max
            m = np.clip(np.round(w), -m_max, m_max).astype(np.int64)
            if isinstance(proj, Dense):
                projections.append(Dense(proj.source, proj.target, m << e, exponent=e))
            else:
                projections.append(Conv2d(proj.source, proj.target, m << e, proj.stride, proj.padding, exponent=e))
        elif isinstance(proj, AvgPool2d):
            projections.append(AvgPool2d(proj.source, proj.target, proj.kernel_size, proj.stride,
                                         int(rng.integers(1, m_max + 1)) << e, exponent=e))  # fmt: skip
        else:
            projections.append(Identity(proj.source, proj.target, int(rng.integers(-m_max, m_max + 1)) << e, e))
    decays = st.sampled_from(["none", "full", "one", "random"])

    def decay(kind):
        return {"none": 0, "full": 2**D, "one": 1}.get(kind) if kind != "random" else int(rng.integers(0, 2**D + 1))

    populations = []
    for p, pop in enumerate(net.populations):
        typical = max(scales[p])
        theta = int(np.clip(typical * rng.uniform(0.2, 3.0), 1, s_max))
        bias = rng.integers(-theta // 4, theta // 4 + 1, pop.size) if pop.bias is not None else None
        form = draw(st.sampled_from(["trunc", "trunc", "bitshift"]))  # Xylo's bit-shift decay (shifts 0 .. 17)
        d_m, d_s = ((decay(draw(decays)), decay(draw(decays))) if form == "trunc" else
                    (draw(st.integers(0, 17)), draw(st.integers(0, 17))))  # fmt: skip
        neuron = IntNeuron(theta, d_m, d_s, draw(st.sampled_from(["zero", "subtract"])),
                           threshold_test=draw(st.sampled_from([">=", ">"])),
                           current_overflow=draw(st.sampled_from(["saturate", "wrap"])),
                           input_delay=draw(st.sampled_from([0, 1])), decay=form,
                           v_min=draw(st.sampled_from([None, None, 0, -theta, -s_max - 1])))  # DYNAP-CNN's bound
        populations.append(Population(pop.shape, neuron, bias))
    return Network(net.input_shape, populations, projections, fixed_point=(W, S, D))


def _saturates(net, inputs) -> bool:
    """Whether a run reaches the state limit somewhere (an unsaturated twin run differs or overflows)."""
    W, S, D = net.fixed_point
    wide = Network(net.input_shape, net.populations, net.projections, fixed_point=(W, 40, D))
    a, b = evsim.reference_simulate(net, inputs), evsim.reference_simulate(wide, inputs)
    return not (all((x == y).all() for x, y in zip(a.hidden_spikes, b.hidden_spikes))
                and (a.output_spikes == b.output_spikes).all())  # fmt: skip


@st.composite
def spike_batches(draw, n_in: int, max_T: int = 20, max_B: int = 4) -> np.ndarray:
    """(T, B, n_in) spikes from a random spiking encoder of random images."""
    T, B = draw(st.integers(1, max_T)), draw(st.integers(1, max_B))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).random((B, n_in))
    if draw(st.booleans()):
        x[x < 0.3] = 0.0
    return evsim.encode(x, T, draw(st.sampled_from(SPIKING)), seed=seed)


# ---------------------------------------------------------------------------------------------
# the engine against the reference
# ---------------------------------------------------------------------------------------------


@settings(max_examples=examples(150), deadline=None)  # thorough profile: 1,500
@given(data=st.data(), net=networks(), mode=run_modes, quantized=st.booleans())
def test_engine_equals_reference_on_integer_networks(data, net, mode, quantized):
    """Quantised networks (W 2-12 bits, D 4-12, at the smallest state_bits that fit) and random
    integer parameters (saturation, extreme decays, thresholds, biases): every spike, count, exit
    step and SOP equals the reference's, from dense arrays and from events."""
    if quantized:
        W, D = data.draw(st.sampled_from([2, 3, 4, 8, 12])), data.draw(st.sampled_from([4, 8, 12]))
        fixed = _smallest_state_bits(net, W, D)
        assume(fixed is not None)  # no state_bits <= 40 fits: not a case
    else:
        fixed = data.draw(raw_fixed(net))
    inputs = data.draw(spike_batches(net.n_in))
    decoder, early_exit = mode
    want = evsim.reference_simulate(fixed, inputs, decoder=decoder, early_exit=early_exit)
    event("spiking" if want.spike_counts.any() else "silent")
    event("saturated" if _saturates(fixed, inputs) else "within range")
    assert_same_run(evsim.simulate(fixed, inputs, decoder=decoder, early_exit=early_exit, record_hidden=True), want)
    events = evsim.InputEvents.from_dense(inputs, fixed.input_shape)
    assert_same_run(evsim.simulate(fixed, events, decoder=decoder, early_exit=early_exit, record_hidden=True), want)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), method=methods(), mode=run_modes, quantized=st.booleans())
def test_deep_engine_equals_reference(data, method, mode, quantized):
    """Conv, pool and residual networks (quantised, or with random integer parameters), every
    spiking encoder and fused spiking input; an input with a current part is refused by both."""
    K = 1 if isinstance(method, str) else len(method)
    c0 = data.draw(st.integers(1, 2))
    net = data.draw(deep_networks(in_channels=K * c0))
    fixed = _smallest_state_bits(net, data.draw(st.sampled_from([3, 8])), 12) if quantized else data.draw(raw_fixed(net))
    assume(fixed is not None)
    event("quantised" if quantized else "raw integer")
    x, T, seed = data.draw(image_batches((c0,) + net.input_shape[1:], max_T=8))
    decoder, early_exit = mode
    events = evsim.encode_events(x, T, method, seed=seed)
    if "current" in ([method] if isinstance(method, str) else method):
        event("current input refused")
        with pytest.raises(ValueError, match="spike inputs only"):
            evsim.simulate(fixed, events)
        with pytest.raises(ValueError, match="spike inputs only"):
            evsim.reference_simulate(fixed, events)
        return
    want = evsim.reference_simulate(fixed, events, decoder=decoder, early_exit=early_exit)
    assert_same_run(evsim.simulate(fixed, events, decoder=decoder, early_exit=early_exit, record_hidden=True), want)


def test_truncation_is_toward_zero():
    """trunc(-15 / 4) = -3 (floor would give -4), in the kernel and in the reference alike."""
    values = np.array([-5, 5, -4, 4, -1, 0], dtype=np.int64)
    kernel = values.copy()
    _decay_current(kernel, np.int64(3), np.int64(2))
    want = [-3, 3, -3, 3, 0, 0]
    assert kernel.tolist() == want
    assert _ref_trunc(values * 3, 2).tolist() == want


def _saturation_network():
    """One IF neuron at S = 4 bits (states within +-7): input 0 inhibits with -8, input 1 excites with +8."""
    pop = Population((1,), IntNeuron(theta=7, d_m=0, d_s=4, reset="subtract"))
    proj = Dense(INPUT, 0, np.array([[-8, 8]]), exponent=3)
    return Network((2,), [pop], [proj], fixed_point=(2, 4, 2))


def test_saturation_by_hand():
    """Four inhibitory steps leave U at -7 (saturated, not -32); two excitatory steps of I = 7
    (saturated from 8) bring it to 0 and then 7 = theta: a spike at step 5, as on a chip."""
    net = _saturation_network()
    x = np.zeros((7, 1, 2), dtype=np.float32)
    x[0:4, 0, 0] = 1
    x[4:6, 0, 1] = 1
    for res in (evsim.simulate(net, x, record_hidden=True), evsim.reference_simulate(net, x)):
        assert res.output_spikes[:, 0, 0].tolist() == [False] * 5 + [True, False]
        assert res.sops.tolist() == [[6]]


def test_early_exit_stops_work():
    rng = np.random.default_rng(2)
    net = Network.dense([rng.normal(0.3, 0.3, (12, 20)), rng.normal(0.3, 0.4, (3, 12))], neuron=evsim.LIF(4, 2))
    fixed = evsim.quantize(net)
    inputs = evsim.encode(rng.random((16, 20)), 15, "ratesyn_s")
    full = evsim.simulate(fixed, inputs, decoder="ttfs", record_hidden=True)
    early = evsim.simulate(fixed, inputs, decoder="ttfs", early_exit=True, record_hidden=True)
    assert (full.first_spike_step < 15).mean() > 0.5  # not vacuous
    np.testing.assert_array_equal(early.predictions, full.predictions)
    np.testing.assert_array_equal(early.exit_step, full.first_spike_step)
    np.testing.assert_array_equal(early.steps, np.minimum(early.exit_step + 1, 15))
    after = np.arange(15)[:, None] > early.exit_step[None, :]
    assert not early.sops_per_step[after].any() and early.sops.sum() < full.sops.sum()
    np.testing.assert_array_equal(early.membrane_updates, early.steps[:, None] * np.array([[12, 3]]))


def test_bit_identical_for_any_batch_split():
    rng = np.random.default_rng(3)
    net = Network.dense([rng.normal(0.1, 0.3, (40, 50)), rng.normal(0.2, 0.4, (5, 40))], neuron=evsim.LIF(5, 3))
    fixed = evsim.quantize(net, 6, 16, 8)
    inputs = evsim.encode(rng.random((32, 50)), 12, "poisson", seed=1)
    whole = evsim.simulate(fixed, inputs, record_hidden=True)
    assert (whole.spike_counts.sum(axis=0) > 0).all()  # every layer spikes: not vacuous
    halves = [evsim.simulate(fixed, inputs[:, s], record_hidden=True) for s in (slice(0, 13), slice(13, 32))]
    np.testing.assert_array_equal(np.concatenate([h.output_spikes for h in halves], axis=1), whole.output_spikes)
    np.testing.assert_array_equal(np.concatenate([h.hidden_spikes[0] for h in halves], axis=1), whole.hidden_spikes[0])
    np.testing.assert_array_equal(np.concatenate([h.sops for h in halves]), whole.sops)


# ---------------------------------------------------------------------------------------------
# the quantiser
# ---------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(net=st.one_of(networks(), deep_networks()), W=st.integers(2, 16), D=st.integers(2, 16))
def test_quantizer_properties(net, W, D):
    """Mantissas within W bits with the top bit of each projection's largest one used, exponents
    >= 0, weights = m << e; thresholds and biases scaled by the population's power-of-two unit;
    decays per SPEC; nothing of the float network's structure changes."""
    fixed = _smallest_state_bits(net, W, D)
    assume(fixed is not None)
    _, S, _ = fixed.fixed_point
    assert fixed.fixed_point == (W, S, D)
    for proj, m, pf in zip(fixed.projections, mantissas(fixed), net.projections):
        assert proj.exponent >= 0
        assert np.abs(m).max() <= 2 ** (W - 1) - 1
        if isinstance(pf, AvgPool2d) or np.any(pf.scale if isinstance(pf, Identity) else pf.weight):
            assert np.abs(m).max() >= 2 ** (W - 2), "top mantissa bit unused"
        w = proj.scale if isinstance(proj, Identity) else proj.weight
        np.testing.assert_array_equal(w, np.asarray(m) << proj.exponent)
    for p, (pf, pq) in enumerate(zip(net.populations, fixed.populations)):
        unit = fixed.metadata[f"fixed_point.state_scale.{p}"]
        assert np.log2(unit) == round(np.log2(unit))
        assert abs(pq.neuron.theta - unit * pf.neuron.theta) <= 0.5
        assert pq.neuron.theta <= (2 ** (S - 1) - 1) / 4 + 0.5  # the rule's headroom, up to rounding
        assert pq.neuron.reset == pf.neuron.reset and pq.shape == pf.shape
        if isinstance(pf.neuron, evsim.IF):
            assert (pq.neuron.d_m, pq.neuron.d_s) == (0, 2**D)
        else:
            assert pq.neuron.d_m == int(np.floor(2**D / pf.neuron.tau_m + 0.5))
            assert pq.neuron.d_s == int(np.floor(2**D / pf.neuron.tau_s + 0.5))
        if pf.bias is not None:
            assert np.abs(pq.bias - unit * pf.bias).max() <= 0.5


def test_quantized_weights_are_the_float_weights_in_state_units():
    """Dense, conv, pool (1/k^2) and identity weights x gain x unit, within half a mantissa step."""
    rng = np.random.default_rng(4)
    lif = evsim.LIF(tau_m=4, tau_s=2)
    pops = [Population((3, 6, 6), lif), Population((3, 3, 3), lif), Population((3, 3, 3), evsim.IF()),
            Population((2,), lif)]  # fmt: skip
    projs = [Conv2d(INPUT, 0, rng.normal(0.2, 0.5, (3, 1, 3, 3)), padding=1), AvgPool2d(0, 1, 2),
             Identity(1, 2, 0.5), Dense(2, 3, rng.normal(0.1, 0.3, (2, 27)))]  # fmt: skip
    net = Network((1, 6, 6), pops, projs)
    fixed = evsim.quantize(net, 8, 24, 12)
    for q, (pf, pq) in enumerate(zip(net.projections, fixed.projections)):
        tgt = net.populations[pf.target].neuron
        unit = fixed.metadata[f"fixed_point.state_scale.{pf.target}"]
        if isinstance(pf, AvgPool2d):
            real, got = unit * tgt.input_gain / 4, pq.weight
        elif isinstance(pf, Identity):
            real, got = unit * tgt.input_gain * 0.5, pq.scale
        else:
            real, got = unit * tgt.input_gain * pf.weight, pq.weight
        assert np.abs(np.asarray(got) - real).max() <= 2 ** pq.exponent / 2, q


def _real_images(name: str, n: int) -> np.ndarray:
    from bridges.datasets import load_idx_dataset

    if name == "fashion-mnist":
        root = Path(os.environ.get("EVSIM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
        try:
            x, _ = load_idx_dataset(name, "test", root=root)
        except FileNotFoundError:
            pytest.skip(f"no Fashion-MNIST under {root}")
    else:
        x, _ = load_idx_dataset(name, "test")
    return x[:n].reshape(n, -1) / 255.0


@pytest.mark.parametrize("dataset", ["mnist-sample", "fashion-mnist"])
def test_sixteen_bits_reproduce_the_float_spikes_on_real_images(dataset):
    """A 784-100-10 LIF network (tau 10, the Fashion-MNIST setting) with random weights scaled for
    activity, on 200 real test images, RateSynE T = 20: at W = 16 bits (S = 32, D = 16) nearly
    every spike of every layer is the float64 model's, and predictions agree."""
    x = _real_images(dataset, 200)
    rng = np.random.default_rng(1)
    W1 = rng.normal(0.0, 1.0, (100, 784)) * 1.5 / np.sqrt(784) + 0.01
    W2 = rng.normal(0.0, 1.0, (10, 100)) * 3.0 / np.sqrt(100) + 0.03
    net = Network.dense([W1, W2], neuron=evsim.LIF(tau_m=10, tau_s=10))
    events = evsim.encode_events(x, 20, "ratesyn_e")
    ref = evsim.simulate(net, events, dtype=np.float64, record_hidden=True)
    got = evsim.simulate(evsim.quantize(net, 16, 32, 16), events, record_hidden=True)
    layers = [(ref.hidden_spikes[0], got.hidden_spikes[0]), (ref.output_spikes, got.output_spikes)]
    assert min(r.mean() for r, _ in layers) > 0.05  # active, not vacuous
    entries = np.mean([(r == g).mean() for r, g in layers])
    samples = np.mean([(r == g).all(axis=(0, 2)) for r, g in layers], axis=0)
    assert entries >= 0.999, entries
    assert (samples == 1).mean() >= 0.9, (samples == 1).mean()
    assert (ref.predictions == got.predictions).mean() >= 0.99


def _mnist_conv_net(rng, neuron, gain=1.0):
    """(1, 28, 28) -> conv 3x3 pad 1 (4) -> avg pool 2 -> conv 3x3 stride 2 (8) -> dense 10, with a
    residual-style identity shortcut from the pool into a second population: every projection kind.
    gain scales the weights after the first layer (LIF layers need more drive to stay active)."""
    pops = [Population((4, 28, 28), neuron), Population((4, 14, 14), neuron), Population((4, 14, 14), neuron),
            Population((8, 7, 7), neuron), Population((10,), neuron)]  # fmt: skip
    projs = [Conv2d(INPUT, 0, rng.normal(0.15, 0.4, (4, 1, 3, 3)), padding=1), AvgPool2d(0, 1, 2),
             Conv2d(1, 2, gain * rng.normal(0.1, 0.3, (4, 4, 3, 3)), padding=1), Identity(1, 2, 0.5 * gain),
             Conv2d(2, 3, gain * rng.normal(0.1, 0.3, (8, 4, 3, 3)), stride=2, padding=1),
             Dense(3, 4, gain * rng.normal(0.02, 0.1, (10, 392)))]  # fmt: skip
    return Network((1, 28, 28), pops, projs)


@pytest.mark.parametrize("neuron", [evsim.LIF(10, 10), evsim.IF()], ids=["lif", "if"])
def test_sixteen_bits_reproduce_the_float_spikes_of_a_conv_network(neuron):
    """The conv/pool/identity/dense network on 200 real MNIST images, RateSynE T = 20: at W = 16
    (S = 32, D = 16) at least 99.9% of the spike entries of its five layers are the float64
    model's (measured on 1,000 images: 99.99% for LIF and IF)."""
    net = _mnist_conv_net(np.random.default_rng(1), neuron, 3.0 if isinstance(neuron, evsim.LIF) else 1.0)
    events = evsim.encode_events(_real_images("mnist-sample", 200).reshape(200, 1, 28, 28), 20, "ratesyn_e")
    ref = evsim.simulate(net, events, dtype=np.float64, record_hidden=True)
    got = evsim.simulate(evsim.quantize(net, 16, 32, 16), events, record_hidden=True)
    layers = list(zip(ref.hidden_spikes + (ref.output_spikes,), got.hidden_spikes + (got.output_spikes,)))
    assert min(r.mean() for r, _ in layers) > 0.01
    assert np.mean([(r == g).mean() for r, g in layers]) >= 0.999
    assert (ref.predictions == got.predictions).mean() >= 0.98


@pytest.mark.parametrize("neuron", [evsim.LIF(10, 10), evsim.IF()], ids=["lif", "if"])
@pytest.mark.parametrize("deep", [False, True], ids=["dense", "conv"])
def test_quantized_networks_do_not_saturate_on_real_images(neuron, deep):
    """The quantiser's headroom at the default bits (8, 24, 12): on 100 real MNIST images a run
    gives exactly the spikes of the same integers with 40 state bits, i.e. no state ever reached
    the limit."""
    rng = np.random.default_rng(1)
    if deep:
        net = _mnist_conv_net(rng, neuron, 3.0 if isinstance(neuron, evsim.LIF) else 1.0)
    else:
        W1 = rng.normal(0.0, 1.0, (100, 784)) * 1.5 / np.sqrt(784) + 0.01
        net = Network.dense([W1, rng.normal(0.0, 1.0, (10, 100)) * 0.3 + 0.03], neuron=neuron)
    fixed = evsim.quantize(net)
    W, S, D = fixed.fixed_point
    wide = Network(fixed.input_shape, fixed.populations, fixed.projections, fixed_point=(W, 40, D))
    x = _real_images("mnist-sample", 100).reshape((100,) + net.input_shape)
    events = evsim.encode_events(x, 20, "ratesyn_e")
    got, want = evsim.simulate(fixed, events, record_hidden=True), evsim.simulate(wide, events, record_hidden=True)
    assert (got.spike_counts > 0).mean(axis=0).min() > 0.5  # every layer is active on most images
    assert_same_run(got, want)


# ---------------------------------------------------------------------------------------------
# guards, errors and files
# ---------------------------------------------------------------------------------------------


def _small_net():
    rng = np.random.default_rng(0)
    return Network.dense([rng.normal(0.2, 0.3, (5, 6)), rng.normal(0.2, 0.3, (2, 5))], neuron=evsim.LIF(5, 5))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weight_bits": 1}, "weight_bits must be an integer >= 2"),
        ({"state_bits": 1}, "state_bits must be an integer >= 2"),
        ({"decay_bits": 0}, "decay_bits must be an integer >= 2"),
        ({"weight_bits": 8.0}, "weight_bits must be an integer"),
        ({"weight_bits": 16, "state_bits": 12}, "too small for the weights"),
        ({"weight_bits": 16, "state_bits": 17}, r"too small for weight_bits=16 .* needs state_bits >= \d+"),
        ({"state_bits": 41}, "state_bits must be <= 40"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        evsim.quantize(_small_net(), **kwargs)


def test_bad_networks():
    with pytest.raises(ValueError, match="needs an evsim.Network"):
        evsim.quantize([np.ones((2, 2))])
    fixed = evsim.quantize(_small_net())
    with pytest.raises(ValueError, match="already quantised"):
        evsim.quantize(fixed)
    pop = Population((1,), IntNeuron(3, 0, 4))
    with pytest.raises(ValueError, match="no fixed_point"):
        Network((1,), [pop], [Dense(INPUT, 0, [[1]], exponent=0)])
    with pytest.raises(ValueError, match="mantissa"):
        Network((1,), [pop], [Dense(INPUT, 0, [[6]], exponent=1)], fixed_point=(2, 8, 2))  # m = 3 > 1
    with pytest.raises(ValueError, match="mantissa"):
        Network((1,), [pop], [Dense(INPUT, 0, [[3]], exponent=1)], fixed_point=(4, 8, 2))  # not a multiple of 2
    with pytest.raises(ValueError, match="needs an evsim.IntNeuron"):
        Network((1,), [Population((1,), evsim.IF())], [Dense(INPUT, 0, [[1]], exponent=0)], fixed_point=(4, 8, 2))
    with pytest.raises(ValueError, match="must hold integers"):
        Dense(INPUT, 0, [[1.5]], exponent=0)


def test_float_and_integer_modes_never_mix():
    """A fixed-point network never gets float tables, a float network never integer ones or the
    integer run or oracle, and current inputs are refused rather than silently quantised; the
    public entry points dispatch on `fixed_point`."""
    net = _small_net()
    fixed = evsim.quantize(net)
    spikes = evsim.encode(np.random.default_rng(0).random((3, 6)), 5, "ratesyn_s")
    for dtype in (np.float32, np.float64):
        with pytest.raises(ValueError, match="float engine cannot run a fixed-point network"):
            build_plan(fixed, dtype)
    with pytest.raises(ValueError, match="fixed-point networks only"):
        build_plan(net, np.int64)
    with pytest.raises(ValueError, match="fixed-point networks only"):
        fixed_run.run(net, evsim.InputEvents.from_dense(spikes, net.input_shape), "rate", False, False)
    with pytest.raises(ValueError, match="fixed-point networks only"):
        integer_reference(net, spikes)
    current = evsim.encode(np.random.default_rng(0).random((3, 6)), 5, "current")
    for run in (evsim.simulate, evsim.reference_simulate):
        with pytest.raises(ValueError, match="spike inputs only"):
            run(fixed, current)
    # dtype is ignored: the state is int64 whatever is asked, in the engine and the reference
    base = evsim.simulate(fixed, spikes, record_hidden=True)
    assert base.spike_counts.any()  # not vacuous
    assert_same_run(evsim.simulate(fixed, spikes, dtype=np.float64, record_hidden=True), base)
    assert_same_run(evsim.reference_simulate(fixed, spikes, dtype=np.float32), base)
    assert_same_run(integer_reference(fixed, spikes), base)


def test_save_load_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(5)
    lif = evsim.LIF(tau_m=3, tau_s=2)
    pops = [Population((2, 4, 4), lif, bias=rng.normal(0, 0.1, 32)), Population((2, 2, 2), evsim.IF()),
            Population((2, 2, 2), lif), Population((3,), lif)]  # fmt: skip
    projs = [Conv2d(INPUT, 0, rng.normal(0.2, 0.5, (2, 1, 3, 3)), padding=1), AvgPool2d(0, 1, 2),
             Identity(1, 2, 0.5), Dense(2, 3, rng.normal(0.2, 0.4, (3, 8)))]  # fmt: skip
    fixed = evsim.quantize(Network((1, 4, 4), pops, projs, {"model": "test"}), 6, 20, 10)
    back = evsim.load_network(evsim.save_network(fixed, tmp_path / "q.h5"))
    assert back.fixed_point == fixed.fixed_point and back.metadata == fixed.metadata
    for a, b in zip(fixed.populations, back.populations):
        assert a.neuron == b.neuron and a.shape == b.shape
        assert (a.bias is None and b.bias is None) or (b.bias.dtype == np.int64 and (a.bias == b.bias).all())
    for a, b in zip(fixed.projections, back.projections):
        assert type(a) is type(b) and a.exponent == b.exponent
        for name in ("weight", "scale"):
            if hasattr(a, name):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
                assert np.asarray(getattr(b, name)).dtype.kind == "i"
    x = rng.random((3, 1, 4, 4))
    events = evsim.encode_events(x, 6, "ratesyn_e")
    assert_same_run(evsim.simulate(back, events, record_hidden=True), evsim.simulate(fixed, events, record_hidden=True))
    float_back = evsim.load_network(evsim.save_network(Network((1, 4, 4), pops, projs), tmp_path / "f.h5"))
    assert float_back.fixed_point is None and all(p.exponent is None for p in float_back.projections)
