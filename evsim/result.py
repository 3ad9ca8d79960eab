"""`SimulationResult`: what one run of a network on a batch produced (every engine and reference)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SimulationResult:
    """What one simulation of a batch of B samples over T steps produced.

    predictions: (B,) int64, class index or -1 (abstain).
    scores: (B, n_out) int64 decoder values omega (spike counts or T - first spike step).
    output_spikes: (T, B, n_out) bool; all False after a sample's exit step.
    hidden_spikes: one (T, B, n) bool array per hidden population in (C, H, W)-flat order (empty
        unless recorded).
    exit_step: (B,) int64, the step at which the run stopped (early exit), T if it never did.
    first_spike_step: (B,) int64, step of the first output spike, T if the output stayed silent.
    steps: (B,) int64, steps the simulator ran per sample (reported by the kernel itself).
    sops_per_step: (T, B, L) int64 synaptic operations per step, sample and projection.
    macs_per_step: (T, B, L) int64 multiply-accumulates (non-zero float inputs x synapses reached).
    spikes_in: (B, L) int64 spikes that entered each projection (over the simulated steps).
    values_in: (B, L) int64 non-zero float input values that entered each projection.
    spike_counts: (B, P) int64 spikes of each population.
    membrane_updates: (B, P) int64 neuron updates done per population (NeuroBench's name).
    """

    predictions: np.ndarray
    scores: np.ndarray
    output_spikes: np.ndarray
    hidden_spikes: tuple[np.ndarray, ...]
    exit_step: np.ndarray
    first_spike_step: np.ndarray
    steps: np.ndarray
    sops_per_step: np.ndarray
    macs_per_step: np.ndarray
    spikes_in: np.ndarray
    values_in: np.ndarray
    spike_counts: np.ndarray
    membrane_updates: np.ndarray
    decoder: str
    early_exit: bool

    @property
    def sops(self) -> np.ndarray:
        """Exact synaptic operations (B, L) int64 per sample and projection (layer)."""
        return self.sops_per_step.sum(axis=0)

    @property
    def macs(self) -> np.ndarray:
        """Multiply-accumulates (B, L) int64 per sample and projection (float-fed layers only)."""
        return self.macs_per_step.sum(axis=0)


__all__ = ["SimulationResult"]
