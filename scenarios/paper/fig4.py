"""Paper Fig. 4 on Fashion-MNIST: early-exit TTFS decoding, robustness and exact SOPs.

784-500-10, LIF (tau_m = tau_s = 10), T = 10. SNNs trained with Act-BP on the current and TTFS
encodings, each with rate and with TTFS decoding, plus Temp-BP on the TTFS encoding with both
decodings (six models, Fig. 4C and 4E); Act-BP on the Poisson and RateSynE encodings with both
decodings joins them for Fig. 4F. A TTFS-decoded SNN runs in evsim with early exit: each sample
stops at its first output spike, and no later operation is done or counted.

- Fig. 4C: accuracy under black-box FGSM (five attacker ANNs, mean) for eps 0 .. 0.5;
- Fig. 4D: zeta[k] of the TTFS encoding under FGSM eps 0.1; for the TTFS- and the rate-decoded
  Act-BP TTFS-encoded SNN, clean and attacked, the mean decision step (when the label is known:
  the first output spike with TTFS decoding, the last step with rate decoding) and the mean first
  output spike step (the paper's caption);
- Fig. 4E: the directional derivative (Eq. 31, t = 0.05) of the six models;
- Fig. 4F: SOPs per image of Poisson, RateSynE and TTFS encodings with rate and TTFS decoding,
  clean and under FGSM eps 0.1: evsim's exact count with early exit, the paper's estimate xi FLOP
  (Eq. 33), the count of the same network run to T without exit, and the energy (Eq. 36).

Quick by default (5 epochs instead of the paper's 100, said in the output and the file); --full
uses the paper's 100 epochs. Models are shared with Fig. 3 through models/;
finished stages are kept beside the result file, so an interrupted run resumes.

The work is done by pure tasks (`scenarios.machinery.tasks`): one per model (15), one per eps of Fig. 4C,
one per (encoder, decoder) of Fig. 4D/4F, one for zeta, one per model of Fig. 4E. Serially they
run in this process; with `--ray [ADDRESS]` as Ray tasks (`--workers` CPUs of a local Ray, or a
cluster; give `--threads 1` so that tasks run side by side). The driver alone writes stage files
and the result.

    python -m scenarios fig4 [--full] [--out results/fig4.h5] [--ray [ADDRESS] [--workers N] --threads 1]
"""

from __future__ import annotations

import time

import numpy as np
import torch

import evsim
from bridges.export import to_evsim
from bridges.sensitivity import directional_derivative
from bridges.whitebox import SNNClassifier
from evsim import metrics

from ..machinery.content import content_hash
from ..machinery.job import run_job
from ..machinery.tasks import Job, run_stages
from ..setups.fmnist import ATTACKER_SEEDS, EPS, SWEEP, T, black_box_fgsm, setup, simulate_images

DECODERS = ("rate", "ttfs")
# Fig. 4C and 4E: (encoder, decoder, training rule)
ROBUSTNESS_MODELS = tuple((e, d, "actbp") for e in ("current", "ttfs") for d in DECODERS) + tuple(
    ("ttfs", d, "tempbp") for d in DECODERS
)
SOP_ENCODERS = ("poisson", "ratesyn_e", "ttfs")  # Fig. 4F, Act-BP
DIRECTIONAL_T = 0.05


def model_label(encoder: str, decoder: str, rule: str) -> str:
    return f"{encoder}_{decoder}_{rule}"


def mean_first_spike_step(first_spike_step: np.ndarray) -> tuple[float, float]:
    """(mean first-output-spike step over the samples whose output spiked, fraction that stayed silent)."""
    spiked = first_spike_step < T
    return (float(first_spike_step[spiked].mean()) if spiked.any() else float("nan")), float(1 - spiked.mean())


# ------------------------------------------------------------------ tasks: values in, values out


def sweep_task(eps: float, seed: int, x: np.ndarray, y: np.ndarray, nets: dict, *attackers) -> dict:
    """Fig. 4C at one eps: each robustness model's accuracy per attacker (one clean run at eps 0)."""
    adv = black_box_fgsm(list(attackers), x, y, eps)
    runs = adv[:1] if eps == 0 else adv
    return {
        model_label(e, d, r): np.array([
            metrics.accuracy(simulate_images(nets[(e, d, r)], a, e, d, seed)["predictions"], y) for a in runs
        ])
        for e, d, r in ROBUSTNESS_MODELS
    }  # fmt: skip


