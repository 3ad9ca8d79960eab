"""A dense time-stepped torch simulator of any `evsim.Network`: the baseline of the engine benchmarks.

It runs SPEC's neuron equations on whole layers at every step, as a GPU framework does (snnTorch,
SpikingJelly in multi-step mode): every projection is a dense torch op on the full source tensor
(`F.linear`, `F.conv2d`, `F.avg_pool2d`, a scaled copy), whatever the activity, so its cost does not
depend on the spikes. The postsynaptic current form of the trace is the engine's:
I = decay_s I + gain sum_q proj_q(s_q); U = decay_m U + I + b; spike at U >= theta; reset. The
loop over time is `bridges.neuron.run_over_time`, given a step of the whole network built from the
neuron pieces of `bridges.neuron` (in place: the baseline keeps no graph).

It is a baseline for speed, not a reference: pooling sums then divides (torch's rounding), so
spikes equal evsim's except where a membrane lands within rounding of the threshold.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

import evsim
from evsim.network import INPUT, AvgPool2d, Conv2d, Dense, Identity

from . import neuron


class DenseState(NamedTuple):
    """The state of a batch of n samples between steps: per population the synaptic current I and
    the membrane U (n, *shape), and which samples have had an output spike (n,) bool."""

    current: list[torch.Tensor]
    membrane: list[torch.Tensor]
    decided: torch.Tensor


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
        self.parameters = [neuron.neuron_parameters(p.neuron) for p in net.populations]
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

    def step(self, state: DenseState, x: torch.Tensor) -> tuple[DenseState, tuple[torch.Tensor]]:
        """One step of the whole network, in place: x the input of this step (n, *input_shape);
        returns the state and (output spikes (n, n_out) bool,). Populations run in order, each
        seeing this step's spikes of its sources (zero synaptic delay)."""
        net = self.net
        spikes = []
        for p in range(len(net.populations)):
            c = self.parameters[p]
            i = state.current[p].mul_(c.decay_s)
            for q in self.incoming[p]:
                src = x if net.projections[q].source == INPUT else spikes[net.projections[q].source]
                i.add_(self._apply(q, src).view(i.shape))
            # SPEC's step (bridges.neuron), in place: U = U decay_m + I + b; fire; reset
            u = neuron.integrate(state.membrane[p], i, c, self.bias[p], inplace=True)
            fired = neuron.fire(u, c)
            neuron.reset(u, fired, c, inplace=True)
            spikes.append(fired.to(self.dtype))
        fired_out = fired.view(x.shape[0], -1)
        state.decided.logical_or_(fired_out.any(dim=1))
        return state, (fired_out,)

    @torch.no_grad()
    def run(self, inputs: np.ndarray, batch: int, stop_when_decided: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Output spikes (T, B, n_out) bool and steps run per batch sample (B,).

        inputs: (T, B, *input_shape) or (T, B, prod(input_shape)); batch: samples per torch batch.
        stop_when_decided: a batch stops at the first step at which every sample in it has had an
        output spike (the best a dense simulator can do for TTFS early exit); its later steps
        hold no spikes. In-place updates and no per-step host copies: the baseline is as fast as
        plain torch goes.
        """
        net = self.net
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.dtype)
        T, B = x.shape[:2]
        x = x.reshape((T, B) + net.input_shape)
        out = torch.zeros((T, B, net.n_out), dtype=torch.bool)
        steps = np.zeros(B, dtype=np.int64)
        until = (lambda state: bool(state.decided.all())) if stop_when_decided else None
        for lo in range(0, B, batch):
            xb = x[:, lo : lo + batch]
            n = xb.shape[1]
            state = DenseState(
                [torch.zeros((n,) + p.shape, dtype=self.dtype) for p in net.populations],
                [torch.zeros((n,) + p.shape, dtype=self.dtype) for p in net.populations],
                torch.zeros(n, dtype=torch.bool),
            )
            run = neuron.run_over_time(self.step, state, xb, until)
            out[:, lo : lo + n] = run.outputs[0]
            steps[lo : lo + n] = run.steps
        return out.numpy(), steps


__all__ = ["DenseSimulator", "DenseState"]
