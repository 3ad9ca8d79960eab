"""Engine benchmark: evsim's event-driven engine against a dense time-stepped torch simulation.

The network is SPEC's Fashion-MNIST SNN, 784-500-10 LIF (tau_m = tau_s = 10, theta = 1, T = 10)
with TTFS encoding and TTFS decoding with early exit. Its weights come from a ReLU ANN trained
here for a few epochs (seeded), copied into the LIF layers with one gain chosen on training
images, so the spike activity is that of a working classifier.

Both simulators run on the same encoded test images with the same thread count, measured in
this run; the baseline is batched (256) dense torch, full T steps, and a variant that stops a
batch once every sample in it has decided. Three paths are timed side by side:

- the engine alone: evsim reads event lists (`evsim.encode_events`) made outside the timing, as the
  baseline reads a dense array made outside its timing; evsim from the dense array (turning it
  into events included) beside it;
- images to predictions, a user's path: `encode_events` + `simulate` against `encode` + the dense
  torch loop, both from the same images x in [0, 1];
- each built-in encoder's share of the simulation it feeds: `encode_events` time over `simulate`
  time on its events (TTFS decoding, early exit), for TTFS, RateSynE, RateSynS, Poisson, current
  and a fused RateSynE + TTFS input (the first layer's weights halved over the two blocks).

Printed: samples/s of each, GSOP/s of evsim, the ratios, agreement of predictions, and how
evsim's time grows with SOPs when the input activity varies (drawn by `python -m scenarios plot`).
Everything is stored in results/bench_engine.h5.

    python -m scenarios bench_engine [--samples 10000] [--threads N] [--out results/bench_engine.h5]
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
import torch
from tqdm import tqdm

import evsim
from bridges.datasets import data_dir, load_idx_dataset
from bridges.timestep import DenseSimulator

from ..machinery.results import write_results
from ..machinery.tasks import available_cpus

T = 10
TAU = 10.0
HIDDEN = 500
GAINS = (1.0, 1.5, 2.0, 3.0, 4.0)


def train_ann(images: np.ndarray, labels: np.ndarray, epochs: int, seed: int) -> list[np.ndarray]:
    """A 784-500-10 ReLU ANN without bias (AdamW, lr 1e-3, weight decay 0.01, batch 128).

    Returns its weights [(500, 784), (10, 500)] as float32 arrays.
    """
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, HIDDEN, bias=False), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 10, bias=False)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    x = torch.tensor(images.reshape(len(images), -1) / 255.0, dtype=torch.float32)
    y = torch.tensor(labels)
    gen = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(epochs), desc="train ANN", unit="epoch"):
        for idx in torch.randperm(len(x), generator=gen).split(128):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return [model[0].weight.detach().numpy().copy(), model[2].weight.detach().numpy().copy()]


def lif_network(weights: list[np.ndarray], gain: float) -> evsim.Network:
    return evsim.Network.dense([w * gain for w in weights], neuron=evsim.LIF(tau_m=TAU, tau_s=TAU))


def dense_torch_ttfs(net: evsim.Network, inputs: np.ndarray, batch: int, stop_when_decided: bool) -> np.ndarray:
    """The dense time-stepped baseline (`bridges.timestep.DenseSimulator`): TTFS predictions (B,).

    With `stop_when_decided`, a batch stops at the first step at which every one of its samples
    has an output spike.
    """
    spikes, _ = DenseSimulator(net).run(inputs, batch, stop_when_decided)
    return evsim.decode(spikes, "ttfs")


def best_time(fn, repeats: int) -> tuple[float, object]:
    """Shortest wall time of `repeats` calls of fn() and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


SHARE_ENCODERS = {"ttfs": "ttfs", "ratesyn_e": "ratesyn_e", "ratesyn_s": "ratesyn_s", "poisson": "poisson",
                  "current": "current", "fused ratesyn_e+ttfs": ["ratesyn_e", "ttfs"]}  # fmt: skip


