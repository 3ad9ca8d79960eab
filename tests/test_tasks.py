"""Stages as tasks: the serial runner, and (when Ray is installed, `-m slow`) the smoke scenario on
a local 2-worker Ray, which must write the serial run's file, also when a worker is killed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from bridges.datasets import data_dir
from scenarios.tasks import Serial, make_runner

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


def test_ray_without_ray_installed_says_how_to_get_it():
    try:
        import ray  # noqa: F401

        pytest.skip("Ray is installed")
    except ImportError:
        pass
    with pytest.raises(RuntimeError, match=r"--ray needs Ray.*pip install 'evsim\[cluster\]'"):
        make_runner("local", 2)
    assert isinstance(make_runner(None), Serial)


# ------------------------------------------------------------------------------ Ray (-m slow)

ARGS = ["-m", "scenarios.smoke", "--train-samples", "12000", "--test-samples", "80", "--epochs", "3"]


def smoke(folder: Path, *extra: str, kill: str | None = None) -> tuple[int, list[str]]:
    """Run the smoke scenario into `folder`; kill: SIGKILL the Ray worker that prints a line
    matching this pattern (once). Returns (exit code, output lines)."""
    env = os.environ | {"EVSIM_MODELS": str(folder / "models"), "EVSIM_DATA": str(data_dir().resolve()),
                        "PYTHONUNBUFFERED": "1"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, *ARGS, "--out", str(folder / "smoke.h5"), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    lines: list[str] = []

    def read():
        killed = False
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            m = re.search(r"\(_ray_task pid=(\d+)\)", line)
            if kill and not killed and m and re.search(kill, line):
                os.kill(int(m.group(1)), signal.SIGKILL)
                lines.append(f"test: killed worker {m.group(1)}")
                killed = True

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code = proc.wait(timeout=600)
    reader.join(timeout=10)
    return code, lines


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


FIG4 = ["fig4", "--train-samples", "500", "--test-samples", "30", "--loss-samples", "10", "--ann-epochs", "1",
        "--snn-epochs", "2", "--threads", "1"]  # fmt: skip


@pytest.mark.slow
def test_fig4_with_its_models_trained_on_ray_writes_the_serial_file(tmp_path):
    """fig4 --ray trains its 15 models as tasks on 2 workers (each once), then evaluates serially:
    the same file as a serial run with the same --threads."""
    pytest.importorskip("ray")
    if not (data_dir() / "fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST not in the data directory ($EVSIM_DATA)")
    files = {}
    for mode, extra in (("serial", []), ("ray", ["--ray", "--workers", "2"])):
        folder = tmp_path / mode
        env = os.environ | {"EVSIM_MODELS": str(folder / "models"), "EVSIM_DATA": str(data_dir().resolve())}
        result = subprocess.run([sys.executable, "-m", "scenarios", *FIG4, "--out", str(folder / "fig4.h5"), *extra],
                                capture_output=True, text=True, env=env, timeout=900)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        files[mode] = datasets(folder / "fig4.h5")
        if mode == "ray":
            assert result.stdout.count(": ready after") == 15
            models = sorted(p.name for p in (folder / "models" / "fashion-mnist").iterdir())
            assert len(models) == 15 and not any(n.startswith(".") or "partial" in n for n in models)
    assert set(files["ray"]) == set(files["serial"])
    for name in files["serial"]:
        np.testing.assert_array_equal(files["ray"][name], files["serial"][name], err_msg=name)
