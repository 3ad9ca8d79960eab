"""Training ANNs and SNNs: one seeded, resumable loop; models saved with everything needed to reload.

`fit` trains with AdamW under a learning-rate schedule (`TrainConfig.schedule`), shows tqdm
progress, and after every epoch writes a checkpoint (model, optimizer, scheduler, epoch, per-epoch
history, settings) atomically. Run again with the same checkpoint path and settings, it resumes
after the last finished epoch; a finished model is simply reloaded, and (with the constant
schedule) asking for more epochs extends it. Shuffling and Poisson draws depend only
on (seed, epoch, batch), so a resumed run equals an uninterrupted one.

Schedules (lr is the peak rate; t = 0, 1, ... counts batches over all epochs, N of them in all):
- "constant": lr for every batch;
- "cosine_epoch": torch's CosineAnnealingLR(T_max=epochs) stepped after every epoch (lr for the
  whole first epoch: a 1-epoch run never anneals). The former `cosine=True`, still accepted and
  stored as it was, so its checkpoints resume and its runs are the same bits;
- "cosine_batch": set before every batch, `scheduled_lr`: a linear warm-up over the first W =
  `warmup` batches, lr (t + 1) / W, then a cosine from lr to 0 over the remaining N - W batches,
  lr (1 + cos(pi (t - W) / (N - W))) / 2. W is a number of batches (not a fraction: it means the
  same in a 1-epoch and a 10-epoch run), 0 for none, and must be below N.

A model's `spec` (a plain dict) says how to rebuild it: {"kind": "ann"|"snn", "sizes": [...],
"bias": bool} plus, for SNNs, "neuron" ({"kind": "lif", "tau_m": ...}), "rule", "rho",
"encoder", "T" and "decoder". CIFAR-10 ResNet18s (`bridges.resnet`) are {"kind": "resnet_ann",
"width", "in_channels", "n_classes"} and {"kind": "resnet_snn", the same, "neuron", "rule", "rho",
"encoder", "T", "decoder"}; the ANN with the LIF's response as activation (`bridges.lif_ann`) is
{"kind": "resnet_lif_ann", "width", "in_channels", "n_classes", "neuron", "T", "ste", "head", "stem"
(, "ramp")}. `load_model(path)` returns (model, spec, history).
"""

from __future__ import annotations

import dataclasses
import math
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
from .lif_ann import LIFResNetANN
from .resnet import IMAGE_SIZE, ResNetANN, SpikingResNet
from .snn import SpikingMLP, decoder_scores

CHECKPOINT_FORMAT = "evsim.bridges.checkpoint"
CHECKPOINT_VERSION = 1
SCHEDULES = ("constant", "cosine_epoch", "cosine_batch")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (paper, Methods: AdamW, lr 1e-3 for ANNs and 5e-4 for SNNs, wd 0.01)."""

    epochs: int
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 128
    seed: int = 0
    cosine: bool = False  # the former name of schedule="cosine_epoch" (kept: old callers and checkpoints)
    schedule: str | None = None  # one of SCHEDULES; None: "cosine_epoch" if cosine else "constant"
    warmup: int = 0  # "cosine_batch" only: batches of linear warm-up

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")
        schedule = self.schedule
        if schedule is None:
            schedule = "cosine_epoch" if self.cosine else "constant"
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; choose from {SCHEDULES}")
        if self.cosine and schedule != "cosine_epoch":
            raise ValueError(f"cosine=True is schedule 'cosine_epoch'; it contradicts schedule={schedule!r} (drop cosine)")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, (int, np.integer)) or self.warmup < 0:
            raise ValueError(f"warmup is a number of batches, an int >= 0; got {self.warmup!r}")
        if self.warmup and schedule != "cosine_batch":
            raise ValueError(f"warmup is a part of the 'cosine_batch' schedule, not of {schedule!r}")
        # one spelling per run: the two legacy spellings of the per-epoch cosine are the same config
        object.__setattr__(self, "schedule", schedule)
        object.__setattr__(self, "cosine", schedule == "cosine_epoch")
        object.__setattr__(self, "warmup", int(self.warmup))

    def settings(self) -> dict:
        """The settings as stored in a checkpoint and compared on resuming. The constant and the
        per-epoch cosine schedules store exactly the dict of the code before `schedule` existed
        ({..., "cosine": bool}), so their checkpoints resume; "cosine_batch" adds schedule and warmup."""
        out = dataclasses.asdict(self)
        if self.schedule != "cosine_batch":
            del out["schedule"], out["warmup"]
        return out


def scheduled_lr(config: TrainConfig, step: int, total: int) -> float:
    """The learning rate of batch `step` (0-based, counted over all epochs) of a `total`-batch run
    under the "cosine_batch" schedule: linear warm-up over config.warmup batches, then cosine to 0."""
    if config.schedule != "cosine_batch":
        raise ValueError(f"scheduled_lr is the 'cosine_batch' schedule; this config has {config.schedule!r}")
    warm = config.warmup
    if not 0 <= step < total or warm >= total:
        raise ValueError(f"need 0 <= step < total and warmup < total, got step {step}, total {total}, warmup {warm}")
    if step < warm:
        return config.lr * (step + 1) / warm
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * (step - warm) / (total - warm)))


def neuron_spec(neuron) -> dict:
    spec = {"kind": neuron.kind, **dataclasses.asdict(neuron)}
    if spec.get("threshold_test") == ">=":  # SPEC's default, left out: the specs (and the model caches'
        del spec["threshold_test"]  # content keys) of every model trained before the field existed stay as they were
    return spec


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
    if spec.get("kind") == "resnet_lif_ann":  # bridges.lif_ann.lif_resnet_ann_spec
        return LIFResNetANN(spec["width"], spec["in_channels"], spec["n_classes"], neuron_from_spec(spec["neuron"]),
                            spec["T"], spec["ste"], spec["head"], spec["stem"], spec.get("ramp"))  # fmt: skip
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


def read_checkpoint(path: Path) -> dict:
    """The dict a `fit` checkpoint holds (spec, config, meta, epoch, history, model, ...), checked
    for its format and version."""
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
    or, with the constant schedule (the others are tied to the length of the run), the same
    settings but more epochs (so a model trained for 8 epochs is extended to 12 rather than retrained)."""
    wanted = config.settings()
    if saved == wanted:
        return True
    same_but_epochs = {k: v for k, v in saved.items() if k != "epochs"} == {k: v for k, v in wanted.items() if k != "epochs"}
    return same_but_epochs and config.schedule == "constant"


