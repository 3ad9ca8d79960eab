"""The fixed-point run (SPEC "Fixed-point mode"): int64 state, the float run's loop and kernels.

The answer a neuromorphic chip gives, not a float32 GPU's: every state is an integer and the
arithmetic below is exact, so a run is identical on every machine, thread count and batch split.

Arithmetic (per sample, step and population; W, S, D = weight, state and decay bits)::

    I = trunc(I * (2**D - d_s) / 2**D) + sum of the integer weights of this step's events
    I = clip(I, -(2**(S-1) - 1), 2**(S-1) - 1)                  saturate once, after the sum
    U = trunc(U * (2**D - d_m) / 2**D) + I + b                  (the saturated I)
    U = clip(U, -(2**(S-1) - 1), 2**(S-1) - 1)
    spike when U >= theta (U > theta: strict); then U = 0 ("zero") or U -= theta ("subtract")

Loihi's variant (`IntNeuron` current_overflow="wrap", input_delay=1; `evsim.hardware.lava_network`)
wraps I instead of saturating it (Lava's rule: x > M becomes x - 2M, x <= -M becomes x + 2M, once,
M = 2**(S-1)) and feeds the population its sources' spikes of the previous step. Both are per-
population flags in the plan (P_WRAP, P_DELAY), read at run time like the threshold test
(P_STRICT): one compiled kernel serves every variant.

Xylo's variant (`IntNeuron` decay="bitshift", flag P_BITSHIFT; `evsim.hardware.xylo_network`)
follows xylosim 0.1.3's XyloIAFNeuron::evolve: the step's input is added before the decay, a decay
is x - max(x >> dash, sign(x)) (floor shift, at least one unit toward 0), and the ranges are two's
complement [-2**(S-1), 2**(S-1) - 1], with xylosim's three saturating adds for the membrane::

    I = clip(I + sum of this step's weights);  I -= dec(I, d_s)
    dU = clip(I - dec(U, d_m));  dU = clip(dU + b);  U = clip(U + dU)

A neuron's v_min (`IntNeuron`, flag P_VMIN; DYNAP-CNN's threshold_low, `evsim.hardware.speck_network`)
replaces -(2**(S-1) - 1) as the membrane's lower bound.

trunc rounds toward zero. Saturation is applied once per step, after all of the step's events
have been added (SPEC's order), not after each event add: the sum of integers is then independent
of the order of the events, which is what makes runs bit-identical for any thread count.
Intermediate sums are exact in int64 (S <= 40, D <= 20 are enforced by `Network`).

The event adds are the float run's kernels (`kernels._project`) on the plan's int64 tables;
decay, saturation, threshold and the run loop are here. Inputs: spikes only in this version. A
float current input (current encoding, or the current channels of a fused input) would need its
own input quantisation, which SPEC does not fix yet: `run` refuses it with a ValueError instead
of guessing. SOPs and early exit are the float model's.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ..events import InputEvents
from ..network import Network
from ..result import SimulationResult
from .kernels import _emit, _project
from .outputs import Outputs
from .plan import (
    N_DECAY_M, N_DECAY_S, N_THETA, P_BITSHIFT, P_DELAY, P_OFF, P_PROJ_END, P_PROJ_START, P_RECORD, P_RESET_ZERO,
    P_SIZE, P_STRICT, P_VMIN, P_WRAP, Q_INDEX, Q_SOURCE, input_index, plan as get_plan,
)  # fmt: skip

NO_CURRENTS = ("a fixed-point network takes spike inputs only: float current inputs (current encoding, or the "
               "current channels of a fused input) are not quantised in this version; encode with a spiking "
               "encoder (ratesyn_s, ratesyn_e, ttfs, poisson)")  # fmt: skip


@njit(cache=True, nogil=True)
def _decay_current(current, keep, shift):
    """current = trunc(current * keep / 2**shift) in place (toward zero, as SPEC says)."""
    for i in range(current.shape[0]):
        p = current[i] * keep
        current[i] = (p >> shift) if p >= 0 else -((-p) >> shift)


@njit(cache=True, nogil=True)
def _bitshift_decay(x, dash):
    """Xylo's decrement: x >> dash (floor), at least one unit toward 0 where x is not 0."""
    d = x >> dash
    if d == 0 and x > 0:
        return np.int64(1)
    if d == 0 and x < 0:
        return np.int64(-1)
    return d


