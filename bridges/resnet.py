"""ResNet18 (CIFAR variant) as a ReLU ANN and as an SNN whose inference is evsim's (paper Fig. 5).

Topology, shared by both: a 3x3 stem convolution with `width` channels (stride 1, padding 1, no
max-pool); four stages of two basic blocks with width, 2w, 4w, 8w channels, the first block of
stages 2-4 with stride 2; a block is conv3x3 -> BN -> act -> conv3x3 -> BN, plus its shortcut (the
identity, or a 1x1 stride-2 conv + BN where the shape changes), -> act; then global average
pooling and a bias-free linear classifier. Convolutions are bias-free and followed by BatchNorm.
Images are 32 x 32.

`SpikingResNet` follows the authors' code (shared/notes/authors-code.md): the encoded input
passes through the synaptic trace before the stem; every convolution's current is
BN(W a_prev), BatchNorm over time folded into the batch (statistics shared by all T steps); a
block adds its shortcut current (the trace of the block input, or BN(conv1x1(trace))) into its
second population beside conv2's current; the output is a LIF population of n_classes fed by
Linear(mean over H, W of the last block's trace). Layers run one after another over all T steps
(zero synaptic delay makes that equal to stepping the whole net), convolutions on (T*B, C, H, W).

Exactness. In eval mode (`model.eval()`), the SNN computes its currents from the *folded*
weights, W gamma/sigma and the constant current beta - gamma mu/sigma (`fold_batchnorm`), and the
classifier as a Dense layer over the flattened trace with weights fc/(H W) repeated: the numbers
`bridges.export.resnet_to_evsim` hands to evsim. What remains is rounding-level: evsim adds
weights event by event into a decaying current (SPEC's event-driven form), torch convolves the trace, and the
bias is added to the current here, to the membrane there. In float64 that never flips a spike on
real images (tested: 100%); in float32 a membrane within rounding of theta can (>= 99.9%). In
train mode BatchNorm uses batch statistics, so train and eval outputs differ as for any BN net.
"""

from __future__ import annotations

import importlib


import numpy as np
import torch
import torch.nn.functional as F

import evsim

from .snn import DEFAULT_RHO, SNNOutput, check_rule, differentiable_spikes, spiking_layer, synaptic_trace

__all__ = [
    "ResNetANN",
    "SpikingResNet",
    "fold_batchnorm",
    "block_plan",
    "IMAGE_SIZE",
    "CIFAR_LIF",
    "init_from_ann",
    "init_from_snn",
]

IMAGE_SIZE = 32
BLOCKS_PER_STAGE = (2, 2, 2, 2)
CIFAR_LIF = evsim.LIF(tau_m=2, tau_s=2, theta=1.0)  # Table 1, CIFAR-10


def block_plan(width: int) -> list[tuple[int, int, int]]:
    """(c_in, c_out, stride) of the 8 basic blocks, in order."""
    plan, c_in = [], width
    for stage, n_blocks in enumerate(BLOCKS_PER_STAGE):
        c_out = width * 2**stage
        for b in range(n_blocks):
            stride = 2 if (stage > 0 and b == 0) else 1
            plan.append((c_in, c_out, stride))
            c_in = c_out
    return plan


