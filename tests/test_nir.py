"""evsim.nir: round trips through NIR files, the mapping checked against NIR's own equations, errors
that name the node, atomic saving and the command line. The frameworks (snnTorch, SpikingJelly, Norse)
are in test_nir_interop.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

nir = pytest.importorskip("nir")

import conftest  # noqa: E402
from conftest import networks  # noqa: E402
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import evsim  # noqa: E402
from evsim.network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population  # noqa: E402
from evsim.nir import from_nir, load, main, save, to_nir  # noqa: E402

DTS = [1e-3, 1e-4, 0.5e-3, 1.0]


# ------------------------------------------------------------------------------------------ helpers


def assert_same_network(a: Network, b: Network) -> None:
    """Bit-identical description: shapes, neurons, biases, projections (kind, ends, every field), metadata."""
    assert a.input_shape == b.input_shape
    assert len(a.populations) == len(b.populations)
    for p, (x, y) in enumerate(zip(a.populations, b.populations)):
        assert x.shape == y.shape, p
        assert x.neuron == y.neuron, (p, x.neuron, y.neuron)
        assert (x.bias is None) == (y.bias is None), p
        if x.bias is not None:
            assert np.array_equal(x.bias, y.bias), p
    assert len(a.projections) == len(b.projections)
    for q, (x, y) in enumerate(zip(a.projections, b.projections)):
        assert type(x) is type(y) and (x.source, x.target) == (y.source, y.target), q
        for name in x.__dataclass_fields__:
            assert np.array_equal(getattr(x, name), getattr(y, name)), (q, name)
    assert a.metadata == b.metadata


def engine_runs(net: Network) -> bool:
    """Whether evsim.simulate runs every projection kind of `net` (conv kinds arrive with the new engine)."""
    try:
        evsim.simulate(net, np.zeros((1, 1) + net.input_shape, dtype=np.float32))
    except ValueError as err:
        if "cannot run projection kind" in str(err):
            return False
        raise
    return True


def assert_same_run(a: Network, b: Network, inputs: np.ndarray) -> None:
    ra = evsim.simulate(a, inputs, dtype=np.float64, record_hidden=True)
    rb = evsim.simulate(b, inputs, dtype=np.float64, record_hidden=True)
    assert np.array_equal(ra.output_spikes, rb.output_spikes)
    for ha, hb in zip(ra.hidden_spikes, rb.hidden_spikes):
        assert np.array_equal(ha, hb)
    assert np.array_equal(ra.sops, rb.sops)
    assert np.array_equal(ra.macs, rb.macs)
    assert np.array_equal(ra.predictions, rb.predictions)


def round_trip(net: Network, dt: float, tmp_path, lossy_reset: bool = False) -> Network:
    path = save(tmp_path / "net.nir", net, dt, lossy_reset=lossy_reset)
    return load(path, dt)


def nir_reference(graph, inputs: np.ndarray, dt: float, strict: bool = True) -> dict[str, np.ndarray]:
    """NIR's equations stepped by forward Euler at dt, node by node: an independent reading of the graph.

    inputs (T, B, *input shape). Returns each neuron node's spikes (T, B, *shape). strict: NIR's
    `v > v_threshold` (False: evsim's `>=`).
    """
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    names = list(graph.nodes)
    pred = {n: [a for a, b in graph.edges if b == n] for n in names}
    order, done = [], set()
    while len(order) < len(names):
        for n in names:
            if n not in done and all(p in done for p in pred[n]):
                order.append(n)
                done.add(n)
    T, B = inputs.shape[:2]
    state: dict[str, dict] = {n: {} for n in names}
    spikes = {n: [] for n in names if isinstance(graph.nodes[n], (nir.CubaLIF, nir.LIF, nir.IF))}
    for k in range(T):
        out = {}
        for n in order:
            node = graph.nodes[n]
            if isinstance(node, nir.Input):
                out[n] = torch.tensor(inputs[k], dtype=torch.float64)
                continue
            x = sum(out[p] for p in pred[n])
            arr = lambda v: torch.tensor(np.asarray(v), dtype=torch.float64)  # noqa: E731
            if isinstance(node, nir.Output):
                out[n] = x
            elif isinstance(node, nir.Flatten):
                out[n] = x.reshape(B, -1)
            elif isinstance(node, nir.Linear):
                out[n] = x @ arr(node.weight).T
            elif isinstance(node, nir.Affine):
                out[n] = x @ arr(node.weight).T + arr(node.bias)
            elif isinstance(node, nir.Scale):
                out[n] = x * arr(node.scale)
            elif isinstance(node, nir.Conv2d):
                out[n] = F.conv2d(x, arr(node.weight), arr(node.bias), tuple(node.stride), tuple(node.padding))
            elif isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
                kernel, stride = tuple(int(v) for v in node.kernel_size), tuple(int(v) for v in node.stride)
                pooled = F.avg_pool2d(x, kernel, stride)
                out[n] = pooled * math.prod(kernel) if isinstance(node, nir.SumPool2d) else pooled
            else:
                s = state[n]
                v = s.get("v", torch.zeros_like(x))
                if isinstance(node, nir.CubaLIF):
                    i = s.get("i", torch.zeros_like(x))
                    i = i + dt / arr(node.tau_syn) * (-i + arr(node.w_in) * x)
                    s["i"] = i
                    v = v + dt / arr(node.tau_mem) * (arr(node.v_leak) - v + arr(node.r) * i)
                elif isinstance(node, nir.LIF):
                    v = v + dt / arr(node.tau) * (arr(node.v_leak) - v + arr(node.r) * x)
                else:  # IF
                    v = v + dt * arr(node.r) * x
                thr = arr(node.v_threshold)
                z = (v > thr) if strict else (v >= thr)
                s["v"] = torch.where(z, arr(node.v_reset) + torch.zeros_like(v), v)
                out[n] = z.double()
                spikes[n].append(z.numpy().copy())
    return {n: np.array(v) for n, v in spikes.items()}


def spike_batch(rng, T: int, B: int, shape, p: float = 0.3) -> np.ndarray:
    return (rng.random((T, B) + tuple(shape)) < p).astype(np.float32)


def residual_network(neuron_a, neuron_b, metadata=None) -> Network:
    """conv (stride 1, padding 1, IF with a per-channel bias) -> avgpool -> residual block
    (conv-conv with an identity shortcut of scale 0.5 and a unit one) -> strided conv -> dense readout."""
    rng = np.random.default_rng(3)
    w = lambda *shape: rng.normal(0.15, 0.5, shape) / math.sqrt(math.prod(shape[1:]))  # noqa: E731
    pops = [
        Population((4, 8, 8), evsim.IF(theta=1.0, reset="zero"), bias=np.repeat(rng.normal(0, 0.1, 4), 64)),
        Population((4, 4, 4), neuron_a),
        Population((4, 4, 4), neuron_a, bias=rng.normal(0, 0.05, 64)),
        Population((4, 4, 4), neuron_b),
        Population((3, 2, 1), neuron_a),
        Population((5,), neuron_b, bias=rng.normal(0, 0.05, 5)),
    ]
    projs = [
        Conv2d(INPUT, 0, w(4, 2, 3, 3) * 3, stride=1, padding=1),
        AvgPool2d(0, 1, 2),
        Conv2d(1, 2, w(4, 4, 3, 3) * 3, padding=1),
        Conv2d(2, 3, w(4, 4, 3, 3) * 3, padding=1),
        Identity(1, 3, 0.5),
        Identity(1, 3),
        Conv2d(3, 4, w(3, 4, 3, 3) * 3, stride=2, padding=(1, 0)),
        Dense(4, 5, w(5, 6) * 3),
        Dense(2, 5, w(5, 64)),
    ]
    return Network((2, 8, 8), pops, projs, metadata or {})


# ------------------------------------------------------------------------------------- round trips


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(net=networks(), dt=st.sampled_from(DTS), seed=st.integers(0, 2**16))
def test_dense_round_trip_through_a_file_is_exact(net, dt, seed, tmp_path):
    """Any dense network (IF/LIF, both resets, biases, skip projections) comes back bit for bit,
    and runs with identical spikes, SOPs and predictions."""
    back = round_trip(net, dt, tmp_path, lossy_reset=True)
    assert_same_network(net, back)
    inputs = spike_batch(np.random.default_rng(seed), 12, 3, net.input_shape)
    assert_same_run(net, back, inputs)
    current = np.random.default_rng(seed).random((6, 2) + net.input_shape).astype(np.float32)
    assert_same_run(net, back, current)


@pytest.mark.parametrize("dt", DTS)
def test_deep_round_trip_every_projection_kind(dt, tmp_path):
    """Conv2d (stride, padding), AvgPool2d, unit and scaled Identity shortcuts added beside a conv,
    a Dense reading a (C, H, W) population, biases per neuron (LIF) and per channel (IF), metadata."""
    meta = {"dataset": "none", "T": 7, "ratio": 0.25, "trained": False}
    net = residual_network(evsim.LIF(tau_m=7.3, tau_s=2.9, theta=0.8), evsim.LIF(tau_m=13, tau_s=1, theta=1.1), meta)
    back = round_trip(net, dt, tmp_path)
    assert_same_network(net, back)
    assert isinstance(back.metadata["T"], int) and isinstance(back.metadata["trained"], bool)
    if not engine_runs(net):
        pytest.skip("evsim.simulate does not run conv/pool/identity projections yet (structure checked above)")
    assert_same_run(net, back, spike_batch(np.random.default_rng(1), 10, 3, net.input_shape, 0.4))


if hasattr(conftest, "deep_networks"):

    def _exportable(net: Network) -> bool:
        """NIR carries an IF's bias only on an Affine or a per-channel Conv2d bias (module docstring)."""
        try:
            to_nir(net, 1e-3, lossy_reset=True)
        except ValueError as err:
            assert "IF with a bias" in str(err) or "restores a (C, H, W)" in str(err)
            return False
        return True

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(net=conftest.deep_networks(), dt=st.sampled_from(DTS), seed=st.integers(0, 2**16))
    def test_random_deep_networks_round_trip(net, dt, seed, tmp_path):
        assume(_exportable(net))
        back = round_trip(net, dt, tmp_path, lossy_reset=True)
        assert_same_network(net, back)
        if engine_runs(net):
            assert_same_run(net, back, spike_batch(np.random.default_rng(seed), 8, 2, net.input_shape))


# --------------------------------------------------------------------------- the mapping, as NIR reads it


@pytest.mark.parametrize("dt", [1e-3, 1e-4])
def test_exported_graph_follows_nir_equations(dt):
    """The graph evsim writes, stepped by NIR's own equations (forward Euler, `>=` threshold), spikes
    as evsim does: the parameters mean what SPEC says."""
    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(0.3, 1.0, (20, 12)), rng.normal(0.3, 1.0, (6, 20)) / 2
    net = Network.dense([W1, W2], [rng.normal(0, 0.1, 20), None], neuron=evsim.LIF(tau_m=5, tau_s=3))
    inputs = spike_batch(rng, 15, 4, net.input_shape)
    ref = nir_reference(to_nir(net, dt), inputs, dt, strict=False)
    res = evsim.simulate(net, inputs, dtype=np.float64, record_hidden=True)
    assert np.array_equal(ref["population_0"], res.hidden_spikes[0])
    assert np.array_equal(ref["population_1"], res.output_spikes)
    assert res.output_spikes.any()


def foreign_graph(dt: float):
    """A graph as other tools write them: per-neuron float32 arrays, snnTorch-style r and w_in, a NIR
    LIF with v_leak and r != tau/dt, an IF, SumPool2d, Scale, Flatten, an Affine into an IF."""
    rng = np.random.default_rng(5)
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    full = lambda shape, v: f32(np.full(shape, v))  # noqa: E731
    shape0, shape1 = (3, 6, 6), (3, 3, 3)
    alpha, beta = 0.8, 0.9
    nodes = {
        "in": nir.Input(input_type=np.array([2, 6, 6])),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=f32(rng.normal(0.3, 0.6, (3, 2, 3, 3))), stride=1, padding=1,
                           dilation=1, groups=1, bias=np.zeros(3, dtype=np.float32)),
        "syn": nir.CubaLIF(tau_syn=full(shape0, dt / (1 - alpha)), tau_mem=full(shape0, dt / (1 - beta)),
                           r=full(shape0, 1 / (1 - beta)), v_leak=full(shape0, 0.0), v_threshold=full(shape0, 1.0),
                           w_in=full(shape0, 1 / (1 - alpha))),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "lif": nir.LIF(tau=full(shape1, 4 * dt), r=full(shape1, 2.5), v_leak=f32(rng.normal(0.2, 0.1, shape1)),
                       v_threshold=full(shape1, 1.5)),
        "flat": nir.Flatten(input_type=np.array(shape1), start_dim=0, end_dim=-1),
        "scale": nir.Scale(scale=f32(rng.uniform(0.5, 2.0, 27))),
        "fc": nir.Affine(weight=f32(rng.normal(0.2, 0.5, (4, 27))), bias=f32(rng.normal(0.1, 0.1, 4))),
        "if": nir.IF(r=full(4, 0.5 / dt), v_threshold=full(4, 1.0)),
        "out": nir.Output(output_type=np.array([4])),
    }
    edges = [("in", "conv"), ("conv", "syn"), ("syn", "pool"), ("pool", "lif"), ("lif", "flat"),
             ("flat", "scale"), ("scale", "fc"), ("fc", "if"), ("if", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={}, type_check=True)


def test_foreign_graph_reads_as_nir_equations_say():
    dt = 1e-4
    graph = foreign_graph(dt)
    net = from_nir(graph, dt)
    assert [p.shape for p in net.populations] == [(3, 6, 6), (3, 3, 3), (4,)]
    assert [p.kind for p in net.projections] == ["conv2d", "avgpool2d", "dense"]
    lif0, lif1, if2 = (p.neuron for p in net.populations)
    assert math.isclose(lif0.tau_s, 5, rel_tol=1e-6) and math.isclose(lif0.tau_m, 10, rel_tol=1e-6)
    assert lif1.tau_s == 1 and math.isclose(lif1.tau_m, 4, rel_tol=1e-6)
    # the SumPool's gain 4 and the LIF's r dt / tau = 0.625 cannot ride on a pool: they scale theta
    assert math.isclose(lif1.theta, 1.5 / (4 * 0.625), rel_tol=1e-6)
    assert isinstance(if2, evsim.IF) and if2.reset == "zero"
    assert net.metadata == {"imported_from": "NIR", "nir_dt": dt}
    if not engine_runs(net):
        pytest.skip("evsim.simulate does not run conv/pool projections yet")
    inputs = spike_batch(np.random.default_rng(2), 12, 4, net.input_shape, 0.5)
    ref = nir_reference(graph, inputs, dt, strict=True)
    res = evsim.simulate(net, inputs, dtype=np.float64, record_hidden=True)
    for name, spikes in zip(["syn", "lif"], res.hidden_spikes):
        assert np.mean(ref[name].reshape(spikes.shape) == spikes) > 0.999, name
    assert np.mean(ref["if"] == res.output_spikes) > 0.999
    assert res.output_spikes.any() and res.hidden_spikes[1].any()


def test_threshold_ties_are_the_only_difference():
    """NIR spikes when v > v_threshold, evsim when U >= theta: a membrane that lands exactly on the
    threshold (here a weight of exactly theta from rest) spikes in evsim and not in NIR. Off the tie,
    both agree."""
    dt = 1e-3
    for weight, evsim_spikes, nir_spikes in [(1.0, True, False), (1.0 + 1e-12, True, True), (1.0 - 1e-12, False, False)]:
        net = Network.dense([[[weight]]], neuron=evsim.IF(theta=1.0, reset="zero"))
        inputs = np.ones((1, 1, 1), dtype=np.float32)
        res = evsim.simulate(net, inputs, dtype=np.float64)
        ref = nir_reference(to_nir(net, dt), inputs, dt, strict=True)["population_0"]
        assert bool(res.output_spikes[0, 0, 0]) is evsim_spikes
        assert bool(ref[0, 0, 0]) is nir_spikes


# ------------------------------------------------------------------------------------ reset and dt


def test_reset_by_subtraction_is_an_error_unless_asked_and_then_recorded(tmp_path):
    net = Network.dense([np.eye(3)], neuron=evsim.IF(theta=1.0))  # IF's default: reset by subtraction
    with pytest.raises(ValueError, match="population 0 .*subtraction.*lossy_reset=True"):
        to_nir(net, 1e-3)
    lif = Network.dense([np.eye(3)], neuron=evsim.LIF(5, 2, reset="subtract"))
    with pytest.raises(ValueError, match="subtraction"):
        to_nir(lif, 1e-3)
    graph = to_nir(net, 1e-3, lossy_reset=True)
    assert graph.metadata["evsim_lossy_reset"] == "population_0"
    node = graph.nodes["population_0"]
    assert isinstance(node, nir.IF) and np.all(node.v_reset == 0) and node.metadata["evsim_reset"] == "subtract"
    path = tmp_path / "lossy.nir"
    nir.write(path, graph)
    read = nir.read(path)
    assert read.metadata["evsim_lossy_reset"] == "population_0"
    assert from_nir(read, 1e-3).populations[0].neuron == evsim.IF(theta=1.0, reset="subtract")
    # without evsim's metadata (another tool rewrote the file), the node is NIR's hard reset
    read.nodes["population_0"].metadata = {}
    read.metadata = {}  # and NIR's strict test
    assert from_nir(read, 1e-3).populations[0].neuron == evsim.IF(theta=1.0, reset="zero", threshold_test=">")


def test_dt_is_required_and_checked():
    net = Network.dense([np.eye(2)], neuron=evsim.LIF(4, 2))
    graph = to_nir(net, 1e-3)
    with pytest.raises(TypeError):
        from_nir(graph)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        to_nir(net)  # type: ignore[call-arg]
    for bad in (0, -1e-3, float("nan"), None, True, "1e-3"):
        with pytest.raises(ValueError, match="dt"):
            from_nir(graph, bad)
        with pytest.raises(ValueError, match="dt"):
            to_nir(net, bad)
    with pytest.raises(ValueError, match=r"written by evsim at dt=0.001.*dt=0.0001"):
        from_nir(graph, 1e-4)
    # a foreign graph read at too coarse a dt: tau_syn/dt < 1 is not a decay
    graph.metadata = {}
    for node in graph.nodes.values():
        node.metadata = {}
    with pytest.raises(ValueError, match=r"'population_0': tau_mem/dt .* < 1"):
        from_nir(graph, 1e-2)
    # the same graph at a finer dt is a different (slower) network, which is the caller's choice
    assert from_nir(graph, 1e-4).populations[0].neuron.tau_m == pytest.approx(40)


def test_edited_fields_that_disagree_with_evsim_metadata_are_an_error():
    graph = to_nir(Network.dense([np.eye(2)], neuron=evsim.LIF(4, 2)), 1e-3)
    graph.nodes["population_0"].tau_mem = graph.nodes["population_0"].tau_mem * 2
    with pytest.raises(ValueError, match="'population_0'.*disagree.*tau_m"):
        from_nir(graph, 1e-3)


# -------------------------------------------------------------------------------- what evsim refuses


def _chain(*middle, shape=(3,)):
    """Input -> middle nodes in a chain -> Output."""
    nodes = {"in": nir.Input(input_type=np.array(shape))}
    nodes.update(middle)
    nodes["out"] = nir.Output(output_type=np.array([3]))
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), metadata={}, type_check=False)


