"""A file Keras builds is read as Keras reads it: ``PReLU(shared_axes=[-1])``.

netform's schema counts PReLU's axes from 1 (the first after the batch), so it refuses ``-1`` and ``0``. Keras
takes both (it indexes the slopes' shape with ``axis - 1``: ``-1`` shares the axis before the last). A file
holding one was refused by ``inspect`` and ``nf.load`` as "Keras refuses to build this layer", which is not so.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import netform as nf
from netform.cli._main import main


@pytest.mark.parametrize("axes", [[-1], [0], [0, 1]])
def test_a_prelu_with_axes_keras_takes_loads_and_inspects(
    tmp_path: Path, axes: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    model = keras.Sequential(
        [keras.Input((3, 5)), keras.layers.PReLU(shared_axes=axes, alpha_initializer="ones"), keras.layers.Dense(2)]
    )
    path = tmp_path / "prelu.keras"
    model.save(path)
    loaded = nf.load(path)
    assert loaded.count_params() == model.count_params()
    x = np.random.default_rng(0).normal(size=(2, 3, 5)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6, atol=1e-6)
    assert main(["inspect", str(path)]) == 0
    assert f"parameters: {model.count_params()}" in capsys.readouterr().out


def test_a_spec_prelu_counts_axes_from_one() -> None:
    with pytest.raises(nf.SpecError, match="shared_axes"):
        nf.load_spec({"name": "m", "input": {"shape": [3, 5]}, "layers": [{"type": "PReLU", "shared_axes": [-1]}]})
