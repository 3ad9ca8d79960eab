"""Hostile input to evsim: every kind of bad input to its public API and every kind of bad network
file gets a clear error that names the problem, and leaves no file (or half-written file) behind.
Dataset files, checkpoints and command lines: `test_hostile_inputs_bridges.py`.

Each case is one parametrised test: (id, what is done, the exception, a regex its message must
match). File cases build their bad file in tmp_path and check afterwards that nothing new appeared
besides what the case itself planted. `test_hostile_input_kinds_are_counted` checks the cases
against the code: each is refused by one of evsim's own checks (a `raise` in evsim, not a numpy or
h5py error passing through), and every check of every validating function the cases reach is
reached by some case, so a check added without its case fails here. It prints the count the
README's Reliability section reports. No torch here: this file runs in `pytest --torch-free`.
"""

from __future__ import annotations

import ast
import tempfile
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import h5py
import numpy as np
import pytest

import evsim
from evsim.network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population

NET = Network.dense([np.full((3, 4), 0.5), np.full((2, 3), 0.5)], neuron=evsim.IF())
GOOD_X = np.full((2, 4), 0.5)
SPIKES = evsim.encode(GOOD_X, 5, "ratesyn_e")
POP = Population((4,), evsim.IF())


def pop(*shape):
    return Population(shape, evsim.IF())


def net(shape, populations, projections):
    return lambda: Network(shape, populations, projections)


# ------------------------------------------------------------------------------ encode and simulate

