"""CIFAR-10: the official python batches (`cifar-10-python.tar.gz`, read in place, or its extracted
`cifar-10-batches-py/`), else the JPEG mirror `cifar10-jpeg/cifar10-jpeg.tar.gz` (an image folder
archive, `bridges.datasets.images`). The batches are unpickled with a loader that runs no code.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from .download import DOWNLOADS, download_missing
from .images import load_image_folder
from .paths import data_dir

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_JPEG = Path("cifar10-jpeg") / "cifar10-jpeg.tar.gz"
_CIFAR10_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR-10 batch holds (a dict of lists, bytes and NumPy arrays).

    Pickle can run arbitrary code; a downloaded batch should not be able to.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),  # Python 2 / NumPy 1 pickles (the official files)
        ("numpy._core.multiarray", "_reconstruct"),  # NumPy 2 pickles
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 store bytes this way
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch holds no such object")
        if module == "numpy.core.multiarray":  # NumPy 2 keeps it as a deprecated alias of numpy._core
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def _parse_cifar_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> images (n, 3, 32, 32) uint8 and labels (n,) int64."""
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # a damaged pickle can fail in many ways (EOFError, KeyError, ...)
        raise ValueError(
            f"{where}: not a readable CIFAR-10 batch ({type(err).__name__}: {err}); "
            "the file is damaged, download it again"
        ) from None
    if not isinstance(batch, dict):
        raise ValueError(f"{where}: a CIFAR-10 batch is a dict, this holds a {type(batch).__name__}")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{where}: a CIFAR-10 batch has keys b'data' and b'labels', this has {sorted(batch)}")
    data, labels = batch["data"], batch["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{where}: b'data' must be a uint8 array of shape (N, 3072), got {desc}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{where}: b'labels' must be a list of integers") from None
    if labels.shape != (data.shape[0],):
        raise ValueError(f"{where}: {data.shape[0]} images but labels of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{where}: labels must lie in 0..9, found {labels.min()}..{labels.max()}")
    # Each row is 1024 red, then 1024 green, then 1024 blue values, each plane row-major.
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar10_python(path, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 (RGB) and labels (N,) int64 from the official CIFAR-10 python
    batches: `path` is `cifar-10-python.tar.gz` (its members are read straight from the archive,
    nothing is extracted) or the extracted folder `cifar-10-batches-py/`.

    split "train" concatenates data_batch_1..5 (50,000 images), "test" is test_batch (10,000).
    Raises ValueError naming the file for damaged or truncated archives and batches.
    """
    if split not in _CIFAR10_BATCHES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = Path(path)
    names = _CIFAR10_BATCHES[split]
    raws: dict[str, bytes] = {}
    if path.is_dir():
        for name in names:
            if not (path / name).is_file():
                raise FileNotFoundError(f"{path} lacks the CIFAR-10 batch {name}; extract {CIFAR10_ARCHIVE} again")
            raws[name] = (path / name).read_bytes()
        where = {name: str(path / name) for name in names}
    elif path.is_file():
        try:
            with tarfile.open(path, "r:*") as tar:
                for member in tar:  # one pass over the stream: a .tar.gz is decompressed once
                    name = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and name in names and name not in raws:
                        raws[name] = tar.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            raise ValueError(
                f"{path}: damaged or truncated archive ({err}); download {CIFAR10_ARCHIVE} again "
                f"(MD5 {DOWNLOADS['cifar-10'][1][CIFAR10_ARCHIVE]})"
            ) from None
        missing = [n for n in names if n not in raws]
        if missing:
            raise ValueError(
                f"{path}: archive lacks {', '.join(missing)}: truncated, or not the CIFAR-10 python "
                f"version; download {CIFAR10_ARCHIVE} again"
            )
        where = {name: f"{path}:{name}" for name in names}
    else:
        raise FileNotFoundError(f"{path} does not exist: expected {CIFAR10_ARCHIVE} or the folder {CIFAR10_FOLDER}/")
    parts = [_parse_cifar_batch(raws[name], where[name]) for name in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _cifar10_python_path(folder: Path, split: str) -> Path | None:
    extracted = folder / CIFAR10_FOLDER
    if extracted.is_dir() and all((extracted / n).is_file() for n in _CIFAR10_BATCHES[split]):
        return extracted
    if (folder / CIFAR10_ARCHIVE).is_file():
        return folder / CIFAR10_ARCHIVE
    return None


def cifar10_source(split: str = "test", root=None) -> str | None:
    """Which copy `load_cifar10(split, root)` reads: "python" (the official batches), "jpeg" (the
    lossy JPEG mirror; label results "CIFAR-10 (JPEG mirror)"), or None when neither is there."""
    folder = data_dir(root)
    if _cifar10_python_path(folder, split) is not None:
        return "python"
    if (folder / CIFAR10_JPEG).is_file():
        return "jpeg"
    return None


def load_cifar10(
    split: str = "test", root=None, download: bool = False, source: str = "auto", cache: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 images (N, 3, 32, 32) uint8 (RGB, 0..255) and labels (N,) int64 in 0..9
    (class names: CIFAR10_CLASSES). split: "train" (50,000) or "test" (10,000).

    Looks in the data directory (`root`, $EVSIM_DATA, data/) for, in this order:
    1. the official python batches: `cifar-10-batches-py/` or `cifar-10-python.tar.gz`;
    2. with download=True, downloads `cifar-10-python.tar.gz` there (170 MB, MD5-checked);
    3. the JPEG mirror `cifar10-jpeg/cifar10-jpeg.tar.gz` (lossy: about 5/255 mean error per pixel),
       decoded once and cached (see `load_image_folder`).
    source: "auto" (the order above), "python" (official batches only) or "jpeg" (mirror only).
    `cifar10_source` tells which copy "auto" picks.
    """
    if split not in _CIFAR10_BATCHES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if source not in ("auto", "python", "jpeg"):
        raise ValueError(f"source must be 'auto', 'python' or 'jpeg', got {source!r}")
    folder = data_dir(root)
    url = DOWNLOADS["cifar-10"][0] + CIFAR10_ARCHIVE
    jpeg = folder / CIFAR10_JPEG
    if source in ("auto", "python"):
        found = _cifar10_python_path(folder, split)
        if found is None and download:
            try:
                download_missing("cifar-10", folder, [CIFAR10_ARCHIVE], f"CIFAR-10 ({split})")
            except FileNotFoundError as err:
                if source == "auto" and jpeg.is_file():
                    raise FileNotFoundError(f"{err}; or pass download=False to use the JPEG mirror {jpeg}") from None
                raise
            found = folder / CIFAR10_ARCHIVE
        if found is not None:
            return read_cifar10_python(found, split)
        if source == "python" or not jpeg.is_file():
            raise FileNotFoundError(
                f"CIFAR-10 ({split}) not found in {folder}: put {CIFAR10_ARCHIVE} from {url} there "
                f"(or its extracted {CIFAR10_FOLDER}/), or pass download=True"
                + ("" if source == "python" else f"; the JPEG mirror {CIFAR10_JPEG} would do as well")
            )
    if not jpeg.is_file():
        raise FileNotFoundError(f"CIFAR-10 JPEG mirror not found: expected {jpeg}")
    images, labels, classes = load_image_folder(jpeg, split=split, cache=cache)
    if tuple(classes) != CIFAR10_CLASSES or images.shape[1:] != (3, 32, 32):
        raise ValueError(
            f"{jpeg}: expected the CIFAR-10 classes {CIFAR10_CLASSES} and 32x32 images, "
            f"found classes {tuple(classes)} and images {images.shape[1:]}"
        )
    return images, labels
