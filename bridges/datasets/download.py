"""Downloads of missing dataset files from their home pages, kept only when their MD5 is the published one.

`fetch_url` is the only function of the package that touches the network (tests replace it);
`download_file` writes through a temporary name, so a file is never half there.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.request
from pathlib import Path

from evsim.atomic import atomic_path

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


def download_missing(dataset: str, folder: Path, names, what: str) -> None:
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