API = [
    ("encode x NaN", lambda: evsim.encode([0.1, np.nan], 5, "poisson"), ValueError, r"NaN"),
    ("encode x above 1", lambda: evsim.encode([0.5, 255.0], 5, "ratesyn_s"), ValueError, r"\[0, 1\].*255"),
    ("encode x negative", lambda: evsim.encode([-0.1, 0.5], 5, "ratesyn_e"), ValueError, r"\[0, 1\]"),
    ("encode x inf", lambda: evsim.encode([np.inf], 5, "ttfs"), ValueError, r"\[0, 1\]|inf"),
    ("encode x empty", lambda: evsim.encode(np.zeros((0, 4)), 5, "ttfs"), ValueError, r"empty"),
    ("encode x strings", lambda: evsim.encode(["a", "b"], 5, "ttfs"), ValueError, r"real-valued"),
    ("encode x complex", lambda: evsim.encode(np.array([0.5 + 1j]), 5, "current"), ValueError, r"real-valued"),
    ("encode T zero", lambda: evsim.encode(GOOD_X, 0, "ttfs"), ValueError, r"T must be >= 1"),
    ("encode T negative", lambda: evsim.encode(GOOD_X, -3, "ttfs"), ValueError, r"T must be >= 1"),
    ("encode T fractional", lambda: evsim.encode(GOOD_X, 2.5, "ttfs"), ValueError, r"T must be an integer"),
    ("encode T string", lambda: evsim.encode(GOOD_X, "10", "ttfs"), ValueError, r"T must be an integer"),
    ("encode unknown method", lambda: evsim.encode(GOOD_X, 5, "rate"), ValueError, r"unknown encoding method 'rate'"),
    ("encode fused empty", lambda: evsim.encode(GOOD_X, 5, []), ValueError, r"at least one method"),
    ("encode fused unknown", lambda: evsim.encode(GOOD_X, 5, ["ttfs", "bogus"]), ValueError, r"unknown encoding method 'bogus'"),
    ("encode channel axis", lambda: evsim.encode(GOOD_X, 5, ["ttfs", "current"], channel_axis=7), ValueError, r"channel_axis 7"),
    ("simulate not a network", lambda: evsim.simulate("net.h5", SPIKES), ValueError, r"net must be an evsim.Network"),
    ("simulate inputs 1-D", lambda: evsim.simulate(NET, np.ones(4)), ValueError, r"shape \(T, B, \.\.\.\)"),
    ("simulate wrong width", lambda: evsim.simulate(NET, np.ones((5, 2, 7))), ValueError, r"7|input shape|\(4,\)"),
    ("simulate inputs NaN", lambda: evsim.simulate(NET, np.full((5, 2, 4), np.nan)), ValueError, r"NaN or inf"),
    ("simulate inputs inf", lambda: evsim.simulate(NET, np.full((5, 2, 4), np.inf)), ValueError, r"NaN or inf"),
    ("simulate zero steps", lambda: evsim.simulate(NET, np.ones((0, 2, 4))), ValueError, r"T >= 1"),
    ("simulate zero samples", lambda: evsim.simulate(NET, np.ones((5, 0, 4))), ValueError, r"B >= 1"),
    ("simulate string inputs", lambda: evsim.simulate(NET, np.full((5, 2, 4), "1")), ValueError, r"real numbers"),
    ("simulate unknown decoder", lambda: evsim.simulate(NET, SPIKES, decoder="max"), ValueError, r"unknown decoder 'max'"),
    ("simulate early exit rate", lambda: evsim.simulate(NET, SPIKES, decoder="rate", early_exit=True), ValueError, r"early_exit needs decoder='ttfs'"),
    ("simulate integer dtype", lambda: evsim.simulate(NET, SPIKES, dtype=np.int32), ValueError, r"dtype must be float32 or float64"),
    ("simulate unknown input kind", lambda: evsim.simulate(NET, SPIKES, input_kind="events"), ValueError, r"input_kind must be one of"),
    ("simulate spikes not binary", lambda: evsim.simulate(NET, np.full((5, 2, 4), 0.5), input_kind="spikes"), ValueError, r"only 0 and 1"),
    # ---------------------------------------------------------------- neurons, populations, projections
    ("IF theta zero", lambda: evsim.IF(theta=0.0), ValueError, r"theta must be finite and > 0"),
    ("IF theta NaN", lambda: evsim.IF(theta=float("nan")), ValueError, r"theta must be finite"),
    ("IF unknown reset", lambda: evsim.IF(reset="soft"), ValueError, r"reset must be one of"),
    ("LIF tau below one", lambda: evsim.LIF(tau_m=0.5, tau_s=10), ValueError, r"tau_m must be >= 1 step"),
    ("LIF tau string", lambda: evsim.LIF(tau_m=10, tau_s="10"), ValueError, r"tau_s must be a real number"),
    ("Population empty shape", lambda: pop(0), ValueError, r"positive sizes"),
    ("Population negative size", lambda: pop(3, -1, 2), ValueError, r"positive sizes"),
    ("Population bad neuron", lambda: Population((3,), "lif"), ValueError, r"neuron must be evsim.IF or evsim.LIF"),
    ("Population bias length", lambda: Population((3,), evsim.IF(), bias=np.zeros(4)), ValueError, r"bias has 4 values for a population of 3"),
    ("Population bias NaN", lambda: Population((2,), evsim.IF(), bias=[0.0, np.nan]), ValueError, r"non-finite"),
    ("Dense weight 1-D", lambda: Dense(INPUT, 0, np.ones(3)), ValueError, r"dense weight must have 2 dimension"),
    ("Dense weight NaN", lambda: Dense(INPUT, 0, [[np.nan]]), ValueError, r"non-finite"),
    ("Dense weight inf", lambda: Dense(INPUT, 0, [[np.inf, 1.0]]), ValueError, r"non-finite"),
    ("Conv2d weight 3-D", lambda: Conv2d(INPUT, 0, np.ones((2, 2, 2))), ValueError, r"4 dimension"),
    ("Conv2d stride zero", lambda: Conv2d(INPUT, 0, np.ones((1, 1, 2, 2)), stride=0), ValueError, r"stride must be >= 1"),
    ("Conv2d stride text", lambda: Conv2d(INPUT, 0, np.ones((1, 1, 2, 2)), stride="2"), ValueError, r"int or a pair of ints"),
    ("Conv2d padding negative", lambda: Conv2d(INPUT, 0, np.ones((1, 1, 2, 2)), padding=-1), ValueError, r"padding must be >= 0"),
    ("AvgPool2d kernel zero", lambda: AvgPool2d(INPUT, 0, 0), ValueError, r"kernel_size must be >= 1"),
    ("Identity scale NaN", lambda: Identity(INPUT, 0, float("nan")), ValueError, r"scale must be finite"),
    ("Identity scale text", lambda: Identity(INPUT, 0, "1"), ValueError, r"scale must be a real number"),
    ("Network no populations", net((4,), [], []), ValueError, r"at least one population"),
    ("Network bad input shape", net((0,), [POP], [Dense(INPUT, 0, np.ones((4, 4)))]), ValueError, r"input_shape must be"),
    ("Network not a population", net((4,), ["pop"], []), ValueError, r"populations must be evsim.Population"),
    ("Network not a projection", net((4,), [POP], ["dense"]), ValueError, r"projection 0 has unknown type str"),
    ("Network missing target", net((4,), [POP], [Dense(INPUT, 3, np.ones((4, 4)))]), ValueError, r"targets population 3; the network has 1"),
    ("Network backward projection", net((4,), [POP, POP], [Dense(INPUT, 0, np.ones((4, 4))), Dense(1, 1, np.ones((4, 4)))]), ValueError, r"sources must be the input \(-1\) or an earlier population"),
    ("Network unfed population", net((4,), [POP, POP], [Dense(INPUT, 0, np.ones((4, 4)))]), ValueError, r"population\(s\) \[1\] receive no projection"),
    ("Network dense misfit", net((4,), [POP], [Dense(INPUT, 0, np.ones((4, 5)))]), ValueError, r"takes 5 inputs"),
    ("Network conv kernel too big", net((1, 3, 3), [pop(1, 1, 1)], [Conv2d(INPUT, 0, np.ones((1, 1, 5, 5)))]), ValueError, r"kernel 5x5 is larger than the padded source"),
    ("Network conv channels", net((2, 4, 4), [pop(1, 3, 3)], [Conv2d(INPUT, 0, np.ones((1, 3, 2, 2)))]), ValueError, r"takes 3 input channels, the source .* has 2"),
    ("Network conv target shape", net((1, 4, 4), [pop(1, 2, 2)], [Conv2d(INPUT, 0, np.ones((1, 1, 2, 2)))]), ValueError, r"maps the source shape .* to \(1, 3, 3\)"),
    ("Network pool window too big", net((1, 2, 2), [pop(1, 1, 1)], [AvgPool2d(INPUT, 0, 3)]), ValueError, r"pooling window 3x3 is larger"),
    ("Network pool flat source", net((4,), [pop(1, 1, 1)], [AvgPool2d(INPUT, 0, 2)]), ValueError, r"needs a \(C, H, W\) source"),
    ("Network identity sizes", net((4,), [pop(3)], [Identity(INPUT, 0)]), ValueError, r"maps the source shape \(4,\)"),
    ("Network metadata value", lambda: Network((4,), [POP], [Dense(INPUT, 0, np.eye(4))], {"seed": [1, 2]}), ValueError, r"metadata must map str to"),
    ("Network.dense no weights", lambda: Network.dense([], neuron=evsim.IF()), ValueError, r"at least one weight matrix"),
    ("Network.dense 3-D weight", lambda: Network.dense([np.ones((2, 2, 2))], neuron=evsim.IF()), ValueError, r"must be 2-D"),
    ("Network.dense chain misfit", lambda: Network.dense([np.ones((3, 4)), np.ones((2, 5))], neuron=evsim.IF()), ValueError, r"takes 5 inputs|5"),
    ("Network.dense biases count", lambda: Network.dense([np.ones((3, 4))], neuron=evsim.IF(), biases=[None, None]), ValueError, r"got 2 biases for 1 weight"),
]


