"""What a run costs on a chip: energy per image term by term from evsim's exact counts, and chip time.

`cost(net, result, chip)` multiplies each count evsim measured per image by the profile's constant
for it, and keeps the terms apart (no term is hidden in a total):

- synaptic operations (SOPs: exact, `result.sops`), MACs of float-fed layers where the profile
  prices them;
- neuron updates (`result.membrane_updates`), split on Loihi into active and inactive updates. Our
  reading of Davies et al.'s "active / inactive": an update is active when the neuron fires in it;
- spike messages: one per (spike, destination core), the cores from `check`'s mapping (Loihi);
  priced at Loihi's within-tile spike energy, a lower bound: the hops between tiles need a placement,
  which evsim does not model, so the tile-hop term is reported without a count;
- the paper's 65 nm model: its weight reads, accumulates, MACs and leakage (`evsim.energy`,
  `snn_energy_exact`), with its delay model.

A term whose constant was never published has energy None and is listed in `missing`; totals sum
the priced terms only and say so. Chip time is `result.steps` (early exit counted: a sample that
stopped early ran fewer steps and did no later work), in ns where a per-step latency is published.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..energy import snn_energy_exact
from ..network import Network
from ..result import SimulationResult
from .check import Fit, check
from .profiles import Constant, Profile, profile as get_profile


@dataclass(frozen=True)
class Term:
    """One term: count (B,) per image (None where evsim cannot count it), its constant, and energy
    (B,) in pJ (low and high ends of the constant's range; None where no figure is published)."""

    name: str
    count: np.ndarray | None
    constant: Constant
    energy_low_pj: np.ndarray | None
    energy_high_pj: np.ndarray | None


@dataclass(frozen=True)
class Cost:
    """Energy per image, term by term, and chip time, for one profile.

    total_low_pj, total_high_pj: (B,) sums of the priced terms (None if none is priced); missing:
    names of the terms without a published constant or without a count; steps: (B,) chip steps;
    time_ns: (B,) where a per-step latency is published, else None."""

    profile: str
    terms: tuple[Term, ...]
    total_low_pj: np.ndarray | None
    total_high_pj: np.ndarray | None
    missing: tuple[str, ...]
    steps: np.ndarray
    time_ns: np.ndarray | None
    notes: tuple[str, ...]

    def term(self, name: str) -> Term:
        for t in self.terms:
            if t.name == name:
                return t
        raise KeyError(f"no term {name!r}; the terms are {[t.name for t in self.terms]}")


def _term(name: str, count, constant: Constant) -> Term:
    if count is None or not constant.published:
        return Term(name, None if count is None else np.asarray(count, dtype=np.int64), constant, None, None)
    lo, hi = constant.value if isinstance(constant.value, tuple) else (constant.value, constant.value)
    count = np.asarray(count, dtype=np.int64)
    return Term(name, count, constant, count * float(lo), count * float(hi))


def _messages(net: Network, result: SimulationResult, fit: Fit) -> np.ndarray:
    """(B,) spike messages: each spike of a population times its neuron's destination cores."""
    if len(result.hidden_spikes) != len(net.populations) - 1:
        raise ValueError("counting spike messages needs every population's spikes: simulate with record_hidden=True")
    spikes = list(result.hidden_spikes) + [result.output_spikes]
    return sum(s.sum(axis=0, dtype=np.int64) @ d for s, d in zip(spikes, fit.destination_cores))


def cost(net: Network, result: SimulationResult, chip: str | Profile, fit: Fit | None = None) -> Cost:
    """The cost of `result` (a run of `net`) on `chip`; `fit` is `check(net, chip)` (computed if None)."""
    if not isinstance(net, Network) or not isinstance(result, SimulationResult):
        raise ValueError("cost needs an evsim.Network and the SimulationResult of a run of it")
    prof = chip if isinstance(chip, Profile) else get_profile(chip)
    e, notes = prof.energy, []
    sops = result.sops.sum(axis=1)
    macs = result.macs.sum(axis=1)
    updates = result.membrane_updates.sum(axis=1)
    fired = result.spike_counts.sum(axis=1)
    terms: list[Term] = []
    time_ns = None
    if prof.name == "paper_65nm":
        rep = snn_energy_exact(net, result, prof.model)
        for name, value, key in (("weight reads", rep.read_pj.sum(), "per_weight_read"),
                                 ("leakage", rep.leak_pj.sum(), "leakage_power")):
            t = Term(name, None, e[key], np.full(len(sops), value), np.full(len(sops), value))
            terms.append(t)
        terms += [_term("synaptic operations", sops, e["per_sop"]), _term("MACs", macs, e["per_mac"])]
        time_ns = np.full(len(sops), rep.total_delay_ns)
        notes.append("the paper's delay model (Eq. 35, 37) does not depend on the steps run")
    elif prof.name == "loihi":
        fit = check(net, prof) if fit is None else fit
        terms += [_term("synaptic operations", sops, e["per_sop"]),
                  _term("active neuron updates", fired, e["per_active_neuron_update"]),
                  _term("inactive neuron updates", updates - fired, e["per_inactive_neuron_update"]),
                  _term("spike messages within a tile", _messages(net, result, fit), e["per_spike_within_tile"]),
                  _term("tile hops", None, e["per_tile_hop"])]  # fmt: skip
        notes.append("tile hops need a placement of the cores on the mesh, which evsim does not model: the spike "
                     "messages are priced as within-tile (a lower bound)")
    elif prof.name == "truenorth":
        terms.append(_term("synaptic events", sops, e["per_synaptic_event"]))
        notes.append("TrueNorth's figure is an all-in average with static power: no other term is added")
    elif prof.name == "spinnaker2":
        terms += [_term("synaptic events", sops, e["per_synaptic_event"]),
                  _term("neuron updates", updates, e["per_neuron_update"])]
    else:
        terms += [_term("synaptic operations", sops, e.get("per_sop", Constant("not published", "pJ", prof.chip))),
                  _term("neuron updates", updates, e.get("per_neuron_update", Constant("not published", "pJ",
                                                                                        prof.chip)))]  # fmt: skip
    if prof.name != "paper_65nm" and macs.any():
        notes.append(f"{int(macs.sum())} MACs of float-fed layers are not priced: {prof.chip} takes spikes")
    priced = [t for t in terms if t.energy_low_pj is not None]
    missing = tuple(t.name for t in terms if t.energy_low_pj is None)
    low = sum(t.energy_low_pj for t in priced) if priced else None
    high = sum(t.energy_high_pj for t in priced) if priced else None
    return Cost(prof.name, tuple(terms), low, high, missing, result.steps.copy(), time_ns, tuple(notes))
