"""Paper Fig. 2 on MNIST: how the encoding's timing decides a converted SNN's robustness.

A ReLU ANN 784-100-10 (no bias) is trained and converted to IF neurons (T = 30, rate decoding).
Five attacker ANNs of the same architecture, trained with other seeds, craft black-box FGSM
examples (eps 0.1, and a sweep of eps). evsim then simulates the SNN with the current, Poisson,
RateSynS and RateSynE encodings, clean and attacked, and with the perturbation restricted to the
foreground (pixel > 0.2) or to the background, and records for every encoder (`--encoders`: these
four by default; any built-in or registered encoder, and the literature's phase, burst and
sigma_delta codes of `scenarios.setups.literature_encoders`, e.g. `--encoders current poisson
ratesyn_s ratesyn_e phase burst sigma_delta`):

- TAAcc[k] (Eq. 26) clean, attacked, attacked foreground-only and background-only (Fig. 2D, 2F);
- zeta[k], the temporal distribution of encoded perturbations (Fig. 2C), also split into its
  foreground and background parts (Fig. 2E);
- exact SOPs and MACs per layer, the paper's SOP estimate xi*FLOP, energy and EDP (Eq. 33-37);
- Poisson stability over repeated trials (Eq. 27); accuracy over the eps sweep.

Accuracies under attack are means over the five attackers. Quick by default (fewer ANN epochs,
said in the output and the file); --full uses the paper's 100 epochs. Trained models are cached
in models/, finished stages beside the result file: an interrupted run resumes.

The work is done by pure tasks (`scenarios.machinery.tasks`): one per ANN (six), the eps-0.1 attack, one
per encoder (clean and attacked runs, zeta), the stability trials and one per swept eps. Serially
they run in this process, the ANNs' training overlapping numba's compilation in a thread; with
`--ray [ADDRESS]` they run as Ray tasks (`--workers` CPUs of a local Ray, or a cluster): the six
trainings at once, then the evaluation tasks at once (their stage keys hash the trained weights).
The driver alone writes stage files and the result.

    python -m scenarios fig2 [--full] [--encoders E ...] [--out results/fig2.h5] [--ray [ADDRESS] [--workers N] --threads 1]
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
import torch

import evsim
from bridges.attacks import black_box
from bridges.conversion import convert
from bridges.datasets import data_dir
from evsim import energy, metrics

from ..machinery.accuracy import ann_accuracy
from ..machinery.content import content_hash
from ..machinery.job import run_job
from ..machinery.model_tasks import train_models
from ..machinery.results import StageCache
from ..machinery.simulation import simulate_chunks
from ..machinery.tasks import After, Job, available_cpus, run_stages
from ..setups.literature_encoders import LITERATURE, available
from ..setups.models import AnnZoo, Split, load_split

ENCODERS = ("current", "poisson", "ratesyn_s", "ratesyn_e")  # the paper's four: the default of --encoders
T = 30
EPS = 0.1
SWEEP = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
ATTACKER_SEEDS = (1, 2, 3, 4, 5)
VICTIM_SEED = 0
CHUNK = 2000  # images per simulated batch: (T, CHUNK, 784) float32 is 188 MB


def simulate_images(net: evsim.Network, x: np.ndarray, encoder: str, seed: int, with_energy: bool = False) -> dict[str, np.ndarray]:
    """Simulate images x (N, 784) encoded with `encoder`, chunk by chunk.

    Returns output spikes (T, N, 10); per sample and layer (N, L): exact SOPs and MACs, the paper's
    SOP estimate xi*FLOP, the energy (pJ) of the paper's model and of evsim's exact counts; hidden
    spike counts per step (T, N); and the two models' delays (ns) (the energy and hidden entries
    only `with_energy`, the clean runs). Poisson draws depend on (seed, chunk).
    """

    def measure(net: evsim.Network, res: evsim.SimulationResult) -> dict:
        got = {"output_spikes": res.output_spikes, "sops": res.sops, "macs": res.macs}
        if with_energy:
            got["hidden_counts"] = res.hidden_spikes[0].sum(axis=2)
            paper, exact = energy.snn_energy(net, res), energy.snn_energy_exact(net, res)
            got["sops_estimate"] = energy.sop_estimate(net, res)
            got["energy_pj"] = paper.energy_pj
            got["energy_exact_pj"] = exact.energy_pj
            got["delay_ns"] = np.array(paper.total_delay_ns)  # the model's, the same for every chunk
        return got

    # events straight from the encoder: no dense (T, CHUNK, 784) batch for the deterministic ones;
    # hidden rates for the clean runs only
    return simulate_chunks(net, x, T, encoder, measure, chunk=CHUNK, seed=seed, decoder="rate", record_hidden=with_energy)


def compile_kernels(x: np.ndarray) -> None:
    """Run evsim's kernels once on two images with the run's array types, so numba compiles them
    (or loads them from its cache) now: called in a thread while the ANNs train, it takes the
    compilation (about 20 s in a fresh checkout) off the critical path. The ANNs do not use numba."""
    net = evsim.Network.dense([np.full((100, 784), 0.01), np.full((10, 100), 0.1)], neuron=evsim.IF())
    for encoder in ENCODERS:
        simulate_images(net, x[:2], encoder, 0, with_energy=True)
        zeta(x[:2], x[1:3], encoder, 0)


def zeta(x_clean: np.ndarray, x_adv: np.ndarray, encoder: str, seed: int) -> np.ndarray:
    """Counts (T,) of encoded values that the perturbation changed, per step (normalise to get zeta)."""
    counts = np.zeros(T)
    for c, lo in enumerate(range(0, len(x_clean), CHUNK)):
        # the same draws per chunk as simulate_images, counted from n(x) without encoding
        counts += metrics.perturbation_counts(
            x_clean[lo : lo + CHUNK], x_adv[lo : lo + CHUNK], T, encoder, seed=np.random.default_rng([seed, c])
        )
    return counts


# ------------------------------------------------------------------ tasks: values in, values out


def attack_task(eps: float, x: np.ndarray, y: np.ndarray, *attackers) -> dict:
    """Black-box FGSM images (attackers, N, 784) of x at `eps`, one set per attacker ANN."""
    adv = black_box(list(attackers), torch.from_numpy(x), torch.from_numpy(y), "fgsm", eps=eps)
    return {"x_adv": np.stack([a.numpy() for a in adv])}


def snn_task(encoder: str, seed: int, net: evsim.Network, x: np.ndarray, y: np.ndarray, adv: dict) -> dict:
    """One encoder's stage: the SNN on clean images (TAAcc, counts, energy, hidden rates) and on
    each attacker's images, whole and split into foreground and background parts (TAAcc, zeta)."""
    with available([encoder]):  # a Ray worker registers a literature encoder itself
        return _snn_stage(encoder, seed, net, x, y, adv)


