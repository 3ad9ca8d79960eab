"""Spiking networks in torch whose forward pass is exactly evsim's (SPEC "Neurons").

A `SpikingMLP` is a stack of bias-free (optionally biased) linear layers of IF or LIF neurons.
Each layer sees the previous layer's synaptic trace a (the encoded input passes through the
first layer's trace too), integrates I = W a (+ b) and spikes:

    U[k] = decay_m U[k-1] + I[k];  s[k] = U[k] >= theta;  reset;  a[k] = decay_s a[k-1] + gain s[k]

with decay_m, decay_s, gain and the reset taken from the `evsim.IF` / `evsim.LIF` record, so the
network exports to evsim (`bridges.export.to_evsim`) with identical spikes. Every population runs
the float step and the one loop over time of `bridges.neuron` (`run_population`), whatever the rule.

Training rules (`rule`), kept apart from the network as strategy functions:
- "actbp": Act-BP, the Heaviside's gradient replaced by the sigmoid surrogate
  rho * sigmoid(rho x) (1 - sigmoid(rho x)), x = U - theta, rho = 5 (paper Eq. 17), full BPTT
  through membrane, reset and trace (nothing detached);
- "tempbp": Temp-BP (TSSL-BP, paper Eq. 18-20), spike-timing gradients from
  `bridges.tempbp.TempBPNeuron` (LIF with hard reset only).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

import evsim

from . import neuron_kernels
from .neuron import (
    NeuronParameters,
    SigmoidSurrogate,
    SigmoidSurrogateSpike,
    neuron_parameters,
    run_over_time,
    run_population,
    trace_step,
)
from .tempbp import lif_tempbp, require_tempbp_neuron

__all__ = [
    "RULES", "DEFAULT_RHO", "SigmoidSurrogateSpike", "ActBPPopulation", "SNNOutput", "SpikingMLP", "actbp_layer_reference",
    "check_rule", "decoder_scores", "differentiable_spikes", "spiking_layer", "synaptic_trace",
]  # fmt: skip

RULES = ("actbp", "tempbp", "none")
DEFAULT_RHO = 5.0


def check_rule(rule: str, neuron) -> None:
    """ValueError unless `rule` is a training rule of `RULES` that can train `neuron`
    (Temp-BP: LIF with the hard reset only, `bridges.tempbp.require_tempbp_neuron`)."""
    if rule not in RULES:
        raise ValueError(f"unknown training rule {rule!r}; choose from {RULES}")
    if rule == "tempbp":
        require_tempbp_neuron(neuron)


def synaptic_trace(s: torch.Tensor, neuron) -> torch.Tensor:
    """a[k] = decay_s a[k-1] + gain s[k] over the first (time) axis, s (T, B, ...); a = s for IF (no filter)."""
    p = neuron_parameters(neuron)
    if not p.has_trace:
        return s

    def one(a: torch.Tensor, s_k: torch.Tensor):
        a = trace_step(a, s_k, p)
        return a, (a,)

    return run_over_time(one, torch.zeros_like(s[0]), s).outputs[0]


class ActBPPopulation(torch.autograd.Function):
    """One population over all T steps with the Act-BP rule, as a single autograd node.

    `ActBPPopulation.apply(current, parameters, rho) -> (a, s)`; current (T, B, ...) float, the
    input I[k] (membrane units per step); parameters: `bridges.neuron.NeuronParameters`. The forward loop keeps no graph and saves only the
    membrane before reset, U[k] (T, B, ...). The backward is BPTT written out in reverse time, the
    same gradient that autograd gives for the step-by-step layer (`actbp_layer_reference`), with
    nothing detached:

        G_a[k]  = dL/da[k] + decay_s G_a[k+1]                      (trace, a = decay_s a + gain s)
        G_s[k]  = dL/ds[k] + gain G_a[k] + G_r[k] R[k]             (R = -U[k] hard reset, -theta subtract)
        G_U[k]  = G_s[k] rho sig'(rho (U[k] - theta)) + G_r[k] K[k] (K = 1 - s[k] hard reset, 1 subtract)
        G_r[k-1] = decay_m G_U[k]                                  (membrane after reset, carried back)

    and dL/dI[k] = G_U[k]. For IF (no trace, a = s) G_a[k] = dL/da[k] and gain = 1.
    """

    @staticmethod
    def forward(ctx, current: torch.Tensor, c: NeuronParameters, rho: float):
        traces, spikes, u_pre = run_population(current, c, record_membrane=True)
        ctx.save_for_backward(u_pre)
        ctx.c, ctx.rho = c, float(rho)
        return traces, spikes

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_a: torch.Tensor, grad_s: torch.Tensor):
        (u_pre,) = ctx.saved_tensors
        c, rho = ctx.c, ctx.rho
        fired = u_pre >= c.theta
        # the surrogate slope of every step at once: only the recursion below needs a loop
        sig = torch.sigmoid((u_pre - c.theta) * rho)
        slope = sig * (1 - sig) * rho
        if c.has_trace:
            g_s = torch.empty_like(grad_a)
            g_a = torch.zeros_like(grad_a[0])
            for k in range(grad_a.shape[0] - 1, -1, -1):
                g_a = grad_a[k] + g_a * c.decay_s
                g_s[k] = grad_s[k] + g_a * c.gain
        else:
            g_s = grad_s + grad_a
        if c.reset_to_zero:
            through_reset = -u_pre  # d(U (1 - s))/ds
            keep = (~fired).to(u_pre.dtype)  # d(U (1 - s))/dU
        grad = torch.empty_like(grad_a)
        g_r = torch.zeros_like(grad_a[0])
        for k in range(grad_a.shape[0] - 1, -1, -1):
            if c.reset_to_zero:
                g_u = (g_s[k] + g_r * through_reset[k]) * slope[k] + g_r * keep[k]
            else:
                g_u = (g_s[k] - g_r * c.theta) * slope[k] + g_r
            grad[k] = g_u
            g_r = g_u * c.decay_m
        return grad, None, None


def actbp_layer_reference(current: torch.Tensor, neuron, rho: float = DEFAULT_RHO):
    """The Act-BP population stepped with autograd (slow; the reference that `ActBPPopulation`'s
    hand-written backward is tested against): the same loop and float step, with the
    `SigmoidSurrogate` spike rule. current: (T, B, ...). Returns (a, s), (T, B, ...)."""
    return run_population(current, neuron_parameters(neuron), SigmoidSurrogate(rho))


def spiking_layer(current: torch.Tensor, neuron, rule: str = "actbp", rho: float = DEFAULT_RHO):
    """Run one population over time.

    current: (T, B, ...) input I[k] (already W a + b). Returns (a, s): the synaptic trace the next
    layer sees and the spikes, both (T, B, ...). With "actbp" both carry surrogate gradients
    (one autograd node for all T steps); with "tempbp" the gradient flows through a only (s is
    not differentiable); with "none" the forward pass runs without any gradient rule
    (Heaviside) and builds no graph.

    On the CPU (where `bridges.neuron_kernels.use_kernels(current)`) the population runs on the
    compiled kernels (`FusedActBP`, `FusedTempBP`, `population_forward`), elsewhere (CUDA) on the
    torch loop (`ActBPPopulation`, `TempBPNeuron`, `run_population`): the same bits, forward and
    backward, and outputs in the current's memory layout either way.
    """
    if rule == "tempbp":
        return lif_tempbp(current, neuron)
    check_rule(rule, neuron)
    p = neuron_parameters(neuron)
    fused = neuron_kernels.use_kernels(current)
    if rule == "actbp" and not fused:
        return ActBPPopulation.apply(current, p, rho)
    if rule == "actbp" and torch.is_grad_enabled() and current.requires_grad:
        return neuron_kernels.FusedActBP.apply(current, p, rho)
    with torch.no_grad():  # no graph (inference, or a current without gradient): the plain forward
        return neuron_kernels.population_forward(current, p)[:2] if fused else run_population(current, p)


def differentiable_spikes(a: torch.Tensor, s: torch.Tensor, neuron, rule: str) -> torch.Tensor:
    """Output spikes with a gradient path: s itself (Act-BP), or for Temp-BP the value of s with
    the gradient of s[k] = (a[k] - decay_s a[k-1]) / gain, which is exact for the trace recursion,
    so losses on spikes reach the trace that Temp-BP differentiates."""
    if rule != "tempbp":
        return s
    p = neuron_parameters(neuron)
    previous = torch.cat([torch.zeros_like(a[:1]), a[:-1]])
    rebuilt = (a - p.decay_s * previous) / p.gain
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
        check_rule(rule, neuron)
        neuron_parameters(neuron)
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


def __getattr__(name: str):
    if name == "neuron_constants":  # the old 5-tuple; NeuronParameters unpacks the same way
        warnings.warn("bridges.snn.neuron_constants is deprecated; use bridges.neuron.neuron_parameters",
                      DeprecationWarning, stacklevel=2)  # fmt: skip
        return neuron_parameters
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
