"""User encoders: `register_encoder(name, fn, kind)` makes `fn` an encoder like the built-in five.

    def half_poisson(x, T, rng):                  # x (B, ...) in [0, 1], T steps, a numpy Generator
        return rng.random((T,) + x.shape) < x / 2   # (T, B, ...) bool: spikes

    evsim.register_encoder("half_poisson", half_poisson, kind="spikes")
    evsim.encode(x, 10, "half_poisson", seed=0)   # or encode_events, a fused list, perturbation_counts

`fn(x, T, rng)` gets x read-only (a view: writing to it raises), an int T >= 1 and the
Generator `evsim.encoding.generator(seed)` of the call (the one every encoder of a fused list draws
from, in list order), and returns a numpy array of shape (T, *x.shape): bool, integer or float. It
becomes float32 (a copy, so it never aliases x); values must be finite, and only 0 and 1 for the
spike kinds. A wrong shape, dtype or value is a ValueError naming the encoder.

`kind` says what the encoder claims to be (`evsim.testing.check_encoder` checks the claim):

| kind | values | claims |
|---|---|---|
| `rate` | spikes (0/1) | spike count non-decreasing in x, none at 0, T at 1 |
| `latency` | spikes (0/1) | at most one spike; the larger x, the earlier (never later) |
| `spikes` | spikes (0/1) | binary only (e.g. phase or burst codes) |
| `current` | finite floats | none: each step is a float current |

Spike kinds cost SOPs in `evsim.simulate`, current kinds MACs (`is_current`, which
`InputEvents.current_mask` asks for each block of a fused `input_kind` list).

The registry is module-level, one per process: `unregister_encoder(name)` removes a name, and the
`Encoder` that `register_encoder` returns is a context manager that removes it on exit
(``with evsim.register_encoder(...):``). Built-in names, and "auto", "spikes" and "fused"
(input kinds and the scenarios' name of the fused list), cannot be taken. This module imports
nothing of evsim (events and encoding both read it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

KINDS = ("rate", "latency", "spikes", "current")
SPIKE_KINDS = ("rate", "latency", "spikes")
# the built-in encoders (evsim.ENCODERS, in this order) and their kinds
BUILTIN_KINDS = {"current": "current", "poisson": "rate", "ratesyn_s": "rate", "ratesyn_e": "rate", "ttfs": "latency"}
RESERVED = ("auto", "spikes", "fused")
NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_\-]*"  # safe in file names, HDF5 paths and checkpoint stems


@dataclass(frozen=True, eq=False)
class Encoder:
    """A registered encoder: its name, fn(x, T, rng) and kind. As a context manager it
    unregisters itself on exit."""

    name: str
    fn: Callable
    kind: str

    def __enter__(self) -> Encoder:
        return self

    def __exit__(self, *exc) -> None:
        if _REGISTERED.get(self.name) is self:
            del _REGISTERED[self.name]


_REGISTERED: dict[str, Encoder] = {}


def register_encoder(name: str, fn: Callable, kind: str) -> Encoder:
    """Register `fn(x, T, rng) -> (T, *x.shape)` as the encoder `name` of `kind` (module docstring).

    Raises ValueError for a taken or malformed name or an unknown kind, TypeError when fn is not
    callable. Returns the `Encoder` (a context manager that unregisters it).
    """
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(f"an encoder name is a string of letters, digits, '_' and '-' starting with a letter, "
                         f"got {name!r}")  # fmt: skip
    if name in BUILTIN_KINDS or name in RESERVED:
        raise ValueError(f"encoder name {name!r} is taken by evsim (built-in: {tuple(BUILTIN_KINDS)}; "
                         f"reserved: {RESERVED})")  # fmt: skip
    if name in _REGISTERED:
        raise ValueError(f"encoder name {name!r} is already registered; "
                         "unregister it first (evsim.encoding.unregister_encoder)")  # fmt: skip
    if kind not in KINDS:
        raise ValueError(f"unknown encoder kind {kind!r}; choose from {KINDS}")
    if not callable(fn):
        raise TypeError(f"fn must be callable as fn(x, T, rng), got {type(fn).__name__}")
    encoder = Encoder(name, fn, kind)
    _REGISTERED[name] = encoder
    return encoder


def unregister_encoder(name: str) -> None:
    """Remove a registered encoder. ValueError for a built-in or an unknown name."""
    if name in BUILTIN_KINDS:
        raise ValueError(f"{name!r} is a built-in encoder; only registered encoders can be removed")
    if name not in _REGISTERED:
        raise ValueError(f"no encoder {name!r} is registered (registered: {tuple(_REGISTERED)})")
    del _REGISTERED[name]


def registered_encoders() -> dict[str, Encoder]:
    """The registered encoders, name -> `Encoder` (a copy)."""
    return dict(_REGISTERED)


def encoder_names() -> tuple[str, ...]:
    """Every encoder name `evsim.encode` accepts now: the built-ins, then the registered ones."""
    return tuple(BUILTIN_KINDS) + tuple(_REGISTERED)


def encoder_kind(name: str) -> str:
    """The kind of a built-in or registered encoder (ValueError for an unknown name)."""
    if name in BUILTIN_KINDS:
        return BUILTIN_KINDS[name]
    if name in _REGISTERED:
        return _REGISTERED[name].kind
    raise ValueError(f"unknown encoding method {name!r}; choose from {encoder_names()}")


def is_current(name: str) -> bool:
    """Whether a block of a fused `input_kind` list named `name` carries float currents (MACs):
    "current", or a registered encoder of kind "current". Every other name is spikes (SOPs)."""
    return name == "current" or (is_registered(name) and _REGISTERED[name].kind == "current")


def is_registered(name) -> bool:
    return isinstance(name, str) and name in _REGISTERED


def check_output(out, x_shape: tuple[int, ...], T: int, kind: str, name: str) -> np.ndarray:
    """An encoder's output as float32 (a copy), or ValueError saying what is wrong with it: not a
    numpy array, a shape other than (T, *x_shape), a dtype other than bool / integer / float,
    NaN or inf (after the float32 cast), or values other than 0 and 1 for a spike kind."""
    who = f"encoder {name!r}"
    if not isinstance(out, np.ndarray):
        raise ValueError(f"{who} returned {type(out).__name__}, not a numpy array")
    want = (T,) + tuple(x_shape)
    if out.shape != want:
        raise ValueError(f"{who} returned shape {out.shape}; it must be (T, *x.shape) = {want}")
    if not (out.dtype == bool or np.issubdtype(out.dtype, np.integer) or np.issubdtype(out.dtype, np.floating)):
        raise ValueError(f"{who} returned dtype {out.dtype}; it must be bool, integer or float")
    with np.errstate(over="ignore"):
        values = out.astype(np.float32)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"{who} returned {int(bad.sum())} NaN or inf value(s) (in float32)")
    if kind in SPIKE_KINDS:
        other = (values != 0) & (values != 1)
        if other.any():
            raise ValueError(f"{who} is of kind {kind!r} (spikes) but returned {int(other.sum())} value(s) "
                             f"other than 0 and 1, e.g. {float(values[other][0])!r}")  # fmt: skip
    return values


def run_encoder(name: str, x: np.ndarray, T: int, rng: np.random.Generator) -> np.ndarray:
    """Call the registered encoder `name` on a read-only view of x; its checked float32 output."""
    encoder = _REGISTERED[name]
    view = x.view()
    view.flags.writeable = False
    return check_output(encoder.fn(view, T, rng), x.shape, T, encoder.kind, name)


__all__ = ["KINDS", "SPIKE_KINDS", "Encoder", "encoder_kind", "encoder_names", "is_current", "register_encoder",
           "registered_encoders", "unregister_encoder"]  # fmt: skip
