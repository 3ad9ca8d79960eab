"""The Fashion-MNIST set-up that Fig. 3 and Fig. 4 share: models, black-box FGSM, evsim runs.

784-500-10 without bias; SNNs of LIF neurons (tau_m = tau_s = 10, theta 1, hard reset), T = 10
(SPEC Table 1). The victim models are trained with seed 0; five ReLU ANNs trained with seeds
1-5 craft the black-box attacks, and accuracies under attack are means over the five. Every
model comes from `scenarios.setups.models` (trained once, cached in models/, shared by both scenarios).

- `setup`: the command line both share (quick or --full, epochs, image counts, threads, --ray),
  checked, and the data it asks for;
- `Run.train_models`: every model the scenario needs trained (or reloaded from models/) by one
  task (`scenarios.machinery.model_tasks`), and the models the tasks returned;
- `Zoo`: the models of one run (epochs, seeds), trained or reloaded on first use (inside a model
  task); `Trained`: the models the tasks returned, as the driver sees them;
- `black_box_fgsm`: the five attackers' FGSM images of a test set at one eps;
- `simulate_images`: an SNN run in evsim on images, chunk by chunk, with TTFS early exit for
  TTFS decoding, returning per-sample predictions, decision steps and exact operation counts.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

import numpy as np
import torch

import evsim
from bridges.attacks import black_box
from bridges.conversion import copy_to_snn
from bridges.datasets import data_dir
from bridges.snn import SpikingMLP
from evsim import energy

from .models import SNN_SETTINGS, Split, get_ann, get_snn, load_split
from ..machinery.model_tasks import train_models
from ..machinery.simulation import simulate_chunks
from ..machinery.tasks import available_cpus

DATASET = "fashion-mnist"
NEURON, T = SNN_SETTINGS[DATASET]
ARCHITECTURE = "784-500-10"
VICTIM_SEED = 0
ATTACKER_SEEDS = (1, 2, 3, 4, 5)
SWEEP = tuple(round(0.05 * i, 2) for i in range(11))  # FGSM eps 0 .. 0.5 (Figs. 3B, 4C)
EPS = 0.1  # Figs. 3C, 4D, 4F
CHUNK = 2000  # images per evsim batch: (T, CHUNK, 784) float32 is 63 MB


@dataclass(frozen=True)
class Run:
    """What the command line asked for, defaults resolved, and the data."""

    args: argparse.Namespace
    full: bool
    ann_epochs: int
    snn_epochs: int
    loss_samples: int  # images for Eq. 31-32
    train: Split
    test: Split

    def train_models(self, runner, wanted: list[tuple]) -> tuple[dict, Trained]:
        """Train (or reload) the models `wanted` (("ann", seed) or ("snn", rule, encoder, decoder,
        seed)), each by one task with --threads threads, all at once on Ray. Returns their handles
        (for the evaluation tasks that read a model) and the models themselves (for the stage keys)."""
        zoo = Zoo(self.train, self.test, self.ann_epochs, self.snn_epochs, full_train=len(self.train.y) == 60000)
        handles, got = train_models(runner, zoo, wanted, self.args.threads)
        return handles, Trained(got)

    def settings(self, scenario: str) -> dict:
        """The settings both scenarios record as attributes of their result files."""
        return {
            "scenario": scenario, "mode": "full" if self.full else "quick", "dataset": DATASET,
            "architecture": ARCHITECTURE, "bias": False, "ann_epochs": self.ann_epochs,
            "snn_epochs": self.snn_epochs, "ann_lr": 1e-3, "snn_lr": 5e-4, "optimizer": "AdamW", "weight_decay": 0.01,
            "batch_size": 128, "neuron": "lif", "tau_m": NEURON.tau_m, "tau_s": NEURON.tau_s,
            "theta": NEURON.theta, "reset": NEURON.reset, "T": T, "victim_seed": VICTIM_SEED,
            "attacker_seeds": list(ATTACKER_SEEDS), "attack_setting": "black-box FGSM from ReLU ANNs unless stated",
            "train_samples": len(self.train.y), "test_samples": len(self.test.y), "loss_samples": self.loss_samples,
            "encoder_seed": self.args.seed, "threads": self.args.threads,
        }  # fmt: skip


def setup(name: str, description: str, argv=None, add_arguments=None) -> Run:
    """Parse and check the command line of scenario `name` ("fig3", "fig4"), set torch's threads,
    load the data and print what runs. add_arguments(parser): the scenario's own options."""
    parser = argparse.ArgumentParser(prog=f"python -m scenarios {name}", description=description)
    parser.add_argument("--full", action="store_true", help="the paper's settings: 100 epochs")
    parser.add_argument("--ann-epochs", type=int, default=None, help="override the ANN epochs (quick 5, full 100)")
    parser.add_argument("--snn-epochs", type=int, default=None, help="override the SNN epochs (quick 5, full 100)")
    parser.add_argument("--train-samples", type=int, default=60000, help="training images (default all; fewer only for smoke tests)")
    parser.add_argument("--test-samples", type=int, default=10000, help="test images (default all 10000)")
    parser.add_argument("--loss-samples", type=int, default=None, help="images for Eq. 31-32 (quick 500, full 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the encoders' random draws and of the attacks")
    parser.add_argument("--threads", type=int, default=available_cpus())
    parser.add_argument("--data", default=None, help="data directory (default: $EVSIM_DATA or data/)")
    parser.add_argument("--out", default=f"results/{name}.h5")
    parser.add_argument("--recompute", action="store_true", help="recompute every stage, ignoring the finished ones beside --out")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run the training and evaluation tasks on Ray: a local instance, or the cluster at ADDRESS")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None, help="CPUs of the local Ray (default: all)")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    ann_epochs = (100 if args.full else 5) if args.ann_epochs is None else args.ann_epochs
    snn_epochs = (100 if args.full else 5) if args.snn_epochs is None else args.snn_epochs
    n_loss = (1000 if args.full else 500) if args.loss_samples is None else args.loss_samples
    if min(ann_epochs, snn_epochs, args.threads) < 1:
        parser.error("epochs and --threads must be >= 1")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be >= 1")
    if not 1 <= args.train_samples <= 60000 or not 1 <= args.test_samples <= 10000:
        parser.error("--train-samples must lie in 1..60000, --test-samples in 1..10000")
    if not 1 <= n_loss <= args.test_samples:
        parser.error("--loss-samples must lie in 1..--test-samples")
    torch.set_num_threads(args.threads)
    root = data_dir(args.data)
    train = load_split(DATASET, "train", args.train_samples, root=root)
    test = load_split(DATASET, "test", args.test_samples, root=root)
    mode = "full (paper settings)" if args.full else f"quick ({ann_epochs} ANN / {snn_epochs} SNN epochs instead of the paper's 100)"
    print(f"{name} on Fashion-MNIST, {mode}, {len(test.y)} test images; T={T}, {args.threads} thread(s)")
    return Run(args, args.full, ann_epochs, snn_epochs, n_loss, train, test)


