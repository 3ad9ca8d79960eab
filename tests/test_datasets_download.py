"""bridges.datasets.download: missing MNIST / Fashion-MNIST files fetched and MD5-checked, with the
network replaced (`bridges.datasets.download.fetch_url`)."""

import gzip
import hashlib
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from bridges import datasets
from bridges.datasets import CACHE_ENV, ChecksumError, download, load_cifar10, load_idx_dataset


def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode an array in IDX: magic 0 0 <type> <ndim>, big-endian sizes, big-endian data."""
    type_code = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}[arr.dtype]
    header = bytes([0, 0, type_code, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _write_dataset(folder, n=5):
    folder.mkdir(parents=True)
    images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for stem, arr in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        (folder / (stem + ".gz")).write_bytes(gzip.compress(idx_bytes(arr)))
    return images, labels


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Keep the tests' caches out of ~/.cache: the fallback location becomes a temporary folder."""
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def _serve(monkeypatch, files: dict, calls: list | None = None):
    """Replace the network: fetch_url(url, dest) writes files[url] (or raises URLError)."""

    def fake_fetch(url, dest, timeout=60.0):
        if calls is not None:
            calls.append(url)
        if url not in files:
            raise urllib.error.URLError("network is unreachable (test)")
        Path(dest).write_bytes(files[url])

    monkeypatch.setattr(download, "fetch_url", fake_fetch)  # the name download_file calls

def _mnist_files(n=6, prefix="t10k"):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels, {
        f"{prefix}-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images)),
        f"{prefix}-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels)),
    }


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_download_idx(tmp_path, monkeypatch, name):
    images, labels, files = _mnist_files()
    base, md5s = datasets.DOWNLOADS[name]
    # the fixture files stand in for the real ones: their MD5s replace the published ones
    fixture_md5s = {k: hashlib.md5(v).hexdigest() for k, v in files.items()}
    monkeypatch.setitem(datasets.DOWNLOADS, name, (base, {**md5s, **fixture_md5s}))
    calls = []
    _serve(monkeypatch, {base + k: v for k, v in files.items()}, calls)
    x, y = load_idx_dataset(name, "test", root=tmp_path, download=True)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    assert sorted(calls) == sorted(base + k for k in files)
    assert sorted(p.name for p in (tmp_path / name).iterdir()) == sorted(files)  # nothing half-written left
    calls.clear()
    load_idx_dataset(name, "test", root=tmp_path, download=True)  # present now: no second download
    assert calls == []


def test_download_checksum_mismatch_leaves_no_file(tmp_path, monkeypatch):
    # the published MD5s (the constants) against bytes that are not the real files
    _, _, files = _mnist_files()
    base = datasets.DOWNLOADS["mnist"][0]
    _serve(monkeypatch, {base + k: v for k, v in files.items()})
    with pytest.raises(ChecksumError, match="expected 9fb629c4189551a2d022fa330f9573f3.*nothing was saved"):
        load_idx_dataset("mnist", "test", root=tmp_path, download=True)
    assert list((tmp_path / "mnist").iterdir()) == []


def test_download_failure_names_files_folder_and_url(tmp_path, monkeypatch):
    _serve(monkeypatch, {})  # the network is closed
    folder = tmp_path / "fashion-mnist"
    with pytest.raises(FileNotFoundError) as err:
        load_idx_dataset("fashion-mnist", "train", root=tmp_path, download=True)
    message = str(err.value)
    for part in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", str(folder),
                 "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz"):
        assert part in message
    assert not any(folder.iterdir())


def test_interrupted_download_leaves_no_file(tmp_path, monkeypatch):
    def broken_fetch(url, dest, timeout=60.0):
        Path(dest).write_bytes(b"half a file")
        raise ConnectionResetError("connection reset (test)")

    monkeypatch.setattr(download, "fetch_url", broken_fetch)
    with pytest.raises(FileNotFoundError, match="connection reset"):
        load_cifar10("test", root=tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []


def test_present_files_are_not_checksummed_or_downloaded(tmp_path, monkeypatch):
    # Our offline copies are re-gzipped, so their bytes differ from the published MD5s: that is fine.
    images, _ = _write_dataset(tmp_path / "mnist")
    _serve(monkeypatch, {}, calls := [])
    np.testing.assert_array_equal(load_idx_dataset("mnist", "test", root=tmp_path, download=True)[0], images)
    assert calls == []


def test_missing_files_without_download_name_the_url(tmp_path):
    with pytest.raises(FileNotFoundError, match="https://ossci-datasets.s3.amazonaws.com/mnist/.*download=True"):
        load_idx_dataset("mnist", "test", root=tmp_path)
