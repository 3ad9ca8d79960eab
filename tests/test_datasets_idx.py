"""bridges.datasets.paths and .idx: the data directory, IDX files (MNIST, Fashion-MNIST) and the
shipped MNIST sample."""

import gzip
import struct

import numpy as np
import pytest

from bridges.datasets import DATA_ENV, data_dir, load_idx_dataset, read_idx, write_idx


def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode an array in IDX: magic 0 0 <type> <ndim>, big-endian sizes, big-endian data."""
    type_code = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}[arr.dtype]
    header = bytes([0, 0, type_code, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, gz):
    arr = (np.arange(2 * 3 * 4) * 7 % 251).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    data = idx_bytes(arr)
    path.write_bytes(gzip.compress(data) if gz else data)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x1f\x8b\x08\x00garbage", "not an IDX file"),
        (bytes([0, 0, 0x08, 3]) + struct.pack(">I", 2), "truncated IDX header"),
        (bytes([0, 0, 0x08, 1]) + struct.pack(">I", 5) + b"abc", "promises shape"),
        (bytes([0, 0, 0x08, 1]) + struct.pack(">I", 2) + b"abcd", "promises shape"),
        (bytes([1, 2, 3, 4]), "not an IDX file"),
        (b"", "not an IDX file"),
    ],
)
def test_read_idx_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_idx(path)


def test_read_idx_truncated_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.zeros((10, 28, 28), np.uint8)))
    path = tmp_path / "t.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged"):
        read_idx(path)


def _write_dataset(folder, n=5, gz=True):
    folder.mkdir(parents=True)
    images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for stem, arr in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        data = idx_bytes(arr)
        (folder / (stem + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_load_idx_dataset(tmp_path, gz):
    images, labels = _write_dataset(tmp_path / "fashion-mnist", gz=gz)
    x, y = load_idx_dataset("fashion-mnist", "test", root=tmp_path)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64


def test_data_dir_from_environment(tmp_path, monkeypatch):
    _write_dataset(tmp_path / "mnist")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert data_dir() == tmp_path
    assert load_idx_dataset("mnist", "test")[0].shape == (5, 28, 28)
    assert data_dir(tmp_path / "x") == tmp_path / "x"


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz.*train-labels-idx1-ubyte.gz"):
        load_idx_dataset("mnist", "train", root=tmp_path)


def test_mismatched_images_and_labels(tmp_path):
    folder = tmp_path / "mnist"
    _write_dataset(folder, n=5)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(4, np.uint8))))
    with pytest.raises(ValueError, match="5 images"):
        load_idx_dataset("mnist", "test", root=tmp_path)


@pytest.mark.parametrize("name, split", [("cifar", "test"), ("mnist", "val")])
def test_unknown_dataset_or_split(tmp_path, name, split):
    with pytest.raises(ValueError):
        load_idx_dataset(name, split, root=tmp_path)


def test_write_idx_round_trip(tmp_path):
    arr = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    for name in ("a.idx", "a.idx.gz"):
        np.testing.assert_array_equal(read_idx(write_idx(tmp_path / name, arr)), arr)
    assert (tmp_path / "a.idx").read_bytes() == idx_bytes(arr)
    # no time stamp in the gzip header: the same array always gives the same file
    assert write_idx(tmp_path / "b.gz", arr).read_bytes() == (tmp_path / "a.idx.gz").read_bytes()
    with pytest.raises(ValueError, match="IDX cannot hold"):
        write_idx(tmp_path / "c.idx", np.zeros(3, np.int64))


# --------------------------------------------------------------------------- the shipped MNIST sample


def test_mnist_sample_comes_from_the_repository(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))  # elsewhere, and empty
    x, y = load_idx_dataset("mnist-sample", "test")
    assert x.shape == (1000, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # MNIST's first test labels
    assert set(np.unique(y)) == set(range(10)) and 0 < x.mean() < 255
    x2, _ = load_idx_dataset("mnist-sample", "test", root=tmp_path)
    np.testing.assert_array_equal(x, x2)
    with pytest.raises(ValueError, match="only the 'test' split"):
        load_idx_dataset("mnist-sample", "train")


FULL_MNIST = data_dir() / "mnist" / "t10k-images-idx3-ubyte.gz"


@pytest.mark.skipif(not FULL_MNIST.is_file(), reason="no full MNIST in data_dir()")
def test_mnist_sample_is_the_first_thousand_test_images():
    x, y = load_idx_dataset("mnist", "test")
    xs, ys = load_idx_dataset("mnist-sample", "test")
    np.testing.assert_array_equal(xs, x[:1000])
    np.testing.assert_array_equal(ys, y[:1000])
