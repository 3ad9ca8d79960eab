"""Paper Fig. 3 on Fashion-MNIST: how the training method decides an SNN's robustness.

784-500-10, LIF (tau_m = tau_s = 10), T = 10, rate decoding. Models: the ReLU ANN; its weights
copied into LIF layers ("CVT", as the paper); SNNs trained with Act-BP and with Temp-BP on the
current, Poisson and RateSynE encodings (CVT runs with each of the three encodings too).

- Fig. 3B: accuracy under black-box FGSM (five attacker ANNs, mean) for eps 0 .. 0.5;
- Fig. 3C: TAAcc[k] (Eq. 26), clean and under FGSM eps 0.1;
- Fig. 3D and Supp. Fig. S7: two groups of four models (ANN, CVT, Act-BP, Temp-BP; seeds 0 and
  1, current encoding), each model attacking with PGD-Linf (eps 0.05) and BIM-L2 (eps 0.5)
  through its own gradient (the ANN's, the SNN's training rule; CVT through Act-BP) and every
  model judged on every attacker's images: an 8 x 8 matrix of accuracy and attack success rate
  (Eq. 28), white-box on the diagonal, black-box between the groups;
- Supp. Fig. S8: the loss change (Eq. 32) over two FGSM directions for the Act-BP and Temp-BP
  models, and their directional derivative (Eq. 31).

SNNs are simulated in evsim (abstentions count as wrong). Quick by default (5 epochs instead of
the paper's 100, said in the output and the file); --full uses the paper's 100 epochs. Models are
cached in models/ and shared with Fig. 4; finished stages are kept beside the result file, so an
interrupted run resumes.

The work is done by pure tasks (`scenarios.machinery.tasks`): one per model (14), one per eps of Fig. 3B,
the clean judging and one per (white-box attack, attacker) of Fig. 3D, one per SNN of Supp. Fig.
S8. Serially they run in this process; with `--ray [ADDRESS]` as Ray tasks (`--workers` CPUs of a
local Ray, or a cluster; give `--threads 1` so that tasks run side by side). The driver alone
writes stage files and the result.

    python -m scenarios fig3 [--full] [--out results/fig3.h5] [--ray [ADDRESS] [--workers N] --threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bridges.attacks import make_attack, run_attack
from bridges.export import to_evsim
from bridges.sensitivity import directional_derivative, loss_change_surface
from bridges.whitebox import SNNClassifier
from evsim import metrics

from ..machinery.accuracy import ann_predictions
from ..machinery.content import content_hash
from ..machinery.job import run_job
from ..machinery.tasks import Job, run_stages
from ..setups.fmnist import ATTACKER_SEEDS, EPS, SWEEP, T, black_box_fgsm, setup, simulate_images

ENCODERS = ("current", "poisson", "ratesyn_e")
SNN_MODELS = ("cvt", "actbp", "tempbp")
RULES = ("actbp", "tempbp")
GROUP_SEEDS = (0, 1)  # Fig. 3D: two groups of four models
GROUP_MODELS = ("ann", "cvt", "actbp", "tempbp")
GROUP_ENCODER = "current"
WHITE_BOX = {"pgd_linf": {"eps": 0.05}, "bim_l2": {"eps": 0.5}}  # presets: alpha eps/16, 40 steps
DIRECTIONAL_T = 0.05  # Eq. 31


def grid_points(text: str) -> int:
    n = int(text)
    if n < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 points, got {n}")
    return n


def group_labels() -> list[str]:
    return [f"{m}_{g}" for g in GROUP_SEEDS for m in GROUP_MODELS]


# ------------------------------------------------------------------ tasks: values in, values out


def sweep_task(eps: float, seed: int, x: np.ndarray, y: np.ndarray, ann, nets: dict, *attackers) -> dict:
    """Fig. 3B/3C at one eps: the ANN's and every SNN's accuracy per attacker, and the SNNs' TAAcc
    (mean over the attackers); eps 0 is one clean run, not five copies."""
    adv = black_box_fgsm(list(attackers), x, y, eps)
    runs = adv[:1] if eps == 0 else adv
    out = {"ann/none/accuracy": np.array([(ann_predictions(ann, a) == y).mean() for a in runs])}
    for (m, e), net in nets.items():
        sims = [simulate_images(net, a, e, "rate", seed) for a in runs]
        out[f"{m}/{e}/accuracy"] = np.array([metrics.accuracy(s["predictions"], y) for s in sims])
        out[f"{m}/{e}/taacc"] = np.mean([metrics.taacc(s["output_spikes"], y, "rate") for s in sims], axis=0)
    return out


def judge(group: dict, images: np.ndarray, seed: int) -> np.ndarray:
    """Predictions (8, N) of the eight group models (label -> model, in group_labels() order) on images (N, 784)."""
    preds = []
    for label in group_labels():
        model = group[label]
        if label.startswith("ann"):
            preds.append(ann_predictions(model, images))
        else:
            preds.append(simulate_images(to_evsim(model), images, GROUP_ENCODER, "rate", seed)["predictions"])
    return np.stack(preds)


def judge_task(seed: int, x: np.ndarray, group: dict) -> dict:
    """Fig. 3D: the group's predictions on the clean images."""
    return {"predictions": judge(group, x, seed)}


