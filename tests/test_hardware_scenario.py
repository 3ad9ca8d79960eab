"""The hardware scenario end to end at tiny settings: the documented layout, and numbers that mean
what they say (a chip the network overflows is not run and names the limit; energy is the sum of
cost's priced terms; TrueNorth's is 26 pJ per SOP; Loihi runs two steps longer; a chip run on the
float network agrees with it exactly), then the figures."""

import h5py
import numpy as np
import pytest

import evsim
import evsim.hardware as hw
from bridges.datasets import data_dir
from scenarios.__main__ import main as scenarios_main
from scenarios.machinery.plotting import as_strings
from scenarios.paper.hardware import chip_network
from scenarios.plot import plot_file

needs_data = pytest.mark.skipif(not ((data_dir() / "mnist").is_dir() and (data_dir() / "fashion-mnist").is_dir()),
                                reason="MNIST and Fashion-MNIST not in the data directory ($EVSIM_DATA)")  # fmt: skip

MODELS = ("mnist_cvt_ratesyn_e_rate", "fmnist_tempbp_ttfs_ttfs")
PER_CHIP = ("accuracy_clean", "accuracy_attacked", "accuracy_attacked_per_attacker", "sops", "steps", "agreement_entries",
            "agreement_samples", "agreement_predictions", "energy_pj", "energy_high_pj", "time_ns", "priced")  # fmt: skip


