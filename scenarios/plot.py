"""Figures drawn from a scenario's HDF5 file alone: `python -m scenarios plot results/fig2.h5`.

The file's `scenario` attribute picks the drawing; PNGs go to a folder beside the file
(results/fig2/*.png), one per panel, with axes, units and legends.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np
from matplotlib.patches import Patch

from .machinery.plotting import COLORS, ENCODER_LABELS, as_strings, plt, radar, save_figure, time_steps


def plot_fig2(f: h5py.File, folder: Path) -> list[Path]:
    encoders = [e.decode() if isinstance(e, bytes) else str(e) for e in f.attrs["encoders"]]
    T = int(f.attrs["T"])
    t = time_steps(T)
    eps = float(f.attrs["attack_eps"])
    mode = f.attrs["mode"]
    ann_clean, ann_atk = float(f["ann/accuracy_clean"][()]), float(f["ann/accuracy_attacked"][()])
    paths = []  # a user's encoder (--encoders) has no label or colour of its own: its name, matplotlib's next colour

    fig, ax = plt.subplots(figsize=(6, 4))
    for e in encoders:
        ax.plot(t, f[f"snn/{e}/perturbation_timing"][()], marker=".", color=COLORS.get(e), label=ENCODER_LABELS.get(e, e))
    ax.set(xlabel="time step t (ms)", ylabel="share of encoded perturbations ζ[t]",
           title=f"Fig. 2C: when perturbations reach the SNN (FGSM ε={eps})")  # fmt: skip
    ax.legend()
    paths.append(save_figure(fig, folder, "fig2c_perturbation_timing"))

    fig, axes = plt.subplots(1, len(encoders), figsize=(4 * len(encoders), 3.6), sharey=True)
    for ax, e in zip(np.atleast_1d(axes), encoders):
        ax.plot(t, 100 * f[f"snn/{e}/taacc_clean"][()], color=COLORS.get(e), label="SNN clean")
        ax.plot(t, 100 * f[f"snn/{e}/taacc_attacked"][()], color=COLORS.get(e), ls="--", label="SNN attacked")
        ax.axhline(100 * ann_clean, color="black", lw=0.8, label="ANN clean")
        ax.axhline(100 * ann_atk, color="black", lw=0.8, ls="--", label="ANN attacked")
        ax.set(title=ENCODER_LABELS.get(e, e), xlabel="time step t (ms)", ylim=(0, 100))
    np.atleast_1d(axes)[0].set_ylabel("TAAcc (%)")
    np.atleast_1d(axes)[-1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Fig. 2D: time-accumulated accuracy, black-box FGSM ε={eps} (mean of 5 attackers; {mode})")
    paths.append(save_figure(fig, folder, "fig2d_taacc"))

    if "ratesyn_e" in encoders:
        fig, ax = plt.subplots(figsize=(6, 4))
        width = 0.4
        ax.bar(t - width / 2, f["snn/ratesyn_e/perturbation_timing_fg"][()], width, label="foreground (FG)", color="tab:red")
        ax.bar(t + width / 2, f["snn/ratesyn_e/perturbation_timing_bg"][()], width, label="background (BG)", color="tab:gray")
        ax.set(xlabel="time step t (ms)", ylabel="share of encoded perturbations ζ[t]",
               title="Fig. 2E: RateSynE, foreground vs background perturbations")  # fmt: skip
        ax.legend()
        paths.append(save_figure(fig, folder, "fig2e_ratesyne_fg_bg_timing"))

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(t, 100 * f["snn/ratesyn_e/taacc_clean"][()], color="tab:red", label="clean")
        ax.plot(t, 100 * f["snn/ratesyn_e/taacc_attacked"][()], color="tab:red", ls="--", label="attacked (FG + BG)")
        ax.plot(t, 100 * f["snn/ratesyn_e/taacc_attacked_fg"][()], color="tab:brown", ls=":", label="attacked, FG only")
        ax.plot(t, 100 * f["snn/ratesyn_e/taacc_attacked_bg"][()], color="tab:gray", ls="-.", label="attacked, BG only")
        ax.axhline(100 * ann_atk, color="black", lw=0.8, ls="--", label="ANN attacked")
        ax.set(xlabel="time step t (ms)", ylabel="TAAcc (%)", ylim=(0, 100),
               title="Fig. 2F: RateSynE under foreground / background perturbations")  # fmt: skip
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, folder, "fig2f_ratesyne_fg_bg_taacc"))

    fig, ax = plt.subplots(figsize=(6, 4))
    sweep = f["eps_sweep/eps"][()]
    ax.plot(sweep, 100 * f["eps_sweep/ann/accuracy"][()], color="black", marker="o", label="ANN")
    for e in encoders:
        ax.plot(sweep, 100 * f[f"eps_sweep/{e}/accuracy"][()], color=COLORS.get(e), marker=".", label=f"SNN {ENCODER_LABELS.get(e, e)}")
    ax.set(xlabel="FGSM ε (L∞, pixels in [0, 1])", ylabel="accuracy at t = T (%)", ylim=(0, 100),
           title="Accuracy under black-box FGSM (mean of 5 attackers)")  # fmt: skip
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, folder, "fig2_eps_sweep"))
    return paths


MODEL_LABELS = {"ann": "ANN", "cvt": "CVT", "actbp": "Act-BP", "tempbp": "Temp-BP"}
MODEL_STYLES = {"cvt": ":", "actbp": "--", "tempbp": "-"}


def plot_fig3(f: h5py.File, folder: Path) -> list[Path]:
    encoders, models = as_strings(f.attrs["encoders"]), as_strings(f.attrs["snn_models"])
    T, mode = int(f.attrs["T"]), f.attrs["mode"]
    eps, eps_c = f["fig3b/eps"][()], float(f.attrs["fig3c_eps"])
    ann = 100 * f["fig3b/ann/none/accuracy"][()]
    paths = []

    fig, axes = plt.subplots(1, len(encoders), figsize=(4.2 * len(encoders), 3.8), sharey=True)
    for ax, e in zip(np.atleast_1d(axes), encoders):
        ax.plot(eps, ann, color="black", marker="o", ms=3, label="ANN")
        for m in models:
            ax.plot(eps, 100 * f[f"fig3b/{m}/{e}/accuracy"][()], color=COLORS[e], ls=MODEL_STYLES[m], marker=".", label=MODEL_LABELS[m])
        ax.set(title=ENCODER_LABELS[e], xlabel="FGSM ε", ylim=(0, 100))
    np.atleast_1d(axes)[0].set_ylabel("accuracy (%)")
    np.atleast_1d(axes)[-1].legend(fontsize=8)
    fig.suptitle(f"Fig. 3B: accuracy under black-box FGSM (mean of 5 attackers; {mode})")
    paths.append(save_figure(fig, folder, "fig3b_fgsm_sweep"))

    t = time_steps(T)
    ann_atk = float(ann[int(np.argmin(np.abs(eps - eps_c)))])
    fig, axes = plt.subplots(1, len(encoders), figsize=(4.2 * len(encoders), 3.8), sharey=True)
    for ax, e in zip(np.atleast_1d(axes), encoders):
        for m in models:
            ax.plot(t, 100 * f[f"fig3c/{m}/{e}/taacc_attacked"][()], color=COLORS[e], ls=MODEL_STYLES[m], marker=".", label=MODEL_LABELS[m])
        ax.axhline(ann_atk, color="black", lw=0.8, label="ANN")
        ax.set(title=ENCODER_LABELS[e], xlabel="time step t (ms)", ylim=(0, 100))
    np.atleast_1d(axes)[0].set_ylabel("TAAcc (%)")
    np.atleast_1d(axes)[-1].legend(fontsize=8)
    fig.suptitle(f"Fig. 3C: time-accumulated accuracy under FGSM ε={eps_c} ({mode})")
    paths.append(save_figure(fig, folder, "fig3c_taacc"))

    labels = as_strings(f.attrs["fig3d_models"])
    names = [f"{MODEL_LABELS[l.rsplit('_', 1)[0]]} {l.rsplit('_', 1)[1]}" for l in labels]
    for attack, title in (("pgd_linf", "Fig. 3D: PGD-L∞ ε=0.05"), ("bim_l2", "Supp. Fig. S7: BIM-L2 ε=0.5")):
        fig, axes = plt.subplots(1, 2, figsize=(13, 5.6))
        for ax, key, what in ((axes[0], "accuracy", "accuracy (%)"), (axes[1], "attack_success_rate", "attack success rate (%)")):
            values = 100 * f[f"fig3d/{attack}/{key}"][()]
            image = ax.imshow(values, cmap="Blues" if key == "accuracy" else "Reds", vmin=0, vmax=100)
            for i in range(len(labels)):
                for j in range(len(labels)):
                    ax.text(j, i, f"{values[i, j]:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if values[i, j] > 60 else "black")  # fmt: skip
            ax.set_xticks(range(len(labels)), names, rotation=45, ha="right", fontsize=8)
            ax.set_yticks(range(len(labels)), names, fontsize=8)
            ax.set(xlabel="victim", ylabel="attacker (white-box on the diagonal)", title=what)
            fig.colorbar(image, ax=ax, fraction=0.046)
        fig.suptitle(f"{title}: every model attacks, every model is judged ({mode})")
        paths.append(save_figure(fig, folder, f"fig3d_{attack}"))

    grid = f["figs8/t"][()]
    rules = [r for r in ("actbp", "tempbp") if f"figs8/{r}" in f]
    fig, axes = plt.subplots(len(rules), len(encoders), figsize=(4.2 * len(encoders), 3.8 * len(rules)), squeeze=False,
                             constrained_layout=True)  # fmt: skip
    top = max(float(np.max(f[f"figs8/{r}/{e}/loss_change"][()])) for r in rules for e in encoders)
    for i, r in enumerate(rules):
        for j, e in enumerate(encoders):
            ax = axes[i, j]
            image = ax.contourf(grid, grid, f[f"figs8/{r}/{e}/loss_change"][()].T, levels=np.linspace(min(0, -top * 0.05), top, 21), cmap="viridis")
            ax.set(title=f"{MODEL_LABELS[r]}, {ENCODER_LABELS[e]}", xlabel="t1 (FGSM v1)", ylabel="t2 (FGSM v2)")
    fig.colorbar(image, ax=axes, fraction=0.03, label="loss change (Eq. 32)", format="%.1f")
    fig.suptitle(f"Supp. Fig. S8: loss change over two FGSM directions ({mode})")
    paths.append(save_figure(fig, folder, "figs8_loss_change", tight=False))  # constrained layout already
    return paths


FIG4_STYLES = {"rate": "--", "ttfs": "-"}
RULE_COLORS = {"actbp": None, "tempbp": "tab:green"}


def plot_fig4(f: h5py.File, folder: Path) -> list[Path]:
    T, mode = int(f.attrs["T"]), f.attrs["mode"]
    labels = as_strings(f.attrs["fig4c_models"])
    eps = f["fig4c/eps"][()]
    paths = []

    def describe(label: str) -> tuple[str, str, str]:
        e, d, r = label.split("_")
        return e, d, r

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for label in labels:
        e, d, r = describe(label)
        color = RULE_COLORS[r] or COLORS[e]
        ax.plot(eps, 100 * f[f"fig4c/{label}/accuracy"][()], color=color, ls=FIG4_STYLES[d], marker=".",
                label=f"{ENCODER_LABELS[e]} enc., {d} dec., {MODEL_LABELS[r]}")  # fmt: skip
    ax.set(xlabel="FGSM ε", ylabel="accuracy (%)", ylim=(0, 100), title=f"Fig. 4C: black-box FGSM, rate vs TTFS decoding ({mode})")
    ax.legend(fontsize=7)
    paths.append(save_figure(fig, folder, "fig4c_fgsm_sweep"))

    t = time_steps(T)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.bar(t, f["fig4d/zeta"][()], color="tab:purple", alpha=0.6, label="ζ[t], TTFS encoding")
    for d, color in (("ttfs", "black"), ("rate", "tab:gray")):
        step = f[f"fig4d/decision_step/{d}"][()][1] + 1  # attacked, as t = k + 1
        first = f[f"fig4d/first_spike_step/{d}"][()][1] + 1
        ax.axvline(step, color=color, ls="-", label=f"{d} dec.: mean decision t = {step:.2f} ms")
        ax.axvline(first, color=color, ls=":", label=f"{d} dec.: mean first output spike t = {first:.2f} ms")
    ax.set(xlabel="time step t (ms)", ylabel="share of encoded perturbations",
           title=f"Fig. 4D: perturbations vs decision time (FGSM ε={f.attrs['fig4d_eps']})")  # fmt: skip
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, folder, "fig4d_decision_time"))

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    values = [float(f[f"fig4e/{label}/directional_derivative"][()]) for label in labels]
    colors = [RULE_COLORS[describe(l)[2]] or COLORS[describe(l)[0]] for l in labels]
    bars = ax.bar(range(len(labels)), values, color=colors)
    for bar, label in zip(bars, labels):
        bar.set_hatch("" if describe(label)[1] == "ttfs" else "//")
    ax.set_xticks(range(len(labels)), [l.replace("_", "\n") for l in labels], fontsize=8)
    ax.set(ylabel="directional derivative (Eq. 31, t = 0.05)", title=f"Fig. 4E: loss growth along FGSM ({mode})")
    ax.legend(handles=[Patch(facecolor="white", edgecolor="black", hatch="//", label="rate decoding"),
                       Patch(facecolor="white", edgecolor="black", label="TTFS decoding")], fontsize=8)  # fmt: skip
    paths.append(save_figure(fig, folder, "fig4e_directional_derivative"))

    encoders = as_strings(f.attrs["fig4f_encoders"])
    fig, ax = plt.subplots(figsize=(7.6, 4.4))
    width, x = 0.2, np.arange(len(encoders))
    for k, (d, c) in enumerate([(d, c) for d in ("rate", "ttfs") for c in (0, 1)]):
        exact = [f[f"fig4f/{e}/{d}/sops_exact"][()][c] / 1e3 for e in encoders]
        estimate = [f[f"fig4f/{e}/{d}/sops_estimate"][()][c] / 1e3 for e in encoders]
        pos = x + (k - 1.5) * width
        ax.bar(pos, exact, width, label=f"{d} dec., {'attacked' if c else 'clean'}", color=["tab:blue", "tab:cyan", "tab:red", "tab:pink"][k])
        ax.scatter(pos, estimate, marker="_", s=200, color="black", zorder=3, label="ξ·FLOP estimate" if k == 0 else None)
    ax.set_xticks(x, [ENCODER_LABELS[e] for e in encoders])
    ax.set(ylabel="SOPs per image (thousands)", title=f"Fig. 4F: exact SOPs with early exit ({mode})")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, folder, "fig4f_sops"))
    return paths


FIG5_CONDITIONS = ("clean", "l0", "l1", "l2", "linf")
FIG5_CONDITION_LABELS = {"clean": "cln", "l0": "$l_0$", "l1": "$l_1$", "l2": "$l_2$", "linf": r"$l_\infty$"}
FIG5_MODELS = {
    "ann": "ANN", "current_actbp_rate": "current, Act-BP, rate", "fused_actbp_rate": "fused, Act-BP, rate",
    "fused_actbp_ttfs": "fused, Act-BP, TTFS", "fused_tempbp_rate": "fused, Temp-BP, rate",
    "fused_tempbp_ttfs": "fused, Temp-BP, TTFS",
}  # fmt: skip


def plot_fig5(f: h5py.File, folder: Path) -> list[Path]:
    encoders = ("current", "poisson", "ratesyn_s", "ratesyn_e", "ttfs")
    T, mode, width = int(f.attrs["T"]), f.attrs["mode"], int(f.attrs["width"])
    source = f.attrs["dataset"]
    cond_labels = [FIG5_CONDITION_LABELS[c] for c in FIG5_CONDITIONS]
    note = f"{source}, ResNet18 width {width}, {mode}"
    paths = []

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, color in zip(("l0", "l1", "l2", "linf"), ("tab:blue", "tab:orange", "tab:green", "tab:red")):
        ax.plot(time_steps(T), f[f"fig5b/{name}/perturbation_timing"][()], marker=".", color=color, label=FIG5_CONDITION_LABELS[name])
    ax.set(xlabel="time step t (ms)", ylabel="share of encoded perturbations ζ[t]",
           title=f"Fig. 5B: TTFS-encoded adversarial examples ({note})")  # fmt: skip
    ax.legend()
    paths.append(save_figure(fig, folder, "fig5b_perturbation_timing"))

    fig = plt.figure(figsize=(6.5, 6))
    ax = fig.add_subplot(projection="polar")
    series = {}
    for e in encoders:
        acc = 100 * f[f"fig5c/{e}/accuracy"][()]
        series[ENCODER_LABELS[e]] = np.concatenate([acc[:1], [100 * float(f[f"fig5c/{e}/stability"][()])], acc[1:]])
    radar(ax, ["cln", "stability"] + [f"attked {c}" for c in cond_labels[1:]], series,
           {ENCODER_LABELS[e]: COLORS[e] for e in encoders})  # fmt: skip
    ax.set_title(f"Fig. 5C: Act-BP, rate decoding, accuracy (%)\n{note}", fontsize=9)
    ax.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1), fontsize=8)
    paths.append(save_figure(fig, folder, "fig5c_radar_encoders"))

    fig, axes = plt.subplots(1, len(encoders), figsize=(4 * len(encoders), 4.2), subplot_kw={"projection": "polar"})
    for ax, e in zip(axes, encoders):
        series = {d: 100 * f[f"fig5d/{e}/{d}/accuracy"][()] for d in ("rate", "ttfs")}
        radar(ax, cond_labels, series, {"rate": "tab:gray", "ttfs": COLORS[e]}, {"rate": "--"})
        ax.set_title(ENCODER_LABELS[e], fontsize=10)
    axes[0].legend(loc="lower left", bbox_to_anchor=(-0.3, -0.2), fontsize=8)
    fig.suptitle(f"Fig. 5D: rate against TTFS decoding (Act-BP), accuracy (%); {note}", fontsize=10)
    paths.append(save_figure(fig, folder, "fig5d_radar_decoders"))

    fig, ax = plt.subplots(figsize=(10, 4.2))
    n = len(FIG5_MODELS)
    for i, (label, text) in enumerate(FIG5_MODELS.items()):
        acc = 100 * f[f"fig5f/{label}/accuracy"][()]
        ax.bar(np.arange(len(FIG5_CONDITIONS)) + (i - (n - 1) / 2) * 0.8 / n, acc, 0.8 / n, label=text,
               color="black" if label == "ann" else plt.cm.viridis(i / n))  # fmt: skip
    ax.set_xticks(np.arange(len(FIG5_CONDITIONS)))
    ax.set_xticklabels(cond_labels)
    ax.set(ylabel="accuracy (%)", title=f"Fig. 5F: fused encoding against non-fused models ({note}; attacked: mean over attackers)")
    ax.legend(fontsize=8, ncol=2)
    paths.append(save_figure(fig, folder, "fig5f_models"))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = list(FIG5_MODELS)
    for ax, what, title in ((axes[0], "energy_pj", "energy"), (axes[1], "edp", "EDP")):
        ann = float(f[f"fig5g/ann/{what}"][()])
        est = [float(f[f"fig5g/{m}/{what}"][()]) / ann for m in labels]
        exact = [float(f[f"fig5g/{m}/{what}_exact"][()]) / ann for m in labels]
        xs = np.arange(len(labels))
        ax.bar(xs - 0.2, est, 0.4, label="paper's estimate (ξ FLOP)", color="tab:blue")
        ax.bar(xs + 0.2, exact, 0.4, label="evsim's exact counts", color="tab:orange")
        ax.set_xticks(xs)
        ax.set_xticklabels([FIG5_MODELS[m] for m in labels], rotation=30, ha="right", fontsize=8)
        ax.set(ylabel=f"{title} relative to the ANN", title=f"Fig. 5G: {title} per image")
        ax.legend(fontsize=8)
    fig.suptitle(note, fontsize=9)
    paths.append(save_figure(fig, folder, "fig5g_energy_edp"))

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    for ax, d in zip(axes, ("rate", "ttfs")):
        names = list(encoders) + ["fused"]
        for i, e in enumerate(names):
            acc = 100 * (f[f"fig5d/{e}/{d}/accuracy"][()] if e != "fused" else f[f"fig5f/fused_actbp_{d}/accuracy"][()])
            ax.bar(np.arange(4) + (i - (len(names) - 1) / 2) * 0.8 / len(names), acc[1:], 0.8 / len(names),
                   label=ENCODER_LABELS.get(e, "fused"), color=COLORS.get(e, "black"))  # fmt: skip
        ax.set_xticks(np.arange(4))
        ax.set_xticklabels(cond_labels[1:])
        ax.set(title=f"{d} decoding, Act-BP", ylabel="attacked accuracy (%)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Supp. Fig. S13: fused against non-fused encodings on each attack ({note})", fontsize=10)
    paths.append(save_figure(fig, folder, "s13_fused_vs_single"))
    return paths


def plot_quantization(f: h5py.File, folder: Path) -> list[Path]:
    """The quantization scenario: accuracy (clean, FGSM), spike agreement and energy against the
    weight bits, post-training (PTQ) and after quantisation-aware fine-tuning (QAT)."""
    models, bits, mode = as_strings(f.attrs["models"]), [int(b) for b in f.attrs["weight_bits"]], f.attrs["mode"]
    eps = float(f.attrs["attack_eps"])
    xs = np.arange(len(bits))
    cols = min(4, len(models))
    rows = -(-len(models) // cols)
    paths = []

    def grid():
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.4 * rows), squeeze=False, sharey=True)
        for ax in axes.flat[len(models):]:
            ax.set_visible(False)
        return fig, axes.flat

    def series(model: str, mode_: str, key: str) -> np.ndarray:
        return np.array([float(f[f"{model}/{mode_}_w{b}/{key}"][()]) for b in bits])

    fig, axes = grid()
    for ax, m in zip(axes, models):
        for key, ls, what in (("accuracy_clean", "-", "clean"), ("accuracy_attacked", "--", f"FGSM ε={eps:g}")):
            ax.axhline(100 * float(f[f"{m}/float/{key}"][()]), color="black", ls=ls, lw=0.8, label=f"float, {what}")
            for mode_, color in (("ptq", "tab:blue"), ("qat", "tab:red")):
                ax.plot(xs, 100 * series(m, mode_, key), color=color, ls=ls, marker=".", label=f"{mode_.upper()}, {what}")
        ax.set_xticks(xs, [str(b) for b in bits])
        ax.set(title=m, xlabel="weight bits W", ylim=(0, 100))
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Accuracy in fixed point, clean and under black-box FGSM (mean of 5 attackers; {mode})")
    paths.append(save_figure(fig, folder, "quantization_accuracy"))

    fig, axes = grid()
    for ax, m in zip(axes, models):
        for mode_, color in (("ptq", "tab:blue"), ("qat", "tab:red")):
            ax.plot(xs, 100 * series(m, mode_, "agreement_entries"), color=color, marker=".", label=f"{mode_.upper()}: spike entries")
            ax.plot(xs, 100 * series(m, mode_, "agreement_predictions"), color=color, ls=":", marker=".",
                    label=f"{mode_.upper()}: predictions")  # fmt: skip
        ax.set_xticks(xs, [str(b) for b in bits])
        ax.set(title=m, xlabel="weight bits W", ylim=(0, 101))
    axes[0].set_ylabel("agreement with the float model (%)")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Spike agreement with the float64 model (every layer, clean images; {mode})")
    paths.append(save_figure(fig, folder, "quantization_agreement"))

    fig, ax = plt.subplots(figsize=(1.2 * len(models) + 4, 4.4))
    width = 0.8 / (len(bits) + 1)
    for k, (name, color) in enumerate([("float", "black")] + [(f"ptq_w{b}", None) for b in bits]):
        values = [float(f[f"{m}/{name}/energy_pj"][()]) / 1e3 for m in models]
        ax.bar(np.arange(len(models)) + (k - len(bits) / 2) * width, values, width, color=color,
               label="float, B_W = 32 (paper)" if name == "float" else f"W = {name.split('_w')[1]}, B_W = W")  # fmt: skip
    ax.set_xticks(np.arange(len(models)), [m.replace("_", "\n", 1) for m in models], fontsize=7)
    ax.set(ylabel="energy per image (nJ, Eq. 34-37)", title=f"Energy with the weight reads at the real bit width ({mode})")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, folder, "quantization_energy"))

    fig, axes = grid()
    for ax, m in zip(axes, models):
        sweep = f[f"{m}/eps_sweep"][()]
        ax.plot(sweep, 100 * f[f"{m}/float/accuracy_sweep"][()], color="black", marker=".", label="float")
        for b, color in zip(bits, plt.cm.viridis(np.linspace(0, 0.9, len(bits)))):
            ax.plot(sweep, 100 * f[f"{m}/ptq_w{b}/accuracy_sweep"][()], color=color, marker=".", label=f"PTQ W={b}")
        ax.set(title=m, xlabel="FGSM ε", ylim=(0, 100))
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Accuracy under black-box FGSM over ε, post-training quantised ({mode})")
    paths.append(save_figure(fig, folder, "quantization_eps_sweep"))
    return paths


def plot_repro_audit(f: h5py.File, folder: Path) -> list[Path]:
    """The audit's three parts: Fig. 3B under every variant, Fig. 2D's attacked TAAcc under each, and
    Eq. 31 of the Fig. 4E models along each kind of direction, TTFS against rate decoding."""
    paths = []
    sweeps = [s for s in as_strings(f.attrs.get("fig3b_sweeps", [])) if f"fig3b/{s}" in f]
    if sweeps:
        cols = min(3, len(sweeps))
        rows = -(-len(sweeps) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), sharey=True, squeeze=False)
        for ax, s in zip(axes.flat, sweeps):
            eps = f[f"fig3b/{s}/pixel_eps"][()]
            ax.plot(eps, 100 * f[f"fig3b/{s}/ann/accuracy"][()], color="black", marker=".", label="ANN")
            for rule, style in (("actbp", "-"), ("tempbp", "--")):
                for e in ("current", "poisson", "ratesyn_e"):
                    if f"fig3b/{s}/{rule}/{e}/accuracy" in f:
                        ax.plot(eps, 100 * f[f"fig3b/{s}/{rule}/{e}/accuracy"][()], color=COLORS[e], ls=style, marker=".",
                                label=f"{'Act-BP' if rule == 'actbp' else 'Temp-BP'} {ENCODER_LABELS[e]}")  # fmt: skip
            ax.axhspan(12, 30, color="tab:red", alpha=0.08)
            ax.set(title=s, xlabel="FGSM ε in pixel units", ylim=(0, 100))
        for ax in axes.flat[len(sweeps):]:
            ax.axis("off")
        for ax in axes[:, 0]:
            ax.set_ylabel("accuracy (%)")
        axes.flat[0].legend(fontsize=6)
        fig.suptitle("Fig. 3B under each variant (shaded: the paper's 'about 20%' window for RateSynE at ε 0.5)")
        paths.append(save_figure(fig, folder, "audit_fig3b_variants"))
    variants = [v for v in as_strings(f.attrs.get("fig2_variants", [])) if f"fig2/{v}" in f]
    if variants:
        fig, axes = plt.subplots(1, len(variants), figsize=(4.5 * len(variants), 3.4), sharey=True, squeeze=False)
        for ax, v in zip(axes.flat, variants):
            for e in as_strings(f.attrs["fig2_encoders"]):
                curve = 100 * f[f"fig2/{v}/{e}/taacc_attacked"][()]
                ax.plot(time_steps(len(curve)), curve, color=COLORS[e], marker=".", label=ENCODER_LABELS[e])
            ax.axhline(100 * float(f[f"fig2/{v}/ann/accuracy_attacked"][()]), color="black", ls=":", label="ANN attacked")
            ax.set(title=f"{v} (pixel ε {float(f[f'fig2/{v}/pixel_eps'][()]):.3f})", xlabel="t (ms)", ylim=(0, 100))
        axes.flat[0].set_ylabel("attacked TAAcc (%)")
        axes.flat[0].legend(fontsize=7)
        fig.suptitle("Fig. 2D (MNIST) under each variant")
        paths.append(save_figure(fig, folder, "audit_fig2_variants"))
    if "fig4e/t" in f:
        labels = as_strings(f.attrs["fig4e_models"])
        kinds = as_strings(f.attrs["fig4e_directions"])
        i = list(f["fig4e/t"][()]).index(0.05)
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        width = 0.8 / len(kinds)
        for ax, (loss, title) in zip(axes, (("ce", "own loss (cross-entropy)"), ("error", "0-1 loss (error rate)"))):
            for j, kind in enumerate(kinds):
                values = [f[f"fig4e/{label}/{loss}_derivative/{kind}"][()][i] for label in labels]
                ax.bar(np.arange(len(labels)) + (j - (len(kinds) - 1) / 2) * width, values, width, label=kind.replace("_", " "))
            ax.set_xticks(np.arange(len(labels)), [label.replace("_", "\n") for label in labels], fontsize=7)
            ax.set(title=f"Eq. 31 at t 0.05, {title}", ylabel="directional derivative")
        axes[0].legend(fontsize=7, title="FGSM direction")
        paths.append(save_figure(fig, folder, "audit_fig4e_directions"))
    return paths


def plot_bench_engine(f: h5py.File, folder: Path) -> list[Path]:
    """The engine benchmark: time per image against SOPs per image (the activity sweep, evsim and
    the dense torch loop, with evsim's linear fit), and each encoder's share of its simulation."""
    threads, n = int(f.attrs["threads"]), int(f.attrs["samples"])
    sops = f["sweep/sops_per_image"][()]
    labels = [f"{ENCODER_LABELS.get(e, e)} x{s:g}" for e, s in zip(as_strings(f.attrs["sweep_encoders"]), f.attrs["sweep_scales"])]
    paths = []
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(sops, 1e6 * f["sweep/evsim_s_per_image"][()], "o", color="tab:red", label="evsim (event-driven)")
    ax.plot(sops, 1e6 * f["sweep/dense_s_per_image"][()], "s", color="black", label="dense torch loop, all T steps")
    grid = np.linspace(0.8 * sops.min(), 1.05 * sops.max(), 50)
    slope, intercept = float(f["sweep/fit_s_per_sop"][()]), float(f["sweep/fit_s_intercept"][()])
    ax.plot(grid, 1e6 * (intercept + slope * grid), color="tab:red", lw=0.8,
            label=f"fit {1e6 * intercept:.2f} us + {1e12 * slope:.1f} ps/SOP ({1e-9 / slope:.1f} GSOP/s)")  # fmt: skip
    for s_, t_, label in zip(sops, f["sweep/evsim_s_per_image"][()], labels):
        ax.annotate(label, (s_, 1e6 * t_), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_yscale("log")  # the dense loop costs tens of times more: a linear axis flattens evsim's line
    ax.set(xlabel="SOPs per image", ylabel="time per image (us, log scale)", xlim=(0, None),
           title=f"Cost against SOPs: 784-500-10 LIF, rate decoding, T {int(f.attrs['T'])}, {threads} thread(s), {n} images")  # fmt: skip
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, folder, "bench_engine_cost_vs_sops"))
    if "encoders/share" in f:
        names = as_strings(f.attrs["share_encoders"])
        share = 100 * f["encoders/share"][()]
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        ax.bar(range(len(names)), share, color=[COLORS.get(m, "tab:gray") for m in names])
        ax.axhline(10, color="black", ls="--", lw=0.8, label="goal: 10%")
        ax.set_xticks(range(len(names)), [ENCODER_LABELS.get(m, m).replace("+", "+\n") for m in names], fontsize=8)
        ax.set(ylabel="encode_events / simulate (%)",
               title="Encoding's share of the simulation it feeds (TTFS decoding, early exit)")  # fmt: skip
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, folder, "bench_engine_encoder_share"))
    return paths


def plot_bench_resnet(f: h5py.File, folder: Path) -> list[Path]:
    """The ResNet18 benchmark: time per image against SOPs per image over the activity sweep (with
    the fit and the dense torch loop's time, which does not depend on the spikes), and GSOP/s per
    layer from the profiled run, coloured by the target's map size."""
    threads, n, sops = int(f.attrs["threads"]), int(f.attrs["baseline_samples"]), f["sweep/sops_per_image"][()]
    slope, intercept = float(f["sweep/fit_s_per_sop"][()]), float(f["sweep/fit_s_intercept"][()])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(sops, 1e3 * f["sweep/s_per_image"][()], "o", color="tab:red", label="evsim (event-driven)")
    grid = np.linspace(0, 1.05 * sops.max(), 50)
    ax.plot(grid, 1e3 * (intercept + slope * grid), color="tab:red", lw=0.8,
            label=f"fit {1e3 * intercept:.2f} ms + {1e12 * slope:.1f} ps/SOP ({1e-9 / slope:.1f} GSOP/s)")  # fmt: skip
    ax.axhline(1e3 / float(f["side_by_side/dense_samples_per_s"][()]), color="black", ls="--", lw=0.8,
               label=f"dense torch loop (batch {int(f.attrs['baseline_batch'])}), any activity")  # fmt: skip
    for s_, t_, a_, x_ in zip(sops, f["sweep/s_per_image"][()], f["sweep/activity"][()], f.attrs["sweep_input_scales"]):
        ax.annotate(f"x{x_:g}: {100 * a_:.1f}% active", (s_, 1e3 * t_), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set(xlabel="SOPs per image", ylabel="time per image (ms)", xlim=(0, None), ylim=(0, None),
           title=f"Cost against SOPs: ResNet18 SNN (width {int(f.attrs.get('width', 64))}), T {int(f.attrs['T'])}, "
                 f"{threads} thread(s), {n} images")  # fmt: skip
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    paths = [save_figure(fig, folder, "bench_resnet_cost_vs_sops")]
    if "layers/gsop_per_s" in f:
        rate, size = f["layers/gsop_per_s"][()], f["layers/map_size"][()]
        names = as_strings(f["layers/gsop_per_s"].attrs["layers"])
        sizes = sorted(set(size.tolist()), reverse=True)
        colors = {m: f"C{i}" for i, m in enumerate(sizes)}
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.bar(range(len(rate)), rate, color=[colors[m] for m in size])
        ax.set_xticks(range(len(rate)), [" ".join(nm.split()[:2]) for nm in names], rotation=90, fontsize=6)
        ax.legend(handles=[Patch(color=colors[m], label=f"{m}x{m} maps" if m > 1 else "flat") for m in sizes], fontsize=7)
        outside = float(f["layers/outside_kernels_share"][()])
        ax.set(ylabel="GSOP/s per thread (kernel CPU time)",
               title=f"Per layer, one profiled run ({int(f.attrs['layer_profile_samples'])} images, "
                     f"{int(f.attrs['layer_profile_threads'])} thread(s)); {100 * outside:.0f}% of the thread time outside the kernels")  # fmt: skip
        ax.title.set_fontsize(9)
        paths.append(save_figure(fig, folder, "bench_resnet_layers"))
    return paths


def plot_hardware(f: h5py.File, folder: Path) -> list[Path]:
    """The hardware scenario, per model and chip: accuracy (clean, FGSM), spike agreement with the
    float network, and energy per image (a chip without published constants, or one the network
    does not fit, is marked, not drawn)."""
    models, chips, eps = as_strings(f.attrs["models"]), as_strings(f.attrs["profiles"]), float(f.attrs["attack_eps"])
    xs, paths = np.arange(len(chips)), []
    sub = f"{int(f.attrs['test_samples'])} test images, {f.attrs['mode']}"

    def value(m: str, chip: str, key: str) -> float:
        return float(f[f"{m}/{chip}/{key}"][()]) if bool(f[f"{m}/{chip}/run"][()]) else np.nan

    def panels(name: str, keys: list[tuple[str, str]], ylabel: str, title: str, scale: float = 100.0, log: bool = False):
        fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models) + 1, 3.8), squeeze=False, sharey=True)
        width = 0.8 / len(keys)
        for ax, m in zip(axes[0], models):
            for k, (key, label) in enumerate(keys):
                ys = np.array([value(m, c, key) for c in chips]) * scale
                ax.bar(xs + (k - (len(keys) - 1) / 2) * width, np.nan_to_num(ys), width, label=label)
                if name == "hardware_accuracy":
                    ax.axhline(100 * float(f[f"{m}/float/{key}"][()]), color=f"C{k}", ls=":", lw=0.8)
            for i, c in enumerate(chips):
                missing = "does not fit" if not bool(f[f"{m}/{c}/run"][()]) else ("not published" if log and not bool(f[f"{m}/{c}/priced"][()]) else "")
                if missing:
                    ax.text(i, 0.02, missing, rotation=90, ha="center", va="bottom", fontsize=7, transform=ax.get_xaxis_transform())
            ax.set_xticks(xs, chips, rotation=45, fontsize=7)
            ax.set_title(m, fontsize=8)
            if log:
                ax.set_yscale("log")
        axes[0][0].set_ylabel(ylabel)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"{title} ({sub})", fontsize=9)
        paths.append(save_figure(fig, folder, name))

    panels("hardware_accuracy", [("accuracy_clean", "clean"), ("accuracy_attacked", f"FGSM ε={eps:g} (black-box)")],
           "accuracy (%)", "Accuracy on each chip's arithmetic (dotted: the float network)")  # fmt: skip
    panels("hardware_agreement", [("agreement_entries", "spike entries"), ("agreement_predictions", "predictions")],
           "agreement with the float network (%)", "Spike agreement with the float64 network, clean images")  # fmt: skip
    panels("hardware_energy", [("energy_pj", "energy per image")], "energy per image (µJ, priced terms)",
           "Energy per image from evsim.hardware.cost", scale=1e-6, log=True)  # fmt: skip
    return paths


