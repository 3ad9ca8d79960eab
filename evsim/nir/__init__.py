"""Interchange through NIR (the Neuromorphic Intermediate Representation, PyPI ``nir``).

``to_nir(net, dt)`` writes an evsim `Network` as a ``nir.NIRGraph``; ``from_nir(graph, dt)``
reads one back, from evsim or from snnTorch, Norse, SpikingJelly or Sinabs. Files are NIR's own
HDF5 format (``save`` / ``load`` wrap ``nir.write`` / ``nir.read``; ``save`` writes atomically
through `evsim.atomic`), and ``python -m evsim.nir export|import|inspect`` does the same from the
command line. Modules: `writer` (to_nir, save), `reader` (from_nir, load), `cli` (describe, main),
`conventions` (dt, metadata keys, the nir package, shared by the other three).

NIR describes continuous-time ODEs; evsim runs discrete steps. The bridge is forward Euler at a
step of ``dt`` seconds (SPEC "Interchange (NIR)"), and ``dt`` is always the caller's: nothing
here has a default step, because a wrong dt gives a different network, not an error.

Neurons (per-neuron NIR arrays are shaped as the population)::

    evsim LIF(tau_m, tau_s, theta), bias b  <->  CubaLIF(tau_syn = tau_s dt, tau_mem = tau_m dt,
                                                   r = tau_m, w_in = 1, v_leak = b tau_m,
                                                   v_threshold = theta, v_reset = 0)
    evsim IF(theta, reset="zero")           <->  IF(r = 1/dt, v_threshold = theta, v_reset = 0)

Threshold test. NIR fires on ``v > v_threshold`` (strict), as Loihi does; evsim's default is
``>=`` (SPEC). An imported node from another framework gets ``threshold_test=">"``, so the graph
runs as it ran there (ties at the threshold go the same way); a node evsim wrote carries its test
in its metadata (``evsim_threshold_test``; ``>=`` for files that predate it) and reads back as it was.

Forward Euler of CubaLIF at dt reads ``I[k] = (1 - dt/tau_syn) I[k-1] + (dt/tau_syn) w_in x[k]``
and ``v[k] = (1 - dt/tau_mem) v[k-1] + (dt/tau_mem) (v_leak + r I[k])``: with the values above that
is evsim's LIF step exactly. On import, a node's factor ``c = w_in r dt / tau_mem`` (IF:
``c = r dt``; LIF: ``c = r dt / tau``) multiplies everything that reaches it; evsim has no such
field, so ``c`` is folded into the incoming weights (Dense rows, Conv2d output channels, an
Identity's scale) or, where an incoming pool cannot carry it and ``c`` is uniform, into the
threshold and bias (``theta / c``, ``b / c``: the membrane is measured in units of c). NIR's LIF
(no synaptic current) is evsim's LIF with ``tau_s = 1``.

Biases. evsim's population bias is a constant added to the membrane every step. In NIR that is
``v_leak`` (``b = v_leak dt / tau_mem``); an IF has no v_leak, so an IF population's bias is
written as the bias of an incoming Affine (or of a Conv2d, when it is constant per channel). An
Affine or Conv2d bias in front of a CubaLIF with ``tau_syn > dt`` passes through the synaptic
filter: a decaying input that no constant bias reproduces, so importing it is an error (build the
layer without a bias). NIR's ``v_reset`` must be 0 (evsim resets to U0 = 0).

Projections: Dense <-> Linear (Affine when it carries an IF bias; a Flatten node first when the
source is (C, H, W)); Conv2d <-> Conv2d (dilation 1, groups 1); AvgPool2d <-> AvgPool2d (no
padding); on import SumPool2d is an AvgPool2d whose k_h k_w gain goes where ``c`` goes. Identity
is a plain edge (a Scale node when scale != 1). Several projections into one population add
their currents, as several NIR edges into one node add their inputs. Scale nodes next to an
operation are folded into it; Flatten nodes only check shapes (evsim reads (C, H, W) flat, C-major,
as NIR's Flatten does).

Reset by subtraction (evsim IF's default, LIF's option) has no NIR form: NIR resets to v_reset
(nir issues #137, #138). Exporting it is a ValueError unless the caller passes
``lossy_reset=True``; the node is then written with NIR's reset to 0, and the graph's metadata
(``evsim_lossy_reset``, plus ``evsim_reset`` on each node) says so. Other tools run that node with
a hard reset; evsim reads the metadata back and restores the subtraction exactly.

Exact round trips. Every neuron node that evsim writes also carries evsim's own values in its
metadata (``evsim_tau_m``, ``evsim_tau_s``, ``evsim_theta``, ``evsim_reset``, ``evsim_bias``),
because ``(tau dt) / dt`` and ``(b tau) / tau`` are not always bit-exact in floating point. On
import they are used only when the NIR fields agree with them to 1e-9 (relative); a node whose
fields were edited away from its metadata is an error, never a silent choice.

Threshold semantics. NIR (and snnTorch, Norse, Sinabs) spike when ``v > v_threshold``; evsim
spikes when ``U >= theta``. evsim keeps ``theta = v_threshold`` both ways, so the two differ only
where a membrane lands exactly on the threshold (e.g. a weight of exactly theta from rest):
evsim spikes there and NIR does not. Behind trained real-valued weights that is rare (none in
5.1 million spike values of a Fashion-MNIST MLP in snnTorch); behind an unweighted pool it is not: pooled inputs are
multiples of 1/k^2, and a small convolutional snnTorch model differed in 0.3% of its spikes and 14%
of its predictions, every difference such a tie (README, "Interchange (NIR)").

What evsim cannot run exactly is an error naming the node: Delay, LI/CubaLI readouts (evsim has no
membrane decoder), I, Threshold, Conv1d, recurrent subgraphs and cycles, per-neuron time
constants or thresholds that differ within a population, ``tau/dt < 1`` (forward Euler would not
be a decay), a non-zero v_reset, two weighted operations with no neurons between them.

Frameworks (see the README's "Interchange (NIR)" for the measured agreement):
- snnTorch 1.0 writes ``tau = dt / (1 - beta)`` with dt = 1e-4 hard-coded: read its graphs with
  ``dt=1e-4``. Its Synaptic neuron is CubaLIF with ``r = tau_mem/dt`` and ``w_in = tau_syn/dt``.
  Its export writes every reset as a hard reset and ignores ``reset_delay``.
- Norse 1.1 reads evsim's graphs exactly; it writes ``tau = dt / tau_inv`` (norse issue #411),
  which evsim refuses as ``tau/dt < 1``.
- SpikingJelly 2.0 takes dt explicitly and writes IF with ``r = 1/dt`` and LIF as evsim reads them;
  it reads CubaLIF only in snnTorch's form (``w_in = tau_syn/dt``), so it refuses evsim's LIF.
- Sinabs 3.1.3 writes IAF as IF with ``r = 1`` (a per-step gain): read it at ``dt=1``. It writes its
  default subtractive, multi-spike IAF as the same hard-reset IF, which no reader can tell apart.
"""

from .cli import describe, main
from .conventions import META_PREFIX, RTOL_METADATA
from .reader import from_nir, load
from .writer import save, to_nir

__all__ = ["META_PREFIX", "RTOL_METADATA", "describe", "from_nir", "load", "main", "save", "to_nir"]
