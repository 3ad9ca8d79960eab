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
- `CifarZoo`: the models of one run (width, epochs, training subset), built on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

import evsim
from bridges.datasets import cifar10_source, load_cifar10
from bridges.resnet import ResNetANN, SpikingResNet, init_from_ann
from bridges.snn import decoder_scores
from bridges.training import TrainConfig, cifar_ann_loss, cifar_snn_loss, resnet_ann_spec, resnet_snn_spec

from ..machinery.accuracy import ann_accuracy
from ..machinery.content import content_hash
from .models import ANN_LR, SNN_LR, Split, train_or_load

DATASET = "cifar-10"
NEURON = evsim.LIF(tau_m=2, tau_s=2, theta=1.0)  # SPEC Table 1, CIFAR-10
T = 10
FUSED = ("current", "ratesyn_e", "ttfs")  # paper: "we select the current, RateSynE, and TTFS encoders"
CHANNELS = 3
EVAL_IMAGES = 500  # test images scored after every epoch (the training history only)
SOURCES = {"python": "CIFAR-10", "jpeg": "CIFAR-10 (JPEG mirror)"}
ANN_BATCH = 500  # images per ANN forward pass when scoring (`ann_accuracy`)


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


def snn_torch_accuracy(model: SpikingResNet, x: np.ndarray, y: np.ndarray, encoder, decoder: str, batch: int = 250) -> float:
    """Accuracy of the torch SNN (training-time check; the scenario measures in evsim). A silent
    output counts as wrong (argmax of all-zero scores would pick class 0)."""
    hits, device = 0, next(model.parameters()).device
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = evsim.encode(x[i : i + batch], T, encoder, seed=0)
            scores = decoder_scores(model(torch.from_numpy(xb).to(device)).spikes, decoder).cpu()
            decided = scores.amax(1) > 0
            hits += int(((scores.argmax(1).numpy() == y[i : i + batch]) & decided.numpy()).sum())
    return hits / len(x)


@dataclass
class CifarZoo:
    """The models of one run: ResNet18 of `width` channels in the stem, trained on `train`
    (checkpoints tagged with its size unless it is the whole training set)."""

    train: Split
    test: Split
    width: int
    ann_epochs: int
    snn_epochs: int
    batch_size: int = 64
    device: str = "cpu"  # where torch trains; the models are returned on the CPU
    init: str = "scratch"  # SNNs from random weights, or "ann": from the ANN of their seed (`init_from_ann`)
    _cache: dict = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return f"_w{self.width}" + ("" if len(self.train.y) == 50000 else f"_n{len(self.train.y)}")

    def _eval_split(self) -> tuple[np.ndarray, np.ndarray]:
        return self.test.x[:EVAL_IMAGES], self.test.y[:EVAL_IMAGES]

    def ann(self, seed: int = 0) -> ResNetANN:
        key = ("ann", seed)
        if key not in self._cache:
            torch.manual_seed(seed)
            model = ResNetANN(width=self.width, in_channels=CHANNELS).to(self.device)
            config = TrainConfig(epochs=self.ann_epochs, lr=ANN_LR, seed=seed, batch_size=self.batch_size, cosine=True)
            xe, ye = self._eval_split()
            train_or_load(
                model, resnet_ann_spec(model), self.train, cifar_ann_loss(), config, DATASET, f"resnet_ann_seed{seed}{self.tag}",
                evaluate=lambda m: ann_accuracy(m, xe, ye, ANN_BATCH), desc=f"ResNet ANN seed {seed}", code="scenarios.setups.cifar",
            )  # fmt: skip
            self._cache[key] = model.cpu().eval()
        return self._cache[key]

    def snn(self, rule: str, encoder: str, decoder: str, seed: int = 0) -> SpikingResNet:
        """encoder: an encoder name, or "fused" (current + RateSynE + TTFS on 9 channels)."""
        key = ("snn", rule, encoder, decoder, seed)
        if key not in self._cache:
            methods = encoder_methods(encoder)
            torch.manual_seed(seed)
            model = SpikingResNet(width=self.width, in_channels=input_channels(methods), neuron=NEURON, rule=rule)
            spec = resnet_snn_spec(model, methods, T, decoder)
            stem = f"resnet_{rule}_{encoder}_{decoder}_T{T}_seed{seed}{self.tag}"
            if self.init == "ann":  # the starting weights are part of what defines the model
                ann = self.ann(seed)
                init_from_ann(model, ann)
                spec["init"] = f"ann seed {seed} {content_hash(ann)[:16]}"
                stem += "_annint"
            elif self.init != "scratch":
                raise ValueError(f"init must be 'scratch' or 'ann', got {self.init!r}")
            model.to(self.device)
            config = TrainConfig(epochs=self.snn_epochs, lr=SNN_LR, seed=seed, batch_size=self.batch_size, cosine=True)
            xe, ye = self._eval_split()
            train_or_load(
                model, spec, self.train, cifar_snn_loss(methods, T, decoder), config, DATASET, stem,
                evaluate=lambda m: snn_torch_accuracy(m, xe, ye, methods, decoder),
                desc=f"ResNet SNN {rule} {encoder} {decoder}", code="scenarios.setups.cifar",
            )  # fmt: skip
            self._cache[key] = model.cpu().eval()
        return self._cache[key]

    def get(self, key: Sequence, *given):
        """The model named by ("ann", seed) or ("snn", rule, encoder, decoder, seed). given: with
        init "ann", the SNN's starting ANN as its own task returned it (so that no two tasks
        train the same ANN)."""
        if given:
            self._cache[("ann", key[-1])] = given[0]
        return self.ann(key[1]) if key[0] == "ann" else self.snn(*key[1:])
