"""Hardware-faithful mode for real chips (SPEC "Chip profiles"; import as ``evsim.hardware``).

- `profile(name)`, `profiles()`: chip profiles as frozen records (`Profile`: `Arithmetic`,
  `Limit`s, energy and latency `Constant`s, each with its source, node and voltage, or
  "not published"); the paper's 65 nm model is the default.
- `lava_network(weights, du, dv, vth, ...)`: a Dense + LIF chain that runs in evsim bit for bit
  as in Lava 0.10's fixed_pt Loihi model.
- `check(net, profile)`: maps a network onto the chip's cores and names every limit it breaks.
- `cost(net, result, profile)`: energy per image term by term from the run's exact counts, and chip time.

The user guide's page "Chips" (docs/guide/hardware.md) lists every profile and constant.
"""

from .check import Fit, Violation, check
from .cost import Cost, Term, cost
from .lava import lava_network, lava_weights
from .profiles import NOT_ENTERED, NOT_PUBLISHED, PROFILES, Arithmetic, Constant, Limit, Profile, profile, profiles

__all__ = ["Arithmetic", "Constant", "Cost", "Term", "cost", "Fit", "Limit", "Violation", "check", "NOT_ENTERED", "NOT_PUBLISHED", "PROFILES", "Profile", "lava_network",
           "lava_weights", "profile", "profiles"]
