"""Moving networks between torch and evsim with identical spikes.

`to_evsim(model)` turns a `SpikingMLP` (trained with Act-BP or Temp-BP, or holding converted
weights) into an `evsim.Network`; `from_evsim(net)` builds the torch twin of a dense evsim
network (for gradients, e.g. white-box attacks). Weights are copied exactly (float64 in evsim).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

import evsim

from .snn import DEFAULT_RHO, SpikingMLP


def to_evsim(model: SpikingMLP, metadata: Mapping[str, object] | None = None) -> evsim.Network:
    """The evsim network of a SpikingMLP: same weights, biases and neuron."""
    if not isinstance(model, SpikingMLP):
        raise ValueError(f"to_evsim needs a bridges.snn.SpikingMLP, got {type(model).__name__}")
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
