"""CIFAR-10 training augmentation as plain torch ops (no torchvision): random crop after zero
padding, and random horizontal flip.

Both take a batch (N, C, H, W) of any dtype (uint8 straight from `bridges.datasets`, or float) on
any device, draw one random choice per image from `generator` (a torch.Generator; None uses
torch's global one), and return a new tensor of the same shape, dtype and device. Randomness is
drawn on the generator's device, so a CPU generator gives the same augmentation on CPU and GPU.
"""

from __future__ import annotations

import torch

__all__ = ["random_crop", "random_horizontal_flip", "augment_cifar10"]


def _check_batch(x) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"expected a tensor of shape (N, C, H, W), got {shape}")


def _device(generator) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def random_crop(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad each image with `padding` zero pixels on every side, then cut an H x W window at a
    random offset (row and column each uniform in 0..2*padding, drawn per image).

    x: (N, C, H, W); returns (N, C, H, W), same dtype and device. padding=0 returns a copy.
    """
    _check_batch(x)
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative int (pixels), got {padding!r}")
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator, device=_device(generator)).to(x.device)
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))  # zeros, any dtype
    # Gather the window with index arithmetic: one kernel for the batch, no Python loop per image.
    rows = (offsets[0, :, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (N, 1, H, 1)
    cols = (offsets[1, :, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (N, 1, 1, W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def random_horizontal_flip(x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right (along W) with probability p, drawn per image.

    x: (N, C, H, W); returns (N, C, H, W), same dtype and device.
    """
    _check_batch(x)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    flip = torch.rand(x.shape[0], generator=generator, device=_device(generator)).to(x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def augment_cifar10(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The standard CIFAR-10 training augmentation: random_crop(padding=4), then a horizontal
    flip with p=0.5. x: (N, C, H, W) -> (N, C, H, W)."""
    return random_horizontal_flip(random_crop(x, 4, generator), 0.5, generator)
