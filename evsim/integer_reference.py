"""The integer oracle: SPEC's fixed-point arithmetic step by step in plain NumPy int64.

Independent of the engine on purpose: it shares only the network description with the kernels.
It works in the public (C, H, W) layout, with one matrix product / convolution loop per
projection and step, its own truncation toward zero and saturation, and its own operation
counting (each spike's fan-out from the network description, `Network.fan_out`); early exit is
applied afterwards by cutting the full run at the decision step. `evsim.reference_simulate`
calls it for a fixed-point network.
"""

from __future__ import annotations

import numpy as np

from .encoder_registry import is_current
from .events import InputEvents
from .network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network
from .neurons import fires
from .result import SimulationResult

_NO_CURRENTS = ("a fixed-point network takes spike inputs only (no float current input, no current channels of a "
                "fused input): encode with ratesyn_s, ratesyn_e, ttfs or poisson")  # fmt: skip


def _ref_spike_inputs(net: Network, inputs, input_kind) -> np.ndarray:
    """(T, B, n_in) int64 0/1 spikes from `InputEvents` or a dense batch; refuses currents."""
    if isinstance(inputs, InputEvents):
        if inputs.current.any():
            raise ValueError(_NO_CURRENTS)
        x = inputs.to_dense().reshape(inputs.T, inputs.B, net.n_in)
    else:
        x = np.asarray(inputs)
        if x.ndim < 3 or x.shape[2:] not in (net.input_shape, (net.n_in,)):
            raise ValueError(f"inputs must be (T, B, *{net.input_shape}), got shape {x.shape}")
        x = x.reshape(x.shape[0], x.shape[1], net.n_in)
        if input_kind == "current" or (not isinstance(input_kind, str) and any(map(is_current, input_kind))):
            raise ValueError(_NO_CURRENTS)
        if not ((x == 0) | (x == 1)).all():
            raise ValueError(_NO_CURRENTS)
    return (x != 0).astype(np.int64)


def _ref_trunc(a: np.ndarray, shift: int) -> np.ndarray:
    """a / 2**shift rounded toward zero, exactly (int64)."""
    return np.sign(a) * (np.abs(a) // (1 << shift))


def _ref_dec(x: np.ndarray, dash: int) -> np.ndarray:
    """Xylo's bit-shift decrement: floor(x / 2**dash), or sign(x) where that is 0."""
    d = np.floor_divide(x, 1 << dash)
    return np.where(d == 0, np.sign(x), d)


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
    if not isinstance(proj, AvgPool2d):
        raise ValueError(f"the integer reference cannot run projection kind {proj.kind!r}")
    (kh, kw), (sy, sx) = proj.kernel_size, proj.stride
    out = np.zeros((B,) + tuple(tgt_shape), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            out += img[:, :, ky : ky + sy * (h_out - 1) + 1 : sy, kx : kx + sx * (w_out - 1) + 1 : sx]
    return proj.weight * out.reshape(B, -1)


def integer_reference(net: Network, inputs, decoder: str = "rate", early_exit: bool = False,
                      input_kind="auto") -> SimulationResult:  # fmt: skip
    """The integer oracle: same arguments (less dtype) and result as `evsim.simulate` on a
    fixed-point network (hidden spikes always recorded). Raises ValueError for a float network,
    bad options or a float current input."""
    if not isinstance(net, Network) or net.fixed_point is None:
        raise ValueError("the integer reference runs fixed-point networks only (evsim.quantize)")
    if not isinstance(early_exit, (bool, np.bool_)):
        raise ValueError(f"early_exit must be True or False, got {early_exit!r}")
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
            k_in = k - nrn.input_delay  # the step whose source spikes arrive now (Loihi's Dense: one late)
            for q, proj in enumerate(projs):
                if proj.target != p:
                    continue
                if k_in < 0:
                    continue
                s = x[k_in] if proj.source == INPUT else spikes[proj.source][k_in].astype(np.int64)
                drive += _ref_apply(proj, s, net.shape_of(proj.source), pop.shape)
                sops[k, :, q] = s @ fan_out[q]
                spikes_in[k, :, q] = s.sum(axis=1)
            if nrn.decay == "bitshift":  # Xylo (xylosim's XyloIAFNeuron::evolve): add, then decay
                lo = -(s_max + 1)
                i_now = np.clip(current[p] + drive, lo, s_max)
                current[p] = i_now - _ref_dec(i_now, nrn.d_s)
                bias = pop.bias if pop.bias is not None else 0
                du = np.clip(np.clip(current[p] - _ref_dec(membrane[p], nrn.d_m), lo, s_max) + bias, lo, s_max)
                u = np.clip(membrane[p] + du, -s_max if nrn.v_min is None else nrn.v_min, s_max)
                fired = fires(u, nrn.theta, nrn.threshold_test)
                membrane[p] = np.where(fired, 0 if nrn.reset == "zero" else u - nrn.theta, u)
                spikes[p][k] = fired
                continue
            i_new = _ref_trunc(current[p] * ((1 << D) - nrn.d_s), D) + drive
            if nrn.current_overflow == "wrap":  # Lava's rule, applied once: (M, 3M) down by 2M, (-3M, -M] up
                half = s_max + 1
                current[p] = np.where(i_new > half, i_new - 2 * half, np.where(i_new <= -half, i_new + 2 * half, i_new))
            else:
                current[p] = np.clip(i_new, -s_max, s_max)
            u = _ref_trunc(membrane[p] * ((1 << D) - nrn.d_m), D) + current[p]
            if pop.bias is not None:
                u = u + pop.bias
            u = np.clip(u, -s_max if nrn.v_min is None else nrn.v_min, s_max)  # v_min: DYNAP-CNN's threshold_low
            fired = fires(u, nrn.theta, nrn.threshold_test)
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


__all__ = ["integer_reference"]
