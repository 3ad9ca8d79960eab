"""Moving networks between torch and evsim with identical spikes, for every architecture.

`to_evsim(model)` turns a torch SNN into an `evsim.Network`, by architecture:

| model                          | evsim network                                               |
|--------------------------------|-------------------------------------------------------------|
| `bridges.snn.SpikingMLP`       | `evsim.Network.dense`: same weights, biases and neuron      |
| `bridges.resnet.SpikingResNet` | `resnet_to_evsim`: Conv2d / Identity / Dense, BN folded in  |

and with `fixed_point=(weight_bits, state_bits, decay_bits)` quantises it (`evsim.quantize`): the
network `bridges.quantized.QATSpikingNetwork` trains and exports. `evsim_parameters(model)` gives
the float numbers of `to_evsim(model)` (each projection's weights, each population's bias) as torch
functions of the model's parameters, for gradients through an exported network (QAT's
straight-through estimator). Back from evsim: `from_evsim(net)`
builds the SpikingMLP of a dense chain, `resnet_from_evsim(net)` the BN-free SpikingResNet of a
ResNet18 network (for gradients, e.g. white-box attacks). Weights are copied exactly (float64 in
evsim).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch

import evsim
from evsim.network import INPUT, Conv2d, Dense, Identity, Network, Population

from .resnet import IMAGE_SIZE, SpikingConv, SpikingResNet, fold_batchnorm
from .snn import DEFAULT_RHO, SpikingMLP

__all__ = ["EvsimParameters", "evsim_parameters", "to_evsim", "from_evsim", "resnet_to_evsim", "resnet_from_evsim"]


def to_evsim(
    model: SpikingMLP | SpikingResNet,
    metadata: Mapping[str, object] | None = None,
    fixed_point: tuple[int, int, int] | None = None,
) -> evsim.Network:
    """The evsim network of a torch SNN, by architecture (module table).

    metadata: extra entries for the network's metadata. fixed_point: (weight_bits, state_bits,
    decay_bits) to return `evsim.quantize(network, *fixed_point)` instead of the float network.
    """
    if isinstance(model, SpikingMLP):
        net = _mlp_to_evsim(model, metadata)
    elif isinstance(model, SpikingResNet):
        net = resnet_to_evsim(model, metadata)
    else:
        raise ValueError(
            f"to_evsim needs a bridges.snn.SpikingMLP or bridges.resnet.SpikingResNet, got {type(model).__name__}"
        )
    return net if fixed_point is None else evsim.quantize(net, *fixed_point)


class EvsimParameters(NamedTuple):
    """The float numbers of an exported network as torch tensors (autograd graph kept).

    weights[q]: projection q's weights in evsim's layout (Dense (n_out, n_in), Conv2d (C_out, C_in,
    kh, kw)), or None for a projection without parameters (an identity shortcut); biases[p]:
    population p's bias (n_p,) in (C, H, W)-flat order, or None.
    """

    weights: list[torch.Tensor | None]
    biases: list[torch.Tensor | None]


def evsim_parameters(model: SpikingMLP | SpikingResNet) -> EvsimParameters:
    """`to_evsim(model)`'s weights and biases, projection by projection and population by
    population in its order, computed in torch from the model's own parameters (its dtype and
    device): the SpikingMLP's Linear layers; the SpikingResNet's eval-mode numbers, BatchNorm's
    running statistics folded in (`SpikingConv.folded`, constants here: gradients reach the conv
    weights and BN's gamma and beta), the pool folded into the classifier. For a float64 model the
    values equal `to_evsim(model)`'s bit for bit (tested); they are what a gradient through the
    exported network (`bridges.quantized.QATSpikingNetwork`) is taken with respect to.
    """
    if isinstance(model, SpikingMLP):
        return EvsimParameters([layer.weight for layer in model.layers], [layer.bias for layer in model.layers])
    if not isinstance(model, SpikingResNet):
        raise ValueError(f"evsim_parameters needs a bridges.snn.SpikingMLP or bridges.resnet.SpikingResNet, got "
                         f"{type(model).__name__}")  # fmt: skip
    weights: list[torch.Tensor | None] = []
    biases: list[torch.Tensor | None] = []
    size = IMAGE_SIZE

    def conv(layer: SpikingConv) -> torch.Tensor:
        w, b = layer.folded()
        weights.append(w)
        return b

    def population(bias: torch.Tensor) -> None:
        biases.append(bias.repeat_interleave(size * size))  # per channel -> per neuron, (C, H, W) order

    # the order of resnet_to_evsim: stem; per block conv1, conv2, shortcut; the classifier
    population(conv(model.stem))
    for block in model.blocks:
        size = (size - 1) // block.conv1.conv.stride[0] + 1
        population(conv(block.conv1))
        bias = conv(block.conv2)
        if block.shortcut is None:
            weights.append(None)  # Identity: no parameter
        else:
            bias = bias + conv(block.shortcut)
        population(bias)
    weights.append(model.classifier_weight(size * size))
    biases.append(model.out_bias)
    return EvsimParameters(weights, biases)


def _mlp_to_evsim(model: SpikingMLP, metadata: Mapping[str, object] | None) -> evsim.Network:
    """The evsim network of a SpikingMLP: same weights, biases and neuron."""
    weights = [layer.weight.detach().cpu().double().numpy() for layer in model.layers]
    biases = [None if layer.bias is None else layer.bias.detach().cpu().double().numpy() for layer in model.layers]
    meta = {"origin": "bridges.export.to_evsim", "rule": model.rule, **(metadata or {})}
    return evsim.Network.dense(weights, biases, neuron=model.neuron, metadata=meta)


def from_evsim(net: evsim.Network, rule: str = "actbp", rho: float = DEFAULT_RHO, dtype=torch.float32) -> SpikingMLP:
    """The SpikingMLP of a dense evsim network (a chain of Dense projections, one neuron model)."""
    projs, pops = net.projections, net.populations
    chain = all(p.kind == "dense" and p.source == i - 1 and p.target == i for i, p in enumerate(projs))
    if not chain or len(projs) != len(pops):
        raise ValueError("from_evsim handles a plain chain of dense layers (as Network.dense builds)")
    if any(p.neuron != pops[0].neuron for p in pops):
        raise ValueError("from_evsim needs one neuron model for every layer")
    has_bias = [p.bias is not None for p in pops]
    model = SpikingMLP(net.layer_sizes, pops[0].neuron, rule=rule, rho=rho, bias=any(has_bias)).to(dtype)
    with torch.no_grad():  # copy after the dtype change, so float64 weights stay exact
        for layer, proj, pop in zip(model.layers, projs, pops):
            layer.weight.copy_(torch.tensor(proj.weight))
            if layer.bias is not None:
                layer.bias.copy_(torch.tensor(pop.bias) if pop.bias is not None else torch.zeros(pop.size))
    return model


# ------------------------------------------------------------------------------ ResNet18


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _folded64(layer: SpikingConv) -> tuple[np.ndarray, np.ndarray]:
    """The folded weight and constant current in float64 (from the model's parameters)."""
    if layer.bn is None:
        return _np(layer.conv.weight), _np(layer.bias)
    bn64 = torch.nn.BatchNorm2d(layer.bn.num_features, eps=layer.bn.eps).double()
    bn64.load_state_dict({k: v.detach().cpu() for k, v in layer.bn.state_dict().items()})
    with torch.no_grad():
        w, b = fold_batchnorm(layer.conv.weight.detach().cpu().double(), bn64)
    return w.numpy(), b.numpy()


def resnet_to_evsim(model: SpikingResNet, metadata: Mapping[str, object] | None = None) -> evsim.Network:
    """The evsim network of a SpikingResNet (BN eval statistics folded in), input_shape (C, 32, 32).

    Populations: the stem, then two per block (after conv1; after conv2 + shortcut), then the
    output (n_classes,). Projections: Conv2d (padding k // 2) for every convolution, Identity for
    an identity shortcut, and the classifier as a Dense layer with the global average pool folded
    in (fc / (H W), repeated; SPEC "Deep networks"). A population's bias is the sum of the
    constant currents of the projections into it (conv2's and the shortcut's BN).
    """
    if not isinstance(model, SpikingResNet):
        raise ValueError(f"resnet_to_evsim needs a bridges.resnet.SpikingResNet, got {type(model).__name__}")
    neuron, size = model.neuron, IMAGE_SIZE
    pops: list[Population] = []
    projs: list = []

    def conv_into(layer: SpikingConv, source: int, target: int) -> np.ndarray:
        w, b = _folded64(layer)
        projs.append(Conv2d(source, target, w, stride=layer.conv.stride, padding=layer.conv.padding))
        return b

    def population(channels: int, size: int, bias: np.ndarray) -> Population:
        # BN's constant current is per channel; a population's bias is per neuron, (C, H, W) order
        return Population((channels, size, size), neuron, np.repeat(bias, size * size))

    pops.append(population(model.width, size, conv_into(model.stem, INPUT, 0)))
    node = 0
    for block in model.blocks:
        stride = block.conv1.conv.stride[0]
        size = (size - 1) // stride + 1
        c_out = block.conv1.conv.out_channels
        first, second = len(pops), len(pops) + 1
        pops.append(population(c_out, size, conv_into(block.conv1, node, first)))
        bias = conv_into(block.conv2, first, second)
        if block.shortcut is None:
            projs.append(Identity(node, second))
        else:
            bias = bias + conv_into(block.shortcut, node, second)
        pops.append(population(c_out, size, bias))
        node = second
    out = len(pops)
    positions = size * size
    # the pool folded in float64 from the parameters, as the eval forward does in the model's dtype
    fc = model.fc.weight.detach().cpu().double()[:, :, None].expand(-1, -1, positions) / positions
    projs.append(Dense(node, out, fc.reshape(model.n_classes, -1).numpy()))
    pops.append(Population((model.n_classes,), neuron, None if model.out_bias is None else _np(model.out_bias)))
    # the origin keeps the function's first home: networks and the files made from them stay as they were
    meta = {
        "origin": "bridges.resnet.resnet_to_evsim", "architecture": "resnet18-cifar", "width": model.width,
        "rule": model.rule, **(metadata or {}),
    }  # fmt: skip
    return Network((model.in_channels, IMAGE_SIZE, IMAGE_SIZE), pops, projs, meta)


def resnet_from_evsim(
    net: Network, rule: str = "none", dtype=torch.float32, rho: float = DEFAULT_RHO
) -> SpikingResNet:
    """The BN-free SpikingResNet (constant currents as biases) of an evsim ResNet18 network, as
    `resnet_to_evsim` or `scenarios.bench_resnet.resnet18` builds it; its forward gives evsim's
    spikes (up to rounding, as `bridges.resnet`'s docstring says). Weights are copied exactly.

    ValueError if the network is not that topology, mixes neuron models, has a non-unit identity
    scale, or a classifier that is not a repeated (average-pooled) one.
    """
    if not isinstance(net, Network) or net.fixed_point is not None:
        raise ValueError("resnet_from_evsim needs a float evsim.Network")
    if len(net.input_shape) != 3 or net.input_shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"resnet_from_evsim needs input_shape (C, 32, 32), got {net.input_shape}")
    neuron = net.populations[0].neuron
    if any(p.neuron != neuron for p in net.populations):
        raise ValueError("resnet_from_evsim needs one neuron model for every population")
    model = SpikingResNet(
        net.populations[0].shape[0], net.input_shape[0], net.n_out, neuron, rule, rho, batchnorm=False
    ).to(dtype)
    skeleton = resnet_to_evsim(model)
    if len(skeleton.projections) != len(net.projections) or len(skeleton.populations) != len(net.populations):
        raise ValueError("the network is not the ResNet18 topology of bridges.resnet (population/projection count)")
    for q, (want, got) in enumerate(zip(skeleton.projections, net.projections)):
        same = type(want) is type(got) and (want.source, want.target) == (got.source, got.target)
        if same and isinstance(want, Conv2d):
            same = (want.weight.shape, want.stride, want.padding) == (got.weight.shape, got.stride, got.padding)
        if same and isinstance(want, Dense):
            same = want.weight.shape == got.weight.shape
        if not same:
            raise ValueError(f"projection {q} ({got.kind}, {got.source} -> {got.target}) does not match the ResNet18 "
                             f"topology of bridges.resnet ({want.kind}, {want.source} -> {want.target})")
        if isinstance(got, Identity) and got.scale != 1.0:
            raise ValueError(f"projection {q}: identity shortcut scale {got.scale} (only 1.0 maps to SpikingResNet)")
    for p, (want, got) in enumerate(zip(skeleton.populations, net.populations)):
        if want.shape != got.shape:
            raise ValueError(f"population {p} has shape {got.shape}; the topology needs {want.shape}")

    def channel_bias(p: int) -> torch.Tensor:
        """A conv population's bias per channel (constant over positions, as folded BN is)."""
        pop = net.populations[p]
        if pop.bias is None:
            return torch.zeros(pop.shape[0], dtype=torch.float64)
        per = pop.bias.reshape(pop.shape[0], -1)
        if not (per == per[:, :1]).all():
            raise ValueError(f"population {p} has a bias that varies over positions; SpikingResNet's is per channel")
        return torch.tensor(per[:, 0])

    projs = iter(net.projections)
    with torch.no_grad():  # copy after the dtype change, so float64 weights stay exact
        layers: list[tuple[SpikingConv | None, int | None]] = [(model.stem, 0)]
        for i, block in enumerate(model.blocks):
            first, second = 1 + 2 * i, 2 + 2 * i
            layers += [(block.conv1, first), (block.conv2, second), (block.shortcut, None)]
        for layer, pop in layers:
            proj = next(projs)
            if layer is None:  # identity shortcut
                continue
            layer.conv.weight.copy_(torch.tensor(proj.weight))
            layer.bias.copy_(channel_bias(pop) if pop is not None else torch.zeros(layer.bias.shape[0]))
        dense = next(projs).weight
        positions = dense.shape[1] // model.fc.in_features
        per = dense.reshape(model.n_classes, model.fc.in_features, positions)
        if not (per == per[:, :, :1]).all():
            raise ValueError("the classifier is not a global-average-pooled linear layer (weights differ over positions)")
        model.fc.weight.copy_(torch.tensor(per[:, :, 0] * positions))
        out = net.populations[-1]
        model.out_bias.copy_(torch.tensor(out.bias) if out.bias is not None else torch.zeros(model.n_classes))
    return model.eval()