def _cuba(n=3, dt=1e-3, **kw):
    args = dict(tau_syn=np.full(n, 5 * dt), tau_mem=np.full(n, 10 * dt), r=np.full(n, 10.0), v_leak=np.zeros(n),
                v_threshold=np.ones(n), w_in=np.ones(n))
    args.update(kw)
    return nir.CubaLIF(**args)


@pytest.mark.parametrize(
    "graph, message",
    [
        (lambda: _chain(("fc", nir.Linear(weight=np.eye(3))), ("d", nir.Delay(delay=np.ones(3))), ("n", _cuba())),
         "'d' is a NIR Delay"),
        (lambda: _chain(("fc", nir.Linear(weight=np.eye(3))), ("li", nir.LI(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3)))),
         "'li' is a NIR LI: a leaky-integrator"),
        (lambda: _chain(("fc", nir.Linear(weight=np.eye(3))), ("n", _cuba()), ("readout", nir.Linear(weight=np.eye(3)))),
         r"Output node must be fed by one spiking neuron node.*readout \(Linear\)"),
        (lambda: _chain(("fc", nir.Affine(weight=np.eye(3), bias=np.ones(3))), ("n", _cuba())),
         "'fc': its bias passes through the synaptic current of CubaLIF node 'n'"),
        (lambda: _chain(("fc", nir.Linear(weight=np.eye(3))), ("n", _cuba(v_reset=np.full(3, -0.5)))),
         "'n': v_reset"),
        (lambda: _chain(("fc", nir.Linear(weight=np.eye(3))), ("n", _cuba(tau_mem=np.array([0.01, 0.01, 0.02])))),
         "'n': tau_mem differs between neurons"),
        (lambda: _chain(("fc", nir.Linear(weight=np.eye(3))), ("n", _cuba(v_threshold=np.array([1.0, 1.0, 2.0])))),
         "'n': v_threshold differs"),
        (lambda: _chain(("a", nir.Linear(weight=np.eye(3))), ("b", nir.Linear(weight=np.eye(3))), ("n", _cuba())),
         "nodes 'a' and 'b' are two weighted operations"),
        (lambda: _chain(("c", nir.Conv2d(input_shape=(4, 4), weight=np.ones((3, 2, 3, 3)), stride=1, padding=1,
                                          dilation=1, groups=2, bias=np.zeros(3))), ("n", _cuba(48)), shape=(4, 4, 4)),
         "'c': groups 2"),
    ],
)
def test_what_evsim_cannot_run_exactly_is_an_error_naming_the_node(graph, message):
    with pytest.raises(ValueError, match=message):
        from_nir(graph(), 1e-3)


