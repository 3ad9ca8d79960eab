"""Chip profiles as data (SPEC "Chip profiles"): arithmetic, limits, energy and latency constants.

Each profile is a frozen record. A constant is a `Constant`: its value (or the string
``"not published"`` where its maker published none: never a guess), unit, source, process node,
supply voltage and basis (how it was measured). Figures that are published but not entered here
say ``"not entered"`` and name where to find them: this module holds only figures checked against
their sources in issue 21. The paper's 65 nm model (`evsim.energy.DATTA_65NM_32BIT`) is the
default profile; its constants are read from that record, not copied.
"""

from __future__ import annotations

from collections.abc import Mapping

from dataclasses import dataclass, fields
from types import MappingProxyType

from ..energy import DATTA_65NM_32BIT, HardwareModel

NOT_PUBLISHED = "not published"  # the maker published no such figure
NOT_ENTERED = "not entered"  # published (see the source), not yet entered and checked here


@dataclass(frozen=True)
class Constant:
    """One published figure. value: a number, a (low, high) range, or NOT_PUBLISHED / NOT_ENTERED."""

    value: float | tuple[float, float] | str
    unit: str
    source: str
    node: str = NOT_ENTERED
    voltage: str = NOT_ENTERED
    basis: str = ""

    @property
    def published(self) -> bool:
        return not isinstance(self.value, str)


@dataclass(frozen=True)
class Arithmetic:
    """How a chip computes a neuron step. Integers are bits or steps; strings describe forms.

    weight_bits / state_bits / decay_bits: widths (bits). decay_form: how a state decays.
    current_overflow / voltage_overflow: "wrap" or "saturate". threshold_test: ">" or ">=".
    reset: what a spike does to the state. hop_delay_steps: steps a spike takes per projection.
    A field nobody has entered is NOT_ENTERED.
    """

    weight_bits: int | str
    state_bits: int | str
    decay_bits: int | str
    decay_form: str
    current_overflow: str
    voltage_overflow: str
    threshold_test: str
    reset: str
    hop_delay_steps: int | str
    source: str


@dataclass(frozen=True)
class Limit:
    """One limit a chip imposes: name, value (a number, a tuple of allowed values, or a string), its
    scope ("core", "chip", "layer", "network") and source."""

    name: str
    value: int | tuple | str
    scope: str
    source: str


@dataclass(frozen=True)
class Profile:
    """A chip: its arithmetic, limits and energy / latency constants (`Constant`, keyed by name)."""

    name: str
    chip: str
    arithmetic: Arithmetic
    limits: tuple[Limit, ...]
    energy: Mapping[str, Constant]
    latency: Mapping[str, Constant]
    notes: str = ""
    model: HardwareModel | None = None  # the evsim.energy model, where the profile has one

    def __post_init__(self) -> None:
        for name in ("energy", "latency"):  # read-only views: a profile is data nobody edits in place
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def limit(self, name: str) -> Limit:
        for lim in self.limits:
            if lim.name == name:
                return lim
        raise KeyError(f"profile {self.name!r} has no limit {name!r}; it has {[x.name for x in self.limits]}")


DAVIES = "Davies et al., IEEE Micro 2018, Table 2"
LAVA = "Lava 0.10 (lava-nc), lava/proc/lif/models.py, lava/proc/dense/models.py, lava/utils/weightutils.py"
MEROLLA = "Merolla et al., Science 2014"
HOPPNER = "Hoppner et al., IEEE TCAS-I 2019 (SpiNNaker 2 prototype)"
SINABS = "sinabs documentation (DYNAP-CNN / Speck chip limits)"
XYLO = "Xylo Audio 2 documentation (rockpool)"
SINABS_ARITH = ("sinabs 3.1.3: backend/dynapcnn/chips/dynapcnn.py (get_dynapcnn_layer_config), "
                "layers/functional/lif.py, activation/; checked spike for spike by tests/test_speck.py")
XYLOSIM = ("xylosim 0.1.3 (rockpool's XyloSim back end): src/v2/cpp/XyloIAFNeuron.cpp, XyloLayer.cpp; checked spike "
           "for spike by tests/test_xylo.py")
