"""On which chip does the paper's robustness survive, and at what cost? The paper's models on real chips.

Models (the checkpoints Figs. 2-4 use, from `scenarios.setups.models`; labels as in the
quantization scenario, `scenarios.paper.quantization.MODELS`): Fig. 2's ReLU ANN 784-100-10
converted to IF neurons (MNIST, T = 30, rate decoding) with RateSynS and RateSynE; the
Fashion-MNIST LIF 784-500-10 SNNs of Figs. 3-4 (T = 10): Act-BP on RateSynE (rate decoding) and
Temp-BP on TTFS with TTFS decoding and early exit. `--models` takes any of quantization's labels.
Fig. 5's fused-TTFS ResNet18 (CIFAR-10) is checked for fit only (`--fig5-width`, the paper's 64):
untrained, as `check` reads only the structure; it is not run (training it is beyond the quick
run, and its fused input's current channels feed floats, which a chip taking spikes cannot).

For every model and every chip profile (`evsim.hardware.profiles()`):

- fits or not: `evsim.hardware.check` on the float network, every broken limit named;
- the network on the chip's arithmetic, the most faithful one evsim has for it:
  Loihi: `evsim.hardware.compile(net, "loihi")` (Lava's fixed_pt arithmetic, bit-exact; IF's reset by
  subtraction becomes Loihi's reset to 0, `lossy_reset=True`; one step per projection, so the run gets
  that many more steps); Loihi 2: the same network (Lava runs Loihi 2's LIF with the same fixed_pt
  models); Speck: `evsim.hardware.compile(net, "speck")` (DYNAP-CNN's int8 integrate-and-fire
  arithmetic, `speck_network`'s, checked against sinabs; the LIF models compiled as integrate-and-
  fire, `lossy_leak=True`: Speck's neurons do not leak); a profile `compile` does not support (or
  refuses) but whose bit widths are entered (the paper's 65 nm model): `evsim.quantize` at its
  weight / state / decay bits, SPEC's generic integer arithmetic, not the chip's own decay, threshold
  test or reset (the state bits raised to the fewest `quantize` accepts where the chip's are too
  few: said in the file); a profile whose arithmetic is
  not entered (TrueNorth, SpiNNaker 2): the float network's spikes, priced at the chip's constants;
  a profile the network does not fit (Xylo: 16 inputs): not run;
- spike agreement with the float network on the clean test images (full runs, no early exit, each
  population's spikes aligned by its delay): the share of equal spike entries, of samples whose spike
  trains are identical in every layer, and of equal predictions;
- accuracy, clean and under the paper's black-box FGSM (eps 0.1, the five attacker ANNs of each
  dataset, mean over them; `scenarios.setups.fmnist.black_box_fgsm`);
- SOPs, energy and chip time per image from `evsim.hardware.cost` on the clean run (early exit
  counted), every term kept; a term without a published constant is NaN, and a chip with none is
  said to be unpriced.

Quick by default (the figures' quick models: 10 MNIST ANN epochs, 5 Fashion-MNIST ANN and SNN
epochs; the first 1,000 test images). Models are cached in models/ (shared with the paper's jobs:
after `make run` nothing is trained), finished stages beside the result file: an interrupted run
resumes. One evaluation task per model (`scenarios.machinery.tasks`), `--ray` as the other jobs.

    python -m scenarios hardware [--models M ...] [--test-samples N] [--out results/hardware.h5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import evsim
import evsim.hardware as hw
from bridges.conversion import convert
from bridges.datasets import data_dir
from bridges.export import from_evsim, to_evsim
from evsim import metrics

from ..machinery.content import content_hash
from ..machinery.job import run_job
from ..machinery.model_tasks import Zoos, train_models
from ..machinery.tasks import Job, available_cpus, run_stages
from ..setups.fmnist import ATTACKER_SEEDS, Zoo, black_box_fgsm
from ..setups.models import SNN_SETTINGS, AnnZoo, load_split
from .quantization import MNIST_PERCENTILE, MODELS, VICTIM_SEED

DEFAULT_MODELS = ("mnist_cvt_ratesyn_s_rate", "mnist_cvt_ratesyn_e_rate", "fmnist_actbp_ratesyn_e_rate", "fmnist_tempbp_ttfs_ttfs")
EPS = 0.1
CHUNK = 500
DEFAULT_DECAY_BITS = 12  # where a profile enters no decay width (Speck): Loihi's and the paper model's


# ------------------------------------------------------------------ which network runs for a chip


def chip_network(float_net: evsim.Network, prof: hw.Profile) -> tuple[str | None, evsim.Network | None, str]:
    """(variant, network, how) for `prof`: the name of the network run for the chip (shared by
    chips that run the same one), the network, and in words which arithmetic it is and why.
    variant None: not run (the network does not fit)."""
    fit = hw.check(float_net, prof)
    if not fit.fits:
        return None, None, "not run: the network does not fit"
    target = "loihi" if prof.name == "loihi2" else prof.name
    # the lossy mapping each chip needs, said in the file: Loihi's LIF cannot reset by subtraction,
    # Speck's integrate-and-fire neurons neither leak nor filter their input
    lossy_reset = target == "loihi" and any(p.neuron.reset == "subtract" for p in float_net.populations)
    lossy_leak = target == "speck" and any(isinstance(p.neuron, evsim.LIF) for p in float_net.populations)
    lossy = ("; IF's reset by subtraction compiled as Loihi's reset to 0 (lossy_reset)" if lossy_reset else "") + (
        "; LIF neurons compiled as Speck's integrate-and-fire (lossy_leak): no leak, each spike's whole charge in "
        "its step" if lossy_leak else "")  # fmt: skip
    try:
        net = hw.compile(float_net, target, lossy_reset=lossy_reset, lossy_leak=lossy_leak)
        how = f"evsim.hardware.compile(net, {target!r}){lossy}"
        if prof.name == "loihi2":
            how += "; Loihi's network: Lava runs Loihi 2's LIF with the same fixed_pt models"
        return target, net, how
    except ValueError as err:
        refused = str(err).splitlines()[0]
    a = prof.arithmetic
    if isinstance(a.weight_bits, int) and isinstance(a.state_bits, int):
        # the chip's decay width first; where it holds no leak (Speck's neurons do not leak: 0 bits)
        # or is not entered, DEFAULT_DECAY_BITS, said in the file
        decays = ([a.decay_bits] if isinstance(a.decay_bits, int) else []) + [DEFAULT_DECAY_BITS]
        for d in dict.fromkeys(decays):
            for s in range(a.state_bits, 41):
                try:
                    net = evsim.quantize(float_net, a.weight_bits, s, d)
                except ValueError:
                    continue
                raised = "" if s == a.state_bits else f"; state bits raised from the chip's {a.state_bits} to {s}, the fewest evsim.quantize accepts"
                if not isinstance(a.decay_bits, int):
                    dnote = f"; decay bits not entered for the chip: {d}"
                elif d != a.decay_bits:
                    dnote = f"; the chip's {a.decay_bits} decay bits cannot hold this network's leak: {d}, which the chip cannot do"
                else:
                    dnote = ""
                return (f"quantize_w{a.weight_bits}_s{s}_d{d}", net,
                        f"evsim.quantize(net, {a.weight_bits}, {s}, {d}): SPEC's generic integer arithmetic at the chip's widths, "
                        f"not the chip's own decay, threshold test or reset (compile: {refused}){raised}{dnote}")  # fmt: skip
    return "float", float_net, f"the float network: the chip's arithmetic is not entered (compile: {refused}); priced at its constants"


def fig5_network(width: int) -> evsim.Network:
    """Fig. 5's fused-TTFS SNN architecture (ResNet18, CIFAR-10, 9 input channels: current, RateSynE
    and TTFS of each colour) as an evsim network, untrained: `check` reads only its structure."""
    from bridges.resnet import SpikingResNet  # here: only this part of the job needs the ResNet

    from ..setups.cifar import FUSED, NEURON, input_channels

    torch.manual_seed(0)
    return to_evsim(SpikingResNet(width=width, in_channels=input_channels(list(FUSED)), neuron=NEURON, rule="tempbp").eval())


def arrival_steps(net: evsim.Network) -> list[int]:
    """Per population, the steps its input takes to arrive: the sum of `input_delay` along its
    longest path from the input (0 everywhere for evsim's own networks, l for Loihi's layer l)."""
    arrival = []
    for p, pop in enumerate(net.populations):
        sources = [q.source for q in net.projections if q.target == p]
        before = max((arrival[s] if s >= 0 else 0 for s in sources), default=0)
        arrival.append(before + int(getattr(pop.neuron, "input_delay", 0)))
    return arrival


# ------------------------------------------------------------------ tasks: values in, values out


def simulate(net: evsim.Network, x: np.ndarray, T: int, encoder: str, decoder: str, seed: int, early_exit: bool,
             full: bool = False, chips: tuple[str, ...] = ()) -> dict[str, np.ndarray]:  # fmt: skip
    """`net` on images x (N, 784), `chunk` at a time: the T encoded steps, then zeros for as many
    steps as its deepest population's input arrives late. Chunk c draws from default_rng([seed, c]).

    Returns predictions (N,), SOPs (N,), chip steps (N,); full: the spikes of every population
    (T, N, neurons) in its aligned window (its steps arrival .. arrival + T - 1); per chip in
    `chips`: hw.cost's per-image totals and terms (pJ; NaN where not priced) and time (ns; NaN)."""
    arrival = arrival_steps(net)
    extra = max(arrival) if arrival else 0
    parts: dict[str, list] = {}
    for c, lo in enumerate(range(0, len(x), CHUNK)):
        spikes = evsim.encode(x[lo : lo + CHUNK], T, encoder, seed=np.random.default_rng([seed, c]))
        if extra:
            spikes = np.concatenate([spikes, np.zeros((extra, *spikes.shape[1:]), spikes.dtype)])
        res = evsim.simulate(net, spikes, decoder=decoder, early_exit=early_exit, dtype=np.float64,
                             record_hidden=full or bool(chips))  # fmt: skip
        got = {"predictions": res.predictions, "sops": res.sops.sum(axis=1), "steps": res.steps}
        if full:
            layers = [*res.hidden_spikes, res.output_spikes]
            got["spikes"] = np.concatenate([s[a : a + T] for s, a in zip(layers, arrival)], axis=2)
        for chip in chips:
            cost = hw.cost(net, res, chip)
            nan = np.full(len(res.steps), np.nan)
            got[f"{chip}/energy_pj"] = nan if cost.total_low_pj is None else cost.total_low_pj
            got[f"{chip}/energy_high_pj"] = nan if cost.total_high_pj is None else cost.total_high_pj
            got[f"{chip}/time_ns"] = nan if cost.time_ns is None else cost.time_ns
            for term in cost.terms:
                got[f"{chip}/terms/{term.name}"] = nan if term.energy_low_pj is None else term.energy_low_pj
        for key, value in got.items():
            parts.setdefault(key, []).append(value)
    return {k: np.concatenate(v, axis=1 if k == "spikes" else 0) for k, v in parts.items()}


