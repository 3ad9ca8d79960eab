"""Deep networks: convolution, pooling and residual projections in the engine, against the
independent reference, hand-computed SOPs at borders, torch's ones-convolution rule, geometry errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_same_run, deep_networks, image_batches, methods
from hypothesis import given, settings
from hypothesis import strategies as st

import evsim
from evsim.network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population


run_modes = st.sampled_from([("rate", False), ("ttfs", False), ("ttfs", True)])


@settings(max_examples=150, deadline=None)
@given(data=st.data(), method=methods(), mode=run_modes)
def test_deep_engine_equals_reference_float64(data, method, mode):
    """Random conv/pool/residual networks, every encoder (fused too), both decoders, with and
    without early exit: spikes of every layer, predictions, exit steps, SOPs, MACs, event and
    update counts are identical in float64."""
    K = 1 if isinstance(method, str) else len(method)
    c0 = data.draw(st.integers(1, 3))
    net = data.draw(deep_networks(in_channels=K * c0))
    x, T, seed = data.draw(image_batches((c0,) + net.input_shape[1:]))
    decoder, early_exit = mode
    kind = "auto" if isinstance(method, str) else method
    dense = evsim.encode(x, T, method, seed=seed)
    want = evsim.reference_simulate(net, dense, decoder=decoder, early_exit=early_exit, input_kind=kind)
    got = evsim.simulate(net, dense, decoder=decoder, early_exit=early_exit, dtype=np.float64,
                         input_kind=kind, record_hidden=True)  # fmt: skip
    assert_same_run(got, want)
    events = evsim.encode_events(x, T, method, seed=seed)
    from_events = evsim.simulate(net, events, decoder=decoder, early_exit=early_exit, dtype=np.float64,
                                 record_hidden=True)  # fmt: skip
    assert_same_run(from_events, want)


def test_deep_runs_are_not_vacuous():
    """The random deep networks do spike: a fixed draw has activity in every population."""
    rng = np.random.default_rng(0)
    net = _resnet_block(rng)
    x = rng.random((4, 2, 6, 6))
    res = evsim.simulate(net, evsim.encode(x, 8, "ratesyn_e"), record_hidden=True, dtype=np.float64)
    assert (res.spike_counts.sum(axis=0) > 0).all()
    assert_same_run(res, evsim.reference_simulate(net, evsim.encode(x, 8, "ratesyn_e")))


def _resnet_block(rng):
    """(2, 6, 6) -> conv 3x3 -> block (conv 3x3 stride 2, conv 3x3, 1x1 stride-2 shortcut) -> pool -> dense."""
    lif = evsim.LIF(tau_m=2, tau_s=2)
    pops = [
        Population((4, 6, 6), lif),
        Population((8, 3, 3), lif),
        Population((8, 3, 3), lif, bias=rng.normal(0, 0.1, 72)),
        Population((8, 1, 1), lif),
        Population((3,), lif),
    ]
    projs = [
        Conv2d(INPUT, 0, rng.normal(0.4, 0.3, (4, 2, 3, 3)), padding=1),
        Conv2d(0, 1, rng.normal(0.3, 0.3, (8, 4, 3, 3)), stride=2, padding=1),
        Conv2d(1, 2, rng.normal(0.2, 0.3, (8, 8, 3, 3)), padding=1),
        Conv2d(0, 2, rng.normal(0.5, 0.3, (8, 4, 1, 1)), stride=2),
        AvgPool2d(2, 3, 3),
        Dense(3, 4, rng.normal(1.0, 0.5, (3, 8))),
    ]
    return Network((2, 6, 6), pops, projs)


def _one_spike_conv(kernel, stride, padding, at, size=(4, 4), c_out=3):
    """SOPs of one input spike at `at` = (y, x) through a conv of the given geometry."""
    weight = np.ones((c_out, 1) + kernel)
    h_out = (size[0] + 2 * padding - kernel[0]) // stride + 1
    w_out = (size[1] + 2 * padding - kernel[1]) // stride + 1
    net = Network((1,) + size, [Population((c_out, h_out, w_out), evsim.IF(theta=100))],
                  [Conv2d(INPUT, 0, weight, stride=stride, padding=padding)])  # fmt: skip
    spikes = np.zeros((1, 1, 1) + size, dtype=np.float32)
    spikes[0, 0, 0][at] = 1
    return int(evsim.simulate(net, spikes).sops[0, 0]), int(evsim.reference_simulate(net, spikes).sops[0, 0])


@pytest.mark.parametrize(
    "kernel, stride, padding, at, reached",
    [
        ((3, 3), 1, 1, (0, 0), 4),  # corner: 2 rows x 2 columns
        ((3, 3), 1, 1, (0, 2), 6),  # edge: 2 x 3
        ((3, 3), 1, 1, (2, 1), 9),  # interior: 3 x 3
        ((3, 3), 1, 1, (3, 3), 4),  # far corner
        ((3, 3), 1, 0, (0, 0), 1),  # no padding: a corner is in one window only
        ((3, 3), 1, 0, (1, 1), 4),  # 2 x 2 output, (1, 1) is in all four windows
        ((3, 3), 2, 1, (0, 0), 1),  # stride 2, padding 1: outputs at rows -1..1 and 1..3: (0,0) in row 0 only
        ((3, 3), 2, 1, (1, 1), 4),  # (1, 1) lies in windows 0 and 1 on each axis
        ((3, 3), 2, 1, (2, 2), 1),  # (2, 2) lies only in window 1 on each axis
        ((1, 1), 2, 0, (1, 1), 0),  # a 1x1 stride-2 conv never reads odd positions
        ((1, 1), 2, 0, (2, 2), 1),
        ((2, 3), 1, 0, (0, 1), 2),  # rectangular kernel: 1 row x 2 columns
    ],
)
def test_conv_sops_hand_computed_at_borders(kernel, stride, padding, at, reached):
    """A spike's SOPs = C_out x (rows reached) x (columns reached); C_out = 3 here."""
    engine, reference = _one_spike_conv(kernel, stride, padding, at)
    assert engine == reference == 3 * reached


