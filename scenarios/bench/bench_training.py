"""Training benchmark: Act-BP and Temp-BP against snnTorch (MLP) and SpikingJelly (ResNet18), one run.

Two networks, every side trained on the same batches in this run, full BPTT, AdamW (lr 5e-4,
weight decay 0.01), cross-entropy on the output spike counts (rate decoding), the same thread
count (torch and Numba):

- MLP: Fashion-MNIST, 784-500-10 LIF (tau_m = tau_s = 10, theta 1), T 10, RateSynE, batch 128:
  `SpikingMLP` Act-BP and Temp-BP against snnTorch's `Synaptic` network
  (`scenarios.bench.training_peers.SnnTorchMLP`).
- ResNet: CIFAR-10 (the training images, current encoding: each pixel a constant current),
  `SpikingResNet` width 8, LIF tau 2, T 10, batch 64, Act-BP and Temp-BP against SpikingJelly
  2.0's multi-step `LIFNode` ResNet18 of the same topology (`training_peers.SpikingJellyResNet`:
  tau 2, hard reset, sigmoid surrogate, its CPU torch implementation). Without CIFAR-10 in the
  data directory the ResNet sides train on random images (the file says which).

Each of our rules runs twice: on the compiled neuron kernels (`bridges.neuron_kernels`, what
training uses on the CPU) and on the torch loop (`with neuron_kernels.disabled()`, the CUDA and
reference path), so the file holds the kernels' own speed-up too. A round trains every side on
the same `--*-batches` batches, in an order that alternates from round to round (a burst of load
from elsewhere hits all sides alike); the seconds per batch reported are the median over
`--rounds` rounds (the best round is stored too), wall and process CPU time (on a shared
machine the CPU-time ratio is the steadier). A warm-up step per side (JIT compilation, the
allocator) precedes the timing. Ratios are the peer's time over ours: > 1 means we are faster.
Targets (issue 20): Act-BP >= 2x both peers, Temp-BP >= 1.5x both.
Needs the benchmark extra (snnTorch) and SpikingJelly 2.0 (the interop extra); a missing peer
is reported and its ratios are NaN.

    python -m scenarios bench_training [--quick] [--rounds 5] [--mlp-batches 20] [--resnet-batches 3]
        [--threads N] [--nets mlp,resnet] [--seed 0] [--data DIR] [--out results/bench_training.h5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

import evsim
from bridges import neuron_kernels
from bridges.datasets import data_dir
from bridges.resnet import SpikingResNet
from bridges.snn import SpikingMLP, decoder_scores

from ..machinery.results import write_results
from ..setups.models import load_split
from . import training_peers

T, LR, WEIGHT_DECAY = 10, 5e-4, 0.01
MLP = {"sizes": (784, 500, 10), "tau": 10.0, "batch": 128, "encoder": "ratesyn_e", "dataset": "fashion-mnist"}
RESNET = {"width": 8, "tau": 2.0, "batch": 64, "encoder": "current", "dataset": "cifar-10"}
PEERS = {"mlp": "snntorch", "resnet": "spikingjelly"}
RULES = ("actbp", "tempbp")
TARGETS = {"actbp": 2.0, "tempbp": 1.5}


class Side:
    """One trained model with its optimiser; `step(x, y)` is one full training step -> loss."""

    def __init__(self, model: torch.nn.Module, forward, torch_loop: bool = False, after=None):
        self.model, self.forward, self.torch_loop, self.after = model, forward, torch_loop, after
        self.opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        with neuron_kernels.disabled() if self.torch_loop else contextlib.nullcontext():
            self.opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(decoder_scores(self.forward(self.model, x), "rate"), y)
            loss.backward()
            self.opt.step()
        if self.after is not None:
            self.after(self.model)
        return loss.item()


def build_sides(net: str, seed: int, missing: dict[str, str]) -> dict[str, Side]:
    """Our two rules on the kernels and on the torch loop, and the net's peer (if installed),
    each from torch.manual_seed(seed)."""
    sides: dict[str, Side] = {}
    for rule in RULES:
        for torch_loop in (False, True):
            torch.manual_seed(seed)
            if net == "mlp":
                model = SpikingMLP(list(MLP["sizes"]), evsim.LIF(MLP["tau"], MLP["tau"]), rule)
            else:
                model = SpikingResNet(width=RESNET["width"], in_channels=3, n_classes=10,
                                      neuron=evsim.LIF(RESNET["tau"], RESNET["tau"]), rule=rule)  # fmt: skip
            sides[rule + ("_torch" if torch_loop else "")] = Side(model, lambda m, x: m(x).spikes, torch_loop)
    peer = PEERS[net]
    torch.manual_seed(seed)
    try:
        if net == "mlp":
            sides[peer] = Side(training_peers.SnnTorchMLP(list(MLP["sizes"]), MLP["tau"]), lambda m, x: m(x))
        else:
            model = training_peers.SpikingJellyResNet(width=RESNET["width"], tau=RESNET["tau"])
            sides[peer] = Side(model, lambda m, x: m(x), after=lambda m: m.reset_states())
    except ImportError as err:
        missing[peer] = str(err)
        print(f"WARNING: {peer} is not installed ({err}); its ratios will be NaN "
              f"(pip install -e '.[bench,interop]')")  # fmt: skip
    return sides


def mlp_batches(n: int, seed: int, root) -> tuple[list, str]:
    train = load_split(MLP["dataset"], "train", n * MLP["batch"], root=root)
    if len(train.y) < n * MLP["batch"]:
        raise ValueError(f"Fashion-MNIST holds {len(train.y)} training images, fewer than {n} batches")
    out = []
    for b in range(n):
        lo = b * MLP["batch"]
        x = torch.from_numpy(evsim.encode(train.x[lo : lo + MLP["batch"]], T, MLP["encoder"], seed=seed + b))
        out.append((x, torch.as_tensor(train.y[lo : lo + MLP["batch"]])))
    return out, "fashion-mnist train"


def resnet_batches(n: int, seed: int, root) -> tuple[list, str]:
    """n batches (T, B, 3, 32, 32) of CIFAR-10 training images (or, without them, random images)."""
    count = n * RESNET["batch"]
    try:
        from ..setups.cifar import load_cifar

        train, source = load_cifar("train", count, root=root)
        x, y, what = train.x, train.y, f"cifar-10 train ({source})"
    except FileNotFoundError as err:
        print(f"WARNING: CIFAR-10 not found ({err}); the ResNet sides train on random images")
        rng = np.random.default_rng(seed)
        x, y, what = rng.random((count, 3 * 32 * 32), dtype=np.float32), rng.integers(0, 10, count), "random uniform images"
    out = []
    for b in range(n):
        lo = b * RESNET["batch"]
        xb = evsim.encode(x[lo : lo + RESNET["batch"]], T, RESNET["encoder"]).reshape(T, -1, 3, 32, 32)
        out.append((torch.from_numpy(xb), torch.as_tensor(y[lo : lo + RESNET["batch"]], dtype=torch.int64)))
    return out, what


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(sides: dict[str, Side], batches: list, rounds: int, desc: str) -> dict[str, dict[str, np.ndarray]]:
    """{side: {"wall", "cpu": (rounds,) seconds per batch, "loss": (rounds,) mean loss}}."""
    for side in sides.values():  # warm-up: compile the kernels, size the allocator
        side.step(*batches[0])
    out = {name: {"wall": np.zeros(rounds), "cpu": np.zeros(rounds), "loss": np.zeros(rounds)} for name in sides}
    names = list(sides)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            losses: list[float] = []
            wall, cpu = _timed(lambda: losses.extend(sides[name].step(x, y) for x, y in batches))
            out[name]["wall"][r], out[name]["cpu"][r] = wall / len(batches), cpu / len(batches)
            out[name]["loss"][r] = float(np.mean(losses))
        print(f"  {desc} round {r + 1}/{rounds}: " + ", ".join(f"{n} {out[n]['wall'][r]:.3f} s" for n in names), flush=True)
    return out


def ratios(times: dict[str, dict[str, np.ndarray]], net: str) -> dict[str, float]:
    """peer/ours and torch-loop/kernels, median seconds per batch, wall and CPU (NaN without the peer)."""
    med = {name: {k: float(np.median(v[k])) for k in ("wall", "cpu")} for name, v in times.items()}
    peer = PEERS[net]
    out = {}
    for rule in RULES:
        for clock in ("wall", "cpu"):
            ours = med[rule][clock]
            out[f"{rule}_vs_{peer}_{clock}"] = med[peer][clock] / ours if peer in med else float("nan")
            out[f"{rule}_torch_vs_{peer}_{clock}"] = (med[peer][clock] / med[rule + "_torch"][clock]
                                                      if peer in med else float("nan"))  # fmt: skip
            out[f"{rule}_kernels_vs_torch_loop_{clock}"] = med[rule + "_torch"][clock] / ours
    return out


def report(net: str, times, r: dict[str, float]) -> None:
    peer = PEERS[net]
    print(f"\n{net}: seconds per batch (median of {len(next(iter(times.values()))['wall'])} rounds)")
    for name, t in times.items():
        print(f"  {name:<14}{np.median(t['wall']):>8.3f} s wall{np.median(t['cpu']):>8.3f} s CPU   loss {t['loss'][-1]:.3f}")
    for rule in RULES:
        print(f"  {rule} vs {peer}: {r[f'{rule}_vs_{peer}_wall']:.2f}x wall, {r[f'{rule}_vs_{peer}_cpu']:.2f}x CPU"
              f" (target >= {TARGETS[rule]}x); torch loop vs {peer}: {r[f'{rule}_torch_vs_{peer}_wall']:.2f}x wall;"
              f" kernels vs torch loop: {r[f'{rule}_kernels_vs_torch_loop_wall']:.2f}x wall,"
              f" {r[f'{rule}_kernels_vs_torch_loop_cpu']:.2f}x CPU")  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios bench_training", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 MLP and 1 ResNet batch (a smoke test)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per side (median reported)")
    parser.add_argument("--mlp-batches", type=int, default=20, help="MLP batches per side and round")
    parser.add_argument("--resnet-batches", type=int, default=3, help="ResNet batches per side and round")
    parser.add_argument("--nets", default="mlp,resnet", help="comma-separated: mlp, resnet")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default="results/bench_training.h5")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.mlp_batches, args.resnet_batches = 2, 5, 1
    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    if not nets or set(nets) - set(PEERS):
        parser.error(f"--nets takes a comma-separated list of {sorted(PEERS)}, got {args.nets!r}")
    if min(args.rounds, args.mlp_batches, args.resnet_batches, args.threads) < 1:
        parser.error("--rounds, --mlp-batches, --resnet-batches and --threads must be >= 1")
    import numba

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    root = data_dir(args.data)
    missing: dict[str, str] = {}
    data, sources = {}, {}
    for net in nets:
        batches, sources[net] = (mlp_batches if net == "mlp" else resnet_batches)(
            args.mlp_batches if net == "mlp" else args.resnet_batches, args.seed, root
        )
        sides = build_sides(net, args.seed, missing)
        print(f"{net}: {len(batches)} batches x {args.rounds} rounds per side, {args.threads} thread(s), sides {list(sides)}")
        times = measure(sides, batches, args.rounds, net)
        r = ratios(times, net)
        report(net, times, r)
        for name, t in times.items():
            data |= {f"{net}/{name}/{k}_seconds_per_batch" if k != "loss" else f"{net}/{name}/loss": v for k, v in t.items()}
        data |= {f"{net}/ratios/{k}": v for k, v in r.items()}
    print("\nTargets (peer's time over ours, median wall / CPU):")
    for net in nets:
        for rule in RULES:
            key = f"{net}/ratios/{rule}_vs_{PEERS[net]}"
            wall, cpu = data[key + "_wall"], data[key + "_cpu"]
            verdict = "met" if min(wall, cpu) >= TARGETS[rule] else ("not met" if np.isfinite(wall) else "not measured")
            print(f"  {rule:<7} vs {PEERS[net]:<13} ({net}): {wall:5.2f}x wall {cpu:5.2f}x CPU  target {TARGETS[rule]}x: {verdict}")
    versions = {}
    for package in ("snntorch", "spikingjelly", "numba"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[f"{package}_version"] = version(package)
    settings = {
        "scenario": "bench_training", "nets": nets, "threads": args.threads, "numba_threads": numba.get_num_threads(),
        "rounds": args.rounds, "quick": args.quick, "seed": args.seed, "T": T, "lr": LR, "weight_decay": WEIGHT_DECAY,
        "optimizer": "AdamW", "loss": "cross-entropy on spike counts (rate decoding)", "bptt": "full",
        "statistic": "median over rounds of seconds per batch; ratios = peer (or torch loop) over ours",
        "order": "sides alternate their order every round", "mlp_batches": args.mlp_batches,
        "mlp_batch_size": MLP["batch"], "mlp_architecture": "784-500-10", "mlp_tau": MLP["tau"],
        "mlp_encoder": MLP["encoder"], "mlp_data": sources.get("mlp", ""), "resnet_batches": args.resnet_batches,
        "resnet_batch_size": RESNET["batch"], "resnet_width": RESNET["width"], "resnet_tau": RESNET["tau"],
        "resnet_encoder": RESNET["encoder"], "resnet_data": sources.get("resnet", ""),
        "spikingjelly_model": "multi-step LIFNode ResNet18 (tau 2, v_reset 0, Sigmoid alpha 5, CPU torch implementation)",
        "snntorch_model": "Synaptic 784-500-10 (sigmoid slope 5, reset zero)", "missing_peers": sorted(missing),
        "targets": "actbp >= 2x, tempbp >= 1.5x both peers", "torch_version": str(torch.__version__),
        "machine": platform.processor() or platform.machine(), **versions,
    }  # fmt: skip
    print(f"\nwrote {write_results(args.out, data, settings)}")


if __name__ == "__main__":
    main()
