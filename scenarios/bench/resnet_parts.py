"""The measurements `bench_resnet` adds to its whole-set and side-by-side runs, each one function.

- `layer_table`: GSOP/s per projection from one profiled run (`evsim.simulate(..., profile=True)`:
  each projection's exact SOPs and MACs over the CPU time in its kernels), and the shares of the
  run's thread time outside the kernels (`evsim.result.RunProfile.shares`);
- `thread_scaling`: evsim and the dense torch loop with one thread and with N, timed alternately
  on the same events and arrays in one run (best of `repeats` each);
- `trained_models` / `time_trained`: Fig. 5's trained SNNs (width 8, `scenarios.setups.cifar.CifarZoo`
  in its load-only mode: no training here), exported with `bridges.export.resnet_to_evsim`, timed
  in evsim against the dense torch loop on real test images.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

import numba
import numpy as np
import torch

import evsim
from bridges.export import resnet_to_evsim
from bridges.timestep import DenseSimulator
from evsim.network import INPUT, Conv2d, Dense, Identity, Network

# Fig. 5's models timed beside the random network: name -> (rule, encoder, decoder)
TRAINED = {"current_actbp_rate": ("actbp", "current", "rate"), "fused_actbp_ttfs": ("actbp", "fused", "ttfs")}


def layer_names(net: Network) -> list[str]:
    """One label per projection: index, kind, source -> target, channels, the target's map size."""
    names = []
    for i, p in enumerate(net.projections):
        target = net.populations[p.target].shape
        source = "input" if p.source == INPUT else f"p{p.source}"
        if isinstance(p, Conv2d):
            kind = f"conv{p.kernel_size[0]}x{p.kernel_size[1]}" + (f" s{p.stride[0]}" if p.stride[0] > 1 else "")
            shape = f"{p.weight.shape[1]}->{p.weight.shape[0]} @ {target[1]}x{target[2]}"
        elif isinstance(p, Identity):
            kind, shape = "identity", f"{target[0]} @ {target[1]}x{target[2]}"
        elif isinstance(p, Dense):
            kind, shape = "dense", f"{p.weight.shape[1]}->{p.weight.shape[0]}"
        else:
            kind, shape = p.kind, ""
        names.append(f"{i:>2} {kind} {source}->p{p.target} {shape}")
    return names


def map_sizes(net: Network) -> np.ndarray:
    """(L,) the side of each projection's target map (1 for a flat population)."""
    return np.array([net.populations[p.target].shape[-1] if len(net.populations[p.target].shape) == 3 else 1
                     for p in net.projections])  # fmt: skip


def layer_table(net: Network, events: evsim.InputEvents) -> dict:
    """One profiled run of `net` on `events` (rate decoding, all steps): per projection the SOPs and
    MACs per image, the CPU seconds in its kernels and its rate; the run's time shares."""
    res = evsim.simulate(net, events, profile=True)
    prof, n = res.profile, events.B
    ops = (res.sops + res.macs).sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(prof.kernel_s > 0, ops / prof.kernel_s / 1e9, 0.0)
    shares = prof.shares()
    return {
        "names": layer_names(net), "map_size": map_sizes(net), "sops_per_image": res.sops.sum(axis=0) / n,
        "macs_per_image": res.macs.sum(axis=0) / n, "kernel_s": prof.kernel_s, "gsop_per_s": rate,
        "integrate_s": prof.integrate_s, "share_names": list(shares), "shares": np.array(list(shares.values())),
        "outside_kernels": 1.0 - shares["kernels"], "loop_s": prof.loop_s, "run_s": prof.run_s,
        "total_s": prof.total_s, "threads": prof.threads, "samples": n,
    }  # fmt: skip


def print_layer_table(table: dict) -> None:
    n = table["samples"]
    print(f"\nper layer ({n} images, one profiled run, {table['threads']} thread(s); kernel time is CPU time summed "
          f"over the threads; GSOP/s = the layer's SOPs + MACs over it):")  # fmt: skip
    print(f"  {'projection':<40}{'SOPs/image':>14}{'MACs/image':>12}{'kernel ms/img':>14}{'GSOP/s':>8}")
    for name, s, m, t, r in zip(table["names"], table["sops_per_image"], table["macs_per_image"], table["kernel_s"],
                                table["gsop_per_s"]):  # fmt: skip
        print(f"  {name:<40}{s:>14,.0f}{m:>12,.0f}{1e3 * t / n:>14.2f}{r:>8.2f}")
    for size in sorted(set(table["map_size"].tolist()), reverse=True):
        at = table["map_size"] == size
        ops = (table["sops_per_image"][at] + table["macs_per_image"][at]).sum() * n
        print(f"  {f'maps {size}x{size}' if size > 1 else 'the output (flat)'}: {ops / max(table['kernel_s'][at].sum(), 1e-12) / 1e9:.2f} GSOP/s per thread "
              f"({table['kernel_s'][at].sum() / table['kernel_s'].sum():.0%} of the kernel time)")  # fmt: skip
    parts = ", ".join(f"{k} {v:.1%}" for k, v in zip(table["share_names"], table["shares"]))
    print(f"  the run's thread time: {parts}; outside the kernels {table['outside_kernels']:.1%}")


