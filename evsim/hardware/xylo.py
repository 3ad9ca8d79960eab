"""Xylo, spike for spike: a Xylo Audio 2 network as an `evsim.Network` (SPEC "Chip profiles").

The arithmetic is xylosim 0.1.3's (SynSense's C++ Xylo simulator, the back end of rockpool's
`XyloSim`; src/v2/cpp/XyloIAFNeuron.cpp and XyloLayer.cpp). Per step, 16-bit signed states:

    deliver: each input spike adds w << weight_shift_in to its targets' current I (saturating);
             each hidden spike of the previous step adds w << weight_shift_out to the readout's
    decay:   I -= dec(I, dash_syn), dec(x, dash) = x >> dash (floor), or sign(x) where that is 0
    voltage: dV = sat(I - dec(V, dash_mem)); dV = sat(dV + bias); V = sat(V + dV)
    spike:   while V >= threshold: V -= threshold, one spike (at most 31 per step for a hidden
             neuron, 1 for a readout neuron)

That is an `IntNeuron` with decay="bitshift" (d_s = dash_syn, d_m = dash_mem, the threshold test
">=", reset by subtraction); the readout has input_delay 1. Two differences remain, both stated
where they apply: evsim emits at most one spike per neuron and step (xylosim's hidden neurons up
to 31: the two agree while no hidden membrane reaches twice its threshold in one step), and evsim
saturates a step's summed input once, xylosim after each spike's add (they agree unless a
current reaches the 16-bit limit within a step fed by weights of both signs).
"""

from __future__ import annotations

import numpy as np

from ..network import Dense, Network, Population
from ..neurons import IntNeuron

STATE_BITS, WEIGHT_BITS, DECAY_BITS = 16, 9, 4  # int16 states; 9-bit mantissas hold int8's -128; D unused
DASH_MAX = 15  # Xylo's dash registers are 4 bits (rockpool's xylo_mapper)
S_MAX = 2 ** (STATE_BITS - 1) - 1


def _uniform(name: str, value, n: int, lo: int, hi: int) -> int:
    """One integer for a population: a scalar, or an (n,) array whose entries are all equal."""
    a = np.asarray(value)
    if a.ndim > 1 or (a.ndim == 1 and a.shape != (n,)):
        raise ValueError(f"{name}: give a scalar or one value per neuron ({n},), got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers (Xylo's registers), got {a.dtype}")
    if a.size and (a != a.flat[0]).any():
        raise ValueError(f"{name}: evsim's neuron parameters are per population, and these differ between neurons "
                         f"({np.unique(a)[:4]}...); use one value per population")
    v = int(a.flat[0])
    if not lo <= v <= hi:
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {v}")
    return v


def _weights(name: str, w, shape0: int | None, shift) -> tuple[np.ndarray, int]:
    w = np.asarray(w)
    if w.ndim != 2 or w.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a 2-D integer matrix, got {w.dtype} {w.shape}")
    if shape0 is not None and w.shape[0] != shape0:
        raise ValueError(f"{name} has {w.shape[0]} rows, the hidden layer has {shape0} neurons")
    if w.size and (w.min() < -128 or w.max() > 127):
        raise ValueError(f"{name} must be int8 ([-128, 127], Xylo's weights), got [{w.min()}, {w.max()}]")
    if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or not 0 <= shift <= 7:
        raise ValueError(f"weight shifts must be integers in [0, 7] (so that 128 << shift fits xylosim's int16 "
                         f"weight), got {shift!r}")
    return w.astype(np.int64), int(shift)


def xylo_network(weights_in, weights_out, dash_mem=1, dash_mem_out=1, dash_syn=1, dash_syn_out=1, threshold=1,
                 threshold_out=1, bias=None, bias_out=None, weight_shift_in=0, weight_shift_out=0) -> Network:
    """An evsim network that runs as xylosim's Xylo Audio 2 core (rockpool's `XyloSim`), step for step.

    Arguments as rockpool's `XyloSim.from_specification` takes them (one synapse per neuron, no
    recurrent weights): weights_in int8 (Nin, Nhidden), weights_out int8 (Nhidden, Nout), dash_*
    bit shifts 0-15, thresholds 1 to 2**15 - 1, biases int16 per neuron, weight shifts 0-7. Each
    dash and threshold is a scalar or an array whose values are all equal (evsim's neuron
    parameters are per population).
    Returns a (9, 16, 4) fixed-point `Network` (input -> hidden -> readout): `evsim.simulate(net,
    spikes)` with spikes (T, B, Nin) 0/1 gives xylosim's readout spikes at every step and, with
    `record_hidden=True`, its hidden spikes, while no hidden neuron spikes twice in one step (module
    docstring). The readout sees the hidden spikes one step late, as on the chip.
    Raises ValueError for a value outside Xylo's range or per-neuron parameters that differ.
    """
    w_in, s_in = _weights("weights_in", weights_in, None, weight_shift_in)
    n_hidden = w_in.shape[1]
    w_out, s_out = _weights("weights_out", weights_out, n_hidden, weight_shift_out)
    populations = []
    for n, dm, ds, th, b, tag in ((n_hidden, dash_mem, dash_syn, threshold, bias, ""),
                                  (w_out.shape[1], dash_mem_out, dash_syn_out, threshold_out, bias_out, "_out")):
        neuron = IntNeuron(theta=_uniform(f"threshold{tag}", th, n, 1, S_MAX),
                           d_m=_uniform(f"dash_mem{tag}", dm, n, 0, DASH_MAX),
                           d_s=_uniform(f"dash_syn{tag}", ds, n, 0, DASH_MAX), reset="subtract",
                           input_delay=1 if tag else 0, decay="bitshift")
        if b is not None:
            b = np.broadcast_to(np.asarray(b), (n,))
            if b.dtype.kind not in "iu" or b.min(initial=0) < -S_MAX or b.max(initial=0) > S_MAX:
                raise ValueError(f"bias{tag} must be integers in [-(2**15 - 1), 2**15 - 1], got {b.dtype} in "
                                 f"[{b.min()}, {b.max()}]")
            b = np.asarray(b, dtype=np.int64) if b.any() else None
        populations.append(Population((n,), neuron, b))
    projections = [Dense(-1, 0, w_in.T << s_in, exponent=s_in), Dense(0, 1, w_out.T << s_out, exponent=s_out)]
    metadata = {"hardware.profile": "xylo", "hardware.model": "xylosim 0.1.3 (rockpool XyloSim, Xylo Audio 2 core)"}
    return Network((w_in.shape[0],), populations, projections, metadata,
                   fixed_point=(WEIGHT_BITS, STATE_BITS, DECAY_BITS))
