"""Training ANNs and SNNs: one seeded, resumable loop; models saved with everything needed to reload.

`fit` trains with AdamW (optionally cosine-annealed), shows tqdm progress, and after every
epoch writes a checkpoint (model, optimizer, scheduler, epoch, per-epoch history, settings)
atomically. Run again with the same checkpoint path and settings, it resumes after the last
finished epoch; a finished model is simply reloaded, and (without a cosine schedule) asking for
more epochs extends it. Shuffling and Poisson draws depend only
on (seed, epoch, batch), so a resumed run equals an uninterrupted one.

A model's `spec` (a plain dict) says how to rebuild it: {"kind": "ann"|"snn", "sizes": [...],
"bias": bool} plus, for SNNs, "neuron" ({"kind": "lif", "tau_m": ...}), "rule", "rho",
"encoder", "T" and "decoder". CIFAR-10 ResNet18s (`bridges.resnet`) are {"kind": "resnet_ann",
"width", "in_channels", "n_classes"} and {"kind": "resnet_snn", the same, "neuron", "rule", "rho",
"encoder", "T", "decoder"}. `load_model(path)` returns (model, spec, history).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import evsim

from .ann import ReLUMLP
from evsim.atomic import atomic_path
from .augment import augment_cifar10
from .resnet import IMAGE_SIZE, ResNetANN, SpikingResNet
from .snn import SpikingMLP, decoder_scores

CHECKPOINT_FORMAT = "evsim.bridges.checkpoint"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (paper, Methods: AdamW, lr 1e-3 for ANNs and 5e-4 for SNNs, wd 0.01)."""

    epochs: int
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 128
    seed: int = 0
    cosine: bool = False  # cosine annealing of the learning rate over the epochs (CIFAR-10)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")


def neuron_spec(neuron) -> dict:
    return {"kind": neuron.kind, **dataclasses.asdict(neuron)}


def neuron_from_spec(spec: dict):
    fields = {k: v for k, v in spec.items() if k != "kind"}
    if spec.get("kind") == "if":
        return evsim.IF(**fields)
    if spec.get("kind") == "lif":
        return evsim.LIF(**fields)
    raise ValueError(f"unknown neuron kind in spec: {spec!r}")


def snn_spec(model: SpikingMLP, encoder, T: int, decoder: str) -> dict:
    """The spec of a SpikingMLP trained on `encoder` inputs of T steps with `decoder`."""
    return {
        "kind": "snn", "sizes": list(model.sizes), "bias": model.layers[0].bias is not None,
        "neuron": neuron_spec(model.neuron), "rule": model.rule, "rho": model.rho,
        "encoder": encoder if isinstance(encoder, str) else list(encoder), "T": int(T), "decoder": decoder,
    }  # fmt: skip


def ann_spec(model: ReLUMLP) -> dict:
    return {"kind": "ann", "sizes": list(model.sizes), "bias": model.layers[0].bias is not None}


def resnet_ann_spec(model: ResNetANN) -> dict:
    """The spec of a ReLU ResNet18 (`bridges.resnet.ResNetANN`)."""
    return {"kind": "resnet_ann", "width": model.width, "in_channels": model.in_channels, "n_classes": model.n_classes}


def resnet_snn_spec(model: SpikingResNet, encoder, T: int, decoder: str) -> dict:
    """The spec of a SpikingResNet trained on `encoder` inputs (a method or the fused list) of T
    steps with `decoder`."""
    if not model.batchnorm:
        raise ValueError("resnet_snn_spec describes trainable (BatchNorm) SpikingResNets, not the BN-free form")
    return {
        "kind": "resnet_snn", "width": model.width, "in_channels": model.in_channels, "n_classes": model.n_classes,
        "neuron": neuron_spec(model.neuron), "rule": model.rule, "rho": model.rho,
        "encoder": encoder if isinstance(encoder, str) else list(encoder), "T": int(T), "decoder": decoder,
    }  # fmt: skip


