"""Compiled training kernels for the SPEC neuron over all T steps (CPU, Numba).

The torch paths (`bridges.snn.ActBPPopulation`, `bridges.tempbp.TempBPNeuron`) run a population
as a Python loop over T of small eager torch ops, in the forward and (Temp-BP) in the backward.
Here each of those loops is one Numba kernel that runs every neuron's T steps in registers,
parallel over the flattened B x N neurons, on (T, M) views (M = B x N) of the tensors' storage
in memory order, float32 or float64. The arithmetic is the torch path's, expression by
expression and in the same order (SPEC "Neurons", `bridges.neuron`), so spikes, traces and
membranes come out bit-identical:

    U = U * decay_m + I[k];  s = U >= theta;  U = 0 where s | U - theta s;  a = a * decay_s + s * gain

Numba compiles these without `fastmath`, so LLVM keeps each multiply and add rounded on its own
(no FMA contraction) and vectorises over neurons without reassociating. Every constant is
rounded once to the working dtype in the wrapper, as torch rounds a Python scalar: a float32
kernel never touches a float64 number. Each neuron's steps depend only on its own input, so the
results do not depend on the thread count (Numba's, `numba.set_num_threads`; set it beside
torch's).

Memory layouts. A tensor qualifies (`supports`) when it is dense and non-overlapping with its
time axis outermost (stride[0] == numel / T), its other axes in any order: a contiguous MLP
current, or a ResNet's channels-last conv current (T, B, C, H, W). The kernels walk it in memory
order; outputs are `torch.empty_like` the current (its strides, as the torch loop's buffers),
incoming gradients are brought to the current's layout where autograd hands another (a copy),
and dL/dI leaves in the layout the torch path gives it (`torch.empty_like(dL/da)`), so the
BatchNorms, means and conv backward passes downstream see the same strides and reduce in the
same order on both paths: whole networks train to the same bits (tests/test_neuron_kernels.py).

Dispatch: `bridges.snn.spiking_layer` (rules "actbp" and "none") and `bridges.tempbp.lif_tempbp`
call these kernels where `use_kernels(current)` (enabled and supported) and keep the torch loop
elsewhere (CUDA, other dtypes, strided views): that loop is the reference and the GPU path.
`with disabled():` forces the torch loop, for tests and benchmarks that compare the two.

Loop-shaped interface (tensors (T, B, ...), CPU, float32/float64, one layout as above):

- `population_forward(current, c, keep_membrane, keep_change) -> (a, s, u_pre, du)`: no graph.
- `actbp_backward(grad_a, grad_s, u_pre, c, rho) -> dL/dI`: `ActBPPopulation.backward`'s recursion.
- `tempbp_backward(grad_a, u_pre, du, s, a, tau_m, tau_s, theta) -> dL/dI`: `TempBPNeuron.backward`.
- `FusedActBP.apply(current, c, rho) -> (a, s)` and `FusedTempBP.apply(current, tau_m, tau_s,
  theta) -> (a, s)`: the autograd nodes, drop-in for `ActBPPopulation` / `TempBPNeuron`.
- `supports(tensor)`, `use_kernels(tensor)`, `disabled()`, `enabled()`: see above. The kernels
  raise ValueError for a tensor that `supports` rejects (CUDA, float16, a strided view).

`c` is any object with the fields of `bridges.neuron.NeuronParameters` (decay_m, decay_s, gain,
theta, reset_to_zero, has_trace); this module imports nothing from the other bridges modules,
so `bridges.snn` and `bridges.tempbp` dispatch here without an import cycle (the micro-benchmark
against their torch loops is `python -m scenarios.bench.kernel_micro`).

The surrogates' sigmoids (Act-BP's sigmoid(rho (U - theta)), Temp-BP's sigmoid(+-z)) are taken
by torch, in one buffer each, on the same slices as the torch path (Act-BP: the whole (T, B, ...)
tensor; Temp-BP: one step at a time), and the recursion forms the slopes from them with the torch
path's expressions. Torch's vectorised exp is faster than a scalar exp per neuron, and its vector
lanes and scalar tail may round exp differently, so only the same slices give the same bits:
both gradients are then the torch path's to the bit.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit, prange

__all__ = [
    "FusedActBP",
    "FusedTempBP",
    "precompile",
    "population_forward",
    "actbp_backward",
    "tempbp_backward",
    "supports",
    "use_kernels",
    "disabled",
    "enabled",
]

_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
# neurons per block: the block's membrane and trace stay in L1 and its inner loop vectorises
_BLOCK = 256
# Temp-BP's constants, as in `bridges.tempbp` (FALLBACK_WIDTH, DU_CLAMP, the +-8 clip of z)
_FALLBACK_WIDTH = 0.2
_DU_CLAMP = 8.0
_FALLBACK_CLIP = 8.0


# ---------------------------------------------------------------------------------------------
# kernels: plain (T, M) arrays, constants already in the arrays' dtype
# ---------------------------------------------------------------------------------------------


@njit(cache=True, parallel=True, nogil=True)
def _forward_kernel(current, decay_m, decay_s, gain, theta, zero, one, reset_to_zero, has_trace,
                    keep_membrane, keep_change, traces, spikes, u_pre, du):
    """All T steps of M neurons. current, traces, spikes: (T, M); u_pre, du: (T, M) where kept
    (the membrane before reset, and its change U[k] - U_after_reset[k-1]), else unused.

    A block of neurons at a time, its state in L1; each step is a few branch-free passes over
    the block (the flags are tested once per pass, not per neuron), which LLVM vectorises."""
    T, M = current.shape
    for b in prange((M + _BLOCK - 1) // _BLOCK):
        lo = b * _BLOCK
        hi = min(lo + _BLOCK, M)
        n = hi - lo
        u = np.zeros(n, current.dtype)  # membrane after reset
        a = np.zeros(n, current.dtype)  # trace
        v = np.empty(n, current.dtype)  # membrane before reset
        for k in range(T):
            cur, sp, tr = current[k, lo:hi], spikes[k, lo:hi], traces[k, lo:hi]
            for j in range(n):
                v[j] = u[j] * decay_m + cur[j]
            if keep_change:
                d = du[k, lo:hi]
                for j in range(n):
                    d[j] = v[j] - u[j]
            if keep_membrane:
                up = u_pre[k, lo:hi]
                for j in range(n):
                    up[j] = v[j]
            for j in range(n):
                sp[j] = one if v[j] >= theta else zero
            if reset_to_zero:
                for j in range(n):
                    u[j] = zero if v[j] >= theta else v[j]
            else:
                for j in range(n):
                    u[j] = v[j] - sp[j] * theta
            if has_trace:
                for j in range(n):
                    a[j] = a[j] * decay_s + sp[j] * gain
                    tr[j] = a[j]
            else:
                for j in range(n):
                    tr[j] = sp[j]


@njit(cache=True, parallel=True, nogil=True)
def _actbp_backward_kernel(grad_a, grad_s, u_pre, sig, rho, decay_m, decay_s, gain, theta, zero, one,
                           reset_to_zero, has_trace, has_grad_a, has_grad_s, grad):
    """Act-BP's reverse-time BPTT (`ActBPPopulation.backward`), all (T, M); writes grad = dL/dI.

    sig: sigmoid(rho (U - theta)); the surrogate slope is sig (1 - sig) rho, as in the torch path.
    grad may be sig itself (each element is read before it is written). Without grad_a or
    grad_s (has_grad_* False: an output the loss does not use) that term is a literal zero,
    added as the torch path adds autograd's materialised zeros (the same bits, -0 included).
    Branch-free passes over an L1-resident block, as the forward.
    """
    T, M = u_pre.shape
    for b in prange((M + _BLOCK - 1) // _BLOCK):
        lo = b * _BLOCK
        hi = min(lo + _BLOCK, M)
        n = hi - lo
        g_a = np.zeros(n, u_pre.dtype)  # dL/da[k] carried back through the trace
        g_r = np.zeros(n, u_pre.dtype)  # dL/d(membrane after reset at k), from step k+1
        g_s = np.zeros(n, u_pre.dtype)  # dL/ds[k], all paths
        for k in range(T - 1, -1, -1):
            v, sg, out = u_pre[k, lo:hi], sig[k, lo:hi], grad[k, lo:hi]
            if has_trace:
                if has_grad_a:
                    ga = grad_a[k, lo:hi]
                    for j in range(n):
                        g_a[j] = ga[j] + g_a[j] * decay_s
                else:
                    for j in range(n):
                        g_a[j] = zero + g_a[j] * decay_s
                for j in range(n):
                    g_s[j] = g_a[j] * gain
            elif has_grad_a:
                ga = grad_a[k, lo:hi]
                for j in range(n):
                    g_s[j] = ga[j]
            else:
                for j in range(n):
                    g_s[j] = zero
            # dL/ds[k] + (the trace's or dL/da's part): the torch path's grad_s[k] + (...)
            if has_grad_s:
                gs = grad_s[k, lo:hi]
                for j in range(n):
                    g_s[j] = gs[j] + g_s[j]
            else:
                for j in range(n):
                    g_s[j] = zero + g_s[j]
            if reset_to_zero:
                for j in range(n):
                    slope = sg[j] * (one - sg[j]) * rho
                    keep = zero if v[j] >= theta else one
                    g_u = (g_s[j] + g_r[j] * (-v[j])) * slope + g_r[j] * keep
                    out[j] = g_u
                    g_r[j] = g_u * decay_m
            else:
                for j in range(n):
                    slope = sg[j] * (one - sg[j]) * rho
                    g_u = (g_s[j] - g_r[j] * theta) * slope + g_r[j]
                    out[j] = g_u
                    g_r[j] = g_u * decay_m


@njit(cache=True, parallel=True, nogil=True)
def _tempbp_backward_kernel(grad_a, u_pre, du, spikes, traces, sig_z, sig_minus_z, decay_m, leak_slope,
                            decay_s, gain, low_trace, du_clamp, width, zero, one, grad):
    """Temp-BP's rule (`TempBPNeuron.backward`) with the O(T) kernel sum H, all (T, M).

    leak_slope = -1/tau_m; sig_z, sig_minus_z: sigmoid(+-z) of the fallback surrogate
    sig(z) sig(-z) / width; writes grad = dL/dI (which may be sig_z: read before written).
    """
    T, M = grad_a.shape
    for b in prange((M + _BLOCK - 1) // _BLOCK):
        lo = b * _BLOCK
        n = min(_BLOCK, M - lo)
        h = np.zeros(n, grad_a.dtype)  # H[k] = sum_j kappa[j] G[k+j]
        carried = np.zeros(n, grad_a.dtype)
        for k in range(T - 1, -1, -1):
            for j in range(n):
                i = lo + j
                hk = grad_a[k, i] * gain + h[j] * decay_s
                h[j] = hk
                s = spikes[k, i]
                d_u = -(one / du[k, i])  # torch's -1.0/du is reciprocal(du) * -1.0: the same number
                if d_u < -du_clamp:
                    d_u = -du_clamp
                if d_u > zero:
                    d_u = zero
                d_u = d_u * s
                c = carried[j]
                g = (-d_u) * hk
                g = (g + c * u_pre[k, i] * leak_slope * d_u) + c * decay_m * (one - s)
                carried[j] = g * s + c * (one - s) * decay_m
                if traces[k, i] < low_trace:
                    grad[k, i] = hk * (sig_z[k, i] * sig_minus_z[k, i] / width)
                else:
                    grad[k, i] = g


# ---------------------------------------------------------------------------------------------
# wrappers: validate, flatten to (T, M) views, round the constants to the dtype
# ---------------------------------------------------------------------------------------------


def _memory_order(tensor: torch.Tensor) -> tuple[int, ...] | None:
    """The axis order, time first, in which `tensor` lies C-contiguous in memory, or None.

    The axes after time are sorted by decreasing stride (size-1 axes may go anywhere: their
    stride is never used). A channels-last conv current (T, B, C, H, W) gives (0, 1, 3, 4, 2).
    None where no such order exists: overlapping or expanded axes, gaps, or a time axis that is
    not outermost (stride[0] != numel / T)."""
    if tensor.ndim < 2:
        return None
    strides = tensor.stride()
    order = (0, *sorted(range(1, tensor.ndim), key=lambda d: -strides[d]))
    return order if tensor.permute(order).is_contiguous() else None


def supports(tensor: torch.Tensor) -> bool:
    """True where these kernels run: a CPU float32/float64 tensor (T, B, ...), T >= 1, dense and
    non-overlapping with its time axis outermost (any order of the other axes: a contiguous or
    a channels-last current). Elsewhere (CUDA, other dtypes, strided views) the caller keeps
    the torch loop."""
    return (
        isinstance(tensor, torch.Tensor)
        and tensor.device.type == "cpu"
        and tensor.dtype in _DTYPES
        and tensor.ndim >= 2
        and tensor.shape[0] >= 1
        and _memory_order(tensor) is not None
    )


def disabled():
    """Context manager: inside it, `use_kernels` is False, so `bridges.snn.spiking_layer` and
    `bridges.tempbp.lif_tempbp` run the torch loops (the reference) everywhere; for tests and
    benchmarks that compare both paths. Nests; not thread-local."""
    return _Disabled()


class _Disabled:
    def __enter__(self):
        global _DISABLED
        _DISABLED += 1
        return self

    def __exit__(self, *exc):
        global _DISABLED
        _DISABLED -= 1
        return False


_DISABLED = 0  # nesting depth of `disabled()`


def enabled() -> bool:
    """False inside `disabled()`."""
    return _DISABLED == 0


def use_kernels(tensor: torch.Tensor) -> bool:
    """The dispatchers' test: the kernels are enabled and `supports(tensor)`."""
    return _DISABLED == 0 and supports(tensor)


