"""Three input encoders from the literature, registered through `evsim.register_encoder` only.

They are examples of user encoders (docs/guide/user-encoders.md) and extra encoders of Fig. 2's
robustness pipeline (`python -m scenarios fig2 --encoders ... phase burst sigma_delta`). Each is a
pure, deterministic, elementwise function of (x, T): x (B, ...) in [0, 1] -> (T, B, ...).

| name | kind | step k carries | literature |
|---|---|---|---|
| `phase` | current | bit (K-1-p) of v = rint(255 x), weighted K * 2^-(1+p), p = k mod K, K = 8 | Kim et al. 2018 |
| `burst` | rate | a spike if (k mod W) < ceil(N x - 1e-4): a burst of up to N = 5 spikes opening each W = 6-step window | Park et al. 2019 |
| `sigma_delta` | rate | a spike when the accumulated input (k+1) x crosses the next multiple of theta = 1 | the input of Loihi workloads |

*Phase* (Kim, Kim, Kim, "Deep neural networks with weighted spikes", Neurocomputing 2018): the
8-bit pixel v = b_7 ... b_0 is sent MSB first, one bit per step, and the spike at phase p is
worth 2^-(1+p), so one period of K steps sums to v / 2^K. The weight is one number per step,
shared by every input: Kim et al. realise it in the receiving neuron (input and threshold scaled
by the phase), which evsim's IF neurons cannot do. Here the encoder emits the weighted spike itself,
a float current (kind "current"), times K: the paper's weights make a period carry x once, the
rate-converted Fig. 2 network is normalised for a mean input of x per step (what `current` and
the rate codes give), so K * 2^-(1+p) keeps its drive (gain=1 is the paper's own scale, 1/K of it).
Consequence for the counts: layer 0 does MACs, not SOPs, one per weighted spike and synapse it
reaches: the same number of synaptic events as the SOPs of the binary bit train, priced as MACs
by the energy model (the weighting is a multiplication, or on a chip a shift per neuron and step).

*Burst* (Park, Kim, Choe, Yoon, "Fast and efficient information transmission with burst spikes in
deep spiking neural networks", DAC 2019): a burst of n(x) = ceil(N x - 1e-4) spikes at
consecutive steps (SPEC's RateSyn count with N in place of T), at the start of every W-step
window, the rest of the window silent. Its count is non-decreasing in x and 0 at x = 0, but x = 1
gives N spikes per window, not one per step: a rate code with `full_at_one=False` (the silent
inter-burst steps are what make it a burst). Mean input per step n(x) / W <= 5/6.

*Sigma-delta* (the input layer of Loihi workloads: an IF neuron driven by the pixel, or a sigma-delta
encoder sending an event each time the accumulated input crosses a threshold): u[k] = u[k-1] + x,
spike when u >= theta, u -= theta, from u[-1] = 0; the count after step k is floor((k+1) x / theta),
computed in closed form with SPEC's 1e-4 tolerance (floor((k+1) x / theta + 1e-4)) so that float
error never moves a spike of an 8-bit pixel. A static image only ever accumulates, so the signed
events of a sigma-delta code are all +1 here (spikes); x = 1 spikes at every step (a rate code
passing every default property), and its spikes are evenly spread (the first at step ceil(1/x) - 1).

`register()` registers the three (`with register():` removes them again); `available(names)`
registers those of `names` that are literature encoders and not yet registered, for a `with`
block (Fig. 2 does so in its driver and in each task, so that Ray workers have them too).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack, contextmanager

import numpy as np

import evsim

PHASE_BITS = 8  # K: the bits of the pixel, one per step of a period
BURST_LENGTH = 5  # N: the most spikes of a burst (at x = 1)
BURST_WINDOW = 6  # W: steps of a window (a burst, then silence); T = 30 is five windows
SIGMA_DELTA_THRESHOLD = 1.0  # theta


def _as_float64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def phase(x, T: int, rng=None, *, bits: int = PHASE_BITS, gain: float | None = None) -> np.ndarray:
    """Phase coding with weighted spikes (Kim et al. 2018): float32 (T, *x.shape).

    Step k is phase p = k mod bits; it carries bit (bits-1-p) of v = rint(x (2^bits - 1)) (MSB
    first), weighted gain * 2^-(1+p). gain None is `bits` (a mean of about x per step, module
    docstring); gain 1 the paper's scale (a period sums to v / 2^bits). rng is not used.
    """
    if not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an int in 1..16, got {bits!r}")
    gain = float(bits if gain is None else gain)
    if not gain > 0:
        raise ValueError(f"gain must be > 0, got {gain!r}")
    v = np.rint(_as_float64(x) * (2**bits - 1)).astype(np.int32)
    out = np.empty((T,) + v.shape, dtype=np.float32)
    for k in range(T):
        p = k % bits
        out[k] = ((v >> (bits - 1 - p)) & 1) * np.float32(gain * 2.0 ** -(1 + p))
    return out


def burst(x, T: int, rng=None, *, length: int = BURST_LENGTH, window: int = BURST_WINDOW) -> np.ndarray:
    """Burst coding (Park et al. 2019): bool (T, *x.shape), a spike at step k when
    (k mod window) < n(x) = ceil(length x - 1e-4) clipped to [0, length]. rng is not used."""
    if not isinstance(length, int) or not isinstance(window, int) or not 1 <= length <= window:
        raise ValueError(f"length and window must be ints with 1 <= length <= window, got {length!r}, {window!r}")
    n = np.clip(np.ceil(_as_float64(x) * length - 1e-4), 0, length)
    within = (np.arange(T) % window).reshape((T,) + (1,) * n.ndim)
    return within < n[None]


def sigma_delta(x, T: int, rng=None, *, threshold: float = SIGMA_DELTA_THRESHOLD) -> np.ndarray:
    """Sigma-delta (integrate-and-fire) input: bool (T, *x.shape), a spike at step k when the
    count floor((k+1) x / threshold + 1e-4) of threshold crossings grows. rng is not used."""
    threshold = float(threshold)
    if not threshold >= 1:  # x <= 1 then crosses at most one threshold per step: a spike, never two
        raise ValueError(f"threshold must be >= 1, got {threshold!r}")
    rate = _as_float64(x) / threshold
    out = np.empty((T,) + rate.shape, dtype=bool)
    before = np.zeros(rate.shape)  # crossings up to the previous step (none before step 0)
    for k in range(T):  # a step at a time: no (T, *x.shape) float64 arrays (4x faster on a Fig. 2 chunk)
        after = np.floor((k + 1) * rate + 1e-4)
        np.greater(after, before, out=out[k])
        before = after
    return out


# name -> (fn, kind, options of evsim.testing.check_encoder the kind's defaults need)
LITERATURE = {
    "phase": (phase, "current", {}),
    "burst": (burst, "rate", {"full_at_one": False}),
    "sigma_delta": (sigma_delta, "rate", {}),
}


def register(names: Iterable[str] = tuple(LITERATURE)) -> ExitStack:
    """Register the literature encoders `names` (all three by default); the returned ExitStack
    unregisters them (`with register(): ...`). ValueError for an unknown or taken name."""
    names = list(names)
    unknown = [n for n in names if n not in LITERATURE]
    if unknown:
        raise ValueError(f"no literature encoder {unknown[0]!r}; choose from {tuple(LITERATURE)}")
    stack = ExitStack()
    try:
        for name in names:
            fn, kind, _ = LITERATURE[name]
            stack.enter_context(evsim.register_encoder(name, fn, kind))
    except BaseException:
        stack.close()
        raise
    return stack


@contextmanager
def available(names: Iterable[str]):
    """Within the block, every literature encoder among `names` is registered: those not yet
    registered are, and are removed on exit (other names, built-in or a user's, are left alone)."""
    known = evsim.encoding.encoder_names()
    missing = [n for n in dict.fromkeys(names) if n in LITERATURE and n not in known]
    with register(missing):
        yield
