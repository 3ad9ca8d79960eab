"""The paper's experiments and evsim's benchmarks as runnable jobs (`python -m scenarios NAME`).

Layout: `paper/` (the paper's jobs), `bench/` (benchmarks), `setups/` (the model zoo and the
datasets' set-ups), `machinery/` (tasks, stage and result files, content keys, the runners every
job shares); `smoke` (the small end-to-end job the reliability tests run), `interop` and `plot`.
The modules' old flat names (`scenarios.fig2`, `scenarios.setups.models`, ...) still import, with a
DeprecationWarning, for one release.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# name -> (module, one-line description); modules are imported only when run
SCENARIOS = {
    "fig2": ("scenarios.paper.fig2", "Paper Fig. 2 on MNIST: encodings' timing and a converted SNN's robustness (the main job)"),
    "fig3": ("scenarios.paper.fig3", "Paper Fig. 3 on Fashion-MNIST: CVT, Act-BP and Temp-BP under black- and white-box attacks"),
    "fig4": ("scenarios.paper.fig4", "Paper Fig. 4 on Fashion-MNIST: early-exit TTFS decoding, robustness and exact SOPs"),
    "fig5": ("scenarios.paper.fig5", "Paper Fig. 5 on CIFAR-10: ResNet18 SNNs, fused encoding, PGD under four norms, energy and EDP"),
    "quantization": ("scenarios.paper.quantization", "Fixed-point inference: the Figs. 2-4 models at 16-2 weight bits, accuracy, robustness, energy"),
    "hardware": ("scenarios.paper.hardware", "The Figs. 2-4 models on real chips: fit, spike agreement, clean and FGSM accuracy, energy and latency"),
    "repro_audit": ("scenarios.paper.repro_audit", "Why two Fashion-MNIST claims fail here: eps units, clipping, attacker strength, Eq. 31 like for like"),
    "plot": ("scenarios.plot", "Draw a scenario's figures from its HDF5 file"),
    "report": ("scenarios.machinery.report", "Write one self-contained HTML page of a result file: figures, claims, settings, provenance"),
    "train_fmnist": ("scenarios.paper.train_fmnist", "Train Fashion-MNIST SNNs with Act-BP and Temp-BP for every encoder"),
    "bench_engine": ("scenarios.bench.bench_engine", "Engine benchmark: event-driven evsim against dense time-stepped torch"),
    "bench_resnet": ("scenarios.bench.bench_resnet", "Deep-network benchmark: a ResNet18 SNN on CIFAR-10, evsim against dense torch"),
    "bench_training": ("scenarios.bench.bench_training", "Training benchmark: Act-BP and Temp-BP against snnTorch (MLP) and SpikingJelly (ResNet18)"),
    "interop": ("scenarios.interop", "NIR interchange: spikes and predictions identical with snnTorch, Norse and SpikingJelly?"),
}

# old flat module name -> where it lives now (deprecated aliases, kept one release)
MOVED = {
    **{f"scenarios.{m}": f"scenarios.paper.{m}" for m in ("fig2", "fig3", "fig4", "fig5", "quantization", "repro_audit", "train_fmnist")},
    **{f"scenarios.{m}": f"scenarios.bench.{m}" for m in ("bench_engine", "bench_resnet", "bench_training")},
    **{f"scenarios.{m}": f"scenarios.setups.{m}" for m in ("models", "fmnist", "cifar", "zscore")},
    **{f"scenarios.{m}": f"scenarios.machinery.{m}" for m in ("tasks", "results", "content")},
}


class _MovedModule(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as the module at its new place (the same module object, so that
    monkeypatching either name patches both), with a DeprecationWarning."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        warnings.warn(f"{spec.name} moved to {MOVED[spec.name]}; import it from there", DeprecationWarning, stacklevel=2)
        module = importlib.import_module(MOVED[spec.name])
        self._spec = module.__spec__  # the import system sets the alias's spec on the module: put it back
        return module

    def exec_module(self, module):
        module.__spec__ = self._spec


if not any(isinstance(f, _MovedModule) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModule())  # before any other finder (an editable install of an older tree)