@dataclass
class Zoo:
    """The models of one run, trained (or reloaded from models/) the first time they are asked for."""

    train: Split
    test: Split
    ann_epochs: int
    snn_epochs: int
    full_train: bool = True  # False: trained on a subset, checkpoints tagged with its size
    _cache: dict = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return "" if self.full_train else f"_n{len(self.train.y)}"

    def ann(self, seed: int = VICTIM_SEED):
        key = ("ann", seed)
        if key not in self._cache:
            self._cache[key] = get_ann(DATASET, self.train, self.test, self.ann_epochs, seed, self.tag)[0].eval()
        return self._cache[key]

    def attackers(self) -> list:
        return [self.ann(s) for s in ATTACKER_SEEDS]

    def cvt(self, seed: int = VICTIM_SEED) -> SpikingMLP:
        """The ANN of `seed` with its weights copied into LIF layers (the paper's CVT)."""
        return copy_to_snn(self.ann(seed), NEURON)

    def snn(self, rule: str, encoder: str, decoder: str = "rate", seed: int = VICTIM_SEED) -> SpikingMLP:
        key = (rule, encoder, decoder, seed)
        if key not in self._cache:
            model = get_snn(DATASET, rule, encoder, self.train, self.test, self.snn_epochs, decoder, seed, self.tag)[0]
            self._cache[key] = model.eval()
        return self._cache[key]

    def get(self, key: tuple):
        """The model named by ("ann", seed) or ("snn", rule, encoder, decoder, seed)."""
        return self.ann(key[1]) if key[0] == "ann" else self.snn(*key[1:])


