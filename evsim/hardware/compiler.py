"""A float network onto Loihi's arithmetic: `compile(net, "loihi")` (SPEC "Chip profiles").

The network is quantised by `evsim.quantize` at Loihi's widths (8-bit weights, 24-bit state,
12-bit decays), then every part is made one Loihi can hold, as Lava 0.10's fixed_pt model runs it:

- threshold: vth << 6 with vth = round(theta / 64) (17 bits), the strict test `>`;
- decays: du = d_s - 1 (Loihi's current decay is du + 1), dv = d_m, at most 4,095 (a membrane that
  forgets everything each step, tau_m = 1, keeps 1/4096 of it);
- weights: w << (6 + weight_exp) with an 8-bit w per synapse (even where a projection's weights mix
  signs, as Lava truncates them) and one weight_exp >= 0 per projection, the smallest that keeps
  every |w| within 8 bits; rounding to nearest;
- biases: bias_mant << bias_exp, a 13-bit mantissa and bias_exp 0-7, rounding to nearest;
- the current wraps around at 24 bits, the voltage saturates, v resets to 0; every projection
  delivers one step late (Loihi's Dense), so a layer l steps deep first sees the input at step l.

SOPs and early exit are the integer engine's, as for any fixed-point network. Reset by subtraction
(IF's default) has no Loihi LIF form: `compile` refuses it unless `lossy_reset=True` (then the
reset is to 0). A network that breaks a Loihi limit (`check`) is refused unless `force=True`.
`lava_parameters(net)` gives a compiled Dense chain back as `lava_network`'s arguments, which is how
the tests run it in Lava itself.
"""

from __future__ import annotations

import numpy as np

from ..network import Dense, Identity, Network, Population
from ..neurons import IntNeuron
from ..quantizer import integer_projection, quantize
from .check import check
from .lava import ACT_SHIFT, DECAY_BITS, STATE_BITS, VTH_SHIFT, WEIGHT_BITS
from .profiles import profile

BIAS_MANT_MAX, BIAS_EXP_MAX = 2**12 - 1, 7  # Lava's LIF: 13-bit signed mantissa, 3-bit exponent
VTH_MAX = 2**17 - 1


def _round(x) -> np.ndarray:
    """Round half away from zero (the quantiser's rule), as int64."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def _loihi_weights(v: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer weights v (any shape) as Loihi's: (w << (6 + x), x), w 8 bits (even if signs mix)."""
    v = np.asarray(v, dtype=np.int64)
    mixed = bool(v.min(initial=0) < 0 < v.max(initial=0))
    for x in range(STATE_BITS):
        w = _round(v / 2.0 ** (ACT_SHIFT + x))
        if mixed:
            w = 2 * _round(w / 2.0)  # Lava keeps mixed-sign weights even: round to the nearest even
        if (w >= (-256 if mixed else -255)).all() and (w <= (254 if mixed else 255)).all():
            return w << (ACT_SHIFT + x), x
    raise ValueError("weights too large for Loihi's 24-bit state")  # pragma: no cover - quantize keeps them small


def _loihi_bias(b: np.ndarray) -> np.ndarray:
    """Biases as bias_mant << bias_exp (13-bit mantissa, bias_exp 0-7), rounded to nearest."""
    for e in range(BIAS_EXP_MAX + 1):
        m = _round(np.asarray(b) / 2.0**e)
        if np.abs(m).max(initial=0) <= BIAS_MANT_MAX:
            return m << e
    raise ValueError(f"a bias of {int(np.abs(b).max())} state units exceeds Loihi's bias_mant << bias_exp "
                     f"({BIAS_MANT_MAX} << {BIAS_EXP_MAX})")


