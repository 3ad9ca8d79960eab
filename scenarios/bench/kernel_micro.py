"""Micro-benchmark of the compiled neuron kernels (`bridges.neuron_kernels`) against the torch loop.

One population's forward + backward on the same tensors, the two sides called alternately in one
run: Act-BP (LIF tau 2 hard reset; IF subtraction) and Temp-BP (LIF tau 2), float32, an MLP layer
(T 10, B 128, N 500) and a conv layer (T 10, B 64, 8, 32, 32). The whole training step against
snnTorch and SpikingJelly is `python -m scenarios bench_training`.

    python -m scenarios.bench.kernel_micro
"""

from __future__ import annotations

import math
import time

import numba
import torch

import evsim
from bridges.neuron import neuron_parameters
from bridges.neuron_kernels import FusedActBP, FusedTempBP
from bridges.snn import ActBPPopulation
from bridges.tempbp import TempBPNeuron


def _time(step) -> tuple[float, float]:
    """(wall, CPU) seconds of one call; on a shared machine the process's CPU time is the steadier."""
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    return time.perf_counter() - wall, time.process_time() - cpu


def benchmark(repeats: int = 5, threads: int = 1) -> dict[str, tuple[float, float]]:
    """Forward + backward time of the torch loop over the fused kernels (ratio > 1: fused is
    faster), float32, on an MLP layer (T 10, B 128, N 500) and a conv layer (T 10, B 64, 8, 32,
    32): Act-BP (LIF tau 2 hard reset; IF subtraction) and Temp-BP (LIF tau 2), the two sides
    called alternately in one run on the same tensors, best of `repeats` each.
    Prints and returns {case: (wall ratio, CPU ratio)}."""
    torch_threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(threads)
    numba.set_num_threads(threads)
    lif, if_ = neuron_parameters(evsim.LIF(tau_m=2, tau_s=2)), neuron_parameters(evsim.IF())
    layers = {
        "actbp LIF zero": (lambda x: ActBPPopulation.apply(x, lif, 5.0), lambda x: FusedActBP.apply(x, lif, 5.0)),
        "actbp IF subtract": (lambda x: ActBPPopulation.apply(x, if_, 5.0), lambda x: FusedActBP.apply(x, if_, 5.0)),
        "tempbp LIF": (lambda x: TempBPNeuron.apply(x, 2.0, 2.0, 1.0), lambda x: FusedTempBP.apply(x, 2.0, 2.0, 1.0)),
    }
    gen = torch.Generator().manual_seed(0)
    ratios = {}
    try:
        for shape_name, shape in (("mlp (10,128,500)", (10, 128, 500)), ("conv (10,64,8,32,32)", (10, 64, 8, 32, 32))):
            current = (0.8 * torch.randn(*shape, generator=gen) + 0.3).requires_grad_()
            grad_a = torch.randn(*shape, generator=gen)
            for case, sides in layers.items():
                # dL/da only: Temp-BP's spikes carry no gradient, and a hidden layer's loss reaches a
                steps = [lambda layer=layer: torch.autograd.backward(layer(current)[0], grad_a) for layer in sides]
                steps[1]()  # compile or load the cached kernels outside the timing
                best = [[math.inf, math.inf], [math.inf, math.inf]]
                for _ in range(repeats):  # alternate, so a burst of load hits both sides alike
                    for side, step in enumerate(steps):
                        best[side] = [min(b, t) for b, t in zip(best[side], _time(step))]
                current.grad = None
                (ref_wall, ref_cpu), (fused_wall, fused_cpu) = best
                ratios[f"{case}, {shape_name}"] = (ref_wall / fused_wall, ref_cpu / fused_cpu)
                print(f"{case:18s} {shape_name:21s} torch {1e3 * ref_wall:7.1f} ms wall {1e3 * ref_cpu:7.1f} ms CPU"
                      f" | fused {1e3 * fused_wall:6.1f} ms wall {1e3 * fused_cpu:6.1f} ms CPU"
                      f" | ratio {ref_wall / fused_wall:5.2f}x wall {ref_cpu / fused_cpu:5.2f}x CPU")
    finally:
        torch.set_num_threads(torch_threads)
        numba.set_num_threads(numba_threads)
    return ratios


if __name__ == "__main__":
    benchmark()
