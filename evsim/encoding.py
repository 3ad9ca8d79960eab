"""Input encoders: pixel intensities x in [0, 1] become input sequences of T steps (SPEC "Encoders").

Every encoder returns a float32 array of shape (T, *x.shape); spike encoders hold only 0 and 1.
Step k = 0 .. T-1 is the paper's t = k + 1.

| method      | value at step k                                                            |
|-------------|----------------------------------------------------------------------------|
| current     | x, every step (a float current)                                            |
| poisson     | 1 if u < x, u ~ U[0, 1) fresh per element and step (seeded Generator)      |
| ratesyn_s   | 1 if k < n(x): RateSynS, the n(x) spikes start at step 0                   |
| ratesyn_e   | 1 if k >= T - n(x): RateSynE, the n(x) spikes end at step T-1              |
| ttfs        | 1 only at k = T - n(x); silent when n(x) = 0                               |

n(x) = ceil(x*T - 1e-4) clipped to [0, T] is the RateSyn spike count (`ratesyn_count`).
A list of methods gives the fused encoding: each encoder applied to the same x, concatenated on
the channel axis in the order given.

User encoders (`register_encoder(name, fn, kind)`, `evsim.encoder_registry`) are accepted by name
wherever a built-in one is, alone or in a fused list; `encoder_names()` lists every name now
accepted (`ENCODERS` stays the five built-ins).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from .encoder_registry import (BUILTIN_KINDS, encoder_kind, encoder_names, is_registered, register_encoder,
                               registered_encoders, run_encoder, unregister_encoder)
from .event_encoding import GUARD, METHOD_CODES, closed_form_events, fused_events, poisson_events
from .events import InputEvents, draw_steps, poisson_mask

# Keeps float error (0.07*100 = 7.000000000000001; SPEC's 0.3*10 is in fact exact) from adding a spike;
# the event kernels use the same constant.
SPIKE_COUNT_GUARD = GUARD

ENCODERS = tuple(BUILTIN_KINDS)  # ("current", "poisson", "ratesyn_s", "ratesyn_e", "ttfs")


def _check_T(T) -> int:
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)):
        raise ValueError(f"T must be an integer number of steps, got {T!r}")
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    return int(T)


def _check_x(x) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"x must be a real-valued array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"x is empty (shape {arr.shape})")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ValueError(f"x contains {int(np.isnan(arr).sum())} NaN value(s)")
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi > 1:
        raise ValueError(
            f"x must lie in [0, 1] (scale images first, e.g. uint8 / 255); got values in [{lo}, {hi}]"
        )
    return arr


def generator(seed) -> np.random.Generator:
    """The random generator of `seed`: None, a non-negative int, a sequence of them (numpy's
    SeedSequence entropy, e.g. [seed, chunk]), or a numpy Generator (used as it is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    ok = seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0)
    if not ok and isinstance(seed, (list, tuple, np.ndarray)):
        ok = len(seed) > 0 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in np.ravel(seed)
        )
    if not ok:
        raise ValueError(
            f"seed must be None, a non-negative int, a sequence of them or a numpy Generator, got {seed!r}"
        )
    return np.random.default_rng(seed)


def _methods(method) -> list[str]:
    """The encoders of `method` (one name or a fused list), validated."""
    if isinstance(method, str):
        methods = [method]
    elif isinstance(method, (list, tuple)):
        methods = list(method)
        if not methods:
            raise ValueError("fused encoding needs at least one method")
    else:
        raise ValueError(f"unknown encoding method {method!r}; choose from {encoder_names()} or a list of them (fused)")
    for m in methods:
        if not isinstance(m, str) or not (m in ENCODERS or is_registered(m)):
            raise ValueError(f"unknown encoding method {m!r}; choose from {encoder_names()} or a list of them (fused)")
    return methods


def ratesyn_count(x, T: int) -> np.ndarray:
    """RateSyn spike count n(x) = ceil(x*T - 1e-4) clipped to [0, T], as int64 of x's shape.

    Computed in float64 (exact for float32 x), so float32 and float64 inputs agree.
    """
    T = _check_T(T)
    arr = _check_x(x).astype(np.float64)
    n = np.ceil(arr * T - SPIKE_COUNT_GUARD)
    return np.clip(n, 0, T).astype(np.int64)


def _steps(T: int, ndim: int) -> np.ndarray:
    """Step indices 0..T-1 shaped (T, 1, ..., 1) to broadcast against x."""
    return np.arange(T).reshape((T,) + (1,) * ndim)


def _encode_one(x: np.ndarray, T: int, method: str, rng: np.random.Generator | None) -> np.ndarray:
    if is_registered(method):
        return run_encoder(method, x, T, rng)
    if method == "current":
        return np.broadcast_to(x.astype(np.float32), (T,) + x.shape).copy()
    if method == "poisson":
        u = rng.random((T,) + x.shape)
        return (u < x).astype(np.float32)
    n = ratesyn_count(x, T)
    k = _steps(T, x.ndim)
    if method == "ratesyn_s":
        return (k < n).astype(np.float32)
    if method == "ratesyn_e":
        return (k >= T - n).astype(np.float32)
    if method == "ttfs":
        return ((k == T - n) & (n > 0)).astype(np.float32)
    raise ValueError(f"unknown encoding method {method!r}; choose from {ENCODERS} or a list of them (fused)")


