"""Run Dense + LIF chains in Lava 0.10 (fixed_pt), for tests/test_lava.py. Python 3.10, numpy < 2.

Usage: python driver.py IN.npz OUT.npz. IN holds, per case c (prefix "c<c>_"): weights_<l> (n_out, n_in)
int, du, dv, vth, weight_exp (one per layer, int arrays (L,)), bias_mant_<l> and bias_exp_<l> (n_out,)
int, spikes (T, B, n_in) bool; and n_cases. Everything runs as one Lava network: the B samples of a
case as one block-diagonal chain (each sample its own copy), the cases side by side. OUT holds c<c>_layer<l>: the spikes
(T, B, n_l) bool of every LIF layer as Lava's sinks recorded them, step t of Lava at index t - 1.
This file imports Lava, never evsim: it runs in .venv-lava.
"""

import sys
import time

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source
from lava.proc.lif.process import LIF


def build_chain(case, port, offset, n_total, T_max):
    """Connect `case`'s chain to the shared source port; its inputs are columns offset.. of it.
    Returns the sinks, one per LIF layer, and the case's (T, B)."""
    spikes = case["spikes"]
    T, B, n_in = spikes.shape
    sinks = []
    for l, w in enumerate(case["weights"]):
        n_out = w.shape[0]
        block = np.kron(np.eye(B, dtype=np.int64), w)  # each sample its own copy of the layer
        if l == 0:  # the first Dense reads this case's slice of the shared source (zeros elsewhere)
            full = np.zeros((B * n_out, n_total), dtype=np.int64)
            full[:, offset : offset + B * n_in] = block
            block = full
        dense = Dense(weights=block.astype(np.int32), weight_exp=int(case["weight_exp"][l]), num_message_bits=0)
        lif = LIF(shape=(B * n_out,), du=int(case["du"][l]), dv=int(case["dv"][l]), vth=int(case["vth"][l]),
                  bias_mant=np.tile(case["bias_mant"][l], B), bias_exp=np.tile(case["bias_exp"][l], B))
        port.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        sink = Sink(shape=(B * n_out,), buffer=T_max)
        lif.s_out.connect(sink.a_in)
        sinks.append((sink, n_out))
        port = lif.s_out
    return sinks, (T, B)


def main(path_in, path_out):
    """All cases in one Lava run: one source holds every case's input (padded to the longest T with
    silence; a case's steps beyond its own T are not read back), each chain its own processes."""
    data = np.load(path_in)
    cases = []
    for c in range(int(data["n_cases"])):
        p = f"c{c}_"
        L = len(data[p + "du"])
        case = {"spikes": data[p + "spikes"], "weights": [data[f"{p}weights_{l}"] for l in range(L)],
                "bias_mant": [data[f"{p}bias_mant_{l}"] for l in range(L)],
                "bias_exp": [data[f"{p}bias_exp_{l}"] for l in range(L)]}
        for key in ("du", "dv", "vth", "weight_exp"):
            case[key] = data[p + key]
        cases.append(case)
    T_max = max(case["spikes"].shape[0] for case in cases)
    blocks = []
    for case in cases:
        T, B, n_in = case["spikes"].shape
        block = np.zeros((B * n_in, T_max), dtype=np.int32)
        block[:, :T] = case["spikes"].transpose(1, 2, 0).reshape(B * n_in, T)  # row b n_in + i: sample b, input i
        blocks.append(block)
    source = Source(data=np.concatenate(blocks))
    n_total, offset, built = sum(b.shape[0] for b in blocks), 0, []
    for case, block in zip(cases, blocks):
        built.append(build_chain(case, source.s_out, offset, n_total, T_max))
        offset += block.shape[0]
    start = time.time()
    source.run(condition=RunSteps(num_steps=T_max), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    result = {}
    for c, (sinks, (T, B)) in enumerate(built):
        for l, (sink, n_out) in enumerate(sinks):
            result[f"c{c}_layer{l}"] = sink.data.get().reshape(B, n_out, T_max)[:, :, :T].transpose(2, 0, 1) != 0
    source.stop()
    result["seconds"] = np.array(time.time() - start)
    np.savez(path_out, **result)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
