"""The model zoo of the scenarios: trained once, cached as checkpoints, reused by every scenario.

A model is named by what defines it (dataset, kind, training rule, encoder, decoder, T, seed,
epochs); its checkpoint lives in `models/<dataset>/<name>_e<epochs>.pt` (or $EVSIM_MODELS).
Asking again for the same model reloads it; an interrupted training resumes after its last
finished epoch; a model asked for with more epochs than a cached one starts from a copy of the
longest shorter one (so quick and full runs share their first epochs and keep both results).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import evsim
from bridges.ann import ARCHITECTURES, ReLUMLP
from bridges.datasets import load_idx_dataset
from bridges.export import to_evsim
from bridges.snn import SpikingMLP
from bridges.training import TrainConfig, ann_loss, ann_spec, fit, snn_loss, snn_spec

MODELS_ENV = "EVSIM_MODELS"
REPO_MODELS = Path(__file__).resolve().parent.parent / "models"
# SPEC Table 1: the neuron and T of each dataset
SNN_SETTINGS = {
    "mnist": (evsim.IF(theta=1.0), 30),
    "fashion-mnist": (evsim.LIF(tau_m=10, tau_s=10, theta=1.0), 10),
}
ANN_LR, SNN_LR = 1e-3, 5e-4  # paper, Methods


def models_dir() -> Path:
    env = os.environ.get(MODELS_ENV)
    return Path(env) if env else REPO_MODELS


@dataclass(frozen=True)
class Split:
    """Images (N, 784) float32 in [0, 1] and labels (N,) int64."""

    x: np.ndarray
    y: np.ndarray


def load_split(dataset: str, split: str, limit: int | None = None, root=None) -> Split:
    images, labels = load_idx_dataset(dataset, split, root)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return Split((images.reshape(len(images), -1) / 255.0).astype(np.float32), labels)


def snn_accuracy(model: SpikingMLP, test: Split, encoder, T: int, decoder: str = "rate", seed: int = 0) -> float:
    """Clean test accuracy of `model` run in evsim (abstentions count as wrong)."""
    inputs = evsim.encode(test.x, T, encoder, seed=seed)
    res = evsim.simulate(to_evsim(model), inputs, decoder=decoder, record_hidden=False)
    return float((res.predictions == test.y).mean())


def ann_accuracy(model: ReLUMLP, test: Split) -> float:
    with torch.no_grad():
        return float((model(torch.from_numpy(test.x)).argmax(1).numpy() == test.y).mean())


def checkpoint_path(dataset: str, stem: str, epochs: int) -> Path:
    """models/<dataset>/<stem>_e<epochs>.pt; when it does not exist yet but a shorter run of the same
    model does, the longest of those is copied there first, so training continues from it."""
    folder = models_dir() / dataset
    path = folder / f"{stem}_e{epochs}.pt"
    if not path.exists() and folder.is_dir():
        pattern = re.compile(re.escape(stem) + r"_e(\d+)\.pt")
        shorter = [(int(m.group(1)), p) for p in folder.iterdir() if (m := pattern.fullmatch(p.name)) and int(m.group(1)) < epochs]
        if shorter:
            shutil.copyfile(max(shorter)[1], path)
    return path


def get_ann(dataset: str, train: Split, test: Split, epochs: int, seed: int = 0, tag: str = "") -> tuple[ReLUMLP, list[dict]]:
    """The ReLU ANN of `dataset` (paper architecture, no bias), trained or reloaded.

    tag: appended to the checkpoint name, for models trained on something other than the whole
    training set (e.g. "_n1000"), so that they never stand in for the real ones."""
    torch.manual_seed(seed)
    model = ReLUMLP(ARCHITECTURES[dataset])
    path = checkpoint_path(dataset, f"ann_seed{seed}{tag}", epochs)
    history = fit(
        model, ann_spec(model), train.x, train.y, ann_loss, TrainConfig(epochs=epochs, lr=ANN_LR, seed=seed),
        checkpoint=path, evaluate=lambda m: ann_accuracy(m, test), desc=f"ANN {dataset} seed {seed}",
    )  # fmt: skip
    return model, history


def get_snn(
    dataset: str, rule: str, encoder, train: Split, test: Split, epochs: int, decoder: str = "rate", seed: int = 0,
    tag: str = "",
) -> tuple[SpikingMLP, list[dict]]:
    """An SNN of `dataset` trained with `rule` ("actbp" or "tempbp") on `encoder` inputs, or reloaded
    (tag: as for `get_ann`)."""
    neuron, T = SNN_SETTINGS[dataset]
    torch.manual_seed(seed)
    model = SpikingMLP(ARCHITECTURES[dataset], neuron, rule=rule)
    enc_name = encoder if isinstance(encoder, str) else "+".join(encoder)
    path = checkpoint_path(dataset, f"{rule}_{enc_name}_{decoder}_T{T}_seed{seed}{tag}", epochs)
    history = fit(
        model, snn_spec(model, encoder, T, decoder), train.x, train.y, snn_loss(encoder, T, decoder),
        TrainConfig(epochs=epochs, lr=SNN_LR, seed=seed), checkpoint=path,
        evaluate=lambda m: snn_accuracy(m, test, encoder, T, decoder), desc=f"{rule} {enc_name} {decoder}",
    )  # fmt: skip
    return model, history
