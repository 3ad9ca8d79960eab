"""The per-kind kernels, written once for float32, float64 and int64 (the plan's dtype).

Each incoming projection turns every source event of a step into work by its own kernel
(`_dense_add`, `_conv_add`, `_pool_add`, `_identity_add`, dispatched by `_project`): a spike adds
the weights it reaches (pre-scaled by the target's input gain) and counts one synaptic operation
(SOP) per synapse reached; a non-zero float input value (current encoding) multiplies them in and
counts one multiply-accumulate (MAC) per synapse reached instead. Zero padding is never reached.
Integer adds are exact and order-free, so one scatter code serves the float and the integer runs.
`_emit` turns a population's spike flags into its event list and record row, for both runs.
"""

from __future__ import annotations

from numba import njit

from .plan import (
    KIND_CONV, KIND_DENSE, KIND_POOL, Q_CIN, Q_COUT, Q_HOUT, Q_KH, Q_KIND, Q_KW, Q_PX, Q_PY, Q_SX, Q_SY, Q_WIN,
    Q_WLEN, Q_WOFF, Q_WOUT,
)  # fmt: skip


@njit(cache=True, nogil=True)
def _dense_add(target, weights, n_out, idx, val, n, use_val):
    """Add the weight row of each event (scaled by its value if use_val) to the target currents.

    target: (n_out,) view; weights: rows [source position][target position], flat.
    Spikes are added four rows at a time: the rows stream from cache side by side and the target
    is loaded and stored once per four (the sum's rounding order is fixed by the event order, so
    results stay deterministic). Returns the synapses reached (SOPs, or MACs for values).
    """
    if use_val:
        for e in range(n):
            row = weights[idx[e] * n_out : (idx[e] + 1) * n_out]  # a view: lets LLVM vectorize
            v = val[e]
            for i in range(n_out):
                target[i] += v * row[i]
        return n * n_out
    e = 0
    while e + 4 <= n:
        r0 = weights[idx[e] * n_out : (idx[e] + 1) * n_out]
        r1 = weights[idx[e + 1] * n_out : (idx[e + 1] + 1) * n_out]
        r2 = weights[idx[e + 2] * n_out : (idx[e + 2] + 1) * n_out]
        r3 = weights[idx[e + 3] * n_out : (idx[e + 3] + 1) * n_out]
        for i in range(n_out):
            target[i] += (r0[i] + r1[i]) + (r2[i] + r3[i])
        e += 4
    while e < n:
        row = weights[idx[e] * n_out : (idx[e] + 1) * n_out]
        for i in range(n_out):
            target[i] += row[i]
        e += 1
    return n * n_out


