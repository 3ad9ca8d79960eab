"""Benchmarks: evsim's engine, a ResNet18 SNN and training, each against a torch baseline."""
