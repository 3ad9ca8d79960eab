"""Hostile input: every kind of bad input to the public API and the command lines gets a clear
error that names the problem, and leaves no file (or half-written file) behind.

Each case is one parametrised test: (id, what is done, the exception, a regex its message must
match). File cases build their bad file in tmp_path and check afterwards that nothing new appeared
besides what the case itself planted. `test_hostile_input_kinds_are_counted` keeps the count the
README's Reliability section reports.
"""

from __future__ import annotations

import gzip
import io
import pickle
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import evsim
from bridges.datasets import load_idx_dataset, load_image_folder, read_cifar10_python, read_idx, write_idx
from bridges.training import load_model
from evsim.network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population

NET = Network.dense([np.full((3, 4), 0.5), np.full((2, 3), 0.5)], neuron=evsim.IF())
GOOD_X = np.full((2, 4), 0.5)
SPIKES = evsim.encode(GOOD_X, 5, "ratesyn_e")
POP = Population((4,), evsim.IF())


def pop(*shape):
    return Population(shape, evsim.IF())


def net(shape, populations, projections):
    return lambda: Network(shape, populations, projections)


# ------------------------------------------------------------------------------ encode and simulate

API = [
    ("encode x NaN", lambda: evsim.encode([0.1, np.nan], 5, "poisson"), ValueError, r"NaN"),
    ("encode x above 1", lambda: evsim.encode([0.5, 255.0], 5, "ratesyn_s"), ValueError, r"\[0, 1\].*255"),
    ("encode x negative", lambda: evsim.encode([-0.1, 0.5], 5, "ratesyn_e"), ValueError, r"\[0, 1\]"),
    ("encode x inf", lambda: evsim.encode([np.inf], 5, "ttfs"), ValueError, r"\[0, 1\]|inf"),
    ("encode x empty", lambda: evsim.encode(np.zeros((0, 4)), 5, "ttfs"), ValueError, r"empty"),
    ("encode x strings", lambda: evsim.encode(["a", "b"], 5, "ttfs"), ValueError, r"real-valued"),
    ("encode x complex", lambda: evsim.encode(np.array([0.5 + 1j]), 5, "current"), ValueError, r"real-valued"),
    ("encode T zero", lambda: evsim.encode(GOOD_X, 0, "ttfs"), ValueError, r"T must be >= 1"),
    ("encode T negative", lambda: evsim.encode(GOOD_X, -3, "ttfs"), ValueError, r"T must be >= 1"),
    ("encode T fractional", lambda: evsim.encode(GOOD_X, 2.5, "ttfs"), ValueError, r"T must be an integer"),
    ("encode T string", lambda: evsim.encode(GOOD_X, "10", "ttfs"), ValueError, r"T must be an integer"),
    ("encode unknown method", lambda: evsim.encode(GOOD_X, 5, "rate"), ValueError, r"unknown encoding method 'rate'"),
    ("encode fused empty", lambda: evsim.encode(GOOD_X, 5, []), ValueError, r"at least one method"),
    ("encode fused unknown", lambda: evsim.encode(GOOD_X, 5, ["ttfs", "bogus"]), ValueError, r"unknown encoding method 'bogus'"),
    ("encode channel axis", lambda: evsim.encode(GOOD_X, 5, ["ttfs", "current"], channel_axis=7), ValueError, r"channel_axis 7"),
    ("simulate not a network", lambda: evsim.simulate("net.h5", SPIKES), ValueError, r"net must be an evsim.Network"),
    ("simulate inputs 1-D", lambda: evsim.simulate(NET, np.ones(4)), ValueError, r"shape \(T, B, \.\.\.\)"),
    ("simulate wrong width", lambda: evsim.simulate(NET, np.ones((5, 2, 7))), ValueError, r"7|input shape|\(4,\)"),
    ("simulate inputs NaN", lambda: evsim.simulate(NET, np.full((5, 2, 4), np.nan)), ValueError, r"NaN or inf"),
    ("simulate inputs inf", lambda: evsim.simulate(NET, np.full((5, 2, 4), np.inf)), ValueError, r"NaN or inf"),
    ("simulate zero steps", lambda: evsim.simulate(NET, np.ones((0, 2, 4))), ValueError, r"T >= 1"),
    ("simulate zero samples", lambda: evsim.simulate(NET, np.ones((5, 0, 4))), ValueError, r"B >= 1"),
    ("simulate string inputs", lambda: evsim.simulate(NET, np.full((5, 2, 4), "1")), ValueError, r"real numbers"),
    ("simulate unknown decoder", lambda: evsim.simulate(NET, SPIKES, decoder="max"), ValueError, r"unknown decoder 'max'"),
    ("simulate early exit rate", lambda: evsim.simulate(NET, SPIKES, decoder="rate", early_exit=True), ValueError, r"early_exit needs decoder='ttfs'"),
    ("simulate integer dtype", lambda: evsim.simulate(NET, SPIKES, dtype=np.int32), ValueError, r"dtype must be float32 or float64"),
    ("simulate unknown input kind", lambda: evsim.simulate(NET, SPIKES, input_kind="events"), ValueError, r"input_kind must be one of"),
    ("simulate spikes not binary", lambda: evsim.simulate(NET, np.full((5, 2, 4), 0.5), input_kind="spikes"), ValueError, r"only 0 and 1"),
    # ---------------------------------------------------------------- neurons, populations, projections
    ("IF theta zero", lambda: evsim.IF(theta=0.0), ValueError, r"theta must be finite and > 0"),
    ("IF theta NaN", lambda: evsim.IF(theta=float("nan")), ValueError, r"theta must be finite"),
    ("IF unknown reset", lambda: evsim.IF(reset="soft"), ValueError, r"reset must be one of"),
    ("LIF tau below one", lambda: evsim.LIF(tau_m=0.5, tau_s=10), ValueError, r"tau_m must be >= 1 step"),
    ("LIF tau string", lambda: evsim.LIF(tau_m=10, tau_s="10"), ValueError, r"tau_s must be a real number"),
    ("Population empty shape", lambda: pop(0), ValueError, r"positive sizes"),
    ("Population negative size", lambda: pop(3, -1, 2), ValueError, r"positive sizes"),
    ("Population bad neuron", lambda: Population((3,), "lif"), ValueError, r"neuron must be evsim.IF or evsim.LIF"),
    ("Population bias length", lambda: Population((3,), evsim.IF(), bias=np.zeros(4)), ValueError, r"bias has 4 values for a population of 3"),
    ("Population bias NaN", lambda: Population((2,), evsim.IF(), bias=[0.0, np.nan]), ValueError, r"non-finite"),
    ("Dense weight 1-D", lambda: Dense(INPUT, 0, np.ones(3)), ValueError, r"dense weight must have 2 dimension"),
    ("Dense weight NaN", lambda: Dense(INPUT, 0, [[np.nan]]), ValueError, r"non-finite"),
    ("Dense weight inf", lambda: Dense(INPUT, 0, [[np.inf, 1.0]]), ValueError, r"non-finite"),
    ("Conv2d weight 3-D", lambda: Conv2d(INPUT, 0, np.ones((2, 2, 2))), ValueError, r"4 dimension"),
    ("Conv2d stride zero", lambda: Conv2d(INPUT, 0, np.ones((1, 1, 2, 2)), stride=0), ValueError, r"stride must be >= 1"),
    ("Conv2d stride text", lambda: Conv2d(INPUT, 0, np.ones((1, 1, 2, 2)), stride="2"), ValueError, r"int or a pair of ints"),
    ("Conv2d padding negative", lambda: Conv2d(INPUT, 0, np.ones((1, 1, 2, 2)), padding=-1), ValueError, r"padding must be >= 0"),
    ("AvgPool2d kernel zero", lambda: AvgPool2d(INPUT, 0, 0), ValueError, r"kernel_size must be >= 1"),
    ("Identity scale NaN", lambda: Identity(INPUT, 0, float("nan")), ValueError, r"scale must be finite"),
    ("Identity scale text", lambda: Identity(INPUT, 0, "1"), ValueError, r"scale must be a real number"),
    ("Network no populations", net((4,), [], []), ValueError, r"at least one population"),
    ("Network bad input shape", net((0,), [POP], [Dense(INPUT, 0, np.ones((4, 4)))]), ValueError, r"input_shape must be"),
    ("Network not a population", net((4,), ["pop"], []), ValueError, r"populations must be evsim.Population"),
    ("Network not a projection", net((4,), [POP], ["dense"]), ValueError, r"projection 0 has unknown type str"),
    ("Network missing target", net((4,), [POP], [Dense(INPUT, 3, np.ones((4, 4)))]), ValueError, r"targets population 3; the network has 1"),
    ("Network backward projection", net((4,), [POP, POP], [Dense(INPUT, 0, np.ones((4, 4))), Dense(1, 1, np.ones((4, 4)))]), ValueError, r"sources must be the input \(-1\) or an earlier population"),
    ("Network unfed population", net((4,), [POP, POP], [Dense(INPUT, 0, np.ones((4, 4)))]), ValueError, r"population\(s\) \[1\] receive no projection"),
    ("Network dense misfit", net((4,), [POP], [Dense(INPUT, 0, np.ones((4, 5)))]), ValueError, r"takes 5 inputs"),
    ("Network conv kernel too big", net((1, 3, 3), [pop(1, 1, 1)], [Conv2d(INPUT, 0, np.ones((1, 1, 5, 5)))]), ValueError, r"kernel 5x5 is larger than the padded source"),
    ("Network conv channels", net((2, 4, 4), [pop(1, 3, 3)], [Conv2d(INPUT, 0, np.ones((1, 3, 2, 2)))]), ValueError, r"takes 3 input channels, the source .* has 2"),
    ("Network conv target shape", net((1, 4, 4), [pop(1, 2, 2)], [Conv2d(INPUT, 0, np.ones((1, 1, 2, 2)))]), ValueError, r"maps the source shape .* to \(1, 3, 3\)"),
    ("Network pool window too big", net((1, 2, 2), [pop(1, 1, 1)], [AvgPool2d(INPUT, 0, 3)]), ValueError, r"pooling window 3x3 is larger"),
    ("Network pool flat source", net((4,), [pop(1, 1, 1)], [AvgPool2d(INPUT, 0, 2)]), ValueError, r"needs a \(C, H, W\) source"),
    ("Network identity sizes", net((4,), [pop(3)], [Identity(INPUT, 0)]), ValueError, r"maps the source shape \(4,\)"),
    ("Network metadata value", lambda: Network((4,), [POP], [Dense(INPUT, 0, np.eye(4))], {"seed": [1, 2]}), ValueError, r"metadata must map str to"),
    ("Network.dense no weights", lambda: Network.dense([], neuron=evsim.IF()), ValueError, r"at least one weight matrix"),
    ("Network.dense 3-D weight", lambda: Network.dense([np.ones((2, 2, 2))], neuron=evsim.IF()), ValueError, r"must be 2-D"),
    ("Network.dense chain misfit", lambda: Network.dense([np.ones((3, 4)), np.ones((2, 5))], neuron=evsim.IF()), ValueError, r"takes 5 inputs|5"),
    ("Network.dense biases count", lambda: Network.dense([np.ones((3, 4))], neuron=evsim.IF(), biases=[None, None]), ValueError, r"got 2 biases for 1 weight"),
]


