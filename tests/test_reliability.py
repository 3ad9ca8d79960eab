"""Results you can trust: reruns from scratch are bit-identical, and a run killed at random moments
(SIGKILL during training, attacks, simulation and writing) resumes to the same file, leaves no
damaged file behind and never recomputes a finished stage or retrains a finished model.

The scenario is `scenarios.smoke` (Fig. 2's pipeline on a subset of MNIST), run as a subprocess
from a copy of the source taken when the module starts (with Numba's caches): stage keys hash the
code, so edits others make in the working tree meanwhile must not reach the runs. The same copy
lets a test edit the code and see which stages are recomputed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from bridges.datasets import data_dir
from conftest import all_cpus
from scenarios.machinery.content import PACKAGES, REPO

needs_mnist = pytest.mark.skipif(not (data_dir() / "mnist").is_dir(), reason="MNIST not in the data directory ($EVSIM_DATA)")

SMOKE = ["-m", "scenarios.smoke", "--train-samples", "3000", "--test-samples", "80", "--epochs", "3", "--threads", "1"]
PHASES = ("training", "attack", "simulation", "writing")
# (phase to kill in, longest random delay after its marker in s). A resumed run skips finished
# phases, so a kill waits for the first marker at or after its phase.
# The default suite kills once, as the result is being written; `-m slow` kills once per phase
# (KILLS), runs the longer sequence (two kills in each phase but the attack) and 20 kills at random
# moments.
KILLS = [("training", 1.5), ("attack", 0.002), ("simulation", 0.05), ("writing", 0.01)]
MORE_KILLS = [("training", 0.8), ("training", 1.5), ("attack", 0.002), ("simulation", 0.05), ("simulation", 0.05),
              ("writing", 0.003), ("writing", 0.01)]  # fmt: skip


def copy_source(dest: Path, origin: Path = REPO) -> Path:
    """The project's packages copied from `origin` to `dest` (times kept: Numba's caches stay valid)."""
    for pkg in PACKAGES:
        shutil.copytree(origin / pkg, dest / pkg, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return copy_source(tmp_path_factory.mktemp("source"))


class Run:
    """One subprocess of the smoke scenario (code from `source`) writing into `folder`, optionally
    SIGKILLed `delay` s after it prints `phase <target>` (or a later phase's marker). With
    wait=False it runs on until `finish()`, beside other runs (each runs with one thread)."""

    def __init__(self, source: Path, folder: Path, target: str | None = None, delay: float = 0.0, wait: bool = True):
        env = os.environ | {
            "EVSIM_MODELS": str(folder / "models"), "EVSIM_DATA": str(data_dir().resolve()), "PYTHONPATH": str(source),
            "PYTHONUNBUFFERED": "1",
        }  # fmt: skip
        with all_cpus():  # a pinned test worker's child may still run beside it, on the other core
            self.proc = subprocess.Popen(
                [sys.executable, *SMOKE, "--out", str(folder / "smoke.h5")],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=source,
            )  # fmt: skip
        self.lines: list[str] = []
        self.seen = threading.Event()
        self.target = target
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if target is not None:
            while not self.seen.wait(0.01) and self.proc.poll() is None:
                pass
            if self.proc.poll() is None:
                time.sleep(delay)
                self.proc.send_signal(signal.SIGKILL)
        if wait:
            self.finish()

    def finish(self) -> Run:
        self.returncode = self.proc.wait(timeout=300)
        self.reader.join(timeout=10)
        return self

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if self.target and line.startswith("phase "):
                current = line.split()[1]
                if current in PHASES and PHASES.index(current) >= PHASES.index(self.target):
                    self.seen.set()

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    @property
    def last_phase(self) -> str:
        return next((line[6:] for line in reversed(self.lines) if line.startswith("phase ")), "start-up")

    def computed(self) -> set[str]:
        return {line.split(":")[0][6:] for line in self.lines if line.startswith("stage ") and ": computed" in line}

    def trained(self) -> int:
        """How many training epochs this run did."""
        return sum(1 for line in self.lines if " epoch " in line and ": loss " in line)


def datasets(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
    return out


def finished(folder: Path) -> dict[Path, tuple[int, int]]:
    """Finished stage files and finished model checkpoints -> (inode, mtime): what must never be redone."""
    files = list((folder / "smoke.h5.stages").glob("*.h5")) + [
        p for p in (folder / "models" / "mnist").glob("*.pt") if not p.name.endswith(".partial.pt")
    ]
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files if p.exists()}


def assert_nothing_damaged(folder: Path) -> None:
    """Every file under its real name is complete: checkpoints load, HDF5 files open with their key."""
    for p in folder.rglob("*"):
        if p.is_dir() or p.name.startswith("."):
            continue
        if p.suffix == ".pt":
            ckpt = torch.load(p, map_location="cpu", weights_only=True)
            assert ckpt["format"] == "evsim.bridges.checkpoint", p
        elif p.suffix == ".h5":
            with h5py.File(p, "r") as f:
                assert "key" in f.attrs or "scenario" in f.attrs, p
        else:
            raise AssertionError(f"unexpected file {p}")


@pytest.fixture(scope="module")
def from_scratch(tmp_path_factory, source) -> tuple[Path, Path]:
    """Two uninterrupted runs from scratch in clean folders, side by side: each is single-threaded,
    so on 2 cores the pair takes the time of one."""
    if not (data_dir() / "mnist").is_dir():
        pytest.skip("MNIST not in the data directory ($EVSIM_DATA)")
    folders = (tmp_path_factory.mktemp("reference"), tmp_path_factory.mktemp("second"))
    for run in [Run(source, folder, wait=False) for folder in folders]:
        assert run.finish().returncode == 0, "\n".join(run.lines[-20:])
    return folders


@pytest.fixture(scope="module")
def reference(from_scratch) -> Path:
    return from_scratch[0]


@needs_mnist
def test_two_runs_from_scratch_in_clean_folders_give_bit_identical_results(from_scratch):
    reference, other = from_scratch
    first, second = datasets(reference / "smoke.h5"), datasets(other / "smoke.h5")
    assert set(first) == set(second) and len(first) == 19
    for name in first:
        assert first[name].dtype == second[name].dtype, name
        np.testing.assert_array_equal(second[name], first[name], err_msg=name)
    with h5py.File(reference / "smoke.h5", "r") as a, h5py.File(other / "smoke.h5", "r") as b:
        for stage in a["provenance/stages"]:  # both computed every stage, with the same content keys
            assert a[f"provenance/stages/{stage}"].attrs["key"] == b[f"provenance/stages/{stage}"].attrs["key"]
            assert not b[f"provenance/stages/{stage}"].attrs["cached"]


def kill_and_resume(source: Path, reference: Path, folder: Path, kills: list[tuple[str, float]], seed: int) -> int:
    """Runs in `folder`, each SIGKILLed in its phase (see KILLS), then one to the end: after every kill
    nothing is damaged and no finished stage or model is done again; the end is the reference's
    file bit for bit and no temporary file is left. Returns how many kills landed."""
    rng = np.random.default_rng(seed)
    landed, lost, phases = 0, 0, []
    for target, longest in kills:
        before = finished(folder)
        run = Run(source, folder, target, float(rng.uniform(0, longest)))
        if run.killed:
            landed += 1
            phases.append(run.last_phase)
        assert run.killed or run.returncode == 0, "\n".join(run.lines[-20:])
        assert_nothing_damaged(folder)
        after = finished(folder)
        redone = [p.name for p, stamp in before.items() if after.get(p) != stamp]
        redone += sorted(run.computed() & {p.stem for p in before if p.suffix == ".h5"})
        lost += len(redone)
        assert not redone, f"finished work done again after a kill in {target}: {redone}"
    final = Run(source, folder)
    assert final.returncode == 0, "\n".join(final.lines[-20:])
    print(f"\nfault injection: {landed} SIGKILLs survived (in: {', '.join(phases)}); stages or models lost: {lost}")
    assert not list(folder.rglob(".*.tmp")) and not list(folder.rglob("*.partial.pt"))
    assert_nothing_damaged(folder)
    want, got = datasets(reference / "smoke.h5"), datasets(folder / "smoke.h5")
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    return landed


@needs_mnist
def test_a_run_killed_while_writing_resumes_to_the_same_file_and_loses_no_stage(source, reference, code_edit, tmp_path):
    """The default suite's kill: at the start of the writing phase, after every stage finished (the
    moment a non-atomic writer would leave a damaged result). One kill per phase is `-m slow`."""
    # code_edit: the next test's runs go on meanwhile, on the other core
    assert kill_and_resume(source, reference, tmp_path, [("writing", 0.0)], seed=13) == 1


@pytest.mark.slow
@needs_mnist
def test_a_run_killed_in_each_phase_resumes_to_the_same_file_and_loses_no_stage(source, reference, tmp_path):
    assert kill_and_resume(source, reference, tmp_path, KILLS, seed=13) >= 3


class Background:
    """`work()` in a thread; `result()` waits for it and returns what it returned (or raises what it raised)."""

    def __init__(self, work):
        self.out, self.error = None, None
        self.thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self.thread.start()

    def _run(self, work):
        try:
            self.out = work()
        except BaseException as err:  # noqa: BLE001 - handed to the test that waits
            self.error = err

    def result(self):
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.out


def code_edit_runs(source: Path, reference: Path, tmp: Path) -> tuple[Run, Run | None, Path]:
    """On a copy of the finished reference run: a run after an edit to a module the scenario does
    not import, then one after an edit to the scenario's own module (if the first succeeded)."""
    code = copy_source(tmp / "source", source)  # the code the reference ran
    folder = tmp / "run"
    shutil.copytree(reference, folder)
    with (code / "scenarios" / "plot.py").open("a") as f:
        f.write("\n# an edit elsewhere\n")
    elsewhere = Run(code, folder)
    if elsewhere.returncode != 0:
        return elsewhere, None, folder
    with (code / "scenarios" / "smoke.py").open("a") as f:
        f.write("\n# an edit to the scenario\n")
    return elsewhere, Run(code, folder), folder