def white_box_task(attack: str, i: int, seed: int, x: np.ndarray, y: np.ndarray, group: dict) -> dict:
    """Fig. 3D: group model i attacks through its own gradient; every group model judges the images."""
    label = group_labels()[i]
    model = group[label]
    if not label.startswith("ann"):
        model = SNNClassifier(model, GROUP_ENCODER, T, "rate", seed=seed, gradient="trained")
    adv = run_attack(make_attack(attack, model, **WHITE_BOX[attack]), x, y, batch_size=500, seed=(seed, i))
    return {"predictions": judge(group, adv.numpy(), seed)}


def surface_task(encoder: str, seed: int, t_grid: np.ndarray, xs: np.ndarray, ys: np.ndarray, model) -> dict:
    """Supp. Fig. S8 (Eq. 32) and the directional derivative (Eq. 31) of one trained SNN."""
    clf = SNNClassifier(model, encoder, T, "rate", seed=seed, gradient="trained")
    xs, ys = torch.from_numpy(xs), torch.from_numpy(ys)
    lc = loss_change_surface(clf, xs, ys, t_grid, t_grid)
    dd = directional_derivative(clf, xs, ys, t=DIRECTIONAL_T)
    return {"loss_change": lc.loss_change, "agreement": lc.agreement, "directional_derivative": dd.mean}


# ------------------------------------------------------------------ the driver


def main(argv=None) -> None:
    def grid_argument(parser):
        parser.add_argument("--grid", type=grid_points, default=None, help="points per axis of the Eq. 32 grid on [-1, 1] (quick 11, full 21)")

    run = setup("fig3", __doc__.split("\n")[0], argv, grid_argument)
    grid = (21 if run.full else 11) if run.args.grid is None else run.args.grid
    args = run.args
    started = time.perf_counter()

    t_grid = np.linspace(-1.0, 1.0, grid)
    settings = run.settings("fig3") | {
        "decoder": "rate", "encoders": list(ENCODERS),
        "snn_models": list(SNN_MODELS), "cvt": "ANN weights copied unchanged into LIF layers",
        "fig3b_attack": "fgsm", "fig3b_eps": list(SWEEP), "fig3c_eps": EPS,
        "fig3d_models": group_labels(), "fig3d_group_seeds": list(GROUP_SEEDS), "fig3d_encoder": GROUP_ENCODER,
        "fig3d_attacks": list(WHITE_BOX), "fig3d_pgd_linf_eps": 0.05, "fig3d_bim_l2_eps": 0.5,
        "fig3d_alpha": "eps/16", "fig3d_steps": 40, "fig3d_gradient": "the attacker's own: ANN autograd, "
        "SNN its training rule (Act-BP surrogate or Temp-BP), CVT Act-BP",
        "figs8_grid": list(t_grid), "figs8_v2": "FGSM direction at clip(x + 0.05 v1)",
        "directional_t": DIRECTIONAL_T,
    }  # fmt: skip
    run_job(args, settings, "scenarios.paper.fig3", lambda runner, stages: attributed(evaluate(run, runner, stages, t_grid)),
            started=started, summary=summary)  # fmt: skip


