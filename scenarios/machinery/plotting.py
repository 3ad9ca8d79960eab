"""What the figures share: files only (Agg), the encoders' names and colours, time steps, saving, radar axes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from evsim.atomic import atomic_path  # noqa: E402

ENCODER_LABELS = {"current": "current", "poisson": "Poisson", "ratesyn_s": "RateSynS", "ratesyn_e": "RateSynE", "ttfs": "TTFS",
                  "phase": "phase", "burst": "burst", "sigma_delta": "sigma-delta"}  # fmt: skip
COLORS = {"current": "tab:blue", "poisson": "tab:orange", "ratesyn_s": "tab:green", "ratesyn_e": "tab:red", "ttfs": "tab:purple",
          "phase": "tab:cyan", "burst": "tab:olive", "sigma_delta": "tab:pink", "ann": "black"}  # fmt: skip


def time_steps(T: int) -> np.ndarray:
    return np.arange(1, T + 1)  # the paper's t = k + 1 (ms, dt = 1 ms)


def save_figure(fig, folder: Path, name: str, tight: bool = True) -> Path:
    """Write `fig` as folder/name.png atomically (evsim.atomic: complete or absent) and close it."""
    path = folder / f"{name}.png"
    if tight:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def as_strings(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def radar(ax, labels: list[str], series: dict[str, np.ndarray], colors: dict[str, str], styles=None) -> None:
    """Polygons of values in % on a polar axis with one spoke per label."""
    angles = np.linspace(0, 2 * np.pi, len(labels), endpoint=False)
    for name, values in series.items():
        v = np.append(values, values[0])
        ax.plot(np.append(angles, angles[0]), v, color=colors.get(name), ls=(styles or {}).get(name, "-"), label=name)
        ax.fill(np.append(angles, angles[0]), v, color=colors.get(name), alpha=0.06)
    ax.set_xticks(angles)
    ax.set_xticklabels(labels)
    ax.set_ylim(0, 100)
