"""The torch neuron (SPEC "Neurons"): parameters and state as named tuples, pure steps, one loop over time.

Every torch path that runs IF or LIF neurons goes through `run_over_time`, the one loop over the T
steps: the Act-BP and Temp-BP populations and the inference layer (`run_population`, used by
`bridges.snn`, `bridges.tempbp`, `bridges.resnet`), the dense baseline `bridges.timestep.DenseSimulator`
and the fixed-point twin `bridges.quantized.fixed_point_forward`. What differs between them is the
step the loop is given (a strategy): float or integer arithmetic, Heaviside spikes or a surrogate
gradient, the trace after the spikes or the current before the membrane. The float step is written
here once, from these pieces, so all float paths compute the same expressions in the same order::

    U = U * decay_m + I  (+ b)          integrate: multiply, add (, add), each rounded in the dtype
    s = U >= theta                       fire (`>=`, as everywhere in SPEC)
    U = 0 where s   |   U = U - theta s  reset to zero (LIF) or by subtraction (IF)
    a = a * decay_s + s * gain           the synaptic trace the next layer sees (I_next = W a)

The parameters are Python floats (float64) from the `evsim.IF` / `evsim.LIF` record; torch rounds
a Python scalar to the tensor's dtype once, before it multiplies, so float32 and float64 tensors
each see one rounding of each constant (as evsim's kernels do). IEEE products commute, so
decay_m * U and U * decay_m are the same number.

Step functions take and return tensors of one step, any shape (B, ...); `run_over_time` takes the
drive of all steps (T, B, ...) and returns the step's outputs stacked the same way. `inplace=True`
on a piece overwrites the state tensor (for inference loops that keep no graph).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

import evsim

__all__ = [
    "NeuronParameters",
    "NeuronState",
    "StepRecord",
    "TimeRun",
    "SigmoidSurrogate",
    "SigmoidSurrogateSpike",
    "neuron_parameters",
    "integrate",
    "fire",
    "reset",
    "trace_step",
    "heaviside",
    "step",
    "run_over_time",
    "run_population",
]


class NeuronParameters(NamedTuple):
    """The per-step numbers of a neuron model (all dimensionless, per step of dt).

    decay_m: membrane decay 1 - 1/tau_m (1 for IF); decay_s: trace decay 1 - 1/tau_s (0 for IF);
    gain: the trace's input gain 1/tau_s (1 for IF); theta: threshold (membrane units);
    reset_to_zero: hard reset to 0 (True) or subtraction of theta (False).
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


def neuron_parameters(neuron) -> NeuronParameters:
    """The `NeuronParameters` of an evsim.IF or evsim.LIF record (ValueError for anything else)."""
    if not isinstance(neuron, (evsim.IF, evsim.LIF)):
        raise ValueError(f"neuron must be evsim.IF or evsim.LIF, got {neuron!r}")
    if neuron.threshold_test != ">=":  # the torch neuron and its kernels fire on >= (SPEC's default)
        raise ValueError(f"the torch neuron fires on U >= theta; {neuron!r} has the strict test '>': train or run "
                         "it with threshold_test='>=' (evsim's engines run either)")
    return NeuronParameters(
        float(neuron.decay_m), float(neuron.decay_s), float(neuron.input_gain), float(neuron.theta), neuron.reset == "zero"
    )


class NeuronState(NamedTuple):
    """A population's state between steps: u, the membrane after reset, and a, the synaptic trace; (B, ...)."""

    u: torch.Tensor
    a: torch.Tensor

    @classmethod
    def zeros(cls, like: torch.Tensor) -> NeuronState:
        """The state at rest (U = a = 0) in the shape, dtype and device of `like` (B, ...)."""
        return cls(torch.zeros_like(like), torch.zeros_like(like))


class StepRecord(NamedTuple):
    """What one step produces, (B, ...): a, the new trace; s, the spikes (0/1 in the dtype of U);
    u_pre, the membrane before reset (what surrogate and Temp-BP gradients are computed from)."""

    a: torch.Tensor
    s: torch.Tensor
    u_pre: torch.Tensor


