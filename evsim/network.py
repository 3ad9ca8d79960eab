"""Network description: populations of neurons joined by projections (synapse groups).

A network is a directed acyclic graph, described once and run by any simulator:

- a `Population` is a layer of neurons with one neuron model, a shape and an optional bias;
  population P-1 is the output;
- a projection carries spikes from a source (`INPUT` = -1 for the network input, or a
  population index) to a target population. Sources must come before their targets, which
  is what zero synaptic delay needs: within a step, populations are updated in order.

Several projections may share a target (their currents add): that is how a residual block adds
its shortcut to conv2's output before the block's second neuron. Projection kinds:

- `Dense(source, target, weight)`: all-to-all, weight (n_out, n_in) like `nn.Linear.weight`; it
  reads its source flattened in (C, H, W) order, so a flatten needs no layer of its own;
- `Conv2d(source, target, weight, stride=1, padding=0)`: `nn.Conv2d` without bias;
- `AvgPool2d(source, target, kernel_size, stride=None)`: `nn.AvgPool2d` without padding;
- `Identity(source, target, scale=1.0)`: one-to-one, for residual shortcuts.

Each kind is a frozen record that knows its output shape and each source neuron's fan-out for a
given source shape; the network checks every projection against the shapes of its source and
target when it is built, and the engine and the reference dispatch on `kind`. Populations have
shapes, and (C, H, W) order (flattened C-major) is the public indexing of spikes and states.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .neurons import IF, LIF, IntNeuron, Neuron

INPUT = -1  # source index of the network input


def _frozen_array(value, name: str, ndim: int) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of real numbers, got {value!r:.80}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    arr.setflags(write=False)
    return arr


def _frozen_int_array(value, name: str, ndim: int) -> np.ndarray:
    """A read-only int64 copy of integer-valued `value` (weights and biases of a quantised network)."""
    arr = np.array(value, copy=True)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind != "f" or not np.isfinite(arr).all() or (arr != np.round(arr)).any() or (
            np.abs(arr) >= 2.0**62).any():
            raise ValueError(f"{name} of a fixed-point projection or population must hold integers")
    arr = arr.astype(np.int64)
    arr.setflags(write=False)
    return arr


def _exponent(value) -> int | None:
    """None (a float projection) or the integer weight exponent e >= 0 of a quantised one."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"exponent must be None or an integer >= 0, got {value!r}")
    return int(value)


