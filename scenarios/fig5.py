"""Paper Fig. 5 on CIFAR-10: deep SNNs with the fused encoding, PGD under four norms, energy and EDP.

ResNet18 (CIFAR variant) ANNs and SNNs (LIF tau_m = tau_s = 2, theta 1, T = 10; SPEC Table 1),
trained by `scenarios.cifar` (crop + flip, AdamW, cosine annealing). Black-box PGD from ReLU ANNs
of the same architecture trained with other seeds (paper, Methods; SPEC "Attacks"), 40 iterations:
L0 k = 10 pixels; L1 eps 20 step 1.25; L2 eps 2.5 step 0.15625; Linf eps 0.1 step 0.00625.
Accuracies under attack are means over the attackers. SNNs run in evsim (abstentions count as
wrong; TTFS decoding with early exit), exact SOPs and MACs:

- Fig. 5B: zeta[k] of TTFS-encoded adversarial examples, per attack;
- Fig. 5C: Act-BP, rate decoding, the five encoders: accuracy (clean, L0, L1, L2, Linf) and
  stability (Eq. 27, probability of a correct prediction over repeated Poisson runs);
- Fig. 5D: rate against TTFS decoding for each encoder (Act-BP);
- Fig. 5F: the ANN, current Act-BP rate, and the fused encoding (current + RateSynE + TTFS on 9
  channels) with Act-BP / Temp-BP and rate / TTFS decoding;
- Fig. 5G: energy and EDP (Eq. 34-37) of the Fig. 5F models: the paper's estimate (xi FLOP, the
  fused first layer as the sum of its encodings) and evsim's exact counts;
- Supp. Fig. S13: fused against non-fused on each attack (drawn from the 5C, 5D, 5F data).

Quick by default (a narrow ResNet18 trained briefly on a subset, 1,000 test images, 2 attackers:
the settings are in the output and the file); --full is the paper's: width 64, all 50,000
training images, 100 epochs, the whole test set, 5 attackers (--device cuda trains and attacks on
a GPU). Models are cached in models/cifar-10/, finished stages beside the result file: an
interrupted run resumes.

    python -m scenarios fig5 [--full] [--out results/fig5.h5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import torch
from tqdm import tqdm

import evsim
from bridges.attacks import ATTACKS as ATTACK_PRESETS
from bridges.attacks import make_attack, run_attack
from bridges.datasets import data_dir
from bridges.resnet import resnet_to_evsim
from evsim import energy, metrics

from .cifar import DATASET, FUSED, NEURON, T, CifarZoo, ann_accuracy, encoder_methods, load_cifar
from .content import content_hash
from .results import StageCache, write_results

ATTACKS = {"l0": "cifar10_l0", "l1": "cifar10_l1", "l2": "cifar10_l2", "linf": "cifar10_linf"}
CONDITIONS = ("clean",) + tuple(ATTACKS)
ENCODERS = ("current", "poisson", "ratesyn_s", "ratesyn_e", "ttfs")
DECODERS = ("rate", "ttfs")
VICTIM_SEED = 0
ATTACKER_SEEDS = (1, 2, 3, 4, 5)
# Fig. 5F / 5G: name -> (rule, encoder, decoder); "ann" is the victim ANN
F_MODELS = {
    "current_actbp_rate": ("actbp", "current", "rate"),
    "fused_actbp_rate": ("actbp", "fused", "rate"),
    "fused_actbp_ttfs": ("actbp", "fused", "ttfs"),
    "fused_tempbp_rate": ("tempbp", "fused", "rate"),
    "fused_tempbp_ttfs": ("tempbp", "fused", "ttfs"),
}
QUICK = {"width": 8, "train_samples": 10000, "ann_epochs": 8, "snn_epochs": 1, "test_samples": 1000, "attackers": 2,
         "stability_runs": 50, "stability_samples": 200, "snn_init": "ann"}  # fmt: skip
FULL = {"width": 64, "train_samples": 50000, "ann_epochs": 100, "snn_epochs": 100, "test_samples": 10000, "attackers": 5,
        "stability_runs": 50, "stability_samples": 10000, "snn_init": "scratch"}  # fmt: skip
CHUNK = 250  # images per evsim call


def model_label(rule: str, encoder: str, decoder: str) -> str:
    return f"{encoder}_{rule}_{decoder}"


def snn_models() -> list[tuple[str, str, str]]:
    """Every SNN the figure needs, (rule, encoder, decoder), each once."""
    wanted = [("actbp", e, d) for e in ENCODERS for d in DECODERS] + list(F_MODELS.values())
    return list(dict.fromkeys(wanted))


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scenarios fig5", description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the paper's settings (width 64, 100 epochs, all images, 5 attackers)")
    for name, help_text in (
        ("width", "channels of the stem (ResNet18: 64; stages 1x, 2x, 4x, 8x)"),
        ("train-samples", "training images (the first N of the training set)"),
        ("ann-epochs", "ANN training epochs"), ("snn-epochs", "SNN training epochs"),
        ("test-samples", "test images (the first N)"), ("attackers", "attacker ANNs (seeds 1..N, at most 5)"),
        ("stability-runs", "Poisson runs for the stability of Fig. 5C"),
        ("stability-samples", "test images for the stability runs"),
    ):  # fmt: skip
        key = name.replace("-", "_")
        parser.add_argument(f"--{name}", type=int, default=None, help=f"{help_text} (quick {QUICK[key]}, full {FULL[key]})")
    parser.add_argument("--snn-init", choices=("scratch", "ann"), default=None,
                        help="SNN starting weights: random (the paper), or the trained ANN of the same seed, then "
                             "--snn-epochs of spike-based training (quick: ann, full: scratch)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the Poisson draws and of the attacks' random starts")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--jobs", type=int, default=None,
                        help="processes that train the models and run the attacks side by side, one torch thread each "
                             "(default: --threads on the CPU, 1 with --device cuda); evsim then uses --threads")  # fmt: skip
    parser.add_argument("--device", default="cpu", help="torch device for training and attacks (cpu, cuda); evsim runs on the CPU")
    parser.add_argument("--data", default=None, help="data directory (default: $EVSIM_DATA or data/)")
    parser.add_argument("--out", default="results/fig5.h5")
    parser.add_argument("--recompute", action="store_true", help="recompute every stage, ignoring the finished ones beside --out")
    args = parser.parse_args(argv)
    preset = FULL if args.full else QUICK
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.width, args.ann_epochs, args.snn_epochs, args.threads, args.stability_runs, args.stability_samples) < 1:
        parser.error("--width, epochs, --threads and the stability options must be >= 1")
    if not 1 <= args.train_samples <= 50000 or not 1 <= args.test_samples <= 10000:
        parser.error("--train-samples must lie in 1..50000, --test-samples in 1..10000")
    if not 1 <= args.attackers <= len(ATTACKER_SEEDS):
        parser.error(f"--attackers must lie in 1..{len(ATTACKER_SEEDS)}")
    if args.stability_samples > args.test_samples:
        parser.error("--stability-samples must be <= --test-samples")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: torch sees no CUDA device here")
    if args.jobs is None:
        args.jobs = 1 if args.device != "cpu" else args.threads
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    return args


# ------------------------------------------------------------------ work done in worker processes


def _worker_zoo(args_dict: dict) -> CifarZoo:
    """The run's zoo rebuilt in a worker process (data read again; models from the shared models/)."""
    a = argparse.Namespace(**args_dict)
    torch.set_num_threads(1)
    root = data_dir(a.data)
    train, _ = load_cifar("train", a.train_samples, root)
    test, _ = load_cifar("test", a.test_samples, root)
    return CifarZoo(train, test, a.width, a.ann_epochs, a.snn_epochs, device=a.device, init=a.snn_init)


