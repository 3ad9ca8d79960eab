"""ANNs whose activation is the LIF's own response: a start that works as an SNN (the LIF analogue of QCFS).

A ReLU ANN's weights do not give a working SNN (`bridges.resnet.init_from_ann`): with the CIFAR-10
LIF (tau_m = tau_s = 2, theta 1, T = 10, hard reset) the membrane halves every step, so under a
constant current I the neuron fires 0 / 1 / 2 / 3 / 5 / 10 times for I below 0.50 / 0.50 / 0.52 /
0.57 / 0.67 / 1.0: a coarse staircase, not the ReLU the weights were trained for. Here the ANN
is trained with that staircase as its activation, computed exactly, so its weights copy to the SNN
with little loss.

- `lif_response(z, neuron, T)`: the mean over the T steps of the synaptic trace a[k] that a
  population at rest produces when driven by the constant current z (elementwise; SPEC's step, the
  same float operations in the same order as `bridges.neuron.step`). The next layer's current is
  W a[k] + b, so its mean over time is W lif_response + b: this is the activation value whose
  linear image the next layer's mean current is. `lif_count` (spikes in T steps) and `lif_ttfs`
  (the TTFS decoder's omega, T - first spike step, 0 if silent) are the outputs' responses.
- `LIFActivation`: that forward with a straight-through gradient, the clipped-linear slope
  f_max / theta on 0 < z < theta (`ste="clip"`; f_max: the response to theta, where the neuron
  fires every step) or on z > 0 (`ste="relu"`).
- `LIFResNetANN`: `bridges.resnet.ResNetANN` (same modules, so `init_from_ann` copies it) with the
  LIF response in place of every ReLU. Its stem (`stem="temporal"`, the default) is computed as
  the SNN computes it: the current-encoded image through the input synaptic trace (which ramps,
  0.5 x, 0.75 x, ...: the stem's current is not constant even for a constant image), the stem
  convolution on all T steps with BatchNorm over T x B, the population run over time; it passes on
  the mean trace. So the current-encoded SNN copied from it has the very same stem spikes, with
  batch statistics (training) and with running statistics (eval). Deeper layers see traces that
  vary in time; there the constant-current response is the approximation (`stem="constant"`
  treats the stem so too). The classifier's output (`head`) is the logits, or the output
  population's `lif_count` ("rate") or `lif_ttfs` ("ttfs") of them, trained with the SNN's own loss.
- "fit" and `ramp`: the straight-through slope of the line through the staircase's ends
  (`linear_fit`, `active_zone`: 0 below z0 ~ 0.5, f_max at theta), 1.8 for the CIFAR LIF where "clip"
  gives 0.9 over (0, theta), half of which is silent; and a ramp from that line (as the forward
  too) into the exact staircase over training, its clock a buffer (resumable).
- `convert_relu`: a ReLU ANN's copy mapped onto the LIF's range (current z0 + k z, data-based k),
  then `recalibrate_bn`: BN's running statistics re-estimated on the SNN's own currents.
- `balance_activity`: per-layer activity balancing of a copied SNN (BN gamma and beta of the
  population's current scaled so its mean trace per channel matches the ANN's activation).
- `start_check`: clean accuracy, abstention and ties of an SNN on n images before any SNN step.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time

import numpy as np
import torch
import torch.nn.functional as F

import evsim

from .neuron import NeuronParameters, heaviside, integrate, neuron_parameters, run_population, trace_step
from .resnet import CIFAR_LIF, ResNetANN, SpikingResNet, _ChannelsLast, _images, fold_batchnorm
from .snn import decoder_scores, synaptic_trace

__all__ = [
    "STE", "HEADS", "STEMS", "lif_response", "lif_count", "lif_ttfs", "saturation", "active_zone", "linear_fit",
    "LIFActivation",
    "LIFResNetANN", "lif_resnet_ann_spec", "ann_activations", "balance_activity", "start_check",
]  # fmt: skip

STE = ("clip", "relu", "fit")
HEADS = ("logits", "rate", "ttfs")
STEMS = ("temporal", "constant")
RESPONSES = ("trace", "count", "ttfs")


def _check_T(T) -> int:
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    return int(T)


def _simulate(z: torch.Tensor, p: NeuronParameters, T: int, what: str) -> torch.Tensor:
    """The response `what` of a population at rest to the constant current z (any shape), in z's dtype."""
    u = torch.zeros_like(z)
    a = torch.zeros_like(z)
    total = torch.zeros_like(z)
    first = torch.full_like(z, -1.0)  # the first spike's step, -1 while silent
    for k in range(T):
        u_pre = integrate(u, z, p)
        s, u = heaviside(u_pre, p)
        if what == "trace":
            a = trace_step(a, s, p)
            total = total + a
        elif what == "count":
            total = total + s
        else:
            first = torch.where((first < 0) & (s > 0), torch.full_like(z, float(k)), first)
    if what == "trace":
        return total / T
    if what == "count":
        return total
    return torch.where(first >= 0, T - first, torch.zeros_like(z))


