"""The one chunked-simulation runner: an SNN in evsim on a set of images, chunk by chunk.

A job runs its SNN on thousands of images in chunks, so that the encoded batch and what is
recorded stay small; chunk c draws its Poisson numbers from `np.random.default_rng([seed, c])`,
so clean and attacked images of a chunk see the same draws; and it joins what it measures of
each chunk's `SimulationResult`. `simulate_chunks` is that loop. The caller keeps its own chunk
size, input form, seed and simulate options, so each job computes exactly what it computed
with its own copy of the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from tqdm import tqdm

import evsim

# names of the (T, N, ...) arrays a measure may return: joined on the sample axis 1, the rest on axis 0
TIME_MAJOR = ("output_spikes", "hidden_spikes", "hidden_counts")
INPUTS = ("events", "dense", "current")


def simulate_chunks(
    net: evsim.Network,
    x: np.ndarray,
    T: int,
    encoder,
    measure: Callable[[evsim.Network, evsim.SimulationResult], dict],
    *,
    chunk: int,
    seed: int | None = None,
    inputs: str = "events",
    image_shape: tuple[int, ...] | None = None,
    timed: bool = False,
    progress: str | None = None,
    **options,
) -> dict[str, np.ndarray]:
    """Run `net` on images x (N, ...) `chunk` at a time; what `measure` keeps, joined over the chunks.

    encoder: an encoder name or a fused list (evsim's methods), T steps.
    inputs: "events" (`evsim.encode_events`), "dense" (`evsim.encode`, a (T, chunk, ...) batch) or
        "current": x itself as the input current of every step, its values taken as they are (not
        restricted to [0, 1]; encoder must be "current").
    seed: None (the encoders' default) or an int: chunk c draws from default_rng([seed, c]).
    image_shape: each chunk is reshaped to (-1, *image_shape) before encoding (CIFAR: (3, 32, 32)).
    measure(net, res): the arrays to keep of one chunk's result. Per-sample arrays are joined on
        the sample axis (axis 1 for the (T, N, ...) names in TIME_MAJOR, else axis 0); a 0-d value
        (a constant of the run, such as the model's delay) is the last chunk's.
    timed: add "seconds", the wall time spent in `evsim.simulate` (encoding excluded).
    progress: a label: show a progress bar over the chunks.
    options: keyword arguments of `evsim.simulate` (decoder, early_exit, dtype, record_hidden).
    """
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}")
    if inputs == "current" and encoder != "current":
        raise ValueError(f"inputs 'current' feeds x as a current: encoder must be 'current', got {encoder!r}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    starts = range(0, len(x), chunk)
    parts: dict[str, list] = {}
    seconds = 0.0
    for c, lo in enumerate(tqdm(starts, desc=progress, unit="chunk", leave=False) if progress else starts):
        xb = x[lo : lo + chunk]
        if image_shape is not None:
            xb = xb.reshape(-1, *image_shape)
        if inputs == "current":
            batch = np.ascontiguousarray(np.broadcast_to(xb, (T, *xb.shape)))
            run_options = options | {"input_kind": "current"}
        else:
            rng = None if seed is None else np.random.default_rng([seed, c])
            batch = (evsim.encode_events if inputs == "events" else evsim.encode)(xb, T, encoder, seed=rng)
            run_options = options
        started = time.perf_counter()
        res = evsim.simulate(net, batch, **run_options)
        seconds += time.perf_counter() - started
        for key, value in measure(net, res).items():
            parts.setdefault(key, []).append(value)
    out = {}
    for key, values in parts.items():
        if np.ndim(values[-1]) == 0:
            out[key] = values[-1]
        else:
            out[key] = np.concatenate(values, axis=1 if key in TIME_MAJOR else 0)
    if timed:
        out["seconds"] = seconds
    return out