def test_recurrence_is_an_error():
    nodes = {"in": nir.Input(input_type=np.array([3])), "fc": nir.Linear(weight=np.eye(3)), "n": _cuba(),
             "rec": nir.Linear(weight=np.eye(3)), "out": nir.Output(output_type=np.array([3]))}
    edges = [("in", "fc"), ("fc", "n"), ("n", "rec"), ("rec", "n"), ("n", "out")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={}, type_check=False)
    with pytest.raises(ValueError, match="cycle .*recurrent"):
        from_nir(graph, 1e-3)


def test_export_errors_name_the_population():
    rng = np.random.default_rng(0)
    # an IF whose bias varies within a channel, fed only by a convolution: NIR has no place for it
    pops = [Population((2, 3, 3), evsim.IF(reset="zero"), bias=rng.normal(size=18))]
    net = Network((1, 3, 3), pops, [Conv2d(INPUT, 0, rng.normal(size=(2, 1, 1, 1)))])
    with pytest.raises(ValueError, match="population 0 is an IF with a bias"):
        to_nir(net, 1e-3)
    # a dense layer into a (C, H, W) population needs an unflatten NIR does not have
    net = Network((4,), [Population((1, 2, 2), evsim.LIF(2, 2))], [Dense(INPUT, 0, np.eye(4))])
    with pytest.raises(ValueError, match="projection 0 .*restores a \\(C, H, W\\)"):
        to_nir(net, 1e-3)
    # a hidden population that feeds nothing would be a second NIR output
    net = Network((2,), [Population((2,), evsim.LIF(2, 2)), Population((2,), evsim.LIF(2, 2))],
                  [Dense(INPUT, 0, np.eye(2)), Dense(INPUT, 1, np.eye(2))])
    with pytest.raises(ValueError, match=r"population\(s\) \[0\] feed no projection"):
        to_nir(net, 1e-3)
    with pytest.raises(ValueError, match="'a/b'"):
        to_nir(Network.dense([np.eye(2)], neuron=evsim.LIF(2, 2), metadata={"a/b": 1}), 1e-3)


