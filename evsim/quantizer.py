"""The quantiser (SPEC "Fixed-point mode"): a float network becomes its fixed-point version.

Quantising is a separate, explicit step (`quantize`); the result is a `Network` with
`fixed_point = (W, S, D)` that `evsim.simulate` runs with integer kernels (`evsim.engine.fixed_run`,
whose docstring gives the arithmetic) and `evsim.reference_simulate` with the integer oracle.

Rule. For each population p, in the float model's units:

- R_p = the largest sum over one neuron's incoming synapses of |weight| (all projections into p
  together; an average pool counts 1, an identity |scale|): the largest |I| any step can bring,
  for IF and for LIF alike (LIF's gain 1/tau_s and its trace's 1/(1 - decay_s) cancel);
- B_p = theta + R_p + max|b|: the largest |U| a neuron below threshold can reach in one step;
- the state unit is 2**s_p state LSBs per float unit, with s_p the largest integer such that
  4 B_p 2**s_p <= 2**(S-1) - 1 (two bits of headroom: nothing overflows unless inputs keep
  driving a neuron for steps on end; a persistently inhibited or over-driven IF membrane
  saturates, which is the chip's behaviour too);
- theta_int = round(2**s_p theta), b_int = round(2**s_p b); each projection's integer weights
  are w = 2**s_p * gain * W (gain = 1/tau_s for LIF, 1 for IF; an average pool's 1/(kh kw)
  included), written m * 2**e with the smallest exponent e >= 0 for which every
  |m| = |round(w / 2**e)| <= 2**(W-1) - 1 (a symmetric signed W-bit mantissa);
- no mantissa bit is wasted: the largest |m| of each projection is >= 2**(W-2) (its top bit is
  used). When the state unit is too small for that (S too small for W and the fan-in: roughly
  S >= W + log2(R_p / max|W|) + 2 is needed) `quantize` raises a ValueError that names the
  smallest state_bits that works, rather than wasting bits silently;
- decays: d_s = round(2**D / tau_s), d_m = round(2**D / tau_m) for LIF; IF has d_m = 0, d_s = 2**D.
  round is half away from zero everywhere.
"""

from __future__ import annotations

import math

import numpy as np

from .network import AvgPool2d, Conv2d, Dense, Identity, Network, Population
from .neurons import IF, LIF, IntNeuron

HEADROOM_BITS = 2  # the state unit leaves |U| <= 2**(S-1) / 4 for the one-step bound B_p
MAX_STATE_BITS = 40  # as Network checks: int64 holds every product and sum exactly


