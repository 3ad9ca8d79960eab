"""Interchange through NIR (the Neuromorphic Intermediate Representation, PyPI ``nir``).

``to_nir(net, dt)`` writes an evsim `Network` as a ``nir.NIRGraph``; ``from_nir(graph, dt)``
reads one back, from evsim or from snnTorch, Norse, SpikingJelly or Sinabs. Files are NIR's own
HDF5 format (``save`` / ``load`` wrap ``nir.write`` / ``nir.read``), and
``python -m evsim.nir export|import|inspect`` does the same from the command line.

NIR describes continuous-time ODEs; evsim runs discrete steps. The bridge is forward Euler at a
step of ``dt`` seconds (SPEC "Interchange (NIR)"), and ``dt`` is always the caller's: nothing
here has a default step, because a wrong dt gives a different network, not an error.

Neurons (per-neuron NIR arrays are shaped as the population)::

    evsim LIF(tau_m, tau_s, theta), bias b  <->  CubaLIF(tau_syn = tau_s dt, tau_mem = tau_m dt,
                                                   r = tau_m, w_in = 1, v_leak = b tau_m,
                                                   v_threshold = theta, v_reset = 0)
    evsim IF(theta, reset="zero")           <->  IF(r = 1/dt, v_threshold = theta, v_reset = 0)

Forward Euler of CubaLIF at dt reads ``I[k] = (1 - dt/tau_syn) I[k-1] + (dt/tau_syn) w_in x[k]``
and ``v[k] = (1 - dt/tau_mem) v[k-1] + (dt/tau_mem) (v_leak + r I[k])``: with the values above that
is evsim's LIF step exactly. On import, a node's factor ``c = w_in r dt / tau_mem`` (IF:
``c = r dt``; LIF: ``c = r dt / tau``) multiplies everything that reaches it; evsim has no such
field, so ``c`` is folded into the incoming weights (Dense rows, Conv2d output channels, an
Identity's scale) or, where an incoming pool cannot carry it and ``c`` is uniform, into the
threshold and bias (``theta / c``, ``b / c``: the membrane is measured in units of c). NIR's LIF
(no synaptic current) is evsim's LIF with ``tau_s = 1``.

Biases. evsim's population bias is a constant added to the membrane every step. In NIR that is
``v_leak`` (``b = v_leak dt / tau_mem``); an IF has no v_leak, so an IF population's bias is
written as the bias of an incoming Affine (or of a Conv2d, when it is constant per channel). An
Affine or Conv2d bias in front of a CubaLIF with ``tau_syn > dt`` passes through the synaptic
filter: a decaying input that no constant bias reproduces, so importing it is an error (build the
layer without a bias). NIR's ``v_reset`` must be 0 (evsim resets to U0 = 0).

Projections: Dense <-> Linear (Affine when it carries an IF bias; a Flatten node first when the
source is (C, H, W)); Conv2d <-> Conv2d (dilation 1, groups 1); AvgPool2d <-> AvgPool2d (no
padding); on import SumPool2d is an AvgPool2d whose k_h k_w gain goes where ``c`` goes. Identity
is a plain edge (a Scale node when scale != 1). Several projections into one population add
their currents, as several NIR edges into one node add their inputs. Scale nodes next to an
operation are folded into it; Flatten nodes only check shapes (evsim reads (C, H, W) flat, C-major,
as NIR's Flatten does).

Reset by subtraction (evsim IF's default, LIF's option) has no NIR form: NIR resets to v_reset
(nir issues #137, #138). Exporting it is a ValueError unless the caller passes
``lossy_reset=True``; the node is then written with NIR's reset to 0, and the graph's metadata
(``evsim_lossy_reset``, plus ``evsim_reset`` on each node) says so. Other tools run that node with
a hard reset; evsim reads the metadata back and restores the subtraction exactly.

Exact round trips. Every neuron node that evsim writes also carries evsim's own values in its
metadata (``evsim_tau_m``, ``evsim_tau_s``, ``evsim_theta``, ``evsim_reset``, ``evsim_bias``),
because ``(tau dt) / dt`` and ``(b tau) / tau`` are not always bit-exact in floating point. On
import they are used only when the NIR fields agree with them to 1e-9 (relative); a node whose
fields were edited away from its metadata is an error, never a silent choice.

Threshold semantics. NIR (and snnTorch, Norse, Sinabs) spike when ``v > v_threshold``; evsim
spikes when ``U >= theta``. evsim keeps ``theta = v_threshold`` both ways, so the two differ only
where a membrane lands exactly on the threshold (e.g. a weight of exactly theta from rest):
evsim spikes there and NIR does not. Behind trained real-valued weights that is rare (none in
5.1 million spike values of a Fashion-MNIST MLP in snnTorch); behind an unweighted pool it is not: pooled inputs are
multiples of 1/k^2, and a small convolutional snnTorch model differed in 0.3% of its spikes and 14%
of its predictions, every difference such a tie (README, "Interchange (NIR)").

What evsim cannot run exactly is an error naming the node: Delay, LI/CubaLI readouts (evsim has no
membrane decoder), I, Threshold, Conv1d, recurrent subgraphs and cycles, per-neuron time
constants or thresholds that differ within a population, ``tau/dt < 1`` (forward Euler would not
be a decay), a non-zero v_reset, two weighted operations with no neurons between them.

Frameworks (see the README's "Interchange (NIR)" for the measured agreement):
- snnTorch 1.0 writes ``tau = dt / (1 - beta)`` with dt = 1e-4 hard-coded: read its graphs with
  ``dt=1e-4``. Its Synaptic neuron is CubaLIF with ``r = tau_mem/dt`` and ``w_in = tau_syn/dt``.
  Its export writes every reset as a hard reset and ignores ``reset_delay``.
- Norse 1.1 reads evsim's graphs exactly; it writes ``tau = dt / tau_inv`` (norse issue #411),
  which evsim refuses as ``tau/dt < 1``.
- SpikingJelly 2.0 takes dt explicitly and writes IF with ``r = 1/dt`` and LIF as evsim reads them;
  it reads CubaLIF only in snnTorch's form (``w_in = tau_syn/dt``), so it refuses evsim's LIF.
- Sinabs 3.1.3 writes IAF as IF with ``r = 1`` (a per-step gain): read it at ``dt=1``. It writes its
  default subtractive, multi-spike IAF as the same hard-reset IF, which no reader can tell apart.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population
from ..neurons import IF, LIF

META_PREFIX = "evsim_meta."  # graph metadata key prefix for the network's own metadata
RTOL_METADATA = 1e-9  # how close NIR fields must be to a node's evsim metadata to use it


def _nir():
    """The nir package, imported on first use so that `import evsim` never needs it."""
    try:
        import nir
    except ImportError as err:  # pragma: no cover - nir is a core dependency
        raise ImportError("evsim.nir needs the `nir` package: pip install 'nir>=1.0.6'") from err
    return nir


def _check_dt(dt) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)):
        raise ValueError(f"dt must be a real number of seconds per step (e.g. 1e-3), got {dt!r}")
    dt = float(dt)
    if not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be finite and > 0 seconds, got {dt!r}")
    return dt


# ----------------------------------------------------------------------------------------------
# export


def _population_name(p: int) -> str:
    return f"population_{p}"


def _bias_carrier(net: Network, p: int) -> int | None:
    """Index of the projection whose NIR node carries IF population p's bias, or None.

    An IF has no v_leak, so its bias rides on an incoming Affine (any Dense) or on a Conv2d's
    per-channel bias when the bias is constant over each channel's positions.
    """
    pop = net.populations[p]
    for q, proj in enumerate(net.projections):
        if proj.target != p:
            continue
        if isinstance(proj, Dense) and len(pop.shape) == 1:
            return q
        if isinstance(proj, Conv2d):
            per_channel = pop.bias.reshape(pop.shape[0], -1)
            if np.all(per_channel == per_channel[:, :1]):
                return q
    return None


def _neuron_node(nir, pop: Population, p: int, dt: float, lossy_reset: bool):
    neuron, shape = pop.neuron, pop.shape
    if not isinstance(neuron, (IF, LIF)):  # e.g. a quantised (fixed-point) population
        raise ValueError(f"population {p} has {type(neuron).__name__} neurons; NIR carries float IF and LIF only")
    if neuron.reset == "subtract" and not lossy_reset:
        raise ValueError(
            f"population {p} ({neuron.kind.upper()}) resets by subtraction, which NIR cannot express: NIR "
            "resets to v_reset (nir issues #137, #138), so other tools would run a different network. "
            "Pass lossy_reset=True to write it as NIR's reset to 0; the graph metadata then records the "
            "subtraction and evsim reads it back exactly."
        )
    full = lambda value: np.full(shape, value, dtype=np.float64)  # noqa: E731
    meta = {
        "evsim_neuron": neuron.kind,
        "evsim_theta": float(neuron.theta),
        "evsim_reset": neuron.reset,
    }
    if pop.bias is not None:
        meta["evsim_bias"] = np.array(pop.bias, dtype=np.float64)
    if isinstance(neuron, LIF):
        meta["evsim_tau_m"] = float(neuron.tau_m)
        meta["evsim_tau_s"] = float(neuron.tau_s)
        v_leak = full(0.0) if pop.bias is None else pop.bias.reshape(shape) * neuron.tau_m
        return nir.CubaLIF(
            tau_syn=full(neuron.tau_s * dt),
            tau_mem=full(neuron.tau_m * dt),
            r=full(neuron.tau_m),
            v_leak=v_leak,
            v_threshold=full(neuron.theta),
            v_reset=full(0.0),
            w_in=full(1.0),
            metadata=meta,
        )
    return nir.IF(r=full(1.0 / dt), v_threshold=full(neuron.theta), v_reset=full(0.0), metadata=meta)


def to_nir(net: Network, dt: float, *, lossy_reset: bool = False):
    """Write `net` as a NIR graph, neurons discretised by forward Euler at `dt` seconds per step.

    Nodes: ``input`` (the input shape), ``population_<p>`` (CubaLIF for LIF, IF for IF),
    ``projection_<q>`` (Linear/Affine, Conv2d, AvgPool2d, or Scale for a scaled Identity; an
    Identity with scale 1 is a plain edge), ``projection_<q>_flatten`` where a Dense reads a
    (C, H, W) source, and ``output`` (the last population's shape).
    lossy_reset: write populations that reset by subtraction as NIR's reset to 0, recorded in the
        graph metadata (``evsim_lossy_reset``) and per node (``evsim_reset``); otherwise they are a
        ValueError.
    Returns a type-checked ``nir.NIRGraph``; ``nir.write(path, graph)`` stores it.
    """
    nir = _nir()
    if not isinstance(net, Network):
        raise ValueError(f"to_nir needs an evsim.Network, got {type(net).__name__}")
    dt = _check_dt(dt)
    for key in net.metadata:
        if "/" in key:
            raise ValueError(f"metadata key {key!r} holds '/', which NIR's HDF5 files read as a group path")

    sources = {proj.source for proj in net.projections}
    dead = [p for p in range(len(net.populations) - 1) if p not in sources]
    if dead:
        raise ValueError(
            f"population(s) {dead} feed no projection: NIR would make each a second graph output, and evsim's "
            "output is the last population alone"
        )
    nodes = {"input": nir.Input(input_type=np.array(net.input_shape))}
    edges: list[tuple[str, str]] = []
    lossy = []
    carriers: dict[int, int] = {}
    for p, pop in enumerate(net.populations):
        nodes[_population_name(p)] = _neuron_node(nir, pop, p, dt, lossy_reset)
        if pop.neuron.reset == "subtract":
            lossy.append(_population_name(p))
        if isinstance(pop.neuron, IF) and pop.bias is not None:
            q = _bias_carrier(net, p)
            if q is None:
                raise ValueError(
                    f"population {p} is an IF with a bias, which NIR can carry only as the bias of an incoming "
                    "Affine (a Dense projection into a flat population) or Conv2d (a bias constant per channel); "
                    "it has neither"
                )
            carriers[q] = p

    for q, proj in enumerate(net.projections):
        if getattr(proj, "exponent", None) is not None:
            raise ValueError(f"projection {q} holds quantised integer weights; export the float network to NIR")
        src_shape, tgt_shape = net.shape_of(proj.source), net.populations[proj.target].shape
        src = "input" if proj.source == INPUT else _population_name(proj.source)
        tgt = _population_name(proj.target)
        name = f"projection_{q}"
        bias_of = carriers.get(q)
        bias = None if bias_of is None else net.populations[bias_of].bias
        if isinstance(proj, Dense) or (isinstance(proj, Identity) and src_shape != tgt_shape):
            if len(tgt_shape) != 1:
                raise ValueError(
                    f"projection {q} ({proj.kind}) writes a flat vector into population {proj.target} of shape "
                    f"{tgt_shape}; NIR has no node that restores a (C, H, W) shape"
                )
            if len(src_shape) != 1:
                flat = f"{name}_flatten"
                nodes[flat] = nir.Flatten(input_type=np.array(src_shape), start_dim=0, end_dim=-1)
                edges.append((src, flat))
                src = flat
        if isinstance(proj, Dense):
            w = np.array(proj.weight)
            nodes[name] = nir.Linear(weight=w) if bias is None else nir.Affine(weight=w, bias=np.array(bias))
        elif isinstance(proj, Conv2d):
            c_out = proj.weight.shape[0]
            conv_bias = np.zeros(c_out) if bias is None else bias.reshape(c_out, -1)[:, 0].copy()
            nodes[name] = nir.Conv2d(
                input_shape=tuple(src_shape[1:]),
                weight=np.array(proj.weight),
                stride=proj.stride,
                padding=proj.padding,
                dilation=(1, 1),
                groups=1,
                bias=conv_bias,
            )
            # nir 1.0.8 computes a Conv2d's output from the kernel's height on both axes; set the true
            # shape so the graph type-checks for non-square kernels too
            nodes[name].output_type = {"output": np.array(tgt_shape)}
        elif isinstance(proj, AvgPool2d):
            nodes[name] = nir.AvgPool2d(
                kernel_size=np.array(proj.kernel_size), stride=np.array(proj.stride), padding=np.array([0, 0])
            )
        else:  # Identity
            if proj.scale == 1.0 and (src, tgt) not in edges:
                edges.append((src, tgt))
                continue
            # a Scale node also keeps two unit shortcuts between the same pair from being one edge
            nodes[name] = nir.Scale(scale=np.full(tgt_shape, proj.scale))
        edges.append((src, name))
        edges.append((name, tgt))

    last = len(net.populations) - 1
    nodes["output"] = nir.Output(output_type=np.array(net.populations[last].shape))
    edges.append((_population_name(last), "output"))

    metadata = {"evsim_version": __version__, "evsim_dt": dt}
    if lossy:
        metadata["evsim_lossy_reset"] = ",".join(lossy)
        metadata["evsim_lossy_note"] = (
            "these nodes reset by subtracting v_threshold in evsim; NIR has no such reset, so other tools run "
            "them with a reset to v_reset"
        )
    for key, value in net.metadata.items():
        metadata[META_PREFIX + key] = value.item() if isinstance(value, np.generic) else value
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)


# ----------------------------------------------------------------------------------------------
# import

_UNSUPPORTED = {
    "Delay": "a synaptic delay; evsim's projections have zero delay",
    "LI": "a leaky-integrator (membrane) readout; evsim has no decoder for membrane potentials, end the graph "
    "with spiking neurons",
    "CubaLI": "a leaky-integrator (membrane) readout; evsim has no decoder for membrane potentials, end the graph "
    "with spiking neurons",
    "I": "a non-spiking integrator; evsim's populations spike",
    "Threshold": "a bare threshold without a membrane; evsim's populations are IF or LIF",
    "Conv1d": "a 1-D convolution; evsim has Conv2d only",
    "NIRGraph": "a subgraph (snnTorch writes recurrent layers so); evsim runs feed-forward networks",
}


@dataclass
class _Neuron:
    """A NIR neuron node in evsim's terms, before its incoming paths are folded in."""

    name: str
    kind: str  # "lif" or "if"
    shape: tuple[int, ...]
    tau_m: float
    tau_s: float
    theta: float
    reset: str
    c: np.ndarray  # (n,) factor NIR applies to everything that reaches each neuron
    bias: np.ndarray  # (n,) membrane bias per step from v_leak
    exact_bias: np.ndarray | None = None  # evsim metadata's bias, when validated
    exact: bool = False  # evsim metadata validated: tau, theta and reset are the metadata's


@dataclass
class _Path:
    """One route source -> operations -> target neuron, in evsim terms before gains are absorbed."""

    source: str
    target: str
    nodes: list[str]
    kind: str  # "dense", "conv2d", "avgpool2d", "identity"
    params: dict = field(default_factory=dict)
    gain: np.ndarray | None = None  # (n_target,) factor on this path's input, not yet in its weights
    biases: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (op node, (n_target,) bias)


def _uniform(name: str, what: str, values) -> float:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0 or not np.all(arr == arr.flat[0]):
        raise ValueError(
            f"node {name!r}: {what} differs between neurons ({np.unique(arr)[:5]}...); an evsim population "
            "shares one value"
        )
    return float(arr.flat[0])


def _tau_steps(name: str, what: str, tau: float, dt: float) -> float:
    steps = tau / dt
    if not steps >= 1:
        raise ValueError(
            f"node {name!r}: {what}/dt = {tau!r}/{dt!r} = {steps!r} < 1 step; forward Euler at this dt would not "
            "be a decay (1 - dt/tau < 0). Read the graph at the dt it was written for (snnTorch 1.0: 1e-4; "
            "Norse 1.1 writes tau = dt/tau_mem_inv, norse issue #411)"
        )
    return steps


def _shape_of(node) -> tuple[int, ...]:
    for attr in ("v_threshold", "r"):
        value = np.asarray(getattr(node, attr))
        if value.ndim:
            return tuple(int(s) for s in value.shape)
    t = node.input_type.get("input") if node.input_type else None
    return () if t is None else tuple(int(s) for s in np.atleast_1d(t))


def _read_neuron(nir, name: str, node, dt: float) -> _Neuron:
    shape = _shape_of(node)
    n = math.prod(shape) if shape else 1

    def flat(value) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), shape).reshape(-1).copy() if shape else (
            np.full(1, float(np.asarray(value)))
        )

    theta = _uniform(name, "v_threshold", node.v_threshold)
    v_reset = flat(node.v_reset if node.v_reset is not None else 0.0)
    if np.any(v_reset != 0):
        raise ValueError(f"node {name!r}: v_reset = {np.unique(v_reset)[:5]}; evsim resets to U0 = 0")
    if isinstance(node, nir.CubaLIF):
        tau_mem = flat(node.tau_mem)
        tau_m = _tau_steps(name, "tau_mem", _uniform(name, "tau_mem", tau_mem), dt)
        tau_s = _tau_steps(name, "tau_syn", _uniform(name, "tau_syn", node.tau_syn), dt)
        c = flat(node.w_in) * (flat(node.r) * dt) / tau_mem
        bias = flat(node.v_leak) * dt / tau_mem
        kind = "lif"
    elif isinstance(node, nir.LIF):
        tau = flat(node.tau)
        tau_m = _tau_steps(name, "tau", _uniform(name, "tau", tau), dt)
        tau_s = 1.0
        c = (flat(node.r) * dt) / tau
        bias = flat(node.v_leak) * dt / tau
        kind = "lif"
    else:  # IF: dv/dt = r I, forward Euler v += dt r I
        tau_m = tau_s = math.inf
        c = flat(node.r) * dt
        bias = np.zeros(n)
        kind = "if"
    if theta <= 0:
        raise ValueError(f"node {name!r}: v_threshold = {theta}; evsim needs a positive threshold")
    neuron = _Neuron(name, kind, shape, tau_m, tau_s, theta, "zero", c, bias)
    _apply_evsim_metadata(neuron, node.metadata or {})
    return neuron


