"""Attacks: every attack stays in its ball and the image box, lowers accuracy white-box and
black-box, the L1 and L0 projections are exact, and PGD-L1 counts its perturbation once."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from bridges import attacks as A
from bridges.ann import ReLUMLP
from bridges.datasets import load_idx_dataset
from bridges.training import TrainConfig, ann_loss, ann_spec, fit

N_TRAIN, N_ATTACK = 800, 200


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mnist():
    x, y = load_idx_dataset("mnist-sample", "test")
    return (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), y


@pytest.fixture(scope="module")
def models(mnist):
    """Victim (seed 0) and black-box attacker (seed 1): 784-32-10 ReLU MLPs on 800 images."""
    x, y = mnist
    out = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = ReLUMLP([784, 32, 10])
        fit(model, ann_spec(model), x[:N_TRAIN], y[:N_TRAIN], ann_loss,
            TrainConfig(epochs=6, lr=1e-2, batch_size=100, seed=seed))  # fmt: skip
        out.append(model.eval())
    return out


@pytest.fixture(scope="module")
def held_out(mnist):
    x, y = mnist
    return torch.from_numpy(x[N_TRAIN : N_TRAIN + N_ATTACK]), torch.from_numpy(y[N_TRAIN : N_TRAIN + N_ATTACK])


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def _norms(adv, x):
    """(Linf, L2, L1 per sample, pixels changed per sample, elements changed per sample)."""
    d = (adv - x).reshape(len(x), -1).double()
    pixels = (adv - x).abs().amax(dim=1) if x.ndim == 4 else (adv - x).abs()
    return (
        d.abs().amax(dim=1), d.norm(dim=1), d.abs().sum(dim=1),
        (pixels.reshape(len(x), -1) > 0).sum(dim=1), (d != 0).sum(dim=1),
    )  # fmt: skip


# The ball each attack keeps to: (norm index in _norms, parameter that bounds it).
BALLS = {
    "fgsm": ("linf", "eps"), "pgd_linf": ("linf", "eps"), "cifar10_linf": ("linf", "eps"), "bim": ("linf", "eps"),
    "pgd": ("linf", "eps"), "bim_l2": ("l2", "eps"), "cifar10_l2": ("l2", "eps"), "pgd_l2": ("l2", "eps"),
    "cifar10_l1": ("l1", "eps"), "pgd_l1": ("l1", "eps"), "cifar10_l0": ("l0", "k"), "pgd_l0": ("l0", "k"),
}  # fmt: skip


def _check_ball(atk, name, adv, x):
    assert adv.shape == x.shape and adv.dtype == x.dtype
    assert adv.min() >= 0 and adv.max() <= 1
    linf, l2, l1, pixels, _ = _norms(adv, x)
    norm, param = BALLS[name]
    bound = getattr(atk, param)
    if norm == "linf":
        assert linf.max() <= bound + 1e-6
    elif norm == "l2":
        assert l2.max() <= bound * (1 + 1e-5)
    elif norm == "l1":
        assert l1.max() <= bound * (1 + 1e-5)
    else:
        assert pixels.max() <= bound
    assert (linf > 0).any(), f"{name} changed nothing"


def test_registry_covers_every_attack():
    assert set(BALLS) == set(A.ATTACKS)


@pytest.mark.parametrize("name", sorted(A.ATTACKS))
def test_attack_stays_in_its_ball_and_the_box(name, models, held_out):
    x, y = held_out
    params = {} if name == "fgsm" else {"steps": 8}
    if name in ("cifar10_l1", "pgd_l1"):
        params["eps"] = 6.0  # small enough for MNIST that the L1 projection is active
    atk = A.make_attack(name, models[0], **params)
    torch.manual_seed(0)
    _check_ball(atk, name, atk(x[:64], y[:64]), x[:64])


@pytest.mark.parametrize("name", ["cifar10_l0", "cifar10_l1", "cifar10_l2", "cifar10_linf", "fgsm", "bim_l2"])
def test_colour_images_stay_in_the_ball(name):
    """(B, 3, 8, 8) images: the L0 budget counts pixels, all three channels of a pixel together."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5))
    x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 5, (16,))
    atk = A.make_attack(name, model, **({} if name == "fgsm" else {"steps": 6}))
    adv = atk(x, y)
    _check_ball(atk, name, adv, x)
    if name == "cifar10_l0":
        *_, pixels, elements = _norms(adv, x)
        assert pixels.max() <= 10 and elements.max() > 10  # more values than pixels: channels move together


