"""Figures drawn from a scenario's HDF5 file alone: `python -m scenarios plot results/fig2.h5`.

The file's `scenario` attribute picks the drawing; PNGs go to a folder beside the file
(results/fig2/*.png), one per panel, with axes, units and legends.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ENCODER_LABELS = {"current": "current", "poisson": "Poisson", "ratesyn_s": "RateSynS", "ratesyn_e": "RateSynE", "ttfs": "TTFS"}
COLORS = {"current": "tab:blue", "poisson": "tab:orange", "ratesyn_s": "tab:green", "ratesyn_e": "tab:red", "ttfs": "tab:purple", "ann": "black"}


def _steps(T: int) -> np.ndarray:
    return np.arange(1, T + 1)  # the paper's t = k + 1 (ms, dt = 1 ms)


def _save(fig, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_fig2(f: h5py.File, folder: Path) -> list[Path]:
    encoders = [e.decode() if isinstance(e, bytes) else str(e) for e in f.attrs["encoders"]]
    T = int(f.attrs["T"])
    t = _steps(T)
    eps = float(f.attrs["attack_eps"])
    mode = f.attrs["mode"]
    ann_clean, ann_atk = float(f["ann/accuracy_clean"][()]), float(f["ann/accuracy_attacked"][()])
    paths = []

    fig, ax = plt.subplots(figsize=(6, 4))
    for e in encoders:
        ax.plot(t, f[f"snn/{e}/perturbation_timing"][()], marker=".", color=COLORS[e], label=ENCODER_LABELS[e])
    ax.set(xlabel="time step t (ms)", ylabel="share of encoded perturbations ζ[t]",
           title=f"Fig. 2C: when perturbations reach the SNN (FGSM ε={eps})")  # fmt: skip
    ax.legend()
    paths.append(_save(fig, folder, "fig2c_perturbation_timing"))

    fig, axes = plt.subplots(1, len(encoders), figsize=(4 * len(encoders), 3.6), sharey=True)
    for ax, e in zip(np.atleast_1d(axes), encoders):
        ax.plot(t, 100 * f[f"snn/{e}/taacc_clean"][()], color=COLORS[e], label="SNN clean")
        ax.plot(t, 100 * f[f"snn/{e}/taacc_attacked"][()], color=COLORS[e], ls="--", label="SNN attacked")
        ax.axhline(100 * ann_clean, color="black", lw=0.8, label="ANN clean")
        ax.axhline(100 * ann_atk, color="black", lw=0.8, ls="--", label="ANN attacked")
        ax.set(title=ENCODER_LABELS[e], xlabel="time step t (ms)", ylim=(0, 100))
    np.atleast_1d(axes)[0].set_ylabel("TAAcc (%)")
    np.atleast_1d(axes)[-1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Fig. 2D: time-accumulated accuracy, black-box FGSM ε={eps} (mean of 5 attackers; {mode})")
    paths.append(_save(fig, folder, "fig2d_taacc"))

    if "ratesyn_e" in encoders:
        fig, ax = plt.subplots(figsize=(6, 4))
        width = 0.4
        ax.bar(t - width / 2, f["snn/ratesyn_e/perturbation_timing_fg"][()], width, label="foreground (FG)", color="tab:red")
        ax.bar(t + width / 2, f["snn/ratesyn_e/perturbation_timing_bg"][()], width, label="background (BG)", color="tab:gray")
        ax.set(xlabel="time step t (ms)", ylabel="share of encoded perturbations ζ[t]",
               title="Fig. 2E: RateSynE, foreground vs background perturbations")  # fmt: skip
        ax.legend()
        paths.append(_save(fig, folder, "fig2e_ratesyne_fg_bg_timing"))

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(t, 100 * f["snn/ratesyn_e/taacc_clean"][()], color="tab:red", label="clean")
        ax.plot(t, 100 * f["snn/ratesyn_e/taacc_attacked"][()], color="tab:red", ls="--", label="attacked (FG + BG)")
        ax.plot(t, 100 * f["snn/ratesyn_e/taacc_attacked_fg"][()], color="tab:brown", ls=":", label="attacked, FG only")
        ax.plot(t, 100 * f["snn/ratesyn_e/taacc_attacked_bg"][()], color="tab:gray", ls="-.", label="attacked, BG only")
        ax.axhline(100 * ann_atk, color="black", lw=0.8, ls="--", label="ANN attacked")
        ax.set(xlabel="time step t (ms)", ylabel="TAAcc (%)", ylim=(0, 100),
               title="Fig. 2F: RateSynE under foreground / background perturbations")  # fmt: skip
        ax.legend(fontsize=8)
        paths.append(_save(fig, folder, "fig2f_ratesyne_fg_bg_taacc"))

    fig, ax = plt.subplots(figsize=(6, 4))
    sweep = f["eps_sweep/eps"][()]
    ax.plot(sweep, 100 * f["eps_sweep/ann/accuracy"][()], color="black", marker="o", label="ANN")
    for e in encoders:
        ax.plot(sweep, 100 * f[f"eps_sweep/{e}/accuracy"][()], color=COLORS[e], marker=".", label=f"SNN {ENCODER_LABELS[e]}")
    ax.set(xlabel="FGSM ε (L∞, pixels in [0, 1])", ylabel="accuracy at t = T (%)", ylim=(0, 100),
           title="Accuracy under black-box FGSM (mean of 5 attackers)")  # fmt: skip
    ax.legend(fontsize=8)
    paths.append(_save(fig, folder, "fig2_eps_sweep"))
    return paths


PLOTTERS = {"fig2": plot_fig2}


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
