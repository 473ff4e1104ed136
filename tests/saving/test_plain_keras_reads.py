"""Files netform writes load in plain Keras, without netform installed, and back in netform whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import netform as nf  # noqa: E402
from netform.errors import FormatError  # noqa: E402

#: Loads each file with keras.saving.load_model in a process where `import netform` fails.
_WITHOUT_NETFORM = r'''
import json, os, sys
class _NoNetform:
    def find_spec(self, name, path=None, target=None):
        if name == "netform" or name.startswith("netform."):
            raise ImportError("netform is not installed here")
sys.meta_path.insert(0, _NoNetform())
try:
    import netform  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("netform is importable")
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import keras, numpy as np
x = np.load(sys.argv[1])
report = {}
for path in sys.argv[2:]:
    model = keras.saving.load_model(path)
    out = model.predict(x, verbose=0)
    out = out if isinstance(out, list) else [out]
    np.save(path + ".pred.npy", np.concatenate([o.reshape(len(x), -1) for o in out], axis=1))
    report[os.path.basename(path)] = {"class": type(model).__module__ + "." + type(model).__name__,
                                      "compiled": bool(model.compiled),
                                      "optimizer": type(model.optimizer).__name__}
print(json.dumps(report))
'''


def _models() -> dict[str, keras.Model]:
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x, y1, y2 = rng.normal(size=(16, 4)), rng.normal(size=(16, 2)), rng.normal(size=(16, 1))
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(5, activation="relu", name="hidden")(inputs)
    functional = nf.Model(inputs, [keras.layers.Dense(2, name="a")(hidden), keras.layers.Dense(1, name="b")(hidden)])
    functional.compile(optimizer="adam", loss="mse")
    functional.fit(x, [y1, y2], batch_size=8, verbose=0)
    sequential = nf.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(2)])
    sequential.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    sequential.fit(x, y1, batch_size=8, verbose=0)
    inner = nf.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="inner_dense")], name="inner")
    outer_in = keras.Input((4,))
    nested = nf.Model(outer_in, keras.layers.Dense(2, name="top")(inner(outer_in)), name="nested")
    nested.compile(optimizer="rmsprop", loss="mae")
    nested.fit(x, y1, batch_size=8, verbose=0)
    return {"functional": functional, "sequential": sequential, "nested": nested}


def _flat(model: keras.Model, x: np.ndarray) -> np.ndarray:
    out = model.predict(x, verbose=0)
    out = out if isinstance(out, list) else [out]
    return np.concatenate([np.asarray(o).reshape(len(x), -1) for o in out], axis=1)


@pytest.mark.slow
def test_keras_and_h5_files_load_in_keras_without_netform(tmp_path) -> None:  # type: ignore[no-untyped-def]
    models = _models()
    x = np.random.default_rng(2).normal(size=(5, 4)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    paths = []
    for name, model in models.items():
        # .h5: the nested model is the case that needs renaming (a top-level one is written by class name only).
        for ext in (".keras", ".h5") if name == "nested" else (".keras",):
            nf.save(model, tmp_path / f"{name}{ext}")
            paths.append(str(tmp_path / f"{name}{ext}"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-I", "-c", _WITHOUT_NETFORM, str(tmp_path / "x.npy"), *paths],
                         capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    for path in paths:
        name = os.path.basename(path)
        model = models[name.split(".")[0]]
        assert report[name]["class"].startswith("keras."), report[name]
        assert report[name]["compiled"] and report[name]["optimizer"] == type(model.optimizer).__name__
        np.testing.assert_allclose(np.load(path + ".pred.npy"), _flat(model, x), atol=1e-6)
        # With netform installed, netform's class and the training state come back.
        again = nf.load(path)
        assert type(again) is type(model)
        assert again.get_compile_config()["loss"] == model.get_compile_config()["loss"]
        assert int(again.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 2
        for a, b in zip(model.optimizer.variables, again.optimizer.variables, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_allclose(_flat(again, x), _flat(model, x), atol=1e-6)
    assert type(nf.load(tmp_path / "nested.keras").get_layer("inner")) is nf.Sequential


def test_keras_archive_names_keras_classes_and_netform_records_its_own(tmp_path) -> None:  # type: ignore[no-untyped-def]
    inputs = keras.Input((3,))
    model = nf.Model(inputs, keras.layers.Dense(2)(inputs))
    nf.save(model, tmp_path / "m.keras")
    reference = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    keras.saving.save_model(reference, tmp_path / "k.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        config = json.loads(zf.read("config.json"))
        meta = json.loads(zf.read("netform.json"))
    with zipfile.ZipFile(tmp_path / "k.keras") as zf:
        keras_config = json.loads(zf.read("config.json"))
    names = ("module", "class_name", "registered_name")
    assert {k: config[k] for k in names} == {k: keras_config[k] for k in names}
    assert meta["keras_classes"] == [{"path": [], "registered_name": "netform>Functional"}]
    assert meta["model_class"] == "netform.engine._models.Functional"


def _rewrite_netform_json(path, change) -> None:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    meta = json.loads(entries["netform.json"])
    change(meta)
    entries["netform.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


@pytest.mark.parametrize("entry,match", [
    ({"path": [], "registered_name": "builtins>eval"}, "names a model class netform does not write"),
    ({"path": ["config", "layers", 0], "registered_name": "netform>Functional"}, "which the config does not hold"),
])
def test_netform_metadata_restores_only_netform_models(tmp_path, entry, match) -> None:  # type: ignore[no-untyped-def]
    inputs = keras.Input((3,))
    nf.save(nf.Model(inputs, keras.layers.Dense(2)(inputs)), tmp_path / "m.keras")
    _rewrite_netform_json(tmp_path / "m.keras", lambda meta: meta.update(keras_classes=[entry]))
    with pytest.raises(FormatError, match=match):
        nf.load(tmp_path / "m.keras")


def test_savedmodel_signature_keeps_output_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import tensorflow as tf

    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    model = nf.Model(inputs, [keras.layers.Dense(2, name="score")(hidden), keras.layers.Dense(1, name="flag")(hidden)])
    nf.save(model, tmp_path / "m_savedmodel")
    signature = tf.saved_model.load(str(tmp_path / "m_savedmodel")).signatures["serving_default"]
    assert sorted(signature.structured_outputs) == ["flag", "score"]
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    out = signature(x=tf.constant(x))
    score, flag = model.predict(x, verbose=0)
    np.testing.assert_allclose(out["score"].numpy(), score, atol=1e-6)
    np.testing.assert_allclose(out["flag"].numpy(), flag, atol=1e-6)
    # Keras's own export numbers them instead; one output keeps Keras's name.
    model.export(str(tmp_path / "k_savedmodel"), format="tf_saved_model", verbose=False)
    keras_outputs = tf.saved_model.load(str(tmp_path / "k_savedmodel")).signatures["serving_default"].structured_outputs
    assert sorted(keras_outputs) == ["output_0", "output_1"]
    single = nf.Model(inputs, keras.layers.Dense(1, name="only")(inputs))
    nf.save(single, tmp_path / "s_savedmodel")
    assert list(tf.saved_model.load(str(tmp_path / "s_savedmodel")).signatures["serving_default"].structured_outputs) \
        == ["output_0"]
