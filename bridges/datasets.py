"""Datasets from their canonical files: MNIST and Fashion-MNIST (IDX), CIFAR-10 (python batches or a
JPEG mirror) and image folders with one subfolder per class (ImageNet-100 style).

Where to look: the `root` argument, else the environment variable EVSIM_DATA, else `data/` in the
repository. Layout under that data directory:

- `mnist/`, `fashion-mnist/`: the four files the home pages serve,
  `{train,t10k}-images-idx3-ubyte[.gz]` and `{train,t10k}-labels-idx1-ubyte[.gz]`.
- `cifar-10-python.tar.gz` (read in place) or its extracted folder `cifar-10-batches-py/`.
- `cifar10-jpeg/cifar10-jpeg.tar.gz`: the JPEG mirror of CIFAR-10 (`{train,test}/<class>/*.jpg`),
  used only when the python batches are absent.

`mnist-sample` (the first 1,000 MNIST test images) always comes from the repository's own data/.

Missing MNIST, Fashion-MNIST and CIFAR-10 (python) files are fetched from their home pages with
`download=True`, checked against the published MD5s before they are kept. Decoded image folders are
cached as .npz (see `cache_dir`), so the second load of 60,000 JPEGs takes a fraction of a second.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import pickle
import stat
import tarfile
import urllib.request
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .atomic import atomic_path, write_bytes

DATA_ENV = "EVSIM_DATA"
CACHE_ENV = "EVSIM_CACHE"
REPO_DATA = Path(__file__).resolve().parent.parent / "data"

IDX_DATASETS = {
    "mnist": "http://yann.lecun.com/exdb/mnist/",
    "fashion-mnist": "https://github.com/zalandoresearch/fashion-mnist",
}
# Samples shipped in the repository's data/: name -> the only split they hold.
SAMPLE_DATASETS = {"mnist-sample": "test"}

# Where `download=True` fetches from, and the MD5 each file must have. These are the published
# checksums of the original files; copies found on disk are never checked against them (ours in
# ../shared/data are re-gzipped: same contents, different gzip bytes).
DOWNLOADS = {
    # yann.lecun.com often refuses downloads; this mirror serves the original files.
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    "cifar-10": (
        "https://www.cs.toronto.edu/~kriz/",
        {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
    ),
}

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_JPEG = Path("cifar10-jpeg") / "cifar10-jpeg.tar.gz"
_CIFAR10_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}

# Folder names taken for splits, not classes, when split=None finds nothing else.
_SPLIT_NAMES = {"train", "test", "val", "valid", "validation"}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".gif", ".tif", ".tiff", ".webp")

_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
# IDX type byte -> numpy dtype (big-endian, as the format stores it)
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
# Bump when the cached arrays would differ for the same source (decoding or layout changes).
_CACHE_VERSION = 1


def data_dir(root=None) -> Path:
    """The data directory: `root` if given, else $EVSIM_DATA, else the repository's data/."""
    if root is not None:
        return Path(root)
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else REPO_DATA


# --------------------------------------------------------------------------------------------- IDX


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
                _download_missing(name, folder, missing, f"{name} ({split})")
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


# --------------------------------------------------------------------------------------- downloads


class ChecksumError(ValueError):
    """A downloaded file's checksum differs from the published one (nothing was kept)."""


def fetch_url(url: str, dest, timeout: float = 60.0) -> None:
    """Write the bytes served at `url` into the file `dest`.

    The only function here that touches the network (tests replace it). Raises OSError (URLError,
    timeouts) or http.client.HTTPException when the transfer fails.
    """
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
        from tqdm import tqdm

        total = response.headers.get("Content-Length")
        # disable=None: a progress bar on a terminal, silence in logs and CI
        size = int(total) if total else None
        with tqdm(total=size, unit="B", unit_scale=True, desc=Path(dest).name, disable=None) as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))


