"""Training benchmark: seconds per epoch of Act-BP and Temp-BP against snnTorch's Act-BP.

Fashion-MNIST, 784-500-10 LIF (tau_m = tau_s = 10, theta = 1), T = 10, RateSynE encoding, rate
decoding, cross-entropy on spike counts, AdamW lr 5e-4, batch 128, full BPTT, same thread count,
all measured in this run on the same batches. snnTorch's network is the closest equivalent:
Linear + `snntorch.Synaptic` (alpha = beta = 0.9, sigmoid surrogate of slope 5, reset to zero) with
the 1/tau_s input gain folded into its weights. snnTorch resets one step late and resets the
synaptic current too, so its spikes differ slightly; the work per step is the same.
Needs the benchmark extra: pip install -e '.[bench]'.

    python -m scenarios bench_training [--samples 60000] [--threads N] [--out results/bench_training.h5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from tqdm import tqdm

import evsim
from bridges.datasets import data_dir
from bridges.snn import SpikingMLP, decoder_scores

from ..setups.models import load_split
from ..machinery.results import write_results

T, TAU, BATCH, LR = 10, 10.0, 128, 5e-4


class SnnTorchMLP(torch.nn.Module):
    """784-500-10 of snntorch.Synaptic neurons, stepped over time by hand (snnTorch's idiom)."""

    def __init__(self, sizes):
        super().__init__()
        import snntorch
        from snntorch import surrogate

        decay = 1 - 1 / TAU
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b, bias=False) for a, b in zip(sizes[:-1], sizes[1:]))
        for layer in self.layers:
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        self.neurons = torch.nn.ModuleList(
            snntorch.Synaptic(alpha=decay, beta=decay, threshold=1.0, spike_grad=surrogate.sigmoid(slope=5), reset_mechanism="zero")
            for _ in self.layers
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (T, B, 784) spikes -> output spikes (T, B, 10)."""
        states = [n.init_synaptic() for n in self.neurons]
        out = []
        for k in range(x.shape[0]):
            s = x[k]
            for i, (layer, neuron) in enumerate(zip(self.layers, self.neurons)):
                s, syn, mem = neuron(layer(s) / TAU, *states[i])
                states[i] = (syn, mem)
            out.append(s)
        return torch.stack(out)


def epoch_seconds(model, forward, x: np.ndarray, y: np.ndarray, desc: str) -> tuple[float, float]:
    """Train one epoch over (x, y) in fixed batches; returns (seconds, mean loss)."""
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    labels = torch.as_tensor(y)
    total, start = 0.0, time.perf_counter()
    for b, lo in enumerate(tqdm(range(0, len(x), BATCH), desc=desc, unit="batch", leave=False)):
        xb = torch.from_numpy(evsim.encode(x[lo : lo + BATCH], T, "ratesyn_e"))
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(decoder_scores(forward(model, xb), "rate"), labels[lo : lo + BATCH])
        loss.backward()
        opt.step()
        total += loss.item() * len(xb[0])
    return time.perf_counter() - start, total / len(x)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios bench_training", description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=60000, help="training images per epoch (max 60000)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default="results/bench_training.h5")
    args = parser.parse_args(argv)
    if not 1 <= args.samples <= 60000 or args.threads < 1:
        parser.error("--samples must lie in 1..60000 and --threads be >= 1")
    try:
        import snntorch  # noqa: F401
    except ImportError:
        parser.error("snnTorch is missing: pip install -e '.[bench]'")
    torch.set_num_threads(args.threads)
    train = load_split("fashion-mnist", "train", args.samples, root=data_dir(args.data))
    sizes, neuron = [784, 500, 10], evsim.LIF(TAU, TAU)
    runs = {
        "actbp": lambda: SpikingMLP(sizes, neuron, "actbp"),
        "tempbp": lambda: SpikingMLP(sizes, neuron, "tempbp"),
        "snntorch": lambda: SnnTorchMLP(sizes),
    }
    forwards = {"actbp": lambda m, x: m(x).spikes, "tempbp": lambda m, x: m(x).spikes, "snntorch": lambda m, x: m(x)}
    seconds, losses = {}, {}
    for name, build in runs.items():
        torch.manual_seed(args.seed)
        seconds[name], losses[name] = epoch_seconds(build(), forwards[name], train.x, train.y, name)
    n = len(train.y)
    print(f"\nOne training epoch of {n} Fashion-MNIST images, 784-500-10 LIF, T={T}, batch {BATCH}, {args.threads} thread(s):")
    for name in runs:
        print(f"  {name:<10}{seconds[name]:>8.1f} s  ({n / seconds[name]:>7,.0f} samples/s, loss {losses[name]:.3f})"
              f"  {seconds['snntorch'] / seconds[name]:.2f}x snnTorch's speed")  # fmt: skip
    settings = {
        "scenario": "bench_training", "dataset": "fashion-mnist", "samples": n, "threads": args.threads,
        "seed": args.seed, "T": T, "tau_m": TAU, "tau_s": TAU, "encoder": "ratesyn_e", "decoder": "rate",
        "batch_size": BATCH, "lr": LR, "architecture": "784-500-10", "runs": list(runs),
    }  # fmt: skip
    data = {f"seconds_per_epoch/{k}": v for k, v in seconds.items()} | {f"loss/{k}": v for k, v in losses.items()}
    print(f"\nwrote {write_results(args.out, data, settings)}")


if __name__ == "__main__":
    main()