def compile(net: Network, chip: str = "loihi", *, force: bool = False, lossy_reset: bool = False) -> Network:  # noqa: A001
    """`net` (a float network: dense, conv, pool, residual) quantised onto Loihi's arithmetic.

    Returns a (9, 24, 12) fixed-point `Network` that `evsim.simulate` runs as Lava's fixed_pt model
    would (metadata "hardware.weight_exp.<q>" records each projection's weight_exp). Raises
    ValueError for another chip (only Loihi's arithmetic is checked against its maker's simulator),
    a fixed-point network, a reset by subtraction (unless lossy_reset), or a network that does not
    fit (unless force; the message lists every broken limit).
    """
    prof = profile(chip)
    if prof.name != "loihi":
        raise ValueError(f"compile supports 'loihi' only (the arithmetic checked against Lava), got {chip!r}")
    if not isinstance(net, Network) or net.fixed_point is not None:
        raise ValueError("compile takes a float evsim.Network (dense, conv, pool, residual)")
    subtract = [p for p, pop in enumerate(net.populations) if pop.neuron.reset == "subtract"]
    if subtract and not lossy_reset:
        raise ValueError(f"population(s) {subtract} reset by subtraction, which Loihi's LIF cannot (it sets v = 0); "
                         "pass lossy_reset=True to compile them with a reset to 0")
    fit = check(net, prof)
    if not fit.fits and not force:
        raise ValueError(f"{fit}\npass force=True to compile it anyway")
    q = quantize(net, 8, STATE_BITS, DECAY_BITS)
    populations = []
    for p, pop in enumerate(q.populations):
        nrn = pop.neuron
        vth = int(min(max(_round(nrn.theta / 2.0**VTH_SHIFT), 0), VTH_MAX))
        neuron = IntNeuron(theta=vth << VTH_SHIFT, d_m=min(nrn.d_m, 4095), d_s=max(min(nrn.d_s, 4096), 1),
                           reset="zero", threshold_test=">", current_overflow="wrap", input_delay=1)
        bias = None if pop.bias is None else _loihi_bias(pop.bias)
        populations.append(Population(pop.shape, neuron, bias))
    projections, metadata = [], dict(net.metadata)
    for k, proj in enumerate(q.projections):
        value = proj.scale if isinstance(proj, Identity) else proj.weight
        w, x = _loihi_weights(np.asarray(value))
        exponent = ACT_SHIFT + x + (1 if w.any() and not (w & ((1 << (ACT_SHIFT + x + 1)) - 1)).any() else 0)
        metadata[f"hardware.weight_exp.{k}"] = x
        projections.append(integer_projection(proj, w, exponent))
    metadata.update({"hardware.profile": "loihi", "hardware.model": "Lava 0.10 fixed_pt (Loihi2SimCfg)"})
    return Network(q.input_shape, populations, projections, metadata, fixed_point=(WEIGHT_BITS, STATE_BITS, DECAY_BITS))


def lava_parameters(net: Network) -> dict:
    """A compiled (or `lava_network`) Dense chain as `lava_network`'s keyword arguments (lists per layer)."""
    if net.metadata.get("hardware.profile") != "loihi" or not all(
            isinstance(p, Dense) and p.source == q - 1 and p.target == q for q, p in enumerate(net.projections)):
        raise ValueError("lava_parameters takes a Loihi network that is a chain of Dense layers")
    out = {k: [] for k in ("weights", "du", "dv", "vth", "bias_mant", "bias_exp", "weight_exp")}
    for q, (proj, pop) in enumerate(zip(net.projections, net.populations)):
        x = int(net.metadata.get(f"hardware.weight_exp.{q}", 0))
        out["weights"].append(np.asarray(proj.weight) >> (ACT_SHIFT + x))
        out["weight_exp"].append(x)
        nrn = pop.neuron
        out["du"].append(nrn.d_s - 1)
        out["dv"].append(nrn.d_m)
        out["vth"].append(nrn.theta >> VTH_SHIFT)
        b = np.zeros(pop.size, dtype=np.int64) if pop.bias is None else np.asarray(pop.bias, dtype=np.int64)
        e = next(e for e in range(BIAS_EXP_MAX + 1) if np.abs(b >> e).max(initial=0) <= BIAS_MANT_MAX and
                 ((b >> e) << e == b).all())  # fmt: skip
        out["bias_mant"].append(b >> e)
        out["bias_exp"].append(np.full(pop.size, e, dtype=np.int64))
    return out


__all__ = ["compile", "lava_parameters"]