def _snn_stage(encoder: str, seed: int, net: evsim.Network, x: np.ndarray, y: np.ndarray, adv: dict) -> dict:
    clean = simulate_images(net, x, encoder, seed, with_energy=True)
    out = {
        "taacc_clean": metrics.taacc(clean["output_spikes"], y, "rate"),
        "accuracy_clean": metrics.accuracy(evsim.decode(clean["output_spikes"], "rate"), y),
        "sops": clean["sops"].mean(axis=0),
        "sops_estimate": clean["sops_estimate"].mean(axis=0),
        "macs": clean["macs"].mean(axis=0),
        "energy_pj": clean["energy_pj"].mean(axis=0),
        "energy_exact_pj": clean["energy_exact_pj"].mean(axis=0),
        "delay_ns": clean["delay_ns"],
        "edp_pj_ns": clean["energy_pj"].sum(axis=1).mean() * clean["delay_ns"],
        "edp_exact_pj_ns": clean["energy_exact_pj"].sum(axis=1).mean() * clean["delay_ns"],
        "hidden_rate": clean["hidden_counts"].mean(axis=1) / net.populations[0].size,
    }
    curves = {"attacked": [], "attacked_fg": [], "attacked_bg": []}
    timing = {"all": np.zeros(T), "fg": np.zeros(T), "bg": np.zeros(T)}
    sops_attacked = []
    for xa in adv["x_adv"]:
        x_fg, x_bg = metrics.split_perturbation(x, xa)
        att = simulate_images(net, xa, encoder, seed)
        curves["attacked"].append(metrics.taacc(att["output_spikes"], y, "rate"))
        sops_attacked.append(att["sops"].mean(axis=0))
        curves["attacked_fg"].append(metrics.taacc(simulate_images(net, x_fg, encoder, seed)["output_spikes"], y, "rate"))
        curves["attacked_bg"].append(metrics.taacc(simulate_images(net, x_bg, encoder, seed)["output_spikes"], y, "rate"))
        timing["all"] += zeta(x, xa, encoder, seed)
        timing["fg"] += zeta(x, x_fg, encoder, seed)
        timing["bg"] += zeta(x, x_bg, encoder, seed)
    out["taacc_attacked"] = np.mean(curves["attacked"], axis=0)
    out["taacc_attacked_per_attacker"] = np.array(curves["attacked"])
    out["taacc_attacked_fg"] = np.mean(curves["attacked_fg"], axis=0)
    out["taacc_attacked_bg"] = np.mean(curves["attacked_bg"], axis=0)
    out["sops_attacked"] = np.mean(sops_attacked, axis=0)
    total = timing["all"].sum()
    out["perturbation_timing"] = timing["all"] / total if total else timing["all"]
    split = timing["fg"].sum() + timing["bg"].sum()
    out["perturbation_timing_fg"] = timing["fg"] / split if split else timing["fg"]
    out["perturbation_timing_bg"] = timing["bg"] / split if split else timing["bg"]
    return out