# Cases that once failed with an unclear error (TypeError, a silent truncation) and were marked
# xfail until evsim gave the message; LEAD holds any new ones.
API += [  # once marked xfail for the lead: each now gets its clear error
    ("encode seed text", lambda: evsim.encode(GOOD_X, 5, "poisson", seed="abc"), ValueError, r"seed must be"),
    ("encode method None", lambda: evsim.encode(GOOD_X, 5, None), ValueError, r"unknown encoding method None"),
    ("simulate early_exit text", lambda: evsim.simulate(NET, SPIKES, decoder="ttfs", early_exit="yes"), ValueError, r"early_exit must be True or False"),
    ("simulate record_hidden text", lambda: evsim.simulate(NET, SPIKES, record_hidden="no"), ValueError, r"record_hidden must be True or False"),
    ("Population fractional size", lambda: pop(2.5), ValueError, r"shape must be a non-empty tuple of positive (sizes|integers)"),
    ("Population shape text", lambda: Population("abc", evsim.IF()), ValueError, r"shape must be a non-empty tuple of positive sizes"),
    ("Population bias text", lambda: Population((3,), evsim.IF(), bias="abc"), ValueError, r"bias must be"),
    ("Dense weight text", lambda: Dense(INPUT, 0, [["a"]]), ValueError, r"dense weight must be"),
    ("Dense source text", net((4,), [POP], [Dense("input", 0, np.eye(4))]), ValueError, r"projection 0 source must be an int"),
    ("Dense target float", net((4,), [POP], [Dense(INPUT, 0.0, np.eye(4))]), ValueError, r"projection 0 target must be an int"),
    ("Network populations not a list", net((4,), POP, [Dense(INPUT, 0, np.eye(4))]), ValueError, r"populations must be a sequence of evsim.Population"),
    ("Network input shape None", net(None, [POP], [Dense(INPUT, 0, np.eye(4))]), ValueError, r"input_shape must be a non-empty tuple"),
    ("save_network onto a folder", lambda: evsim.save_network(NET, Path(tempfile.mkdtemp())), ValueError, r"is a folder"),
]  # fmt: skip
LEAD: list = []  # cases waiting for a fix in the lead's files (none left)
LEAD_REASON = "unclear error today; expected message in the case; owner: evsim lead"