def _bits(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
    return int(value)


def _round(x):
    """Round half away from zero (symmetric for negative weights), to int64."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def _drive(net: Network, p: int) -> np.ndarray:
    """(size,) float64: per neuron of population p (public order), sum of |weight| over all its
    incoming synapses: the largest |I| one step can bring (an input value is at most 1)."""
    pop = net.populations[p]
    total = np.zeros(pop.size)
    for proj in net.projections:
        if proj.target != p:
            continue
        if isinstance(proj, Dense):
            total += np.abs(proj.weight).sum(axis=1)
        elif isinstance(proj, Conv2d):
            per_channel = np.abs(proj.weight).sum(axis=(1, 2, 3))  # padding only lowers it
            total += np.repeat(per_channel, pop.size // per_channel.size)
        elif isinstance(proj, AvgPool2d):
            total += 1.0  # kh kw spikes x 1/(kh kw)
        else:
            total += abs(proj.scale)
    return total


def _real_weights(proj, gain: float, unit: float):
    """The projection's weights in state LSBs (float64, before rounding): array or scalar."""
    if isinstance(proj, (Dense, Conv2d)):
        return proj.weight * (gain * unit)
    if isinstance(proj, AvgPool2d):
        kh, kw = proj.kernel_size
        return np.float64(gain * unit / (kh * kw))
    return np.float64(proj.scale * gain * unit)


def _mantissa_exponent(w, weight_bits: int) -> tuple[np.ndarray, int]:
    """(m int64, e): the smallest e >= 0 with every |round(w / 2**e)| <= 2**(W-1) - 1."""
    m_max = 2 ** (weight_bits - 1) - 1
    amax = float(np.max(np.abs(w))) if np.size(w) else 0.0
    e = 0 if amax == 0 else max(0, math.floor(math.log2(amax)) - (weight_bits - 2))
    while np.abs(_round(np.ldexp(w, -e))).max(initial=0) > m_max:
        e += 1
    return _round(np.ldexp(w, -e)), e


def _unit_exponent(bound: float, state_bits: int) -> int:
    """s_p: the largest s with 2**HEADROOM_BITS * bound * 2**s <= 2**(S-1) - 1."""
    s = math.floor(math.log2((2 ** (state_bits - 1) - 1) / (2**HEADROOM_BITS * bound)))
    while 2**HEADROOM_BITS * bound * 2.0**s > 2 ** (state_bits - 1) - 1:  # float log2 at a boundary
        s -= 1
    return s


def _population_fits(net: Network, p: int, bound: float, weight_bits: int, state_bits: int) -> str | None:
    """None if population p quantises at these bits with every mantissa's top bit used, else why not."""
    pop = net.populations[p]
    unit = 2.0 ** _unit_exponent(bound, state_bits)
    if _round(unit * pop.neuron.theta) < 1:
        return f"its threshold {pop.neuron.theta} rounds to 0 state units"
    for q, proj in enumerate(net.projections):
        if proj.target != p:
            continue
        real = _real_weights(proj, pop.neuron.input_gain, unit)
        m, e = _mantissa_exponent(real, weight_bits)
        top = int(np.abs(m).max(initial=0))
        if np.any(real != 0) and top < 2 ** (weight_bits - 2):  # all rounding to 0 is the worst waste
            return (f"projection {q}'s largest weight is {top} state units, which leaves the top bit of a "
                    f"{weight_bits}-bit mantissa unused")
    return None


def quantize(net: Network, weight_bits: int = 8, state_bits: int = 24, decay_bits: int = 12) -> Network:
    """The fixed-point version of the float network `net` (the rule: module docstring).

    weight_bits W: signed weight mantissa bits (|m| <= 2**(W-1) - 1), one exponent per projection.
    state_bits S: saturating current and membrane bits (|I|, |U| <= 2**(S-1) - 1), 2 <= W <= S <= 40.
    decay_bits D: decays are numerators out of 2**D (2 <= D <= 20).

    Returns a `Network` with `fixed_point == (W, S, D)`, `IntNeuron` populations (integer theta,
    d_m, d_s, reset as the float model) with int64 biases, and projections whose int64 `weight`
    (AvgPool2d: `weight`, Identity: `scale`) is the effective integer m << exponent, the target's
    input gain folded in. metadata gains "fixed_point.state_scale.<p>": state LSBs per float unit.
    Raises ValueError for bits < 2, state_bits too small for the weights, or a quantised network.
    """
    if not isinstance(net, Network):
        raise ValueError(f"quantize needs an evsim.Network, got {type(net).__name__}")
    if net.fixed_point is not None:
        raise ValueError(f"the network is already quantised (fixed_point = {net.fixed_point}); quantise the float "
                         "network it came from")
    W, S, D = _bits("weight_bits", weight_bits), _bits("state_bits", state_bits), _bits("decay_bits", decay_bits)
    if S > MAX_STATE_BITS:
        raise ValueError(f"state_bits must be <= {MAX_STATE_BITS} (int64 arithmetic stays exact), got {S}")
    if D > 20:
        raise ValueError(f"decay_bits must be <= 20, got {D}")
    if W > S:
        raise ValueError(f"state_bits ({S}) too small for the weights: weight_bits is {W}, and a weight must fit "
                         "in the state")
    populations, units = [], []
    for p, pop in enumerate(net.populations):
        nrn = pop.neuron
        b_max = float(np.abs(pop.bias).max(initial=0.0)) if pop.bias is not None else 0.0
        bound = nrn.theta + float(_drive(net, p).max(initial=0.0)) + b_max
        why = _population_fits(net, p, bound, W, S)
        if why is not None:
            need = next((s for s in range(S + 1, MAX_STATE_BITS + 1) if _population_fits(net, p, bound, W, s) is None),
                        None)  # fmt: skip
            hint = f"it needs state_bits >= {need}" if need else f"no state_bits <= {MAX_STATE_BITS} is enough"
            raise ValueError(f"state_bits={S} too small for weight_bits={W} in population {p}: {why} "
                             f"(the state unit must keep 2**{HEADROOM_BITS} x the largest one-step |U| = {bound:.4g} "
                             f"within {S} bits); {hint}")
        unit = 2.0 ** _unit_exponent(bound, S)
        units.append(unit)
        if isinstance(nrn, LIF):
            d_m, d_s = int(_round(2.0**D / nrn.tau_m)), int(_round(2.0**D / nrn.tau_s))
        elif isinstance(nrn, IF):
            d_m, d_s = 0, 2**D
        else:  # pragma: no cover - Population admits IF, LIF and (fixed networks only) IntNeuron
            raise ValueError(f"cannot quantise neuron {nrn!r}")
        neuron = IntNeuron(theta=int(_round(unit * nrn.theta)), d_m=d_m, d_s=d_s, reset=nrn.reset,
                           threshold_test=nrn.threshold_test)
        bias = None if pop.bias is None else _round(unit * pop.bias)
        populations.append(Population(pop.shape, neuron, bias))
    projections = []
    for proj in net.projections:
        gain = net.populations[proj.target].neuron.input_gain
        m, e = _mantissa_exponent(_real_weights(proj, gain, units[proj.target]), W)
        projections.append(integer_projection(proj, m << e, e))
    metadata = dict(net.metadata)
    metadata.update({f"fixed_point.state_scale.{p}": u for p, u in enumerate(units)})
    return Network(net.input_shape, populations, projections, metadata, fixed_point=(W, S, D))


def mantissas(net: Network) -> list[np.ndarray]:
    """Per projection of a quantised network, its signed mantissas m = weight >> exponent (int64)."""
    if not isinstance(net, Network) or net.fixed_point is None:
        raise ValueError("mantissas needs a fixed-point network (evsim.quantize)")
    out = []
    for proj in net.projections:
        w = np.asarray(proj.scale if isinstance(proj, Identity) else proj.weight, dtype=np.int64)
        out.append(w >> proj.exponent)  # exact: the weights are multiples of 2**exponent
    return out


def integer_projection(proj, w, exponent: int):
    """A projection of proj's kind, ends and geometry with the integer weights w (an array for Dense
    and Conv2d, a scalar for AvgPool2d and Identity) and the fixed-point `exponent`."""
    if isinstance(proj, Dense):
        return Dense(proj.source, proj.target, w, exponent=exponent)
    if isinstance(proj, Conv2d):
        return Conv2d(proj.source, proj.target, w, proj.stride, proj.padding, exponent=exponent)
    if isinstance(proj, AvgPool2d):
        return AvgPool2d(proj.source, proj.target, proj.kernel_size, proj.stride, int(w), exponent=exponent)
    if isinstance(proj, Identity):
        return Identity(proj.source, proj.target, int(w), exponent=exponent)
    raise ValueError(f"unknown projection kind {type(proj).__name__}")


__all__ = ["quantize", "mantissas"]
