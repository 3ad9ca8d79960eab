"""Scenario stages as tasks: run in this process one after another, or as Ray tasks.

A task is a plain top-level function whose inputs and outputs are values (arrays, state dicts,
settings) or the handles of other tasks; it reads no global state of the driver. `Serial` runs
each task when it is submitted; `RayRunner` submits it to Ray (a local instance with `workers`
CPUs, or the cluster at `address`), so tasks that do not depend on each other run at once and a
task that reads another's output waits for it. Both pin torch's and Numba's threads to the CPUs a
task is given, so a task computes the same numbers in either runner. Only the driver writes files
of results (stage files and the HDF5 result): tasks return values.

Ray is optional (`pip install 'evsim[cluster]'`); without it everything runs serially, or in
local processes (`Processes`, a pool of spawned interpreters that needs no Ray).

    runner = make_runner(args.ray, workers=2)      # None -> Serial
    model = runner.submit(train, seed=0)           # a handle
    adv = runner.submit(attack, model, x)          # runs after `train`, gets its value (handles
                                                   # are positional arguments)
    runner.get(adv)

`run_stages` is what a scenario's driver uses: a list of `Job`s (a stage name, its task, its
content-key inputs), each loaded from the StageCache when it finished earlier, else submitted,
and stored by the driver as soon as its task returns; `After(name)` among a job's arguments stands
for an earlier job's arrays (its task's handle, or the loaded arrays).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. under `taskset` or a test worker
    pinned to one core), else the machine's count: the default of every scenario's --threads."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity masks on this platform (macOS, Windows)
        return os.cpu_count() or 1


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


def task_name(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def run_task(fn: Callable, cpus: int, args: tuple, kwargs: dict, announce: str | None = None) -> Outcome:
    """Run fn(*args, **kwargs) on `cpus` threads (top-level, so Ray can ship it to a worker).
    announce: a label; print `task <module.function> <label>: started` first (Ray forwards a
    worker's lines to the driver, prefixed with its pid: the log says which worker ran what)."""
    pin_threads(cpus)
    if announce is not None:
        print(f"task {task_name(fn)} {announce}: started", flush=True)
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

    def submit(self, fn: Callable, *args, cpus: int = 1, label: str = "", **kwargs) -> Pending:
        return Pending(fn, cpus, args, kwargs)

    def share(self, value: object) -> object:
        """A large value that many tasks read: here the value itself (no copy)."""
        return value

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


def _ray_task(fn: Callable, cpus: int, label: str, kwargs: dict, *args) -> Outcome:
    """The Ray-side body: handles among the positional args arrive resolved, as Outcomes."""
    return run_task(fn, cpus, tuple(_value(a) for a in args), kwargs, announce=label)


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
            ray.init(num_cpus=workers or available_cpus(), include_dashboard=False, log_to_driver=True)
        else:
            ray.init(address=address, log_to_driver=True)
        self._remote = ray.remote(max_retries=retries, retry_exceptions=False)(_ray_task)

    def submit(self, fn: Callable, *args, cpus: int = 1, label: str = "", **kwargs):
        """Handles of earlier tasks and shared values go among the positional args (Ray waits for
        them and passes their values); keyword arguments are plain values. label: named in the
        line the worker prints when the task starts."""
        return self._remote.options(num_cpus=cpus).remote(fn, cpus, label, kwargs, *args)

    def share(self, value: object):
        """A large value that many tasks read (images, models), put into Ray's object store once:
        pass the returned handle as a positional argument, each task gets the value (read-only)."""
        return self.ray.put(value)

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


@dataclass(eq=False)
class Queued:
    """A task of `Processes`: waiting for the tasks it reads, running (future), or done."""

    fn: Callable
    cpus: int
    args: tuple
    kwargs: dict
    label: str
    future: Future | None = None
    done: Outcome | None = None


class Processes:
    """Runs tasks in `workers` local processes (spawned interpreters: a fork would copy torch's and
    Numba's thread pools), no Ray needed. A task starts as soon as the tasks it reads have finished;
    values travel to and from the processes by pickling. A task whose process dies is not retried
    (the run stops with the error; rerun it to resume from the stages stored so far)."""

    name = "processes"

    def __init__(self, workers: int):
        import multiprocessing

        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        self._waiting: list[Queued] = []
        self._running: dict[Future, Queued] = {}

    def submit(self, fn: Callable, *args, cpus: int = 1, label: str = "", **kwargs) -> Queued:
        handle = Queued(fn, cpus, args, kwargs, label)
        self._waiting.append(handle)
        self._start_ready()
        return handle

    def share(self, value: object) -> object:
        """A large value that many tasks read: the value itself (each task gets a pickled copy)."""
        return value

    def _start_ready(self) -> None:
        for handle in list(self._waiting):
            if all(a.done is not None for a in handle.args if isinstance(a, Queued)):
                self._waiting.remove(handle)
                args = tuple(_value(a.done) if isinstance(a, Queued) else a for a in handle.args)
                handle.future = self.pool.submit(run_task, handle.fn, handle.cpus, args, handle.kwargs, handle.label or None)
                self._running[handle.future] = handle

    def _wait_one(self) -> None:
        if not self._running:
            raise RuntimeError("a task reads tasks that were not submitted to this runner")
        finished, _ = wait(list(self._running), return_when=FIRST_COMPLETED)
        for future in finished:
            self._running.pop(future).done = future.result()  # a task's exception stops the run here
        self._start_ready()

    def outcome(self, handle: Queued) -> Outcome:
        while handle.done is None:
            self._wait_one()
        return handle.done

    def get(self, handle: Queued) -> object:
        return self.outcome(handle).value

    def as_completed(self, handles: list) -> Iterator:
        """The handles in the order their tasks finish."""
        remaining = list(handles)
        while remaining:
            ready = [h for h in remaining if h.done is not None]
            if not ready:
                self._wait_one()
                continue
            for handle in ready:
                remaining.remove(handle)
                yield handle

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def make_runner(ray_address: str | None, workers: int | None = None, processes: int | None = None):
    """Serial() when ray_address is None (or `Processes(processes)` when processes > 1); "local"
    starts a local Ray with `workers` CPUs, another address joins that cluster."""
    if ray_address is None:
        return Processes(processes) if processes is not None and processes > 1 else Serial()
    return RayRunner(None if ray_address == "local" else ray_address, workers)


@dataclass(frozen=True)
class After:
    """A job argument: the arrays of the earlier job `name` of the same `run_stages` call."""

    name: str


@dataclass(frozen=True)
class Subtask:
    """A job argument: a task that `run_stages` submits only when the job has to be computed (not
    when its stage is loaded); the job's task gets its value in its place. For a stage that gathers
    the values of several tasks (one per attacker, say) so that they run side by side. Its args
    may hold values, handles, shared values and After(name); its seconds count as the stage's."""

    fn: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    cpus: int = 1
    label: str = ""


@dataclass
class Job:
    """One stage of a scenario as a task: fn(*args, **kwargs) returns the stage's arrays (a dict).

    args: values, handles of other tasks (model tasks), shared values, After(name) or Subtask(...);
    inputs: the content hashes the stage's key covers (see `StageCache.get`); cpus: its threads."""

    name: str
    fn: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    inputs: dict | None = None
    cpus: int = 1


def run_stages(runner, stages, jobs: list[Job]) -> dict[str, dict]:
    """The arrays of every job's stage: loaded from `stages` (a StageCache) when finished with the
    same key, else computed by its task; the driver stores each as soon as its task returns (a
    killed run loses only the tasks that were running). Serially the tasks run in the jobs' order;
    on Ray all at once, each when its arguments are ready. A job's After(name) must name an
    earlier job."""
    results: dict[str, dict] = {}
    pending: dict[str, object] = {}
    subtasks: dict[str, list] = {}
    by_name = {job.name: job for job in jobs}
    if len(by_name) != len(jobs):
        raise ValueError("two jobs have the same stage name")

    def resolve(job: Job, arg):
        if isinstance(arg, After):
            if arg.name not in results and arg.name not in pending:
                raise ValueError(f"job {job.name!r} reads {arg.name!r}, which is not an earlier job")
            return pending.get(arg.name, results.get(arg.name))
        if isinstance(arg, Subtask):
            sub_args = [resolve(job, a) for a in arg.args]
            handle = runner.submit(arg.fn, *sub_args, cpus=arg.cpus, label=arg.label or job.name, **arg.kwargs)
            subtasks.setdefault(job.name, []).append(handle)
            return handle
        return arg

    for job in jobs:
        found = stages.lookup(job.name, job.inputs)
        if found is not None:
            results[job.name] = found
            continue
        args = [resolve(job, arg) for arg in job.args]
        pending[job.name] = runner.submit(job.fn, *args, cpus=job.cpus, label=job.name, **job.kwargs)
    names = {id(handle): name for name, handle in pending.items()}
    for handle in runner.as_completed(list(pending.values())):
        name, done = names[id(handle)], runner.outcome(handle)
        seconds = done.seconds + sum(runner.outcome(h).seconds for h in subtasks.get(name, ()))
        stages.log(f"stage {name}: task pid {done.pid} on {done.host}")
        results[name] = stages.store(name, done.value, by_name[name].inputs, seconds=seconds, host=done.host)
    return results