def file_md5(path) -> str:
    """Hex MD5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(url: str, dest, md5: str) -> Path:
    """Download `url` to `dest`, keeping it only if its MD5 is `md5`.

    The bytes go to a temporary name beside `dest`, renamed to `dest` once the checksum matches, so
    `dest` is never half-written. Raises ChecksumError (a ValueError) on a mismatch, leaving no file;
    network errors propagate as OSError / http.client.HTTPException, also leaving no file.
    """
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        fetch_url(url, tmp)
        got = file_md5(tmp)
        if got != md5:
            raise ChecksumError(
                f"{url}: downloaded file has MD5 {got}, expected {md5} (transfer damaged or the file "
                f"changed upstream); nothing was saved: try again, or fetch it by hand into {dest.parent}"
            )
    return dest


def _download_missing(dataset: str, folder: Path, names, what: str) -> None:
    """Download each of `names` (keys of DOWNLOADS[dataset][1]) into `folder`; turn network failures
    into FileNotFoundError naming the files, the folder and the URL."""
    base, md5s = DOWNLOADS[dataset]
    for name in names:
        try:
            download_file(base + name, folder / name, md5s[name])
        except (OSError, http.client.HTTPException) as err:
            raise FileNotFoundError(
                f"{what}: {', '.join(names)} missing from {folder} and the download of {base + name} failed "
                f"({err}); fetch {', '.join(base + n for n in names)} by hand and put "
                f"{'it' if len(names) == 1 else 'them'} into {folder}"
            ) from None


# ---------------------------------------------------------------------------------- CIFAR-10 batches


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
                _download_missing("cifar-10", folder, [CIFAR10_ARCHIVE], f"CIFAR-10 ({split})")
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


# ------------------------------------------------------------------------------------ image folders


def _is_image(parts) -> bool:
    # Hidden files and folders (.DS_Store, macOS ._* resource forks in tars, our cache) are skipped.
    return not any(p.startswith(".") for p in parts) and parts[-1].lower().endswith(IMAGE_EXTENSIONS)


def _decode(data: bytes, name: str, size) -> np.ndarray:
    """Encoded image bytes -> (H, W, 3) uint8 RGB, resized to `size` (H, W) when given."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            if size is not None and im.format == "JPEG":
                # Let the JPEG decoder scale down by 1/2, 1/4 or 1/8 while keeping at least `size`:
                # several times faster on ImageNet-sized photos; the resize below finishes the job.
                im.draft("RGB", (size[1], size[0]))
            rgb = im.convert("RGB")  # convert() decodes: damaged or truncated data fails here
        if size is not None and rgb.size != (size[1], size[0]):
            rgb = rgb.resize((size[1], size[0]), Image.Resampling.BILINEAR)  # Pillow sizes are (W, H)
        return np.asarray(rgb)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ValueError(f"{name}: cannot decode the image ({err}); the file is damaged or not an image") from None


def _writable(folder: Path) -> bool:
    """True when we may write into `folder`. Permission bits are checked as well as access(): root
    passes access() everywhere, and read-only copies such as ../shared/data are marked only by
    their missing write bits."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return stat.S_ISDIR(mode) and bool(mode & 0o222) and os.access(folder, os.W_OK | os.X_OK)


def cache_dir(near=None) -> Path:
    """Folder for cached decoded arrays: $EVSIM_CACHE if set, else `<near>/.evsim-cache` when the
    folder `near` (the one holding the source) is writable, else $XDG_CACHE_HOME/evsim
    (default ~/.cache/evsim). Nothing is ever written into a folder without write bits."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    if near is not None:
        near = Path(near)
        cache = near / ".evsim-cache"
        if (cache.is_dir() and _writable(cache)) or (not cache.exists() and _writable(near)):
            return cache
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "evsim"


def _cache_names(path: Path, split, size, stamp) -> tuple[str, str]:
    """(prefix shared by every version of this source/split/size, full file name)."""
    where = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    prefix = f"{path.name}-{where}-{split or 'all'}-{'orig' if size is None else f'{size[0]}x{size[1]}'}-"
    key = hashlib.sha1(repr((_CACHE_VERSION, stamp)).encode()).hexdigest()[:16]
    return prefix, f"{prefix}{key}.npz"


