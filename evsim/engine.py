"""The event-driven engine: `simulate(net, inputs, ...)` runs a `Network` on an encoded batch.

Discrete time, zero synaptic delay: at step k, populations are updated in order and the spikes
of a population at step k reach its targets at step k. Each sample runs independently (numba
prange over chunks of samples), so results do not depend on the thread count or batch split.

Per sample and step, for each population p:

1. its synaptic current decays: I *= decay_s (0 for IF: no filter);
2. each incoming projection turns every source event of this step into work by its own kernel
   (`_dense_add`, `_conv_add`, `_pool_add`, `_identity_add`): a spike adds the weights it reaches
   (pre-scaled by the target's input gain) and counts one synaptic operation (SOP) per synapse
   reached; a non-zero float input value (current encoding) multiplies them in and counts one
   multiply-accumulate (MAC) per synapse reached instead. Zero padding is never reached;
3. neurons integrate, U = decay_m U + I + b, spike where U >= theta, and reset.

With TTFS decoding and `early_exit=True`, a sample stops at the first step at which any output
neuron spikes: the decision is taken there and no later step is simulated or counted. The kernel
reports the steps it ran and the membrane updates it did, so a test can see the work stop.

Layout. State is channels-last inside the engine: neuron (c, y, x) of a (C, H, W) population sits
at (y W + x) C + c, and a convolution's weights are stored [c_in][ky][kx][c_out], so one spike's
work at each output position it reaches is one contiguous C_out vector add (it vectorises like a
dense row). Spikes are returned in the public (C, H, W) order. The input arrives as sparse event
lists (`evsim.events.InputEvents`), so it costs work per event, not T x n_in reads. Memory is
O(B x neurons) for the state of the samples in flight plus O(T x B x n) only for recorded spikes.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from .decoding import DECODERS, predict, scores as decode_scores
from .events import INPUT_KINDS, InputEvents, input_events
from .network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network

DTYPES = (np.float32, np.float64)
INPUT_SPIKES, INPUT_CURRENT, INPUT_FUSED = 0, 1, 2  # how the kernel reads the input events

# projection kinds in the kernel
KIND_DENSE, KIND_CONV, KIND_POOL, KIND_IDENTITY = 0, 1, 2, 3
# columns of the projection table (one int64 row per projection, sorted by target)
(Q_KIND, Q_SOURCE, Q_INDEX, Q_WOFF, Q_WLEN, Q_CIN, Q_HIN, Q_WIN, Q_COUT, Q_HOUT, Q_WOUT,
 Q_KH, Q_KW, Q_SY, Q_SX, Q_PY, Q_PX) = range(17)  # fmt: skip
Q_COLUMNS = 17
# columns of the population table (one int64 row per population)
P_OFF, P_SIZE, P_RESET_ZERO, P_PROJ_START, P_PROJ_END, P_RECORD = range(6)
P_COLUMNS = 6
# columns of the population float table
F_DECAY_M, F_DECAY_S, F_THETA = range(3)


@dataclass(frozen=True)
class SimulationResult:
    """What one simulation of a batch of B samples over T steps produced.

    predictions: (B,) int64, class index or -1 (abstain).
    scores: (B, n_out) int64 decoder values omega (spike counts or T - first spike step).
    output_spikes: (T, B, n_out) bool; all False after a sample's exit step.
    hidden_spikes: one (T, B, n) bool array per hidden population in (C, H, W)-flat order (empty
        unless recorded).
    exit_step: (B,) int64, the step at which the run stopped (early exit), T if it never did.
    first_spike_step: (B,) int64, step of the first output spike, T if the output stayed silent.
    steps: (B,) int64, steps the simulator ran per sample (reported by the kernel itself).
    sops_per_step: (T, B, L) int64 synaptic operations per step, sample and projection.
    macs_per_step: (T, B, L) int64 multiply-accumulates (non-zero float inputs x synapses reached).
    spikes_in: (B, L) int64 spikes that entered each projection (over the simulated steps).
    values_in: (B, L) int64 non-zero float input values that entered each projection.
    spike_counts: (B, P) int64 spikes of each population.
    membrane_updates: (B, P) int64 neuron updates done per population (NeuroBench's name).
    """

    predictions: np.ndarray
    scores: np.ndarray
    output_spikes: np.ndarray
    hidden_spikes: tuple[np.ndarray, ...]
    exit_step: np.ndarray
    first_spike_step: np.ndarray
    steps: np.ndarray
    sops_per_step: np.ndarray
    macs_per_step: np.ndarray
    spikes_in: np.ndarray
    values_in: np.ndarray
    spike_counts: np.ndarray
    membrane_updates: np.ndarray
    decoder: str
    early_exit: bool

    @property
    def sops(self) -> np.ndarray:
        """Exact synaptic operations (B, L) int64 per sample and projection (layer)."""
        return self.sops_per_step.sum(axis=0)

    @property
    def macs(self) -> np.ndarray:
        """Multiply-accumulates (B, L) int64 per sample and projection (float-fed layers only)."""
        return self.macs_per_step.sum(axis=0)


def check_options(decoder: str, early_exit: bool, dtype) -> np.dtype:
    """Validate the run options; return the dtype."""
    if not isinstance(early_exit, (bool, np.bool_)):
        raise ValueError(f"early_exit must be True or False, got {early_exit!r}")
    if not isinstance(decoder, str) or decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {DECODERS}")
    if early_exit and decoder != "ttfs":
        raise ValueError("early_exit needs decoder='ttfs': only a TTFS decision is taken before the last step")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in [np.dtype(d) for d in DTYPES]:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def as_input_events(net: Network, inputs, input_kind) -> InputEvents:
    """The batch as `InputEvents` for `net`: dense arrays are validated and converted."""
    if isinstance(inputs, InputEvents):
        if math.prod(inputs.shape) != net.n_in or inputs.shape not in (net.input_shape, (net.n_in,)):
            raise ValueError(f"input events have per-sample shape {inputs.shape}, the network expects {net.input_shape}")
        if input_kind != "auto":
            raise ValueError("input_kind applies to dense inputs; InputEvents carry their own current mask")
        return inputs
    return input_events(inputs, net.input_shape, input_kind)


# ---------------------------------------------------------------------------------------------
# plan: the network as plain arrays, internal (channels-last) layout
# ---------------------------------------------------------------------------------------------


def internal_order(shape: tuple[int, ...]) -> np.ndarray:
    """(n,) int64: public (C, H, W)-flat index of each internal position (channels-last for 3-D)."""
    n = math.prod(shape)
    if len(shape) != 3:
        return np.arange(n, dtype=np.int64)
    c, h, w = shape
    return np.arange(n, dtype=np.int64).reshape(c, h, w).transpose(1, 2, 0).ravel()


@dataclass(frozen=True)
class _Plan:
    """A network as kernel arrays: projection and population tables, one flat weight buffer."""

    proj: np.ndarray  # (L, Q_COLUMNS) int64, sorted by target
    scale: np.ndarray  # (L,) per-event value of pooling and identity projections
    pops: np.ndarray  # (P, P_COLUMNS) int64
    pop_f: np.ndarray  # (P, 3) decay_m, decay_s, theta
    bias: np.ndarray  # (N,) internal order
    weights: np.ndarray  # flat: dense rows [src][tgt], conv [c_in][ky][kx][c_out], identity maps (as floats? no)
    maps: np.ndarray  # flat int64: identity target position of each source position
    input_map: np.ndarray  # (n_in,) internal position of each public input index
    input_identity: bool  # the input's internal order is its public order (not channels-last)
    orders: tuple[np.ndarray, ...]  # per population: public index of each internal position


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def conv_layout(weight: np.ndarray) -> np.ndarray:
    """A conv weight (C_out, C_in, kh, kw) in the kernels' layout [c_in][ky][kw-1-kx][c_out].

    C_out last makes one reached output position one contiguous vector; kx reversed makes the
    output columns an event reaches with stride 1 consecutive in the weights as in the target, so
    an event's work per output row is one contiguous span (`_conv_add`).
    """
    return np.ascontiguousarray(weight[:, :, :, ::-1].transpose(1, 2, 3, 0))


def _plan(net: Network, dtype: np.dtype) -> _Plan:
    """The kernel form of `net` (cached per network and dtype: networks are immutable)."""
    per_net = _PLANS.setdefault(net, {})
    if dtype not in per_net:
        per_net[dtype] = _build_plan(net, dtype)
    return per_net[dtype]


def _build_plan(net: Network, dtype: np.dtype) -> _Plan:
    if net.fixed_point is not None:  # a quantised network never runs in float arithmetic by accident
        raise ValueError("the float engine cannot run a fixed-point network; evsim.simulate runs it with integer kernels")
    pops = net.populations
    orders = tuple(internal_order(p.shape) for p in pops)
    in_order = internal_order(net.input_shape)
    inverse = {}  # node -> internal position of each public index

    def inv(node):
        if node not in inverse:
            order = in_order if node == INPUT else orders[node]
            out = np.empty_like(order)
            out[order] = np.arange(order.size)
            inverse[node] = out
        return inverse[node]

    sizes = np.array([p.size for p in pops], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    bias = np.zeros(int(offsets[-1]), dtype=dtype)
    for p, pop in enumerate(pops):
        if pop.bias is not None:
            bias[offsets[p] : offsets[p + 1]] = pop.bias[orders[p]]
    order = sorted(range(len(net.projections)), key=lambda q: net.projections[q].target)
    table = np.zeros((len(order), Q_COLUMNS), dtype=np.int64)
    scale = np.zeros(len(order), dtype=dtype)
    blocks, maps, w_off, m_off = [], [], 0, 0
    for r, q in enumerate(order):
        proj = net.projections[q]
        src_shape, tgt_shape = net.shape_of(proj.source), pops[proj.target].shape
        gain = pops[proj.target].neuron.input_gain
        row = table[r]
        row[Q_SOURCE], row[Q_INDEX] = proj.source, q
        if isinstance(proj, Dense):
            row[Q_KIND], row[Q_COUT] = KIND_DENSE, proj.n_out
            src_order = in_order if proj.source == INPUT else orders[proj.source]
            # row j (internal source position) is what a spike there adds to the internal targets
            block = (proj.weight[orders[proj.target]][:, src_order].T * gain).astype(dtype)
        elif isinstance(proj, Conv2d):
            c_in, h, w = src_shape
            c_out, h_out, w_out = tgt_shape
            (kh, kw), (sy, sx), (py, px) = proj.kernel_size, proj.stride, proj.padding
            row[Q_KIND] = KIND_CONV
            row[Q_CIN], row[Q_HIN], row[Q_WIN] = c_in, h, w
            row[Q_COUT], row[Q_HOUT], row[Q_WOUT] = c_out, h_out, w_out
            row[Q_KH], row[Q_KW], row[Q_SY], row[Q_SX], row[Q_PY], row[Q_PX] = kh, kw, sy, sx, py, px
            block = conv_layout(proj.weight * gain).astype(dtype)
        elif isinstance(proj, AvgPool2d):
            c, h, w = src_shape
            _, h_out, w_out = tgt_shape
            (kh, kw), (sy, sx) = proj.kernel_size, proj.stride
            row[Q_KIND] = KIND_POOL
            row[Q_CIN], row[Q_HIN], row[Q_WIN] = c, h, w
            row[Q_COUT], row[Q_HOUT], row[Q_WOUT] = c, h_out, w_out
            row[Q_KH], row[Q_KW], row[Q_SY], row[Q_SX] = kh, kw, sy, sx
            scale[r] = dtype.type(gain) * dtype.type(1.0 / (kh * kw))  # as the reference rounds it
            block = np.zeros(0, dtype=dtype)
        elif isinstance(proj, Identity):
            row[Q_KIND] = KIND_IDENTITY
            src_order = in_order if proj.source == INPUT else orders[proj.source]
            target_pos = inv(proj.target)[src_order]  # public index i -> target's internal position
            maps.append(target_pos)
            row[Q_WOFF] = m_off  # identity projections index `maps`, not `weights`
            row[Q_WLEN] = target_pos.size
            m_off += target_pos.size
            scale[r] = dtype.type(proj.scale) * dtype.type(gain)
            continue
        else:  # pragma: no cover - Network rejects unknown kinds
            raise ValueError(f"the engine cannot run projection kind {proj.kind!r}")
        row[Q_WOFF], row[Q_WLEN] = w_off, block.size
        blocks.append(block.ravel())
        w_off += block.size
    targets = np.array([net.projections[q].target for q in order], dtype=np.int64)
    bounds = np.searchsorted(targets, np.arange(len(pops) + 1)).astype(np.int64)
    pop_table = np.zeros((len(pops), P_COLUMNS), dtype=np.int64)
    pop_table[:, P_OFF] = offsets[:-1]
    pop_table[:, P_SIZE] = sizes
    pop_table[:, P_RESET_ZERO] = [p.neuron.reset == "zero" for p in pops]
    pop_table[:, P_PROJ_START] = bounds[:-1]
    pop_table[:, P_PROJ_END] = bounds[1:]
    pop_f = np.array([[p.neuron.decay_m, p.neuron.decay_s, p.neuron.theta] for p in pops], dtype=dtype)
    return _Plan(
        proj=table,
        scale=scale,
        pops=pop_table,
        pop_f=pop_f,
        bias=bias,
        weights=np.concatenate(blocks) if blocks else np.zeros(0, dtype=dtype),
        maps=np.concatenate(maps) if maps else np.zeros(0, dtype=np.int64),
        input_map=inv(INPUT),
        input_identity=bool((inv(INPUT) == np.arange(net.n_in)).all()),
        orders=orders,
    )


# ---------------------------------------------------------------------------------------------
# kernels: one per projection kind, then the integrator and the run loop
# ---------------------------------------------------------------------------------------------


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
def _conv_add(target, weights, q, idx, val, n, use_val):
    """Scatter each event at source (y, x, c) to every output position whose window covers it.

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
def _integrate(membrane, current, bias, decay_m, theta, reset_zero, fired, events, spikes, record_offset):
    """Update one population's membranes (n,) in place; write its spike positions to `events`.

    Two passes: a branch-free one over all neurons (vectorised: membrane, spike flag, reset),
    then a compaction of the flags into event positions. fired: (n,) uint8 scratch.
    spikes: this step's record row, written at record_offset (skipped when it is -1).
    Returns the number of spikes.
    """
    n = membrane.shape[0]
    total = 0
    for i in range(n):
        u = decay_m * membrane[i] + current[i] + bias[i]
        f = u >= theta
        fired[i] = f
        total += f
        reset = 0.0 if reset_zero else u - theta
        membrane[i] = reset if f else u
    return _emit(fired, total, events, spikes, record_offset)


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


@njit(cache=True, parallel=True, nogil=True)
def _run(
    ev_offsets, ev_index, ev_value, ev_is_current, input_mode, n_in, T,
    proj, scale, pops, pop_f, bias, weights, maps, early_exit, n_chunks,
    spikes_out, sops_out, macs_out, spikes_in_out, values_in_out, counts_out, updates_out,
    steps_out, first_spike_out, exit_out,
):  # fmt: skip
    B = exit_out.shape[0]
    P = pops.shape[0]
    N = bias.shape[0]
    out = P - 1
    for chunk in prange(n_chunks):
        # per-chunk scratch: allocated once, reset per sample
        membrane = np.empty(N, dtype=bias.dtype)
        current = np.empty(N, dtype=bias.dtype)
        events = np.empty(N, dtype=np.int32)  # population p's spikes of this step at its offset
        fired = np.empty(N, dtype=np.uint8)
        n_events = np.zeros(P, dtype=np.int64)
        in_spikes = np.empty(n_in, dtype=np.int32)
        in_currents = np.empty(n_in, dtype=np.int32)
        in_values = np.empty(n_in, dtype=bias.dtype)
        for b in range(chunk * B // n_chunks, (chunk + 1) * B // n_chunks):
            membrane[:] = 0
            current[:] = 0
            first_spike_out[b] = T
            exit_out[b] = T
            for k in range(T):
                e0 = ev_offsets[b * T + k]
                e1 = ev_offsets[b * T + k + 1]
                n_spk = 0
                n_cur = 0
                if input_mode == INPUT_SPIKES:  # the event lists are read in place
                    spk = ev_index[e0:e1]
                    n_spk = e1 - e0
                    cur, cur_val = in_currents, in_values
                elif input_mode == INPUT_CURRENT:
                    cur, cur_val = ev_index[e0:e1], ev_value[e0:e1]
                    n_cur = e1 - e0
                    spk = in_spikes
                else:  # a fused input: split this step's events into spikes and currents
                    spk, cur, cur_val = in_spikes, in_currents, in_values
                    for e in range(e0, e1):
                        if ev_is_current[e]:
                            in_currents[n_cur] = ev_index[e]
                            in_values[n_cur] = ev_value[e]
                            n_cur += 1
                        else:
                            in_spikes[n_spk] = ev_index[e]
                            n_spk += 1
                for p in range(P):
                    lo = pops[p, P_OFF]
                    hi = lo + pops[p, P_SIZE]
                    target = current[lo:hi]
                    ds = pop_f[p, F_DECAY_S]
                    for i in range(hi - lo):
                        target[i] *= ds
                    for r in range(pops[p, P_PROJ_START], pops[p, P_PROJ_END]):
                        q = proj[r]
                        src = q[Q_SOURCE]
                        l = q[Q_INDEX]
                        if src == -1:
                            if n_spk > 0:
                                sops_out[k, b, l] += _project(
                                    target, weights, maps, scale[r], q, spk, cur_val, n_spk, False
                                )
                                spikes_in_out[b, l] += n_spk
                            if n_cur > 0:
                                macs_out[k, b, l] += _project(
                                    target, weights, maps, scale[r], q, cur, cur_val, n_cur, True
                                )
                                values_in_out[b, l] += n_cur
                        elif n_events[src] > 0:
                            sops_out[k, b, l] += _project(
                                target, weights, maps, scale[r], q, events[pops[src, P_OFF] :], in_values,
                                n_events[src], False,
                            )  # fmt: skip
                            spikes_in_out[b, l] += n_events[src]
                    n_events[p] = _integrate(
                        membrane[lo:hi], target, bias[lo:hi], pop_f[p, F_DECAY_M], pop_f[p, F_THETA],
                        pops[p, P_RESET_ZERO] != 0, fired[lo:hi], events[lo:hi], spikes_out[k, b], pops[p, P_RECORD],
                    )  # fmt: skip
                    counts_out[b, p] += n_events[p]
                    updates_out[b, p] += hi - lo
                steps_out[b] = k + 1
                if n_events[out] > 0 and first_spike_out[b] == T:
                    first_spike_out[b] = k
                    if early_exit:
                        exit_out[b] = k
                        break


def recorded_spikes(net: Network, spikes: np.ndarray, pops: np.ndarray, orders) -> list[np.ndarray]:
    """Each recorded population's spikes (T, B, n) bool in public (C, H, W)-flat order, from the
    kernel's record (T, B, R) uint8 (channels-last inside; `pops[p, P_RECORD]` = -1 if not kept)."""
    out = []
    for p, pop in enumerate(net.populations):
        lo = pops[p, P_RECORD]
        if lo < 0:
            continue
        s = spikes[:, :, lo : lo + pop.size].view(bool)
        if len(pop.shape) == 3:
            s = np.ascontiguousarray(s[:, :, np.argsort(orders[p])])
        out.append(s)
    return out


def simulate(
    net: Network,
    inputs,
    decoder: str = "rate",
    early_exit: bool = False,
    dtype=np.float32,
    input_kind="auto",
    record_hidden: bool = False,
) -> SimulationResult:
    """Run `net` event-driven on an encoded batch.

    inputs: `InputEvents` (e.g. `evsim.encode_events(x, T, ...)`), or a dense batch
        (T, B, *net.input_shape) or (T, B, n_in) such as `evsim.encode(x, T, ...)`. Spikes (0/1)
        cost SOPs; float currents cost MACs in the layers they feed.
    input_kind: for dense inputs: "auto" (spikes if every value is 0 or 1, else current),
        "spikes", "current", or the list of methods of a fused encoding (e.g. ["current",
        "ratesyn_e", "ttfs"]): each channel block is current or spikes by its method.
    decoder: "rate" or "ttfs".
    early_exit: stop each sample at its TTFS decision (needs decoder="ttfs").
    dtype: np.float32 (fast) or np.float64 (state and weights).
    record_hidden: keep every hidden population's spikes (T*B*n bytes each); off by default so
        that memory grows with B x neurons, not T x B x neurons.

    Returns a `SimulationResult`; SOPs and MACs are exact counts per sample and projection.
    A fixed-point network (`evsim.quantize`) runs with integer kernels (`evsim.fixed`): spike
    inputs only, `dtype` ignored.
    """
    if not isinstance(record_hidden, (bool, np.bool_)):
        raise ValueError(f"record_hidden must be True or False, got {record_hidden!r}")
    if isinstance(net, Network) and net.fixed_point is not None:
        from .fixed import simulate_fixed  # here: fixed imports this module

        return simulate_fixed(net, inputs, decoder, early_exit, dtype, input_kind, record_hidden)
    dt = check_options(decoder, early_exit, dtype)
    if not isinstance(net, Network):
        raise ValueError(f"net must be an evsim.Network, got {type(net).__name__}")
    ev = as_input_events(net, inputs, input_kind)
    T, B = ev.T, ev.B
    plan = _plan(net, dt)
    P, L = len(net.populations), len(net.projections)
    sizes = plan.pops[:, P_SIZE]
    recorded = [p == P - 1 or record_hidden for p in range(P)]
    pops = plan.pops.copy()
    r = 0
    for p in range(P):
        pops[p, P_RECORD] = r if recorded[p] else -1
        r += int(sizes[p]) if recorded[p] else 0
    spikes = np.zeros((T, B, r), dtype=np.uint8)
    sops = np.zeros((T, B, L), dtype=np.int64)
    macs = np.zeros((T, B, L), dtype=np.int64)
    spikes_in = np.zeros((B, L), dtype=np.int64)
    values_in = np.zeros((B, L), dtype=np.int64)
    counts = np.zeros((B, P), dtype=np.int64)
    updates = np.zeros((B, P), dtype=np.int64)
    steps = np.zeros(B, dtype=np.int64)
    first_spike = np.empty(B, dtype=np.int64)
    exit_step = np.empty(B, dtype=np.int64)
    n_chunks = min(B, 4 * numba.get_num_threads())
    # input events in the engine's layout, and how to read them: all spikes, all currents, or split
    index = ev.index if plan.input_identity else plan.input_map.astype(np.int32)[ev.index]
    n_current = int(ev.current.sum())
    if n_current == 0:
        input_mode, is_current = INPUT_SPIKES, np.zeros(0, dtype=np.bool_)
    elif n_current == ev.current.shape[0]:
        input_mode, is_current = INPUT_CURRENT, np.zeros(0, dtype=np.bool_)
    else:
        input_mode, is_current = INPUT_FUSED, ev.current[ev.index]
    _run(
        ev.offsets, index, ev.value.astype(dt, copy=False), is_current, input_mode, net.n_in, T,
        plan.proj, plan.scale, pops, plan.pop_f, plan.bias, plan.weights, plan.maps, bool(early_exit), n_chunks,
        spikes, sops, macs, spikes_in, values_in, counts, updates, steps, first_spike, exit_step,
    )  # fmt: skip
    per_pop = recorded_spikes(net, spikes, pops, plan.orders)
    output = per_pop[-1]
    omega = decode_scores(output, decoder)
    return SimulationResult(
        predictions=predict(omega),
        scores=omega,
        output_spikes=output,
        hidden_spikes=tuple(per_pop[:-1]),
        exit_step=exit_step,
        first_spike_step=first_spike,
        steps=steps,
        sops_per_step=sops,
        macs_per_step=macs,
        spikes_in=spikes_in,
        values_in=values_in,
        spike_counts=counts,
        membrane_updates=updates,
        decoder=decoder,
        early_exit=bool(early_exit),
    )


__all__ = ["simulate", "SimulationResult", "INPUT", "INPUT_KINDS"]