def operations_task(encoder: str, decoder: str, seed: int, x: np.ndarray, y: np.ndarray, net, *attackers) -> dict:
    """Fig. 4D/4F: one Act-BP SNN on the clean and the eps-0.1 images: counts, energy, steps,
    first output spikes, accuracy; with TTFS decoding also the counts without early exit."""
    e, d = encoder, decoder
    adv = black_box_fgsm(list(attackers), x, y, EPS)
    clean = simulate_images(net, x, e, d, seed, with_energy=True)
    attacked = [simulate_images(net, a, e, d, seed, with_energy=True) for a in adv]
    out = {"first_spike_step": np.stack([clean["first_spike_step"]] + [a["first_spike_step"] for a in attacked])}
    for key in ("sops", "sops_estimate", "macs", "energy_pj", "energy_exact_pj", "steps"):
        per_sample = [clean[key]] + [np.mean([a[key] for a in attacked], axis=0)]
        out[key] = np.stack([v.sum(axis=1) if v.ndim == 2 else v for v in per_sample]).mean(axis=1)  # (2,)
        if key in ("sops", "sops_estimate"):
            out[key + "_per_layer"] = np.stack([v.mean(axis=0) for v in per_sample])  # (2, L)
    out["accuracy"] = np.array([metrics.accuracy(clean["predictions"], y),
                                np.mean([metrics.accuracy(a["predictions"], y) for a in attacked])])  # fmt: skip
    if d == "ttfs":  # what the same network costs when every sample runs to T
        no_exit = [simulate_images(net, v, e, d, seed, early_exit=False) for v in [x, *adv]]
        out["sops_no_exit"] = np.array([no_exit[0]["sops"].sum(axis=1).mean(),
                                        np.mean([r["sops"].sum(axis=1).mean() for r in no_exit[1:]])])  # fmt: skip
    return out


def timing_task(x: np.ndarray, y: np.ndarray, *attackers) -> dict:
    """Fig. 4D: zeta[k] of the TTFS encoding under FGSM eps 0.1, mean over the attackers."""
    adv = black_box_fgsm(list(attackers), x, y, EPS)
    clean = evsim.encode(x, T, "ttfs")
    return {"zeta": np.mean([metrics.perturbation_timing(clean, evsim.encode(a, T, "ttfs")) for a in adv], axis=0)}


def derivative_task(encoder: str, decoder: str, seed: int, xs: np.ndarray, ys: np.ndarray, model) -> dict:
    """Fig. 4E: the directional derivative (Eq. 31) along the model's own FGSM direction."""
    clf = SNNClassifier(model, encoder, T, decoder, seed=seed, gradient="trained")
    dd = directional_derivative(clf, torch.from_numpy(xs), torch.from_numpy(ys), t=DIRECTIONAL_T)
    return {"mean": dd.mean, "values": dd.values.numpy()}


# ------------------------------------------------------------------ the driver


def main(argv=None) -> None:
    run = setup("fig4", __doc__.split("\n")[0], argv)
    args = run.args
    started = time.perf_counter()

    settings = run.settings("fig4") | {
        "decoders": list(DECODERS),
        "early_exit": "TTFS decoding stops each sample at its first output spike",
        "fig4c_models": [model_label(*m) for m in ROBUSTNESS_MODELS], "fig4c_attack": "fgsm", "fig4c_eps": list(SWEEP),
        "fig4d_eps": EPS, "fig4d_models": ["ttfs_rate_actbp", "ttfs_ttfs_actbp"],
        "fig4d_steps": "0-based steps k (the paper's t = k + 1 ms)",
        "directional_t": DIRECTIONAL_T, "fig4e_gradient": "the SNN's training rule (Act-BP surrogate or Temp-BP)",
        "fig4f_encoders": list(SOP_ENCODERS), "fig4f_rule": "actbp", "fig4f_eps": EPS,
        "fig4f_columns": ["clean", "attacked"], "energy_model": "Eq. 33-37, Table 2 (65 nm, 32 bit)",
    }  # fmt: skip
    run_job(args, settings, "scenarios.paper.fig4", lambda runner, stages: evaluate(run, runner, stages),
            started=started, summary=summary)  # fmt: skip