# ------------------------------------------------------------------------------------ pieces


def integrate(u: torch.Tensor, current: torch.Tensor, p: NeuronParameters, bias=None, inplace: bool = False):
    """U = U * decay_m + I (+ b): the membrane before the threshold test. u, current: (B, ...)."""
    if inplace:
        u = u.mul_(p.decay_m).add_(current)
        return u if bias is None else u.add_(bias)
    u = u * p.decay_m + current
    return u if bias is None else u + bias


def fire(u: torch.Tensor, p) -> torch.Tensor:
    """Boolean spikes s = U >= theta, (B, ...). p: anything with `theta`."""
    return u >= p.theta


def reset(u: torch.Tensor, fired: torch.Tensor, p, inplace: bool = False) -> torch.Tensor:
    """The membrane after the spikes `fired` (bool): 0 where fired (hard reset) or U - theta.

    p: anything with `theta` and `reset_to_zero`. Subtraction is written U - s * theta with
    s = 0 or 1, so a non-spiking neuron keeps U exactly.
    """
    if p.reset_to_zero:
        return u.masked_fill_(fired, 0.0) if inplace else u.masked_fill(fired, 0.0)
    s = fired.to(u.dtype)
    return u.sub_(s * p.theta) if inplace else u - s * p.theta


def trace_step(a: torch.Tensor, s: torch.Tensor, p: NeuronParameters) -> torch.Tensor:
    """a = a * decay_s + s * gain (s: float 0/1 spikes of this step); for IF this is s itself."""
    if not p.has_trace:
        return s
    return a * p.decay_s + s * p.gain


# ------------------------------------------------------------------- spike rules (strategies)


def heaviside(u: torch.Tensor, p) -> tuple[torch.Tensor, torch.Tensor]:
    """Fire and reset without a gradient rule: (s, U after reset), s float 0/1 in U's dtype.

    The rule of the forward passes whose gradient an autograd Function writes by hand
    (`bridges.snn.ActBPPopulation`, `bridges.tempbp.TempBPNeuron`) and of inference.
    """
    fired = fire(u, p)
    return fired.to(u.dtype), reset(u, fired, p)


class SigmoidSurrogateSpike(torch.autograd.Function):
    """Heaviside(x) forward (x >= 0 spikes); rho * sigmoid'(rho x) backward (Act-BP, paper Eq. 17)."""

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


class SigmoidSurrogate(NamedTuple):
    """Fire and reset with Act-BP's surrogate gradient, for steps that autograd differentiates.

    Called as (s, U after reset) = rule(U, p). s = `SigmoidSurrogateSpike` of x = U - theta, or of
    (U - theta) / scale when `scale` is given (a fixed-point membrane in state units, so the
    surrogate sees the float model's units). The reset is written as products of s (exactly 0 or
    1), U (1 - s) or U - s theta, so autograd carries the gradient through it.
    """

    rho: float
    scale: float | None = None

    def __call__(self, u: torch.Tensor, p) -> tuple[torch.Tensor, torch.Tensor]:
        x = u - p.theta
        if self.scale is not None:
            x = x / self.scale
        s = SigmoidSurrogateSpike.apply(x, self.rho)
        return s, (u * (1 - s) if p.reset_to_zero else u - s * p.theta)


# ------------------------------------------------------------------------- the step and the loop


def step(
    p: NeuronParameters, state: NeuronState, current: torch.Tensor, spike: Callable = heaviside, bias=None
) -> tuple[NeuronState, StepRecord]:
    """One step of a population, pure (no tensor is modified): (new state, record).

    current: I[k] (B, ...), membrane units per step (already W a_prev); spike: `heaviside` or a
    `SigmoidSurrogate`; bias: constant current (B, ...) or None.
    """
    u_pre = integrate(state.u, current, p, bias)
    s, u = spike(u_pre, p)
    a = trace_step(state.a, s, p)
    return NeuronState(u, a), StepRecord(a, s, u_pre)


