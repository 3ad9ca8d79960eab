"""Speck (DYNAP-CNN), spike for spike: a chain of DYNAP-CNN layers as an `evsim.Network`.

The arithmetic is what sinabs 3.1.3 configures on the chip and simulates (sinabs/backend/dynapcnn/
chips/dynapcnn.py `get_dynapcnn_layer_config`, sinabs/layers/functional/lif.py): each layer is a
convolution (or a Linear layer, which sinabs maps to a convolution over the whole input) with
8-bit integer weights into integrate-and-fire neurons with no leak, a 16-bit membrane and three
registers: threshold_high (sinabs' spike_threshold), threshold_low (its min_v_mem: -2**15 when
None) and return_to_zero (MembraneReset) or reset by subtraction (MembraneSubtract), per step::

    v = v + conv(spikes in);  spike where v >= threshold_high;  v -= threshold_high (or v = 0)
    v = max(v, threshold_low)

A layer may sum-pool its output spikes (DYNAP-CNN's destination pooling, sinabs' SumPool2d, kernel
= stride): evsim folds the pool into the next layer's weights (each weight repeated over the pool
window, stride and padding scaled by it), which gives the same currents exactly; SOPs then count
the folded layer's synapses.
That is an `IntNeuron` with d_m = 0 and d_s = 2**D (no leak, no current memory) and v_min =
threshold_low. Two limits of the check, stated where they apply: evsim emits at most one spike per
neuron and step (sinabs' SingleSpike; its default MultiSpike, like the chip's event-driven neurons,
emits floor(v / threshold) per time bin: the two agree while no membrane reaches twice its
threshold in one step), and evsim saturates the membrane at 2**15 - 1, which sinabs' float
simulation does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..network import Conv2d, Dense, Network, Population
from ..neurons import IntNeuron

STATE_BITS, WEIGHT_BITS, DECAY_BITS = 16, 9, 2  # int16 membranes; 9-bit mantissas hold int8's -128
S_MAX = 2 ** (STATE_BITS - 1) - 1
MODEL = "sinabs 3.1.3 DYNAP-CNN layers (IAFSqueeze, SingleSpike)"


def _per_layer(name: str, value, L: int) -> list:
    if not isinstance(value, (list, tuple)):
        return [value] * L
    if len(value) != L:
        raise ValueError(f"{name}: give one value, or one per layer ({L}), got {len(value)}")
    return list(value)


def _int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def _fold_pool(w: np.ndarray, k: int, pooled: tuple[int, int, int], shape: tuple[int, int, int]) -> np.ndarray:
    """Weights over the pooled image (C, Hp, Wp) as weights over the unpooled one (C, H, W)."""
    if w.ndim == 4:
        return np.repeat(np.repeat(w, k, axis=2), k, axis=3)
    c, hp, wp = pooled
    full = np.zeros((w.shape[0], c, shape[1], shape[2]), dtype=np.int64)
    full[:, :, : hp * k, : wp * k] = np.repeat(np.repeat(w.reshape(w.shape[0], c, hp, wp), k, axis=2), k, axis=3)
    return full.reshape(w.shape[0], -1)


def speck_network(input_shape, weights: Sequence[np.ndarray], spike_threshold, min_v_mem=None, stride=1, padding=0,
                  pool=1, return_to_zero=False) -> Network:  # fmt: skip
    """An evsim network that runs as sinabs' DYNAP-CNN layers (IAFSqueeze, SingleSpike), step for step.

    input_shape: (C, H, W) of the input spikes. weights: per layer an int8 array, (C_out, C_in, k,
    k) for a convolution or (n_out, n_in) for a Linear layer (its input flattened C-major, as
    torch's Flatten). spike_threshold (1 to 2**15 - 1), min_v_mem (None: -2**15, as sinabs'
    config builder; else an integer in [-2**15, 0]), stride, padding, pool (sum pooling of the
    layer's output spikes, kernel = stride; 1 = none; not after the last layer) and return_to_zero:
    one value or one per layer, with sinabs' meaning.
    Returns a (9, 16, 2) fixed-point `Network`: `evsim.simulate(net, spikes)` gives the last
    layer's spikes and, with `record_hidden=True`, every layer's (before its pooling).
    Raises ValueError for a value outside the chip's range or shapes that do not chain.
    """
    weights = [np.asarray(w) for w in weights]
    if not weights:
        raise ValueError("speck_network needs at least one layer")
    L = len(weights)
    theta, v_min, stride, padding, pool, to_zero = (
        _per_layer(n, v, L) for n, v in (("spike_threshold", spike_threshold), ("min_v_mem", min_v_mem),
                                          ("stride", stride), ("padding", padding), ("pool", pool),
                                          ("return_to_zero", return_to_zero)))  # fmt: skip
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape!r}")
    populations, projections, fold = [], [], 1
    for l, w in enumerate(weights):
        if w.ndim not in (2, 4) or w.dtype.kind not in "iu":
            raise ValueError(f"weights[{l}] must be an integer (C_out, C_in, k, k) or (n_out, n_in) array, got "
                             f"{w.dtype} {w.shape}")
        if w.size and (w.min() < -128 or w.max() > 127):
            raise ValueError(f"weights[{l}] must be int8 ([-128, 127], DYNAP-CNN's weights), got "
                             f"[{w.min()}, {w.max()}]")
        k = _int(f"pool[{l}]", pool[l], 1, 8)
        if k > 1 and l == L - 1:
            raise ValueError("the last layer cannot pool: its spikes are the network's output")
        w = w.astype(np.int64)
        if fold > 1:  # the previous layer's sum pooling, folded into this layer's weights
            pooled = (shape[0], shape[1] // fold, shape[2] // fold)
            if w.ndim == 2 and w.shape[1] != int(np.prod(pooled)):
                raise ValueError(f"weights[{l}] takes {w.shape[1]} inputs, the pooled layer {l - 1} has {pooled}")
            w = _fold_pool(w, fold, pooled, shape)
        s, p = _int(f"stride[{l}]", stride[l], 1, 8) * fold, _int(f"padding[{l}]", padding[l], 0, 16) * fold
        source = l - 1
        if w.ndim == 4:
            proj = Conv2d(source, l, w, s, p, exponent=0)
            out = proj.output_shape(shape)
        else:
            if w.shape[1] != int(np.prod(shape)):
                raise ValueError(f"weights[{l}] takes {w.shape[1]} inputs, layer {l - 1} has {shape}")
            proj, out = Dense(source, l, w, exponent=0), (w.shape[0],)
        low = -(S_MAX + 1) if v_min[l] is None else _int(f"min_v_mem[{l}]", v_min[l], -(S_MAX + 1), 0)
        neuron = IntNeuron(theta=_int(f"spike_threshold[{l}]", theta[l], 1, S_MAX), d_m=0, d_s=2**DECAY_BITS,
                           reset="zero" if bool(to_zero[l]) else "subtract", v_min=low)
        populations.append(Population(out, neuron))
        projections.append(proj)
        shape, fold = out, k
    metadata = {"hardware.profile": "speck", "hardware.model": MODEL}
    return Network(tuple(int(s) for s in input_shape), populations, projections, metadata,
                   fixed_point=(WEIGHT_BITS, STATE_BITS, DECAY_BITS))
