"""CIFAR-10 augmentation without torchvision: crops are exact windows of the zero-padded input,
flips are exact mirrors, both seeded by a torch.Generator."""

import pytest
import torch
import torch.nn.functional as F

from bridges.augment import augment_cifar10, random_crop, random_horizontal_flip


def _batch(dtype=torch.uint8, n=64, c=3, h=8, w=6):
    # values >= 1, so a zero in the output can only come from the padding
    x = torch.arange(n * c * h * w).reshape(n, c, h, w) % 250 + 1
    return x.to(dtype)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _crop_offset(padded: torch.Tensor, out: torch.Tensor) -> list[tuple[int, int]]:
    """Every (row, column) offset at which `out` (C, H, W) is a window of `padded`."""
    h, w = out.shape[1:]
    return [
        (i, j)
        for i in range(padded.shape[1] - h + 1)
        for j in range(padded.shape[2] - w + 1)
        if torch.equal(padded[:, i : i + h, j : j + w], out)
    ]


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_random_crop_is_an_exact_window_of_the_padded_input(dtype):
    x = _batch(dtype)
    out = random_crop(x, padding=4, generator=_gen())
    assert out.shape == x.shape and out.dtype == dtype
    padded = F.pad(x, (4, 4, 4, 4))
    offsets = set()
    for k in range(len(x)):
        found = _crop_offset(padded[k], out[k])
        assert len(found) == 1, f"image {k} is no window of its padded input"
        offsets.add(found[0])
    assert len(offsets) > 20  # drawn per image, not once per batch


def test_random_crop_draws_every_offset():
    x = _batch(n=600, c=1, h=4, w=4)
    out = random_crop(x, padding=2, generator=_gen(1))
    padded = F.pad(x, (2, 2, 2, 2))
    offsets = {_crop_offset(padded[k], out[k])[0] for k in range(len(x))}
    assert offsets == {(i, j) for i in range(5) for j in range(5)}  # 0..2*padding both ways, extremes included


def test_random_crop_padding_zero_is_the_identity():
    x = _batch()
    out = random_crop(x, padding=0, generator=_gen())
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()


def test_random_horizontal_flip_is_exact_and_both_variants_occur():
    x = _batch(torch.float32)
    out = random_horizontal_flip(x, generator=_gen())
    assert out.shape == x.shape and out.dtype == x.dtype
    flipped = [torch.equal(out[k], x[k].flip(-1)) for k in range(len(x))]
    kept = [torch.equal(out[k], x[k]) for k in range(len(x))]
    assert all(f != k for f, k in zip(flipped, kept))  # each image exactly one of the two
    assert any(flipped) and any(kept)
    assert torch.equal(random_horizontal_flip(x, p=0.0), x)
    assert torch.equal(random_horizontal_flip(x, p=1.0), x.flip(-1))


def test_flip_rate_follows_p():
    x = _batch(n=4000, c=1, h=1, w=2)
    out = random_horizontal_flip(x, p=0.25, generator=_gen(3))
    rate = (out[:, 0, 0, 0] != x[:, 0, 0, 0]).float().mean().item()
    assert abs(rate - 0.25) < 0.03


@pytest.mark.parametrize("fn", [random_crop, random_horizontal_flip, augment_cifar10])
def test_seeded_generator_reproduces(fn):
    x = _batch()
    a, b = fn(x, generator=_gen(7)), fn(x, generator=_gen(7))
    assert torch.equal(a, b)
    assert not torch.equal(a, fn(x, generator=_gen(8)))
    g = _gen(7)
    assert not torch.equal(fn(x, generator=g), fn(x, generator=g))  # the generator moves on


def test_augment_cifar10_shapes():
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    out = augment_cifar10(x, generator=_gen())
    assert out.shape == x.shape and out.dtype == torch.uint8
    x = x.float() / 255
    assert augment_cifar10(x, generator=_gen()).dtype == torch.float32


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: random_crop(torch.zeros(3, 8, 8)), r"\(N, C, H, W\)"),
        (lambda: random_crop(torch.zeros(1, 3, 8, 8), padding=-1), "padding"),
        (lambda: random_horizontal_flip(torch.zeros(8, 8)), r"\(N, C, H, W\)"),
        (lambda: random_horizontal_flip(torch.zeros(1, 3, 8, 8), p=1.5), "probability"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
