"""The scenarios' encoder options accept registered encoders: `python -m scenarios --import MODULE`
imports a module that registers them before the scenario parses its options (train_fmnist's
`--encoders`). The run is stopped right after parsing (no training)."""

from __future__ import annotations

import sys

import pytest

import evsim
import scenarios.paper.train_fmnist as train_fmnist
from evsim.encoding import registered_encoders, unregister_encoder
from scenarios.__main__ import main as scenarios_main

PLUGIN = '''
import evsim

def mine(x, T, rng):
    return rng.random((T,) + x.shape) < x

evsim.register_encoder("plugin_poisson", mine, "rate")
'''


class Parsed(Exception):
    pass


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "my_encoders.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = {}

    def stop(root):  # train_fmnist calls data_dir(args.data) right after parsing
        raise Parsed

    monkeypatch.setattr(train_fmnist, "data_dir", stop)
    monkeypatch.setattr(train_fmnist.torch, "set_num_threads", lambda n: seen.setdefault("threads", n))
    yield
    if "plugin_poisson" in registered_encoders():
        unregister_encoder("plugin_poisson")
    sys.modules.pop("my_encoders", None)


def test_import_option_registers_encoders_that_the_encoder_option_accepts(plugin):
    with pytest.raises(Parsed):
        scenarios_main(["--import", "my_encoders", "train_fmnist", "--encoders", "ratesyn_e", "plugin_poisson"])
    assert registered_encoders()["plugin_poisson"].kind == "rate"
    assert evsim.encode([[0.0, 1.0]], 3, "plugin_poisson", seed=0).tolist() == [[[0.0, 1.0]]] * 3


def test_unregistered_names_are_still_refused(plugin, capsys):
    with pytest.raises(SystemExit) as err:
        scenarios_main(["train_fmnist", "--encoders", "plugin_poisson"])
    assert err.value.code == 2 and "invalid choice: 'plugin_poisson'" in capsys.readouterr().err
    assert scenarios_main(["--import"]) == 2


def test_cache_keys_see_the_user_encoders_code(tmp_path):
    """A stage encoded by a user's function must be recomputed once that function changes: the
    code hash of every key includes the registered encoders' source (or compiled code)."""
    from scenarios.machinery.content import code_hash

    plain = code_hash("scenarios.smoke")
    module = tmp_path / "edited_encoder.py"

    def key_with(body: str) -> str:
        module.write_text(body)
        namespace: dict = {}
        exec(compile(body, str(module), "exec"), namespace)  # its source file is `module`
        with evsim.register_encoder("edited", namespace["enc"], "current"):
            return code_hash("scenarios.smoke")

    first = key_with("def enc(x, T, rng):\n    return (x[None] + 0 * rng.random()).repeat(T, 0)\n")
    second = key_with("def enc(x, T, rng):\n    return (x[None] * 1.0).repeat(T, 0)\n")
    assert len({plain, first, second}) == 3
    assert code_hash("scenarios.smoke") == plain  # unregistered: the project's code alone

    with evsim.register_encoder("prompt", lambda x, T, rng: x[None].repeat(T, 0), "current"):
        at_prompt = code_hash("scenarios.smoke")  # a lambda's file is this test: still hashed
    assert at_prompt != plain