def _close(a, b) -> bool:
    return bool(np.allclose(a, b, rtol=RTOL_METADATA, atol=0.0))


def _apply_evsim_metadata(neuron: _Neuron, meta: Mapping) -> None:
    """Use the exact values evsim wrote beside the NIR fields when the fields agree with them."""
    if "evsim_neuron" not in meta:
        return
    kind = str(meta["evsim_neuron"])
    reset = str(meta.get("evsim_reset", "zero"))
    checks = [("neuron kind", kind == neuron.kind), ("theta", _close(neuron.theta, float(meta["evsim_theta"]))),
              ("input factor c (1 for evsim's nodes)", _close(neuron.c, 1.0)), ("reset", reset in ("zero", "subtract"))]
    if kind == "lif":
        checks += [("tau_m", _close(neuron.tau_m, float(meta["evsim_tau_m"]))),
                   ("tau_s", _close(neuron.tau_s, float(meta["evsim_tau_s"])))]
        meta_bias = np.asarray(meta["evsim_bias"], dtype=np.float64).reshape(-1) if "evsim_bias" in meta else None
        expected = np.zeros_like(neuron.bias) if meta_bias is None else meta_bias
        checks.append(("bias (v_leak)", expected.shape == neuron.bias.shape and np.allclose(
            neuron.bias, expected, rtol=RTOL_METADATA, atol=RTOL_METADATA * max(1.0, float(np.abs(expected).max(initial=0))))))
    failed = [what for what, ok in checks if not ok]
    if failed:
        raise ValueError(
            f"node {neuron.name!r}: its NIR fields disagree with the evsim values in its metadata ({', '.join(failed)}); "
            "was the file edited? Remove the node's evsim_* metadata to read the NIR fields alone"
        )
    neuron.theta = float(meta["evsim_theta"])
    neuron.reset = reset
    neuron.c = np.ones_like(neuron.c)
    neuron.exact = True
    if kind == "lif":
        neuron.tau_m, neuron.tau_s = float(meta["evsim_tau_m"]), float(meta["evsim_tau_s"])
        neuron.bias = expected.copy()
    if "evsim_bias" in meta:
        neuron.exact_bias = np.asarray(meta["evsim_bias"], dtype=np.float64).reshape(-1)