# Cases that once failed with an unclear error (TypeError, a silent truncation) and were marked
# xfail until evsim gave the message; LEAD holds any new ones.
API += [  # once marked xfail for the lead: each now gets its clear error
    ("encode seed text", lambda: evsim.encode(GOOD_X, 5, "poisson", seed="abc"), ValueError, r"seed must be"),
    ("encode method None", lambda: evsim.encode(GOOD_X, 5, None), ValueError, r"unknown encoding method None"),
    ("simulate early_exit text", lambda: evsim.simulate(NET, SPIKES, decoder="ttfs", early_exit="yes"), ValueError, r"early_exit must be True or False"),
    ("simulate record_hidden text", lambda: evsim.simulate(NET, SPIKES, record_hidden="no"), ValueError, r"record_hidden must be True or False"),
    ("simulate profile text", lambda: evsim.simulate(NET, SPIKES, profile="yes"), ValueError, r"profile must be True or False"),
    ("simulate profile fixed point", lambda: evsim.simulate(evsim.quantize(NET, 8, 16, 12), SPIKES, profile=True), ValueError,
     r"profile=True times the float run"),
    ("Population fractional size", lambda: pop(2.5), ValueError, r"shape must be a non-empty tuple of positive (sizes|integers)"),
    ("Population shape text", lambda: Population("abc", evsim.IF()), ValueError, r"shape must be a non-empty tuple of positive sizes"),
    ("Population bias text", lambda: Population((3,), evsim.IF(), bias="abc"), ValueError, r"bias must be"),
    ("Dense weight text", lambda: Dense(INPUT, 0, [["a"]]), ValueError, r"dense weight must be"),
    ("Dense source text", net((4,), [POP], [Dense("input", 0, np.eye(4))]), ValueError, r"projection 0 source must be an int"),
    ("Dense target float", net((4,), [POP], [Dense(INPUT, 0.0, np.eye(4))]), ValueError, r"projection 0 target must be an int"),
    ("Network populations not a list", net((4,), POP, [Dense(INPUT, 0, np.eye(4))]), ValueError, r"populations must be a sequence of evsim.Population"),
    ("Network input shape None", net(None, [POP], [Dense(INPUT, 0, np.eye(4))]), ValueError, r"input_shape must be a non-empty tuple"),
    ("save_network onto a folder", lambda: evsim.save_network(NET, Path(tempfile.mkdtemp())), ValueError, r"is a folder"),
]  # fmt: skip
API += [  # checks that had no case until test_hostile_input_kinds_are_counted asked for one
    ("simulate dtype not a dtype", lambda: evsim.simulate(NET, SPIKES, dtype="fast"), ValueError, r"dtype must be float32 or float64, got 'fast'"),
    ("simulate input kind list empty", lambda: evsim.simulate(NET, SPIKES, input_kind=[]), ValueError, r"non-empty list of kinds"),
    ("simulate input kind block auto", lambda: evsim.simulate(NET, SPIKES, input_kind=["spikes", "auto"]), ValueError, r"blocks must be 'current', 'spikes' or encoder names, got 'auto'"),
    ("simulate input kind blocks misfit", lambda: evsim.simulate(NET, SPIKES, input_kind=["spikes"] * 3), ValueError, r"3 blocks but the input has 4 channels"),
    ("Conv2d stride float", lambda: Conv2d(INPUT, 0, np.ones((1, 1, 2, 2)), stride=1.5), ValueError, r"stride must be an int or a pair of ints, got 1.5"),
    ("save_network not a network", lambda: evsim.save_network("net", Path(tempfile.mkdtemp()) / "net.h5"), ValueError, r"save_network needs an evsim.Network, got str"),
]  # fmt: skip
LEAD: list = []  # cases waiting for a fix in the lead's files (none left)
LEAD_REASON = "unclear error today; expected message in the case; owner: evsim lead"


