"""The life of a job, written once: lock its result file, open its stages, run its tasks, write the result.

Every scenario with stages ends the same way: its finished stages beside the result file, a
runner for its tasks (serial, local processes or Ray), the evaluation, the runner shut down, the
result written with the run's settings, its seconds and runner, a summary and where the file
went. `run_job` is that epilogue; it holds the result file's lock (`scenarios.machinery.lock`)
throughout, so a second run on the same file refuses (exit status 3) instead of mixing stages.

    path = run_job(args, settings, "scenarios.paper.fig2", lambda runner, stages: evaluate(...),
                   started=started, summary=summary)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from .lock import ResultsLocked, results_lock
from .results import StageCache, write_results
from .tasks import make_runner

BUSY = 3  # exit status of a run refused because another one holds its result file


@contextmanager
def holding(result_path, wait: bool = False):
    """`results_lock(result_path)`, or exit with status BUSY and the lock's message when another
    run holds it (for the jobs' command lines: a refusal is an answer, not a crash)."""
    with ExitStack() as stack:
        try:
            stack.enter_context(results_lock(result_path, wait))
        except ResultsLocked as busy:
            print(f"refused: {busy}", file=sys.stderr, flush=True)
            raise SystemExit(BUSY) from None
        yield


def run_job(
    args,
    settings: dict,
    code: str | Sequence[str],
    evaluate: Callable,
    *,
    started: float | None = None,
    stage_settings: Mapping[str, object] | None = None,
    processes: int | None = None,
    summary: Callable[[dict], None] | None = None,
    phase: Callable[[str], None] | None = None,
) -> Path:
    """Run one job and write its result file `args.out`; returns its path.

    args: the parsed command line (out, recompute, ray, workers). settings: the result's
    attributes; with `started` (a perf_counter time) they get the run's "seconds". code: the
    modules whose source keys the stages. evaluate(runner, stages) returns the datasets, or
    (datasets, dataset attributes). stage_settings: what keys the stages, if not all of settings.
    processes: local processes for the tasks (None or 1: serially here; ignored with --ray).
    summary(data): printed after the write, then where the file went and how to draw it.
    phase(what): called with "writing" before the write and "done" after it.
    """
    with holding(args.out):
        stages = StageCache(args.out, settings if stage_settings is None else stage_settings, code=code, recompute=args.recompute)
        runner = make_runner(args.ray, args.workers, processes=processes)
        try:
            got = evaluate(runner, stages)
        finally:
            runner.shutdown()
        data, attributes = got if isinstance(got, tuple) else (got, None)
        if started is not None:
            settings["seconds"] = round(time.perf_counter() - started, 1)
        if phase is not None:
            phase("writing")
        path = write_results(args.out, data, settings | {"runner": runner.name}, attributes, stages=stages)
        if phase is not None:
            phase("done")
    if summary is not None:
        summary(data)
        took = f" in {settings['seconds']:.0f} s" if "seconds" in settings else ""
        print(f"\nwrote {path}{took}; draw the figures with: python -m scenarios plot {path}")
    return path