def _topological(names: list[str], edges: list[tuple[str, str]]) -> list[str]:
    order_of = {n: i for i, n in enumerate(names)}
    indeg = {n: 0 for n in names}
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    ready = sorted((n for n in names if indeg[n] == 0), key=order_of.get)
    out = []
    while ready:
        n = ready.pop(0)
        out.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
                ready.sort(key=order_of.get)
    if len(out) != len(names):
        stuck = [n for n in names if n not in set(out)]
        raise ValueError(
            f"the graph has a cycle through nodes {stuck}: recurrent connections; evsim runs feed-forward networks"
        )
    return out


def _paths_into(target: str, pred: dict[str, list[str]], is_end) -> list[list[str]]:
    """All routes [source, op..., target] that reach `target` through non-neuron nodes."""
    routes = []

    def walk(node: str, tail: list[str]) -> None:
        for p in pred[node]:
            if is_end(p):
                routes.append([p] + tail)
            else:
                walk(p, [p] + tail)

    walk(target, [target])
    return routes


def _pair2(value, name: str, what: str) -> tuple[int, int]:
    arr = np.atleast_1d(np.asarray(value)).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2 or not np.all(arr == np.round(arr)):
        raise ValueError(f"node {name!r}: {what} {value!r} is not an int or a pair of ints")
    return int(arr[0]), int(arr[1])