def test_paper_presets():
    m = ReLUMLP([4, 2])
    expect = {
        "fgsm": {"eps": 0.1}, "pgd_linf": {"eps": 0.05}, "bim_l2": {"eps": 0.5, "random_start": False},
        "cifar10_l0": {"k": 10, "steps": 40}, "cifar10_l1": {"eps": 20, "alpha": 1.25, "steps": 40},
        "cifar10_l2": {"eps": 2.5, "alpha": 0.15625, "steps": 40},
        "cifar10_linf": {"eps": 0.1, "alpha": 0.00625, "steps": 40},
    }  # fmt: skip
    for name, values in expect.items():
        atk = A.make_attack(name, m)
        for key, value in values.items():
            assert getattr(atk, key) == pytest.approx(value), (name, key)
    assert A.make_attack("fgsm", m, eps=0.3).eps == 0.3
    assert isinstance(A.make_attack("bim_l2", m), A.BIML2)
    with pytest.raises(ValueError, match="unknown attack"):
        A.make_attack("cw", m)
    with pytest.raises(ValueError, match="bad parameters"):
        A.make_attack("fgsm", m, k=3)


# Attack settings for the accuracy test: the paper's MNIST settings, the Fig. 5 ones on MNIST (40
# steps cut to 10, step x4 so the ball is still reached).
LOWERING = {
    "fgsm": {},
    "pgd_linf": {"steps": 10, "alpha": 0.01},
    "bim_l2": {"steps": 10, "alpha": 0.125},
    "cifar10_l0": {"steps": 10},
    "cifar10_l1": {"steps": 10, "alpha": 5.0},
    "cifar10_l2": {"steps": 10, "alpha": 0.625},
    "cifar10_linf": {"steps": 10, "alpha": 0.025},
}


@pytest.mark.parametrize("name", sorted(LOWERING))
def test_attacks_lower_accuracy_white_and_black_box(name, models, held_out):
    x, y = held_out
    victim, attacker = models
    clean = _accuracy(victim, x, y)
    assert clean > 0.8
    white = A.run_attack(A.make_attack(name, victim, **LOWERING[name]), x, y, batch_size=N_ATTACK)
    (black,) = A.black_box([attacker], x, y, name, batch_size=N_ATTACK, **LOWERING[name])
    acc_white, acc_black = _accuracy(victim, white, y), _accuracy(victim, black, y)
    assert acc_white < clean - 0.1, (clean, acc_white)
    assert acc_black < clean - 0.05, (clean, acc_black)


