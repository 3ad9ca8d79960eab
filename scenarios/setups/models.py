"""The model zoo of the scenarios: trained once, cached as checkpoints, reused by every scenario.

A model is named by what defines it (dataset, kind, training rule, encoder, decoder, T, seed,
epochs) and keyed by content: its checkpoint lives in `models/<dataset>/<name>_e<epochs>_<key>.pt`
(or $EVSIM_MODELS), where key hashes the model's spec, its training settings, the source of the
code that trains it (`scenarios.setups.models` and every project module it imports) and the training
images and labels. A checkpoint made by other code or on other data has another key and is never
reused (a note says so). Asking again for the same model reloads it. Training writes
`<name>_e<epochs>_<key>.partial.pt` after every epoch (atomically) and renames it to the final name
only when done, so a file without `.partial` always holds a finished model; an interrupted
training resumes after its last finished epoch; a model asked for with more epochs than a
finished one of the same key starts from (a copy of) the longest shorter one, so quick and full
runs share their first epochs and keep both results.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

import evsim
from bridges.ann import ARCHITECTURES, ReLUMLP
from evsim.atomic import atomic_path, sweep_orphans
from bridges.datasets import load_idx_dataset
from bridges.export import to_evsim
from bridges.snn import SpikingMLP
from bridges.training import TrainConfig, ann_loss, ann_spec, fit, read_checkpoint, snn_loss, snn_spec

from ..machinery.accuracy import ann_accuracy
from ..machinery.content import code_hash, content_hash

MODELS_ENV = "EVSIM_MODELS"
REPO_MODELS = Path(__file__).resolve().parent.parent.parent / "models"
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

    @cached_property
    def content(self) -> str:
        """Content hash of the images and labels (computed once)."""
        return content_hash(self.x, self.y)


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


def checkpoint_path(dataset: str, stem: str, epochs: int, key: str) -> Path:
    """models/<dataset>/<stem>_e<epochs>_<key>.pt: where the finished model of this content key lives."""
    if not re.fullmatch(r"[0-9a-f]{16}", key):
        raise ValueError(f"a checkpoint key is 16 hex digits, got {key!r}")
    return models_dir() / dataset / f"{stem}_e{epochs}_{key}.pt"


def training_key(stem: str, spec: dict, config: TrainConfig, train: Split, code: str = "scenarios.setups.models") -> str:
    """The content key of a model: spec, settings but the epoch count, training code and data.
    code: the module that trains it (hashed with every project module it imports)."""
    settings = {k: v for k, v in config.settings().items() if k != "epochs"}
    return content_hash(stem, spec, settings, code_hash(code), train.content)[:16]


class MissingModel(LookupError):
    """A model asked for with `load_only` has no finished checkpoint to load."""


def train_or_load(
    model: torch.nn.Module, spec: dict, train: Split, loss, config: TrainConfig, dataset: str, stem: str, evaluate, desc: str,
    code: str = "scenarios.setups.models", load_only: bool = False,
) -> list[dict]:
    """Train `model` in place (or reload it) under its content-keyed checkpoint; returns its history.
    code: the module that trains it, part of the key (`training_key`).
    load_only: never train: load the finished checkpoint of this key, or else a finished one of the
    same name and epochs whose spec and training settings are this model's but whose key differs
    (other code, e.g. an edit anywhere in evsim, or other data: a note says so); raise
    `MissingModel` when there is neither; nothing in the models folder is written or removed.
    `model.checkpoint` names the file loaded and `model.checkpoint_key_matches` whether its key was
    this one."""
    key = training_key(stem, spec, config, train, code)
    final = checkpoint_path(dataset, stem, config.epochs, key)
    folder = final.parent
    for leftover in () if load_only else sweep_orphans(folder):  # a load-only reader changes nothing there
        print(f"removed {leftover}: the temporary file of an interrupted write", file=sys.stderr)
    pattern = re.compile(re.escape(stem) + r"_e(\d+)(?:_([0-9a-f]{16}))?\.pt")
    found = [(m, p) for p in (folder.iterdir() if folder.is_dir() else ()) if (m := pattern.fullmatch(p.name))]
    others = sorted(p.name for m, p in found if m.group(2) != key)
    if others and not final.exists() and not load_only:
        print(f"{desc}: not reusing {', '.join(others)} (made by other code, data or settings)", file=sys.stderr)
    meta = {"key": key}
    run = dict(evaluate=evaluate, desc=desc, meta=meta)
    if final.exists():
        model.checkpoint, model.checkpoint_key_matches = final, True
        return fit(model, spec, train.x, train.y, loss, config, checkpoint=final, **run)
    if load_only:
        same = sorted(p for m, p in found if m.group(2) not in (None, key) and int(m.group(1)) == config.epochs)
        for path in same:
            ckpt = read_checkpoint(path)
            if ckpt["spec"] == spec and ckpt["config"] == config.settings() and ckpt["epoch"] == config.epochs:
                model.load_state_dict(ckpt["model"])
                model.eval()
                model.checkpoint, model.checkpoint_key_matches = path, False
                print(f"{desc}: loaded {path.name}, made by other code or data (key {key} here) with the same spec "
                      "and training settings", file=sys.stderr)  # fmt: skip
                return list(ckpt["history"])
        raise MissingModel(f"{desc}: no finished checkpoint {final.name} in {folder}"
                           + (f" (the ones of this name differ in spec or settings: {', '.join(p.name for p in same)})" if same else ""))  # fmt: skip
    partial = final.with_name(final.stem + ".partial.pt")
    if not partial.exists():
        shorter = [(int(m.group(1)), p) for m, p in found if m.group(2) == key and int(m.group(1)) < config.epochs]
        if shorter:
            epochs, source = max(shorter)
            print(f"{desc}: starting from the finished {epochs}-epoch model {source.name}", file=sys.stderr)
            with atomic_path(partial) as tmp:
                tmp.write_bytes(source.read_bytes())
    history = fit(model, spec, train.x, train.y, loss, config, checkpoint=partial, **run)
    os.replace(partial, final)
    return history


def get_ann(dataset: str, train: Split, test: Split, epochs: int, seed: int = 0, tag: str = "") -> tuple[ReLUMLP, list[dict]]:
    """The ReLU ANN of `dataset` (paper architecture, no bias), trained or reloaded.

    tag: appended to the checkpoint name, for models trained on something other than the whole
    training set (e.g. "_n1000"), so that they never stand in for the real ones."""
    torch.manual_seed(seed)
    model = ReLUMLP(ARCHITECTURES[dataset])
    history = train_or_load(
        model, ann_spec(model), train, ann_loss, TrainConfig(epochs=epochs, lr=ANN_LR, seed=seed), dataset,
        f"ann_seed{seed}{tag}", evaluate=lambda m: ann_accuracy(m, test.x, test.y), desc=f"ANN {dataset} seed {seed}",
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
    history = train_or_load(
        model, snn_spec(model, encoder, T, decoder), train, snn_loss(encoder, T, decoder),
        TrainConfig(epochs=epochs, lr=SNN_LR, seed=seed), dataset, f"{rule}_{enc_name}_{decoder}_T{T}_seed{seed}{tag}",
        evaluate=lambda m: snn_accuracy(m, test, encoder, T, decoder), desc=f"{rule} {enc_name} {decoder}",
    )  # fmt: skip
    return model, history


@dataclass(frozen=True)
class AnnZoo:
    """The ReLU ANNs of `dataset` (`get_ann`, `epochs` each, checkpoint names tagged with `tag`),
    named ("ann", seed): a zoo for `scenarios.machinery.model_tasks` (Fig. 2's, the smoke job's)."""

    dataset: str
    train: Split
    test: Split
    epochs: int
    tag: str = ""

    def get(self, key: tuple) -> ReLUMLP:
        """The ANN of key ("ann", seed), trained or reloaded, in eval mode."""
        kind, seed = key
        if kind != "ann":
            raise KeyError(f"an AnnZoo holds ANNs only, named ('ann', seed); got {key}")
        return get_ann(self.dataset, self.train, self.test, self.epochs, seed, self.tag)[0].eval()
