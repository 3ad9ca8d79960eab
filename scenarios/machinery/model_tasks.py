"""The one model-task runner: every model a job needs trained (or reloaded) by one task.

A zoo is a picklable description of a job's models (its data, epochs, widths) with a method
`get(key, *given)` that trains the model named by `key` into the model folder, or reloads its
finished checkpoint, and returns it; `given` are models of other tasks it starts from (Fig. 5's
SNNs start from their seed's ANN). `model_task` is the task; `submit_models` submits one per key,
each once, and `collect_models` collects the models as they finish (`train_models` does both), so
that on Ray or in local processes they train side by side, and a job can start the tasks that read
some of the models (Fig. 5's attacks read the ANNs) while the others still train. The model folder is resolved by the driver and handed to every task (a Ray
worker need not share the driver's environment). `Zoos` joins the zoos of several datasets.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tqdm import tqdm

from ..setups.models import MODELS_ENV, models_dir


def model_task(zoo, key: tuple, models: str, *given):
    """A task: the model `key` of `zoo`, trained or reloaded in the folder `models`.
    given: the models (of other tasks) it starts from, passed to zoo.get."""
    os.environ[MODELS_ENV] = models
    return zoo.get(key, *given)


@dataclass(frozen=True)
class Zoos:
    """Several zoos as one: the key (name, *rest) is the model `rest` of zoos[name]."""

    zoos: dict

    def get(self, key: tuple, *given):
        return self.zoos[key[0]].get(tuple(key[1:]), *given)


def submit_models(runner, zoo, keys: Iterable[tuple], cpus: int, starts_from: Callable[[tuple], list] | None = None) -> dict:
    """One `model_task` per key of `keys` (each once, in their order) submitted to `runner` with
    `cpus` threads, without waiting; starts_from(key): the keys of the models that model starts
    from (submitted before it: their tasks run first). Returns the handles by key."""
    folder = str(models_dir().resolve())
    zoo_h = runner.share(zoo)
    handles: dict[tuple, object] = {}
    for key in dict.fromkeys(keys):
        given = [handles[k] for k in (starts_from(key) if starts_from else ())]
        handles[key] = runner.submit(model_task, zoo_h, key, folder, *given, cpus=cpus, label=f"model {key}")
    return handles


def collect_models(runner, handles: dict, progress: bool = False) -> dict:
    """The models of `handles` (key -> handle), as their tasks finish; the runner goes on with its
    other tasks meanwhile. progress: a bar over the models."""
    names = {id(h): key for key, h in handles.items()}
    finished = runner.as_completed(list(handles.values()))
    got = {}
    for handle in tqdm(finished, total=len(handles), desc=f"models ({runner.name})") if progress else finished:
        key, done = names[id(handle)], runner.outcome(handle)
        if runner.name != "serial":
            print(f"model {key}: ready after {done.seconds:.0f} s on {done.host}", flush=True)
        got[key] = done.value
    return got


def train_models(
    runner, zoo, keys: Iterable[tuple], cpus: int, starts_from: Callable[[tuple], list] | None = None, progress: bool = False
) -> tuple[dict, dict]:
    """Every model of `keys` trained or reloaded (`submit_models`), waiting for all of them.
    Returns the handles (for the tasks that read a model) and the models (for the stage keys)."""
    handles = submit_models(runner, zoo, keys, cpus, starts_from)
    return handles, collect_models(runner, handles, progress)