@njit(cache=True, nogil=True)
def _integrate_fixed(membrane, current, bias, keep_m, shift, theta, strict, wrap, s_max, v_min, reset_zero, bitshift,
                     dash_s, dash_m, fired, events, spikes, record_offset):  # fmt: skip
    """Saturate (or wrap) the summed currents, update the membranes (n,) in place, spike and reset.

    current: this step's I before saturation (decayed and summed); written back saturated, or
    wrapped where `wrap` (Lava's rule, once: above s_max + 1 less 2 (s_max + 1), at or below
    -(s_max + 1) plus it). v_min: the membrane's lower bound (-s_max, or the neuron's v_min: DYNAP-CNN's
    threshold_low). strict: spike on u > theta instead of u >= theta.
    Writes the spiking positions to `events` and, if record_offset >= 0, this step's flags to
    spikes[record_offset:]. Returns the number of spikes.
    """
    n = membrane.shape[0]
    total = 0
    at_theta_fires = not strict
    half = s_max + 1
    lo = -half
    for i in range(n):
        x = current[i]
        if bitshift:
            c = min(max(x, lo), s_max)
            c -= _bitshift_decay(c, dash_s)
            current[i] = c
            m = membrane[i]
            du = min(max(c - _bitshift_decay(m, dash_m), lo), s_max)
            du = min(max(du + bias[i], lo), s_max)
            u = min(max(m + du, v_min), s_max)
            f = (u > theta) | ((u == theta) & at_theta_fires)
            fired[i] = f
            total += f
            membrane[i] = (0 if reset_zero else u - theta) if f else u
            continue
        if wrap:
            c = x - 2 * half if x > half else (x + 2 * half if x <= -half else x)
        else:
            c = min(max(x, -s_max), s_max)
        current[i] = c
        p = membrane[i] * keep_m
        u = ((p >> shift) if p >= 0 else -((-p) >> shift)) + c + bias[i]
        u = min(max(u, v_min), s_max)
        f = (u > theta) | ((u == theta) & at_theta_fires)
        fired[i] = f
        total += f
        reset = 0 if reset_zero else u - theta
        membrane[i] = reset if f else u
    return _emit(fired, total, events, spikes, record_offset)