@pytest.mark.parametrize(
    "call, error, message",
    [c[1:] for c in API] + [pytest.param(*c[1:], marks=pytest.mark.xfail(strict=False, reason=LEAD_REASON)) for c in LEAD],
    ids=[c[0] for c in API + LEAD],
)
def test_bad_api_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------------------- files: networks


def _saved(tmp_path) -> Path:
    return evsim.save_network(NET, tmp_path / "net.h5")


def _edit(tmp_path, change) -> Path:
    path = _saved(tmp_path)
    with h5py.File(path, "a") as f:
        change(f)
    return path


def _truncated(tmp_path) -> Path:
    path = _saved(tmp_path)
    path.write_bytes(path.read_bytes()[:700])
    return path


def _bit_flipped(tmp_path) -> Path:
    path = _saved(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[:8] = b"\x00" * 8  # the HDF5 signature
    path.write_bytes(bytes(raw))
    return path


def _foreign(tmp_path) -> Path:
    path = tmp_path / "net.h5"
    with h5py.File(path, "w") as f:
        f["weights"] = np.ones(3)
    return path


def _text(tmp_path) -> Path:
    path = tmp_path / "net.h5"
    path.write_text("not a network")
    return path


def _set_attr(where, key, value):
    def change(f):
        f[where].attrs[key] = value

    return change


NETWORK_FILES = [
    ("network missing", lambda p: p / "absent.h5", FileNotFoundError, r"no network file at"),
    ("network text file", _text, evsim.NetworkFileError, r"not a readable HDF5 file"),
    ("network truncated", _truncated, evsim.NetworkFileError, r"not a readable HDF5 file|damaged"),
    ("network signature wiped", _bit_flipped, evsim.NetworkFileError, r"not a readable HDF5 file"),
    ("network foreign HDF5", _foreign, evsim.NetworkFileError, r"not an evsim network file"),
    ("network future version", lambda p: _edit(p, _set_attr("/", "format_version", 99)), evsim.NetworkFileError, r"format version 99; this evsim reads version"),
    ("network no projections group", lambda p: _edit(p, lambda f: f.__delitem__("projections")), evsim.NetworkFileError, r"damaged evsim network file"),
    ("network weight removed", lambda p: _edit(p, lambda f: f["projections/0"].__delitem__("weight")), evsim.NetworkFileError, r"damaged evsim network file"),
    ("network unknown neuron", lambda p: _edit(p, _set_attr("populations/0", "neuron", "izhikevich")), evsim.NetworkFileError, r"unknown neuron kind 'izhikevich'"),
    ("network unknown projection", lambda p: _edit(p, _set_attr("projections/1", "kind", "lstm")), evsim.NetworkFileError, r"unknown projection kind 'lstm'"),
    ("network misnumbered layers", lambda p: _edit(p, lambda f: f.move("projections/1", "projections/7")), evsim.NetworkFileError, r"not numbered 0..n-1"),
    ("network weight shape changed", lambda p: _edit(p, lambda f: (f["projections/1"].__delitem__("weight"), f["projections/1"].create_dataset("weight", data=np.ones((2, 9))))), evsim.NetworkFileError, r"damaged evsim network file.*takes 9 inputs"),
    ("network NaN weight", lambda p: _edit(p, lambda f: f["projections/0/weight"].__setitem__((0, 0), np.nan)), evsim.NetworkFileError, r"damaged evsim network file.*non-finite"),
]


@pytest.mark.parametrize("make, error, message", [c[1:] for c in NETWORK_FILES], ids=[c[0] for c in NETWORK_FILES])
def test_load_network_refuses_bad_files(tmp_path, make, error, message):
    path = make(tmp_path)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(error, match=message):
        evsim.load_network(path)
    assert sorted(tmp_path.iterdir()) == before


# ------------------------------------------------------------------------------- files: datasets and checkpoints


def _idx(tmp_path, raw: bytes, name="images.idx") -> Path:
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def _good_idx(tmp_path) -> bytes:
    return write_idx(tmp_path / "good.idx", np.zeros((2, 3, 3), np.uint8)).read_bytes()


class Boom:
    """A pickle payload that would write a file when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


def _batch(tmp_path, obj) -> Path:
    """The extracted CIFAR-10 folder with `obj` pickled as its test batch."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(obj if isinstance(obj, bytes) else pickle.dumps(obj, protocol=2))
    return folder


def _malicious_batch(tmp_path) -> Path:
    import os

    class System:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    return _batch(tmp_path, {b"data": System(), b"labels": [0]})


def _malicious_archive(tmp_path) -> Path:
    batch = _malicious_batch(tmp_path) / "test_batch"
    return _tar(tmp_path, {"cifar-10-batches-py/test_batch": batch.read_bytes()}, "cifar-10-python.tar.gz")


def _tar(tmp_path, members: dict[str, bytes], name="images.tar") -> Path:
    path = tmp_path / name
    with tarfile.open(path, "w") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _checkpoint(tmp_path, obj) -> Path:
    path = tmp_path / "model.pt"
    torch.save(obj, path)
    return path


FILES = [
    ("idx empty", lambda p: read_idx(_idx(p, b"")), ValueError, r"not an IDX file"),
    ("idx bad magic", lambda p: read_idx(_idx(p, b"PK\x03\x04" + bytes(20))), ValueError, r"not an IDX file \(bad magic number 504b0304\)"),
    ("idx truncated header", lambda p: read_idx(_idx(p, bytes([0, 0, 8, 3, 0, 0])), ), ValueError, r"truncated IDX header"),
    ("idx truncated data", lambda p: read_idx(_idx(p, _good_idx(p)[:-5])), ValueError, r"promises shape \(2, 3, 3\)"),
    ("idx extra bytes", lambda p: read_idx(_idx(p, _good_idx(p) + b"\x00")), ValueError, r"promises shape"),
    ("idx unknown type code", lambda p: read_idx(_idx(p, bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 7]))), ValueError, r"not an IDX file"),
    ("idx corrupt gzip", lambda p: read_idx(_idx(p, b"\x1f\x8b\x08\x00garbage", "images.idx.gz")), ValueError, r"cannot read .* damaged"),
    ("idx truncated gzip", lambda p: read_idx(_idx(p, gzip.compress(_good_idx(p))[:-12], "images.idx.gz")), ValueError, r"cannot read .* damaged"),
    ("idx write bool array", lambda p: write_idx(p / "out.idx", np.ones(3, bool)), ValueError, r"IDX cannot hold a 1-d bool array"),
    ("idx write scalar", lambda p: write_idx(p / "out.idx", np.float32(1)), ValueError, r"IDX cannot hold a 0-d float32"),
    ("cifar malicious pickle", lambda p: read_cifar10_python(_malicious_batch(p)), ValueError, r"refusing to load posix.system"),
    ("cifar pickle of a class", lambda p: read_cifar10_python(_batch(p, {b"data": Boom(p / "pwned"), b"labels": [0]})), ValueError, r"refusing to load"),
    ("cifar not a dict", lambda p: read_cifar10_python(_batch(p, [1, 2, 3])), ValueError, r"a CIFAR-10 batch is a dict, this holds a list"),
    ("cifar missing keys", lambda p: read_cifar10_python(_batch(p, {b"images": 1})), ValueError, r"has keys b'data' and b'labels'"),
    ("cifar wrong data dtype", lambda p: read_cifar10_python(_batch(p, {b"data": np.zeros((1, 3072), np.float32), b"labels": [0]})), ValueError, r"uint8 array of shape \(N, 3072\), got float32"),
    ("cifar wrong data width", lambda p: read_cifar10_python(_batch(p, {b"data": np.zeros((1, 100), np.uint8), b"labels": [0]})), ValueError, r"\(N, 3072\)"),
    ("cifar label out of range", lambda p: read_cifar10_python(_batch(p, {b"data": np.zeros((1, 3072), np.uint8), b"labels": [12]})), ValueError, r"labels must lie in 0..9"),
    ("cifar label count", lambda p: read_cifar10_python(_batch(p, {b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]})), ValueError, r"2 images but labels of shape"),
    ("cifar truncated pickle", lambda p: read_cifar10_python(_batch(p, pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}, protocol=2)[:40])), ValueError, r"not a readable CIFAR-10 batch"),
    ("cifar malicious pickle in archive", lambda p: read_cifar10_python(_malicious_archive(p)), ValueError, r"refusing to load posix.system"),
    ("cifar archive without batches", lambda p: read_cifar10_python(_tar(p, {"readme.txt": b"hi"}, "cifar-10-python.tar.gz")), ValueError, r"archive lacks test_batch"),
    ("cifar corrupt archive", lambda p: read_cifar10_python(_idx(p, b"\x1f\x8b\x08\x00" + bytes(64), "cifar-10-python.tar.gz")), ValueError, r"cifar-10-python.tar.gz"),
    ("image archive corrupt", lambda p: load_image_folder(_idx(p, b"\x1f\x8b\x08\x00" + bytes(64), "images.tar.gz"), cache=False), ValueError, r"images.tar.gz"),
    ("image archive damaged image", lambda p: load_image_folder(_tar(p, {"cat/a.png": b"\x89PNG broken"}), cache=False), ValueError, r"cannot decode the image"),
    ("image archive no classes", lambda p: load_image_folder(_tar(p, {"a.png": b"x"}), cache=False), ValueError, r"no images in class folders"),
    ("image folder missing", lambda p: load_image_folder(p / "nowhere", cache=False), FileNotFoundError, r"nowhere does not exist"),
    ("dataset unknown name", lambda p: load_idx_dataset("kmnist", "test", p), ValueError, r"unknown IDX dataset 'kmnist'"),
    ("dataset unknown split", lambda p: load_idx_dataset("mnist", "validation", p), ValueError, r"split must be 'train' or 'test'"),
    ("dataset missing files", lambda p: load_idx_dataset("mnist", "test", p), FileNotFoundError, r"mnist \(test\) not found: put t10k-images"),
    ("checkpoint garbage", lambda p: load_model(_idx(p, b"\x00garbage", "model.pt")), ValueError, r"not a readable checkpoint"),
    ("checkpoint foreign", lambda p: load_model(_checkpoint(p, {"weights": torch.ones(2)})), ValueError, r"not an evsim training checkpoint"),
    ("checkpoint future version", lambda p: load_model(_checkpoint(p, {"format": "evsim.bridges.checkpoint", "version": 9})), ValueError, r"checkpoint version 9; this code reads 1"),
    ("checkpoint missing", lambda p: load_model(p / "none.pt"), FileNotFoundError, r"no model at"),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in FILES], ids=[c[0] for c in FILES])
