"""netform's loading errors are also the built-in exception Keras raises for the same file.

Code written for Keras catches Keras's classes: ``keras.callbacks.BackupAndRestore``
catches ``OSError`` (h5py's, for a damaged backup) to fall back to its previous
backup, and Keras's own tests expect a ``TypeError`` when a saved object cannot be
rebuilt from its config. Each case runs Keras on the same file first.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import netform as nf  # noqa: E402
from netform.errors import CorruptFileError, FormatError, IncompatibleFileError  # noqa: E402


def _model() -> Any:
    return nf.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


def _keras_error(call: Any) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("name", ["w.weights.h5", "m.h5", "m.hdf5"])
def test_a_h5_name_that_is_no_hdf5_file_is_an_oserror_as_in_keras(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("0")
    load = (lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).load_weights(path)) \
        if name.endswith(".weights.h5") else (lambda: keras.saving.load_model(path))
    assert isinstance(_keras_error(load), OSError)
    with pytest.raises(CorruptFileError, match="not a model or weights file netform can read") as caught:
        nf.load_weights(_model(), path) if name.endswith(".weights.h5") else nf.load(path)
    assert isinstance(caught.value, OSError) and isinstance(caught.value, FormatError)
    assert isinstance(caught.value, ValueError)  # still netform's FormatError, a ValueError


def test_a_truncated_weights_file_is_an_oserror_as_in_keras(tmp_path: Path) -> None:
    model = _model()
    model.save_weights(tmp_path / "full.weights.h5")
    data = (tmp_path / "full.weights.h5").read_bytes()
    path = tmp_path / "cut.weights.h5"
    path.write_bytes(data[: len(data) // 2])
    assert isinstance(_keras_error(lambda: _model().load_weights(path)), OSError)
    with pytest.raises(OSError) as caught:
        nf.load_weights(_model(), path)
    assert isinstance(caught.value, FormatError)


def test_other_unreadable_files_stay_value_errors_as_in_keras(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    path.write_text("0")
    keras_error = _keras_error(lambda: keras.saving.load_model(path))
    assert isinstance(keras_error, ValueError) and not isinstance(keras_error, OSError)
    with pytest.raises(FormatError) as caught:
        nf.load(path)
    assert not isinstance(caught.value, OSError)


class LoadsWithNetform(nf.Sequential):
    """A model whose ``load_weights`` is ``nf.load_weights`` (as Keras's suite runs it on netform)."""

    def load_weights(self, filepath: Any, *args: Any, **kwargs: Any) -> None:
        nf.load_weights(self, filepath, *args, **kwargs)


@pytest.mark.slow
def test_backup_and_restore_falls_back_past_a_damaged_backup(tmp_path: Path) -> None:
    """Keras's callback catches OSError from the load and resumes from the previous backup."""
    epochs = {}
    for name, cls in (("keras", keras.Sequential), ("netform", LoadsWithNetform)):
        folder = tmp_path / name

        def fit(epochs: int) -> Any:
            keras.utils.set_random_seed(0)
            model = cls([keras.Input((3,)), keras.layers.Dense(2)])
            model.compile("sgd", "mse", run_eagerly=True)  # eager: no tracing, a few ms a step
            backup = keras.callbacks.BackupAndRestore(folder, double_checkpoint=True, delete_checkpoint=False)
            history = model.fit(np.ones((8, 3), "float32"), np.ones((8, 2), "float32"), batch_size=4,
                                epochs=epochs, verbose=0, callbacks=[backup])
            return backup, history, model

        backup, _, _ = fit(3)
        Path(backup._weights_path).write_text("0")  # the latest backup is damaged; the one before is not
        _, history, model = fit(5)
        epochs[name] = (history.epoch, int(model.optimizer.iterations))
    assert epochs["netform"] == epochs["keras"]
    assert epochs["keras"][0] == [2, 3, 4]  # resumed after epoch 2, from the previous backup


class NoFromConfig:
    """An activation object without ``from_config`` (as in Keras's saving tests)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def __call__(self, inputs: Any) -> Any:
        return inputs * self.factor

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor}


class HoldsLayers(keras.layers.Layer):
    """A layer whose config holds layers it does not deserialize (as in Keras's saving tests)."""

    def __init__(self, first_layer: Any, second_layer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_layer = first_layer
        self.second_layer = second_layer if second_layer is not None else keras.layers.Dense(8)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "first_layer": self.first_layer, "second_layer": self.second_layer}

    def call(self, inputs: Any) -> Any:
        return self.first_layer(self.second_layer(inputs))


class Factor(keras.layers.Layer):
    def __init__(self, factor: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x: Any) -> Any:
        return x * self.factor

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


@pytest.mark.parametrize("case", ["no_from_config", "layers_in_config"])
def test_an_object_its_class_cannot_rebuild_is_a_type_error_as_in_keras(tmp_path: Path, case: str) -> None:
    inputs = keras.Input((4, 4) if case == "no_from_config" else (32,))
    if case == "no_from_config":
        outputs = keras.layers.Dense(1, activation=NoFromConfig(0.5))(inputs)
        custom, phrase = {"NoFromConfig": NoFromConfig}, "Unable to reconstruct an instance"
    else:
        outputs = HoldsLayers(first_layer=Factor(0.5))(inputs)
        custom, phrase = {"HoldsLayers": HoldsLayers, "Factor": Factor}, "are explicitly deserialized"
    path = tmp_path / "m.keras"
    nf.save(nf.Model(inputs, outputs), path)
    with pytest.raises(TypeError, match=phrase):
        keras.saving.load_model(path, custom_objects=custom)
    with pytest.raises(IncompatibleFileError, match=phrase) as caught:
        nf.load(path, custom_objects=custom)
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, FormatError)
    assert str(path) in str(caught.value)
