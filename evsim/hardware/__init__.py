"""Hardware-faithful mode for real chips (SPEC "Chip profiles"; import as ``evsim.hardware``).

- `profile(name)`, `profiles()`: chip profiles as frozen records (`Profile`: `Arithmetic`,
  `Limit`s, energy and latency `Constant`s, each with its source, node and voltage, or
  "not published"); the paper's 65 nm model is the default.
- `lava_network(weights, du, dv, vth, ...)`: a Dense + LIF chain that runs in evsim bit for bit
  as in Lava 0.10's fixed_pt Loihi model.
- `xylo_network(weights_in, weights_out, dash_mem, ...)`: a Xylo Audio 2 core (input, hidden,
  readout) that runs in evsim as in SynSense's xylosim, step for step (rockpool's arguments).
- `speck_network(input_shape, weights, spike_threshold, ...)`: DYNAP-CNN layers (Speck) that run
  in evsim as in sinabs' IAFSqueeze layers, step for step (sinabs' and the chip config's arguments).
- `compile(net, "loihi")`: a float network (dense, conv, pool, residual) quantised onto Loihi's
  arithmetic; `lava_parameters` gives a compiled Dense chain back as `lava_network`'s arguments.
  `compile(net, "speck")`: a float IF network onto Speck's (`speck_network`'s) int8 arithmetic.
- `check(net, profile)`: maps a network onto the chip's cores and names every limit it breaks.
- `cost(net, result, profile)`: energy per image term by term from the run's exact counts, and chip time.

The user guide's page "Chips" (docs/guide/hardware.md) lists every profile and constant.
"""

from .check import Fit, Violation, check
from .compiler import compile, lava_parameters  # noqa: A004 - hardware.compile, as the issue names it
from .cost import Cost, Term, cost
from .lava import lava_network, lava_weights
from .profiles import NOT_ENTERED, NOT_PUBLISHED, PROFILES, Arithmetic, Constant, Limit, Profile, profile, profiles
from .speck import speck_network
from .xylo import xylo_network

__all__ = ["NOT_ENTERED", "NOT_PUBLISHED", "PROFILES", "Arithmetic", "Constant", "Cost", "Fit", "Limit", "Profile",
           "Term", "Violation", "check", "compile", "cost", "lava_network", "lava_parameters", "lava_weights", "profile",
           "profiles", "speck_network", "xylo_network"]  # fmt: skip
