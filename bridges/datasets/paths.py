"""Where the datasets live: the data directory ($EVSIM_DATA) and the decoded-image cache ($EVSIM_CACHE).

`data_dir(root)`: the `root` argument, else the environment variable EVSIM_DATA, else `data/` in
the repository (`REPO_DATA`, which also ships the samples). `cache_dir(near)`: where decoded
images are cached, never inside a folder without write bits.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DATA_ENV = "EVSIM_DATA"
CACHE_ENV = "EVSIM_CACHE"
REPO_DATA = Path(__file__).resolve().parent.parent.parent / "data"


def data_dir(root=None) -> Path:
    """The data directory: `root` if given, else $EVSIM_DATA, else the repository's data/."""
    if root is not None:
        return Path(root)
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else REPO_DATA


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
