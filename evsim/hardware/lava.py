"""Loihi, bit-exact: a chain of Lava Dense + LIF processes as an `evsim.Network` (SPEC "Chip profiles").

Lava 0.10's fixed_pt models (`Loihi2SimCfg(select_tag="fixed_pt")`), per step t and LIF layer::

    u = sign(u (4096 - du - 1)) (|u (4096 - du - 1)| >> 12) + (a_in << 6)      wrapped at 24 bits
    v = sign(v (4096 - dv)) (|v (4096 - dv)| >> 12) + u + (bias_mant << bias_exp)   saturated at +-(2**23 - 1)
    spike where v > vth << 6; then v = 0 (u keeps its value)

and per Dense: weights clipped to 8 bits by sign mode (mixed [-256, 255], excitatory [0, 255],
inhibitory [-255, 0]), mixed-sign weights truncated to even values ((w >> 1) << 1), and a_in at
step t is the sum over step t-1's spikes, shifted left by weight_exp.

That is evsim's fixed-point arithmetic (SPEC) with D = 12, S = 24 and three per-population
differences, all `IntNeuron` fields the integer engine reads as runtime flags: the strict test
(threshold_test ">"), the current's wrap-around (current_overflow "wrap", Lava's rule exactly) and
a one-step input delay (input_delay 1). The weights become integers w << (6 + weight_exp) (the
a_in << 6 folded in, exact because shifting left is linear); the network is (9, 24, 12) fixed point
(9-bit mantissas hold Lava's 8-bit magnitudes with their sign).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..network import Dense, Network, Population
from ..neurons import IntNeuron

VTH_SHIFT = ACT_SHIFT = 6  # Lava MSB-aligns the threshold and the synaptic input by 6 bits
STATE_BITS, DECAY_BITS, WEIGHT_BITS = 24, 12, 9
INT32_MAX = 2**31 - 1


def _per_layer(name: str, value, L: int) -> list:
    """A scalar, or one value per layer (a layer's value may be an array for bias_mant / bias_exp)."""
    if not isinstance(value, (list, tuple)):
        return [value] * L  # one value (an int, or an array meant for every layer)
    value = list(value)
    if len(value) != L:
        raise ValueError(f"{name}: give one value, or one per layer ({L}), got {len(value)}")
    return value


def _int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer (Lava's meaning), got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must lie in [{lo}, {hi}] (Lava's range), got {value}")
    return int(value)


def lava_weights(w: np.ndarray) -> np.ndarray:
    """Lava's Dense weights after its clip and truncation (lava.utils.weightutils, 8 bits), int64."""
    w = np.asarray(w, dtype=np.int64)
    if w.size and w.min() >= 0:  # Lava's sign mode: excitatory, inhibitory or mixed
        return np.clip(w, 0, 255)
    if w.size and w.max() <= 0:
        return np.clip(w, -255, 0)
    return (np.clip(w, -256, 255) >> 1) << 1  # mixed: one bit for the sign, the lowest truncated (floor)


def lava_network(weights: Sequence[np.ndarray], du, dv, vth, bias_mant=0, bias_exp=0, weight_exp=0) -> Network:
    """An evsim network that runs as Lava 0.10's fixed_pt Dense + LIF chain, bit for bit.

    weights: integer matrices (n_out, n_in), first layer first, as Lava's Dense takes them (Lava's
    clip and even truncation are applied here, as Lava applies them). du, dv (0-4095), vth (0 to
    2**17 - 1), weight_exp (>= 0), bias_mant, bias_exp: Lava's LIF and Dense arguments, each one
    value or a list / tuple of one per layer (bias_mant, bias_exp: a scalar or an (n_out,) array per
    layer).
    Returns a (9, 24, 12) fixed-point `Network`: `evsim.simulate(net, spikes)` with spikes (T, B,
    n_in) gives Lava's output spikes at every step, and `record_hidden=True` every LIF layer's; step
    k is Lava's time step k + 1, so layer l first sees the input of step 0 at step l.
    Raises ValueError for a value outside Lava's range, a negative weight_exp (Lava shifts the step's
    summed input right, which rounds the sum, not each spike's weight: evsim's event adds cannot
    follow it), or weights whose sum could overflow Lava's int32 current.
    """
    weights = [np.asarray(w) for w in weights]
    if not weights:
        raise ValueError("lava_network needs at least one weight matrix")
    L = len(weights)
    for l, w in enumerate(weights):
        if w.ndim != 2 or w.dtype.kind not in "iu" and not (w.dtype.kind == "f" and (w == np.round(w)).all()):
            raise ValueError(f"weights[{l}] must be a 2-D integer matrix (n_out, n_in), got {w.dtype} {w.shape}")
        if l and w.shape[1] != weights[l - 1].shape[0]:
            raise ValueError(f"weights[{l}] takes {w.shape[1]} inputs, layer {l - 1} has {weights[l - 1].shape[0]}")
    du, dv, vth = (_per_layer(n, v, L) for n, v in (("du", du), ("dv", dv), ("vth", vth)))
    weight_exp, bias_mant, bias_exp = (_per_layer(n, v, L) for n, v in
                                       (("weight_exp", weight_exp), ("bias_mant", bias_mant), ("bias_exp", bias_exp)))
    s_max = 2 ** (STATE_BITS - 1) - 1
    populations, projections = [], []
    for l, w in enumerate(weights):
        n_out = w.shape[0]
        if isinstance(weight_exp[l], (int, np.integer)) and weight_exp[l] < 0:
            raise ValueError(f"weight_exp[{l}] = {weight_exp[l]} < 0: Lava shifts the step's summed input right, which "
                             "rounds the sum, not each spike's weight; evsim's per-event adds cannot follow it")
        e = _int(f"weight_exp[{l}]", weight_exp[l], 0, STATE_BITS)
        lw = lava_weights(w)
        shift = ACT_SHIFT + e
        reach = int(np.abs(lw).sum(axis=1).max(initial=0)) << shift  # the largest |a_in << 6| of one step
        if reach + 2 * (s_max + 1) > INT32_MAX:
            raise ValueError(f"layer {l}: a step's input can reach {reach}, beyond Lava's int32 current (its "
                             "arithmetic would overflow, not wrap at 24 bits); use smaller weights or weight_exp")
        try:
            mant = np.broadcast_to(np.asarray(bias_mant[l]), (n_out,))
            bexp = np.broadcast_to(np.asarray(bias_exp[l]), (n_out,))
        except ValueError:
            raise ValueError(f"layer {l}: bias_mant and bias_exp must be scalars or ({n_out},) arrays, got shapes "
                             f"{np.shape(bias_mant[l])} and {np.shape(bias_exp[l])}") from None
        if mant.dtype.kind not in "iu" or bexp.dtype.kind not in "iu":
            raise ValueError(f"layer {l}: bias_mant and bias_exp must be integers")
        bias = np.array([int(m) << int(x) if x >= 0 else int(m) >> int(-x) for m, x in zip(mant, bexp)], dtype=np.int64)
        if np.abs(bias).max(initial=0) > s_max:
            raise ValueError(f"layer {l}: bias_mant << bias_exp exceeds the 24-bit voltage (+-{s_max})")
        neuron = IntNeuron(theta=_int(f"vth[{l}]", vth[l], 0, 2**17 - 1) << VTH_SHIFT,
                           d_m=_int(f"dv[{l}]", dv[l], 0, 4095), d_s=_int(f"du[{l}]", du[l], 0, 4095) + 1,
                           reset="zero", threshold_test=">", current_overflow="wrap", input_delay=1)
        populations.append(Population((n_out,), neuron, bias if bias.any() else None))
        mixed = bool((lw % 2 == 0).all())  # even weights: a 9-bit mantissa of w / 2 at one more bit of exponent
        exponent = shift + 1 if mixed and lw.any() else shift
        projections.append(Dense(l - 1, l, lw << shift, exponent=exponent))
    metadata = {"hardware.profile": "loihi", "hardware.model": "Lava 0.10 fixed_pt (Loihi2SimCfg)"}
    return Network((weights[0].shape[1],), populations, projections, metadata,
                   fixed_point=(WEIGHT_BITS, STATE_BITS, DECAY_BITS))
