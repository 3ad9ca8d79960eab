"""Temp-BP: the TSSL-BP training rule (Zhang & Li, NeurIPS 2020) for SPEC's LIF layer, in torch.

Paper Methods, Eq. 18-20, as adapted in the authors' code (see shared/notes/authors-code.md).
Time runs over the first axis: tensors are (T, B, ...) with steps k = 0 .. T-1 (dt = 1 step).

Forward (exactly SPEC "Neurons", LIF; hard reset, `>=` threshold), per step k, in the dtype of
the input current. The constants are computed in Python floats (float64) and then rounded once
to that dtype: decay_m = 1 - 1/tau_m, decay_s = 1 - 1/tau_s, gain = 1/tau_s, theta. Then::

    U = U * decay_m + I[k]           # one multiply, rounded; then one add, rounded (no FMA)
    s[k] = U >= theta
    U = 0 where s[k]                 # hard reset, U0 = 0
    a = a * decay_s + s[k] * gain    # multiply, multiply, add: each rounded in the dtype

with U and a starting at 0: the float step of `bridges.neuron` (`run_population`), the one loop
the Act-BP population runs too, so both rules see the same forward bits.

Backward: the gradient returned for I[k] equals dL/dU[k] (U[k] = decay_m U[k-1] + I[k] has
dU[k]/dI[k] = 1), built from G = dL/da by the authors' rule (module docstring of `TempBPNeuron`).
It is a training rule, not the true gradient of the spiking forward (which is zero almost
everywhere), so gradcheck does not apply.
"""

from __future__ import annotations

import math

import torch

import evsim

from . import neuron_kernels
from .neuron import neuron_parameters, run_population

__all__ = ["TempBPNeuron", "lif_tempbp", "require_tempbp_neuron", "FALLBACK_WIDTH", "DU_CLAMP", "kernel_sums"]

# Width of the sigmoid surrogate used where the trace is low: f(U) = d/dU sigmoid((U - theta)/0.2).
FALLBACK_WIDTH = 0.2
# dt/dU = -1/du is clamped to [-DU_CLAMP, 0]: a spike reached by a tiny membrane change would
# otherwise get an unbounded timing gradient.
DU_CLAMP = 8.0
# The surrogate's argument (theta - U)/0.2 is clipped to +-8 (as in the reference code) so that
# exp() cannot overflow in float32.
_FALLBACK_CLIP = 8.0
_DTYPES = (torch.float32, torch.float64)