def stability_task(trials: int, seed: int, net: evsim.Network, x: np.ndarray) -> dict:
    """Predictions (trials, N) of the Poisson-encoded SNN, trial k drawing with seed + 1000 + k (Eq. 27)."""
    preds = []
    for trial in range(trials):
        spikes = simulate_images(net, x, "poisson", seed + 1000 + trial)["output_spikes"]
        preds.append(evsim.decode(spikes, "rate"))
    return {"predictions": np.array(preds)}


def sweep_task(eps: float, encoders: tuple[str, ...], seed: int, net: evsim.Network, x: np.ndarray, y: np.ndarray,
               victim, *attackers) -> dict:  # fmt: skip
    """One point of the eps sweep (eps not 0 nor EPS): the attackers' FGSM images at eps, the
    victim ANN's and each encoder's SNN accuracy on them, means over the attackers."""
    adv = attack_task(eps, x, y, *attackers)["x_adv"]
    res = {"ann": np.mean([ann_accuracy(victim, a, y) for a in adv])}
    with available(encoders):
        for encoder in encoders:
            res[encoder] = np.mean([
                metrics.accuracy(evsim.decode(simulate_images(net, a, encoder, seed)["output_spikes"], "rate"), y) for a in adv
            ])  # fmt: skip
    return res


# ------------------------------------------------------------------ the driver


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios fig2", description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the paper's settings: 100 ANN epochs")
    parser.add_argument("--ann-epochs", type=int, default=None, help="override the ANN epochs (quick: 10)")
    parser.add_argument("--test-samples", type=int, default=10000, help="test images used (max 10000)")
    parser.add_argument("--stability-trials", type=int, default=10, help="Poisson trials for Eq. 27")
    parser.add_argument("--percentile", type=float, default=99.9, help="conversion normalisation percentile")
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), metavar="ENCODER",
                        choices=list(dict.fromkeys(evsim.encoding.encoder_names() + tuple(LITERATURE))),
                        help="built-in, literature (phase, burst, sigma_delta) or registered encoders "
                             f"(python -m scenarios --import MODULE registers them); default: {' '.join(ENCODERS)}")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the encoders' random draws")
    parser.add_argument("--threads", type=int, default=available_cpus(), help="threads (torch and numba) of each task")
    parser.add_argument("--data", default=None, help="data directory (default: $EVSIM_DATA or data/)")
    parser.add_argument("--out", default="results/fig2.h5")
    parser.add_argument("--recompute", action="store_true", help="recompute every stage, ignoring the finished ones beside --out")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run the training, attack and simulation tasks on Ray: a local instance, or the cluster at ADDRESS")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None, help="CPUs of the local Ray (default: all)")
    args = parser.parse_args(argv)
    epochs = (100 if args.full else 10) if args.ann_epochs is None else args.ann_epochs
    if epochs < 1 or not 1 <= args.test_samples <= 10000 or args.stability_trials < 1 or args.threads < 1:
        parser.error("--ann-epochs, --stability-trials and --threads must be >= 1, --test-samples in 1..10000")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be >= 1")
    if len(set(args.encoders)) != len(args.encoders):
        parser.error(f"--encoders names an encoder twice: {' '.join(args.encoders)}")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    root = data_dir(args.data)
    train = load_split("mnist", "train", root=root)
    test = load_split("mnist", "test", args.test_samples, root=root)
    mode = "full (paper settings)" if args.full else f"quick ({epochs} ANN epochs instead of the paper's 100)"
    print(f"Fig. 2 on MNIST, {mode}; {len(test.y)} test images, T={T}, {args.threads} thread(s)")

    settings = {
        "scenario": "fig2", "dataset": "mnist", "mode": "full" if args.full else "quick", "ann_epochs": epochs,
        "architecture": "784-100-10", "bias": False, "ann_lr": 1e-3, "weight_decay": 0.01, "batch_size": 128,
        "conversion": "Rueckauer et al. 2017, data-based normalisation", "conversion_percentile": args.percentile,
        "neuron": "if", "theta": 1.0, "reset": "subtract", "T": T, "decoder": "rate", "encoders": list(args.encoders),
        "attack": "fgsm", "attack_eps": EPS, "attack_setting": "black-box", "attacker_seeds": list(ATTACKER_SEEDS),
        "victim_seed": VICTIM_SEED, "eps_sweep": list(SWEEP), "foreground_threshold": 0.2,
        "test_samples": len(test.y), "encoder_seed": args.seed, "stability_trials": args.stability_trials,
        "threads": args.threads,
    }  # fmt: skip
    run_job(args, settings, "scenarios.paper.fig2", lambda runner, stages: evaluate(args, runner, stages, epochs, train, test),
            started=started, summary=summary)  # fmt: skip