def _membrane_after(z: torch.Tensor, p: NeuronParameters, T: int) -> torch.Tensor:
    """Membranes before the threshold test of a neuron that has not fired yet: (T, *z.shape),
    u_k = u_{k-1} * decay_m + z from u_{-1} = 0 (the ops of `bridges.neuron.integrate`)."""
    u, out = torch.zeros_like(z), []
    for _ in range(T):
        u = integrate(u, z, p)
        out.append(u)
    return torch.stack(out)


def _fast_exact(p: NeuronParameters) -> bool:
    """Whether the response is a lookup (`_Thresholds`): a hard reset (so the spike train from rest
    is periodic: after each spike the membrane is exactly the rest state again) and 0 <= decay_m <= 1
    (so u_k rises monotonically in k and in z, rounding included)."""
    return p.reset_to_zero and 0.0 <= p.decay_m <= 1.0


@functools.lru_cache(maxsize=64)
def _thresholds(p: NeuronParameters, T: int, dtype: torch.dtype) -> tuple[torch.Tensor, dict]:
    """(c, tables). c (T,) ascending: c[j] = the smallest z of `dtype` with u_{T-1-j}(z) >= theta,
    so #{k < T: u_k(z) >= theta} = #{j: c[j] <= z} (u_k is nondecreasing in z for every k: each
    rounding is monotone). The first spike comes at k0 = T - that count (T: never) and, with the
    hard reset, repeats every k0 + 1 steps. tables[what] (T + 1,): the response for each k0, computed
    by running that spike train through the float trace step (the same bits as the simulation)."""
    theta = torch.tensor(p.theta, dtype=dtype)
    bits = {torch.float32: torch.int32, torch.float64: torch.int64}[dtype]
    # bisection on the bit patterns of the non-negative floats (ordered as their values): the
    # largest z with u_k(z) < theta is in [0, theta) for every k (u_0(theta) = theta fires)
    lo = torch.zeros(T, dtype=dtype).view(bits)
    hi = theta.expand(T).clone().view(bits)
    while bool((hi - lo > 1).any()):
        mid = lo + (hi - lo) // 2
        z = mid.view(dtype)
        fires = _membrane_after(z, p, T).diagonal() >= p.theta  # u_k(z_k) for candidate z_k of step k
        hi = torch.where(fires, mid, hi)
        lo = torch.where(fires, lo, mid)
    c = hi.view(dtype).flip(0).clone()  # c[j] for step T-1-j: ascending
    k0 = torch.arange(T + 1)
    steps = torch.arange(T)
    spikes = (((steps[None, :] + 1) % (k0[:, None] + 1)) == 0) & (k0[:, None] < T)  # (k0, step)
    spikes = spikes.to(dtype)
    a, total, count = torch.zeros(T + 1, dtype=dtype), torch.zeros(T + 1, dtype=dtype), torch.zeros(T + 1, dtype=dtype)
    for k in range(T):
        a = trace_step(a, spikes[:, k], p)
        total = total + a
        count = count + spikes[:, k]
    ttfs = torch.where(k0 < T, T - k0, 0).to(dtype)
    return c, {"trace": total / T, "count": count, "ttfs": ttfs}


