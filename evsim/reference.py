"""A plain time-stepped NumPy simulator: the oracle the event-driven engine is tested against.

Small, obvious and slow on purpose, and independent of the engine: it shares nothing with it but
the network description (its own input parsing, convolution loops, operation counting and
decoding). It follows SPEC's equations literally rather than the engine's event form:

- every projection keeps its presynaptic trace a[k] = decay_s a[k-1] + gain x[k] (decay_s = 0,
  gain = 1 for IF) in the public (C, H, W) layout, and the target's current is the sum of the
  projections applied to their traces: a matrix product (Dense), a convolution written as a loop
  over kernel offsets of strided slices of the zero-padded trace (Conv2d), the mean over window
  offsets (AvgPool2d), or a scaled copy (Identity);
- operations are counted per step as the same operator with all-ones weights applied to the
  indicator of non-zero inputs: sum(conv2d(spikes, ones)), the rule of SpikingJelly's counter.
  Spikes give SOPs, non-zero float input values give MACs;
- early exit is applied afterwards by cutting the full run at the decision step, a different
  route to the engine's halting, as an oracle should take.

`reference_simulate` dispatches as `evsim.simulate` does: a fixed-point network (`evsim.quantize`)
runs in the integer oracle (`evsim.integer_reference`), as independent of the engine as this one.
"""

from __future__ import annotations

import numpy as np

from .encoder_registry import is_current as current_kind
from .events import InputEvents
from .integer_reference import integer_reference
from .network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network
from .neurons import fires
from .result import SimulationResult

_DECODERS = ("rate", "ttfs")


