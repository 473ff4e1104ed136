"""Weights saved under one attribute name load into a model that reaches the layer under another.

Keras's load tries each name a model reaches an object under: a model whose
layer is ``self.a_dense``, with a property ``dense`` returning it, loads a
file written by a model whose layer is ``self.dense``. netform checks the file
against the model before loading and must accept the same files, and still
refuse what Keras refuses.
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


def _classes(base: type) -> tuple[type, type]:
    class Normal(base):  # type: ignore[misc, valid-type]
        def __init__(self, units: int = 3) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(units)

        def call(self, x: Any) -> Any:
            return self.dense(x)

    class Aliased(base):  # type: ignore[misc, valid-type]
        def __init__(self, units: int = 3) -> None:
            super().__init__()
            self.a_dense = keras.layers.Dense(units)  # met first by Keras's walk ("a_dense" < "dense")

        @property
        def dense(self) -> Any:
            return self.a_dense

        def call(self, x: Any) -> Any:
            return self.dense(x)

    return Normal, Aliased


def _built(cls: type, units: int = 3) -> Any:
    model = cls(units)
    model(np.ones((2, 2), "float32"))
    return model


def test_loads_as_keras_loads(tmp_path: Path) -> None:
    results = {}
    for name, base in (("keras", keras.Model), ("netform", nf.Model)):
        normal_cls, aliased_cls = _classes(base)
        keras.utils.set_random_seed(1)
        source = _built(normal_cls)
        path = tmp_path / f"{name}.weights.h5"
        source.save_weights(path)
        target = _built(aliased_cls)
        if name == "keras":
            target.load_weights(path)
        else:
            assert nf.load_weights(target, path) == []
        np.testing.assert_array_equal(target.dense.kernel.numpy(), source.dense.kernel.numpy())
        np.testing.assert_array_equal(target.dense.bias.numpy(), source.dense.bias.numpy())
        results[name] = target.dense.kernel.numpy()
    np.testing.assert_array_equal(results["keras"], results["netform"])


def test_a_shape_that_differs_under_the_other_name_is_still_refused(tmp_path: Path) -> None:
    normal_cls, aliased_cls = _classes(nf.Model)
    path = tmp_path / "w.weights.h5"
    _built(normal_cls, units=4).save_weights(path)
    keras_normal, keras_aliased = _classes(keras.Model)
    with pytest.raises(ValueError):
        _built(keras_aliased).load_weights(path)
    target = _built(aliased_cls)
    before = target.dense.kernel.numpy().copy()
    with pytest.raises(FormatError, match="dense"):
        nf.load_weights(target, path)
    np.testing.assert_array_equal(target.dense.kernel.numpy(), before)  # nothing loaded
