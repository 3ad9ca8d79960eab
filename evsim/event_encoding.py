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

so two passes make the events without the dense (T, B, n) batch: the first reads x, checks it,
computes n once per position (kept as a (B, n) uint16 / int32 array, a quarter or a half of
float64 x) and the events per (sample, step); the second, after the prefix sum, writes each
sample's indices from the counts (and x, for current blocks). Both run over samples in parallel:
the cost is that of reading x and writing the events. The arrays are those of
`InputEvents.from_dense(encode(x, T, method), ...)`, bit for bit (tests/test_events.py).

Poisson (`poisson_events`, below) draws numpy's PCG64 stream itself, only where a draw can change
a spike; a fused list holding Poisson merges each block's events (`fused_events`).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from .events import InputEvents

CODE_CURRENT, CODE_RATESYN_S, CODE_RATESYN_E, CODE_TTFS = 0, 1, 2, 3
METHOD_CODES = {"current": CODE_CURRENT, "ratesyn_s": CODE_RATESYN_S, "ratesyn_e": CODE_RATESYN_E, "ttfs": CODE_TTFS}
GUARD = 1e-4  # SPEC's guard in n(x) = ceil(x*T - 1e-4); evsim.encoding.SPIKE_COUNT_GUARD is this one


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


# ---------------------------------------------------------------------------------------------
# Poisson: numpy's PCG64 stream, drawn only where a draw can matter
# ---------------------------------------------------------------------------------------------
# encode's Poisson spikes are u < x with u = rng.random((T, B, n)): draw g = (k*B + b)*n + j is
# out(S_{g+1}), S_{g+1} = M*S_g + inc mod 2^128 (PCG64, XSL-RR output; random() = (out >> 11) * 2^-53).
# A pixel with x = 0 never spikes and one with x = 1 always does, whatever its u: their draws need
# not be made, only stepped over. S_{g+d} = A_d*S_g + C_d (A_d = M^d, C_d = inc*(1 + M + ... +
# M^(d-1))) jumps over d draws at the cost of one, so the work is one 128-bit multiply-add per
# pixel with 0 < x < 1 and step; the T steps of a sample are T independent streams advanced
# together (the same jump for each), two at a time in registers so that the CPU overlaps them.

PCG64_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645
_U64 = (1 << 64) - 1


@intrinsic
def _mulhi(typingctx, a, b):
    """The high 64 bits of the 128-bit product of two uint64 (one machine multiply)."""
    sig = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        return builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _muladd(shi, slo, ahi, alo, chi, clo):
    """(A*S + C) mod 2^128 for 128-bit numbers given as (high, low) uint64 halves."""
    lo = slo * alo
    hi = _mulhi(slo, alo) + slo * ahi + shi * alo
    out_lo = lo + clo
    out_hi = hi + chi + (np.uint64(1) if out_lo < lo else np.uint64(0))
    return out_hi, out_lo


@njit(cache=True, nogil=True, inline="always")
def _draw53(hi, lo):
    """The 53 bits of numpy's random() from the PCG64 state (hi, lo) just stepped to (XSL-RR
    output >> 11): random() is this times 2^-53."""
    rot = hi >> np.uint64(58)
    xored = hi ^ lo
    out = (xored >> rot) | (xored << ((np.uint64(64) - rot) & np.uint64(63)))
    return np.int64(out >> np.uint64(11))


