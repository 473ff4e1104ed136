"""Saving and loading behave as Keras's own functions do, compared on the same models."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import netform as nf  # noqa: E402
from netform.errors import FormatError, UnsafeFileError  # noqa: E402


@keras.saving.register_keras_serializable(package="nf_options_test")
def scaled_mse(y_true, y_pred):  # type: ignore[no-untyped-def]
    return 2.0 * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


def unregistered_mse(y_true, y_pred):  # type: ignore[no-untyped-def]
    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


def _mlp(loss=scaled_mse) -> keras.Model:  # type: ignore[no-untyped-def]
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(keras.layers.Dense(3, name="hidden")(inputs)))
    model.compile(optimizer="adam", loss=loss)
    return model


X = np.random.default_rng(3).normal(size=(4, 4)).astype("float32")


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_registered_loss_loads_in_safe_mode_like_keras(tmp_path, ext) -> None:  # type: ignore[no-untyped-def]
    model = _mlp()
    nf.save(model, tmp_path / f"by_netform{ext}")  # first: Keras's .h5 writer drops the model's optimizer config
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's note that .h5 is a legacy format
        keras.saving.save_model(model, tmp_path / f"by_keras{ext}")
    for name in (f"by_keras{ext}", f"by_netform{ext}"):
        if ext == ".keras" or name.startswith("by_netform"):  # Keras's .h5 reader also takes netform's file
            keras_loaded = keras.saving.load_model(tmp_path / name, safe_mode=True)
            assert keras_loaded.loss is scaled_mse
        loaded = nf.load(tmp_path / name, safe_mode=True)
        assert loaded.loss is scaled_mse
        np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


def test_builtin_function_loss_loads_in_safe_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _mlp(loss=keras.losses.mean_squared_error)
    keras.saving.save_model(model, tmp_path / "m.keras")
    assert keras.saving.load_model(tmp_path / "m.keras").loss is keras.losses.mean_squared_error
    assert nf.load(tmp_path / "m.keras").loss is keras.losses.mean_squared_error


def test_unregistered_function_refused_as_keras_refuses_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _mlp(loss=unregistered_mse)
    keras.saving.save_model(model, tmp_path / "m.keras")
    with pytest.raises(TypeError, match="Could not locate function 'unregistered_mse'"):
        keras.saving.load_model(tmp_path / "m.keras")
    with pytest.raises(UnsafeFileError, match=r"function 'unregistered_mse' is neither a Keras built-in nor "
                                              r"registered at config path 'compile_config.loss'"):
        nf.load(tmp_path / "m.keras")
    # Given by name, as Keras allows, it loads.
    loaded = nf.load(tmp_path / "m.keras", custom_objects={"unregistered_mse": unregistered_mse})
    assert loaded.loss is unregistered_mse


def _with_lambda() -> keras.Model:
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, name="hidden")(inputs)
    doubled = keras.layers.Lambda(lambda t: 2 * t, name="double")(hidden)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(doubled))


def test_load_weights_reads_only_the_weights_of_an_archive(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _with_lambda()
    keras.saving.save_model(model, tmp_path / "lambda.keras")
    with pytest.raises(UnsafeFileError, match="Lambda"):
        nf.load(tmp_path / "lambda.keras")  # the whole model: its code would run
    twin = _with_lambda()
    twin.load_weights(tmp_path / "lambda.keras")  # Keras's own reading: weights only, nothing deserialized
    fresh = _with_lambda()
    assert nf.load_weights(fresh, tmp_path / "lambda.keras") == []
    for a, b, c in zip(model.weights, twin.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_array_equal(np.asarray(a), np.asarray(c))


def test_objects_to_skip_leaves_those_layers_as_keras_does(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _mlp()
    model.save_weights(tmp_path / "m.weights.h5")
    by_keras, by_netform = _mlp(), _mlp()
    for target in (by_keras, by_netform):
        target.get_layer("hidden").kernel.assign(np.zeros((4, 3), "float32"))
        target.get_layer("out").kernel.assign(np.full((3, 2), 7.0, "float32"))
    by_keras.load_weights(tmp_path / "m.weights.h5", objects_to_skip=[by_keras.get_layer("out")])
    assert nf.load_weights(by_netform, tmp_path / "m.weights.h5",
                           objects_to_skip=[by_netform.get_layer("out")]) == []
    for a, b in zip(by_keras.weights, by_netform.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(by_netform.get_layer("out").kernel.numpy(), np.full((3, 2), 7.0))
    np.testing.assert_array_equal(by_netform.get_layer("hidden").kernel.numpy(),
                                  model.get_layer("hidden").kernel.numpy())
    # A skipped layer whose shapes differ is no mismatch, as in Keras.
    inputs = keras.Input((4,))
    other = keras.Model(inputs, keras.layers.Dense(5, name="out")(keras.layers.Dense(3, name="hidden")(inputs)))
    assert nf.load_weights(other, tmp_path / "m.weights.h5", objects_to_skip=[other.get_layer("out")]) == []
    nf.save(model, tmp_path / "m.h5")
    with pytest.raises(FormatError, match="objects_to_skip works with Keras 3 weights"):
        nf.load_weights(_mlp(), tmp_path / "m.h5", objects_to_skip=[])


class _OwnCompile(nf.Model):
    """A subclassed model with its own compile(), as in Keras's guide."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(2)

    def call(self, inputs):  # type: ignore[no-untyped-def]
        return self.dense(inputs)

    def compile(self, scale: float = 1.0, **kwargs):  # type: ignore[no-untyped-def]
        self.scale = scale
        super().compile(**kwargs)