def attributed(data: dict) -> tuple[dict, dict]:
    """The datasets and what their axes mean: Fig. 3D's matrices, the per-attacker sweeps."""
    labels = group_labels()
    axes = {"rows": [f"attacker {v}" for v in labels], "columns": [f"victim {v}" for v in labels]}
    matrices = [f"fig3d/{a}/{k}" for a in WHITE_BOX for k in ("accuracy", "attack_success_rate", "attack_success_rate_correct")]
    per_attacker = {
        name: {"rows": [f"eps {v:g}" for v in SWEEP], "columns": [f"attacker seed {s}" for s in ATTACKER_SEEDS],
               "note": "eps 0 is the clean run: no attacker, NaN"}
        for name in data if name.endswith("_per_attacker")
    }  # fmt: skip
    return data, {name: axes for name in matrices} | {"fig3d/clean_accuracy": {"models": labels}} | per_attacker


def evaluate(run, runner, stages, t_grid: np.ndarray) -> dict[str, object]:
    """Every model trained by one task, every stage computed by one task on `runner` (reading the
    models' outputs) or loaded; the driver stores the stages and returns the result's datasets."""
    args, cpus = run.args, run.args.threads
    handles, zoo = run.train_models(runner, [("ann", s) for s in (0, *ATTACKER_SEEDS)]
                                    + [("snn", m, e, "rate", 0) for m in RULES for e in ENCODERS]
                                    + [("snn", m, GROUP_ENCODER, "rate", g) for m in RULES for g in GROUP_SEEDS if g != 0])  # fmt: skip
    x, y = run.test.x, run.test.y
    attackers = zoo.attackers()
    victims = {(m, e): zoo.cvt() if m == "cvt" else zoo.snn(m, e) for m in SNN_MODELS for e in ENCODERS}
    nets = {key: to_evsim(model) for key, model in victims.items()}
    group = {f"{m}_{g}": (zoo.ann(g) if m == "ann" else zoo.cvt(g) if m == "cvt" else zoo.snn(m, GROUP_ENCODER, seed=g))
             for g in GROUP_SEEDS for m in GROUP_MODELS}  # fmt: skip
    # content keys: a stage is reused only with the same models and test images
    test_key, attackers_key = run.test.content, content_hash(attackers)
    sweep_inputs = {"test": test_key, "attackers": attackers_key, "ann": content_hash(zoo.ann()), "snns": content_hash(nets)}
    group_inputs = {"test": test_key, "group": content_hash(group)}
    x_h, y_h, nets_h, group_h = runner.share(x), runner.share(y), runner.share(nets), runner.share(group)
    attacker_h = [handles[("ann", s)] for s in ATTACKER_SEEDS]
    labels = group_labels()
    xs_h, ys_h = runner.share(x[: run.loss_samples]), runner.share(y[: run.loss_samples])

    jobs = [Job(f"fig3b_eps{eps:g}", sweep_task, (eps, args.seed, x_h, y_h, handles[("ann", 0)], nets_h, *attacker_h),
                inputs=sweep_inputs, cpus=cpus) for eps in SWEEP]  # fmt: skip
    jobs += [Job("fig3d_clean", judge_task, (args.seed, x_h, group_h), inputs=group_inputs, cpus=cpus)]
    jobs += [Job(f"fig3d_{attack}_{label}", white_box_task, (attack, i, args.seed, x_h, y_h, group_h), inputs=group_inputs, cpus=cpus)
             for attack in WHITE_BOX for i, label in enumerate(labels)]  # fmt: skip
    jobs += [Job(f"figs8_{rule}_{e}", surface_task, (e, args.seed, t_grid, xs_h, ys_h, handles[("snn", rule, e, "rate", 0)]),
                 inputs={"test": test_key, "model": content_hash(victims[(rule, e)])}, cpus=cpus)
             for rule in RULES for e in ENCODERS]  # fmt: skip
    done = run_stages(runner, stages, jobs)

    data: dict[str, object] = {}
    # Fig. 3B and 3C: black-box FGSM over eps, TAAcc from the same runs
    for eps in SWEEP:
        for key, value in done[f"fig3b_eps{eps:g}"].items():
            data.setdefault(f"fig3b/{key}", []).append(value)
    for key in [k for k in data if k.startswith("fig3b/")]:
        values = data.pop(key)
        if key.endswith("/taacc"):
            taacc = np.array(values)  # (eps, T)
            data[key.replace("fig3b/", "fig3c/").replace("/taacc", "/taacc_clean")] = taacc[0]
            data[key.replace("fig3b/", "fig3c/").replace("/taacc", "/taacc_attacked")] = taacc[SWEEP.index(EPS)]
            data[key] = taacc
        else:
            data[key] = np.array([v.mean() for v in values])
            # eps 0 is not attacked: one clean run, no per-attacker values (NaN, see the attribute)
            per_attacker = np.full((len(values), len(ATTACKER_SEEDS)), np.nan)
            for i, v in enumerate(values):
                if len(v) == len(ATTACKER_SEEDS):
                    per_attacker[i] = v
            data[key + "_per_attacker"] = per_attacker
    data["fig3b/eps"] = np.array(SWEEP)

    # Fig. 3D and Supp. Fig. S7: every model of both groups attacks (white-box), every model is judged
    clean_pred = done["fig3d_clean"]["predictions"]
    data["fig3d/clean_accuracy"] = (clean_pred == y).mean(axis=1)
    for attack in WHITE_BOX:
        accuracy = np.zeros((len(labels), len(labels)))
        asr = np.zeros_like(accuracy)
        asr_correct = np.zeros_like(accuracy)
        for i, label in enumerate(labels):
            pred = done[f"fig3d_{attack}_{label}"]["predictions"]
            accuracy[i] = (pred == y).mean(axis=1)
            asr[i] = [metrics.attack_success_rate(p, y) for p in pred]
            asr_correct[i] = [metrics.attack_success_rate(p, y, c) for p, c in zip(pred, clean_pred)]
        data[f"fig3d/{attack}/accuracy"] = accuracy
        data[f"fig3d/{attack}/attack_success_rate"] = asr
        data[f"fig3d/{attack}/attack_success_rate_correct"] = asr_correct

    # Supp. Fig. S8 (Eq. 32) and the directional derivative (Eq. 31) of the trained SNNs
    for rule in RULES:
        for e in ENCODERS:
            for key, value in done[f"figs8_{rule}_{e}"].items():
                data[f"figs8/{rule}/{e}/{key}"] = value
    data["figs8/t"] = t_grid
    return data