def encode(x, T: int, method: str | Sequence[str], seed=None, channel_axis: int = 1) -> np.ndarray:
    """Encode intensities x in [0, 1] into an input sequence.

    x: array of any shape, values in [0, 1] (a batch is (B, ...)).
    T: number of steps, >= 1.
    method: one of `encoder_names()` (the built-in `ENCODERS` and the registered encoders), or a
        list of them for the fused encoding.
    seed: int, None or numpy Generator; of the built-ins only `poisson` draws random numbers; a
        registered encoder gets `generator(seed)` (one for a fused list, drawn in list order).
        With an int seed the result is a pure function of (x, T, method, seed).
    channel_axis: for the fused encoding, the axis of x that encoders are concatenated on
        (1 for a batch (B, C, H, W) or (B, N); 0 for a single image (C, H, W)).

    Returns float32 (T, *x.shape); fused: x.shape with the channel axis K times larger.
    Raises ValueError for values outside [0, 1], NaN, T < 1, an unknown method, or a registered
    encoder's output of the wrong shape, dtype or values (`encoder_registry.check_output`).
    """
    T = _check_T(T)
    arr = _check_x(x)
    methods = _methods(method)
    rng = generator(seed)
    if isinstance(method, str):
        return _encode_one(arr, T, method, rng)
    if not -arr.ndim <= channel_axis < arr.ndim:
        raise ValueError(f"channel_axis {channel_axis} is out of range for x of shape {arr.shape}")
    axis = channel_axis % arr.ndim + 1  # +1: the time axis comes first
    return np.concatenate([_encode_one(arr, T, m, rng) for m in methods], axis=axis)


def encode_events(x, T: int, method: str | Sequence[str], seed=None) -> InputEvents:
    """Encode a batch straight into `InputEvents`, the engine's sparse input form.

    x: (B, ...) values in [0, 1]; method and seed as in `encode` (fused lists concatenate on axis 1,
    the channel axis of the batch). The events equal
    `InputEvents.from_dense(encode(x, T, method, seed), ...)` with `input_kind` = the methods, bit
    for bit, but no built-in encoder builds the dense (T, B, ...) batch: the current, RateSyn and
    TTFS events are closed-form in x (two passes over x, `evsim.event_encoding`), and Poisson
    makes `encode`'s draws only where they can matter, 0 < x < 1 (the same stream, and the
    generator left where `encode` leaves it; for bit generators other than PCG64 every number is
    drawn). A fused list of built-ins is each block's events, merged; a list holding a registered
    encoder is encoded densely and converted (its blocks are currents or spikes by its kind).
    """
    T = _check_T(T)
    methods = _methods(method)
    arr = np.asarray(x)
    if arr.ndim < 2 or arr.size == 0 or not all(m in METHOD_CODES for m in methods):
        arr = _check_x(x)  # the generic path checks x first, as encode does
    elif arr.dtype == bool:
        arr = arr.view(np.uint8)
    elif not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        _check_x(arr)  # raises: not real-valued
    if arr.ndim < 2:
        raise ValueError(f"encode_events needs a batch (B, ...), got shape {arr.shape}")
    shape = (arr.shape[1] * len(methods),) + arr.shape[2:]
    if methods == ["poisson"]:
        return _poisson_events(arr, T, seed, shape)
    if any(is_registered(m) for m in methods):  # a user's encoder: its blocks are currents or spikes by its kind
        dense = encode(arr, T, method, seed=seed)
        return InputEvents.from_dense(dense, shape, input_kind=methods)
    if "poisson" in methods:  # Poisson in a fused list: each block alone, Poisson blocks drawing in list order
        rng = generator(seed)
        block = (arr.shape[1],) + arr.shape[2:]
        blocks = [_poisson_events(arr, T, rng, block) if m == "poisson" else closed_form_events(arr, T, [m], block)
                  for m in methods]  # fmt: skip
        return fused_events(blocks, shape)
    events = closed_form_events(arr, T, methods, shape)  # checks the range of x in its first pass
    if events is None:
        _check_x(arr)  # raises with the message encode gives
        raise AssertionError("closed_form_events refused x that _check_x accepts")  # pragma: no cover
    return events


def _poisson_events(x: np.ndarray, T: int, seed, shape: tuple[int, ...]) -> InputEvents:
    """Poisson events with `encode`'s draws: for PCG64 (numpy's default) only the draws of pixels
    strictly between 0 and 1 are made, jumping over the rest (`event_encoding.poisson_events`);
    other bit generators draw every number (`events.poisson_mask`, straight into a (T, B, n)
    byte mask, no float64 batch)."""
    rng = generator(seed)
    events = poisson_events(x, T, rng, shape)
    if events is not None:
        return events
    B = x.shape[0]
    flat = np.ascontiguousarray(x.reshape(B, -1), dtype=np.float64)  # exact for float32 and integers
    spikes = np.empty((T,) + flat.shape, dtype=np.uint8)
    draw_steps(rng, T, flat.size, lambda g, k0, k1: poisson_mask(g, flat, k0, k1, spikes))
    return InputEvents.from_dense(spikes.view(bool), shape, input_kind="spikes")


# the registry's public names, here beside encode (evsim.register_encoder is this one)
__all__ = ["ENCODERS", "encode", "encode_events", "encoder_kind", "encoder_names", "generator", "ratesyn_count",
           "register_encoder", "registered_encoders", "unregister_encoder"]  # fmt: skip


def __getattr__(name: str):
    if name == "spike_count":  # the old name, kept one release (CHANGELOG "Deprecated")
        warnings.warn("evsim.encoding.spike_count is deprecated; use evsim.ratesyn_count (RateSyn's n(x))",
                      DeprecationWarning, stacklevel=2)  # fmt: skip
        return ratesyn_count
    raise AttributeError(f"module 'evsim.encoding' has no attribute {name!r}")