def _check(name: str, tensor, like: torch.Tensor | None = None, order: tuple[int, ...] | None = None,
           layout: bool = True):
    """ValueError unless `tensor` is a kernel operand; returns its memory order (None if not
    `layout`: then only type, device, dtype and shape are checked). With `like` (and like's
    `order`), it must also match like's shape, dtype and memory layout."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.device.type != "cpu":
        raise ValueError(
            f"{name} is on {tensor.device}: the fused neuron kernels run on the CPU only; "
            "on CUDA use the torch loop (bridges.snn.ActBPPopulation, bridges.tempbp.TempBPNeuron)"
        )
    if tensor.dtype not in _DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {tensor.dtype}")
    if tensor.ndim < 2 or tensor.shape[0] < 1:
        raise ValueError(f"{name} must be (T, B, ...) with T >= 1, got shape {tuple(tensor.shape)}")
    if like is not None and (tensor.shape != like.shape or tensor.dtype != like.dtype):
        raise ValueError(
            f"{name} must match the current: shape {tuple(like.shape)} {like.dtype}, "
            f"got {tuple(tensor.shape)} {tensor.dtype}"
        )
    if not layout:
        return None
    if order is not None:
        if not tensor.permute(order).is_contiguous():
            raise ValueError(
                f"{name} must have the current's memory layout: strides {like.stride()}, got {tensor.stride()}"
            )
        return order
    found = _memory_order(tensor)
    if found is None:
        raise ValueError(
            f"{name} must be dense with its time axis outermost, contiguous in some order of the other "
            f"axes (stride[0] == numel / T); got shape {tuple(tensor.shape)}, strides {tensor.stride()}"
        )
    return found


def _flat(tensor: torch.Tensor, order: tuple[int, ...]) -> np.ndarray:
    """The (T, M) NumPy view, in memory order, of a CPU tensor that lies contiguous in `order` (no copy)."""
    return tensor.detach().permute(order).view(tensor.shape[0], -1).numpy()


def _check_constants(c) -> None:
    for field in ("decay_m", "decay_s", "gain", "theta", "reset_to_zero", "has_trace"):
        if not hasattr(c, field):
            raise ValueError(f"neuron constants must have a {field!r} field (bridges.neuron.NeuronParameters), got {c!r}")
    for field in ("decay_m", "decay_s", "gain", "theta"):
        if not math.isfinite(getattr(c, field)):
            raise ValueError(f"neuron constant {field} must be finite, got {getattr(c, field)!r}")


def population_forward(current: torch.Tensor, c, keep_membrane: bool = False, keep_change: bool = False):
    """One population over T steps, no graph.

    current: (T, B, ...) input I[k] (membrane units per step), dense with time outermost
    (`supports`); c: the neuron's constants. Returns (a, s, u_pre, du), each (T, B, ...) in
    current's dtype and memory layout (`torch.empty_like`, as the torch loop's buffers): the
    trace (a copy of s for IF), the 0/1 spikes, the membrane before reset (None unless
    keep_membrane) and its change U[k] - U_after_reset[k-1] (None unless keep_change).
    """
    order = _check("current", current)
    _check_constants(c)
    dt = _DTYPES[current.dtype]
    spikes = torch.empty_like(current)
    traces = torch.empty_like(current)
    u_pre = torch.empty_like(current) if keep_membrane else None
    du = torch.empty_like(current) if keep_change else None
    unused = np.zeros((0, 0), dt)
    _forward_kernel(
        _flat(current, order), dt(c.decay_m), dt(c.decay_s), dt(c.gain), dt(c.theta), dt(0.0), dt(1.0),
        bool(c.reset_to_zero), bool(c.has_trace), keep_membrane, keep_change,
        _flat(traces, order), _flat(spikes, order),
        _flat(u_pre, order) if keep_membrane else unused, _flat(du, order) if keep_change else unused,
    )
    return traces, spikes, u_pre, du


def _grad(name: str, grad, like: torch.Tensor, order: tuple[int, ...]):
    """An incoming gradient in like's memory layout: as it is where it has that layout, else
    copied into `torch.empty_like(like)` (autograd may hand expanded or differently strided
    gradients); None stays None (an output the loss does not use: the kernels add zeros)."""
    if grad is None:
        return None
    _check(name, grad, like, layout=False)
    if grad.permute(order).is_contiguous():
        return grad
    return torch.empty_like(like).copy_(grad)


def _layout_of_torch_path(grad: torch.Tensor, grad_a) -> torch.Tensor:
    """dL/dI in the layout the torch path returns it, `torch.empty_like(grad_a)` (the same bits,
    copied only where the layouts differ), so that the conv and BatchNorm backward passes it
    feeds reduce in the same order on both paths. grad_a None stands for the zeros autograd
    materialises for the torch path, which are contiguous."""
    if grad_a is None:
        return grad if grad.is_contiguous() else grad.contiguous()
    target = torch.empty_like(grad_a)
    return grad if target.stride() == grad.stride() else target.copy_(grad)


def actbp_backward(grad_a, grad_s, u_pre: torch.Tensor, c, rho: float) -> torch.Tensor:
    """dL/dI (T, B, ...) of an Act-BP population from dL/da, dL/ds (either may be None: zeros)
    and the saved membrane U[k] before reset (all (T, B, ...)): the reverse-time BPTT of
    `bridges.snn.ActBPPopulation`, through membrane, reset and trace, with the surrogate slope
    rho sig'(rho (U - theta)). The result has the layout of `torch.empty_like(grad_a)`, as there."""
    order = _check("u_pre", u_pre)
    _check_constants(c)
    g_a, g_s = _grad("grad_a", grad_a, u_pre, order), _grad("grad_s", grad_s, u_pre, order)
    dt = _DTYPES[u_pre.dtype]
    unused = np.zeros((0, 0), dt)
    # the torch path's sigmoid((U - theta) rho) on the whole tensor (in place: one buffer, in
    # u_pre's layout, so that torch's vector lanes cover the same elements as there)
    sig = (u_pre - c.theta).mul_(rho).sigmoid_()
    grad = sig  # each element of sig is read before its dL/dI overwrites it: one buffer fewer
    _actbp_backward_kernel(
        unused if g_a is None else _flat(g_a, order), unused if g_s is None else _flat(g_s, order),
        _flat(u_pre, order), _flat(sig, order), dt(rho),
        dt(c.decay_m), dt(c.decay_s), dt(c.gain), dt(c.theta), dt(0.0), dt(1.0),
        bool(c.reset_to_zero), bool(c.has_trace), g_a is not None, g_s is not None, _flat(grad, order),
    )
    return _layout_of_torch_path(grad, grad_a)