PLOTTERS = {"bench_engine": plot_bench_engine, "bench_resnet": plot_bench_resnet, "fig2": plot_fig2, "fig3": plot_fig3, "fig4": plot_fig4, "fig5": plot_fig5, "hardware": plot_hardware, "quantization": plot_quantization,
            "repro_audit": plot_repro_audit}


def plot_file(path) -> list[Path]:
    """Draw every figure of the scenario file `path`; returns the PNG paths."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no result file at {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path} is not a readable HDF5 file ({err})") from None
    with f:
        scenario = f.attrs.get("scenario")
        scenario = scenario.decode() if isinstance(scenario, bytes) else scenario
        if scenario not in PLOTTERS:
            raise ValueError(f"{path}: no figures for scenario {scenario!r} (drawable: {', '.join(PLOTTERS)})")
        folder = path.with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        try:
            return PLOTTERS[scenario](f, folder)
        except KeyError as err:
            raise ValueError(f"{path} lacks {err} (written by an older or interrupted run?)") from None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scenarios plot", description="Draw a scenario's figures from its HDF5 file.")
    parser.add_argument("files", nargs="+", help="result files, e.g. results/fig2.h5")
    args = parser.parse_args(argv)
    for file in args.files:
        for png in plot_file(file):
            print(f"wrote {png}")


if __name__ == "__main__":
    main()
