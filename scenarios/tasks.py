"""Scenario stages as tasks: run in this process one after another, or as Ray tasks.

A task is a plain top-level function whose inputs and outputs are values (arrays, state dicts,
settings) or the handles of other tasks; it reads no global state of the driver. `Serial` runs
each task when it is submitted; `RayRunner` submits it to Ray (a local instance with `workers`
CPUs, or the cluster at `address`), so tasks that do not depend on each other run at once and a
task that reads another's output waits for it. Both pin torch's and Numba's threads to the CPUs a
task is given, so a task computes the same numbers in either runner. Only the driver writes files
of results (stage files and the HDF5 result): tasks return values.

Ray is optional (`pip install 'evsim[cluster]'`); without it everything runs serially.

    runner = make_runner(args.ray, workers=2)      # None -> Serial
    model = runner.submit(train, seed=0)           # a handle
    adv = runner.submit(attack, model, x)          # runs after `train`, gets its value (handles
                                                   # are positional arguments)
    runner.get(adv)
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


def pin_threads(cpus: int) -> None:
    """Give torch and Numba `cpus` threads (a task must not use more CPUs than it was given)."""
    import numba
    import torch

    torch.set_num_threads(cpus)
    numba.set_num_threads(max(1, min(cpus, numba.config.NUMBA_NUM_THREADS)))


@dataclass(frozen=True)
class Outcome:
    """What a task returned, with where and how long it ran (for the stage provenance)."""

    value: object
    seconds: float
    host: str
    pid: int


def run_task(fn: Callable, cpus: int, args: tuple, kwargs: dict) -> Outcome:
    """Run fn(*args, **kwargs) on `cpus` threads (top-level, so Ray can ship it to a worker)."""
    pin_threads(cpus)
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return Outcome(value, time.perf_counter() - started, platform.node(), os.getpid())


def _value(arg):
    return arg.value if isinstance(arg, Outcome) else arg


@dataclass
class Pending:
    """A task Serial will run when its value is first asked for."""

    fn: Callable
    cpus: int
    args: tuple
    kwargs: dict
    done: Outcome | None = None


class Serial:
    """Runs tasks in this process, one at a time, each when its value is first asked for (so a
    driver that saves each result as it comes loses at most the task that was running)."""

    name = "serial"

    def submit(self, fn: Callable, *args, cpus: int = 1, **kwargs) -> Pending:
        return Pending(fn, cpus, args, kwargs)

    def outcome(self, handle: Pending) -> Outcome:
        if handle.done is None:
            args = tuple(self.outcome(a) if isinstance(a, Pending) else a for a in handle.args)
            handle.done = run_task(handle.fn, handle.cpus, tuple(_value(a) for a in args), handle.kwargs)
        return handle.done

    def get(self, handle: Pending) -> object:
        return self.outcome(handle).value

    def as_completed(self, handles: list) -> Iterator:
        for handle in handles:
            self.outcome(handle)
            yield handle

    def shutdown(self) -> None:
        pass


def _ray_task(fn: Callable, cpus: int, kwargs: dict, *args) -> Outcome:
    """The Ray-side body: handles among the positional args arrive resolved, as Outcomes."""
    return run_task(fn, cpus, tuple(_value(a) for a in args), kwargs)


class RayRunner:
    """Runs tasks on Ray. address None: a local Ray with `workers` CPUs; else the cluster there.

    retries: how often a task whose worker died (killed, out of memory, node lost) is run again;
    tasks are pure, so a retry gives the same value.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, retries: int = 3):
        try:
            import ray
        except ImportError:
            raise RuntimeError(
                "--ray needs Ray, which is not installed: pip install 'evsim[cluster]' (or run without --ray)"
            ) from None
        self.ray = ray
        if address is None:
            ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=True)
        else:
            ray.init(address=address, log_to_driver=True)
        self._remote = ray.remote(max_retries=retries, retry_exceptions=False)(_ray_task)

    def submit(self, fn: Callable, *args, cpus: int = 1, **kwargs):
        """Handles of earlier tasks go among the positional args (Ray waits for them and passes
        their values); keyword arguments are plain values."""
        return self._remote.options(num_cpus=cpus).remote(fn, cpus, kwargs, *args)

    def get(self, handle) -> object:
        return self.outcome(handle).value

    def outcome(self, handle) -> Outcome:
        return self.ray.get(handle)

    def as_completed(self, handles: list) -> Iterator:
        """The handles in the order their tasks finish."""
        remaining = list(handles)
        while remaining:
            done, remaining = self.ray.wait(remaining, num_returns=1)
            yield done[0]

    def shutdown(self) -> None:
        self.ray.shutdown()


def make_runner(ray_address: str | None, workers: int | None = None):
    """Serial() when ray_address is None; "local" starts a local Ray with `workers` CPUs."""
    if ray_address is None:
        return Serial()
    return RayRunner(None if ray_address == "local" else ray_address, workers)
