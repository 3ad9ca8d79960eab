"""Train Fashion-MNIST SNNs with Act-BP and Temp-BP for every encoder, against the ReLU ANN.

784-500-10, no bias; SNNs: LIF tau_m = tau_s = 10, theta = 1, T = 10, rate decoding,
cross-entropy on spike counts, AdamW lr 5e-4 (ANN 1e-3), weight decay 0.01, batch 128. Test
accuracy after every epoch is measured in evsim (the exported network, abstentions wrong).
Models are cached in models/ and reused; an interrupted run resumes. Results:
results/train_fmnist.h5, rewritten (atomically) after every finished model.

    python -m scenarios train_fmnist [--epochs 12] [--rules actbp tempbp] [--encoders ...]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import evsim
from bridges.datasets import data_dir

from ..setups.models import SNN_SETTINGS, get_ann, get_snn, load_split
from ..machinery.results import write_results
from ..machinery.tasks import available_cpus

DATASET = "fashion-mnist"
GAP = 0.03  # the bar: within 3 points of the ANN


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios train_fmnist", description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12, help="SNN training epochs")
    parser.add_argument("--ann-epochs", type=int, default=12, help="ANN training epochs")
    parser.add_argument("--rules", nargs="+", default=["actbp", "tempbp"], choices=["actbp", "tempbp"])
    parser.add_argument("--encoders", nargs="+", default=list(evsim.ENCODERS), choices=evsim.encoding.encoder_names(),
                        help="built-in or registered encoders (python -m scenarios --import MODULE registers them)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=available_cpus())
    parser.add_argument("--data", default=None, help="data directory (default: $EVSIM_DATA or data/)")
    parser.add_argument("--out", default="results/train_fmnist.h5")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.ann_epochs < 1 or args.threads < 1:
        parser.error("--epochs, --ann-epochs and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    root = data_dir(args.data)
    train, test = load_split(DATASET, "train", root=root), load_split(DATASET, "test", root=root)
    neuron, T = SNN_SETTINGS[DATASET]
    print(f"{DATASET} from {root}: {len(train.y)} train / {len(test.y)} test images; {args.threads} thread(s)")

    settings = {
        "scenario": "train_fmnist", "dataset": DATASET, "architecture": "784-500-10", "bias": False,
        "neuron": "lif", "tau_m": neuron.tau_m, "tau_s": neuron.tau_s, "theta": neuron.theta, "T": T,
        "decoder": "rate", "loss": "cross-entropy on spike counts", "optimizer": "AdamW", "snn_lr": 5e-4,
        "ann_lr": 1e-3, "weight_decay": 0.01, "batch_size": 128, "snn_epochs": args.epochs,
        "ann_epochs": args.ann_epochs, "seed": args.seed, "threads": args.threads, "rules": args.rules,
        "encoders": args.encoders, "accuracy_measured_in": "evsim (float32), abstentions counted wrong",
    }  # fmt: skip
    datasets: dict[str, object] = {}

    def record(prefix: str, history: list[dict]) -> None:
        for key in ("accuracy", "loss", "seconds"):
            datasets[f"{prefix}/{key}"] = np.array([h[key] for h in history])
        write_results(args.out, datasets, settings)

    _, ann_history = get_ann(DATASET, train, test, args.ann_epochs, args.seed)
    record("ann", ann_history)
    ann_acc = ann_history[-1]["accuracy"]
    rows = []
    for rule in args.rules:
        for encoder in args.encoders:
            _, history = get_snn(DATASET, rule, encoder, train, test, args.epochs, seed=args.seed)
            record(f"{rule}/{encoder}", history)
            rows.append((rule, encoder, history))

    print(f"\nClean test accuracy after {args.epochs} epochs (ANN after {args.ann_epochs}: {ann_acc:.4f}):")
    print(f"  {'rule':<8}{'encoder':<12}{'accuracy':>10}{'vs ANN':>9}{'s/epoch':>9}  per epoch")
    for rule, encoder, history in rows:
        acc = history[-1]["accuracy"]
        per_epoch = " ".join(f"{h['accuracy']:.3f}" for h in history)
        mark = "" if acc >= ann_acc - GAP else "  (more than 3 points below)"
        print(f"  {rule:<8}{encoder:<12}{acc:>10.4f}{acc - ann_acc:>+9.4f}{np.mean([h['seconds'] for h in history]):>9.1f}  {per_epoch}{mark}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
