"""HDF5 network files: round trip, atomic writes, clear errors on foreign or damaged files."""

import h5py
import numpy as np
import pytest

import evsim
from evsim.atomic import atomic_h5
from evsim.io import FORMAT_VERSION, NetworkFileError
from evsim.network import INPUT, Dense, Network, Population


def _mixed_network() -> Network:
    rng = np.random.default_rng(0)
    pops = [
        Population((4,), evsim.LIF(tau_m=10, tau_s=2.5, theta=0.8), bias=rng.normal(size=4)),
        Population((3,), evsim.IF(theta=1.5, reset="zero")),
    ]
    projs = [Dense(INPUT, 0, rng.normal(size=(4, 6))), Dense(0, 1, rng.normal(size=(3, 4))),
             Dense(INPUT, 1, rng.normal(size=(3, 6)))]
    return Network((2, 3), pops, projs, metadata={"dataset": "mnist", "seed": 3, "accuracy": 0.98, "cvt": True})


def test_round_trip_keeps_everything(tmp_path):
    net = _mixed_network()
    path = evsim.save_network(net, tmp_path / "sub" / "net.h5")
    back = evsim.load_network(path)
    assert back.input_shape == net.input_shape
    assert back.metadata == net.metadata
    for a, b in zip(back.populations, net.populations):
        assert a.shape == b.shape and a.neuron == b.neuron
        assert (a.bias is None) == (b.bias is None)
        if a.bias is not None:
            np.testing.assert_array_equal(a.bias, b.bias)
    for a, b in zip(back.projections, net.projections):
        assert (a.kind, a.source, a.target) == (b.kind, b.source, b.target)
        np.testing.assert_array_equal(a.weight, b.weight)
    inputs = evsim.encode(np.random.default_rng(1).random((5, 2, 3)), 8, "ratesyn_e")
    r1, r2 = evsim.simulate(net, inputs), evsim.simulate(back, inputs)
    np.testing.assert_array_equal(r1.output_spikes, r2.output_spikes)
    np.testing.assert_array_equal(r1.sops, r2.sops)


def test_float32_weights_survive_exactly(tmp_path):
    W = np.random.default_rng(2).normal(size=(3, 5)).astype(np.float32)
    back = evsim.load_network(evsim.save_network(Network.dense([W]), tmp_path / "n.h5"))
    assert np.array_equal(back.projections[0].weight.astype(np.float32), W)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        evsim.load_network(tmp_path / "nope.h5")


def test_not_hdf5(tmp_path):
    path = tmp_path / "net.h5"
    path.write_text("weights: 1 2 3\n")
    with pytest.raises(NetworkFileError, match="not a readable HDF5 file"):
        evsim.load_network(path)


def test_foreign_hdf5(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["weights"] = np.ones(3)
    with pytest.raises(NetworkFileError, match="not an evsim network file"):
        evsim.load_network(path)


def test_newer_format_version(tmp_path):
    path = evsim.save_network(_mixed_network(), tmp_path / "n.h5")
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(NetworkFileError, match="format version"):
        evsim.load_network(path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: f.__delitem__("projections/1/weight"), "damaged"),
        (lambda f: f.__delitem__("populations"), "damaged"),
        (lambda f: f["populations/0"].attrs.__setitem__("neuron", "izhikevich"), "unknown neuron kind"),
        (lambda f: f["projections/0"].attrs.__setitem__("kind", "conv3d"), "unknown projection kind"),
        (lambda f: f["projections/0"].attrs.__setitem__("target", 1), "damaged"),
        (lambda f: f["populations/0"].attrs.__setitem__("neuron_tau_m", 0.1), "tau_m"),
        (lambda f: f.move("projections/2", "projections/7"), "numbered"),
    ],
)
def test_damaged_files_raise(tmp_path, damage, message):
    path = evsim.save_network(_mixed_network(), tmp_path / "n.h5")
    with h5py.File(path, "a") as f:
        damage(f)
    with pytest.raises(NetworkFileError, match=message):
        evsim.load_network(path)


def test_truncated_file(tmp_path):
    path = evsim.save_network(_mixed_network(), tmp_path / "n.h5")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NetworkFileError):
        evsim.load_network(path)


def test_interrupted_write_leaves_nothing_behind(tmp_path):
    path = tmp_path / "n.h5"
    evsim.save_network(_mixed_network(), path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with atomic_h5(path) as f:
            f.attrs["format"] = "half"
            raise RuntimeError("interrupted")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["n.h5"]


def test_the_old_atomic_h5_spelling_warns_and_is_the_new_writer():
    import evsim.atomic
    import evsim.io

    with pytest.warns(DeprecationWarning, match="evsim.atomic.atomic_h5"):
        old = evsim.io.atomic_h5
    assert old is evsim.atomic.atomic_h5
    with pytest.raises(AttributeError):
        evsim.io.no_such_name  # noqa: B018


def test_save_rejects_non_network(tmp_path):
    with pytest.raises(ValueError, match="evsim.Network"):
        evsim.save_network({"W": np.ones(2)}, tmp_path / "n.h5")


def _deep_network() -> Network:
    from evsim.network import AvgPool2d, Conv2d, Identity

    rng = np.random.default_rng(2)
    lif = evsim.LIF(tau_m=2, tau_s=2)
    pops = [Population((4, 6, 6), lif, bias=rng.normal(0, 0.1, 144)), Population((4, 6, 6), lif),
            Population((4, 3, 3), evsim.IF(reset="zero")), Population((2,), lif)]
    projs = [Conv2d(INPUT, 0, rng.normal(0.3, 0.3, (4, 2, 3, 3)), stride=1, padding=(1, 1)),
             Conv2d(0, 1, rng.normal(0.3, 0.3, (4, 4, 3, 3)), padding=1), Identity(0, 1, 0.5),
             AvgPool2d(1, 2, (2, 2)), Conv2d(INPUT, 2, rng.normal(0.3, 0.3, (4, 2, 1, 1)), stride=(2, 2)),
             Dense(2, 3, rng.normal(0.5, 0.3, (2, 36)))]
    return Network((2, 6, 6), pops, projs, metadata={"arch": "block"})


def test_round_trip_of_every_projection_kind(tmp_path):
    net = _deep_network()
    back = evsim.load_network(evsim.save_network(net, tmp_path / "deep.h5"))
    for a, b in zip(back.projections, net.projections):
        assert type(a) is type(b)
        for field in ("source", "target", "stride", "padding", "kernel_size", "scale"):
            assert getattr(a, field, None) == getattr(b, field, None), field
        if hasattr(a, "weight"):
            np.testing.assert_array_equal(a.weight, b.weight)
    inputs = evsim.encode_events(np.random.default_rng(1).random((4, 2, 6, 6)), 8, "ratesyn_e")
    r1, r2 = evsim.simulate(net, inputs, record_hidden=True), evsim.simulate(back, inputs, record_hidden=True)
    assert r1.spike_counts.sum() > 0
    for h1, h2 in zip(r1.hidden_spikes + (r1.output_spikes,), r2.hidden_spikes + (r2.output_spikes,)):
        np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(r1.sops, r2.sops)


def test_version_1_files_still_load(tmp_path):
    """Files written before the deep kinds (format version 1, dense only) load unchanged."""
    net = _mixed_network()
    path = evsim.save_network(net, tmp_path / "old.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 1
    back = evsim.load_network(path)
    np.testing.assert_array_equal(back.projections[0].weight, net.projections[0].weight)
    assert FORMAT_VERSION == 2