def test_bad_files_get_a_clear_error_and_nothing_is_written(tmp_path, call, error, message):
    with pytest.raises(error, match=message):
        call(tmp_path)
    assert not (tmp_path / "pwned").exists()  # no pickle ran code
    assert not (tmp_path / "out.idx").exists()
    assert not list(tmp_path.glob(".*")), "a temporary file was left behind"


# ------------------------------------------------------------------------------- command lines

CLI = [
    ("unknown scenario", ["fig9"], r"unknown scenario 'fig9'"),
    ("unknown option", ["fig2", "--bad-option"], r"unrecognized arguments: --bad-option"),
    ("fig2 zero epochs", ["fig2", "--ann-epochs", "0"], r"--ann-epochs, --stability-trials and --threads must be >= 1"),
    ("fig2 too many images", ["fig2", "--test-samples", "20000"], r"--test-samples in 1..10000"),
    ("fig2 negative trials", ["fig2", "--stability-trials", "-1"], r"must be >= 1"),
    ("fig2 epochs not a number", ["fig2", "--ann-epochs", "ten"], r"argument --ann-epochs: invalid int value: 'ten'"),
    ("fig2 missing data folder", ["fig2", "--data", "{tmp}/no-data", "--test-samples", "10", "--ann-epochs", "1"], r"no-data"),
    ("fig3 grid of one", ["fig3", "--grid", "1"], r"needs at least 2 points"),
    ("fig3 grid text", ["fig3", "--grid", "x"], r"invalid grid_points value"),
    ("fig3 zero threads", ["fig3", "--threads", "0"], r"epochs and --threads must be >= 1"),
    ("fig4 too many training images", ["fig4", "--train-samples", "70000"], r"--train-samples must lie in 1..60000"),
    ("fig4 loss samples above test", ["fig4", "--test-samples", "10", "--loss-samples", "20"], r"--loss-samples must lie in 1..--test-samples"),
    ("train_fmnist unknown rule", ["train_fmnist", "--rules", "stdp"], r"invalid choice: 'stdp'"),
    ("train_fmnist unknown encoder", ["train_fmnist", "--encoders", "rate"], r"invalid choice: 'rate'"),
]


