"""`python -m evsim.nir export|import|inspect`: NIR files from and to evsim network files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..io import load_network, save_network
from .conventions import nir_package, plain_value
from .reader import from_nir, load
from .writer import save


def describe(graph) -> str:
    """A readable listing of a NIR graph: nodes with their type and shapes, then edges."""
    lines = [f"NIR graph: {len(graph.nodes)} nodes, {len(graph.edges)} edges"]
    for key, value in (graph.metadata or {}).items():
        lines.append(f"  metadata {key} = {plain_value(value)!r}")
    for name, node in graph.nodes.items():
        def shape(types):
            t = (types or {}).get("input") if types and "input" in types else (types or {}).get("output")
            return "?" if t is None else tuple(int(s) for s in np.atleast_1d(t))
        extra = ""
        for attr in ("tau_syn", "tau_mem", "tau", "r", "w_in", "v_threshold", "v_leak"):
            if hasattr(node, attr) and getattr(node, attr) is not None:
                values = np.unique(np.asarray(getattr(node, attr)))
                extra += f" {attr}={values[0]:.6g}" if values.size == 1 else f" {attr}=[{values.size} values]"
        lines.append(f"  {name}: {type(node).__name__} in {shape(node.input_type)} out {shape(node.output_type)}{extra}")
    lines += [f"  edge {a} -> {b}" for a, b in graph.edges]
    return "\n".join(lines)


def main(argv=None) -> int:
    """`python -m evsim.nir export|import|inspect ...`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m evsim.nir", description="NIR interchange for evsim networks")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="evsim network file (save_network) -> NIR file")
    ex.add_argument("network")
    ex.add_argument("nir_file")
    ex.add_argument("--dt", type=float, required=True, help="seconds per step (e.g. 1e-3)")
    ex.add_argument("--lossy-reset", action="store_true",
                    help="write reset by subtraction as NIR's reset to 0, recorded in the metadata")
    im = sub.add_parser("import", help="NIR file -> evsim network file (save_network)")
    im.add_argument("nir_file")
    im.add_argument("network")
    im.add_argument("--dt", type=float, required=True, help="seconds per step (snnTorch graphs: 1e-4)")
    ins = sub.add_parser("inspect", help="list a NIR file's nodes; with --dt, the evsim network it reads as")
    ins.add_argument("nir_file")
    ins.add_argument("--dt", type=float, default=None)
    args = parser.parse_args(argv)

    try:
        if args.command == "export":
            path = save(args.nir_file, load_network(args.network), args.dt, lossy_reset=args.lossy_reset)
            print(f"wrote {path}")
        elif args.command == "import":
            net = load(args.nir_file, args.dt)
            print(f"wrote {save_network(net, args.network)}: layers {net.layer_sizes}")
        else:
            graph = nir_package().read(Path(args.nir_file), type_check=False)
            print(describe(graph))
            if args.dt is not None:
                net = from_nir(graph, args.dt)
                print(f"evsim at dt={args.dt!r}: input {net.input_shape}")
                for p, pop in enumerate(net.populations):
                    print(f"  population {p}: {pop.shape} {pop.neuron}" + ("" if pop.bias is None else " with bias"))
                for q, proj in enumerate(net.projections):
                    print(f"  projection {q}: {proj.kind} {proj.source} -> {proj.target}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
