"""Spiking networks in torch whose forward pass is exactly evsim's (SPEC "Neurons").

A `SpikingMLP` is a stack of bias-free (optionally biased) linear layers of IF or LIF neurons.
Each layer sees the previous layer's synaptic trace a (the encoded input passes through the
first layer's trace too), integrates I = W a (+ b) and spikes:

    U[k] = decay_m U[k-1] + I[k];  s[k] = U[k] >= theta;  reset;  a[k] = decay_s a[k-1] + gain s[k]

with decay_m, decay_s, gain and the reset taken from the `evsim.IF` / `evsim.LIF` record, so the
network exports to evsim (`bridges.export.to_evsim`) with identical spikes.

Training rules (`rule`), kept apart from the network as strategy functions:
- "actbp": Act-BP, the Heaviside's gradient replaced by the sigmoid surrogate
  rho * sigmoid(rho x) (1 - sigmoid(rho x)), x = U - theta, rho = 5 (paper Eq. 17), full BPTT
  through membrane, reset and trace (nothing detached);
- "tempbp": Temp-BP (TSSL-BP, paper Eq. 18-20), spike-timing gradients from
  `bridges.tempbp.TempBPNeuron` (LIF with hard reset only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

import evsim

RULES = ("actbp", "tempbp", "none")
DEFAULT_RHO = 5.0


class SigmoidSurrogateSpike(torch.autograd.Function):
    """Heaviside(x) forward (x >= 0 spikes); rho * sigmoid'(rho x) backward (Act-BP)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, rho: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.rho = rho
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        sig = torch.sigmoid(ctx.rho * x)
        return grad * ctx.rho * sig * (1 - sig), None


def neuron_constants(neuron) -> tuple[float, float, float, float, bool]:
    """(decay_m, decay_s, gain, theta, reset_to_zero) of an evsim.IF or evsim.LIF record."""
    if not isinstance(neuron, (evsim.IF, evsim.LIF)):
        raise ValueError(f"neuron must be evsim.IF or evsim.LIF, got {neuron!r}")
    return neuron.decay_m, neuron.decay_s, neuron.input_gain, neuron.theta, neuron.reset == "zero"


def synaptic_trace(s: torch.Tensor, neuron) -> torch.Tensor:
    """a[k] = decay_s a[k-1] + gain s[k] over the first (time) axis; a = s for IF (no filter)."""
    _, decay_s, gain, _, _ = neuron_constants(neuron)
    if decay_s == 0.0 and gain == 1.0:
        return s
    out, a = [], torch.zeros_like(s[0])
    for k in range(s.shape[0]):
        a = a * decay_s + s[k] * gain
        out.append(a)
    return torch.stack(out)


def spiking_layer(current: torch.Tensor, neuron, rule: str = "actbp", rho: float = DEFAULT_RHO):
    """Run one population over time.

    current: (T, B, ...) input I[k] (already W a + b). Returns (a, s): the synaptic trace the next
    layer sees and the spikes, both (T, B, ...). With "actbp" both carry surrogate gradients;
    with "tempbp" the gradient flows through a only (s is not differentiable); with "none" the
    forward pass runs without any gradient rule (Heaviside).
    """
    if rule == "tempbp":
        from .tempbp import lif_tempbp  # Temp-BP is LIF-only; imported where it is used

        return lif_tempbp(current, neuron)
    if rule not in RULES:
        raise ValueError(f"unknown training rule {rule!r}; choose from {RULES}")
    decay_m, decay_s, gain, theta, to_zero = neuron_constants(neuron)
    u = torch.zeros_like(current[0])
    a = torch.zeros_like(current[0])
    traces, spikes = [], []
    for k in range(current.shape[0]):
        u = decay_m * u + current[k]
        if rule == "actbp":
            s = SigmoidSurrogateSpike.apply(u - theta, rho)
        else:
            s = (u >= theta).to(u.dtype)
        # s is exactly 0 or 1, so both resets are exact: u * 0 = 0 and u - theta * 1 = u - theta
        u = u * (1 - s) if to_zero else u - theta * s
        a = a * decay_s + s * gain
        traces.append(a)
        spikes.append(s)
    return torch.stack(traces), torch.stack(spikes)


