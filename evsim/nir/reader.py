"""NIR graph (`from_nir`) or NIR file (`load`) -> evsim Network; the mapping is the package docstring's.

Every route from a neuron node (or the Input) through weighted, pooling, Scale and Flatten nodes to
a neuron node becomes one projection; NIR's input factor c of a node is folded into its incoming
weights or, where those cannot carry it, into its threshold and bias.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population
from ..neurons import IF, LIF, THRESHOLD_TESTS
from .conventions import META_PREFIX, RTOL_FLOAT32, RTOL_METADATA, check_dt, nir_package, plain_value


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
    # NIR's test is strict (v > v_threshold): a graph from another framework runs as it ran there;
    # a graph evsim wrote carries its own test in its metadata (">=" when that predates the key)
    threshold_test: str = ">"


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
              ("input factor c (1 for evsim's nodes)", _close(neuron.c, 1.0)), ("reset", reset in ("zero", "subtract")),
              ("threshold test", str(meta.get("evsim_threshold_test", ">=")) in THRESHOLD_TESTS)]
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
    neuron.threshold_test = str(meta.get("evsim_threshold_test", ">="))
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
    nir = nir_package()
    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"from_nir needs a nir.NIRGraph (nir.read(path) loads one), got {type(graph).__name__}")
    dt = check_dt(dt)
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
            # snnTorch's Synaptic has no 1/tau_s gain, so its export's factor is tau_s, off by the
            # float32 rounding of its parameters; taking tau_s itself makes theta / scale the very
            # float the engine's gain 1/tau_s is, so a membrane that lands exactly on snnTorch's
            # threshold lands exactly on evsim's and the strict test treats the tie as snnTorch does
            absorbed = [_absorb(path, g / scale, shape) for path, g in zip(paths, gains)]
            if neuron.kind == "lif" and abs(scale - neuron.tau_s) <= RTOL_FLOAT32 * neuron.tau_s:
                scale = float(neuron.tau_s)  # for theta and bias; the routes keep the exact factor
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
            model = LIF(tau_m=neuron.tau_m, tau_s=neuron.tau_s, theta=theta, reset=neuron.reset,
                        threshold_test=neuron.threshold_test)
        else:
            model = IF(theta=theta, reset=neuron.reset, threshold_test=neuron.threshold_test)
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
        metadata = {k[len(META_PREFIX):]: plain_value(v) for k, v in meta.items() if k.startswith(META_PREFIX)}
    else:
        metadata = {"imported_from": "NIR", "nir_dt": dt}
    return Network(input_shape, populations, projections, metadata)


def load(path, dt: float) -> Network:
    """Read the NIR file `path` (`nir.read`) as an evsim Network at `dt` seconds per step.

    NIR's own type check is skipped (nir 1.0.8 gets non-square convolution kernels wrong);
    `from_nir` and `Network` check every shape themselves.
    """
    return from_nir(nir_package().read(Path(path), type_check=False), dt)
