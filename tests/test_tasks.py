"""Stages as tasks: the serial runner and `run_stages`, the model-task runner, the chunked
simulation runner, the result file's lock (two processes), and (when Ray is installed, `-m slow`)
the smoke scenario, fig2 and fig4 on a local 2-worker Ray, which must write the serial run's file,
also when a worker is killed in the middle of a training or an evaluation task."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

import evsim
from bridges.datasets import data_dir
from scenarios.machinery.lock import ResultsLocked, lock_path, results_lock
from scenarios.machinery.model_tasks import train_models
from scenarios.machinery.results import StageCache
from scenarios.machinery.simulation import simulate_chunks
from scenarios.machinery.tasks import After, Job, Serial, make_runner, run_stages

calls: list[str] = []


def double(x):
    calls.append(f"double {x}")
    return 2 * x


def add(a, b, extra=0):
    calls.append(f"add {a} {b}")
    return a + b + extra


def test_serial_runs_each_task_once_when_asked_in_order_with_its_dependencies():
    calls.clear()
    runner = Serial()
    a = runner.submit(double, 3)
    b = runner.submit(add, a, 1, extra=10)  # depends on a
    assert calls == []  # nothing runs before it is asked for
    assert [runner.get(h) for h in runner.as_completed([b, a])] == [17, 6]
    assert calls == ["double 3", "add 6 1"]  # a ran once, for b
    done = runner.outcome(b)
    assert done.seconds >= 0 and done.host and done.pid == os.getpid()


def square_stage(x):
    calls.append(f"square {x}")
    return {"y": np.array(x) ** 2}


def plus_stage(stage, folder, extra):
    calls.append(f"plus {stage['y']}")
    # the stage this one reads was stored by the driver before this task ran
    assert (Path(folder) / "square.h5").exists()
    return {"y": stage["y"] + extra}


def test_run_stages_stores_each_stage_when_its_task_returns_and_loads_finished_ones(tmp_path):
    out = tmp_path / "r.h5"
    jobs = [
        Job("square", square_stage, (3,), inputs={"x": "3"}),
        Job("plus", plus_stage, (After("square"), str(out) + ".stages"), {"extra": 1}, inputs={"square": "k"}),
    ]
    calls.clear()
    got = run_stages(Serial(), StageCache(out, {"s": 1}, log=lambda text: None), jobs)
    assert calls == ["square 3", "plus 9"] and got["plus"]["y"] == 10
    calls.clear()  # a rerun loads both, and a loaded stage feeds the next job as its arrays
    cache = StageCache(out, {"s": 1}, log=lambda text: None)
    assert run_stages(Serial(), cache, jobs)["plus"]["y"] == 10 and calls == []
    assert all(cache.provenance[n]["cached"] for n in ("square", "plus"))
    (tmp_path / "r.h5.stages" / "plus.h5").unlink()  # only the missing stage is computed, from the loaded one
    assert run_stages(Serial(), StageCache(out, {"s": 1}, log=lambda text: None), jobs)["plus"]["y"] == 10
    assert calls == ["plus 9"]


def test_run_stages_rejects_a_job_reading_a_later_or_unknown_one_and_twin_names(tmp_path):
    cache = StageCache(tmp_path / "r.h5", {}, log=lambda text: None)
    with pytest.raises(ValueError, match="job 'plus' reads 'square', which is not an earlier job"):
        run_stages(Serial(), cache, [Job("plus", plus_stage, (After("square"), "", 1)), Job("square", square_stage, (1,))])
    with pytest.raises(ValueError, match="two jobs have the same stage name"):
        run_stages(Serial(), cache, [Job("a", square_stage, (1,)), Job("a", square_stage, (2,))])
    assert not (tmp_path / "r.h5.stages").exists() or not list((tmp_path / "r.h5.stages").iterdir())


def test_ray_without_ray_installed_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed (import raises ImportError)
    with pytest.raises(RuntimeError, match=r"--ray needs Ray.*pip install 'evsim\[cluster\]'"):
        make_runner("local", 2)
    assert isinstance(make_runner(None), Serial)


@dataclass(frozen=True)
class CountingZoo:
    """A zoo whose models are strings naming what they were built from."""

    built: list

    def get(self, key, *given):
        self.built.append(key)
        return f"{key[0]}{key[1]}" + "".join(f"<{g}" for g in given)


def test_train_models_builds_each_model_once_after_the_models_it_starts_from(monkeypatch, tmp_path):
    monkeypatch.setenv("EVSIM_MODELS", str(tmp_path))
    zoo = CountingZoo([])
    keys = [("ann", 0), ("snn", 0), ("ann", 0), ("ann", 1)]
    handles, models = train_models(Serial(), zoo, keys, 1, starts_from=lambda k: [("ann", k[1])] if k[0] == "snn" else [])
    assert list(handles) == [("ann", 0), ("snn", 0), ("ann", 1)] and zoo.built == list(handles)  # each once, in order
    assert models == {("ann", 0): "ann0", ("snn", 0): "snn0<ann0", ("ann", 1): "ann1"}
    assert os.environ["EVSIM_MODELS"] == str(tmp_path.resolve())  # the task works in the driver's model folder


def dense_net(seed: int) -> evsim.Network:
    rng = np.random.default_rng(seed)
    return evsim.Network.dense([rng.normal(0.05, 0.3, (12, 20)), rng.normal(0.1, 0.5, (4, 12))], neuron=evsim.LIF(tau_m=4, tau_s=4))


def test_simulate_chunks_is_the_loop_it_replaces_bit_for_bit():
    """Each chunk encoded with its own draws ([seed, c]), simulated, measured; per-sample arrays
    joined on the sample axis (axis 1 for (T, N, ...) arrays), a 0-d value the last chunk's."""
    net, x = dense_net(0), np.random.default_rng(1).random((11, 20)).astype(np.float32)

    def measure(net, res):
        return {"output_spikes": res.output_spikes, "sops": res.sops, "steps": res.steps, "n": np.array(len(res.steps))}

    for inputs, encode in (("events", evsim.encode_events), ("dense", evsim.encode)):
        got = simulate_chunks(net, x, 8, "poisson", measure, chunk=4, seed=3, inputs=inputs, decoder="ttfs", early_exit=True)
        runs = [evsim.simulate(net, encode(x[lo : lo + 4], 8, "poisson", seed=np.random.default_rng([3, c])), decoder="ttfs", early_exit=True)
                for c, lo in enumerate(range(0, 11, 4))]  # fmt: skip
        np.testing.assert_array_equal(got["output_spikes"], np.concatenate([r.output_spikes for r in runs], axis=1))
        np.testing.assert_array_equal(got["sops"], np.concatenate([r.sops for r in runs]))
        np.testing.assert_array_equal(got["steps"], np.concatenate([r.steps for r in runs]))
        assert got["n"] == 3  # the last chunk's 3 images
    # deterministic encoders: the chunking changes nothing
    one = simulate_chunks(net, x, 8, "ratesyn_e", measure, chunk=11)
    np.testing.assert_array_equal(simulate_chunks(net, x, 8, "ratesyn_e", measure, chunk=2)["sops"], one["sops"])
    # "current": x itself at every step, outside [0, 1] too (what the encoder refuses)
    wide = (x - 0.5) * 3
    got = simulate_chunks(net, wide, 8, "current", measure, chunk=5, inputs="current", timed=True)
    want = evsim.simulate(net, np.ascontiguousarray(np.broadcast_to(wide, (8, *wide.shape))), input_kind="current")
    np.testing.assert_array_equal(got["output_spikes"], want.output_spikes)
    assert got["seconds"] >= 0
    with pytest.raises(ValueError, match="encoder must be 'current'"):
        simulate_chunks(net, x, 8, "ttfs", measure, chunk=5, inputs="current")
    with pytest.raises(ValueError, match="inputs must be one of"):
        simulate_chunks(net, x, 8, "ttfs", measure, chunk=5, inputs="sparse")


