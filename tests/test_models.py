"""The model zoo: checkpoints keyed by content (spec, settings, training code, data), finished
models under their final name only, longer runs starting from the longest finished shorter one."""

import numpy as np
import pytest
import torch

from scenarios.setups import models
from scenarios.setups.models import Split, get_ann

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def split(seed: int, n: int = 64) -> Split:
    rng = np.random.default_rng(seed)
    return Split(rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n))


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("EVSIM_MODELS", str(tmp_path))
    return tmp_path / "mnist"


def files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_model_is_trained_once_under_a_content_keyed_name_and_reloaded(zoo):
    train, test = split(0), split(1, 16)
    model, history = get_ann("mnist", train, test, 1, seed=3)
    names = files(zoo)
    assert len(names) == 1 and names[0].startswith("ann_seed3_e1_") and names[0].endswith(".pt")
    again, history2 = get_ann("mnist", train, test, 1, seed=3)
    assert history2 == history and files(zoo) == names
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_other_data_or_other_code_never_reuse_a_checkpoint(zoo, monkeypatch, capsys):
    test = split(1, 16)
    get_ann("mnist", split(0), test, 1)
    get_ann("mnist", split(2), test, 1)  # other training images: another key, another file
    assert len(files(zoo)) == 2
    assert "not reusing ann_seed0_e1_" in capsys.readouterr().err
    real = models.code_hash
    monkeypatch.setattr(models, "code_hash", lambda *m: "edited" + real(*m))
    get_ann("mnist", split(0), test, 1)  # the training code changed: trained again
    assert len(files(zoo)) == 3


def test_more_epochs_start_from_the_finished_shorter_model_which_stays_as_it_was(zoo, capsys):
    train, test = split(0), split(1, 16)
    _, short = get_ann("mnist", train, test, 1)
    (one,) = files(zoo)
    before = (zoo / one).read_bytes()
    _, longer = get_ann("mnist", train, test, 2)
    assert "starting from the finished 1-epoch model" in capsys.readouterr().err
    assert longer[0] == short[0] and len(longer) == 2
    assert (zoo / one).read_bytes() == before
    names = files(zoo)
    assert len(names) == 2 and not any("partial" in n or n.startswith(".") for n in names)


def test_an_interrupted_training_resumes_from_its_partial_checkpoint(zoo, monkeypatch):
    train, test = split(0), split(1, 16)
    _, reference = get_ann("mnist", train, test, 2, seed=1)
    for p in zoo.iterdir():
        p.unlink()
    calls = {"n": 0}
    real_fit = models.fit

    def dies_after_one_epoch(*args, **kwargs):
        from bridges import training

        original = training._atomic_torch_save

        def save_then_die(obj, path):
            original(obj, path)
            raise KeyboardInterrupt("killed")

        monkeypatch.setattr(training, "_atomic_torch_save", save_then_die)
        try:
            return real_fit(*args, **kwargs)
        finally:
            monkeypatch.setattr(training, "_atomic_torch_save", original)
            calls["n"] += 1

    monkeypatch.setattr(models, "fit", dies_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        get_ann("mnist", train, test, 2, seed=1)
    (partial,) = files(zoo)
    assert partial.endswith(".partial.pt")  # never under the final name before it is finished
    monkeypatch.setattr(models, "fit", real_fit)
    _, resumed = get_ann("mnist", train, test, 2, seed=1)
    assert [h["loss"] for h in resumed] == [h["loss"] for h in reference]
    assert len(files(zoo)) == 1 and not files(zoo)[0].endswith("partial.pt")


def test_load_only_loads_a_finished_model_even_of_other_code_and_never_trains(zoo, monkeypatch, capsys):
    """load_only: the checkpoint of this key; else a finished one of the same name, epochs, spec and
    settings made by other code (said so); else MissingModel, with nothing trained or written."""
    from bridges.ann import ARCHITECTURES, ReLUMLP
    from bridges.training import TrainConfig, ann_loss, ann_spec

    train = split(0)

    def ask(epochs: int, load_only: bool, width: int = 784) -> torch.nn.Module:
        torch.manual_seed(0)
        model = ReLUMLP([width, *ARCHITECTURES["mnist"][1:]])
        models.train_or_load(model, ann_spec(model), train, ann_loss, TrainConfig(epochs=epochs, lr=1e-3, seed=0),
                             "mnist", "ann_seed0", evaluate=None, desc="ANN", load_only=load_only)  # fmt: skip
        return model

    with pytest.raises(models.MissingModel, match="no finished checkpoint ann_seed0_e1_"):
        ask(1, True)
    assert not zoo.exists() or files(zoo) == []
    trained = ask(1, False)
    exact = ask(1, True)
    assert exact.checkpoint_key_matches and exact.checkpoint.name == files(zoo)[0]
    real = models.code_hash
    monkeypatch.setattr(models, "code_hash", lambda *m: "edited" + real(*m))
    capsys.readouterr()
    other = ask(1, True)  # the code changed: its key is another; the finished model is still loaded
    assert not other.checkpoint_key_matches and "made by other code or data" in capsys.readouterr().err
    for a, b in zip(trained.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(models.MissingModel):
        ask(2, True)  # no 2-epoch model: a 1-epoch one does not stand in
    with pytest.raises(models.MissingModel, match="differ in spec or settings"):
        ask(1, True, width=783)
    assert len(files(zoo)) == 1
