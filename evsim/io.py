"""Network files: `save_network` / `load_network` in HDF5 (evsim's own format; NIR files are `evsim.nir`).

Layout (format "evsim.network", version 2; version 1 files, dense-only, still load)::

    /                    attrs: format, format_version, evsim_version, input_shape
    /metadata            attrs: free-form provenance (str, int, float, bool)
    /populations/<p>     attrs: shape, neuron (kind), neuron_<field>...; dataset bias (optional)
    /projections/<q>     attrs: kind, source, target, other scalar fields (stride, padding and
                         kernel_size as int pairs, scale); one dataset per array (weight)

Records are written field by field from the dataclasses, so a new projection kind needs only its
registry entry. Version 2 added the kinds conv2d, avgpool2d and identity. Fixed-point networks
(`evsim.quantize`) use the same layout with optional parts: a root attribute `fixed_point`
(weight, state, decay bits), neuron kind "int" (integer theta, d_m, d_s), int64 `bias` and
`weight` datasets, an `exponent` attribute per projection and an integer `weight` attribute on
avgpool2d. Fields that are None are not written and read back as their default, so float files are
unchanged and version 2 still describes both (an older evsim refuses a fixed-point file: it does
not know the neuron kind "int"). Files are written through `evsim.atomic` (temporary name,
fsync, rename): an interrupted save never leaves a half-written file under the target name, and a
full disk keeps the previous file and raises `evsim.atomic.AtomicWriteError`.
Neuron fields added later (threshold_test; IntNeuron's current_overflow, input_delay, decay, v_min) are written
like the others; a file without them reads back with their defaults (">=", "saturate", 0, "trunc", None), which is
how the network that wrote it ran.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import h5py
import numpy as np

from ._version import __version__
from .atomic import atomic_h5 as _atomic_h5
from .network import PROJECTION_KINDS, Network, Population
from .neurons import NEURON_KINDS

FORMAT = "evsim.network"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


# projection fields that only fixed-point networks set (None otherwise, and then not written)
_OPTIONAL_FIELDS = ("exponent", "weight")


class NetworkFileError(ValueError):
    """A file that is not an evsim network, or a damaged one."""


def _to_attr(value):
    if isinstance(value, tuple):
        return np.asarray(value, dtype=np.int64)
    return value


def _from_attr(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return tuple(int(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_neuron(group: h5py.Group, neuron) -> None:
    group.attrs["neuron"] = neuron.kind
    for f in dataclasses.fields(neuron):
        if getattr(neuron, f.name) is not None:  # None (IntNeuron's v_min) reads back as the default
            group.attrs[f"neuron_{f.name}"] = getattr(neuron, f.name)


def save_network(net: Network, path) -> Path:
    """Write `net` to the HDF5 file `path` (created or replaced atomically). Returns the path."""
    if not isinstance(net, Network):
        raise ValueError(f"save_network needs an evsim.Network, got {type(net).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder: give save_network a file name, e.g. {path / 'network.h5'}")
    with _atomic_h5(path) as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["evsim_version"] = __version__
        f.attrs["input_shape"] = np.asarray(net.input_shape, dtype=np.int64)
        if net.fixed_point is not None:
            f.attrs["fixed_point"] = np.asarray(net.fixed_point, dtype=np.int64)
        meta = f.create_group("metadata")
        for key, value in net.metadata.items():
            meta.attrs[key] = value
        pops = f.create_group("populations")
        for p, pop in enumerate(net.populations):
            g = pops.create_group(str(p))
            g.attrs["shape"] = np.asarray(pop.shape, dtype=np.int64)
            _write_neuron(g, pop.neuron)
            if pop.bias is not None:
                g.create_dataset("bias", data=pop.bias)
        projs = f.create_group("projections")
        for q, proj in enumerate(net.projections):
            g = projs.create_group(str(q))
            g.attrs["kind"] = proj.kind
            for fld in dataclasses.fields(proj):
                value = getattr(proj, fld.name)
                if value is None:  # an optional field (a float network's exponent): its default on reading
                    continue
                if isinstance(value, np.ndarray):
                    g.create_dataset(fld.name, data=value)
                else:
                    g.attrs[fld.name] = _to_attr(value)
    return path


def _read_neuron(group: h5py.Group):
    kind = _from_attr(group.attrs["neuron"])
    if kind not in NEURON_KINDS:
        raise NetworkFileError(f"unknown neuron kind {kind!r}")
    cls = NEURON_KINDS[kind]
    # a field a file predates (threshold_test, current_overflow, input_delay: files written before
    # the strict test existed) takes its default, which is what those files' networks ran with
    fields = {f.name: _from_attr(group.attrs[f"neuron_{f.name}"]) for f in dataclasses.fields(cls)
              if f"neuron_{f.name}" in group.attrs or f.default is dataclasses.MISSING}
    return cls(**fields)


def _read_projection(group: h5py.Group):
    kind = _from_attr(group.attrs["kind"])
    if kind not in PROJECTION_KINDS:
        raise NetworkFileError(f"unknown projection kind {kind!r}")
    cls = PROJECTION_KINDS[kind]
    values = {}
    for fld in dataclasses.fields(cls):
        if fld.name in group:
            values[fld.name] = group[fld.name][()]
        elif fld.name in group.attrs or fld.name not in _OPTIONAL_FIELDS:  # a missing stride is damage
            values[fld.name] = _from_attr(group.attrs[fld.name])
    return cls(**values)


def _indexed(group: h5py.Group, what: str) -> list:
    keys = sorted(group.keys(), key=lambda s: int(s) if s.isdigit() else -1)
    if keys != [str(i) for i in range(len(keys))]:
        raise NetworkFileError(f"{what} are not numbered 0..n-1: {list(group.keys())}")
    return [group[k] for k in keys]


def load_network(path) -> Network:
    """Read a network written by `save_network`.

    Raises FileNotFoundError if `path` does not exist and `NetworkFileError` (a ValueError)
    for a file that is not HDF5, not an evsim network, of a newer format, or damaged.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no network file at {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise NetworkFileError(f"{path} is not a readable HDF5 file ({err})") from None
    with f:
        fmt = _from_attr(f.attrs.get("format", ""))
        if fmt != FORMAT:
            raise NetworkFileError(f"{path} is not an evsim network file (format attribute {fmt!r})")
        version = int(f.attrs.get("format_version", -1))
        if version not in READABLE_VERSIONS:
            raise NetworkFileError(
                f"{path} has network format version {version}; this evsim reads versions {READABLE_VERSIONS}"
            )
        try:
            populations = [
                Population(
                    shape=_from_attr(g.attrs["shape"]),
                    neuron=_read_neuron(g),
                    bias=g["bias"][()] if "bias" in g else None,
                )
                for g in _indexed(f["populations"], "populations")
            ]
            projections = [_read_projection(g) for g in _indexed(f["projections"], "projections")]
            metadata = {k: _from_attr(v) for k, v in f["metadata"].attrs.items()}
            fixed_point = _from_attr(f.attrs["fixed_point"]) if "fixed_point" in f.attrs else None
            return Network(_from_attr(f.attrs["input_shape"]), populations, projections, metadata, fixed_point)
        except NetworkFileError as err:
            raise NetworkFileError(f"{path} is a damaged evsim network file: {err}") from None
        except (KeyError, ValueError, TypeError, OSError) as err:
            raise NetworkFileError(f"{path} is a damaged evsim network file: {err}") from None


def __getattr__(name: str):
    # evsim.io.atomic_h5 moved to evsim.atomic (issue 19); the old spelling works for one release
    if name == "atomic_h5":
        warnings.warn("evsim.io.atomic_h5 is now evsim.atomic.atomic_h5", DeprecationWarning, stacklevel=2)
        return _atomic_h5
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
