"""The ResNet18 benchmark's network: the CIFAR ResNet18 topology, runnable and calibratable."""

from __future__ import annotations

import numpy as np
import pytest

import evsim
from evsim.network import Conv2d, Dense, Identity
from scenarios.bench.bench_resnet import METHODS, T, resnet18, truncated


def test_resnet18_topology():
    net = resnet18(np.random.default_rng(0))
    assert len(net.populations) == 18  # stem, 8 blocks x 2, output
    assert net.input_shape == (9, 32, 32)  # the fused current + RateSynE + TTFS input
    shapes = [p.shape for p in net.populations]
    assert shapes[0] == (64, 32, 32) and shapes[4] == (64, 32, 32)
    assert shapes[5] == (128, 16, 16) and shapes[9] == (256, 8, 8) and shapes[13] == (512, 4, 4)
    assert shapes[16] == (512, 4, 4) and shapes[17] == (10,)
    kinds = [type(p) for p in net.projections]
    assert kinds.count(Identity) == 5  # identity shortcuts; three blocks change size with a 1x1 conv
    one_by_one = [p for p in net.projections if isinstance(p, Conv2d) and p.kernel_size == (1, 1)]
    assert len(one_by_one) == 3 and all(p.stride == (2, 2) for p in one_by_one)
    # the residual addition: block outputs have two incoming projections
    incoming = np.bincount([p.target for p in net.projections], minlength=18)
    assert incoming[[2, 4, 6, 8, 10, 12, 14, 16]].tolist() == [2] * 8
    assert sum(p.size for p in net.populations) == 557_066
    # global average pooling folded into the classifier: every position of a channel has one weight
    fc = net.projections[-1]
    assert isinstance(fc, Dense) and fc.weight.shape == (10, 512 * 16)
    np.testing.assert_array_equal(fc.weight.reshape(10, 512, 16), fc.weight.reshape(10, 512, 16)[:, :, :1].repeat(16, 2))


def test_truncated_network_runs_and_counts():
    net = truncated(resnet18(np.random.default_rng(1), scales=np.full(18, 3.0)), 2)
    x = np.random.default_rng(2).random((1, 3, 32, 32)).astype(np.float32)
    res = evsim.simulate(net, evsim.encode_events(x, T, list(METHODS)))
    assert res.spike_counts[0, 0] > 0 and res.sops[0].sum() > 0 and res.macs[0, 0] > 0
    assert len(net.populations) == 3 and net.populations[-1].shape == (64, 32, 32)


@pytest.mark.parametrize("sweep", [[], ["0.5"], ["0.5", "0.5"]])
def test_a_sweep_without_two_scales_is_refused_before_any_work(sweep, capsys):
    """The cost-against-SOPs line needs two points: an empty --sweep crashed in np.polyfit at the end of a run."""
    from scenarios.__main__ import main as scenarios_main

    with pytest.raises(SystemExit) as exit_:
        scenarios_main(["bench_resnet", "--sweep", *sweep])
    assert exit_.value.code == 2 and "--sweep needs at least two different input scales" in capsys.readouterr().err