def _check_tempbp_params(tau_m, tau_s, theta) -> None:
    for name, value in (("tau_m", tau_m), ("tau_s", tau_s), ("theta", theta)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if tau_m < 1 or tau_s < 1:
        raise ValueError(f"tau_m and tau_s must be >= 1 step, got tau_m={tau_m!r}, tau_s={tau_s!r}")
    if theta <= 0:
        raise ValueError(f"theta must be > 0, got {theta!r}")


class _TempBPConstants:
    """The NeuronParameters of Temp-BP's LIF, computed as `TempBPNeuron.forward` does."""

    def __init__(self, tau_m, tau_s, theta):
        self.decay_m, self.decay_s, self.gain = 1.0 - 1.0 / tau_m, 1.0 - 1.0 / tau_s, 1.0 / tau_s
        self.theta, self.reset_to_zero, self.has_trace = float(theta), True, True


def tempbp_backward(grad_a, u_pre, du, spikes, traces, tau_m: float, tau_s: float, theta: float) -> torch.Tensor:
    """dL/dI (T, B, ...) by the Temp-BP rule of `bridges.tempbp.TempBPNeuron` from dL/da and the
    forward's membrane before reset, membrane change, spikes and trace (all (T, B, ...), in one
    memory layout); the kernel sums H[k] = sum_j kappa[j] G[k+j] run in the same reverse pass
    (O(T)). The result has the layout of `torch.empty_like(grad_a)`, as there."""
    order = _check("u_pre", u_pre)
    for name, t in (("du", du), ("spikes", spikes), ("traces", traces)):
        _check(name, t, u_pre, order)
    _check_tempbp_params(tau_m, tau_s, theta)
    g_a = _grad("grad_a", grad_a, u_pre, order)
    if g_a is None:  # the trace unused: autograd's zeros, as the torch path sees them
        g_a = torch.zeros_like(u_pre)
    dt = _DTYPES[u_pre.dtype]
    # the torch path's fallback surrogate: its exact ops on the whole tensor, but the sigmoids one
    # step at a time, as there (torch's vector lanes and scalar tail may round exp differently,
    # so the same (B, ...) slices, in the same layout, give the same bits)
    z = (theta - u_pre).div_(_FALLBACK_WIDTH).clamp_(-_FALLBACK_CLIP, _FALLBACK_CLIP)
    sig_minus_z = -z
    for k in range(z.shape[0]):
        sig_minus_z[k].sigmoid_()
        z[k].sigmoid_()
    grad = z  # each sigmoid(z) is read before its dL/dI overwrites it: one buffer fewer
    _tempbp_backward_kernel(
        _flat(g_a, order), _flat(u_pre, order), _flat(du, order), _flat(spikes, order), _flat(traces, order),
        _flat(z, order), _flat(sig_minus_z, order),
        dt(1.0 - 1.0 / tau_m), dt(-1.0 / tau_m), dt(1.0 - 1.0 / tau_s), dt(1.0 / tau_s),
        dt(1.0 / (4.0 * tau_s)), dt(_DU_CLAMP), dt(_FALLBACK_WIDTH), dt(0.0), dt(1.0), _flat(grad, order),
    )
    return _layout_of_torch_path(grad, grad_a)


class FusedActBP(torch.autograd.Function):
    """`FusedActBP.apply(current, c, rho) -> (a, s)`: `bridges.snn.ActBPPopulation` on the
    compiled kernels. current: (T, B, ...) CPU float32/float64 (`supports`); c: NeuronParameters;
    rho: surrogate sharpness. Saves U[k] before reset (T, B, ...); both outputs carry gradients."""

    @staticmethod
    def forward(ctx, current, c, rho):
        traces, spikes, u_pre, _ = population_forward(current, c, keep_membrane=True)
        ctx.set_materialize_grads(False)  # an unused output's zeros are not built (the kernel adds 0)
        ctx.save_for_backward(u_pre)
        ctx.c, ctx.rho = c, float(rho)
        return traces, spikes

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_a, grad_s):
        (u_pre,) = ctx.saved_tensors
        return actbp_backward(grad_a, grad_s, u_pre, ctx.c, ctx.rho), None, None