def evaluate(args, runner, stages: StageCache, epochs: int, train: Split, test: Split) -> dict[str, object]:
    """Every stage of the figure as tasks on `runner` (each model trained by one task, the
    evaluation tasks reading the models' outputs); the driver stores the stages and returns the
    datasets of the result file."""
    cpus, x, y, encoders = args.threads, test.x, test.y, tuple(args.encoders)
    warm = None
    if runner.name == "serial":  # numba compiles in a thread while this process trains the ANNs
        warm = threading.Thread(target=compile_kernels, args=(x,), daemon=True)
        warm.start()
    handles, anns = train_models(runner, AnnZoo("mnist", train, test, epochs), [("ann", s) for s in (VICTIM_SEED, *ATTACKER_SEEDS)], cpus)
    trained = {s: handles[("ann", s)] for s in (VICTIM_SEED, *ATTACKER_SEEDS)}
    victim = anns[("ann", VICTIM_SEED)]
    attackers = [anns[("ann", s)] for s in ATTACKER_SEEDS]  # the keys need the weights
    if warm is not None:
        warm.join()
    net = convert(victim, torch.from_numpy(train.x[:10000]), percentile=args.percentile)
    # content keys: a stage is reused only with the same models and images (victim = the converted SNN)
    attackers_key, test_key = content_hash(attackers), test.content
    victim_inputs = {"victim": content_hash(victim), "snn": content_hash(net), "test": test_key}
    adv_name, adv_inputs = f"adv_eps{EPS:g}", {"attackers": attackers_key, "test": test_key}
    net_h, x_h, y_h = runner.share(net), runner.share(x), runner.share(y)
    attacker_h = [trained[s] for s in ATTACKER_SEEDS]
    snn_inputs = victim_inputs | {"adv": stages.key(adv_name, adv_inputs)}
    swept = [eps for eps in SWEEP if eps not in (0, EPS)]  # eps 0 and EPS come from the encoder stages
    jobs = [Job(adv_name, attack_task, (EPS, x_h, y_h, *attacker_h), inputs=adv_inputs, cpus=cpus)]
    jobs += [Job(f"snn_{e}", snn_task, (e, args.seed, net_h, x_h, y_h, After(adv_name)), inputs=snn_inputs, cpus=cpus)
             for e in encoders]  # fmt: skip
    jobs += [Job("stability", stability_task, (args.stability_trials, args.seed, net_h, x_h), inputs=victim_inputs, cpus=cpus)]
    # every stage key covers the settings, the encoder list among them: no stage of another list is reused
    jobs += [Job(f"sweep_eps{eps:g}", sweep_task, (eps, encoders, args.seed, net_h, x_h, y_h, trained[VICTIM_SEED], *attacker_h),
                 inputs=victim_inputs | {"attackers": attackers_key}, cpus=cpus) for eps in swept]  # fmt: skip
    # the literature encoders asked for are registered for the stages only (Ray workers register
    # their own), not for the ANNs' training: a checkpoint's key covers the registered encoders' code
    with available(encoders):
        done = run_stages(runner, stages, jobs)

    x_adv = done[adv_name]["x_adv"]  # (attackers, N, 784)
    data: dict[str, object] = {}
    data["ann/accuracy_clean"] = ann_accuracy(victim, test.x, test.y)
    data["ann/accuracy_attacked_per_attacker"] = np.array([ann_accuracy(victim, xa, y) for xa in x_adv])
    data["ann/accuracy_attacked"] = float(np.mean(data["ann/accuracy_attacked_per_attacker"]))
    for encoder in encoders:
        for key, value in done[f"snn_{encoder}"].items():
            data[f"snn/{encoder}/{key}"] = value
    data["snn/poisson/stability"] = metrics.stability(done["stability"]["predictions"], y)

    def known_point(eps: float) -> dict:
        # eps 0 and EPS are the runs the encoder stages already made (same images, same draws):
        # their accuracy at T is TAAcc's last step, so they are not simulated twice
        adv = np.stack([x] * len(attackers)) if eps == 0 else x_adv
        res = {"ann": np.mean([ann_accuracy(victim, a, y) for a in adv])}
        for encoder in encoders:
            if eps == 0:
                res[encoder] = data[f"snn/{encoder}/accuracy_clean"]
            else:
                res[encoder] = np.mean(data[f"snn/{encoder}/taacc_attacked_per_attacker"][:, -1])
        return res

    sweep_acc = {"ann": []} | {e: [] for e in encoders}
    for eps in SWEEP:
        if eps in (0, EPS):
            inputs = victim_inputs | ({"attackers": attackers_key} if eps == 0 else {"adv": snn_inputs["adv"]})
            inputs |= {f"snn_{e}": stages.keys[f"snn_{e}"] for e in encoders}
            point = stages.get(f"sweep_eps{eps:g}", lambda eps=eps: known_point(eps), inputs=inputs)
        else:
            point = done[f"sweep_eps{eps:g}"]
        for key in sweep_acc:
            sweep_acc[key].append(float(point[key]))
    data["eps_sweep/eps"] = np.array(SWEEP)
    for key, values in sweep_acc.items():
        data[f"eps_sweep/{key}/accuracy"] = np.array(values)

    ann = energy.ann_energy(net)  # Eq. 34-35: the ANN of the same architecture, one pass
    data["ann/energy_pj"] = ann.energy_pj[0]
    data["ann/delay_ns"] = ann.total_delay_ns
    data["ann/edp_pj_ns"] = float(ann.edp_pj_ns[0])
    return data


