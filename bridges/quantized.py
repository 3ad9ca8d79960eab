"""The torch twin of evsim's fixed-point mode, quantisation-aware training and white-box attacks.

SPEC "Fixed-point mode" fixes the integer arithmetic (`evsim.quantize` in `evsim.quantizer`, the
integer run in `evsim.engine.fixed_run`). This module computes it in torch float64, where every
integer of a quantised network is exact (the module refuses bits and weights for which a product
or a sum could pass 2**53), so its spikes equal evsim's bit for bit. Per step k and population, in
its integer state unit::

    I = trunc(I * (2**D - d_s) / 2**D) + sum over the projections q into it of drive_q(s_src[k])
    I = clamp(I, -(2**(S-1) - 1), 2**(S-1) - 1)
    U = trunc(U * (2**D - d_m) / 2**D) + I + b,  clamped the same way
    s[k] = U >= theta;  U = 0 ("zero") or U - theta ("subtract") where s[k] = 1

with w_q the integer weights m << e, drive_q(s) = s @ w_q.T (Dense, on the flattened source),
conv2d(s, w_q) (Conv2d), w_q x each window's spike count (AvgPool2d), w_q s (Identity, a residual
shortcut): sums of integers, exact in any order, so torch's convolutions give evsim's event sums.
Every graph evsim builds is covered: dense chains with skips, conv / pool / residual networks,
`bridges.export.to_evsim` of a `SpikingResNet`. Refused with the reason (`_populations`): a float
network, S + D > 54, the chip variants of `evsim.IntNeuron` (strict threshold, wrap, delay,
bit-shift decays, v_min: `evsim.hardware`'s), and float current inputs (SPEC quantises none).

The loop over time is `bridges.neuron.run_over_time` (the one every torch neuron path runs), given
this module's integer step; the spike and reset rules are `bridges.neuron`'s (`heaviside`, or
Act-BP's `SigmoidSurrogate` at the float model's units). Populations run one after another over
all T steps (zero delay, feed-forward: the same as stepping the whole network).

Three things are built on it:

- `FixedPointNetwork(qnet)` (also named `FixedPointMLP`): the twin of a quantised network
  (`evsim.quantize`); forward(spikes (T, B, n_in) or (T, B, *input_shape)) -> `SNNOutput` (output
  spikes with Act-BP's surrogate gradient, hidden spikes (T, B, *shape) per population).
- `QATSpikingNetwork(snn, weight_bits, state_bits, decay_bits)` (also named `QATSpikingMLP`):
  quantisation-aware training of a `bridges.snn.SpikingMLP` or a `bridges.resnet.SpikingResNet`.
  Its parameters are the SNN's float (shadow) parameters. Every forward quantises the exported
  network with `evsim.quantize` itself (so the integers are the quantiser's by construction,
  never a second copy of its rule) and runs the integer twin with them. The gradient goes
  straight through the rounding (a straight-through estimator) to the float numbers behind each
  integer (`bridges.export.evsim_parameters`: for a ResNet the BN-folded conv weights and constant
  currents): d w_int / d W = unit * gain (the state unit 2**s and the input gain 1/tau_s), through
  the decays' truncation (d trunc(x) / dx = 1), and through the spikes with Act-BP's sigmoid
  surrogate evaluated at (U - theta) / unit, the float model's units. The state unit and the
  exponents are constants of each forward (they move only when the largest weights do).
  `export()` is `evsim.quantize(to_evsim(snn), ...)`: the integers the training forward used.
- `FixedPointClassifier(model, encoder, T, decoder)`: `bridges.whitebox.SpikingClassifier` (the
  one classifier wrapper) that also takes a quantised `evsim.Network`: images (B, ...) in [0, 1]
  -> logits (`decoder_scores`), for torchattacks (`bridges.attacks.make_attack`). Its `predict`
  is evsim's decision (-1 for a silent output).

Gradients never change the forward pass: predictions are exactly evsim's fixed-point ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

import evsim
from evsim.network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Projection

from .export import evsim_parameters, to_evsim
from .neuron import SigmoidSurrogate, heaviside, run_over_time
from .resnet import SpikingResNet, conv2d
from .snn import DEFAULT_RHO, SNNOutput, SpikingMLP, decoder_scores
from .whitebox import SpikingClassifier

__all__ = [
    "FixedPointClassifier",
    "FixedPointMLP",
    "FixedPointNetwork",
    "QATSpikingMLP",
    "QATSpikingNetwork",
    "fixed_point_forward",
    "qat_loss",
]

EXACT_BITS = 53  # float64 holds every integer of magnitude <= 2**53 exactly


class _Incoming(NamedTuple):
    """One projection into a population: its index q in the network, its evsim record (kind,
    source and geometry) and its source's shape."""

    q: int
    projection: Projection
    source_shape: tuple[int, ...]


