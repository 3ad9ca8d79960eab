"""Result files of scenarios: one HDF5 file per run, every setting and its provenance as attributes.

`write_results` writes atomically (evsim.atomic): a run that is interrupted never leaves
a half-written file. `provenance()` records what produced the numbers: package versions, the git
revision (and whether the tree had uncommitted changes), Python, host, machine and time.

`StageCache` keeps the finished stages of a long scenario, each keyed by content (settings, the
hash of the code that computes it, the hashes of the models, data and earlier stages it reads),
and records per stage where its numbers came from; `write_results(..., stages=cache)` stores that
record in the result file under `/provenance/stages/<stage>`.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from evsim.atomic import atomic_h5, sweep_orphans

from .content import PACKAGES as PROJECT_PACKAGES
from .content import code_hash, files_hash, settings_json

REPO = Path(__file__).resolve().parent.parent.parent
PACKAGES = ("evsim", "numpy", "numba", "h5py", "torch", "torchattacks")


def git_revision() -> str:
    """HEAD's commit hash, with '+dirty' when the work tree has uncommitted changes; 'unknown' outside git."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=REPO, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError) as err:  # no git, or not a checkout: say so in the file
        return f"unknown ({type(err).__name__})"


def provenance() -> dict[str, str]:
    info = {
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "host": platform.node(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": str(os.cpu_count()),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    for name in PACKAGES:
        try:
            info[f"version_{name}"] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[f"version_{name}"] = "not installed"
    return info


def _attribute(value):
    """An HDF5-storable attribute: sequences become arrays, sequences of str variable-length strings."""
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value):
            return np.array(value, dtype=h5py.string_dtype())
        return np.asarray(value)
    return value


def write_results(
    path,
    datasets: Mapping[str, object],
    settings: Mapping[str, object],
    dataset_attributes: Mapping[str, Mapping[str, object]] | None = None,
    stages: StageCache | Mapping[str, Mapping[str, object]] | None = None,
) -> Path:
    """Write `datasets` ({"group/name": array}) and `settings` (root attributes) plus provenance.

    dataset_attributes: {"group/name": {attribute: value}} for what a dataset's axes mean (e.g.
    the model order of a matrix). Values must be str, int, float, bool or 1-D sequences of them.
    stages: the run's StageCache (or its `.provenance`): one group `/provenance/stages/<stage>` per
    stage, its attributes saying which code, revision, packages, host and seconds produced it and
    whether this run took it from the cache.
    """
    path = Path(path)
    extra = dict(dataset_attributes or {})
    unknown = set(extra) - set(datasets)
    if unknown:
        raise ValueError(f"attributes for datasets that are not written: {sorted(unknown)}")
    record = stages.provenance if isinstance(stages, StageCache) else dict(stages or {})
    if any(name.split("/")[0] == "provenance" for name in datasets):
        raise ValueError("dataset names must not start with 'provenance/': that group holds the stages' provenance")
    sweep_orphans(path.parent)  # what an earlier, killed write of a result left behind
    with atomic_h5(path) as f:
        for key, value in {**provenance(), **settings}.items():
            f.attrs[key] = _attribute(value)
        for name, value in datasets.items():
            dataset = f.create_dataset(name, data=np.asarray(value))
            for key, attr in extra.get(name, {}).items():
                dataset.attrs[key] = _attribute(attr)
        for stage, info in record.items():
            group = f.require_group("provenance/stages").create_group(_stage_file_stem(stage))
            group.attrs["stage"] = stage
            for key, value in info.items():
                group.attrs[key] = _attribute(value)
    return path


def _stage_file_stem(name: str) -> str:
    return name.replace("/", "__")


def project_code_hash() -> str:
    """Hash of every module of evsim, bridges and scenarios (the default code of a stage)."""
    return files_hash(p for pkg in PROJECT_PACKAGES for p in (REPO / pkg).rglob("*.py"))


class StaleStageError(RuntimeError):
    """A finished stage was computed with other settings, code or inputs and may not be recomputed."""


class StageCache:
    """Finished stages of a long scenario, kept beside its result file so a rerun resumes.

    Each stage (a name and a dict of arrays) is written to its own small HDF5 file in
    `<result>.stages/`, atomically. Its key is a hash of the scenario's settings, of the source of
    the code that computes it (`code`: project modules, hashed with everything they import; default
    all of evsim, bridges and scenarios) and of its `inputs` (content hashes of the models, data and
    earlier stages it reads, see `scenarios.machinery.content`). A stage file whose key matches is loaded; one
    whose key differs is stale and is recomputed (the message says what changed: settings, code or
    which input), or, with `on_stale="refuse"`, raises StaleStageError naming `--recompute`.
    A damaged stage file is reported and recomputed. `recompute=True` ignores every stage file.

    After a run, `.provenance[name]` holds per stage: key, code_hash, inputs, git_revision, package
    versions, host, seconds, created, and cached (whether this run loaded it); `.keys[name]` is a
    stage's key, to pass as the input of the stages that read it.
    """

    def __init__(
        self,
        result_path,
        settings: Mapping[str, object],
        code: str | Sequence[str] | None = None,
        recompute: bool = False,
        on_stale: str = "recompute",
        log: Callable[[str], None] | None = None,
    ):
        if on_stale not in ("recompute", "refuse"):
            raise ValueError(f"on_stale must be 'recompute' or 'refuse', got {on_stale!r}")
        self.folder = Path(str(result_path) + ".stages")
        self.settings = settings_json(settings)
        self.default_code = code
        self.recompute = recompute
        self.on_stale = on_stale
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.provenance: dict[str, dict[str, object]] = {}
        self.keys: dict[str, str] = {}
        self._code_hashes: dict[tuple, str] = {}
        self._base = provenance()
        for leftover in sweep_orphans(self.folder):
            self.log(f"removed {leftover.name}: the temporary file of an interrupted write")

    def _file(self, name: str) -> Path:
        return self.folder / (_stage_file_stem(name) + ".h5")

    def code_hash(self, code: str | Sequence[str] | None) -> str:
        modules = (code,) if isinstance(code, str) else tuple(code or ())
        if modules not in self._code_hashes:
            self._code_hashes[modules] = code_hash(*modules) if modules else project_code_hash()
        return self._code_hashes[modules]

    def key(self, name: str, inputs: Mapping[str, str] | None = None, code=None) -> str:
        """The content key stage `name` has with these inputs and code."""
        return self._describe(name, inputs, code)["key"]

    def _describe(self, name: str, inputs, code) -> dict[str, str]:
        inputs_text = json.dumps({str(k): str(v) for k, v in (inputs or {}).items()}, sort_keys=True)
        code = self.default_code if code is None else code
        parts = {"stage": name, "settings": self.settings, "code_hash": self.code_hash(code), "inputs": inputs_text}
        parts["key"] = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
        return parts

    def _load(self, path: Path, want: dict[str, str]) -> tuple[dict | None, dict, str]:
        """(arrays or None, stored attributes, why not reused)."""
        try:
            with h5py.File(path, "r") as f:
                attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
                if attrs.get("key") != want["key"]:
                    return None, attrs, self._why_stale(attrs, want)
                arrays: dict[str, np.ndarray] = {}  # names may hold "/": walk the groups
                f.visititems(lambda n, obj: arrays.update({n: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
                return arrays, attrs, ""
        except (OSError, KeyError, ValueError) as err:
            return None, {}, f"its file {path.name} is damaged ({type(err).__name__}: {err})"

    @staticmethod
    def _why_stale(stored: dict, want: dict[str, str]) -> str:
        if "key" not in stored:
            return "its file has no content key (written by an older evsim)"
        changed = [what for what in ("settings", "code_hash") if stored.get(what) != want[what]]
        try:
            old_inputs, new_inputs = json.loads(stored.get("inputs", "{}")), json.loads(want["inputs"])
        except json.JSONDecodeError:
            old_inputs, new_inputs = {}, {"?": "?"}
        changed += [f"input {k}" for k in sorted(set(old_inputs) | set(new_inputs)) if old_inputs.get(k) != new_inputs.get(k)]
        return "it was computed with other " + ", ".join(c.replace("code_hash", "code") for c in changed or ["content"])

    def lookup(self, name: str, inputs: Mapping[str, str] | None = None, code=None) -> dict[str, np.ndarray] | None:
        """The arrays of stage `name` if it finished with this key, else None (a stale or damaged
        file is reported; with on_stale="refuse" a stale one raises StaleStageError)."""
        want = self._describe(name, inputs, code)
        path = self._file(name)
        if not path.exists() or self.recompute:
            return None
        arrays, stored, why = self._load(path, want)
        if arrays is not None:
            self.keys[name] = want["key"]
            keep = ("git_revision", "host", "seconds", "created", "python") + tuple(k for k in stored if k.startswith("version_"))
            self.provenance[name] = {
                "key": want["key"], "code_hash": want["code_hash"], "inputs": want["inputs"],
                **{k: stored[k] for k in keep if k in stored}, "cached": True,
            }  # fmt: skip
            self.log(f"stage {name}: loaded (finished earlier)")
            return arrays
        if self.on_stale == "refuse" and stored:
            raise StaleStageError(
                f"stage {name!r} in {path} is stale: {why}. Rerun with --recompute to compute it again, "
                f"or delete {self.folder}"
            )
        self.log(f"stage {name}: not reused, {why}; recomputing")
        return None

    def store(
        self, name: str, arrays: Mapping[str, object], inputs: Mapping[str, str] | None = None, code=None,
        seconds: float = 0.0, host: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Save the computed arrays of stage `name` (atomically) and record their provenance.
        seconds, host: how long it took and where (a task run elsewhere says so)."""
        want = self._describe(name, inputs, code)
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        info = {
            "key": want["key"], "code_hash": want["code_hash"], "inputs": want["inputs"], "settings": want["settings"],
            **self._base, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(float(seconds), 3),
        }  # fmt: skip
        if host is not None:
            info["host"] = host
        with atomic_h5(self._file(name)) as f:
            for k, v in info.items():
                f.attrs[k] = _attribute(v)
            for k, v in arrays.items():
                f.create_dataset(k, data=v)
        self.keys[name] = want["key"]
        self.provenance[name] = {k: v for k, v in info.items() if k != "settings"} | {"cached": False}
        self.log(f"stage {name}: computed in {info['seconds']:.1f} s")
        return arrays

    def get(self, name: str, compute, inputs: Mapping[str, str] | None = None, code=None) -> dict[str, np.ndarray]:
        """The arrays of stage `name`: loaded if finished with this key, else compute() and saved.

        inputs: {what: content hash} of every model, data set and earlier stage compute() reads
        (use `scenarios.machinery.content.content_hash` and `.keys[stage]`); code: project modules whose
        source (with their imports) computes it, default the cache's.
        """
        arrays = self.lookup(name, inputs, code)
        if arrays is not None:
            return arrays
        started = time.perf_counter()
        computed = compute()
        return self.store(name, computed, inputs, code, seconds=time.perf_counter() - started)