@njit(cache=True, nogil=True)
def _jump_tables(mhi, mlo, ihi, ilo, n):
    """near[d] = (A_d, C_d) for d = 0..n and far[i] = (A_(2^i), C_(2^i)) for i < 64, each as
    (A high, A low, C high, C low) uint64 (the module comment's jump over d draws)."""
    near = np.empty((n + 1, 4), dtype=np.uint64)
    ahi, alo, chi, clo = np.uint64(0), np.uint64(1), np.uint64(0), np.uint64(0)
    for d in range(n + 1):
        near[d, 0], near[d, 1], near[d, 2], near[d, 3] = ahi, alo, chi, clo
        ahi, alo = _muladd(ahi, alo, mhi, mlo, np.uint64(0), np.uint64(0))
        chi, clo = _muladd(chi, clo, mhi, mlo, ihi, ilo)
    far = np.empty((64, 4), dtype=np.uint64)
    ahi, alo, chi, clo = mhi, mlo, ihi, ilo
    for i in range(64):
        far[i, 0], far[i, 1], far[i, 2], far[i, 3] = ahi, alo, chi, clo
        chi, clo = _muladd(chi, clo, ahi, alo, chi, clo)  # C_2d = A_d C_d + C_d, then A_2d = A_d^2
        ahi, alo = _muladd(ahi, alo, ahi, alo, np.uint64(0), np.uint64(0))
    return near, far


@njit(cache=True, parallel=True, nogil=True)
def _poisson_pass(x, T, shi, slo, near, far, bound, scratch, per_step):
    """Every sample's Poisson spikes into scratch: sample b's step k holds the positions that spike
    at scratch[bound[b] + k*m_b :][:per_step[b*T + k]] (m_b its non-zero positions). x: (B, n)
    float64 in [0, 1]; (shi, slo) the generator's state before the first draw."""
    B, n = x.shape
    for b in prange(B):
        xb = x[b]
        m = (bound[b + 1] - bound[b]) // T
        hi = np.empty(T, dtype=np.uint64)
        lo = np.empty(T, dtype=np.uint64)
        for k in range(T):  # each step's stream at its row start, draw (k*B + b)*n
            h, l, g = shi, slo, (k * B + b) * n
            i = 0
            while g:
                if g & 1:
                    h, l = _muladd(h, l, far[i, 0], far[i, 1], far[i, 2], far[i, 3])
                g >>= 1
                i += 1
            hi[k], lo[k] = h, l
        count = np.zeros(T, dtype=np.int64)
        # the sample's non-zero pixels: position and threshold (random() < x  <=>  53 drawn bits <
        # ceil(x * 2^53), exact: a power-of-two scaling; x = 1 gives 2^53, which every draw is below)
        pos = np.empty(m + 1, dtype=np.int64)  # +1: the branch-free compaction writes one past its count
        below = np.empty(m + 1, dtype=np.int64)
        p = 0
        for j in range(n):
            v = xb[j]
            pos[p] = j
            below[p] = np.int64(np.ceil(v * 9007199254740992.0))
            p += v != 0
        # pixel j's draw is the row's (j + 1)-th: its state is one jump from the row start, not a
        # chain of jumps from the last pixel drawn, so the draws do not wait on each other
        for k0 in range(0, T, 2):  # two streams per pass share the loads of a pixel's jump
            k1 = min(k0 + 1, T - 1)  # an odd T's last pair repeats its step (same draws, same spikes)
            h0, l0, h1, l1 = hi[k0], lo[k0], hi[k1], lo[k1]
            c0, c1 = 0, 0
            s0, s1 = bound[b] + k0 * m, bound[b] + k1 * m
            for e in range(m):
                j = pos[e]
                t = below[e]
                ahi, alo, chi, clo = near[j + 1, 0], near[j + 1, 1], near[j + 1, 2], near[j + 1, 3]
                g0, m0 = _muladd(h0, l0, ahi, alo, chi, clo)
                g1, m1 = _muladd(h1, l1, ahi, alo, chi, clo)
                scratch[s0 + c0] = j
                c0 += _draw53(g0, m0) < t
                scratch[s1 + c1] = j
                c1 += _draw53(g1, m1) < t
            count[k0], count[k1] = c0, c1
        for k in range(T):
            per_step[b * T + k] = count[k]


@njit(cache=True, parallel=True, nogil=True)
def _gather_pass(T, bound, scratch, offsets, index):
    """index[offsets[b*T + k] :] = sample b's step k of scratch, as int32."""
    B = bound.shape[0] - 1
    for b in prange(B):
        m = (bound[b + 1] - bound[b]) // T
        for k in range(T):
            src = bound[b] + k * m
            dst = offsets[b * T + k]
            for e in range(offsets[b * T + k + 1] - dst):
                index[dst + e] = scratch[src + e]


