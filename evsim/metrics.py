"""Robustness metrics of the paper's Methods ("Robustness analysis", Eq. 25-30) on evsim's arrays.

Predictions are class indices, -1 (`evsim.ABSTAIN`) when the output stayed silent; an abstention
never equals a label, so it counts as wrong everywhere (SPEC "Decoders and predictions").
Steps k = 0 .. T-1 are the paper's t = k + 1.

| function | paper | returns |
|---|---|---|
| `accuracy(predictions, labels)` | Eq. 25 | float in [0, 1] |
| `taacc(output_spikes, labels, decoder)` | Eq. 26 | (T,) float, from one simulation |
| `stability(predictions, labels)` | Eq. 27 | float in [0, 1], over K stochastic trials |
| `attack_success_rate(attacked, labels, clean=None)` | Eq. 28 | float in [0, 1] |
| `perturbation_timing(clean_encoded, attacked_encoded)` | zeta[t] | (T,) float, sums to 1 |
| `foreground_mask(x)`, `split_perturbation(x, x_adv)` | fg/bg split, threshold 0.2 | masks, images |
| `cumulative_hidden_rate(hidden_spikes)` | Eq. 29 | (T, B) spikes per step |
| `hidden_rate(hidden_spikes)` | Eq. 30 | (T, B) fraction of neurons |
| `neurobench(net, result)` | NeuroBench 2.3.0 | dict of NeuroBench's metrics (`evsim.neurobench`) |

Every function validates its input and raises `ValueError` saying what is wrong (shapes that do
not match, labels out of range, empty input, NaN).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .decoding import ABSTAIN, predictions_over_time
from .encoder_registry import encoder_names, is_registered
from .encoding import ENCODERS, _check_T, _check_x, encode, generator, ratesyn_count
from .events import draw_steps, poisson_changes
from .neurobench import neurobench

FOREGROUND_THRESHOLD = 0.2  # paper, Methods: MNIST pixels above 0.2 are foreground


# ---------------------------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------------------------


def _int_array(value, name: str, ndim: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be an array of integer class indices, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}): a metric needs at least one sample")
    return arr.astype(np.int64, copy=False)


def _labels(labels, n_classes: int | None = None) -> np.ndarray:
    y = _int_array(labels, "labels", 1)
    if y.min() < 0:
        raise ValueError(f"labels must be >= 0, got minimum {y.min()}")
    if n_classes is not None and y.max() >= n_classes:
        raise ValueError(f"labels must be < {n_classes} (number of classes), got maximum {y.max()}")
    return y


def _predictions(predictions, name: str, ndim: int, n_classes: int | None = None) -> np.ndarray:
    p = _int_array(predictions, name, ndim)
    if p.min() < ABSTAIN:
        raise ValueError(f"{name} must be class indices or {ABSTAIN} (abstain), got minimum {p.min()}")
    if n_classes is not None and p.max() >= n_classes:
        raise ValueError(f"{name} must be < {n_classes} (number of classes), got maximum {p.max()}")
    return p


def _check_n_classes(n_classes) -> int | None:
    if n_classes is None:
        return None
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer or None, got {n_classes!r}")
    return int(n_classes)


def _same_samples(pred: np.ndarray, y: np.ndarray, name: str) -> None:
    if pred.shape[-1] != y.shape[0]:
        raise ValueError(f"{name} has {pred.shape[-1]} samples but labels has {y.shape[0]}")


def _real_array(value, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype == bool:
        return arr
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"{name} must be a real-valued array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ValueError(f"{name} contains {int(np.isnan(arr).sum())} NaN value(s)")
    return arr


def _image(value, name: str) -> np.ndarray:
    arr = _real_array(value, name)
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{name} must lie in [0, 1] (scale images first); got values in [{arr.min()}, {arr.max()}]")
    return arr


def _spikes(value, name: str) -> np.ndarray:
    """A (T, B, N) spike array as bool (nonzero = spike)."""
    arr = _real_array(value, name)
    if arr.ndim != 3:
        raise ValueError(f"{name} must have shape (T, B, N), got {arr.shape}")
    if 0 in arr.shape:
        raise ValueError(f"{name} is empty (shape {arr.shape}): T, B and N must all be >= 1")
    return arr != 0


# ---------------------------------------------------------------------------------------------
# accuracy-type metrics (Eq. 25-28)
# ---------------------------------------------------------------------------------------------


def accuracy(predictions, labels, n_classes: int | None = None) -> float:
    """Classification accuracy (Eq. 25): the fraction of samples whose prediction equals the label.

    predictions: (B,) integer class indices, -1 for an abstention (always wrong).
    labels: (B,) integer labels >= 0.
    n_classes: optional; when given, labels and predictions must also be < n_classes.
    Returns a float in [0, 1] (the paper reports it in %).
    """
    n = _check_n_classes(n_classes)
    y = _labels(labels, n)
    p = _predictions(predictions, "predictions", 1, n)
    _same_samples(p, y, "predictions")
    return float(np.mean(p == y))


def taacc(output_spikes, labels, decoder: str) -> np.ndarray:
    """Time-accumulated accuracy (Eq. 26) of one simulation: TAAcc[k] for every step k.

    output_spikes: (T, B, N) output spikes of one run (e.g. `SimulationResult.output_spikes`).
    labels: (B,) integer labels in [0, N).
    decoder: "rate" or "ttfs".

    TAAcc[k] is the accuracy of the decision computed from steps 0..k only (the paper's t = k+1),
    all from this single run via `evsim.decoding.predictions_over_time`: no re-simulation, since a
    causal network's first k+1 steps do not depend on later input. A run stopped by early exit
    has no output after its exit step, so its curve stays at the exit decision (which is the full
    run's TTFS decision). Returns (T,) float64 in [0, 1]; TAAcc[T-1] is the final accuracy.
    """
    s = _spikes(output_spikes, "output_spikes")
    y = _labels(labels, s.shape[2])
    if s.shape[1] != y.shape[0]:
        raise ValueError(f"output_spikes has {s.shape[1]} samples but labels has {y.shape[0]}")
    over_time = predictions_over_time(s, decoder)  # (T, B)
    return (over_time == y[None, :]).mean(axis=1)


def stability(predictions, labels, n_classes: int | None = None) -> float:
    """Stability (Eq. 27): the mean correctness over K repeated stochastic (e.g. Poisson) trials.

    predictions: (K, B) predictions of K independent simulations of the same B clean samples
        (different encoder seeds); -1 counts as wrong.
    labels: (B,) integer labels.
    Returns (1 / (K |D|)) sum_k sum_d 1(prediction = label), a float in [0, 1].
    """
    n = _check_n_classes(n_classes)
    y = _labels(labels, n)
    p = _predictions(predictions, "predictions", 2, n)
    _same_samples(p, y, "predictions")
    return float(np.mean(p == y[None, :]))


def attack_success_rate(attacked_predictions, labels, clean_predictions=None, n_classes: int | None = None) -> float:
    """Attack success rate (Eq. 28), a float in [0, 1] (the paper reports %).

    attacked_predictions: (B,) predictions on the adversarial samples; -1 counts as misled.
    labels: (B,) integer labels.
    clean_predictions: optional (B,) predictions on the clean samples.

    - Without `clean_predictions` (the paper's definition): N_success / N_attack with N_attack
      all B test samples and N_success those misclassified under attack, i.e. 1 - attacked accuracy.
      A sample the model already gets wrong when clean counts as a success.
    - With `clean_predictions` (the common variant in the attack literature): only samples the model
      classifies correctly when clean are attacked (N_attack); the rate is the fraction of them that
      the attack turns wrong. Raises ValueError when no clean sample is correct (the rate is undefined).
    """
    n = _check_n_classes(n_classes)
    y = _labels(labels, n)
    adv = _predictions(attacked_predictions, "attacked_predictions", 1, n)
    _same_samples(adv, y, "attacked_predictions")
    fooled = adv != y
    if clean_predictions is None:
        return float(np.mean(fooled))
    clean = _predictions(clean_predictions, "clean_predictions", 1, n)
    _same_samples(clean, y, "clean_predictions")
    attacked = clean == y
    if not attacked.any():
        raise ValueError("no sample is classified correctly when clean: the ASR over correct samples is undefined")
    return float(np.mean(fooled[attacked]))


# ---------------------------------------------------------------------------------------------
# where and when perturbations act
# ---------------------------------------------------------------------------------------------


def perturbation_timing(clean_encoded, attacked_encoded, where=None) -> np.ndarray:
    """Temporal distribution of perturbations zeta[k] (Methods, "Robustness analysis").

    clean_encoded, attacked_encoded: (T, ...) encoded inputs of the same images, clean and
        attacked (e.g. `evsim.encode(x, T, m)` and `evsim.encode(x_adv, T, m)`, any batch shape,
        the same seed for Poisson).
    where: optional bool mask of shape clean_encoded.shape[1:] (or broadcastable to it), e.g. the
        foreground of the encoded pixels. Only differences where it is True are counted in the
        numerator; the denominator stays all differences, so the foreground and background parts
        add up to the full zeta (paper Fig. 2E).

    zeta[k] = (number of elements with attacked[k] != clean[k]) / (that number summed over all
    steps): how often a perturbation shows at step k, over the whole dataset and all pixels.
    Returns (T,) float64 summing to 1; when the encodings never differ, all zeros (not NaN).
    """
    clean = _real_array(clean_encoded, "clean_encoded")
    atk = _real_array(attacked_encoded, "attacked_encoded")
    if clean.shape != atk.shape:
        raise ValueError(f"clean_encoded {clean.shape} and attacked_encoded {atk.shape} differ in shape")
    if clean.ndim < 1 or clean.shape[0] < 1:
        raise ValueError(f"encoded inputs must have shape (T, ...) with T >= 1, got {clean.shape}")
    differs = clean != atk  # (T, ...)
    T = clean.shape[0]
    total = int(differs.sum())
    if where is not None:
        mask = np.asarray(where)
        if mask.dtype != bool:
            raise ValueError(f"where must be a boolean mask, got dtype {mask.dtype}")
        try:
            mask = np.broadcast_to(mask, clean.shape[1:])
        except ValueError:
            raise ValueError(f"where has shape {mask.shape}; it must broadcast to {clean.shape[1:]}") from None
        differs = differs & mask[None]
    counts = differs.reshape(T, -1).sum(axis=1, dtype=np.int64)
    if total == 0:
        return np.zeros(T, dtype=np.float64)
    return counts / total


def _steps_in_ranges(start: np.ndarray, stop: np.ndarray, T: int) -> np.ndarray:
    """(T,) int64: for each step k, how many half-open ranges [start, stop) hold it."""
    start, stop = start.ravel(), stop.ravel()
    keep = stop > start
    edges = np.bincount(start[keep], minlength=T + 1) - np.bincount(stop[keep], minlength=T + 1)
    return np.cumsum(edges[:T]).astype(np.int64)


def perturbation_counts(x_clean, x_adv, T: int, method: str, seed=None) -> np.ndarray:
    """Encoded values a perturbation changes, per step: (T,) int64, without encoding either batch.

    Equals ``(encode(x_clean, T, method, seed) != encode(x_adv, T, method, seed)).reshape(T, -1).sum(1)``
    (the numerator of zeta, `perturbation_timing`), computed from the spike counts n(x): a pixel
    whose count moves from n to n' changes RateSynS at steps [min, max), RateSynE at
    [T - max, T - min), TTFS at its two first-spike steps; the current encoding changes at every
    step where the float32 values differ; Poisson (same draws u for both) where u lies between them.
    A registered encoder (`evsim.register_encoder`) encodes both batches, drawing the same numbers
    for each (a Generator seed is left where one encoding leaves it) and compares them.
    x_clean, x_adv: images of one shape, values in [0, 1]. seed: as in `encode` (Poisson and
    registered encoders).
    """
    T = _check_T(T)
    xc, xa = _check_x(x_clean), _check_x(x_adv)
    if xc.shape != xa.shape:
        raise ValueError(f"x_clean {xc.shape} and x_adv {xa.shape} differ in shape")
    if is_registered(method):
        rng = generator(seed)
        state = rng.bit_generator.state
        clean = encode(xc, T, method, seed=rng)
        rng.bit_generator.state = state  # the same draws for the attacked batch
        return (clean != encode(xa, T, method, seed=rng)).reshape(T, -1).sum(axis=1, dtype=np.int64)
    if not isinstance(method, str) or method not in ENCODERS:
        raise ValueError(f"unknown encoding method {method!r}; choose from {encoder_names()}")
    if method == "current":
        return np.full(T, int((xc.astype(np.float32) != xa.astype(np.float32)).sum()), dtype=np.int64)
    if method == "poisson":
        # encode's draws u (spike iff u < x), drawn in numba without a (T, ...) array
        lo = np.minimum(xc, xa).astype(np.float64).ravel()
        hi = np.maximum(xc, xa).astype(np.float64).ravel()
        counts = np.zeros(T, dtype=np.int64)
        draw_steps(generator(seed), T, lo.size, lambda g, k0, k1: poisson_changes(g, lo, hi, k0, k1, counts))
        return counts
    nc, na = ratesyn_count(xc, T), ratesyn_count(xa, T)
    lo, hi = np.minimum(nc, na), np.maximum(nc, na)
    if method == "ratesyn_s":
        return _steps_in_ranges(lo, hi, T)
    if method == "ratesyn_e":
        return _steps_in_ranges(T - hi, T - lo, T)
    moved = nc != na  # ttfs: the old and the new first-spike step both change (a silent side has none)
    counts = np.zeros(T, dtype=np.int64)
    for n in (nc, na):
        fires = moved & (n > 0)
        counts += np.bincount((T - n)[fires], minlength=T)[:T]
    return counts


def foreground_mask(x, threshold: float = FOREGROUND_THRESHOLD) -> np.ndarray:
    """Foreground pixels of images x in [0, 1]: bool array of x's shape, True where x > threshold.

    The paper (Methods) splits MNIST at 0.2: pixels above it are foreground, the rest (0.2 itself
    included) background. The mask is elementwise (per channel for colour images).
    """
    arr = _image(x, "x")
    real = isinstance(threshold, (int, float, np.floating)) and not isinstance(threshold, bool)
    if not real or not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    return arr > threshold


def split_perturbation(x_clean, x_adv, threshold: float = FOREGROUND_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Split an attack into its foreground and background parts (paper Fig. 2E-F, Supp. Fig. S4).

    x_clean, x_adv: images in [0, 1] of the same shape (any batch shape).
    The masks come from the clean image: foreground = `foreground_mask(x_clean, threshold)`.
    Returns (x_foreground_only, x_background_only): the clean image with the perturbation
    x_adv - x_clean applied only on its foreground, or only on its background. Each pixel is
    exactly either its clean or its adversarial value (so both stay in [0, 1]), and the parts sum
    back: x_foreground_only + x_background_only - x_clean == x_adv (up to float rounding).
    """
    clean = _image(x_clean, "x_clean")
    adv = _image(x_adv, "x_adv")
    if clean.shape != adv.shape:
        raise ValueError(f"x_clean {clean.shape} and x_adv {adv.shape} differ in shape")
    fg = foreground_mask(clean, threshold)
    dtype = np.result_type(clean.dtype, adv.dtype, np.float32)
    clean, adv = clean.astype(dtype, copy=False), adv.astype(dtype, copy=False)
    return np.where(fg, adv, clean), np.where(fg, clean, adv)


# ---------------------------------------------------------------------------------------------
# hidden-layer activity (Eq. 29-30)
# ---------------------------------------------------------------------------------------------


def _hidden(hidden_spikes) -> np.ndarray:
    """One (T, B, N) bool array from an array or a sequence of them (concatenated on neurons)."""
    if isinstance(hidden_spikes, (list, tuple)):
        if not hidden_spikes:
            raise ValueError(
                "hidden_spikes is empty: the network has no hidden layer, or it was simulated "
                "with record_hidden=False"
            )
        parts = [_spikes(h, f"hidden_spikes[{i}]") for i, h in enumerate(hidden_spikes)]
        if len({p.shape[:2] for p in parts}) != 1:
            raise ValueError(f"hidden_spikes arrays differ in (T, B): {[p.shape for p in parts]}")
        return np.concatenate(parts, axis=2)
    return _spikes(hidden_spikes, "hidden_spikes")


def cumulative_hidden_rate(hidden_spikes) -> np.ndarray:
    """Rate[t] of Eq. 29, literally: hidden spikes up to step k divided by the t = k + 1 steps.

    hidden_spikes: (T, B, N) spikes of the hidden neurons, or a sequence of such arrays (e.g.
        `SimulationResult.hidden_spikes`), concatenated on the neuron axis (all hidden layers).
    Returns (T, B) float64: Rate[k] = sum_{tau <= k} sum_j S_j[tau] / (k + 1).

    Eq. 29 normalises by elapsed time only, not by the number of neurons: the value is the
    population's mean spike count per step (in [0, N]), not a per-neuron rate. Divide by N for
    the mean per-neuron rate per step (comparable with `hidden_rate`). After an early exit the
    run records no spikes, so the value decays as 1/t there.
    """
    s = _hidden(hidden_spikes)
    per_step = s.sum(axis=2, dtype=np.int64)  # (T, B)
    t = np.arange(1, s.shape[0] + 1, dtype=np.float64)[:, None]
    return np.cumsum(per_step, axis=0) / t


def hidden_rate(hidden_spikes) -> np.ndarray:
    """HiddenRate[t] of Eq. 30: the fraction of the N hidden neurons that spike at step k.

    hidden_spikes: (T, B, N) or a sequence of such arrays (concatenated on the neuron axis).
    Returns (T, B) float64 in [0, 1].
    """
    s = _hidden(hidden_spikes)
    return s.mean(axis=2, dtype=np.float64)


__all__ = [
    "perturbation_counts",
    "FOREGROUND_THRESHOLD", "accuracy", "attack_success_rate", "cumulative_hidden_rate", "foreground_mask",
    "hidden_rate", "neurobench", "perturbation_timing", "split_perturbation", "stability", "taacc",
]