def train_task(args_dict: dict, key: tuple) -> tuple:
    """A worker: train (or reload) the zoo's model `key`; its checkpoint lands in models/."""
    _worker_zoo(args_dict).get(key)
    return key


def attack_task(args_dict: dict, preset: str, index: int, attacker_seed: int) -> np.ndarray:
    """A worker: attacker `index`'s adversarial images (N, 3072) of the test set under `preset`."""
    zoo = _worker_zoo(args_dict)
    model = zoo.ann(attacker_seed).to(args_dict["device"])
    images = torch.from_numpy(zoo.test.x.reshape(-1, 3, 32, 32))
    adv = run_attack(make_attack(preset, model), images, torch.from_numpy(zoo.test.y), batch_size=250,
                     seed=(args_dict["seed"], index))  # fmt: skip
    return adv.reshape(len(adv), -1).numpy()


def _pool(jobs: int):
    # spawn: a fresh interpreter per worker (fork would copy torch's and numba's thread pools)
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def train_all(args, keys: list[tuple]) -> None:
    """Train every model of `keys` in --jobs worker processes (the slowest first); with --jobs 1
    they are trained on first use in this process instead."""
    if args.jobs == 1:
        return
    cost = {"actbp": 10, "tempbp": 13}  # measured seconds per batch, relative
    # the ANNs first: an SNN may start from one (--snn-init ann), and no two processes may train one model
    phases = [[k for k in keys if k[0] == "ann"], sorted((k for k in keys if k[0] != "ann"), key=lambda k: -cost[k[1]])]
    with _pool(args.jobs) as pool:
        for phase, what in zip(phases, ("ANNs", "SNNs")):
            futures = [pool.submit(train_task, vars(args), key) for key in phase]
            try:
                for done in tqdm(as_completed(futures), total=len(futures), desc=f"training {what} in {args.jobs} processes"):
                    done.result()
            except BaseException:
                for f in futures:
                    f.cancel()
                raise