def test_black_box_is_seeded_and_one_batch_per_attacker(models, held_out):
    x, y = held_out[0][:40], held_out[1][:40]
    state = torch.random.get_rng_state()
    a = A.black_box(models, x, y, "pgd_linf", steps=2, batch_size=16, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    b = A.black_box(models, x, y, "pgd_linf", steps=2, batch_size=16, seed=3)
    c = A.black_box(models, x, y, "pgd_linf", steps=2, batch_size=16, seed=4)
    assert len(a) == 2 and all(t.shape == x.shape for t in a)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not torch.equal(a[0], c[0])
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        A.black_box(models, x * 2, y, "fgsm")


def test_pgdl2_takes_flat_inputs(models, held_out):
    """torchattacks' PGD-L2 assumes (B, C, H, W); ours gives the same result on (B, 784)."""
    x, y = held_out[0][:32], held_out[1][:32]
    torch.manual_seed(5)
    square = A.PGDL2(models[0], eps=1.0, alpha=0.2, steps=3)(x, y)
    torch.manual_seed(5)
    flat = A.PGDL2(models[0], eps=1.0, alpha=0.2, steps=3)(x.reshape(32, -1), y)
    assert flat.shape == (32, 784)
    torch.testing.assert_close(flat.reshape(x.shape), square)


# ------------------------------------------------------------------------------- L1 projection


def _theta_by_bisection(a: np.ndarray, r: float) -> float:
    """theta >= 0 with sum(max(a - theta, 0)) = r (a = |v| with sum(a) > r), by bisection."""
    lo, hi = 0.0, float(a.max())
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.maximum(a - mid, 0).sum() > r else (lo, mid)
    return (lo + hi) / 2


def test_l1_projection_is_exact_on_small_vectors():
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(1, 7))
        v = rng.normal(0, 1, (4, n)) * rng.choice([0.1, 1, 10])
        if trial % 5 == 0:
            v[:, 0] = v[:, -1]  # ties
        r = float(rng.choice([0.0, 0.3, 1.0, 2.5]))
        w = A.project_l1_ball(torch.from_numpy(v), r).numpy()
        for vi, wi in zip(v, w):
            assert np.abs(wi).sum() <= r + 1e-9
            if np.abs(vi).sum() <= r:
                assert np.array_equal(wi, vi)  # points inside stay exactly where they are
                continue
            theta = _theta_by_bisection(np.abs(vi), r)
            np.testing.assert_allclose(wi, np.sign(vi) * np.maximum(np.abs(vi) - theta, 0), atol=1e-9)
            # no feasible point is closer: random points of the ball and its vertices
            cand = rng.laplace(size=(200, n))
            cand *= r * rng.random((200, 1)) / np.abs(cand).sum(axis=1, keepdims=True)
            cand = np.vstack([cand, r * np.eye(n), -r * np.eye(n)])
            assert np.linalg.norm(wi - vi) <= np.linalg.norm(cand - vi, axis=1).min() + 1e-9
        again = A.project_l1_ball(torch.from_numpy(w), r).numpy()
        np.testing.assert_allclose(again, w, atol=1e-12)  # idempotent


def test_l1_projection_hand_case():
    v = torch.tensor([[3.0, -1.0, 0.5], [0.2, 0.2, -0.1]])
    # first row: theta = 1.5 -> (1.5, 0, 0); second row inside the ball of radius 1.5
    torch.testing.assert_close(A.project_l1_ball(v, 1.5), torch.tensor([[1.5, 0.0, 0.0], [0.2, 0.2, -0.1]]))


def test_l0_projection_equals_brute_force():
    """The best subset of k pixels (each clipped to the box) by exhaustive search."""
    rng = np.random.default_rng(1)
    for _ in range(40):
        P, C, k = 5, 2, int(rng.integers(0, 4))
        y = rng.normal(0, 1, (1, C, 1, P))
        lb, ub = -rng.random((1, C, 1, P)), rng.random((1, C, 1, P))
        got = A.project_l0_box(torch.from_numpy(y), k, torch.from_numpy(lb), torch.from_numpy(ub)).numpy()
        best, best_dist = None, np.inf
        for subset in itertools.combinations(range(P), k):
            z = np.zeros_like(y)
            idx = list(subset)
            z[..., idx] = np.clip(y[..., idx], lb[..., idx], ub[..., idx])
            dist = ((y - z) ** 2).sum()
            if dist < best_dist - 1e-12:
                best, best_dist = z, dist
        np.testing.assert_allclose(((y - got) ** 2).sum(), best_dist, atol=1e-12)
        assert (np.abs(got).max(axis=1) > 0).sum() <= k


# ------------------------------------------------------------------------------------- PGD-L1


