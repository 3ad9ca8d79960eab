"""NIR interchange checked on real data: evsim against snnTorch 1.0, Norse 1.1 and SpikingJelly 2.0.

For each framework and direction, a Fashion-MNIST model is written to a NIR file by one side, read
by the other, and both run the same encoded test images. Measured: the share of identical spikes
(every neuron of every layer at every step), the share of identical predictions (rate decoding),
both accuracies, and the exact SOPs per image that evsim counts for the model. Rows whose graph
cannot be carried say why (the error raised), so the table also records what breaks:

- evsim -> snnTorch: our Act-BP LIF model (tau_m = tau_s = 10), written at dt = 1e-4 (snnTorch's
  hard-coded step), loaded with `snntorch.import_from_nir`;
- snnTorch -> evsim: a model trained here in snnTorch with the settings that export exactly
  (`SNNTORCH_EXACT`), then the same weights with each snnTorch default put back, one at a time;
- evsim -> Norse, Norse -> evsim; evsim -> SpikingJelly, SpikingJelly -> evsim (at dt = 1e-3).

Writes results/interop.h5 (datasets under /rows, one entry per row; settings and provenance as
root attributes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import traceback
from pathlib import Path

import h5py
import nir
import numpy as np
import torch

import evsim
from bridges.datasets import data_dir, load_idx_dataset
from bridges.export import to_evsim
from evsim.atomic import atomic_h5
from evsim.nir import from_nir, to_nir
from scenarios.setups.models import Split, get_snn
from scenarios.machinery.results import provenance

T = 10
ENCODER = "ratesyn_s"  # deterministic: both sides see exactly the same input spikes
SNNTORCH_DT = 1e-4  # snnTorch 1.0 writes and reads NIR with dt = 1e-4 hard-coded
DT = 1e-3  # the step for Norse and SpikingJelly (both take dt as an argument)
# the snnTorch Synaptic settings whose NIR export evsim runs exactly; the defaults differ in each
SNNTORCH_EXACT = {"reset_mechanism": "zero", "reset_delay": False}
SNNTORCH_DEFAULTS = {"reset_mechanism": "subtract", "reset_delay": True}
CONV_TRAIN = 6400  # training images for the convolutional snnTorch model (100 batches of 64)


def agreement(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    """Share of identical spikes over all layers, steps, samples and neurons."""
    same = sum(int((a == b).sum()) for a, b in zip(ours, theirs))
    return same / sum(a.size for a in ours)


def run_stateful(model, inputs: np.ndarray, spiking: str, batch: int = 250) -> list[np.ndarray]:
    """Spikes (T, B, n) of each spiking layer of a graph module that takes and returns a state
    (nirtorch's executors for Norse and SpikingJelly), hooked on the modules of class `spiking`."""
    names = [n for n, m in model.named_modules() if type(m).__name__ == spiking]
    layers: dict[str, list] = {n: [] for n in names}
    for b in range(0, inputs.shape[1], batch):
        chunk: dict[str, list] = {n: [] for n in names}
        hooks = [m.register_forward_hook(lambda mod, i, o, n=n: chunk[n].append(
            (o[0] if isinstance(o, tuple) else o).detach().numpy() > 0))
            for n, m in model.named_modules() if n in chunk]
        state = None
        with torch.no_grad():
            for k in range(inputs.shape[0]):
                _, state = model(torch.tensor(inputs[k, b : b + batch]), state)
        for h in hooks:
            h.remove()
        for n in names:
            layers[n].append(np.array(chunk[n]))
    return [np.concatenate(layers[n], axis=1) for n in names]


def run_snntorch(model, inputs: np.ndarray, batch: int = 250) -> list[np.ndarray]:
    """Spikes (T, B, n) of each snnTorch Synaptic layer, in order."""
    import snntorch as snn
    import snntorch.utils

    names = [n for n, m in model.named_modules() if isinstance(m, snn.Synaptic)]
    layers: dict[str, list] = {n: [] for n in names}
    for b in range(0, inputs.shape[1], batch):
        chunk: dict[str, list] = {n: [] for n in names}
        hooks = [m.register_forward_hook(lambda mod, i, o, n=n: chunk[n].append(
            (o[0] if isinstance(o, tuple) else o).detach().numpy() > 0))
            for n, m in model.named_modules() if isinstance(m, snn.Synaptic)]
        snntorch.utils.reset(model)
        with torch.no_grad():
            for k in range(inputs.shape[0]):
                model(torch.tensor(inputs[k, b : b + batch]))
        for h in hooks:
            h.remove()
        for n in names:
            layers[n].append(np.array(chunk[n]))
    return [np.concatenate(layers[n], axis=1) for n in names]


def evsim_run(net, inputs):
    res = evsim.simulate(net, inputs, dtype=np.float64, record_hidden=True)
    return list(res.hidden_spikes) + [res.output_spikes], res


def row(framework, direction, settings, ours=None, theirs=None, res=None, labels=None, note="", error=""):
    """One table row; spikes are lists of (T, B, n) per layer, evsim's first."""
    r = {"framework": framework, "direction": direction, "settings": settings, "note": note, "error": error,
         "identical_spikes": np.nan, "identical_predictions": np.nan, "accuracy_evsim": np.nan,
         "accuracy_framework": np.nan, "sops_per_image": np.nan, "spike_rate": np.nan}
    if ours is not None:
        pred_theirs = evsim.predict(theirs[-1].sum(0))
        r.update(identical_spikes=agreement(ours, theirs), identical_predictions=float((res.predictions == pred_theirs).mean()),
                 accuracy_evsim=float((res.predictions == labels).mean()), accuracy_framework=float((pred_theirs == labels).mean()),
                 sops_per_image=float(res.sops.sum(1).mean()), spike_rate=float(np.mean([s.mean() for s in ours])))
    shown = {k: (f"{v:.4%}" if isinstance(v, float) and "identical" in k else v) for k, v in r.items() if k in
             ("framework", "direction", "settings", "identical_spikes", "identical_predictions", "sops_per_image")}
    print("  ", shown, ("ERROR " + error) if error else "")
    return r


def attempt(framework, direction, settings, fn, labels):
    try:
        ours, theirs, res, note = fn()
        return row(framework, direction, settings, ours, theirs, res, labels, note)
    except Exception as err:  # noqa: BLE001 - the table records what breaks, with the message
        message = f"{type(err).__name__}: {err}".splitlines()[0][:400]
        if not isinstance(err, (ValueError, NotImplementedError, AssertionError, TypeError, RuntimeError)):
            traceback.print_exc()
        return row(framework, direction, settings, labels=labels, error=message)


def snntorch_model(weights, settings, per_neuron=True, bias=False):
    """784-H-10 Synaptic model (alpha = beta = 0.9, theta = 1) with `settings` and given weights."""
    import snntorch as snn

    def syn(n, **kw):
        if per_neuron:  # export_to_nir needs per-neuron tensors: scalars give NIR shapes that do not type-check
            params = dict(alpha=torch.full((n,), 0.9), beta=torch.full((n,), 0.9), threshold=torch.ones(n))
        else:
            params = dict(alpha=0.9, beta=0.9)
        return snn.Synaptic(**params, init_hidden=True, **settings, **kw)

    (w1, b1), (w2, b2) = weights
    fc1, fc2 = torch.nn.Linear(784, w1.shape[0], bias=bias), torch.nn.Linear(w1.shape[0], 10, bias=bias)
    with torch.no_grad():
        fc1.weight.copy_(w1)
        fc2.weight.copy_(w2)
        if bias:
            fc1.bias.copy_(b1)
            fc2.bias.copy_(b2)
    return torch.nn.Sequential(fc1, syn(w1.shape[0]), fc2, syn(10, output=True))


def train_snntorch(train: Split, hidden: int, epochs: int, seed: int):
    """A model trained in snnTorch (exact settings, rate-coded cross-entropy, Adam); returns its weights."""
    import snntorch.utils

    torch.manual_seed(seed)
    init = torch.nn.Linear(784, hidden), torch.nn.Linear(hidden, 10)
    weights = [(m.weight.detach().clone(), m.bias.detach().clone()) for m in init]
    model = snntorch_model(weights, SNNTORCH_EXACT)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(len(train.x))
        for i in range(0, len(order), 128):
            b = order[i : i + 128]
            x = torch.tensor(evsim.encode(train.x[b], T, ENCODER))
            snntorch.utils.reset(model)
            counts = sum(model(x[k])[0] for k in range(T))
            loss = torch.nn.functional.cross_entropy(counts, torch.tensor(train.y[b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    fc1, fc2 = model[0], model[2]
    return [(fc1.weight.detach().clone(), torch.randn(hidden) * 0.1), (fc2.weight.detach().clone(), torch.randn(10) * 0.1)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios interop", description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1000, help="Fashion-MNIST test images (max 10000)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs of our model and of snnTorch's")
    parser.add_argument("--hidden", type=int, default=128, help="hidden neurons of the snnTorch/SpikingJelly models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="data directory (default: $EVSIM_DATA or data/)")
    parser.add_argument("--out", default="results/interop.h5")
    args = parser.parse_args(argv)
    if not 1 <= args.samples <= 10000:
        parser.error("--samples must lie in 1..10000")
    if args.epochs < 1 or args.hidden < 1:
        parser.error("--epochs and --hidden must be >= 1")
    torch.set_num_threads(1)
    started = time.time()
    root = data_dir(args.data)
    (tx, ty), (vx, vy) = load_idx_dataset("fashion-mnist", "train", root), load_idx_dataset("fashion-mnist", "test", root)
    train = Split((tx.reshape(len(tx), -1) / 255.0).astype(np.float32), ty)
    test = Split((vx[: args.samples].reshape(args.samples, -1) / 255.0).astype(np.float32), vy[: args.samples])
    inputs = evsim.encode(test.x, T, ENCODER)
    labels = test.y
    workdir = Path(args.out).with_suffix(".nir")
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"Fashion-MNIST from {root}: {args.samples} test images, T={T}, {ENCODER} encoding")

    # ours: an Act-BP LIF model (the Fig. 3 zoo's), and its IF twin with reset to zero
    model, _ = get_snn("fashion-mnist", "actbp", ENCODER, train, test, args.epochs, seed=args.seed)
    ours = to_evsim(model, {"dataset": "fashion-mnist", "rule": "actbp", "encoder": ENCODER})
    ours_if = evsim.Network(ours.input_shape, [evsim.Population(p.shape, evsim.IF(theta=1.0, reset="zero"), p.bias)
                                               for p in ours.populations], ours.projections, ours.metadata)
    ours_spikes, ours_res = evsim_run(ours, inputs)
    print(f"our LIF model: accuracy {np.mean(ours_res.predictions == labels):.4f} in evsim")

    # --- snnTorch
    import snntorch  # noqa: F401  (fails loudly if the interop extra is missing)
    from snntorch.export_nir import export_to_nir
    from snntorch.import_nir import import_from_nir

    def ours_to_snntorch():
        path = workdir / "ours_lif_dt1e-4.nir"
        evsim.nir.save(path, ours, SNNTORCH_DT)
        with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints every parameter it rescales
            theirs_model = import_from_nir(nir.read(path))
        return ours_spikes, run_snntorch(theirs_model, inputs), ours_res, \
            "float64 evsim against snnTorch's float32 (its spikes are float32 whatever the model's dtype)"

    rows.append(attempt("snnTorch 1.0", "evsim -> snnTorch", "dt=1e-4", ours_to_snntorch, labels))

    t0 = time.time()
    weights = train_snntorch(train, args.hidden, args.epochs, args.seed)
    print(f"snnTorch model trained in {time.time() - t0:.0f} s")

    def snntorch_to_ours(settings, per_neuron=True, bias=False, dt=SNNTORCH_DT, tag="exact"):
        def fn():
            theirs_model = snntorch_model(weights, settings, per_neuron, bias)
            with contextlib.redirect_stdout(io.StringIO()):
                graph = export_to_nir(theirs_model, torch.zeros(1, 784), ignore_dims=[0])
            path = workdir / f"snntorch_{tag}.nir"
            nir.write(path, graph)
            net = evsim.nir.load(path, dt)
            spikes, res = evsim_run(net, inputs)
            return spikes, run_snntorch(theirs_model, inputs), res, ""
        return fn

    exact = ", ".join(f"{k}={v!r}" for k, v in SNNTORCH_EXACT.items()) + ", per-neuron alpha/beta/threshold, bias=False"
    rows.append(attempt("snnTorch 1.0", "snnTorch -> evsim", exact + ", read at dt=1e-4", snntorch_to_ours(SNNTORCH_EXACT), labels))
    for key, value in SNNTORCH_DEFAULTS.items():
        settings = dict(SNNTORCH_EXACT, **{key: value})
        rows.append(attempt("snnTorch 1.0", "snnTorch -> evsim", f"default {key}={value!r}",
                            snntorch_to_ours(settings, tag=f"default_{key}"), labels))
    rows.append(attempt("snnTorch 1.0", "snnTorch -> evsim", "default scalar alpha/beta/threshold",
                        snntorch_to_ours(SNNTORCH_EXACT, per_neuron=False, tag="scalar"), labels))
    rows.append(attempt("snnTorch 1.0", "snnTorch -> evsim", "default nn.Linear(bias=True)",
                        snntorch_to_ours(SNNTORCH_EXACT, bias=True, tag="bias"), labels))
    rows.append(attempt("snnTorch 1.0", "snnTorch -> evsim", "read at dt=1e-3 instead of 1e-4",
                        snntorch_to_ours(SNNTORCH_EXACT, dt=1e-3, tag="dt"), labels))

    def snntorch_conv_to_ours():
        """A convolutional model (conv 3x3 -> avg pool 2 -> dense), briefly trained in snnTorch."""
        import snntorch as snn
        import snntorch.utils

        def syn(shape, **kw):
            return snn.Synaptic(alpha=torch.full(shape, 0.9), beta=torch.full(shape, 0.9), threshold=torch.ones(shape),
                                init_hidden=True, **SNNTORCH_EXACT, **kw)

        torch.manual_seed(args.seed)
        conv_model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1, bias=False), syn((8, 28, 28)), torch.nn.AvgPool2d(2), syn((8, 14, 14)),
            torch.nn.Flatten(), torch.nn.Linear(8 * 14 * 14, 10, bias=False), syn((10,), output=True))
        opt = torch.optim.Adam(conv_model.parameters(), 1e-3)
        rng = np.random.default_rng(args.seed)
        for i in range(0, CONV_TRAIN, 64):
            b = rng.integers(0, len(train.x), 64)
            x = torch.tensor(evsim.encode(train.x[b], T, ENCODER).reshape(T, 64, 1, 28, 28))
            snntorch.utils.reset(conv_model)
            counts = sum(conv_model(x[k])[0] for k in range(T))
            loss = torch.nn.functional.cross_entropy(counts, torch.tensor(train.y[b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with contextlib.redirect_stdout(io.StringIO()):
            graph = export_to_nir(conv_model, torch.zeros(1, 1, 28, 28), ignore_dims=[0])
        path = workdir / "snntorch_conv.nir"
        nir.write(path, graph)
        net = evsim.nir.load(path, SNNTORCH_DT)
        images = inputs.reshape(T, -1, 1, 28, 28)
        spikes, res = evsim_run(net, images)
        theirs = [s.reshape(e.shape) for s, e in zip(run_snntorch(conv_model, images), spikes)]
        return spikes, theirs, res, (f"trained on {CONV_TRAIN} images; after the pool the CubaLIF's input factor "
                                     "w_in r dt / tau_mem goes into theta (a pool has no weights)")

    rows.append(attempt("snnTorch 1.0", "snnTorch -> evsim", "conv 3x3 + avg pool 2 + dense, exact settings",
                        snntorch_conv_to_ours, labels))

    # --- Norse
    def ours_to_norse():
        from norse.torch.utils.import_nir import from_nir as norse_from_nir

        path = workdir / "ours_lif_dt1e-3.nir"
        evsim.nir.save(path, ours, DT)
        return ours_spikes, run_stateful(norse_from_nir(nir.read(path), dt=DT), inputs, "CubaLIF"), ours_res, ""

    def norse_to_ours():
        import norse.torch as norse
        from norse.torch.utils.export_nir import to_nir as norse_to_nir

        (w1, _), (w2, _) = weights
        fc1, fc2 = torch.nn.Linear(784, w1.shape[0], bias=False), torch.nn.Linear(w1.shape[0], 10, bias=False)
        theirs_model = norse.SequentialState(fc1, norse.LIFCell(), fc2, norse.LIFCell())
        graph = norse_to_nir(theirs_model, torch.zeros(1, 784), dt=DT)
        net = from_nir(graph, DT)
        raise AssertionError(f"evsim read it as {net.populations}")  # not reached: the graph's tau is dt * tau

    rows.append(attempt("Norse 1.1", "evsim -> Norse", "dt=1e-3", ours_to_norse, labels))
    rows.append(attempt("Norse 1.1", "Norse -> evsim", "LIFCell, dt=1e-3", norse_to_ours, labels))

    # --- SpikingJelly
    def ours_to_spikingjelly(net, spikes, res, tag):
        def fn():
            from spikingjelly.activation_based.nir_exchange import import_from_nir as sj_import

            path = workdir / f"ours_{tag}_dt1e-3.nir"
            evsim.nir.save(path, net, DT)
            return spikes, run_stateful(sj_import(nir.read(path), dt=DT), inputs, "_NIRStatefulModule"), res, ""
        return fn

    ours_if_spikes, ours_if_res = evsim_run(ours_if, inputs)
    rows.append(attempt("SpikingJelly 2.0", "evsim -> SpikingJelly", "LIF model, dt=1e-3",
                        ours_to_spikingjelly(ours, ours_spikes, ours_res, "lif"), labels))
    rows.append(attempt("SpikingJelly 2.0", "evsim -> SpikingJelly", "IF (reset to zero) twin, dt=1e-3",
                        ours_to_spikingjelly(ours_if, ours_if_spikes, ours_if_res, "if"), labels))

    def spikingjelly_to_ours():
        from spikingjelly.activation_based import functional, layer, neuron
        from spikingjelly.activation_based.nir_exchange import export_to_nir as sj_export

        (w1, _), (w2, _) = weights
        theirs_model = torch.nn.Sequential(layer.Linear(784, w1.shape[0], bias=False), neuron.LIFNode(tau=2.0, v_reset=0.0),
                                           layer.Linear(w1.shape[0], 10, bias=False), neuron.LIFNode(tau=2.0, v_reset=0.0))
        with torch.no_grad():  # snnTorch's trained weights, scaled for LIF without a synaptic current (tau = 2)
            theirs_model[0].weight.copy_(w1 * 2)
            theirs_model[2].weight.copy_(w2 * 2)
        path = workdir / "spikingjelly_lif.nir"
        nir.write(path, sj_export(theirs_model, torch.zeros(1, 784), dt=DT))
        net = evsim.nir.load(path, DT)
        spikes, res = evsim_run(net, inputs)
        theirs: list[list] = [[], []]
        for b in range(0, inputs.shape[1], 250):
            chunk: list[list] = [[], []]
            hooks = [theirs_model[2 * i + 1].register_forward_hook(lambda m, a, o, i=i: chunk[i].append(o.numpy() > 0))
                     for i in range(2)]
            functional.reset_net(theirs_model)
            with torch.no_grad():
                for k in range(T):
                    theirs_model(torch.tensor(inputs[k, b : b + 250]))
            for h in hooks:
                h.remove()
            for i in range(2):
                theirs[i].append(np.array(chunk[i]))
        return spikes, [np.concatenate(t, axis=1) for t in theirs], res, "snnTorch-trained weights x2 on LIFNode(tau=2)"

    rows.append(attempt("SpikingJelly 2.0", "SpikingJelly -> evsim", "LIFNode(tau=2, v_reset=0), dt=1e-3",
                        spikingjelly_to_ours, labels))

    out = Path(args.out)
    with atomic_h5(out) as f:
        for key, value in provenance().items():
            f.attrs[key] = value
        settings = {"dataset": "fashion-mnist", "split": "test", "samples": args.samples, "T": T, "encoder": ENCODER,
                    "decoder": "rate", "epochs": args.epochs, "hidden": args.hidden, "seed": args.seed,
                    "snntorch_dt": SNNTORCH_DT, "dt": DT, "evsim_dtype": "float64", "seconds": time.time() - started}
        for key, value in settings.items():
            f.attrs[key] = value
        group = f.create_group("rows")
        for key in rows[0]:
            values = [r[key] for r in rows]
            if isinstance(values[0], str):
                group.create_dataset(key, data=np.array(values, dtype=h5py.string_dtype()))
            else:
                group.create_dataset(key, data=np.array(values, dtype=np.float64))
        group.attrs["meaning"] = ("one entry per framework/direction/settings; identical_spikes: share of (layer, step, "
                                  "image, neuron) spike values that agree; predictions by rate decoding; NaN where "
                                  "'error' says why the graph could not be carried")
    print(f"wrote {out} in {time.time() - started:.0f} s")
