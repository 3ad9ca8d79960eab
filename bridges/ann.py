"""ReLU ANNs with the paper's architectures: fully connected, no bias (paper, "Architectures").

784-100-10 for MNIST and 784-500-10 for Fashion-MNIST. The same `sizes` build the SNN that a
converted, CVT or directly trained model becomes, so weights move between them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

ARCHITECTURES = {"mnist": (784, 100, 10), "fashion-mnist": (784, 500, 10)}


class ReLUMLP(torch.nn.Module):
    """Linear-ReLU-...-Linear; sizes (n_in, hidden..., n_out). Input (B, n_in) or (B, 1, 28, 28)."""

    def __init__(self, sizes: Sequence[int], bias: bool = False):
        super().__init__()
        sizes = [int(n) for n in sizes]
        if len(sizes) < 2 or any(n < 1 for n in sizes):
            raise ValueError(f"sizes must list n_in, (hidden...,) n_out, all >= 1; got {sizes}")
        self.sizes = sizes
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(n_in, n_out, bias=bias) for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_out)."""
        return self.activations(x)[-1]

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's output (B, n_l): ReLU activations of hidden layers, then the logits."""
        h = x.reshape(x.shape[0], -1)
        out = []
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = torch.relu(h)
            out.append(h)
        return out
