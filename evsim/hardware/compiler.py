"""A float network onto a chip's arithmetic: `compile(net, "loihi")`, `compile(net, "speck")`.

SPEC "Chip profiles". Two chips, each the arithmetic checked against its maker's simulator.

Loihi. The network is quantised by `evsim.quantize` at Loihi's widths (8-bit weights, 24-bit state,
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

Speck (DYNAP-CNN). The arithmetic `speck_network` builds by hand (sinabs 3.1.3's layers, checked
spike for spike in tests/test_speck.py), reached from a float network of IF neurons:

- per population p one scale s_p = 127 / (the largest |w| of all projections into p: a Dense or
  Conv2d weight, an average pool's 1/(kh kw), an identity's scale), so its largest weight becomes
  +-127 (int8; -128 is never used); weights round(s_p w), half away from zero;
- threshold_high = round(s_p theta), which must lie in [1, 2**15 - 1] (the 16-bit membrane): a
  threshold more than 258 times the largest weight, or under 1/254 of it, is refused. A strict
  float test (`>`, NIR's) becomes Speck's `>=` at round(s_p theta) + 1, the same spikes for
  integer membranes (with a reset by subtraction the chip then subtracts that, one unit more);
- every neuron: integrate-and-fire (no leak, no synaptic current), `>=`, the float neuron's reset
  (by subtraction, or to 0: return_to_zero), the membrane saturating at 2**15 - 1 and bounded
  below by the profile's threshold_low, -2**15 (sinabs' min_v_mem = None);
- refused, with the reason: LIF populations (a leak, tau_m, and a synaptic current, tau_s, that
  Speck's neurons do not have) unless `lossy_leak=True`, which compiles them as IAF: each spike's
  whole charge W (what the LIF trace delivers over all steps, W x sum of (1/tau_s)(1 - 1/tau_s)^k)
  arrives in the spike's step and the membrane keeps it, so the spikes can differ from the float
  LIF's; non-zero biases (a folded BatchNorm, an ANN bias: Speck's layers add none in this mode);
  a network `check(net, "speck")` finds too big, unless `force=True`.

The result is a (9, 16, 2) fixed-point network like `speck_network`'s (a 9-bit mantissa holds int8);
SOPs and early exit are the integer engine's, the float network's on the same spikes. Each chip
ignores the other's lossy flag (Speck has both resets; Loihi's neurons leak).
"""

from __future__ import annotations

import numpy as np

from ..network import AvgPool2d, Dense, Identity, Network, Population
from ..neurons import LIF, IntNeuron
from ..quantizer import integer_projection, quantize
from .check import check
from .lava import ACT_SHIFT, DECAY_BITS, STATE_BITS, VTH_SHIFT, WEIGHT_BITS
from .profiles import profile
from .speck import DECAY_BITS as SPECK_DECAY_BITS, MODEL as SPECK_MODEL, S_MAX as SPECK_S_MAX
from .speck import STATE_BITS as SPECK_STATE_BITS, WEIGHT_BITS as SPECK_WEIGHT_BITS

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


def compile(net: Network, chip: str = "loihi", *, force: bool = False, lossy_reset: bool = False,  # noqa: A001
            lossy_leak: bool = False) -> Network:  # fmt: skip
    """`net` (a float network: dense, conv, pool, residual) quantised onto a chip's arithmetic.

    chip "loihi": returns a (9, 24, 12) fixed-point `Network` that `evsim.simulate` runs as Lava's
    fixed_pt model would (metadata "hardware.weight_exp.<q>" records each projection's
    weight_exp). chip "speck": a (9, 16, 2) fixed-point `Network` in the arithmetic of
    `speck_network` (DYNAP-CNN as sinabs configures it; module docstring), metadata
    "fixed_point.state_scale.<p>" the scale s_p (membrane units per float unit).
    Raises ValueError for another chip (only these two are checked against their makers'
    simulators), a fixed-point network, a network that does not fit (unless force; the message
    lists every broken limit); Loihi: a reset by subtraction (unless lossy_reset); Speck: LIF
    neurons (unless lossy_leak: compiled as IAF), a non-zero bias, a threshold the 16-bit membrane
    cannot hold at the scale that maps the largest weight to 127. Each chip ignores the other's
    lossy flag.
    """
    prof = profile(chip)
    if prof.name not in ("loihi", "speck"):
        raise ValueError(f"compile supports 'loihi' and 'speck' only (the arithmetic checked against Lava and "
                         f"sinabs), got {chip!r}")  # fmt: skip
    if not isinstance(net, Network) or net.fixed_point is not None:
        raise ValueError("compile takes a float evsim.Network (dense, conv, pool, residual)")
    if prof.name == "speck":
        return _compile_speck(net, prof, force, lossy_leak)
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


