"""Shared hypothesis strategies (random networks and encoded batches that exercise every path; they
live in `evsim.testing.strategies`, the kit users get, and are re-exported here), the torch-free
run of the suite (`--torch-free` / `--skip-torch-free`) and the shared fixtures.

This file imports no torch (nor bridges or scenarios): under `--torch-free` it is what every
evsim test runs beside. Torch fixtures import torch inside their body.
"""

from __future__ import annotations

import ast
import importlib.abc
import os
import sys
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

import evsim
from evsim.testing.strategies import (  # noqa: F401 - the suite's strategies (evsim's kit), re-exported for the tests
    FUSED,
    deep_networks,
    encoded_batches,
    image_batches,
    methods,
    networks,
    neurons,
    spec_neurons,
)

# Hypothesis budgets. A test sizes its sample as `@settings(max_examples=examples(150), deadline=None)`:
# the default profile runs that many, `pytest --hypothesis-profile=thorough` ten times as many (with
# `-m slow`: the long properties the default suite samples), `--hypothesis-profile=quick` a tenth.
settings.register_profile("default", max_examples=100)
settings.register_profile("thorough", max_examples=1000)
settings.register_profile("quick", max_examples=10)


def examples(n: int) -> int:
    """n examples scaled by the loaded profile (default 1x, thorough 10x, quick 0.1x, at least 1)."""
    return max(1, round(n * settings.default.max_examples / 100))


def assert_same_run(a: evsim.SimulationResult, b: evsim.SimulationResult) -> None:
    """Two runs are the same: spikes of every recorded layer and every count the engine reports."""
    np.testing.assert_array_equal(a.output_spikes, b.output_spikes)
    assert len(a.hidden_spikes) == len(b.hidden_spikes)
    for ha, hb in zip(a.hidden_spikes, b.hidden_spikes):
        np.testing.assert_array_equal(ha, hb)
    for name in ("predictions", "scores", "exit_step", "first_spike_step", "steps", "sops_per_step",
                 "macs_per_step", "spikes_in", "values_in", "spike_counts", "membrane_updates"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors gain nothing from a second intra-op thread, and on a busy 2-core machine its
    spin-waiting barriers cost 10-100x (measured: 6 s with one thread, 50-100 s with two).
    Use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch  # here, not at the top: this file must stay importable without torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------- the torch-free run
# `pytest --torch-free` blocks every module that needs torch before collection and collects only
# the test files that import none of them; `pytest --skip-torch-free` collects exactly the others.
# The two runs together are a plain `pytest`, each test run once. Which file goes where is read
# from its imports (ast), so it cannot drift from what the file does.

BLOCKED = ("torch", "torchattacks", "torchvision", "snntorch", "norse", "nirtorch", "spikingjelly", "bridges", "scenarios")
TESTS_DIR = Path(__file__).parent


class TorchBlocker(importlib.abc.MetaPathFinder):
    """Makes every module in BLOCKED (and its submodules) unimportable: `import torch` raises
    ModuleNotFoundError, as on a machine where torch is not installed."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{fullname} is blocked: the suite runs with --torch-free", name=fullname)
        return None


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module a parsed file names for import, anywhere in it (module level, functions, classes):
    import statements, and string arguments of `pytest.importorskip` / `importlib.import_module`."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("importorskip", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def _is_fixture(node: ast.FunctionDef) -> bool:
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
    return False


@cache
def torch_fixtures(conftest: Path = Path(__file__)) -> frozenset[str]:
    """The fixtures of this conftest whose body imports a blocked module (they import it lazily)."""
    tree = ast.parse(conftest.read_text())
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and _is_fixture(node) and _blocked(imported_modules(node))
    )


def _blocked(modules: set[str]) -> bool:
    return any(m.partition(".")[0] in BLOCKED for m in modules)


@cache
def needs_torch(path: Path, fixtures: frozenset[str] | None = None) -> bool:
    """Whether the test module at `path` imports a blocked module anywhere, uses a torch fixture
    (by argument or `usefixtures` name), or imports a local module of its folder that does.
    The folder's conftest counts by its module-level imports only: its fixtures count by name."""
    fixtures = torch_fixtures(path.parent / "conftest.py") if fixtures is None else fixtures
    tree = ast.parse(path.read_text(), str(path))
    if path.name == "conftest.py":
        return _blocked(imported_modules(ast.Module(body=[n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))], type_ignores=[])))
    modules = imported_modules(tree)
    if _blocked(modules):
        return True
    for node in ast.walk(tree):
        named = (
            node.arg if isinstance(node, ast.arg)
            else node.value if isinstance(node, ast.Constant) and isinstance(node.value, str)
            else None
        )  # fmt: skip
        if named in fixtures:
            return True
    local = {m.partition(".")[0] for m in modules} - {path.stem}
    return any(needs_torch(path.parent / f"{m}.py", fixtures) for m in sorted(local) if (path.parent / f"{m}.py").is_file())


