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

from .neuron import NeuronConstants, constants, fire, integrate, reset, trace_step

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
    c = constants(neuron)
    return c.decay_m, c.decay_s, c.gain, c.theta, c.reset_to_zero


def synaptic_trace(s: torch.Tensor, neuron) -> torch.Tensor:
    """a[k] = decay_s a[k-1] + gain s[k] over the first (time) axis; a = s for IF (no filter)."""
    c = constants(neuron)
    if not c.has_trace:
        return s
    out, a = [], torch.zeros_like(s[0])
    for k in range(s.shape[0]):
        a = trace_step(a, s[k], c)
        out.append(a)
    return torch.stack(out)


def _run_population(current: torch.Tensor, c: NeuronConstants, keep_membrane: bool):
    """The forward pass of one population over T steps, no graph: (a, s, u_pre or None), (T, B, ...)."""
    T = current.shape[0]
    traces, spikes = torch.empty_like(current), torch.empty_like(current)
    u_pre_all = torch.empty_like(current) if keep_membrane else None
    u = torch.zeros_like(current[0])
    a = torch.zeros_like(current[0])
    for k in range(T):
        u_pre = integrate(u, current[k], c)
        fired = fire(u_pre, c)
        s = fired.to(current.dtype)
        if keep_membrane:
            u_pre_all[k] = u_pre
        u = reset(u_pre, fired, c, inplace=True)  # u_pre was copied above: reuse its memory
        a = trace_step(a, s, c)
        traces[k], spikes[k] = a, s
    return traces, spikes, u_pre_all


class ActBPPopulation(torch.autograd.Function):
    """One population over all T steps with the Act-BP rule, as a single autograd node.

    `ActBPPopulation.apply(current, constants, rho) -> (a, s)`; current (T, B, ...) float, the
    input I[k] (membrane units per step). The forward loop keeps no graph and saves only the
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
    def forward(ctx, current: torch.Tensor, c: NeuronConstants, rho: float):
        traces, spikes, u_pre = _run_population(current, c, keep_membrane=True)
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
    """The Act-BP population written step by step with autograd (slow; the reference that
    `ActBPPopulation`'s hand-written backward is tested against). Returns (a, s), (T, B, ...)."""
    c = constants(neuron)
    u = torch.zeros_like(current[0])
    a = torch.zeros_like(current[0])
    traces, spikes = [], []
    for k in range(current.shape[0]):
        u = integrate(u, current[k], c)
        s = SigmoidSurrogateSpike.apply(u - c.theta, rho)
        # s is exactly 0 or 1, so both resets are exact: u * 0 = 0 and u - theta * 1 = u - theta
        u = u * (1 - s) if c.reset_to_zero else u - s * c.theta
        a = trace_step(a, s, c)
        traces.append(a)
        spikes.append(s)
    return torch.stack(traces), torch.stack(spikes)


def spiking_layer(current: torch.Tensor, neuron, rule: str = "actbp", rho: float = DEFAULT_RHO):
    """Run one population over time.

    current: (T, B, ...) input I[k] (already W a + b). Returns (a, s): the synaptic trace the next
    layer sees and the spikes, both (T, B, ...). With "actbp" both carry surrogate gradients
    (`ActBPPopulation`, one autograd node for all T steps); with "tempbp" the gradient flows
    through a only (s is not differentiable); with "none" the forward pass runs without any
    gradient rule (Heaviside) and builds no graph.
    """
    if rule == "tempbp":
        from .tempbp import lif_tempbp  # Temp-BP is LIF-only; imported where it is used

        return lif_tempbp(current, neuron)
    if rule not in RULES:
        raise ValueError(f"unknown training rule {rule!r}; choose from {RULES}")
    c = constants(neuron)
    if rule == "actbp":
        return ActBPPopulation.apply(current, c, rho)
    with torch.no_grad():
        traces, spikes, _ = _run_population(current, c, keep_membrane=False)
    return traces, spikes


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
