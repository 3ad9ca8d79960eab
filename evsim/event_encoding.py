"""Encoders straight to event lists, at memory speed (issue 23).

`evsim.encode_events` calls these for the built-in encoders. The current, RateSyn and TTFS codes
are closed-form in x and T (SPEC "Encoders"): a position with RateSyn count n = n(x) emits at the
contiguous steps

| code      | steps            |
|-----------|------------------|
| current   | 0 .. T-1 (value float32(x)), none when float32(x) = 0 |
| ratesyn_s | 0 .. n-1         |
| ratesyn_e | T-n .. T-1       |
| ttfs      | T-n only, none when n = 0 |

so two passes over x make the events without the dense (T, B, n) batch: the first checks x, computes
n once per position (kept as a (B, n) uint16 / int32 array, a quarter or a half of float64 x) and the
events per (sample, step); the second, after the prefix sum, writes each sample's indices. Both run
over samples in parallel and read x once each: the cost is that of reading x and writing the
events. The arrays are those of `InputEvents.from_dense(encode(x, T, method), ...)`, bit for bit
(tests/test_events.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .events import InputEvents

CODE_CURRENT, CODE_RATESYN_S, CODE_RATESYN_E, CODE_TTFS = 0, 1, 2, 3
METHOD_CODES = {"current": CODE_CURRENT, "ratesyn_s": CODE_RATESYN_S, "ratesyn_e": CODE_RATESYN_E, "ttfs": CODE_TTFS}
GUARD = 1e-4  # SPEC's guard in n(x) = ceil(x*T - 1e-4); evsim.encoding.SPIKE_COUNT_GUARD is this one


@njit(cache=True, nogil=True, inline="always")
def _steps(code, count, emits_current, T):
    """The steps [start, stop) at which a position with RateSyn count `count` emits under `code`."""
    if code == CODE_CURRENT:
        return (0, T) if emits_current else (0, 0)
    if code == CODE_RATESYN_S:
        return 0, count
    if code == CODE_RATESYN_E:
        return T - count, T
    if count > 0:
        return T - count, T - count + 1
    return 0, 0


@njit(cache=True, parallel=True, nogil=True)
def _count_pass(x, T, codes, counts, per_step):
    """Pass 1. x: (B, n) float32/float64; codes: (K,) int64, the fused blocks in order.
    Writes counts[b, j] = n(x[b, j]) and per_step[b*T + k] = events of sample b at step k.
    Returns the number of values outside [0, 1] (NaN included): the caller raises on any.

    The count loop has no stores but counts[b, j], so it vectorises; a histogram of n per sample
    (four interleaved, so that equal neighbours do not wait on each other's store) then gives
    each code's events per step: ttfs at k has n = T-k, ratesyn_e n >= T-k, ratesyn_s n > k."""
    B, n = x.shape
    K = codes.shape[0]
    bad = 0
    for b in prange(B):
        cb = counts[b]
        xb = x[b]
        nbad = 0
        nonzero = 0
        for j in range(n):
            v = xb[j]
            ok = (v >= 0) & (v <= 1)  # NaN fails both
            nbad += not ok
            nonzero += np.float32(v) != 0
            c = np.ceil((np.float64(v) if ok else 0.0) * T - GUARD)  # n(x) of SPEC, in float64
            cb[j] = min(max(c, 0.0), float(T))
        bad += nbad
        h = np.zeros((4, T + 1), dtype=np.int64)
        n4 = n - n % 4
        for j in range(0, n4, 4):
            h[0, cb[j]] += 1
            h[1, cb[j + 1]] += 1
            h[2, cb[j + 2]] += 1
            h[3, cb[j + 3]] += 1
        for j in range(n4, n):
            h[0, cb[j]] += 1
        hist = h[0] + h[1] + h[2] + h[3]
        for k in range(T):
            per_step[b * T + k] = 0
        for q in range(K):
            code = codes[q]
            above = 0  # positions with n > k (ratesyn_s) or n >= T - k (ratesyn_e), k rising
            for k in range(T):
                if code == CODE_CURRENT:
                    per_step[b * T + k] += nonzero
                elif code == CODE_TTFS:
                    per_step[b * T + k] += hist[T - k]
                elif code == CODE_RATESYN_E:
                    above += hist[T - k]
                    per_step[b * T + k] += above
                else:
                    above = n - hist[0] if k == 0 else above - hist[k]
                    per_step[b * T + k] += above
    return bad


@njit(cache=True, nogil=True, inline="always")
def _emit(index, value, at, local, count, base, v):
    """index[at : at + count] = local[:count] + base; value[...] = v[:count] when values are kept."""
    for i in range(count):
        index[at + i] = local[i] + base
    if value.shape[0] > 0:
        for i in range(count):
            value[at + i] = v[i]


@njit(cache=True, nogil=True)
def _filter(src, dst, p, counts, least):
    """dst[:r] = the positions of src[:p] whose count is >= least, in order; returns r.
    Branch-free: every position is written, the cursor moves only for those kept."""
    r = 0
    for e in range(p):
        j = src[e]
        dst[r] = j
        r += counts[j] >= least
    return r


@njit(cache=True, parallel=True, nogil=True)
def _fill_pass(x, T, codes, counts, offsets, index, value):
    """Pass 2: each sample's events in the CSR arrays, blocks in order within each step, positions
    increasing within a block. value: one float32 per event (float32(x) for current blocks, 1 for
    spikes), or empty.

    TTFS scatters each position to the next free slot of its one step. The codes that emit at
    several steps never scatter: their step lists are nested (RateSynE's step k holds the positions
    with n >= T - k, a subset of step k + 1's; RateSynS's step k those with n > k, a subset of step
    k - 1's; a current's every step the non-zero positions), so each list is the last one filtered
    by a branch-free compaction into a local buffer, then copied: work per event, no read-modify-
    write of a slot per event."""
    B, n = x.shape
    K = codes.shape[0]
    with_values = value.shape[0] > 0
    for b in prange(B):
        slot = offsets[b * T : b * T + T].copy()
        cb = counts[b]
        xb = x[b]
        keep = np.empty(n + 1, dtype=np.int32)  # +1: a branch-free compaction writes one past its count
        other = np.empty(n + 1, dtype=np.int32)
        vals = np.ones(n + 1 if with_values else 1, dtype=np.float32)
        for q in range(K):
            code = codes[q]
            base = q * n
            if code == CODE_TTFS:
                for j in range(n):
                    m = cb[j]
                    if m > 0:
                        k = T - m
                        index[slot[k]] = base + j
                        if with_values:
                            value[slot[k]] = 1.0
                        slot[k] += 1
                continue
            p = 0
            if code == CODE_CURRENT:
                for j in range(n):
                    v32 = np.float32(xb[j])
                    keep[p] = j
                    if with_values:
                        vals[p] = v32
                    p += v32 != 0
                for k in range(T):
                    _emit(index, value, slot[k], keep, p, base, vals)
                    slot[k] += p
                if with_values:
                    vals[:] = 1.0
                continue
            for j in range(n):  # the widest step: every position with n >= 1
                keep[p] = j
                p += cb[j] > 0
            for i in range(T):
                k = T - 1 - i if code == CODE_RATESYN_E else i
                if i > 0:  # n >= least emits at step k
                    r = _filter(keep, other, p, cb, i + 1 if code == CODE_RATESYN_E else k + 1)
                    keep, other, p = other, keep, r
                _emit(index, value, slot[k], keep, p, base, vals)
                slot[k] += p


def closed_form_events(x: np.ndarray, T: int, methods: list[str], shape: tuple[int, ...]) -> InputEvents | None:
    """Events of current / RateSyn / TTFS codes (one, or a fused list of them).

    x: (B, ...) real values (any dtype; float32 and float64 are read in place), T >= 1, methods:
    names in METHOD_CODES, shape: the per-sample input shape (channels x len(methods)).
    Returns None when a value lies outside [0, 1] or is NaN (the caller's check says which).
    """
    B = x.shape[0]
    flat = x.reshape(B, -1)
    if flat.dtype not in (np.float32, np.float64):
        flat = flat.astype(np.float64)  # exact for the integers, bools and float16 that pass the range check
    flat = np.ascontiguousarray(flat)
    codes = np.array([METHOD_CODES[m] for m in methods], dtype=np.int64)
    counts = np.empty(flat.shape, dtype=np.uint16 if T < 2**16 else np.int32)
    per_step = np.empty(B * T, dtype=np.int64)
    if _count_pass(flat, T, codes, counts, per_step):
        return None
    offsets = np.empty(B * T + 1, dtype=np.int64)
    offsets[0] = 0
    np.cumsum(per_step, out=offsets[1:])
    has_current = bool((codes == CODE_CURRENT).any())
    index = np.empty(offsets[-1], dtype=np.int32)
    value = np.empty(offsets[-1] if has_current else 0, dtype=np.float32)
    _fill_pass(flat, T, codes, counts, offsets, index, value)
    current = np.repeat(codes == CODE_CURRENT, flat.shape[1])
    return InputEvents._trusted(T, shape, offsets, index, value, current)
