"""Result files of scenarios: one HDF5 file per run, every setting and its provenance as attributes.

`write_results` writes atomically (evsim.io.atomic_h5): a run that is interrupted never leaves
a half-written file. `provenance()` records what produced the numbers: package versions, the git
revision (and whether the tree had uncommitted changes), Python, machine and time.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from evsim.io import atomic_h5

REPO = Path(__file__).resolve().parent.parent
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
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance() -> dict[str, str]:
    info = {
        "git_revision": git_revision(),
        "python": platform.python_version(),
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
) -> Path:
    """Write `datasets` ({"group/name": array}) and `settings` (root attributes) plus provenance.

    dataset_attributes: {"group/name": {attribute: value}} for what a dataset's axes mean (e.g.
    the model order of a matrix). Values must be str, int, float, bool or 1-D sequences of them.
    """
    path = Path(path)
    extra = dict(dataset_attributes or {})
    unknown = set(extra) - set(datasets)
    if unknown:
        raise ValueError(f"attributes for datasets that are not written: {sorted(unknown)}")
    with atomic_h5(path) as f:
        for key, value in {**provenance(), **settings}.items():
            f.attrs[key] = _attribute(value)
        for name, value in datasets.items():
            dataset = f.create_dataset(name, data=np.asarray(value))
            for key, attr in extra.get(name, {}).items():
                dataset.attrs[key] = _attribute(attr)
    return path


class StageCache:
    """Finished stages of a long scenario, kept beside its result file so a rerun resumes.

    Each stage (a name and a dict of arrays) is written to its own small HDF5 file in
    `<result>.stages/`, atomically, tagged with the scenario's settings; a stage whose file
    exists with the same settings is loaded instead of recomputed. Delete the folder (or change
    a setting) to recompute.
    """

    def __init__(self, result_path, settings: Mapping[str, object]):
        self.folder = Path(str(result_path) + ".stages")
        self.tag = repr(sorted((k, repr(v)) for k, v in settings.items()))

    def _file(self, name: str) -> Path:
        return self.folder / (name.replace("/", "__") + ".h5")

    def get(self, name: str, compute) -> dict[str, np.ndarray]:
        """The arrays of stage `name`: loaded if finished with these settings, else compute() and saved."""
        path = self._file(name)
        if path.exists():
            try:
                with h5py.File(path, "r") as f:
                    if f.attrs.get("settings") == self.tag:
                        arrays: dict[str, np.ndarray] = {}  # names may hold "/": walk the groups
                        f.visititems(lambda name, obj: arrays.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
                        return arrays
            except OSError:
                pass  # a damaged stage file is recomputed
        arrays = {k: np.asarray(v) for k, v in compute().items()}
        with atomic_h5(path) as f:
            f.attrs["settings"] = self.tag
            for k, v in arrays.items():
                f.create_dataset(k, data=v)
        return arrays
