"""A layer that holds no variables is not counted as weights by the declared-weights bound.

A spec of ``CategoryEncoding(num_tokens: 1500000)`` then ``Dense(2)`` built and saved (3,000,002 weight values);
loading it back (``predict``, ``inspect``, ``load``) refused the file as corrupt or hostile: the bound took
``num_tokens`` as a lower bound on the layer's weights (4,500,002 declared). CategoryEncoding and the lookup
layers hold no variables whatever their size arguments.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import pytest

import netform as nf
from netform.cli._main import main
from netform.saving._config_bounds import declared_weights

SPEC = """netform: 1
name: ce_dense
kind: sequential
inputs:
  x: {shape: [3], dtype: int32}
layers:
  - {type: KerasLayer, class_name: CategoryEncoding, config: {num_tokens: 1500000, output_mode: multi_hot}}
  - {type: Dense, units: 2}
"""


def test_a_model_netform_built_loads_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = nf.build(nf.load_spec(SPEC))
    nf.save(model, tmp_path / "m.keras")
    assert nf.load(tmp_path / "m.keras").count_params() == 3_000_002
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "m.keras")]) == 0
    assert "3000002" in capsys.readouterr().out.replace(",", "")


def test_layers_without_variables_declare_none() -> None:
    for class_name, config in [
        ("CategoryEncoding", {"num_tokens": 10**7}),
        ("StringLookup", {"max_tokens": 10**7}),
        ("IntegerLookup", {"max_tokens": 10**7}),
        ("TextVectorization", {"max_tokens": 10**7}),
    ]:
        layer = {"module": "keras.layers", "class_name": class_name, "config": {"name": "a", **config}}
        model = {"class_name": "Sequential", "config": {"name": "m", "layers": [layer]}}
        assert declared_weights(model)[0] == 0, class_name
    custom = {"module": "mine", "class_name": "CategoryEncoding", "config": {"name": "a", "num_tokens": 10**7}}
    assert declared_weights({"class_name": "Sequential", "config": {"name": "m", "layers": [custom]}})[0] == 10**7