@needs_data
def test_hardware_tiny_run_writes_the_documented_layout_and_numbers_that_mean_what_they_say(tmp_path, monkeypatch):
    monkeypatch.setenv("EVSIM_MODELS", str(tmp_path / "models"))
    out = tmp_path / "hardware.h5"
    scenarios_main(["hardware", "--models", *MODELS, "--train-samples", "200", "--test-samples", "20", "--mnist-epochs", "1",
                    "--fmnist-epochs", "1", "--fig5-width", "8", "--threads", "1", "--out", str(out)])  # fmt: skip
    with h5py.File(out, "r") as f:
        assert f.attrs["scenario"] == "hardware" and f.attrs["test_samples"] == 20
        assert as_strings(f.attrs["profiles"]) == list(hw.profiles()) and as_strings(f.attrs["models"]) == list(MODELS)
        assert "first 20" in f.attrs["test_subset"]
        for m in MODELS:
            T = int(f.attrs["mnist_T" if m.startswith("mnist") else "fmnist_T"])
            for chip in hw.profiles():
                g = f"{m}/{chip}"
                for key in ("fits", "run", "cores", "memory_bytes"):
                    assert f"{g}/{key}" in f, (g, key)
                assert {"fit", "violations", "broken_limits", "checked"} <= set(f[f"{g}/fits"].attrs)
                if f[f"{g}/run"][()]:
                    for key in PER_CHIP:
                        assert f"{g}/{key}" in f, (g, key)
                    per = f[f"{g}/accuracy_attacked_per_attacker"][()]
                    assert per.shape == (5,) and f[f"{g}/accuracy_attacked"][()] == pytest.approx(per.mean())
                    assert 0 <= f[f"{g}/agreement_entries"][()] <= 1
            # Xylo takes 16 inputs and 8 outputs: not run, the limits named with the numbers found
            xylo = f[f"{m}/xylo/fits"]
            assert not xylo[()] and not f[f"{m}/xylo/run"][()] and f"{m}/xylo/accuracy_clean" not in f
            assert {"inputs_max", "outputs_max"} <= set(as_strings(xylo.attrs["broken_limits"]))
            assert any("784" in v and "16" in v for v in as_strings(xylo.attrs["violations"]))
            assert f[f"{m}/xylo/run"].attrs["arithmetic"] == "not run: the network does not fit"
            # Loihi: fits on its cores, compiled; two projections, one step each: two steps more
            assert f[f"{m}/loihi/fits"][()] and f[f"{m}/loihi/cores"][()] >= 2
            assert "compile(net, 'loihi')" in f[f"{m}/loihi/run"].attrs["arithmetic"]
            if m.startswith("mnist"):  # rate decoding: every sample runs all its steps
                assert f[f"{m}/loihi/steps"][()] == T + 2 and f[f"{m}/float/steps"][()] == T
                assert "lossy_reset" in f[f"{m}/loihi/run"].attrs["arithmetic"]  # IF's reset by subtraction
            assert f[f"{m}/loihi/steps"][()] <= T + 2
            # Loihi 2 runs Loihi's network: the same spikes, its energy not published
            for key in ("accuracy_clean", "accuracy_attacked", "agreement_entries", "sops"):
                assert f[f"{m}/loihi2/{key}"][()] == f[f"{m}/loihi/{key}"][()]
            for chip in ("loihi2", "speck"):
                assert not f[f"{m}/{chip}/priced"][()] and np.isnan(f[f"{m}/{chip}/energy_pj"][()])
            # energy per image is the sum of cost's priced terms (NaN: no count or no constant)
            for chip in ("paper_65nm", "loihi", "truenorth", "spinnaker2"):
                terms = [f[f"{m}/{chip}/terms/{t}"][()] for t in f[f"{m}/{chip}/terms"]]
                assert f[f"{m}/{chip}/priced"][()]
                assert f[f"{m}/{chip}/energy_pj"][()] == pytest.approx(np.nansum(terms))
            assert np.isnan(f[f"{m}/loihi/terms/tile hops"][()])  # no placement on the mesh: no count
            # TrueNorth: one all-in figure, 26 pJ per synaptic event; its arithmetic is not entered,
            # so it runs the float network: identical spikes and numbers
            assert f[f"{m}/truenorth/energy_pj"][()] == pytest.approx(26.0 * f[f"{m}/truenorth/sops"][()])
            for chip in ("truenorth", "spinnaker2"):
                assert f[f"{m}/{chip}/agreement_entries"][()] == 1.0 and f[f"{m}/{chip}/agreement_predictions"][()] == 1.0
                assert f[f"{m}/{chip}/accuracy_attacked"][()] == f[f"{m}/float/accuracy_attacked"][()]
            # the paper's model: evsim.quantize at its widths; Speck: compile, the LIF model as IAF
            assert "evsim.quantize(net, 8, 24, 12)" in f[f"{m}/paper_65nm/run"].attrs["arithmetic"]
            speck_how = f[f"{m}/speck/run"].attrs["arithmetic"]
            assert "compile(net, 'speck')" in speck_how and ("lossy_leak" in speck_how) == m.startswith("fmnist")
        # Fig. 5's ResNet18, fit only: 18 populations, and Speck holds 9 layers (at any width)
        speck = f["fig5_fused_resnet18/speck/fits"]
        assert not speck[()] and "layers" in as_strings(speck.attrs["broken_limits"])
        assert any("18" in v and "9" in v for v in as_strings(speck.attrs["violations"]))
        assert not any(f[f"fig5_fused_resnet18/{c}/run"][()] for c in hw.profiles())
        assert not f["fig5_fused_resnet18/xylo/fits"][()] and "fig5_fused_resnet18/loihi/cores" in f
    assert [p.name for p in plot_file(out)] == ["hardware_accuracy.png", "hardware_agreement.png", "hardware_energy.png"]


def test_each_chip_runs_its_compiled_network_with_the_lossy_mapping_it_needs_said():
    """No data needed: which network `chip_network` picks. IF (reset by subtraction) and LIF chains:
    Loihi compiles IF with lossy_reset, Speck compiles IF exactly and LIF with lossy_leak; each says so."""
    rng = np.random.default_rng(0)
    ws = [rng.normal(0.1, 0.3, (8, 12)), rng.normal(0.1, 0.3, (3, 8))]
    nets = {"if": evsim.Network.dense(ws, neuron=evsim.IF(1.0)), "lif": evsim.Network.dense(ws, neuron=evsim.LIF(4, 2))}
    how = {(n, c): chip_network(net, hw.profile(c)) for n, net in nets.items() for c in ("loihi", "speck")}
    assert how["if", "speck"][0] == how["lif", "speck"][0] == "speck"
    assert how["if", "speck"][1].metadata["hardware.profile"] == "speck"
    assert how["if", "speck"][2] == "evsim.hardware.compile(net, 'speck')"  # exact: Speck resets by subtraction
    assert "lossy_leak" in how["lif", "speck"][2] and "lossy_reset" not in how["lif", "speck"][2]
    assert "lossy_reset" in how["if", "loihi"][2] and "lossy" not in how["lif", "loihi"][2]
