"""Deep-network benchmark: a ResNet18-topology SNN on CIFAR-10 in evsim against dense torch.

Network (the CIFAR variant of ResNet18): a 3x3 stem with 64 channels; [2, 2, 2, 2] basic blocks
of 64-128-256-512 channels, each conv3x3 -> LIF -> conv3x3 (+ shortcut) -> LIF, the shortcut an
identity or, where the block halves the resolution, a 1x1 stride-2 convolution, added as current
into the block's second population (the authors' res_block); global average pooling folded into
the classifier (its weights / 16, repeated over the 4x4 positions). LIF tau_m = tau_s = 2, theta 1,
T = 10 (Table 1). Input: the fused encoding current + RateSynE + TTFS of real CIFAR-10 test images
(9 channels; the current part costs MACs, the spike parts SOPs).

Weights: no full-width CIFAR-10 SNN is trained here (Fig. 5's quick models are width 8), so the weights are scaled
Gaussian ones, calibrated population by population (bisection on each population's input scale,
on four training images) to a target activity (default 10% of neurons spiking per step): the
file and the output say so. Replace them with trained weights when those exist (`--network`).

Measured in one run with the same thread count: evsim on the whole test set (rate decoding, all T
steps, exact SOPs and MACs), and on a subset evsim against the dense time-stepped torch loop of
`bridges.timestep` (conv2d per step, batch 64); GSOP/s per layer and the share of the time outside
the kernels from one profiled run (`simulate(..., profile=True)`); evsim and torch with 1 thread
against --threads, alternately; Fig. 5's trained SNNs (width 8) where a finished Fig. 5 run left
them in --trained-models (never trained here); then time per image against SOPs per image over an
activity sweep (the calibrated network at several input scales; `python -m scenarios plot` draws
it and the per-layer rates). Results: results/bench_resnet.h5.

    python -m scenarios bench_resnet [--samples 10000] [--baseline-samples 256] [--threads N]
        [--trained-models models/] [--width 64]
"""

from __future__ import annotations

import argparse
import resource
import time

import numba
import numpy as np
import torch
from tqdm import tqdm

import evsim
from evsim import energy
from bridges.datasets import cifar10_source, load_cifar10
from bridges.timestep import DenseSimulator
from evsim.network import INPUT, Conv2d, Dense, Identity, Network, Population

from ..machinery.results import write_results
from ..machinery.simulation import simulate_chunks
from ..machinery.tasks import available_cpus
from ..setups.models import models_dir
from . import resnet_parts as parts

T = 10
TAU = 2.0
METHODS = ("current", "ratesyn_e", "ttfs")
STAGES = ((1, 1), (2, 2), (4, 2), (8, 2))  # (channels in stem widths, stride of the first block)


