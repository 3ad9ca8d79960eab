"""Deprecated: the old home of fixed-point mode, kept one release (CHANGELOG "Deprecated").

The quantiser is `evsim.quantizer` (`evsim.quantize`, `evsim.quantizer.mantissas`), the integer
run `evsim.engine.fixed_run` (reached through `evsim.simulate`), the integer oracle
`evsim.integer_reference` (reached through `evsim.reference_simulate`). Each public name of this
module still resolves, with a DeprecationWarning; its private names are gone.
"""

from __future__ import annotations

import importlib
import warnings

_MOVED = {  # old name -> (module, name, what to use now)
    "quantize": ("evsim.quantizer", "quantize", "evsim.quantize"),
    "mantissas": ("evsim.quantizer", "mantissas", "evsim.quantizer.mantissas"),
    "HEADROOM_BITS": ("evsim.quantizer", "HEADROOM_BITS", "evsim.quantizer.HEADROOM_BITS"),
    "MAX_STATE_BITS": ("evsim.quantizer", "MAX_STATE_BITS", "evsim.quantizer.MAX_STATE_BITS"),
    "simulate_fixed": ("evsim.engine", "simulate", "evsim.simulate (it runs fixed-point networks)"),
    "reference_fixed": ("evsim.reference", "reference_simulate",
                        "evsim.reference_simulate (it runs fixed-point networks; pass input_kind by keyword)"),
}  # fmt: skip


def __getattr__(name: str):
    if name in _MOVED:
        module, attr, new = _MOVED[name]
        warnings.warn(f"evsim.fixed.{name} is deprecated; use {new}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'evsim.fixed' has no attribute {name!r} (evsim.fixed is deprecated)")


def __dir__() -> list[str]:
    return sorted(_MOVED)


__all__: list[str] = []  # nothing to star-import from a deprecated module