def build_model(spec: dict) -> torch.nn.Module:
    """A fresh (untrained) model from its spec."""
    if spec.get("kind") == "resnet_ann":
        return ResNetANN(spec["width"], spec["in_channels"], spec["n_classes"])
    if spec.get("kind") == "resnet_snn":
        return SpikingResNet(
            spec["width"], spec["in_channels"], spec["n_classes"], neuron_from_spec(spec["neuron"]), spec["rule"], spec["rho"]
        )
    if spec.get("kind") == "ann":
        return ReLUMLP(spec["sizes"], bias=spec["bias"])
    if spec.get("kind") == "snn":
        return SpikingMLP(spec["sizes"], neuron_from_spec(spec["neuron"]), spec["rule"], spec["rho"], spec["bias"])
    raise ValueError(f"unknown model kind in spec: {spec!r}")


def _atomic_torch_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _read_checkpoint(path: Path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a damaged file
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an evsim training checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} has checkpoint version {ckpt.get('version')}; this code reads {CHECKPOINT_VERSION}")
    return ckpt


def _can_continue(saved: dict, config: TrainConfig) -> bool:
    """Whether a checkpoint made with `saved` settings can go on under `config`: the same settings,
    or, without a schedule tied to the number of epochs, the same settings but more epochs (so a
    model trained for 8 epochs is extended to 12 rather than retrained)."""
    wanted = dataclasses.asdict(config)
    if saved == wanted:
        return True
    same_but_epochs = {k: v for k, v in saved.items() if k != "epochs"} == {k: v for k, v in wanted.items() if k != "epochs"}
    return same_but_epochs and not config.cosine


def load_model(path) -> tuple[torch.nn.Module, dict, list[dict]]:
    """(model in eval mode, spec, per-epoch history) from a checkpoint written by `fit`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    ckpt = _read_checkpoint(path)
    model = build_model(ckpt["spec"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt["spec"], ckpt["history"]


def fit(
    model: torch.nn.Module,
    spec: dict,
    images: np.ndarray,
    labels: np.ndarray,
    loss_fn: Callable[[torch.nn.Module, np.ndarray, torch.Tensor, np.random.Generator], torch.Tensor],
    config: TrainConfig,
    checkpoint=None,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
    desc: str = "train",
    meta: dict | None = None,
) -> list[dict]:
    """Train `model` in place; returns the history [{epoch, loss, accuracy, seconds}, ...].

    images: (N, ...) float32 in [0, 1]; labels: (N,) int.
    loss_fn(model, batch_images, batch_labels, rng) -> scalar loss (rng: numpy Generator for
        stochastic encoders, seeded by (seed, epoch, batch)).
    checkpoint: path of the checkpoint to write after every epoch and to resume from.
    evaluate(model) -> test accuracy after every epoch (stored in the history).
    meta: what else the checkpoint must match to be resumed (e.g. {"key": content key of the code
        and data}); stored in it, and a checkpoint with other meta is refused.
    """
    n = len(images)
    if n != len(labels) or n == 0:
        raise ValueError(f"got {n} images for {len(labels)} labels")
    torch.manual_seed(config.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs) if config.cosine else None
    history: list[dict] = []
    start = 0
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        ckpt = _read_checkpoint(path)
        if ckpt["spec"] != spec or not _can_continue(ckpt["config"], config):
            raise ValueError(
                f"{path} was written with other settings ({ckpt['spec']}, {ckpt['config']}); "
                "delete it or choose another checkpoint path"
            )
        if ckpt.get("meta") != meta:
            raise ValueError(
                f"{path} was written for {ckpt.get('meta')!r}, not {meta!r} (other code or data); "
                "delete it or choose another checkpoint path"
            )
        if ckpt["epoch"] > config.epochs:
            raise ValueError(f"{path} holds a model trained for {ckpt['epoch']} epochs; {config.epochs} were asked for")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if sched is not None:
            sched.load_state_dict(ckpt["scheduler"])
        history, start = list(ckpt["history"]), int(ckpt["epoch"])
        if start:
            print(f"{desc}: resuming after epoch {start} from {path}")
    y_all = torch.as_tensor(labels, dtype=torch.long)
    for epoch in range(start, config.epochs):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed * 100003 + epoch)).numpy()
        batches = np.array_split(order, max(1, -(-n // config.batch_size)))
        total = 0.0
        bar = tqdm(batches, desc=f"{desc} epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False)
        for b, idx in enumerate(bar):
            rng = np.random.default_rng([config.seed, epoch, b])
            opt.zero_grad()
            loss = loss_fn(model, images[idx], y_all[idx], rng)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            if b % 20 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        if sched is not None:
            sched.step()
        model.eval()
        record = {"epoch": epoch + 1, "loss": total / n, "seconds": time.perf_counter() - t0}
        if evaluate is not None:
            record["accuracy"] = float(evaluate(model))
        history.append(record)
        tqdm.write(f"{desc} epoch {epoch + 1}/{config.epochs}: " + ", ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k != "epoch"))  # fmt: skip
        if path is not None:
            _atomic_torch_save(
                {
                    "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "spec": spec,
                    "config": dataclasses.asdict(config), "meta": meta, "epoch": epoch + 1, "history": history,
                    "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict() if sched is not None else None,
                },  # fmt: skip
                path,
            )
    model.eval()
    return history


def ann_loss(model, xb: np.ndarray, yb: torch.Tensor, rng) -> torch.Tensor:
    """Cross-entropy of an ANN's logits."""
    return torch.nn.functional.cross_entropy(model(torch.as_tensor(xb, dtype=torch.float32)), yb)