def eval_task(label: str, plan: dict, seed: int, x: np.ndarray, y: np.ndarray, nets: dict, *attackers) -> dict:
    """Model `label`'s networks (`nets`: variant -> network, "float" among them) on the clean
    images (accuracy, SOPs, steps, agreement with "float") and on the attackers' FGSM images at EPS;
    plan: chip -> variant (the chips run), whose costs are measured on that variant's clean run."""
    dataset, _, encoder, decoder = MODELS[label]
    T = SNN_SETTINGS[dataset][1]
    early_exit = decoder == "ttfs"
    adv = black_box_fgsm(list(attackers), x, y, EPS)
    chips_of = {v: tuple(c for c, used in plan.items() if used == v) for v in nets}
    # rate decoding: the full run is the clean run, costs included; TTFS: a second, early-exit run
    full = {v: simulate(net, x, T, encoder, decoder, seed, False, full=True, chips=() if early_exit else chips_of[v])
            for v, net in nets.items()}  # fmt: skip
    out: dict[str, np.ndarray] = {}
    for v, net in nets.items():
        chips = chips_of[v]
        clean = simulate(net, x, T, encoder, decoder, seed, True, chips=chips) if early_exit else full[v]
        out[f"{v}/accuracy_clean"] = metrics.accuracy(clean["predictions"], y)
        out[f"{v}/sops"] = clean["sops"].mean()
        out[f"{v}/steps"] = clean["steps"].mean()
        a, b = full["float"]["spikes"], full[v]["spikes"]
        out[f"{v}/agreement_entries"] = float((a == b).mean())
        out[f"{v}/agreement_samples"] = float((a == b).all(axis=(0, 2)).mean())
        out[f"{v}/agreement_predictions"] = float((full["float"]["predictions"] == full[v]["predictions"]).mean())
        per = [metrics.accuracy(simulate(net, xa, T, encoder, decoder, seed, early_exit)["predictions"], y) for xa in adv]
        out[f"{v}/accuracy_attacked_per_attacker"] = np.array(per)
        out[f"{v}/accuracy_attacked"] = float(np.mean(per))
        for key, value in clean.items():
            if key.split("/")[0] in chips:
                out[f"cost/{key}"] = np.nanmean(value) if not np.isnan(value).all() else np.nan
    return out


