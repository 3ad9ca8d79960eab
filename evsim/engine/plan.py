"""The plan: a network as the kernels' plain arrays, one table layout for float and integer runs.

Layout. State is channels-last inside the engine: neuron (c, y, x) of a (C, H, W) population sits
at (y W + x) C + c, and a convolution's weights are stored [c_in][ky][kw-1-kx][c_out]
(`conv_layout`), so one spike's work at each output position it reaches is one contiguous C_out
vector add (it vectorises like a dense row). Spikes are returned in the public (C, H, W) order
(`recorded_spikes`).

Tables (all int64 unless said): one row per projection, sorted by target (columns Q_*); one row
per population (columns P_*); per population its neuron's three numbers (columns N_*: decay_m,
decay_s, theta of the float model in the run's float dtype; d_m, d_s, theta of a fixed-point
network as integers); the biases in internal order; one flat weight buffer (dense rows
[source position][target position], conv blocks in `conv_layout`) and one flat map buffer (the
target position of each identity source position). A float plan has the target's input gain
folded into its weights; a fixed-point network has it folded into its integers already.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from ..network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network

PLAN_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64))

# projection kinds in the kernel
KIND_DENSE, KIND_CONV, KIND_POOL, KIND_IDENTITY = 0, 1, 2, 3
# columns of the projection table (one int64 row per projection, sorted by target)
(Q_KIND, Q_SOURCE, Q_INDEX, Q_WOFF, Q_WLEN, Q_CIN, Q_HIN, Q_WIN, Q_COUT, Q_HOUT, Q_WOUT,
 Q_KH, Q_KW, Q_SY, Q_SX, Q_PY, Q_PX) = range(17)  # fmt: skip
Q_COLUMNS = 17
# columns of the population table (one int64 row per population). Runtime flags the kernels read,
# so a neuron's variant costs no extra compiled specialisation: P_STRICT is 1 where the neuron fires
# on U > theta (threshold_test ">"), 0 for SPEC's U >= theta; fixed-point only, P_WRAP is 1 where
# the current wraps around instead of saturating and P_DELAY the population's input delay (0 or 1
# step): Loihi's arithmetic (`evsim.neurons.IntNeuron`); P_BITSHIFT is 1 for Xylo's bit-shift decay;
# P_VMIN is the membrane's lower bound (-(2**(S-1) - 1), or the neuron's v_min: DYNAP-CNN's)
(P_OFF, P_SIZE, P_RESET_ZERO, P_PROJ_START, P_PROJ_END, P_RECORD, P_STRICT, P_WRAP, P_DELAY,
 P_BITSHIFT, P_VMIN) = range(11)  # fmt: skip
P_COLUMNS = 11
# columns of the neuron table (float: decay_m, decay_s, theta; integer: d_m, d_s, theta)
N_DECAY_M, N_DECAY_S, N_THETA = range(3)


def internal_order(shape: tuple[int, ...]) -> np.ndarray:
    """(n,) int64: public (C, H, W)-flat index of each internal position (channels-last for 3-D)."""
    n = math.prod(shape)
    if len(shape) != 3:
        return np.arange(n, dtype=np.int64)
    c, h, w = shape
    return np.arange(n, dtype=np.int64).reshape(c, h, w).transpose(1, 2, 0).ravel()


def conv_layout(weight: np.ndarray) -> np.ndarray:
    """A conv weight (C_out, C_in, kh, kw) in the kernels' layout [c_in][ky][kw-1-kx][c_out].

    C_out last makes one reached output position one contiguous vector; kx reversed makes the
    output columns an event reaches with stride 1 consecutive in the weights as in the target, so
    an event's work per output row is one contiguous span (`kernels._conv_add`).
    """
    return np.ascontiguousarray(weight[:, :, :, ::-1].transpose(1, 2, 3, 0))


@dataclass(frozen=True)
class Plan:
    """A network as kernel arrays: projection, population and neuron tables, flat buffers."""

    proj: np.ndarray  # (L, Q_COLUMNS) int64, sorted by target
    scale: np.ndarray  # (L,) per-event value of pooling and identity projections (plan dtype)
    pops: np.ndarray  # (P, P_COLUMNS) int64
    neuron: np.ndarray  # (P, 3) plan dtype, columns N_DECAY_M, N_DECAY_S, N_THETA
    bias: np.ndarray  # (N,) plan dtype, internal order
    weights: np.ndarray  # flat, plan dtype: dense rows [src][tgt], conv [c_in][ky][kw-1-kx][c_out]
    maps: np.ndarray  # flat int64: identity target position of each source position
    input_map: np.ndarray  # (n_in,) internal position of each public input index
    input_identity: bool  # the input's internal order is its public order (not channels-last)
    orders: tuple[np.ndarray, ...]  # per population: public index of each internal position


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def plan(net: Network, dtype) -> Plan:
    """The kernel form of `net` in `dtype` (cached per network and dtype: networks are immutable)."""
    dtype = np.dtype(dtype)
    per_net = _PLANS.setdefault(net, {})
    if dtype not in per_net:
        per_net[dtype] = build_plan(net, dtype)
    return per_net[dtype]


def build_plan(net: Network, dtype) -> Plan:
    """The tables of `net`: float32 or float64 for a float network, int64 for a fixed-point one.

    Raises ValueError when the dtype does not fit the network (a float network never runs in
    integer arithmetic, nor a quantised one in float, by accident) or for an unknown projection kind.
    """
    dtype = np.dtype(dtype)
    if dtype not in PLAN_DTYPES:
        raise ValueError(f"a plan is float32, float64 or int64, got {dtype}")
    integer = dtype == np.dtype(np.int64)
    if net.fixed_point is not None and not integer:
        raise ValueError("the float engine cannot run a fixed-point network; evsim.simulate runs it with integer kernels")
    if net.fixed_point is None and integer:
        raise ValueError("integer kernels run fixed-point networks only; quantise with evsim.quantize first")
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
        gain = pops[proj.target].neuron.input_gain if not integer else None  # integers carry it already
        row = table[r]
        row[Q_SOURCE], row[Q_INDEX] = proj.source, q
        if isinstance(proj, Dense):
            row[Q_KIND], row[Q_COUT] = KIND_DENSE, proj.n_out
            src_order = in_order if proj.source == INPUT else orders[proj.source]
            # row j (internal source position) is what a spike there adds to the internal targets
            rows = proj.weight[orders[proj.target]][:, src_order].T
            block = rows.astype(dtype) if integer else (rows * gain).astype(dtype)
        elif isinstance(proj, Conv2d):
            c_in, h, w = src_shape
            c_out, h_out, w_out = tgt_shape
            (kh, kw), (sy, sx), (py, px) = proj.kernel_size, proj.stride, proj.padding
            row[Q_KIND] = KIND_CONV
            row[Q_CIN], row[Q_HIN], row[Q_WIN] = c_in, h, w
            row[Q_COUT], row[Q_HOUT], row[Q_WOUT] = c_out, h_out, w_out
            row[Q_KH], row[Q_KW], row[Q_SY], row[Q_SX], row[Q_PY], row[Q_PX] = kh, kw, sy, sx, py, px
            block = conv_layout(proj.weight if integer else proj.weight * gain).astype(dtype)
        elif isinstance(proj, AvgPool2d):
            c, h, w = src_shape
            _, h_out, w_out = tgt_shape
            (kh, kw), (sy, sx) = proj.kernel_size, proj.stride
            row[Q_KIND] = KIND_POOL
            row[Q_CIN], row[Q_HIN], row[Q_WIN] = c, h, w
            row[Q_COUT], row[Q_HOUT], row[Q_WOUT] = c, h_out, w_out
            row[Q_KH], row[Q_KW], row[Q_SY], row[Q_SX] = kh, kw, sy, sx
            # float: as the reference rounds it; integer: the quantiser's weight (1/(kh kw) folded in)
            scale[r] = proj.weight if integer else dtype.type(gain) * dtype.type(1.0 / (kh * kw))
            continue
        elif isinstance(proj, Identity):
            row[Q_KIND] = KIND_IDENTITY
            src_order = in_order if proj.source == INPUT else orders[proj.source]
            target_pos = inv(proj.target)[src_order]  # public index i -> target's internal position
            maps.append(target_pos)
            row[Q_WOFF] = m_off  # identity projections index `maps`, not `weights`
            row[Q_WLEN] = target_pos.size
            m_off += target_pos.size
            scale[r] = proj.scale if integer else dtype.type(proj.scale) * dtype.type(gain)
            continue
        else:  # Network admits only the kinds above; a new kind needs its kernel first
            raise ValueError(f"the engine cannot run projection kind {getattr(proj, 'kind', type(proj).__name__)!r}")
        row[Q_WOFF], row[Q_WLEN] = w_off, block.size
        blocks.append(block.ravel())
        w_off += block.size
    targets = np.array([net.projections[q].target for q in order], dtype=np.int64)
    bounds = np.searchsorted(targets, np.arange(len(pops) + 1)).astype(np.int64)
    pop_table = np.zeros((len(pops), P_COLUMNS), dtype=np.int64)
    pop_table[:, P_OFF] = offsets[:-1]
    pop_table[:, P_SIZE] = sizes
    pop_table[:, P_RESET_ZERO] = [p.neuron.reset == "zero" for p in pops]
    pop_table[:, P_STRICT] = [p.neuron.threshold_test == ">" for p in pops]
    if integer:
        pop_table[:, P_WRAP] = [p.neuron.current_overflow == "wrap" for p in pops]
        pop_table[:, P_DELAY] = [p.neuron.input_delay for p in pops]
        pop_table[:, P_BITSHIFT] = [p.neuron.decay == "bitshift" for p in pops]
        s_max = 2 ** (net.fixed_point[1] - 1) - 1
        pop_table[:, P_VMIN] = [-s_max if p.neuron.v_min is None else p.neuron.v_min for p in pops]
    pop_table[:, P_PROJ_START] = bounds[:-1]
    pop_table[:, P_PROJ_END] = bounds[1:]
    if integer:
        neuron = np.array([[p.neuron.d_m, p.neuron.d_s, p.neuron.theta] for p in pops], dtype=np.int64)
    else:
        neuron = np.array([[p.neuron.decay_m, p.neuron.decay_s, p.neuron.theta] for p in pops], dtype=dtype)
    return Plan(
        proj=table,
        scale=scale,
        pops=pop_table,
        neuron=neuron,
        bias=bias,
        weights=np.concatenate(blocks) if blocks else np.zeros(0, dtype=dtype),
        maps=np.concatenate(maps) if maps else np.zeros(0, dtype=np.int64),
        input_map=inv(INPUT),
        input_identity=bool((inv(INPUT) == np.arange(net.n_in)).all()),
        orders=orders,
    )


def input_index(plan: Plan, index: np.ndarray) -> np.ndarray:
    """Input event indices (E,) int32 (public order) in the kernels' internal input order."""
    return index if plan.input_identity else plan.input_map.astype(np.int32)[index]


def record_table(plan: Plan, record_hidden: bool) -> tuple[np.ndarray, int]:
    """The population table with P_RECORD filled (offset of each recorded population in the
    per-step record row, -1 if not kept: the output always, hidden populations if asked), and
    the record row's width R."""
    P = plan.pops.shape[0]
    pops = plan.pops.copy()
    r = 0
    for p in range(P):
        recorded = p == P - 1 or record_hidden
        pops[p, P_RECORD] = r if recorded else -1
        r += int(plan.pops[p, P_SIZE]) if recorded else 0
    return pops, r


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