def _respond(z: torch.Tensor, p: NeuronParameters, T: int, what: str) -> torch.Tensor:
    """The response `what` to the constant current z: a lookup for hard-reset neurons in float32 or
    float64 (equal to `_simulate`, tested on every boundary), the simulation otherwise."""
    if not _fast_exact(p) or z.dtype not in (torch.float32, torch.float64):
        return _simulate(z, p, T, what)
    c, tables = _thresholds(p, T, z.dtype)
    c, table = c.to(z.device), tables[what].flip(0).to(z.device)  # table[T - k0]: by the count of c[j] <= z
    # elementwise: work on the tensor's memory in its own order (channels-last activations
    # included), so bucketize and the lookup see one contiguous run and the result keeps the layout
    channels_last = z.ndim == 4 and not z.is_contiguous() and z.is_contiguous(memory_format=torch.channels_last)
    flat = (z.permute(0, 2, 3, 1) if channels_last else z.contiguous()).reshape(-1)
    out = table.index_select(0, torch.bucketize(flat, c, right=True, out_int32=True))
    if channels_last:
        return out.view(z.shape[0], z.shape[2], z.shape[3], z.shape[1]).permute(0, 3, 1, 2)
    return out.view(z.shape)


def lif_response(z: torch.Tensor, neuron=CIFAR_LIF, T: int = 10) -> torch.Tensor:
    """Mean over T steps of the trace a[k] under the constant current z (elementwise, z's shape and
    dtype; z finite): (a[0] + ... + a[T-1]) / T, summed in step order. No gradient (see `LIFActivation`)."""
    with torch.no_grad():
        return _respond(z.detach(), neuron_parameters(neuron), _check_T(T), "trace")


def lif_count(z: torch.Tensor, neuron=CIFAR_LIF, T: int = 10) -> torch.Tensor:
    """Number of spikes in T steps under the constant current z (the rate decoder's omega)."""
    with torch.no_grad():
        return _respond(z.detach(), neuron_parameters(neuron), _check_T(T), "count")


def lif_ttfs(z: torch.Tensor, neuron=CIFAR_LIF, T: int = 10) -> torch.Tensor:
    """T - k of the first spike step k under the constant current z, 0 if it never fires (the TTFS
    decoder's omega, max_k (T - k) s[k])."""
    with torch.no_grad():
        return _respond(z.detach(), neuron_parameters(neuron), _check_T(T), "ttfs")


@functools.lru_cache(maxsize=64)
def saturation(neuron=CIFAR_LIF, T: int = 10, what: str = "trace") -> float:
    """The response at z = theta (the smallest current that fires every step from rest): f_max, the
    top of the straight-through line."""
    p = neuron_parameters(neuron)
    return float(_simulate(torch.tensor(p.theta, dtype=torch.float64), p, _check_T(T), what))


def active_zone(neuron=CIFAR_LIF, T: int = 10) -> tuple[float, float]:
    """(z0, z1): the smallest constant current that fires within T steps from rest, theta / sum_k
    decay_m^k (u_{T-1} = z sum_k decay_m^k, up to rounding), and theta, where it fires every step."""
    p = neuron_parameters(neuron)
    return p.theta / sum(p.decay_m**k for k in range(_check_T(T))), p.theta


def linear_fit(z: torch.Tensor, neuron=CIFAR_LIF, T: int = 10, what: str = "trace") -> torch.Tensor:
    """The clipped line through the staircase's ends: f_max clamp((z - z0) / (z1 - z0), 0, 1)
    (`active_zone`, `saturation`): the stand-in the "fit" gradient is the derivative of."""
    z0, z1 = active_zone(neuron, T)
    return saturation(neuron, T, what) * ((z - z0) / (z1 - z0)).clamp(0.0, 1.0)


