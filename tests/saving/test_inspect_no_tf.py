"""``inspect`` reads .keras, .h5 and .weights.h5 files without TensorFlow, with the same answer as loading.

Each model is described twice: from the file alone (the default) and by
loading it with Keras (``with_keras=True``, the path ``inspect`` took before),
and the two must agree, field for field; the parameter counts are also
checked against Keras's own ``count_params`` and ``trainable_weights``.
Hostile files are refused by the file-only reader exactly as ``load``
refuses them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import netform.saving as nfs
from netform.saving._static_reader import read_model

keras = pytest.importorskip("keras")
L = keras.layers


def _sequential() -> Any:
    model = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu"), L.Dense(3)], name="seq")
    model.compile(optimizer="adam", loss="mse")
    return model


def _two_outputs() -> Any:
    x = keras.Input((10,), name="x")
    h = L.Dense(8, name="shared")(x)
    return keras.Model(x, [L.Dense(2, name="a")(h), L.Dense(1, name="b")(h)], name="two")


def _batchnorm() -> Any:
    frozen = L.Dense(5, name="frozen")
    frozen.trainable = False
    model = keras.Sequential([keras.Input((4,)), L.Dense(6), L.BatchNormalization(), frozen,
                              L.BatchNormalization(scale=False), L.Dense(1)], name="bn")
    model.compile(optimizer="sgd", loss="mse")
    return model


def _embedding_lstm() -> Any:
    return keras.Sequential([keras.Input((5,), dtype="int32"), L.Embedding(50, 8), L.LSTM(7, return_sequences=True),
                             L.Bidirectional(L.GRU(3)), L.Dense(2)], name="lstm")


def _nested() -> Any:
    inner = keras.Sequential([keras.Input((6,)), L.Dense(4), L.BatchNormalization(), L.Dense(4)], name="inner")
    frozen = keras.Sequential([keras.Input((4,)), L.Dense(3)], name="frozen_block")
    frozen.trainable = False
    x = keras.Input((6,))
    return keras.Model(x, L.Dense(2)(frozen(inner(x))), name="outer")


MODELS = {"sequential": _sequential, "two_outputs": _two_outputs, "batchnorm": _batchnorm,
          "embedding_lstm": _embedding_lstm, "nested": _nested}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, dict[str, Path]]]:
    out = tmp_path_factory.mktemp("no_tf")
    files: dict[str, tuple[Any, dict[str, Path]]] = {}
    for name, make in MODELS.items():
        model = make()
        if getattr(model, "optimizer", None) is not None:  # a trained optimizer: its iteration count is in the file
            import numpy as np

            x = np.zeros((4, *model.inputs[0].shape[1:]), dtype="float32")
            model.fit(x, np.zeros((4, *model.outputs[0].shape[1:]), dtype="float32"), epochs=1, batch_size=2,
                      verbose=0)
        paths = {"keras": out / f"{name}.keras", "h5": out / f"{name}.h5", "keras_written": out / f"{name}_k.keras",
                 "weights": out / f"{name}.weights.h5"}
        nfs.save(model, paths["keras"])
        nfs.save(model, paths["h5"])
        nfs.save_weights(model, paths["weights"])
        model.save(paths["keras_written"])  # Keras's own writer: no netform metadata in the archive
        files[name] = (model, paths)
    return files


@pytest.mark.parametrize("kind", ["keras", "h5", "keras_written"])
@pytest.mark.parametrize("name", list(MODELS))
def test_file_only_matches_loading(saved: dict[str, Any], name: str, kind: str) -> None:
    model, paths = saved[name]
    path = str(paths[kind])
    assert read_model(path, nfs.detect_format(path)) is not None  # answered from the file alone
    info = nfs.inspect(path)
    assert info == nfs.inspect(path, with_keras=True)
    assert info["parameters"] == model.count_params()
    assert info["trainable_parameters"] == sum(int(w.numpy().size) for w in model.trainable_weights)
    assert [layer["name"] for layer in info["layers"]] == [layer.name for layer in model.layers]
    assert [layer["params"] for layer in info["layers"]] == [layer.count_params() for layer in model.layers]


def test_batchnorm_and_frozen_layers_count_as_non_trainable(saved: dict[str, Any]) -> None:
    model, paths = saved["batchnorm"]
    info = nfs.inspect(str(paths["keras"]))
    # Dense(4→6)=30, BN 4×6 (12 trainable), frozen Dense(6→5)=35 (0), BN without scale 3×5 (5), Dense(5→1)=6
    assert (info["parameters"], info["trainable_parameters"]) == (30 + 24 + 35 + 15 + 6, 30 + 12 + 0 + 5 + 6)
    assert info["optimizer"] == "SGD" and info["iterations"] == 2 == int(model.optimizer.iterations.numpy())


_NO_TF = """
import json, sys
from netform.cli._main import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print("\\nMODULES " + json.dumps(loaded))
sys.exit(code)
"""


def _run_cli(*args: str) -> tuple[str, list[str]]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("NETFORM_INSPECT_WITH_KERAS", None)
    done = subprocess.run([sys.executable, "-c", _NO_TF, *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    text, _, modules = done.stdout.rpartition("\nMODULES ")
    return text, json.loads(modules)


@pytest.mark.parametrize("kind", ["keras", "h5", "weights"])
def test_cli_inspect_imports_neither_tensorflow_nor_keras(saved: dict[str, Any], kind: str) -> None:
    _, paths = saved["nested"]
    text, modules = _run_cli("inspect", "--format", "json", str(paths[kind]))
    assert modules == []
    assert json.loads(text) == json.loads(json.dumps(nfs.inspect(str(paths[kind]), with_keras=True), default=str))


def test_unknown_layer_kind_is_loaded_with_keras(tmp_path: Path) -> None:
    @keras.saving.register_keras_serializable(package="no_tf_test")
    class Scale(L.Layer):
        def build(self, input_shape: Any) -> None:
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")
            self.n = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def call(self, x: Any) -> Any:
            return x * self.w

    model = keras.Sequential([keras.Input((3,)), Scale(), L.Dense(2)], name="custom")
    path = str(tmp_path / "custom.keras")
    nfs.save(model, path)
    assert read_model(path, "keras") is None  # which of Scale's variables train is known only to Keras
    info = nfs.inspect(path)
    assert (info["parameters"], info["trainable_parameters"]) == (model.count_params(), 3 + 8)


def _hostile_files(out: Path, marker: Path) -> dict[str, Path]:
    from tests.saving import hostile
    from tests.security import make_model_corpus as corpus

    files = dict(hostile.build_all(out, marker))
    files["h5_external_dataset"] = corpus.h5_external_dataset(out)
    files["h5_virtual_dataset"] = corpus.h5_virtual_dataset(out)
    files["h5_vlen_bomb"] = corpus.h5_vlen_bomb(out)
    files["h5_vlen_attribute_bomb"] = corpus.h5_vlen_attribute_bomb(out)
    files["zip_many_entries_bomb"] = corpus.zip_many_entries_bomb(out)
    files["zip_overlapping_bomb"] = corpus.zip_many_entries_bomb(out, overlapping=True)
    return files


def _error(call: Any) -> type[BaseException] | None:
    try:
        call()
    except Exception as err:  # noqa: BLE001 - the class is what is compared
        return type(err)
    return None


def test_hostile_files_are_refused_as_load_refuses_them(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    files = _hostile_files(tmp_path / "files", marker)
    compared = 0
    for name, path in files.items():
        try:
            fmt = nfs.detect_format(path)
        except Exception:  # noqa: BLE001 - refused before any reader runs, the same for both
            continue
        if fmt not in ("keras", "h5"):
            continue
        on_load = _error(lambda: nfs.load(path))  # noqa: B023
        assert on_load is not None, name
        assert _error(lambda: nfs.inspect(path)) is on_load, name  # noqa: B023
        assert _error(lambda: read_model(str(path), fmt)) is on_load, name  # noqa: B023
        compared += 1
    assert compared >= 12
    assert not marker.exists()


def test_reading_and_safety_modules_import_neither_tensorflow_nor_keras() -> None:
    modules = ["netform.saving._safety", "netform.saving._h5_attrs", "netform.saving._static_reader",
               "netform.saving._inspect", "netform.saving._h5", "netform.saving._h5_source",
               "netform.saving._keras_zip", "netform.saving._detect", "netform.saving._meta"]
    code = ("import importlib, json, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_netform_built_model_is_read_without_keras(tmp_path: Path, ext: str) -> None:
    import netform as nf

    spec = """
