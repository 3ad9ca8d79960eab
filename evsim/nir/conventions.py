"""What evsim's NIR writer and reader share: the step dt, the metadata keys, the nir package.

NIR describes continuous time; evsim runs steps of `dt` seconds, always the caller's (a wrong dt
gives a different network, not an error). Graph metadata keys starting with `META_PREFIX` hold the
network's own metadata; `RTOL_METADATA` is how close a node's NIR fields must be to the exact
evsim values stored beside them for the reader to use those (package docstring).
"""

from __future__ import annotations

import math

import numpy as np

META_PREFIX = "evsim_meta."  # graph metadata key prefix for the network's own metadata
RTOL_FLOAT32 = 4e-7  # a few float32 roundings (2**-24 each): parameters a float32 framework exported
RTOL_METADATA = 1e-9  # how close NIR fields must be to a node's evsim metadata to use it


def nir_package():
    """The nir package, imported on first use so that `import evsim` never needs it."""
    try:
        import nir
    except ImportError as err:  # pragma: no cover - nir is a core dependency
        raise ImportError("evsim.nir needs the `nir` package: pip install 'nir>=1.0.6'") from err
    return nir


def check_dt(dt) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)):
        raise ValueError(f"dt must be a real number of seconds per step (e.g. 1e-3), got {dt!r}")
    dt = float(dt)
    if not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be finite and > 0 seconds, got {dt!r}")
    return dt


def plain_value(value):
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