def test_pool_and_identity_sops_hand_computed():
    """AvgPool 2x2 stride 1 on 3x3: a corner is in 1 window, an edge in 2, the centre in 4;
    identity: one SOP per spike. Pooled values are 1/k^2 per spike."""
    pops = [Population((1, 2, 2), evsim.IF(theta=0.5)), Population((9,), evsim.IF(theta=100))]
    projs = [AvgPool2d(INPUT, 0, 2, stride=1), Identity(INPUT, 1, scale=2.0)]
    net = Network((1, 3, 3), pops, projs)
    spikes = np.zeros((1, 1, 1, 3, 3), dtype=np.float32)
    spikes[0, 0, 0, 0, 0] = spikes[0, 0, 0, 0, 1] = spikes[0, 0, 0, 1, 1] = 1  # corner, edge, centre
    res = evsim.simulate(net, spikes, record_hidden=True)
    np.testing.assert_array_equal(res.sops, [[1 + 2 + 4, 3]])
    # window (0,0) holds all three spikes (3/4 >= 0.5), (0,1) two (1/2 >= 0.5), (1,0) and (1,1) one
    np.testing.assert_array_equal(res.hidden_spikes[0][0, 0], [True, True, False, False])
    assert_same_run(res, evsim.reference_simulate(net, spikes))


