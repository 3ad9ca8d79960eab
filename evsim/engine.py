"""The event-driven engine: `simulate(net, inputs, ...)` runs a `Network` on an encoded batch.

Discrete time, zero synaptic delay: at step k, populations are updated in order and the spikes
of a population at step k reach its targets at step k. Each sample runs independently (numba
prange over samples), so results do not depend on the thread count.

Per sample and step, for each population p:

1. its synaptic current decays: I *= decay_s (0 for IF: no filter);
2. each incoming projection turns every source spike of this step into an event that adds the
   spiking neuron's weight row (pre-scaled by the target's input gain) to the synapses it
   reaches, and counts one synaptic operation (SOP) per synapse reached. A float input
   (current encoding) is not an event: that layer does multiply-accumulates (MACs), counted
   densely, n_synapses per step, as a MAC array would (paper, Methods);
3. neurons integrate, U = decay_m U + I + b, spike where U >= theta, and reset.

With TTFS decoding and `early_exit=True`, a sample stops at the first step at which any output
neuron spikes: the decision is taken there and no later step is simulated or counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from .decoding import DECODERS, predict, scores as decode_scores
from .network import INPUT, Dense, Network

INPUT_KINDS = ("auto", "spikes", "current")
DTYPES = (np.float32, np.float64)
KIND_DENSE = 0


@dataclass(frozen=True)
class SimulationResult:
    """What one simulation of a batch of B samples over T steps produced.

    predictions: (B,) int64, class index or -1 (abstain).
    scores: (B, n_out) int64 decoder values omega (spike counts or T - first spike step).
    output_spikes: (T, B, n_out) bool; all False after a sample's exit step.
    hidden_spikes: one (T, B, n) bool array per hidden population (empty if not recorded).
    exit_step: (B,) int64, the step at which the run stopped (early exit), T if it never did.
    first_spike_step: (B,) int64, step of the first output spike, T if the output stayed silent.
    sops_per_step: (T, B, L) int64 synaptic operations per step, sample and projection.
    macs_per_step: (T, B, L) int64 multiply-accumulates of float-fed projections.
    """

    predictions: np.ndarray
    scores: np.ndarray
    output_spikes: np.ndarray
    hidden_spikes: tuple[np.ndarray, ...]
    exit_step: np.ndarray
    first_spike_step: np.ndarray
    sops_per_step: np.ndarray
    macs_per_step: np.ndarray
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

    @property
    def steps(self) -> np.ndarray:
        """Steps simulated (B,) per sample: exit_step + 1 after an early exit, else T."""
        T = self.output_spikes.shape[0]
        return np.minimum(self.exit_step + 1, T)


def check_options(decoder: str, early_exit: bool, dtype) -> np.dtype:
    """Validate the run options shared by `simulate` and the reference; return the dtype."""
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {DECODERS}")
    if early_exit and decoder != "ttfs":
        raise ValueError("early_exit needs decoder='ttfs': only a TTFS decision is taken before the last step")
    dt = np.dtype(dtype)
    if dt not in [np.dtype(d) for d in DTYPES]:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def prepare_inputs(net: Network, inputs, input_kind: str, dtype: np.dtype) -> tuple[np.ndarray, bool]:
    """Validate an encoded batch and return it as (T, B, n_in) plus whether it is a float current.

    inputs: (T, B, *net.input_shape) or (T, B, n_in). Spikes (0/1 values; bool, integer or
    float) come back uncopied where possible (as uint8, float32 or float64), currents as
    `dtype`. input_kind "auto" treats an input whose
    values are all 0 or 1 as spikes.
    """
    if input_kind not in INPUT_KINDS:
        raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
    arr = np.asarray(inputs)
    if arr.ndim < 3:
        raise ValueError(f"inputs must have shape (T, B, ...) with an input per step and sample, got {arr.shape}")
    T, B = arr.shape[:2]
    if T < 1 or B < 1:
        raise ValueError(f"inputs need T >= 1 steps and B >= 1 samples, got shape {arr.shape}")
    if arr.shape[2:] not in (net.input_shape, (net.n_in,)):
        raise ValueError(
            f"inputs have per-sample shape {arr.shape[2:]}, the network expects {net.input_shape}"
        )
    if not (arr.dtype == bool or np.issubdtype(arr.dtype, np.number)) or np.iscomplexobj(arr):
        raise ValueError(f"inputs must be real numbers or booleans, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr.reshape(T, B, net.n_in))
    if arr.dtype == bool:
        arr, is_binary = arr.view(np.uint8), True
    elif np.issubdtype(arr.dtype, np.floating):
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
        n_nonfinite, n_nonbinary = _count_nonfinite_nonbinary(arr.reshape(-1))
        if n_nonfinite:
            raise ValueError(f"inputs contain {n_nonfinite} NaN or inf value(s)")
        is_binary = n_nonbinary == 0
    else:
        is_binary = bool(((arr == 0) | (arr == 1)).all())
    if input_kind == "spikes" and not is_binary:
        raise ValueError("input_kind='spikes' needs inputs of only 0 and 1")
    is_current = input_kind == "current" or (input_kind == "auto" and not is_binary)
    if is_current:
        return np.ascontiguousarray(arr, dtype=dtype), True
    if arr.dtype not in (np.uint8, np.float32, np.float64):
        arr = arr.astype(np.uint8)
    return arr, False  # spikes are read as they are: no copy of a large batch


@njit(cache=True, parallel=True, nogil=True)
def _count_nonfinite_nonbinary(flat):
    """(number of NaN/inf values, number of finite values other than 0 and 1) of a float array."""
    nonfinite = 0
    nonbinary = 0
    for i in prange(flat.shape[0]):
        v = flat[i]
        if not np.isfinite(v):
            nonfinite += 1
        elif v != 0 and v != 1:
            nonbinary += 1
    return nonfinite, nonbinary


@dataclass(frozen=True)
class _Plan:
    """A network flattened into plain arrays for the kernel (projections sorted by target)."""

    pop_offset: np.ndarray
    decay_m: np.ndarray
    decay_s: np.ndarray
    theta: np.ndarray
    reset_zero: np.ndarray
    bias: np.ndarray
    proj_kind: np.ndarray
    proj_source: np.ndarray
    proj_index: np.ndarray
    proj_w_offset: np.ndarray
    proj_n_in: np.ndarray
    proj_n_out: np.ndarray
    pop_proj_start: np.ndarray
    weights: np.ndarray


def _plan(net: Network, dtype: np.dtype) -> _Plan:
    pops = net.populations
    sizes = np.array([p.size for p in pops], dtype=np.int64)
    pop_offset = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    bias = np.zeros(int(pop_offset[-1]), dtype=dtype)
    for p, pop in enumerate(pops):
        if pop.bias is not None:
            bias[pop_offset[p] : pop_offset[p + 1]] = pop.bias
    order = sorted(range(len(net.projections)), key=lambda q: net.projections[q].target)
    blocks, w_offset, offset = [], [], 0
    for q in order:
        proj = net.projections[q]
        if not isinstance(proj, Dense):
            raise ValueError(f"the engine cannot run projection kind {proj.kind!r} yet")
        gain = pops[proj.target].neuron.input_gain
        # row j is what a spike of source neuron j adds to the targets' currents
        block = (proj.weight.T * gain).astype(dtype)
        blocks.append(block.ravel())
        w_offset.append(offset)
        offset += block.size
    targets = np.array([net.projections[q].target for q in order], dtype=np.int64)
    return _Plan(
        pop_offset=pop_offset,
        decay_m=np.array([p.neuron.decay_m for p in pops], dtype=dtype),
        decay_s=np.array([p.neuron.decay_s for p in pops], dtype=dtype),
        theta=np.array([p.neuron.theta for p in pops], dtype=dtype),
        reset_zero=np.array([p.neuron.reset == "zero" for p in pops], dtype=np.bool_),
        bias=bias,
        proj_kind=np.full(len(order), KIND_DENSE, dtype=np.int64),
        proj_source=np.array([net.projections[q].source for q in order], dtype=np.int64),
        proj_index=np.array(order, dtype=np.int64),
        proj_w_offset=np.array(w_offset, dtype=np.int64),
        proj_n_in=np.array([net.projections[q].n_in for q in order], dtype=np.int64),
        proj_n_out=np.array([net.projections[q].n_out for q in order], dtype=np.int64),
        pop_proj_start=np.searchsorted(targets, np.arange(len(pops) + 1)).astype(np.int64),
        weights=np.concatenate(blocks) if blocks else np.zeros(0, dtype=dtype),
    )


@njit(cache=True, nogil=True)
def _dense_events(target_current, weights, n_out, events, n_events):
    """Add the weight row of each event to the target currents; return the SOPs done.

    target_current: (n_out,) view; weights: this projection's rows, flat (n_in * n_out,).
    """
    for e in range(n_events):
        row = weights[events[e] * n_out : (events[e] + 1) * n_out]  # a view: lets LLVM vectorize
        for i in range(n_out):
            target_current[i] += row[i]
    return n_events * n_out


@njit(cache=True, nogil=True)
def _dense_current(target_current, weights, n_out, values):
    """Multiply-accumulate a float input (n_in,) into the target currents; return the MACs done."""
    n_in = values.shape[0]
    for j in range(n_in):
        v = values[j]
        if v != 0:  # adding 0 * w changes nothing; the MAC is still counted
            row = weights[j * n_out : (j + 1) * n_out]
            for i in range(n_out):
                target_current[i] += v * row[i]
    return n_in * n_out


@njit(cache=True, nogil=True)
def _integrate(membrane, current, bias, decay_m, theta, reset_zero, events, spikes, record_offset):
    """Update one population's membranes (n,) in place; write its spike indices to `events`.

    spikes: this step's record row, written at record_offset (skipped when it is -1).
    Returns the number of spikes.
    """
    count = 0
    for i in range(membrane.shape[0]):
        u = decay_m * membrane[i] + current[i] + bias[i]
        if u >= theta:
            events[count] = i
            count += 1
            if record_offset >= 0:
                spikes[record_offset + i] = 1
            if reset_zero:
                membrane[i] = 0
            else:
                membrane[i] = u - theta
        else:
            membrane[i] = u
    return count


@njit(cache=True, parallel=True, nogil=True)
def _run(
    inputs, input_is_current,
    pop_offset, decay_m, decay_s, theta, reset_zero, bias,
    proj_kind, proj_source, proj_index, proj_w_offset, proj_n_in, proj_n_out, pop_proj_start,
    weights, record_offset, early_exit,
    spikes_out, sops_out, macs_out, first_spike_out, exit_out,
):  # fmt: skip
    T, B, n_in = inputs.shape
    P = pop_offset.shape[0] - 1
    N = pop_offset[P]
    out = P - 1
    for b in prange(B):
        membrane = np.zeros(N, dtype=bias.dtype)
        current = np.zeros(N, dtype=bias.dtype)
        events = np.empty(N, dtype=np.int64)  # population p's spikes of this step at pop_offset[p]:
        n_events = np.zeros(P, dtype=np.int64)
        input_events = np.empty(n_in, dtype=np.int64)
        first_spike_out[b] = T
        exit_out[b] = T
        for k in range(T):
            n_input_events = 0
            if not input_is_current:
                for j in range(n_in):
                    if inputs[k, b, j] != 0:
                        input_events[n_input_events] = j
                        n_input_events += 1
            for p in range(P):
                lo = pop_offset[p]
                hi = pop_offset[p + 1]
                target = current[lo:hi]
                ds = decay_s[p]
                for i in range(hi - lo):
                    target[i] *= ds
                for q in range(pop_proj_start[p], pop_proj_start[p + 1]):
                    src = proj_source[q]
                    w = weights[proj_w_offset[q] : proj_w_offset[q] + proj_n_in[q] * proj_n_out[q]]
                    if proj_kind[q] == KIND_DENSE:
                        if src < 0 and input_is_current:
                            macs_out[k, b, proj_index[q]] += _dense_current(target, w, proj_n_out[q], inputs[k, b])
                        elif src < 0:
                            sops_out[k, b, proj_index[q]] += _dense_events(
                                target, w, proj_n_out[q], input_events, n_input_events
                            )
                        else:
                            sops_out[k, b, proj_index[q]] += _dense_events(
                                target, w, proj_n_out[q], events[pop_offset[src] :], n_events[src]
                            )
                n_events[p] = _integrate(
                    membrane[lo:hi], target, bias[lo:hi], decay_m[p], theta[p], reset_zero[p],
                    events[lo:hi], spikes_out[k, b], record_offset[p],
                )  # fmt: skip
            if n_events[out] > 0 and first_spike_out[b] == T:
                first_spike_out[b] = k
                if early_exit:
                    exit_out[b] = k
                    break


def simulate(
    net: Network,
    inputs,
    decoder: str = "rate",
    early_exit: bool = False,
    dtype=np.float32,
    input_kind: str = "auto",
    record_hidden: bool = True,
) -> SimulationResult:
    """Run `net` event-driven on an encoded batch.

    inputs: (T, B, *net.input_shape) or (T, B, n_in), e.g. `evsim.encode(x, T, ...)` of a batch.
        Spikes (0/1) cost SOPs; a float current (current encoding) costs MACs in the layers
        it feeds. input_kind "auto" decides by the values; "spikes"/"current" force it.
    decoder: "rate" or "ttfs".
    early_exit: stop each sample at its TTFS decision (needs decoder="ttfs").
    dtype: np.float32 (fast) or np.float64 (state and weights).
    record_hidden: keep every hidden population's spikes (T*B*n bytes each).

    Returns a `SimulationResult`; SOPs and MACs are exact counts per sample and projection.
    """
    dt = check_options(decoder, early_exit, dtype)
    if not isinstance(net, Network):
        raise ValueError(f"net must be an evsim.Network, got {type(net).__name__}")
    x, is_current = prepare_inputs(net, inputs, input_kind, dt)
    T, B, _ = x.shape
    plan = _plan(net, dt)
    P, L = len(net.populations), len(net.projections)
    sizes = np.diff(plan.pop_offset)
    recorded = [p == P - 1 or record_hidden for p in range(P)]
    record_offset = np.full(P, -1, dtype=np.int64)
    r = 0
    for p in range(P):
        if recorded[p]:
            record_offset[p] = r
            r += int(sizes[p])
    spikes = np.zeros((T, B, r), dtype=np.uint8)
    sops = np.zeros((T, B, L), dtype=np.int64)
    macs = np.zeros((T, B, L), dtype=np.int64)
    first_spike = np.empty(B, dtype=np.int64)
    exit_step = np.empty(B, dtype=np.int64)
    _run(
        x, is_current,
        plan.pop_offset, plan.decay_m, plan.decay_s, plan.theta, plan.reset_zero, plan.bias,
        plan.proj_kind, plan.proj_source, plan.proj_index, plan.proj_w_offset, plan.proj_n_in,
        plan.proj_n_out, plan.pop_proj_start, plan.weights, record_offset, bool(early_exit),
        spikes, sops, macs, first_spike, exit_step,
    )  # fmt: skip
    per_pop = [
        spikes[:, :, record_offset[p] : record_offset[p] + sizes[p]].view(bool) for p in range(P) if recorded[p]
    ]
    output = per_pop[-1]
    omega = decode_scores(output, decoder)
    return SimulationResult(
        predictions=predict(omega),
        scores=omega,
        output_spikes=output,
        hidden_spikes=tuple(per_pop[:-1]),
        exit_step=exit_step,
        first_spike_step=first_spike,
        sops_per_step=sops,
        macs_per_step=macs,
        decoder=decoder,
        early_exit=bool(early_exit),
    )


__all__ = ["simulate", "SimulationResult", "INPUT", "INPUT_KINDS"]