def poisson_events(x: np.ndarray, T: int, rng: np.random.Generator, shape: tuple[int, ...]) -> InputEvents | None:
    """encode's Poisson events, drawn as encode draws them (the same spikes, and rng left where
    ``rng.random((T, *x.shape))`` leaves it), for a PCG64 generator; None for another bit
    generator (the caller draws every number). x: (B, ...) in [0, 1], already checked."""
    bit = rng.bit_generator
    if type(bit) is not np.random.PCG64:
        return None
    B = x.shape[0]
    flat = np.ascontiguousarray(x.reshape(B, -1), dtype=np.float64)  # encode compares u with float64 x
    n = flat.shape[1]
    state = bit.state
    s, inc = state["state"]["state"], state["state"]["inc"]
    m = PCG64_MULTIPLIER
    near, far = _jump_tables(np.uint64(m >> 64), np.uint64(m & _U64), np.uint64(inc >> 64), np.uint64(inc & _U64), n)
    nonzero = np.count_nonzero(flat, axis=1)
    bound = np.zeros(B + 1, dtype=np.int64)
    np.cumsum(nonzero * T, out=bound[1:])
    scratch = np.empty(bound[-1], dtype=np.uint16 if n <= 2**16 else np.int32)
    per_step = np.empty(B * T, dtype=np.int64)
    _poisson_pass(flat, T, np.uint64(s >> 64), np.uint64(s & _U64), near, far, bound, scratch, per_step)
    offsets = np.zeros(B * T + 1, dtype=np.int64)
    np.cumsum(per_step, out=offsets[1:])
    index = np.empty(offsets[-1], dtype=np.int32)
    _gather_pass(T, bound, scratch, offsets, index)
    bit.advance(T * B * n)  # where encode's draws leave it (numpy's own jump) ...
    after = bit.state
    after["has_uint32"], after["uinteger"] = state["has_uint32"], state["uinteger"]
    bit.state = after  # ... with the buffered 32-bit half that random() leaves alone and advance clears
    return InputEvents._trusted(T, shape, offsets, index, np.empty(0, dtype=np.float32), np.zeros(math.prod(shape), dtype=bool))


@njit(cache=True, parallel=True, nogil=True)
def _append_block(offsets, index, value, base, cursor, out_index, out_value, values_kept):
    """Append one block's events (offsets, index, value: its CSR arrays; value empty for spikes)
    to every (sample, step) row of the merged arrays at cursor, indices shifted by base."""
    rows = offsets.shape[0] - 1
    with_values = out_value.shape[0] > 0
    for r in prange(rows):
        at = cursor[r]
        for e in range(offsets[r], offsets[r + 1]):
            out_index[at] = index[e] + base
            if with_values:
                out_value[at] = value[e] if values_kept else np.float32(1.0)
            at += 1
        cursor[r] = at


def fused_events(blocks: list[InputEvents], shape: tuple[int, ...]) -> InputEvents:
    """Concatenate the blocks of a fused encoding on the channel axis: each (sample, step) row
    holds block 0's events, then block 1's (indices + its offset), and so on, which is the order
    `from_dense` gives the concatenated dense batch. Values are kept (float32) when a block is current."""
    T = blocks[0].T
    per_block = [math.prod(b.shape) for b in blocks]
    counts = sum(np.diff(b.offsets) for b in blocks)
    offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    current = np.concatenate([b.current for b in blocks])
    index = np.empty(offsets[-1], dtype=np.int32)
    value = np.empty(offsets[-1] if current.any() else 0, dtype=np.float32)
    cursor = offsets[:-1].copy()
    base = 0
    for b, size in zip(blocks, per_block):
        _append_block(b.offsets, b.index, b.value, base, cursor, index, value, b.value.shape[0] > 0)
        base += size
    return InputEvents._trusted(T, shape, offsets, index, value, current)
