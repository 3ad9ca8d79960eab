"""evsim: an event-driven, discrete-time simulator of spiking neural networks.

Spikes are events; each costs exactly one synaptic operation (SOP) per synapse it reaches, a
TTFS decision halts the run, and every operation is counted. NumPy and Numba only (no torch).

    x = images / 255.0                                  # (B, 784) in [0, 1]
    inputs = evsim.encode(x, T=10, method="ttfs")       # (T, B, 784) float32
    net = evsim.Network.dense([W1, W2], neuron=evsim.LIF(tau_m=10, tau_s=10))
    res = evsim.simulate(net, inputs, decoder="ttfs", early_exit=True)
    res.predictions, res.sops, res.exit_step

The top level holds what a run needs (`__all__`). The robustness metrics (`evsim.metrics`), the
energy model (`evsim.energy`), NIR interchange (`evsim.nir`; `to_nir` and `from_nir` here) and the
property-test kit (`evsim.testing`: hypothesis strategies and `check_encoder`; needs hypothesis,
the `testing` extra) are submodules, imported on first use: `import evsim` loads none of them. They are reached through
`importlib` with a string, never an import statement here, so a content key that follows this
file's import statements does not depend on them.
"""

from ._version import __version__

import importlib
import warnings

from .decoding import ABSTAIN, DECODERS, decode, predict
from .encoding import ENCODERS, encode, encode_events, ratesyn_count, register_encoder
from .engine import simulate
from .events import InputEvents
from .io import NetworkFileError, load_network, save_network
from .network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population
from .neurons import IF, LIF, IntNeuron
from .quantizer import quantize
from .reference import reference_simulate
from .result import SimulationResult

__all__ = [
    # networks
    "Network", "Population", "Dense", "Conv2d", "AvgPool2d", "Identity", "INPUT", "IF", "LIF",
    # inputs
    "ENCODERS", "encode", "encode_events", "ratesyn_count", "register_encoder", "InputEvents",
    # runs and their outputs
    "simulate", "reference_simulate", "SimulationResult", "DECODERS", "decode", "predict", "ABSTAIN",
    # fixed-point mode
    "quantize", "IntNeuron",
    # files and interchange
    "load_network", "save_network", "NetworkFileError", "to_nir", "from_nir",
]  # fmt: skip

_SUBMODULES = ("metrics", "energy", "nir", "testing", "hardware")
_LAZY = {"to_nir": "evsim.nir", "from_nir": "evsim.nir"}

_METRICS = ("accuracy", "attack_success_rate", "cumulative_hidden_rate", "foreground_mask", "hidden_rate",
            "perturbation_counts", "perturbation_timing", "split_perturbation", "stability", "taacc")  # fmt: skip
_ENERGY = ("DATTA_65NM_32BIT", "EnergyReport", "HardwareModel", "LayerGeometry", "ann_energy", "network_geometry",
           "snn_energy", "snn_energy_exact", "sop_estimate", "spike_ratio")  # fmt: skip
# old top-level names, kept one release (CHANGELOG "Deprecated"): name -> (module, attribute, new spelling)
_DEPRECATED = {
    **{name: ("evsim.metrics", name, f"evsim.metrics.{name}") for name in _METRICS},
    **{name: ("evsim.energy", name, f"evsim.energy.{name}") for name in _ENERGY},
    "first_spike_step": ("evsim.decoding", "first_spike_step", "evsim.decoding.first_spike_step"),
    "predictions_over_time": ("evsim.decoding", "predictions_over_time", "evsim.decoding.predictions_over_time"),
    "spike_count": ("evsim.encoding", "ratesyn_count", "evsim.ratesyn_count"),
    "input_events": ("evsim.events", "InputEvents.from_dense", "evsim.InputEvents.from_dense"),
    "reference_fixed": ("evsim.reference", "reference_simulate",
                        "evsim.reference_simulate (it runs fixed-point networks; pass input_kind by keyword)"),
}  # fmt: skip


def _resolve(module: str, attr: str):
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def __getattr__(name: str):
    if name in _SUBMODULES:
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":  # a missing dependency inside it: say so
                raise
            raise AttributeError(f"module 'evsim' has no attribute {name!r}") from None
    if name in _LAZY:
        value = _resolve(_LAZY[name], name)
        globals()[name] = value  # resolved once
        return value
    if name in _DEPRECATED:
        module, attr, new = _DEPRECATED[name]
        warnings.warn(f"evsim.{name} is deprecated; use {new}", DeprecationWarning, stacklevel=2)
        return _resolve(module, attr)
    raise AttributeError(f"module 'evsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