def encoder_shares(weights: list[np.ndarray], gain: float, x: np.ndarray, repeats: int, seed: int) -> dict[str, dict]:
    """Per built-in encoder: the best `encode_events` and `simulate` times (s) on x (B, 784), its
    events and SOPs. A fused list of K blocks feeds the network with its first layer's weights
    divided by K and repeated over the blocks (each block sees the same x)."""
    out = {}
    for name, method in SHARE_ENCODERS.items():
        K = 1 if isinstance(method, str) else len(method)
        net = lif_network([np.tile(weights[0] / K, (1, K)), weights[1]], gain)
        encode = lambda: evsim.encode_events(x, T, method, seed=seed)  # noqa: E731
        events = encode()
        evsim.simulate(net, evsim.encode_events(x[:8], T, method, seed=seed), decoder="ttfs", early_exit=True)
        t_encode, _ = best_time(encode, repeats)
        t_sim, r = best_time(lambda: evsim.simulate(net, events, decoder="ttfs", early_exit=True), repeats)
        out[name] = {"encode": t_encode, "simulate": t_sim, "events": events.n_events, "sops": float(r.sops.sum())}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios bench_engine", description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=10000, help="test images to simulate (max 10000)")
    parser.add_argument("--threads", type=int, default=available_cpus(), help="threads for evsim and torch alike")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is kept")
    parser.add_argument("--train-epochs", type=int, default=2, help="ANN training epochs for the weights")
    parser.add_argument("--batch", type=int, default=256, help="batch size of the torch baseline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="data directory (default: $EVSIM_DATA or data/)")
    parser.add_argument("--out", default="results/bench_engine.h5")
    args = parser.parse_args(argv)
    if not 1 <= args.samples <= 10000:
        parser.error("--samples must lie in 1..10000")
    if args.threads < 1 or args.repeats < 1 or args.train_epochs < 1 or args.batch < 1:
        parser.error("--threads, --repeats, --train-epochs and --batch must be >= 1")

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(args.threads)
    root = data_dir(args.data)
    train_x, train_y = load_idx_dataset("fashion-mnist", "train", root)
    test_x, test_y = load_idx_dataset("fashion-mnist", "test", root)
    test_x, test_y = test_x[: args.samples], test_y[: args.samples]
    print(f"Fashion-MNIST from {root}: {len(train_x)} train, {len(test_x)} test images; {args.threads} thread(s)")

    weights = train_ann(train_x, train_y, args.train_epochs, args.seed)
    val = evsim.encode(train_x[:1000].reshape(1000, -1) / 255.0, T, "ttfs")
    val_acc = {}
    for gain in GAINS:
        res = evsim.simulate(lif_network(weights, gain), val, decoder="ttfs", early_exit=True)
        val_acc[gain] = float((res.predictions == train_y[:1000]).mean())
    gain = max(GAINS, key=lambda g: val_acc[g])
    net = lif_network(weights, gain)
    print(f"LIF gain {gain} (TTFS accuracy on 1000 training images: {val_acc[gain]:.3f})")

    x = test_x.reshape(len(test_x), -1) / 255.0
    inputs = evsim.encode(x, T, "ttfs")  # the dense batch both simulators can read
    events = evsim.encode_events(x, T, "ttfs")  # the same batch as event lists, evsim's own input form
    evsim.simulate(net, inputs[:, :8], decoder="ttfs", early_exit=True)  # compile outside the timing

    t_evsim, res = best_time(lambda: evsim.simulate(net, events, decoder="ttfs", early_exit=True), args.repeats)
    t_evsim_dense, res_dense = best_time(
        lambda: evsim.simulate(net, inputs, decoder="ttfs", early_exit=True), args.repeats
    )
    assert (res_dense.predictions == res.predictions).all() and (res_dense.sops == res.sops).all()
    t_dense, dense_pred = best_time(lambda: dense_torch_ttfs(net, inputs, args.batch, False), args.repeats)
    t_dense_exit, dense_exit_pred = best_time(lambda: dense_torch_ttfs(net, inputs, args.batch, True), args.repeats)
    n = len(x)
    sops = res.sops.sum(axis=1)
    agree = float((res.predictions == dense_pred).mean())
    agree_exit = float((res.predictions == dense_exit_pred).mean())
    ref64 = evsim.reference_simulate(net, inputs[:, :500], decoder="ttfs", early_exit=True, dtype=np.float64)
    agree_ref64 = float((res.predictions[:500] == ref64.predictions).mean())
    accuracy = float((res.predictions == test_y).mean())
    rate = {"evsim": n / t_evsim, "evsim_dense_input": n / t_evsim_dense, "dense": n / t_dense,
            "dense_exit": n / t_dense_exit}  # fmt: skip
    print(f"\nTTFS encoding, TTFS decoding with early exit, T={T}, {n} images (accuracy {accuracy:.4f}):")
    print(f"  mean exit step {res.exit_step.mean():.2f}, SOPs per image {sops.mean():,.0f} (layers {res.sops.mean(0).round(0)})")
    print(f"  evsim (input events)       {rate['evsim']:>10,.0f} samples/s  {sops.sum() / t_evsim / 1e9:6.2f} GSOP/s")
    print(f"  evsim (dense input array)  {rate['evsim_dense_input']:>10,.0f} samples/s  "
          f"ratio evsim/dense {rate['evsim_dense_input'] / rate['dense']:.2f}x (includes turning the array into events)")
    print(f"  torch dense, all T steps   {rate['dense']:>10,.0f} samples/s  ratio evsim/dense {rate['evsim'] / rate['dense']:.2f}x")
    print(f"  torch dense, batch exit    {rate['dense_exit']:>10,.0f} samples/s  ratio evsim/dense {rate['evsim'] / rate['dense_exit']:.2f}x")
    print(f"  identical predictions: {agree:.4%} (dense), {agree_exit:.4%} (dense, batch exit), "
          f"{agree_ref64:.2%} of 500 against the float64 reference")  # fmt: skip

    # Images to predictions: the encoder inside the timing, on both sides.
    t_pipe, pipe = best_time(lambda: evsim.simulate(net, evsim.encode_events(x, T, "ttfs"), decoder="ttfs",
                                                    early_exit=True), args.repeats)  # fmt: skip
    t_pipe_dense, _ = best_time(lambda: dense_torch_ttfs(net, evsim.encode(x, T, "ttfs"), args.batch, False), args.repeats)
    t_pipe_exit, _ = best_time(lambda: dense_torch_ttfs(net, evsim.encode(x, T, "ttfs"), args.batch, True), args.repeats)
    assert (pipe.predictions == res.predictions).all()
    pipeline = {"evsim": n / t_pipe, "dense": n / t_pipe_dense, "dense_exit": n / t_pipe_exit}
    print("\nImages to predictions (encoding inside the timing):")
    print(f"  evsim encode_events + simulate {pipeline['evsim']:>10,.0f} samples/s")
    print(f"  encode + torch dense, all T    {pipeline['dense']:>10,.0f} samples/s  ratio evsim/dense "
          f"{pipeline['evsim'] / pipeline['dense']:.2f}x")  # fmt: skip
    print(f"  encode + torch dense, exit     {pipeline['dense_exit']:>10,.0f} samples/s  ratio evsim/dense "
          f"{pipeline['evsim'] / pipeline['dense_exit']:.2f}x")  # fmt: skip

    shares = encoder_shares(weights, gain, x, args.repeats, args.seed)
    print("\nEncoders (encode_events against the simulate it feeds, TTFS decoding, early exit):")
    print(f"  {'encoder':<20}{'events/image':>13}{'encode ms':>11}{'simulate ms':>13}{'share':>8}")
    for name, row in shares.items():
        print(f"  {name:<20}{row['events'] / n:>13,.0f}{row['encode'] * 1e3:>11.2f}{row['simulate'] * 1e3:>13.2f}"
              f"{row['encode'] / row['simulate']:>8.1%}")  # fmt: skip

    # How evsim's time grows with SOPs: rate decoding, full T, input activity varied by scaling x.
    sweep = [("ttfs", 1.0), ("ratesyn_e", 0.25), ("ratesyn_e", 0.5), ("ratesyn_e", 0.75), ("ratesyn_e", 1.0)]
    sweep_sops, sweep_t, sweep_dense_t = [], [], []
    print("\nActivity sweep (rate decoding, all T steps):")
    print(f"  {'encoding':<16}{'SOPs/image':>12}{'evsim /s':>12}{'GSOP/s':>9}{'dense /s':>12}{'ratio':>8}")
    for method, scale in tqdm(sweep, desc="activity sweep", leave=False):
        enc = evsim.encode(x * scale, T, method)
        enc_events = evsim.encode_events(x * scale, T, method)
        t, r = best_time(lambda: evsim.simulate(net, enc_events, decoder="rate"), args.repeats)
        td, _ = best_time(lambda: dense_torch_ttfs(net, enc, args.batch, False), 1)
        s = float(r.sops.sum(axis=1).mean())
        sweep_sops.append(s)
        sweep_t.append(t / n)
        sweep_dense_t.append(td / n)
        tqdm.write(f"  {method + ' x' + str(scale):<16}{s:>12,.0f}{n / t:>12,.0f}{s * n / t / 1e9:>9.2f}{n / td:>12,.0f}{td / t:>7.2f}x")
    slope, intercept = np.polyfit(sweep_sops, sweep_t, 1)
    print(f"  time per image = {intercept * 1e6:.2f} us + {slope * 1e12:.1f} ps x SOPs "
          f"({args.threads} thread(s); {1 / slope / 1e9:.1f} GSOP/s marginal)")  # fmt: skip

    settings = {
        "scenario": "bench_engine", "dataset": "fashion-mnist", "samples": n, "threads": args.threads,
        "repeats": args.repeats, "train_epochs": args.train_epochs, "seed": args.seed, "T": T, "tau_m": TAU,
        "tau_s": TAU, "theta": 1.0, "neuron": "lif", "architecture": "784-500-10", "encoder": "ttfs",
        "decoder": "ttfs", "early_exit": True, "gain": gain, "baseline_batch": args.batch, "dtype": "float32",
        "sweep_encoders": [m for m, _ in sweep], "sweep_scales": [s for _, s in sweep],
        "share_encoders": list(shares),
    }  # fmt: skip
    path = write_results(
        args.out,
        {
            "accuracy": accuracy, "samples_per_s/evsim": rate["evsim"], "samples_per_s/dense": rate["dense"],
            "samples_per_s/evsim_dense_input": rate["evsim_dense_input"],
            "samples_per_s/dense_exit": rate["dense_exit"], "gsop_per_s": sops.sum() / t_evsim / 1e9,
            "agreement/dense": agree, "agreement/dense_exit": agree_exit, "agreement/reference_float64": agree_ref64,
            "sops_per_image": res.sops.mean(axis=0), "exit_step_mean": res.exit_step.mean(),
            "gain_search/gains": np.array(GAINS), "gain_search/accuracy": np.array([val_acc[g] for g in GAINS]),
            "sweep/sops_per_image": sweep_sops, "sweep/evsim_s_per_image": sweep_t,
            "sweep/dense_s_per_image": sweep_dense_t, "sweep/fit_s_per_sop": slope, "sweep/fit_s_intercept": intercept,
            "pipeline/samples_per_s/evsim": pipeline["evsim"], "pipeline/samples_per_s/dense": pipeline["dense"],
            "pipeline/samples_per_s/dense_exit": pipeline["dense_exit"],
            "pipeline/ratio/dense": pipeline["evsim"] / pipeline["dense"],
            "pipeline/ratio/dense_exit": pipeline["evsim"] / pipeline["dense_exit"],
            "encoders/encode_s": [r["encode"] for r in shares.values()],
            "encoders/simulate_s": [r["simulate"] for r in shares.values()],
            "encoders/share": [r["encode"] / r["simulate"] for r in shares.values()],
            "encoders/events_per_image": [r["events"] / n for r in shares.values()],
            "encoders/sops_per_image": [r["sops"] / n for r in shares.values()],
        },  # fmt: skip
        settings,
        dataset_attributes={name: {"encoders": list(shares)} for name in (
            "encoders/encode_s", "encoders/simulate_s", "encoders/share", "encoders/events_per_image",
            "encoders/sops_per_image")},  # fmt: skip
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
