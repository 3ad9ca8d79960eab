"""Neuron models: the per-step dynamics of a population, as frozen parameter records.

Both models are written in one discrete-time form (dt = 1 ms, steps k = 0 .. T-1) that the
event-driven engine and the time-stepped reference share::

    I[k] = decay_s * I[k-1] + input_gain * sum_{j spiked at k} W_ij      (synaptic current)
    U[k] = decay_m * U[k-1] + I[k] + b                                  (membrane)
    s[k] = U[k] >= theta;  after a spike U is reset (to 0, or by subtracting theta)

The threshold test is ``>=`` by default (SPEC); a neuron may declare the strict test ``>``
(``threshold_test=">"``), which is NIR's and Loihi's: a membrane exactly at theta then does not
fire. Every engine and both references honour it.

- ``IF`` (ANN-to-SNN conversion, Rueckauer et al. 2017): no leak, no synaptic filter
  (decay_m = 1, decay_s = 0, gain 1), reset by subtraction.
- ``LIF`` (Act-BP and Temp-BP, paper Eq. 15-16): leak 1 - 1/tau_m and a current-based
  synaptic trace 1 - 1/tau_s with gain 1/tau_s, hard reset to U0 = 0.

The trace is SPEC's presynaptic trace a[k] = (1-1/tau_s) a[k-1] + s[k]/tau_s moved to the
postsynaptic side (I = W a is linear in a), which is what lets a spike cost exactly one
synaptic operation per synapse it reaches. It belongs to the receiving population, as in a
current-based (CUBA) LIF neuron.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RESET_MODES = ("zero", "subtract")
THRESHOLD_TESTS = (">=", ">")  # SPEC's default first; ">" is NIR's and Loihi's strict test


def _check_reset(reset: str) -> None:
    if reset not in RESET_MODES:
        raise ValueError(f"reset must be one of {RESET_MODES}, got {reset!r}")


def _check_test(test: str) -> None:
    if test not in THRESHOLD_TESTS:
        raise ValueError(f"threshold_test must be one of {THRESHOLD_TESTS} ('>=' fires at theta, '>' only above "
                         f"it), got {test!r}")


def fires(u: np.ndarray, theta, threshold_test: str) -> np.ndarray:
    """Spike flags of membranes `u` against `theta` under the neuron's test (`>=` or `>`)."""
    return u > theta if threshold_test == ">" else u >= theta


def _check_positive_finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


@dataclass(frozen=True)
class IF:
    """Integrate-and-fire neuron, reset by subtraction (SPEC "Neurons", IF).

    theta: firing threshold (membrane units). threshold_test: ">=" (SPEC, default) or ">" (strict).
    """

    theta: float = 1.0
    reset: str = "subtract"
    threshold_test: str = ">="

    kind = "if"

    def __post_init__(self) -> None:
        _check_positive_finite("theta", self.theta)
        _check_reset(self.reset)
        _check_test(self.threshold_test)

    @property
    def decay_m(self) -> float:
        return 1.0

    @property
    def decay_s(self) -> float:
        return 0.0

    @property
    def input_gain(self) -> float:
        return 1.0


@dataclass(frozen=True)
class LIF:
    """Leaky integrate-and-fire neuron with a synaptic trace (SPEC "Neurons", LIF).

    tau_m, tau_s: membrane and synaptic time constants in steps (>= 1; tau = 1 means no
    memory). theta: firing threshold. reset: "zero" (hard reset to U0 = 0, SPEC) or
    "subtract". threshold_test: ">=" (SPEC, default) or ">" (strict: NIR's and Loihi's).
    """

    tau_m: float
    tau_s: float
    theta: float = 1.0
    reset: str = "zero"
    threshold_test: str = ">="

    kind = "lif"

    def __post_init__(self) -> None:
        for name in ("tau_m", "tau_s"):
            value = getattr(self, name)
            _check_positive_finite(name, value)
            if value < 1:
                raise ValueError(f"{name} must be >= 1 step (the decay 1 - 1/tau must lie in [0, 1)), got {value!r}")
        _check_positive_finite("theta", self.theta)
        _check_reset(self.reset)
        _check_test(self.threshold_test)

    @property
    def decay_m(self) -> float:
        return 1.0 - 1.0 / self.tau_m

    @property
    def decay_s(self) -> float:
        return 1.0 - 1.0 / self.tau_s

    @property
    def input_gain(self) -> float:
        return 1.0 / self.tau_s


def _check_int(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value!r}")
    return int(value)