def resnet18(rng: np.random.Generator, in_channels: int = 9, classes: int = 10, scales=None, width: int = 64) -> Network:
    """The ResNet18 SNN (CIFAR variant) with N(0, 1/fan_in) weights times a scale per population.

    scales: (P,) multipliers of every projection into population p (default ones).
    width: channels of the stem and the first stage (64: ResNet18; the stages have 1, 2, 4, 8x).
    Populations: stem, then two per block (after conv1, after conv2 + shortcut), then the output.
    """
    lif = evsim.LIF(tau_m=TAU, tau_s=TAU)
    pops, projs, specs = [], [], []

    def conv(source, c_in, c_out, k, stride, target):
        weight = rng.standard_normal((c_out, c_in, k, k)) / np.sqrt(c_in * k * k)
        specs.append((len(projs), target))
        projs.append(Conv2d(source, target, weight, stride=stride, padding=k // 2))

    size = 32
    pops.append(Population((width, size, size), lif))
    conv(INPUT, in_channels, width, 3, 1, 0)
    node, channels = 0, width
    for times, first_stride in STAGES:
        stage = times * width
        for block in range(2):
            stride = first_stride if block == 0 else 1
            size_out = (size - 1) // stride + 1
            a = len(pops)
            pops.append(Population((stage, size_out, size_out), lif))
            conv(node, channels, stage, 3, stride, a)
            b = len(pops)
            pops.append(Population((stage, size_out, size_out), lif))
            conv(a, stage, stage, 3, 1, b)
            if stride == 1 and channels == stage:
                specs.append((len(projs), b))
                projs.append(Identity(node, b))
            else:
                conv(node, channels, stage, 1, stride, b)
            node, channels, size = b, stage, size_out
    out = len(pops)
    pops.append(Population((classes,), lif))
    fc = rng.standard_normal((classes, channels)) / np.sqrt(channels)
    # global average pooling folded into the classifier: weight / (H W), repeated over positions
    folded = np.repeat(fc[:, :, None], size * size, axis=2).reshape(classes, -1) / (size * size)
    specs.append((len(projs), out))
    projs.append(Dense(node, out, folded))
    if scales is not None:
        projs = [_scaled(p, scales[target]) for p, (_, target) in zip(projs, specs)]
    return Network((in_channels, 32, 32), pops, projs, metadata={"architecture": "resnet18-cifar", "weights": "random"})


def _scaled(proj, s: float):
    if isinstance(proj, Identity):
        return Identity(proj.source, proj.target, proj.scale * s)
    if isinstance(proj, Conv2d):
        return Conv2d(proj.source, proj.target, proj.weight * s, proj.stride, proj.padding)
    return Dense(proj.source, proj.target, proj.weight * s)


def truncated(net: Network, last: int) -> Network:
    """Populations 0..last and the projections among them (population `last` becomes the output)."""
    projs = [p for p in net.projections if p.target <= last]
    return Network(net.input_shape, net.populations[: last + 1], projs)


def calibrate(seed: int, events: evsim.InputEvents, target_rate: float, iterations: int = 8,
              width: int = 64) -> tuple[Network, np.ndarray]:  # fmt: skip
    """Scales per population so that each hidden population spikes at about `target_rate` per
    neuron and step on `events` (bisection in log scale, one population at a time, in order)."""
    base = resnet18(np.random.default_rng(seed), width=width)
    P = len(base.populations)
    scales = np.ones(P)
    for p in tqdm(range(P - 1), desc="calibrate activity", unit="population"):
        lo, hi = np.log(0.1), np.log(50.0)
        for _ in range(iterations):
            scales[p] = np.exp((lo + hi) / 2)
            net = truncated(resnet18(np.random.default_rng(seed), scales=scales, width=width), p)
            res = evsim.simulate(net, events)
            rate = res.spike_counts[:, p].sum() / (res.steps.sum() * net.populations[p].size)
            if rate < target_rate:
                lo = np.log(scales[p])
            else:
                hi = np.log(scales[p])
        scales[p] = np.exp((lo + hi) / 2)
    scales[P - 1] = 4.0  # the readout: enough drive that the output spikes
    return resnet18(np.random.default_rng(seed), scales=scales, width=width), scales


def timed_run(net: Network, x: np.ndarray, chunk: int, desc: str) -> tuple[float, dict[str, np.ndarray]]:
    """evsim on images x (N, 3, 32, 32) in [0, 1], `chunk` at a time; seconds in the engine and the
    per-image counts. Encoding happens outside the timing, as the baseline's does."""

    def measure(net: Network, res: evsim.SimulationResult) -> dict:
        got = {k: getattr(res, k) for k in ("sops", "macs", "predictions", "spike_counts", "steps")}
        return got | {"sops_estimate": energy.sop_estimate(net, res)}

    got = simulate_chunks(net, x, T, list(METHODS), measure, chunk=chunk, timed=True, progress=desc)
    return got.pop("seconds"), got


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios bench_resnet", description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=10000, help="test images for evsim's whole-set run (max 10000)")
    parser.add_argument("--baseline-samples", type=int, default=256, help="test images for the side-by-side comparison")
    parser.add_argument("--threads", type=int, default=available_cpus(), help="threads for evsim and torch alike")
    parser.add_argument("--batch", type=int, default=64, help="batch size of the torch baseline")
    parser.add_argument("--chunk", type=int, default=256, help="images per evsim call")
    parser.add_argument("--activity", type=float, default=0.10, help="calibration target: spikes per neuron and step")
    parser.add_argument("--sweep", type=float, nargs="*", default=[0.25, 0.5, 1.0], help="input scales of the activity sweep")
    parser.add_argument("--scaling-samples", type=int, default=64,
                        help="test images for 1 thread against --threads (0: skip)")  # fmt: skip
    parser.add_argument("--trained-models", default=None, metavar="DIR",
                        help="a models/ folder with Fig. 5's trained SNNs (default: $EVSIM_MODELS or models/)")  # fmt: skip
    parser.add_argument("--trained-samples", type=int, default=256, help="test images for the trained SNNs (0: skip)")
    parser.add_argument("--width", type=int, default=64, help="channels of the stem (ResNet18: 64; small for tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="data directory (default: $EVSIM_DATA or data/)")
    parser.add_argument("--out", default="results/bench_resnet.h5")
    args = parser.parse_args(argv)
    if not 1 <= args.samples <= 10000 or not 1 <= args.baseline_samples <= args.samples:
        parser.error("--samples must lie in 1..10000 and --baseline-samples in 1..samples")
    if min(args.threads, args.batch, args.chunk, args.width) < 1:
        parser.error("--threads, --batch, --chunk and --width must be >= 1")
    if not 0 <= args.scaling_samples <= args.samples or not 0 <= args.trained_samples <= args.samples:
        parser.error("--scaling-samples and --trained-samples must lie in 0..samples")
    if not 0 < args.activity < 1 or any(s <= 0 or s > 1 for s in args.sweep):
        parser.error("--activity must lie in (0, 1) and --sweep scales in (0, 1]")
    if len(set(args.sweep)) < 2:  # the cost-against-SOPs line is fitted through the sweep's points
        parser.error("--sweep needs at least two different input scales")

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(args.threads)
    source = cifar10_source("test", args.data)
    label = "CIFAR-10 (JPEG mirror)" if source == "jpeg" else "CIFAR-10"
    test_x, test_y = load_cifar10("test", args.data)
    train_x, _ = load_cifar10("train", args.data)
    x = test_x[: args.samples].astype(np.float32) / 255.0
    print(f"{label}: {len(x)} test images; {args.threads} thread(s)")

    cal = evsim.encode_events(train_x[:4].astype(np.float32) / 255.0, T, list(METHODS))
    net, scales = calibrate(args.seed, cal, args.activity, width=args.width)
    n_neurons = sum(p.size for p in net.populations)
    print(f"ResNet18 SNN (width {args.width}): {len(net.populations)} populations, {n_neurons:,} neurons, "
          f"{int(net.n_synapses().sum()):,} synapses; random weights calibrated to {args.activity:.0%} activity")  # fmt: skip

    evsim.simulate(net, evsim.encode_events(x[:2], T, list(METHODS)))  # compile outside the timing
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_all, all_counts = timed_run(net, x, args.chunk, "evsim, whole test set")
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sops_img = all_counts["sops"].sum(axis=1)
    macs_img = all_counts["macs"].sum(axis=1)
    hidden = all_counts["spike_counts"][:, :-1].sum(axis=1) / (T * (n_neurons - net.n_out))
    exact_layer, estimate_layer = all_counts["sops"].mean(axis=0), all_counts["sops_estimate"].mean(axis=0)
    spiking = exact_layer > 0
    print(f"paper's estimate xi*FLOP / exact SOPs: {estimate_layer.sum() / exact_layer.sum():.4f} in total, "
          f"{(estimate_layer[spiking] / exact_layer[spiking]).min():.4f}..{(estimate_layer[spiking] / exact_layer[spiking]).max():.4f} per layer")  # fmt: skip
    print(f"\nevsim, {len(x)} images, rate decoding, all {T} steps: {t_all:.1f} s ({len(x) / t_all:.2f} samples/s), "
          f"{sops_img.mean():,.0f} SOPs + {macs_img.mean():,.0f} MACs per image, "
          f"{sops_img.sum() / t_all / 1e9:.2f} GSOP/s, hidden activity {hidden.mean():.1%} per step; "
          f"peak RSS {rss_after / 2**20:.2f} GiB")  # fmt: skip

    # side by side on a subset: evsim and the dense torch loop, same images, same threads
    xb = x[: args.baseline_samples]
    t_ev, sub = timed_run(net, xb, args.chunk, "evsim, subset")
    dense_inputs = evsim.encode(xb, T, list(METHODS))
    sim = DenseSimulator(net)
    sim.run(dense_inputs[:, :2], args.batch)  # warm up
    start = time.perf_counter()
    dense_out, _ = sim.run(dense_inputs, args.batch)
    t_dense = time.perf_counter() - start
    agree = float((evsim.decode(dense_out, "rate") == sub["predictions"]).mean())
    ratio = t_dense / t_ev
    print(f"side by side, {len(xb)} images: evsim {len(xb) / t_ev:.2f} samples/s, dense torch (batch {args.batch}) "
          f"{len(xb) / t_dense:.2f} samples/s: evsim {ratio:.2f}x; identical predictions {agree:.2%}")  # fmt: skip
    # a user's path, from the images: each side's encoder (event lists for evsim, the dense array for
    # torch) timed on the same images and added to its simulation
    start = time.perf_counter()
    evsim.encode_events(xb, T, list(METHODS))
    t_ev_encode = time.perf_counter() - start
    start = time.perf_counter()
    evsim.encode(xb, T, list(METHODS))
    t_dense_encode = time.perf_counter() - start
    pipeline_ratio = (t_dense + t_dense_encode) / (t_ev + t_ev_encode)
    print(f"images to predictions: encode_events {t_ev_encode * 1e3:.1f} ms + evsim, encode {t_dense_encode * 1e3:.1f} ms "
          f"+ dense torch: evsim {pipeline_ratio:.2f}x")  # fmt: skip

    # GSOP/s per layer and the time outside the kernels: one profiled run on the subset's events
    table = parts.layer_table(net, evsim.encode_events(xb, T, list(METHODS)))
    parts.print_layer_table(table)
    print(f"  profiled run {table['total_s']:.2f} s against {t_ev:.2f} s unprofiled (the profile's own cost)")

    # 1 thread against --threads, alternately, on the same events and arrays
    threads = min(args.threads, numba.config.NUMBA_NUM_THREADS)
    scaling = None
    if args.scaling_samples and threads > 1:
        scaling = parts.thread_scaling(net, x[: args.scaling_samples], T, list(METHODS), threads, args.batch)
        print(f"\n1 thread against {threads} ({scaling['samples']} images, best of 2 each, alternating): evsim "
              f"{scaling['evsim_s'][0]:.2f} / {scaling['evsim_s'][1]:.2f} s = {scaling['evsim_speedup']:.2f}x, dense torch "
              f"{scaling['dense_s'][0]:.2f} / {scaling['dense_s'][1]:.2f} s = {scaling['dense_speedup']:.2f}x; "
              f"evsim's counts and spikes identical across thread counts: {scaling['identical']}")  # fmt: skip
    else:
        print(f"\nthread scaling skipped ({'--scaling-samples 0' if not args.scaling_samples else f'{threads} thread available'})")

    # Fig. 5's trained SNNs, where a finished Fig. 5 run left them (never trained here)
    folder = args.trained_models if args.trained_models is not None else models_dir()
    trained, checkpoints = {}, {}
    if args.trained_samples:
        print(f"\nFig. 5's trained SNNs from {folder}:")
        for name, got in parts.trained_models(folder, args.data).items():
            if isinstance(got, str):
                checkpoints[name] = f"not found: {got}"
                print(f"  {name}: no trained model, skipped ({got})")
                continue
            _, encoder, decoder = parts.TRAINED[name]
            n = args.trained_samples
            trained[name] = row = parts.time_trained(got, encoder, decoder, x[:n], test_y[:n], args.batch)
            checkpoints[name] = f"{got.checkpoint.name} ({'this code' if got.checkpoint_key_matches else 'other code'})"
            print(f"  {name} (width {row['width']}, {decoder} decoding{', early exit' if decoder == 'ttfs' else ''}, "
                  f"{checkpoints[name]}): {n} images, accuracy {row['accuracy']:.1%} (dense torch {row['dense_accuracy']:.1%}); "
                  f"{row['sops_per_image']:,.0f} SOPs + {row['macs_per_image']:,.0f} MACs per image, {row['mean_steps']:.1f} steps; "
                  f"evsim {row['evsim_samples_per_s']:.1f} against dense torch {row['dense_samples_per_s']:.1f} samples/s: "
                  f"{row['ratio']:.2f}x (images to predictions {row['images_to_predictions_ratio']:.2f}x); "
                  f"identical predictions {row['identical_predictions']:.1%}")  # fmt: skip

    # cost against SOPs: the same network, input scaled to vary the activity
    sweep_sops, sweep_t, sweep_rate = [], [], []
    xs = x[: args.baseline_samples]
    print(f"\nactivity sweep ({len(xs)} images):\n  {'input scale':<12}{'activity':>9}{'SOPs/image':>14}{'ms/image':>10}{'GSOP/s':>8}")
    for s in args.sweep:
        t, c = timed_run(net, xs * np.float32(s), args.chunk, f"sweep x{s}")
        sops = c["sops"].sum(axis=1).mean()
        act = (c["spike_counts"][:, :-1].sum(axis=1) / (T * (n_neurons - net.n_out))).mean()
        sweep_sops.append(sops)
        sweep_t.append(t / len(xs))
        sweep_rate.append(act)
        print(f"  {s:<12}{act:>9.1%}{sops:>14,.0f}{1e3 * t / len(xs):>10.1f}{sops * len(xs) / t / 1e9:>8.2f}")
    slope, intercept = np.polyfit(sweep_sops, sweep_t, 1)
    print(f"  time per image = {intercept * 1e3:.2f} ms + {slope * 1e12:.1f} ps x SOPs ({1 / slope / 1e9:.1f} GSOP/s marginal)")

    settings = {
        "scenario": "bench_resnet", "dataset": label, "cifar10_source": source, "samples": len(x),
        "baseline_samples": len(xb), "threads": args.threads, "baseline_batch": args.batch, "chunk": args.chunk,
        "seed": args.seed, "T": T, "tau_m": TAU, "tau_s": TAU, "theta": 1.0, "neuron": "lif",
        "architecture": "resnet18-cifar", "weights": "random, calibrated per population", "target_activity": args.activity,
        "encoder": list(METHODS), "decoder": "rate", "early_exit": False, "dtype": "float32",
        "sweep_input_scales": list(args.sweep), "width": args.width, "layer_profile_samples": table["samples"],
        "layer_profile_threads": table["threads"], "scaling_samples": scaling["samples"] if scaling else 0,
        "scaling_threads": [1, threads] if scaling else [], "trained_models_dir": str(folder),
        "trained_samples": args.trained_samples, "trained_models": list(trained),
        "trained_checkpoints": [f"{k}: {v}" for k, v in checkpoints.items()],
    }  # fmt: skip
    data = {
        f"layers/{k}": table[k] for k in ("map_size", "sops_per_image", "macs_per_image", "kernel_s", "gsop_per_s", "integrate_s")
    } | {
        "layers/outside_kernels_share": table["outside_kernels"], "layers/time_shares": table["shares"],
        "layers/run_s": table["total_s"], "layers/loop_cpu_s": table["loop_s"],
    }  # fmt: skip
    if scaling:
        data |= {f"scaling/{k}": scaling[k] for k in ("threads", "evsim_s", "dense_s", "evsim_speedup", "dense_speedup", "identical")}
    for name, row in trained.items():
        data |= {f"trained/{name}/{k}": v for k, v in row.items()}
    layer_attrs = {"layers": table["names"]}
    path = write_results(
        args.out,
        {
            "whole_set/seconds": t_all, "whole_set/samples_per_s": len(x) / t_all, "whole_set/sops_per_image": sops_img,
            "whole_set/macs_per_image": macs_img, "whole_set/hidden_activity": hidden,
            "whole_set/gsop_per_s": sops_img.sum() / t_all / 1e9, "whole_set/peak_rss_bytes": rss_after * 1024,
            "whole_set/rss_before_bytes": rss_before * 1024,
            "side_by_side/evsim_samples_per_s": len(xb) / t_ev, "side_by_side/dense_samples_per_s": len(xb) / t_dense,
            "side_by_side/ratio": ratio, "side_by_side/identical_predictions": agree,
            "side_by_side/encode_events_s": t_ev_encode, "side_by_side/encode_s": t_dense_encode,
            "side_by_side/images_to_predictions_ratio": pipeline_ratio,
            "sweep/sops_per_image": sweep_sops, "sweep/s_per_image": sweep_t, "sweep/activity": sweep_rate,
            "sweep/fit_s_per_sop": slope, "sweep/fit_s_intercept": intercept, "calibration/scales": scales,
            "sops_per_layer": exact_layer, "sops_estimate_per_layer": estimate_layer,
        } | data,  # fmt: skip
        settings,
        dataset_attributes={f"layers/{k}": layer_attrs for k in ("map_size", "sops_per_image", "macs_per_image", "kernel_s", "gsop_per_s")}
        | {"layers/integrate_s": {"populations": [str(p.shape) for p in net.populations]},
           "layers/time_shares": {"shares": table["share_names"]}},  # fmt: skip
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