@pytest.mark.parametrize("argv, message", [c[1:] for c in CLI], ids=[c[0] for c in CLI])
def test_bad_command_lines_get_a_clear_error_and_write_nothing(tmp_path, monkeypatch, capsys, argv, message):
    from scenarios.__main__ import main as scenarios_main

    monkeypatch.setenv("EVSIM_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("EVSIM_DATA", str(tmp_path / "no-data"))
    out = tmp_path / "result.h5"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--out", str(out)]
    text = ""
    try:
        code = scenarios_main(argv)
    except SystemExit as stop:
        code = stop.code
    except (FileNotFoundError, ValueError) as err:
        code, text = 1, str(err)
    text = text or capsys.readouterr().err
    assert code not in (0, None) and re.search(message, text), text
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "the failed run left files behind"


def test_the_module_command_line_reports_a_bad_option_and_exits_2():
    result = subprocess.run([sys.executable, "-m", "scenarios", "fig4", "--bad-option"], capture_output=True, text=True)
    assert result.returncode == 2 and "unrecognized arguments: --bad-option" in result.stderr


def test_hostile_input_kinds_are_counted():
    kinds = len(API) + len(NETWORK_FILES) + len(FILES) + len(CLI) + 1
    assert kinds >= 50
    print(f"\nhostile input kinds: {kinds} with a clear error, {len(LEAD)} more marked xfail for the lead")


def test_the_malicious_batch_is_real_plain_pickle_would_run_it(tmp_path):
    """Control for the CIFAR cases: the payload does run under pickle.load, so refusing it matters."""
    folder = _malicious_batch(tmp_path)
    pickle.loads((folder / "test_batch").read_bytes())
    assert (tmp_path / "pwned").exists()
