"""Adversarial attacks: one interface for every attack of the paper (Methods, "Attack methods").

Every attack is a `torchattacks.Attack`: build it on a model that maps images (B, ...) in [0, 1]
to logits (B, n_classes), call it on (images, labels), get adversarial images of the same shape,
still in [0, 1]. FGSM, BIM (L-inf) and PGD (L-inf) are torchattacks' own; `PGDL2` is
torchattacks' made shape-agnostic; `BIML2`, `PGDL1` and `PGDL0` are written here in the same form.

`make_attack(name, model, **params)` builds one by name, starting from the paper's settings:

| name             | attack | preset (paper)                                                        |
|------------------|--------|-----------------------------------------------------------------------|
| `fgsm`           | FGSM   | eps 0.1 (MNIST, Fashion-MNIST default)                                |
| `pgd_linf`       | PGD    | eps 0.05 (Fig. 3D); alpha eps/16, 40 steps, random start (*)          |
| `bim_l2`         | BIML2  | eps 0.5 (Supp. Fig. S7); alpha eps/16, 40 steps (*)                   |
| `cifar10_l0`     | PGDL0  | k 10 pixels, 40 steps (Fig. 5); alpha 120000/255 (Croce & Hein) (*)   |
| `cifar10_l1`     | PGDL1  | eps 20, alpha 1.25, 40 steps (Fig. 5)                                 |
| `cifar10_l2`     | PGDL2  | eps 2.5, alpha 0.15625, 40 steps (Fig. 5)                             |
| `cifar10_linf`   | PGD    | eps 0.1, alpha 0.00625, 40 steps (Fig. 5)                             |
| `bim`, `pgd`, `pgd_l2`, `pgd_l1`, `pgd_l0` | | the class defaults (below), no paper preset       |

(*) not stated in the paper. Every Fig. 5 attack uses alpha = eps/16 and 40 iterations, so the
Fig. 3D / S7 presets follow that rule; the L0 step is Croce & Hein's own (their run_attack).

Choices where the papers leave room:
- BIM-L2 (torchattacks has none): Eq. 24 with x^0 = x, i.e. PGD-L2 without random start; the step
  is alpha g / ||g||_2 (Eq. 24 prints ||g||^2, which would make the step depend on the loss scale;
  torchattacks and the authors' copies normalise by the norm).
- PGD-L1: a sparse steepest-ascent step. The exact L1 steepest ascent moves one coordinate; we keep
  the `keep` fraction (default 0.5, the authors' code) of the coordinates with the largest |grad|
  among those that can move (nonzero gradient, not pushed out of [0, 1] by it), step by
  sign(grad) on them scaled to L1 length alpha, project the perturbation onto the L1 ball
  (Duchi et al. 2008) and clip the image to [0, 1]. The perturbation is the only state, updated
  once per step (the authors' copy adds it twice). Random start: uniform in the L1 ball.
  The fraction matters: sparser steps are much stronger (a 784-32-10 MNIST MLP, eps 20, 40
  steps: 35% accuracy left with keep 0.5, 3% with keep 0.1); pass `keep` to change it.
- PGD-L0 (Croce & Hein 2019): step alpha * g / ||g||_1, then the exact projection onto "at most k
  pixels changed (all channels of a pixel together), image in [0, 1]": keep the k pixels whose
  change gains most, ||y_p||^2 - ||y_p - clip(y_p)||^2. Random start: uniform in the box, then
  projected. As in their code, each sample keeps the first iterate that fools the model.
- A pixel is (h, w) of (B, C, H, W) images with its C channels; for (B, N) or (B, H, W) inputs
  every element is a pixel.

`black_box(attackers, x, y, name, **params)`: the paper's default setting, adversarial examples
made on ANNs trained with other seeds (one batch per attacker; the paper averages the victim's
accuracy over five). `run_attack` runs one attack over a large set in seeded batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchattacks
from torchattacks.attack import Attack

__all__ = [
    "ATTACKS",
    "BIML2",
    "PGDL0",
    "PGDL1",
    "PGDL2",
    "black_box",
    "l1_steepest_direction",
    "make_attack",
    "project_l0_box",
    "project_l1_ball",
    "run_attack",
]

# Croce & Hein's step for PGD-L0 on an L1-normalised gradient (sparse-imperceivable-attacks).
L0_STEP = 120000.0 / 255.0


# ---------------------------------------------------------------------------------- projections


def project_l1_ball(v: torch.Tensor, radius: float) -> torch.Tensor:
    """Euclidean projection of each row of v (B, n) onto {w : ||w||_1 <= radius} (Duchi et al.
    2008, Fig. 1, the O(n log n) sort-based algorithm).

    Rows inside the ball are returned unchanged. Otherwise w = sign(v) max(|v| - theta, 0) with
    theta chosen so that ||w||_1 = radius: sort |v| descending as u, rho = the largest j (1-based)
    with u_j > (sum_{i<=j} u_i - radius) / j, theta = (sum_{i<=rho} u_i - radius) / rho.
    """
    if v.ndim != 2:
        raise ValueError(f"project_l1_ball expects rows (B, n), got shape {tuple(v.shape)}")
    if radius < 0:
        raise ValueError(f"the L1 radius must be >= 0, got {radius}")
    a = v.abs()
    outside = a.sum(dim=1) > radius
    if not outside.any():
        return v
    u = a.sort(dim=1, descending=True).values
    cs = u.cumsum(dim=1)
    j = torch.arange(1, v.shape[1] + 1, device=v.device)
    positive = u * j.to(v.dtype) > cs - radius  # u_j - (cs_j - radius)/j > 0, without a division
    rho = (positive * j).amax(dim=1).clamp(min=1)  # the largest such j (1 when radius = 0)
    theta = (cs.gather(1, (rho - 1).unsqueeze(1)) - radius) / rho.unsqueeze(1).to(v.dtype)
    w = v.sign() * (a - theta).clamp(min=0)
    return torch.where(outside.unsqueeze(1), w, v)


def _pixels(t: torch.Tensor) -> torch.Tensor:
    """(B, P, C) view of a batch: pixels (h, w) with C channels for (B, C, H, W); else C = 1."""
    if t.ndim == 4:
        return t.permute(0, 2, 3, 1).reshape(t.shape[0], -1, t.shape[1])
    return t.reshape(t.shape[0], -1, 1)


def _unpixels(p: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if like.ndim == 4:
        B, C, H, W = like.shape
        return p.reshape(B, H, W, C).permute(0, 3, 1, 2).contiguous()
    return p.reshape(like.shape)


def project_l0_box(y: torch.Tensor, k: int, lb: torch.Tensor, ub: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of perturbations y (B, ...) onto {at most k pixels nonzero (all
    channels of a pixel together), lb <= delta <= ub} (Croce & Hein 2019).

    Each pixel p is either zeroed or clipped into [lb, ub]; clipping it instead of zeroing it
    lowers the squared distance by gain_p = ||y_p||^2 - ||y_p - clip(y_p)||^2, so the k pixels
    with the largest gain are clipped and the rest zeroed (exactly k pixels, ties broken arbitrarily).
    """
    clipped = torch.maximum(torch.minimum(y, ub), lb)
    py, pc = _pixels(y), _pixels(clipped)
    gain = (py**2 - (py - pc) ** 2).sum(dim=2)  # (B, P)
    k = min(int(k), gain.shape[1])
    keep = torch.zeros_like(gain, dtype=torch.bool)
    if k > 0:
        keep.scatter_(1, gain.topk(k, dim=1).indices, True)
    return _unpixels(pc * keep.unsqueeze(2), y)


