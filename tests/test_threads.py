"""Results do not depend on the Numba thread count: float (dense and deep, spikes and currents)
and fixed-point runs at one thread here equal the runs of a child process with two threads.

The two-thread run is a subprocess with NUMBA_NUM_THREADS=2 because the test process usually
runs with one (NUMBA_NUM_THREADS=1 on the shared machines), where `numba.set_num_threads` cannot
go above it: an in-process comparison would compare one thread with one thread and never fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np

import evsim
from evsim.network import INPUT, AvgPool2d, Conv2d, Dense, Network, Population

FIELDS = ("predictions", "scores", "output_spikes", "exit_step", "first_spike_step", "steps", "sops_per_step",
          "macs_per_step", "spikes_in", "values_in", "spike_counts", "membrane_updates")  # fmt: skip


def _dense_net() -> Network:
    rng = np.random.default_rng(3)
    return Network.dense([rng.normal(0.1, 0.3, (40, 50)), rng.normal(0.2, 0.4, (5, 40))], neuron=evsim.LIF(5, 3))


def _resnet_block() -> Network:
    """(2, 6, 6) -> conv 3x3 -> block (conv 3x3 stride 2, conv 3x3, 1x1 stride-2 shortcut) -> pool -> dense."""
    rng = np.random.default_rng(5)
    lif = evsim.LIF(tau_m=2, tau_s=2)
    pops = [Population((4, 6, 6), lif), Population((8, 3, 3), lif), Population((8, 3, 3), lif, bias=rng.normal(0, 0.1, 72)),
            Population((8, 1, 1), lif), Population((3,), lif)]  # fmt: skip
    projs = [Conv2d(INPUT, 0, rng.normal(0.3, 0.4, (4, 2, 3, 3)), padding=1),
             Conv2d(0, 1, rng.normal(0.2, 0.3, (8, 4, 3, 3)), stride=2, padding=1),
             Conv2d(1, 2, rng.normal(0.2, 0.3, (8, 8, 3, 3)), padding=1),
             Conv2d(0, 2, rng.normal(0.2, 0.3, (8, 4, 1, 1)), stride=2),
             AvgPool2d(2, 3, 3), Dense(3, 4, rng.normal(0.3, 0.5, (3, 8)))]  # fmt: skip
    return Network((2, 6, 6), pops, projs)


def _cases() -> dict[str, evsim.SimulationResult]:
    """Every case's result at the process's thread count; batches large enough for many chunks."""
    rng = np.random.default_rng(1)
    dense, deep = _dense_net(), _resnet_block()
    spikes = evsim.encode(rng.random((64, 50)), 12, "poisson", seed=1)
    images = rng.random((12, 1, 6, 6))
    return {
        "dense": evsim.simulate(dense, spikes, record_hidden=True),
        # Poisson events drawn in parallel over samples, each from its own jump into the stream
        "dense_poisson_events": evsim.simulate(dense, evsim.encode_events(rng.random((64, 50)), 12, "poisson", seed=2),
                                               record_hidden=True),  # fmt: skip
        "dense_current_f64": evsim.simulate(dense, evsim.encode(rng.random((32, 50)), 6, "current"), dtype=np.float64,
                                            record_hidden=True),  # fmt: skip
        "deep": evsim.simulate(deep, evsim.encode_events(np.tile(images, (1, 2, 1, 1)), 8, "ratesyn_e"),
                               record_hidden=True),  # fmt: skip
        "deep_fused_ttfs_exit": evsim.simulate(deep, evsim.encode_events(images, 8, ["current", "ttfs"]), "ttfs", True,
                                               record_hidden=True),  # fmt: skip
        "fixed": evsim.simulate(evsim.quantize(dense, 6, 16, 8), spikes, record_hidden=True),
        "fixed_deep": evsim.simulate(evsim.quantize(deep), evsim.encode_events(np.tile(images, (1, 2, 1, 1)), 8, "ttfs"),
                                     record_hidden=True),  # fmt: skip
    }


def _save(path: str) -> None:
    """The child's side: run every case with its thread count and save each result field."""
    threads = numba.get_num_threads()
    out = {"threads": np.array(threads)}
    for name, res in _cases().items():
        out.update({f"{name}/{f}": getattr(res, f) for f in FIELDS})
        out.update({f"{name}/hidden{i}": h for i, h in enumerate(res.hidden_spikes)})
    np.savez(path, **out)


def test_results_do_not_depend_on_thread_count(tmp_path):
    from conftest import assert_same_run  # here: the child process need not import conftest (and torch)

    path = tmp_path / "two_threads.npz"
    roots = [str(Path(evsim.__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
    env = dict(os.environ, NUMBA_NUM_THREADS="2", PYTHONPATH=os.pathsep.join(roots + [os.environ.get("PYTHONPATH", "")]))
    child = subprocess.run([sys.executable, "-c", f"import test_threads; test_threads._save({str(path)!r})"],
                           env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    theirs = np.load(path)
    assert int(theirs["threads"]) == 2  # the comparison is one thread against two
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        ours = _cases()
    finally:
        numba.set_num_threads(before)
    for name, res in ours.items():
        assert res.spike_counts.sum(axis=0).min() > 0, f"{name}: a silent layer makes the case weak"
        two = evsim.SimulationResult(
            **{f: theirs[f"{name}/{f}"] for f in FIELDS},
            hidden_spikes=tuple(theirs[f"{name}/hidden{i}"] for i in range(len(res.hidden_spikes))),
            decoder=res.decoder, early_exit=res.early_exit,
        )  # fmt: skip
        assert_same_run(res, two)


if __name__ == "__main__":  # pragma: no cover - a manual check: python tests/test_threads.py out.npz
    _save(sys.argv[1])
