"""Keep Numba's on-disk cache of the engine true to the engine's current source.

Numba (`cache=True`) keys a cached function by the timestamp of its own source file. The engine's
runs (`float_run._run`, `fixed_run._run`) inline the kernels of `kernels.py` and bake in the table
columns of `plan.py`, so after an edit to either file they would load the old machine code
(seen: a deliberately broken kernel passed the property tests until the cache was deleted).
`drop_stale(folder)` hashes the folder's Python sources and, when the hash differs from the one
the cache was written with, deletes the folder's cached machine code so that Numba compiles
again. Where `NUMBA_CACHE_DIR` moves the cache elsewhere the guard cannot see it and does nothing.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

STAMP = "evsim-numba-sources.txt"  # in __pycache__, beside Numba's .nbi / .nbc files


def sources_hash(folder: Path) -> str:
    """sha256 of the folder's *.py files (names and contents, in name order)."""
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def drop_stale(folder: Path) -> bool:
    """Delete folder/__pycache__'s Numba files if they were written for other sources; record the
    current hash. Returns True when it deleted (or found nothing to keep). A read-only install or
    a race with another process deleting the same files is not an error: Numba then compiles."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return False
    cache = folder / "__pycache__"
    stamp = cache / STAMP
    digest = sources_hash(folder)
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    try:
        for path in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            path.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        tmp = cache / f".{STAMP}.{os.getpid()}"
        tmp.write_text(digest)
        os.replace(tmp, stamp)  # atomic: a concurrent reader sees the old stamp or the new one
    except OSError:
        pass
    return True