@pytest.fixture(scope="module")
def code_edit(tmp_path_factory, source, reference) -> Background:
    """The code-edit runs, started by the first test that asks for them. The kill sequence asks
    (and does not wait), so they run beside it: both are single-threaded, the machine has 2 cores."""
    return Background(lambda: code_edit_runs(source, reference, tmp_path_factory.mktemp("code_edit")))


@needs_mnist
def test_a_code_edit_recomputes_the_stages_whose_code_changed_and_nothing_else(reference, code_edit):
    """On a finished run: an edit to a module the scenario does not import recomputes nothing; an
    edit to the scenario's own module recomputes its stages but retrains no model (the training
    code does not import it); the file stays the same, now with fresh stage provenance."""
    run, edited, folder = code_edit.result()
    assert run.returncode == 0 and run.computed() == set() and run.trained() == 0, run.lines[-10:]
    run = edited
    assert run.returncode == 0 and run.trained() == 0
    assert run.computed() == {"adv", "snn_current", "snn_poisson", "snn_ratesyn_e"}
    assert any("not reused, it was computed with other code" in line for line in run.lines)
    want, got = datasets(reference / "smoke.h5"), datasets(folder / "smoke.h5")
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    with h5py.File(folder / "smoke.h5", "r") as f:
        assert not any(f[f"provenance/stages/{s}"].attrs["cached"] for s in f["provenance/stages"])