def test_l1_step_keeps_the_largest_gradients_and_respects_the_box():
    g = torch.tensor([[3.0, -1.0, 0.5, -4.0]])
    half = A.l1_steepest_direction(g, torch.full_like(g, 0.5), keep=0.5)
    torch.testing.assert_close(half, torch.tensor([[0.5, 0.0, 0.0, -0.5]]))
    # x = 1 with g > 0 and x = 0 with g < 0 cannot move: of the two others, the larger |g| moves
    boxed = A.l1_steepest_direction(g, torch.tensor([[1.0, 0.5, 0.5, 0.0]]), keep=0.5)
    torch.testing.assert_close(boxed, torch.tensor([[0.0, -1.0, 0.0, 0.0]]))
    assert A.l1_steepest_direction(torch.zeros(1, 3), torch.zeros(1, 3), keep=0.5).abs().sum() == 0
    # ceil(keep * m) coordinates, without float error: 0.1 * 30 = 3.0000000000000004 keeps 3
    g30 = torch.linspace(1, 2, 30).unsqueeze(0)
    assert int((A.l1_steepest_direction(g30, torch.full_like(g30, 0.5), keep=0.1) != 0).sum()) == 3


class _Recorder(torch.nn.Module):
    """A linear classifier (constant input gradient) that records every input it is given."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 3, bias=False)
        with torch.no_grad():
            w = torch.tensor([1.0, -2, 3, 0.5, -1, 2])
            self.linear.weight.copy_(torch.stack([w, torch.zeros(6), -w]))
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.linear(x.reshape(len(x), -1))


def test_pgdl1_adds_its_perturbation_once():
    """Regression for the authors' copy, which adds the perturbation twice: with a constant
    gradient and an inactive projection, step j is queried at x + j*alpha*d and the result is
    x + steps*alpha*d (the bug gives x + (1 + 2 + 3) alpha d, queried at the wrong points)."""
    model = _Recorder()
    x, y = torch.full((1, 6), 0.5), torch.tensor([0])
    alpha, steps = 0.06, 3
    adv = A.PGDL1(model, eps=10.0, alpha=alpha, steps=steps, random_start=False, keep=1.0)(x, y)
    d = -torch.tensor([[1.0, -2, 3, 0.5, -1, 2]]).sign() / 6  # ascent of the loss of class 0
    assert len(model.seen) == steps
    for j, seen in enumerate(model.seen):
        torch.testing.assert_close(seen, x + j * alpha * d)
    torch.testing.assert_close(adv, x + steps * alpha * d)
    assert float((adv - x).abs().sum()) == pytest.approx(steps * alpha, rel=1e-5)


def test_pgdl1_random_start_lies_in_the_ball():
    model = _Recorder()
    torch.manual_seed(0)
    x, y = torch.rand(50, 6), torch.randint(0, 3, (50,))
    A.PGDL1(model, eps=0.7, alpha=0.1, steps=1, random_start=True)(x, y)
    start = model.seen[0] - x
    assert start.abs().sum(dim=1).max() <= 0.7 + 1e-6 and (start != 0).all(dim=1).any()
    assert model.seen[0].min() >= 0 and model.seen[0].max() <= 1


class _Predictions(torch.nn.Module):
    """Wraps a model and records its predictions at every query."""

    def __init__(self, model):
        super().__init__()
        self.model, self.preds = model, []

    def forward(self, x):
        logits = self.model(x)
        self.preds.append(logits.argmax(dim=1).detach())
        return logits


def test_pgdl0_keeps_the_first_adversarial_point(models, held_out):
    """A sample fooled at any iterate is returned fooled (Croce & Hein keep the first success)."""
    x, y = held_out
    spy = _Predictions(models[0])
    torch.manual_seed(0)
    adv = A.PGDL0(spy, k=3, steps=10)(x, y)
    fooled_somewhere = torch.stack([p != y for p in spy.preds]).any(dim=0)
    with torch.no_grad():
        fooled = models[0](adv).argmax(dim=1) != y
    assert fooled_somewhere.any()
    assert torch.equal(fooled, fooled_somewhere)
    assert _norms(adv, x)[3].max() <= 3
