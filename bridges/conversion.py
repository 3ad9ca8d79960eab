"""ANN-to-SNN conversion (Rueckauer et al. 2017; paper Eq. 14): a ReLU ANN becomes an IF network.

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
