"""One round trip for real Keras models: from_keras → YAML → load_spec → build → same numbers.

Shared by the keras.applications test and the keras-io examples corpus.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

import netform as nf
from netform.builder import copy_weights


def outputs_of(model: keras.Model, xs: Any) -> list[np.ndarray]:
    """The model's outputs on ``xs`` (inference mode) as a flat list of arrays, dict outputs in key order."""
    y = model(xs, training=False)
    if isinstance(y, dict):
        y = [y[k] for k in sorted(y)]
    return [np.asarray(t) for t in (y if isinstance(y, (list, tuple)) else [y])]


def round_trip(model: keras.Model, xs: Any, *, atol: float = 1e-5,
               random_outputs: tuple[int, ...] = (), static_params: bool = True) -> tuple[nf.ModelSpec, keras.Model]:
    """Export ``model``, write and read the YAML, rebuild it, copy the weights and compare everything.

    Checks: the YAML reads back to the same spec; the rebuilt model has the same
    parameter count as ``model`` and as ``nf.summary`` works it out without
    TensorFlow; with ``model``'s weights it gives the same outputs on ``xs``
    (within ``atol``); outputs listed in ``random_outputs`` (drawn at random at
    inference) by shape only. With ``static_params=False`` (a layer without a
    static rule, such as a plain registered Keras class) the summary must say
    the count comes at build time instead.
    """
    spec = nf.from_keras(model)
    text = spec.to_yaml()
    spec2 = nf.load_spec(text)
    assert spec2 == spec
    rebuilt = nf.build(spec2)
    assert rebuilt.count_params() == model.count_params()
    assert nf.summary(spec2).total_params == (model.count_params() if static_params else None)
    copy_weights(model, rebuilt, name_map=spec._keras_names)
    expected, got = outputs_of(model, xs), outputs_of(rebuilt, xs)
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(expected, got)):
        assert a.shape == b.shape
        if i not in random_outputs:
            np.testing.assert_allclose(b, a, atol=atol, rtol=0)
    return spec2, rebuilt
