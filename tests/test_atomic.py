"""evsim.atomic, the project's one atomic writer: a file appears complete or not at all, a failed or
killed write leaves the previous file, orphans of dead writers are swept (never a live writer's), and a
disk that fills mid-write (here a file-size limit, EFBIG) keeps the old file and says so clearly, for
plain files, HDF5 (atomic_h5), network files (save_network) and NIR files (evsim.nir.save)."""

from __future__ import annotations

import errno
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import evsim
from evsim.atomic import AtomicWriteError, atomic_h5, atomic_path, orphans, sweep_orphans, temporary_name, write_bytes

REPO = Path(__file__).resolve().parent.parent


def test_a_write_appears_complete_and_the_temporary_name_is_beside_it(tmp_path):
    target = tmp_path / "sub" / "a.bin"  # the folder is created
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".a.bin.") and f".{os.getpid()}." in tmp.name
        tmp.write_bytes(b"complete")
        assert not target.exists()  # nothing under the name until the rename
    assert target.read_bytes() == b"complete" and os.listdir(target.parent) == ["a.bin"]
    assert write_bytes(target, b"again") == target and target.read_bytes() == b"again"
    assert temporary_name(target) != temporary_name(target)  # two writers never share one


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    old = write_bytes(tmp_path / "a.npz", b"old")
    with pytest.raises(RuntimeError, match="interrupted"), atomic_path(old) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert old.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.npz"]
    with pytest.raises(FileNotFoundError, match="nothing was written"), atomic_path(tmp_path / "b"):
        pass
    assert os.listdir(tmp_path) == ["a.npz"]


def test_a_failed_hdf5_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "r.h5"
    with atomic_h5(path) as f:
        f["x"] = np.arange(3)
    before = path.read_bytes()
    with pytest.raises(KeyError), atomic_h5(path) as f:
        f["x"] = np.arange(5)
        raise KeyError("interrupted")
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["r.h5"]
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["x"][()], np.arange(3))
    with pytest.raises(ValueError, match="mode"), atomic_h5(path, "r+"):
        pass


def test_atomic_h5_writes_the_bytes_h5py_writes_to_disk(tmp_path):
    def fill(f):
        f.attrs["setting"] = "x"
        f.create_group("g").create_dataset("d", data=np.arange(1000.0))
        f.create_dataset("z", data=np.random.default_rng(0).normal(size=5000), compression="gzip")

    with h5py.File(tmp_path / "direct.h5", "w") as f:
        fill(f)
    with atomic_h5(tmp_path / "atomic.h5") as f:
        fill(f)
    assert (tmp_path / "atomic.h5").read_bytes() == (tmp_path / "direct.h5").read_bytes()


# ------------------------------------------------------------------------------------- orphans

WRITER = """
import sys, time
from evsim.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp, open(tmp, "wb") as f:
    for _ in range(2000):
        f.write(b"new" * 1000); f.flush(); time.sleep(0.005)
        print("writing", flush=True)
"""


def _writer(target: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True, env=env)
    for _ in range(5):
        assert proc.stdout.readline() == "writing\n"
    return proc


def test_a_killed_writer_leaves_the_old_file_and_an_orphan_that_is_swept_a_live_ones_never(tmp_path):
    target = write_bytes(tmp_path / "result.h5", b"old complete content")
    proc = _writer(target)
    try:
        (live,) = [p for p in tmp_path.iterdir() if p.name != "result.h5"]
        assert f".{proc.pid}." in live.name
        assert orphans(tmp_path) == [] and sweep_orphans(tmp_path) == [] and live.exists()  # it is still writing
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert target.read_bytes() == b"old complete content"
    assert orphans(tmp_path) == [live] and live.stat().st_size > 0
    assert sweep_orphans(tmp_path) == [live] and not live.exists()
    assert os.listdir(tmp_path) == ["result.h5"]


def test_orphans_are_only_the_writers_temporary_names(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    names = [f".a.h5.{pid}.0123abcd.tmp", f".a.h5.{os.getpid()}.0123abcd.tmp", ".a.h5.x1y2z3w4.tmp",
             f"a.h5.{pid}.0123abcd.tmp", f".a.h5.{pid}.0123abcd.tmp.keep"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in orphans(tmp_path)] == names[:1]  # a dead writer's; ours and foreign names stay
    assert orphans(tmp_path / "missing") == []


# ------------------------------------------------------------------- a full disk (a file-size limit)

LIMITED = """
import os, resource, signal, sys
import numpy as np
import evsim, evsim.nir, nir  # imported before the limit
from evsim.atomic import AtomicWriteError, atomic_h5, write_bytes

kind, target = sys.argv[1], sys.argv[2]
net = evsim.Network.dense([np.random.default_rng(0).normal(size=(300, 400))], neuron=evsim.LIF(4, 2))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so that a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
try:
    if kind == "bytes":
        write_bytes(target, b"x" * 1_000_000)
    elif kind == "hdf5":  # a compressed dataset and many groups: h5py segfaulted on these, written to disk directly
        with atomic_h5(target) as f:
            f.create_dataset("big", data=np.random.default_rng(0).normal(size=200_000), compression="gzip")
            for i in range(50):
                f.create_group(str(i)).create_dataset("d", data=np.ones(5000))
    elif kind == "network":
        evsim.save_network(net, target)
    else:
        evsim.nir.save(target, net, 1e-3)
except AtomicWriteError as err:
    print(f"{type(err).__name__} {err.errno} {err.filename}|{err}")
    sys.exit(3)
print("no error")
"""


@pytest.mark.parametrize("kind", ["bytes", "hdf5", "network", "nir"])
def test_a_disk_that_fills_mid_write_keeps_the_old_file_and_says_so(tmp_path, kind):
    target = tmp_path / "results" / "x.h5"
    old = write_bytes(target, b"the previous, complete file").read_bytes()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    run = subprocess.run([sys.executable, "-c", LIMITED, kind, str(target)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 3, run.stdout + run.stderr
    line = run.stdout.strip().splitlines()[-1]
    assert line == (f"AtomicWriteError {errno.EFBIG} {target}|could not write {target}: file too large "
                    "(a file-size limit was reached) (the previous file is kept)")
    assert target.read_bytes() == old
    assert os.listdir(target.parent) == ["x.h5"]  # no temporary file left


def test_no_room_errors_are_explained_others_pass_unchanged(tmp_path):
    target = tmp_path / "new.bin"
    for err in (OSError(errno.ENOSPC, "No space left on device"),
                RuntimeError("Can't decrement id ref count (unable to flush file, errno = 28, error message = 'x')")):
        with pytest.raises(AtomicWriteError) as caught, atomic_path(target) as tmp:
            tmp.write_bytes(b"part")
            raise err
        assert caught.value.errno == errno.ENOSPC and caught.value.__cause__ is err
        assert str(caught.value) == f"could not write {target}: no space left on device (no file was written)"
        assert isinstance(caught.value, OSError) and caught.value.filename == str(target)
        assert os.listdir(tmp_path) == []
    # it survives pickling (a worker process reports it to its parent)
    back = pickle.loads(pickle.dumps(caught.value))
    assert type(back) is AtomicWriteError and str(back) == str(caught.value) and back.errno == errno.ENOSPC
    with pytest.raises(PermissionError), atomic_path(target):
        raise PermissionError(errno.EACCES, "denied")