class FusedTempBP(torch.autograd.Function):
    """`FusedTempBP.apply(current, tau_m, tau_s, theta) -> (a, s)`: `bridges.tempbp.TempBPNeuron`
    (LIF, hard reset) on the compiled kernels; s is not differentiable, a carries the Temp-BP
    gradient. current: (T, B, ...) CPU float32/float64 (`supports`)."""

    @staticmethod
    def forward(ctx, current, tau_m, tau_s, theta):
        _check_tempbp_params(tau_m, tau_s, theta)
        traces, spikes, u_pre, du = population_forward(
            current, _TempBPConstants(tau_m, tau_s, theta), keep_membrane=True, keep_change=True
        )
        ctx.set_materialize_grads(False)  # the spikes' gradient is never used: not built
        ctx.save_for_backward(u_pre, du, spikes, traces)
        ctx.params = (float(tau_m), float(tau_s), float(theta))
        ctx.mark_non_differentiable(spikes)
        return traces, spikes

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_a, grad_s):
        u_pre, du, spikes, traces = ctx.saved_tensors
        return tempbp_backward(grad_a, u_pre, du, spikes, traces, *ctx.params), None, None, None


def precompile() -> None:
    """Compile (or load from Numba's cache) the kernels for float32 and float64, Act-BP and Temp-BP,
    forward and backward, on tiny tensors. Numba specialises on types, not values, so one neuron
    covers every neuron (the reset and trace flags are arguments). Run it once before starting
    several processes that train (test workers, a pool): else each compiles them.

        python -m bridges.neuron_kernels
    """
    lif = _TempBPConstants(2.0, 2.0, 1.0)  # the fields of NeuronParameters
    for dtype in (torch.float32, torch.float64):
        current = torch.full((2, 1, 3), 0.6, dtype=dtype, requires_grad=True)
        a, s = FusedActBP.apply(current, lif, 5.0)
        torch.autograd.backward((a, s), (torch.ones_like(a), torch.ones_like(s)))
        a, _ = FusedTempBP.apply(current, 2.0, 2.0, 1.0)
        a.sum().backward()
        population_forward(current.detach(), lif)


if __name__ == "__main__":
    precompile()