class TimeRun(NamedTuple):
    """What `run_over_time` returns: the step's outputs stacked over time, each (T, B, ...); the
    number of steps run (T, or fewer when `until` stopped the loop; later steps hold zeros); the
    state after the last step run."""

    outputs: tuple[torch.Tensor, ...]
    steps: int
    state: Any


def _buffer(drive: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """An empty (T, *like.shape) buffer of like's dtype: laid out as `drive` when it has drive's shape
    (as `empty_like`), so that the convolutions and BatchNorms fed by it, and their backward passes,
    reduce in the order they would over the drive itself; contiguous otherwise."""
    if like.shape == drive.shape[1:]:
        return torch.empty_like(drive, dtype=like.dtype, device=like.device)
    return like.new_empty((drive.shape[0], *like.shape))


def run_over_time(
    step_fn: Callable[[Any, torch.Tensor], tuple[Any, tuple[torch.Tensor, ...]]],
    state,
    drive: torch.Tensor,
    until: Callable[[Any], bool] | None = None,
) -> TimeRun:
    """The loop over time, for every torch neuron path: for k = 0 .. T-1, state, out = step_fn(state, drive[k]).

    step_fn(state, drive_k) -> (state, outputs): outputs a tuple of tensors (B, ...), the same
    shapes at every step. state: the state before step 0 (whatever step_fn keeps). drive: the
    per-step input, (T, B, ...). until(state) -> bool, checked after each step: stop there (the
    outputs of the steps not run are zeros). Returns `TimeRun` with outputs (T, B, ...).

    Outputs that carry an autograd graph are stacked (the graph stays whole); otherwise they are
    written into preallocated (T, B, ...) buffers, in the drive's memory layout where they have its
    shape. Either way the values are the step's own bits.
    """
    T = drive.shape[0]
    if T < 1:
        raise ValueError(f"need at least one time step, got drive of shape {tuple(drive.shape)}")
    buffers: list = []
    graph = False
    steps = T
    for k in range(T):
        state, outs = step_fn(state, drive[k])
        if k == 0:
            graph = torch.is_grad_enabled() and any(o.requires_grad for o in outs)
            buffers = [[] for _ in outs] if graph else [_buffer(drive, o) for o in outs]
        for buf, o in zip(buffers, outs):
            if graph:
                buf.append(o)
            else:
                buf[k] = o
        if until is not None and until(state):
            steps = k + 1
            break
    if graph:
        stacked = [torch.stack(buf) for buf in buffers]
        if steps < T:
            stacked = [torch.cat([s, s.new_zeros((T - steps, *s.shape[1:]))]) for s in stacked]
        return TimeRun(tuple(stacked), steps, state)
    for buf in buffers:
        buf[steps:] = 0
    return TimeRun(tuple(buffers), steps, state)


def run_population(
    current: torch.Tensor, p: NeuronParameters, spike: Callable = heaviside, record_membrane: bool = False
) -> tuple[torch.Tensor, ...]:
    """One population over all T steps from rest: (a, s) or, with record_membrane, (a, s, u_pre).

    current: I (T, B, ...) float, membrane units per step. a: the trace the next layer sees;
    s: spikes 0/1; u_pre: the membrane before reset; all (T, B, ...) in current's dtype.
    """

    def one(state: NeuronState, i: torch.Tensor):
        state, record = step(p, state, i, spike)
        return state, (record if record_membrane else record[:2])

    return run_over_time(one, NeuronState.zeros(current[0]), current).outputs


# ------------------------------------------------------------------------ deprecated names
_DEPRECATED = {
    "NeuronConstants": ("NeuronParameters", NeuronParameters),
    "constants": ("neuron_parameters", neuron_parameters),
}


def __getattr__(name: str):
    if name in _DEPRECATED:
        new, obj = _DEPRECATED[name]
        message = f"bridges.neuron.{name} is deprecated; use bridges.neuron.{new}"
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return obj
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
