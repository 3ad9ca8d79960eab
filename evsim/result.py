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
    profile: where the run's time went (`RunProfile`), or None (`simulate(..., profile=True)` only).
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
    profile: RunProfile | None = None

    @property
    def sops(self) -> np.ndarray:
        """Exact synaptic operations (B, L) int64 per sample and projection (layer)."""
        return self.sops_per_step.sum(axis=0)

    @property
    def macs(self) -> np.ndarray:
        """Multiply-accumulates (B, L) int64 per sample and projection (float-fed layers only)."""
        return self.macs_per_step.sum(axis=0)


@dataclass(frozen=True)
class RunProfile:
    """Where the time of one profiled float run went (`evsim.simulate(..., profile=True)`).

    kernel_s: (L,) CPU seconds in each projection's kernels (its events of every step turned into
        SOPs and MACs), summed over the threads; projections in `net.projections` order.
    integrate_s: (P,) CPU seconds in each population's integrate pass (membrane decay and update,
        spike test, reset, event list), summed over the threads.
    loop_s: CPU seconds in the compiled loop over samples and steps, summed over the threads
        (kernels, integrate passes, the synaptic decay, the input split and the bookkeeping).
    run_s: wall seconds of the compiled loop; total_s: wall seconds of the whole run (the plan, the
        input layout and the result arrays included); threads: Numba threads the run had.
    """

    kernel_s: np.ndarray
    integrate_s: np.ndarray
    loop_s: float
    run_s: float
    total_s: float
    threads: int

    def shares(self) -> dict[str, float]:
        """The run's thread time (threads x total_s) split in shares that sum to 1: "kernels",
        "integrate", "loop_other" (decay, input split, bookkeeping), "idle" (threads waiting in the
        compiled loop: too few chunks, uneven ones) and "outside_loop" (the Python layer, one thread
        busy, counted for every thread)."""
        machine = self.threads * self.total_s
        kernels, integrate = float(self.kernel_s.sum()), float(self.integrate_s.sum())
        return {
            "kernels": kernels / machine,
            "integrate": integrate / machine,
            "loop_other": (self.loop_s - kernels - integrate) / machine,
            "idle": (self.threads * self.run_s - self.loop_s) / machine,
            "outside_loop": self.threads * (self.total_s - self.run_s) / machine,
        }


__all__ = ["RunProfile", "SimulationResult"]
