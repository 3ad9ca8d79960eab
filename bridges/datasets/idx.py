"""MNIST and Fashion-MNIST from their IDX files (gzipped or not), and the shipped MNIST sample.

Layout under the data directory (`bridges.datasets.paths.data_dir`): `mnist/`, `fashion-mnist/`
with the four files the home pages serve, `{train,t10k}-images-idx3-ubyte[.gz]` and
`{train,t10k}-labels-idx1-ubyte[.gz]`. `mnist-sample` (the first 1,000 MNIST test images) always
comes from the repository's own data/.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from evsim.atomic import write_bytes
from .download import DOWNLOADS, download_missing
from .paths import DATA_ENV, REPO_DATA, data_dir

IDX_DATASETS = {
    "mnist": "http://yann.lecun.com/exdb/mnist/",
    "fashion-mnist": "https://github.com/zalandoresearch/fashion-mnist",
}
# Samples shipped in the repository's data/: name -> the only split they hold.
SAMPLE_DATASETS = {"mnist-sample": "test"}

_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
# IDX type byte -> numpy dtype (big-endian, as the format stores it)
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzipped if its name ends in .gz) into a native-endian array.

    Raises ValueError naming the file when it is truncated, corrupt or not IDX.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(f"{path}: cannot read ({err}); the file is damaged, download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{path}: IDX header promises shape {shape} ({expected} bytes) but the file holds {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array) -> Path:
    """Write `array` (uint8, int8, int16, int32, float32 or float64; any shape) as an IDX file,
    gzipped if the name ends in .gz. The gzip header carries no time stamp, so the same array
    always gives the same bytes. Returns the path."""
    path = Path(path)
    array = np.asarray(array)
    code = _IDX_CODES.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim == 0:
        raise ValueError(
            f"IDX cannot hold a {array.ndim}-d {array.dtype} array; use one of {sorted(map(str, _IDX_CODES))}"
        )
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    raw = header + np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()
    return write_bytes(path, gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def load_idx_dataset(
    name: str, split: str = "test", root=None, download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of MNIST or Fashion-MNIST.

    name: "mnist", "fashion-mnist", or "mnist-sample" (the first 1,000 MNIST test images, shipped
    in the repository's data/ and always read from there, whatever `root` and $EVSIM_DATA say).
    split: "train" or "test". download: fetch missing files into <data dir>/<name>/ from
    `DOWNLOADS[name]` (checked against the published MD5s); without it missing files raise
    FileNotFoundError naming them, the folder and the URL.
    """
    if name not in IDX_DATASETS and name not in SAMPLE_DATASETS:
        raise ValueError(f"unknown IDX dataset {name!r}; choose from {tuple(IDX_DATASETS) + tuple(SAMPLE_DATASETS)}")
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = _SPLIT_PREFIX[split]
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    if name in SAMPLE_DATASETS:
        if split != SAMPLE_DATASETS[name]:
            raise ValueError(f"{name} holds only the {SAMPLE_DATASETS[name]!r} split; use 'mnist' for {split!r}")
        folder = REPO_DATA / name
        paths = [_find(folder, s) for s in stems]
        if None in paths:
            raise FileNotFoundError(f"the repository's sample {folder} is incomplete: restore it from git")
    else:
        folder = data_dir(root) / name
        paths = [_find(folder, s) for s in stems]
        missing = [s + ".gz" for s, p in zip(stems, paths) if p is None]
        if missing:
            url = DOWNLOADS[name][0]
            if download:
                download_missing(name, folder, missing, f"{name} ({split})")
                paths = [_find(folder, s) for s in stems]
            else:
                raise FileNotFoundError(
                    f"{name} ({split}) not found: put {' and '.join(missing)} from {url} into {folder} "
                    f"(or pass download=True, or point ${DATA_ENV} at a folder that holds {name}/)"
                )
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{folder}: {images.shape[0]} images of shape {images.shape[1:]} for {labels.shape} labels")
    return images.astype(np.uint8), labels.astype(np.int64)