@pytest.mark.parametrize(
    "call, error, message",
    [c[1:] for c in API] + [pytest.param(*c[1:], marks=pytest.mark.xfail(strict=False, reason=LEAD_REASON)) for c in LEAD],
    ids=[c[0] for c in API + LEAD],
)
def test_bad_api_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------------------- files: networks


def _saved(tmp_path) -> Path:
    return evsim.save_network(NET, tmp_path / "net.h5")


def _edit(tmp_path, change) -> Path:
    path = _saved(tmp_path)
    with h5py.File(path, "a") as f:
        change(f)
    return path


def _truncated(tmp_path) -> Path:
    path = _saved(tmp_path)
    path.write_bytes(path.read_bytes()[:700])
    return path


def _bit_flipped(tmp_path) -> Path:
    path = _saved(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[:8] = b"\x00" * 8  # the HDF5 signature
    path.write_bytes(bytes(raw))
    return path


def _foreign(tmp_path) -> Path:
    path = tmp_path / "net.h5"
    with h5py.File(path, "w") as f:
        f["weights"] = np.ones(3)
    return path


def _text(tmp_path) -> Path:
    path = tmp_path / "net.h5"
    path.write_text("not a network")
    return path


def _set_attr(where, key, value):
    def change(f):
        f[where].attrs[key] = value

    return change


NETWORK_FILES = [
    ("network missing", lambda p: p / "absent.h5", FileNotFoundError, r"no network file at"),
    ("network text file", _text, evsim.NetworkFileError, r"not a readable HDF5 file"),
    ("network truncated", _truncated, evsim.NetworkFileError, r"not a readable HDF5 file|damaged"),
    ("network signature wiped", _bit_flipped, evsim.NetworkFileError, r"not a readable HDF5 file"),
    ("network foreign HDF5", _foreign, evsim.NetworkFileError, r"not an evsim network file"),
    ("network future version", lambda p: _edit(p, _set_attr("/", "format_version", 99)), evsim.NetworkFileError, r"format version 99; this evsim reads version"),
    ("network no projections group", lambda p: _edit(p, lambda f: f.__delitem__("projections")), evsim.NetworkFileError, r"damaged evsim network file"),
    ("network weight removed", lambda p: _edit(p, lambda f: f["projections/0"].__delitem__("weight")), evsim.NetworkFileError, r"damaged evsim network file"),
    ("network unknown neuron", lambda p: _edit(p, _set_attr("populations/0", "neuron", "izhikevich")), evsim.NetworkFileError, r"unknown neuron kind 'izhikevich'"),
    ("network unknown projection", lambda p: _edit(p, _set_attr("projections/1", "kind", "lstm")), evsim.NetworkFileError, r"unknown projection kind 'lstm'"),
    ("network misnumbered layers", lambda p: _edit(p, lambda f: f.move("projections/1", "projections/7")), evsim.NetworkFileError, r"not numbered 0..n-1"),
    ("network weight shape changed", lambda p: _edit(p, lambda f: (f["projections/1"].__delitem__("weight"), f["projections/1"].create_dataset("weight", data=np.ones((2, 9))))), evsim.NetworkFileError, r"damaged evsim network file.*takes 9 inputs"),
    ("network NaN weight", lambda p: _edit(p, lambda f: f["projections/0/weight"].__setitem__((0, 0), np.nan)), evsim.NetworkFileError, r"damaged evsim network file.*non-finite"),
]


@pytest.mark.parametrize("make, error, message", [c[1:] for c in NETWORK_FILES], ids=[c[0] for c in NETWORK_FILES])
def test_load_network_refuses_bad_files(tmp_path, make, error, message):
    path = make(tmp_path)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(error, match=message):
        evsim.load_network(path)
    assert sorted(tmp_path.iterdir()) == before




# ------------------------------------------------------------------------------- the cases against the code

EVSIM_DIR = Path(evsim.__file__).parent


@cache
def _tree(filename: str) -> ast.Module:
    return ast.parse(Path(filename).read_text(), filename)


def _own_nodes(function: ast.AST) -> Iterable[ast.AST]:
    """The nodes of a function's body, not of the functions or classes defined inside it."""
    todo = list(ast.iter_child_nodes(function))
    while todo:
        node = todo.pop()
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            yield node
            todo.extend(ast.iter_child_nodes(node))


def _enclosing_function(filename: str, line: int) -> ast.FunctionDef | None:
    inner = None
    for node in ast.walk(_tree(filename)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= line <= node.end_lineno:
            if inner is None or node.lineno > inner.lineno:
                inner = node
    return inner


def checks(filename: str, function: ast.FunctionDef) -> set[tuple[str, int]]:
    """The checks of a function: its `raise SomeError(...)` statements (not bare re-raises), by line."""
    return {(filename, n.lineno) for n in _own_nodes(function) if isinstance(n, ast.Raise) and n.exc is not None}


def refusing_checks(error: BaseException, roots: tuple[Path, ...]) -> set[tuple[str, int]]:
    """The checks under `roots` that raised `error` or an exception it was raised from (or while
    handling): for each exception in the chain, the `raise` statement it left the code under
    `roots` from. A numpy or h5py error that passes through unchecked yields none."""
    found, seen = set(), set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        frame, tb = None, error.__traceback__
        while tb is not None:
            if any(Path(tb.tb_frame.f_code.co_filename).is_relative_to(r) for r in roots):
                frame = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
            tb = tb.tb_next
        if frame is not None and (function := _enclosing_function(*frame)) is not None:
            found |= {
                (frame[0], n.lineno) for n in _own_nodes(function)
                if isinstance(n, ast.Raise) and n.exc is not None and n.lineno <= frame[1] <= n.end_lineno
            }  # fmt: skip
        error = error.__cause__ or error.__context__
    return found


def check_cases(cases: dict[str, Callable[[], object]], roots: tuple[Path, ...]) -> tuple[set, set]:
    """Run every case; each must raise from one of the code's own checks under `roots`. Returns the
    checks reached and those that no case reaches in the validating functions the cases reached."""
    reached, not_refused = set(), []
    for name, call in cases.items():
        try:
            call()
        except Exception as error:  # noqa: BLE001 - any exception: which check raised it is the question
            sites = refusing_checks(error, roots)
            if not sites:
                not_refused.append(f"{name}: {type(error).__name__}: {error}")
            reached |= sites
        else:
            not_refused.append(f"{name}: nothing raised")
    assert not not_refused, "cases not refused by the code's own checks:\n" + "\n".join(not_refused)
    functions = {(f, _enclosing_function(f, line)) for f, line in reached}
    everything = set().union(*(checks(f, fn) for f, fn in functions))
    return reached, everything - reached


def describe(sites) -> str:
    """One line per check: file:line: the raise statement's first line."""
    return "\n".join(f"{f}:{line}: {Path(f).read_text().splitlines()[line - 1].strip()}" for f, line in sorted(sites))


def evsim_cases(tmp_path: Path) -> dict[str, Callable[[], object]]:
    """Every case of this file as a call (file cases planted in their own folder under tmp_path)."""
    cases = {name: call for name, call, _, _ in API}

    def load(make, folder):
        folder.mkdir()
        return lambda: evsim.load_network(make(folder))

    cases |= {name: load(make, tmp_path / f"case{i}") for i, (name, make, _, _) in enumerate(NETWORK_FILES)}
    return cases


def test_hostile_input_kinds_are_counted(tmp_path):
    reached, unreached = check_cases(evsim_cases(tmp_path), (EVSIM_DIR,))
    assert not unreached, "checks in evsim's validation that no hostile case reaches (add a case):\n" + describe(unreached)
    functions = {(f, _enclosing_function(f, line).name) for f, line in reached}
    print(f"\nhostile input kinds for evsim: {len(API) + len(NETWORK_FILES)} cases, refused by {len(reached)} "
          f"distinct checks in {len(functions)} validating functions; {len(LEAD)} more marked xfail for the lead")