def _check_sizes(width, in_channels, n_classes) -> None:
    for name, value in (("width", width), ("in_channels", in_channels), ("n_classes", n_classes)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def _images(x: torch.Tensor, in_channels: int, lead: int, what: str) -> torch.Tensor:
    """x with `lead` leading axes and then (C*32*32,) or (C, 32, 32), as (..., C, 32, 32)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{what} must be a float tensor, got {x.dtype}")
    image = (in_channels, IMAGE_SIZE, IMAGE_SIZE)
    if x.ndim == lead + 1 and x.shape[lead] == in_channels * IMAGE_SIZE**2:
        return x.reshape(*x.shape[:lead], *image)
    if x.ndim == lead + 3 and tuple(x.shape[lead:]) == image:
        return x
    axes = "(T, B, " if lead == 2 else "(B, "
    raise ValueError(
        f"{what} must have shape {axes}{in_channels * IMAGE_SIZE**2}) or {axes}{in_channels}, {IMAGE_SIZE}, "
        f"{IMAGE_SIZE}), got {tuple(x.shape)}"
    )


class _ChannelsLast(torch.autograd.Function):
    """x in channels-last memory order; its gradient comes back in x's own (contiguous) order, so
    callers that `.view` an input gradient (torchattacks' PGD-L2) see the layout they gave."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous()


def conv2d(x: torch.Tensor, weight: torch.Tensor, stride, padding) -> torch.Tensor:
    """F.conv2d without a bias, except that a 1x1 kernel with a stride is computed as the stride-1
    1x1 convolution of every stride-th pixel: the same sums, so the same values and gradients up to
    float rounding (measured: relative 1e-6 at most, often bit for bit; tested). Why: torch 2.13's
    CPU backward of a strided 1x1 convolution on channels-last inputs crashes the process
    (segmentation fault, double free) with 2 threads at some batch sizes (3, 5, 7, 33 at 8 input
    channels), and an attack's or an evaluation's batch can be any size."""
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    if weight.shape[-2:] == (1, 1) and (sh, sw) != (1, 1) and tuple(np.broadcast_to(padding, 2)) == (0, 0):
        return F.conv2d(x[:, :, ::sh, ::sw], weight)
    return F.conv2d(x, weight, None, stride, padding)


class _Conv2d(torch.nn.Conv2d):
    """torch's bias-free Conv2d (same parameters, same state_dict), run through `conv2d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d(x, self.weight, self.stride, self.padding)


def _kaiming(module: torch.nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")


# ---------------------------------------------------------------------------------------------
# ANN
# ---------------------------------------------------------------------------------------------


class _ConvBN(torch.nn.Sequential):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int):
        super().__init__(
            _Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False), torch.nn.BatchNorm2d(c_out)
        )


class _BasicBlock(torch.nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = _ConvBN(c_in, c_out, 3, stride)
        self.conv2 = _ConvBN(c_out, c_out, 3, 1)
        self.shortcut = None if (stride == 1 and c_in == c_out) else _ConvBN(c_in, c_out, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(x)))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNetANN(torch.nn.Module):
    """The ReLU ResNet18 (CIFAR variant): the ANN baseline and the black-box attackers of Fig. 5.

    forward(x): x (B, C*32*32) flattened or (B, C, 32, 32) float images (pixel values as given,
    e.g. [0, 1]); returns logits (B, n_classes).
    """

    def __init__(self, width: int = 64, in_channels: int = 3, n_classes: int = 10):
        super().__init__()
        _check_sizes(width, in_channels, n_classes)
        self.width, self.in_channels, self.n_classes = int(width), int(in_channels), int(n_classes)
        self.stem = _ConvBN(in_channels, width, 3, 1)
        self.blocks = torch.nn.ModuleList(_BasicBlock(*plan) for plan in block_plan(width))
        self.fc = torch.nn.Linear(8 * width, n_classes, bias=False)
        _kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _images(x, self.in_channels, 1, "input").to(self.fc.weight.dtype)
        x = _ChannelsLast.apply(x)  # faster convolutions on CPU
        h = F.relu(self.stem(x))
        for block in self.blocks:
            h = block(h)
        return self.fc(h.mean(dim=(2, 3)))


# ---------------------------------------------------------------------------------------------
# SNN
# ---------------------------------------------------------------------------------------------


def fold_batchnorm(weight: torch.Tensor, bn: torch.nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv weight (C_out, C_in, kh, kw) and BN (eval statistics) -> (W gamma/sigma, beta - gamma mu/sigma).

    sigma = sqrt(running_var + eps). Computed in weight's dtype; `bridges.export.resnet_to_evsim`
    calls it on float64 copies, the eval forward on the model's own tensors, so a float64 model
    and its evsim network hold the same numbers.
    """
    dtype = weight.dtype
    sigma = torch.sqrt(bn.running_var.to(dtype) + bn.eps)
    gamma, beta, mu = bn.weight.to(dtype), bn.bias.to(dtype), bn.running_mean.to(dtype)
    return weight * (gamma / sigma).view(-1, 1, 1, 1), beta - gamma * mu / sigma


class SpikingConv(torch.nn.Module):
    """A bias-free convolution whose output current is BatchNorm'd (training), or the folded
    conv + constant current (eval); without BN (`batchnorm=False`) a conv + constant current
    (`bias`, membrane units per step), as rebuilt from an evsim network."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, batchnorm: bool = True):
        super().__init__()
        self.conv = _Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False)
        self.bn = torch.nn.BatchNorm2d(c_out) if batchnorm else None
        self.bias = None if batchnorm else torch.nn.Parameter(torch.zeros(c_out))

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight (C_out, C_in, k, k), constant current (C_out,)) of inference."""
        if self.bn is None:
            return self.conv.weight, self.bias
        return fold_batchnorm(self.conv.weight, self.bn)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """a: (T, B, C_in, H, W) trace -> current (T, B, C_out, H', W')."""
        # time folded into the batch: BN statistics shared across steps. Channels-last makes
        # mkldnn's convolutions (forward and backward) about 15-20% cheaper on CPU
        x = a.flatten(0, 1).contiguous(memory_format=torch.channels_last)
        if self.bn is not None and self.training:
            out = self.bn(self.conv(x))
        else:
            weight, bias = self.folded()
            out = conv2d(x, weight, self.conv.stride, self.conv.padding) + bias.view(-1, 1, 1)
        return out.view(a.shape[0], a.shape[1], *out.shape[1:])


class SpikingBlock(torch.nn.Module):
    """conv1 -> LIF -> conv2 (+ shortcut current) -> LIF, the authors' res_block."""

    def __init__(self, c_in: int, c_out: int, stride: int, batchnorm: bool = True):
        super().__init__()
        self.conv1 = SpikingConv(c_in, c_out, 3, stride, batchnorm)
        self.conv2 = SpikingConv(c_out, c_out, 3, 1, batchnorm)
        self.shortcut = None if (stride == 1 and c_in == c_out) else SpikingConv(c_in, c_out, 1, stride, batchnorm)


class SpikingResNet(torch.nn.Module):
    """The ResNet18 SNN of Fig. 5 (LIF tau_m = tau_s = 2, theta 1 by default; Table 1).

    width: channels of the stem and stage 1 (64 in the paper); in_channels: 3, or 9 for the
    fused current + RateSynE + TTFS input; n_classes: output neurons.
    neuron: evsim.LIF (or evsim.IF) shared by every population; rule: "actbp" (surrogate
    sigmoid, rho), "tempbp" (bridges.tempbp, LIF with reset to zero) or "none" (inference).
    batchnorm: False builds the BN-free form with constant currents (`bridges.export.resnet_from_evsim`).

    forward(x): x the encoded input (T, B, C, 32, 32) or (T, B, C*32*32) (spikes or currents);
    returns `SNNOutput`: output spikes (T, B, n_classes) with the rule's gradient path and the
    hidden populations' spikes (T, B, C, H, W) (detached), stem first then two per block.
    """

    def __init__(
        self,
        width: int = 64,
        in_channels: int = 3,
        n_classes: int = 10,
        neuron=CIFAR_LIF,
        rule: str = "actbp",
        rho: float = DEFAULT_RHO,
        batchnorm: bool = True,
    ):
        super().__init__()
        _check_sizes(width, in_channels, n_classes)
        check_rule(rule, neuron)
        if not isinstance(neuron, (evsim.IF, evsim.LIF)):
            raise ValueError(f"neuron must be evsim.IF or evsim.LIF, got {neuron!r}")
        self.width, self.in_channels, self.n_classes = int(width), int(in_channels), int(n_classes)
        self.neuron, self.rule, self.rho, self.batchnorm = neuron, rule, float(rho), bool(batchnorm)
        self.stem = SpikingConv(in_channels, width, 3, 1, batchnorm)
        self.blocks = torch.nn.ModuleList(SpikingBlock(*plan, batchnorm) for plan in block_plan(width))
        self.fc = torch.nn.Linear(8 * width, n_classes, bias=False)
        # the output population's constant current: only in the BN-free form (evsim may hold one)
        self.out_bias = None if batchnorm else torch.nn.Parameter(torch.zeros(n_classes))
        _kaiming(self)

    def _population(self, current: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return spiking_layer(current, self.neuron, self.rule, self.rho)

    def classifier_weight(self, positions: int) -> torch.Tensor:
        """The classifier with the global average pool folded in: (n_classes, C*positions),
        fc / positions repeated over the positions of each channel ((C, H, W) order), as evsim's Dense."""
        w = self.fc.weight
        return (w[:, :, None].expand(-1, -1, positions) / positions).reshape(w.shape[0], -1)

    def forward(self, x: torch.Tensor) -> SNNOutput:
        x = _images(x, self.in_channels, 2, "encoded input").to(self.fc.weight.dtype)
        a = synaptic_trace(x, self.neuron)
        a, s = self._population(self.stem(a))
        hidden = [s.detach()]
        for block in self.blocks:
            a1, s1 = self._population(block.conv1(a))
            current = block.conv2(a1) + (a if block.shortcut is None else block.shortcut(a))
            a, s = self._population(current)
            hidden += [s1.detach(), s.detach()]
        T, B, C, H, W = a.shape
        if self.training:
            current = self.fc(a.mean(dim=(3, 4)))
        else:  # the Dense layer evsim runs: same numbers as bridges.export.resnet_to_evsim
            current = F.linear(a.reshape(T, B, -1), self.classifier_weight(H * W))
        if self.out_bias is not None:
            current = current + self.out_bias
        a_out, s_out = self._population(current)
        return SNNOutput(differentiable_spikes(a_out, s_out, self.neuron, self.rule), hidden)


def _stem_parts(snn: SpikingResNet, source: torch.nn.Module, what: str) -> int:
    """k where snn's stem takes k x source's input channels (a fused stem: k encodings); an error
    when the widths, classes or input channels do not fit."""
    if snn.width != source.width or snn.n_classes != source.n_classes or snn.in_channels % source.in_channels:
        raise ValueError(
            f"{what} (width {source.width}, {source.in_channels} input channels, {source.n_classes} classes) does not "
            f"fit the SNN (width {snn.width}, {snn.in_channels} input channels, {snn.n_classes} classes)"
        )
    return snn.in_channels // source.in_channels


def init_from_ann(snn: SpikingResNet, ann: ResNetANN) -> SpikingResNet:
    """Start `snn` from a trained ReLU ResNet18 of the same width (hybrid training: ANN weights,
    then spike-based fine-tuning, Rathi et al. 2020): every conv weight, BatchNorm (affine and
    running statistics) and the classifier are copied. A fused stem (in_channels = k x the ANN's)
    gets the ANN's stem weights divided by k on each of its k encodings, so that at the start each
    encoding carries a third of the image's drive (all of them approximate the pixel intensity).
    Returns snn (changed in place)."""
    if not isinstance(snn, SpikingResNet) or not isinstance(ann, ResNetANN):
        raise ValueError(f"init_from_ann needs a SpikingResNet and a ResNetANN, got {type(snn).__name__}, {type(ann).__name__}")
    if not snn.batchnorm:
        raise ValueError("init_from_ann needs the trainable (BatchNorm) SpikingResNet")
    parts = _stem_parts(snn, ann, "the ANN")

    def copy(target: SpikingConv, source: _ConvBN, spread: int = 1) -> None:
        conv, bn = source
        weight = conv.weight.detach()
        target.conv.weight.copy_(weight.repeat(1, spread, 1, 1) / spread)
        target.bn.load_state_dict(bn.state_dict())

    with torch.no_grad():
        copy(snn.stem, ann.stem, parts)
        for mine, theirs in zip(snn.blocks, ann.blocks):
            copy(mine.conv1, theirs.conv1)
            copy(mine.conv2, theirs.conv2)
            if mine.shortcut is not None:
                copy(mine.shortcut, theirs.shortcut)
        snn.fc.weight.copy_(ann.fc.weight)
    return snn


def init_from_snn(snn: SpikingResNet, source: SpikingResNet) -> SpikingResNet:
    """Warm start (in place): `snn` takes every weight, BatchNorm and buffer of another trained
    SpikingResNet of the same width, whatever its encoder, decoder or rule (Fig. 5's models start
    from its current-encoded Act-BP rate SNN). A fused stem (in_channels = k x the source's) gets
    the source's stem weights divided by k on each of its k encodings, as `init_from_ann` does.
    Returns snn."""
    if not isinstance(snn, SpikingResNet) or not isinstance(source, SpikingResNet):
        raise ValueError(f"init_from_snn needs two SpikingResNets, got {type(snn).__name__}, {type(source).__name__}")
    if not (snn.batchnorm and source.batchnorm):
        raise ValueError("init_from_snn needs the trainable (BatchNorm) SpikingResNets")
    parts = _stem_parts(snn, source, "the source SNN")
    state = {k: v.detach().clone() for k, v in source.state_dict().items()}
    stem = state["stem.conv.weight"]
    state["stem.conv.weight"] = stem.repeat(1, parts, 1, 1) / parts
    snn.load_state_dict(state)
    return snn


# Export and import live in bridges.export (one module for every architecture); this module keeps
# both names as part of its interface (resnet_to_evsim beside the network it exports). Resolved at
# first use: export imports this module, so an import statement here would be a circle.
_EXPORTED = ("resnet_to_evsim", "resnet_from_evsim")


def __getattr__(name: str):
    if name in _EXPORTED:
        return getattr(importlib.import_module("bridges.export"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
