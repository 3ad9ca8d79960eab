"""fig5 and quantization as tasks: the local process runner and `Subtask` (default suite), and
(when Ray is installed, `-m slow`) both scenarios on a local 2-worker Ray, which must write the
serial run's datasets bit for bit; fig5 also with `--jobs 2` (local processes, no Ray), and
quantization with a worker SIGKILLed in the middle of an evaluation task."""

from __future__ import annotations

import os
import time

import h5py
import pytest

from bridges.datasets import cifar10_source, data_dir
from scenarios.machinery.results import StageCache
from scenarios.machinery.tasks import Job, Processes, Subtask, make_runner, run_stages
from test_tasks import assert_same_file, datasets, scenario, started

# ------------------------------------------------------------------ the runner pieces (default suite)


def test_processes_runs_tasks_in_other_processes_after_the_tasks_they_read():
    from scenarios.paper.fig5 import gather_attacks

    runner = make_runner(None, processes=2)
    assert isinstance(runner, Processes) and runner.name == "processes"
    try:
        a = runner.submit(gather_attacks, {"images": [1.0, 2.0], "attacker_accuracy": 0.5}, label="a")
        b = runner.submit(gather_attacks, {"images": [3.0, 4.0], "attacker_accuracy": 0.25})
        both = runner.submit(gather_attacks, a, b)  # reads a and b: starts when they are done
        assert runner.get(both)["images"].shape == (2, 1, 2)
        done = [runner.outcome(h) for h in runner.as_completed([both, a, b])]
        assert len(done) == 3 and all(d.pid != os.getpid() for d in done)  # run elsewhere
        assert runner.get(both)["attacker_accuracy"].tolist() == [[0.5], [0.25]]
        with pytest.raises(KeyError):  # a task's error reaches the driver
            runner.get(runner.submit(gather_attacks, {}))
    finally:
        runner.shutdown()
    assert make_runner(None, processes=1).name == "serial"


ran: list[str] = []


def part(i):
    ran.append(f"part {i}")
    time.sleep(0.01)
    return i


def total(*parts):
    ran.append("total")
    return {"sum": sum(parts)}


def test_subtasks_run_only_for_a_stage_that_is_computed_and_count_in_its_seconds(tmp_path):
    jobs = [Job("sum", total, tuple(Subtask(part, (i,)) for i in range(3)), inputs={"n": "3"})]
    ran.clear()
    cache = StageCache(tmp_path / "r.h5", {}, log=lambda text: None)
    assert run_stages(make_runner(None), cache, jobs)["sum"]["sum"] == 3
    assert ran == ["part 0", "part 1", "part 2", "total"]
    assert cache.provenance["sum"]["seconds"] >= 0.03  # the parts' time, not only the gathering's
    ran.clear()
    assert run_stages(make_runner(None), StageCache(tmp_path / "r.h5", {}, log=lambda text: None), jobs)["sum"]["sum"] == 3
    assert ran == []  # loaded: neither the stage's task nor its subtasks ran


# ------------------------------------------------------------------------------ Ray (-m slow)

try:
    HAVE_CIFAR = cifar10_source("test") is not None
except (OSError, ValueError):
    HAVE_CIFAR = False

FIG5 = ["-m", "scenarios", "fig5", "--width", "8", "--train-samples", "16", "--ann-epochs", "1", "--snn-epochs", "1",
        "--test-samples", "24", "--attackers", "2", "--stability-runs", "3", "--stability-samples", "12", "--threads", "1"]  # fmt: skip
QUANT = ["-m", "scenarios", "quantization", "--models", "mnist_cvt_ratesyn_e_rate", "fmnist_actbp_ttfs_ttfs",
         "--bits", "8", "2", "--train-samples", "200", "--test-samples", "40", "--qat-samples", "64",
         "--mnist-epochs", "1", "--fmnist-epochs", "1", "--threads", "1"]  # fmt: skip


def run_modes(tmp_path, argv: list[str], name: str, modes: dict, kill: str | None = None) -> dict:
    """Run argv once per mode (extra options), each in a fresh folder (its own models); the
    datasets of the serial file, and each run's output lines. kill: as `scenario`, for Ray modes."""
    lines = {}
    for mode, extra in modes.items():
        folder = tmp_path / mode
        code, lines[mode] = scenario([*argv, "--out", str(folder / name), *extra], folder, kill if "--ray" in extra else None)
        assert code == 0, lines[mode][-30:]
    return lines


