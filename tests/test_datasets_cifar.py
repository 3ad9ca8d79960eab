"""bridges.datasets.cifar: the CIFAR-10 python batches (archive or folder), the choice between them and
the JPEG mirror, their download (network replaced) and the refusal of damaged or hostile batches."""

import hashlib
import io
import os
import pickle
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
    ChecksumError,
    cifar10_source,
    download,
    load_cifar10,
    read_cifar10_python,
)


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


def _write_jpeg_mirror(path: Path) -> None:
    """A stand-in for the JPEG mirror: test/<class>/0.png, one 32x32 image per class."""
    files = {}
    for i, c in enumerate(CIFAR10_CLASSES):
        buf = io.BytesIO()
        Image.fromarray(np.full((32, 32, 3), 20 * i, np.uint8)).save(buf, format="PNG")
        files[f"test/{c}/0.png"] = buf.getvalue()
    path.parent.mkdir(parents=True)
    path.write_bytes(_tar_bytes(files))


def test_load_cifar10_prefers_the_python_batches(tmp_path, monkeypatch):
    _serve(monkeypatch, {})
    _, expected = _cifar_files()
    _write_cifar(tmp_path, "tar.gz")
    _write_jpeg_mirror(tmp_path / "cifar10-jpeg" / "cifar10-jpeg.tar.gz")
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
