"""The torch twin of evsim's fixed-point mode, quantisation-aware training and white-box attacks.

SPEC "Fixed-point mode" fixes the integer arithmetic (`evsim.quantize` in `evsim.quantizer`, the integer run in `evsim.engine.fixed_run`). This
module computes it in torch float64, where every integer of a quantised network is exact (the
module refuses bits for which a product could pass 2**53), so its spikes equal evsim's bit for bit.
Per step k and layer, in the population's integer state unit::

    I = trunc(I * (2**D - d_s) / 2**D) + s_in[k] @ w.T        w: the integer weights m << e
    I = clamp(I, -(2**(S-1) - 1), 2**(S-1) - 1)
    U = trunc(U * (2**D - d_m) / 2**D) + I + b,  clamped the same way
    s[k] = U >= theta;  U = 0 ("zero") or U - theta ("subtract") where s[k] = 1

The loop over time is `bridges.neuron.run_over_time` (the one every torch neuron path runs), given
this module's integer step; the spike and reset rules are `bridges.neuron`'s (`heaviside`, or
Act-BP's `SigmoidSurrogate` at the float model's units).

Three things are built on it:

- `FixedPointMLP(qnet)`: the twin of a quantised dense chain (`evsim.quantize` of `Network.dense`
  or `bridges.export.to_evsim`); forward(spikes (T, B, n_in)) -> `SNNOutput` (output spikes with
  Act-BP's surrogate gradient, hidden spikes).
- `QATSpikingMLP(snn, weight_bits, state_bits, decay_bits)`: quantisation-aware training of a
  `bridges.snn.SpikingMLP`. Its parameters are the SNN's float (shadow) weights. Every forward
  quantises them with `evsim.quantize` itself (so the integers are the quantiser's by
  construction, never a second copy of its rule) and runs the integer twin with them. The
  gradient goes straight through the rounding (a straight-through estimator): d w_int / d W =
  unit * gain (the state unit 2**s and the input gain 1/tau_s), through the decays' truncation
  (d trunc(x) / dx = 1), and through the spikes with Act-BP's sigmoid surrogate evaluated at
  (U - theta) / unit, the float model's units. The state unit and the exponents are constants of
  each forward (they move only when the largest weights do). `export()` is
  `evsim.quantize(to_evsim(snn), ...)`: the integers the training forward used.
- `FixedPointClassifier(model, encoder, T, decoder)`: `bridges.whitebox.SpikingClassifier` (the
  one classifier wrapper) that also takes a quantised `evsim.Network`: images (B, ...) in [0, 1]
  -> logits (`decoder_scores`), for torchattacks (`bridges.attacks.make_attack`). Its `predict`
  is evsim's decision (-1 for a silent output).

Gradients never change the forward pass: predictions are exactly evsim's fixed-point ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

import evsim

from .export import to_evsim
from .neuron import SigmoidSurrogate, heaviside, run_over_time
from .snn import DEFAULT_RHO, SNNOutput, SpikingMLP, decoder_scores
from .whitebox import SpikingClassifier

__all__ = ["FixedPointClassifier", "FixedPointMLP", "QATSpikingMLP", "fixed_point_forward", "qat_loss"]

EXACT_BITS = 53  # float64 holds every integer of magnitude <= 2**53 exactly


class _Layer(NamedTuple):
    """One population of a quantised chain: integer constants as Python ints (decay numerators
    keep = 2**D - d out of 2**D), the threshold, the reset, and its state unit (float)."""

    keep_m: int
    keep_s: int
    theta: int
    reset_to_zero: bool
    unit: float

    @classmethod
    def of(cls, neuron: evsim.IntNeuron, unit: float, decay_bits: int) -> _Layer:
        return cls((1 << decay_bits) - int(neuron.d_m), (1 << decay_bits) - int(neuron.d_s), int(neuron.theta),
                   neuron.reset == "zero", float(unit))  # fmt: skip


class FixedPointState(NamedTuple):
    """A fixed-point population between steps: current I and membrane U, (B, n) integer-valued float64."""

    current: torch.Tensor
    membrane: torch.Tensor


def _chain(net: evsim.Network) -> list[_Layer]:
    """Check that `net` is a quantised chain of dense layers the twin computes exactly; its layers."""
    if not isinstance(net, evsim.Network):
        raise ValueError(f"need an evsim.Network, got {type(net).__name__}")
    if net.fixed_point is None:
        raise ValueError("the network is not quantised: pass evsim.quantize(net, ...) (a float network has no "
                         "fixed-point twin)")  # fmt: skip
    projs, pops = net.projections, net.populations
    chain = all(p.kind == "dense" and p.source == i - 1 and p.target == i for i, p in enumerate(projs))
    if not chain or len(projs) != len(pops):
        raise ValueError("the fixed-point twin handles a plain chain of dense layers (as Network.dense builds)")
    _, S, D = net.fixed_point
    if (S - 1) + D > EXACT_BITS:
        raise ValueError(f"state_bits + decay_bits = {S} + {D} is too many for an exact float64 twin: a decayed "
                         f"state |I| * 2**D may reach 2**{S - 1 + D} > 2**{EXACT_BITS}; use S + D <= {EXACT_BITS + 1}")  # fmt: skip
    layers = []
    for p, pop in enumerate(pops):
        unit = net.metadata.get(f"fixed_point.state_scale.{p}")
        if unit is None:
            raise ValueError(f"the network lacks metadata 'fixed_point.state_scale.{p}' (made by evsim.quantize?)")
        layers.append(_Layer.of(pop.neuron, unit, D))
    return layers


def _trunc_ste(x: torch.Tensor) -> torch.Tensor:
    """trunc(x) (toward zero) forward, identity backward."""
    return x + (torch.trunc(x) - x).detach()


def fixed_point_forward(
    x: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor | None],
    layers: Sequence[_Layer],
    state_bits: int,
    decay_bits: int,
    rule: str = "actbp",
    rho: float = DEFAULT_RHO,
) -> SNNOutput:
    """SPEC's integer arithmetic in float64 over a dense chain.

    x: spikes (T, B, n_in) float64 (0/1); weights[l]: (n_out, n_in) integer-valued float64 (may
    carry a straight-through gradient); biases[l]: (n_out,) or None; layers: from `_chain`.
    rule: "actbp" (spikes with the sigmoid surrogate at (U - theta) / unit) or "none" (Heaviside).
    Returns `SNNOutput`: output spikes (T, B, n_out) and the detached hidden spikes.
    """
    if rule not in ("actbp", "none"):
        raise ValueError(f"the fixed-point twin's rule is 'actbp' or 'none', got {rule!r}")
    s_max = float(2 ** (state_bits - 1) - 1)
    scale = float(2**decay_bits)
    s_in, hidden = x, []
    for i, (w, b, layer) in enumerate(zip(weights, biases, layers)):
        spike = SigmoidSurrogate(rho, layer.unit) if rule == "actbp" else heaviside

        def integer_step(state: FixedPointState, drive_k: torch.Tensor, layer=layer, b=b, spike=spike):
            current = torch.clamp(_trunc_ste(state.current * layer.keep_s / scale) + drive_k, -s_max, s_max)
            membrane = _trunc_ste(state.membrane * layer.keep_m / scale) + current
            if b is not None:
                membrane = membrane + b
            membrane = torch.clamp(membrane, -s_max, s_max)
            # s is exactly 0 or 1 and U is finite (saturated): both resets are exact
            s, membrane = spike(membrane, layer)
            return FixedPointState(current, membrane), (s,)

        drive = s_in @ w.T  # (T, B, n_out): exact integer sums
        rest = FixedPointState(torch.zeros_like(drive[0]), torch.zeros_like(drive[0]))
        (s_in,) = run_over_time(integer_step, rest, drive).outputs
        if i < len(layers) - 1:
            hidden.append(s_in.detach())
    return SNNOutput(s_in, hidden)


def _check_input(x: torch.Tensor, n_in: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[2] != n_in:
        raise ValueError(f"input must be spikes of shape (T, B, {n_in}), got {getattr(x, 'shape', type(x).__name__)}")
    x = x.to(torch.float64)
    if not ((x == 0) | (x == 1)).all():
        raise ValueError("a fixed-point network takes spike inputs only (0/1); encode with a spiking encoder "
                         "(ratesyn_s, ratesyn_e, ttfs, poisson)")  # fmt: skip
    return x


class FixedPointMLP(torch.nn.Module):
    """The torch twin of a quantised dense chain `qnet` (`evsim.quantize`): forward(spikes (T, B,
    n_in)) -> `SNNOutput` whose spikes equal `evsim.simulate(qnet, ...)`'s bit for bit.

    rule: "actbp" (default; Act-BP's surrogate gives gradients, e.g. for white-box attacks) or "none".
    The integer weights are buffers (float64), not parameters: to train, use `QATSpikingMLP`.
    """

    spike_inputs_only = True  # SpikingClassifier refuses the current encoding

    def __init__(self, qnet: evsim.Network, rule: str = "actbp", rho: float = DEFAULT_RHO):
        super().__init__()
        self.layers = _chain(qnet)
        if rule not in ("actbp", "none"):
            raise ValueError(f"rule must be 'actbp' or 'none', got {rule!r}")
        self.qnet, self.rule, self.rho = qnet, rule, float(rho)
        _, self.state_bits, self.decay_bits = qnet.fixed_point
        self.sizes = list(qnet.layer_sizes)
        for i, (proj, pop) in enumerate(zip(qnet.projections, qnet.populations)):
            self.register_buffer(f"weight{i}", torch.tensor(np.asarray(proj.weight), dtype=torch.float64))
            bias = None if pop.bias is None else torch.tensor(np.asarray(pop.bias), dtype=torch.float64)
            self.register_buffer(f"bias{i}", bias)

    def forward(self, x: torch.Tensor) -> SNNOutput:
        x = _check_input(x, self.sizes[0])
        n = len(self.layers)
        weights = [getattr(self, f"weight{i}") for i in range(n)]
        biases = [getattr(self, f"bias{i}") for i in range(n)]
        return fixed_point_forward(x, weights, biases, self.layers, self.state_bits, self.decay_bits, self.rule, self.rho)


class QATSpikingMLP(torch.nn.Module):
    """Quantisation-aware training of a `SpikingMLP` at `weight_bits` (module docstring).

    snn: the float model; its Linear weights (and biases) are this module's parameters (shared,
    trained in place). The forward pass is the fixed-point network `export()` returns, bit for bit,
    with straight-through gradients to the float weights and Act-BP's surrogate at the spikes
    (whatever rule trained the float model). float64 throughout (exactness needs it): `snn` is
    converted to float64 in place (`Module.to`).
    """

    spike_inputs_only = True  # SpikingClassifier refuses the current encoding

    def __init__(self, snn: SpikingMLP, weight_bits: int = 8, state_bits: int = 24, decay_bits: int = 12,
                 rho: float | None = None):  # fmt: skip
        super().__init__()
        if not isinstance(snn, SpikingMLP):
            raise ValueError(f"QATSpikingMLP needs a bridges.snn.SpikingMLP, got {type(snn).__name__}")
        self.bits = (weight_bits, state_bits, decay_bits)
        self.snn = snn.to(torch.float64)
        self.rho = snn.rho if rho is None else float(rho)
        self.sizes = list(snn.sizes)
        self.export()  # checks the bits (evsim.quantize's errors) and the float64 bound now

    def export(self) -> evsim.Network:
        """`to_evsim(snn, fixed_point=(weight_bits, state_bits, decay_bits))`, i.e. `evsim.quantize`
        of the float network: the network whose integers the forward pass uses (run it with
        `evsim.simulate`)."""
        qnet = to_evsim(self.snn, fixed_point=self.bits)
        _chain(qnet)
        return qnet

    def forward(self, x: torch.Tensor) -> SNNOutput:
        """x: spikes (T, B, n_in); the output spikes carry straight-through gradients."""
        x = _check_input(x, self.sizes[0])
        qnet = self.export()
        layers = _chain(qnet)
        gain = self.snn.neuron.input_gain
        weights, biases = [], []
        for layer, linear, proj, pop in zip(layers, self.snn.layers, qnet.projections, qnet.populations):
            real = linear.weight * (layer.unit * gain)  # the weights in state units, before rounding
            weights.append(torch.tensor(np.asarray(proj.weight), dtype=torch.float64) + (real - real.detach()))
            if linear.bias is None:
                biases.append(None)
            else:
                real_b = linear.bias * layer.unit
                biases.append(torch.tensor(np.asarray(pop.bias), dtype=torch.float64) + (real_b - real_b.detach()))
        _, S, D = qnet.fixed_point
        return fixed_point_forward(x, weights, biases, layers, S, D, "actbp", self.rho)


def qat_loss(encoder, T: int, decoder: str):
    """A `bridges.training.fit` loss for a `QATSpikingMLP`: cross-entropy on the decoder's omega of
    the fixed-point forward pass (inputs encoded by evsim in float64)."""

    def loss(model, xb: np.ndarray, yb: torch.Tensor, rng) -> torch.Tensor:
        x = evsim.encode(xb.reshape(len(xb), -1).astype(np.float64), T, encoder, seed=rng)
        return torch.nn.functional.cross_entropy(decoder_scores(model(torch.from_numpy(x)).spikes, decoder), yb)

    return loss


class FixedPointClassifier(SpikingClassifier):
    """`bridges.whitebox.SpikingClassifier` of a fixed-point SNN, for white-box attacks.

    model: `FixedPointMLP`, `QATSpikingMLP`, or a quantised `evsim.Network` (wrapped in a
    `FixedPointMLP`, Act-BP's surrogate). encoder (spiking only: the twin takes spikes), T,
    decoder and seed: as `SpikingClassifier`'s, which validates, encodes, decodes and predicts.
    forward(images (B, ...) in [0, 1]) -> logits (B, n_out) in the images' dtype: the twin
    computes in float64 only to be exact (the logits are integer counts, exact in float32 too).
    """

    def __init__(self, model, encoder, T: int, decoder: str, seed=0):
        if isinstance(model, evsim.Network):
            model = FixedPointMLP(model)
        if not isinstance(model, (FixedPointMLP, QATSpikingMLP)):
            raise ValueError(f"need a FixedPointMLP, QATSpikingMLP or quantised evsim.Network, got {type(model).__name__}")
        super().__init__(model, encoder, T, decoder, seed)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return super().forward(images).to(images.dtype)
