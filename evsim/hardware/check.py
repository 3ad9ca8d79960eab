"""Does a network fit a chip? `check(net, profile)` maps it onto the chip and names every broken limit.

Loihi (per core: compartments, fan-in axons, fan-out edges, synaptic memory). Each population is
split into cores of equal size, contiguous in its public (C, H, W) order; the size is the largest
that keeps every core within its compartments, fan-in axons (distinct source neurons that reach
the core's neurons, exact for every projection kind) and synaptic memory (the synapses into the
core times the weight bits: every synapse counted as stored, our model's upper bound, without
Loihi's compressed formats or any index overhead). Then each core's fan-out edges are counted: one
per (neuron of the core, destination core it reaches). The network input comes from off-chip and
takes no core. What no core size can fix (a single neuron with too many sources or synapses) and
every core beyond its fan-out is a `Violation`.

Speck and Xylo: the layer, kernel, stride, channel, destination and size limits of their profiles;
weight and state bits for fixed-point networks (a float network is noted, not failed: quantise it
first). A profile without limits entered reports that nothing was checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network
from .profiles import Profile, profile as get_profile


@dataclass(frozen=True)
class Violation:
    """One broken limit: where (a population or projection), which limit, the value found, the
    limit's value and by how much the value exceeds it (None where the limit is a set of values)."""

    where: str
    limit: str
    value: object
    allowed: object
    excess: int | None

    def __str__(self) -> str:
        by = f" (by {self.excess})" if self.excess is not None else ""
        return f"{self.where}: {self.limit} = {self.value}, the chip allows {self.allowed}{by}"


@dataclass(frozen=True)
class Fit:
    """The result of `check`. cores, neurons_per_core, memory_bytes: per population (empty where
    the profile maps no cores); checked: the limits looked at; notes: what was not checked and why."""

    profile: str
    violations: tuple[Violation, ...]
    cores: tuple[int, ...]
    neurons_per_core: tuple[int, ...]
    memory_bytes: tuple[int, ...]
    checked: tuple[str, ...]
    notes: tuple[str, ...]
    destination_cores: tuple[np.ndarray, ...] = ()

    @property
    def fits(self) -> bool:
        """No checked limit is broken (`checked` is empty where the profile has no limits entered)."""
        return not self.violations

    def __str__(self) -> str:
        verdict = "fits" if self.fits else "does not fit"
        head = f"{verdict if self.checked else 'nothing checked for'} {self.profile}"
        if self.cores:
            head += f": {sum(self.cores)} cores, {sum(self.memory_bytes)} bytes of synaptic memory"
        return "\n".join([head] + [f"  {v}" for v in self.violations] + [f"  note: {n}" for n in self.notes])


