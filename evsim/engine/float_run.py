"""The float run: float32 or float64 state, the run loop over samples, steps and populations.

Per sample and step, for each population p:

1. its synaptic current decays: I *= decay_s (0 for IF: no filter);
2. each incoming projection adds this step's events of its source through its kind's kernel
   (`kernels._project`): spikes cost SOPs, non-zero float input values (current encoding) MACs;
3. neurons integrate, U = decay_m U + I + b, spike where U >= theta (U > theta for a strict
   neuron), and reset (`_integrate`).

Each sample runs independently (numba prange over chunks of samples), so results do not depend
on the thread count or batch split. With TTFS decoding and `early_exit=True`, a sample stops at the
first step at which any output neuron spikes: the decision is taken there and no later step is
simulated or counted. The kernel reports the steps it ran and the membrane updates it did, so a
test can see the work stop.

With `profile`, the loop also reads the cycle counter (`clock.cycles`) around each projection's
work of a step and each population's integrate pass, per chunk of samples (`RunProfile`); the
counts and spikes are the same as without it.
"""

from __future__ import annotations

import dataclasses
import time

import numba
import numpy as np
from numba import njit, prange

from ..events import InputEvents
from ..network import Network
from ..result import RunProfile, SimulationResult
from .clock import cycles
from .kernels import _emit, _project
from .outputs import Outputs
from .plan import (
    N_DECAY_M, N_DECAY_S, N_THETA, P_OFF, P_PROJ_END, P_PROJ_START, P_RECORD, P_RESET_ZERO, P_SIZE, P_STRICT,
    Q_INDEX, Q_SOURCE, input_index, plan as get_plan,
)  # fmt: skip

INPUT_SPIKES, INPUT_CURRENT, INPUT_FUSED = 0, 1, 2  # how the kernel reads the input events


@njit(cache=True, nogil=True)
def _integrate(membrane, current, bias, decay_m, theta, strict, reset_zero, fired, events, spikes, record_offset):
    """Update one population's membranes (n,) in place; write its spike positions to `events`.

    Two passes: a branch-free one over all neurons (vectorised: membrane, spike flag, reset),
    then a compaction of the flags into event positions. fired: (n,) uint8 scratch.
    spikes: this step's record row, written at record_offset (skipped when it is -1).
    strict: fire on u > theta (NIR's, Loihi's test) instead of u >= theta. Returns the number of spikes.
    """
    n = membrane.shape[0]
    total = 0
    at_theta_fires = not strict
    for i in range(n):
        u = decay_m * membrane[i] + current[i] + bias[i]
        f = (u > theta) | ((u == theta) & at_theta_fires)  # branch-free: the loop stays vectorised
        fired[i] = f
        total += f
        reset = 0.0 if reset_zero else u - theta
        membrane[i] = reset if f else u
    return _emit(fired, total, events, spikes, record_offset)


@njit(cache=True, parallel=True, nogil=True)
def _run(
    ev_offsets, ev_index, ev_value, ev_is_current, input_mode, n_in, T,
    proj, scale, pops, neuron, bias, weights, maps, early_exit, n_chunks,
    spikes_out, sops_out, macs_out, spikes_in_out, values_in_out, counts_out, updates_out,
    steps_out, first_spike_out, exit_out, profile, cycles_out,
):  # fmt: skip
    B = exit_out.shape[0]
    P = pops.shape[0]
    N = bias.shape[0]
    L = sops_out.shape[2]
    out = P - 1
    for chunk in prange(n_chunks):
        chunk_start = cycles() if profile else 0
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
                    ds = neuron[p, N_DECAY_S]
                    for i in range(hi - lo):
                        target[i] *= ds
                    for r in range(pops[p, P_PROJ_START], pops[p, P_PROJ_END]):
                        q = proj[r]
                        src = q[Q_SOURCE]
                        l = q[Q_INDEX]
                        start = cycles() if profile else 0
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
                        if profile:
                            cycles_out[chunk, l] += cycles() - start
                    start = cycles() if profile else 0
                    n_events[p] = _integrate(
                        membrane[lo:hi], target, bias[lo:hi], neuron[p, N_DECAY_M], neuron[p, N_THETA],
                        pops[p, P_STRICT] != 0, pops[p, P_RESET_ZERO] != 0, fired[lo:hi], events[lo:hi],
                        spikes_out[k, b], pops[p, P_RECORD],
                    )  # fmt: skip
                    if profile:
                        cycles_out[chunk, L + p] += cycles() - start
                    counts_out[b, p] += n_events[p]
                    updates_out[b, p] += hi - lo
                steps_out[b] = k + 1
                if n_events[out] > 0 and first_spike_out[b] == T:
                    first_spike_out[b] = k
                    if early_exit:
                        exit_out[b] = k
                        break
        if profile:
            cycles_out[chunk, L + P] += cycles() - chunk_start


