"""Input events: an encoded batch as sparse event lists, the form the engine reads.

A dense encoded batch (T, B, *input_shape) holds mostly zeros: a TTFS input has at most one spike
per pixel in T steps. `InputEvents` keeps only the non-zero entries, so the engine's input work is
proportional to the input's spikes (and non-zero currents), not to T x n_in reads.

Layout (CSR over (sample, step)): the events of sample b at step k are
``index[offsets[b*T + k] : offsets[b*T + k + 1]]`` with values ``value[...]``, indices in increasing
order within a step (so accumulation order, and with it float rounding, is that of a dense scan).
Indices are flat (C, H, W)-major positions in the input. ``current`` marks, per input position,
whether it carries a float current (its events cost multiply-accumulates, MACs) or spikes (each
event costs one SOP per synapse reached).

Build one with `InputEvents.from_dense(inputs, shape, input_kind)` from a dense batch, or directly
from images with `evsim.encode_events` (no dense batch is ever made for the deterministic encoders).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from .encoder_registry import is_current

INPUT_KINDS = ("auto", "spikes", "current")
CURRENT = "current"


@dataclass(frozen=True, eq=False)
class InputEvents:
    """A batch of B samples over T steps as event lists (see the module docstring).

    T: steps. shape: per-sample input shape. offsets: (B*T + 1,) int64. index: (E,) int32 flat input
    positions. value: (E,) float32 or float64 (1 for spikes), or (0,) when every position is a spike
    (a spike's value is 1: a pure spike batch moves 4 bytes per event, not 12). current: (n_in,)
    bool, the positions fed by a float current (MACs) rather than spikes (SOPs).
    """

    T: int
    shape: tuple[int, ...]
    offsets: np.ndarray
    index: np.ndarray
    value: np.ndarray
    current: np.ndarray

    def __post_init__(self) -> None:
        T, n = int(self.T), math.prod(self.shape)
        if T < 1:
            raise ValueError(f"InputEvents need T >= 1 steps, got {T}")
        off, idx, val, cur = self.offsets, self.index, self.value, self.current
        if off.ndim != 1 or off.shape[0] < T + 1 or (off.shape[0] - 1) % T:
            raise ValueError(f"offsets must have B*T + 1 entries (T = {T}), got shape {off.shape}")
        if cur.shape != (n,) or cur.dtype != np.bool_:
            raise ValueError(f"current must be a bool array of {n} input positions, got {cur.dtype} {cur.shape}")
        if idx.dtype != np.int32 or idx.ndim != 1 or off.dtype != np.int64 or off[0] != 0 or off[-1] != idx.shape[0]:
            raise ValueError("index must be an (E,) int32 array that the int64 offsets span from 0 to E")
        if val.shape != idx.shape and not (val.shape == (0,) and not cur.any()):
            raise ValueError("value must have one entry per event, or none when every position is a spike")
        if val.dtype not in (np.float32, np.float64):
            raise ValueError(f"event values must be float32 or float64, got {val.dtype}")
        problem = _check_events(off, idx, val, n)
        if problem:
            raise ValueError(("offsets must be non-decreasing", f"event indices must lie in [0, {n})",
                              "event values must be finite")[problem - 1])

    @property
    def B(self) -> int:
        return (self.offsets.shape[0] - 1) // self.T

    @property
    def n_events(self) -> int:
        return int(self.index.shape[0])

    @classmethod
    def from_dense(cls, inputs, shape: tuple[int, ...], input_kind="auto") -> InputEvents:
        """Validate a dense encoded batch and turn it into `InputEvents`.

        inputs: (T, B, *shape) or (T, B, n_in); bool, integer or float. Spikes must be 0/1.
        shape: the per-sample input shape (a network's `input_shape`).
        input_kind: see `current_mask`. Values of current positions keep their float dtype
        (integers become float64); spikes are stored as float32 ones.
        Raises ValueError for a wrong shape, T or B < 1, NaN/inf, complex or non-numeric values,
        or non-binary values on spike positions.
        """
        return _from_dense(inputs, tuple(shape), input_kind)

    @classmethod
    def _trusted(cls, T: int, shape: tuple[int, ...], offsets, index, value, current) -> InputEvents:
        """`InputEvents` from arrays an encoder kernel built correct by construction: the field
        checks of __post_init__ but not its O(events) scan of offsets, indices and values
        (a millisecond per million events, a tenth of an MLP's simulation of them). tests/test_events.py
        runs the full checks on every encoder's output."""
        events = object.__new__(cls)
        for name, v in zip(("T", "shape", "offsets", "index", "value", "current"),
                           (int(T), tuple(shape), offsets, index, value, current)):  # fmt: skip
            object.__setattr__(events, name, v)
        n = math.prod(events.shape)
        if not (offsets.dtype == np.int64 and offsets.shape == (events.B * events.T + 1,) and offsets[0] == 0
                and offsets[-1] == index.shape[0] and index.dtype == np.int32 and current.shape == (n,)
                and value.dtype in (np.float32, np.float64) and value.shape in ((0,), index.shape)):  # fmt: skip
            raise AssertionError("an encoder kernel built malformed InputEvents")  # a bug in evsim, not in the input
        return events

    def validate(self) -> InputEvents:
        """Run every check of the constructor again (the O(events) scan included); returns self."""
        InputEvents(self.T, self.shape, self.offsets, self.index, self.value, self.current)
        return self

    def to_dense(self) -> np.ndarray:
        """The dense batch (T, B, *shape) in the value dtype."""
        T, B, n = self.T, self.B, self.current.shape[0]
        out = np.zeros((B * T, n), dtype=self.value.dtype)
        rows = np.repeat(np.arange(B * T), np.diff(self.offsets))
        out[rows, self.index] = self.value if self.value.shape == self.index.shape else 1
        return out.reshape(B, T, n).transpose(1, 0, 2).reshape((T, B) + tuple(self.shape))


@njit(cache=True, nogil=True)
def _check_events(offsets, index, value, n):
    """0, or the first problem: 1 offsets decrease, 2 an index outside [0, n), 3 a value not finite."""
    for i in range(offsets.shape[0] - 1):
        if offsets[i + 1] < offsets[i]:
            return 1
    for e in range(index.shape[0]):
        if index[e] < 0 or index[e] >= n:
            return 2
    for e in range(value.shape[0]):
        if not np.isfinite(value[e]):
            return 3
    return 0


def current_mask(input_shape: tuple[int, ...], input_kind, is_binary: bool | None) -> np.ndarray:
    """(n_in,) bool: which input positions carry float currents.

    input_kind: "spikes", "current", "auto" (current unless every value is 0 or 1: `is_binary`), or a
    sequence of kinds per channel block for a fused input, e.g. ["current", "ratesyn_e", "ttfs"]:
    the channel axis (axis 0 of input_shape) splits into that many equal blocks in order, and a
    block is current when its kind is "current" or a registered encoder of kind "current"
    (`encoder_registry.is_current`); any other encoder name is spikes.
    """
    n = math.prod(input_shape)
    if isinstance(input_kind, str):
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS} or a list of kinds per channel block, "
                             f"got {input_kind!r}")
        if input_kind == "auto":
            return np.full(n, not is_binary, dtype=bool)
        return np.full(n, input_kind == CURRENT, dtype=bool)
    if not isinstance(input_kind, Sequence) or not input_kind:
        raise ValueError(f"input_kind must be a string or a non-empty list of kinds, got {input_kind!r}")
    for kind in input_kind:
        if not isinstance(kind, str) or kind == "auto":
            raise ValueError(f"input_kind blocks must be 'current', 'spikes' or encoder names, got {kind!r}")
    K, C = len(input_kind), input_shape[0]
    if C % K:
        raise ValueError(f"input_kind has {K} blocks but the input has {C} channels (axis 0 of {input_shape})")
    per_block = n // K
    return np.repeat(np.array([is_current(k) for k in input_kind], dtype=bool), per_block)


@njit(cache=True, parallel=True, nogil=True)
def _scan_dense(flat):
    """Count NaN/inf values and finite values other than 0 and 1 of a float array."""
    nonfinite = 0
    nonbinary = 0
    for i in prange(flat.shape[0]):
        v = flat[i]
        if not np.isfinite(v):
            nonfinite += 1
        elif v != 0 and v != 1:
            nonbinary += 1
    return nonfinite, nonbinary


@njit(cache=True, parallel=True, nogil=True)
def _count_nonzero(x, counts):
    """counts[b*T + k] = non-zero entries of x[k, b] (x: (T, B, n))."""
    T, B, n = x.shape
    for b in prange(B):
        for k in range(T):
            c = 0
            row = x[k, b]
            for j in range(n):
                if row[j] != 0:
                    c += 1
            counts[b * T + k] = c


@njit(cache=True, parallel=True, nogil=True)
def _fill_events(x, offsets, index, value):
    """Write the non-zero entries of x (T, B, n); values only when `value` has room for them."""
    T, B, n = x.shape
    with_values = value.shape[0] > 0
    for b in prange(B):
        for k in range(T):
            e = offsets[b * T + k]
            row = x[k, b]
            for j in range(n):
                if row[j] != 0:
                    index[e] = j
                    if with_values:
                        value[e] = row[j]
                    e += 1


def _csr_from_dense(x: np.ndarray, value_dtype, with_values: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    T, B, _ = x.shape
    counts = np.empty(B * T, dtype=np.int64)
    _count_nonzero(x, counts)
    offsets = np.zeros(B * T + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    index = np.empty(offsets[-1], dtype=np.int32)
    value = np.empty(offsets[-1] if with_values else 0, dtype=value_dtype)
    _fill_events(x, offsets, index, value)
    return offsets, index, value


def _from_dense(inputs, input_shape: tuple[int, ...], input_kind) -> InputEvents:
    """`InputEvents.from_dense`."""
    n_in = math.prod(input_shape)
    arr = np.asarray(inputs)
    if arr.ndim < 3:
        raise ValueError(f"inputs must have shape (T, B, ...) with an input per step and sample, got {arr.shape}")
    T, B = arr.shape[:2]
    if T < 1 or B < 1:
        raise ValueError(f"inputs need T >= 1 steps and B >= 1 samples, got shape {arr.shape}")
    if arr.shape[2:] not in (input_shape, (n_in,)):
        raise ValueError(f"inputs have per-sample shape {arr.shape[2:]}, the network expects {input_shape}")
    if not (arr.dtype == bool or np.issubdtype(arr.dtype, np.number)) or np.iscomplexobj(arr):
        raise ValueError(f"inputs must be real numbers or booleans, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr.reshape(T, B, n_in))
    if arr.dtype == bool:  # binary by construction: no scan
        arr = arr.view(np.uint8)
        is_binary = True
    elif np.issubdtype(arr.dtype, np.floating):
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
        n_nonfinite, n_nonbinary = _scan_dense(arr.reshape(-1))
        if n_nonfinite:
            raise ValueError(f"inputs contain {n_nonfinite} NaN or inf value(s)")
        is_binary = n_nonbinary == 0
    else:
        is_binary = bool(((arr == 0) | (arr == 1)).all())
    mask = current_mask(input_shape, input_kind, is_binary)
    if not is_binary and not mask.all():
        spikes = arr[:, :, ~mask]
        if not ((spikes == 0) | (spikes == 1)).all():
            what = "input_kind='spikes'" if isinstance(input_kind, str) else "spike channels"
            raise ValueError(f"{what} needs inputs of only 0 and 1")
    value_dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else (np.float64 if mask.any() else np.float32)
    offsets, index, value = _csr_from_dense(arr, value_dtype, bool(mask.any()))
    return InputEvents(T, input_shape, offsets, index, value, mask)


# ---------------------------------------------------------------------------------------------
# encoders straight to events (the closed-form codes are in evsim.event_encoding)
# ---------------------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def poisson_mask(rng, x, k0, k1, out):
    """out[k, b, j] = (u < x[b, j]) for steps k0 <= k < k1, u drawn in (k, b, j) order: the numbers,
    and the order, of numpy's ``rng.random((T, B, n))`` from step k0 on (numba's Generator shares
    the bit generator and its state), without a float64 batch. x: (B, n) float64."""
    B, n = x.shape
    for k in range(k0, k1):
        for b in range(B):
            row = out[k, b]
            xb = x[b]
            for j in range(n):
                row[j] = rng.random() < xb[j]


@njit(cache=True, nogil=True)
def poisson_changes(rng, lo, hi, k0, k1, counts):
    """counts[k] = #{i : lo[i] <= u < hi[i]} for steps k0 <= k < k1, u drawn as ``rng.random((T, n))``
    from step k0 on: the Poisson spikes that change when a value moves between lo and hi under the
    same draws. lo, hi: (n,) float64."""
    n = lo.shape[0]
    for k in range(k0, k1):
        c = 0
        for i in range(n):
            u = rng.random()
            if lo[i] <= u and u < hi[i]:
                c += 1
        counts[k] = c


def draw_steps(rng: np.random.Generator, T: int, per_step: int, kernel) -> None:
    """Run kernel(generator, k0, k1) over the steps 0..T-1 so that together they draw exactly
    ``rng.random((T, per_step))`` and leave rng where that call would.

    A PCG64 stream can jump ahead (`advance`), so with several numba threads the steps are split
    into parts drawn at once in Python threads (the kernels release the GIL), each part from a copy
    of the generator advanced to its first draw; the numbers are the sequential ones. Other bit
    generators draw sequentially.
    """
    bit = rng.bit_generator
    parts = min(numba.get_num_threads(), T)
    if parts < 2 or not isinstance(bit, (np.random.PCG64, np.random.PCG64DXSM)):
        kernel(rng, 0, T)
        return
    bounds = [T * p // parts for p in range(parts + 1)]
    gens = [rng]
    for p in range(1, parts):
        clone = type(bit)()
        clone.state = bit.state
        clone.advance(bounds[p] * per_step)  # random() takes one 64-bit draw per double
        gens.append(np.random.Generator(clone))
    with ThreadPoolExecutor(parts) as pool:
        for f in [pool.submit(kernel, g, bounds[p], bounds[p + 1]) for p, g in enumerate(gens)]:
            f.result()
    bit.state = gens[-1].bit_generator.state


def __getattr__(name: str):
    if name == "input_events":  # the old name, kept one release (CHANGELOG "Deprecated")
        warnings.warn("evsim.events.input_events is deprecated; use evsim.InputEvents.from_dense", DeprecationWarning,
                      stacklevel=2)  # fmt: skip
        return InputEvents.from_dense
    raise AttributeError(f"module 'evsim.events' has no attribute {name!r}")


__all__ = ["INPUT_KINDS", "InputEvents", "current_mask"]
