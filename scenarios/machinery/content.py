"""Content keys: what a cached result depends on, reduced to a hash.

A cached stage or model checkpoint is reused only when its key matches, and the key covers
- its settings (any JSON-like value),
- the source code that computes it: `code_hash("scenarios.paper.fig2")` hashes that module and every
  project module (evsim, bridges, scenarios) it imports, directly or not, found by reading the
  import statements (so an edit to evsim/engine/plan.py changes the hash of every module that imports
  evsim, and an edit to scenarios/plot.py changes none of them);
- the content of the models and data it reads: `content_hash(model, images, labels)` hashes
  arrays by dtype, shape and bytes, torch modules by their state_dict, dataclasses (evsim
  networks) field by field.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import numbers
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent.parent
PACKAGES = ("evsim", "bridges", "scenarios")


def module_file(name: str) -> Path | None:
    """The source file of project module `name` ("evsim.engine"), or None outside the project."""
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = REPO.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


@lru_cache(maxsize=None)
def _imports(path: Path, mtime_ns: int, size: int) -> tuple[str, ...]:
    """Project modules that the file at `path` imports (mtime and size key the cache)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            for alias in node.names:  # `from . import fmnist` imports a module
                found.add(f"{mod}.{alias.name}")
    resolved = set()
    for name in found:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a.b too
            if module_file(".".join(parts[:i])) is not None:
                resolved.add(".".join(parts[:i]))
    return tuple(sorted(resolved))


def dependencies(*modules: str | Path) -> list[Path]:
    """Source files of `modules`, of the packages that hold them and of every project module they
    import, transitively.

    A Path stands for itself (a file outside the packages, e.g. in tests), imports not followed."""
    seen: dict[Path, None] = {Path(m): None for m in modules if isinstance(m, Path)}
    todo = [m for m in modules if not isinstance(m, Path)]
    # importing a.b.c runs a/__init__ and a.b too (`scenarios.paper.fig2` runs scenarios/paper/__init__.py)
    todo = [".".join(m.split(".")[:i]) for m in todo for i in range(1, m.count(".") + 1)] + todo
    while todo:
        name = todo.pop()
        path = module_file(name)
        if path is None:
            raise ValueError(f"{name!r} is not a module of this project ({', '.join(PACKAGES)})")
        if path in seen:
            continue
        seen[path] = None
        st = path.stat()
        todo.extend(_imports(path, st.st_mtime_ns, st.st_size))
    return sorted(seen)


def files_hash(paths: Iterable[Path]) -> str:
    """sha256 over the files' paths (relative to the repository) and bytes."""
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        name = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name
        data = path.read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def user_encoder_code() -> list[Path | bytes]:
    """What the registered user encoders (`evsim.register_encoder`) run: the source file of each
    one's function, or where it has none (defined at a prompt) its compiled code. A cache key that
    hashes the code must see them too: a stage encoded by a user's function is stale once that
    function changes, even though its name stays."""
    import inspect

    from evsim.encoder_registry import registered_encoders

    code: list[Path | bytes] = []
    for name, encoder in sorted(registered_encoders().items()):
        fn = getattr(encoder.fn, "__func__", encoder.fn)
        try:
            source = inspect.getsourcefile(fn)
        except TypeError:  # a builtin or a C function: no Python source
            source = None
        if source and Path(source).is_file():
            code.append(Path(source))
        else:
            raw = getattr(fn, "__code__", None)
            code.append(f"{name}\0{encoder.kind}\0".encode() + (raw.co_code + repr(raw.co_consts).encode() if raw else repr(fn).encode()))
    return code


def code_hash(*modules: str | Path) -> str:
    """Hash of the source of `modules`, everything of the project they import, and the code of the
    registered user encoders (`user_encoder_code`; none registered: the project's files alone)."""
    digest = files_hash(dependencies(*modules))
    extra = user_encoder_code()
    if not extra:
        return digest
    h = hashlib.sha256(digest.encode())
    for item in extra:
        h.update(item.read_bytes() if isinstance(item, Path) else item)
    return h.hexdigest()


def _feed(h, obj) -> None:
    if obj is None or isinstance(obj, (bool, str, bytes)):
        h.update(f"{type(obj).__name__}:{len(obj) if isinstance(obj, (str, bytes)) else ''}:".encode())
        h.update(obj if isinstance(obj, bytes) else str(obj).encode())
    elif isinstance(obj, numbers.Number) and not isinstance(obj, np.ndarray):
        h.update(f"num:{float(obj)!r};".encode() if not isinstance(obj, numbers.Integral) else f"int:{int(obj)};".encode())
    elif isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        if arr.dtype == object:
            raise TypeError("cannot hash an object array by content")
        h.update(f"nd:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.view(np.uint8).reshape(-1).data if arr.size else b"")
    elif hasattr(obj, "state_dict") and callable(obj.state_dict):  # a torch module: its parameters and buffers
        h.update(f"module:{type(obj).__name__};".encode())
        _feed(h, {k: v.detach().cpu().numpy() for k, v in obj.state_dict().items()})
    elif type(obj).__module__ == "torch" and hasattr(obj, "numpy"):  # a tensor
        _feed(h, obj.detach().cpu().numpy())
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(f"dc:{type(obj).__qualname__};".encode())
        _feed(h, {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    elif isinstance(obj, Mapping):
        h.update(f"map:{len(obj)};".encode())
        for key in sorted(obj, key=repr):
            _feed(h, key)
            _feed(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(f"seq:{len(obj)};".encode())
        for item in obj:
            _feed(h, item)
    else:
        raise TypeError(f"cannot hash a {type(obj).__name__} by content")


def content_hash(*objects) -> str:
    """sha256 of `objects` by content: equal arrays, models, networks and settings hash equal."""
    h = hashlib.sha256()
    _feed(h, list(objects))
    return h.hexdigest()


def settings_json(settings: Mapping[str, object]) -> str:
    """Canonical text of settings (sorted keys; tuples as lists; NumPy scalars as numbers)."""

    def plain(v):
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, Mapping):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return json.dumps(plain(dict(settings)), sort_keys=True, default=repr)
