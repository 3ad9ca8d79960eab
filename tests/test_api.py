"""The public API: a narrow top level, lazy submodules, deprecated aliases that warn and return the
new objects, and no import circle among evsim's modules."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import evsim
import evsim.decoding
import evsim.encoding
import evsim.energy
import evsim.engine
import evsim.events
import evsim.metrics
import evsim.quantizer
import evsim.reference

EVSIM = Path(evsim.__file__).resolve().parent
PROMISED = ("encode", "encode_events", "simulate", "Network", "Population", "Dense", "Conv2d", "AvgPool2d", "Identity",
            "IF", "LIF", "InputEvents", "quantize", "load_network", "save_network", "to_nir", "from_nir",
            "reference_simulate")  # fmt: skip
LAZY = ("evsim.metrics", "evsim.energy", "evsim.nir", "evsim.hardware")


def test_top_level_is_narrow_and_keeps_the_promised_names():
    assert len(evsim.__all__) <= 30 and len(set(evsim.__all__)) == len(evsim.__all__)
    assert set(PROMISED) <= set(evsim.__all__)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no name of __all__ is a deprecated alias
        for name in evsim.__all__:
            assert getattr(evsim, name) is not None, name
    assert evsim.to_nir is __import__("evsim.nir").nir.to_nir and evsim.from_nir is evsim.nir.from_nir


def test_import_evsim_loads_no_lazy_submodule_and_no_torch():
    code = ("import sys, evsim; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m in %r)); "
            "evsim.metrics.accuracy, evsim.energy.snn_energy; print('evsim.metrics' in sys.modules)") % (LAZY,)  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(EVSIM.parent), "NUMBA_NUM_THREADS": "1", "PATH": ""})  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:2] == ["[]", "True"]


def _imported_modules(path: Path) -> set[str]:
    """The evsim modules that a file's import statements name (as the content keys read them)."""
    rel = path.relative_to(EVSIM.parent).with_suffix("")
    me = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] == "evsim" and _file(m) is not None}


def _file(module: str) -> Path | None:
    base = EVSIM.parent.joinpath(*module.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def test_init_imports_no_lazy_submodule():
    """`evsim/__init__.py` names the lazy submodules only as strings: a content key that follows
    its import statements does not cover evsim/nir, metrics or energy."""
    named = _imported_modules(EVSIM / "__init__.py")
    assert not {m for m in named if m.startswith(LAZY)}, named


def test_no_import_circle_among_evsim_modules():
    """Every module's imports (the package root aside: `evsim.io` reads its __version__) form no cycle."""
    graph = {}
    for path in EVSIM.rglob("*.py"):
        if path == EVSIM / "__init__.py":
            continue
        rel = path.relative_to(EVSIM.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        graph[name] = {m for m in _imported_modules(path) if m != "evsim" and m != name}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail(f"import circle: {' -> '.join(trail + [node, nxt])}")
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert "evsim.engine.plan" in graph and graph["evsim.engine"] >= {"evsim.engine.float_run", "evsim.engine.fixed_run"}


def _deprecated():
    """(module, old name, the object it must return) for every deprecated alias."""
    top = [(evsim, n, getattr(evsim.metrics, n)) for n in evsim._METRICS]
    top += [(evsim, n, getattr(evsim.energy, n)) for n in evsim._ENERGY]
    top += [
        (evsim, "first_spike_step", evsim.decoding.first_spike_step),
        (evsim, "predictions_over_time", evsim.decoding.predictions_over_time),
        (evsim, "spike_count", evsim.ratesyn_count),
        (evsim, "input_events", evsim.InputEvents.from_dense),
        (evsim, "reference_fixed", evsim.reference_simulate),
        (evsim.encoding, "spike_count", evsim.ratesyn_count),
        (evsim.events, "input_events", evsim.InputEvents.from_dense),
        (evsim.engine, "as_input_events", evsim.engine._as_input_events),
        (evsim.engine, "INPUT", evsim.INPUT),
        (evsim.engine, "INPUT_KINDS", evsim.events.INPUT_KINDS),
    ]
    fixed = importlib.import_module("evsim.fixed")  # the deprecated module: importing it is silent, each name warns
    top += [(fixed, n, getattr(evsim.quantizer, n)) for n in ("quantize", "mantissas", "HEADROOM_BITS", "MAX_STATE_BITS")]
    top += [(fixed, "simulate_fixed", evsim.simulate), (fixed, "reference_fixed", evsim.reference_simulate)]
    return top


@pytest.mark.parametrize("module, name, new", _deprecated(), ids=lambda v: v if isinstance(v, str) else "")
def test_deprecated_alias_warns_and_returns_the_new_object(module, name, new):
    with pytest.warns(DeprecationWarning, match=rf"{module.__name__}\.{name} is deprecated; use "):
        old = getattr(module, name)
    assert old is new or old == new  # == for a bound classmethod (a new bound object per access)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # that each warns is the test above
def test_deprecated_aliases_still_run():
    """Old spellings give the new results: fixed-point runs through reference_fixed and
    simulate_fixed, events through input_events, counts through spike_count."""
    rng = np.random.default_rng(0)
    net = evsim.Network.dense([rng.normal(0.3, 0.3, (5, 6)), rng.normal(0.3, 0.3, (2, 5))], neuron=evsim.LIF(4, 2))
    fixed = evsim.quantize(net)
    x = rng.random((3, 6))
    spikes = evsim.encode(x, 6, "ratesyn_e")
    want = evsim.simulate(fixed, spikes, record_hidden=True)
    with pytest.warns(DeprecationWarning):
        from evsim.fixed import mantissas, reference_fixed, simulate_fixed
    for old in (evsim.reference_fixed, reference_fixed, simulate_fixed):
        res = old(fixed, spikes)
        np.testing.assert_array_equal(res.output_spikes, want.output_spikes)
        np.testing.assert_array_equal(res.sops, want.sops)
    assert all(np.array_equal(a, b) for a, b in zip(mantissas(fixed), evsim.quantizer.mantissas(fixed)))
    events = evsim.input_events(spikes, net.input_shape, "spikes")
    np.testing.assert_array_equal(events.to_dense(), spikes)
    np.testing.assert_array_equal(evsim.spike_count(x, 6), evsim.ratesyn_count(x, 6))
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        evsim.nonsense  # noqa: B018
    assert evsim.hardware.profile().name == "paper_65nm"  # a sub-module, imported on first use
