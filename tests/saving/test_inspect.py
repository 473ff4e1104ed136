"""inspect() and convert() for the CLI."""

from __future__ import annotations

import numpy as np
import pytest

import netform.saving as nfs
from netform.errors import SaveError

from .conftest import predict


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m_savedmodel"])
def test_inspect_full_model(tmp_path, trained, name):
    path = str(tmp_path / name)
    fmt = nfs.save(trained["cnn"], path)
    info = nfs.inspect(path)
    assert info["format"] == fmt
    assert info["model_name"] == "cnn"
    assert info["model_class"].endswith("Sequential")
    assert [layer["class"] for layer in info["layers"]][:2] == ["Conv2D", "BatchNormalization"]
    assert info["parameters"] == trained["cnn"].count_params()
    assert info["optimizer"] == "SGD" and info["iterations"] == 2
    assert info["keras_version"] and info["netform_version"] and info["saved_at"]


def test_inspect_weights_file(tmp_path, trained):
    path = str(tmp_path / "w.weights.h5")
    nfs.save_weights(trained["mlp"], path)
    info = nfs.inspect(path)
    assert info["format"] == "weights_h5"
    assert info["parameters"] >= trained["mlp"].count_params()
    assert info["model_name"] == "mlp"


def test_convert_between_full_formats(tmp_path, cases, trained):
    src = str(tmp_path / "m.h5")
    nfs.save(trained["multi_io"], src)
    assert nfs.convert(src, str(tmp_path / "m.keras")) == "keras"
    assert nfs.convert(str(tmp_path / "m.keras"), str(tmp_path / "out"), format="savedmodel") == "savedmodel"
    back = nfs.load(str(tmp_path / "out"))
    for a, b in zip(predict(back, cases["multi_io"].x), predict(trained["multi_io"], cases["multi_io"].x)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert int(back.optimizer.iterations.numpy()) == 2
    with pytest.raises(SaveError, match="convert writes whole models"):
        nfs.convert(src, str(tmp_path / "w.weights.h5"))


def test_public_names():
    assert set(nfs.__all__) == {"FORMATS", "atomic_path", "convert", "detect_format", "inspect", "load",
                                "load_weights", "save", "save_weights"}
    assert nfs.FORMATS == ("keras", "h5", "savedmodel", "weights_h5", "legacy_h5_weights", "tf_checkpoint")