@njit(cache=True, parallel=True, nogil=True)
def _run_fixed(
    ev_offsets, ev_index, T, proj, scale, pops, neuron, bias, weights, maps, shift, s_max,
    early_exit, any_delay, n_chunks, spikes_out, sops_out, spikes_in_out, counts_out, updates_out, steps_out,
    first_spike_out, exit_out,
):  # fmt: skip
    """The integer run loop: the float run's `_run` for spike inputs (read in place), integer state.

    A population with input delay 1 (pops[p, P_DELAY]) reads its sources' events of the previous
    step: each step starts by keeping a copy of the last step's events (only when any_delay)."""
    B = exit_out.shape[0]
    P = pops.shape[0]
    N = bias.shape[0]
    out = P - 1
    one = np.int64(1) << shift
    for chunk in prange(n_chunks):
        membrane = np.empty(N, dtype=np.int64)
        current = np.empty(N, dtype=np.int64)
        events = np.empty(N, dtype=np.int64)
        fired = np.empty(N, dtype=np.uint8)
        n_events = np.zeros(P, dtype=np.int64)
        last_events = np.empty(N if any_delay else 0, dtype=np.int64)  # the previous step's events
        n_last = np.zeros(P, dtype=np.int64)
        no_values = np.zeros(1, dtype=np.int64)  # spike inputs only: the kernels never read it
        for b in range(chunk * B // n_chunks, (chunk + 1) * B // n_chunks):
            membrane[:] = 0
            current[:] = 0
            n_events[:] = 0
            first_spike_out[b] = T
            exit_out[b] = T
            for k in range(T):
                e0 = ev_offsets[b * T + k]
                e1 = ev_offsets[b * T + k + 1]
                e0_last = ev_offsets[b * T + k - 1] if k > 0 else e0  # the last step's input: [e0_last, e0)
                if any_delay:
                    for p in range(P):
                        o = pops[p, P_OFF]
                        last_events[o : o + n_events[p]] = events[o : o + n_events[p]]
                        n_last[p] = n_events[p]
                for p in range(P):
                    lo = pops[p, P_OFF]
                    hi = lo + pops[p, P_SIZE]
                    target = current[lo:hi]
                    bitshift = pops[p, P_BITSHIFT] != 0
                    if not bitshift:  # Xylo decays after the step's input is added (_integrate_fixed)
                        _decay_current(target, one - neuron[p, N_DECAY_S], shift)
                    delayed = pops[p, P_DELAY] != 0
                    # this population's view of its sources: this step's events, or the last step's
                    in_spikes = ev_index[e0_last:e0] if delayed else ev_index[e0:e1]
                    src_events = last_events if delayed else events
                    n_src = n_last if delayed else n_events
                    n_spk = in_spikes.shape[0]
                    for r in range(pops[p, P_PROJ_START], pops[p, P_PROJ_END]):
                        q = proj[r]
                        src = q[Q_SOURCE]
                        l = q[Q_INDEX]
                        if src == -1:
                            if n_spk > 0:
                                sops_out[k, b, l] += _project(target, weights, maps, scale[r], q, in_spikes, no_values,
                                                              n_spk, False)  # fmt: skip
                                spikes_in_out[b, l] += n_spk
                        elif n_src[src] > 0:
                            sops_out[k, b, l] += _project(target, weights, maps, scale[r], q,
                                                          src_events[pops[src, P_OFF]:], no_values, n_src[src], False)
                            spikes_in_out[b, l] += n_src[src]
                    n_events[p] = _integrate_fixed(
                        membrane[lo:hi], target, bias[lo:hi], one - neuron[p, N_DECAY_M], shift, neuron[p, N_THETA],
                        pops[p, P_STRICT] != 0, pops[p, P_WRAP] != 0, s_max, pops[p, P_VMIN], pops[p, P_RESET_ZERO] != 0,
                        bitshift,
                        neuron[p, N_DECAY_S], neuron[p, N_DECAY_M], fired[lo:hi], events[lo:hi], spikes_out[k, b],
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


def run(net: Network, ev: InputEvents, decoder: str, early_exit: bool, record_hidden: bool) -> SimulationResult:
    """Run the fixed-point network `net` (`evsim.quantize`) on validated input events.

    Raises ValueError for a float network or a float current input.
    """
    if net.fixed_point is None:
        raise ValueError("the integer run takes fixed-point networks only; quantise with evsim.quantize first")
    if ev.current.any():
        raise ValueError(NO_CURRENTS)
    _, S, D = net.fixed_point
    plan = get_plan(net, np.int64)
    out = Outputs.allocate(plan, ev.T, ev.B, record_hidden)
    n_chunks = min(ev.B, 4 * numba.get_num_threads())
    _run_fixed(
        ev.offsets, input_index(plan, ev.index), ev.T, plan.proj, plan.scale, out.pops, plan.neuron, plan.bias,
        plan.weights, plan.maps, np.int64(D), np.int64(2 ** (S - 1) - 1), bool(early_exit),
        bool(plan.pops[:, P_DELAY].any()), n_chunks, out.spikes,
        out.sops, out.spikes_in, out.counts, out.updates, out.steps, out.first_spike, out.exit_step,
    )  # fmt: skip
    return out.result(net, plan, decoder, early_exit)