def run(net: Network, ev: InputEvents, decoder: str, early_exit: bool, dtype: np.dtype,
        record_hidden: bool, profile: bool = False) -> SimulationResult:  # fmt: skip
    """Run the float network `net` on validated input events (`evsim.simulate` checks the options).
    profile: time the run's parts (`SimulationResult.profile`, a `RunProfile`)."""
    started = time.perf_counter()
    T, B = ev.T, ev.B
    plan = get_plan(net, dtype)
    out = Outputs.allocate(plan, T, B, record_hidden)
    n_chunks = min(B, 4 * numba.get_num_threads())
    # input events in the engine's layout, and how to read them: all spikes, all currents, or split
    index = input_index(plan, ev.index)
    n_current = int(ev.current.sum())
    if n_current == 0:
        input_mode, is_current = INPUT_SPIKES, np.zeros(0, dtype=np.bool_)
    elif n_current == ev.current.shape[0]:
        input_mode, is_current = INPUT_CURRENT, np.zeros(0, dtype=np.bool_)
    else:
        input_mode, is_current = INPUT_FUSED, ev.current[ev.index]
    L, P = plan.proj.shape[0], plan.pops.shape[0]
    cycles_out = np.zeros((n_chunks if profile else 0, L + P + 1), dtype=np.int64)
    if profile:
        c0, t0 = cycles(), time.perf_counter()
    _run(
        ev.offsets, index, ev.value.astype(dtype, copy=False), is_current, input_mode, net.n_in, T,
        plan.proj, plan.scale, out.pops, plan.neuron, plan.bias, plan.weights, plan.maps, bool(early_exit), n_chunks,
        out.spikes, out.sops, out.macs, out.spikes_in, out.values_in, out.counts, out.updates, out.steps,
        out.first_spike, out.exit_step, bool(profile), cycles_out,
    )  # fmt: skip
    if not profile:
        return out.result(net, plan, decoder, early_exit)
    c1, t1 = cycles(), time.perf_counter()
    result = out.result(net, plan, decoder, early_exit)
    return dataclasses.replace(result, profile=_profile(cycles_out.sum(axis=0), c1 - c0, t1 - t0, started, L, P))


def _profile(ticks: np.ndarray, run_ticks: int, run_s: float, started: float, L: int, P: int) -> RunProfile:
    """The `RunProfile` of a run from the loop's cycle counts (L + P + 1,) summed over chunks;
    run_ticks over run_s (the compiled loop, counter and clock read around it) is the tick rate."""
    if run_ticks <= 0 or run_s <= 0:
        raise RuntimeError("profile=True: this machine's cycle counter is not readable from Numba (it reads 0)")
    per_s = run_ticks / run_s
    return RunProfile(
        kernel_s=ticks[:L] / per_s, integrate_s=ticks[L : L + P] / per_s, loop_s=float(ticks[L + P] / per_s),
        run_s=float(run_s), total_s=float(time.perf_counter() - started), threads=numba.get_num_threads(),
    )  # fmt: skip
