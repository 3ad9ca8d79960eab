"""evsim Network -> NIR graph (`to_nir`) and NIR file (`save`); the mapping is the package docstring's."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .._version import __version__
from ..atomic import write_bytes
from ..network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population
from ..neurons import IF, LIF
from .conventions import META_PREFIX, check_dt, nir_package


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
        # NIR's own test is strict (v > v_threshold); evsim's default >= is kept here so that evsim
        # reads its graph back as it ran (other tools read NIR's fields and fire on >)
        "evsim_threshold_test": neuron.threshold_test,
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
    nir = nir_package()
    if not isinstance(net, Network):
        raise ValueError(f"to_nir needs an evsim.Network, got {type(net).__name__}")
    dt = check_dt(dt)
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


def save(path, net: Network, dt: float, *, lossy_reset: bool = False) -> Path:
    """Write `net` to the NIR file `path` (NIR's HDF5 format, `nir.write`). Returns the path.

    Written through `evsim.atomic` (temporary name, fsync, rename): an interrupted or failed save
    leaves the previous file (or none), and a full disk raises `evsim.atomic.AtomicWriteError`.
    nir.write builds the file in memory first: HDF5 writing to a disk that fills can crash the
    process (see `evsim.atomic.atomic_h5`), a plain write of its bytes fails cleanly.
    """
    path = Path(path)
    graph = to_nir(net, dt, lossy_reset=lossy_reset)
    image = io.BytesIO()
    nir_package().write(image, graph)
    return write_bytes(path, image.getvalue())