def simulate_images(net: evsim.Network, x: np.ndarray, encoder: str, decoder: str, seed: int) -> dict[str, np.ndarray]:
    """Run `net` in evsim on images x (N, 3072) in [0, 1], CHUNK images per call.

    encoder: a name or "fused"; TTFS decoding stops each sample at its decision (early exit).
    Poisson draws depend on (seed, chunk): clean and attacked images of a chunk see the same u.
    Returns per sample: predictions (N,), steps (N,), sops and macs (N, L) exact, sops_estimate
    (N, L) (xi FLOP), energy (pJ) of the paper's model and of the exact counts (N,), and the
    delay (ns) of the model (a scalar: it does not depend on the sample).
    """
    methods = encoder_methods(encoder)
    fused = not isinstance(methods, str)
    current = 3 if fused else None  # the paper's fused first layer: the sum of its encodings
    parts: dict[str, list] = {}
    for c, lo in enumerate(range(0, len(x), CHUNK)):
        xb = x[lo : lo + CHUNK].reshape(-1, 3, 32, 32)
        events = evsim.encode_events(xb, T, methods, seed=np.random.default_rng([seed, c]))
        res = evsim.simulate(net, events, decoder=decoder, early_exit=decoder == "ttfs")
        paper = energy.snn_energy(net, res, current_channels=current)
        exact = energy.snn_energy_exact(net, res, current_channels=current)
        got = {
            "predictions": res.predictions, "steps": res.steps, "sops": res.sops, "macs": res.macs,
            "sops_estimate": paper.sops, "macs_estimate": paper.macs,
            "energy_pj": paper.total_energy_pj, "energy_exact_pj": exact.total_energy_pj,
        }  # fmt: skip
        for k, v in got.items():
            parts.setdefault(k, []).append(v)
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["delay_ns"] = np.array(paper.total_delay_ns)
    return out