def _speck_weights(proj) -> np.ndarray:
    """A float projection's weights as one array (a pool's 1/(kh kw), an identity's scale: a scalar)."""
    if isinstance(proj, AvgPool2d):
        kh, kw = proj.kernel_size
        return np.float64(1.0 / (kh * kw))
    return np.asarray(proj.scale if isinstance(proj, Identity) else proj.weight, dtype=np.float64)


def _compile_speck(net: Network, prof, force: bool, lossy_leak: bool) -> Network:
    """`compile(net, "speck")` (the rules: module docstring)."""
    fit = check(net, prof)
    if not fit.fits and not force:
        raise ValueError(f"{fit}\npass force=True to compile it anyway")
    leaky = [p for p, pop in enumerate(net.populations) if isinstance(pop.neuron, LIF)]
    if leaky and not lossy_leak:
        lifs = [(p, net.populations[p].neuron) for p in leaky]
        taus = ", ".join(f"{p}: tau_m = {n.tau_m:g}, tau_s = {n.tau_s:g}" for p, n in lifs)
        raise ValueError(f"population(s) {leaky} are LIF ({taus}): Speck's neurons integrate and fire, with no "
                         "membrane leak and no synaptic current; pass lossy_leak=True to compile them as IAF (each "
                         "spike's whole charge arrives in its step, the membrane does not leak: the spikes change)")
    biased = [p for p, pop in enumerate(net.populations) if pop.bias is not None and np.any(pop.bias != 0)]
    if biased:
        raise ValueError(f"population(s) {biased} have a non-zero bias (a folded BatchNorm or an ANN bias): Speck's "
                         "layers add no bias in this mode; retrain without biases or fold them away first")
    populations, scales = [], []
    for p, pop in enumerate(net.populations):
        nrn = pop.neuron
        top = max((float(np.abs(_speck_weights(q)).max(initial=0.0)) for q in net.projections if q.target == p),
                  default=0.0)  # fmt: skip
        if top == 0:
            raise ValueError(f"population {p} receives only zero weights: no scale maps its largest weight to 127")
        scale = (2**7 - 1) / top
        theta = int(_round(scale * nrn.theta)) + (1 if nrn.threshold_test == ">" else 0)
        if not 1 <= theta <= SPECK_S_MAX:
            raise ValueError(f"population {p}: its threshold {nrn.theta:g} is {nrn.theta / top:.4g} times its largest "
                             f"weight |w| = {top:.4g}; at the scale that maps that weight to 127 the threshold is "
                             f"{theta} membrane units, outside Speck's [1, 2**15 - 1 = {SPECK_S_MAX}] (16-bit state)")
        neuron = IntNeuron(theta=theta, d_m=0, d_s=2**SPECK_DECAY_BITS, reset=nrn.reset, threshold_test=">=",
                           v_min=-(SPECK_S_MAX + 1))  # fmt: skip
        populations.append(Population(pop.shape, neuron))
        scales.append(scale)
    projections = []
    for proj in net.projections:
        w = _round(scales[proj.target] * _speck_weights(proj))
        projections.append(integer_projection(proj, w if w.ndim else int(w), 0))
    metadata = dict(net.metadata)
    metadata.update({f"fixed_point.state_scale.{p}": s for p, s in enumerate(scales)})
    metadata.update({"hardware.profile": "speck", "hardware.model": SPECK_MODEL})
    if leaky:
        metadata["hardware.lossy_leak"] = f"LIF population(s) {leaky} compiled as integrate-and-fire"
    return Network(net.input_shape, populations, projections, metadata,
                   fixed_point=(SPECK_WEIGHT_BITS, SPECK_STATE_BITS, SPECK_DECAY_BITS))


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
