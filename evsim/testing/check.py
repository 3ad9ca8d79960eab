"""`check_encoder`: hypothesis properties of an encoder, chosen by its kind.

An encoder is fn(x, T, rng) -> (T, *x.shape) (a registered one's `fn`), or a name: a built-in
encoder is checked through `evsim.encode(x, T, name, seed=rng)`, a registered one through its own
fn (so that writing to x shows as such, not as the read-only error `evsim.encode` gives it).
Every call gets `evsim.encoding.generator(seed)` of a drawn seed.

| property | kinds | what must hold |
|---|---|---|
| shape and dtype | all | a numpy array (T, *x.shape) of bool, integer or float, finite in float32 |
| binary values | rate, latency, spikes | only 0 and 1 |
| no global random state | all | numpy's and Python's global generators are not drawn from (nor re-seeded) |
| same seed, same output | all | two calls with one seed agree |
| deterministic | deterministic ones | two seeds agree (declared, or detected: no two seeds differed) |
| input left unchanged | all | x keeps its values and dtype, and the output does not share its memory |
| batch independence | all | see below |
| silent at 0 | rate | elements at x = 0 never spike |
| T spikes at 1 | rate | elements at x = 1 spike at every step (unless full_at_one=False) |
| count non-decreasing in x | rate | with y >= x elementwise, every count of y >= that of x |
| at most one spike | latency | per element, over the T steps |
| first spike non-increasing in x | latency | with y >= x, y's first spike (T when silent) is never later |

Batch independence: sample i's code, under one seed, stays the same when every other sample
changes its values; for a deterministic encoder it also equals the code of sample i encoded alone.
A stochastic encoder draws for the whole batch from one Generator, so the draws a sample gets
depend on its place in the batch and on the batch's shape: only the other samples' *values* may
not matter (the common-random-numbers coupling Poisson has: u is drawn for every element whatever
x is). The monotonicity properties of stochastic encoders are checked under the same coupling
(x and y >= x encoded with one seed), which Poisson's "u < x" satisfies.
"""

from __future__ import annotations

import random

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed_of
from hypothesis import strategies as st

from ..encoder_registry import BUILTIN_KINDS, KINDS, SPIKE_KINDS, check_output, registered_encoders
from ..encoding import encode, generator
from .strategies import STYLES, batches, images, seeds

HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much, HealthCheck.large_base_example]


class _Violation(Exception):
    """A property does not hold (the message says how; `drawn`: what the property drew itself)."""

    def __init__(self, message: str, **drawn):
        super().__init__(message)
        self.drawn = drawn


def _resolve(fn_or_name, kind):
    """(label, fn(x, T, rng), kind) of a callable or an encoder name."""
    if isinstance(fn_or_name, str):
        name = fn_or_name
        registered = registered_encoders()
        if name in BUILTIN_KINDS:
            own = BUILTIN_KINDS[name]
            fn = lambda x, T, rng: encode(x, T, name, seed=rng)  # noqa: E731
        elif name in registered:
            own, fn = registered[name].kind, registered[name].fn
        else:
            raise ValueError(f"unknown encoder {name!r}; choose from {tuple(BUILTIN_KINDS) + tuple(registered)}")
        if kind is not None and kind != own:
            raise ValueError(f"encoder {name!r} is of kind {own!r}, not {kind!r}")
        return repr(name), fn, own
    if not callable(fn_or_name):
        raise TypeError(f"check_encoder needs an encoder name or a callable fn(x, T, rng), got {type(fn_or_name).__name__}")
    if kind is None:
        raise ValueError(f"give the kind of {getattr(fn_or_name, '__name__', fn_or_name)!r}: one of {KINDS}")
    if kind not in KINDS:
        raise ValueError(f"unknown encoder kind {kind!r}; choose from {KINDS}")
    return getattr(fn_or_name, "__qualname__", repr(fn_or_name)), fn_or_name, kind


def _show(value) -> str:
    if isinstance(value, np.ndarray):
        with np.printoptions(floatmode="unique", threshold=200, linewidth=100):
            return f"np.{value!r}" if value.ndim else f"np.{value.dtype}({value!r})"
    return repr(value)


def _global_states():
    return np.random.get_state(), random.getstate()


def _same_global_states(a, b) -> bool:
    (na, pa), (nb, pb) = a, b
    return pa == pb and all(np.array_equal(u, v) for u, v in zip(na, nb))


