"""``nf.load_weights`` refuses the keywords Keras's ``load_weights`` refuses for each kind of file.

Keras: ``objects_to_skip`` only for weights files (``.weights.h5``), ``by_name``
only for legacy ``.h5``/``.hdf5`` files, and any other keyword is "Invalid
keyword arguments" (a ``ValueError``). Each case runs Keras on the same file.
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
from netform.errors import FormatError  # noqa: E402


def _model() -> Any:
    return nf.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="hidden"), keras.layers.Dense(2, name="out")])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("kwargs")
    model = _model()
    paths = {"keras": folder / "m.keras", "weights_h5": folder / "m.weights.h5", "h5": folder / "m.h5"}
    model.save(paths["keras"])
    model.save_weights(paths["weights_h5"])
    nf.save(model, paths["h5"])
    return paths


CASES = [
    ("keras", {"objects_to_skip": []}, "only supports loading '.weights.h5' files"),
    ("keras", {"by_name": True}, "only supports loading legacy '.h5' or '.hdf5' files"),
    ("keras", {"bad_kwarg": None}, "Invalid keyword arguments"),
    ("weights_h5", {"by_name": True}, "only supports loading legacy '.h5' or '.hdf5' files"),
    ("h5", {"objects_to_skip": []}, "only supports loading '.weights.h5' files"),
]


@pytest.mark.parametrize(("kind", "kwargs", "phrase"), CASES, ids=[f"{k}-{next(iter(a))}" for k, a, _ in CASES])
def test_refused_as_keras_refuses_it(files: dict[str, Path], kind: str, kwargs: dict[str, Any],
                                     phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2)]).load_weights(
            files[kind], **kwargs)
    target = _model()
    before = [np.asarray(w).copy() for w in target.weights]
    with pytest.raises(FormatError, match=phrase):
        nf.load_weights(target, files[kind], **kwargs)
    for old, new in zip(before, target.weights, strict=True):  # nothing was loaded
        np.testing.assert_array_equal(old, np.asarray(new))


def test_the_keywords_keras_takes_still_load(files: dict[str, Path]) -> None:
    source = _model()
    nf.load_weights(source, files["keras"])
    skipping = _model()
    out_before = skipping.get_layer("out").kernel.numpy().copy()
    assert nf.load_weights(skipping, files["weights_h5"], objects_to_skip=[skipping.get_layer("out")]) == []
    np.testing.assert_array_equal(skipping.get_layer("out").kernel.numpy(), out_before)
    np.testing.assert_array_equal(skipping.get_layer("hidden").kernel.numpy(),
                                  source.get_layer("hidden").kernel.numpy())
    by_name = _model()
    assert nf.load_weights(by_name, files["h5"], by_name=True) == []
    for a, b in zip(by_name.weights, source.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
