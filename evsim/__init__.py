"""evsim: an event-driven, discrete-time simulator of spiking neural networks.

Spikes are events; each costs exactly one synaptic operation (SOP) per synapse it reaches, a
TTFS decision halts the run, and every operation is counted. NumPy and Numba only (no torch).

    x = images / 255.0                                  # (B, 784) in [0, 1]
    inputs = evsim.encode(x, T=10, method="ttfs")       # (T, B, 784) float32
    net = evsim.Network.dense([W1, W2], neuron=evsim.LIF(tau_m=10, tau_s=10))
    res = evsim.simulate(net, inputs, decoder="ttfs", early_exit=True)
    res.predictions, res.sops, res.exit_step
"""

__version__ = "0.1.0"

from .decoding import ABSTAIN, DECODERS, decode, first_spike_step, predict, predictions_over_time
from .encoding import ENCODERS, encode, encode_events, spike_count
from .energy import (
    DATTA_65NM_32BIT,
    EnergyReport,
    HardwareModel,
    LayerGeometry,
    ann_energy,
    network_geometry,
    snn_energy,
    snn_energy_exact,
    sop_estimate,
    spike_ratio,
)
from .engine import SimulationResult, simulate
from .events import InputEvents, input_events
from .fixed import quantize, reference_fixed
from .io import NetworkFileError, load_network, save_network
from .metrics import (
    accuracy,
    attack_success_rate,
    cumulative_hidden_rate,
    foreground_mask,
    hidden_rate,
    perturbation_counts,
    perturbation_timing,
    split_perturbation,
    stability,
    taacc,
)
from .network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population
from .neurons import IF, LIF, IntNeuron
from .nir import from_nir, to_nir
from .reference import reference_simulate

__all__ = [
    "ABSTAIN", "AvgPool2d", "Conv2d", "DECODERS", "ENCODERS", "INPUT", "IF", "Identity", "LIF", "Dense", "Network", "NetworkFileError",
    "InputEvents", "Population", "SimulationResult", "decode", "encode", "encode_events", "input_events", "first_spike_step", "load_network", "predict",
    "predictions_over_time", "reference_simulate", "save_network", "simulate", "spike_count",
    # fixed-point mode
    "IntNeuron", "quantize", "reference_fixed",
    # interchange (NIR)
    "from_nir", "to_nir",
    # metrics
    "accuracy", "attack_success_rate", "cumulative_hidden_rate", "foreground_mask", "hidden_rate",
    "perturbation_counts", "perturbation_timing", "split_perturbation", "stability", "taacc",
    # energy
    "DATTA_65NM_32BIT", "EnergyReport", "HardwareModel", "LayerGeometry", "ann_energy", "network_geometry",
    "snn_energy", "snn_energy_exact", "sop_estimate", "spike_ratio",
]