class _KerasOwnCompile(keras.Model):
    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(2)

    def call(self, inputs):  # type: ignore[no-untyped-def]
        return self.dense(inputs)

    def compile(self, scale: float = 1.0, **kwargs):  # type: ignore[no-untyped-def]
        self.scale = scale
        super().compile(**kwargs)


def test_own_compile_is_not_called_on_load_as_in_keras(tmp_path) -> None:  # type: ignore[no-untyped-def]
    custom = {"_OwnCompile": _OwnCompile, "_KerasOwnCompile": _KerasOwnCompile}
    for cls, name in ((_KerasOwnCompile, "keras"), (_OwnCompile, "netform")):
        model = cls()
        model(X)
        model.compile(scale=3.0, optimizer="sgd", loss="mse")
        keras.saving.save_model(model, tmp_path / f"{name}.keras")
        loaded = []
        for load in (keras.saving.load_model, nf.load):
            with pytest.warns(UserWarning, match=r"`compile\(\)` was not called as part of model loading"):
                loaded.append(load(tmp_path / f"{name}.keras", custom_objects=custom))
        by_keras, by_netform = loaded
        assert type(by_keras) is type(by_netform) is cls
        assert not hasattr(by_keras, "scale") and not hasattr(by_netform, "scale")
        assert getattr(by_keras, "optimizer", None) is None and getattr(by_netform, "optimizer", None) is None


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_file_objects_both_ways_like_keras(tmp_path, fmt) -> None:  # type: ignore[no-untyped-def]
    import io

    model = _mlp()
    model.fit(X, np.ones((4, 2), "float32"), verbose=0)
    expected = model.predict(X, verbose=0)
    ours = io.BytesIO()
    assert nf.save(model, ours, format=fmt if fmt == "h5" else None) == fmt
    # The bytes are a file Keras reads, and a file Keras writes loads from its bytes.
    (tmp_path / f"ours.{fmt}").write_bytes(ours.getvalue())
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / f"ours.{fmt}").predict(X, verbose=0), expected,
                               atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's note that .h5 is a legacy format
        keras.saving.save_model(model, tmp_path / f"theirs.{fmt}")
    with open(tmp_path / f"theirs.{fmt}", "rb") as fh:
        np.testing.assert_allclose(nf.load(fh, compile=False).predict(X, verbose=0), expected, atol=1e-6)
    ours.seek(0)
    loaded = nf.load(ours)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), expected, atol=1e-6)
    assert int(loaded.optimizer.iterations.numpy()) == 1
    with pytest.raises(FormatError, match="holds neither a .keras archive nor an HDF5 file"):
        nf.load(io.BytesIO(b"not a model"))


