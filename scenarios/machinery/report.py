"""A page a person opens: `python -m scenarios report results/NAME.h5 [--out DIR]`.

One self-contained HTML file per result file (results/NAME.html beside it, or DIR/NAME.html): the
figures `python -m scenarios plot` draws, embedded as base64 PNG; the claims table with its
verdicts where the file holds one (a `verdicts/` or `claims/` group of equally long string
datasets, as `repro_audit` writes); every setting (the root attributes); the datasets with their
shapes and, when small, their values; and the provenance of the run and of each stage
(`/provenance/stages/<stage>`: cached or computed, seconds, content keys, inputs, versions).

The page needs nothing else: no scripts, no fonts, no network. Its Content-Security-Policy allows
only inline styles and `data:` images, so a browser refuses (and reports) anything else. It is
written atomically (`evsim.atomic`). A file that is not an evsim result file (not HDF5, an evsim
network file, a stage file, foreign HDF5, a truncated or damaged file) is refused with
`ResultFileError`, naming what it is; a result file without figures or claims gets a page that says so.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import re
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

from evsim.atomic import write_bytes

from .compare import PROVENANCE

# root attributes every file of `scenarios.machinery.results.write_results` has
RESULT_ATTRIBUTES = ("scenario", "git_revision", "created")
# where the manual discusses each scenario's numbers and the paper's claims
DOC_PAGES = {
    "fig2": "fig2.md", "fig3": "fig3-fig4.md", "fig4": "fig3-fig4.md", "fig5": "fig5.md", "quantization": "quantization.md",
    "repro_audit": "repro-audit.md", "train_fmnist": "train-fmnist.md", "bench_engine": "bench-engine.md",
    "bench_resnet": "bench-resnet.md", "bench_training": "bench-training.md", "interop": "interop.md", "hardware": "hardware.md",
}  # fmt: skip
CLAIM_GROUPS = ("verdicts", "claims")
# the claims table's columns, in this order when present (others follow, alphabetically)
CLAIM_COLUMNS = ("claim", "hypothesis", "paper", "ours", "verdict", "evidence", "why")
SMALL = 12  # arrays up to this many values are shown whole


class ResultFileError(ValueError):
    """A file that is not an evsim result file, or a damaged one."""


def open_result(path) -> h5py.File:
    """Open the result file `path` for reading, or raise FileNotFoundError / ResultFileError saying
    what the file is instead (not HDF5, a network file, a stage file, foreign HDF5)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no result file at {path}")
    if path.is_dir():
        raise ResultFileError(f"{path} is a folder, not a result file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ResultFileError(f"{path} is not an evsim result file: not a readable HDF5 file ({err})") from None
    attrs = f.attrs
    try:
        if _text(attrs.get("format", "")) == "evsim.network":
            raise ResultFileError(f"{path} is an evsim network file, not a result file (read it with evsim.load_network)")
        if "scenario" not in attrs and "key" in attrs and "code_hash" in attrs:
            raise ResultFileError(
                f"{path} is a stage file of a run, not a result file: report the result file whose .stages folder holds it"
            )
        missing = [a for a in RESULT_ATTRIBUTES if a not in attrs]
        if missing:
            raise ResultFileError(
                f"{path} is HDF5 but not an evsim result file: it lacks the root attributes {', '.join(missing)} "
                "that every scenario's result file has"
            )
    except BaseException:
        f.close()
        raise
    return f


def _text(value) -> str:
    """An attribute or dataset value as a person reads it: strings decoded, short arrays listed,
    floats to 10 significant digits (float32 to 7; `scenarios.machinery.compare` compares bits)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _text(value[()])
        flat = value.ravel()
        if flat.size > SMALL:
            return _summary(value)
        return "[" + ", ".join(_text(v) for v in flat) + "]" if value.ndim == 1 else f"{_text(flat)} (shape {value.shape})"
    if isinstance(value, np.floating):
        return f"{float(value):.7g}" if value.dtype.itemsize < 8 else f"{float(value):.10g}"
    if isinstance(value, np.generic):
        return _text(value.item())
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _summary(array: np.ndarray) -> str:
    if array.dtype.kind in "fiub" and array.size:
        finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
        if finite.size:
            return f"min {_text(finite.min())}, mean {float(finite.mean()):.6g}, max {_text(finite.max())}"
        return "no finite values"
    return f"{array.size} values"


def _esc(value) -> str:
    return html.escape(_text(value), quote=True)


# ------------------------------------------------------------------ what the page shows


class _Named:
    """An open result file whose missing datasets raise a KeyError that names them (h5py's does not)."""

    def __init__(self, f: h5py.File):
        self._f = f

    def __getitem__(self, name: str):
        if name not in self._f:
            raise KeyError(f"dataset {name}")
        return self._f[name]

    def __contains__(self, name: str) -> bool:
        return name in self._f

    def __getattr__(self, name: str):
        return getattr(self._f, name)


def draw_figures(f: h5py.File, scenario: str) -> tuple[list[tuple[str, bytes]], str]:
    """The scenario's figures as (name, PNG bytes), drawn by `scenarios.plot` into a temporary folder,
    and a note when there are none or some could not be drawn ("" otherwise)."""
    from .. import plot  # matplotlib only when figures are drawn

    if scenario not in plot.PLOTTERS:
        return [], f"No figures are drawn for scenario {scenario!r} (drawable: {', '.join(plot.PLOTTERS)})."
    with tempfile.TemporaryDirectory() as tmp:
        note = ""
        try:
            pngs = plot.PLOTTERS[scenario](_Named(f), Path(tmp))
        except (KeyError, ValueError, TypeError, IndexError) as err:  # a file without the documented layout
            plot.plt.close("all")
            what = f"lacks {err}" if isinstance(err, KeyError) else f"does not fit the layout ({type(err).__name__}: {err})"
            note = f"Not every figure could be drawn: the file {what} (written by an older or interrupted run?)."
            # what was drawn before the failure, in the order it was written
            pngs = sorted(Path(tmp).glob("*.png"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        figures = [(p.stem, p.read_bytes()) for p in pngs]
    if not figures and not note:
        note = "The file holds none of the parts this scenario's figures are drawn from."
    return figures, note


def read_claims(f: h5py.File) -> tuple[list[str], list[list[str]], str]:
    """(columns, rows, note) of the file's claims table (`verdicts/` or `claims/`), empty when it has none."""
    for name in CLAIM_GROUPS:
        group = f.get(name)
        if not isinstance(group, h5py.Group):
            continue
        columns = {k: v[()] for k, v in group.items() if isinstance(v, h5py.Dataset) and v.ndim == 1 and v.size <= 10_000}
        lengths = {len(v) for v in columns.values()}
        if not columns or len(lengths) != 1:
            return [], [], f"The file's {name}/ group is not a table (its columns have lengths {sorted(lengths)})."
        order = [c for c in CLAIM_COLUMNS if c in columns] + sorted(c for c in columns if c not in CLAIM_COLUMNS)
        rows = [[_text(columns[c][i]) for c in order] for i in range(lengths.pop())]
        return order, rows, ""
    return [], [], ""


def verdict_class(text: str) -> str:
    """'yes', 'no' or 'partly': how a verdict reads, for its colour."""
    low = text.lower()
    counted = re.search(r"\b(\d+) of (\d+)\b", low)
    if counted:
        n, m = int(counted.group(1)), int(counted.group(2))
        return "no" if n == 0 else ("yes" if n == m else "partly")
    if low.startswith(("rejected", "claim fails", "fails", "not met", "does not hold")):
        return "no"
    if low.startswith(("supported", "holds", "claim holds", "met")):
        return "partly" if ";" in low or " for " in low else "yes"
    return "partly"


def read_datasets(f: h5py.File) -> list[tuple[str, str, str, str, dict]]:
    """(name, dtype, shape, value or summary, attributes) of every dataset outside provenance/."""
    found = []

    def visit(name: str, obj) -> None:
        if name.split("/")[0] == "provenance" or not isinstance(obj, h5py.Dataset):
            return
        if obj.size <= 1_000_000:  # 8 MB of float64 at most: read whole, summarised when long
            shown = _text(obj[()])
        else:
            shown = _summary(obj[tuple(slice(0, 100) for _ in obj.shape)]) + " (of the first 100 along each axis)"
        dtype = "string" if h5py.check_string_dtype(obj.dtype) else str(obj.dtype)
        found.append((name, dtype, "scalar" if obj.shape == () else "x".join(map(str, obj.shape)), shown, dict(obj.attrs)))

    f.visititems(visit)
    return found


def read_stages(f: h5py.File) -> list[dict[str, object]]:
    """The attributes of each `/provenance/stages/<stage>` group, by name."""
    group = f.get("provenance/stages")
    if not isinstance(group, h5py.Group):
        return []
    return [{"group": name, **dict(group[name].attrs)} for name in group]


# ------------------------------------------------------------------ HTML

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
.meta { color: #555; } nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: .6em 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; vertical-align: top; text-align: left; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, monospace; font-size: .9em; } td code { white-space: nowrap; }
.wide { overflow-x: auto; } td { overflow-wrap: break-word; } .nw { white-space: nowrap; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; } .note { background: #fff8e0; border-left: 4px solid #e0b000; padding: .4em .8em; }
td.yes { background: #e3f4e3; } td.no { background: #fbe3e3; } td.partly { background: #fff4d6; } td.cached { background: #e6f0fb; }
details { margin: .3em 0; } summary { cursor: pointer; }
"""
# only inline styles and data: images; anything else is refused by the browser (and reported)
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _table(header: list[str], rows: list[list[str]], classes: list[list[str]] | None = None) -> str:
    """Cells are HTML already (escaped by the caller)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(
            f"<td class=\"{classes[i][j]}\">{cell}</td>" if classes and classes[i][j] else f"<td>{cell}</td>"
            for j, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the IHDR chunk


def _figures_html(figures: list[tuple[str, bytes]], note: str) -> str:
    parts = [f"<p class=\"note\">{html.escape(note)}</p>"] if note else []
    for name, png in figures:
        width, height = _png_size(png)
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<figure id=\"fig-{html.escape(name)}\"><img src=\"data:image/png;base64,{data}\" alt=\"{html.escape(name)}\" "
            f"width=\"{width}\" height=\"{height}\"><figcaption>{html.escape(name)}.png</figcaption></figure>"
        )
    return "\n".join(parts)


def _claims_html(columns: list[str], rows: list[list[str]], note: str, scenario: str) -> str:
    if note:
        return f"<p class=\"note\">{html.escape(note)}</p>"
    if not rows:
        page = DOC_PAGES.get(scenario)
        where = f" The manual's page docs/scenarios/{page} sets this scenario's numbers beside the paper's claims." if page else ""
        return f"<p class=\"note\">This file holds no claims table (no verdicts/ or claims/ group).{html.escape(where)}</p>"
    k = columns.index("verdict") if "verdict" in columns else -1
    classes = [[verdict_class(r[k]) if j == k else "" for j in range(len(r))] for r in rows]
    return _table(columns, [[html.escape(c) for c in r] for r in rows], classes)


def _attributes_rows(attrs: dict) -> list[list[str]]:
    return [[f"<code>{html.escape(k)}</code>", _esc(v)] for k, v in sorted(attrs.items())]


def _short(key, n: int = 12) -> str:
    """A hash cut to its first n characters (a '+dirty' mark kept), the whole as the title."""
    key = _text(key)
    head, mark = (key[:-6], "+dirty") if key.endswith("+dirty") else (key, "")
    if len(head) <= n:
        return f"<code>{html.escape(key)}</code>"
    return f"<code title=\"{html.escape(key)}\">{html.escape(head[:n] + mark)}</code>"


def _stages_html(stages: list[dict[str, object]], run: dict) -> str:
    """The stage table (versions only where they differ from the run's) and every stage's attributes."""
    if not stages:
        return "<p class=\"note\">This file holds no stage records (no provenance/stages group): its run kept no stages.</p>"
    rows, classes, details = [], [], []
    total = sum(float(s.get("seconds", 0.0)) for s in stages)
    cached = sum(bool(s.get("cached", False)) for s in stages)
    for s in stages:
        name = _text(s.get("stage", s["group"]))
        try:
            inputs = json.loads(_text(s.get("inputs", "{}")))
        except json.JSONDecodeError:
            inputs = {"(unparsed)": _text(s.get("inputs"))}
        versions = [f"{k[len('version_'):]} {_text(v)}" for k, v in sorted(s.items())
                    if k.startswith("version_") and _text(v) != _text(run.get(k, ""))]  # fmt: skip
        is_cached = bool(s.get("cached", False))
        rows.append([
            html.escape(name), "loaded from cache" if is_cached else "computed", _esc(s.get("seconds", "")),
            _short(s.get("key", "")), _short(s.get("code_hash", "")),
            "<br>".join(f"<span class=\"nw\">{html.escape(str(k))}: {_short(str(v))}</span>" for k, v in inputs.items()) or "none",
            _short(s.get("git_revision", "")), _esc(s.get("host", "")), _esc(s.get("created", "")),
            html.escape(", ".join(versions)) or "as the run",
        ])  # fmt: skip
        classes.append(["", "cached" if is_cached else "", "num", "", "", "", "", "", "", ""])
        details.append(f"<details><summary>{html.escape(name)}: every attribute</summary>"
                       f"{_table(['attribute', 'value'], _attributes_rows({k: v for k, v in s.items() if k != 'group'}))}</details>")  # fmt: skip
    head = ["stage", "this run", "seconds", "content key", "code hash", "inputs (content keys)", "git revision", "host",
            "created", "versions"]  # fmt: skip
    summary = (f"<p>{len(stages)} stages, {cached} loaded from the cache, {len(stages) - cached} computed; "
               f"{total:.1f} s of computing recorded (a loaded stage keeps the seconds it first took). "
               "Hover a hash for all of it; every attribute of a stage is in its fold below the table.</p>")  # fmt: skip
    return summary + f"<div class=\"wide\">{_table(head, rows, classes)}</div>" + "\n".join(details)


def build_page(path) -> tuple[str, dict[str, int]]:
    """The HTML page of the result file `path` and what it shows ({"figures", "claims", "stages",
    "datasets"}: counts). Raises FileNotFoundError or ResultFileError."""
    path = Path(path)
    with open_result(path) as f:
        try:
            attrs = dict(f.attrs)
            scenario = _text(attrs["scenario"])
            figures, figure_note = draw_figures(f, scenario)
            columns, rows, claims_note = read_claims(f)
            datasets = read_datasets(f)
            stages = read_stages(f)
        except (OSError, RuntimeError) as err:  # HDF5 that opens but cannot be read through
            raise ResultFileError(f"{path} is a damaged result file: {err}") from None
    from .. import SCENARIOS

    description = SCENARIOS.get(scenario, ("", "a scenario this checkout does not know"))[1]
    settings = {k: v for k, v in attrs.items() if k not in PROVENANCE and not k.startswith("version_")}
    run = {k: v for k, v in attrs.items() if k not in settings}
    size = path.stat().st_size
    meta = (f"{html.escape(path.name)} ({size / 1e6:.2f} MB), created {_esc(attrs['created'])} at git revision "
            f"<code>{_esc(attrs['git_revision'])}</code>" + (f", {_esc(attrs['seconds'])} s" if "seconds" in attrs else "")
            + (f", mode {_esc(attrs['mode'])}" if "mode" in attrs else ""))  # fmt: skip
    dataset_rows = [
        [f"<code>{html.escape(n)}</code>", html.escape(d), html.escape(s), html.escape(v),
         "<br>".join(f"{html.escape(k)}: {_esc(a)}" for k, a in sorted(at.items()))]
        for n, d, s, v, at in datasets
    ]  # fmt: skip
    sections = [
        ("figures", f"Figures ({len(figures)})", _figures_html(figures, figure_note)),
        ("claims", "Claims and verdicts", _claims_html(columns, rows, claims_note, scenario)),
        ("settings", f"Settings ({len(settings)})", _table(["setting", "value"], _attributes_rows(settings))),
        ("provenance", "Provenance", "<h3>The run</h3>" + _table(["attribute", "value"], _attributes_rows(run))
         + "<h3>Each stage</h3>" + _stages_html(stages, run)),
        ("datasets", f"Datasets ({len(datasets)})", "<div class=\"wide\">" + _table(["dataset", "dtype", "shape", "value", "attributes"], dataset_rows)
         + "</div>" if datasets else "<p class=\"note\">The file holds no datasets.</p>"),
    ]  # fmt: skip
    nav = "".join(f"<a href=\"#{k}\">{html.escape(title)}</a>" for k, title, _ in sections)
    body = "\n".join(f"<section id=\"{k}\"><h2>{html.escape(title)}</h2>\n{content}</section>" for k, title, content in sections)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>evsim {html.escape(scenario)}: {html.escape(path.name)}</title>
<style>{CSS}</style></head>
<body>
<h1>evsim result: {html.escape(scenario)}</h1>
<p>{html.escape(description)}</p>
<p class="meta">{meta}. Page written by <code>python -m scenarios report</code>.</p>
<nav>{nav}</nav>
{body}
</body></html>
"""
    return page, {"figures": len(figures), "claims": len(rows), "stages": len(stages), "datasets": len(datasets)}


def write_report(path, out_dir=None) -> Path:
    """Write the page of the result file `path` as out_dir/NAME.html (default beside the file),
    atomically; returns the page's path."""
    path = Path(path)
    page, _ = build_page(path)
    target = (Path(out_dir) if out_dir is not None else path.parent) / (path.stem + ".html")
    return write_bytes(target, page.encode("utf-8"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m scenarios report",
        description="Write one self-contained HTML page per result file: figures, claims, settings, provenance.",
    )
    parser.add_argument("files", nargs="+", type=Path, help="result files, e.g. results/fig2.h5")
    parser.add_argument("--out", type=Path, default=None, help="folder for the pages (default: beside each file)")
    args = parser.parse_args(argv)
    stems = [p.stem for p in args.files]
    if args.out is not None and len(set(stems)) < len(stems):
        parser.error("two files share a name: their pages would overwrite each other in --out")
    refused = 0
    for file in args.files:
        try:
            target = write_report(file, args.out)
        except (FileNotFoundError, ResultFileError) as err:
            print(f"refused: {err}", file=sys.stderr)
            refused += 1
            continue
        print(f"wrote {target}")
    if refused:
        raise SystemExit(2)


if __name__ == "__main__":
    main()