def differentiable_spikes(a: torch.Tensor, s: torch.Tensor, neuron, rule: str) -> torch.Tensor:
    """Output spikes with a gradient path: s itself (Act-BP), or for Temp-BP the value of s with
    the gradient of s[k] = (a[k] - decay_s a[k-1]) / gain, which is exact for the trace recursion,
    so losses on spikes reach the trace that Temp-BP differentiates."""
    if rule != "tempbp":
        return s
    _, decay_s, gain, _, _ = neuron_constants(neuron)
    previous = torch.cat([torch.zeros_like(a[:1]), a[:-1]])
    rebuilt = (a - decay_s * previous) / gain
    return s.detach() + (rebuilt - rebuilt.detach())


def decoder_scores(spikes: torch.Tensor, decoder: str) -> torch.Tensor:
    """Differentiable omega (B, N) of output spikes (T, B, N): rate counts or TTFS max_k (T-k) s[k]."""
    if decoder == "rate":
        return spikes.sum(dim=0)
    if decoder == "ttfs":
        T = spikes.shape[0]
        weight = torch.arange(T, 0, -1, dtype=spikes.dtype, device=spikes.device).view(T, *([1] * (spikes.ndim - 1)))
        # amax shares the gradient among tied maxima: a silent output's T zeros get (T-k)/T each,
        # so it learns to fire early; torch's max would put it all on step 0 and stall training
        return torch.amax(spikes * weight, dim=0)
    raise ValueError(f"unknown decoder {decoder!r}; choose from {evsim.DECODERS}")


@dataclass
class SNNOutput:
    """What a forward pass returns: output spikes (T, B, n_out) with the rule's gradient path,
    and the spikes of every hidden layer (T, B, n) (detached)."""

    spikes: torch.Tensor
    hidden: list[torch.Tensor]


class SpikingMLP(torch.nn.Module):
    """Fully connected SNN, e.g. 784-500-10 LIF (Fashion-MNIST) or 784-100-10 IF (converted MNIST).

    sizes: (n_in, hidden..., n_out); neuron: evsim.IF or evsim.LIF for every layer;
    rule: "actbp" or "tempbp" (or "none" for inference only); bias: linear layers with bias.
    """

    def __init__(self, sizes: Sequence[int], neuron, rule: str = "actbp", rho: float = DEFAULT_RHO, bias: bool = False):
        super().__init__()
        sizes = [int(n) for n in sizes]
        if len(sizes) < 2 or any(n < 1 for n in sizes):
            raise ValueError(f"sizes must list n_in, (hidden...,) n_out, all >= 1; got {sizes}")
        if rule not in RULES:
            raise ValueError(f"unknown training rule {rule!r}; choose from {RULES}")
        if rule == "tempbp" and not (isinstance(neuron, evsim.LIF) and neuron.reset == "zero"):
            raise ValueError("Temp-BP needs evsim.LIF neurons with reset='zero'")
        neuron_constants(neuron)
        self.sizes, self.neuron, self.rule, self.rho = sizes, neuron, rule, float(rho)
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(n_in, n_out, bias=bias) for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )
        for layer in self.layers:
            # Kaiming-normal, as the authors' code: torch's default uniform init leaves LIF layers
            # silent at the start, where the surrogate gradient is nearly zero
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                torch.nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> SNNOutput:
        """x: encoded input (T, B, n_in) (spikes or a float current)."""
        if x.ndim != 3 or x.shape[2] != self.sizes[0]:
            raise ValueError(f"input must have shape (T, B, {self.sizes[0]}), got {tuple(x.shape)}")
        a = synaptic_trace(x, self.neuron)
        hidden = []
        for i, layer in enumerate(self.layers):
            a, s = spiking_layer(layer(a), self.neuron, self.rule, self.rho)
            if i < len(self.layers) - 1:
                hidden.append(s.detach())
        return SNNOutput(differentiable_spikes(a, s, self.neuron, self.rule), hidden)