def main(argv=None) -> None:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    root = data_dir(args.data)
    train, source = load_cifar("train", args.train_samples, root)
    test, _ = load_cifar("test", args.test_samples, root)
    mode = "full (paper settings)" if args.full else "quick"
    print(f"fig5 on {source}, {mode}: ResNet18 width {args.width}, {len(train.y)} training images, "
          f"{args.ann_epochs} ANN / {args.snn_epochs} SNN epochs, {len(test.y)} test images, {args.attackers} attackers; "
          f"T={T}, {args.threads} thread(s)")  # fmt: skip
    attacker_seeds = ATTACKER_SEEDS[: args.attackers]
    settings = {
        "scenario": "fig5", "mode": "full" if args.full else "quick", "dataset": source, "dataset_id": DATASET,
        "architecture": "ResNet18 (CIFAR variant: 3x3 stem, [2, 2, 2, 2] basic blocks, global average pool)",
        "width": args.width, "train_samples": len(train.y), "test_samples": len(test.y),
        "ann_epochs": args.ann_epochs, "snn_epochs": args.snn_epochs, "optimizer": "AdamW", "ann_lr": 1e-3,
        "snn_lr": 5e-4, "weight_decay": 0.01, "schedule": "cosine annealing", "batch_size": 64,
        "augmentation": "random crop (padding 4) + horizontal flip", "neuron": "lif", "tau_m": NEURON.tau_m,
        "tau_s": NEURON.tau_s, "theta": NEURON.theta, "reset": NEURON.reset, "T": T, "fused_encoders": list(FUSED),
        "victim_seed": VICTIM_SEED, "attacker_seeds": list(attacker_seeds), "attack_setting": "black-box PGD from ReLU ANNs",
        "attacks": list(ATTACKS), "conditions": list(CONDITIONS), "encoder_seed": args.seed, "threads": args.threads,
        "device": args.device, "snn_init": args.snn_init, "stability_runs": args.stability_runs, "stability_samples": args.stability_samples,
        "abstention": "counts as wrong", "early_exit": "TTFS decoding stops at the first output spike",
    }  # fmt: skip
    for name, preset in ATTACKS.items():
        for key, value in ATTACK_PRESETS[preset][1].items():
            settings[f"attack_{name}_{key}"] = value
    stages = StageCache(args.out, settings, code="scenarios.fig5", recompute=args.recompute)
    zoo = CifarZoo(train, test, args.width, args.ann_epochs, args.snn_epochs, device=args.device, init=args.snn_init)
    x, y = test.x, test.y
    test_key = test.content
    data: dict[str, object] = {}

    # models: the victim ANN, the attackers, every SNN (trained once, cached in models/)
    train_all(args, [("ann", s) for s in (VICTIM_SEED, *attacker_seeds)] + [("snn", *key) for key in snn_models()])
    victim = zoo.ann(VICTIM_SEED)
    attackers = [zoo.ann(s) for s in attacker_seeds]
    models = {key: zoo.snn(*key) for key in tqdm(snn_models(), desc="SNN models")}
    nets = {key: resnet_to_evsim(model) for key, model in models.items()}
    attackers_key = content_hash(attackers)

    # attacks: one stage per norm, every attacker's adversarial images of the test set
    adversarial: dict[str, np.ndarray] = {}
    attack_inputs = {"test": test_key, "attackers": attackers_key}
    found = {name: stages.lookup(f"attack_{name}", attack_inputs) for name in ATTACKS}
    todo = [name for name, got in found.items() if got is None]
    crafted: dict[tuple[str, int], np.ndarray] = {}
    if todo:  # every (norm, attacker) pair at once, in --jobs processes
        t0 = time.perf_counter()
        pairs = [(name, i, seed) for name in todo for i, seed in enumerate(attacker_seeds)]
        if args.jobs == 1:
            for name, i, seed in tqdm(pairs, desc="PGD attacks"):
                crafted[(name, i)] = attack_task(vars(args), ATTACKS[name], i, seed)
        else:
            with _pool(args.jobs) as pool:
                futures = {pool.submit(attack_task, vars(args), ATTACKS[name], i, seed): (name, i) for name, i, seed in pairs}
                for done in tqdm(as_completed(futures), total=len(futures), desc=f"PGD attacks in {args.jobs} processes"):
                    crafted[futures[done]] = done.result()
        seconds = (time.perf_counter() - t0) / len(todo)
    for name in ATTACKS:
        got = found[name]
        if got is None:  # the attacker's own accuracy on its images: how strong the attack is (white-box)
            adv = np.stack([crafted[(name, i)] for i in range(len(attackers))])
            own = np.array([ann_accuracy(m, a, y) for m, a in zip(attackers, adv)])
            got = stages.store(f"attack_{name}", {"images": adv, "attacker_accuracy": own}, attack_inputs, seconds=seconds)
        adversarial[name] = got["images"]
        delta = got["images"] - x[None]
        data[f"attacks/{name}/attacker_accuracy"] = got["attacker_accuracy"]
        changed_pixels = (np.abs(delta.reshape(len(delta), -1, 3, 1024)).max(axis=2) > 0).sum(axis=2)
        data[f"attacks/{name}/norm"] = np.array([
            changed_pixels.mean(), np.abs(delta).sum(axis=2).mean(), np.sqrt((delta**2).sum(axis=2)).mean(),
            np.abs(delta).max(axis=2).mean(),
        ])  # fmt: skip
    data["attacks/norm_axis"] = np.array(["changed pixels", "l1", "l2", "linf"], dtype=object)
    victim_acc = [ann_accuracy(victim, x, y)] + [
        float(np.mean([ann_accuracy(victim, a, y) for a in adversarial[n]])) for n in ATTACKS
    ]
    data["fig5f/ann/accuracy"] = np.array(victim_acc)
    data["attacks/attacker_clean_accuracy"] = np.array([ann_accuracy(m, x, y) for m in attackers])

    # evsim: every SNN on the clean and the attacked images
    results: dict[tuple, dict] = {}
    for key in tqdm(snn_models(), desc="evsim: SNNs on clean and attacked images"):
        rule, encoder, decoder = key

        def evaluate(key=key, rule=rule, encoder=encoder, decoder=decoder):
            net = nets[key]
            clean = simulate_images(net, x, encoder, decoder, args.seed)
            out = {f"clean/{k}": v for k, v in clean.items()}
            for name in ATTACKS:
                preds = [simulate_images(net, a, encoder, decoder, args.seed)["predictions"] for a in adversarial[name]]
                out[f"{name}/predictions"] = np.stack(preds)
            return out

        inputs = {"test": test_key, "attackers": attackers_key, "snn": content_hash(nets[key])}
        inputs |= {f"attack_{n}": stages.keys[f"attack_{n}"] for n in ATTACKS}
        got = stages.get(f"snn_{model_label(*key)}", evaluate, inputs=inputs)
        acc = [metrics.accuracy(got["clean/predictions"], y)]
        acc += [float(np.mean([metrics.accuracy(p, y) for p in got[f"{n}/predictions"]])) for n in ATTACKS]
        results[key] = {"accuracy": np.array(acc), **{k[len("clean/"):]: v for k, v in got.items() if k.startswith("clean/")}}

    for e in ENCODERS:
        data[f"fig5c/{e}/accuracy"] = results[("actbp", e, "rate")]["accuracy"]
        for d in DECODERS:
            data[f"fig5d/{e}/{d}/accuracy"] = results[("actbp", e, d)]["accuracy"]
    for label, key in F_MODELS.items():
        data[f"fig5f/{label}/accuracy"] = results[key]["accuracy"]

    # Fig. 5C stability: repeated Poisson runs; the other encoders are deterministic
    def stability():
        n = args.stability_samples
        net = nets[("actbp", "poisson", "rate")]
        runs = [simulate_images(net, x[:n], "poisson", "rate", args.seed + 1 + r)["predictions"]
                for r in tqdm(range(args.stability_runs), desc="Fig. 5C: Poisson stability", leave=False)]  # fmt: skip
        return {"predictions": np.stack(runs)}

    poisson_runs = stages.get(
        "stability", stability, inputs={"test": test_key, "snn": content_hash(nets[("actbp", "poisson", "rate")])}
    )["predictions"]
    stability_attrs = {}
    for e in ENCODERS:
        name = f"fig5c/{e}/stability"
        if e == "poisson":
            data[name] = metrics.stability(poisson_runs, y[: args.stability_samples])
            data["fig5c/poisson/stability_per_run"] = (poisson_runs == y[None, : args.stability_samples]).mean(axis=1)
            stability_attrs[name] = {"runs": args.stability_runs, "samples": args.stability_samples}
        else:
            # a deterministic encoder gives the same spikes in every run: the probability of a
            # correct prediction is 0 or 1 per image, and its mean is the clean accuracy
            data[name] = float(data[f"fig5c/{e}/accuracy"][0])
            stability_attrs[name] = {"runs": 1, "samples": len(y), "deterministic": True}

    # Fig. 5B: when the perturbations reach a TTFS-encoded SNN
    for name in ATTACKS:
        counts = sum(metrics.perturbation_counts(x, a, T, "ttfs") for a in adversarial[name])
        data[f"fig5b/{name}/perturbation_timing"] = counts / max(int(counts.sum()), 1)
        data[f"fig5b/{name}/perturbation_counts"] = counts

    # Fig. 5G: energy and EDP (clean test images), the ANN of the same architecture as reference
    ann_report = energy.ann_energy(nets[F_MODELS["current_actbp_rate"]])
    data["fig5g/ann/energy_pj"] = data["fig5g/ann/energy_pj_exact"] = ann_report.mean_total_energy_pj
    data["fig5g/ann/edp"] = data["fig5g/ann/edp_exact"] = ann_report.mean_edp_pj_ns
    data["fig5g/ann/delay_ns"] = ann_report.total_delay_ns
    for label, key in F_MODELS.items():
        r = results[key]
        g = f"fig5g/{label}"
        data[f"{g}/energy_pj"] = float(r["energy_pj"].mean())
        data[f"{g}/energy_pj_exact"] = float(r["energy_exact_pj"].mean())
        data[f"{g}/edp"] = float(r["energy_pj"].mean() * r["delay_ns"])
        data[f"{g}/edp_exact"] = float(r["energy_exact_pj"].mean() * r["delay_ns"])
        data[f"{g}/delay_ns"] = float(r["delay_ns"])
        data[f"{g}/steps"] = float(r["steps"].mean())
        data[f"{g}/sops_exact_per_layer"] = r["sops"].mean(axis=0)
        data[f"{g}/sops_estimate_per_layer"] = r["sops_estimate"].mean(axis=0)
        data[f"{g}/macs_exact"] = float(r["macs"].sum(axis=1).mean())
        data[f"{g}/macs_estimate"] = float(r["macs_estimate"].sum(axis=1).mean())
    units = {"energy_pj": "pJ per image", "edp": "pJ*ns per image"}
    attrs = {name: {"unit": units[name.rsplit("/", 1)[1].removesuffix("_exact")]}
             for name in data if name.startswith("fig5g/") and name.rsplit("/", 1)[1].removesuffix("_exact") in units}  # fmt: skip
    attrs |= {name: {"order": list(CONDITIONS)} for name in data if name.endswith("/accuracy")}
    attrs |= stability_attrs
    attrs["attacks/norm_axis"] = {}

    settings["seconds"] = round(time.perf_counter() - started, 1)
    path = write_results(args.out, data, settings, dataset_attributes={k: v for k, v in attrs.items() if v}, stages=stages)
    summary(data)
    print(f"\nwrote {path} in {settings['seconds']:.0f} s; draw the figures with: python -m scenarios plot {path}")