class _Layer(NamedTuple):
    """One population of a quantised network: integer constants as Python ints (decay numerators
    keep = 2**D - d out of 2**D), the threshold, the reset, its state unit (float), its shape and
    the projections into it."""

    keep_m: int
    keep_s: int
    theta: int
    reset_to_zero: bool
    unit: float
    shape: tuple[int, ...]
    incoming: tuple[_Incoming, ...]


class FixedPointState(NamedTuple):
    """A fixed-point population between steps: current I and membrane U, (B, *shape) integer-valued float64."""

    current: torch.Tensor
    membrane: torch.Tensor


# IntNeuron fields whose non-default values are chip arithmetic (evsim.hardware) the twin does not compute
_SPEC_ARITHMETIC = {"threshold_test": ">=", "current_overflow": "saturate", "input_delay": 0, "decay": "trunc",
                    "v_min": None}  # fmt: skip


def _largest_drive(proj: Projection) -> float:
    """The largest |sum of integer weights| one step of spikes brings a neuron through `proj`."""
    if isinstance(proj, Dense):
        return float(np.abs(proj.weight.astype(np.float64)).sum(axis=1).max(initial=0.0))
    if isinstance(proj, Conv2d):
        return float(np.abs(proj.weight.astype(np.float64)).sum(axis=(1, 2, 3)).max(initial=0.0))
    if isinstance(proj, AvgPool2d):
        return float(abs(proj.weight)) * proj.kernel_size[0] * proj.kernel_size[1]
    return float(abs(proj.scale))


def _populations(net: evsim.Network) -> list[_Layer]:
    """Check that the twin computes the quantised network `net` exactly; its populations, in order.

    Any graph evsim builds is taken (Dense, Conv2d, AvgPool2d and Identity projections, several
    into one population as a residual sum); what is refused, with the reason, is a float network,
    bits for which float64 is not exact, and the chip variants of `IntNeuron` (`evsim.hardware`).
    """
    if not isinstance(net, evsim.Network):
        raise ValueError(f"need an evsim.Network, got {type(net).__name__}")
    if net.fixed_point is None:
        raise ValueError("the network is not quantised: pass evsim.quantize(net, ...) (a float network has no "
                         "fixed-point twin)")  # fmt: skip
    _, S, D = net.fixed_point
    if (S - 1) + D > EXACT_BITS:
        raise ValueError(f"state_bits + decay_bits = {S} + {D} is too many for an exact float64 twin: a decayed "
                         f"state |I| * 2**D may reach 2**{S - 1 + D} > 2**{EXACT_BITS}; use S + D <= {EXACT_BITS + 1}")  # fmt: skip
    layers = []
    for p, pop in enumerate(net.populations):
        nrn = pop.neuron
        for name, spec in _SPEC_ARITHMETIC.items():
            if getattr(nrn, name) != spec:
                raise ValueError(f"population {p} has {name}={getattr(nrn, name)!r}: the twin computes SPEC's fixed-point "
                                 f"arithmetic only ({name}={spec!r}: fire on U >= theta, saturate I, no input delay, "
                                 "truncating decays, U bounded by +-(2**(S-1) - 1)); chip variants run in "
                                 "evsim.simulate only")  # fmt: skip
        incoming = tuple(_Incoming(q, proj, net.shape_of(proj.source))
                         for q, proj in enumerate(net.projections) if proj.target == p)  # fmt: skip
        # every partial sum of a step's drive must be an exact float64 integer, on any device and in any order
        if sum(_largest_drive(i.projection) for i in incoming) + 2 ** (S - 1) > 2.0**EXACT_BITS:
            raise ValueError(f"population {p}: one step's summed integer weights could pass 2**{EXACT_BITS}, beyond "
                             "float64's exact integers (weights this large come from no quantiser)")  # fmt: skip
        unit = net.metadata.get(f"fixed_point.state_scale.{p}")
        if unit is None:
            raise ValueError(f"the network lacks metadata 'fixed_point.state_scale.{p}' (made by evsim.quantize?)")
        keep_m, keep_s = (1 << D) - int(nrn.d_m), (1 << D) - int(nrn.d_s)
        layers.append(_Layer(keep_m, keep_s, int(nrn.theta), nrn.reset == "zero", float(unit), pop.shape, incoming))
    return layers