def l1_steepest_direction(grad: torch.Tensor, x_adv: torch.Tensor, keep: float) -> torch.Tensor:
    """Sparse ascent direction of L1 length 1 per sample for PGD-L1.

    Movable coordinates: nonzero gradient, and not at a face of [0, 1] that the gradient pushes
    against (x = 0 with g < 0, x = 1 with g > 0: such a step would only be clipped away). Of the m
    movable coordinates the ceil(keep * m) with the largest |g| get sign(g) / count; the rest 0.
    """
    B = grad.shape[0]
    g, x = grad.reshape(B, -1), x_adv.reshape(B, -1)
    movable = (g != 0) & ~((x <= 0) & (g < 0)) & ~((x >= 1) & (g > 0))
    m = movable.sum(dim=1)
    # the guard keeps float error (0.1 * 30 = 3.0000000000000004) from adding a coordinate
    count = torch.ceil(keep * m.to(torch.float64) - 1e-9).to(torch.int64).clamp(max=m)
    count = torch.where(m > 0, count.clamp(min=1), count)
    order = torch.where(movable, g.abs(), torch.full_like(g, -1.0)).argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(g.shape[1], device=g.device).expand(B, -1))
    chosen = rank < count.unsqueeze(1)
    direction = g.sign() * chosen / count.clamp(min=1).unsqueeze(1).to(g.dtype)
    return direction.reshape(grad.shape)


