"""The arrays a run's kernel writes, and their assembly into a `SimulationResult` (both runs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..decoding import predict, scores as decode_scores
from ..network import Network
from ..result import SimulationResult
from .plan import Plan, record_table, recorded_spikes


@dataclass
class Outputs:
    """Zeroed output arrays of one run of B samples over T steps (L projections, P populations).

    pops: the plan's population table with the record offsets (`plan.record_table`); spikes:
    (T, B, R) uint8 record rows; the counts as `SimulationResult` names them. first_spike and
    exit_step are left for the kernel to set per sample.
    """

    pops: np.ndarray
    spikes: np.ndarray
    sops: np.ndarray
    macs: np.ndarray
    spikes_in: np.ndarray
    values_in: np.ndarray
    counts: np.ndarray
    updates: np.ndarray
    steps: np.ndarray
    first_spike: np.ndarray
    exit_step: np.ndarray

    @classmethod
    def allocate(cls, plan: Plan, T: int, B: int, record_hidden: bool) -> Outputs:
        pops, width = record_table(plan, record_hidden)
        P, L = plan.pops.shape[0], plan.proj.shape[0]
        return cls(
            pops=pops,
            spikes=np.zeros((T, B, width), dtype=np.uint8),
            sops=np.zeros((T, B, L), dtype=np.int64),
            macs=np.zeros((T, B, L), dtype=np.int64),
            spikes_in=np.zeros((B, L), dtype=np.int64),
            values_in=np.zeros((B, L), dtype=np.int64),
            counts=np.zeros((B, P), dtype=np.int64),
            updates=np.zeros((B, P), dtype=np.int64),
            steps=np.zeros(B, dtype=np.int64),
            first_spike=np.empty(B, dtype=np.int64),
            exit_step=np.empty(B, dtype=np.int64),
        )

    def result(self, net: Network, plan: Plan, decoder: str, early_exit: bool) -> SimulationResult:
        """The run's `SimulationResult`: spikes in public order, decoded with `decoder`."""
        per_pop = recorded_spikes(net, self.spikes, self.pops, plan.orders)
        output = per_pop[-1]
        omega = decode_scores(output, decoder)
        return SimulationResult(
            predictions=predict(omega),
            scores=omega,
            output_spikes=output,
            hidden_spikes=tuple(per_pop[:-1]),
            exit_step=self.exit_step,
            first_spike_step=self.first_spike,
            steps=self.steps,
            sops_per_step=self.sops,
            macs_per_step=self.macs,
            spikes_in=self.spikes_in,
            values_in=self.values_in,
            spike_counts=self.counts,
            membrane_updates=self.updates,
            decoder=decoder,
            early_exit=bool(early_exit),
        )
