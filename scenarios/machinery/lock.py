"""One run at a time per result file: an exclusive lock, so two runs never mix their stages.

Two runs of a scenario on one result file would compute, store and load each other's stages and
write the result twice. A job holds `results_lock(out)` from before it opens its stages until its
result is written: an exclusive `fcntl.flock` on `.<name>.lock` beside the result file (hidden, so
that it is never taken for a result). A second run refuses at once (`ResultsLocked`: which file,
which process holds it, what to do) or, with wait=True, waits its turn. The kernel releases a
flock when its process ends, also on a crash or SIGKILL, so a dead run never blocks the next one;
a finished run removes its lock file (a killed one leaves it behind, unlocked and harmless).
"""

from __future__ import annotations

import datetime
import fcntl
import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ResultsLocked(RuntimeError):
    """Another live run holds the lock of this result file."""


def lock_path(result_path) -> Path:
    """The lock file of a result file: results/fig2.h5 -> results/.fig2.h5.lock."""
    path = Path(result_path)
    return path.with_name(f".{path.name}.lock")


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "a process that has not yet written its pid"


@contextmanager
def results_lock(result_path, wait: bool = False) -> Iterator[Path]:
    """Hold the exclusive lock of `result_path` (its folder is created when missing).

    Raises ResultsLocked at once when another process holds it, unless wait: then blocks until it
    is free. Yields the lock file's path; the file holds the holder's pid, host, start and command."""
    path = lock_path(result_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise ResultsLocked(
                f"{result_path} is in use by another run ({holder}; lock {path}). Two runs on one result "
                f"file would mix their stages: wait for that run to finish, stop it, or give this one "
                f"another --out."
            ) from None
        try:  # a holder that finished removed the file we waited on: lock the one under the name now
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {platform.node()} since {started}: {' '.join(sys.argv)}\n".encode(), 0)
        yield path
    finally:
        path.unlink(missing_ok=True)  # still locked: nobody can hold the file under this name meanwhile
        os.close(fd)
