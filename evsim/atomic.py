"""Atomic file writes: a file appears under its name complete, or not at all.

Every writer of the project (networks, NIR files, checkpoints, decoded-image caches, stage files,
results) goes through `atomic_path`: the content is written to a temporary name in the same folder
(`.<name>.<pid>.<random>.tmp`), flushed to disk (fsync), and renamed over the target (`os.replace`,
atomic on POSIX); the folder is synced too, so the rename itself survives a crash. An exception
removes the temporary file and leaves the target as it was.

A full disk (ENOSPC, EDQUOT) or a file-size limit (EFBIG) in the middle of a write is raised as
`AtomicWriteError`, an OSError whose message names the target and the reason and says that the
previous file is kept. HDF5 reports those failures in its own exception types (a RuntimeError
"... errno = 27 ..." when the file is closed), which are mapped the same way; `atomic_h5` avoids
them altogether by building the file in memory and writing its bytes plainly.

A process killed outright (SIGKILL, power loss) cannot clean up after itself, so it may leave its
temporary file behind, never a damaged target; `sweep_orphans` removes those leftovers of dead
processes (the pid in the name says whose they are, so a live writer's file is never touched).

    with atomic_path("models/a.pt") as tmp:
        torch.save(state, tmp)
    with atomic_h5("results/x.h5") as f:
        f["accuracy"] = acc

Needs only the standard library (and h5py for `atomic_h5`), so bridges and scenarios use it too.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp")

# errors that mean "the data did not fit", with the words the message gives for them
_NO_ROOM = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (a file-size limit was reached)",
}
_HDF5_ERRNO = re.compile(r"errno = (\d+)")  # HDF5 puts the system error inside its message


class AtomicWriteError(OSError):
    """A write that could not finish for lack of room (full disk, quota, file-size limit).

    The target was not touched: its previous content (or its absence) is kept and no temporary
    file is left. `errno` is the system's (ENOSPC, EDQUOT or EFBIG), `filename` the target, and
    str() the whole explanation.
    """

    def __str__(self) -> str:
        return str(self.strerror)


def temporary_name(path) -> Path:
    """The temporary name `atomic_path` writes `path` under: same folder, hidden, with our pid."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _fsync(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _no_room_errno(err: BaseException) -> int | None:
    """ENOSPC/EDQUOT/EFBIG when `err` (an OSError, or h5py's wrapping of one) is a lack of room."""
    code = getattr(err, "errno", None)
    if code in _NO_ROOM:
        return code
    if isinstance(err, Exception):
        for found in _HDF5_ERRNO.findall(str(err)):
            if int(found) in _NO_ROOM:
                return int(found)
    return None


def _explained(err: BaseException, path: Path, existed: bool) -> BaseException:
    """`err` as an `AtomicWriteError` when it is a lack of room, else `err` itself."""
    code = _no_room_errno(err)
    if code is None:
        return err
    kept = "the previous file is kept" if existed else "no file was written"
    return AtomicWriteError(code, f"could not write {path}: {_NO_ROOM[code]} ({kept})", str(path))


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is synced and renamed to `path`.

    On any error (the body raised) the temporary file is removed and `path` keeps its old
    content (or stays absent); a full disk or file-size limit is raised as `AtomicWriteError`.
    The folder is created when missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    tmp = temporary_name(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file of {path}")
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        explained = _explained(err, path, existed)
        if explained is err:
            raise
        raise explained from err
    try:  # the rename itself survives a crash only once the folder's entry is on disk
        _fsync(path.parent)
    except OSError:  # some file systems cannot fsync a folder; the rename is still atomic
        return


def write_bytes(path, data: bytes) -> Path:
    """Write `data` to `path` atomically. Returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


@contextmanager
def atomic_h5(path, mode: str = "w"):
    """Open an HDF5 file (h5py.File) for writing; it appears under `path` complete, or not at all.

    The file is built in memory (HDF5's core driver, the same bytes a file on disk gets) and then
    written through `atomic_path` (pid in the temporary name, fsync, rename, clean-up on any error,
    `AtomicWriteError` when the disk fills). In memory, because HDF5 writing straight to a disk that
    fills can crash the process (h5py 3.16 segfaults closing a compressed dataset whose write failed)
    where a plain write fails cleanly. It holds the file in RAM, twice for a moment at the end.
    mode: h5py's mode for a new file, "w" (or "w-", "x", "a": the file always starts empty).
    """
    if mode not in ("w", "w-", "x", "a"):
        raise ValueError(f"atomic_h5 writes a new file: mode must be 'w', 'w-', 'x' or 'a', got {mode!r}")
    import h5py  # here, so that the plain writers need no HDF5

    with atomic_path(path) as tmp:
        with h5py.File(tmp, mode, driver="core", backing_store=False) as f:
            yield f
            f.flush()
            image = f.id.get_file_image()
        with open(tmp, "wb") as out:
            out.write(image)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def orphans(folder) -> list[Path]:
    """Temporary files in `folder` left by writers that are no longer running (sorted)."""
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


__all__ = ["AtomicWriteError", "atomic_h5", "atomic_path", "orphans", "sweep_orphans", "temporary_name", "write_bytes"]