def test_sops_equal_torch_ones_convolution():
    """Summed over a step, a conv's SOPs equal sum(conv2d(spikes, ones)) computed by torch, the rule
    SpikingJelly's and Sinabs' op counters use."""
    rng = np.random.default_rng(1)
    for kernel, stride, padding in [(3, 1, 1), (3, 2, 1), (5, 2, 2), (1, 2, 0), (4, 3, 0)]:
        c_in, c_out, size = 3, 5, (9, 11)
        h_out = (size[0] + 2 * padding - kernel) // stride + 1
        w_out = (size[1] + 2 * padding - kernel) // stride + 1
        net = Network((c_in,) + size, [Population((c_out, h_out, w_out), evsim.IF(theta=1e9))],
                      [Conv2d(INPUT, 0, rng.normal(size=(c_out, c_in, kernel, kernel)), stride, padding)])  # fmt: skip
        spikes = (rng.random((6, 4, c_in) + size) < 0.3).astype(np.float32)
        res = evsim.simulate(net, spikes)
        ones = torch.ones(c_out, c_in, kernel, kernel, dtype=torch.float64)
        want = torch.nn.functional.conv2d(torch.from_numpy(spikes.reshape(24, c_in, *size)).double(), ones,
                                          stride=stride, padding=padding)  # fmt: skip
        want = want.reshape(6, 4, -1).sum(dim=2).round().long().numpy()
        np.testing.assert_array_equal(res.sops_per_step[:, :, 0], want)


def test_conv_matches_torch_conv2d_currents():
    """An IF layer with theta above any current records nothing, so compare membranes instead
    through a one-step run: spikes fire exactly where torch's conv2d(x) + b >= theta."""
    rng = np.random.default_rng(2)
    weight = rng.normal(size=(6, 2, 3, 3))
    bias = rng.normal(0, 0.5, 6 * 4 * 5)
    x = rng.random((5, 2, 7, 9))
    net = Network((2, 7, 9), [Population((6, 4, 5), evsim.IF(theta=0.3), bias=bias)],
                  [Conv2d(INPUT, 0, weight, stride=(2, 2), padding=(1, 1))])  # fmt: skip
    res = evsim.simulate(net, x[None], dtype=np.float64, input_kind="current")
    u = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight), stride=2, padding=1)
    u = u.numpy().reshape(5, -1) + bias
    np.testing.assert_array_equal(res.output_spikes[0], u >= 0.3)
    # MACs: every non-zero pixel times the synapses it reaches (all pixels are non-zero here)
    assert res.macs[0, 0] == int(net.fan_out(0).sum())


def test_float_fed_macs_exclude_zero_inputs_and_padding():
    """A float input costs MACs only for non-zero values, times the synapses each reaches."""
    net = Network((1, 4, 4), [Population((2, 4, 4), evsim.IF(theta=100))],
                  [Conv2d(INPUT, 0, np.ones((2, 1, 3, 3)), padding=1)])  # fmt: skip
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 0], x[0, 0, 1, 2] = 0.5, 0.25  # a corner (4 positions) and an interior pixel (9)
    res = evsim.simulate(net, evsim.encode(x, 3, "current"), input_kind="current")
    np.testing.assert_array_equal(res.macs, [[3 * 2 * (4 + 9)]])
    np.testing.assert_array_equal(res.values_in, [[3 * 2]])
    assert res.sops.sum() == 0