def evaluate(run, runner, stages) -> dict[str, object]:
    """Every model trained by one task, every stage computed by one task on `runner` (reading the
    models' outputs) or loaded; the driver stores the stages and returns the result's datasets."""
    args, cpus = run.args, run.args.threads
    handles, zoo = run.train_models(runner, [("ann", s) for s in ATTACKER_SEEDS]
                                    + [("snn", r, e, d, 0) for e, d, r in ROBUSTNESS_MODELS]
                                    + [("snn", "actbp", e, d, 0) for e in SOP_ENCODERS for d in DECODERS])  # fmt: skip
    x, y = run.test.x, run.test.y
    attackers = zoo.attackers()
    keys = {(e, d, r): ("snn", r, e, d, 0) for e, d, r in ROBUSTNESS_MODELS}
    keys |= {(e, d, "actbp"): ("snn", "actbp", e, d, 0) for e in SOP_ENCODERS for d in DECODERS}
    models = {m: zoo.get(key) for m, key in keys.items()}
    nets = {key: to_evsim(model) for key, model in models.items()}
    # content keys: a stage is reused only with the same models and test images
    test_key, attackers_key = run.test.content, content_hash(attackers)
    x_h, y_h = runner.share(x), runner.share(y)
    xs_h, ys_h = runner.share(x[: run.loss_samples]), runner.share(y[: run.loss_samples])
    attacker_h = [handles[("ann", s)] for s in ATTACKER_SEEDS]
    robust_nets = {m: nets[m] for m in ROBUSTNESS_MODELS}
    robust_h = runner.share(robust_nets)

    sweep_inputs = {"test": test_key, "attackers": attackers_key, "snns": content_hash([nets[m] for m in ROBUSTNESS_MODELS])}
    jobs = [Job(f"fig4c_eps{eps:g}", sweep_task, (eps, args.seed, x_h, y_h, robust_h, *attacker_h), inputs=sweep_inputs, cpus=cpus)
            for eps in SWEEP]  # fmt: skip
    jobs += [Job(f"fig4f_{e}_{d}", operations_task, (e, d, args.seed, x_h, y_h, runner.share(nets[(e, d, "actbp")]), *attacker_h),
                 inputs={"test": test_key, "attackers": attackers_key, "snn": content_hash(nets[(e, d, "actbp")])}, cpus=cpus)
             for e in SOP_ENCODERS for d in DECODERS]  # fmt: skip
    jobs += [Job("fig4d_zeta", timing_task, (x_h, y_h, *attacker_h), inputs={"test": test_key, "attackers": attackers_key}, cpus=cpus)]
    jobs += [Job(f"fig4e_{model_label(*m)}", derivative_task, (m[0], m[1], args.seed, xs_h, ys_h, handles[keys[m]]),
                 inputs={"test": test_key, "model": content_hash(models[m])}, cpus=cpus)
             for m in ROBUSTNESS_MODELS]  # fmt: skip
    done = run_stages(runner, stages, jobs)

    data: dict[str, object] = {}
    # Fig. 4C: black-box FGSM over eps
    for eps in SWEEP:
        for key, value in done[f"fig4c_eps{eps:g}"].items():
            data.setdefault(f"fig4c/{key}/accuracy", []).append(float(np.mean(value)))
    for e, d, r in ROBUSTNESS_MODELS:
        key = f"fig4c/{model_label(e, d, r)}/accuracy"
        data[key] = np.array(data[key])
    data["fig4c/eps"] = np.array(SWEEP)

    # Fig. 4D and 4F: one pass over clean and eps-0.1 images for every model that needs it
    for e in SOP_ENCODERS:
        for d in DECODERS:
            ops = done[f"fig4f_{e}_{d}"]
            group = f"fig4f/{e}/{d}"
            data[f"{group}/sops_exact"] = ops["sops"]
            data[f"{group}/sops_estimate"] = ops["sops_estimate"]
            data[f"{group}/sops_exact_per_layer"] = ops["sops_per_layer"]
            data[f"{group}/sops_estimate_per_layer"] = ops["sops_estimate_per_layer"]
            data[f"{group}/energy_pj"] = ops["energy_pj"]
            data[f"{group}/energy_exact_pj"] = ops["energy_exact_pj"]
            data[f"{group}/steps"] = ops["steps"]
            data[f"{group}/accuracy"] = ops["accuracy"]
            if d == "ttfs":
                data[f"{group}/sops_no_exit"] = ops["sops_no_exit"]
            if e == "ttfs":  # Fig. 4D, clean and attacked
                # the step at which the label is known: the first output spike with early exit (a
                # silent output runs to T - 1 and abstains), T - 1 for rate decoding (it counts every step)
                data[f"fig4d/decision_step/{d}"] = ops["steps"] - 1
                first = ops["first_spike_step"]
                stats = [mean_first_spike_step(first[0]), mean_first_spike_step(first[1:].reshape(-1))]
                data[f"fig4d/first_spike_step/{d}"] = np.array([s[0] for s in stats])
                data[f"fig4d/silent_fraction/{d}"] = np.array([s[1] for s in stats])
                data[f"fig4d/first_spike_histogram/{d}"] = np.stack(
                    [np.bincount(first[0], minlength=T + 1), np.bincount(first[1:].reshape(-1), minlength=T + 1)]
                )
    data["fig4d/zeta"] = done["fig4d_zeta"]["zeta"]

    # Fig. 4E: directional derivatives (Eq. 31) along each model's own FGSM direction
    for m in ROBUSTNESS_MODELS:
        got = done[f"fig4e_{model_label(*m)}"]
        data[f"fig4e/{model_label(*m)}/directional_derivative"] = got["mean"]
        data[f"fig4e/{model_label(*m)}/directional_derivative_per_sample"] = got["values"]
    return data


