"""Shared hypothesis strategies: random networks and encoded batches that exercise every path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import strategies as st

import evsim
from evsim.network import INPUT, Dense, Network, Population

neurons = st.one_of(
    st.builds(evsim.IF, theta=st.sampled_from([0.5, 1.0, 1.7]), reset=st.sampled_from(["subtract", "zero"])),
    st.builds(
        evsim.LIF,
        tau_m=st.floats(1.0, 20.0),
        tau_s=st.floats(1.0, 20.0),
        theta=st.sampled_from([0.5, 1.0, 1.7]),
        reset=st.sampled_from(["zero", "subtract"]),
    ),
)


@st.composite
def networks(draw, max_populations: int = 3, max_size: int = 16, skips: bool = True) -> Network:
    """A random feed-forward network: 1..max_populations layers, optional skip projections
    (input or earlier layer to a later layer, as residual additions do), biases and mixed neurons.

    Weights are drawn from a seeded Gaussian whose scale keeps the layers active but not saturated.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_in = draw(st.integers(1, max_size))
    n_pop = draw(st.integers(1, max_populations))
    sizes = [draw(st.integers(1, max_size)) for _ in range(n_pop)]
    same_neuron = draw(st.booleans())
    first = draw(neurons)
    populations, projections = [], []
    for p, size in enumerate(sizes):
        neuron = first if same_neuron else draw(neurons)
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
    method = draw(st.sampled_from(evsim.ENCODERS))
    return evsim.encode(x, T, method, seed=seed)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors gain nothing from a second intra-op thread, and on a busy 2-core machine its
    spin-waiting barriers cost 10-100x (measured: 6 s with one thread, 50-100 s with two).
    Use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
