"""Network description: populations of neurons joined by projections (synapse groups).

A network is a directed acyclic graph, described once and run by any simulator:

- a `Population` is a layer of neurons with one neuron model, a shape and an optional bias;
  population P-1 is the output;
- a projection carries spikes from a source (`INPUT` = -1 for the network input, or a
  population index) to a target population. Sources must come before their targets, which
  is what zero synaptic delay needs: within a step, populations are updated in order.

Several projections may share a target (their currents add): that is how residual additions
join. A projection reads its source flattened in C order, so a flatten needs no layer of its
own. New connection types (Conv2d, average pooling) are new projection classes that give
their fan-out per source neuron and their dense matrix; the engine and the reference
dispatch on `kind`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .neurons import IF, LIF, Neuron

INPUT = -1  # source index of the network input


def _frozen_array(value, name: str, ndim: int) -> np.ndarray:
    arr = np.array(value, dtype=np.float64, copy=True)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    arr.setflags(write=False)
    return arr


def _shape_tuple(shape, name: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    out = tuple(int(s) for s in shape)
    if not out or any(s < 1 for s in out):
        raise ValueError(f"{name} must be a non-empty tuple of positive sizes, got {shape!r}")
    return out


@dataclass(frozen=True, eq=False)
class Population:
    """A layer of neurons.

    shape: layer shape, e.g. (500,) or (C, H, W); neurons are indexed flat in C order.
    neuron: `IF` or `LIF` parameters, shared by the layer.
    bias: None or float array of `size` values, added to the membrane every step (a folded
        BatchNorm or a converted ANN bias).
    """

    shape: tuple[int, ...]
    neuron: Neuron
    bias: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", _shape_tuple(self.shape, "population shape"))
        if not isinstance(self.neuron, (IF, LIF)):
            raise ValueError(f"neuron must be evsim.IF or evsim.LIF, got {self.neuron!r}")
        if self.bias is not None:
            bias = _frozen_array(self.bias, "bias", 1)
            if bias.shape[0] != self.size:
                raise ValueError(f"bias has {bias.shape[0]} values for a population of {self.size} neurons")
            object.__setattr__(self, "bias", bias)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True, eq=False)
class Dense:
    """All-to-all projection: weight (n_target, n_source), like torch's nn.Linear.weight.

    A spike of source neuron j reaches all n_target synapses: fan-out n_target SOPs.
    """

    source: int
    target: int
    weight: np.ndarray

    kind = "dense"

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", _frozen_array(self.weight, "dense weight", 2))

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    def fan_out(self) -> np.ndarray:
        """Synapses (n_in,) int64 that a spike of each source neuron reaches."""
        return np.full(self.n_in, self.n_out, dtype=np.int64)

    def to_matrix(self) -> np.ndarray:
        """The projection as a dense matrix (n_out, n_in) float64."""
        return self.weight


Projection = Dense

PROJECTION_KINDS: dict[str, type] = {Dense.kind: Dense}


@dataclass(frozen=True, eq=False)
class Network:
    """A feed-forward SNN: input shape, populations (output last) and projections.

    Use `Network.dense` for a stack of fully connected layers.
    metadata: free-form provenance (str, int, float or bool values), saved with the network.
    """

    input_shape: tuple[int, ...]
    populations: tuple[Population, ...]
    projections: tuple[Projection, ...]
    metadata: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", _shape_tuple(self.input_shape, "input_shape"))
        object.__setattr__(self, "populations", tuple(self.populations))
        object.__setattr__(self, "projections", tuple(self.projections))
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
            if not (0 <= proj.target < P):
                raise ValueError(f"projection {q} targets population {proj.target}; the network has {P}")
            if not (INPUT <= proj.source < proj.target):
                raise ValueError(
                    f"projection {q} goes from {proj.source} to {proj.target}: sources must be the input (-1) "
                    "or an earlier population (feed-forward, zero delay)"
                )
            n_src = self.n_in if proj.source == INPUT else self.populations[proj.source].size
            n_tgt = self.populations[proj.target].size
            if (proj.n_in, proj.n_out) != (n_src, n_tgt):
                raise ValueError(
                    f"projection {q} ({proj.kind}) maps {proj.n_in} -> {proj.n_out} neurons, "
                    f"but its source has {n_src} and its target {n_tgt}"
                )
            fed[proj.target] = True
        if not fed.all():
            raise ValueError(f"population(s) {np.flatnonzero(~fed).tolist()} receive no projection")
        for key, value in self.metadata.items():
            if not isinstance(key, str) or not isinstance(value, (str, int, float, bool, np.generic)):
                raise ValueError(f"metadata must map str to str/int/float/bool, got {key!r}: {value!r}")

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

    def n_synapses(self) -> np.ndarray:
        """Synapses (n_projections,) int64 of each projection."""
        return np.array([int(p.fan_out().sum()) for p in self.projections], dtype=np.int64)