netform: 1
name: built
kind: functional
inputs:
  x: {shape: [6]}
nodes:
  h: {type: Dense, units: 8, activation: relu, in: x}
  n: {type: BatchNormalization, in: h}
  a: {type: Dense, units: 2, in: n}
  b: {type: Dense, units: 1, in: n}
outputs: [a, b]
"""
    model = nf.build(spec)
    path = str(tmp_path / f"built.{ext}")
    nfs.save(model, path)
    assert read_model(path, ext) is not None
    info = nfs.inspect(path)
    assert info == nfs.inspect(path, with_keras=True)
    assert info["model_class"].startswith("netform.")
    assert (info["parameters"], info["trainable_parameters"]) == (
        model.count_params(), sum(int(w.numpy().size) for w in model.trainable_weights))


def _weights_offset(path: Path) -> int:
    """Where the first stored byte of a layer's weights lies in an HDF5 file."""
    import h5py

    found: list[int] = []
    with h5py.File(path, "r") as f:
        f["model_weights"].visititems(lambda _, o: found.append(o.id.get_offset())
                                      if isinstance(o, h5py.Dataset) and o.size and o.id.get_offset() else None)
    return found[0]


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_corrupt_files_are_refused_as_load_refuses_them(saved: dict[str, Any], tmp_path: Path, kind: str,
                                                        damage: str) -> None:
    _, paths = saved["batchnorm"]
    data = bytearray(paths[kind].read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:  # a changed bit in the weights: the zip entry's CRC-32 or netform's HDF5 checksum
        data[_weights_offset(paths[kind]) if kind == "h5" else len(data) * 3 // 4] ^= 0x10
    path = tmp_path / paths[kind].name
    path.write_bytes(bytes(data))
    on_load = _error(lambda: nfs.load(path))
    assert on_load is not None
    assert _error(lambda: nfs.inspect(path)) is on_load


def test_an_empty_sequential_h5_is_described_not_a_crash(tmp_path: Path) -> None:
    """A model config with no layers: Keras cannot count an unbuilt model's parameters; inspect reports 0."""
    import json

    import h5py

    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "3.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": []}})
        f.create_group("model_weights")
    info = nfs.inspect(str(path))
    assert info["parameters"] == 0 and info["layers"] == []
