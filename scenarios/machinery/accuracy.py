"""A torch ANN's predictions and accuracy on images, the one way every job and the zoo score an ANN."""

from __future__ import annotations

import numpy as np
import torch


def ann_predictions(model: torch.nn.Module, x: np.ndarray, batch: int | None = None) -> np.ndarray:
    """Argmax predictions (N,) of `model` on images x (N, ...) float32, on the model's device.

    batch: None runs all of x in one forward pass; else `batch` images at a time (a forward pass
    of other size may round differently: a job keeps the batching it always had)."""
    device = next(model.parameters()).device
    with torch.no_grad():
        if batch is None:
            return model(torch.from_numpy(x).to(device)).argmax(1).cpu().numpy()
        return np.concatenate(
            [model(torch.from_numpy(x[i : i + batch]).to(device)).argmax(1).cpu().numpy() for i in range(0, len(x), batch)]
        )


def ann_accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch: int | None = None) -> float:
    """The share of images x (N, ...) whose `ann_predictions` equal the labels y (N,)."""
    return float((ann_predictions(model, x, batch) == y).mean())