def _build_path(nir, route: list[str], nodes: Mapping, src_shape: tuple[int, ...], n_target: int) -> _Path:
    """Fold the operations of one route into one evsim projection kind with a per-target gain."""
    source, ops, target = route[0], route[1:-1], route[-1]
    path = _Path(source, target, list(route), "identity")
    shape = tuple(src_shape)
    pre_scale = np.ones(math.prod(shape))  # per source neuron, flat
    post_scale = None
    main = None
    for name in ops:
        node = nodes[name]
        if isinstance(node, nir.Flatten):
            continue  # evsim reads every source flat in (C, H, W) order, as NIR's Flatten does
        if isinstance(node, nir.Scale):
            s = np.asarray(node.scale, dtype=np.float64)
            if main is None:  # per source neuron, flat (a Flatten before it changes only the shape)
                if s.ndim and s.size != pre_scale.size:
                    raise ValueError(f"node {name!r}: scale of {s.size} values for the {pre_scale.size} neurons of {source!r}")
                pre_scale = pre_scale * (s.reshape(-1) if s.ndim else float(s))
            else:
                post_scale = (np.ones(n_target) if post_scale is None else post_scale) * (
                    np.broadcast_to(s.reshape(-1), (n_target,)) if s.ndim else float(s))
            continue
        if not isinstance(node, (nir.Linear, nir.Affine, nir.Conv2d, nir.AvgPool2d, nir.SumPool2d)):
            raise ValueError(f"node {name!r}: NIR type {type(node).__name__} cannot lie between two neuron nodes")
        if main is not None:
            raise ValueError(
                f"nodes {main!r} and {name!r} are two weighted operations with no neurons between them "
                f"(route {' -> '.join(route)}); an evsim projection is one operation"
            )
        main = name
        if isinstance(node, (nir.Linear, nir.Affine)):
            w = np.asarray(node.weight, dtype=np.float64)
            if w.ndim != 2 or w.shape[1] != pre_scale.size:
                raise ValueError(f"node {name!r}: weight {w.shape} does not take the {pre_scale.size} inputs of {source!r}")
            path.kind = "dense"
            path.params["weight"] = w * pre_scale[None, :]
            if isinstance(node, nir.Affine) and np.any(np.asarray(node.bias) != 0):
                path.biases.append((name, np.asarray(node.bias, dtype=np.float64).reshape(-1)))
        elif isinstance(node, nir.Conv2d):
            if len(shape) != 3:
                raise ValueError(f"node {name!r}: Conv2d needs a (C, H, W) input, {source!r} gives shape {shape}")
            if int(np.asarray(node.groups)) != 1 or _pair2(node.dilation, name, "dilation") != (1, 1):
                raise ValueError(f"node {name!r}: groups {node.groups} / dilation {node.dilation}; evsim's Conv2d has 1 and 1")
            w = np.asarray(node.weight, dtype=np.float64)
            if w.ndim != 4 or w.shape[1] != shape[0]:
                raise ValueError(f"node {name!r}: weight {w.shape} does not take the {shape[0]} channels of {source!r}")
            padding = node.padding
            if isinstance(padding, str):
                if padding == "valid":
                    padding = (0, 0)
                elif w.shape[2] % 2 and w.shape[3] % 2 and _pair2(node.stride, name, "stride") == (1, 1):
                    padding = ((w.shape[2] - 1) // 2, (w.shape[3] - 1) // 2)
                else:
                    raise ValueError(f"node {name!r}: padding 'same' needs odd kernels and stride 1 to be zero padding")
            per_channel = pre_scale.reshape(shape[0], -1)
            if not np.all(per_channel == per_channel[:, :1]):
                raise ValueError(f"node {name!r}: a Scale before it varies within a channel; a convolution cannot carry that")
            path.kind = "conv2d"
            path.params = {"weight": w * per_channel[:, 0][None, :, None, None],
                           "stride": _pair2(node.stride, name, "stride"), "padding": _pair2(padding, name, "padding")}
            bias = np.asarray(node.bias, dtype=np.float64).reshape(-1)
            if np.any(bias != 0):
                path.biases.append((name, bias))  # per channel: broadcast once the output shape is known
        else:  # AvgPool2d / SumPool2d
            if _pair2(node.padding, name, "padding") != (0, 0):
                raise ValueError(f"node {name!r}: pooling with padding {node.padding}; evsim's AvgPool2d has none")
            if len(shape) != 3:
                raise ValueError(f"node {name!r}: pooling needs a (C, H, W) input, {source!r} gives shape {shape}")
            if not np.all(pre_scale == pre_scale[0]):
                raise ValueError(f"node {name!r}: a Scale before it varies between neurons; a pool cannot carry that")
            kernel = _pair2(node.kernel_size, name, "kernel_size")
            path.kind = "avgpool2d"
            path.params = {"kernel_size": kernel, "stride": _pair2(node.stride, name, "stride")}
            gain = pre_scale[0] * (kernel[0] * kernel[1] if isinstance(node, nir.SumPool2d) else 1.0)
            post_scale = np.full(n_target, gain) if post_scale is None else post_scale * gain
    if main is None:  # a plain edge (or Flatten/Scale only): one-to-one
        if pre_scale.size != n_target:
            raise ValueError(f"route {' -> '.join(route)} joins {pre_scale.size} neurons one-to-one to {n_target}")
        post_scale = pre_scale if post_scale is None else post_scale * pre_scale
    path.gain = np.ones(n_target) if post_scale is None else post_scale
    return path


def _absorb(path: _Path, gain: np.ndarray, out_shape: tuple[int, ...]) -> dict | None:
    """The path's parameters with `gain` (n_target,) folded in, or None if its kind cannot carry it."""
    params = dict(path.params)
    if np.all(gain == 1.0):
        if path.kind == "identity":
            params["scale"] = 1.0
        return params
    if path.kind == "dense":
        params["weight"] = params["weight"] * gain[:, None]
        return params
    if path.kind == "conv2d":
        per_channel = gain.reshape(out_shape[0], -1)
        if not np.all(per_channel == per_channel[:, :1]):
            return None
        params["weight"] = params["weight"] * per_channel[:, 0][:, None, None, None]
        return params
    if path.kind == "identity" and np.all(gain == gain[0]):
        params["scale"] = float(gain[0])
        return params
    return None


def from_nir(graph, dt: float) -> Network:
    """Read a NIR graph as an evsim `Network`, discretised by forward Euler at `dt` seconds per step.

    dt is required: snnTorch's graphs need dt=1e-4 (its export hard-codes it); a graph evsim wrote
    records its dt in ``metadata["evsim_dt"]`` and reading it at another dt is an error.
    Populations are the graph's neuron nodes (CubaLIF, LIF, IF) in topological order, the one
    before the Output node last; every route from a neuron (or the Input) through Linear, Affine,
    Conv2d, AvgPool2d, SumPool2d, Scale and Flatten nodes to a neuron is one projection.
    Raises ValueError, naming the node, for anything evsim cannot run exactly (module docstring).
    """
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"from_nir needs a nir.NIRGraph (nir.read(path) loads one), got {type(graph).__name__}")
    dt = _check_dt(dt)
    meta = dict(graph.metadata or {})
    if "evsim_dt" in meta and float(meta["evsim_dt"]) != dt:
        raise ValueError(
            f"this graph was written by evsim at dt={float(meta['evsim_dt'])!r} s; reading it at dt={dt!r} would "
            "scale every time constant by their ratio. Pass dt as written"
        )
    nodes = dict(graph.nodes)
    names = list(nodes)
    edges = [(str(a), str(b)) for a, b in graph.edges]
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind in _UNSUPPORTED:
            raise ValueError(f"node {name!r} is a NIR {kind}: {_UNSUPPORTED[kind]}")
    neuron_types = (nir.CubaLIF, nir.LIF, nir.IF)
    inputs = [n for n, node in nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in nodes.items() if isinstance(node, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"evsim reads graphs with one Input and one Output node, this one has {inputs} and {outputs}")
    order = _topological(names, edges)
    pred: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        pred[b].append(a)

    out_pred = pred[outputs[0]]
    if len(out_pred) != 1 or not isinstance(nodes[out_pred[0]], neuron_types):
        what = [f"{p} ({type(nodes[p]).__name__})" for p in out_pred]
        raise ValueError(
            f"the Output node must be fed by one spiking neuron node (CubaLIF, LIF or IF); it is fed by {what}: evsim's "
            "output is the last population's spikes"
        )
    out_name = out_pred[0]
    neurons = [n for n in order if isinstance(nodes[n], neuron_types) and n != out_name] + [out_name]
    index = {n: p for p, n in enumerate(neurons)}
    index[inputs[0]] = INPUT
    is_end = lambda n: n in index  # noqa: E731
    input_node = nodes[inputs[0]]
    input_shape = tuple(int(s) for s in np.atleast_1d(input_node.input_type["input"]))

    populations, projections = [], []
    shapes = {INPUT: input_shape}
    for p, name in enumerate(neurons):
        neuron = _read_neuron(nir, name, nodes[name], dt)
        n_target = neuron.c.size
        routes = _paths_into(name, pred, is_end)
        if not routes:
            raise ValueError(f"node {name!r} receives nothing from the Input or another neuron")
        paths = []
        for route in routes:
            if index[route[0]] >= p:
                raise ValueError(f"route {' -> '.join(route)} goes backwards; evsim runs feed-forward networks")
            paths.append(_build_path(nir, route, nodes, shapes[index[route[0]]], n_target))
        # the population's shape: (C, H, W) when a convolution or pool feeds it
        shape = neuron.shape or (n_target,)
        for path in paths:
            src_shape = shapes[index[path.source]]
            if path.kind == "conv2d":
                out = Conv2d(0, 1, path.params["weight"], path.params["stride"], path.params["padding"]).output_shape(src_shape)
            elif path.kind == "avgpool2d":
                out = AvgPool2d(0, 1, path.params["kernel_size"], path.params["stride"]).output_shape(src_shape)
            else:
                continue
            if math.prod(out) != n_target:
                raise ValueError(f"route {' -> '.join(path.nodes)} gives shape {out}, node {name!r} has {n_target} neurons")
            shape = out
        # the input factor c: into the weights where each path can carry it, else into theta and bias
        gains = [neuron.c * path.gain for path in paths]
        absorbed = [_absorb(path, g, shape) for path, g in zip(paths, gains)]
        scale = 1.0
        if any(a is None for a in absorbed):
            stuck = np.concatenate([g for g, a in zip(gains, absorbed) if a is None])
            if not np.all(stuck == stuck[0]) or stuck[0] <= 0:
                raise ValueError(
                    f"node {name!r}: its input factor (w_in r dt / tau_mem times the route's scale) varies between "
                    f"neurons or is not positive where a pool or shortcut reaches it ({np.unique(stuck)[:5]}); "
                    "evsim can fold it into weights, or a uniform one into the threshold"
                )
            scale = float(stuck[0])
            absorbed = [_absorb(path, g / scale, shape) for path, g in zip(paths, gains)]
            if any(a is None for a in absorbed):
                raise ValueError(f"node {name!r}: the routes into it need gains that no single threshold scale reconciles")
        bias = neuron.bias.copy()
        for path, g in zip(paths, gains):
            for op_name, b in path.biases:
                if neuron.tau_s != 1.0 and neuron.kind == "lif":
                    raise ValueError(
                        f"node {op_name!r}: its bias passes through the synaptic current of CubaLIF node {name!r} "
                        f"(tau_syn/dt = {neuron.tau_s:.6g} > 1), a decaying input that evsim's constant bias cannot "
                        "carry; build the layer without a bias (snnTorch: nn.Linear(..., bias=False)) or move it to v_leak"
                    )
                b = np.repeat(b, n_target // b.size) if path.kind == "conv2d" else b
                if b.size != n_target:
                    raise ValueError(f"node {op_name!r}: bias of {b.size} values for {n_target} neurons")
                bias = bias + g * b
        theta = neuron.theta
        if scale != 1.0:
            theta, bias = theta / scale, bias / scale
        if neuron.exact_bias is not None:
            if not np.allclose(bias, neuron.exact_bias, rtol=RTOL_METADATA,
                               atol=RTOL_METADATA * max(1.0, float(np.abs(neuron.exact_bias).max(initial=0)))):
                raise ValueError(f"node {name!r}: the bias its NIR fields give disagrees with its evsim metadata")
            bias = neuron.exact_bias
        elif neuron.exact and np.any(bias != 0):
            raise ValueError(f"node {name!r}: its evsim metadata has no bias but its NIR fields give one")
        if neuron.kind == "lif":
            model = LIF(tau_m=neuron.tau_m, tau_s=neuron.tau_s, theta=theta, reset=neuron.reset)
        else:
            model = IF(theta=theta, reset=neuron.reset)
        has_bias = np.any(bias != 0) or neuron.exact_bias is not None
        populations.append(Population(shape, model, bias if has_bias else None))
        shapes[p] = shape
        for path, params in zip(paths, absorbed):
            src = index[path.source]
            if path.kind == "dense":
                projections.append(Dense(src, p, params["weight"]))
            elif path.kind == "conv2d":
                projections.append(Conv2d(src, p, params["weight"], params["stride"], params["padding"]))
            elif path.kind == "avgpool2d":
                projections.append(AvgPool2d(src, p, params["kernel_size"], params["stride"]))
            else:
                projections.append(Identity(src, p, params["scale"]))

    projections.sort(key=lambda proj: proj.target)  # stable: routes into one target keep their edge order
    if any(k.startswith("evsim_") for k in meta):
        metadata = {k[len(META_PREFIX):]: _plain(v) for k, v in meta.items() if k.startswith(META_PREFIX)}
    else:
        metadata = {"imported_from": "NIR", "nir_dt": dt}
    return Network(input_shape, populations, projections, metadata)


def _plain(value):
    """A metadata value read back from HDF5 as the Python scalar evsim stored."""
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# ----------------------------------------------------------------------------------------------
# files and command line


def save(path, net: Network, dt: float, *, lossy_reset: bool = False) -> Path:
    """Write `net` to the NIR file `path` (NIR's HDF5 format, `nir.write`). Returns the path."""
    path = Path(path)
    _nir().write(path, to_nir(net, dt, lossy_reset=lossy_reset))
    return path


def load(path, dt: float) -> Network:
    """Read the NIR file `path` (`nir.read`) as an evsim Network at `dt` seconds per step.

    NIR's own type check is skipped (nir 1.0.8 gets non-square convolution kernels wrong);
    `from_nir` and `Network` check every shape themselves.
    """
    return from_nir(_nir().read(Path(path), type_check=False), dt)


def describe(graph) -> str:
    """A readable listing of a NIR graph: nodes with their type and shapes, then edges."""
    lines = [f"NIR graph: {len(graph.nodes)} nodes, {len(graph.edges)} edges"]
    for key, value in (graph.metadata or {}).items():
        lines.append(f"  metadata {key} = {_plain(value)!r}")
    for name, node in graph.nodes.items():
        def shape(types):
            t = (types or {}).get("input") if types and "input" in types else (types or {}).get("output")
            return "?" if t is None else tuple(int(s) for s in np.atleast_1d(t))
        extra = ""
        for attr in ("tau_syn", "tau_mem", "tau", "r", "w_in", "v_threshold", "v_leak"):
            if hasattr(node, attr) and getattr(node, attr) is not None:
                values = np.unique(np.asarray(getattr(node, attr)))
                extra += f" {attr}={values[0]:.6g}" if values.size == 1 else f" {attr}=[{values.size} values]"
        lines.append(f"  {name}: {type(node).__name__} in {shape(node.input_type)} out {shape(node.output_type)}{extra}")
    lines += [f"  edge {a} -> {b}" for a, b in graph.edges]
    return "\n".join(lines)


def main(argv=None) -> int:
    """`python -m evsim.nir export|import|inspect ...`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m evsim.nir", description="NIR interchange for evsim networks")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="evsim network file (save_network) -> NIR file")
    ex.add_argument("network")
    ex.add_argument("nir_file")
    ex.add_argument("--dt", type=float, required=True, help="seconds per step (e.g. 1e-3)")
    ex.add_argument("--lossy-reset", action="store_true",
                    help="write reset by subtraction as NIR's reset to 0, recorded in the metadata")
    im = sub.add_parser("import", help="NIR file -> evsim network file (save_network)")
    im.add_argument("nir_file")
    im.add_argument("network")
    im.add_argument("--dt", type=float, required=True, help="seconds per step (snnTorch graphs: 1e-4)")
    ins = sub.add_parser("inspect", help="list a NIR file's nodes; with --dt, the evsim network it reads as")
    ins.add_argument("nir_file")
    ins.add_argument("--dt", type=float, default=None)
    args = parser.parse_args(argv)

    from ..io import load_network, save_network

    try:
        if args.command == "export":
            path = save(args.nir_file, load_network(args.network), args.dt, lossy_reset=args.lossy_reset)
            print(f"wrote {path}")
        elif args.command == "import":
            net = load(args.nir_file, args.dt)
            print(f"wrote {save_network(net, args.network)}: layers {net.layer_sizes}")
        else:
            graph = _nir().read(Path(args.nir_file), type_check=False)
            print(describe(graph))
            if args.dt is not None:
                net = from_nir(graph, args.dt)
                print(f"evsim at dt={args.dt!r}: input {net.input_shape}")
                for p, pop in enumerate(net.populations):
                    print(f"  population {p}: {pop.shape} {pop.neuron}" + ("" if pop.bias is None else " with bias"))
                for q, proj in enumerate(net.projections):
                    print(f"  projection {q}: {proj.kind} {proj.source} -> {proj.target}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0

