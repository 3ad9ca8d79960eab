"""ANNs that z-score their input: the set-up of codebases that attack normalised images.

Many codebases train on z = (x - mean) / std and run FGSM on z, so their eps is in units of the
dataset's standard deviation. `ZScored` is such a network written as a model of pixels: it takes
images x in [0, 1] and computes net((x - mean) / std), so training it on pixels is training `net`
on z, and an FGSM step of eps_z on z is the FGSM step eps_z * std on x (sign(dL/dz) =
sign(dL/dx), std > 0), clipped to the pixel box. `pixel_eps(eps_z, std)` converts.

Models are trained once and cached like the zoo's (`scenarios.setups.models.train_or_load`): the
checkpoint key covers this module's code, the statistics and the training images.
"""

from __future__ import annotations

import torch

from bridges.ann import ARCHITECTURES, ReLUMLP
from bridges.training import TrainConfig, ann_loss, ann_spec

from ..machinery.accuracy import ann_accuracy
from .models import ANN_LR, Split, train_or_load


def pixel_statistics(train: Split) -> tuple[float, float]:
    """(mean, std) over every pixel of the training images (Fashion-MNIST: 0.2860, 0.3530; MNIST:
    0.1307, 0.3081), in float64, rounded to 4 digits as codebases hard-code them."""
    x = train.x.astype("float64")
    return round(float(x.mean()), 4), round(float(x.std()), 4)


def pixel_eps(eps_z: float, std: float) -> float:
    """The pixel-unit eps of an FGSM step of eps_z in z units."""
    return float(eps_z) * float(std)


class ZScored(torch.nn.Module):
    """net((x - mean) / std) for images x (B, ...) in [0, 1]; mean and std are scalars (buffers)."""

    def __init__(self, net: torch.nn.Module, mean: float, std: float):
        super().__init__()
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std}")
        self.net = net
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def get_zscored_ann(dataset: str, train: Split, test: Split, epochs: int, seed: int = 0, tag: str = "") -> ZScored:
    """The paper's ReLU ANN of `dataset` trained on z-scored images (statistics of `train`), as a
    model of pixels; trained once, then reloaded (eval mode). tag: as for `scenarios.setups.models.get_ann`."""
    mean, std = pixel_statistics(train)
    torch.manual_seed(seed)
    net = ReLUMLP(ARCHITECTURES[dataset])
    model = ZScored(net, mean, std)
    spec = ann_spec(net) | {"input": "z-score", "mean": mean, "std": std}
    train_or_load(
        model, spec, train, ann_loss, TrainConfig(epochs=epochs, lr=ANN_LR, seed=seed), dataset,
        f"zscore_ann_seed{seed}{tag}", evaluate=lambda m: ann_accuracy(m, test.x, test.y), desc=f"z-scored ANN {dataset} seed {seed}",
        code="scenarios.setups.zscore",
    )  # fmt: skip
    return model.eval()