HOLDER = """
import sys
from scenarios.machinery.lock import results_lock
with results_lock(sys.argv[1], wait=len(sys.argv) > 2):
    print("locked", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def holder(path: Path, wait: bool = False) -> subprocess.Popen:
    """A process holding (or, wait, queueing for) the lock of `path` until its stdin closes."""
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    argv = [sys.executable, "-c", HOLDER, str(path)] + (["wait"] if wait else [])
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def test_a_second_run_on_a_locked_result_file_refuses_and_a_killed_holder_frees_it(tmp_path):
    out = tmp_path / "fig2.h5"
    first = holder(out)
    try:
        assert first.stdout.readline() == "locked\n"
        with pytest.raises(ResultsLocked, match=rf"{out} is in use by another run \(pid {first.pid} on .*another --out"):
            with results_lock(out):
                pass
        assert lock_path(out) == tmp_path / ".fig2.h5.lock" and lock_path(out).exists()
    finally:
        first.kill()  # SIGKILL: the kernel releases a dead process's flock
        first.wait(timeout=30)
    assert lock_path(out).exists()  # a killed holder leaves its file, unlocked
    with results_lock(out) as path:
        assert f"pid {os.getpid()}" in path.read_text()
    assert list(tmp_path.iterdir()) == []  # a finished holder removes it


def test_a_run_that_waits_gets_the_lock_when_the_holder_finishes(tmp_path):
    out = tmp_path / "r.h5"
    first = holder(out)
    assert first.stdout.readline() == "locked\n"
    second = holder(out, wait=True)
    try:
        time.sleep(1.0)
        assert second.poll() is None  # still waiting
        first.stdin.close()  # the first finishes and removes its lock file
        assert first.stdout.readline() == "released\n"
        assert second.stdout.readline() == "locked\n"  # the waiter holds the file now under the name
        assert f"pid {second.pid}" in lock_path(out).read_text()
        with pytest.raises(ResultsLocked):
            with results_lock(out):
                pass
    finally:
        for p in (first, second):
            p.kill()
            p.wait(timeout=30)


@pytest.mark.skipif(not (data_dir() / "mnist").is_dir(), reason="MNIST not in the data directory ($EVSIM_DATA)")
def test_a_scenario_run_on_a_result_file_in_use_refuses_with_exit_status_3_and_touches_nothing(tmp_path):
    out = tmp_path / "smoke.h5"
    first = holder(out)
    try:
        assert first.stdout.readline() == "locked\n"
        env = os.environ | {"EVSIM_MODELS": str(tmp_path / "models"), "EVSIM_DATA": str(data_dir().resolve())}
        argv = [sys.executable, "-m", "scenarios.smoke", "--train-samples", "50", "--test-samples", "10", "--out", str(out)]
        run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 3, run.stderr[-2000:]
        assert f"refused: {out} is in use by another run (pid {first.pid}" in run.stderr
        assert "phase training" not in run.stderr and sorted(p.name for p in tmp_path.iterdir()) == [".smoke.h5.lock"]
    finally:
        first.kill()
        first.wait(timeout=30)


# ------------------------------------------------------------------------------ Ray (-m slow)

ARGS = ["-m", "scenarios.smoke", "--train-samples", "12000", "--test-samples", "80", "--epochs", "3"]
WORKER = re.compile(r"\(_ray_task pid=(\d+)")


def scenario(argv: list[str], folder: Path, kill: str | None = None) -> tuple[int, list[str]]:
    """Run `python argv...` with its models in `folder`; kill: SIGKILL the Ray worker that prints
    a line matching this pattern (once). Returns (exit code, output lines)."""
    env = os.environ | {"EVSIM_MODELS": str(folder / "models"), "EVSIM_DATA": str(data_dir().resolve()),
                        "PYTHONUNBUFFERED": "1", "RAY_DEDUP_LOGS": "0"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []

    def read():
        killed = False
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            m = WORKER.search(line)
            if kill and not killed and m and re.search(kill, line):
                os.kill(int(m.group(1)), signal.SIGKILL)
                lines.append(f"test: killed worker {m.group(1)}")
                killed = True

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code = proc.wait(timeout=900)
    reader.join(timeout=10)
    return code, lines


def smoke(folder: Path, *extra: str, kill: str | None = None) -> tuple[int, list[str]]:
    return scenario([*ARGS, "--out", str(folder / "smoke.h5"), *extra], folder, kill)


def started(lines: list[str], pattern: str) -> list[str]:
    """Pids of the workers that started a task whose `task ...: started` line matches pattern."""
    return [m.group(1) for line in lines if re.search(pattern, line) and line.endswith(": started") and (m := WORKER.search(line))]


def datasets(path: Path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    pytest.importorskip("ray")
    if not (data_dir() / "mnist").is_dir():
        pytest.skip("MNIST not in the data directory ($EVSIM_DATA)")
    folder = tmp_path_factory.mktemp("serial")
    code, lines = smoke(folder)
    assert code == 0, lines[-20:]
    return datasets(folder / "smoke.h5")


@pytest.mark.slow
def test_a_ray_run_on_two_workers_writes_the_serial_file(serial, tmp_path):
    code, lines = smoke(tmp_path, "--ray", "--workers", "2")
    assert code == 0, lines[-20:]
    got = datasets(tmp_path / "smoke.h5")
    assert set(got) == set(serial)
    for name in serial:
        np.testing.assert_array_equal(got[name], serial[name], err_msg=name)
    with h5py.File(tmp_path / "smoke.h5", "r") as f:
        assert f.attrs["runner"] == "ray"
    pids = {m.group(1) for line in lines if (m := re.search(r"\(_ray_task pid=(\d+)\)", line))}
    assert len(pids) == 2  # both workers did work


@pytest.mark.slow
def test_a_worker_killed_mid_task_is_retried_and_the_file_is_the_same(serial, tmp_path):
    code, lines = smoke(tmp_path, "--ray", "--workers", "2", kill=r"epoch 1/3: loss")  # mid-training
    assert code == 0, lines[-30:]
    assert any(line.startswith("test: killed worker") for line in lines)
    got = datasets(tmp_path / "smoke.h5")
    for name in serial:
        np.testing.assert_array_equal(got[name], serial[name], err_msg=name)
    assert not list(tmp_path.rglob(".*.tmp")) and not list(tmp_path.rglob("*.partial.pt"))


def assert_same_file(path: Path, reference: dict) -> None:
    got = datasets(path)
    assert set(got) == set(reference)
    for name in reference:
        np.testing.assert_array_equal(got[name], reference[name], err_msg=name)
    assert not list(path.parent.rglob(".*.tmp")) and not list(path.parent.rglob("*.partial.pt"))


FIG2 = ["-m", "scenarios", "fig2", "--test-samples", "500", "--ann-epochs", "1", "--stability-trials", "2", "--threads", "1"]
FIG2_EVALUATION = r"scenarios\.paper\.fig2\.(attack|snn|stability|sweep)_task"


@pytest.fixture(scope="module")
def fig2_serial(tmp_path_factory):
    pytest.importorskip("ray")
    if not (data_dir() / "mnist").is_dir():
        pytest.skip("MNIST not in the data directory ($EVSIM_DATA)")
    folder = tmp_path_factory.mktemp("fig2_serial")
    code, lines = scenario([*FIG2, "--out", str(folder / "fig2.h5")], folder)
    assert code == 0, lines[-20:]
    return datasets(folder / "fig2.h5")


@pytest.mark.slow
def test_fig2_on_two_ray_workers_writes_the_serial_file(fig2_serial, tmp_path):
    """Six training tasks, then the attack, four encoder, stability and five sweep tasks on 2 workers."""
    code, lines = scenario([*FIG2, "--out", str(tmp_path / "fig2.h5"), "--ray", "--workers", "2"], tmp_path)
    assert code == 0, lines[-30:]
    assert_same_file(tmp_path / "fig2.h5", fig2_serial)
    with h5py.File(tmp_path / "fig2.h5", "r") as f:
        assert f.attrs["runner"] == "ray"
    for seed in range(6):  # each model trained once
        assert len(started(lines, rf"model_tasks\.model_task model \('ann', {seed}\):")) == 1
    evaluation = started(lines, FIG2_EVALUATION)
    assert len(evaluation) == 11 and len(set(evaluation)) == 2  # both workers evaluated


@pytest.mark.slow
def test_fig2_worker_killed_mid_evaluation_is_retried_and_the_file_is_the_same(fig2_serial, tmp_path):
    target = r"snn_task snn_current: started"
    code, lines = scenario([*FIG2, "--out", str(tmp_path / "fig2.h5"), "--ray", "--workers", "2"], tmp_path, kill=target)
    assert code == 0, lines[-30:]
    killed = [line.split()[-1] for line in lines if line.startswith("test: killed worker")]
    assert len(killed) == 1
    runs = started(lines, target)
    assert len(runs) == 2 and runs[0] == killed[0] and runs[1] != killed[0]  # it died mid-task and ran again
    assert_same_file(tmp_path / "fig2.h5", fig2_serial)
    for seed in range(6):  # the kill retrained nothing
        assert len(started(lines, rf"model_tasks\.model_task model \('ann', {seed}\):")) == 1


FIG4 = ["-m", "scenarios", "fig4", "--train-samples", "500", "--test-samples", "200", "--loss-samples", "20",
        "--ann-epochs", "1", "--snn-epochs", "2", "--threads", "1"]  # fmt: skip


@pytest.mark.slow
def test_fig4_on_ray_with_a_worker_killed_mid_evaluation_writes_the_serial_file(tmp_path):
    """fig4 --ray trains its 15 models as tasks on 2 workers (each once) and evaluates in 24 tasks
    on both; a worker SIGKILLed in the middle of an evaluation task is replaced, the task runs
    again, and the file is the serial run's (same --threads)."""
    pytest.importorskip("ray")
    if not (data_dir() / "fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST not in the data directory ($EVSIM_DATA)")
    target = r"sweep_task fig4c_eps0: started"
    files = {}
    for mode, extra in (("serial", []), ("ray", ["--ray", "--workers", "2"])):
        folder = tmp_path / mode
        code, lines = scenario([*FIG4, "--out", str(folder / "fig4.h5"), *extra], folder, kill=target if extra else None)
        assert code == 0, lines[-30:]
        files[mode] = datasets(folder / "fig4.h5")
    assert sum(": ready after" in line for line in lines) == 15
    assert len(started(lines, r"model_tasks\.model_task model")) == 15  # each trained once, the kill retrained none
    models = sorted(p.name for p in (tmp_path / "ray" / "models" / "fashion-mnist").iterdir())
    assert len(models) == 15 and not any(n.startswith(".") or "partial" in n for n in models)
    runs = started(lines, target)
    killed = [line.split()[-1] for line in lines if line.startswith("test: killed worker")]
    assert len(runs) == 2 and runs[0] == killed[0] != runs[1]
    evaluation = started(lines, r"scenarios\.paper\.fig4\.\w+_task")
    assert len(evaluation) == 24 + 1 and len(set(evaluation) - set(killed)) >= 2
    assert_same_file(tmp_path / "ray" / "fig4.h5", files["serial"])


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity masks on this platform")
def test_threads_default_to_the_cpus_this_process_may_use():
    """A process confined to one CPU (taskset, a pinned test worker) defaults to one thread, not to
    the machine's count: two such processes side by side must not each start two."""
    from scenarios.machinery.tasks import available_cpus

    mine = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(mine)})
        assert available_cpus() == 1
    finally:
        os.sched_setaffinity(0, mine)
    assert available_cpus() == len(mine)