class LIFActivation(torch.autograd.Function):
    """`LIFActivation.apply(z, neuron, T, what, ste, blend=1.0)`: forward the exact response (`what`:
    "trace" = `lif_response`, "count" = `lif_count`, "ttfs" = `lif_ttfs`), or with blend < 1 the mix
    `linear_fit` + blend (response - `linear_fit`) (blend 0: the line alone); backward the
    straight-through gradient grad * f_max / theta where 0 < z < theta ("clip") or z > 0 ("relu"),
    or grad * f_max / (z1 - z0) where z0 < z < z1 ("fit": the line's own slope, `active_zone`)."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, neuron, T: int, what: str, ste: str, blend: float = 1.0):
        p = neuron_parameters(neuron)
        ctx.save_for_backward(z)
        ctx.ste = ste
        if ste == "fit":
            ctx.low, ctx.high = active_zone(neuron, T)
        else:
            ctx.low, ctx.high = 0.0, (p.theta if ste == "clip" else float("inf"))
        ctx.slope = saturation(neuron, T, what) / (ctx.high - ctx.low if ste == "fit" else p.theta)
        if blend >= 1.0:
            return _respond(z, p, T, what)
        line = linear_fit(z, neuron, T, what)
        return line if blend <= 0.0 else line + blend * (_respond(z, p, T, what) - line)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (z,) = ctx.saved_tensors
        inside = (z > ctx.low) & (z < ctx.high)
        return grad * inside.to(grad.dtype) * ctx.slope, None, None, None, None, None


def _straight_through_proxy(current: torch.Tensor, neuron, T: int, ste: str) -> torch.Tensor:
    """The function whose gradient `LIFActivation` uses: slope * clamp(z, 0, theta), slope * relu(z)
    or `linear_fit`."""
    p = neuron_parameters(neuron)
    if ste == "fit":
        return linear_fit(current, neuron, T)
    slope = saturation(neuron, T) / p.theta
    return slope * (current.clamp(0.0, p.theta) if ste == "clip" else F.relu(current))


class LIFResNetANN(ResNetANN):
    """`ResNetANN` with the LIF's response (`LIFActivation`, "trace") as its activation.

    neuron: the SNN's neuron (evsim.LIF or evsim.IF); T: its steps; ste: the straight-through
    slope ("clip", "relu" or "fit"); ramp: None (the exact staircase throughout) or (start, end):
    the `linear_fit` stand-in until `start` training batches, blended linearly into the exact
    staircase by `end` (the batches seen and so the blend live in the buffer `batches`, part of the
    state_dict: a resumed run continues the same ramp); head: what forward returns, the logits, or the output population's
    spike counts ("rate") or TTFS omega ("ttfs") of constant currents equal to them; stem:
    "temporal" (the SNN's own stem, exact for current-encoded input) or "constant".

    forward(x): x (B, C*32*32) or (B, C, 32, 32) (the image, = the current encoder's value at
    every step) -> (B, n_classes) scores. `activations(x)` also returns every population's
    activation, stem first then two per block (B, C, H, W), as `SpikingResNet.hidden` orders them.
    """

    def __init__(self, width: int = 64, in_channels: int = 3, n_classes: int = 10, neuron=CIFAR_LIF, T: int = 10,
                 ste: str = "clip", head: str = "logits", stem: str = "temporal", ramp=None):  # fmt: skip
        super().__init__(width, in_channels, n_classes)
        neuron_parameters(neuron)
        for name, value, choices in (("ste", ste, STE), ("head", head, HEADS), ("stem", stem, STEMS)):
            if value not in choices:
                raise ValueError(f"unknown {name} {value!r}; choose from {choices}")
        self.neuron, self.T, self.ste, self.head, self.stem_mode = neuron, _check_T(T), ste, head, stem
        if ramp is not None:
            ramp = tuple(int(r) for r in ramp)
            if len(ramp) != 2 or not 0 <= ramp[0] < ramp[1]:
                raise ValueError(f"ramp must be None or (start, end) batches with 0 <= start < end, got {ramp!r}")
        self.ramp = ramp
        self.register_buffer("batches", torch.zeros((), dtype=torch.int64))

    @property
    def blend(self) -> float:
        """0: the `linear_fit` stand-in, 1: the exact staircase (always 1 without a ramp, and in eval
        mode once the ramp is done)."""
        if self.ramp is None:
            return 1.0
        start, end = self.ramp
        return min(1.0, max(0.0, (int(self.batches) - start) / (end - start)))

    def _act(self, z: torch.Tensor, what: str = "trace") -> torch.Tensor:
        return LIFActivation.apply(z, self.neuron, self.T, what, self.ste, self.blend)

    def stem_run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The temporal stem on images x (B, C, 32, 32): (current, trace, spikes), each (T, B, width,
        32, 32), computed as `SpikingResNet` computes them on the current-encoded x (BN over T x B
        in training, the folded weights in eval); only the current carries a gradient."""
        conv, bn = self.stem
        a = synaptic_trace(x.unsqueeze(0).expand(self.T, *x.shape), self.neuron)
        flat = a.flatten(0, 1).contiguous(memory_format=torch.channels_last)
        if self.training:
            out = bn(conv(flat))
        else:
            weight, bias = fold_batchnorm(conv.weight, bn)
            out = F.conv2d(flat, weight, None, conv.stride, conv.padding) + bias.view(-1, 1, 1)
        current = out.view(self.T, x.shape[0], *out.shape[1:])
        with torch.no_grad():
            trace, spikes = run_population(current.detach(), neuron_parameters(self.neuron))
        return current, trace, spikes

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        if self.stem_mode == "constant":
            return self._act(self.stem(x))
        current, trace, _ = self.stem_run(x)
        value = trace[0].clone()
        for k in range(1, self.T):  # in step order, as lif_response sums
            value = value + trace[k]
        value = value / self.T
        proxy = _straight_through_proxy(current, self.neuron, self.T, self.ste).mean(0)
        blend = self.blend
        if blend < 1.0:
            line = linear_fit(current.detach(), self.neuron, self.T).mean(0)
            value = line + blend * (value - line) if blend > 0.0 else line
        return value + (proxy - proxy.detach())

    def activations(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = _images(x, self.in_channels, 1, "input").to(self.fc.weight.dtype)
        x = _ChannelsLast.apply(x)  # as ResNetANN: faster convolutions on CPU
        h = self._stem(x)
        acts = [h]
        for block in self.blocks:
            h1 = self._act(block.conv1(h))
            out = block.conv2(h1) + (h if block.shortcut is None else block.shortcut(h))
            h = self._act(out)
            acts += [h1, h]
        z = self.fc(h.mean(dim=(2, 3)))
        if self.head != "logits":
            z = self._act(z, "count" if self.head == "rate" else "ttfs")
        if self.training and torch.is_grad_enabled() and self.ramp is not None:
            self.batches += 1  # one training batch seen: the ramp's clock
        return z, acts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activations(x)[0]


def lif_resnet_ann_spec(model: LIFResNetANN) -> dict:
    """The spec of a `LIFResNetANN` (`bridges.training.build_model` rebuilds it)."""
    return {
        "kind": "resnet_lif_ann", "width": model.width, "in_channels": model.in_channels, "n_classes": model.n_classes,
        "neuron": {"kind": model.neuron.kind, **dataclasses.asdict(model.neuron)},
        "T": model.T, "ste": model.ste, "head": model.head, "stem": model.stem_mode,
        **({} if model.ramp is None else {"ramp": list(model.ramp)}),
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# checks and balancing of a copied SNN
# ---------------------------------------------------------------------------------------------


def _scores(snn: SpikingResNet, x: np.ndarray, encoder, decoder: str, T: int, batch: int, seed: int):
    """(decoder scores (N, n_classes), the hidden populations' mean traces per channel, their mean
    firing rates (spikes per neuron per step))."""
    device = next(snn.parameters()).device
    scores, traces, rates = [], None, None
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = evsim.encode(x[i : i + batch], T, encoder, seed=seed + i)
            out = snn(torch.from_numpy(xb).to(device))
            scores.append(decoder_scores(out.spikes, decoder).cpu())
            means = [synaptic_trace(s, snn.neuron).sum(dim=(0, 1, 3, 4)).cpu() for s in out.hidden]
            fired = [s.sum().item() for s in out.hidden]
            traces = means if traces is None else [t + m for t, m in zip(traces, means)]
            rates = fired if rates is None else [r + f for r, f in zip(rates, fired)]
    denominators = [T * len(x) * s.shape[-1] * s.shape[-2] for s in out.hidden]
    traces = [t / d for t, d in zip(traces, denominators)]
    rates = [r / (d * s.shape[2]) for r, d, s in zip(rates, denominators, out.hidden)]
    return torch.cat(scores), traces, rates


def start_check(snn: SpikingResNet, x: np.ndarray, y: np.ndarray, encoder="current", decoder: str = "rate", T: int = 10,
                bn: str = "eval", batch: int = 100, seed: int = 0) -> dict:  # fmt: skip
    """The start of an SNN, before any SNN step: a dict of plain numbers to store.

    x (n, C*1024) float32 in [0, 1], y (n,); encoder: an `evsim.encode` method or list; decoder:
    "rate" or "ttfs". bn: "eval" (folded running statistics, as evsim runs it) or "batch" (a copy
    in training mode: BatchNorm's statistics over the T x `batch` currents of each batch; the
    model itself is not changed). Returns accuracy (a silent output layer counts as wrong),
    abstention (the fraction of images whose every output score is 0: no output spike at all, for
    either decoder), ties (decided images whose top score is shared; argmax takes the lowest
    index), the mean firing rate of the hidden populations (spikes per neuron per step), n, bn,
    decoder and seconds.
    """
    if bn not in ("eval", "batch"):
        raise ValueError(f"bn must be 'eval' or 'batch', got {bn!r}")
    t0 = time.perf_counter()
    model = copy.deepcopy(snn).train() if bn == "batch" else snn.eval()
    scores, _, rates = _scores(model, x, encoder, decoder, T, batch, seed)
    top = scores.amax(1)
    decided = top > 0
    ties = decided & ((scores == top[:, None]).sum(1) > 1)
    right = (scores.argmax(1).numpy() == np.asarray(y)) & decided.numpy()
    return {
        "accuracy": float(right.mean()), "abstention": float((~decided).float().mean()), "ties": float(ties.float().mean()),
        "hidden_rate": float(np.mean(rates)),
        "n": int(len(x)), "bn": bn, "decoder": decoder, "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def _population_bns(snn: SpikingResNet) -> list[list[torch.nn.BatchNorm2d]]:
    """The BatchNorms whose currents drive each hidden population, in `hidden` order."""
    groups = [[snn.stem.bn]]
    for block in snn.blocks:
        groups.append([block.conv1.bn])
        groups.append([block.conv2.bn] + ([] if block.shortcut is None else [block.shortcut.bn]))
    return groups


def ann_activations(ann: ResNetANN, x: torch.Tensor) -> list[torch.Tensor]:
    """Every activation of a ResNet18 ANN (B, C, H, W), stem first then two per block, in
    `SpikingResNet.hidden`'s order: the LIF ANN's own, or a ReLU `ResNetANN`'s ReLU outputs."""
    if isinstance(ann, LIFResNetANN):
        return ann.activations(x)[1]
    x = _images(x, ann.in_channels, 1, "input").to(ann.fc.weight.dtype)
    h = F.relu(ann.stem(x))
    acts = [h]
    for block in ann.blocks:
        h1 = F.relu(block.conv1(h))
        h = F.relu(block.conv2(h1) + (h if block.shortcut is None else block.shortcut(h)))
        acts += [h1, h]
    return acts


def balance_activity(snn: SpikingResNet, ann: ResNetANN, x: np.ndarray, encoder="current", T: int = 10,
                     rounds: int = 2, bn: str = "eval", batch: int = 100, limits=(0.5, 2.0),
                     percentile: float = 0.99, damping: float = 1.0) -> list[float]:  # fmt: skip
    """Per-layer activity balancing (in place): scale gamma and beta of the BatchNorms that drive
    each hidden population, per channel, by the ratio of the target activity to the SNN's mean
    trace on the images x (a few hundred training images), layer by layer.

    The target of a channel is the ANN's mean activation there: as it is for a `LIFResNetANN`
    (the same units as the trace); for a ReLU ANN divided by the layer's `percentile` activation
    and multiplied by the trace's top (`saturation`), the data-based normalisation of ANN-to-SNN
    conversion. Layer by layer, from the stem on, `rounds` times: the layer is rescaled by
    (target / measured) ** damping, clipped to `limits` (a silent channel whose target is positive
    gets the upper limit), and the SNN is run again on x (bn "eval": running statistics; "batch":
    batch statistics), so every layer is balanced on the drive of the balanced layers below it
    (updating all layers at once overshoots: measured). Cost: 1 + rounds x 17 SNN runs on x.
    Scaling a population's whole current by c is scaling its threshold by 1/c. Returns the
    mismatch sum |measured - target| / sum target over a layer's channels, averaged over the
    layers: before any change, then after each layer is done."""
    ann_mode = ann.training
    ann.eval()
    top = saturation(snn.neuron, T)
    with torch.no_grad():
        sums, peaks = None, None
        for i in range(0, len(x), batch):
            acts = ann_activations(ann, torch.from_numpy(np.asarray(x[i : i + batch], dtype=np.float32)))
            part = [h.sum(dim=(0, 2, 3)) for h in acts]
            sums = part if sums is None else [t + s for t, s in zip(sums, part)]
            if not isinstance(ann, LIFResNetANN):  # the batch's percentile (torch.quantile's size limit)
                q = [torch.quantile(h.flatten()[:: max(1, h.numel() // 1_000_000)], percentile) for h in acts]
                peaks = q if peaks is None else [torch.maximum(a, b) for a, b in zip(peaks, q)]
        targets = [t / (len(x) * h.shape[-1] * h.shape[-2]) for t, h in zip(sums, acts)]
        if peaks is not None:
            targets = [t / p.clamp_min(1e-12) * top for t, p in zip(targets, peaks)]
    ann.train(ann_mode)
    groups = _population_bns(snn)

    def measure() -> list[torch.Tensor]:
        model = copy.deepcopy(snn).train() if bn == "batch" else snn.eval()
        return _scores(model, x, encoder, "rate", T, batch, 0)[1]

    def mismatch_of(measured) -> float:
        return float(np.mean([((m - t).abs().sum() / t.sum().clamp_min(1e-12)).item() for m, t in zip(measured, targets)]))

    measured = measure()
    mismatch = [mismatch_of(measured)]
    for layer, (group, t) in enumerate(zip(groups, targets)):
        for _ in range(rounds):
            m = measured[layer]
            factor = torch.where(m > 0, (t / m.clamp_min(1e-12)) ** damping, torch.full_like(t, limits[1])).clamp(*limits)
            factor = torch.where(t > 0, factor, torch.ones_like(t))
            with torch.no_grad():
                for norm in group:
                    norm.weight.mul_(factor.to(norm.weight.dtype))
                    norm.bias.mul_(factor.to(norm.bias.dtype))
            measured = measure()
        mismatch.append(mismatch_of(measured))
    snn.eval()
    return mismatch


def recalibrate_bn(snn: SpikingResNet, x: np.ndarray, encoder="current", T: int = 10, batch: int = 100, seed: int = 0) -> SpikingResNet:
    """BatchNorm's running statistics re-estimated in the SNN itself (in place): every BN's running
    mean and variance reset and averaged (momentum None: the plain mean over batches) over the
    currents of a no-grad train-mode pass of the SNN over x (a few hundred training images), so that
    eval mode normalises the SNN's own currents, not the ANN's. Weights and affine parameters are
    not touched. Returns snn, in eval mode."""
    norms = [m for m in snn.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    device = next(snn.parameters()).device
    snn.train()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            snn(torch.from_numpy(evsim.encode(x[i : i + batch], T, encoder, seed=seed + i)).to(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return snn.eval()


def convert_relu(snn: SpikingResNet, ann: ResNetANN, x: np.ndarray, encoder="current", T: int = 10,
                 percentile: float = 0.99, out_current: float = 1.0, batch: int = 100) -> dict:  # fmt: skip
    """Map a ReLU ANN's copy (`init_from_ann`) onto the LIF's working range (in place), then
    `recalibrate_bn` on x. A population whose ANN pre-activation is z gets the current
    z0 + k z (`active_zone`: z0 the smallest current that fires, the leak's offset the ReLU lacks),
    k = (z1 - z0) / lambda, lambda the layer's `percentile` ReLU output on x: its trace is then
    about f_max relu(z) / lambda (`linear_fit`), the data-based normalisation of ANN-to-SNN
    conversion; where the block adds its input's trace unchanged (identity shortcut),
    k = f_max / lambda_in keeps the two branches in the ANN's proportion. gamma and beta of the
    population's BNs are scaled by k, and z0 is added to one beta. The classifier is scaled so the
    median over x of the top logit becomes the output current `out_current`. Returns {"lambda",
    "k", "fc_scale"}."""
    z0, z1 = active_zone(snn.neuron, T)
    top = saturation(snn.neuron, T)
    xt = torch.from_numpy(np.asarray(x[: 4 * batch], dtype=np.float32))
    ann.eval()
    with torch.no_grad():
        acts = ann_activations(ann, xt)
        lam = [float(torch.quantile(h.flatten()[:: max(1, h.numel() // 1_000_000)], percentile).clamp_min(1e-6)) for h in acts]
        logits = ann(xt)
    ks = []
    for layer, group in enumerate(_population_bns(snn)):
        identity = layer % 2 == 0 and layer > 0 and len(group) == 1
        k = top / lam[layer - 2] if identity else (z1 - z0) / lam[layer]
        with torch.no_grad():
            for i, norm in enumerate(group):
                norm.weight.mul_(k)
                norm.bias.mul_(k).add_(z0 if i == 0 else 0.0)
        ks.append(k)
    with torch.no_grad():
        # the classifier sees the last trace, about top / lambda_last of the ANN's last activation
        fc_scale = out_current / float(logits.amax(1).median().clamp_min(1e-6)) * lam[-1] / top
        snn.fc.weight.mul_(fc_scale)
    recalibrate_bn(snn, np.asarray(x), encoder, T, batch)
    return {"lambda": lam, "k": ks, "fc_scale": fc_scale}