@dataclass(frozen=True)
class Trained:
    """The models the model tasks returned, keyed as `Zoo.get`'s keys; asking for one that was not
    trained is an error (every model comes from its task, trained once)."""

    models: dict

    def get(self, key: tuple):
        if key not in self.models:
            raise KeyError(f"model {key} was not among the models this scenario trained: add it to the list it trains")
        return self.models[key]

    def ann(self, seed: int = VICTIM_SEED):
        return self.get(("ann", seed))

    def attackers(self) -> list:
        return [self.ann(s) for s in ATTACKER_SEEDS]

    def cvt(self, seed: int = VICTIM_SEED) -> SpikingMLP:
        """The ANN of `seed` with its weights copied into LIF layers (the paper's CVT)."""
        return copy_to_snn(self.ann(seed), NEURON)

    def snn(self, rule: str, encoder: str, decoder: str = "rate", seed: int = VICTIM_SEED) -> SpikingMLP:
        return self.get(("snn", rule, encoder, decoder, seed))


def black_box_fgsm(attackers, x: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
    """FGSM images (attackers, N, 784) float32 of x (N, 784) at `eps`, one set per attacker ANN.

    eps 0 gives copies of x. FGSM is deterministic: recomputing it is cheaper than storing it.
    """
    if eps == 0:
        return np.stack([x] * len(attackers))
    adv = black_box(attackers, torch.from_numpy(x), torch.from_numpy(y), "fgsm", eps=eps)
    return np.stack([a.numpy() for a in adv])


def simulate_images(
    net: evsim.Network,
    x: np.ndarray,
    encoder: str,
    decoder: str,
    seed: int,
    early_exit: bool | None = None,
    with_energy: bool = False,
) -> dict[str, np.ndarray]:
    """Run `net` in evsim on images x (N, 784) in [0, 1] encoded with `encoder`, in chunks.

    early_exit: stop each sample at its TTFS decision (default: exactly when decoder is "ttfs").
    Poisson draws depend on (seed, chunk), so clean and attacked images of a chunk see the same u.
    Returns per sample: predictions (N,), first_spike_step (N,) (T when the output stays silent),
    exit_step (N,), steps (N,) simulated, sops and macs (N, L) exact; the output spikes (T, N, 10)
    for TAAcc; with_energy also sops_estimate (N, L) (xi FLOP, Eq. 33) and the energy (pJ) per
    sample of the paper's model (Eq. 34-37) from the estimate and from the exact counts.
    """
    exit_now = decoder == "ttfs" if early_exit is None else early_exit

    def measure(net: evsim.Network, res: evsim.SimulationResult) -> dict:
        got = {
            "predictions": res.predictions, "first_spike_step": res.first_spike_step, "exit_step": res.exit_step,
            "steps": res.steps, "sops": res.sops, "macs": res.macs, "output_spikes": res.output_spikes,
        }  # fmt: skip
        if with_energy:
            got["sops_estimate"] = energy.sop_estimate(net, res)
            got["energy_pj"] = energy.snn_energy(net, res).total_energy_pj
            got["energy_exact_pj"] = energy.snn_energy_exact(net, res).total_energy_pj
        return got

    return simulate_chunks(net, x, T, encoder, measure, chunk=CHUNK, seed=seed, inputs="dense", decoder=decoder, early_exit=exit_now)
