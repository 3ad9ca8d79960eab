"""The CIFAR-10 model zoo of Fig. 5: ResNet18 ANNs and SNNs, trained once, cached, reused.

Paper, Methods: ResNet18 (CIFAR variant), ReLU ANNs and LIF SNNs (tau_m = tau_s = 2, theta 1,
T = 10, SPEC Table 1), random crop (padding 4) and horizontal flip, AdamW (lr 1e-3 ANN, 5e-4 SNN,
weight decay 0.01) with cosine annealing. Models are trained by `scenarios.setups.models.train_or_load`:
content-keyed checkpoints in models/cifar-10/ (key: spec, settings, this module's code with
everything it imports, the training images), resumable after every epoch.

This module holds only what trains and evaluates models, so that an edit to the Fig. 5 scenario
(`scenarios.paper.fig5`) does not retrain them.

- `load_cifar`: a split as (N, 3072) float32 in [0, 1] with the name of the copy it came from
  ("CIFAR-10", or "CIFAR-10 (JPEG mirror)" on machines without the canonical archive);
- `Recipe`: how the zoo trains (learning rates, batches, schedules, where each SNN starts);
  `PAPER_RECIPE` is the paper's, `QUICK_RECIPE` the one that fits Fig. 5's quick mode on 2 cores;
- `CifarZoo`: the models of one run (width, epochs, training subset, recipe), built on first use.

The quick recipe's chain of warm starts ("chain"): the current-encoded Act-BP rate SNN (`BASE_SNN`)
starts from its seed's ReLU ANN (`init_from_ann`) and trains on the whole training subset; every
other SNN starts from that SNN (`init_from_snn`: encoder, decoder and rule change, the weights are
kept) and is fine-tuned on the first `finetune_samples` images. Before its first step each SNN's
start is scored on the EVAL_IMAGES test images (accuracy and abstention), printed, and kept beside
its checkpoint (`<stem>_<key>.start.json`) and on the model (`start_check`), so that the result file
says how well each start worked as an SNN.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

import evsim
from evsim.atomic import atomic_path
from bridges.datasets import cifar10_source, load_cifar10
from bridges.resnet import ResNetANN, SpikingResNet, init_from_ann, init_from_snn
from bridges.snn import decoder_scores
from bridges.training import TrainConfig, cifar_ann_loss, cifar_snn_loss, resnet_ann_spec, resnet_snn_spec

from ..machinery.accuracy import ann_accuracy
from ..machinery.content import content_hash
from .models import ANN_LR, SNN_LR, Split, models_dir, train_or_load, training_key

DATASET = "cifar-10"
NEURON = evsim.LIF(tau_m=2, tau_s=2, theta=1.0)  # SPEC Table 1, CIFAR-10
T = 10
FUSED = ("current", "ratesyn_e", "ttfs")  # paper: "we select the current, RateSynE, and TTFS encoders"
CHANNELS = 3
EVAL_IMAGES = 500  # test images scored after every epoch (the training history only)
SOURCES = {"python": "CIFAR-10", "jpeg": "CIFAR-10 (JPEG mirror)"}
ANN_BATCH = 500  # images per ANN forward pass when scoring (`ann_accuracy`)
BASE_SNN = ("actbp", "current", "rate")  # (rule, encoder, decoder): the chain's first SNN
INITS = ("scratch", "ann", "chain")


@dataclass(frozen=True)
class Recipe:
    """How the zoo trains. init: where an SNN starts, "scratch" (random, the paper), "ann" (its
    seed's ReLU ANN, `init_from_ann`) or "chain" (`BASE_SNN` from the ANN, every other SNN from
    `BASE_SNN`). Schedules are `bridges.training.SCHEDULES`; warm-ups count batches. The
    fine-tune fields apply to the SNNs that start from `BASE_SNN` ("chain"): they train
    finetune_epochs on the first finetune_samples training images (None: all of them)."""

    init: str = "scratch"
    ann_lr: float = ANN_LR
    ann_batch: int = 64
    ann_schedule: str = "cosine_epoch"
    ann_warmup: int = 0
    snn_lr: float = SNN_LR
    snn_batch: int = 64
    snn_schedule: str = "cosine_epoch"
    snn_warmup: int = 0
    finetune_lr: float = SNN_LR
    finetune_samples: int | None = None
    finetune_epochs: int = 1
    finetune_warmup: int = 0

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.finetune_samples is not None and self.finetune_samples < 1:
            raise ValueError(f"finetune_samples must be >= 1 or None, got {self.finetune_samples!r}")

    def settings(self) -> dict:
        """The recipe as attributes of a result file (None -> "all")."""
        return {f"recipe_{k}": ("all" if v is None else v) for k, v in asdict(self).items()}


# The paper's (Methods): AdamW, lr 1e-3 ANN / 5e-4 SNN, cosine annealing over the epochs, batch 64.
PAPER_RECIPE = Recipe()
# Fig. 5's quick mode on 2 cores (issue 20; measured in docs/guide/training.md): a per-batch cosine
# with warm-up at 4x the paper's rates (one-cycle style: the paper's 5e-4 moves BN and the
# classifier too little in a few hundred batches), ANN batch 128, and the chain of warm starts.
QUICK_RECIPE = Recipe(
    init="chain", ann_lr=2e-3, ann_batch=128, ann_schedule="cosine_batch", ann_warmup=100,
    snn_lr=2e-3, snn_schedule="cosine_batch", snn_warmup=30,
    finetune_lr=1e-3, finetune_samples=12800, finetune_epochs=1, finetune_warmup=20,
)  # fmt: skip


def encoder_name(encoder) -> str:
    """"fused" for the paper's fused list, else the encoder's own name."""
    if isinstance(encoder, str):
        return encoder
    if tuple(encoder) == FUSED:
        return "fused"
    return "+".join(encoder)


def encoder_methods(name: str):
    """The `evsim.encode` method of an encoder name ("fused" -> the fused list)."""
    return list(FUSED) if name == "fused" else name


def input_channels(encoder) -> int:
    return CHANNELS * (1 if isinstance(encoder, str) else len(encoder))


def balanced_order(labels: np.ndarray) -> np.ndarray:
    """Indices that take the classes in turn (the 1st image of each class in file order, then the
    2nd, ...): every prefix holds the classes equally (+-1). The JPEG mirror lists its images
    class by class, so its first N images would all be airplanes; the canonical batches are mixed,
    and this order treats both alike."""
    labels = np.asarray(labels)
    rank = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        rank[where] = np.arange(len(where))
    return np.lexsort((labels, rank))  # by rank within the class, then by class


def load_cifar(split: str, limit: int | None = None, root=None) -> tuple[Split, str]:
    """(Split with x (N, 3072) float32 in [0, 1] and y (N,) int64, name of the copy read).

    The images come in `balanced_order`; limit keeps the first `limit` of them, a class-balanced
    subset."""
    source = cifar10_source(split, root)
    images, labels = load_cifar10(split, root=root)
    order = balanced_order(labels)
    if limit is not None:
        order = order[:limit]
    images, labels = images[order], labels[order]
    x = (images.reshape(len(images), -1) / np.float32(255.0)).astype(np.float32)
    return Split(x, labels.astype(np.int64)), SOURCES.get(source, str(source))


def capped_warmup(warmup: int, images: int, batch: int, epochs: int) -> int:
    """The recipe's warm-up, at most a tenth of the run's batches (a tiny run still anneals)."""
    return min(warmup, (-(-images // batch) * epochs) // 10)


def snn_check(model: SpikingResNet, x: np.ndarray, y: np.ndarray, encoder, decoder: str, batch: int = 250) -> dict:
    """{"accuracy", "abstention"} of the torch SNN on x (eval mode; a silent output counts as wrong
    and as an abstention: argmax of all-zero scores would pick class 0)."""
    hits = silent = 0
    device = next(model.parameters()).device
    mode = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = evsim.encode(x[i : i + batch], T, encoder, seed=0)
            scores = decoder_scores(model(torch.from_numpy(xb).to(device)).spikes, decoder).cpu()
            decided = (scores.amax(1) > 0).numpy()
            hits += int(((scores.argmax(1).numpy() == y[i : i + batch]) & decided).sum())
            silent += int((~decided).sum())
    model.train(mode)
    return {"accuracy": hits / len(x), "abstention": silent / len(x)}


def snn_torch_accuracy(model: SpikingResNet, x: np.ndarray, y: np.ndarray, encoder, decoder: str, batch: int = 250) -> float:
    """Accuracy of the torch SNN (training-time check; the scenario measures in evsim)."""
    return snn_check(model, x, y, encoder, decoder, batch)["accuracy"]


@dataclass
class CifarZoo:
    """The models of one run: ResNet18 of `width` channels in the stem, trained on `train`
    (checkpoints tagged with its size unless it is the whole training set) by `recipe`."""

    train: Split
    test: Split
    width: int
    ann_epochs: int
    snn_epochs: int
    device: str = "cpu"  # where torch trains; the models are returned on the CPU
    recipe: Recipe = PAPER_RECIPE
    load_only: bool = False  # never train: load finished checkpoints or raise MissingModel (`train_or_load`)
    _cache: dict = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return f"_w{self.width}" + ("" if len(self.train.y) == 50000 else f"_n{len(self.train.y)}")

    def _eval_split(self) -> tuple[np.ndarray, np.ndarray]:
        return self.test.x[:EVAL_IMAGES], self.test.y[:EVAL_IMAGES]

    def ann(self, seed: int = 0) -> ResNetANN:
        key = ("ann", seed)
        if key not in self._cache:
            r = self.recipe
            torch.manual_seed(seed)
            model = ResNetANN(width=self.width, in_channels=CHANNELS).to(self.device)
            warmup = capped_warmup(r.ann_warmup, len(self.train.y), r.ann_batch, self.ann_epochs)
            config = TrainConfig(epochs=self.ann_epochs, lr=r.ann_lr, seed=seed, batch_size=r.ann_batch,
                                 schedule=r.ann_schedule, warmup=warmup)  # fmt: skip
            xe, ye = self._eval_split()
            train_or_load(
                model, resnet_ann_spec(model), self.train, cifar_ann_loss(), config, DATASET, f"resnet_ann_seed{seed}{self.tag}",
                evaluate=lambda m: ann_accuracy(m, xe, ye, ANN_BATCH), desc=f"ResNet ANN seed {seed}", code="scenarios.setups.cifar",
                load_only=self.load_only,
            )  # fmt: skip
            self._cache[key] = model.cpu().eval()
        return self._cache[key]

    def starts_from(self, key: Sequence) -> list[tuple]:
        """The keys of the models the model `key` starts from (their tasks must run first)."""
        if key[0] != "snn" or self.recipe.init == "scratch":
            return []
        rule, encoder, decoder, seed = key[1:]
        if self.recipe.init == "ann" or (rule, encoder, decoder) == BASE_SNN:
            return [("ann", seed)]
        return [("snn", *BASE_SNN, seed)]

    def snn(self, rule: str, encoder: str, decoder: str, seed: int = 0) -> SpikingResNet:
        """encoder: an encoder name, or "fused" (current + RateSynE + TTFS on 9 channels)."""
        key = ("snn", rule, encoder, decoder, seed)
        if key not in self._cache:
            r = self.recipe
            methods = encoder_methods(encoder)
            torch.manual_seed(seed)
            model = SpikingResNet(width=self.width, in_channels=input_channels(methods), neuron=NEURON, rule=rule)
            spec = resnet_snn_spec(model, methods, T, decoder)
            stem = f"resnet_{rule}_{encoder}_{decoder}_T{T}_seed{seed}{self.tag}"
            train, epochs, lr, warmup = self.train, self.snn_epochs, r.snn_lr, r.snn_warmup
            start = self.starts_from(key)
            if start and start[0][0] == "ann":  # the starting weights are part of what defines the model
                ann = self.ann(seed)
                init_from_ann(model, ann)
                spec["init"] = f"ann seed {seed} {content_hash(ann)[:16]}"
                stem += "_annint"
            elif start:  # the chain: from the base SNN, fine-tuned
                base = self.snn(*start[0][1:])
                init_from_snn(model, base)
                spec["init"] = f"snn {'_'.join(BASE_SNN)} seed {seed} {content_hash(base)[:16]}"
                stem += "_chain"
                n = r.finetune_samples or len(self.train.y)
                train = Split(self.train.x[:n], self.train.y[:n]) if n < len(self.train.y) else self.train
                epochs, lr, warmup = r.finetune_epochs, r.finetune_lr, r.finetune_warmup
            model.to(self.device)
            warmup = capped_warmup(warmup, len(train.y), r.snn_batch, epochs)
            config = TrainConfig(epochs=epochs, lr=lr, seed=seed, batch_size=r.snn_batch, schedule=r.snn_schedule, warmup=warmup)
            xe, ye = self._eval_split()
            loss = cifar_snn_loss(methods, T, decoder)
            name = f"ResNet SNN {rule} {encoder} {decoder}"
            model.start_check = self._start_check(model, spec, train, config, stem, methods, decoder, name)
            train_or_load(
                model, spec, train, loss, config, DATASET, stem, evaluate=lambda m: snn_torch_accuracy(m, xe, ye, methods, decoder),
                desc=name, code="scenarios.setups.cifar", load_only=self.load_only,
            )  # fmt: skip
            self._cache[key] = model.cpu().eval()
        return self._cache[key]

    def _start_check(self, model, spec, train, config, stem, methods, decoder, name) -> dict:
        """The start's accuracy and abstention on the EVAL_IMAGES test images, before any step:
        measured once, kept beside the model's checkpoint (same content key) and reread after."""
        key = training_key(stem, spec, config, train, "scenarios.setups.cifar")
        path = models_dir() / DATASET / f"{stem}_{key}.start.json"  # the key, not the epochs: a longer run shares it
        if path.exists():
            return json.loads(path.read_text())
        if self.load_only:  # a loaded model's start is not scored again
            return None
        xe, ye = self._eval_split()
        got = snn_check(model, xe, ye, methods, decoder)
        print(f"{name}: start {100 * got['accuracy']:.1f}% clean, {100 * got['abstention']:.1f}% abstain "
              f"({len(ye)} test images, before any SNN step)", flush=True)  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(got))
        return got

    def get(self, key: Sequence, *given):
        """The model named by ("ann", seed) or ("snn", rule, encoder, decoder, seed). given: the
        models it starts from (`starts_from`), as their own tasks returned them (so that no two
        tasks train the same model)."""
        for start, model in zip(self.starts_from(key), given):
            self._cache[tuple(start)] = model
        return self.ann(key[1]) if key[0] == "ann" else self.snn(*key[1:])