def test_fused_input_splits_macs_and_sops():
    """The fused encoding's current channels cost MACs, its spike channels SOPs, in one projection."""
    rng = np.random.default_rng(4)
    x = rng.random((3, 1, 5, 5))
    methods_ = ["current", "ratesyn_e", "ttfs"]
    net = Network((3, 5, 5), [Population((2, 5, 5), evsim.LIF(2, 2)), Population((2,), evsim.LIF(2, 2))],
                  [Conv2d(INPUT, 0, rng.normal(0.3, 0.3, (2, 3, 3, 3)), padding=1),
                   Dense(0, 1, rng.normal(0.3, 0.3, (2, 50)))])  # fmt: skip
    res = evsim.simulate(net, evsim.encode_events(x, 6, methods_), dtype=np.float64, record_hidden=True)
    fan = net.fan_out(0).reshape(3, 25)
    n = evsim.ratesyn_count(x, 6).reshape(3, 25)
    nonzero = (x.reshape(3, 25) > 0)
    np.testing.assert_array_equal(res.macs[:, 0], 6 * (nonzero * fan[0]).sum(axis=1))
    np.testing.assert_array_equal(res.sops[:, 0], (n * fan[1]).sum(axis=1) + ((n > 0) * fan[2]).sum(axis=1))
    assert_same_run(res, evsim.reference_simulate(net, evsim.encode(x, 6, methods_), input_kind=methods_))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_early_exit_halts_the_work(data):
    """With early exit the kernel itself stops: it reports exit_step + 1 steps and only that many
    membrane updates per population, and no SOPs after the decision."""
    net = data.draw(deep_networks())
    x, T, seed = data.draw(image_batches(net.input_shape))
    inputs = evsim.encode_events(x, T, "ttfs")
    early = evsim.simulate(net, inputs, decoder="ttfs", early_exit=True, dtype=np.float64)
    full = evsim.simulate(net, inputs, decoder="ttfs", dtype=np.float64)
    steps = np.minimum(early.exit_step + 1, T)
    np.testing.assert_array_equal(early.steps, steps)
    assert (full.steps == T).all()
    sizes = np.array([p.size for p in net.populations])
    np.testing.assert_array_equal(early.membrane_updates, steps[:, None] * sizes[None, :])
    np.testing.assert_array_equal(early.predictions, full.predictions)
    after = np.arange(T)[:, None] >= steps[None, :]
    assert not early.sops_per_step[after].any()


def test_hidden_spikes_use_public_chw_order():
    """Recorded spikes are (C, H, W)-flat whatever the engine's layout: a 1x1 conv that copies
    channel 1 of the input makes spikes exactly where the input's channel 1 spikes."""
    weight = np.zeros((2, 3, 1, 1))
    weight[0, 1, 0, 0] = 1.0  # out channel 0 copies input channel 1
    weight[1, 2, 0, 0] = 1.0  # out channel 1 copies input channel 2
    net = Network((3, 4, 5), [Population((2, 4, 5), evsim.IF()), Population((1,), evsim.IF(theta=1e9))],
                  [Conv2d(INPUT, 0, weight), Dense(0, 1, np.zeros((1, 40)))])  # fmt: skip
    spikes = np.random.default_rng(3).random((4, 2, 3, 4, 5)) < 0.5
    res = evsim.simulate(net, spikes, record_hidden=True)
    np.testing.assert_array_equal(res.hidden_spikes[0].reshape(4, 2, 2, 4, 5), spikes[:, :, 1:3])


def test_deep_results_do_not_depend_on_batch_split():
    """(Thread counts: test_threads.py.)"""
    rng = np.random.default_rng(5)
    net = _resnet_block(rng)
    x = rng.random((12, 2, 6, 6))
    whole = evsim.simulate(net, evsim.encode_events(x, 8, "ratesyn_e"))
    assert (whole.sops.sum(axis=0) > 0).all()  # every projection carries spikes: not vacuous
    halves = [evsim.simulate(net, evsim.encode_events(x[s], 8, "ratesyn_e")) for s in (slice(0, 5), slice(5, 12))]
    for name in ("predictions", "sops", "spike_counts", "first_spike_step"):
        np.testing.assert_array_equal(np.concatenate([getattr(h, name) for h in halves]), getattr(whole, name), name)