def summary(data: dict) -> None:
    print("\naccuracy (%): clean / L0 / L1 / L2 / Linf (mean over attackers)")
    rows = [("ann", data["fig5f/ann/accuracy"])]
    rows += [(f"{e} actbp {d}", data[f"fig5d/{e}/{d}/accuracy"]) for e in ENCODERS for d in DECODERS]
    rows += [(label, data[f"fig5f/{label}/accuracy"]) for label in F_MODELS if label.startswith("fused")]
    for label, acc in rows:
        print(f"  {label:<22}" + " / ".join(f"{100 * a:5.1f}" for a in acc) + f"   attacked mean {100 * np.mean(acc[1:]):5.1f}")
    print("\nstability (Fig. 5C): " + ", ".join(f"{e} {100 * float(data[f'fig5c/{e}/stability']):.1f}%" for e in ENCODERS))
    print("\nenergy per image (nJ, paper's estimate / exact) and EDP relative to the ANN")
    ann_e, ann_edp = float(data["fig5g/ann/energy_pj"]), float(data["fig5g/ann/edp"])
    for label in ("ann",) + tuple(F_MODELS):
        e, ex = float(data[f"fig5g/{label}/energy_pj"]), float(data[f"fig5g/{label}/energy_pj_exact"])
        edp = float(data[f"fig5g/{label}/edp"])
        print(f"  {label:<22}{e / 1e3:10.1f} / {ex / 1e3:10.1f}   energy x{ann_e / e:5.2f} less, EDP x{ann_edp / edp:5.2f} lower")


if __name__ == "__main__":
    main()
