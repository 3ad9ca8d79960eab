"""Datasets from their canonical files: MNIST and Fashion-MNIST in IDX format (gzipped or not).

Where to look: the `root` argument, else the environment variable EVSIM_DATA, else `data/`
in the repository. Each dataset lives in a folder of its name (`mnist/`, `fashion-mnist/`)
holding the four files its home page serves:
`{train,t10k}-images-idx3-ubyte[.gz]` and `{train,t10k}-labels-idx1-ubyte[.gz]`.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

DATA_ENV = "EVSIM_DATA"
REPO_DATA = Path(__file__).resolve().parent.parent / "data"

IDX_DATASETS = {
    "mnist": "http://yann.lecun.com/exdb/mnist/",
    "fashion-mnist": "https://github.com/zalandoresearch/fashion-mnist",
}
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
# IDX type byte -> numpy dtype (big-endian, as the format stores it)
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def data_dir(root=None) -> Path:
    """The data directory: `root` if given, else $EVSIM_DATA, else the repository's data/."""
    if root is not None:
        return Path(root)
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else REPO_DATA


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
    except (OSError, EOFError, gzip.BadGzipFile) as err:
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


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def load_idx_dataset(name: str, split: str = "test", root=None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of MNIST or Fashion-MNIST.

    name: "mnist" or "fashion-mnist"; split: "train" or "test".
    """
    if name not in IDX_DATASETS:
        raise ValueError(f"unknown IDX dataset {name!r}; choose from {tuple(IDX_DATASETS)}")
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = data_dir(root) / name
    prefix = _SPLIT_PREFIX[split]
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    paths = [_find(folder, s) for s in stems]
    if None in paths:
        raise FileNotFoundError(
            f"{name} ({split}) not found: put {stems[0]}.gz and {stems[1]}.gz from {IDX_DATASETS[name]} "
            f"into {folder} (or point ${DATA_ENV} at a folder that holds {name}/)"
        )
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{folder}: {images.shape[0]} images of shape {images.shape[1:]} for {labels.shape} labels")
    return images.astype(np.uint8), labels.astype(np.int64)
