"""Hypothesis strategies for evsim: inputs in [0, 1] of any shape (8-bit grids included), batches,
step counts, seeds, random networks of every projection kind (dense with skips; convolutions,
pools, residual blocks with identity or 1x1 shortcuts) and encoded batches.

evsim's own suite draws from these (tests/conftest.py re-exports the network and batch
strategies); `evsim.testing.check_encoder` draws its inputs from `batches`.

| strategy | draws |
|---|---|
| `unit_values(dtype)` | floats in [0, 1] of dtype, SPEC's tricky values (0.3, 0.6, 1/3, k/255) mixed in |
| `images(min_dims, max_dims, max_side, dtype)` | arrays of any shape in [0, 1]: floats, 8-bit grids k/255, dark backgrounds |
| `batches(...)` | `images` with a batch axis first: (B, ...), B >= 1 |
| `steps(max_T)` | T >= 1, small values often |
| `seeds()` | numpy seeds 0 .. 2**32 - 1 |
| `neurons` | IF and LIF neurons of mixed thresholds, threshold tests (`>=`, `>`), resets and time constants |
| `spec_neurons` | the same with SPEC's `>=` only (what the torch neuron of `bridges` runs) |
| `networks(...)` | feed-forward dense networks with skip projections and biases |
| `deep_networks(...)` | convolutional networks: conv, pool and residual stages, a dense readout |
| `encoded_batches(n_in)` | (T, B, n_in) from a random built-in encoder |
| `methods()`, `FUSED` | one built-in encoder or a fused list of them |
| `image_batches(shape)` | (images (B, *shape), T, seed) |
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..encoding import ENCODERS, encode
from ..network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population
from ..neurons import IF, LIF

DTYPES = (np.float32, np.float64)
SPECIAL_VALUES = (0.0, 1.0, 0.5, 0.3, 0.6, 0.1, 0.7, 1 / 3, 1 / 255, 51 / 255, 128 / 255, 254 / 255)


def unit_values(dtype=np.float64) -> st.SearchStrategy[float]:
    """Floats in [0, 1] exactly representable in dtype, with SPEC's tricky values mixed in."""
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return st.one_of(st.floats(0.0, 1.0, width=width), st.sampled_from([float(np.dtype(dtype).type(v)) for v in SPECIAL_VALUES]))


STYLES = ("floats", "floats", "8-bit", "dark")  # drawn evenly: floats half the time


@st.composite
def images(draw, min_dims: int = 0, max_dims: int = 4, max_side: int = 4, dtype=None, shape=None,
           styles: tuple[str, ...] = STYLES) -> np.ndarray:  # fmt: skip
    """An array with values in [0, 1]: of `shape`, or of any shape with min_dims..max_dims axes of
    1..max_side, in dtype (float32 or float64, drawn when None). Its values are, by a style drawn
    from `styles`: "floats" in [0, 1] (SPEC's tricky values mixed in), "8-bit" a grid k/255 (the
    quickest to shrink), or "dark" floats with the values under 0.3 set to 0 (a background)."""
    dtype = np.dtype(dtype if dtype is not None else draw(st.sampled_from(DTYPES)))
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side))
    style = draw(st.sampled_from(styles)) if len(styles) > 1 else styles[0]
    if style == "8-bit":
        pixels = draw(hnp.arrays(np.uint8, shape))
        return (pixels.astype(np.float64) / 255).astype(dtype)
    x = draw(hnp.arrays(dtype, shape, elements=unit_values(dtype)))
    if style == "dark":
        x[x < 0.3] = 0
    return x


def batches(min_dims: int = 1, max_dims: int = 4, max_side: int = 4, dtype=None, max_B: int | None = None,
            sample_shape: tuple[int, ...] | None = None, styles: tuple[str, ...] = STYLES) -> st.SearchStrategy[np.ndarray]:  # fmt: skip
    """`images` with a batch axis first, (B, ...): B in 1..max_B (default max_side) and any sample
    shape (or `sample_shape`); dtype and styles as in `images`."""
    if sample_shape is None and max_B is None:
        return images(min_dims=max(1, min_dims), max_dims=max_dims, max_side=max_side, dtype=dtype, styles=styles)
    B = st.integers(1, max_B if max_B is not None else max_side)
    rest = (st.just(tuple(sample_shape)) if sample_shape is not None
            else hnp.array_shapes(min_dims=max(0, min_dims - 1), max_dims=max_dims - 1, min_side=1, max_side=max_side))  # fmt: skip
    return st.tuples(B, rest).flatmap(lambda s: images(shape=(s[0],) + s[1], dtype=dtype, styles=styles))