# -------------------------------------------------------------------------------------- attacks


def _check_images(images: torch.Tensor) -> None:
    if images.ndim < 2:
        raise ValueError(f"images must be a batch (B, ...), got shape {tuple(images.shape)}")
    if torch.isnan(images).any() or images.min() < 0 or images.max() > 1:
        raise ValueError("images must lie in [0, 1] (scale them first, e.g. uint8 / 255)")


class PGDL2(torchattacks.PGDL2):
    r"""torchattacks' PGD-L2 (Madry et al. 2018) for inputs of any shape (B, ...).

    torchattacks reshapes norms to (B, 1, 1, 1), which assumes (B, C, H, W) images; other shapes
    are shown to it as (B, 1, 1, N) and reshaped back for the model. Same arguments as
    `torchattacks.PGDL2`: model, eps (L2 radius), alpha (L2 step), steps, random_start.
    """

    def __init__(self, model, eps=1.0, alpha=0.2, steps=10, random_start=True, eps_for_division=1e-10):
        super().__init__(model, eps, alpha, steps, random_start, eps_for_division)
        self._shape = None

    def forward(self, images, labels):
        if images.ndim == 4:
            return super().forward(images, labels)
        self._shape = images.shape
        try:
            adv = super().forward(images.reshape(images.shape[0], 1, 1, -1), labels)
        finally:
            self._shape = None
        return adv.reshape(images.shape)

    def get_logits(self, inputs, labels=None, *args, **kwargs):
        if self._shape is not None:
            inputs = inputs.reshape(self._shape)
        return super().get_logits(inputs, labels, *args, **kwargs)


class BIML2(PGDL2):
    r"""BIM with an L2 constraint (paper Eq. 24): L2 PGD started at the clean image.

    x^k = Pi_{L2, eps}(x^{k-1} + alpha g / ||g||_2), then clipped to [0, 1]; x^0 = x (BIM),
    where PGD starts from a random point of the ball.

    Arguments: model, eps (L2 radius, default 0.5, the paper's), alpha (L2 step, default
    eps/16), steps (default 40).
    """

    def __init__(self, model, eps=0.5, alpha=0.5 / 16, steps=40, eps_for_division=1e-10):
        super().__init__(model, eps, alpha, steps, random_start=False, eps_for_division=eps_for_division)
        self.attack = "BIML2"


class PGDL1(Attack):
    r"""PGD with an L1 constraint: sparse steepest-ascent steps, projection onto the L1 ball.

    Distance Measure : L1

    Arguments:
        model (nn.Module): model to attack (images (B, ...) in [0, 1] -> logits).
        eps (float): L1 radius of the perturbation. (Default: 20, the paper's CIFAR-10 setting)
        alpha (float): L1 length of each step. (Default: 1.25)
        steps (int): number of steps. (Default: 40)
        random_start (bool): start at a uniformly random point of the L1 ball. (Default: True)
        keep (float): fraction of the movable coordinates, by largest |grad|, that a step moves
            (`l1_steepest_direction`). (Default: 0.5, the authors' code)

    Each step: delta <- Pi_{L1, eps}(delta + alpha d(grad at x + delta)), then
    delta <- clip(x + delta, 0, 1) - x (clipping only shrinks |delta_i|, so delta stays in the
    ball). Returns x + delta after the last step.

    Examples::
        >>> attack = PGDL1(model, eps=20, alpha=1.25, steps=40)
        >>> adv_images = attack(images, labels)
    """

    def __init__(self, model, eps=20.0, alpha=1.25, steps=40, random_start=True, keep=0.5):
        super().__init__("PGDL1", model)
        if not 0 < keep <= 1:
            raise ValueError(f"keep must be in (0, 1], got {keep}")
        self.eps = eps
        self.alpha = alpha
        self.steps = steps
        self.random_start = random_start
        self.keep = keep
        self.supported_mode = ["default", "targeted"]

    def forward(self, images, labels):
        r"""
        Overridden.
        """
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        _check_images(images)
        if self.targeted:
            target_labels = self.get_target_label(images, labels)
        loss = torch.nn.CrossEntropyLoss()
        B = images.shape[0]

        delta = torch.zeros_like(images)
        if self.random_start:
            # uniform in the L1 ball: Laplace e, Exp z -> e / (||e||_1 + z) (Barthe et al. 2005)
            e = torch.empty_like(images).exponential_() * (2 * torch.randint_like(images, 0, 2) - 1)
            z = torch.empty(B, device=images.device, dtype=images.dtype).exponential_()
            scale = self.eps / (e.reshape(B, -1).abs().sum(dim=1) + z)
            delta = e * scale.view(B, *([1] * (images.ndim - 1)))
            delta = (images + delta).clamp(0, 1) - images

        for _ in range(self.steps):
            adv_images = (images + delta).requires_grad_(True)
            outputs = self.get_logits(adv_images)
            cost = -loss(outputs, target_labels) if self.targeted else loss(outputs, labels)
            grad = torch.autograd.grad(cost, adv_images, retain_graph=False, create_graph=False)[0]

            step = self.alpha * l1_steepest_direction(grad, adv_images.detach(), self.keep)
            delta = project_l1_ball((delta + step).reshape(B, -1), self.eps).reshape(images.shape)
            delta = (images + delta).clamp(0, 1) - images  # the one update of delta per step

        return (images + delta).detach()


