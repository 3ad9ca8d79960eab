"""ANN-to-SNN conversion: a ReLU ANN becomes an SNN.

Two ways, both in the paper:
- `convert` (Fig. 2, Eq. 14; Rueckauer et al. 2017): an IF network with reset by subtraction and
  data-normalised weights, for rate-coded inference that approximates the ANN.
- `copy_to_snn` (Figs. 3-5, "CVT"): the ANN's weights copied unchanged into LIF layers with the
  trained SNNs' neuron, "to ensure a fair comparison" with Act-BP and Temp-BP (paper, Methods).
  On Fashion-MNIST (784-500-10, LIF tau 10, T 10, current encoding) this keeps the accuracy
  within a few points of the ANN, while `convert`'s normalisation (weights / lambda, which
  suits IF neurons integrating over many steps) leaves LIF layers silent in 10 steps.

`convert`:
Data-based weight normalisation: with lambda_l a high activation of layer l measured on
calibration data (its maximum, or a robust percentile of its positive activations) and
lambda_0 = 1 (pixels lie in [0, 1]),

    W_l(SNN) = W_l(ANN) * lambda_{l-1} / lambda_l,      b_l(SNN) = b_l(ANN) / lambda_l,

so that every layer's normalised activation stays below 1 and an IF neuron with threshold 1 and
reset by subtraction fires at a rate proportional to it. The output layer is normalised the
same way (its positive logits).
"""

from __future__ import annotations

import numpy as np
import torch

import evsim

from .ann import ReLUMLP
from .snn import SpikingMLP


def activation_scales(ann: ReLUMLP, x: torch.Tensor, percentile: float = 100.0, batch: int = 1024) -> list[float]:
    """lambda_l for every layer: the `percentile` of its positive activations over x.

    x: calibration inputs (N, n_in) in [0, 1] (typically a few thousand training images).
    percentile: 100 is the maximum (Rueckauer's max norm); 99.9 or 99.99 is the robust variant
    that ignores rare outliers.
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must lie in (0, 100], got {percentile}")
    acts: list[list[torch.Tensor]] = [[] for _ in ann.layers]
    with torch.no_grad():
        for start in range(0, x.shape[0], batch):
            for layer, h in enumerate(ann.activations(x[start : start + batch])):
                acts[layer].append(h.flatten())
    scales = []
    for layer, chunks in enumerate(acts):
        values = torch.cat(chunks).double()
        positive = values[values > 0]
        if positive.numel() == 0:
            raise ValueError(f"layer {layer} is never active on the calibration data: cannot normalise it")
        scales.append(float(np.percentile(positive.numpy(), percentile)))
    return scales


def convert(ann: ReLUMLP, x_calib: torch.Tensor, percentile: float = 100.0, theta: float = 1.0) -> evsim.Network:
    """The IF network (reset by subtraction, threshold `theta`) of a ReLU ANN, weights normalised
    by `activation_scales(ann, x_calib, percentile)`. Settings go into the network's metadata."""
    scales = activation_scales(ann, x_calib, percentile)
    weights, biases = [], []
    previous = 1.0
    for layer, scale in zip(ann.layers, scales):
        w = layer.weight.detach().double().numpy()
        weights.append(w * (previous / scale) * theta)
        biases.append(None if layer.bias is None else layer.bias.detach().double().numpy() / scale * theta)
        previous = scale
    metadata = {
        "origin": "ann-to-snn conversion (Rueckauer et al. 2017)",
        "percentile": float(percentile),
        "calibration_samples": int(x_calib.shape[0]),
        "scales": ",".join(f"{s:.6g}" for s in scales),
    }
    return evsim.Network.dense(weights, biases, neuron=evsim.IF(theta=theta), metadata=metadata)


def copy_to_snn(ann: ReLUMLP, neuron, rule: str = "none") -> SpikingMLP:
    """The paper's CVT: a `SpikingMLP` of `neuron` (e.g. evsim.LIF(10, 10)) with `ann`'s weights
    (and biases) copied unchanged. rule: the SpikingMLP's gradient rule ("none": inference only;
    `bridges.whitebox.SNNClassifier` attacks it through Act-BP, as the paper does)."""
    if not isinstance(ann, ReLUMLP):
        raise ValueError(f"copy_to_snn needs a bridges.ann.ReLUMLP, got {type(ann).__name__}")
    has_bias = ann.layers[0].bias is not None
    snn = SpikingMLP(ann.sizes, neuron, rule=rule, bias=has_bias)
    with torch.no_grad():
        for target, source in zip(snn.layers, ann.layers):
            target.weight.copy_(source.weight)
            if has_bias:
                target.bias.copy_(source.bias)
    return snn
