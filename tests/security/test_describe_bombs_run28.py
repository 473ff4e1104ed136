"""A model file only Keras can describe is built by Keras to describe it only up to 2,000 layers.

A 45 KB ``.keras`` of 5,000 ReLU layers, whose ``Concatenate`` recorded a ``build_config`` of two inputs and
is called on 1,000, passed every bound, and as netform cannot vouch that Keras reads such a config as written,
``inspect`` and ``summary`` had Keras build it: 12 s at 700 MB (19,000 Dense layers: 111 s at 2.6 GB).
The describing commands now refuse such a config past 2,000 layers, naming why; ``load`` still builds it.
"""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

import netform as nf
from netform.cli import main
from netform.errors import FormatError
from netform.saving._config_walk import MAX_KERAS_DESCRIBED_LAYERS


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    inputs = keras.Input((4,), name="inp")
    joined = keras.layers.Concatenate(name="c")(
        [keras.layers.ReLU(name="a")(inputs), keras.layers.ReLU(name="b")(inputs)]
    )
    path = tmp_path_factory.mktemp("template") / "f2.keras"
    keras.Model(inputs, joined).save(path)
    return path


def _wide(template: Path, out: Path, relus: int, group: int) -> Path:
    with zipfile.ZipFile(template) as z:
        config = json.loads(z.read("config.json"))
        members = {n: z.read(n) for n in z.namelist() if n != "config.json"}
    first, relu, cat = (config["config"]["layers"][i] for i in (0, 1, 3))
    layers: list[Any] = [first]
    names = []
    for i in range(relus):
        layer = copy.deepcopy(relu)
        layer["config"]["name"] = layer["name"] = f"r{i}"
        layers.append(layer)
        names.append(f"r{i}")
    outputs = []
    for g in range(0, relus, group):
        layer = copy.deepcopy(cat)  # its build_config records two inputs
        layer["config"]["name"] = layer["name"] = f"c{g}"
        history = [
            {
                "class_name": "__keras_tensor__",
                "config": {"shape": [None, 4], "dtype": "float32", "keras_history": [n, 0, 0]},
            }
            for n in names[g : g + group]
        ]
        layer["inbound_nodes"] = [{"args": [history], "kwargs": {}}]
        layers.append(layer)
        outputs.append([f"c{g}", 0, 0])
    config["config"]["layers"] = layers
    config["config"]["output_layers"] = outputs
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps(config))
        for name, data in members.items():
            z.writestr(name, data)
    return out


def test_a_large_config_only_keras_describes_is_refused_by_the_describing_readers(
    template: Path, tmp_path: Path
) -> None:
    big = _wide(template, tmp_path / "w.keras", MAX_KERAS_DESCRIBED_LAYERS + 100, 500)
    with pytest.raises(
        FormatError, match=r"w\.keras: the model config holds a build_config .* only Keras can describe"
    ):
        nf.inspect(big)
    for command in (["inspect"], ["summary"], ["export-spec"], ["render", "-o", str(tmp_path / "w.svg")]):
        assert main([command[0], str(big), *command[1:]]) == 5, command
    assert not (tmp_path / "w.svg").exists()


def test_a_small_one_is_still_described_with_keras(template: Path, tmp_path: Path) -> None:
    small = _wide(template, tmp_path / "s.keras", 40, 20)
    info = nf.inspect(small)
    assert len(info["layers"]) == 43 and info["parameters"] == 0
