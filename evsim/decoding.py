"""Output decoders: spike trains (T, B, N) become scores omega (B, N) and predictions (B,).

- rate (paper Eq. 12): omega_i = sum_k s_i[k].
- TTFS (paper Eq. 13): omega_i = max_k (T - k) s_i[k], 0 when silent; the earliest spike wins.

Prediction = argmax omega with ties to the lowest index; when every omega_i is 0 the network
abstains: prediction -1 (`ABSTAIN`), which metrics count as wrong.
"""

from __future__ import annotations

import numpy as np

DECODERS = ("rate", "ttfs")
ABSTAIN = -1


def _check_spikes(spikes) -> np.ndarray:
    arr = np.asarray(spikes)
    if arr.ndim != 3:
        raise ValueError(f"spikes must have shape (T, B, N), got {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError("spikes must have at least one step (T >= 1)")
    return arr


def rate_scores(spikes) -> np.ndarray:
    """Spike counts (B, N) int64 of spikes (T, B, N)."""
    arr = _check_spikes(spikes)
    return (arr != 0).sum(axis=0, dtype=np.int64)


def ttfs_scores(spikes) -> np.ndarray:
    """TTFS scores (B, N) int64: T - k of each neuron's first spike step k, 0 if silent."""
    arr = _check_spikes(spikes)
    T = arr.shape[0]
    weight = (T - np.arange(T, dtype=np.int64)).reshape(T, 1, 1)
    return ((arr != 0) * weight).max(axis=0)


def scores(spikes, decoder: str) -> np.ndarray:
    """omega (B, N) for decoder "rate" or "ttfs"."""
    if decoder == "rate":
        return rate_scores(spikes)
    if decoder == "ttfs":
        return ttfs_scores(spikes)
    raise ValueError(f"unknown decoder {decoder!r}; choose from {DECODERS}")


def predict(omega) -> np.ndarray:
    """Predictions (B,) int64 from scores (B, N): argmax, ties to the lowest index, -1 if all 0."""
    arr = np.asarray(omega)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"scores must have shape (B, N) with N >= 1, got {arr.shape}")
    pred = arr.argmax(axis=1).astype(np.int64)  # argmax returns the first maximum
    pred[(arr == 0).all(axis=1)] = ABSTAIN
    return pred


def decode(spikes, decoder: str) -> np.ndarray:
    """Predictions (B,) of output spikes (T, B, N) under `decoder`."""
    return predict(scores(spikes, decoder))


def predictions_over_time(spikes, decoder: str) -> np.ndarray:
    """Predictions (T, B): row k is the decision computed from steps 0..k only (TAAcc, Eq. 26).

    TTFS keeps the weight T - k of the full window, so row T-1 equals `decode(spikes, "ttfs")`.
    """
    arr = _check_spikes(spikes) != 0
    if decoder == "rate":
        running = np.cumsum(arr, axis=0, dtype=np.int64)
    elif decoder == "ttfs":
        T = arr.shape[0]
        weight = (T - np.arange(T, dtype=np.int64)).reshape(T, 1, 1)
        running = np.maximum.accumulate(arr * weight, axis=0)
    else:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {DECODERS}")
    T, B, N = running.shape
    return predict(running.reshape(T * B, N)).reshape(T, B)


def first_spike_step(spikes) -> np.ndarray:
    """Step (B,) int64 of the first spike of any neuron, T when the sample never spiked."""
    arr = _check_spikes(spikes) != 0
    T = arr.shape[0]
    any_spike = arr.any(axis=2)  # (T, B)
    return np.where(any_spike.any(axis=0), any_spike.argmax(axis=0), T).astype(np.int64)