def _trunc_ste(x: torch.Tensor) -> torch.Tensor:
    """trunc(x) (toward zero) forward, identity backward."""
    return x + (torch.trunc(x) - x).detach()


def _drive(inc: _Incoming, w, source: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """What projection `inc` adds to its target's current at every step: (T, B, *shape), exact
    integer sums. source: the source's spikes (T, B, ...) 0/1; w: the integer weights (Dense,
    Conv2d: a tensor in evsim's layout) or the integer a spike adds (AvgPool2d, Identity)."""
    proj, T, B = inc.projection, source.shape[0], source.shape[1]
    if isinstance(proj, Dense):  # reads its source flattened in (C, H, W) order
        return (source.reshape(T, B, -1) @ w.T).reshape(T, B, *shape)
    if isinstance(proj, Identity):
        return w * source.reshape(T, B, *shape)
    images = source.reshape(T * B, *inc.source_shape)  # time folded into the batch
    if isinstance(proj, Conv2d):
        out = conv2d(images, w, proj.stride, proj.padding)
    else:  # AvgPool2d: each window's spike count (a sum: divisor 1) times the integer per spike
        out = w * F.avg_pool2d(images, proj.kernel_size, proj.stride, divisor_override=1)
    return out.reshape(T, B, *shape)


def fixed_point_forward(
    x: torch.Tensor,
    weights: Sequence,
    biases: Sequence[torch.Tensor | None],
    layers: Sequence[_Layer],
    state_bits: int,
    decay_bits: int,
    rule: str = "actbp",
    rho: float = DEFAULT_RHO,
) -> SNNOutput:
    """SPEC's integer arithmetic in float64 over a quantised network, population by population.

    x: spikes (T, B, *input_shape) (or (T, B, n_in)) float64 0/1; weights[q], per projection q:
    integer-valued float64 tensors in evsim's layout for Dense (n_out, n_in) and Conv2d (C_out,
    C_in, kh, kw), the integer (a number or a 0-d tensor) for AvgPool2d and Identity; any of them
    may carry a straight-through gradient. biases[p]: (n_p,) or None; layers: `_populations(net)`.
    rule: "actbp" (spikes with the sigmoid surrogate at (U - theta) / unit) or "none" (Heaviside).

    Zero synaptic delay and a feed-forward graph make running each population over all T steps,
    in order, the same as stepping the whole network: a population's drive is the sum of its
    projections' drives from its sources' spikes of the same step.
    Returns `SNNOutput`: output spikes (T, B, n_out) and the detached hidden spikes (T, B, *shape).
    """
    if rule not in ("actbp", "none"):
        raise ValueError(f"the fixed-point twin's rule is 'actbp' or 'none', got {rule!r}")
    s_max = float(2 ** (state_bits - 1) - 1)
    scale = float(2**decay_bits)
    spikes: list[torch.Tensor] = []  # per population (T, B, *shape)
    for p, (b, layer) in enumerate(zip(biases, layers)):
        spike = SigmoidSurrogate(rho, layer.unit) if rule == "actbp" else heaviside
        bias = None if b is None else b.reshape(layer.shape)

        def integer_step(state: FixedPointState, drive_k: torch.Tensor, layer=layer, b=bias, spike=spike):
            current = torch.clamp(_trunc_ste(state.current * layer.keep_s / scale) + drive_k, -s_max, s_max)
            membrane = _trunc_ste(state.membrane * layer.keep_m / scale) + current
            if b is not None:
                membrane = membrane + b
            membrane = torch.clamp(membrane, -s_max, s_max)
            # s is exactly 0 or 1 and U is finite (saturated): both resets are exact
            s, membrane = spike(membrane, layer)
            return FixedPointState(current, membrane), (s,)

        drive = None  # exact integer sums, in any order (every partial sum is below 2**53: _populations)
        for inc in layer.incoming:
            source = x if inc.projection.source == INPUT else spikes[inc.projection.source]
            d = _drive(inc, weights[inc.q], source, layer.shape)
            drive = d if drive is None else drive + d
        rest = FixedPointState(torch.zeros_like(drive[0]), torch.zeros_like(drive[0]))
        (s,) = run_over_time(integer_step, rest, drive).outputs
        spikes.append(s)
    T, B = x.shape[:2]
    return SNNOutput(spikes[-1].reshape(T, B, -1), [s.detach() for s in spikes[:-1]])


def _check_input(x: torch.Tensor, input_shape: tuple[int, ...]) -> torch.Tensor:
    """x as float64 spikes (T, B, *input_shape); (T, B, n_in) flat is taken too."""
    n_in = math.prod(input_shape)
    shape = tuple(getattr(x, "shape", ()))
    if not isinstance(x, torch.Tensor) or len(shape) < 3 or shape[2:] not in ((n_in,), tuple(input_shape)):
        also = "" if len(input_shape) == 1 else f" or (T, B, {', '.join(map(str, input_shape))})"
        raise ValueError(f"input must be spikes of shape (T, B, {n_in}){also}, got {getattr(x, 'shape', type(x).__name__)}")
    x = x.to(torch.float64)
    if not ((x == 0) | (x == 1)).all():
        raise ValueError("a fixed-point network takes spike inputs only (0/1); encode with a spiking encoder "
                         "(ratesyn_s, ratesyn_e, ttfs, poisson)")  # fmt: skip
    return x.reshape(*shape[:2], *input_shape)


def _integers(proj: Projection, device=None) -> torch.Tensor | float:
    """A quantised projection's integer weights as the twin uses them: a float64 tensor (Dense,
    Conv2d) on `device` or the integer a spike adds, as a float (AvgPool2d, Identity)."""
    if isinstance(proj, (Dense, Conv2d)):
        return torch.tensor(np.asarray(proj.weight), dtype=torch.float64, device=device)
    return float(proj.scale if isinstance(proj, Identity) else proj.weight)


class FixedPointNetwork(torch.nn.Module):
    """The torch twin of a quantised network `qnet` (`evsim.quantize`): forward(spikes (T, B, n_in)
    or (T, B, *input_shape)) -> `SNNOutput` whose spikes equal `evsim.simulate(qnet, ...)`'s bit
    for bit. Any graph evsim builds: dense chains, conv and pool stages, residual sums
    (`bridges.export.to_evsim` of a `SpikingResNet`); `_populations` says what it refuses.

    rule: "actbp" (default; Act-BP's surrogate gives gradients, e.g. for white-box attacks) or "none".
    The integer weights are buffers (float64), not parameters: to train, use `QATSpikingNetwork`.
    `FixedPointMLP` is the same class (its name from when only dense chains were built).
    """

    spike_inputs_only = True  # SpikingClassifier refuses the current encoding

    def __init__(self, qnet: evsim.Network, rule: str = "actbp", rho: float = DEFAULT_RHO):
        super().__init__()
        self.layers = _populations(qnet)
        if rule not in ("actbp", "none"):
            raise ValueError(f"rule must be 'actbp' or 'none', got {rule!r}")
        self.qnet, self.rule, self.rho = qnet, rule, float(rho)
        _, self.state_bits, self.decay_bits = qnet.fixed_point
        self.sizes = list(qnet.layer_sizes)
        self.input_shape = qnet.input_shape
        self.integers = []  # per projection: a buffer's name, or the integer of a pool or an identity
        for q, proj in enumerate(qnet.projections):
            w = _integers(proj)
            if isinstance(w, torch.Tensor):
                self.register_buffer(f"weight{q}", w)
                w = f"weight{q}"
            self.integers.append(w)
        for p, pop in enumerate(qnet.populations):
            bias = None if pop.bias is None else torch.tensor(np.asarray(pop.bias), dtype=torch.float64)
            self.register_buffer(f"bias{p}", bias)

    def forward(self, x: torch.Tensor) -> SNNOutput:
        x = _check_input(x, self.input_shape)
        weights = [getattr(self, w) if isinstance(w, str) else w for w in self.integers]
        biases = [getattr(self, f"bias{p}") for p in range(len(self.layers))]
        return fixed_point_forward(x, weights, biases, self.layers, self.state_bits, self.decay_bits, self.rule, self.rho)


FixedPointMLP = FixedPointNetwork  # the name of the dense-chain twin, kept


class QATSpikingNetwork(torch.nn.Module):
    """Quantisation-aware training of a `SpikingMLP` or a `SpikingResNet` at `weight_bits` (module docstring).

    snn: the float model; its parameters are this module's (shared, trained in place). The forward
    pass is the fixed-point network `export()` returns, bit for bit, with straight-through
    gradients to the float parameters behind each integer (`bridges.export.evsim_parameters`: a
    Linear's weight and bias; a SpikingResNet's conv weights and BatchNorm gamma and beta through
    the eval-mode folding, the running statistics held constant) and Act-BP's surrogate at the
    spikes (whatever rule trained the float model). float64 throughout (exactness needs it): `snn`
    is converted to float64 in place (`Module.to`). `QATSpikingMLP` is the same class.
    """

    spike_inputs_only = True  # SpikingClassifier refuses the current encoding

    def __init__(self, snn: SpikingMLP | SpikingResNet, weight_bits: int = 8, state_bits: int = 24,
                 decay_bits: int = 12, rho: float | None = None):  # fmt: skip
        super().__init__()
        if not isinstance(snn, (SpikingMLP, SpikingResNet)):
            raise ValueError(f"QAT needs a bridges.snn.SpikingMLP or bridges.resnet.SpikingResNet, got "
                             f"{type(snn).__name__}: the straight-through gradient needs the float parameters behind "
                             "each exported integer (bridges.export.evsim_parameters), known for these two")  # fmt: skip
        self.bits = (weight_bits, state_bits, decay_bits)
        self.snn = snn.to(torch.float64)
        self.rho = snn.rho if rho is None else float(rho)
        qnet = self.export()  # checks the bits (evsim.quantize's errors) and the float64 bounds now
        self.sizes = list(qnet.layer_sizes)
        self.input_shape = qnet.input_shape

    def export(self) -> evsim.Network:
        """`to_evsim(snn, fixed_point=(weight_bits, state_bits, decay_bits))`, i.e. `evsim.quantize`
        of the float network: the network whose integers the forward pass uses (run it with
        `evsim.simulate`)."""
        qnet = to_evsim(self.snn, fixed_point=self.bits)
        _populations(qnet)
        return qnet

    def forward(self, x: torch.Tensor) -> SNNOutput:
        """x: spikes (T, B, n_in) or (T, B, *input_shape); the output spikes carry straight-through gradients."""
        x = _check_input(x, self.input_shape)
        qnet = self.export()
        layers = _populations(qnet)
        gain = self.snn.neuron.input_gain
        real = evsim_parameters(self.snn)
        weights, biases = [], []
        # value: the exported integer; gradient: d w_int / d W = unit * gain (the rounding passed straight through)
        for proj, w in zip(qnet.projections, real.weights):
            integer = _integers(proj, x.device)
            if w is not None:
                w = w * (layers[proj.target].unit * gain)  # the weights in state units, before rounding
                integer = integer + (w - w.detach())
            weights.append(integer)
        for layer, pop, b in zip(layers, qnet.populations, real.biases):
            if pop.bias is None:
                biases.append(None)
                continue
            b = b * layer.unit
            biases.append(torch.tensor(np.asarray(pop.bias), dtype=torch.float64, device=x.device) + (b - b.detach()))
        _, S, D = qnet.fixed_point
        return fixed_point_forward(x, weights, biases, layers, S, D, "actbp", self.rho)


QATSpikingMLP = QATSpikingNetwork  # the name of the dense-chain QAT, kept


def qat_loss(encoder, T: int, decoder: str):
    """A `bridges.training.fit` loss for a `QATSpikingMLP`: cross-entropy on the decoder's omega of
    the fixed-point forward pass (inputs encoded by evsim in float64)."""

    def loss(model, xb: np.ndarray, yb: torch.Tensor, rng) -> torch.Tensor:
        x = evsim.encode(xb.reshape(len(xb), -1).astype(np.float64), T, encoder, seed=rng)
        return torch.nn.functional.cross_entropy(decoder_scores(model(torch.from_numpy(x)).spikes, decoder), yb)

    return loss


class FixedPointClassifier(SpikingClassifier):
    """`bridges.whitebox.SpikingClassifier` of a fixed-point SNN, for white-box attacks.

    model: `FixedPointNetwork`, `QATSpikingNetwork`, or a quantised `evsim.Network` of any graph
    the twin takes (wrapped in a `FixedPointNetwork`, Act-BP's surrogate). encoder (spiking only: the twin takes spikes), T,
    decoder and seed: as `SpikingClassifier`'s, which validates, encodes, decodes and predicts.
    forward(images (B, ...) in [0, 1]) -> logits (B, n_out) in the images' dtype: the twin
    computes in float64 only to be exact (the logits are integer counts, exact in float32 too).
    """

    def __init__(self, model, encoder, T: int, decoder: str, seed=0):
        if isinstance(model, evsim.Network):
            model = FixedPointNetwork(model)
        if not isinstance(model, (FixedPointNetwork, QATSpikingNetwork)):
            raise ValueError(f"need a FixedPointNetwork, QATSpikingNetwork or quantised evsim.Network, got "
                             f"{type(model).__name__}")  # fmt: skip
        super().__init__(model, encoder, T, decoder, seed)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return super().forward(images).to(images.dtype)