def summary(data: dict) -> None:
    eps = data["fig4c/eps"]
    cols = [int(np.argmin(np.abs(eps - v))) for v in (0.0, 0.1, 0.2, 0.3, 0.5)]
    print("\nFig. 4C: accuracy under black-box FGSM (mean of 5 attackers); Fig. 4E: directional derivative")
    print(f"{'encoder_decoder_rule':<22}" + "".join(f"{'eps ' + format(eps[c], 'g'):>9}" for c in cols) + f"{'dir.der.':>10}")
    for e, d, r in ROBUSTNESS_MODELS:
        label = model_label(e, d, r)
        acc = data[f"fig4c/{label}/accuracy"]
        dd = float(data[f"fig4e/{label}/directional_derivative"])
        print(f"{label:<22}" + "".join(f"{acc[c]:>9.4f}" for c in cols) + f"{dd:>10.3f}")
    print(f"\nFig. 4D: TTFS-encoded Act-BP SNN, mean step k (t = k+1 ms), clean / FGSM eps {EPS}")
    for d in DECODERS:
        step, first = data[f"fig4d/decision_step/{d}"], data[f"fig4d/first_spike_step/{d}"]
        silent = data[f"fig4d/silent_fraction/{d}"]
        print(f"  {d} decoding: decision {step[0]:.2f} / {step[1]:.2f}, first output spike {first[0]:.2f} / {first[1]:.2f}"
              f" (silent {silent[0]:.3f} / {silent[1]:.3f})")  # fmt: skip
    print(f"\nFig. 4F: SOPs per image, clean / FGSM eps {EPS} (exact with early exit; xi*FLOP estimate; energy nJ)")
    for e in SOP_ENCODERS:
        for d in DECODERS:
            g = f"fig4f/{e}/{d}"
            ex, es, en = data[f"{g}/sops_exact"], data[f"{g}/sops_estimate"], data[f"{g}/energy_exact_pj"] / 1e3
            extra = f"  no exit {data[f'{g}/sops_no_exit'][0]:,.0f}" if d == "ttfs" else ""
            print(f"  {e:<10}{d:<5} exact {ex[0]:>10,.0f} / {ex[1]:>10,.0f}  estimate {es[0]:>10,.0f} / {es[1]:>10,.0f}"
                  f"  energy {en[0]:.1f} / {en[1]:.1f}{extra}")  # fmt: skip


if __name__ == "__main__":
    main()
