"""Neuron models: the per-step dynamics of a population, as frozen parameter records.

Both models are written in one discrete-time form (dt = 1 ms, steps k = 0 .. T-1) that the
event-driven engine and the time-stepped reference share::

    I[k] = decay_s * I[k-1] + input_gain * sum_{j spiked at k} W_ij      (synaptic current)
    U[k] = decay_m * U[k-1] + I[k] + b                                  (membrane)
    s[k] = U[k] >= theta;  after a spike U is reset (to 0, or by subtracting theta)

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


def _check_reset(reset: str) -> None:
    if reset not in RESET_MODES:
        raise ValueError(f"reset must be one of {RESET_MODES}, got {reset!r}")


def _check_positive_finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


@dataclass(frozen=True)
class IF:
    """Integrate-and-fire neuron, reset by subtraction (SPEC "Neurons", IF).

    theta: firing threshold (membrane units, >= test).
    """

    theta: float = 1.0
    reset: str = "subtract"

    kind = "if"

    def __post_init__(self) -> None:
        _check_positive_finite("theta", self.theta)
        _check_reset(self.reset)

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
    "subtract".
    """

    tau_m: float
    tau_s: float
    theta: float = 1.0
    reset: str = "zero"

    kind = "lif"

    def __post_init__(self) -> None:
        for name in ("tau_m", "tau_s"):
            value = getattr(self, name)
            _check_positive_finite(name, value)
            if value < 1:
                raise ValueError(f"{name} must be >= 1 step (the decay 1 - 1/tau must lie in [0, 1)), got {value!r}")
        _check_positive_finite("theta", self.theta)
        _check_reset(self.reset)

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


@dataclass(frozen=True)
class IntNeuron:
    """Fixed-point neuron of a quantised network (SPEC "Fixed-point mode"; built by `evsim.quantize`).

    All values are integers in the population's state unit; decays are numerators out of
    2**D, D = the network's decay_bits (`Network.fixed_point[2]`)::

        I = trunc(I * (2**D - d_s) / 2**D) + sum of this step's integer weights
        U = trunc(U * (2**D - d_m) / 2**D) + I + b
        spike when U >= theta; reset to 0 ("zero") or U -= theta ("subtract")

    theta: integer threshold (>= 1). d_m, d_s: decay numerators in [0, 2**D]; IF is d_m = 0,
    d_s = 2**D (no leak, no current memory); LIF is d_m = round(2**D / tau_m), d_s =
    round(2**D / tau_s). The input gain (1/tau_s) is folded into the integer weights.
    """

    theta: int
    d_m: int
    d_s: int
    reset: str = "zero"

    kind = "int"

    def __post_init__(self) -> None:
        object.__setattr__(self, "theta", _check_int("theta", self.theta, 1))
        object.__setattr__(self, "d_m", _check_int("d_m", self.d_m, 0))
        object.__setattr__(self, "d_s", _check_int("d_s", self.d_s, 0))
        _check_reset(self.reset)


Neuron = IF | LIF

NEURON_KINDS: dict[str, type] = {IF.kind: IF, LIF.kind: LIF, IntNeuron.kind: IntNeuron}