# ------------------------------------------------------------------ the driver


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios hardware", description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=list(MODELS), help="which models")
    parser.add_argument("--profiles", nargs="+", default=list(hw.profiles()), choices=list(hw.profiles()), help="which chips")
    parser.add_argument("--test-samples", type=int, default=1000, help="test images (the first N; default 1000)")
    parser.add_argument("--train-samples", type=int, default=60000, help="training images of the models (fewer only for smoke tests)")
    parser.add_argument("--mnist-epochs", type=int, default=10, help="MNIST ANN epochs (Fig. 2's quick 10)")
    parser.add_argument("--fmnist-epochs", type=int, default=5, help="Fashion-MNIST ANN and SNN epochs (Figs. 3-4's quick 5)")
    parser.add_argument("--fig5-width", type=int, default=64, help="stem width of Fig. 5's ResNet18 checked for fit (the paper's 64; 0: skip)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the encoders' draws")
    parser.add_argument("--threads", type=int, default=available_cpus())
    parser.add_argument("--data", default=None, help="data directory (default: $EVSIM_DATA or data/)")
    parser.add_argument("--out", default="results/hardware.h5")
    parser.add_argument("--recompute", action="store_true", help="recompute every stage, ignoring the finished ones beside --out")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS", help="run the tasks on Ray")
    parser.add_argument("--workers", type=int, default=None, help="CPUs of the local Ray (default: all)")
    args = parser.parse_args(argv)
    if not 1 <= args.test_samples <= 10000 or not 1 <= args.train_samples <= 60000:
        parser.error("--test-samples must lie in 1..10000, --train-samples in 1..60000")
    if min(args.mnist_epochs, args.fmnist_epochs, args.threads) < 1 or args.fig5_width < 0:
        parser.error("epochs and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    root = data_dir(args.data)
    datasets = sorted({MODELS[m][0] for m in args.models})
    print(f"hardware: {len(args.models)} models on {len(args.profiles)} chip profiles, the first {args.test_samples} "
          f"test images, {args.threads} thread(s)")  # fmt: skip
    settings = {
        "scenario": "hardware", "mode": "quick", "models": list(args.models), "profiles": list(args.profiles),
        "model_datasets": [MODELS[m][0] for m in args.models], "model_rules": [MODELS[m][1] for m in args.models],
        "model_encoders": [MODELS[m][2] for m in args.models], "model_decoders": [MODELS[m][3] for m in args.models],
        "mnist_architecture": "784-100-10", "mnist_neuron": "if", "mnist_reset": "subtract",
        "mnist_T": SNN_SETTINGS["mnist"][1], "mnist_conversion_percentile": MNIST_PERCENTILE,
        "mnist_ann_epochs": args.mnist_epochs, "fmnist_architecture": "784-500-10", "fmnist_neuron": "lif",
        "fmnist_T": SNN_SETTINGS["fashion-mnist"][1], "fmnist_ann_epochs": args.fmnist_epochs,
        "fmnist_snn_epochs": args.fmnist_epochs, "train_samples": args.train_samples,
        "test_samples": args.test_samples, "test_subset": f"the first {args.test_samples} of the 10,000 test images",
        "attack": "fgsm", "attack_eps": EPS, "attack_setting": "black-box: FGSM images of ReLU ANNs trained with other "
        "seeds, accuracy the mean over the attackers", "attacker_seeds": list(ATTACKER_SEEDS), "victim_seed": VICTIM_SEED,
        "float_dtype": "float64", "default_decay_bits": DEFAULT_DECAY_BITS, "encoder_seed": args.seed,
        "agreement": "clean images, full runs (no early exit), every population's spikes in its window aligned by "
        "its input delay, against the float network", "early_exit": "TTFS decoding stops each sample at its "
        "first output spike (accuracy, SOPs, cost); agreement uses full runs",
        "cost": "evsim.hardware.cost on the clean run, mean per image; NaN where no constant is published",
        "fig5": "fit only (group fig5_fused_resnet18): the architecture of Fig. 5's fused-TTFS ResNet18 checked on "
        "every chip, untrained (fit reads only the structure); not run: training it is beyond the quick run's time, "
        "and its fused input's current channels feed floats, which a chip taking spikes cannot", "fig5_width": args.fig5_width,
        "threads": args.threads,
    }  # fmt: skip
    splits = {d: (load_split(d, "train", args.train_samples, root=root), load_split(d, "test", args.test_samples, root=root))
              for d in datasets}  # fmt: skip
    run_job(args, settings, "scenarios.paper.hardware", lambda runner, stages: evaluate(args, runner, stages, splits),
            started=started, summary=lambda data: summary(data, args.models, args.profiles))  # fmt: skip


def evaluate(args, runner, stages, splits: dict) -> tuple[dict, dict]:
    """Every model trained or reloaded by one task, one evaluation task per model; the result's
    datasets and their attributes (each chip's fit, broken limits and arithmetic, in words)."""
    cpus = args.threads
    tag = "" if args.train_samples == 60000 else f"_n{args.train_samples}"
    zoos, keys = {}, []
    if "mnist" in splits:
        zoos["mnist"] = AnnZoo("mnist", *splits["mnist"], args.mnist_epochs, tag)
        keys += [("mnist", "ann", s) for s in (VICTIM_SEED, *ATTACKER_SEEDS)]
    if "fashion-mnist" in splits:
        train, test = splits["fashion-mnist"]
        zoos["fashion-mnist"] = Zoo(train, test, args.fmnist_epochs, args.fmnist_epochs, full_train=len(train.y) == 60000)
        keys += [("fashion-mnist", "ann", s) for s in ATTACKER_SEEDS]
        keys += [("fashion-mnist", "snn", *MODELS[m][1:], VICTIM_SEED) for m in args.models if MODELS[m][0] == "fashion-mnist"]
    handles, trained = train_models(runner, Zoos(zoos), keys, cpus)
    floats = {}
    for m in args.models:
        if MODELS[m][0] == "mnist":  # Fig. 2's conversion of the victim ANN
            victim = trained[("mnist", "ann", VICTIM_SEED)]
            cvt = convert(victim, torch.from_numpy(splits["mnist"][0].x[:10000]), percentile=MNIST_PERCENTILE)
            floats[m] = to_evsim(from_evsim(cvt, rule="none", dtype=torch.float64))
        else:
            floats[m] = to_evsim(trained[("fashion-mnist", "snn", *MODELS[m][1:], VICTIM_SEED)])

    jobs, plans, attributes = [], {}, {}
    data: dict[str, object] = {}
    for label in args.models:
        dataset = MODELS[label][0]
        nets, plan = {"float": floats[label]}, {}
        for chip in args.profiles:
            prof = hw.profile(chip)
            fit = hw.check(floats[label], prof)
            variant, net, how = chip_network(floats[label], prof)
            if variant is not None:
                nets.setdefault(variant, net)
                plan[chip] = variant
            record_fit(data, attributes, f"{label}/{chip}", fit, variant, how)
        plans[label] = plan
        attackers = [handles[(dataset, "ann", s)] for s in ATTACKER_SEEDS]
        x, y = splits[dataset][1].x, splits[dataset][1].y
        inputs = {"test": splits[dataset][1].content, "model": content_hash(floats[label]), "plan": content_hash(sorted(plan.items())),
                  "attackers": content_hash([trained[(dataset, "ann", s)] for s in ATTACKER_SEEDS])}  # fmt: skip
        jobs.append(Job(f"eval_{label}", eval_task, (label, plan, args.seed, runner.share(x), runner.share(y), runner.share(nets),
                                                     *attackers), inputs=inputs, cpus=cpus))  # fmt: skip
    done = run_stages(runner, stages, jobs)
    if args.fig5_width:
        resnet = fig5_network(args.fig5_width)
        for chip in args.profiles:
            record_fit(data, attributes, f"fig5_fused_resnet18/{chip}", hw.check(resnet, chip), None,
                       "not run: fit only (untrained; the fused input's current channels feed floats, a chip takes spikes)")  # fmt: skip

    for label in args.models:
        out = done[f"eval_{label}"]
        for key in ("accuracy_clean", "accuracy_attacked", "accuracy_attacked_per_attacker", "sops", "steps"):
            data[f"{label}/float/{key}"] = out[f"float/{key}"]
        for chip, variant in plans[label].items():
            g = f"{label}/{chip}"
            for key in ("accuracy_clean", "accuracy_attacked", "accuracy_attacked_per_attacker", "sops", "steps",
                        "agreement_entries", "agreement_samples", "agreement_predictions"):  # fmt: skip
                data[f"{g}/{key}"] = out[f"{variant}/{key}"]
            for key, value in out.items():
                if key.startswith(f"cost/{chip}/"):
                    data[f"{g}/{key[len(f'cost/{chip}/'):]}"] = value
            data[f"{g}/priced"] = bool(np.isfinite(data[f"{g}/energy_pj"]))
    return data, attributes


def record_fit(data: dict, attributes: dict, g: str, fit: hw.Fit, variant: str | None, how: str) -> None:
    """`check`'s verdict for group g: datasets fits, run, cores, memory_bytes; the limits in words."""
    data[f"{g}/fits"] = bool(fit.fits)
    data[f"{g}/run"] = variant is not None
    data[f"{g}/cores"] = int(sum(fit.cores))
    data[f"{g}/memory_bytes"] = int(sum(fit.memory_bytes))
    attributes[f"{g}/fits"] = {
        "fit": ("fits" if fit.fits else "does not fit") if fit.checked else "not checked (no limits entered)",
        "violations": [str(v) for v in fit.violations] or ["none"],
        "broken_limits": sorted({v.limit for v in fit.violations}) or ["none"],
        "checked": list(fit.checked) or ["none"], "notes": list(fit.notes) or ["none"],
    }  # fmt: skip
    attributes[f"{g}/run"] = {"variant": variant or "none", "arithmetic": how}


def summary(data: dict, models, profiles) -> None:
    print(f"\n{'model':<29}{'chip':<11}{'fits':>5}{'agree':>8}{'pred=':>7}{'clean':>7}{'FGSM':>7}{'SOPs':>11}{'E uJ':>9}{'steps':>7}")
    for label in models:
        print(f"{label:<29}{'float':<11}{'':>5}{'':>8}{'':>7}{data[f'{label}/float/accuracy_clean']:>7.3f}"
              f"{data[f'{label}/float/accuracy_attacked']:>7.3f}{data[f'{label}/float/sops']:>11,.0f}")  # fmt: skip
        for chip in profiles:
            g = f"{label}/{chip}"
            if not data[f"{g}/run"]:
                print(f"{'':<29}{chip:<11}{'no':>5}   (not run: does not fit)")
                continue
            e = data[f"{g}/energy_pj"]
            energy = f"{e / 1e6:>9.2f}" if np.isfinite(e) else f"{'n/p':>9}"
            print(f"{'':<29}{chip:<11}{'yes' if data[f'{g}/fits'] else 'no':>5}{data[f'{g}/agreement_entries']:>8.4f}"
                  f"{data[f'{g}/agreement_predictions']:>7.3f}{data[f'{g}/accuracy_clean']:>7.3f}{data[f'{g}/accuracy_attacked']:>7.3f}"
                  f"{data[f'{g}/sops']:>11,.0f}{energy}{data[f'{g}/steps']:>7.1f}")  # fmt: skip
    if any(k.startswith("fig5_fused_resnet18/") for k in data):
        over = [c for c in profiles if not data[f"fig5_fused_resnet18/{c}/fits"]]
        print(f"Fig. 5's fused ResNet18 (fit only): does not fit {', '.join(over) or 'any chip'}; the others fit or "
              "enter no limits (the file names every broken limit)")  # fmt: skip


if __name__ == "__main__":
    main()
