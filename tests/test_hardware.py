"""evsim.hardware's chip profiles: the published figures exactly, 'not published' where none is, and
the Loihi profile's arithmetic the one lava_network builds (tests/test_lava.py checks that against Lava)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import evsim
from evsim.energy import DATTA_65NM_32BIT
from evsim.hardware import NOT_PUBLISHED, Constant, lava_network, profile, profiles


def test_the_listing_has_every_chip_and_the_paper_model_first():
    assert profiles() == ("paper_65nm", "loihi", "loihi2", "speck", "spinnaker2", "truenorth", "xylo")
    assert profile().name == "paper_65nm"
    with pytest.raises(ValueError, match="unknown chip profile 'loihi3'"):
        profile("loihi3")


def test_profiles_are_frozen_records():
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile("loihi").name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile("loihi").energy["per_sop"].value = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        profile("loihi").energy["per_sop"] = Constant(1.0, "pJ", "a guess")  # type: ignore[index]


def test_published_figures_are_the_sources_figures():
    """Issue 21's figures, each with its source; nothing else is a number."""
    loihi = profile("loihi").energy
    assert {k: c.value for k, c in loihi.items()} == {
        "per_sop": 23.6, "per_inactive_neuron_update": 52.0, "per_active_neuron_update": 81.0,
        "per_spike_within_tile": 1.7, "per_tile_hop": (3.0, 4.0)}  # fmt: skip
    assert all(c.source.startswith("Davies et al., IEEE Micro 2018") and c.voltage == "0.75 V" and c.unit == "pJ"
               for c in loihi.values())  # fmt: skip
    assert profile("truenorth").energy["per_synaptic_event"].value == 26.0
    assert "static power included" in profile("truenorth").energy["per_synaptic_event"].basis
    s2 = profile("spinnaker2").energy
    assert (s2["per_synaptic_event"].value, s2["per_neuron_update"].value) == (450.0, 2190.0)  # 2.19 nJ


@pytest.mark.parametrize("name", ["loihi2", "speck", "xylo"])
def test_chips_without_published_energy_say_so(name):
    p = profile(name)
    for c in list(p.energy.values()) + list(p.latency.values()):
        assert c.value == NOT_PUBLISHED and not c.published


def test_every_constant_names_its_source_and_unit():
    for name in profiles():
        for key, c in {**profile(name).energy, **profile(name).latency}.items():
            assert isinstance(c, Constant) and c.source and c.unit in ("pJ", "ns", "nW"), (name, key)
            assert c.published == (not isinstance(c.value, str))


def test_the_paper_profile_reads_the_energy_modules_table():
    p = profile("paper_65nm")
    assert p.model is DATTA_65NM_32BIT
    assert p.energy["per_sop"].value == DATTA_65NM_32BIT.E_ac and p.energy["per_mac"].value == DATTA_65NM_32BIT.E_mac
    assert p.latency["per_read"].value == DATTA_65NM_32BIT.T_read and p.energy["per_sop"].node == "65 nm"


def test_chip_limits():
    loihi, speck, xylo = profile("loihi"), profile("speck"), profile("xylo")
    assert [loihi.limit(n).value for n in ("compartments", "fan_in_axons", "fan_out_edges", "synaptic_memory_bytes")] \
        == [1024, 4096, 4096, 131072]  # fmt: skip
    assert speck.limit("strides").value == (1, 2, 4, 8) and speck.limit("layers").value == 9
    assert (xylo.limit("inputs_max").value, xylo.limit("hidden_max").value, xylo.limit("outputs_max").value) == (
        16, 1000, 8)
    with pytest.raises(KeyError, match="no limit 'cores'"):
        loihi.limit("cores")


def test_the_loihi_profile_is_what_lava_network_builds():
    a = profile("loihi").arithmetic
    net = lava_network([np.array([[3, -5]])], du=7, dv=9, vth=4)
    nrn = net.populations[0].neuron
    assert net.fixed_point[1:] == (a.state_bits, a.decay_bits)
    assert (nrn.threshold_test, nrn.current_overflow, nrn.input_delay) == (a.threshold_test, a.current_overflow,
                                                                          a.hop_delay_steps)
    assert isinstance(evsim.hardware.profile("loihi2").arithmetic, type(a))
