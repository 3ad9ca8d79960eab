"""Hardware-faithful inference: the paper's models in fixed point, their accuracy, robustness and energy.

Models (from `scenarios.setups.models`, the checkpoints Figs. 2-4 use):
- MNIST, Fig. 2: the ReLU ANN 784-100-10 converted to IF neurons (reset by subtraction, T = 30,
  rate decoding, 99.9th-percentile normalisation), run with the RateSynS and RateSynE encodings
  (fixed point takes spike inputs only, so not with the current encoding);
- Fashion-MNIST, Figs. 3-4 (784-500-10 LIF, T = 10): Act-BP and Temp-BP on RateSynE with rate
  decoding, Act-BP on TTFS with rate decoding, Act-BP and Temp-BP on TTFS with TTFS decoding
  (early exit).

Each model runs in float64 ("float"), quantised after training ("ptq", `evsim.quantize` at weight
bits W = 16, 8, 6, 4, 2) and quantised after a short quantisation-aware fine-tuning ("qat",
`bridges.quantized.QATSpikingMLP`: Act-BP through the fixed-point forward with straight-through
weights, whatever rule trained the model; quick: 1 epoch on 2,000 training images, lr 5e-4).
State bits S = W + 16 (raised until the quantiser accepts the network), decay bits D = 16, so
the weight width is what varies. For every (model, variant): clean accuracy and TAAcc; accuracy
under the paper's black-box FGSM (five attacker ANNs, mean) at eps 0.1 and over an eps sweep;
TAAcc at eps 0.1; spike agreement with the float model (every layer, clean images, no early
exit); exact SOPs; energy of Eq. 34-37 with B_W = W (weight reads at W bits,
`HardwareModel.at_weight_bits`) beside the paper's 32-bit figure.

Quick by default (the Figs. 2-4 quick models: 10 MNIST ANN epochs, 5 Fashion-MNIST ANN and SNN
epochs; 1,000 test images; eps 0, 0.05, 0.1, 0.2, 0.3); --full: the paper's 100 epochs, 10,000
test images, the figures' sweeps and QAT over all 60,000 training images. Models are cached in
models/, finished stages beside the result file: an interrupted run resumes.

The work is done by pure tasks (`scenarios.machinery.tasks`): one per model (6 MNIST ANNs, 5 Fashion-MNIST
attacker ANNs and the Fashion-MNIST SNNs asked for), one per (model, weight bits) QAT, one
evaluation per model (every variant, clean and attacked; it reads its QAT stages). Serially they
run in this process; with `--ray [ADDRESS]` as Ray tasks (`--workers` CPUs of a local Ray, or a
cluster; give `--threads 1` so that tasks run side by side). The driver alone writes stage files
and the result.

    python -m scenarios quantization [--full] [--out results/quantization.h5] [--ray [ADDRESS] [--workers N] --threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from tqdm import tqdm

import evsim
from bridges.conversion import convert
from bridges.datasets import data_dir
from bridges.export import from_evsim, to_evsim
from bridges.quantized import QATSpikingMLP, qat_loss
from bridges.snn import SpikingMLP
from bridges.training import TrainConfig, fit
from evsim import energy, metrics

from ..machinery.content import content_hash
from ..machinery.job import run_job
from ..machinery.model_tasks import Zoos, train_models
from ..machinery.results import StageCache
from ..machinery.simulation import simulate_chunks
from ..machinery.tasks import After, Job, available_cpus, run_stages
from ..setups.fmnist import ATTACKER_SEEDS, Zoo, black_box_fgsm
from ..setups.models import SNN_LR, SNN_SETTINGS, AnnZoo, load_split

BITS = (16, 8, 6, 4, 2)
EXTRA_STATE_BITS = 16  # S = W + 16 unless the quantiser needs more
DECAY_BITS = 16
EPS = 0.1
QUICK_SWEEP = (0.0, 0.05, 0.1, 0.2, 0.3)
FULL_SWEEP = {"mnist": (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3), "fashion-mnist": tuple(round(0.05 * i, 2) for i in range(11))}
MNIST_PERCENTILE = 99.9  # Fig. 2's conversion
VICTIM_SEED = 0
QAT_LR = SNN_LR
CHUNK = 2000

# label -> (dataset, training rule, encoder, decoder); "cvt" is Fig. 2's converted IF network
MODELS = {
    "mnist_cvt_ratesyn_s_rate": ("mnist", "cvt", "ratesyn_s", "rate"),
    "mnist_cvt_ratesyn_e_rate": ("mnist", "cvt", "ratesyn_e", "rate"),
    "fmnist_actbp_ratesyn_e_rate": ("fashion-mnist", "actbp", "ratesyn_e", "rate"),
    "fmnist_tempbp_ratesyn_e_rate": ("fashion-mnist", "tempbp", "ratesyn_e", "rate"),
    "fmnist_actbp_ttfs_rate": ("fashion-mnist", "actbp", "ttfs", "rate"),
    "fmnist_actbp_ttfs_ttfs": ("fashion-mnist", "actbp", "ttfs", "ttfs"),
    "fmnist_tempbp_ttfs_ttfs": ("fashion-mnist", "tempbp", "ttfs", "ttfs"),
}


def variants(bits) -> list[str]:
    return ["float"] + [f"{mode}_w{w}" for mode in ("ptq", "qat") for w in bits]


def state_bits_for(net: evsim.Network, weight_bits: int) -> int:
    """W + 16 state bits, or the fewest above that the quantiser accepts for `net`."""
    for s in range(weight_bits + EXTRA_STATE_BITS, 41):
        try:
            evsim.quantize(net, weight_bits, s, DECAY_BITS)
            return s
        except ValueError:
            continue
    raise ValueError(f"no state_bits <= 40 quantises the network at {weight_bits} weight bits")


def simulate(net: evsim.Network, x: np.ndarray, T: int, encoder: str, decoder: str, seed: int, early_exit: bool,
             record_hidden: bool = False) -> dict[str, np.ndarray]:  # fmt: skip
    """Run `net` on images x (N, 784) in chunks; per-sample predictions, output spikes (T, N, n),
    hidden spikes (T, N, h) with record_hidden, exact SOPs (N, L) and the run's SimulationResults'
    energy (paper's estimate, Eq. 36-37) at 32 bits and at the network's weight bits."""
    bits = net.fixed_point[0] if net.fixed_point else 32
    hw = energy.DATTA_65NM_32BIT.at_weight_bits(bits)

    def measure(net: evsim.Network, res: evsim.SimulationResult) -> dict:
        paper32, paper = energy.snn_energy(net, res), energy.snn_energy(net, res, hw)
        got = {
            "predictions": res.predictions, "output_spikes": res.output_spikes, "sops": res.sops,
            "energy_pj_32bit": paper32.total_energy_pj, "energy_pj": paper.total_energy_pj,
            "read_pj_32bit": np.full(len(res.predictions), paper32.read_pj.sum()),
            "read_pj": np.full(len(res.predictions), paper.read_pj.sum()),
            "delay_ns_32bit": np.full(len(res.predictions), paper32.total_delay_ns),
            "delay_ns": np.full(len(res.predictions), paper.total_delay_ns),
        }  # fmt: skip
        if record_hidden:
            got["hidden_spikes"] = np.concatenate(res.hidden_spikes, axis=2)
        return got

    return simulate_chunks(net, x, T, encoder, measure, chunk=CHUNK, seed=seed, decoder=decoder, early_exit=early_exit,
                           dtype=np.float64, record_hidden=record_hidden)  # fmt: skip


def agreement(ref: dict, got: dict) -> dict[str, float]:
    """Spike agreement of two full runs (no early exit) on the same inputs: the share of spike
    entries (every layer, step, sample, neuron) that are equal, the share of samples whose spike
    trains are identical in every layer, and the share of equal predictions."""
    a = np.concatenate([ref["hidden_spikes"], ref["output_spikes"]], axis=2)
    b = np.concatenate([got["hidden_spikes"], got["output_spikes"]], axis=2)
    return {
        "agreement_entries": float((a == b).mean()),
        "agreement_samples": float((a == b).all(axis=(0, 2)).mean()),
        "agreement_predictions": float((ref["predictions"] == got["predictions"]).mean()),
    }


# ------------------------------------------------------------------ tasks: values in, values out


def qat_task(label: str, w: int, s: int, epochs: int, seed: int, x: np.ndarray, y: np.ndarray, base: SpikingMLP) -> dict:
    """One short quantisation-aware fine-tuning of model `label` at w weight bits (s state bits)
    on images x, from its float model `base`: the float weights it ends with, and its losses."""
    dataset, rule, encoder, decoder = MODELS[label]
    T = SNN_SETTINGS[dataset][1]
    model = SpikingMLP(base.sizes, base.neuron, rule="actbp", rho=base.rho).to(torch.float64)
    model.load_state_dict(base.state_dict())
    qat = QATSpikingMLP(model, w, s, DECAY_BITS)
    config = TrainConfig(epochs=epochs, lr=QAT_LR, seed=seed)
    history = fit(qat, {"kind": "qat", "label": label, "bits": [w, s, DECAY_BITS]}, x, y,
                  qat_loss(encoder, T, decoder), config, desc=f"QAT {label} W={w}")  # fmt: skip
    out = {f"weight{i}": layer.weight.detach().numpy() for i, layer in enumerate(model.layers)}
    out["loss"] = np.array([h["loss"] for h in history])
    return out


def qat_network(base: SpikingMLP, qat: dict) -> evsim.Network:
    """The float network of a QAT stage's weights (the architecture and neurons of `base`)."""
    model = SpikingMLP(base.sizes, base.neuron, rule="none", rho=base.rho).to(torch.float64)
    with torch.no_grad():
        for i, layer in enumerate(model.layers):
            layer.weight.copy_(torch.from_numpy(qat[f"weight{i}"]))
    return to_evsim(model)


def eval_task(label: str, state_bits: dict, sweep: tuple, seed: int, x: np.ndarray, y: np.ndarray, base: SpikingMLP,
              n_attackers: int, *rest) -> dict:  # fmt: skip
    """Every variant of model `label` (float, PTQ and QAT at each of state_bits' weight widths w ->
    s) on the clean images (accuracy, TAAcc, SOPs, energy, agreement with the float model) and under
    black-box FGSM over `sweep`. rest: the attacker ANNs, then the QAT stages in state_bits' order."""
    dataset, rule, encoder, decoder = MODELS[label]
    T = SNN_SETTINGS[dataset][1]
    attackers, qats = list(rest[:n_attackers]), rest[n_attackers:]
    float_net = to_evsim(base)
    nets = {"float": float_net}
    for (w, s), qat in zip(state_bits.items(), qats):
        nets[f"ptq_w{w}"] = evsim.quantize(float_net, w, s, DECAY_BITS)
        nets[f"qat_w{w}"] = evsim.quantize(qat_network(base, qat), w, s, DECAY_BITS)
    early_exit = decoder == "ttfs"
    out: dict[str, np.ndarray] = {}
    full = {v: simulate(net, x, T, encoder, decoder, seed, False, record_hidden=True) for v, net in nets.items()}
    for v, net in nets.items():
        clean = simulate(net, x, T, encoder, decoder, seed, early_exit) if early_exit else full[v]
        out[f"{v}/accuracy_clean"] = metrics.accuracy(clean["predictions"], y)
        out[f"{v}/taacc_clean"] = metrics.taacc(clean["output_spikes"], y, decoder)
        out[f"{v}/sops"] = clean["sops"].sum(axis=1).mean()
        out[f"{v}/sops_per_layer"] = clean["sops"].mean(axis=0)
        for key in ("energy_pj", "energy_pj_32bit", "read_pj", "read_pj_32bit", "delay_ns", "delay_ns_32bit"):
            out[f"{v}/{key}"] = clean[key].mean()
        for key, value in agreement(full["float"], full[v]).items():
            out[f"{v}/{key}"] = value
    accuracy = {v: np.zeros((len(sweep), len(ATTACKER_SEEDS))) for v in nets}
    for i, eps in enumerate(tqdm(sweep, desc=f"{label}: FGSM eps", leave=False)):
        if eps == 0:
            for v in nets:
                accuracy[v][i] = out[f"{v}/accuracy_clean"]
            continue
        adv = black_box_fgsm(attackers, x, y, eps)
        for v, net in nets.items():
            runs = [simulate(net, a, T, encoder, decoder, seed, early_exit) for a in adv]
            accuracy[v][i] = [metrics.accuracy(r["predictions"], y) for r in runs]
            if eps == EPS:
                out[f"{v}/taacc_attacked"] = np.mean([metrics.taacc(r["output_spikes"], y, decoder) for r in runs], axis=0)
                out[f"{v}/sops_attacked"] = np.mean([r["sops"].sum(axis=1).mean() for r in runs])
    for v in nets:
        out[f"{v}/accuracy_sweep_per_attacker"] = accuracy[v]
        out[f"{v}/accuracy_sweep"] = accuracy[v].mean(axis=1)
        if EPS in sweep:
            out[f"{v}/accuracy_attacked"] = accuracy[v][list(sweep).index(EPS)].mean()
    return out


# ------------------------------------------------------------------ the driver


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios quantization", description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the paper's epochs, all test images, full sweeps and QAT data")
    parser.add_argument("--bits", type=int, nargs="+", default=list(BITS), help="weight bits (default 16 8 6 4 2)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS), help="which models")
    parser.add_argument("--test-samples", type=int, default=None, help="test images (quick 1000, full 10000)")
    parser.add_argument("--train-samples", type=int, default=60000, help="training images of the models (fewer only for smoke tests)")
    parser.add_argument("--mnist-epochs", type=int, default=None, help="MNIST ANN epochs (quick 10 as Fig. 2, full 100)")
    parser.add_argument("--fmnist-epochs", type=int, default=None, help="Fashion-MNIST ANN and SNN epochs (quick 5 as Figs. 3-4, full 100)")
    parser.add_argument("--fmnist-snn-epochs", type=int, default=None, help="override the Fashion-MNIST SNN epochs only")
    parser.add_argument("--qat-samples", type=int, default=None, help="QAT training images (quick 2000, full 60000)")
    parser.add_argument("--qat-epochs", type=int, default=1, help="QAT epochs (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the encoders' draws and of the QAT batches")
    parser.add_argument("--threads", type=int, default=available_cpus())
    parser.add_argument("--data", default=None, help="data directory (default: $EVSIM_DATA or data/)")
    parser.add_argument("--out", default="results/quantization.h5")
    parser.add_argument("--recompute", action="store_true", help="recompute every stage, ignoring the finished ones beside --out")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run the training, QAT and evaluation tasks on Ray: a local instance, or the cluster at ADDRESS")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None, help="CPUs of the local Ray (default: all)")
    args = parser.parse_args(argv)
    n_test = args.test_samples or (10000 if args.full else 1000)
    mnist_epochs = args.mnist_epochs or (100 if args.full else 10)
    fmnist_epochs = args.fmnist_epochs or (100 if args.full else 5)
    fmnist_snn_epochs = args.fmnist_snn_epochs or fmnist_epochs
    n_qat = args.qat_samples or (60000 if args.full else 2000)
    bits = sorted(set(args.bits), reverse=True)
    if not 1 <= n_test <= 10000 or not 1 <= args.train_samples <= 60000 or not 1 <= n_qat <= args.train_samples:
        parser.error("--test-samples must lie in 1..10000, --train-samples in 1..60000, --qat-samples in 1..--train-samples")
    if min(mnist_epochs, fmnist_epochs, fmnist_snn_epochs, args.qat_epochs, args.threads) < 1:
        parser.error("epochs and --threads must be >= 1")
    if any(not 2 <= w <= 24 for w in bits):
        parser.error("--bits must lie in 2..24")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be >= 1")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    root = data_dir(args.data)
    datasets = sorted({MODELS[m][0] for m in args.models})
    mode = "full" if args.full else "quick"
    print(f"quantization, {mode}: {len(args.models)} models x {len(variants(bits))} variants, {n_test} test images, "
          f"weight bits {bits}, {args.threads} thread(s)")  # fmt: skip

    sweeps = {d: FULL_SWEEP[d] if args.full else QUICK_SWEEP for d in datasets}
    settings = {
        "scenario": "quantization", "mode": mode, "datasets": datasets, "models": list(args.models),
        "model_datasets": [MODELS[m][0] for m in args.models], "model_rules": [MODELS[m][1] for m in args.models],
        "model_encoders": [MODELS[m][2] for m in args.models], "model_decoders": [MODELS[m][3] for m in args.models],
        "variants": variants(bits), "weight_bits": bits, "state_bits_rule": f"W + {EXTRA_STATE_BITS}, raised until "
        "evsim.quantize accepts the network", "decay_bits": DECAY_BITS, "float_dtype": "float64",
        "mnist_architecture": "784-100-10", "mnist_neuron": "if", "mnist_theta": 1.0, "mnist_reset": "subtract",
        "mnist_T": SNN_SETTINGS["mnist"][1], "mnist_conversion_percentile": MNIST_PERCENTILE, "mnist_ann_epochs": mnist_epochs,
        "fmnist_architecture": "784-500-10", "fmnist_neuron": "lif", "fmnist_tau_m": SNN_SETTINGS["fashion-mnist"][0].tau_m,
        "fmnist_tau_s": SNN_SETTINGS["fashion-mnist"][0].tau_s, "fmnist_theta": SNN_SETTINGS["fashion-mnist"][0].theta,
        "fmnist_reset": SNN_SETTINGS["fashion-mnist"][0].reset, "fmnist_T": SNN_SETTINGS["fashion-mnist"][1],
        "fmnist_ann_epochs": fmnist_epochs, "fmnist_snn_epochs": fmnist_snn_epochs, "bias": False,
        "qat": "Act-BP (sigmoid surrogate, rho 5) through the fixed-point forward pass, straight-through weights "
        "and truncations, AdamW, starting from the float model", "qat_epochs": args.qat_epochs, "qat_lr": QAT_LR,
        "qat_weight_decay": 0.01, "qat_batch_size": 128, "qat_samples": n_qat,
        "attack": "fgsm", "attack_setting": "black-box: adversarial images from ReLU ANNs trained with other seeds, "
        "accuracy the mean over the attackers", "attack_eps": EPS, "attacker_seeds": list(ATTACKER_SEEDS),
        "victim_seed": VICTIM_SEED, "mnist_eps_sweep": list(sweeps.get("mnist", ())),
        "fmnist_eps_sweep": list(sweeps.get("fashion-mnist", ())), "early_exit": "TTFS decoding stops each sample at "
        "its first output spike (agreement is measured on full runs)",
        "energy_model": "Eq. 34-37 (paper's estimate, xi FLOP), Table 2 (65 nm) with B_W = weight bits and E_read "
        "scaled by B_W / 32; the 32-bit figure beside it", "train_samples": args.train_samples,
        "test_samples": n_test, "encoder_seed": args.seed, "threads": args.threads,
    }  # fmt: skip
    splits = {d: (load_split(d, "train", args.train_samples, root=root), load_split(d, "test", n_test, root=root)) for d in datasets}

    def job(runner, stages) -> tuple[dict, dict]:
        data = evaluate(args, runner, stages, splits, bits, sweeps, (mnist_epochs, fmnist_epochs, fmnist_snn_epochs), n_qat)
        extra = {k: {"rows": [f"eps {e:g}" for e in data[k.split("/")[0] + "/eps_sweep"]],
                     "columns": [f"attacker seed {s}" for s in ATTACKER_SEEDS]}
                 for k in data if k.endswith("accuracy_sweep_per_attacker")}  # fmt: skip
        return data, extra

    run_job(args, settings, "scenarios.paper.quantization", job, started=started, summary=lambda data: summary(data, args.models, bits))


def evaluate(args, runner, stages: StageCache, splits: dict, bits: list, sweeps: dict, epochs: tuple, n_qat: int) -> dict:
    """Every model trained (or reloaded) by one task, every QAT and evaluation stage computed by one
    task on `runner` (reading the models' outputs) or loaded; the driver stores the stages and
    returns the result's datasets. epochs: (MNIST ANN, Fashion-MNIST ANN, Fashion-MNIST SNN)."""
    mnist_epochs, fmnist_epochs, fmnist_snn_epochs = epochs
    cpus = args.threads
    tag = "" if args.train_samples == 60000 else f"_n{args.train_samples}"
    # the models: trained once (scenarios.setups.models), shared with Figs. 2-4; each by one task
    zoos, keys = {}, []
    if "mnist" in splits:
        zoos["mnist"] = AnnZoo("mnist", *splits["mnist"], mnist_epochs, tag)
        keys += [("mnist", "ann", seed) for seed in (VICTIM_SEED, *ATTACKER_SEEDS)]
    if "fashion-mnist" in splits:
        train, test = splits["fashion-mnist"]
        zoos["fashion-mnist"] = Zoo(train, test, fmnist_epochs, fmnist_snn_epochs, full_train=len(train.y) == 60000)
        keys += [("fashion-mnist", "ann", s) for s in ATTACKER_SEEDS]
        keys += [("fashion-mnist", "snn", *MODELS[m][1:], VICTIM_SEED) for m in args.models if MODELS[m][0] == "fashion-mnist"]
    handles, trained = train_models(runner, Zoos(zoos), keys, cpus)

    floats: dict[str, SpikingMLP] = {}
    attacker_h = {d: [handles[(d, "ann", s)] for s in ATTACKER_SEEDS] for d in splits}
    attackers = {d: [trained[(d, "ann", s)] for s in ATTACKER_SEEDS] for d in splits}
    if "mnist" in splits:  # Fig. 2's conversion of the victim ANN
        victim, train = trained[("mnist", "ann", VICTIM_SEED)], splits["mnist"][0]
        cvt = from_evsim(convert(victim, torch.from_numpy(train.x[:10000]), percentile=MNIST_PERCENTILE), rule="none",
                         dtype=torch.float64)  # fmt: skip
        floats |= {m: cvt for m in args.models if MODELS[m][0] == "mnist"}
    floats |= {m: trained[(MODELS[m][0], "snn", *MODELS[m][1:], VICTIM_SEED)] for m in args.models if MODELS[m][0] == "fashion-mnist"}

    # per model: one short QAT per bit width (its float weights kept as a stage), then one evaluation
    jobs, state_bits = [], {}
    shared = {d: (runner.share(splits[d][0].x[:n_qat]), runner.share(splits[d][0].y[:n_qat]),
                  runner.share(splits[d][1].x), runner.share(splits[d][1].y)) for d in splits}  # fmt: skip
    for label in args.models:
        dataset = MODELS[label][0]
        base = floats[label]
        base_h = runner.share(base)
        x_qat, y_qat, x_h, y_h = shared[dataset]
        float_net = to_evsim(base)
        state_bits[label] = {w: state_bits_for(float_net, w) for w in bits}
        qat_inputs = {"model": content_hash(base), "train": splits[dataset][0].content}
        for w, s in state_bits[label].items():
            jobs.append(Job(f"qat_{label}_w{w}", qat_task, (label, w, s, args.qat_epochs, args.seed, x_qat, y_qat, base_h),
                            inputs=qat_inputs, cpus=cpus))  # fmt: skip
        inputs = {"test": splits[dataset][1].content, "attackers": content_hash(attackers[dataset]), "model": content_hash(base)}
        inputs |= {f"qat_w{w}": stages.key(f"qat_{label}_w{w}", qat_inputs) for w in bits}
        jobs.append(Job(f"eval_{label}", eval_task,
                        (label, state_bits[label], sweeps[dataset], args.seed, x_h, y_h, base_h, len(ATTACKER_SEEDS),
                         *attacker_h[dataset], *(After(f"qat_{label}_w{w}") for w in bits)),
                        inputs=inputs, cpus=cpus))  # fmt: skip
    done = run_stages(runner, stages, jobs)

    data: dict[str, object] = {}
    for label in args.models:
        for key, value in done[f"eval_{label}"].items():
            data[f"{label}/{key}"] = value
        data[f"{label}/float/state_bits"] = 0
        data[f"{label}/float/weight_bits"] = 32
        for w, s in state_bits[label].items():
            for v in (f"ptq_w{w}", f"qat_w{w}"):
                data[f"{label}/{v}/state_bits"] = s
                data[f"{label}/{v}/weight_bits"] = w
        data[f"{label}/eps_sweep"] = np.array(sweeps[MODELS[label][0]])
    return data


def summary(data: dict, models, bits) -> None:
    print(f"\n{'model':<30}{'variant':<9}{'clean':>7}{'FGSM0.1':>8}{'agree':>8}{'SOPs':>11}{'E nJ':>9}{'E32 nJ':>9}")
    for label in models:
        for v in variants(bits):
            g = f"{label}/{v}"
            if f"{g}/accuracy_clean" not in data:
                continue
            attacked = data.get(f"{g}/accuracy_attacked", float("nan"))
            print(f"{label:<30}{v:<9}{data[f'{g}/accuracy_clean']:>7.4f}{attacked:>8.4f}"
                  f"{data[f'{g}/agreement_entries']:>8.4f}{data[f'{g}/sops']:>11,.0f}"
                  f"{data[f'{g}/energy_pj'] / 1e3:>9.1f}{data[f'{g}/energy_pj_32bit'] / 1e3:>9.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