def test_unzipped_keras_directory_both_ways_like_keras(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from netform.errors import SaveError

    model = _mlp()
    model.fit(X, np.ones((4, 2), "float32"), verbose=0)
    expected = model.predict(X, verbose=0)
    keras.saving.save_model(model, tmp_path / "theirs", zipped=False)
    assert nf.save(model, tmp_path / "ours", zipped=False) == "keras"
    assert sorted(os.listdir(tmp_path / "ours")) == sorted(os.listdir(tmp_path / "theirs") + ["netform.json"])
    assert nf.detect_format(tmp_path / "theirs") == nf.detect_format(tmp_path / "ours") == "keras"
    for name in ("theirs", "ours"):
        for loaded in (keras.saving.load_model(tmp_path / name), nf.load(tmp_path / name)):
            np.testing.assert_allclose(loaded.predict(X, verbose=0), expected, atol=1e-6)
            assert int(loaded.optimizer.iterations.numpy()) == 1
        fresh = _mlp()
        assert nf.load_weights(fresh, tmp_path / name) == []
        np.testing.assert_allclose(fresh.predict(X, verbose=0), expected, atol=1e-6)
    nf.save(_mlp(), tmp_path / "ours", zipped=False)  # an earlier save is replaced
    assert not np.allclose(nf.load(tmp_path / "ours").predict(X, verbose=0), expected)
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("keep me")
    with pytest.raises(SaveError, match="holding files a Keras model directory does not: chapter1.tex"):
        nf.save(model, tmp_path / "thesis", zipped=False)
    assert (tmp_path / "thesis" / "chapter1.tex").read_text() == "keep me"
    with pytest.raises(SaveError, match="should not end in .keras"):
        nf.save(model, tmp_path / "m.keras", zipped=False)


def _wide() -> keras.Model:
    inputs = keras.Input((64,))
    return keras.Model(inputs, keras.layers.Dense(64, name="out")(keras.layers.Dense(128, name="hidden")(inputs)))


def test_sharded_weights_both_ways_like_keras(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from netform.errors import SaveError

    model = _wide()
    x = np.random.default_rng(0).normal(size=(2, 64)).astype("float32")
    (tmp_path / "k").mkdir()
    (tmp_path / "n").mkdir()
    model.save_weights(tmp_path / "k" / "m.weights.json", max_shard_size=0.00004)
    assert nf.save_weights(model, tmp_path / "n" / "m.weights.json", max_shard_size=0.00004) == "weights_h5"
    assert sorted(os.listdir(tmp_path / "n")) == sorted(os.listdir(tmp_path / "k")) == [
        "m.weights.json", "m_00000.weights.h5", "m_00001.weights.h5"]
    for folder in ("k", "n"):
        by_keras, by_netform = _wide(), _wide()
        by_keras.load_weights(tmp_path / folder / "m.weights.json")
        assert nf.load_weights(by_netform, tmp_path / folder / "m.weights.json") == []
        for loaded in (by_keras, by_netform):
            np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    nf.save_weights(model, tmp_path / "n" / "m.weights.json", max_shard_size=0.00004)  # an earlier save is replaced
    (tmp_path / "notes.weights.json").write_text('{"my": "notes"}')
    with pytest.raises(SaveError, match="without a 'weight_map'"):
        nf.save_weights(model, tmp_path / "notes.weights.json", max_shard_size=0.00004)
    assert (tmp_path / "notes.weights.json").read_text() == '{"my": "notes"}'
    assert not (tmp_path / "notes_00000.weights.h5").exists()
    with pytest.raises(SaveError, match="must end in .weights.json"):
        nf.save_weights(model, tmp_path / "m.weights.h5", max_shard_size=1)
    index = json.loads((tmp_path / "n" / "m.weights.json").read_text())
    index["weight_map"]["/layers/hidden/vars"] = ["../../secret.h5"]
    (tmp_path / "n" / "m.weights.json").write_text(json.dumps(index))
    with pytest.raises(FormatError, match="a shard must be a file name in the index's own folder"):
        nf.load_weights(_wide(), tmp_path / "n" / "m.weights.json")


@keras.saving.register_keras_serializable(package="nf_options_test")
class AliasedNet(nf.Model):
    """A layer reached under a second name: Keras saves it under the first name its walk meets."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self._core = keras.layers.Dense(4, name="core")
        self.z_out = keras.layers.Dense(2, name="z_out")

    @property
    def a_core(self):  # type: ignore[no-untyped-def]
        return self._core

    def call(self, inputs):  # type: ignore[no-untyped-def]
        return self.z_out(self.a_core(inputs))


@pytest.mark.parametrize("name", ["m.keras", "m.weights.h5", "m.ckpt"])
def test_weights_reached_through_a_property_alias(tmp_path, name) -> None:  # type: ignore[no-untyped-def]
    model = AliasedNet()
    model(X[:, :3])
    expected = model.predict(X[:, :3], verbose=0)
    if name.endswith(".keras"):
        nf.save(model, tmp_path / name)
        loaded = nf.load(tmp_path / name)
    else:
        nf.save_weights(model, tmp_path / name)
        loaded = AliasedNet()
        loaded(X[:, :3])
        assert nf.load_weights(loaded, tmp_path / name) == []
    np.testing.assert_allclose(loaded.predict(X[:, :3], verbose=0), expected, atol=1e-6)
    if name.endswith(".weights.h5"):  # the same layout as Keras's own file, which loads the same way
        model.save_weights(tmp_path / "k.weights.h5")
        import h5py

        with h5py.File(tmp_path / name) as ours, h5py.File(tmp_path / "k.weights.h5") as theirs:
            names: list[list[str]] = [[], []]
            ours.visit(names[0].append)
            theirs.visit(names[1].append)
            assert names[0] == names[1] and "a_core/vars/0" in names[0]
