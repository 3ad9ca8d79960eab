"""Micro-benchmark of `evsim.encode_events` per built-in encoder against the `simulate` it feeds.

The same measurement as `bench_engine.encoder_shares` without its ANN training: 4,000 Fashion-MNIST
test images (uint8 / 255, float64), T = 10, a 784-500-10 LIF network (tau 10) with random weights
scaled so that TTFS decoding with early exit stops at step 4.2 with 146,000 SOPs per image
(the trained network of bench_engine: 4.3 and 149,000), one
thread, CPU time (the process's, steadier than wall time on a shared machine), best of `repeats`.
With ``--before REV`` the encoder module of git revision REV is loaded beside the working one and
both are timed alternately in the same run, so the ratios compare like with like.

    python -m scenarios.bench.encoder_micro [--before REV] [--repeats 7] [--samples 4000]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

import evsim
from bridges.datasets.idx import load_idx_dataset
from bridges.datasets.paths import data_dir

T = 10
ENCODERS = {"ttfs": "ttfs", "ratesyn_e": "ratesyn_e", "ratesyn_s": "ratesyn_s", "poisson": "poisson",
            "current": "current", "fused ratesyn_e+ttfs": ["ratesyn_e", "ttfs"],
            "fused poisson+ttfs": ["poisson", "ttfs"]}  # fmt: skip


def cpu_best(fn, repeats: int) -> float:
    """Shortest process CPU time (s) of `repeats` calls of fn()."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def network(K: int, seed: int = 0) -> evsim.Network:
    """784*K-500-10 LIF (tau 10) with random weights; a fused list of K blocks shares the first
    layer's weights over its blocks (divided by K), as bench_engine does."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.005, 0.2, (500, 784)).astype(np.float32)
    w2 = rng.normal(0.05, 0.4, (10, 500)).astype(np.float32)
    return evsim.Network.dense([np.tile(w1 / K, (1, K)), w2], neuron=evsim.LIF(tau_m=10, tau_s=10))


def load_before(rev: str):
    """`evsim.encoding` with the event kernels of revision `rev` (module `evsim._before_encoding`)."""
    folder = Path(tempfile.mkdtemp(prefix="evsim_before_"))
    for name in ("event_encoding", "encoding"):
        src = subprocess.run(["git", "show", f"{rev}:evsim/{name}.py"], capture_output=True, text=True, check=True).stdout
        src = src.replace("from .event_encoding import", "from ._before_event_encoding import")
        (folder / f"_before_{name}.py").write_text(src.replace("from .", "from evsim."))
    modules = []
    for name in ("event_encoding", "encoding"):
        spec = importlib.util.spec_from_file_location(f"evsim._before_{name}", folder / f"_before_{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        modules.append(module)
    return modules[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default=None, help="git revision to time beside the working code")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--only", default=None, help="comma-separated encoder names of the table")
    args = parser.parse_args(argv)
    numba.set_num_threads(1)
    images, _ = load_idx_dataset("fashion-mnist", "test", data_dir(None))
    x = images[: args.samples].reshape(args.samples, -1) / 255.0
    before = load_before(args.before) if args.before else None
    names = args.only.split(",") if args.only else list(ENCODERS)
    print(f"{args.samples} images, T={T}, 1 thread, CPU time, best of {args.repeats}")
    print(f"{'encoder':<22}{'events/img':>11}{'exit':>6}{'simulate ms':>12}{'encode ms':>11}{'share':>7}"
          + (f"{'before ms':>11}{'share':>7}{'speed-up':>9}" if before else ""))  # fmt: skip
    for name in names:
        method = ENCODERS[name]
        K = 1 if isinstance(method, str) else len(method)
        net = network(K)
        events = evsim.encode_events(x, T, method, seed=0)
        if before is not None:
            old = before.encode_events(x, T, method, seed=0)
            for f in ("offsets", "index", "value", "current"):
                assert np.array_equal(getattr(old, f), getattr(events, f)), (name, f)
        evsim.simulate(net, evsim.encode_events(x[:8], T, method, seed=0), decoder="ttfs", early_exit=True)
        t_sim = cpu_best(lambda: evsim.simulate(net, events, decoder="ttfs", early_exit=True), args.repeats)
        r = evsim.simulate(net, events, decoder="ttfs", early_exit=True)
        new_fn = lambda: evsim.encode_events(x, T, method, seed=0)  # noqa: E731
        t_new, t_old = float("inf"), float("inf")
        for _ in range(args.repeats):  # alternate, so that both see the same load
            t_new = min(t_new, cpu_best(new_fn, 1))
            if before is not None:
                t_old = min(t_old, cpu_best(lambda: before.encode_events(x, T, method, seed=0), 1))
        line = (f"{name:<22}{events.n_events / len(x):>11,.0f}{r.exit_step.mean():>6.2f}{t_sim * 1e3:>12.2f}"
                f"{t_new * 1e3:>11.2f}{t_new / t_sim:>7.0%}")  # fmt: skip
        if before is not None:
            line += f"{t_old * 1e3:>11.2f}{t_old / t_sim:>7.0%}{t_old / t_new:>8.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