def _read_cache(file: Path):
    """(images, labels, classes) from a cache file, or None (with a warning) when it is damaged or
    malformed: the damaged file is removed and the caller decodes the source again."""
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as z:
            images, labels, classes = z["images"], z["labels"], [str(c) for c in z["classes"]]
        if images.ndim == 4 and images.dtype == np.uint8 and labels.shape == (len(images),):
            return images, labels.astype(np.int64), classes
        problem = f"unexpected arrays (images {images.dtype} {images.shape}, labels {labels.shape})"
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        problem = f"{type(err).__name__}: {err}"
    warnings.warn(f"decoded-image cache {file} is damaged ({problem}); removing it and decoding the source again")
    try:
        file.unlink()
    except OSError as err:
        warnings.warn(f"could not remove the damaged cache {file} ({err}); it will be overwritten")
    return None


def _write_cache(folder: Path, prefix: str, name: str, images, labels, classes) -> None:
    """Store the arrays atomically (temporary name, then rename) and drop older versions of the
    same source. Failure (read-only disk, full disk) only costs the next load some time."""
    try:
        with atomic_path(folder / name) as tmp, open(tmp, "wb") as f:
            np.savez(f, images=images, labels=labels, classes=np.array(classes, dtype=str))
        for old in folder.glob(prefix + "*.npz"):
            if old.name != name:
                old.unlink(missing_ok=True)
    except OSError as err:
        warnings.warn(f"could not cache decoded images in {folder} ({err}); the next load decodes them again")


def _no_split(tree: dict, split, source) -> FileNotFoundError:
    """The error for a missing split folder, listing what is there. tree: top folder -> its subfolders."""
    if len(tree) == 1:
        ((top, subs),) = tree.items()
        found = f"{top}/ holding {', '.join(sorted(subs)) or 'no folders'}"
    else:
        found = ", ".join(sorted(tree)) or "nothing"
    return FileNotFoundError(
        f"{source}: no split folder {split!r} (found at the top: {found}); pass one of those as split, "
        f"or split=None when the class folders sit at the top"
    )


def _scan_folder(path: Path, split):
    """Plain folder -> root of the class folders, [(class, relative path, file)], file-stat stamp."""
    root = path
    if split is not None:
        tops = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        if split in tops:
            root = path / split
        elif len(tops) == 1 and (path / tops[0] / split).is_dir():
            root = path / tops[0] / split  # one wrapper folder around the splits, as archives often have
        else:
            raise _no_split({t: {p.name for p in (path / t).iterdir() if p.is_dir()} for t in tops}, split, path)
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    items, stamp = [], []
    for class_dir in class_dirs:
        found = 0
        for dirpath, dirnames, filenames in os.walk(class_dir):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for fname in filenames:
                file = Path(dirpath, fname)
                rel = file.relative_to(class_dir).as_posix()
                if _is_image(rel.split("/")):
                    st = file.stat()
                    items.append((class_dir.name, rel, file))
                    stamp.append((class_dir.name, rel, st.st_size, st.st_mtime_ns))
                    found += 1
        if not found:
            # Class indices follow the sorted folder names; silently skipping one would shift them.
            raise ValueError(
                f"{class_dir}: class folder holds no images ({' '.join(IMAGE_EXTENSIONS)}); remove it or fill it"
            )
    if not items:
        raise ValueError(f"{root}: no class folders with images; expected {root}/<class>/<image>")
    stamp.sort()
    return root, items, hashlib.sha1(repr(stamp).encode()).hexdigest()