def summary(data: dict) -> None:
    print(f"\nANN: clean {data['ann/accuracy_clean']:.4f}, FGSM eps {EPS} black-box {data['ann/accuracy_attacked']:.4f} (mean of 5 attackers)")
    print(f"{'encoder':<11}{'clean@T':>9}{'atk@T':>8}{'atk max':>9}{'fg-only@T':>11}{'bg-only@T':>11}"
          f"{'SOPs/img':>11}{'MACs/img':>11}{'E paper nJ':>11}{'E exact nJ':>11}")  # fmt: skip
    for e in [key.split("/")[1] for key in data if key.startswith("snn/") and key.endswith("/taacc_clean")]:
        c, a = data[f"snn/{e}/taacc_clean"], data[f"snn/{e}/taacc_attacked"]
        fg, bg = data[f"snn/{e}/taacc_attacked_fg"], data[f"snn/{e}/taacc_attacked_bg"]
        print(f"{e:<11}{c[-1]:>9.4f}{a[-1]:>8.4f}{a.max():>9.4f}{fg[-1]:>11.4f}{bg[-1]:>11.4f}"
              f"{data[f'snn/{e}/sops'].sum():>11,.0f}{data[f'snn/{e}/macs'].sum():>11,.0f}"
              f"{data[f'snn/{e}/energy_pj'].sum() / 1e3:>11.1f}{data[f'snn/{e}/energy_exact_pj'].sum() / 1e3:>11.1f}")  # fmt: skip
    print(f"ANN energy {data['ann/energy_pj'].sum() / 1e3:.1f} nJ per image (Eq. 34)")
    print(f"Poisson stability (Eq. 27): {data['snn/poisson/stability']:.4f}")


if __name__ == "__main__":
    main()