@njit(cache=True, nogil=True)
def _conv_add_each(target, weights, q, idx, val, n, use_val):
    """Scatter each event at source (y, x, c) to every output position whose window covers it, one
    event at a time (values, narrow or strided layers; see `_conv_add`).

    q: the projection's table row. weights: [c_in][ky][kw-1-kx][c_out]; target: channels-last. At
    each reached output position the event adds one contiguous C_out vector; with column stride 1
    the positions of one output row and their weight vectors are both consecutive, so a row is one
    span of (columns reached) x C_out. Returns synapses reached.
    """
    c_in, w_in = q[Q_CIN], q[Q_WIN]
    c_out, h_out, w_out = q[Q_COUT], q[Q_HOUT], q[Q_WOUT]
    kh, kw, sy, sx, py, px = q[Q_KH], q[Q_KW], q[Q_SY], q[Q_SX], q[Q_PY], q[Q_PX]
    ops = 0
    for e in range(n):
        i = idx[e]
        c = i % c_in
        pos = i // c_in
        x = pos % w_in
        y = pos // w_in
        # output rows oy whose window covers y: 0 <= ky = y + py - oy*sy < kh (likewise columns);
        # the ranges are found once per event so the inner loops do no division
        oy_lo = max(0, (y + py - kh + sy) // sy)
        oy_hi = min(h_out - 1, (y + py) // sy)
        ox_lo = max(0, (x + px - kw + sx) // sx)
        ox_hi = min(w_out - 1, (x + px) // sx)
        if oy_hi < oy_lo or ox_hi < ox_lo:
            continue
        n_cols = ox_hi - ox_lo + 1
        ops += (oy_hi - oy_lo + 1) * n_cols * c_out
        for oy in range(oy_lo, oy_hi + 1):
            ky = y + py - oy * sy
            if sx == 1:
                # reversed kx of the first column reached: kw - 1 - (x + px - ox_lo)
                wbase = ((c * kh + ky) * kw + kw - 1 - (x + px - ox_lo)) * c_out
                span = n_cols * c_out
                row = weights[wbase : wbase + span]
                tbase = (oy * w_out + ox_lo) * c_out
                out = target[tbase : tbase + span]
                if use_val:
                    v = val[e]  # read here: a literal 1.0 would make v float64 and change float32 rounding
                    for o in range(span):
                        out[o] += v * row[o]
                else:
                    for o in range(span):
                        out[o] += row[o]
                continue
            for ox in range(ox_lo, ox_hi + 1):
                kx = x + px - ox * sx
                wbase = ((c * kh + ky) * kw + kw - 1 - kx) * c_out
                row = weights[wbase : wbase + c_out]
                tbase = (oy * w_out + ox) * c_out
                out = target[tbase : tbase + c_out]
                if use_val:
                    v = val[e]
                    for o in range(c_out):
                        out[o] += v * row[o]
                else:
                    for o in range(c_out):
                        out[o] += row[o]
    return ops


@njit(cache=True, nogil=True)
def _conv_add_grouped(target, weights, q, idx, n):
    """`_conv_add_each` for spikes on a column-stride-1 layer, taking the channels that spiked at one
    source position four (or two) at a time: they reach the same output span, so their weight
    spans are summed in registers and the target span is loaded and stored once per group. Events
    come sorted by source index (position-major), so those channels are consecutive."""
    c_in, w_in = q[Q_CIN], q[Q_WIN]
    c_out, h_out, w_out = q[Q_COUT], q[Q_HOUT], q[Q_WOUT]
    kh, kw, sy, py, px = q[Q_KH], q[Q_KW], q[Q_SY], q[Q_PY], q[Q_PX]
    channel_stride = kh * kw * c_out  # weights between channel c and c + 1
    ops = 0
    e = 0
    while e < n:
        i = idx[e]
        pos = i // c_in
        x = pos % w_in
        y = pos // w_in
        g = 1
        while g < 4 and e + g < n and idx[e + g] // c_in == pos:
            g += 1
        if g == 3:
            g = 2
        oy_lo = max(0, (y + py - kh + sy) // sy)
        oy_hi = min(h_out - 1, (y + py) // sy)
        ox_lo = max(0, x + px - kw + 1)
        ox_hi = min(w_out - 1, x + px)
        if oy_hi < oy_lo or ox_hi < ox_lo:
            e += g
            continue
        span = (ox_hi - ox_lo + 1) * c_out
        ops += g * (oy_hi - oy_lo + 1) * span
        kx_first = kw - 1 - (x + px - ox_lo)  # reversed kx of the first column reached
        c0 = (i % c_in) * channel_stride
        c1 = (idx[e + 1] % c_in) * channel_stride if g > 1 else c0
        c2 = (idx[e + 2] % c_in) * channel_stride if g > 2 else c0
        c3 = (idx[e + 3] % c_in) * channel_stride if g > 3 else c0
        for oy in range(oy_lo, oy_hi + 1):
            w = ((y + py - oy * sy) * kw + kx_first) * c_out
            tbase = (oy * w_out + ox_lo) * c_out
            out = target[tbase : tbase + span]
            r0 = weights[c0 + w : c0 + w + span]
            if g == 4:
                r1 = weights[c1 + w : c1 + w + span]
                r2 = weights[c2 + w : c2 + w + span]
                r3 = weights[c3 + w : c3 + w + span]
                for o in range(span):
                    out[o] += (r0[o] + r1[o]) + (r2[o] + r3[o])
            elif g == 2:
                r1 = weights[c1 + w : c1 + w + span]
                for o in range(span):
                    out[o] += r0[o] + r1[o]
            else:
                for o in range(span):
                    out[o] += r0[o]
        e += g
    return ops


@njit(cache=True, nogil=True)
def _conv_add(target, weights, q, idx, val, n, use_val):
    """Scatter each event at source (y, x, c) to every output position whose window covers it.

    q: the projection's table row. weights: [c_in][ky][kw-1-kx][c_out]; target: channels-last.
    Spikes on a layer of column stride 1 and C_out >= 16 go four at a time from one position
    (`_conv_add_grouped`: 1.4-2x on 32-512 channels, measured side by side); values (current
    encoding), narrow and strided layers one at a time (`_conv_add_each`: grouping gains nothing
    there). The order of the adds is fixed by the events: results stay deterministic. Returns
    synapses reached.
    """
    if not use_val and q[Q_SX] == 1 and q[Q_COUT] >= 16:
        return _conv_add_grouped(target, weights, q, idx, n)
    return _conv_add_each(target, weights, q, idx, val, n, use_val)


@njit(cache=True, nogil=True)
def _pool_add(target, scale, q, idx, val, n, use_val):
    """Add scale (= gain / (kh kw)) to each pooling window that holds the event. Returns windows."""
    c_n, w_in = q[Q_CIN], q[Q_WIN]
    h_out, w_out = q[Q_HOUT], q[Q_WOUT]
    kh, kw, sy, sx = q[Q_KH], q[Q_KW], q[Q_SY], q[Q_SX]
    ops = 0
    for e in range(n):
        i = idx[e]
        c = i % c_n
        pos = i // c_n
        x = pos % w_in
        y = pos // w_in
        add = scale * val[e] if use_val else scale
        # windows oy with oy*sy <= y < oy*sy + kh
        oy_lo = max(0, (y - kh + sy) // sy)
        oy_hi = min(h_out - 1, y // sy)
        ox_lo = max(0, (x - kw + sx) // sx)
        ox_hi = min(w_out - 1, x // sx)
        for oy in range(oy_lo, oy_hi + 1):
            for ox in range(ox_lo, ox_hi + 1):
                target[(oy * w_out + ox) * c_n + c] += add
                ops += 1
    return ops


@njit(cache=True, nogil=True)
def _identity_add(target, scale, position, idx, val, n, use_val):
    """Add scale (x value) to the one target position of each event. Returns n."""
    for e in range(n):
        if use_val:
            target[position[idx[e]]] += scale * val[e]
        else:
            target[position[idx[e]]] += scale
    return n


@njit(cache=True, nogil=True)
def _project(target, weights, maps, scale, q, idx, val, n, use_val):
    """Run one projection's kernel on n events; returns the synapses reached."""
    kind = q[Q_KIND]
    if kind == KIND_DENSE:
        return _dense_add(target, weights[q[Q_WOFF] : q[Q_WOFF] + q[Q_WLEN]], q[Q_COUT], idx, val, n, use_val)
    if kind == KIND_CONV:
        return _conv_add(target, weights[q[Q_WOFF] : q[Q_WOFF] + q[Q_WLEN]], q, idx, val, n, use_val)
    if kind == KIND_POOL:
        return _pool_add(target, scale, q, idx, val, n, use_val)
    return _identity_add(target, scale, maps[q[Q_WOFF] : q[Q_WOFF] + q[Q_WLEN]], idx, val, n, use_val)


@njit(cache=True, nogil=True)
def _emit(fired, total, events, spikes, record_offset):
    """Compact `total` spike flags fired (n,) into their positions in `events` and record them in
    this step's row of `spikes` at record_offset (skipped when it is -1). Returns total.
    Shared by the float and the integer integrators."""
    if total == 0:
        return 0
    n = fired.shape[0]
    count = 0
    for i in range(n):
        events[count] = i
        count += fired[i]
        if count == total:
            break
    if record_offset >= 0:
        row = spikes[record_offset : record_offset + n]
        for i in range(n):
            row[i] = fired[i]
    return count

