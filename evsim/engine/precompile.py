"""Compile (or load from Numba's cache) the engine's kernels before the first real run.

Numba compiles a kernel at its first call for each combination of argument types and caches the
machine code beside the source (`cache=True`). A fresh checkout or a new image therefore pays
the compilation (tens of seconds on 2 cores) at its first `simulate`; several processes started
at once (test workers, a process pool) each pay it again. `precompile()` runs tiny networks through
the paths the engine has: float32 and float64 and the fixed-point run; dense, convolution,
average-pool and identity projections; spike and current inputs; rate and TTFS decoding, with
and without early exit; every encoder's event path (`encode_events`, fused lists included). Afterwards every process that starts loads the
cached code instead.

    python -m evsim.engine.precompile [--jobs 2]   # prints how long it took
"""

from __future__ import annotations

import time

import numpy as np

from ..encoding import ENCODERS, encode, encode_events
from ..events import InputEvents
from ..network import INPUT, AvgPool2d, Conv2d, Dense, Identity, Network, Population
from ..neurons import IF, LIF
from ..quantizer import quantize

__all__ = ["precompile"]


def _networks() -> dict[str, Network]:
    """A dense LIF network, an IF one, and a small residual conv network with every projection kind."""
    rng = np.random.default_rng(0)
    lif = LIF(tau_m=2, tau_s=2)
    dense = Network.dense([rng.normal(0.2, 0.3, (6, 8)), rng.normal(0.3, 0.4, (3, 6))], neuron=LIF(5, 3))
    dense_if = Network.dense([rng.normal(0.2, 0.3, (6, 8)), rng.normal(0.3, 0.4, (3, 6))], neuron=IF())
    pops = [Population((2, 4, 4), lif), Population((2, 4, 4), lif, bias=rng.normal(0, 0.1, 32)),
            Population((2, 2, 2), lif), Population((3,), lif)]  # fmt: skip
    projs = [Conv2d(INPUT, 0, rng.normal(0.3, 0.4, (2, 2, 3, 3)), padding=1),
             Conv2d(0, 1, rng.normal(0.2, 0.3, (2, 2, 3, 3)), padding=1), Identity(0, 1),
             AvgPool2d(1, 2, 2), Dense(2, 3, rng.normal(0.3, 0.5, (3, 8)))]  # fmt: skip
    deep = Network((2, 4, 4), pops, projs)
    return {"dense": dense, "dense_if": dense_if, "deep": deep}


def _paths() -> list[tuple[str, str, object]]:
    """Every (network, encoder or "fixed", dtype) path precompile runs, in a fixed order."""
    paths = [(name, method, dtype) for dtype in ("float32", "float64") for name in ("dense", "dense_if", "deep")
             for method in ENCODERS]  # fmt: skip
    return paths + [(name, "fixed", "int64") for name in ("dense", "deep")]


def _run_paths(dtypes: tuple[str, ...]) -> None:
    """Run the paths of `_paths()` whose dtype is in `dtypes` ("int64": the fixed-point run)."""
    from . import simulate  # the package imports this module's siblings, not this module

    rng = np.random.default_rng(1)
    nets = _networks()
    for name, method, dtype in _paths():
        if dtype not in dtypes:
            continue
        net = nets[name]
        x = rng.random((2, *net.input_shape))
        if method == "fixed":
            fixed, spikes = quantize(net), encode(x, 4, "ratesyn_e")
            simulate(fixed, spikes, "rate", record_hidden=True)
            simulate(fixed, spikes, "ttfs", early_exit=True)
            continue
        spikes = encode(x, 4, method, seed=0)
        simulate(net, InputEvents.from_dense(spikes, net.input_shape), "rate", dtype=dtype, record_hidden=True)
        simulate(net, spikes, "ttfs", early_exit=True, dtype=dtype)
    if "float32" in dtypes:  # the event encoders' kernels (`encode_events`), for float32 and float64 images
        for image_dtype in (np.float32, np.float64):
            x = rng.random((2, 8)).astype(image_dtype)
            for method in [*ENCODERS, ["current", "ratesyn_e", "ttfs"], ["poisson", "ttfs"]]:
                encode_events(x, 4, method, seed=0)


# Each run (float32, float64, fixed point) is its own set of compiled functions (about 20 s each
# on these cores), so two processes can compile them at once: one takes float32 and the event
# kernels, the other float64 and the integer run.
SHARES = (("float32",), ("float64", "int64"))


def precompile(jobs: int = 1) -> float:
    """Run every engine path once on tiny inputs, compiling each kernel or loading it from the
    cache (about 80 s on 2 cores with a cold cache, 1-3 s warm). jobs=2 compiles the float32 run
    in one fresh process and the float64 and fixed-point runs in another, side by side. Returns
    the seconds it took."""
    if isinstance(jobs, bool) or jobs not in (1, 2):
        raise ValueError(f"jobs must be 1 or 2, got {jobs!r}")
    start = time.perf_counter()
    if jobs == 1:
        _run_paths(sum(SHARES, ()))
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # fresh interpreters: nothing compiled inherited
        workers = [context.Process(target=_run_paths, args=(share,)) for share in SHARES]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        failed = [w.exitcode for w in workers if w.exitcode != 0]
        if failed:
            raise RuntimeError(f"precompile: {len(failed)} of {jobs} processes failed (exit codes {failed})")
    return time.perf_counter() - start


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m evsim.engine.precompile", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, choices=(1, 2), default=1, help="2: compile the runs in two processes at once")
    args = parser.parse_args(argv)
    print(f"evsim kernels compiled or loaded in {precompile(args.jobs):.1f} s")


if __name__ == "__main__":
    main()
