"""Details and the interactive diagram of Keras models and saved model files (configs as Keras reports them)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from netform.render import render, to_dot_source

from ._dotparse import parse

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.tf
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")


def _model() -> object:
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="small")


def test_details_of_a_keras_model_come_from_its_config() -> None:
    dot = parse(to_dot_source(_model(), details=True))
    assert "filters: 4, kernel_size: 3×3, strides: 2×2, activation: relu" in dot.nodes["conv"]
    assert "units: 3, activation: softmax" in dot.nodes["probs"]
    assert "units" not in parse(to_dot_source(_model())).nodes["probs"]


@needs_dot
def test_html_of_a_saved_model_file_shows_keras_configs(tmp_path: Path) -> None:
    model = _model()
    model.save(tmp_path / "small.keras")
    page = render(tmp_path / "small.keras", tmp_path / "small.html").read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="nf-data">(.*?)</script>', page, re.DOTALL)
    assert m is not None
    nodes = {n["id"]: n for n in json.loads(m.group(1).replace("<\\/", "</"))["nodes"]}
    expected = json.loads(json.dumps({k: v for k, v in model.get_layer("conv").get_config().items() if k != "name"}))
    assert nodes["conv"]["config"] == expected
    assert nodes["conv"]["params"] == model.get_layer("conv").count_params()
    assert nodes["probs"]["output"] and nodes["conv"]["shape"] == "(None, 7, 7, 4)"
    assert not re.search(r"https?://", page)