def pytest_addoption(parser):
    group = parser.getgroup("evsim")
    group.addoption("--torch-free", action="store_true", help="block torch, bridges and scenarios, and run only the tests that import none of them")
    group.addoption("--skip-torch-free", action="store_true", help="run only the tests that --torch-free leaves out")


def _pin_xdist_worker() -> None:
    """Give each pytest-xdist worker its own share of the CPUs (`make test` runs `-n auto`).

    Torch, Numba and every scenario's --threads default size themselves by the affinity mask, so
    a worker pinned to one core runs one thread: without this, each of two workers on a 2-core
    machine would start two torch threads, and OpenMP's spin-waiting threads slow both down
    several-fold. Subprocesses inherit the mask (a child asked for two threads still runs them).
    """
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if not worker.startswith("gw") or count < 1 or not hasattr(os, "sched_setaffinity"):
        return
    index, cpus = int(worker[2:]), sorted(os.sched_getaffinity(0))
    share = [cpu for i, cpu in enumerate(cpus) if i % count == index % count] or [cpus[index % len(cpus)]]
    os.environ["EVSIM_TEST_CPUS"] = ",".join(map(str, cpus))  # for `all_cpus`
    os.sched_setaffinity(0, share)
    import numba  # already loaded by evsim, its default thread count read before the mask was set

    numba.set_num_threads(min(len(share), numba.config.NUMBA_NUM_THREADS))


@contextmanager
def all_cpus():
    """Inside: this thread may run on every CPU the suite was given, so that processes started
    here (they inherit the mask) are not confined to a pinned worker's core. For tests that
    run single-threaded subprocesses side by side (tests/test_reliability.py)."""
    cpus = os.environ.get("EVSIM_TEST_CPUS")
    if not cpus or not hasattr(os, "sched_setaffinity"):
        yield
        return
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


def pytest_configure(config):
    _pin_xdist_worker()
    if config.getoption("torch_free") and config.getoption("skip_torch_free"):
        raise pytest.UsageError("--torch-free and --skip-torch-free exclude each other: together they run nothing")
    if config.getoption("torch_free"):
        loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
        if loaded:
            raise pytest.UsageError(f"--torch-free: {loaded[:5]} were imported before the blocker (by a plugin?)")
        sys.meta_path.insert(0, TorchBlocker())


def left_out(path: Path, config) -> bool:
    """Whether this run leaves the test file at `path` out."""
    if config.getoption("torch_free"):
        return needs_torch(path)
    if config.getoption("skip_torch_free"):
        return not needs_torch(path)
    return False


def pytest_ignore_collect(collection_path, config):
    # Files named on the command line are collected as asked (under --torch-free a torch file then
    # fails to import, saying the module is blocked).
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_") and left_out(collection_path, config):
        return True
    return None


# The files that take longest (measured from a fresh clone on 2 cores, longest first). xdist hands
# whole files to its workers in collection order (`--dist loadfile`), so putting these first lets
# the short files fill in around them instead of one long file starting last while the other
# worker idles (longest-processing-time-first scheduling).
LONGEST_FIRST = (
    "test_reliability.py", "test_fashion_scenarios.py", "test_fig5.py", "test_fig2.py", "test_repro_audit.py",
    "test_ray_fig5_quant.py", "test_torch_free.py", "test_conversion.py", "test_whitebox.py", "test_tasks.py",
    "test_engine.py", "test_fixed.py", "test_events.py", "test_deep.py", "test_testing_kit.py", "test_encoding.py",
)  # fmt: skip


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order within a file kept