# ------------------------------------------------------------------------------- slow: -m slow

# The 10,000-network fuzz of the engine against the reference: test_fuzz.py (torch-free).


@pytest.mark.slow
@needs_mnist
def test_fig2_twice_from_scratch_gives_bit_identical_datasets(tmp_path, monkeypatch):
    from scenarios.__main__ import main as scenarios_main

    args = ["fig2", "--test-samples", "100", "--ann-epochs", "1", "--stability-trials", "2", "--threads", "1"]
    for run in ("a", "b"):
        monkeypatch.setenv("EVSIM_MODELS", str(tmp_path / run / "models"))
        scenarios_main([*args, "--out", str(tmp_path / run / "fig2.h5")])
    first, second = datasets(tmp_path / "a" / "fig2.h5"), datasets(tmp_path / "b" / "fig2.h5")
    assert set(first) == set(second) and len(first) > 50
    for name in first:
        np.testing.assert_array_equal(second[name], first[name], err_msg=name)


@pytest.mark.slow
@needs_mnist
def test_two_kills_in_each_phase_resume_to_the_same_file(source, reference, tmp_path):
    """The default suite's kill sequence with a second kill in training, simulation and writing."""
    assert kill_and_resume(source, reference, tmp_path, MORE_KILLS, seed=13) >= 5


@pytest.mark.slow
@needs_mnist
def test_many_kills_at_random_moments(source, reference, tmp_path):
    """The fault injection with 20 kills at uniformly random moments of the whole run."""
    rng = np.random.default_rng(29)
    kills = 0
    for _ in range(20):
        before = finished(tmp_path)
        run = Run(source, tmp_path, "training", float(rng.uniform(0, 6)))
        kills += run.killed
        assert run.killed or run.returncode == 0
        assert_nothing_damaged(tmp_path)
        after = finished(tmp_path)
        redone = [p.name for p, stamp in before.items() if after.get(p) != stamp]
        redone += sorted(run.computed() & {p.stem for p in before if p.suffix == ".h5"})
        assert not redone, "\n".join([f"finished work done again: {redone}"] + run.lines[-30:])
    assert Run(source, tmp_path).returncode == 0
    print(f"\nslow fault injection: {kills} of 20 SIGKILLs landed before the run finished; 0 stages lost")
    want, got = datasets(reference / "smoke.h5"), datasets(tmp_path / "smoke.h5")
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
