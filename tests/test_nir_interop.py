"""evsim.nir against the frameworks: agreement with snnTorch 1.0 on real Fashion-MNIST images, and
with SpikingJelly 2.0 and Norse 1.1, both ways (split from test_nir.py, whose helpers it uses)."""

from __future__ import annotations

import dataclasses

import math

import numpy as np
import pytest

nir = pytest.importorskip("nir")

import evsim  # noqa: E402
from evsim.network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population  # noqa: E402
from evsim.nir import from_nir, load, save, to_nir  # noqa: E402
from test_nir import spike_batch  # noqa: E402


# --------------------------------------------------------------------------------- snnTorch 1.0


def fashion_test_images(n: int):
    from bridges.datasets import load_idx_dataset

    try:
        images, labels = load_idx_dataset("fashion-mnist", "test")
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not in $EVSIM_DATA")
    return (images[:n].reshape(n, -1) / 255.0).astype(np.float32), labels[:n]


def run_snntorch(model, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Spikes (T, B, n) of every Synaptic layer of `model`, stepped through inputs (T, B, ...)."""
    import snntorch as snn
    import snntorch.utils
    import torch

    spikes: dict[str, list] = {}
    hooks = [mod.register_forward_hook(lambda m, i, o, name=name: spikes.setdefault(name, []).append(
        (o[0] if isinstance(o, tuple) else o).detach().numpy() > 0))
        for name, mod in model.named_modules() if isinstance(mod, snn.Synaptic)]
    snntorch.utils.reset(model)
    with torch.no_grad():
        for k in range(inputs.shape[0]):
            model(torch.tensor(inputs[k]))
    for h in hooks:
        h.remove()
    return {name: np.array(v) for name, v in spikes.items()}


@pytest.mark.usefixtures("one_torch_thread")
def test_evsim_model_runs_identically_in_snntorch(tmp_path):
    """A Fashion-MNIST LIF model of ours, exported at dt=1e-4 (snnTorch's) and loaded with
    snntorch.import_from_nir, spikes as evsim (float64) does on real test images."""
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch.import_nir import import_from_nir

    x, y = fashion_test_images(100)
    rng = np.random.default_rng(0)
    # a model of ours without training: class templates of the first test images feed 10 of 40 neurons
    templates = np.stack([x[y == c].mean(0) if np.any(y == c) else np.zeros(784) for c in range(10)])
    W1 = np.concatenate([templates - templates.mean(0), rng.normal(0, 0.02, (30, 784))]) * 0.08
    W2 = np.concatenate([np.eye(10) * 3.0, rng.normal(0, 0.3, (10, 30))], axis=1)
    net = Network.dense([W1, W2], neuron=evsim.LIF(tau_m=10, tau_s=10, theta=1.0))
    inputs = evsim.encode(x, 10, "ratesyn_s")
    res = evsim.simulate(net, inputs, dtype=np.float64, record_hidden=True)
    model = import_from_nir(nir.read(save(tmp_path / "ours.nir", net, 1e-4)))
    spikes = run_snntorch(model, inputs)
    assert np.array_equal(spikes["population_0"], res.hidden_spikes[0])
    assert np.array_equal(spikes["population_1"], res.output_spikes)
    assert 0.01 < res.output_spikes.mean() < 0.9


def snntorch_model(n_hidden: int = 32, alpha: float = 0.9, beta: float = 0.8, **neuron):
    """The snnTorch settings that export exactly: per-neuron alpha, beta and threshold tensors (scalars
    break export_to_nir's shapes), reset "zero" without delay, nn.Linear without bias."""
    import snntorch as snn
    import torch

    settings_ = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)
    settings_.update(neuron)

    def syn(n, **kw):
        return snn.Synaptic(alpha=torch.full((n,), alpha), beta=torch.full((n,), beta), threshold=torch.ones(n),
                            **settings_, **kw)

    return torch.nn.Sequential(torch.nn.Linear(784, n_hidden, bias=False), syn(n_hidden),
                               torch.nn.Linear(n_hidden, 10, bias=False), syn(10, output=True))


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning")
def test_snntorch_model_runs_identically_in_evsim(tmp_path):
    """A small model trained in snnTorch (Synaptic, reset "zero", reset_delay=False) and written by
    snntorch.export_to_nir gives in evsim (read at dt=1e-4) the same spikes and predictions."""
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    import snntorch.utils
    import torch
    from snntorch.export_nir import export_to_nir

    x, y = fashion_test_images(200)
    torch.manual_seed(0)
    model = snntorch_model()
    inputs = evsim.encode(x, 8, "ratesyn_s")
    train_x, train_y = torch.tensor(inputs[:, 100:]), torch.tensor(y[100:])  # a few steps on held-apart images
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    for _ in range(5):
        snntorch.utils.reset(model)
        counts = sum(model(train_x[k])[0] for k in range(8))
        loss = torch.nn.functional.cross_entropy(counts, train_y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = inputs[:, :100]
    spikes = run_snntorch(model, test)
    graph = export_to_nir(model, torch.zeros(1, 784), ignore_dims=[0])
    net = load(_write(tmp_path / "snntorch.nir", graph), dt=1e-4)
    res = evsim.simulate(net, test, dtype=np.float64, record_hidden=True)
    hidden, output = spikes.values()
    assert np.array_equal(hidden, res.hidden_spikes[0])
    assert np.array_equal(output, res.output_spikes)
    assert np.array_equal(evsim.predict(output.sum(0)), res.predictions)
    assert 0.01 < output.mean() < 0.9


def _write(path, graph):
    nir.write(path, graph)
    return path


# ------------------------------------------------------------------------- SpikingJelly 2.0 and Norse 1.1


def _dense_spikes(seed: int, T: int = 20, B: int = 8, n: int = 12) -> np.ndarray:
    return spike_batch(np.random.default_rng(seed), T, B, (n,), 0.4)


@pytest.mark.usefixtures("one_torch_thread")
def test_spikingjelly_both_ways():
    """SpikingJelly 2.0 writes LIF (tau = tau dt, r = 1 with decay_input) and IF (r = 1/dt) with an
    explicit dt, as evsim does: its LIF/IF models run identically in evsim, and evsim's IF with reset
    to zero runs identically in SpikingJelly. It reads CubaLIF only in snnTorch's form
    (w_in = tau_syn/dt), so evsim's LIF (w_in = 1) is refused there with its own clear error."""
    pytest.importorskip("spikingjelly")
    import torch
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir, import_from_nir

    dt = 1e-3
    torch.manual_seed(0)
    model = torch.nn.Sequential(layer.Linear(12, 20, bias=False), neuron.LIFNode(tau=3.0, v_reset=0.0),
                                layer.Linear(20, 6, bias=False), neuron.IFNode(v_reset=0.0))
    with torch.no_grad():
        model[0].weight.mul_(3)
        model[2].weight.mul_(2)
    net = from_nir(export_to_nir(model, torch.zeros(1, 12), dt=dt), dt)
    assert net.populations[0].neuron == evsim.LIF(tau_m=3.0, tau_s=1.0, threshold_test=">") and net.populations[1].neuron == evsim.IF(reset="zero", threshold_test=">")
    x = _dense_spikes(0)
    hidden = []
    handle = model[1].register_forward_hook(lambda m, i, o: hidden.append(o.numpy() > 0))
    functional.reset_net(model)
    with torch.no_grad():
        out = np.array([model(torch.tensor(x[k])).numpy() > 0 for k in range(len(x))])
    handle.remove()
    res = evsim.simulate(net, x, dtype=np.float64, record_hidden=True)
    assert np.array_equal(np.array(hidden), res.hidden_spikes[0]) and np.array_equal(out, res.output_spikes)
    assert out.any()

    rng = np.random.default_rng(1)
    ours = Network.dense([rng.normal(0.3, 1, (20, 12)), rng.normal(0.3, 1, (6, 20))], neuron=evsim.IF(reset="zero"))
    theirs = import_from_nir(to_nir(ours, dt), dt=dt)
    state, out = None, []
    with torch.no_grad():
        for k in range(len(x)):
            o, state = theirs(torch.tensor(x[k]), state)
            out.append(o.numpy() > 0)
    res = evsim.simulate(ours, x, dtype=np.float64)
    assert np.array_equal(np.array(out), res.output_spikes) and res.output_spikes.any()
    with pytest.raises(ValueError, match="w_in must equal tau_syn / dt"):
        import_from_nir(to_nir(Network.dense([np.eye(3)], neuron=evsim.LIF(5, 2)), dt), dt=dt)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_norse_reads_evsim_exactly_but_writes_a_wrong_tau():
    """Norse 1.1 reads evsim's CubaLIF as NIR's forward Euler (its synapse and membrane cells at its
    dt): identical spikes. Its export writes tau_mem = dt / tau_mem_inv (norse issue #411) instead of
    1 / tau_mem_inv, so evsim refuses its graphs at the dt they were built for."""
    pytest.importorskip("norse")
    import torch
    import norse.torch as norse
    from norse.torch.utils.export_nir import to_nir as norse_to_nir
    from norse.torch.utils.import_nir import from_nir as norse_from_nir

    dt = 1e-3
    rng = np.random.default_rng(0)
    ours = Network.dense([rng.normal(0.3, 1.0, (20, 12)), rng.normal(0.3, 1.0, (6, 20)) / 2],
                         neuron=evsim.LIF(tau_m=5, tau_s=3))
    x = _dense_spikes(2)
    theirs = norse_from_nir(to_nir(ours, dt), dt=dt)
    state, out = None, []
    with torch.no_grad():
        for k in range(len(x)):
            o, state = theirs(torch.tensor(x[k]), state)
            out.append(o.numpy() > 0)
    res = evsim.simulate(ours, x, dtype=np.float64)
    assert np.array_equal(np.array(out), res.output_spikes) and res.output_spikes.any()

    model = norse.SequentialState(torch.nn.Linear(12, 20, bias=False), norse.LIFCell())
    graph = norse_to_nir(model, torch.zeros(1, 12), dt=dt)
    with pytest.raises(ValueError, match=r"tau_mem/dt = .* < 1"):
        from_nir(graph, dt)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning")
def test_snntorch_convolutional_model_in_evsim():
    """snnTorch's conv -> Synaptic -> avg pool -> Synaptic -> flatten -> linear -> Synaptic reads as
    Conv2d, AvgPool2d and Dense projections. The pool cannot carry the CubaLIF's input factor
    w_in r dt / tau_mem (= tau_s), so theta takes it (1/tau_s). Behind the pool, inputs are multiples
    of 1/4 with no weights, so membranes that land exactly on the threshold are common: snnTorch's `>`
    leaves them silent. Imported neurons carry NIR's strict test, so every layer's spikes agree
    exactly (with evsim's `>=` they agreed on 99.71% of spikes and 86% of predictions)."""
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    import contextlib
    import io

    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir

    def syn(shape, **kw):
        return snn.Synaptic(alpha=torch.full(shape, 0.8), beta=torch.full(shape, 0.9), threshold=torch.ones(shape),
                            init_hidden=True, reset_mechanism="zero", reset_delay=False, **kw)

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1, bias=False), syn((4, 8, 8)), torch.nn.AvgPool2d(2),
                                syn((4, 4, 4)), torch.nn.Flatten(), torch.nn.Linear(64, 5, bias=False), syn((5,), output=True))
    with torch.no_grad():
        model[0].weight.mul_(3)
        model[5].weight.mul_(3)
    with contextlib.redirect_stdout(io.StringIO()):
        graph = export_to_nir(model, torch.zeros(1, 1, 8, 8), ignore_dims=[0])
    net = from_nir(graph, 1e-4)
    assert [p.kind for p in net.projections] == ["conv2d", "avgpool2d", "dense"]
    assert [p.shape for p in net.populations] == [(4, 8, 8), (4, 4, 4), (5,)]
    assert net.populations[1].neuron.theta == pytest.approx(0.2, rel=1e-6)  # 1 / tau_s
    assert net.populations[0].neuron.theta == 1.0 and net.populations[2].neuron.theta == 1.0
    x = spike_batch(np.random.default_rng(0), 12, 6, (1, 8, 8), 0.4)
    theirs = run_snntorch(model, x)
    res = evsim.simulate(net, x, dtype=np.float64, record_hidden=True)
    ours = list(res.hidden_spikes) + [res.output_spikes]
    assert all(p.neuron.threshold_test == ">" for p in net.populations)
    for name, spikes in zip(["1", "3", "6"], ours):
        assert np.array_equal(theirs[name].reshape(spikes.shape), spikes)
    assert np.array_equal(evsim.predict(theirs["6"].sum(0)), res.predictions)
    # the ties are real: SPEC's >= on the same graph leaves the snnTorch spikes behind the pool
    loose = evsim.Network(net.input_shape, [evsim.Population(p.shape, dataclasses.replace(p.neuron, threshold_test=">="),
                                                             p.bias) for p in net.populations], net.projections)
    assert not np.array_equal(evsim.simulate(loose, x, dtype=np.float64, record_hidden=True).hidden_spikes[1],
                              theirs["3"].reshape(ours[1].shape))


@pytest.mark.usefixtures("one_torch_thread")
def test_deep_evsim_model_runs_identically_in_snntorch():
    """Conv2d, AvgPool2d and a residual block (two edges into one node) written by evsim run in
    snnTorch's import_from_nir with identical spikes in every layer. The readout is a convolution:
    snnTorch 1.0 reads NIR's Flatten(start_dim=0) as torch's Flatten(0, -1), which flattens the
    batch too, so no graph with a Flatten (its own exports included) runs there."""
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    import contextlib
    import io

    from snntorch.import_nir import import_from_nir

    rng = np.random.default_rng(3)
    w = lambda *shape: rng.normal(0.15, 0.5, shape) * 6 / math.sqrt(math.prod(shape[1:]))  # noqa: E731
    lif = evsim.LIF(tau_m=10, tau_s=5, theta=1.0)
    pops = [Population(s, lif) for s in [(4, 8, 8), (4, 4, 4), (4, 4, 4), (4, 4, 4), (2, 4, 4)]]
    projs = [Conv2d(INPUT, 0, w(4, 1, 3, 3), padding=1), AvgPool2d(0, 1, 2), Conv2d(1, 2, w(4, 4, 3, 3), padding=1),
             Conv2d(2, 3, w(4, 4, 3, 3), padding=1), Identity(1, 3), Conv2d(3, 4, w(2, 4, 3, 3), padding=1)]
    net = Network((1, 8, 8), pops, projs)
    x = spike_batch(rng, 12, 6, (1, 8, 8), 0.4)
    res = evsim.simulate(net, x, dtype=np.float64, record_hidden=True)
    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints each threshold it rescales
        model = import_from_nir(to_nir(net, 1e-4))
    theirs = run_snntorch(model, x)
    ours = list(res.hidden_spikes) + [res.output_spikes]
    assert list(theirs) == [f"population_{p}" for p in range(5)]
    for spikes, mine in zip(theirs.values(), ours):
        assert np.array_equal(spikes.reshape(mine.shape), mine)
    assert all(0.05 < s.mean() < 0.9 for s in ours)