def _options(decoder, early_exit, dtype) -> np.dtype:
    if not isinstance(early_exit, (bool, np.bool_)):
        raise ValueError(f"early_exit must be True or False, got {early_exit!r}")
    if not isinstance(decoder, str) or decoder not in _DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {_DECODERS}")
    if early_exit and decoder != "ttfs":
        raise ValueError("early_exit needs decoder='ttfs': only a TTFS decision is taken before the last step")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _inputs(net: Network, inputs, input_kind) -> tuple[np.ndarray, np.ndarray]:
    """(x (T, B, n_in) float64, current (n_in,) bool) from a dense batch or `InputEvents`."""
    n = net.n_in
    if isinstance(inputs, InputEvents):
        return inputs.to_dense().reshape(inputs.T, inputs.B, n).astype(np.float64), inputs.current.copy()
    arr = np.asarray(inputs)
    if arr.ndim < 3:
        raise ValueError(f"inputs must have shape (T, B, ...) with an input per step and sample, got {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"inputs need T >= 1 steps and B >= 1 samples, got shape {arr.shape}")
    if arr.shape[2:] not in (net.input_shape, (n,)):
        raise ValueError(f"inputs have per-sample shape {arr.shape[2:]}, the network expects {net.input_shape}")
    if not (arr.dtype == bool or np.issubdtype(arr.dtype, np.number)) or np.iscomplexobj(arr):
        raise ValueError(f"inputs must be real numbers or booleans, got dtype {arr.dtype}")
    x = arr.reshape(arr.shape[0], arr.shape[1], n).astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"inputs contain {int((~np.isfinite(x)).sum())} NaN or inf value(s)")
    binary = (x == 0) | (x == 1)
    if isinstance(input_kind, str):
        if input_kind not in ("auto", "spikes", "current"):
            raise ValueError(f"input_kind must be 'auto', 'spikes', 'current' or a list of kinds, got {input_kind!r}")
        is_current = input_kind == "current" or (input_kind == "auto" and not binary.all())
        current = np.full(n, is_current)
    else:
        kinds = list(input_kind)
        if not kinds or net.input_shape[0] % len(kinds):
            raise ValueError(f"input_kind has {len(kinds)} blocks for {net.input_shape[0]} input channels")
        current = np.repeat([current_kind(k) for k in kinds], n // len(kinds))
    if not binary[:, :, ~current].all():
        raise ValueError("input_kind='spikes' needs inputs of only 0 and 1 (spike channels)")
    return x, current


def _conv(a: np.ndarray, weight: np.ndarray, stride, padding, out_hw) -> np.ndarray:
    """Cross-correlation of a (B, C_in, H, W) with weight (C_out, C_in, kh, kw): (B, C_out, H_out, W_out)."""
    (sy, sx), (py, px), (h_out, w_out) = stride, padding, out_hw
    padded = np.pad(a, ((0, 0), (0, 0), (py, py), (px, px)))
    out = np.zeros((a.shape[0], weight.shape[0], h_out, w_out), dtype=a.dtype)
    for ky in range(weight.shape[2]):
        for kx in range(weight.shape[3]):
            window = padded[:, :, ky : ky + sy * (h_out - 1) + 1 : sy, kx : kx + sx * (w_out - 1) + 1 : sx]
            out += np.einsum("bchw,oc->bohw", window, weight[:, :, ky, kx])
    return out


def _pool_sum(a: np.ndarray, kernel, stride, out_hw) -> np.ndarray:
    """Sum over each (kh, kw) window of a (B, C, H, W): (B, C, H_out, W_out)."""
    (kh, kw), (sy, sx), (h_out, w_out) = kernel, stride, out_hw
    out = np.zeros(a.shape[:2] + (h_out, w_out), dtype=a.dtype)
    for ky in range(kh):
        for kx in range(kw):
            out += a[:, :, ky : ky + sy * (h_out - 1) + 1 : sy, kx : kx + sx * (w_out - 1) + 1 : sx]
    return out


def _apply(proj, a: np.ndarray, src_shape, tgt_shape, dt) -> np.ndarray:
    """The projection applied to a (B, *src_shape): (B, n_target) current."""
    B = a.shape[0]
    if isinstance(proj, Dense):
        return a.reshape(B, -1) @ proj.weight.astype(dt).T
    if isinstance(proj, Conv2d):
        return _conv(a, proj.weight.astype(dt), proj.stride, proj.padding, tgt_shape[1:]).reshape(B, -1)
    if isinstance(proj, AvgPool2d):
        kh, kw = proj.kernel_size
        # SPEC: each input adds 1/(kh kw) of itself to every window that holds it (summing first and
        # dividing after would round differently: six spikes x 1/6 is 0.9999999999999999, not 1)
        share = a * dt.type(1.0 / (kh * kw))
        return _pool_sum(share, proj.kernel_size, proj.stride, tgt_shape[1:]).reshape(B, -1)
    if isinstance(proj, Identity):
        return dt.type(proj.scale) * a.reshape(B, -1)
    raise ValueError(f"the reference cannot run projection kind {proj.kind!r}")


def _reached(proj, active: np.ndarray, src_shape, tgt_shape) -> np.ndarray:
    """Synapses (B,) int64 reached by the active (non-zero) source neurons: the operator with
    all-ones weights, summed."""
    B = active.shape[0]
    m = active.reshape((B,) + tuple(src_shape)).astype(np.int64)
    if isinstance(proj, Dense):
        return m.reshape(B, -1).sum(axis=1) * proj.n_out
    if isinstance(proj, Conv2d):
        ones = np.ones((1,) + proj.weight.shape[1:], dtype=np.int64)
        per_channel = _conv(m, ones, proj.stride, proj.padding, tgt_shape[1:])
        return per_channel.reshape(B, -1).sum(axis=1) * proj.weight.shape[0]
    if isinstance(proj, AvgPool2d):
        return _pool_sum(m, proj.kernel_size, proj.stride, tgt_shape[1:]).reshape(B, -1).sum(axis=1)
    return m.reshape(B, -1).sum(axis=1)


def reference_simulate(
    net: Network,
    inputs,
    decoder: str = "rate",
    early_exit: bool = False,
    dtype=np.float64,
    input_kind="auto",
) -> SimulationResult:
    """Same arguments and result as `evsim.simulate` (hidden spikes always recorded).

    A fixed-point network runs in the integer oracle (`integer_reference`): spike inputs only,
    `dtype` ignored, as in `evsim.simulate`.
    """
    if isinstance(net, Network) and net.fixed_point is not None:
        return integer_reference(net, inputs, decoder, early_exit, input_kind)
    dt = _options(decoder, early_exit, dtype)
    if not isinstance(net, Network):
        raise ValueError(f"net must be an evsim.Network, got {type(net).__name__}")
    x, current = _inputs(net, inputs, input_kind)
    x = x.astype(dt)
    T, B, _ = x.shape
    pops, projs = net.populations, net.projections
    P, L = len(pops), len(projs)
    membrane = [np.zeros((B, p.size), dtype=dt) for p in pops]
    traces = [np.zeros((B,) + net.shape_of(q.source), dtype=dt) for q in projs]
    spikes = [np.zeros((T, B, p.size), dtype=bool) for p in pops]
    sops = np.zeros((T, B, L), dtype=np.int64)
    macs = np.zeros((T, B, L), dtype=np.int64)
    spikes_in = np.zeros((T, B, L), dtype=np.int64)
    values_in = np.zeros((T, B, L), dtype=np.int64)

    for k in range(T):
        for p, pop in enumerate(pops):
            nrn = pop.neuron
            total = np.zeros((B, pop.size), dtype=dt)
            for q, proj in enumerate(projs):
                if proj.target != p:
                    continue
                src_shape = net.shape_of(proj.source)
                if proj.source == INPUT:
                    src = x[k]
                    is_spike = (src != 0) & ~current[None, :]
                    is_value = (src != 0) & current[None, :]
                else:
                    src = spikes[proj.source][k].astype(dt)
                    is_spike, is_value = src != 0, np.zeros_like(src, dtype=bool)
                traces[q] = dt.type(nrn.decay_s) * traces[q] + dt.type(nrn.input_gain) * src.reshape(traces[q].shape)
                total += _apply(proj, traces[q], src_shape, pop.shape, dt)
                sops[k, :, q] = _reached(proj, is_spike, src_shape, pop.shape)
                macs[k, :, q] = _reached(proj, is_value, src_shape, pop.shape)
                spikes_in[k, :, q] = is_spike.sum(axis=1)
                values_in[k, :, q] = is_value.sum(axis=1)
            u = dt.type(nrn.decay_m) * membrane[p] + total
            if pop.bias is not None:
                u = u + pop.bias.astype(dt)
            fired = fires(u, dt.type(nrn.theta), nrn.threshold_test)
            reset = np.zeros_like(u) if nrn.reset == "zero" else u - dt.type(nrn.theta)
            membrane[p] = np.where(fired, reset, u)
            spikes[p][k] = fired

    out_any = spikes[-1].any(axis=2)  # (T, B)
    first = np.where(out_any.any(axis=0), out_any.argmax(axis=0), T).astype(np.int64)
    exit_step = first.copy() if early_exit else np.full(B, T, dtype=np.int64)
    steps = np.minimum(exit_step + 1, T)
    after = np.arange(T)[:, None] >= steps[None, :]  # (T, B): steps not simulated
    for s in spikes:
        s[after] = False
    for counts in (sops, macs, spikes_in, values_in):
        counts[after] = 0
    out = spikes[-1]
    if decoder == "rate":
        omega = out.sum(axis=0, dtype=np.int64)
    else:
        omega = (out * (T - np.arange(T))[:, None, None]).max(axis=0).astype(np.int64)
    predictions = np.where((omega == 0).all(axis=1), -1, omega.argmax(axis=1)).astype(np.int64)
    return SimulationResult(
        predictions=predictions,
        scores=omega,
        output_spikes=out,
        hidden_spikes=tuple(spikes[:-1]),
        exit_step=exit_step,
        first_spike_step=first,
        steps=steps.astype(np.int64),
        sops_per_step=sops,
        macs_per_step=macs,
        spikes_in=spikes_in.sum(axis=0),
        values_in=values_in.sum(axis=0),
        spike_counts=np.stack([s.sum(axis=(0, 2), dtype=np.int64) for s in spikes], axis=1),
        membrane_updates=steps[:, None] * np.array([p.size for p in pops], dtype=np.int64)[None, :],
        decoder=decoder,
        early_exit=bool(early_exit),
    )


__all__ = ["reference_simulate"]
