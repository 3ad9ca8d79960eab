"""The SPEC neuron step on the torch side, defined once (SPEC "Neurons").

Every torch path that runs IF or LIF neurons (the Act-BP layer of `bridges.snn`, the Temp-BP
layer of `bridges.tempbp`, the dense baseline of `bridges.timestep`) calls these functions, so
their forward arithmetic is the same expressions in the same order, and the same bits::

    U = U * decay_m + I  (+ b)          integrate: multiply, add (, add), each rounded in the dtype
    s = U >= theta                       fire (`>=`, as everywhere in SPEC)
    U = 0 where s   |   U = U - theta s  reset to zero (LIF) or by subtraction (IF)
    a = a * decay_s + s * gain           the synaptic trace the next layer sees (I_next = W a)

The constants are Python floats (float64) from the `evsim.IF` / `evsim.LIF` record; torch rounds
a Python scalar to the tensor's dtype once, before it multiplies, so float32 and float64 tensors
each see one rounding of each constant (as evsim's kernels do). IEEE products commute, so
decay_m * U and U * decay_m are the same number.

Functions take and return tensors of one step, any shape (B, ...); `inplace=True` overwrites
the state tensor (for inference loops that keep no graph).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import evsim

__all__ = ["NeuronConstants", "constants", "integrate", "fire", "reset", "trace_step", "step"]


@dataclass(frozen=True)
class NeuronConstants:
    """The per-step numbers of a neuron model (all dimensionless, per step of dt).

    decay_m: membrane decay 1 - 1/tau_m (1 for IF); decay_s: trace decay 1 - 1/tau_s (0 for IF);
    gain: the trace's input gain 1/tau_s (1 for IF); theta: threshold; reset_to_zero: hard reset
    to 0 (True) or subtraction of theta (False).
    """

    decay_m: float
    decay_s: float
    gain: float
    theta: float
    reset_to_zero: bool

    @property
    def has_trace(self) -> bool:
        """False for IF (a = s exactly: no filter), True for LIF."""
        return not (self.decay_s == 0.0 and self.gain == 1.0)


def constants(neuron) -> NeuronConstants:
    """The `NeuronConstants` of an evsim.IF or evsim.LIF record (ValueError for anything else)."""
    if not isinstance(neuron, (evsim.IF, evsim.LIF)):
        raise ValueError(f"neuron must be evsim.IF or evsim.LIF, got {neuron!r}")
    return NeuronConstants(
        float(neuron.decay_m), float(neuron.decay_s), float(neuron.input_gain), float(neuron.theta), neuron.reset == "zero"
    )


def integrate(u: torch.Tensor, current: torch.Tensor, c: NeuronConstants, bias=None, inplace: bool = False):
    """U = U * decay_m + I (+ b): the membrane before the threshold test. u, current: (B, ...)."""
    if inplace:
        u = u.mul_(c.decay_m).add_(current)
        return u if bias is None else u.add_(bias)
    u = u * c.decay_m + current
    return u if bias is None else u + bias


def fire(u: torch.Tensor, c: NeuronConstants) -> torch.Tensor:
    """Boolean spikes s = U >= theta, (B, ...)."""
    return u >= c.theta


def reset(u: torch.Tensor, fired: torch.Tensor, c: NeuronConstants, inplace: bool = False) -> torch.Tensor:
    """The membrane after the spikes `fired` (bool): 0 where fired (hard reset) or U - theta.

    Subtraction is written U - theta * s with s = 0 or 1, so a non-spiking neuron keeps U exactly.
    """
    if c.reset_to_zero:
        return u.masked_fill_(fired, 0.0) if inplace else u.masked_fill(fired, 0.0)
    s = fired.to(u.dtype)
    return u.sub_(s * c.theta) if inplace else u - s * c.theta


def trace_step(a: torch.Tensor, s: torch.Tensor, c: NeuronConstants) -> torch.Tensor:
    """a = a * decay_s + s * gain (s: float 0/1 spikes of this step); for IF this is s itself."""
    if not c.has_trace:
        return s
    return a * c.decay_s + s * c.gain


def step(u: torch.Tensor, a: torch.Tensor, current: torch.Tensor, c: NeuronConstants, bias=None):
    """One whole step without gradient rules: returns (u_pre, s, u, a).

    u_pre: membrane before reset; s: float spikes (dtype of u); u: membrane after reset;
    a: new trace. All (B, ...), new tensors (u and a are not modified).
    """
    u_pre = integrate(u, current, c, bias)
    fired = fire(u_pre, c)
    s = fired.to(u_pre.dtype)
    return u_pre, s, reset(u_pre, fired, c), trace_step(a, s, c)