def summary(data: dict) -> None:
    eps = data["fig3b/eps"]
    show = [0.0, 0.1, 0.2, 0.3, 0.5]
    cols = [int(np.argmin(np.abs(eps - v))) for v in show]
    print("\nFig. 3B: accuracy under black-box FGSM (mean of 5 attackers)")
    print(f"{'model':<20}" + "".join(f"{'eps ' + format(eps[c], 'g'):>10}" for c in cols))
    print(f"{'ANN':<20}" + "".join(f"{data['fig3b/ann/none/accuracy'][c]:>10.4f}" for c in cols))
    for m in SNN_MODELS:
        for e in ENCODERS:
            acc = data[f"fig3b/{m}/{e}/accuracy"]
            print(f"{m + ' ' + e:<20}" + "".join(f"{acc[c]:>10.4f}" for c in cols))
    print(f"\nFig. 3C: TAAcc at eps {EPS} (attacked) at steps 1, 3, 5, 10")
    for m in SNN_MODELS:
        for e in ENCODERS:
            ta = data[f"fig3c/{m}/{e}/taacc_attacked"]
            print(f"{m + ' ' + e:<20}" + "".join(f"{ta[k]:>10.4f}" for k in (0, 2, 4, T - 1)))
    labels = group_labels()
    for attack in WHITE_BOX:
        print(f"\nFig. 3D {attack}: accuracy, rows attackers, columns victims (white-box on the diagonal)")
        print(f"{'':<10}" + "".join(f"{v:>10}" for v in labels))
        for i, a in enumerate(labels):
            print(f"{a:<10}" + "".join(f"{v:>10.4f}" for v in data[f"fig3d/{attack}/accuracy"][i]))
    print(f"\nSupp. Fig. S8: mean loss change at (t1, t2) = (1, 1) and directional derivative (Eq. 31, t {DIRECTIONAL_T})")
    for rule in RULES:
        for e in ENCODERS:
            lc = data[f"figs8/{rule}/{e}/loss_change"]
            print(f"{rule + ' ' + e:<20}{lc[-1, -1]:>10.4f}{float(data[f'figs8/{rule}/{e}/directional_derivative']):>10.4f}")


if __name__ == "__main__":
    main()
