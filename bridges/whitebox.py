"""White-box attacks through an SNN: differentiable encoders and an image classifier to attack.

`encode(x, T, method, seed=None, channel_axis=1)` is `evsim.encode` in torch. Its values are
evsim's own (the spikes are computed by `evsim.encode` on the detached input, so Poisson draws,
the spike-count guard and the fused order are identical bit for bit); what it adds is a gradient
with respect to x (paper, Methods, "Attack methods"; SPEC "Attacks"):

| method                          | forward (= evsim.encode)  | dL/dx                                       |
|---------------------------------|---------------------------|---------------------------------------------|
| `current`                       | x at every step           | sum_k g[k] (exact: x repeated T times)      |
| `poisson`                       | 1 if u < x                | sum_k g[k] (straight-through, ds[k]/dx = 1, |
|                                 |                           | Sharmin et al. 2020)                        |
| `ratesyn_s`, `ratesyn_e`, `ttfs`| spike trains              | sum_k g[k] s[k]: the spike-train gradient   |
|                                 |                           | summed over the steps that hold a spike     |
| fused list                      | concatenated on the axis  | each part's rule on its slice of g          |

with g[k] = dL/ds[k]. So a pixel that emits no spike under RateSyn/TTFS gets no gradient (e.g.
MNIST background under RateSynE), as in the paper.

`SpikingClassifier(model, encoder, T, decoder)` (alias `SNNClassifier`; `bridges.quantized.
FixedPointClassifier` adds quantised evsim networks) turns a spiking module into a model that
torchattacks can attack: images (B, ...) in [0, 1] -> flattened, encoded, simulated -> logits =
`decoder_scores` of the output spikes (B, n_out) (rate counts or TTFS values, the quantities the
networks are trained on with cross-entropy). The module is a `bridges.snn.SpikingMLP` or its
fixed-point twin (`bridges.quantized.FixedPointNetwork`, `QATSpikingNetwork`: dense or conv), or anything that, like
them, has `sizes` (inputs per step first), maps (T, B, sizes[0]) to a `bridges.snn.SNNOutput`
and computes in the dtype of its first parameter or buffer; one that sets `spike_inputs_only`
refuses the current encoding. For a `SpikingMLP`, which rule carries the gradient is `gradient`:
"actbp" (default) takes Act-BP's sigmoid surrogate whatever rule trained the weights;
"trained" takes the rule the network was trained with (Temp-BP's spike-timing gradient for a
Temp-BP network: "both Act-BP and Temp-BP also provide gradients for white-box attacks", paper
Fig. 3D), and Act-BP for a network without a rule ("none", e.g. a converted SNN: "the converted
SNN uses Act-BP to backpropagate gradients"). The forward pass, and so every prediction, is the
same under every rule. Other modules carry their own gradient (the fixed-point twin: Act-BP's).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch

import evsim

from .snn import SpikingMLP, decoder_scores

__all__ = ["GRADIENTS", "GRADIENT_RULES", "SNNClassifier", "SpikingClassifier", "encode"]

# which training rule carries an SNNClassifier's gradient (module docstring)
GRADIENTS = ("actbp", "trained")

# method -> how dL/dx is formed from g[k] = dL/ds[k] ("exact" for the current encoding).
GRADIENT_RULES = {
    "current": "exact",
    "poisson": "straight_through",
    "ratesyn_s": "spike_steps",
    "ratesyn_e": "spike_steps",
    "ttfs": "spike_steps",
}


class _SpikeTrain(torch.autograd.Function):
    """Forward: the given spike train (T, *x.shape). Backward: sum_k g[k] (straight-through)
    or sum_k g[k] s[k] (gradient at the steps that hold a spike)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, spikes: torch.Tensor, straight_through: bool) -> torch.Tensor:
        ctx.straight_through = straight_through
        if not straight_through:
            ctx.save_for_backward(spikes)
        return spikes.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        if ctx.straight_through:
            return grad.sum(dim=0), None, None
        (spikes,) = ctx.saved_tensors
        return (grad * spikes).sum(dim=0), None, None


