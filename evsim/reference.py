"""A plain time-stepped NumPy simulator: the oracle the event-driven engine is tested against.

Small, obvious and slow on purpose. It follows SPEC's equations literally rather than the
engine's event form: every projection keeps its presynaptic trace
a[k] = decay_s a[k-1] + gain s[k] (decay_s = 0, gain = 1 for IF), the target's current is the
dense product I = sum_q W_q a_q, and SOPs are counted from the spike vectors and each
projection's fan-out. Early exit is applied afterwards by cutting the full run at the decision
step, which is a different route to the engine's halting, as an oracle should take.
"""

from __future__ import annotations

import numpy as np

from .decoding import first_spike_step, predict, scores as decode_scores
from .engine import SimulationResult, check_options, prepare_inputs
from .network import INPUT, Network


def reference_simulate(
    net: Network,
    inputs,
    decoder: str = "rate",
    early_exit: bool = False,
    dtype=np.float64,
    input_kind: str = "auto",
) -> SimulationResult:
    """Same arguments and result as `evsim.simulate` (hidden spikes always recorded)."""
    dt = check_options(decoder, early_exit, dtype)
    x, is_current = prepare_inputs(net, inputs, input_kind, dt)
    x = x.astype(dt)
    T, B, _ = x.shape
    pops, projs = net.populations, net.projections
    membrane = [np.zeros((B, p.size), dtype=dt) for p in pops]
    traces = [np.zeros((B, q.n_in), dtype=dt) for q in projs]
    matrices = [q.to_matrix().astype(dt) for q in projs]
    fan_outs = [q.fan_out() for q in projs]
    spikes = [np.zeros((T, B, p.size), dtype=bool) for p in pops]
    sops = np.zeros((T, B, len(projs)), dtype=np.int64)
    macs = np.zeros((T, B, len(projs)), dtype=np.int64)

    for k in range(T):
        for p, pop in enumerate(pops):
            nrn = pop.neuron
            current = np.zeros((B, pop.size), dtype=dt)
            for q, proj in enumerate(projs):
                if proj.target != p:
                    continue
                src = x[k] if proj.source == INPUT else spikes[proj.source][k].astype(dt)
                traces[q] = dt.type(nrn.decay_s) * traces[q] + dt.type(nrn.input_gain) * src
                current += traces[q] @ matrices[q].T
                if proj.source == INPUT and is_current:
                    macs[k, :, q] = fan_outs[q].sum()
                else:
                    sops[k, :, q] = (src != 0).astype(np.int64) @ fan_outs[q]
            u = dt.type(nrn.decay_m) * membrane[p] + current
            if pop.bias is not None:
                u = u + pop.bias.astype(dt)
            fired = u >= dt.type(nrn.theta)
            reset = np.zeros_like(u) if nrn.reset == "zero" else u - dt.type(nrn.theta)
            membrane[p] = np.where(fired, reset, u)
            spikes[p][k] = fired

    first = first_spike_step(spikes[-1])
    exit_step = np.full(B, T, dtype=np.int64)
    if early_exit:
        exit_step = first.copy()
        after = np.arange(T)[:, None] > exit_step[None, :]  # (T, B): steps after the decision
        for s in spikes:
            s[after] = False
        sops[after] = 0
        macs[after] = 0
    omega = decode_scores(spikes[-1], decoder)
    return SimulationResult(
        predictions=predict(omega),
        scores=omega,
        output_spikes=spikes[-1],
        hidden_spikes=tuple(spikes[:-1]),
        exit_step=exit_step,
        first_spike_step=first,
        sops_per_step=sops,
        macs_per_step=macs,
        decoder=decoder,
        early_exit=bool(early_exit),
    )