def _int_scalar(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or value != round(value):
        raise ValueError(f"{name} of a fixed-point projection must be an integer, got {value!r}")
    return int(value)


def _shape_tuple(shape, name: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    sizes = tuple(shape) if isinstance(shape, (tuple, list, np.ndarray)) else ()
    if not sizes or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
        raise ValueError(f"{name} must be a non-empty tuple of positive sizes (integers), got {shape!r}")
    return tuple(int(s) for s in sizes)


@dataclass(frozen=True, eq=False)
class Population:
    """A layer of neurons.

    shape: layer shape, e.g. (500,) or (C, H, W); neurons are indexed flat in C order.
    neuron: `IF` or `LIF` parameters, shared by the layer (`IntNeuron` in a quantised network).
    bias: None or float array of `size` values, added to the membrane every step (a folded
        BatchNorm or a converted ANN bias); int64 in state units for an `IntNeuron` population.
    """

    shape: tuple[int, ...]
    neuron: Neuron
    bias: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", _shape_tuple(self.shape, "population shape"))
        if not isinstance(self.neuron, (IF, LIF, IntNeuron)):
            raise ValueError(f"neuron must be evsim.IF or evsim.LIF, got {self.neuron!r}")
        if self.bias is not None:
            if isinstance(self.neuron, IntNeuron):
                bias = _frozen_int_array(self.bias, "bias", 1)
            else:
                bias = _frozen_array(self.bias, "bias", 1)
            if bias.shape[0] != self.size:
                raise ValueError(f"bias has {bias.shape[0]} values for a population of {self.size} neurons")
            object.__setattr__(self, "bias", bias)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int or (h, w) pair of ints >= minimum, as torch's Conv2d takes stride and padding."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    try:
        pair = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    pair = (int(pair[0]), int(pair[1]))
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {pair}")
    return pair


def _source_image(proj, source_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(source_shape) != 3:
        raise ValueError(f"{proj.kind} needs a (C, H, W) source, got shape {source_shape}")
    return source_shape  # type: ignore[return-value]


def _reach(size_in: int, size_out: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    """(size_in,) int64: how many output positions along one axis a source position reaches.

    Output o covers source positions o*stride - padding + j for j < kernel (padding excluded).
    """
    counts = np.zeros(size_in, dtype=np.int64)
    for o in range(size_out):
        lo = o * stride - padding
        # a window wholly in the padding reaches nothing (a negative slice end would wrap around)
        counts[max(lo, 0) : max(min(lo + kernel, size_in), 0)] += 1
    return counts


@dataclass(frozen=True, eq=False)
class Dense:
    """All-to-all projection: weight (n_target, n_source), like torch's nn.Linear.weight.

    The source is read flattened in (C, H, W) order, so a flatten needs no layer of its own. A
    spike of source neuron j reaches all n_target synapses: fan-out n_target SOPs.
    exponent: None, or in a quantised network the e >= 0 of weight = mantissa * 2**e (the
    weight is then int64, the effective integer, target's input gain folded in).
    """

    source: int
    target: int
    weight: np.ndarray
    exponent: int | None = None

    kind = "dense"

    def __post_init__(self) -> None:
        object.__setattr__(self, "exponent", _exponent(self.exponent))
        if self.exponent is not None:
            object.__setattr__(self, "weight", _frozen_int_array(self.weight, "dense weight", 2))
            return
        object.__setattr__(self, "weight", _frozen_array(self.weight, "dense weight", 2))

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    def output_shape(self, source_shape: tuple[int, ...]) -> tuple[int, ...]:
        if math.prod(source_shape) != self.n_in:
            raise ValueError(f"weight {self.weight.shape} takes {self.n_in} inputs, the source {source_shape} has "
                             f"{math.prod(source_shape)}")
        return (self.n_out,)

    def fan_out(self, source_shape: tuple[int, ...] | None = None) -> np.ndarray:
        """Synapses (n_in,) int64 that a spike of each source neuron reaches."""
        return np.full(self.n_in, self.n_out, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Conv2d:
    """2-D convolution, torch's `nn.Conv2d` (cross-correlation, zero padding, no bias).

    weight: (C_out, C_in, kh, kw), as `nn.Conv2d.weight`. stride, padding: int or (h, w).
    Source shape (C_in, H, W); target shape (C_out, H_out, W_out) with
    H_out = floor((H + 2 padding - kh) / stride) + 1 (likewise W_out).
    A spike at (c, y, x) reaches C_out x (output rows whose window covers y) x (output columns
    whose window covers x) synapses, padding excluded: that is its SOP count (SPEC "Deep networks").
    exponent: None, or the weight exponent of a quantised network (int64 weights, as `Dense`).
    """

    source: int
    target: int
    weight: np.ndarray
    stride: tuple[int, int] = 1
    padding: tuple[int, int] = 0
    exponent: int | None = None

    kind = "conv2d"

    def __post_init__(self) -> None:
        object.__setattr__(self, "exponent", _exponent(self.exponent))
        if self.exponent is not None:
            object.__setattr__(self, "weight", _frozen_int_array(self.weight, "conv2d weight (C_out, C_in, kh, kw)", 4))
        else:
            object.__setattr__(self, "weight", _frozen_array(self.weight, "conv2d weight (C_out, C_in, kh, kw)", 4))
        if min(self.weight.shape) < 1:
            raise ValueError(f"conv2d weight has an empty axis: shape {self.weight.shape}")
        object.__setattr__(self, "stride", _pair(self.stride, "conv2d stride", 1))
        object.__setattr__(self, "padding", _pair(self.padding, "conv2d padding", 0))

    @property
    def kernel_size(self) -> tuple[int, int]:
        return self.weight.shape[2], self.weight.shape[3]

    def output_shape(self, source_shape: tuple[int, ...]) -> tuple[int, int, int]:
        c, h, w = _source_image(self, source_shape)
        c_out, c_in, kh, kw = self.weight.shape
        if c != c_in:
            raise ValueError(f"weight {self.weight.shape} takes {c_in} input channels, the source {source_shape} has {c}")
        (sy, sx), (py, px) = self.stride, self.padding
        if h + 2 * py < kh or w + 2 * px < kw:
            raise ValueError(f"kernel {kh}x{kw} is larger than the padded source {source_shape} (padding {self.padding})")
        return (c_out, (h + 2 * py - kh) // sy + 1, (w + 2 * px - kw) // sx + 1)

    def fan_out(self, source_shape: tuple[int, ...]) -> np.ndarray:
        """Synapses (C_in*H*W,) int64 that a spike of each source neuron reaches, (C, H, W) order."""
        c_out, h_out, w_out = self.output_shape(source_shape)
        _, h, w = source_shape
        (kh, kw), (sy, sx), (py, px) = self.kernel_size, self.stride, self.padding
        plane = np.outer(_reach(h, h_out, kh, sy, py), _reach(w, w_out, kw, sx, px)) * c_out
        return np.tile(plane.ravel(), source_shape[0])


@dataclass(frozen=True, eq=False)
class AvgPool2d:
    """Average pooling per channel, torch's `nn.AvgPool2d` without padding.

    kernel_size, stride: int or (h, w); stride defaults to kernel_size. Source (C, H, W), target
    (C, H_out, W_out). A spike adds 1/(kh kw) to each window that holds it: one SOP per window.
    weight, exponent: None in a float network; in a quantised one the integer a spike adds to each
    window (1/(kh kw) times the target's gain, in its state unit) and its exponent.
    """

    source: int
    target: int
    kernel_size: tuple[int, int]
    stride: tuple[int, int] | None = None
    weight: int | None = None
    exponent: int | None = None

    kind = "avgpool2d"

    def __post_init__(self) -> None:
        object.__setattr__(self, "exponent", _exponent(self.exponent))
        if (self.weight is None) != (self.exponent is None):
            raise ValueError("avgpool2d weight and exponent are set together (a quantised network) or not at all")
        if self.weight is not None:
            object.__setattr__(self, "weight", _int_scalar(self.weight, "avgpool2d weight"))
        object.__setattr__(self, "kernel_size", _pair(self.kernel_size, "avgpool2d kernel_size", 1))
        stride = self.kernel_size if self.stride is None else self.stride
        object.__setattr__(self, "stride", _pair(stride, "avgpool2d stride", 1))

    def output_shape(self, source_shape: tuple[int, ...]) -> tuple[int, int, int]:
        c, h, w = _source_image(self, source_shape)
        (kh, kw), (sy, sx) = self.kernel_size, self.stride
        if h < kh or w < kw:
            raise ValueError(f"pooling window {kh}x{kw} is larger than the source {source_shape}")
        return (c, (h - kh) // sy + 1, (w - kw) // sx + 1)

    def fan_out(self, source_shape: tuple[int, ...]) -> np.ndarray:
        """Windows (C*H*W,) int64 that hold each source neuron, (C, H, W) order."""
        c, h_out, w_out = self.output_shape(source_shape)
        _, h, w = source_shape
        (kh, kw), (sy, sx) = self.kernel_size, self.stride
        plane = np.outer(_reach(h, h_out, kh, sy, 0), _reach(w, w_out, kw, sx, 0))
        return np.tile(plane.ravel(), c)


@dataclass(frozen=True, eq=False)
class Identity:
    """One-to-one projection (a residual shortcut): flat source neuron i drives target neuron i
    with weight `scale`. Source and target must have the same number of neurons; one SOP per spike.
    exponent: None, or in a quantised network the exponent of the integer `scale`.
    """

    source: int
    target: int
    scale: float = 1.0
    exponent: int | None = None

    kind = "identity"

    def __post_init__(self) -> None:
        object.__setattr__(self, "exponent", _exponent(self.exponent))
        if self.exponent is not None:
            object.__setattr__(self, "scale", _int_scalar(self.scale, "identity scale"))
            return
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float, np.integer, np.floating)):
            raise ValueError(f"identity scale must be a real number, got {self.scale!r}")
        if not math.isfinite(self.scale):
            raise ValueError(f"identity scale must be finite, got {self.scale!r}")
        object.__setattr__(self, "scale", float(self.scale))

    def output_shape(self, source_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(source_shape)

    def fan_out(self, source_shape: tuple[int, ...]) -> np.ndarray:
        return np.ones(math.prod(source_shape), dtype=np.int64)


Projection = Dense | Conv2d | AvgPool2d | Identity

PROJECTION_KINDS: dict[str, type] = {cls.kind: cls for cls in (Dense, Conv2d, AvgPool2d, Identity)}


@dataclass(frozen=True, eq=False)
class Network:
    """A feed-forward SNN: input shape, populations (output last) and projections.

    Use `Network.dense` for a stack of fully connected layers.
    metadata: free-form provenance (str, int, float or bool values), saved with the network.
    fixed_point: None for a float network; (weight_bits, state_bits, decay_bits) for a quantised
        one (`evsim.quantize`): `IntNeuron` populations, integer weights with exponents.
    """

    input_shape: tuple[int, ...]
    populations: tuple[Population, ...]
    projections: tuple[Projection, ...]
    metadata: Mapping[str, object] = field(default_factory=dict)
    fixed_point: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", _shape_tuple(self.input_shape, "input_shape"))
        for name in ("populations", "projections"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                what = "evsim.Population" if name == "populations" else "projections"
                raise ValueError(f"{name} must be a sequence of {what} (a list or tuple), got {type(value).__name__}")
            object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "metadata", dict(self.metadata))
        if not self.populations:
            raise ValueError("a network needs at least one population")
        for p in self.populations:
            if not isinstance(p, Population):
                raise ValueError(f"populations must be evsim.Population, got {type(p).__name__}")
        P = len(self.populations)
        fed = np.zeros(P, dtype=bool)
        for q, proj in enumerate(self.projections):
            if not isinstance(proj, tuple(PROJECTION_KINDS.values())):
                raise ValueError(f"projection {q} has unknown type {type(proj).__name__}")
            for end in ("source", "target"):
                value = getattr(proj, end)
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                    raise ValueError(f"projection {q} {end} must be an int (a population index, or INPUT = -1), "
                                     f"got {value!r}")
            if not (0 <= proj.target < P):
                raise ValueError(f"projection {q} targets population {proj.target}; the network has {P}")
            if not (INPUT <= proj.source < proj.target):
                raise ValueError(
                    f"projection {q} goes from {proj.source} to {proj.target}: sources must be the input (-1) "
                    "or an earlier population (feed-forward, zero delay)"
                )
            src_shape, tgt_shape = self.shape_of(proj.source), self.populations[proj.target].shape
            try:
                out_shape = proj.output_shape(src_shape)
            except ValueError as err:
                raise ValueError(
                    f"projection {q} ({proj.kind}, {proj.source} -> {proj.target}) does not fit its source of "
                    f"shape {src_shape}: {err}"
                ) from None
            fits = (
                math.prod(out_shape) == math.prod(tgt_shape)
                if isinstance(proj, (Dense, Identity))
                else out_shape == tgt_shape
            )
            if not fits:
                raise ValueError(
                    f"projection {q} ({proj.kind}, {proj.source} -> {proj.target}) maps the source shape "
                    f"{src_shape} to {out_shape}, but its target population has shape {tgt_shape}"
                )
            fed[proj.target] = True
        if not fed.all():
            raise ValueError(f"population(s) {np.flatnonzero(~fed).tolist()} receive no projection")
        for key, value in self.metadata.items():
            if not isinstance(key, str) or not isinstance(value, (str, int, float, bool, np.generic)):
                raise ValueError(f"metadata must map str to str/int/float/bool, got {key!r}: {value!r}")
        self._check_fixed_point()

    def _check_fixed_point(self) -> None:
        """A float network has no integer parts; a fixed-point one has only integer parts, in range."""
        if self.fixed_point is None:
            for p, pop in enumerate(self.populations):
                if isinstance(pop.neuron, IntNeuron):
                    raise ValueError(f"population {p} has an IntNeuron but the network has no fixed_point "
                                     "(build fixed-point networks with evsim.quantize)")
            for q, proj in enumerate(self.projections):
                if proj.exponent is not None:
                    raise ValueError(f"projection {q} has an exponent but the network has no fixed_point")
            return
        try:
            bits = tuple(self.fixed_point)
        except TypeError:
            bits = ()
        if len(bits) != 3 or not all(isinstance(b, (int, np.integer)) and not isinstance(b, bool) for b in bits):
            raise ValueError(f"fixed_point must be (weight_bits, state_bits, decay_bits), got {self.fixed_point!r}")
        W, S, D = (int(b) for b in bits)
        object.__setattr__(self, "fixed_point", (W, S, D))
        # S <= 40 and D <= 20 keep every int64 product (I * (2**D - d)) and per-step sum exact
        if min(W, S, D) < 2 or S > 40 or D > 20 or W > S:
            raise ValueError(f"fixed_point (W, S, D) = {(W, S, D)} needs 2 <= W <= S <= 40 and 2 <= D <= 20")
        s_max, m_max = 2 ** (S - 1) - 1, 2 ** (W - 1) - 1
        for p, pop in enumerate(self.populations):
            nrn = pop.neuron
            if not isinstance(nrn, IntNeuron):
                raise ValueError(f"population {p} of a fixed-point network needs an evsim.IntNeuron, got {nrn!r}")
            if nrn.theta > s_max or (nrn.decay == "trunc" and max(nrn.d_m, nrn.d_s) > 2**D):
                raise ValueError(f"population {p}: theta must be <= 2**(S-1) - 1 = {s_max} and d_m, d_s <= 2**D = "
                                 f"{2**D}, got {nrn}")
            if nrn.v_min is not None and nrn.v_min < -s_max - 1:
                raise ValueError(f"population {p}: v_min {nrn.v_min} is below the state range -2**(S-1) = {-s_max - 1}")
            if pop.bias is not None and pop.bias.size and np.abs(pop.bias).max() > s_max:
                raise ValueError(f"population {p}: bias exceeds the state range +-{s_max}")
        for q, proj in enumerate(self.projections):
            if proj.exponent is None:
                raise ValueError(f"projection {q} of a fixed-point network has no exponent (not quantised)")
            w = np.asarray(proj.scale if isinstance(proj, Identity) else proj.weight, dtype=np.int64)
            step = np.int64(1) << proj.exponent
            if (w % step).any() or (np.abs(w // step) > m_max).any():
                raise ValueError(f"projection {q}: weights must be mantissa * 2**{proj.exponent} with |mantissa| <= "
                                 f"2**(W-1) - 1 = {m_max}")

    @classmethod
    def dense(
        cls,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray | None] | None = None,
        neuron: Neuron = IF(),
        metadata: Mapping[str, object] | None = None,
    ) -> Network:
        """A stack of fully connected layers.

        weights: list of arrays (n_out, n_in), like torch's nn.Linear.weight, first layer first.
        biases: None, or one array (n_out,) or None per layer.
        neuron: the neuron model of every layer.
        """
        weights = list(weights)
        if not weights:
            raise ValueError("Network.dense needs at least one weight matrix")
        if biases is None:
            biases = [None] * len(weights)
        biases = list(biases)
        if len(biases) != len(weights):
            raise ValueError(f"got {len(biases)} biases for {len(weights)} weight matrices")
        projections, populations = [], []
        for layer, (w, b) in enumerate(zip(weights, biases)):
            w = np.asarray(w)
            if w.ndim != 2:
                raise ValueError(f"weight {layer} must be 2-D (n_out, n_in), got shape {w.shape}")
            projections.append(Dense(source=layer - 1, target=layer, weight=w))
            populations.append(Population(shape=(w.shape[0],), neuron=neuron, bias=b))
        n_in = np.asarray(weights[0]).shape[1]
        return cls((n_in,), populations, projections, metadata or {})

    @property
    def n_in(self) -> int:
        """Number of input channels (input neurons), flattened."""
        return math.prod(self.input_shape)

    @property
    def n_out(self) -> int:
        return self.populations[-1].size

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """(n_in, size of population 0, ..., n_out)."""
        return (self.n_in,) + tuple(p.size for p in self.populations)

    def shape_of(self, node: int) -> tuple[int, ...]:
        """Shape of a projection's source or target: `input_shape` for INPUT, else the population's."""
        return self.input_shape if node == INPUT else self.populations[node].shape

    def fan_out(self, q: int) -> np.ndarray:
        """Synapses (n_source,) int64 that a spike of each source neuron of projection q reaches."""
        proj = self.projections[q]
        return proj.fan_out(self.shape_of(proj.source))

    def n_synapses(self) -> np.ndarray:
        """Synapses (n_projections,) int64 of each projection."""
        return np.array([int(self.fan_out(q).sum()) for q in range(len(self.projections))], dtype=np.int64)