def _check_params(tau_m, tau_s, theta) -> None:
    for name, value in (("tau_m", tau_m), ("tau_s", tau_s), ("theta", theta)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if tau_m < 1 or tau_s < 1:
        raise ValueError(f"tau_m and tau_s must be >= 1 step, got tau_m={tau_m!r}, tau_s={tau_s!r}")
    if theta <= 0:
        # theta > 0 guarantees du > 0 at every spike (U rose from below theta), so dt/dU < 0.
        raise ValueError(f"theta must be > 0, got {theta!r}")


def _check_current(current) -> None:
    if not isinstance(current, torch.Tensor):
        raise ValueError(f"current must be a torch.Tensor, got {type(current).__name__}")
    if current.dtype not in _DTYPES:
        raise ValueError(f"current must be float32 or float64, got {current.dtype}")
    if current.ndim < 2:
        raise ValueError(f"current must be (T, B, ...) with ndim >= 2, got shape {tuple(current.shape)}")


def require_tempbp_neuron(neuron) -> None:
    """ValueError unless `neuron` is what Temp-BP trains: an evsim.LIF with the hard reset to 0
    (the spike-time rule needs the synaptic trace and U0 = 0 after a spike)."""
    if isinstance(neuron, evsim.IF):
        raise ValueError("Temp-BP needs evsim.LIF neurons (SPEC): an evsim.IF neuron has no synaptic trace")
    if not isinstance(neuron, evsim.LIF):
        raise ValueError(f"Temp-BP needs an evsim.LIF neuron, got {type(neuron).__name__}")
    if neuron.reset != "zero":
        raise ValueError(f"Temp-BP needs the hard reset to 0 (reset='zero'), got reset={neuron.reset!r}")


def kernel_sums(grad_a: torch.Tensor, tau_s: float) -> torch.Tensor:
    """H[k] = sum_{j>=0, k+j<T} kappa[j] G[k+j], kappa[j] = (1-1/tau_s)^j / tau_s, in O(T).

    The PSP kernel kappa is geometric, so H obeys H[k] = kappa[0] G[k] + (1-1/tau_s) H[k+1]
    (H[T] = 0): one reverse pass instead of the reference's O(T^2) windowed sums.
    grad_a: (T, B, ...). Returns (T, B, ...) in the same dtype.
    """
    gain, decay_s = 1.0 / tau_s, 1.0 - 1.0 / tau_s
    out = torch.empty_like(grad_a)
    h = torch.zeros_like(grad_a[0])
    for k in range(grad_a.shape[0] - 1, -1, -1):
        h = grad_a[k] * gain + h * decay_s
        out[k] = h
    return out


class TempBPNeuron(torch.autograd.Function):
    """A LIF layer (SPEC) whose backward is the Temp-BP (TSSL-BP) rule.

    `TempBPNeuron.apply(current, tau_m, tau_s, theta) -> (a, s)`

    current: (T, B, ...) float32/float64 synaptic input I[k] = W a_prev[k] (membrane units/step).
    tau_m, tau_s: time constants in steps (>= 1); theta: threshold (> 0).
    Returns a, the postsynaptic trace the next layer sees, and s, the 0/1 spikes (not
    differentiable); both (T, B, ...) in the dtype of `current`. Forward arithmetic: see the
    module docstring.

    Backward, k from T-1 down to 0, all neurons at once (G = dL/da, U[k] the membrane before
    reset, du[k] = U[k] - U_after_reset[k-1] the membrane change at step k, H = `kernel_sums`):

    - timing slope (Bohte's linearisation, paper Eq. 19): dt/dU = -1/(dU/dt) = -1/du; only a
      step that spiked has a spike time, so d_u[k] = clamp(-1/du[k], -8, 0) * s[k]. At a spike
      du > 0 (U came from below theta > 0), so d_u < 0: more membrane means an earlier spike.
    - inter-neuron term (Eq. 19): g = -d_u * H[k]. The reference takes da[k+j]/dt_k = -kappa[j]
      (a later spike lowers the trace that follows it), so dL/dU = sum_j G[k+j] (-kappa[j]) d_u,
      i.e. H[k]/du[k] > 0 for H > 0: raising U pulls the spike earlier and raises the trace.
    - intra-neuron term (Eq. 20 plus leak), carried term c (starts at 0):
      g += c * U[k] * (-1/tau_m) * d_u + c * (1 - 1/tau_m) * (1 - s[k]);
      c <- g * s[k] + c * (1 - s[k]) * (1 - 1/tau_m).
      At a spike t_m, c holds dL/dU at the next spike t_p decayed to t_m+1, and the first term is
      dL/dU[t_p] dU[t_p]/dt_m dt_m/dU[t_m] (Eq. 20). At a silent step the second term is plain
      BPTT through the leak, dL/dU[t_p] (1-1/tau_m)^(t_p-k): it is in the authors' code (and
      TSSL-BP's), not in Eq. 18-20. At k = T-1, c = 0, so both terms vanish there.
    - fallback: where a[k] < 1/(4 tau_s) (the neuron has not fired recently, so no spike time
      carries the gradient) g is replaced by H[k] * f(U[k]), with the same kernel kappa and
      f(U) = sigma'(z) / 0.2, z = clip((theta - U)/0.2, -8, 8), i.e. the derivative of
      sigmoid((U - theta)/0.2) with respect to U (peak 1/(4*0.2) = 1.25 at U = theta).
      The carried term c uses g before this replacement, as in the reference.

    Returns dL/dI = g (dU[k]/dI[k] = 1) and None for tau_m, tau_s, theta.
    """

    @staticmethod
    def forward(ctx, current, tau_m, tau_s, theta):
        _check_current(current)
        _check_params(tau_m, tau_s, theta)
        # the SPEC step of `bridges.neuron` (parameters rounded once to the working dtype)
        p = neuron_parameters(evsim.LIF(tau_m, tau_s, theta, reset="zero"))
        trace, spikes, u_pre = run_population(current, p, record_membrane=True)
        # du[k] = U[k] - U_after_reset[k-1] (U = 0 before step 0): the subtraction the loop would do
        after_reset = u_pre.masked_fill(spikes.bool(), 0.0)
        du = u_pre - torch.cat([torch.zeros_like(after_reset[:1]), after_reset[:-1]])
        ctx.save_for_backward(u_pre, du, spikes, trace)
        ctx.params = (float(tau_m), float(tau_s), float(theta))
        ctx.mark_non_differentiable(spikes)
        return trace, spikes

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_a, grad_s):
        u_pre, du, spikes, trace = ctx.saved_tensors
        tau_m, tau_s, theta = ctx.params
        decay_m = 1.0 - 1.0 / tau_m
        low_trace = 1.0 / (4.0 * tau_s)
        H = kernel_sums(grad_a, tau_s)

        grad = torch.empty_like(grad_a)
        carried = torch.zeros_like(grad_a[0])
        for k in range(grad_a.shape[0] - 1, -1, -1):
            s = spikes[k]
            # -1/du is -inf for du = +0 and is clamped to -8; times s = 0 it is 0, never NaN.
            d_u = torch.clamp(-1.0 / du[k], -DU_CLAMP, 0.0) * s
            g = -d_u * H[k]
            g = g + carried * u_pre[k] * (-1.0 / tau_m) * d_u + carried * decay_m * (1.0 - s)
            carried = g * s + carried * (1.0 - s) * decay_m
            z = torch.clamp((theta - u_pre[k]) / FALLBACK_WIDTH, -_FALLBACK_CLIP, _FALLBACK_CLIP)
            f = torch.sigmoid(z) * torch.sigmoid(-z) / FALLBACK_WIDTH  # sigma'(z) / 0.2
            grad[k] = torch.where(trace[k] < low_trace, H[k] * f, g)
        return grad, None, None, None


def lif_tempbp(current: torch.Tensor, neuron) -> tuple[torch.Tensor, torch.Tensor]:
    """`TempBPNeuron` with the parameters of an `evsim.LIF` record (hard reset only).

    current: (T, B, ...) float32/float64. Returns (a, s), both (T, B, ...). On the CPU (where
    `bridges.neuron_kernels.use_kernels(current)`) the compiled `FusedTempBP` runs it, with the
    same bits forward and backward; elsewhere (CUDA) `TempBPNeuron`'s torch loop.
    """
    require_tempbp_neuron(neuron)
    if not neuron_kernels.use_kernels(current):
        return TempBPNeuron.apply(current, neuron.tau_m, neuron.tau_s, neuron.theta)
    if torch.is_grad_enabled() and current.requires_grad:
        return neuron_kernels.FusedTempBP.apply(current, neuron.tau_m, neuron.tau_s, neuron.theta)
    with torch.no_grad():  # no graph: the plain forward, without the membrane the backward needs
        return neuron_kernels.population_forward(current, neuron_parameters(neuron))[:2]
