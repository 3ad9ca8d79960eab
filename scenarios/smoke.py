"""A small end-to-end scenario with every kind of work a long run does, for reliability tests.

Fig. 2's pipeline in miniature on a subset of MNIST: a victim ReLU ANN 784-100-10 and two attacker
ANNs are trained (model zoo, content-keyed checkpoints), the attackers craft black-box FGSM images
(eps 0.1), the victim is converted to IF neurons (T = 12) and simulated in evsim with three
encodings, clean and attacked; the result file holds accuracies and SOPs and every stage's
provenance. It prints `phase <what>` lines on stderr (training, attack, simulation, writing) so a
test can interrupt it at a chosen moment. Its stages and models resume like the real scenarios'.

Its work is written as pure tasks (`scenarios.machinery.tasks`): each model is trained by one task, the
attack task reads the attackers' weights, each simulation task the victim's and the attack's
output. Serially they run one after another in this process; with `--ray [ADDRESS]` they run as
Ray tasks (a local Ray with --workers CPUs, or a cluster), the three models at once, then the
simulations at once; the driver alone writes stage files and the result.

    python -m scenarios.smoke --out results/smoke.h5 [--train-samples 1000] [--test-samples 100] [--ray [ADDRESS]]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

import evsim
from bridges.attacks import black_box
from bridges.conversion import convert
from bridges.datasets import data_dir
from evsim import metrics

from .machinery.accuracy import ann_accuracy
from .machinery.content import content_hash
from .machinery.job import run_job
from .machinery.model_tasks import train_models
from .machinery.simulation import simulate_chunks

from .setups.models import AnnZoo, load_split

ENCODERS = ("current", "poisson", "ratesyn_e")
T = 12
EPS = 0.1
ATTACKER_SEEDS = (1, 2)


def phase(what: str) -> None:
    print(f"phase {what}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ tasks: values in, values out


def attack_task(x: np.ndarray, y: np.ndarray, *attackers) -> dict:
    """Black-box FGSM images (attackers, N, 784) of x from each attacker."""
    phase("attack")
    adv = black_box(list(attackers), torch.from_numpy(x), torch.from_numpy(y), "fgsm", eps=EPS)
    return {"x_adv": np.stack([a.numpy() for a in adv])}


def measure(net: evsim.Network, res: evsim.SimulationResult) -> dict:
    return {"output_spikes": res.output_spikes, "sops": res.sops}


def simulate_task(encoder: str, seed: int, x: np.ndarray, y: np.ndarray, adv: dict, victim, train_x: np.ndarray) -> dict:
    """The converted victim in evsim on clean and attacked images (each set in one chunk, a dense
    batch): TAAcc and SOPs per run."""
    phase(f"simulation {encoder}")
    net = convert(victim, torch.from_numpy(train_x), percentile=99.9)
    out = {}
    for name, images in [("clean", x)] + [(f"attacker{s}", a) for s, a in zip(ATTACKER_SEEDS, adv["x_adv"])]:
        res = simulate_chunks(net, images, T, encoder, measure, chunk=len(images), seed=seed, inputs="dense", decoder="rate")
        out[f"{name}/taacc"] = metrics.taacc(res["output_spikes"], y, "rate")
        out[f"{name}/sops"] = res["sops"].mean(axis=0)
    return out


# ------------------------------------------------------------------ the driver


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios.smoke", description=__doc__.split("\n")[0])
    parser.add_argument("--train-samples", type=int, default=1000, help="training images (1..60000)")
    parser.add_argument("--test-samples", type=int, default=100, help="test images (1..10000)")
    parser.add_argument("--epochs", type=int, default=2, help="ANN epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the encoders' random draws")
    parser.add_argument("--threads", type=int, default=1, help="threads per task")
    parser.add_argument("--data", default=None, help="data directory (default: $EVSIM_DATA or data/)")
    parser.add_argument("--out", default="results/smoke.h5")
    parser.add_argument("--recompute", action="store_true", help="recompute every stage")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run the tasks on Ray: a local instance, or the cluster at ADDRESS")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None, help="CPUs of the local Ray (default: all)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.threads < 1 or (args.workers is not None and args.workers < 1):
        parser.error("--epochs, --threads and --workers must be >= 1")
    if not 1 <= args.train_samples <= 60000 or not 1 <= args.test_samples <= 10000:
        parser.error("--train-samples must lie in 1..60000, --test-samples in 1..10000")
    torch.set_num_threads(args.threads)
    root = str(data_dir(args.data).resolve())
    train = load_split("mnist", "train", args.train_samples, root=root)
    test = load_split("mnist", "test", args.test_samples, root=root)
    settings = {
        "scenario": "smoke", "dataset": "mnist", "train_samples": len(train.y), "test_samples": len(test.y),
        "ann_epochs": args.epochs, "T": T, "attack": "fgsm", "attack_eps": EPS, "attacker_seeds": list(ATTACKER_SEEDS),
        "encoders": list(ENCODERS), "encoder_seed": args.seed, "threads_per_task": args.threads,
    }  # fmt: skip
    run_job(args, settings, "scenarios.smoke", lambda runner, stages: run(args, runner, stages, train, test), phase=phase)


def run(args, runner, stages, train, test) -> dict:
    """Submit the tasks whose stages are not finished, save each stage as it arrives; the datasets."""
    x, y, cpus = test.x, test.y, args.threads
    phase("training")
    zoo = AnnZoo("mnist", train, test, args.epochs, f"_n{len(train.y)}")
    handles, anns = train_models(runner, zoo, [("ann", s) for s in (0, *ATTACKER_SEEDS)], cpus)
    trained = {s: handles[("ann", s)] for s in (0, *ATTACKER_SEEDS)}
    models = {s: anns[("ann", s)] for s in (0, *ATTACKER_SEEDS)}  # the keys need the weights
    net = convert(models[0], torch.from_numpy(train.x), percentile=99.9)
    attack_inputs = {"test": test.content, "attackers": content_hash([models[s] for s in ATTACKER_SEEDS])}
    adv = stages.lookup("adv", attack_inputs)
    pending = {}
    if adv is None:
        adv = pending["adv"] = runner.submit(attack_task, x, y, *[trained[s] for s in ATTACKER_SEEDS], cpus=cpus)
    adv_key = stages.key("adv", attack_inputs)
    snn_inputs = {"test": test.content, "snn": content_hash(net), "adv": adv_key}
    results = {}
    for encoder in ENCODERS:
        name = f"snn_{encoder}"
        results[name] = stages.lookup(name, snn_inputs)
        if results[name] is None:
            pending[name] = runner.submit(simulate_task, encoder, args.seed, x, y, adv, trained[0], train.x, cpus=cpus)
    names = {id(h): n for n, h in pending.items()}
    for handle in runner.as_completed(list(pending.values())):  # each saved as soon as it is done
        name, done = names[id(handle)], runner.outcome(handle)
        inputs = attack_inputs if name == "adv" else snn_inputs
        results[name] = stages.store(name, done.value, inputs, seconds=done.seconds, host=done.host)
    data: dict[str, object] = {}
    data["ann/accuracy_clean"] = ann_accuracy(models[0], x, y)
    for encoder in ENCODERS:
        for key, value in results[f"snn_{encoder}"].items():
            data[f"snn/{encoder}/{key}"] = value
    return data


if __name__ == "__main__":
    main()
