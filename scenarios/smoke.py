"""A small end-to-end scenario with every kind of work a long run does, for reliability tests.

Fig. 2's pipeline in miniature on a subset of MNIST: a victim ReLU ANN 784-100-10 and two attacker
ANNs are trained (model zoo, content-keyed checkpoints), the attackers craft black-box FGSM images
(eps 0.1), the victim is converted to IF neurons (T = 12) and simulated in evsim with three
encodings, clean and attacked; the result file holds accuracies and SOPs and every stage's
provenance. It prints `phase <what>` lines on stderr (training, attack, simulation, writing) so a
test can interrupt it at a chosen moment. Its stages and models resume like the real scenarios'.

    python -m scenarios.smoke --out results/smoke.h5 [--train-samples 1000] [--test-samples 100]
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

from .content import content_hash
from .models import get_ann, load_split
from .results import StageCache, write_results

ENCODERS = ("current", "poisson", "ratesyn_e")
T = 12
EPS = 0.1
ATTACKER_SEEDS = (1, 2)


def phase(what: str) -> None:
    print(f"phase {what}", file=sys.stderr, flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios.smoke", description=__doc__.split("\n")[0])
    parser.add_argument("--train-samples", type=int, default=1000, help="training images (1..60000)")
    parser.add_argument("--test-samples", type=int, default=100, help="test images (1..10000)")
    parser.add_argument("--epochs", type=int, default=2, help="ANN epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the encoders' random draws")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default=None, help="data directory (default: $EVSIM_DATA or data/)")
    parser.add_argument("--out", default="results/smoke.h5")
    parser.add_argument("--recompute", action="store_true", help="recompute every stage")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.threads < 1:
        parser.error("--epochs and --threads must be >= 1")
    if not 1 <= args.train_samples <= 60000 or not 1 <= args.test_samples <= 10000:
        parser.error("--train-samples must lie in 1..60000, --test-samples in 1..10000")
    torch.set_num_threads(args.threads)
    root = data_dir(args.data)
    train = load_split("mnist", "train", args.train_samples, root=root)
    test = load_split("mnist", "test", args.test_samples, root=root)
    settings = {
        "scenario": "smoke", "dataset": "mnist", "train_samples": len(train.y), "test_samples": len(test.y),
        "ann_epochs": args.epochs, "T": T, "attack": "fgsm", "attack_eps": EPS, "attacker_seeds": list(ATTACKER_SEEDS),
        "encoders": list(ENCODERS), "encoder_seed": args.seed,
    }  # fmt: skip
    stages = StageCache(args.out, settings, code="scenarios.smoke", recompute=args.recompute)
    tag = f"_n{len(train.y)}"
    phase("training")
    victim = get_ann("mnist", train, test, args.epochs, 0, tag)[0]
    attackers = [get_ann("mnist", train, test, args.epochs, s, tag)[0] for s in ATTACKER_SEEDS]
    net = convert(victim, torch.from_numpy(train.x), percentile=99.9)
    x, y = test.x, test.y
    inputs = {"test": test.content, "attackers": content_hash(attackers)}

    def attack():
        phase("attack")
        adv = black_box(attackers, torch.from_numpy(x), torch.from_numpy(y), "fgsm", eps=EPS)
        return {"x_adv": np.stack([a.numpy() for a in adv])}

    x_adv = stages.get("adv", attack, inputs=inputs)["x_adv"]
    data: dict[str, object] = {}
    with torch.no_grad():
        data["ann/accuracy_clean"] = float((victim(torch.from_numpy(x)).argmax(1).numpy() == y).mean())
    snn_inputs = {"test": test.content, "snn": content_hash(net), "adv": stages.keys["adv"]}
    for encoder in ENCODERS:
        def simulate(encoder=encoder):
            phase(f"simulation {encoder}")
            out = {}
            for name, images in [("clean", x)] + [(f"attacker{s}", a) for s, a in zip(ATTACKER_SEEDS, x_adv)]:
                spikes = evsim.encode(images, T, encoder, seed=np.random.default_rng([args.seed, 0]))
                res = evsim.simulate(net, spikes, decoder="rate")
                out[f"{name}/taacc"] = metrics.taacc(res.output_spikes, y, "rate")
                out[f"{name}/sops"] = res.sops.mean(axis=0)
            return out

        for key, value in stages.get(f"snn_{encoder}", simulate, inputs=snn_inputs).items():
            data[f"snn/{encoder}/{key}"] = value
    phase("writing")
    write_results(args.out, data, settings, stages=stages)
    phase("done")


if __name__ == "__main__":
    main()
