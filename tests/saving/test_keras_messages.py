"""netform's saving errors carry the phrase Keras's own error has in the same situation.

Keras's tests (and users' code) match Keras's wording; netform's messages
keep their own explanation and contain Keras's phrase too. Each case runs
the Keras function on the same input and checks that the phrase is Keras's.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import netform as nf  # noqa: E402
from netform.errors import FormatError, SaveError, UnsafeFileError  # noqa: E402


def _both_say(phrase: str, keras_call: Callable[[], Any], netform_call: Callable[[], Any],
              netform_error: type[Exception]) -> None:
    with pytest.raises(ValueError, match=phrase):
        keras_call()
    with pytest.raises(netform_error, match=phrase):
        netform_call()


def _model(units: tuple[int, ...] = (4, 5)) -> Any:
    return nf.Sequential([keras.Input((3,)), *(keras.layers.Dense(u) for u in units)])


def test_unknown_extension_for_saving(tmp_path: Path) -> None:
    path = str(tmp_path / "model.png")
    _both_say("Invalid filepath extension for saving", lambda: keras.saving.save_model(_model(), path),
              lambda: nf.save(_model(), path), SaveError)


def test_missing_file_and_unknown_format_on_load(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.keras")
    _both_say("File not found", lambda: keras.saving.load_model(missing), lambda: nf.load(missing), FormatError)
    pickle = str(tmp_path / "model.pkl")
    _both_say("File format not supported", lambda: keras.saving.load_model(pickle), lambda: nf.load(pickle),
              FormatError)
    _both_say("File format not supported", lambda: keras.Sequential([keras.layers.Dense(1)]).load_weights(pickle),
              lambda: nf.load_weights(_model(), pickle), FormatError)


def test_unzipped_save_to_a_keras_name(tmp_path: Path) -> None:
    path = str(tmp_path / "model.keras")
    _both_say("should not end in", lambda: keras.saving.save_model(_model(), path, zipped=False),
              lambda: nf.save(_model(), path, zipped=False), SaveError)


def test_unbuilt_model_weights(tmp_path: Path) -> None:
    built = _model()
    path = str(tmp_path / "m.weights.h5")
    nf.save_weights(built, path)

    def unbuilt() -> Any:
        return nf.Sequential([keras.layers.Dense(4)])

    def keras_unbuilt() -> Any:
        return keras.Sequential([keras.layers.Dense(4)])

    _both_say("You are saving a model that has not yet been built",
              lambda: keras_unbuilt().save_weights(str(tmp_path / "k.weights.h5")),
              lambda: nf.save_weights(unbuilt(), str(tmp_path / "n.weights.h5")), FormatError)
    _both_say("You are loading weights into a model that has not yet been built",
              lambda: keras_unbuilt().load_weights(path), lambda: nf.load_weights(unbuilt(), path), FormatError)


def test_partial_load_wording(tmp_path: Path) -> None:
    path = str(tmp_path / "m.keras")
    nf.save(_model((4, 5)), path)
    # A layer of a different shape: "must match"; a layer the file lacks: "received 0 variables".
    _both_say("must match", lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                                                      keras.layers.Dense(6)]).load_weights(path),
              lambda: nf.load_weights(_model((4, 6)), path), FormatError)
    _both_say("received 0 variables", lambda: keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(5), keras.layers.Dense(5)]).load_weights(path),
        lambda: nf.load_weights(_model((4, 5, 5)), path), FormatError)


def test_safe_mode_refusal_says_arbitrary_code_execution(tmp_path: Path) -> None:
    inputs = keras.Input((3,))
    model = nf.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = str(tmp_path / "lambda.keras")
    nf.save(model, path)
    _both_say("arbitrary code execution", lambda: keras.saving.load_model(path), lambda: nf.load(path),
              FormatError)


def test_external_link_names_the_link_kind(tmp_path: Path) -> None:
    target = str(tmp_path / "target.h5")
    nf.save(_model(), target)
    path = str(tmp_path / "linked.h5")
    with h5py.File(path, "w") as f:
        f["model_weights"] = h5py.ExternalLink(target, "/model_weights")
    _both_say("ExternalLink", lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                                                        keras.layers.Dense(5)]).load_weights(path),
              lambda: nf.load_weights(_model(), path), FormatError)


def test_missing_path_without_extension(tmp_path: Path) -> None:
    missing = str(tmp_path / "my_saved_model")
    _both_say("File format not supported", lambda: keras.saving.load_model(missing), lambda: nf.load(missing),
              FormatError)
    _both_say("Please ensure the file is an accessible", lambda: keras.saving.load_model(missing + ".keras"),
              lambda: nf.load(missing + ".keras"), FormatError)


def test_save_refuses_save_format_and_unknown_keywords(tmp_path: Path) -> None:
    path = str(tmp_path / "m.keras")
    _both_say("The `save_format` argument is deprecated",
              lambda: keras.saving.save_model(_model(), "model.txt", save_format=True),
              lambda: nf.save(_model(), "model.txt", save_format=True), SaveError)
    _both_say(r"The following argument\(s\) are not supported", lambda: keras.saving.save_model(
        _model(), path, random_arg=True), lambda: nf.save(_model(), path, random_arg=True), SaveError)
    assert not os.path.exists(path)


def test_saving_h5_logs_keras_legacy_warning(tmp_path: Path) -> None:
    from unittest import mock

    from absl import logging

    with mock.patch.object(logging, "warning") as keras_warn:
        keras.saving.save_model(keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)]),
                                str(tmp_path / "k.h5"))
    with mock.patch.object(logging, "warning") as netform_warn:
        nf.save(_model(), str(tmp_path / "n.h5"))
    keras_warn.assert_called_once()
    netform_warn.assert_called_once_with(*keras_warn.call_args.args)
    with mock.patch.object(logging, "warning") as no_warn:
        nf.save(_model(), str(tmp_path / "n.keras"))
    no_warn.assert_not_called()


def test_soft_link_at_the_top_is_refused_by_name(tmp_path: Path) -> None:
    path = str(tmp_path / "softlink.h5")
    with h5py.File(path, "w") as f:
        f.create_group("real_weights").create_dataset("inner", data=np.zeros((1,)))
        f["model_weights"] = h5py.SoftLink("/real_weights")
    _both_say("SoftLink", lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                                                    keras.layers.Dense(5)]).load_weights(path),
              lambda: nf.load_weights(_model(), path), UnsafeFileError)