class PGDL0(Attack):
    r"""PGD with an L0 constraint (Croce & Hein 2019, "Sparse and imperceivable adversarial
    attacks"): at most k pixels change, all channels of a pixel together.

    Distance Measure : L0 (pixels)

    Arguments:
        model (nn.Module): model to attack (images (B, ...) in [0, 1] -> logits).
        k (int): number of pixels that may change. (Default: 10, the paper's CIFAR-10 setting)
        alpha (float): step on the L1-normalised gradient. (Default: 120000/255, Croce & Hein)
        steps (int): number of steps. (Default: 40)
        random_start (bool): start from a uniform point of the box, projected. (Default: True)
        eps (float): bound on each changed value, |delta| <= eps (their L0+Linf threat model);
            1 leaves only the box [0, 1]. (Default: 1.0)

    Each step: y <- delta + alpha g / ||g||_1, delta <- `project_l0_box`(y, k, box). Each sample
    keeps the first iterate that the model misclassifies (as Croce & Hein); samples never fooled
    get the last iterate.

    Examples::
        >>> attack = PGDL0(model, k=10, steps=40)
        >>> adv_images = attack(images, labels)
    """

    def __init__(self, model, k=10, alpha=L0_STEP, steps=40, random_start=True, eps=1.0):
        super().__init__("PGDL0", model)
        if int(k) != k or k < 0:
            raise ValueError(f"k must be a number of pixels >= 0, got {k}")
        self.k = int(k)
        self.alpha = alpha
        self.steps = steps
        self.random_start = random_start
        self.eps = eps
        self.supported_mode = ["default", "targeted"]

    def forward(self, images, labels):
        r"""
        Overridden.
        """
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        _check_images(images)
        if self.targeted:
            target_labels = self.get_target_label(images, labels)
        loss = torch.nn.CrossEntropyLoss()
        B = images.shape[0]
        lb = torch.clamp(-images, min=-self.eps)
        ub = torch.clamp(1 - images, max=self.eps)

        delta = torch.zeros_like(images)
        if self.random_start:
            delta = project_l0_box(lb + (ub - lb) * torch.rand_like(images), self.k, lb, ub)

        found = torch.zeros(B, dtype=torch.bool, device=images.device)
        best = images.clone()
        for i in range(self.steps + 1):
            adv_images = (images + delta).requires_grad_(i < self.steps)
            with torch.set_grad_enabled(i < self.steps):
                outputs = self.get_logits(adv_images)
            fooled = outputs.argmax(dim=1) == target_labels if self.targeted else outputs.argmax(dim=1) != labels
            new = fooled.detach() & ~found
            best[new] = adv_images.detach()[new]
            found |= new
            if i == self.steps or found.all():
                break
            cost = -loss(outputs, target_labels) if self.targeted else loss(outputs, labels)
            grad = torch.autograd.grad(cost, adv_images, retain_graph=False, create_graph=False)[0]
            norm = grad.reshape(B, -1).abs().sum(dim=1).view(B, *([1] * (images.ndim - 1))) + 1e-10
            delta = project_l0_box(delta + self.alpha * grad / norm, self.k, lb, ub)

        last = (images + delta).detach()
        return torch.where(found.view(B, *([1] * (images.ndim - 1))), best, last)