# ------------------------------------------------------------------------------------- command line


def test_command_line_export_import_inspect(tmp_path, capsys):
    net = Network.dense([np.eye(3) * 2, np.ones((2, 3))], neuron=evsim.IF(theta=1.0), metadata={"origin": "test"})
    evsim.save_network(net, tmp_path / "net.h5")
    assert main(["export", str(tmp_path / "net.h5"), str(tmp_path / "net.nir"), "--dt", "1e-3"]) == 1
    assert "subtraction" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "net.h5"), str(tmp_path / "net.nir"), "--dt", "1e-3", "--lossy-reset"]) == 0
    assert main(["inspect", str(tmp_path / "net.nir"), "--dt", "1e-3"]) == 0
    shown = capsys.readouterr().out
    assert "population_0: IF" in shown and "evsim_lossy_reset" in shown and "population 1: (2,)" in shown
    assert main(["import", str(tmp_path / "net.nir"), str(tmp_path / "back.h5"), "--dt", "1e-3"]) == 0
    assert_same_network(net, evsim.load_network(tmp_path / "back.h5"))
    with pytest.raises(SystemExit):
        main(["import", str(tmp_path / "net.nir"), str(tmp_path / "back.h5")])  # --dt is required
    # the module runs as `python -m evsim.nir` (a package with __main__, so no runpy warning)
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-W", "error", "-m", "evsim.nir", "inspect", str(tmp_path / "net.nir")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "population_1: IF" in done.stdout
