"""NeuroBench's metrics (Yik et al., Nat. Commun. 2025; package `neurobench` 2.3.0) from evsim's exact counts.

`neurobench(net, result)` returns NeuroBench's names with NeuroBench's conventions, read off the
network and one `SimulationResult` (no torch, no neurobench: the definitions below were taken from
neurobench 2.3.0's source and are checked against its harness in tests/test_neurobench.py):

| name | unit | NeuroBench 2.3.0 | here |
|---|---|---|---|
| `Footprint` | bytes | parameters + buffers of the torch model | weights, biases and neuron constants x `bytes_per_value` |
| `ConnectionSparsity` | share in [0, 1] | zero weights / weights of Linear and Conv layers (rounded to 4 places) | the same over Dense and Conv2d projections (not rounded) |
| `ActivationSparsity` | share in [0, 1] | 1 - spikes / (neurons x steps x samples) over all spiking layers | the same; steps are the steps simulated |
| `SynapticOperations` | operations per sample | dict `Effective_MACs`, `Effective_ACs`, `Dense` | the same three |
| `MembraneUpdates` | updates per sample | membranes that changed (every neuron at the first step) | every neuron at every simulated step (evsim's count) |

SynapticOperations: NeuroBench counts, for each Linear and Conv layer at every step, one operation
per non-zero input times non-zero weight it reaches (bias excluded, padding reaching nothing), and
calls them ACs when every input of the layer is binary (0 or +-1), MACs otherwise; `Dense` is the
same count with every input and weight set to one (zero weights included, padding still excluded).
Here the ACs are evsim's exact SOPs and the MACs its exact MACs (a spike input's synapses, a float
input's), of the Dense and Conv2d projections only (NeuroBench has no hook on pooling or on a
residual addition, so AvgPool2d and Identity projections are left out). evsim's counts include
synapses whose weight is zero; where a projection has zero weights they are taken out exactly,
which needs each source neuron's events: the hidden spikes (`simulate(..., record_hidden=True)`)
and, for projections from the input, the `inputs` that were simulated.

Steps: evsim stops a sample at an early exit and counts nothing after it, so every count here
(`Dense` and both sparsities included) is over the steps it simulated (`result.steps`); NeuroBench
runs all T steps. Without early exit the two agree.
"""

from __future__ import annotations

import numpy as np

from .events import InputEvents
from .network import INPUT, Conv2d, Dense, Identity, Network
from .neurons import IF
from .result import SimulationResult

_CONNECTION_KINDS = (Dense, Conv2d)  # NeuroBench's Linear and Conv layers


def _check(net, result, bytes_per_value) -> None:
    if not isinstance(net, Network):
        raise ValueError(f"net must be an evsim.Network, got {type(net).__name__}")
    if not isinstance(result, SimulationResult):
        raise ValueError(f"result must be an evsim.SimulationResult, got {type(result).__name__}")
    B, L = result.sops.shape
    if L != len(net.projections) or result.spike_counts.shape[1] != len(net.populations):
        raise ValueError(
            f"result has {L} projections and {result.spike_counts.shape[1]} populations; the network has "
            f"{len(net.projections)} and {len(net.populations)}: it is not this network's result"
        )
    if isinstance(bytes_per_value, bool) or not isinstance(bytes_per_value, (int, np.integer)) or bytes_per_value < 1:
        raise ValueError(f"bytes_per_value must be a positive integer (4 for float32), got {bytes_per_value!r}")


def footprint(net: Network, bytes_per_value: int = 4) -> int:
    """Bytes of the network's parameters: every Dense and Conv2d weight (zeros included, as torch stores
    them), each Identity scale, each population's bias, and its neuron constants (LIF: tau_m, tau_s
    and theta; IF: theta; a quantised population theta, d_m and d_s), each `bytes_per_value` bytes (4: float32, as NeuroBench's torch models)."""
    values = 0
    for proj in net.projections:
        if isinstance(proj, _CONNECTION_KINDS):
            values += proj.weight.size
        elif isinstance(proj, Identity):
            values += 1
    for pop in net.populations:
        values += 0 if pop.bias is None else pop.bias.size
        values += 1 if isinstance(pop.neuron, IF) else 3  # IF: theta; LIF and IntNeuron: a threshold, two decays
    return int(values * bytes_per_value)


def connection_sparsity(net: Network) -> float:
    """Zero weights / weights over the Dense and Conv2d projections (NeuroBench's Linear and Conv)."""
    weights = [proj.weight for proj in net.projections if isinstance(proj, _CONNECTION_KINDS)]
    total = sum(w.size for w in weights)
    if total == 0:
        raise ValueError("the network has no Dense or Conv2d projection: its connection sparsity is undefined")
    return float(sum(int((w == 0).sum()) for w in weights) / total)


def _nonzero_reach(net: Network, q: int) -> np.ndarray:
    """(n_source,) int64: synapses of non-zero weight that a spike of each source neuron reaches."""
    proj = net.projections[q]
    if isinstance(proj, Dense):
        return (proj.weight != 0).sum(axis=0).astype(np.int64)
    c_in, h, w = net.shape_of(proj.source)
    _, h_out, w_out = net.shape_of(proj.target)
    (kh, kw), (sy, sx), (py, px) = proj.kernel_size, proj.stride, proj.padding
    # a kernel offset ky reads source row o*sy - py + ky for each output row o: at most once per row
    rows = np.zeros((kh, h), dtype=np.int64)
    cols = np.zeros((kw, w), dtype=np.int64)
    for ky in range(kh):
        y = np.arange(h_out) * sy - py + ky
        rows[ky, y[(y >= 0) & (y < h)]] = 1
    for kx in range(kw):
        x = np.arange(w_out) * sx - px + kx
        cols[kx, x[(x >= 0) & (x < w)]] = 1
    nonzero = (proj.weight != 0).sum(axis=0).astype(np.int64)  # (C_in, kh, kw) output channels
    return np.einsum("cab,ay,bx->cyx", nonzero, rows, cols).reshape(c_in * h * w)


