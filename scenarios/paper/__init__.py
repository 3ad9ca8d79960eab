"""The paper's jobs: Figs. 2-5, fixed-point inference, the reproduction audit and the Fashion-MNIST training run."""