def _check_x(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
        raise ValueError(f"x must be a floating-point torch.Tensor, got {type(x).__name__} {getattr(x, 'dtype', '')}")
    if x.numel() == 0:
        raise ValueError(f"x is empty (shape {tuple(x.shape)})")
    if torch.isnan(x).any():
        raise ValueError(f"x contains {int(torch.isnan(x).sum())} NaN value(s)")
    lo, hi = float(x.detach().min()), float(x.detach().max())
    if lo < 0 or hi > 1:
        raise ValueError(f"x must lie in [0, 1] (clip or scale it first); got values in [{lo}, {hi}]")


def _one(x: torch.Tensor, values: torch.Tensor, method: str, T: int) -> torch.Tensor:
    """Encoded x with `method`'s gradient rule; values: evsim's encoding of x (T, *x.shape)."""
    if method == "current":
        return x.unsqueeze(0).expand(T, *x.shape)
    return _SpikeTrain.apply(x, values, GRADIENT_RULES[method] == "straight_through")


def encode(x: torch.Tensor, T: int, method: str | Sequence[str], seed=None, channel_axis: int = 1) -> torch.Tensor:
    """`evsim.encode` in torch, differentiable with respect to x by the rules of the module table.

    x: tensor (any shape, e.g. (B, N) or (B, C, H, W)), values in [0, 1]; T, method, seed and
    channel_axis as in `evsim.encode` (seed: int, None or numpy Generator; Poisson draws u with
    `numpy.random.default_rng(seed)` exactly as evsim does, a Generator advances).
    Returns (T, *x.shape) (fused: channel axis K times larger) in x's dtype and device. For
    float32 x the values equal `evsim.encode(x.numpy(), T, method, seed, channel_axis)` exactly.
    """
    _check_x(x)
    xn = x.detach().cpu().numpy()
    values = torch.from_numpy(evsim.encode(xn, T, method, seed=seed, channel_axis=channel_axis)).to(x.device, x.dtype)
    if isinstance(method, str):
        return _one(x, values, method, T)
    methods = list(method)  # evsim.encode has checked them
    axis = channel_axis % x.ndim + 1
    parts = values.split(x.shape[axis - 1], dim=axis)
    return torch.cat([_one(x, part, m, T) for part, m in zip(parts, methods)], dim=axis)


def _compute_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype a spiking module computes in: that of its first parameter or buffer."""
    for t in itertools.chain(model.parameters(), model.buffers()):
        return t.dtype
    return torch.get_default_dtype()


class SpikingClassifier(torch.nn.Module):
    """A spiking module seen as an image classifier: forward(images (B, ...) in [0, 1]) -> logits (B, n_out).

    model: a spiking module (module docstring): a `bridges.snn.SpikingMLP` (any rule; an Act-BP
        twin sharing its weights is used, see `gradient`), `bridges.quantized.FixedPointNetwork` or
        `QATSpikingNetwork`. It must take K * prod(image shape) inputs per step for K fused encoders.
    encoder: an evsim encoder name or a list of them (fused on the flattened image, as
        `bridges.training.snn_loss` encodes during training); spiking ones only for a module that
        sets `spike_inputs_only`.
    T: number of steps; decoder: "rate" or "ttfs" (logits = `decoder_scores`, in the module's dtype).
    gradient: "actbp" or "trained" (see the module docstring; used for a SpikingMLP).
    seed: Poisson draws. An int (default 0) draws the same u at every call for a batch of the
        same shape (a deterministic model, which iterative attacks and finite differences need);
        a numpy Generator draws fresh u at every call; None draws from fresh OS entropy.

    The module is kept as `self.snn` (and `self.model`). Note: rate/TTFS logits of an output that
    stays silent are all 0; argmax then says class 0, where evsim's decoders abstain (-1, counted
    wrong). Use `predict` for SPEC's predictions.
    """

    def __init__(self, model: torch.nn.Module, encoder: str | Sequence[str], T: int, decoder: str, seed=0,
                 gradient: str = "actbp"):  # fmt: skip
        super().__init__()
        if not isinstance(model, torch.nn.Module) or not hasattr(model, "sizes"):
            raise ValueError(f"{type(self).__name__} needs a spiking module such as bridges.snn.SpikingMLP, "
                             f"got {type(model).__name__}")  # fmt: skip
        if decoder not in evsim.DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; choose from {evsim.DECODERS}")
        methods = [encoder] if isinstance(encoder, str) else list(encoder)
        if not methods or any(m not in evsim.ENCODERS for m in methods):
            raise ValueError(f"unknown encoder {encoder!r}; choose from {evsim.ENCODERS} or a list of them")
        if getattr(model, "spike_inputs_only", False) and "current" in methods:
            raise ValueError(f"{type(model).__name__} takes spikes only: the encoder must be a spiking evsim encoder, "
                             f"got {encoder!r}")  # fmt: skip
        if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
            raise ValueError(f"T must be an integer >= 1, got {T!r}")
        if gradient not in GRADIENTS:
            raise ValueError(f"unknown gradient {gradient!r}; choose from {GRADIENTS}")
        self.encoder = encoder if isinstance(encoder, str) else methods
        self.n_encoders = len(methods)
        self.T, self.decoder, self.seed = int(T), decoder, seed
        self.trained_rule, self.gradient = getattr(model, "rule", None), gradient
        if isinstance(model, SpikingMLP) and not (
            model.rule == "actbp" or (gradient == "trained" and model.rule == "tempbp")
        ):  # Act-BP twin: same Linear modules (shared parameters), surrogate gradients
            twin = SpikingMLP(model.sizes, model.neuron, rule="actbp", rho=model.rho, bias=model.layers[0].bias is not None)
            twin.layers = model.layers
            model = twin
        self.snn = model

    @property
    def model(self) -> torch.nn.Module:
        """The spiking module that runs (for a SpikingMLP, possibly its Act-BP twin)."""
        return self.snn

    def encoded(self, images: torch.Tensor) -> torch.Tensor:
        """The module's input (T, B, K * N) of images (B, ...) (differentiable, see `encode`)."""
        if images.ndim < 2:
            raise ValueError(f"images must be a batch (B, ...), got shape {tuple(images.shape)}")
        x = images.reshape(images.shape[0], -1)
        if x.shape[1] * self.n_encoders != self.snn.sizes[0]:
            raise ValueError(
                f"{self.n_encoders} encoder(s) of {x.shape[1]} values give {x.shape[1] * self.n_encoders} "
                f"inputs; the network takes {self.snn.sizes[0]}"
            )
        return encode(x.to(_compute_dtype(self.snn)), self.T, self.encoder, seed=self.seed, channel_axis=1)

    def output_spikes(self, images: torch.Tensor) -> torch.Tensor:
        """Output spikes (T, B, n_out) with the module's gradient path."""
        return self.snn(self.encoded(images)).spikes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_out): decoder_scores of the output spikes."""
        return decoder_scores(self.output_spikes(images), self.decoder)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Predictions (B,) as evsim decides them: argmax, ties to the lowest index, -1 if silent."""
        logits = self.forward(images)
        pred = logits.argmax(dim=1)
        return torch.where((logits == 0).all(dim=1), torch.full_like(pred, evsim.ABSTAIN), pred)


SNNClassifier = SpikingClassifier  # the name the scenarios use