def _batch_schedule_state(config: TrainConfig, done: int, total: int) -> dict:
    """What a checkpoint holds of the per-batch schedule: the batches done and the run's length.
    The rate itself is a function of them (`scheduled_lr`), so this is all a resumed run needs."""
    return {"schedule": "cosine_batch", "batches_done": done, "total_batches": total, "warmup": config.warmup}


def load_model(path) -> tuple[torch.nn.Module, dict, list[dict]]:
    """(model in eval mode, spec, per-epoch history) from a checkpoint written by `fit`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    ckpt = read_checkpoint(path)
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
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs) if config.schedule == "cosine_epoch" else None
    per_epoch = max(1, -(-n // config.batch_size))  # batches per epoch
    total_batches = per_epoch * config.epochs
    per_batch = config.schedule == "cosine_batch"
    if per_batch and config.warmup >= total_batches:
        raise ValueError(
            f"warmup of {config.warmup} batches leaves no batch to anneal: the run has {total_batches} "
            f"({config.epochs} epochs of {per_epoch})"
        )
    history: list[dict] = []
    start = 0
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        ckpt = read_checkpoint(path)
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
        if per_batch and ckpt["scheduler"] != _batch_schedule_state(config, int(ckpt["epoch"]) * per_epoch, total_batches):
            raise ValueError(
                f"{path} holds the per-batch schedule {ckpt['scheduler']}, which does not fit this run of "
                f"{total_batches} batches ({n} images); delete it or choose another checkpoint path"
            )
        history, start = list(ckpt["history"]), int(ckpt["epoch"])
        if start:
            print(f"{desc}: resuming after epoch {start} from {path}")
    y_all = torch.as_tensor(labels, dtype=torch.long)
    for epoch in range(start, config.epochs):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed * 100003 + epoch)).numpy()
        batches = np.array_split(order, per_epoch)
        total = 0.0
        bar = tqdm(batches, desc=f"{desc} epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False)
        for b, idx in enumerate(bar):
            rng = np.random.default_rng([config.seed, epoch, b])
            if per_batch:
                lr = scheduled_lr(config, epoch * per_epoch + b, total_batches)
                for group in opt.param_groups:
                    group["lr"] = lr
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
        if per_batch:  # the rate of the epoch's last batch (the legacy schedules keep their records)
            record["lr"] = lr
        if evaluate is not None:
            record["accuracy"] = float(evaluate(model))
        history.append(record)
        tqdm.write(f"{desc} epoch {epoch + 1}/{config.epochs}: " + ", ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k != "epoch"))  # fmt: skip
        if path is not None:
            _atomic_torch_save(
                {
                    "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "spec": spec,
                    "config": config.settings(), "meta": meta, "epoch": epoch + 1, "history": history,
                    "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict() if sched is not None else (
                        _batch_schedule_state(config, (epoch + 1) * per_epoch, total_batches) if per_batch else None),
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
