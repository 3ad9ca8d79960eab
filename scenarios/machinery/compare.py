"""Are two result files the same? Every dataset bit for bit, every setting equal.

    python -m scenarios.machinery.compare A.h5 B.h5

prints one line per dataset (equal, or different and how: dtype, shape, how many values) and per
differing attribute, then a verdict; exit status 0 when the files hold the same numbers, 1 when
they do not, 2 when a file cannot be read. Datasets are compared with `np.array_equal` (NaN equal
to NaN: a NaN written twice is the same result) after checking dtype and shape. Attributes are
compared too, except what records when, where and by which code a file was made: the provenance
(git revision, versions, host, times, seconds, runner) and the `provenance/` group of stage
records, whose content keys hash the code, which a redesign changes by design (for the same
reason a stage file's key, code hash and input hashes are left out: stage files compare too).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

# root attributes that say how, when and where a file was made, not what it holds (the last three:
# a stage file's content key and what it hashed, so that stage files compare too)
PROVENANCE = ("git_revision", "python", "host", "machine", "cpu_count", "created", "seconds", "runner", "key", "code_hash", "inputs")


def _is_provenance(name: str) -> bool:
    return name in PROVENANCE or name.startswith("version_")


def read(path) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """(datasets by name, attributes by "name@attribute" ("@attribute" for the root)), provenance left out."""
    datasets: dict[str, np.ndarray] = {}
    attributes: dict[str, object] = {}
    with h5py.File(path, "r") as f:
        attributes.update({f"@{k}": v for k, v in f.attrs.items() if not _is_provenance(k)})

        def visit(name: str, obj) -> None:
            if name.split("/")[0] == "provenance":
                return
            if isinstance(obj, h5py.Dataset):
                datasets[name] = obj[()]
            attributes.update({f"{name}@{k}": v for k, v in obj.attrs.items()})

        f.visititems(visit)
    return datasets, attributes


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _how(a, b) -> str:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} vs {b.dtype}"
    if a.shape != b.shape:
        return f"shape {a.shape} vs {b.shape}"
    if a.dtype.kind in "fiub":
        equal = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
        gaps = np.abs(a.astype(np.float64) - b.astype(np.float64))[~equal]
        gaps = gaps[np.isfinite(gaps)]
        worst = f", by up to {gaps.max():.3g}" if gaps.size else ""
        return f"{int((~equal).sum())} of {a.size} values differ{worst}"
    return "values differ"


def _text(value) -> str:
    value = np.asarray(value)
    plain = value.tolist()
    return repr(plain.decode() if isinstance(plain, bytes) else plain)


def compare(a_path, b_path, out=None) -> bool:
    """Print the comparison of two result files (to `out`, default stdout); True when their
    datasets and settings are equal."""
    out = sys.stdout if out is None else out
    (a_data, a_attrs), (b_data, b_attrs) = read(a_path), read(b_path)
    same = True
    for name in sorted(set(a_data) | set(b_data)):
        if name not in b_data or name not in a_data:
            print(f"different  {name}: only in {a_path if name in a_data else b_path}", file=out)
            same = False
        elif _same(a_data[name], b_data[name]):
            print(f"equal      {name}", file=out)
        else:
            print(f"different  {name}: {_how(a_data[name], b_data[name])}", file=out)
            same = False
    for name in sorted(set(a_attrs) | set(b_attrs)):
        if name not in a_attrs or name not in b_attrs:
            print(f"different  attribute {name}: only in {a_path if name in a_attrs else b_path}", file=out)
            same = False
        elif not _same(a_attrs[name], b_attrs[name]):
            print(f"different  attribute {name}: {_text(a_attrs[name])} vs {_text(b_attrs[name])}", file=out)
            same = False
    n = len(set(a_data) | set(b_data))
    print(f"{'same' if same else 'NOT the same'}: {n} datasets, {len(set(a_attrs) | set(b_attrs))} attributes compared", file=out)
    return same


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.machinery.compare", description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path, help="a result file")
    parser.add_argument("b", type=Path, help="the result file to compare it with")
    args = parser.parse_args(argv)
    try:
        return 0 if compare(args.a, args.b) else 1
    except OSError as err:
        print(f"cannot read the files: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
