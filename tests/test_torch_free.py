"""The torch-free run (`pytest --torch-free`, see conftest.py): torch and everything that needs it
are unimportable, test files that import any of it are left out, and `--skip-torch-free` runs
exactly those, so the two runs together are one plain `pytest` with no test run twice."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BLOCKED, TESTS_DIR, needs_torch, torch_fixtures

import evsim

CONFTEST = TESTS_DIR / "conftest.py"


def test_under_torch_free_every_blocked_module_raises_import_error(request):
    if not request.config.getoption("torch_free"):
        pytest.skip("checks the blocker: runs under --torch-free (make test runs it there)")
    for name in BLOCKED + ("torch.nn", "bridges.snn", "scenarios.fig2"):
        with pytest.raises(ImportError, match="blocked"):
            importlib.import_module(name)
    assert not [m for m in sys.modules if m.partition(".")[0] in BLOCKED]
    assert evsim.simulate(evsim.Network.dense([[[1.0]]], neuron=evsim.IF()), [[[1.0]]]).predictions.tolist() == [0]


@pytest.mark.parametrize(
    "text, torch",
    [
        ("import numpy\nimport evsim\nfrom evsim.network import Dense\n", False),
        ("from conftest import networks\n", False),  # conftest's module level is torch-free
        ("import torch\n", True),
        ("import torch.nn.functional as F\n", True),
        ("from bridges.datasets import data_dir\n", True),
        ("from scenarios import models\n", True),
        ("def test_x():\n    import snntorch\n", True),  # inside a function counts too
        ("import pytest\nnorse = pytest.importorskip('norse')\n", True),
        ("import pytest\npytestmark = pytest.mark.usefixtures('one_torch_thread')\n", True),
        ("def test_x(one_torch_thread):\n    pass\n", True),
        ("from helper_with_torch import x\n", True),  # a local module of the folder that needs torch
        ("from helper_without_torch import x\n", False),
    ],
)
def test_a_file_needs_torch_when_it_or_a_local_module_it_imports_does(tmp_path, text, torch):
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "helper_with_torch.py").write_text("def x():\n    from bridges import snn\n")
    (tmp_path / "helper_without_torch.py").write_text("import numpy\n")
    (tmp_path / "test_case.py").write_text(text)
    assert needs_torch(tmp_path / "test_case.py") is torch


def test_the_torch_fixtures_are_read_from_conftest():
    assert torch_fixtures(CONFTEST) == {"one_torch_thread"}


FOLDER = {
    "test_plain.py": (
        "import importlib\n\nimport pytest\n\n\n"
        "def test_evsim_runs():\n    import evsim\n\n\n"
        "def test_torch_is_blocked(request):\n"
        "    name = 'torch'\n"
        "    if request.config.getoption('torch_free'):\n"
        "        with pytest.raises(ImportError):\n            importlib.import_module(name)\n"
    ),
    # blocked but cheap to import: the plain run below need not wait for torch
    "test_uses_scenarios.py": "def test_scenarios():\n    import scenarios\n",
    "test_uses_bridges.py": "from bridges import export\n\n\ndef test_bridges():\n    pass\n",
}


def run_pytest(folder: Path, *options: str) -> set[str]:
    """The tests that passed in a pytest run of `folder` with `options`."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(TESTS_DIR.parent), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "--rootdir", str(folder), *options, str(folder)],
        capture_output=True, text=True, cwd=folder, env=env,
    )  # fmt: skip
    assert result.returncode in (0, 5), result.stdout[-3000:] + result.stderr[-3000:]  # 5: nothing collected
    return {line.split("::", 1)[1] for line in result.stdout.splitlines() if line.startswith("PASSED ")}


def test_the_two_runs_split_a_folder_between_them(tmp_path):
    """Together they run every test of the folder (all of them pass), each once."""
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    for name, text in FOLDER.items():
        (tmp_path / name).write_text(text)
    assert run_pytest(tmp_path, "--torch-free") == {"test_evsim_runs", "test_torch_is_blocked"}  # torch raised there
    assert run_pytest(tmp_path, "--skip-torch-free") == {"test_scenarios", "test_bridges"}
