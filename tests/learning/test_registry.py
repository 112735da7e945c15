"""Naming models (SPEC §7): registry names, `file.py:Class` plug-ins, and one clear line for every bad input."""

import textwrap

import pytest

from restasmr_jax.config import TrainConfig
from restasmr_jax.learning.models import BUILTINS, ModelError, check_tagger, parse_model, parse_models

GOOD = """
import flax.linen as nn


class Tiny(nn.Module):
    width: int = 4

    @nn.compact
    def __call__(self, x, mask, *, train: bool):
        return nn.Dense(2)(nn.relu(nn.Dense(self.width)(x)))
"""


def plugin(tmp_path, source: str, name: str = "model.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_builtins_and_plugins_get_their_row_names(tmp_path):
    path = plugin(tmp_path, GOOD)
    specs = parse_models(f"bilstm, xgboost,{path}:Tiny")
    assert [s.name for s in specs] == ["bilstm", "xgboost", "Tiny"]
    assert specs[2].source == f"{path.resolve()}:Tiny" and specs[2].is_plugin and specs[1].is_xgboost
    tagger = specs[2].tagger(TrainConfig())
    check_tagger(tagger, "Tiny", 5, 1)  # the contract holds: logits [batch, time, 2]
    assert set(BUILTINS) == {"bilstm", "bigru", "tcn", "transformer", "mlp", "xgboost"}


def test_unknown_builtin_lists_the_known_ones():
    with pytest.raises(ModelError, match="unknown model 'lstm'.*bilstm, bigru, tcn, transformer, mlp, xgboost"):
        parse_model("lstm")


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match=r"no such file .*absent\.py"):
        parse_model(f"{tmp_path / 'absent.py'}:Net")


def test_missing_class_lists_what_the_file_defines(tmp_path):
    path = plugin(tmp_path, GOOD)
    with pytest.raises(ModelError, match="defines no 'Net' \\(Flax modules in it: Tiny\\)"):
        parse_model(f"{path}:Net")


def test_a_class_that_is_not_a_flax_module(tmp_path):
    path = plugin(tmp_path, "class Net:\n    pass\n")
    with pytest.raises(ModelError, match="Net is not a flax.linen.Module subclass"):
        parse_model(f"{path}:Net")


def test_a_file_that_does_not_import(tmp_path):
    path = plugin(tmp_path, "import flax.linen as nn\nraise RuntimeError('no GPU here')\n")
    with pytest.raises(ModelError, match="importing model.py failed: RuntimeError: no GPU here"):
        parse_model(f"{path}:Net")


def test_a_module_that_needs_arguments(tmp_path):
    path = plugin(tmp_path, GOOD.replace("width: int = 4", "width: int"))
    with pytest.raises(ModelError, match="Tiny\\(\\) cannot be built without arguments.*give every field a default"):
        parse_model(f"{path}:Tiny")


def test_wrong_output_shape_names_the_model_and_the_shape(tmp_path):
    path = plugin(tmp_path, GOOD.replace("nn.Dense(2)", "nn.Dense(3)"))
    tagger = parse_model(f"{path}:Tiny").tagger(TrainConfig())
    with pytest.raises(ModelError, match=r"model Tiny: .*returned shape \[2, 7, 3\] float32; expected .* \[2, 7, 2\]"):
        check_tagger(tagger, "Tiny", 5, 1)


def test_state_besides_parameters_and_a_crashing_call(tmp_path):
    batch_norm = GOOD.replace("nn.relu(", "nn.BatchNorm(use_running_average=not train)(")
    tagger = parse_model(f"{plugin(tmp_path, batch_norm, 'bn.py')}:Tiny").tagger(TrainConfig())
    with pytest.raises(ModelError, match="keeps state besides its parameters \\(collections batch_stats\\)"):
        check_tagger(tagger, "Tiny", 5, 1)
    crashing = GOOD.replace("return nn.Dense(2)", "return x @ x  #")
    tagger = parse_model(f"{plugin(tmp_path, crashing, 'crash.py')}:Tiny").tagger(TrainConfig())
    with pytest.raises(
        ModelError, match="model Tiny: calling it on x \\[2, 7, 6\\] and mask \\[2, 7\\] failed: TypeError"
    ):
        check_tagger(tagger, "Tiny", 5, 1)


def test_repeated_names_are_refused(tmp_path):
    path = plugin(tmp_path, GOOD)
    with pytest.raises(ModelError, match="names Tiny more than once"):
        parse_models([f"{path}:Tiny", f"{plugin(tmp_path, GOOD, 'other.py')}:Tiny"])
    with pytest.raises(ModelError, match="names no model"):
        parse_models(" , ")