CURRENT_OVERFLOWS = ("saturate", "wrap")
DECAYS = ("trunc", "bitshift")  # SPEC's fraction of 2**D; Xylo's x -= max(x >> dash, sign(x))
DASH_MAX = 31  # a bit-shift decay's largest shift (xylosim shifts int16 states promoted to int)


@dataclass(frozen=True)
class IntNeuron:
    """Fixed-point neuron of a quantised network (SPEC "Fixed-point mode"; built by `evsim.quantize`).

    All values are integers in the population's state unit; decays are numerators out of
    2**D, D = the network's decay_bits (`Network.fixed_point[2]`), S its state bits::

        I = trunc(I * (2**D - d_s) / 2**D) + sum of this step's integer weights
        I saturates at +-(2**(S-1) - 1) ("saturate", SPEC) or wraps around ("wrap", Loihi)
        U = trunc(U * (2**D - d_m) / 2**D) + I + b, saturated at +-(2**(S-1) - 1)
        spike when U >= theta (U > theta with threshold_test=">"); reset to 0 ("zero") or U -= theta

    theta: integer threshold (>= 1 for ">=", >= 0 for ">": a neuron never fires at U = 0).
    d_m, d_s: decay numerators in [0, 2**D]; IF is d_m = 0, d_s = 2**D (no leak, no current
    memory); LIF is d_m = round(2**D / tau_m), d_s = round(2**D / tau_s). The input gain
    (1/tau_s) is folded into the integer weights.

    Two fields exist for chips whose arithmetic is not SPEC's generic one (`evsim.hardware`):
    current_overflow "wrap" is Lava's Loihi rule, applied once (x > M: x - 2M; x <= -M: x + 2M,
    M = 2**(S-1)), and input_delay 1 makes the population receive its sources' spikes of the
    previous step (a Loihi Dense delivers at step t what it accumulated at step t-1).

    decay "bitshift" is Xylo's arithmetic (xylosim 0.1.3, XyloIAFNeuron::evolve; `evsim.hardware.
    xylo_network`): d_s and d_m are then shifts ("dash", 0 .. 31) and, per step, the step's input is
    added to I first and the decay comes after, x - max(x >> dash, sign(x)) with >> the floor shift::

        I = clip(I + sum of this step's weights, -2**(S-1), 2**(S-1) - 1);  I -= dec(I, d_s)
        dU = clip(I - dec(U, d_m)); dU = clip(dU + b); U = clip(U + dU)   (two's complement range)

    v_min (an integer in [-2**(S-1), 0], or None for -(2**(S-1) - 1)) is the membrane's lower bound:
    DYNAP-CNN's threshold_low (sinabs' min_v_mem; `evsim.hardware.speck_network`). A bound <= 0 gives
    the same spikes whether applied before the threshold test (here) or after the reset (sinabs).
    """

    theta: int
    d_m: int
    d_s: int
    reset: str = "zero"
    threshold_test: str = ">="
    current_overflow: str = "saturate"
    input_delay: int = 0
    decay: str = "trunc"
    v_min: int | None = None

    kind = "int"

    def __post_init__(self) -> None:
        _check_test(self.threshold_test)
        object.__setattr__(self, "theta", _check_int("theta", self.theta, 0 if self.threshold_test == ">" else 1))
        object.__setattr__(self, "d_m", _check_int("d_m", self.d_m, 0))
        object.__setattr__(self, "d_s", _check_int("d_s", self.d_s, 0))
        _check_reset(self.reset)
        if self.current_overflow not in CURRENT_OVERFLOWS:
            raise ValueError(f"current_overflow must be one of {CURRENT_OVERFLOWS}, got {self.current_overflow!r}")
        object.__setattr__(self, "input_delay", _check_int("input_delay", self.input_delay, 0))
        if self.input_delay > 1:
            raise ValueError(f"input_delay is 0 (SPEC) or 1 (Loihi's Dense) steps, got {self.input_delay}")
        if self.decay not in DECAYS:
            raise ValueError(f"decay must be one of {DECAYS}, got {self.decay!r}")
        if self.decay == "bitshift" and max(self.d_m, self.d_s) > DASH_MAX:
            raise ValueError(f"a bit-shift decay's d_m, d_s are shifts in [0, {DASH_MAX}], got {self.d_m}, {self.d_s}")
        if self.v_min is not None:
            v_min = _check_int("v_min", self.v_min, -(2**40))
            if v_min > 0:
                raise ValueError(f"v_min is a lower bound <= 0 on the membrane, got {v_min}")
            object.__setattr__(self, "v_min", v_min)


Neuron = IF | LIF

NEURON_KINDS: dict[str, type] = {IF.kind: IF, LIF.kind: LIF, IntNeuron.kind: IntNeuron}
