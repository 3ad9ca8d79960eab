"""Atomic file writes: a file appears under its name complete, or not at all.

Every writer of the project (checkpoints, decoded-image caches, stage files, results) goes
through `atomic_path`: the content is written to a temporary name in the same folder
(`.<name>.<pid>.<random>.tmp`), flushed to disk, and renamed over the target (`os.replace`, atomic
on POSIX). An exception removes the temporary file. A process killed outright (SIGKILL, power
loss) cannot clean up after itself, so it may leave its temporary file behind, never a damaged
target; `sweep_orphans` removes those leftovers of dead processes (the pid in the name says whose
they are, so a live writer's file is never touched).

    with atomic_path("models/a.pt") as tmp:
        torch.save(state, tmp)
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp")


def temporary_name(path: Path) -> Path:
    """The temporary name `atomic_path` writes `path` under: same folder, hidden, with our pid."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _fsync(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is synced and renamed to `path`.

    On any error (the body raised) the temporary file is removed and `path` keeps its old
    content (or stays absent). The folder is created when missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file of {path}")
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # the rename itself survives a crash only once the folder's entry is on disk
        _fsync(path.parent)
    except OSError:  # some file systems cannot fsync a folder; the rename is still atomic
        return


def write_bytes(path, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def orphans(folder) -> list[Path]:
    """Temporary files in `folder` left by writers that are no longer running."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for p in folder.glob(".*.tmp"):
        m = _TMP.fullmatch(p.name)
        if m and int(m.group("pid")) != os.getpid() and not _alive(int(m.group("pid"))):
            found.append(p)
    return sorted(found)


def sweep_orphans(folder) -> list[Path]:
    """Remove `orphans(folder)`; returns what was removed."""
    removed = orphans(folder)
    for p in removed:
        p.unlink(missing_ok=True)
    return removed
