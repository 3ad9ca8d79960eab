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

    python -m scenarios fig4 [--full] [--out results/fig4.h5]
"""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm import tqdm

import evsim
from bridges.export import to_evsim
from bridges.sensitivity import directional_derivative
from bridges.whitebox import SNNClassifier
from evsim import metrics

from .content import content_hash
from .fmnist import ATTACKER_SEEDS, EPS, SWEEP, T, black_box_fgsm, setup, simulate_images
from .results import write_results

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


def main(argv=None) -> None:
    run = setup("fig4", __doc__.split("\n")[0], argv)
    args, n_loss = run.args, run.loss_samples
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
    stages = run.stages("fig4", settings)
    zoo = run.zoo()
    run.train_models(zoo, [("ann", s) for s in ATTACKER_SEEDS]
                     + [("snn", r, e, d, 0) for e, d, r in ROBUSTNESS_MODELS]
                     + [("snn", "actbp", e, d, 0) for e in SOP_ENCODERS for d in DECODERS])  # fmt: skip
    x, y = run.test.x, run.test.y

    attackers = zoo.attackers()
    models = {(e, d, r): zoo.snn(r, e, d) for e, d, r in ROBUSTNESS_MODELS}
    models |= {(e, d, "actbp"): zoo.snn("actbp", e, d) for e in SOP_ENCODERS for d in DECODERS}
    nets = {key: to_evsim(model) for key, model in models.items()}
    data: dict[str, object] = {}
    # content keys: a stage is reused only with the same models and test images
    test_key, attackers_key = run.test.content, content_hash(attackers)

    # Fig. 4C: black-box FGSM over eps
    for eps in tqdm(SWEEP, desc="Fig. 4C: FGSM eps"):
        def sweep_point(eps=eps):
            adv = black_box_fgsm(attackers, x, y, eps)
            runs = adv[:1] if eps == 0 else adv
            return {
                model_label(e, d, r): np.array([
                    metrics.accuracy(simulate_images(nets[(e, d, r)], a, e, d, args.seed)["predictions"], y) for a in runs
                ])
                for e, d, r in ROBUSTNESS_MODELS
            }  # fmt: skip

        inputs = {"test": test_key, "attackers": attackers_key, "snns": content_hash([nets[m] for m in ROBUSTNESS_MODELS])}
        for key, value in stages.get(f"fig4c_eps{eps:g}", sweep_point, inputs=inputs).items():
            data.setdefault(f"fig4c/{key}/accuracy", []).append(float(np.mean(value)))
    for e, d, r in ROBUSTNESS_MODELS:
        key = f"fig4c/{model_label(e, d, r)}/accuracy"
        data[key] = np.array(data[key])
    data["fig4c/eps"] = np.array(SWEEP)

    # Fig. 4D and 4F: one pass over clean and eps-0.1 images for every model that needs it
    def operations(e: str, d: str):
        def run():
            adv = black_box_fgsm(attackers, x, y, EPS)
            net = nets[(e, d, "actbp")]
            clean = simulate_images(net, x, e, d, args.seed, with_energy=True)
            attacked = [simulate_images(net, a, e, d, args.seed, with_energy=True) for a in adv]
            out = {"first_spike_step": np.stack([clean["first_spike_step"]] + [a["first_spike_step"] for a in attacked])}
            for key in ("sops", "sops_estimate", "macs", "energy_pj", "energy_exact_pj", "steps"):
                per_sample = [clean[key]] + [np.mean([a[key] for a in attacked], axis=0)]
                out[key] = np.stack([v.sum(axis=1) if v.ndim == 2 else v for v in per_sample]).mean(axis=1)  # (2,)
                if key in ("sops", "sops_estimate"):
                    out[key + "_per_layer"] = np.stack([v.mean(axis=0) for v in per_sample])  # (2, L)
            out["accuracy"] = np.array([metrics.accuracy(clean["predictions"], y),
                                        np.mean([metrics.accuracy(a["predictions"], y) for a in attacked])])  # fmt: skip
            if d == "ttfs":  # what the same network costs when every sample runs to T
                no_exit = [simulate_images(net, v, e, d, args.seed, early_exit=False) for v in [x, *adv]]
                out["sops_no_exit"] = np.array([no_exit[0]["sops"].sum(axis=1).mean(),
                                                np.mean([r["sops"].sum(axis=1).mean() for r in no_exit[1:]])])  # fmt: skip
            return out

        inputs = {"test": test_key, "attackers": attackers_key, "snn": content_hash(nets[(e, d, "actbp")])}
        return stages.get(f"fig4f_{e}_{d}", run, inputs=inputs)

    for e in tqdm(SOP_ENCODERS, desc="Fig. 4D/4F: SOPs and decision steps"):
        for d in DECODERS:
            ops = operations(e, d)
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

    def timing():
        adv = black_box_fgsm(attackers, x, y, EPS)
        clean = evsim.encode(x, T, "ttfs")
        return {"zeta": np.mean([metrics.perturbation_timing(clean, evsim.encode(a, T, "ttfs")) for a in adv], axis=0)}

    data["fig4d/zeta"] = stages.get("fig4d_zeta", timing, inputs={"test": test_key, "attackers": attackers_key})["zeta"]

    # Fig. 4E: directional derivatives (Eq. 31) along each model's own FGSM direction
    xs, ys = torch.from_numpy(x[:n_loss]), torch.from_numpy(y[:n_loss])
    for e, d, r in tqdm(ROBUSTNESS_MODELS, desc="Fig. 4E: directional derivatives"):
        def derivative(e=e, d=d, r=r):
            clf = SNNClassifier(models[(e, d, r)], e, T, d, seed=args.seed, gradient="trained")
            dd = directional_derivative(clf, xs, ys, t=DIRECTIONAL_T)
            return {"mean": dd.mean, "values": dd.values.numpy()}

        got = stages.get(f"fig4e_{model_label(e, d, r)}", derivative, inputs={"test": test_key, "model": content_hash(models[(e, d, r)])})
        data[f"fig4e/{model_label(e, d, r)}/directional_derivative"] = got["mean"]
        data[f"fig4e/{model_label(e, d, r)}/directional_derivative_per_sample"] = got["values"]

    settings["seconds"] = round(time.perf_counter() - started, 1)
    path = write_results(args.out, data, settings, stages=stages)
    summary(data)
    print(f"\nwrote {path} in {settings['seconds']:.0f} s; draw the figures with: python -m scenarios plot {path}")


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