def _timed(fn) -> tuple[float, object]:
    """(wall seconds of fn(), its result)."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def thread_scaling(net: Network, x: np.ndarray, T: int, methods, threads: int, batch: int, repeats: int = 2) -> dict:
    """evsim (rate decoding, all steps, on `encode_events` made outside the timing) and the dense
    torch loop (on `encode`'s array) with 1 thread and with `threads`, alternating 1, N, 1, N, ...;
    the best time of each. The thread counts are restored afterwards."""
    events, dense = evsim.encode_events(x, T, methods), evsim.encode(x, T, methods)
    sim = DenseSimulator(net)
    numba_before, torch_before = numba.get_num_threads(), torch.get_num_threads()
    ev_t, dense_t, runs = {1: np.inf, threads: np.inf}, {1: np.inf, threads: np.inf}, {}
    try:
        for _ in range(repeats):
            for n in (1, threads):
                numba.set_num_threads(n)
                torch.set_num_threads(n)
                start = time.perf_counter()
                runs[n] = evsim.simulate(net, events)
                ev_t[n] = min(ev_t[n], time.perf_counter() - start)
                start = time.perf_counter()
                sim.run(dense, batch)
                dense_t[n] = min(dense_t[n], time.perf_counter() - start)
    finally:
        numba.set_num_threads(numba_before)
        torch.set_num_threads(torch_before)
    same = bool((runs[1].sops_per_step == runs[threads].sops_per_step).all()
                and (runs[1].spike_counts == runs[threads].spike_counts).all())  # fmt: skip
    return {
        "threads": np.array([1, threads]), "evsim_s": np.array([ev_t[1], ev_t[threads]]),
        "dense_s": np.array([dense_t[1], dense_t[threads]]), "evsim_speedup": ev_t[1] / ev_t[threads],
        "dense_speedup": dense_t[1] / dense_t[threads], "identical": same, "samples": len(x),
    }  # fmt: skip


@contextmanager
def models_folder(path):
    """$EVSIM_MODELS set to `path` inside (the zoo reads it), restored after."""
    before = os.environ.get("EVSIM_MODELS")
    os.environ["EVSIM_MODELS"] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("EVSIM_MODELS", None)
        else:
            os.environ["EVSIM_MODELS"] = before


def trained_models(folder, data=None) -> dict[str, object]:
    """Fig. 5's quick-mode SNNs of TRAINED from `folder` (a models/ directory): name -> the SNN
    (`bridges.resnet.SpikingResNet`), or a str saying why it is not there. The zoo is Fig. 5's
    (its quick settings and recipe, all 50,000 training images: they are part of the key) in
    load-only mode: a model without a finished checkpoint is reported, never trained."""
    from ..paper.fig5 import QUICK
    from ..setups.cifar import QUICK_RECIPE, CifarZoo, load_cifar
    from ..setups.models import MissingModel

    folder = Path(folder)
    if not (folder / "cifar-10").is_dir():
        return {name: f"no {folder / 'cifar-10'} folder" for name in TRAINED}
    train, _ = load_cifar("train", QUICK["train_samples"], data)
    test, _ = load_cifar("test", 500, data)
    zoo = CifarZoo(train, test, width=QUICK["width"], ann_epochs=QUICK["ann_epochs"], snn_epochs=QUICK["snn_epochs"],
                   recipe=QUICK_RECIPE, load_only=True)  # fmt: skip
    got: dict[str, object] = {}
    with models_folder(folder):
        for name, key in TRAINED.items():
            try:
                got[name] = zoo.snn(*key, 0)
            except MissingModel as err:
                got[name] = str(err)
    return got


def time_trained(model, encoder: str, decoder: str, x: np.ndarray, y: np.ndarray, batch: int) -> dict:
    """One trained SNN exported to evsim (`resnet_to_evsim`) against the dense torch loop on the
    same images x (N, 3, 32, 32) in [0, 1] with labels y; encoder: a name or "fused": the engine alone (encodings made outside the timing) and from the
    images to the predictions; accuracy, agreement, SOPs and MACs. TTFS decoding stops each sample
    at its decision in evsim and a torch batch once all of its samples have decided."""
    from ..setups.cifar import T, encoder_methods

    methods = encoder_methods(encoder)  # "fused": current + RateSynE + TTFS
    net = resnet_to_evsim(model)
    ttfs = decoder == "ttfs"
    evsim.simulate(net, evsim.encode_events(x[:2], T, methods), decoder=decoder, early_exit=ttfs)  # compile
    sim = DenseSimulator(net)
    sim.run(evsim.encode(x[:2], T, methods), batch, ttfs)  # warm up
    t_enc_ev, events = _timed(lambda: evsim.encode_events(x, T, methods))
    t_ev, res = _timed(lambda: evsim.simulate(net, events, decoder=decoder, early_exit=ttfs))
    t_enc, dense_in = _timed(lambda: evsim.encode(x, T, methods))
    t_dense, (spikes, _) = _timed(lambda: sim.run(dense_in, batch, ttfs))
    dense_pred = evsim.decode(spikes, decoder)
    return {
        "evsim_samples_per_s": len(x) / t_ev, "dense_samples_per_s": len(x) / t_dense, "ratio": t_dense / t_ev,
        "images_to_predictions_ratio": (t_dense + t_enc) / (t_ev + t_enc_ev),
        "accuracy": float((res.predictions == y).mean()), "dense_accuracy": float((dense_pred == y).mean()),
        "identical_predictions": float((dense_pred == res.predictions).mean()),
        "sops_per_image": float(res.sops.sum(axis=1).mean()), "macs_per_image": float(res.macs.sum(axis=1).mean()),
        "mean_steps": float(res.steps.mean()), "width": int(model.width), "samples": len(x),
    }  # fmt: skip
