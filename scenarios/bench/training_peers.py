"""The training benchmark's peers: snnTorch's MLP and SpikingJelly's ResNet18, built as their users would.

- `SnnTorchMLP`: 784-500-10 of `snntorch.Synaptic` neurons (alpha = beta = 1 - 1/tau, sigmoid
  surrogate of slope 5, reset to zero), stepped over time by hand (snnTorch's idiom), the 1/tau_s
  input gain folded into the current. snnTorch resets one step late and resets the synaptic
  current too, so its spikes differ slightly from `bridges.snn.SpikingMLP`'s; the work per step
  is the same.
- `SpikingJellyResNet`: the topology of `bridges.resnet.SpikingResNet` (CIFAR ResNet18: 3x3 stem,
  four stages of two basic blocks, widths w, 2w, 4w, 8w, the 1x1 stride-2 conv + BN shortcuts,
  global average pool, bias-free linear classifier, a spiking output population) from
  SpikingJelly 2.0's multi-step layers (`layer.Conv2d`, `layer.BatchNorm2d`, step_mode "m": T
  folded into the batch, BN statistics shared by all steps) and multi-step `neuron.LIFNode`
  (tau 2, hard reset to 0, sigmoid surrogate alpha 5, reset not detached). On the CPU SpikingJelly
  runs its LIF through its torch implementation (the `sj_lif` op: a loop of eager torch ops over
  T, with a hand-written backward); there is no other CPU backend. Its LIF charges
  H = V + (X - V)/tau (input decayed) where ours adds the current, U = U (1 - 1/tau) + I, and it
  feeds the block input's spikes to the shortcut where ours feeds the trace; the work is the same.

Both import their library lazily (the benchmark runs without either, reporting what is missing).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import torch

__all__ = ["SnnTorchMLP", "SpikingJellyResNet", "import_spikingjelly", "spikingjelly_version"]


class SnnTorchMLP(torch.nn.Module):
    """A fully connected net of snntorch.Synaptic neurons; forward (T, B, n_in) -> output spikes (T, B, n_out)."""

    def __init__(self, sizes, tau: float):
        super().__init__()
        import snntorch
        from snntorch import surrogate

        decay = 1 - 1 / tau
        self.tau = float(tau)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b, bias=False) for a, b in zip(sizes[:-1], sizes[1:]))
        for layer in self.layers:
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        self.neurons = torch.nn.ModuleList(
            snntorch.Synaptic(alpha=decay, beta=decay, threshold=1.0, spike_grad=surrogate.sigmoid(slope=5), reset_mechanism="zero")
            for _ in self.layers
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [n.init_synaptic() for n in self.neurons]
        out = []
        for k in range(x.shape[0]):
            s = x[k]
            for i, (layer, neuron) in enumerate(zip(self.layers, self.neurons)):
                s, syn, mem = neuron(layer(s) / self.tau, *states[i])
                states[i] = (syn, mem)
            out.append(s)
        return torch.stack(out)


def import_spikingjelly():
    """(layer, neuron, functional, surrogate) of spikingjelly.activation_based, imported quietly
    (its import may warn about CuPy, Triton or a missing GPU); ImportError if it is not installed."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        from spikingjelly.activation_based import functional, layer, neuron, surrogate
    return layer, neuron, functional, surrogate


def spikingjelly_version() -> str:
    from importlib.metadata import version

    return version("spikingjelly")


def _lif(sj_neuron, sj_surrogate, tau: float):
    return sj_neuron.LIFNode(tau=float(tau), v_threshold=1.0, v_reset=0.0, surrogate_function=sj_surrogate.Sigmoid(alpha=5.0),
                             detach_reset=False, step_mode="m")  # fmt: skip


class _ConvBN(torch.nn.Sequential):
    def __init__(self, sj_layer, c_in: int, c_out: int, k: int, stride: int):
        super().__init__(
            sj_layer.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False, step_mode="m"),
            sj_layer.BatchNorm2d(c_out, step_mode="m"),
        )


class _Block(torch.nn.Module):
    def __init__(self, sj, c_in: int, c_out: int, stride: int, tau: float):
        super().__init__()
        sj_layer, sj_neuron, _, sj_surrogate = sj
        self.conv1 = _ConvBN(sj_layer, c_in, c_out, 3, stride)
        self.lif1 = _lif(sj_neuron, sj_surrogate, tau)
        self.conv2 = _ConvBN(sj_layer, c_out, c_out, 3, 1)
        self.shortcut = None if (stride == 1 and c_in == c_out) else _ConvBN(sj_layer, c_in, c_out, 1, stride)
        self.lif2 = _lif(sj_neuron, sj_surrogate, tau)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.lif1(self.conv1(s)))
        return self.lif2(out + (s if self.shortcut is None else self.shortcut(s)))


class SpikingJellyResNet(torch.nn.Module):
    """SpikingJelly's multi-step LIF ResNet18 (CIFAR variant), the topology of `SpikingResNet`;
    forward (T, B, C, 32, 32) -> output spikes (T, B, n_classes). Call `reset_states()` after each batch
    (SpikingJelly keeps the membranes between calls)."""

    def __init__(self, width: int = 8, in_channels: int = 3, n_classes: int = 10, tau: float = 2.0):
        super().__init__()
        from bridges.resnet import block_plan

        sj = import_spikingjelly()
        sj_layer, sj_neuron, self._functional, sj_surrogate = sj
        self.stem = _ConvBN(sj_layer, in_channels, width, 3, 1)
        self.stem_lif = _lif(sj_neuron, sj_surrogate, tau)
        self.blocks = torch.nn.Sequential(*(_Block(sj, *plan, tau) for plan in block_plan(width)))
        self.fc = torch.nn.Linear(8 * width, n_classes, bias=False)
        self.out_lif = _lif(sj_neuron, sj_surrogate, tau)
        for m in self.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.blocks(self.stem_lif(self.stem(x)))
        return self.out_lif(self.fc(s.mean(dim=(3, 4))))

    def reset_states(self) -> None:
        self._functional.reset_net(self)
