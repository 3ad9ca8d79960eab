"""Does the ANN start work as an SNN? A ReLU ResNet18 and one with the LIF's own response
(`bridges.lif_ann.LIFResNetANN`), trained the same short budget on CIFAR-10, copied into the Fig. 5
SNN (`init_from_ann`: LIF tau_m = tau_s = 2, theta 1, T = 10, hard reset, current encoding) and
checked before any SNN step (`bridges.lif_ann.start_check`: clean accuracy, abstention, ties), with
BatchNorm's running statistics ("eval", as evsim runs it) and with batch statistics over T x B
("batch"), optionally after per-layer activity balancing (`balance_activity`).

    python -m scenarios.setups.start_check [--train 10000] [--test 500] [--epochs 3] [--kinds relu lif]
        [--balance 256] [--threads 1] [--checkpoints DIR] [--out results.json]

Prints one table row per (ANN, decoder, BN mode, balancing); --out writes the rows as JSON.
ANNs train with AdamW (lr 1e-3, wd 0.01), the per-batch cosine schedule with warm-up, crop + flip,
and are kept in --checkpoints (a rerun reloads them).

Measured (issue 20, width 8, 10,000 training images, 500 test images, 1 thread on a shared
2-core machine): the ReLU ANN, 3 epochs (102 s), 40.2%; its copied SNN 10.0% (rate and TTFS,
running statistics), 15.6% rate / 9.6% TTFS with batch statistics (ties in 52% of the rate
decisions). The LIF ANN did not learn in that budget (loss 2.3045 after one epoch, 95 s; the
straight-through clipped line on the staircase: at the first step the stem weights' gradient
norm is 360x the classifier's, 10,000x with the ReLU slope).
Then (same settings, 1 thread on a machine loaded ~2.5-5 by other jobs): 150 Act-BP batches (64,
lr 5e-4, cosine_batch, warm-up 15, rate decoder) from the ReLU copy: 27.2% (ties 55%, 727 s).
`convert_relu` of the ReLU copy (256 images): 10.4% rate / 10.0% TTFS at the start. The clipped
line through the staircase as the ANN's activation ("lif-line", constant stem): ANN 15.6% (loss
2.26 after 3 epochs; BN init gamma 0.25, beta 0.75, inside the active zone: ANN 24.4%), its copy
10.4-13.0%: the copy breaks beyond the stem (time-varying traces), not at the activation's shape.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from bridges.lif_ann import LIFResNetANN, balance_activity, convert_relu, lif_resnet_ann_spec, recalibrate_bn, start_check
from bridges.resnet import ResNetANN, SpikingResNet, init_from_ann
from bridges.training import TrainConfig, cifar_ann_loss, fit, resnet_ann_spec

from .cifar import NEURON, T, load_cifar

KINDS = {  # name: (class, keyword arguments)
    "relu": (ResNetANN, {}),
    "lif": (LIFResNetANN, {"neuron": NEURON, "T": T}),
    "lif-constant-stem": (LIFResNetANN, {"neuron": NEURON, "T": T, "stem": "constant"}),
    "lif-rate": (LIFResNetANN, {"neuron": NEURON, "T": T, "head": "rate"}),
    "lif-ttfs": (LIFResNetANN, {"neuron": NEURON, "T": T, "head": "ttfs"}),
    # the straight-through slope of the line through the staircase's ends ("fit"), constant stem
    "lif-fit": (LIFResNetANN, {"neuron": NEURON, "T": T, "ste": "fit", "stem": "constant"}),
    # that line as the activation throughout (a ramp that never starts): a clipped-linear ANN
    "lif-line": (LIFResNetANN, {"neuron": NEURON, "T": T, "ste": "fit", "stem": "constant", "ramp": (10**9, 10**9 + 1)}),
    # the line for the first epoch of 157 batches, blended into the exact staircase by batch 400
    "lif-ramp": (LIFResNetANN, {"neuron": NEURON, "T": T, "ste": "fit", "stem": "constant", "ramp": (157, 400)}),
}


def ann_scores_accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 250) -> float:
    """Accuracy of an ANN's scores (logits, or the LIF ANN's counts / TTFS omega); all-zero scores
    (a silent output layer) count as wrong."""
    model.eval()
    hits = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            scores = model(torch.from_numpy(x[i : i + batch]))
            decided = (scores != 0).any(1).numpy()
            hits += int(((scores.argmax(1).numpy() == y[i : i + batch]) & decided).sum())
    return hits / len(x)


def train_ann(kind: str, train, width: int, config: TrainConfig, checkpoints: Path | None) -> tuple[torch.nn.Module, float]:
    """The ANN of `kind` trained (or reloaded from `checkpoints`); (model in eval mode, seconds)."""
    cls, kwargs = KINDS[kind]
    torch.manual_seed(config.seed)
    model = cls(width, 3, 10, **kwargs)
    spec = lif_resnet_ann_spec(model) if isinstance(model, LIFResNetANN) else resnet_ann_spec(model)
    path = None
    if checkpoints is not None:
        path = checkpoints / f"start_{kind}_w{width}_n{len(train.y)}_e{config.epochs}_s{config.seed}.pt"
    t0 = time.perf_counter()
    history = fit(model, spec, train.x, train.y, cifar_ann_loss(), config, checkpoint=path, desc=f"ANN {kind}")
    seconds = sum(h["seconds"] for h in history) if history else time.perf_counter() - t0
    return model.eval(), seconds


def run(train_n: int = 10000, test_n: int = 500, epochs: int = 3, width: int = 8, batch: int = 64, lr: float = 1e-3,
        warmup: int = 50, seed: int = 0, kinds=("relu", "lif"), decoders=("rate", "ttfs"), balance: int = 256,
        checkpoints=None, check_batch: int = 100) -> list[dict]:  # fmt: skip
    """The table's rows: for every ANN kind its accuracy and training time, then for every decoder
    and BN mode the copied SNN's start (and, with balance > 0, after balancing on the first
    `balance` training images)."""
    train, _ = load_cifar("train", train_n)
    test, source = load_cifar("test", test_n)
    checkpoints = Path(checkpoints) if checkpoints is not None else None
    if checkpoints is not None:
        checkpoints.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch, seed=seed, schedule="cosine_batch", warmup=warmup)
    rows = []
    for kind in kinds:
        ann, seconds = train_ann(kind, train, width, config, checkpoints)
        ann_acc = ann_scores_accuracy(ann, test.x, test.y)
        base = {"ann": kind, "ann_accuracy": ann_acc, "train_seconds": seconds, "width": width, "train_images": train_n,
                "epochs": epochs, "T": T, "encoder": "current", "data": source}  # fmt: skip
        for decoder in decoders:
            snn = init_from_ann(SpikingResNet(width, 3, 10, NEURON, rule="none"), ann)
            variants = [("none", snn)]
            if balance and not isinstance(ann, LIFResNetANN):  # the ReLU copy mapped onto the LIF's range
                mapped = copy.deepcopy(snn)
                t0 = time.perf_counter()
                convert_relu(mapped, ann, train.x[:balance], T=T, batch=check_batch)
                variants.append((f"convert_relu, {balance} images ({time.perf_counter() - t0:.0f} s)", mapped))
            if balance:
                recal = recalibrate_bn(copy.deepcopy(snn), train.x[:balance], T=T, batch=check_batch)
                variants.append((f"recalibrate_bn, {balance} images", recal))
            if balance:
                balanced = copy.deepcopy(snn)
                t0 = time.perf_counter()
                mismatch = balance_activity(balanced, ann, train.x[:balance], T=T, batch=check_batch)
                variants.append((f"eval stats, {balance} images ({time.perf_counter() - t0:.0f} s)", balanced))
                base_mismatch = mismatch
            for label, model in variants:
                for bn in ("eval", "batch"):
                    check = start_check(model, test.x, test.y, "current", decoder, T, bn=bn, batch=check_batch)
                    row = {**base, "balancing": label, **check}
                    if label != "none":
                        row["mismatch"] = [round(m, 3) for m in base_mismatch]
                    rows.append(row)
                    print(format_row(row), flush=True)
    return rows


def format_row(row: dict) -> str:
    return (
        f"{row['ann']:>18} ANN {row['ann_accuracy']:.3f} ({row['train_seconds']:5.0f} s) | {row['decoder']:>4} "
        f"bn {row['bn']:>5} | SNN acc {row['accuracy']:.3f} abstain {row['abstention']:.3f} ties {row['ties']:.3f} "
        f"rate {row['hidden_rate']:.3f} ({row['seconds']:.0f} s) | balancing: {row['balancing']}"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=10000, help="training images (class-balanced prefix)")
    parser.add_argument("--test", type=int, default=500, help="test images scored")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=50, help="batches of linear warm-up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", nargs="+", default=["relu", "lif"], choices=sorted(KINDS))
    parser.add_argument("--decoders", nargs="+", default=["rate", "ttfs"], choices=["rate", "ttfs"])
    parser.add_argument("--balance", type=int, default=256, help="training images for activity balancing (0: none)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpoints", default=None, help="folder that keeps the trained ANNs")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = run(args.train, args.test, args.epochs, args.width, warmup=args.warmup, seed=args.seed, kinds=args.kinds,
               decoders=args.decoders, balance=args.balance, checkpoints=args.checkpoints)  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