def _window_mask(proj, src_shape, tgt_shape, lo: int, hi: int) -> np.ndarray:
    """(n_src,) bool: the source neurons (public order) that reach targets lo..hi-1 of `proj`."""
    n_src = math.prod(src_shape)
    if isinstance(proj, Dense):
        return np.ones(n_src, dtype=bool)
    if isinstance(proj, Identity):
        mask = np.zeros(n_src, dtype=bool)
        mask[lo:hi] = True
        return mask
    c_in, h, w = src_shape
    _, h_out, w_out = tgt_shape
    (kh, kw), (sy, sx) = proj.kernel_size, proj.stride
    py, px = proj.padding if isinstance(proj, Conv2d) else (0, 0)
    per_channel = isinstance(proj, AvgPool2d)  # a pool's channel c reads source channel c only
    mask = np.zeros((c_in, h, w), dtype=bool)
    hw = h_out * w_out
    for co in range(lo // hw, (hi - 1) // hw + 1):
        p_lo, p_hi = max(lo - co * hw, 0), min(hi - co * hw, hw)
        plane = mask[co] if per_channel else mask[0]
        for oy in range(p_lo // w_out, (p_hi - 1) // w_out + 1):
            ox_lo, ox_hi = max(p_lo - oy * w_out, 0), min(p_hi - oy * w_out, w_out)  # columns [ox_lo, ox_hi)
            y0, x0 = oy * sy - py, ox_lo * sx - px
            plane[max(y0, 0) : max(y0 + kh, 0), max(x0, 0) : max((ox_hi - 1) * sx - px + kw, 0)] = True
        if not per_channel and p_hi - p_lo == hw:
            break  # a whole output channel reaches every source position any channel does
    if not per_channel:
        mask[:] = mask[0]
    return mask.ravel()


def _synapses(net: Network, q: int) -> np.ndarray:
    """(n_target,) int64: synapses into each target neuron of projection q (public order)."""
    proj = net.projections[q]
    src_shape, tgt_shape = net.shape_of(proj.source), net.populations[proj.target].shape
    n_tgt = math.prod(tgt_shape)
    if isinstance(proj, Dense):
        return np.full(n_tgt, math.prod(src_shape), dtype=np.int64)
    if isinstance(proj, Identity):
        return np.ones(n_tgt, dtype=np.int64)
    c_in, h, w = src_shape
    c_out, h_out, w_out = tgt_shape
    (kh, kw), (sy, sx) = proj.kernel_size, proj.stride
    py, px = proj.padding if isinstance(proj, Conv2d) else (0, 0)
    rows = np.array([min(oy * sy - py + kh, h) - max(oy * sy - py, 0) for oy in range(h_out)])
    cols = np.array([min(ox * sx - px + kw, w) - max(ox * sx - px, 0) for ox in range(w_out)])
    per_pos = np.outer(rows, cols).ravel() * (1 if isinstance(proj, AvgPool2d) else c_in)
    return np.tile(per_pos, c_out).astype(np.int64)


def _map_loihi(net: Network, prof: Profile, weight_bits: int, violations: list) -> tuple[list, list, list, list]:
    comp = prof.limit("compartments").value
    axons, edges = prof.limit("fan_in_axons").value, prof.limit("fan_out_edges").value
    memory = prof.limit("synaptic_memory_bytes").value
    incoming = {p: [q for q, pr in enumerate(net.projections) if pr.target == p] for p in range(len(net.populations))}
    syn = {q: _synapses(net, q) for q in range(len(net.projections))}

    def core_load(p: int, lo: int, hi: int) -> tuple[int, int]:
        """(fan-in axons, synaptic memory in bytes) of one core holding neurons lo..hi-1 of p."""
        fan_in = 0
        for q in incoming[p]:
            proj = net.projections[q]
            fan_in += int(_window_mask(proj, net.shape_of(proj.source), net.populations[p].shape, lo, hi).sum())
        n_syn = sum(int(syn[q][lo:hi].sum()) for q in incoming[p])
        return fan_in, -(-n_syn * weight_bits // 8)

    def fits(p: int, size: int) -> bool:
        n = net.populations[p].size
        return all(a <= axons and m <= memory for a, m in (core_load(p, lo, min(lo + size, n)) for lo in range(0, n, size)))

    sizes, cores, mem = [], [], []
    for p, pop in enumerate(net.populations):
        # one neuron's synapses come from distinct source neurons: its fan-in is its synapse count
        one_axons = int(sum(syn[q] for q in incoming[p]).max())
        one_mem = -(-one_axons * weight_bits // 8)
        if one_axons > axons or one_mem > memory:  # no split helps: one neuron alone is too much
            if one_axons > axons:
                violations.append(Violation(f"population {p}", "fan_in_axons (one neuron)", one_axons, axons,
                                            one_axons - axons))
            if one_mem > memory:
                violations.append(Violation(f"population {p}", "synaptic_memory_bytes (one neuron)", one_mem, memory,
                                            one_mem - memory))
            size = 1
        else:
            lo_s, hi_s = 1, min(comp, pop.size)  # largest size that fits: the loads grow with the size
            while lo_s < hi_s:
                mid = (lo_s + hi_s + 1) // 2
                lo_s, hi_s = (mid, hi_s) if fits(p, mid) else (lo_s, mid - 1)
            size = lo_s
        sizes.append(size)
        cores.append(-(-pop.size // size))
        mem.append(sum(core_load(p, lo, min(lo + size, pop.size))[1] for lo in range(0, pop.size, size)))
    # fan-out edges: one per (source neuron, destination core it reaches)
    destinations = []
    for s, pop in enumerate(net.populations):
        per_neuron = np.zeros(pop.size, dtype=np.int64)
        for q, proj in enumerate(net.projections):
            if proj.source != s:
                continue
            t, n_t = proj.target, net.populations[proj.target].size
            for lo in range(0, n_t, sizes[t]):
                per_neuron += _window_mask(proj, pop.shape, net.populations[t].shape, lo, min(lo + sizes[t], n_t))
        destinations.append(per_neuron)
        worst = max(int(per_neuron[lo : lo + sizes[s]].sum()) for lo in range(0, pop.size, sizes[s]))
        if worst > edges:
            violations.append(Violation(f"population {s} (its fullest core)", "fan_out_edges", worst, edges,
                                        worst - edges))
    return sizes, cores, mem, destinations


def _layer_limits(net: Network, prof: Profile, violations: list, checked: list) -> None:
    names = {lim.name: lim.value for lim in prof.limits}

    def over(where, limit, value):
        if limit in names:
            checked.append(limit)
            if value > names[limit]:
                violations.append(Violation(where, limit, value, names[limit], value - names[limit]))

    over("network", "layers", len(net.populations))
    over("network input", "inputs_max", net.n_in)
    over("network", "hidden_max", sum(p.size for p in net.populations[:-1]))
    over(f"population {len(net.populations) - 1} (output)", "outputs_max", net.n_out)
    # a flat vector is C channels of 1 x 1 (a Dense from it a 1 x 1 kernel); a Dense from (C, H, W) is
    # an H x W kernel
    over("network input", "channels_max", net.input_shape[0] if len(net.input_shape) == 3 else net.n_in)
    for p, pop in enumerate(net.populations):
        over(f"population {p}", "channels_max", pop.shape[0] if len(pop.shape) == 3 else pop.size)
    for node in [INPUT] + list(range(len(net.populations))):
        outgoing = sum(proj.source == node for proj in net.projections)
        over("network input" if node == INPUT else f"population {node}", "destinations_per_layer", outgoing)
    for q, proj in enumerate(net.projections):
        src_shape = net.shape_of(proj.source)
        if isinstance(proj, Dense) and len(src_shape) == 3:
            over(f"projection {q} (dense from {src_shape})", "kernel_size_max", max(src_shape[1:]))
        if isinstance(proj, (Conv2d, AvgPool2d)):
            over(f"projection {q} ({proj.kind})", "kernel_size_max", max(proj.kernel_size))
            if "strides" in names:
                checked.append("strides")
                bad = [s for s in proj.stride if s not in names["strides"]]
                if bad:
                    violations.append(Violation(f"projection {q} ({proj.kind})", "strides", proj.stride,
                                                names["strides"], None))


def _mantissa_bits(net: Network) -> int:
    """The two's complement width that holds every weight mantissa (w >> exponent) of a fixed-point
    network: what a chip's "8-bit weights" ([-128, 127]) mean. SPEC's W-bit mantissas are symmetric
    (|m| <= 2**(W-1) - 1), so a network at W holds W-bit chip weights, and int8's -128 needs W = 9
    there (`speck_network`, `xylo_network`) while it still fits 8 chip bits."""
    bits = 1
    for proj in net.projections:
        w = np.asarray(proj.scale if isinstance(proj, Identity) else proj.weight, dtype=np.int64) >> proj.exponent
        if w.size:
            bits = max(bits, max(int(w.max()), 0).bit_length() + 1, max(int(-w.min()) - 1, 0).bit_length() + 1)
    return bits


def check(net: Network, chip: str | Profile) -> Fit:
    """Map `net` onto `chip` (a profile or its name) and report every limit it breaks (a `Fit`)."""
    if not isinstance(net, Network):
        raise ValueError(f"net must be an evsim.Network, got {type(net).__name__}")
    prof = chip if isinstance(chip, Profile) else get_profile(chip)
    violations, checked, notes = [], [], []
    names = {lim.name: lim.value for lim in prof.limits}
    if not prof.limits:
        notes.append(f"no limits are entered for {prof.name}: nothing was checked")
    if net.fixed_point is None:
        bits = prof.arithmetic.weight_bits
        if names:
            notes.append("a float network: weight and state bits not checked (quantise it first); memory counted "
                         f"at the chip's {bits}-bit weights")
        weight_bits = bits if isinstance(bits, int) else 8
    else:
        _, S, _ = net.fixed_point
        W = weight_bits = _mantissa_bits(net)
        if "weight_bits" in names:
            checked.append("weight_bits")
            allowed = names["weight_bits"]
            top = allowed[1] if isinstance(allowed, tuple) else allowed
            if W > top:
                violations.append(Violation("network", "weight_bits", W, allowed, W - top))
        if "state_bits" in names:
            checked.append("state_bits")
            if S > names["state_bits"]:
                violations.append(Violation("network", "state_bits", S, names["state_bits"], S - names["state_bits"]))
    sizes, cores, mem, dest = [], [], [], []
    if "compartments" in names:
        checked += ["compartments", "fan_in_axons", "fan_out_edges", "synaptic_memory_bytes"]
        sizes, cores, mem, dest = _map_loihi(net, prof, weight_bits, violations)
    _layer_limits(net, prof, violations, checked)
    return Fit(prof.name, tuple(violations), tuple(cores), tuple(sizes), tuple(mem), tuple(dict.fromkeys(checked)),
               tuple(notes), tuple(dest))