@pytest.mark.slow
def test_fig5_on_two_ray_workers_and_in_two_processes_writes_the_serial_file(tmp_path):
    """fig5 trains its 17 models (3 ANNs, 14 SNNs) by one task each (an SNN after its ANN), runs
    the 8 (attack, attacker) tasks, the 4 attack stages, the ANN stage, 14 SNN stages and the
    stability stage; on Ray and in --jobs 2 processes the file is the serial one bit for bit."""
    pytest.importorskip("ray")
    if not HAVE_CIFAR:
        pytest.skip(f"CIFAR-10 not in the data directory {data_dir()}")
    modes = {"serial": [], "ray": ["--ray", "--workers", "2"], "jobs": ["--jobs", "2"]}
    lines = run_modes(tmp_path, FIG5, "fig5.h5", modes)
    serial = datasets(tmp_path / "serial" / "fig5.h5")
    assert len(serial) == 147  # every dataset of the layout (docs/scenarios/fig5.md) at one attacker
    for mode in ("ray", "jobs"):
        assert_same_file(tmp_path / mode / "fig5.h5", serial)
        with h5py.File(tmp_path / mode / "fig5.h5", "r") as f:
            assert f.attrs["runner"] == {"ray": "ray", "jobs": "processes"}[mode]
    ray = lines["ray"]
    assert len(started(ray, r"model_tasks\.model_task model")) == 17  # each model trained once
    assert sum(": ready after" in line for line in ray) == 17
    assert len(started(ray, r"fig5\.attack_task")) == 8
    evaluation = started(ray, r"fig5\.(gather_attacks|ann_task|snn_task|stability_task)")
    assert len(evaluation) == 4 + 1 + 14 + 1 and len(set(evaluation)) == 2  # both workers evaluated
    # --jobs: the processes print the same lines, unprefixed (a progress bar may share their line)
    log = "\n".join(lines["jobs"])
    assert log.count("task scenarios.machinery.model_tasks.model_task ") == 17 and log.count("task scenarios.paper.fig5.") == 8 + 20


@pytest.mark.slow
def test_quantization_on_ray_with_a_worker_killed_mid_evaluation_writes_the_serial_file(tmp_path):
    """quantization trains its 12 models by one task each, runs 4 QAT and 2 evaluation tasks; a
    worker SIGKILLed as the Fashion-MNIST evaluation starts is replaced, the task runs again, no
    model or QAT is redone, and the file is the serial one bit for bit."""
    pytest.importorskip("ray")
    if not ((data_dir() / "mnist").is_dir() and (data_dir() / "fashion-mnist").is_dir()):
        pytest.skip("MNIST and Fashion-MNIST not in the data directory ($EVSIM_DATA)")
    target = r"eval_task eval_fmnist_actbp_ttfs_ttfs: started"
    lines = run_modes(tmp_path, QUANT, "q.h5", {"serial": [], "ray": ["--ray", "--workers", "2"]}, kill=target)
    serial = datasets(tmp_path / "serial" / "q.h5")
    assert len(serial) == 202
    assert_same_file(tmp_path / "ray" / "q.h5", serial)
    ray = lines["ray"]
    killed = [line.split()[-1] for line in ray if line.startswith("test: killed worker")]
    runs = started(ray, target)
    assert len(killed) == 1 and len(runs) == 2 and runs[0] == killed[0] != runs[1]  # died mid-task, ran again
    assert len(started(ray, r"model_tasks\.model_task model")) == 12  # the kill retrained nothing
    assert len(started(ray, r"quantization\.qat_task")) == 4
    evaluation = started(ray, r"quantization\.eval_task")
    assert len(evaluation) == 3 and len(set(evaluation)) >= 2
    with h5py.File(tmp_path / "ray" / "q.h5", "r") as f:
        assert f.attrs["runner"] == "ray" and not any(f["provenance/stages"][s].attrs["cached"] for s in f["provenance/stages"])