def _read_tar(path: Path, split, size):
    """Stream a .tar/.tar.gz once (a .tar.gz is decompressed once), decoding the images of `split`
    as they pass. Returns [(class, relative path, (H, W, 3) array)] in archive order."""
    found: dict[tuple, list] = {}  # path parts before the class folder -> decoded images
    tree: dict[str, set] = {}  # top folder -> its subfolders, for the error message
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                parts = tuple(p for p in member.name.split("/") if p not in ("", "."))
                if not parts:
                    continue
                if len(parts) > 1 or member.isdir():
                    subs = tree.setdefault(parts[0], set())
                    if len(parts) > 2 or (len(parts) == 2 and member.isdir()):
                        subs.add(parts[1])
                if not member.isfile() or not _is_image(parts):
                    continue
                if split is None:
                    prefix = ()
                elif parts[0] == split:
                    prefix = parts[:1]
                elif len(parts) > 3 and parts[1] == split:
                    prefix = parts[:2]  # one wrapper folder around the splits
                else:
                    continue
                rest = parts[len(prefix) :]
                if len(rest) < 2:  # an image beside the class folders belongs to no class
                    continue
                data = tar.extractfile(member).read()
                image = _decode(data, f"{path}:{member.name}", size)
                found.setdefault(prefix, []).append((rest[0], "/".join(rest[1:]), image))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise ValueError(f"{path}: damaged or truncated archive ({err}); fetch or pack it again") from None
    if split is not None and (split,) in found:
        return found[(split,)]  # the split at the top wins over a class folder that happens to share its name
    if len(found) > 1:
        raise ValueError(f"{path}: the split {split!r} appears under several folders ({sorted(found)}); repack it")
    if not found:
        if split is not None:
            raise _no_split(tree, split, path)
        raise ValueError(f"{path}: no images in class folders; expected [<split>/]<class>/<image> inside")
    return next(iter(found.values()))


def load_image_folder(path, split: str | None = None, size=None, *, cache: bool = True):
    """Images in class folders: `<path>/[<split>/]<class>/<image>`, `path` a folder or a .tar /
    .tar.gz archive (read in place, nothing extracted; one top-level folder around the splits is
    allowed). Class index = position of the class folder in the sorted names; images of a class
    are in the sorted order of their paths (subfolders of a class folder are searched too).

    Returns (images (N, 3, H, W) uint8 RGB, labels (N,) int64, classes: list of the N_classes
    folder names). All images must share one size, else pass size=(H, W) to resize (bilinear;
    large JPEGs are first scaled down by their decoder, by a power of two that keeps >= size).
    Files with other extensions than IMAGE_EXTENSIONS and hidden files are skipped.

    The decoded arrays are cached (see `cache_dir`), keyed by the archive's size and modification
    time (for a folder: every image's), the split and the size; cache=False neither reads nor
    writes the cache.

    Raises FileNotFoundError for a missing path or split folder, and ValueError naming the file for
    a damaged archive or image, mixed sizes without `size`, or an empty class folder.
    """
    path = Path(path)
    if size is not None:
        if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size):
            raise ValueError(f"size must be (height, width) in positive integers, got {size!r}")
        size = (int(size[0]), int(size[1]))
    if path.is_dir():
        root, items, stamp = _scan_folder(path, split)
    elif path.is_file():
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns)
    else:
        raise FileNotFoundError(f"{path} does not exist: expected a folder of class folders or a .tar/.tar.gz of one")

    if cache:
        folder = cache_dir(path.parent)
        prefix, name = _cache_names(path, split, size, stamp)
        hit = _read_cache(folder / name)
        if hit is not None:
            return hit

    if path.is_dir():
        decoded = [(c, rel, _decode(file.read_bytes(), str(file), size)) for c, rel, file in items]
        source = root
    else:
        decoded = _read_tar(path, split, size)
        source = path
    classes = sorted({c for c, _, _ in decoded})
    if split is None and set(classes) <= _SPLIT_NAMES:
        raise ValueError(f"{path}: the top folders {classes} look like splits, not classes; pass split={classes[0]!r}")
    order = sorted(range(len(decoded)), key=lambda i: (decoded[i][0], decoded[i][1]))
    first = decoded[order[0]]
    h, w = first[2].shape[:2]
    images = np.empty((len(decoded), 3, h, w), np.uint8)
    labels = np.empty(len(decoded), np.int64)
    index = {c: i for i, c in enumerate(classes)}
    for k, i in enumerate(order):
        c, rel, img = decoded[i]
        if img.shape[:2] != (h, w):
            raise ValueError(
                f"{source}: images differ in size: {first[0]}/{first[1]} is {h}x{w}, {c}/{rel} is "
                f"{img.shape[0]}x{img.shape[1]} (height x width); pass size=(H, W) to resize them all"
            )
        images[k] = img.transpose(2, 0, 1)
        labels[k] = index[c]
    if cache:
        _write_cache(folder, prefix, name, images, labels, classes)
    return images, labels, classes
