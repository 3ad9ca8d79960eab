"""The paper's experiments and evsim's benchmarks as runnable jobs (`python -m scenarios NAME`)."""

# name -> (module, one-line description); modules are imported only when run
SCENARIOS = {
    "fig2": ("scenarios.paper.fig2", "Paper Fig. 2 on MNIST: encodings' timing and a converted SNN's robustness (the main job)"),
    "fig3": ("scenarios.paper.fig3", "Paper Fig. 3 on Fashion-MNIST: CVT, Act-BP and Temp-BP under black- and white-box attacks"),
    "fig4": ("scenarios.paper.fig4", "Paper Fig. 4 on Fashion-MNIST: early-exit TTFS decoding, robustness and exact SOPs"),
    "fig5": ("scenarios.paper.fig5", "Paper Fig. 5 on CIFAR-10: ResNet18 SNNs, fused encoding, PGD under four norms, energy and EDP"),
    "quantization": ("scenarios.paper.quantization", "Fixed-point inference: the Figs. 2-4 models at 16-2 weight bits, accuracy, robustness, energy"),
    "repro_audit": ("scenarios.paper.repro_audit", "Why two Fashion-MNIST claims fail here: eps units, clipping, attacker strength, Eq. 31 like for like"),
    "plot": ("scenarios.plot", "Draw a scenario's figures from its HDF5 file"),
    "train_fmnist": ("scenarios.paper.train_fmnist", "Train Fashion-MNIST SNNs with Act-BP and Temp-BP for every encoder"),
    "bench_engine": ("scenarios.bench.bench_engine", "Engine benchmark: event-driven evsim against dense time-stepped torch"),
    "bench_resnet": ("scenarios.bench.bench_resnet", "Deep-network benchmark: a ResNet18 SNN on CIFAR-10, evsim against dense torch"),
    "bench_training": ("scenarios.bench.bench_training", "Training benchmark: Act-BP and Temp-BP against snnTorch"),
    "interop": ("scenarios.interop", "NIR interchange: spikes and predictions identical with snnTorch, Norse and SpikingJelly?"),
}
