"""The event-driven engine: `simulate(net, inputs, ...)` runs a `Network` on an encoded batch.

Discrete time, zero synaptic delay: at step k, populations are updated in order and the spikes
of a population at step k reach its targets at step k (a fixed-point population with Loihi's
`input_delay=1` receives them at step k + 1: `evsim.hardware`). Each sample runs independently (numba
prange over chunks of samples), so results do not depend on the thread count or batch split.

Per sample and step, for each population p:

1. its synaptic current decays: I *= decay_s (0 for IF: no filter);
2. each incoming projection turns every source event of this step into work by its own kernel
   (`_dense_add`, `_conv_add`, `_pool_add`, `_identity_add`): a spike adds the weights it reaches
   (pre-scaled by the target's input gain) and counts one synaptic operation (SOP) per synapse
   reached; a non-zero float input value (current encoding) multiplies them in and counts one
   multiply-accumulate (MAC) per synapse reached instead. Zero padding is never reached;
3. neurons integrate, U = decay_m U + I + b, spike where U >= theta, and reset.

With TTFS decoding and `early_exit=True`, a sample stops at the first step at which any output
neuron spikes: the decision is taken there and no later step is simulated or counted. The kernel
reports the steps it ran and the membrane updates it did, so a test can see the work stop.

The input arrives as sparse event lists (`evsim.events.InputEvents`), so it costs work per event,
not T x n_in reads. Memory is O(B x neurons) for the state of the samples in flight plus
O(T x B x n) only for recorded spikes.

Modules, bottom up (no module imports one above it):

- `plan`: the network as plain arrays, one table layout for float and integer networks (the
  channels-last layout, `conv_layout`, `internal_order`);
- `kernels`: the per-kind event kernels, written once for float32, float64 and int64;
- `float_run` and `fixed_run`: the two runs as peers, each its own integrate step and run loop
  (the fixed-point arithmetic is described in `fixed_run`); `outputs`: their shared result arrays;
- `clock`: the cycle counter a profiled float run reads inside its loop (`profile=True`);
- this package: `simulate`, which validates and dispatches on `net.fixed_point`.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from ..decoding import DECODERS
from ..events import INPUT_KINDS as _INPUT_KINDS, InputEvents
from ..network import INPUT as _INPUT, Network
from ..result import SimulationResult
from .cache_guard import drop_stale as _drop_stale_numba_cache

_drop_stale_numba_cache(Path(__file__).parent)  # before any kernel loads its cache
from . import fixed_run, float_run  # noqa: E402
from .plan import conv_layout, internal_order

DTYPES = (np.float32, np.float64)


def check_options(decoder: str, early_exit: bool, dtype) -> np.dtype:
    """Validate the run options; return the dtype."""
    if not isinstance(early_exit, (bool, np.bool_)):
        raise ValueError(f"early_exit must be True or False, got {early_exit!r}")
    if not isinstance(decoder, str) or decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {DECODERS}")
    if early_exit and decoder != "ttfs":
        raise ValueError("early_exit needs decoder='ttfs': only a TTFS decision is taken before the last step")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in [np.dtype(d) for d in DTYPES]:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _as_input_events(net: Network, inputs, input_kind) -> InputEvents:
    """The batch as `InputEvents` for `net`: dense arrays are validated and converted."""
    if isinstance(inputs, InputEvents):
        if math.prod(inputs.shape) != net.n_in or inputs.shape not in (net.input_shape, (net.n_in,)):
            raise ValueError(f"input events have per-sample shape {inputs.shape}, the network expects {net.input_shape}")
        if input_kind != "auto":
            raise ValueError("input_kind applies to dense inputs; InputEvents carry their own current mask")
        return inputs
    return InputEvents.from_dense(inputs, net.input_shape, input_kind)


def simulate(
    net: Network,
    inputs,
    decoder: str = "rate",
    early_exit: bool = False,
    dtype=np.float32,
    input_kind="auto",
    record_hidden: bool = False,
    profile: bool = False,
) -> SimulationResult:
    """Run `net` event-driven on an encoded batch.

    inputs: `InputEvents` (e.g. `evsim.encode_events(x, T, ...)`), or a dense batch
        (T, B, *net.input_shape) or (T, B, n_in) such as `evsim.encode(x, T, ...)`. Spikes (0/1)
        cost SOPs; float currents cost MACs in the layers they feed.
    input_kind: for dense inputs: "auto" (spikes if every value is 0 or 1, else current),
        "spikes", "current", or the list of methods of a fused encoding (e.g. ["current",
        "ratesyn_e", "ttfs"]): each channel block is current or spikes by its method.
    decoder: "rate" or "ttfs".
    early_exit: stop each sample at its TTFS decision (needs decoder="ttfs").
    dtype: np.float32 (fast) or np.float64 (state and weights).
    record_hidden: keep every hidden population's spikes (T*B*n bytes each); off by default so
        that memory grows with B x neurons, not T x B x neurons.
    profile: also time each projection's kernels and each population's integrate pass inside
        the compiled loop (`SimulationResult.profile`, an `evsim.result.RunProfile`); the counts
        and spikes are those of a run without it. Float networks only.

    Returns a `SimulationResult`; SOPs and MACs are exact counts per sample and projection.
    A fixed-point network (`evsim.quantize`) runs with integer kernels (`fixed_run`): spike
    inputs only, `dtype` ignored (the state is int64).
    """
    if not isinstance(record_hidden, (bool, np.bool_)):
        raise ValueError(f"record_hidden must be True or False, got {record_hidden!r}")
    if not isinstance(profile, (bool, np.bool_)):
        raise ValueError(f"profile must be True or False, got {profile!r}")
    if isinstance(net, Network) and net.fixed_point is not None:
        if profile:
            raise ValueError("profile=True times the float run; a fixed-point network has no profile")
        check_options(decoder, early_exit, np.float64)
        ev = _as_input_events(net, inputs, input_kind)
        return fixed_run.run(net, ev, decoder, early_exit, bool(record_hidden))
    dt = check_options(decoder, early_exit, dtype)
    if not isinstance(net, Network):
        raise ValueError(f"net must be an evsim.Network, got {type(net).__name__}")
    ev = _as_input_events(net, inputs, input_kind)
    return float_run.run(net, ev, decoder, early_exit, dt, bool(record_hidden), bool(profile))


# old names, kept one release (CHANGELOG "Deprecated")
_DEPRECATED = {
    "as_input_events": ("evsim.engine._as_input_events (private; use evsim.InputEvents.from_dense)",
                        lambda: _as_input_events),
    "INPUT": ("evsim.INPUT", lambda: _INPUT),
    "INPUT_KINDS": ("evsim.events.INPUT_KINDS", lambda: _INPUT_KINDS),
}  # fmt: skip


def __getattr__(name: str):
    if name in _DEPRECATED:
        new, get = _DEPRECATED[name]
        warnings.warn(f"evsim.engine.{name} is deprecated; use {new}", DeprecationWarning, stacklevel=2)
        return get()
    raise AttributeError(f"module 'evsim.engine' has no attribute {name!r}")


__all__ = ["simulate", "SimulationResult", "check_options", "conv_layout", "internal_order"]