def _input_events(net: Network, result: SimulationResult, inputs, input_kind) -> tuple[np.ndarray, np.ndarray]:
    """Per sample and input position, the spikes and the non-zero float values over the simulated
    steps: two (B, n_in) int64 arrays."""
    if inputs is None:
        raise ValueError(
            "a projection from the input has zero weights: NeuroBench's effective count skips them, which needs "
            "each input position's events; pass the inputs that were simulated (inputs=...)"
        )
    ev = inputs if isinstance(inputs, InputEvents) else InputEvents.from_dense(inputs, net.input_shape, input_kind)
    T, B = result.sops_per_step.shape[:2]
    if (ev.T, ev.B) != (T, B):
        raise ValueError(f"inputs have T={ev.T}, B={ev.B}; the result has T={T}, B={B}: they are not the "
                         "simulated inputs")
    x = ev.to_dense().reshape(ev.T, ev.B, net.n_in) != 0
    ran = np.arange(ev.T)[:, None] < result.steps[None, :]  # (T, B): work after an early exit is not done
    active = (x & ran[:, :, None]).sum(axis=0, dtype=np.int64)  # (B, n_in)
    return active * ~ev.current[None, :], active * ev.current[None, :]


def _effective(net: Network, result: SimulationResult, inputs, input_kind) -> tuple[np.ndarray, np.ndarray]:
    """(B,) ACs and (B,) MACs of the Dense and Conv2d projections, zero weights left out."""
    B = result.steps.shape[0]
    acs, macs = np.zeros(B, dtype=np.int64), np.zeros(B, dtype=np.int64)
    from_input = None
    for q, proj in enumerate(net.projections):
        if not isinstance(proj, _CONNECTION_KINDS):
            continue
        if np.all(proj.weight != 0):  # evsim's exact counts are NeuroBench's
            acs += result.sops[:, q]
            macs += result.macs[:, q]
            continue
        if proj.source == INPUT:
            if from_input is None:
                from_input = _input_events(net, result, inputs, input_kind)
            spikes, values = from_input
        else:
            if not result.hidden_spikes:
                raise ValueError(
                    f"projection {q} has zero weights: NeuroBench's effective count skips them, which needs each "
                    "source neuron's spikes; simulate with record_hidden=True"
                )
            spikes = result.hidden_spikes[proj.source].sum(axis=0, dtype=np.int64)  # (B, n_source)
            values = np.zeros_like(spikes)
        fan_out = net.fan_out(q)
        if not (np.array_equal(spikes @ fan_out, result.sops[:, q]) and np.array_equal(values @ fan_out, result.macs[:, q])):
            raise ValueError(f"the events into projection {q} do not give the result's counts: the inputs or "
                             "spikes are not those of this simulation")
        reach = _nonzero_reach(net, q)
        acs += spikes @ reach
        macs += values @ reach
    return acs, macs


def neurobench(net: Network, result: SimulationResult, inputs=None, input_kind="auto",
               bytes_per_value: int = 4) -> dict:  # fmt: skip
    """NeuroBench's metrics of one simulation of `net`, with NeuroBench 2.3.0's names and conventions.

    net: the simulated network; result: `evsim.simulate(net, ...)` on a batch of B samples.
    inputs, input_kind: the simulated inputs (as given to `simulate`), needed only when a Dense or
        Conv2d projection from the input has zero weights; spikes of hidden populations (needed
        only when a projection from a population has zero weights) come from the result
        (`record_hidden=True`).
    bytes_per_value: bytes of one parameter for `Footprint` (4: float32).
    Returns {"Footprint": bytes, "ConnectionSparsity": share, "ActivationSparsity": share,
    "SynapticOperations": {"Effective_MACs", "Effective_ACs", "Dense"} per sample,
    "MembraneUpdates": per sample}. The module docstring says where each convention comes from
    and where evsim's counts differ from NeuroBench's.
    """
    _check(net, result, bytes_per_value)
    B = result.steps.shape[0]
    steps = int(result.steps.sum())  # sample-steps simulated
    neurons = sum(p.size for p in net.populations)
    acs, macs = _effective(net, result, inputs, input_kind)
    synapses = net.n_synapses()
    dense = sum(int(synapses[q]) for q, p in enumerate(net.projections) if isinstance(p, _CONNECTION_KINDS))
    return {
        "Footprint": footprint(net, bytes_per_value),
        "ConnectionSparsity": connection_sparsity(net),
        "ActivationSparsity": 1.0 - float(result.spike_counts.sum()) / (neurons * steps),
        "SynapticOperations": {
            "Effective_MACs": float(macs.sum()) / B,
            "Effective_ACs": float(acs.sum()) / B,
            "Dense": float(dense * steps) / B,
        },
        "MembraneUpdates": float(result.membrane_updates.sum()) / B,
    }


__all__ = ["connection_sparsity", "footprint", "neurobench"]
