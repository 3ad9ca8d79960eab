"""The package layout rules, read from the source with ast (every file, every folder depth):
evsim knows nothing of torch, bridges or scenarios; bridges knows nothing of scenarios; no import
cycle among the project's modules (imports inside functions count: they only defer the cycle); no
source file over 600 lines; at most 8 modules at the top of scenarios/; a narrow evsim API."""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import evsim

ROOT = Path(evsim.__file__).resolve().parent.parent
PACKAGES = ("evsim", "bridges", "scenarios")
MAX_LINES = 600
MAX_SCENARIO_MODULES = 8
MAX_API = 30
# Done means (issue 19): these stay importable from evsim as they are.
KEPT_NAMES = ("encode", "encode_events", "simulate", "Network", "Population", "Dense", "Conv2d", "AvgPool2d",
              "Identity", "IF", "LIF", "InputEvents", "quantize", "load_network", "save_network", "to_nir",
              "from_nir", "reference_simulate")  # fmt: skip


def sources(*folders: str) -> list[Path]:
    """Every .py file under the folders (recursively), in a stable order."""
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _skip_type_checking(tree: ast.AST):
    """The nodes of `tree` outside `if TYPE_CHECKING:` blocks (imports there never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            test = child.test if isinstance(child, ast.If) else None
            if test is not None and "TYPE_CHECKING" in ast.unparse(test):
                todo.extend(child.orelse)
            else:
                todo.append(child)


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) of every import in the file, at any depth."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in _skip_type_checking(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append((node.lineno, target, [alias.name for alias in node.names]))
    return found


def import_graph() -> dict[str, dict[str, int]]:
    """Project module -> {project module it imports: line of the first such import}. `from a import b`
    is an edge to a.b when that is a module, else to a; `import a.b` is an edge to a.b."""
    paths = {module_name(p): p for p in sources(*PACKAGES)}
    graph = {}
    for name, path in paths.items():
        edges = graph.setdefault(name, {})
        for line, target, names in imports(path):
            hits = [f"{target}.{n}" for n in names if f"{target}.{n}" in paths]
            if len(hits) < len(names) or not names:
                hits.append(target)
            for hit in hits:
                if hit in paths and hit != name:
                    edges.setdefault(hit, line)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def forbidden_imports(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in sources(folder)
        for line, target, _ in imports(path)
        if target.partition(".")[0] in forbidden
    ]


def test_importing_evsim_does_not_import_torch():
    code = "import sys, evsim; evsim.simulate; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_evsim_imports_no_torch_bridges_or_scenarios():
    assert not forbidden_imports("evsim", ("torch", "bridges", "scenarios"))


def test_bridges_imports_no_scenarios():
    assert not forbidden_imports("bridges", ("scenarios",))


def test_no_import_cycle_among_the_project_modules():
    graph = import_graph()
    found = []
    for component in cycles(graph):
        edges = [f"{a} -> {b} (line {graph[a][b]})" for a in component for b in component if b in graph[a]]
        found.append(", ".join(edges))
    assert not found, "import cycles:\n" + "\n".join(found)


def test_no_source_file_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in sources(*PACKAGES, "tests") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_at_most_8_modules_at_the_top_of_scenarios():
    """Modules directly in scenarios/ (sub-packages hold the rest); __init__ and __main__ are the
    package and its command line, not rooms of it."""
    top = sorted(p.name for p in (ROOT / "scenarios").glob("*.py") if not p.name.startswith("__"))
    assert len(top) <= MAX_SCENARIO_MODULES, f"{len(top)} modules at the top of scenarios/: {top}"


def test_evsim_api_is_narrow_and_every_name_resolves():
    names = evsim.__all__
    assert len(names) == len(set(names)), "duplicates in evsim.__all__"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # a deprecated alias is no part of the API
        missing = [name for name in names if not hasattr(evsim, name)]
    assert not missing, f"evsim.__all__ names what evsim lacks: {missing}"
    assert len(names) <= MAX_API, f"evsim.__all__ has {len(names)} names (at most {MAX_API})"


def test_the_names_users_rely_on_stay_importable():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        missing = [name for name in KEPT_NAMES if not hasattr(evsim, name)]
    assert not missing


# ------------------------------------------------------------------ the checks above can fail


def _tree(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)


def test_the_import_graph_sees_cycles_through_functions_and_nested_folders(tmp_path, monkeypatch):
    """A cycle closed by an import inside a function, two folders deep, relative and absolute."""
    _tree(tmp_path, {
        "evsim/__init__.py": "from .engine import simulate\n",
        "evsim/engine/__init__.py": "from .run import simulate\n",
        "evsim/engine/run.py": "def simulate():\n    from ..fixed import quantized\n",
        "evsim/fixed.py": "from evsim.engine import run\n",
        "evsim/nir/deep/writer.py": "import torch\n",
        "bridges/__init__.py": "", "scenarios/__init__.py": "",
        "scenarios/a.py": "", "scenarios/b/__init__.py": "",
    })  # fmt: skip
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    graph = import_graph()
    assert graph["evsim.engine.run"] == {"evsim.fixed": 2} and graph["evsim.fixed"] == {"evsim.engine.run": 1}
    assert cycles(graph) == [["evsim.engine.run", "evsim.fixed"]]
    assert forbidden_imports("evsim", ("torch",)) == ["evsim/nir/deep/writer.py:1 imports torch"]
    with pytest.raises(AssertionError, match="evsim.engine.run -> evsim.fixed"):
        test_no_import_cycle_among_the_project_modules()