DATTA = "Datta et al. 2022, the paper's Table 2 (evsim.energy.DATTA_65NM_32BIT)"
LAVA_ARITH = Arithmetic(
    weight_bits=8, state_bits=24, decay_bits=12,
    decay_form="x = sign(x (4096 - d)) (|x (4096 - d)| >> 12): trunc toward zero; d = du + 1 for the current, dv "
               "for the voltage",
    current_overflow="wrap", voltage_overflow="saturate", threshold_test=">",
    reset="v = 0 (the current keeps its value)", hop_delay_steps=1, source=LAVA,
)  # fmt: skip


def _none(unit: str, source: str) -> Constant:
    return Constant(NOT_PUBLISHED, unit, source, NOT_PUBLISHED, NOT_PUBLISHED)


def _paper_65nm() -> Profile:
    hw = DATTA_65NM_32BIT
    units = {"E_read": "pJ", "E_mac": "pJ", "E_ac": "pJ", "P_leak": "nW", "T_read": "ns", "T_mac": "ns", "T_ac": "ns"}
    const = {f.name: Constant(getattr(hw, f.name), units[f.name], DATTA, "65 nm", "not given in Table 2",
                              "the paper's model, 32-bit") for f in fields(hw) if f.name in units}  # fmt: skip
    return Profile(
        name="paper_65nm", chip="the paper's 65 nm CMOS model (Datta et al. 2022)",
        arithmetic=Arithmetic(8, 24, 12, "x = trunc(x (2**D - d) / 2**D)", "saturate", "saturate", ">=",
                              "per neuron: U = 0 or U -= theta", 0, "SPEC 'Fixed-point mode'"),
        limits=(),
        energy={"per_sop": const["E_ac"], "per_mac": const["E_mac"], "per_weight_read": const["E_read"],
                "leakage_power": const["P_leak"]},
        latency={"per_ac": const["T_ac"], "per_mac": const["T_mac"], "per_read": const["T_read"]},
        notes="the default: Eq. 34-37 with Table 2 (evsim.energy)", model=hw,
    )  # fmt: skip


def _loihi() -> Profile:
    def c(value, unit):
        return Constant(value, unit, DAVIES, NOT_ENTERED, "0.75 V", "pre-silicon SPICE simulation")

    return Profile(
        name="loihi", chip="Intel Loihi",
        arithmetic=LAVA_ARITH,
        limits=(Limit("compartments", 1024, "core", DAVIES), Limit("fan_in_axons", 4096, "core", DAVIES),
                Limit("fan_out_edges", 4096, "core", DAVIES), Limit("synaptic_memory_bytes", 128 * 1024, "core", DAVIES),
                Limit("weight_bits", (1, 9), "projection", DAVIES)),
        energy={"per_sop": c(23.6, "pJ"), "per_inactive_neuron_update": c(52.0, "pJ"),
                "per_active_neuron_update": c(81.0, "pJ"), "per_spike_within_tile": c(1.7, "pJ"),
                "per_tile_hop": c((3.0, 4.0), "pJ")},
        latency={"per_step": _none("ns", DAVIES)},
        notes="bit-exact against Lava 0.10's fixed_pt models (evsim.hardware.lava_network)",
    )  # fmt: skip


def _loihi2() -> Profile:
    source = "Intel Loihi 2 (no energy per operation published)"
    return Profile(
        name="loihi2", chip="Intel Loihi 2",
        arithmetic=LAVA_ARITH,
        limits=(),
        energy={"per_sop": _none("pJ", source), "per_neuron_update": _none("pJ", source),
                "per_spike": _none("pJ", source)},
        latency={"per_step": _none("ns", source)},
        notes="arithmetic: Lava's Loihi2SimCfg(select_tag='fixed_pt') runs the same bit-accurate LIF and Dense "
              "models as for Loihi; the chip's neurons are programmable, this is its LIF",
    )  # fmt: skip