def test_identity_between_different_shapes_maps_flat_indices():
    """Identity maps flat (C, H, W) index i to flat index i, also from (4,) to (1, 2, 2)."""
    pops = [Population((1, 2, 2), evsim.IF()), Population((4,), evsim.IF())]
    projs = [Identity(INPUT, 0), Identity(0, 1)]
    net = Network((4,), pops, projs)
    spikes = np.eye(4, dtype=np.float32)[:, None, :]  # input i spikes at step i
    res = evsim.simulate(net, spikes, record_hidden=True)
    np.testing.assert_array_equal(res.hidden_spikes[0][:, 0], np.eye(4, dtype=bool))
    np.testing.assert_array_equal(res.output_spikes[:, 0], np.eye(4, dtype=bool))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Conv2d(INPUT, 0, np.ones((2, 3, 3))), "4 dimension"),
        (lambda: Conv2d(INPUT, 0, np.ones((2, 1, 3, 3)), stride=0), "stride must be >= 1"),
        (lambda: Conv2d(INPUT, 0, np.ones((2, 1, 3, 3)), padding=-1), "padding must be >= 0"),
        (lambda: Conv2d(INPUT, 0, np.ones((2, 1, 3, 3)), stride=(1, 2, 3)), "pair of ints"),
        (lambda: Conv2d(INPUT, 0, np.ones((2, 1, 3, 3)), stride=1.5), "pair of ints"),
        (lambda: AvgPool2d(INPUT, 0, 0), "kernel_size must be >= 1"),
        (lambda: Identity(INPUT, 0, float("nan")), "finite"),
        (
            lambda: Network((2, 5, 5), [Population((4, 5, 5), evsim.IF())], [Conv2d(INPUT, 0, np.ones((4, 3, 3, 3)))]),
            r"projection 0 \(conv2d.*source of shape \(2, 5, 5\).*3 input channels",
        ),
        (
            lambda: Network((1, 5, 5), [Population((4, 5, 5), evsim.IF())], [Conv2d(INPUT, 0, np.ones((4, 1, 3, 3)))]),
            r"maps the source shape \(1, 5, 5\) to \(4, 3, 3\), but its target population has shape \(4, 5, 5\)",
        ),
        (
            lambda: Network((1, 2, 2), [Population((1, 1, 1), evsim.IF())], [Conv2d(INPUT, 0, np.ones((1, 1, 3, 3)))]),
            "larger than the padded source",
        ),
        (
            lambda: Network((25,), [Population((1, 3, 3), evsim.IF())], [Conv2d(INPUT, 0, np.ones((1, 1, 3, 3)))]),
            r"needs a \(C, H, W\) source",
        ),
        (
            lambda: Network((1, 4, 4), [Population((1, 3, 3), evsim.IF())], [AvgPool2d(INPUT, 0, 2)]),
            r"to \(1, 2, 2\)",
        ),
        (
            lambda: Network((1, 4, 4), [Population((1, 1, 1), evsim.IF())], [AvgPool2d(INPUT, 0, 5)]),
            "larger than the source",
        ),
        (lambda: Network((3,), [Population((4,), evsim.IF())], [Identity(INPUT, 0)]), "identity"),
        (lambda: Network((6,), [Population((2,), evsim.IF())], [Dense(INPUT, 0, np.ones((2, 5)))]), "takes 5 inputs"),
    ],
)
def test_bad_geometry_raises_clear_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_fused_input_kind_errors():
    net = Network((3, 2, 2), [Population((2,), evsim.IF())], [Dense(INPUT, 0, np.ones((2, 12)))])
    x = np.random.default_rng(0).random((2, 1, 2, 2))
    enc = evsim.encode(x, 4, ["current", "ratesyn_e", "ttfs"])
    with pytest.raises(ValueError, match="2 blocks but the input has 3 channels"):
        evsim.simulate(net, enc, input_kind=["current", "ttfs"])
    with pytest.raises(ValueError, match="spike channels needs inputs of only 0 and 1"):
        evsim.simulate(net, enc, input_kind=["ttfs", "current", "ttfs"])
    with pytest.raises(ValueError, match="InputEvents carry their own"):
        evsim.simulate(net, evsim.encode_events(x, 4, ["current", "ratesyn_e", "ttfs"]), input_kind="spikes")
    # auto treats the whole fused input as current: every value costs MACs, none SOPs
    res = evsim.simulate(net, enc)
    assert res.sops.sum() == 0 and res.macs.sum() > 0