def snn_loss(encoder, T: int, decoder: str) -> Callable:
    """Cross-entropy on the decoder's omega (rate counts or TTFS values) of an SNN fed `encoder`."""

    def loss(model, xb: np.ndarray, yb: torch.Tensor, rng) -> torch.Tensor:
        x = evsim.encode(xb.reshape(len(xb), -1), T, encoder, seed=rng)
        out = model(torch.from_numpy(x))
        return torch.nn.functional.cross_entropy(decoder_scores(out.spikes, decoder), yb)

    return loss


def _device_of(model: torch.nn.Module) -> torch.device:
    """Where the model's parameters live (the CIFAR-10 losses move each batch there: --device cuda)."""
    return next(model.parameters()).device


def _cifar_batch(xb: np.ndarray, augment: bool, rng: np.random.Generator) -> np.ndarray:
    """xb (B, 3072) or (B, 3, 32, 32) in [0, 1] -> (B, 3, 32, 32) float32, randomly cropped (pad 4)
    and flipped when `augment`, with a torch generator seeded from rng (reproducible training)."""
    x = torch.as_tensor(np.asarray(xb, dtype=np.float32)).reshape(len(xb), 3, IMAGE_SIZE, IMAGE_SIZE)
    if augment:
        x = augment_cifar10(x, torch.Generator().manual_seed(int(rng.integers(2**62))))
    return x.numpy()


def cifar_ann_loss(augment: bool = True) -> Callable:
    """loss(model, xb (B, 3072) float32 in [0, 1], yb, rng): cross-entropy of a CIFAR-10 ANN's
    logits on the (augmented) batch."""

    def loss(model, xb: np.ndarray, yb: torch.Tensor, rng) -> torch.Tensor:
        device = _device_of(model)
        x = torch.from_numpy(_cifar_batch(xb, augment, rng)).to(device)
        return torch.nn.functional.cross_entropy(model(x), yb.to(device))

    return loss


def cifar_snn_loss(encoder, T: int, decoder: str, augment: bool = True) -> Callable:
    """loss(model, xb (B, 3072) float32 in [0, 1], yb, rng): cross-entropy on the decoder's omega
    of a CIFAR-10 SNN fed the (augmented) batch encoded with `encoder` over T steps (a method, or
    a list for the fused input: channels concatenated in the list's order, e.g. 9 for
    ["current", "ratesyn_e", "ttfs"]); stochastic encoders draw from rng."""

    def loss(model, xb: np.ndarray, yb: torch.Tensor, rng) -> torch.Tensor:
        device = _device_of(model)
        x = _cifar_batch(xb, augment, rng)
        encoded = evsim.encode(x.reshape(len(x), -1), T, encoder, seed=rng)  # evsim's encoders: on the CPU
        out = model(torch.from_numpy(encoded).to(device))
        return torch.nn.functional.cross_entropy(decoder_scores(out.spikes, decoder), yb.to(device))

    return loss
