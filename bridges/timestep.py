"""A dense time-stepped torch simulator of any `evsim.Network`: the baseline of the engine benchmarks.

It runs SPEC's neuron equations on whole layers at every step, as a GPU framework does (snnTorch,
SpikingJelly in multi-step mode): every projection is a dense torch op on the full source tensor
(`F.linear`, `F.conv2d`, `F.avg_pool2d`, a scaled copy), whatever the activity, so its cost does not
depend on the spikes. The postsynaptic current form of the trace is the engine's:
I = decay_s I + gain sum_q proj_q(s_q); U = decay_m U + I + b; spike at U >= theta; reset.

It is a baseline for speed, not a reference: pooling sums then divides (torch's rounding), so
spikes equal evsim's except where a membrane lands within rounding of the threshold.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import evsim
from evsim.network import INPUT, AvgPool2d, Conv2d, Dense, Identity

from . import neuron


class DenseSimulator:
    """An evsim network as torch tensors (float32), run batch by batch over dense inputs.

    net: any `evsim.Network`. Inputs (T, B, *input_shape) float32 (spikes and currents alike: a
    dense simulator multiplies everything).
    """

    def __init__(self, net: evsim.Network, dtype=torch.float32):
        self.net = net
        self.dtype = dtype
        self.weights = []
        for proj in net.projections:
            gain = net.populations[proj.target].neuron.input_gain
            if isinstance(proj, (Dense, Conv2d)):
                self.weights.append(torch.tensor(proj.weight * gain, dtype=dtype))
            elif isinstance(proj, (AvgPool2d, Identity)):
                self.weights.append(gain * (proj.scale if isinstance(proj, Identity) else 1.0))
            else:  # pragma: no cover
                raise ValueError(f"no dense form for projection kind {proj.kind!r}")
        self.bias = [
            None if p.bias is None else torch.tensor(p.bias.reshape(p.shape), dtype=dtype) for p in net.populations
        ]
        self.constants = [neuron.constants(p.neuron) for p in net.populations]
        self.incoming = [[q for q, pr in enumerate(net.projections) if pr.target == p] for p in range(len(net.populations))]

    def _apply(self, q: int, src: torch.Tensor) -> torch.Tensor:
        proj, w = self.net.projections[q], self.weights[q]
        if isinstance(proj, Dense):
            return F.linear(src.flatten(1), w)
        if isinstance(proj, Conv2d):
            return F.conv2d(src, w, stride=proj.stride, padding=proj.padding)
        if isinstance(proj, AvgPool2d):
            return w * F.avg_pool2d(src, proj.kernel_size, proj.stride)
        return w * src

    @torch.no_grad()
    def run(self, inputs: np.ndarray, batch: int, stop_when_decided: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Output spikes (T, B, n_out) bool and steps run per batch sample (B,).

        stop_when_decided: a batch stops at the first step at which every sample in it has had an
        output spike (the best a dense simulator can do for TTFS early exit).
        In-place updates and no per-step host copies: the baseline is as fast as plain torch goes.
        """
        net = self.net
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.dtype)
        T, B = x.shape[:2]
        x = x.reshape((T, B) + net.input_shape)
        out = torch.zeros((T, B, net.n_out), dtype=torch.bool)
        steps = np.zeros(B, dtype=np.int64)
        for lo in range(0, B, batch):
            xb = x[:, lo : lo + batch]
            n = xb.shape[1]
            current = [torch.zeros((n,) + p.shape, dtype=self.dtype) for p in net.populations]
            membrane = [torch.zeros((n,) + p.shape, dtype=self.dtype) for p in net.populations]
            decided = torch.zeros(n, dtype=torch.bool)
            for k in range(T):
                spikes = []
                for p, pop in enumerate(net.populations):
                    c = self.constants[p]
                    i = current[p].mul_(c.decay_s)
                    for q in self.incoming[p]:
                        src = xb[k] if net.projections[q].source == INPUT else spikes[net.projections[q].source]
                        i.add_(self._apply(q, src).view(i.shape))
                    # SPEC's step (bridges.neuron), in place: U = U decay_m + I + b; fire; reset
                    u = neuron.integrate(membrane[p], i, c, self.bias[p], inplace=True)
                    fired = neuron.fire(u, c)
                    neuron.reset(u, fired, c, inplace=True)
                    spikes.append(fired.to(self.dtype))
                fired_out = fired.view(n, -1)
                out[k, lo : lo + n] = fired_out
                steps[lo : lo + n] = k + 1
                decided |= fired_out.any(dim=1)
                if stop_when_decided and bool(decided.all()):
                    break
        return out.numpy(), steps


__all__ = ["DenseSimulator"]