def _where(mask: np.ndarray) -> tuple[int, ...]:
    """The index of the first True element of a mask."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _first_spike(out: np.ndarray) -> np.ndarray:
    fired = out != 0
    return np.where(fired.any(axis=0), fired.argmax(axis=0), out.shape[0])


def check_encoder(fn_or_name, T, kind: str | None = None, max_examples: int = 50, *, deterministic: bool | None = None,
                  full_at_one: bool = True, inputs=None, styles: tuple[str, ...] = STYLES,
                  hypothesis_seed: int | None = None) -> tuple[str, ...]:  # fmt: skip
    """Run the properties that fit `kind` (module table) on an encoder; the names of those run.

    fn_or_name: a callable fn(x, T, rng) -> (T, *x.shape), or the name of a built-in or registered
        encoder (its kind is then known; `kind`, if given, must agree).
    T: steps, an int >= 1 or a hypothesis strategy of them (e.g. `evsim.testing.steps(100)`).
    kind: "rate", "latency", "spikes" or "current" (`evsim.encoder_registry.KINDS`).
    max_examples: hypothesis examples per property.
    deterministic: whether the seed leaves the output alone; None detects it (a stochastic encoder
        is one for which two seeds ever gave different outputs over a few inputs).
    full_at_one: rate kind: whether x = 1 gives a spike at every step (False for an encoder whose
        top rate is lower).
    inputs: a strategy of (B, ...) batches in [0, 1] (default `evsim.testing.batches()`: any
        shape, floats and 8-bit grids).
    styles: the value styles of `evsim.testing.images` for the default inputs and for the arrays
        the properties draw beside x (the other samples, y >= x); ("8-bit",) shrinks quickest.
    hypothesis_seed: an int makes the run reproducible (hypothesis draws the same examples);
        None draws afresh each run (hypothesis's own seeding, e.g. pytest's --hypothesis-seed).
    Raises AssertionError naming the first property that fails and its shrunk counterexample.
    """
    label, fn, kind = _resolve(fn_or_name, kind)
    if isinstance(T, st.SearchStrategy):
        Ts = T
    elif isinstance(T, (int, np.integer)) and not isinstance(T, bool) and T >= 1:
        Ts = st.just(int(T))
    else:
        raise ValueError(f"T must be an int >= 1 or a hypothesis strategy of them, got {T!r}")
    if not isinstance(max_examples, int) or max_examples < 1:
        raise ValueError(f"max_examples must be an int >= 1, got {max_examples!r}")
    styles = tuple(styles)
    xs = inputs if inputs is not None else batches(styles=styles)
    if hypothesis_seed is not None and (isinstance(hypothesis_seed, bool) or not isinstance(hypothesis_seed, int)):
        raise ValueError(f"hypothesis_seed must be an int or None, got {hypothesis_seed!r}")
    budget = settings(max_examples=max_examples, deadline=None, database=None, suppress_health_check=HEALTH,
                      phases=(Phase.explicit, Phase.generate, Phase.shrink))  # no explain phase: it costs many calls
    saved = _global_states()
    try:
        return _run_all(label, fn, kind, Ts, xs, budget, deterministic, full_at_one, styles, hypothesis_seed)
    finally:
        np.random.set_state(saved[0])
        random.setstate(saved[1])


def _run_all(label, fn, kind, Ts, xs, budget, deterministic, full_at_one, styles, hseed) -> tuple[str, ...]:
    spikes = kind in SPIKE_KINDS

    def code(x, T, seed, checked_kind=kind, x_itself=False):
        """fn's output on a copy of x, validated (a wrong one is a violation of the property being
        checked); `input_unchanged` passes x itself."""
        try:
            out = fn(x if x_itself else x.copy(), T, generator(seed))
        except Exception as err:
            raise _Violation(f"the encoder raised {type(err).__name__}: {err}") from err
        try:
            return check_output(out, x.shape, T, checked_kind, label), out
        except ValueError as err:
            raise _Violation(str(err)) from None

    def encoded(x, T, seed):
        return code(x, T, seed)[0]

    def shape_and_dtype(x, T, seed):
        code(x, T, seed, checked_kind="current")

    def binary_values(x, T, seed):
        code(x, T, seed)

    def no_global_random_state(x, T, seed):
        np.random.seed(seed % 2**32)  # any state: drawing from it moves it (and so does re-seeding it)
        random.seed(seed)
        before = _global_states()
        encoded(x, T, seed)
        if not _same_global_states(before, _global_states()):
            raise _Violation("the call moved numpy's or Python's global random generator (np.random.*, random.*): "
                             "draw from the rng argument only")  # fmt: skip

    def same_seed_same_output(x, T, seed):
        if not np.array_equal(encoded(x, T, seed), encoded(x, T, seed)):
            raise _Violation(f"two calls with seed {seed} gave different outputs (a generator other than rng?)")

    def seed_independent(x, T, seed):
        if not np.array_equal(encoded(x, T, seed), encoded(x, T, seed + 1)):
            raise _Violation(f"seeds {seed} and {seed + 1} gave different outputs: declare deterministic=False")

    def input_unchanged(x, T, seed):
        before = x.copy()
        checked, raw = code(x, T, seed, x_itself=True)
        if x.dtype != before.dtype or not np.array_equal(x, before):
            raise _Violation("the encoder changed its input x")
        if isinstance(raw, np.ndarray) and np.shares_memory(raw, x):
            raise _Violation("the output shares memory with x (return a new array)")

    def batch_independence(x, T, seed, data):
        B = x.shape[0]
        a = encoded(x, T, seed)
        if B >= 2:
            z = data.draw(images(shape=x.shape, dtype=x.dtype, styles=styles), label="z")
            for i in range(B):  # each sample among z's others
                others = z.copy()
                others[i] = x[i]
                if not np.array_equal(a[:, i], encoded(others, T, seed)[:, i]):
                    raise _Violation(f"the code of sample {i} changed when the other samples changed (to those of "
                                     "`others`)", sample=i, others=others)  # fmt: skip
        for i in range(B if det else 0):
            if not np.array_equal(a[:, i], encoded(x[i : i + 1], T, seed)[:, 0]):
                raise _Violation(f"sample {i} encoded alone differs from its code in the batch", sample=i)

    def silent_at_zero(x, T, seed):
        x = x.copy()
        x.reshape(-1)[::2] = 0
        out = encoded(x, T, seed)
        loud = (x == 0) & (out != 0).any(axis=0)
        if loud.any():
            raise _Violation(f"x with every 2nd element set to 0: {int(loud.sum())} element(s) at 0 spiked, e.g. at "
                             f"{_where(loud)}")  # fmt: skip

    def full_at_one_(x, T, seed):
        x = x.copy()
        x.reshape(-1)[::2] = 1
        counts = (encoded(x, T, seed) != 0).sum(axis=0)
        short = (x == 1) & (counts != T)
        if short.any():
            where = _where(short)
            raise _Violation(f"x with every 2nd element set to 1: element {where} spiked {int(counts[where])} times, not T = {T} "
                             "(pass full_at_one=False if that is intended)")  # fmt: skip

    def pair(x, data):
        z = data.draw(images(shape=x.shape, dtype=x.dtype, styles=styles), label="z")
        return np.maximum(x, z)

    def count_monotone(x, T, seed, data):
        y = pair(x, data)
        cx, cy = (encoded(x, T, seed) != 0).sum(axis=0), (encoded(y, T, seed) != 0).sum(axis=0)
        fewer = cy < cx
        if fewer.any():
            w = _where(fewer)
            raise _Violation(f"y = maximum(x, z) >= x but at {w} x = {x[w]!r} spikes {int(cx[w])} times and "
                             f"y = {y[w]!r} only {int(cy[w])}", y=y)  # fmt: skip

    def at_most_one_spike(x, T, seed):
        counts = (encoded(x, T, seed) != 0).sum(axis=0)
        if (counts > 1).any():
            w = _where(counts > 1)
            raise _Violation(f"element {w} (x = {x[w]!r}) spiked {int(counts[w])} times")

    def first_spike_monotone(x, T, seed, data):
        y = pair(x, data)
        fx, fy = _first_spike(encoded(x, T, seed)), _first_spike(encoded(y, T, seed))
        later = fy > fx
        if later.any():
            w = _where(later)
            raise _Violation(f"y = maximum(x, z) >= x but at {w} x = {x[w]!r} first spikes at step {int(fx[w])} "
                             f"and y = {y[w]!r} at step {int(fy[w])} (T = never)", y=y)  # fmt: skip

    def run(name, prop, with_data=False):
        failing = {}
        args = dict(x=xs, T=Ts, seed=seeds())
        if with_data:
            args["data"] = st.data()

        @budget
        @given(**args)
        def test(**kw):
            try:
                prop(**kw)
            except _Violation as v:
                failing.clear()
                failing.update(kw, **v.drawn, why=str(v))
                raise AssertionError(str(v)) from None

        try:
            (test if hseed is None else hypothesis_seed_of(hseed)(test))()
        except Exception:
            if not failing:
                raise
            why = failing.pop("why")
            failing.pop("data", None)
            shown = ", ".join(f"{k}={_show(v)}" for k, v in failing.items())
            raise AssertionError(f"check_encoder({label}, kind={kind!r}): property {name!r} fails: {why}\n"
                                 f"counterexample (shrunk): {shown}") from None
        ran.append(name)

    det = deterministic
    if det is None:
        seen = {"differ": False}

        @settings(budget, max_examples=min(10, budget.max_examples))
        @given(x=xs, T=Ts, seed=seeds())
        def detect(x, T, seed):
            try:
                for probe in (x, np.full_like(x, 0.5)):
                    seen["differ"] |= not np.array_equal(encoded(probe, T, seed), encoded(probe, T, seed + 1))
            except _Violation:
                pass  # reported by the properties below

        (detect if hseed is None else hypothesis_seed_of(hseed)(detect))()
        det = not seen["differ"]
    ran: list[str] = []
    run("shape and dtype", shape_and_dtype)
    if spikes:
        run("binary values", binary_values)
    run("no global random state", no_global_random_state)
    run("same seed, same output", same_seed_same_output)
    if det:
        run("deterministic", seed_independent)
    run("input left unchanged", input_unchanged)
    run("batch independence", batch_independence, with_data=True)
    if kind == "rate":
        run("silent at 0", silent_at_zero)
        if full_at_one:
            run("T spikes at 1", full_at_one_)
        run("count non-decreasing in x", count_monotone, with_data=True)
    if kind == "latency":
        run("at most one spike", at_most_one_spike)
        run("first spike non-increasing in x", first_spike_monotone, with_data=True)
    return tuple(ran)