def steps(max_T: int = 1000) -> st.SearchStrategy[int]:
    """T in 1..max_T, small values (1..12) often."""
    return st.one_of(st.integers(1, min(12, max_T)), st.integers(1, max_T))


def seeds() -> st.SearchStrategy[int]:
    """A seed of numpy's generators (`evsim.encoding.generator`)."""
    return st.integers(0, 2**32 - 1)


def _neurons(tests: list[str]) -> st.SearchStrategy:
    test = st.sampled_from(tests)
    return st.one_of(
        st.builds(IF, theta=st.sampled_from([0.5, 1.0, 1.7]), reset=st.sampled_from(["subtract", "zero"]),
                  threshold_test=test),
        st.builds(
            LIF,
            tau_m=st.floats(1.0, 20.0),
            tau_s=st.floats(1.0, 20.0),
            theta=st.sampled_from([0.5, 1.0, 1.7]),
            reset=st.sampled_from(["zero", "subtract"]),
            threshold_test=test,
        ),
    )


neurons = _neurons([">=", ">"])
spec_neurons = _neurons([">="])  # SPEC's test only: what the torch neuron (bridges) runs


@st.composite
def networks(draw, max_populations: int = 3, max_size: int = 16, skips: bool = True, neuron_kinds=None) -> Network:
    """A random feed-forward network: 1..max_populations layers, optional skip projections
    (input or earlier layer to a later layer, as residual additions do), biases and mixed neurons.

    Weights are drawn from a seeded Gaussian whose scale keeps the layers active but not saturated.
    neuron_kinds: the neuron strategy (default `neurons`, both threshold tests; `spec_neurons` for
    simulators that run SPEC's `>=` only).
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_in = draw(st.integers(1, max_size))
    n_pop = draw(st.integers(1, max_populations))
    sizes = [draw(st.integers(1, max_size)) for _ in range(n_pop)]
    same_neuron = draw(st.booleans())
    kinds = neurons if neuron_kinds is None else neuron_kinds  # e.g. spec_neurons for the torch twins
    first = draw(kinds)
    populations, projections = [], []
    for p, size in enumerate(sizes):
        neuron = first if same_neuron else draw(kinds)
        bias = rng.normal(0.0, 0.1, size) if draw(st.booleans()) else None
        populations.append(Population((size,), neuron, bias))
        sources = [p - 1]
        if skips and p >= 1 and draw(st.booleans()):
            sources.append(draw(st.integers(INPUT, p - 2)))
        for src in sources:
            n_src = n_in if src == INPUT else sizes[src]
            scale = draw(st.sampled_from([0.5, 1.5, 3.0])) / np.sqrt(n_src)
            projections.append(Dense(src, p, rng.normal(0.3 * scale, scale, (size, n_src))))
    return Network((n_in,), populations, projections)


@st.composite
def encoded_batches(draw, n_in: int, max_T: int = 25, max_B: int = 5) -> np.ndarray:
    """A batch (T, B, n_in) from a random encoder (current, Poisson, RateSyn, TTFS) of random x."""
    T = draw(st.integers(1, max_T))
    B = draw(st.integers(1, max_B))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).random((B, n_in))
    if draw(st.booleans()):
        x[x < 0.3] = 0.0  # images have dark backgrounds
    method = draw(st.sampled_from(ENCODERS))
    return encode(x, T, method, seed=seed)


def _weights(rng, draw, shape, fan_in):
    """Gaussian weights with a positive mean, scaled by the fan-in to keep layers active."""
    scale = draw(st.sampled_from([0.5, 1.5, 3.0])) / np.sqrt(fan_in)
    return rng.normal(0.3 * scale, scale, shape)


@st.composite
def deep_networks(draw, in_channels: int | None = None, max_layers: int = 3, neuron_kinds=None) -> Network:
    """A random convolutional network on a (C, H, W) input: 1..max_layers stages, each a
    convolution (kernel 1-5 per axis, stride 1-2, padding 0-2), an average pool, or a residual
    block (conv-conv with an identity or 1x1 strided-conv shortcut into the second population),
    then a dense readout. Channels 1-9, or 16 or 20 (the engine takes spikes of a convolution with
    16 or more output channels four at a time), biases and neurons drawn per population.
    """
    channels = st.one_of(st.integers(1, 9), st.sampled_from([16, 20]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    C = in_channels if in_channels is not None else draw(st.integers(1, 3))
    shape = (C, draw(st.integers(3, 8)), draw(st.integers(3, 8)))
    input_shape, node = shape, INPUT
    same_neuron = draw(st.booleans())
    kinds = neurons if neuron_kinds is None else neuron_kinds  # e.g. spec_neurons for the torch twins
    first = draw(kinds)
    populations, projections = [], []

    def population(out_shape):
        neuron = first if same_neuron else draw(kinds)
        size = int(np.prod(out_shape))
        bias = rng.normal(0.0, 0.1, size) if draw(st.booleans()) else None
        populations.append(Population(out_shape, neuron, bias))
        return len(populations) - 1

    def conv_out(c_in, h, w, kh, kw, s, p):
        return ((h + 2 * p[0] - kh) // s[0] + 1, (w + 2 * p[1] - kw) // s[1] + 1)

    for _ in range(draw(st.integers(1, max_layers))):
        c, h, w = shape
        stage = draw(st.sampled_from(["conv", "conv", "pool", "residual"]))
        if stage == "pool":
            kh, kw = draw(st.integers(1, min(3, h))), draw(st.integers(1, min(3, w)))
            stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            out = (c, (h - kh) // stride[0] + 1, (w - kw) // stride[1] + 1)
            target = population(out)
            projections.append(AvgPool2d(node, target, (kh, kw), stride))
        elif stage == "conv":
            kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
            stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            pad = (max(draw(st.integers(0, 2)), -(-(kh - h) // 2)), max(draw(st.integers(0, 2)), -(-(kw - w) // 2)))
            c_out = draw(channels)
            out = (c_out,) + conv_out(c, h, w, kh, kw, stride, pad)
            target = population(out)
            weight = _weights(rng, draw, (c_out, c, kh, kw), c * kh * kw)
            projections.append(Conv2d(node, target, weight, stride=stride, padding=pad))
        else:
            k = draw(st.sampled_from([1, 3, 5]))
            s = draw(st.integers(1, 2))
            c_out = draw(channels)
            mid = (c_out, (h - 1) // s + 1, (w - 1) // s + 1)
            a = population(mid)
            projections.append(Conv2d(node, a, _weights(rng, draw, (c_out, c, k, k), c * k * k), s, k // 2))
            out_pop = population(mid)
            projections.append(Conv2d(a, out_pop, _weights(rng, draw, (c_out, c_out, k, k), c_out * k * k), 1, k // 2))
            if s == 1 and c_out == c:
                projections.append(Identity(node, out_pop, draw(st.sampled_from([1.0, 0.5]))))
            else:
                projections.append(Conv2d(node, out_pop, _weights(rng, draw, (c_out, c, 1, 1), c), s, 0))
            target, out = out_pop, mid
        node, shape = target, out
    n_src = int(np.prod(shape))
    n_out = draw(st.integers(1, 5))
    readout = population((n_out,))
    projections.append(Dense(node, readout, _weights(rng, draw, (n_out, n_src), n_src)))
    return Network(input_shape, populations, projections)


FUSED = (["current", "ratesyn_e", "ttfs"], ["poisson", "ttfs"], ["ratesyn_s", "current"])


@st.composite
def methods(draw):
    """One encoder, or a fused list of them."""
    return draw(st.one_of(st.sampled_from(ENCODERS), st.sampled_from(FUSED)))


@st.composite
def image_batches(draw, shape: tuple[int, ...], max_T: int = 12, max_B: int = 3):
    """Images (B, *shape) in [0, 1] with dark backgrounds sometimes, and T."""
    T = draw(st.integers(1, max_T))
    B = draw(st.integers(1, max_B))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).random((B,) + tuple(shape))
    if draw(st.booleans()):
        x[x < 0.3] = 0.0
    return x, T, seed


__all__ = ["FUSED", "batches", "deep_networks", "encoded_batches", "image_batches", "images", "methods", "networks",
           "neurons", "seeds", "spec_neurons", "steps", "unit_values"]  # fmt: skip
