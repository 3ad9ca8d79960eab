"""How fast a classifier's loss grows along adversarial directions (paper, Methods, Eq. 31-32).

For any torch classifier that maps images (B, ...) in [0, 1] to logits: a ReLU ANN, or an SNN
wrapped as `bridges.whitebox.SNNClassifier` (gradients by Act-BP and the encoders' rules). The
loss L is the per-sample cross-entropy of the logits (for an SNN, of the decoder scores: what
it was trained on); models run in eval mode, large sets in batches.

- `fgsm_direction(model, x, y)`: v = sign(dL/dx), the FGSM direction (Eq. 22 with eps = 1).
- `directional_derivative(model, x, y, t=0.05)` (Eq. 31): per sample
  (L(f(x + t v), y) - L(f(x), y)) / t with v the FGSM direction at x, and their mean.
- `loss_change_surface(model, x, y, t1_values, t2_values)` (Eq. 32): the mean over samples of
  L(f(x + t1 v1 + t2 v2), y) - L(f(x), y) on a grid of (t1, t2) (the paper: [-1, 1]).

Choices (the paper says "two different FGSM adversarial directions" and no more):
- v1 is the FGSM direction at the clean x; v2 the FGSM direction at x + 0.05 v1 (clipped): the
  second step of an iterative FGSM, i.e. where the gradient points once the first step is
  taken. For a nearly linear model v2 agrees with v1 on most coordinates and the surface varies
  mostly along t1 + t2; `LossSurface.agreement` reports the fraction of coordinates where they
  agree. Other pairs (e.g. FGSM directions of two attacker ANNs trained with other seeds, the
  paper's black-box attackers) can be passed as v1, v2.
- Perturbed inputs are clipped to [0, 1] (`clip=True`, the default): images only exist there,
  the attacks clip too, and SNN encoders reject anything else. With clip=False (ANNs only) Eq.
  31 is the raw difference quotient along v.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DirectionalDerivative",
    "LossSurface",
    "directional_derivative",
    "fgsm_direction",
    "loss_change_surface",
    "per_sample_loss",
]


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module):
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)


def _device(model: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where and in which float type the model computes (its first parameter's)."""
    try:
        p = next(model.parameters())
        return p.device, p.dtype
    except StopIteration:
        return torch.device("cpu"), torch.get_default_dtype()


