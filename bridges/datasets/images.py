"""Images in class folders (`<path>/[<split>/]<class>/<image>`), plain or in .tar/.tar.gz archives,
decoded once (Pillow) and cached as .npz (`bridges.datasets.paths.cache_dir`), so the second load
of 60,000 JPEGs takes a fraction of a second.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from evsim.atomic import atomic_path
from .paths import cache_dir

# Folder names taken for splits, not classes, when split=None finds nothing else.
_SPLIT_NAMES = {"train", "test", "val", "valid", "validation"}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".gif", ".tif", ".tiff", ".webp")

# Bump when the cached arrays would differ for the same source (decoding or layout changes).
_CACHE_VERSION = 1


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