# ----------------------------------------------------------------------------------- by name


# name -> (class, preset); make_attack's params override the preset.
ATTACKS: dict[str, tuple[type, dict]] = {
    "fgsm": (torchattacks.FGSM, {"eps": 0.1}),
    "pgd_linf": (torchattacks.PGD, {"eps": 0.05, "alpha": 0.05 / 16, "steps": 40, "random_start": True}),
    "bim_l2": (BIML2, {"eps": 0.5, "alpha": 0.5 / 16, "steps": 40}),
    "cifar10_l0": (PGDL0, {"k": 10, "alpha": L0_STEP, "steps": 40}),
    "cifar10_l1": (PGDL1, {"eps": 20.0, "alpha": 1.25, "steps": 40}),
    "cifar10_l2": (PGDL2, {"eps": 2.5, "alpha": 0.15625, "steps": 40}),
    "cifar10_linf": (torchattacks.PGD, {"eps": 0.1, "alpha": 0.00625, "steps": 40}),
    "bim": (torchattacks.BIM, {}),
    "pgd": (torchattacks.PGD, {}),
    "pgd_l2": (PGDL2, {}),
    "pgd_l1": (PGDL1, {}),
    "pgd_l0": (PGDL0, {}),
}


def make_attack(name: str, model: torch.nn.Module, **params) -> Attack:
    """The attack `name` (see `ATTACKS` and the module docstring) on `model`, with the paper's
    preset for that name updated by `params` (e.g. make_attack("fgsm", model, eps=0.2)).

    Parameters are taken as given: overriding eps leaves the preset's alpha as it is.
    """
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose from {tuple(ATTACKS)}")
    cls, preset = ATTACKS[name]
    try:
        return cls(model, **{**preset, **params})
    except TypeError as err:
        raise ValueError(f"bad parameters for attack {name!r} ({cls.__name__}): {err}") from None


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)


def run_attack(attack: Attack, x, y, batch_size: int = 500, seed: int | Sequence[int] = 0) -> torch.Tensor:
    """Adversarial images (N, ...) float32 on the CPU for x (N, ...) in [0, 1] and labels y (N,).

    The set is attacked in batches of `batch_size` on the attack's device, so 10,000 images fit
    in memory; torch's random generator is seeded per batch from (seed, batch index) inside a
    forked RNG state (random starts are reproducible; the caller's RNG is left as it was).
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.long)
    if x.ndim < 2 or y.shape != (x.shape[0],):
        raise ValueError(f"need images (N, ...) and labels (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    _check_images(x)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    seeds = [int(seed)] if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]
    device = attack.device if attack.device is not None else torch.device("cpu")
    devices = [device] if torch.device(device).type == "cuda" else []
    out = torch.empty_like(x)
    with torch.random.fork_rng(devices=devices):
        for b, start in enumerate(range(0, len(x), batch_size)):
            torch.manual_seed(_seed(*seeds, b))
            sl = slice(start, start + batch_size)
            out[sl] = attack(x[sl], y[sl]).detach().to("cpu", torch.float32)
    return out


def black_box(
    attackers: Sequence[torch.nn.Module],
    x,
    y,
    attack_name: str,
    *,
    batch_size: int = 500,
    seed: int = 0,
    **params,
) -> list[torch.Tensor]:
    """Black-box adversarial examples: one (N, ...) float32 CPU tensor per attacker model.

    attackers: models trained independently of the victim (the paper: ReLU ANNs of the victim's
        architecture trained with other seeds; accuracy reported as the mean over five);
    x (N, ...) in [0, 1], y (N,): the clean set; attack_name and params as for `make_attack`.
    Attacker i's batches are seeded from (seed, i, batch index) (see `run_attack`).
    """
    if len(attackers) == 0:
        raise ValueError("black_box needs at least one attacker model")
    return [
        run_attack(make_attack(attack_name, model, **params), x, y, batch_size, seed=(seed, i))
        for i, model in enumerate(attackers)
    ]