def _speck() -> Profile:
    return Profile(
        name="speck", chip="SynSense Speck (DYNAP-CNN)",
        arithmetic=Arithmetic(8, 16, 0, "none: integrate-and-fire, no leak, no synaptic current (v += conv(spikes))",
                              "no current state", "saturate (16 bits); lower bound threshold_low = min_v_mem "
                              "(-2**15 when None)", ">=", "v -= threshold_high, or v = 0 with return_to_zero", 0,
                              SINABS_ARITH),
        limits=(Limit("layers", 9, "chip", SINABS), Limit("weight_bits", 8, "projection", SINABS),
                Limit("state_bits", 16, "population", SINABS), Limit("kernel_size_max", 16, "layer", SINABS),
                Limit("strides", (1, 2, 4, 8), "layer", SINABS), Limit("channels_max", 1024, "layer", SINABS),
                Limit("destinations_per_layer", 2, "layer", SINABS)),
        energy={"per_sop": _none("pJ", SINABS), "per_neuron_update": _none("pJ", SINABS)},
        latency={"per_step": _none("ns", SINABS)},
    )  # fmt: skip


def _xylo() -> Profile:
    return Profile(
        name="xylo", chip="SynSense Xylo Audio 2",
        arithmetic=Arithmetic(8, 16, 4, "bit-shift: x -= max(x >> dash, sign(x)) (floor shift), dash 0-15; the "
                              "current is decayed after the step's input is added", "saturate (two's complement, "
                              "each add)", "saturate (two's complement, each add)", ">=",
                              "v -= threshold per spike (up to 31 per step hidden, 1 readout)",
                              "0 input to hidden, 1 hidden to readout", XYLOSIM),
        limits=(Limit("inputs_max", 16, "network", XYLO), Limit("hidden_max", 1000, "network", XYLO),
                Limit("outputs_max", 8, "network", XYLO), Limit("weight_bits", 8, "projection", XYLO),
                Limit("state_bits", 16, "population", XYLO)),
        energy={"per_sop": _none("pJ", XYLO), "per_neuron_update": _none("pJ", XYLO)},
        latency={"per_step": _none("ns", XYLO)},
    )  # fmt: skip


def _truenorth() -> Profile:
    return Profile(
        name="truenorth", chip="IBM TrueNorth",
        arithmetic=Arithmetic(*([NOT_ENTERED] * 9), MEROLLA),
        limits=(),
        energy={"per_synaptic_event": Constant(26.0, "pJ", MEROLLA, NOT_ENTERED, NOT_ENTERED,
                                              "an all-in average at one operating point, static power included")},
        latency={"per_step": Constant(NOT_ENTERED, "ns", MEROLLA)},
        notes="limits and arithmetic are published (Merolla et al. 2014) but not entered here",
    )  # fmt: skip


def _spinnaker2() -> Profile:
    def c(value, unit):
        return Constant(value, unit, HOPPNER, NOT_ENTERED, NOT_ENTERED, "prototype chip")

    return Profile(
        name="spinnaker2", chip="SpiNNaker 2 (prototype)",
        arithmetic=Arithmetic(*([NOT_ENTERED] * 9), HOPPNER + "; software-defined neurons on ARM cores"),
        limits=(),
        energy={"per_synaptic_event": c(450.0, "pJ"), "per_neuron_update": c(2190.0, "pJ")},
        latency={"per_step": Constant(NOT_ENTERED, "ns", HOPPNER)},
    )  # fmt: skip


PROFILES: dict[str, Profile] = {p.name: p for p in (_paper_65nm(), _loihi(), _loihi2(), _speck(), _xylo(),
                                                    _truenorth(), _spinnaker2())}  # fmt: skip
DEFAULT = "paper_65nm"


def profile(name: str = DEFAULT) -> Profile:
    """The profile called `name` (see `profiles()`); the paper's 65 nm model by default."""
    if name not in PROFILES:
        raise ValueError(f"unknown chip profile {name!r}; known: {sorted(PROFILES)}")
    return PROFILES[name]


def profiles() -> tuple[str, ...]:
    """Names of the known profiles, the default first."""
    return (DEFAULT,) + tuple(sorted(n for n in PROFILES if n != DEFAULT))
