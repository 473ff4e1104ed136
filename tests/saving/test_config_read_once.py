"""Reading a saved model's config for ``export-spec``, ``summary`` and ``render`` converts each layer once.

The file's checks (a layer's numbers, the weights its config declares, the
graph's bounds) and the walk that writes the spec or draws the diagram all
start from the same parsed config; inside :func:`config_memo` each layer's
spec mapping and static layer are made once and the graph's bounds walked
once (they were made three times a layer for ``export-spec``). Outside it
nothing is kept. The commands also leave the writers (``netform.saving._api``
and its save targets) unimported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import netform.spec._layer_dict as layer_dict_module
from netform.saving import _config_bounds
from netform.saving._config_bounds import config_memo, layer_dict
from netform.saving._config_walk import spec_from_config, spec_from_file
from netform.saving._static_reader import read_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_keras(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved Functional model: an input and five layers (Dense, BatchNormalization, Dropout, Add, Dense)."""
    keras = pytest.importorskip("keras")
    import netform as nf

    x = keras.Input((8,), name="x")
    h = keras.layers.Dense(8, activation="relu")(x)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Dropout(0.1)(h)
    out = keras.layers.Dense(2, name="head")(keras.layers.Add()([h, x]))
    path = tmp_path_factory.mktemp("once") / "small.keras"
    nf.save(keras.Model(x, out, name="small"), path)
    return path


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    convert = layer_dict_module.layer_to_dict_from_config

    def counted(cls_name: str, config: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        calls.append(cls_name)
        return convert(cls_name, config, **kwargs)

    monkeypatch.setattr(layer_dict_module, "layer_to_dict_from_config", counted)
    return calls


def test_export_converts_each_layer_once(small_keras: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: three conversions a layer (the values check, the declared weights' count, the export)."""
    expected = spec_from_file(small_keras)
    assert expected is not None
    calls = _counting(monkeypatch)
    spec = spec_from_file(small_keras)
    assert spec is not None and spec.to_yaml() == expected.to_yaml()
    assert sorted(calls) == ["Add", "BatchNormalization", "Dense", "Dense", "Dropout"]


def test_render_converts_each_layer_once(small_keras: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netform.render import to_dot_source

    expected = to_dot_source(str(small_keras))
    calls = _counting(monkeypatch)
    assert to_dot_source(str(small_keras)) == expected
    assert sorted(calls) == ["Add", "BatchNormalization", "Dense", "Dense", "Dropout"]


def test_the_graph_bounds_are_walked_once(small_keras: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    walks: list[str] = []
    check = _config_bounds._check_graph_bounds

    def counted(config: Any, where: str) -> None:
        walks.append(where)
        check(config, where)

    monkeypatch.setattr(_config_bounds, "_check_graph_bounds", counted)
    assert spec_from_file(small_keras) is not None
    assert len(walks) == 1


def test_nothing_is_kept_outside_the_memo(small_keras: Path) -> None:
    """A config changed between two reads gives the new answer: only one read's answers are shared."""
    config = read_config(str(small_keras), "keras", compile=True)
    assert config is not None
    dense = next(layer for layer in config["config"]["layers"] if layer["name"] == "head")
    before = layer_dict("Dense", dense["config"])
    assert before["units"] == 2
    dense["config"]["units"] = 5
    assert layer_dict("Dense", dense["config"])["units"] == 5
    assert "units: 5" in spec_from_config(config).to_yaml()
    with config_memo():
        first = layer_dict("Dense", dense["config"])
        second = layer_dict("Dense", dense["config"])
        assert first == second and first is not second  # each caller gets its own mapping
        with config_memo():  # a memo opened inside another is the same one
            assert layer_dict("Dense", dense["config"]) == first
    assert _config_bounds._MEMO.get() is None


def test_a_plain_answer_is_not_taken_for_a_strict_one(small_keras: Path) -> None:
    """A number netform's schema refuses gives the generic form when not strict, and still a refusal when
    strict, in either order inside one memo."""
    from netform.spec._layer_dict import RefusedValue

    config = read_config(str(small_keras), "keras", compile=True)
    assert config is not None
    dense = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")
    dense["config"]["units"] = -3
    with config_memo():
        assert layer_dict("Dense", dense["config"])["type"] == "KerasLayer"
        with pytest.raises(RefusedValue):
            layer_dict("Dense", dense["config"], strict=True)


_RUN = """
import json, sys
from netform.cli._main import main
code = main(sys.argv[1:])
sys.stdout.flush()
print('\\n' + json.dumps({'code': code, 'saving': sorted(m for m in sys.modules if m.startswith('netform.saving'))}))
"""


@pytest.mark.parametrize("command", ["export-spec", "render", "summary"])
def test_the_writers_are_not_imported(command: str, small_keras: Path, tmp_path: Path) -> None:
    """Was: importing ``netform.saving`` imported ``load``/``save`` and every save target with it."""
    argv = [command, str(small_keras)] + (["-o", str(tmp_path / "m.dot")] if command == "render" else [])
    done = subprocess.run([sys.executable, "-c", _RUN, *argv], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, check=True)
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["code"] == 0, done.stderr
    assert "netform.saving._api" not in last["saving"], last["saving"]
    assert "netform.saving._target" not in last["saving"], last["saving"]


def test_the_package_still_offers_its_names() -> None:
    import netform.saving as nfs

    assert set(nfs.__all__) <= set(dir(nfs))
    for name in nfs.__all__:
        assert getattr(nfs, name) is not None
    from netform.saving import load, save  # noqa: F401

    with pytest.raises(AttributeError):
        getattr(nfs, "no_such_name")
