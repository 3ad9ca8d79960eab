"""Dataset readers: IDX (MNIST, Fashion-MNIST, the shipped sample), CIFAR-10 python batches, image
folders plain and in archives, the decoded-image cache, and downloads (with the network replaced)."""

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bridges import datasets
from bridges.datasets import (
    CACHE_ENV,
    CIFAR10_CLASSES,
    DATA_ENV,
    ChecksumError,
    cache_dir,
    cifar10_source,
    data_dir,
    load_cifar10,
    load_idx_dataset,
    load_image_folder,
    read_cifar10_python,
    read_idx,
    write_idx,
)


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


# -------------------------------------------------------------------------------------- downloads


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

    monkeypatch.setattr(datasets, "fetch_url", fake_fetch)


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

    monkeypatch.setattr(datasets, "fetch_url", broken_fetch)
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


# ------------------------------------------------------------------------------- CIFAR-10 batches


def _cifar_batch(n: int, seed: int) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    batch = {b"batch_label": b"fixture", b"labels": labels, b"data": data, b"filenames": [b"x.png"] * n}
    return batch, data.reshape(n, 3, 32, 32), np.array(labels)


def _py2_pickle(obj) -> bytes:
    """A pickle as the official files have it: protocol 2, NumPy arrays under numpy.core."""
    return pickle.dumps(obj, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def _cifar_files(sizes=(3, 2, 2, 2, 2), n_test=4) -> tuple[dict, dict]:
    """{member name: pickled bytes} of a tiny CIFAR-10, and the expected arrays per split."""
    files, train = {}, []
    for i, n in enumerate(sizes, 1):
        batch, x, y = _cifar_batch(n, seed=i)
        files[f"data_batch_{i}"] = _py2_pickle(batch)
        train.append((x, y))
    batch, x, y = _cifar_batch(n_test, seed=99)
    files["test_batch"] = pickle.dumps(batch, protocol=2)  # a NumPy 2 pickle loads as well
    files["batches.meta"] = pickle.dumps({b"label_names": [c.encode() for c in CIFAR10_CLASSES]}, protocol=2)
    expected = {
        "train": (np.concatenate([a for a, _ in train]), np.concatenate([b for _, b in train])),
        "test": (x, y),
    }
    return files, expected


def _tar_bytes(files: dict, mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _write_cifar(root: Path, kind: str, files: dict | None = None) -> Path:
    files = files if files is not None else _cifar_files()[0]
    root.mkdir(parents=True, exist_ok=True)
    if kind == "folder":
        folder = root / "cifar-10-batches-py"
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return folder
    path = root / ("cifar-10-python.tar.gz" if kind == "tar.gz" else "cifar-10-python.tar")
    members = {f"cifar-10-batches-py/{k}": v for k, v in files.items()}
    path.write_bytes(_tar_bytes(members, "w:gz" if kind == "tar.gz" else "w"))
    return path


@pytest.mark.parametrize("kind", ["tar.gz", "tar", "folder"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_read_cifar10_python(tmp_path, kind, split):
    _, expected = _cifar_files()
    path = _write_cifar(tmp_path, kind)
    x, y = read_cifar10_python(path, split)
    assert x.shape == (len(expected[split][0]), 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x, expected[split][0])
    np.testing.assert_array_equal(y, expected[split][1])
    assert list(tmp_path.iterdir()) == [path]  # read in place, nothing extracted


def test_cifar10_pixel_layout(tmp_path):
    # a row is 1024 red, 1024 green, 1024 blue values, each plane row-major
    files, _ = _cifar_files()
    batch, _, _ = _cifar_batch(1, 0)
    batch[b"data"][0] = np.repeat(np.array([10, 20, 30], np.uint8), 1024)
    batch[b"data"][0, 1024 + 32 * 5 + 7] = 99  # green, row 5, column 7
    files["test_batch"] = _py2_pickle(batch)
    x, _ = read_cifar10_python(_write_cifar(tmp_path, "tar.gz", files), "test")
    assert (x[0, 0] == 10).all() and (x[0, 2] == 30).all()
    assert x[0, 1, 5, 7] == 99 and (x[0, 1] == 20).sum() == 1023


def test_load_cifar10_prefers_the_python_batches(tmp_path, monkeypatch):
    _serve(monkeypatch, {})
    _, expected = _cifar_files()
    _write_cifar(tmp_path, "tar.gz")
    _write_image_tree(tmp_path / "cifar10-jpeg" / "src", {"test": {c: 1 for c in CIFAR10_CLASSES}}, size=(32, 32))
    _pack(tmp_path / "cifar10-jpeg" / "src", tmp_path / "cifar10-jpeg" / "cifar10-jpeg.tar.gz")
    assert cifar10_source("test", root=tmp_path) == "python"
    x, y = load_cifar10("test", root=tmp_path)
    np.testing.assert_array_equal(x, expected["test"][0])
    x, y = load_cifar10("test", root=tmp_path, source="jpeg")
    assert x.shape == (10, 3, 32, 32) and y.tolist() == list(range(10))
    (tmp_path / "cifar-10-python.tar.gz").unlink()
    assert cifar10_source("test", root=tmp_path) == "jpeg"
    with pytest.raises(FileNotFoundError, match="download=False to use the JPEG mirror"):
        load_cifar10("test", root=tmp_path, download=True)  # asked for the original; the network is closed
    np.testing.assert_array_equal(load_cifar10("test", root=tmp_path)[0], x)
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        load_cifar10("test", root=tmp_path, source="python")


def test_load_cifar10_extracted_folder(tmp_path):
    _, expected = _cifar_files()
    _write_cifar(tmp_path, "folder")
    np.testing.assert_array_equal(load_cifar10("train", root=tmp_path)[1], expected["train"][1])


def test_load_cifar10_missing(tmp_path):
    assert cifar10_source(root=tmp_path) is None
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    with pytest.raises(FileNotFoundError, match=f"cifar-10-python.tar.gz from {url}"):
        load_cifar10("test", root=tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_cifar10("val", root=tmp_path)


def test_download_cifar10(tmp_path, monkeypatch):
    archive = _tar_bytes({f"cifar-10-batches-py/{k}": v for k, v in _cifar_files()[0].items()})
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    _serve(monkeypatch, {url: archive})
    with pytest.raises(ChecksumError):  # the published MD5 is not the fixture's
        load_cifar10("test", root=tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []
    base = datasets.DOWNLOADS["cifar-10"][0]
    md5 = hashlib.md5(archive).hexdigest()
    monkeypatch.setitem(datasets.DOWNLOADS, "cifar-10", (base, {"cifar-10-python.tar.gz": md5}))
    x, _ = load_cifar10("test", root=tmp_path, download=True)
    assert x.shape == (4, 3, 32, 32)
    assert [p.name for p in tmp_path.iterdir()] == ["cifar-10-python.tar.gz"]


def test_cifar10_truncated_archive(tmp_path):
    path = _write_cifar(tmp_path, "tar.gz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged or truncated archive.*download cifar-10-python.tar.gz again"):
        read_cifar10_python(path, "train")
    path.write_bytes(b"not a tar at all")
    with pytest.raises(ValueError, match="damaged or truncated"):
        read_cifar10_python(path, "test")


def test_cifar10_archive_missing_a_batch(tmp_path):
    files, _ = _cifar_files()
    del files["data_batch_4"]
    with pytest.raises(ValueError, match="lacks data_batch_4"):
        read_cifar10_python(_write_cifar(tmp_path, "tar.gz", files), "train")
    with pytest.raises(FileNotFoundError, match="data_batch_4"):
        read_cifar10_python(_write_cifar(tmp_path / "f", "folder", files), "train")


def _bad_batches():
    good, _, _ = _cifar_batch(3, 0)
    yield "truncated", pickle.dumps(good, protocol=2)[:500], "not a readable CIFAR-10 batch"
    yield "garbage", b"\x80\x02garbage", "not a readable CIFAR-10 batch"
    yield "empty", b"", "not a readable CIFAR-10 batch"
    yield "list", pickle.dumps([1, 2]), "is a dict"
    yield "keys", pickle.dumps({b"data": good[b"data"]}), "keys b'data' and b'labels'"
    yield "shape", pickle.dumps({**good, b"data": np.zeros((3, 100), np.uint8)}), r"shape \(N, 3072\)"
    yield "dtype", pickle.dumps({**good, b"data": np.zeros((3, 3072), np.float32)}), r"uint8 array"
    yield "count", pickle.dumps({**good, b"labels": [1, 2]}), "3 images but labels"
    yield "range", pickle.dumps({**good, b"labels": [1, 2, 10]}), r"0\.\.9"


@pytest.mark.parametrize("case, raw, message", list(_bad_batches()), ids=[c for c, _, _ in _bad_batches()])
def test_cifar10_corrupt_batch(tmp_path, case, raw, message):
    files, _ = _cifar_files()
    files["test_batch"] = raw
    for kind in ("tar.gz", "folder"):
        with pytest.raises(ValueError, match=message) as err:
            read_cifar10_python(_write_cifar(tmp_path / kind, kind, files), "test")
        assert "test_batch" in str(err.value)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > evil.txt",))


def test_cifar10_batch_runs_no_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files, _ = _cifar_files()
    files["test_batch"] = pickle.dumps({b"data": _Evil(), b"labels": []})
    with pytest.raises(ValueError, match="refusing to load"):
        read_cifar10_python(_write_cifar(tmp_path / "c", "folder", files), "test")
    assert not (tmp_path / "evil.txt").exists()


# ---------------------------------------------------------------------------------- image folders


def _image(h, w, seed, mode="RGB"):
    rng = np.random.default_rng(seed)
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def _write_image_tree(root: Path, splits: dict, size=(6, 8), fmt="png") -> dict:
    """splits: {split or "": {class: count}}. Writes root/[split/]class/NNN.<fmt>; returns
    {split: (images (N, 3, H, W) in class-then-name order, labels)} as Pillow decodes the files."""
    expected = {}
    for split, counts in splits.items():
        xs, ys = [], []
        for label, cls in enumerate(sorted(counts)):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(counts[cls]):
                file = folder / f"{i:03d}.{fmt}"
                _image(*size, seed=len(xs) + 100 * len(expected)).save(file)
                with Image.open(file) as im:  # what a decoder gives back (JPEG is lossy)
                    xs.append(np.asarray(im.convert("RGB")).transpose(2, 0, 1))
                ys.append(label)
        expected[split] = (np.stack(xs), np.array(ys))
    return expected


def _pack(folder: Path, archive: Path, wrapper: str | None = None):
    mode = "w:gz" if archive.name.endswith(".gz") else "w"
    with tarfile.open(archive, mode) as tar:
        for item in sorted(folder.iterdir(), reverse=True):  # archive order need not be sorted
            tar.add(item, arcname=f"{wrapper}/{item.name}" if wrapper else item.name)
    return archive


@pytest.mark.parametrize("container", ["folder", "tar", "tar.gz", "wrapped.tar.gz", "wrapped-folder"])
def test_load_image_folder_with_splits(tmp_path, container):
    src = tmp_path / "src"
    expected = _write_image_tree(src, {"train": {"cat": 3, "ant": 2, "dog": 1}, "test": {"cat": 1, "ant": 1, "dog": 2}})
    if container == "folder":
        path = src
    elif container == "wrapped-folder":
        path = tmp_path / "outer"
        path.mkdir()
        src.rename(path / "imagenet-mini")
    else:
        wrapper = "imagenet-mini" if "wrapped" in container else None
        path = _pack(src, tmp_path / f"data.{container.split('.', 1)[-1]}", wrapper)
    for split in ("train", "test"):
        x, y, classes = load_image_folder(path, split=split)
        assert classes == ["ant", "cat", "dog"]
        assert x.shape == expected[split][0].shape and x.dtype == np.uint8 and y.dtype == np.int64
        np.testing.assert_array_equal(x, expected[split][0])
        np.testing.assert_array_equal(y, expected[split][1])
    with pytest.raises(FileNotFoundError, match="no split folder 'val'.*(imagenet-mini/ holding )?test, train"):
        load_image_folder(path, split="val")


@pytest.mark.parametrize("container", ["folder", "tar", "tar.gz"])
def test_load_image_folder_jpeg_without_split(tmp_path, container):
    src = tmp_path / "src"
    expected = _write_image_tree(src, {"": {"b": 2, "a": 3}}, size=(16, 16), fmt="jpg")[""]
    (src / "a" / "notes.txt").write_text("not an image")
    (src / "a" / ".hidden.jpg").write_bytes(b"junk")
    (src / "README.md").write_text("beside the classes")
    path = src if container == "folder" else _pack(src, tmp_path / f"d.{container}")
    x, y, classes = load_image_folder(path)
    assert classes == ["a", "b"] and y.tolist() == [0, 0, 0, 1, 1] and x.shape == (5, 3, 16, 16)
    np.testing.assert_array_equal(x, expected[0])


def test_load_image_folder_grayscale_and_palette_become_rgb(tmp_path):
    (tmp_path / "c").mkdir()
    _image(5, 4, 0, "L").save(tmp_path / "c" / "g.png")
    _image(5, 4, 1).convert("P").save(tmp_path / "c" / "p.png")
    x, _, _ = load_image_folder(tmp_path, cache=False)
    assert x.shape == (2, 3, 5, 4)
    assert (x[0, 0] == x[0, 1]).all() and (x[0, 1] == x[0, 2]).all()


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_load_image_folder_sizes(tmp_path, fmt):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    _image(6, 8, 0).save(tmp_path / "x" / f"0.{fmt}")
    _image(40, 28, 1).save(tmp_path / "y" / f"0.{fmt}")  # a JPEG this large is scaled down by its decoder
    with pytest.raises(ValueError, match=rf"differ in size: x/0.{fmt} is 6x8, y/0.{fmt} is 40x28.*size=\(H, W\)"):
        load_image_folder(tmp_path)
    x, y, _ = load_image_folder(tmp_path, size=(5, 9))
    assert x.shape == (2, 3, 5, 9) and y.tolist() == [0, 1]
    with pytest.raises(ValueError, match="size must be"):
        load_image_folder(tmp_path, size=(5,))


@pytest.mark.parametrize("container", ["folder", "tar.gz"])
def test_load_image_folder_damaged_image(tmp_path, container):
    src = tmp_path / "src"
    _write_image_tree(src, {"": {"a": 2}}, size=(16, 16), fmt="jpg")
    jpg = (src / "a" / "001.jpg").read_bytes()
    (src / "a" / "001.jpg").write_bytes(jpg[: len(jpg) // 2])
    (src / "a" / "002.png").write_bytes(b"not a png")
    path = src if container == "folder" else _pack(src, tmp_path / "d.tar.gz")
    with pytest.raises(ValueError, match=r"a/00[12]\.(jpg|png).*cannot decode"):
        load_image_folder(path)


def test_load_image_folder_damaged_archive(tmp_path):
    _write_image_tree(tmp_path / "src", {"": {"a": 3, "b": 3}}, size=(16, 16))
    archive = _pack(tmp_path / "src", tmp_path / "d.tar.gz")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged or truncated archive"):
        load_image_folder(archive)


def test_load_image_folder_layout_errors(tmp_path):
    _write_image_tree(tmp_path / "s", {"train": {"a": 1}, "test": {"a": 1}})
    with pytest.raises(ValueError, match="look like splits.*split='test'"):
        load_image_folder(tmp_path / "s")
    (tmp_path / "s" / "train" / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: class folder holds no images"):
        load_image_folder(tmp_path / "s", split="train")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "nowhere")
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match="no class folders with images"):
        load_image_folder(tmp_path / "none")


# -------------------------------------------------------------------------------------- the cache


def test_cache_beside_a_writable_source(tmp_path, monkeypatch):
    expected = _write_image_tree(tmp_path / "src", {"": {"a": 2, "b": 1}})[""]
    archive = _pack(tmp_path / "src", tmp_path / "d.tar")
    load_image_folder(archive)
    cached = list((tmp_path / ".evsim-cache").glob("d.tar-*.npz"))
    assert len(cached) == 1
    monkeypatch.setattr(datasets, "_decode", lambda *a: pytest.fail("decoded although cached"))
    x, y, classes = load_image_folder(archive)
    np.testing.assert_array_equal(x, expected[0])
    assert y.tolist() == [0, 0, 1] and classes == ["a", "b"]
    monkeypatch.undo()
    # a changed source is decoded again, and its old cache file goes
    _write_image_tree(tmp_path / "src", {"": {"c": 1}})
    _pack(tmp_path / "src", archive)
    os.utime(archive, ns=(1, 1))  # a different mtime even on coarse-clock file systems
    assert load_image_folder(archive)[2] == ["a", "b", "c"]
    assert len(list((tmp_path / ".evsim-cache").glob("d.tar-*.npz"))) == 1
    # a damaged cache file is rebuilt, not an error
    (file,) = (tmp_path / ".evsim-cache").glob("d.tar-*.npz")
    file.write_bytes(b"junk")
    assert load_image_folder(archive)[0].shape == (4, 3, 6, 8)


def test_cache_of_a_plain_folder_follows_its_files(tmp_path):
    _write_image_tree(tmp_path / "src", {"": {"a": 2}})
    assert len(load_image_folder(tmp_path / "src")[0]) == 2
    _image(6, 8, 5).save(tmp_path / "src" / "a" / "new.png")
    assert len(load_image_folder(tmp_path / "src")[0]) == 3


def test_cache_never_written_beside_a_read_only_source(tmp_path, monkeypatch):
    _write_image_tree(tmp_path / "ro" / "src", {"": {"a": 1}})
    archive = _pack(tmp_path / "ro" / "src", tmp_path / "ro" / "d.tar.gz")
    (tmp_path / "ro").chmod(0o555)  # like ../shared/data: no write bits (root would pass access())
    try:
        load_image_folder(archive)
        assert not (tmp_path / "ro" / ".evsim-cache").exists()
        assert len(list((tmp_path / "xdg-cache" / "evsim").glob("d.tar.gz-*.npz"))) == 1
        monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
        load_image_folder(archive)
        assert len(list((tmp_path / "mine").glob("*.npz"))) == 1
    finally:
        (tmp_path / "ro").chmod(0o755)


def test_cache_off(tmp_path):
    _write_image_tree(tmp_path / "src", {"": {"a": 1}})
    load_image_folder(tmp_path / "src", cache=False)
    assert not (tmp_path / ".evsim-cache").exists() and not (tmp_path / "xdg-cache").exists()


def test_cache_dir(tmp_path, monkeypatch):
    assert cache_dir(tmp_path) == tmp_path / ".evsim-cache"
    assert cache_dir(tmp_path / "missing") == tmp_path / "xdg-cache" / "evsim"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert cache_dir(tmp_path) == tmp_path / "c"


# ------------------------------------------------------------------------ the real shared data


JPEG_MIRROR = data_dir() / "cifar10-jpeg" / "cifar10-jpeg.tar.gz"


@pytest.mark.skipif(not JPEG_MIRROR.is_file(), reason="no cifar10-jpeg/ in data_dir() (CI has it)")
def test_real_cifar10_jpeg_test_split(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))  # never beside the shared copy
    x, y, classes = load_image_folder(JPEG_MIRROR, split="test")
    assert tuple(classes) == CIFAR10_CLASSES
    assert x.shape == (10_000, 3, 32, 32) and x.dtype == np.uint8
    assert np.bincount(y, minlength=10).tolist() == [1000] * 10
    # CIFAR-10's per-channel means (0.49, 0.48, 0.45): the mirror keeps them
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)) / 255, [0.4942, 0.4851, 0.4504], atol=0.01)
    x2, y2 = load_cifar10("test", source="jpeg")  # the cache written just now
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
