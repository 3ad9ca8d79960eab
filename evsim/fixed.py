"""Fixed-point mode (SPEC "Fixed-point mode"): the quantiser, the integer engine and its reference.

The answer a neuromorphic chip gives, not a float32 GPU's: every state is an integer and the
arithmetic below is exact, so a run is identical on every machine, thread count and batch split.

Arithmetic (per sample, step and population; W, S, D = weight, state and decay bits)::

    I = trunc(I * (2**D - d_s) / 2**D) + sum of the integer weights of this step's events
    I = clip(I, -(2**(S-1) - 1), 2**(S-1) - 1)                  saturate once, after the sum
    U = trunc(U * (2**D - d_m) / 2**D) + I + b                  (the saturated I)
    U = clip(U, -(2**(S-1) - 1), 2**(S-1) - 1)
    spike when U >= theta; then U = 0 ("zero") or U -= theta ("subtract")

trunc rounds toward zero. Saturation is applied once per step, after all of the step's events
have been added (SPEC's order), not after each event add: the sum of integers is then independent
of the order of the events, which is what makes runs bit-identical for any thread count.
Intermediate sums are exact in int64 (S <= 40, D <= 20 are enforced).

Quantiser rule (`quantize`). For each population p, in the float model's units:

- R_p = the largest sum over one neuron's incoming synapses of |weight| (all projections into p
  together; an average pool counts 1, an identity |scale|): the largest |I| any step can bring,
  for IF and for LIF alike (LIF's gain 1/tau_s and its trace's 1/(1 - decay_s) cancel);
- B_p = theta + R_p + max|b|: the largest |U| a neuron below threshold can reach in one step;
- the state unit is 2**s_p state LSBs per float unit, with s_p the largest integer such that
  4 B_p 2**s_p <= 2**(S-1) - 1 (two bits of headroom: nothing overflows unless inputs keep
  driving a neuron for steps on end; a persistently inhibited or over-driven IF membrane
  saturates, which is the chip's behaviour too);
- theta_int = round(2**s_p theta), b_int = round(2**s_p b); each projection's integer weights
  are w = 2**s_p * gain * W (gain = 1/tau_s for LIF, 1 for IF; an average pool's 1/(kh kw)
  included), written m * 2**e with the smallest exponent e >= 0 for which every
  |m| = |round(w / 2**e)| <= 2**(W-1) - 1 (a symmetric signed W-bit mantissa);
- no mantissa bit is wasted: the largest |m| of each projection is >= 2**(W-2) (its top bit is
  used). When the state unit is too small for that (S too small for W and the fan-in: roughly
  S >= W + log2(R_p / max|W|) + 2 is needed) `quantize` raises a ValueError that names the
  smallest state_bits that works, rather than wasting bits silently;
- decays: d_s = round(2**D / tau_s), d_m = round(2**D / tau_m) for LIF; IF has d_m = 0, d_s = 2**D.
  round is half away from zero everywhere.

Inputs: spikes only in this version. A float current input (current encoding, or the current
channels of a fused input) would need its own input quantisation, which SPEC does not fix yet:
`simulate` refuses it with a ValueError instead of guessing.

`dtype` is ignored for fixed-point networks (state is always int64); a float network never runs
here (`simulate_fixed` refuses it) and the float engine refuses a fixed-point network.

`reference_fixed` is the independent oracle: plain NumPy int64 in the public (C, H, W) layout, one
matrix product / convolution loop per projection and step, its own truncation and operation
counting; it shares only the network description with the kernels.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from .decoding import predict, scores as decode_scores
from .engine import (
    F_DECAY_M, F_DECAY_S, F_THETA, KIND_CONV, KIND_DENSE, KIND_IDENTITY, KIND_POOL,
    P_COLUMNS, P_OFF, P_PROJ_END, P_PROJ_START, P_RECORD, P_RESET_ZERO, P_SIZE,
    Q_CIN, Q_COLUMNS, Q_COUT, Q_HIN, Q_HOUT, Q_INDEX, Q_KH, Q_KIND, Q_KW, Q_PX, Q_PY, Q_SOURCE, Q_SX,
    Q_SY, Q_WIN, Q_WLEN, Q_WOFF, Q_WOUT, SimulationResult, _project, as_input_events, check_options,
    _emit, conv_layout, internal_order, recorded_spikes,
)  # fmt: skip
from .network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population
from .neurons import IF, LIF, IntNeuron

HEADROOM_BITS = 2  # the state unit leaves |U| <= 2**(S-1) / 4 for the one-step bound B_p
MAX_STATE_BITS = 40  # as Network checks: int64 holds every product and sum exactly


# ---------------------------------------------------------------------------------------------
# the quantiser
# ---------------------------------------------------------------------------------------------


def _bits(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
    return int(value)


def _round(x):
    """Round half away from zero (symmetric for negative weights), to int64."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def _drive(net: Network, p: int) -> np.ndarray:
    """(size,) float64: per neuron of population p (public order), sum of |weight| over all its
    incoming synapses: the largest |I| one step can bring (an input value is at most 1)."""
    pop = net.populations[p]
    total = np.zeros(pop.size)
    for proj in net.projections:
        if proj.target != p:
            continue
        if isinstance(proj, Dense):
            total += np.abs(proj.weight).sum(axis=1)
        elif isinstance(proj, Conv2d):
            per_channel = np.abs(proj.weight).sum(axis=(1, 2, 3))  # padding only lowers it
            total += np.repeat(per_channel, pop.size // per_channel.size)
        elif isinstance(proj, AvgPool2d):
            total += 1.0  # kh kw spikes x 1/(kh kw)
        else:
            total += abs(proj.scale)
    return total


def _real_weights(proj, gain: float, unit: float):
    """The projection's weights in state LSBs (float64, before rounding): array or scalar."""
    if isinstance(proj, (Dense, Conv2d)):
        return proj.weight * (gain * unit)
    if isinstance(proj, AvgPool2d):
        kh, kw = proj.kernel_size
        return np.float64(gain * unit / (kh * kw))
    return np.float64(proj.scale * gain * unit)


def _mantissa_exponent(w, weight_bits: int) -> tuple[np.ndarray, int]:
    """(m int64, e): the smallest e >= 0 with every |round(w / 2**e)| <= 2**(W-1) - 1."""
    m_max = 2 ** (weight_bits - 1) - 1
    amax = float(np.max(np.abs(w))) if np.size(w) else 0.0
    e = 0 if amax == 0 else max(0, math.floor(math.log2(amax)) - (weight_bits - 2))
    while np.abs(_round(np.ldexp(w, -e))).max(initial=0) > m_max:
        e += 1
    return _round(np.ldexp(w, -e)), e


def _unit_exponent(bound: float, state_bits: int) -> int:
    """s_p: the largest s with 2**HEADROOM_BITS * bound * 2**s <= 2**(S-1) - 1."""
    s = math.floor(math.log2((2 ** (state_bits - 1) - 1) / (2**HEADROOM_BITS * bound)))
    while 2**HEADROOM_BITS * bound * 2.0**s > 2 ** (state_bits - 1) - 1:  # float log2 at a boundary
        s -= 1
    return s


def _population_fits(net: Network, p: int, bound: float, weight_bits: int, state_bits: int) -> str | None:
    """None if population p quantises at these bits with every mantissa's top bit used, else why not."""
    pop = net.populations[p]
    unit = 2.0 ** _unit_exponent(bound, state_bits)
    if _round(unit * pop.neuron.theta) < 1:
        return f"its threshold {pop.neuron.theta} rounds to 0 state units"
    for q, proj in enumerate(net.projections):
        if proj.target != p:
            continue
        real = _real_weights(proj, pop.neuron.input_gain, unit)
        m, e = _mantissa_exponent(real, weight_bits)
        top = int(np.abs(m).max(initial=0))
        if np.any(real != 0) and top < 2 ** (weight_bits - 2):  # all rounding to 0 is the worst waste
            return (f"projection {q}'s largest weight is {top} state units, which leaves the top bit of a "
                    f"{weight_bits}-bit mantissa unused")
    return None


def quantize(net: Network, weight_bits: int = 8, state_bits: int = 24, decay_bits: int = 12) -> Network:
    """The fixed-point version of the float network `net` (rule: module docstring).

    weight_bits W: signed weight mantissa bits (|m| <= 2**(W-1) - 1), one exponent per projection.
    state_bits S: saturating current and membrane bits (|I|, |U| <= 2**(S-1) - 1), 2 <= W <= S <= 40.
    decay_bits D: decays are numerators out of 2**D (2 <= D <= 20).

    Returns a `Network` with `fixed_point == (W, S, D)`, `IntNeuron` populations (integer theta,
    d_m, d_s, reset as the float model) with int64 biases, and projections whose int64 `weight`
    (AvgPool2d: `weight`, Identity: `scale`) is the effective integer m << exponent, the target's
    input gain folded in. metadata gains "fixed_point.state_scale.<p>": state LSBs per float unit.
    Raises ValueError for bits < 2, state_bits too small for the weights, or a quantised network.
    """
    if not isinstance(net, Network):
        raise ValueError(f"quantize needs an evsim.Network, got {type(net).__name__}")
    if net.fixed_point is not None:
        raise ValueError(f"the network is already quantised (fixed_point = {net.fixed_point}); quantise the float "
                         "network it came from")
    W, S, D = _bits("weight_bits", weight_bits), _bits("state_bits", state_bits), _bits("decay_bits", decay_bits)
    if S > MAX_STATE_BITS:
        raise ValueError(f"state_bits must be <= {MAX_STATE_BITS} (int64 arithmetic stays exact), got {S}")
    if D > 20:
        raise ValueError(f"decay_bits must be <= 20, got {D}")
    if W > S:
        raise ValueError(f"state_bits ({S}) too small for the weights: weight_bits is {W}, and a weight must fit "
                         "in the state")
    populations, units = [], []
    for p, pop in enumerate(net.populations):
        nrn = pop.neuron
        b_max = float(np.abs(pop.bias).max(initial=0.0)) if pop.bias is not None else 0.0
        bound = nrn.theta + float(_drive(net, p).max(initial=0.0)) + b_max
        why = _population_fits(net, p, bound, W, S)
        if why is not None:
            need = next((s for s in range(S + 1, MAX_STATE_BITS + 1) if _population_fits(net, p, bound, W, s) is None),
                        None)  # fmt: skip
            hint = f"it needs state_bits >= {need}" if need else f"no state_bits <= {MAX_STATE_BITS} is enough"
            raise ValueError(f"state_bits={S} too small for weight_bits={W} in population {p}: {why} "
                             f"(the state unit must keep 2**{HEADROOM_BITS} x the largest one-step |U| = {bound:.4g} "
                             f"within {S} bits); {hint}")
        unit = 2.0 ** _unit_exponent(bound, S)
        units.append(unit)
        if isinstance(nrn, LIF):
            d_m, d_s = int(_round(2.0**D / nrn.tau_m)), int(_round(2.0**D / nrn.tau_s))
        elif isinstance(nrn, IF):
            d_m, d_s = 0, 2**D
        else:  # pragma: no cover - Population admits IF, LIF and (fixed networks only) IntNeuron
            raise ValueError(f"cannot quantise neuron {nrn!r}")
        neuron = IntNeuron(theta=int(_round(unit * nrn.theta)), d_m=d_m, d_s=d_s, reset=nrn.reset)
        bias = None if pop.bias is None else _round(unit * pop.bias)
        populations.append(Population(pop.shape, neuron, bias))
    projections = []
    for proj in net.projections:
        gain = net.populations[proj.target].neuron.input_gain
        m, e = _mantissa_exponent(_real_weights(proj, gain, units[proj.target]), W)
        w = m << e
        if isinstance(proj, Dense):
            projections.append(Dense(proj.source, proj.target, w, exponent=e))
        elif isinstance(proj, Conv2d):
            projections.append(Conv2d(proj.source, proj.target, w, proj.stride, proj.padding, exponent=e))
        elif isinstance(proj, AvgPool2d):
            projections.append(AvgPool2d(proj.source, proj.target, proj.kernel_size, proj.stride, int(w), exponent=e))
        else:
            projections.append(Identity(proj.source, proj.target, int(w), exponent=e))
    metadata = dict(net.metadata)
    metadata.update({f"fixed_point.state_scale.{p}": u for p, u in enumerate(units)})
    return Network(net.input_shape, populations, projections, metadata, fixed_point=(W, S, D))


def mantissas(net: Network) -> list[np.ndarray]:
    """Per projection of a quantised network, its signed mantissas m = weight >> exponent (int64)."""
    if not isinstance(net, Network) or net.fixed_point is None:
        raise ValueError("mantissas needs a fixed-point network (evsim.quantize)")
    out = []
    for proj in net.projections:
        w = np.asarray(proj.scale if isinstance(proj, Identity) else proj.weight, dtype=np.int64)
        out.append(w >> proj.exponent)  # exact: the weights are multiples of 2**exponent
    return out


# ---------------------------------------------------------------------------------------------
# plan: the engine's tables (same columns and layout), with int64 weights and neuron parameters
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FixedPlan:
    proj: np.ndarray  # (L, Q_COLUMNS) int64, sorted by target
    scale: np.ndarray  # (L,) int64 per-event weight of pooling and identity projections
    pops: np.ndarray  # (P, P_COLUMNS) int64
    pop_i: np.ndarray  # (P, 3) int64: d_m, d_s, theta (columns F_DECAY_M, F_DECAY_S, F_THETA)
    bias: np.ndarray  # (N,) int64, internal order
    weights: np.ndarray  # flat int64: dense rows [src][tgt], conv [c_in][ky][kx][c_out]
    maps: np.ndarray  # flat int64: identity target position of each source position
    input_map: np.ndarray  # (n_in,) internal position of each public input index
    orders: tuple[np.ndarray, ...]


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fixed_plan(net: Network) -> _FixedPlan:
    if net not in _PLANS:
        _PLANS[net] = _build_fixed_plan(net)
    return _PLANS[net]


def _build_fixed_plan(net: Network) -> _FixedPlan:
    """The kernel tables of a fixed-point network: the float engine's layout, integers throughout
    (no gain to apply: it is folded into the integer weights)."""
    pops = net.populations
    orders = tuple(internal_order(p.shape) for p in pops)
    in_order = internal_order(net.input_shape)

    def inverse(node):
        order = in_order if node == INPUT else orders[node]
        out = np.empty_like(order)
        out[order] = np.arange(order.size)
        return out

    sizes = np.array([p.size for p in pops], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    bias = np.zeros(int(offsets[-1]), dtype=np.int64)
    for p, pop in enumerate(pops):
        if pop.bias is not None:
            bias[offsets[p] : offsets[p + 1]] = pop.bias[orders[p]]
    order = sorted(range(len(net.projections)), key=lambda q: net.projections[q].target)
    table = np.zeros((len(order), Q_COLUMNS), dtype=np.int64)
    scale = np.zeros(len(order), dtype=np.int64)
    blocks, maps, w_off, m_off = [], [], 0, 0
    for r, q in enumerate(order):
        proj = net.projections[q]
        src_shape, tgt_shape = net.shape_of(proj.source), pops[proj.target].shape
        src_order = in_order if proj.source == INPUT else orders[proj.source]
        row = table[r]
        row[Q_SOURCE], row[Q_INDEX] = proj.source, q
        if isinstance(proj, Dense):
            row[Q_KIND], row[Q_COUT] = KIND_DENSE, proj.n_out
            block = np.ascontiguousarray(proj.weight[orders[proj.target]][:, src_order].T)
        elif isinstance(proj, Conv2d):
            row[Q_KIND] = KIND_CONV
            row[Q_CIN], row[Q_HIN], row[Q_WIN] = src_shape
            row[Q_COUT], row[Q_HOUT], row[Q_WOUT] = tgt_shape
            (row[Q_KH], row[Q_KW]), (row[Q_SY], row[Q_SX]), (row[Q_PY], row[Q_PX]) = (
                proj.kernel_size, proj.stride, proj.padding)  # fmt: skip
            block = conv_layout(proj.weight)
        elif isinstance(proj, AvgPool2d):
            row[Q_KIND] = KIND_POOL
            row[Q_CIN], row[Q_HIN], row[Q_WIN] = src_shape
            row[Q_COUT], row[Q_HOUT], row[Q_WOUT] = tgt_shape
            (row[Q_KH], row[Q_KW]), (row[Q_SY], row[Q_SX]) = proj.kernel_size, proj.stride
            scale[r] = proj.weight
            continue
        else:
            row[Q_KIND] = KIND_IDENTITY
            target_pos = inverse(proj.target)[src_order]
            maps.append(target_pos)
            row[Q_WOFF], row[Q_WLEN] = m_off, target_pos.size  # identity rows index `maps`
            m_off += target_pos.size
            scale[r] = proj.scale
            continue
        row[Q_WOFF], row[Q_WLEN] = w_off, block.size
        blocks.append(block.ravel().astype(np.int64))
        w_off += block.size
    targets = np.array([net.projections[q].target for q in order], dtype=np.int64)
    bounds = np.searchsorted(targets, np.arange(len(pops) + 1)).astype(np.int64)
    pop_table = np.zeros((len(pops), P_COLUMNS), dtype=np.int64)
    pop_table[:, P_OFF] = offsets[:-1]
    pop_table[:, P_SIZE] = sizes
    pop_table[:, P_RESET_ZERO] = [p.neuron.reset == "zero" for p in pops]
    pop_table[:, P_PROJ_START] = bounds[:-1]
    pop_table[:, P_PROJ_END] = bounds[1:]
    pop_i = np.zeros((len(pops), 3), dtype=np.int64)
    for p, pop in enumerate(pops):
        pop_i[p, F_DECAY_M], pop_i[p, F_DECAY_S], pop_i[p, F_THETA] = pop.neuron.d_m, pop.neuron.d_s, pop.neuron.theta
    return _FixedPlan(
        proj=table, scale=scale, pops=pop_table, pop_i=pop_i, bias=bias,
        weights=np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int64),
        maps=np.concatenate(maps) if maps else np.zeros(0, dtype=np.int64),
        input_map=inverse(INPUT), orders=orders,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# integer kernels. The per-kind scatter kernels are the float engine's (`engine._project`),
# compiled here for int64 targets and weights: integer adds are exact and order-free, so one
# scatter code serves both modes. Decay, saturation, threshold and the run loop are below.
# ---------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _decay_current(current, keep, shift):
    """current = trunc(current * keep / 2**shift) in place (toward zero, as SPEC says)."""
    for i in range(current.shape[0]):
        p = current[i] * keep
        current[i] = (p >> shift) if p >= 0 else -((-p) >> shift)


@njit(cache=True, nogil=True)
def _integrate_fixed(membrane, current, bias, keep_m, shift, theta, s_max, reset_zero, fired, events, spikes,
                     record_offset):  # fmt: skip
    """Saturate the summed currents, update the membranes (n,) in place, spike and reset.

    current: this step's I before saturation (decayed and summed); written back saturated.
    Writes the spiking positions to `events` and, if record_offset >= 0, this step's flags to
    spikes[record_offset:]. Returns the number of spikes.
    """
    n = membrane.shape[0]
    total = 0
    for i in range(n):
        c = min(max(current[i], -s_max), s_max)
        current[i] = c
        p = membrane[i] * keep_m
        u = ((p >> shift) if p >= 0 else -((-p) >> shift)) + c + bias[i]
        u = min(max(u, -s_max), s_max)
        f = u >= theta
        fired[i] = f
        total += f
        reset = 0 if reset_zero else u - theta
        membrane[i] = reset if f else u
    return _emit(fired, total, events, spikes, record_offset)


@njit(cache=True, parallel=True, nogil=True)
def _run_fixed(
    ev_offsets, ev_index, input_map, T, proj, scale, pops, pop_i, bias, weights, maps, shift, s_max,
    early_exit, n_chunks, spikes_out, sops_out, spikes_in_out, counts_out, updates_out, steps_out,
    first_spike_out, exit_out,
):  # fmt: skip
    """The integer run loop: the float engine's `_run` for spike inputs, with integer state."""
    B = exit_out.shape[0]
    P = pops.shape[0]
    N = bias.shape[0]
    n_in = input_map.shape[0]
    out = P - 1
    one = np.int64(1) << shift
    for chunk in prange(n_chunks):
        membrane = np.empty(N, dtype=np.int64)
        current = np.empty(N, dtype=np.int64)
        events = np.empty(N, dtype=np.int64)
        fired = np.empty(N, dtype=np.uint8)
        n_events = np.zeros(P, dtype=np.int64)
        in_spikes = np.empty(n_in, dtype=np.int64)
        no_values = np.zeros(1, dtype=np.int64)  # spike inputs only: the kernels never read it
        for b in range(chunk * B // n_chunks, (chunk + 1) * B // n_chunks):
            membrane[:] = 0
            current[:] = 0
            first_spike_out[b] = T
            exit_out[b] = T
            for k in range(T):
                n_spk = 0
                for e in range(ev_offsets[b * T + k], ev_offsets[b * T + k + 1]):
                    in_spikes[n_spk] = input_map[ev_index[e]]
                    n_spk += 1
                for p in range(P):
                    lo = pops[p, P_OFF]
                    hi = lo + pops[p, P_SIZE]
                    target = current[lo:hi]
                    _decay_current(target, one - pop_i[p, F_DECAY_S], shift)
                    for r in range(pops[p, P_PROJ_START], pops[p, P_PROJ_END]):
                        q = proj[r]
                        src = q[Q_SOURCE]
                        l = q[Q_INDEX]
                        if src == -1:
                            if n_spk > 0:
                                sops_out[k, b, l] += _project(target, weights, maps, scale[r], q, in_spikes, no_values,
                                                              n_spk, False)  # fmt: skip
                                spikes_in_out[b, l] += n_spk
                        elif n_events[src] > 0:
                            sops_out[k, b, l] += _project(target, weights, maps, scale[r], q, events[pops[src, P_OFF]:],
                                                          no_values, n_events[src], False)  # fmt: skip
                            spikes_in_out[b, l] += n_events[src]
                    n_events[p] = _integrate_fixed(
                        membrane[lo:hi], target, bias[lo:hi], one - pop_i[p, F_DECAY_M], shift, pop_i[p, F_THETA],
                        s_max, pops[p, P_RESET_ZERO] != 0, fired[lo:hi], events[lo:hi], spikes_out[k, b],
                        pops[p, P_RECORD],
                    )  # fmt: skip
                    counts_out[b, p] += n_events[p]
                    updates_out[b, p] += hi - lo
                steps_out[b] = k + 1
                if n_events[out] > 0 and first_spike_out[b] == T:
                    first_spike_out[b] = k
                    if early_exit:
                        exit_out[b] = k
                        break


_NO_CURRENTS = ("a fixed-point network takes spike inputs only: float current inputs (current encoding, or the "
                "current channels of a fused input) are not quantised in this version; encode with a spiking "
                "encoder (ratesyn_s, ratesyn_e, ttfs, poisson)")  # fmt: skip


def simulate_fixed(
    net: Network,
    inputs,
    decoder: str = "rate",
    early_exit: bool = False,
    dtype=None,
    input_kind="auto",
    record_hidden: bool = False,
) -> SimulationResult:
    """Run a fixed-point network (`evsim.quantize`) with integer kernels; `evsim.simulate` calls this.

    Same arguments and result as `evsim.simulate`; `dtype` is ignored (the state is int64). inputs
    must be spikes (events or a dense 0/1 batch). Raises ValueError for a float network or a
    float current input.
    """
    if not isinstance(net, Network):
        raise ValueError(f"net must be an evsim.Network, got {type(net).__name__}")
    if net.fixed_point is None:
        raise ValueError("simulate_fixed runs fixed-point networks only; quantise with evsim.quantize first")
    check_options(decoder, early_exit, np.float64)
    ev = as_input_events(net, inputs, input_kind)
    if ev.current.any():
        raise ValueError(_NO_CURRENTS)
    _, S, D = net.fixed_point
    T, B = ev.T, ev.B
    plan = _fixed_plan(net)
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
    spikes_in = np.zeros((B, L), dtype=np.int64)
    counts = np.zeros((B, P), dtype=np.int64)
    updates = np.zeros((B, P), dtype=np.int64)
    steps = np.zeros(B, dtype=np.int64)
    first_spike = np.empty(B, dtype=np.int64)
    exit_step = np.empty(B, dtype=np.int64)
    n_chunks = min(B, 4 * numba.get_num_threads())
    _run_fixed(
        ev.offsets, ev.index, plan.input_map, T, plan.proj, plan.scale, pops, plan.pop_i, plan.bias, plan.weights,
        plan.maps, np.int64(D), np.int64(2 ** (S - 1) - 1), bool(early_exit), n_chunks, spikes, sops, spikes_in,
        counts, updates, steps, first_spike, exit_step,
    )  # fmt: skip
    per_pop = recorded_spikes(net, spikes, pops, plan.orders)
    output = per_pop[-1]
    omega = decode_scores(output, decoder)
    return SimulationResult(
        predictions=predict(omega), scores=omega, output_spikes=output, hidden_spikes=tuple(per_pop[:-1]),
        exit_step=exit_step, first_spike_step=first_spike, steps=steps, sops_per_step=sops,
        macs_per_step=np.zeros_like(sops), spikes_in=spikes_in, values_in=np.zeros_like(spikes_in),
        spike_counts=counts, membrane_updates=updates, decoder=decoder, early_exit=bool(early_exit),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the independent integer reference
# ---------------------------------------------------------------------------------------------


def _ref_spike_inputs(net: Network, inputs, input_kind) -> np.ndarray:
    """(T, B, n_in) int64 0/1 spikes from `InputEvents` or a dense batch; refuses currents."""
    from .events import InputEvents

    if isinstance(inputs, InputEvents):
        if inputs.current.any():
            raise ValueError(_NO_CURRENTS)
        x = inputs.to_dense().reshape(inputs.T, inputs.B, net.n_in)
    else:
        x = np.asarray(inputs)
        if x.ndim < 3 or x.shape[2:] not in (net.input_shape, (net.n_in,)):
            raise ValueError(f"inputs must be (T, B, *{net.input_shape}), got shape {x.shape}")
        x = x.reshape(x.shape[0], x.shape[1], net.n_in)
        if input_kind == "current" or (not isinstance(input_kind, str) and "current" in input_kind):
            raise ValueError(_NO_CURRENTS)
        if not ((x == 0) | (x == 1)).all():
            raise ValueError(_NO_CURRENTS)
    return (x != 0).astype(np.int64)


def _ref_trunc(a: np.ndarray, shift: int) -> np.ndarray:
    """a / 2**shift rounded toward zero, exactly (int64)."""
    return np.sign(a) * (np.abs(a) // (1 << shift))


def _ref_apply(proj, s: np.ndarray, src_shape, tgt_shape) -> np.ndarray:
    """Integer current (B, n_target) that the 0/1 spikes s (B, n_source) bring through `proj`."""
    B = s.shape[0]
    if isinstance(proj, Dense):
        return s @ proj.weight.T
    if isinstance(proj, Identity):
        return proj.scale * s
    img = s.reshape((B,) + tuple(src_shape))
    _, h_out, w_out = tgt_shape
    if isinstance(proj, Conv2d):
        (sy, sx), (py, px) = proj.stride, proj.padding
        padded = np.pad(img, ((0, 0), (0, 0), (py, py), (px, px)))
        out = np.zeros((B,) + tuple(tgt_shape), dtype=np.int64)
        for ky in range(proj.weight.shape[2]):
            for kx in range(proj.weight.shape[3]):
                win = padded[:, :, ky : ky + sy * (h_out - 1) + 1 : sy, kx : kx + sx * (w_out - 1) + 1 : sx]
                out += np.tensordot(win, proj.weight[:, :, ky, kx], axes=([1], [1])).transpose(0, 3, 1, 2)
        return out.reshape(B, -1)
    (kh, kw), (sy, sx) = proj.kernel_size, proj.stride
    out = np.zeros((B,) + tuple(tgt_shape), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            out += img[:, :, ky : ky + sy * (h_out - 1) + 1 : sy, kx : kx + sx * (w_out - 1) + 1 : sx]
    return proj.weight * out.reshape(B, -1)


def reference_fixed(net: Network, inputs, decoder: str = "rate", early_exit: bool = False,
                    input_kind="auto") -> SimulationResult:  # fmt: skip
    """The integer oracle: SPEC's fixed-point arithmetic step by step in NumPy int64.

    Same result as `evsim.simulate` on a fixed-point network (hidden spikes always recorded).
    SOPs are each spike's fan-out from the network description (`Network.fan_out`); early exit
    cuts the full run at the decision step afterwards.
    """
    if not isinstance(net, Network) or net.fixed_point is None:
        raise ValueError("reference_fixed runs fixed-point networks only (evsim.quantize)")
    if decoder not in ("rate", "ttfs"):
        raise ValueError(f"unknown decoder {decoder!r}")
    if early_exit and decoder != "ttfs":
        raise ValueError("early_exit needs decoder='ttfs'")
    x = _ref_spike_inputs(net, inputs, input_kind)
    _, S, D = net.fixed_point
    s_max = (1 << (S - 1)) - 1
    T, B, _ = x.shape
    pops, projs = net.populations, net.projections
    P, L = len(pops), len(projs)
    fan_out = [net.fan_out(q) for q in range(L)]
    current = [np.zeros((B, p.size), dtype=np.int64) for p in pops]
    membrane = [np.zeros((B, p.size), dtype=np.int64) for p in pops]
    spikes = [np.zeros((T, B, p.size), dtype=bool) for p in pops]
    sops = np.zeros((T, B, L), dtype=np.int64)
    spikes_in = np.zeros((T, B, L), dtype=np.int64)
    for k in range(T):
        for p, pop in enumerate(pops):
            nrn = pop.neuron
            drive = np.zeros((B, pop.size), dtype=np.int64)
            for q, proj in enumerate(projs):
                if proj.target != p:
                    continue
                s = x[k] if proj.source == INPUT else spikes[proj.source][k].astype(np.int64)
                drive += _ref_apply(proj, s, net.shape_of(proj.source), pop.shape)
                sops[k, :, q] = s @ fan_out[q]
                spikes_in[k, :, q] = s.sum(axis=1)
            i_new = _ref_trunc(current[p] * ((1 << D) - nrn.d_s), D) + drive
            current[p] = np.clip(i_new, -s_max, s_max)
            u = _ref_trunc(membrane[p] * ((1 << D) - nrn.d_m), D) + current[p]
            if pop.bias is not None:
                u = u + pop.bias
            u = np.clip(u, -s_max, s_max)
            fired = u >= nrn.theta
            after = np.zeros_like(u) if nrn.reset == "zero" else u - nrn.theta
            membrane[p] = np.where(fired, after, u)
            spikes[p][k] = fired
    out_any = spikes[-1].any(axis=2)
    first = np.where(out_any.any(axis=0), out_any.argmax(axis=0), T).astype(np.int64)
    exit_step = first.copy() if early_exit else np.full(B, T, dtype=np.int64)
    steps = np.minimum(exit_step + 1, T)
    cut = np.arange(T)[:, None] >= steps[None, :]
    for s in spikes:
        s[cut] = False
    sops[cut] = 0
    spikes_in[cut] = 0
    out = spikes[-1]
    if decoder == "rate":
        omega = out.sum(axis=0, dtype=np.int64)
    else:
        omega = (out * (T - np.arange(T))[:, None, None]).max(axis=0).astype(np.int64)
    predictions = np.where((omega == 0).all(axis=1), -1, omega.argmax(axis=1)).astype(np.int64)
    return SimulationResult(
        predictions=predictions, scores=omega, output_spikes=out, hidden_spikes=tuple(spikes[:-1]),
        exit_step=exit_step, first_spike_step=first, steps=steps.astype(np.int64), sops_per_step=sops,
        macs_per_step=np.zeros_like(sops), spikes_in=spikes_in.sum(axis=0),
        values_in=np.zeros((B, L), dtype=np.int64),
        spike_counts=np.stack([s.sum(axis=(0, 2), dtype=np.int64) for s in spikes], axis=1),
        membrane_updates=steps[:, None] * np.array([p.size for p in pops], dtype=np.int64)[None, :],
        decoder=decoder, early_exit=bool(early_exit),
    )  # fmt: skip


__all__ = ["quantize", "mantissas", "simulate_fixed", "reference_fixed"]
