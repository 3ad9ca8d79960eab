"""bridges.datasets.images: image folders plain and in archives, the decoded-image cache
(bridges.datasets.paths.cache_dir), and the real CIFAR-10 JPEG mirror when the data directory has it."""

import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bridges.datasets import CACHE_ENV, CIFAR10_CLASSES, cache_dir, data_dir, load_cifar10, load_image_folder
from bridges.datasets import images as image_folders


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Keep the tests' caches out of ~/.cache: the fallback location becomes a temporary folder."""
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


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
    monkeypatch.setattr(image_folders, "_decode", lambda *a: pytest.fail("decoded although cached"))
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