def _inputs(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(x)
    if not torch.is_floating_point(x):
        raise ValueError(f"x must hold floats in [0, 1], got dtype {x.dtype}")
    y = torch.as_tensor(y, dtype=torch.long)
    if x.ndim < 2 or y.shape != (x.shape[0],):
        raise ValueError(f"need images (B, ...) and labels (B,), got {tuple(x.shape)} and {tuple(y.shape)}")
    return x, y


def _batches(n: int, batch_size: int):
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [slice(s, s + batch_size) for s in range(0, n, batch_size)]


def _perturb(x: torch.Tensor, d: torch.Tensor, clip: bool) -> torch.Tensor:
    return (x + d).clamp(0, 1) if clip else x + d


def per_sample_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (B,) of model(x) against y (no reduction, no batching, gradients kept)."""
    return F.cross_entropy(model(x), y, reduction="none")


def _losses(model, x, y, batch_size) -> torch.Tensor:
    dev, dtype = _device(model)
    with torch.no_grad():
        return torch.cat(
            [per_sample_loss(model, x[s].to(dev, dtype), y[s].to(dev)).cpu() for s in _batches(len(x), batch_size)]
        )


def fgsm_direction(model: torch.nn.Module, x, y, batch_size: int = 1000) -> torch.Tensor:
    """sign(dL/dx) (same shape as x, values -1, 0, 1) for the per-sample cross-entropy L."""
    x, y = _inputs(x, y)
    dev, dtype = _device(model)
    out = torch.empty_like(x)
    with _eval_mode(model):
        for s in _batches(len(x), batch_size):
            xb = x[s].to(dev, dtype).detach().requires_grad_(True)
            loss = per_sample_loss(model, xb, y[s].to(dev)).sum()  # a sum keeps each sample's gradient
            (grad,) = torch.autograd.grad(loss, xb)
            out[s] = grad.sign().to(out.device, out.dtype)
    return out


class DirectionalDerivative(NamedTuple):
    values: torch.Tensor  # (B,) per sample, Eq. 31
    mean: float


def directional_derivative(
    model: torch.nn.Module, x, y, t: float = 0.05, v=None, clip: bool = True, batch_size: int = 1000
) -> DirectionalDerivative:
    """Eq. 31: ((L(f(x + t v), y) - L(f(x), y)) / t per sample, and the mean over samples.

    v: the direction (shape of x); default the FGSM direction at x (`fgsm_direction`), as in the
    paper (t = 0.05). clip: evaluate at clip(x + t v, 0, 1) (see the module docstring).
    """
    x, y = _inputs(x, y)
    if t == 0:
        raise ValueError("t must be nonzero")
    with _eval_mode(model):
        v = fgsm_direction(model, x, y, batch_size) if v is None else torch.as_tensor(v, dtype=x.dtype)
        if v.shape != x.shape:
            raise ValueError(f"v must have the shape of x {tuple(x.shape)}, got {tuple(v.shape)}")
        base = _losses(model, x, y, batch_size)
        moved = _losses(model, _perturb(x, t * v, clip), y, batch_size)
    values = (moved - base) / t
    return DirectionalDerivative(values, float(values.mean()))


@dataclass
class LossSurface:
    """Eq. 32 on a grid: loss_change[i, j] = mean_d L(f(x_d + t1[i] v1_d + t2[j] v2_d)) - L(f(x_d))."""

    t1: np.ndarray  # (n1,)
    t2: np.ndarray  # (n2,)
    loss_change: np.ndarray  # (n1, n2) float64
    v1: torch.Tensor  # directions, shape of x
    v2: torch.Tensor
    agreement: float  # fraction of the coordinates where v1 == v2


def loss_change_surface(
    model: torch.nn.Module,
    x,
    y,
    t1_values,
    t2_values,
    v1=None,
    v2=None,
    v2_step: float = 0.05,
    clip: bool = True,
    batch_size: int = 1000,
) -> LossSurface:
    """Eq. 32 over the grid t1_values x t2_values (the paper spans [-1, 1] on both axes).

    v1: default the FGSM direction at x; v2: default the FGSM direction at
    clip(x + v2_step * v1) (see the module docstring). clip: evaluate at clip(x + t1 v1 + t2 v2).
    The loss change at (0, 0) is exactly 0 (same inputs, same batches, same Poisson draws).
    """
    x, y = _inputs(x, y)
    t1 = np.asarray(t1_values, dtype=np.float64).reshape(-1)
    t2 = np.asarray(t2_values, dtype=np.float64).reshape(-1)
    with _eval_mode(model):
        v1 = fgsm_direction(model, x, y, batch_size) if v1 is None else torch.as_tensor(v1, dtype=x.dtype)
        if v2 is None:
            v2 = fgsm_direction(model, _perturb(x, v2_step * v1, clip), y, batch_size)
        v2 = torch.as_tensor(v2, dtype=x.dtype)
        for name, v in (("v1", v1), ("v2", v2)):
            if v.shape != x.shape:
                raise ValueError(f"{name} must have the shape of x {tuple(x.shape)}, got {tuple(v.shape)}")
        base = _losses(model, x, y, batch_size).double()
        surface = np.empty((len(t1), len(t2)))
        for i, a in enumerate(t1):
            for j, b in enumerate(t2):
                moved = _losses(model, _perturb(x, float(a) * v1 + float(b) * v2, clip), y, batch_size).double()
                surface[i, j] = float((moved - base).mean())
    agreement = float((v1 == v2).to(torch.float64).mean())
    return LossSurface(t1, t2, surface, v1, v2, agreement)
