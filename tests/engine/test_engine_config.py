"""fit_from_training_config: a spec's `training:` dict drives compile and fit."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import netform.engine as nfe
from netform.errors import EngineError
from engine_helpers import make_mlp


def test_full_training_config(data):
    x, y = data
    model = make_mlp(nfe.Model)
    training = {
        "optimizer": {"type": "Adam", "learning_rate": 1e-2},
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
        "batch_size": 16,
        "epochs": 3,
        "validation_split": 0.2,
        "shuffle": False,
        "callbacks": [{"type": "EarlyStopping", "monitor": "val_loss", "patience": 2}],
        "steps_per_execution": 2,
        "jit_compile": False,
        "distribution": {"strategy": "default"},
    }
    hist = nfe.fit_from_training_config(model, training, x, y, verbose=0)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-2)
    assert model.steps_per_execution == 2
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(hist.telemetry) == len(hist.epoch)
    assert len(hist.epoch) == 3


def test_minimal_and_per_output_config(data):
    x, y = data
    inp = keras.Input((8,), name="x")
    model = nfe.Model(inp, {"c": keras.layers.Dense(3, activation="softmax")(inp), "r": keras.layers.Dense(1)(inp)})
    training = {"optimizer": "sgd", "loss": {"c": "sparse_categorical_crossentropy", "r": {"type": "MeanSquaredError"}},
                "metrics": {"c": ["accuracy"]}, "loss_weights": {"c": 1.0, "r": 0.1}}
    hist = nfe.fit_from_training_config(model, training, x, {"c": y, "r": np.zeros((90, 1))}, verbose=0)
    assert "c_accuracy" in hist.history and len(hist.epoch) == 1


def test_mirrored_distribution_with_model_factory(data):
    x, y = data
    training = {"optimizer": "sgd", "loss": "sparse_categorical_crossentropy",
                "distribution": {"strategy": "mirrored", "devices": ["/cpu:0"]}}
    hist = nfe.fit_from_training_config(lambda: make_mlp(nfe.Model), training, x, y, verbose=0)
    assert len(hist.epoch) == 1


@pytest.mark.parametrize(
    ("training", "match"),
    [
        ({"optimizer": {"type": "Adamm"}}, r"training.optimizer: unknown optimizer type 'Adamm'.*Did you mean 'Adam'"),
        ({"optimizer": "adam", "loss": "mse", "callbacks": [{"type": "EarlyStoping"}]},
         r"training.callbacks\[0\]: unknown callback type 'EarlyStoping'.*Did you mean 'EarlyStopping'"),
        ({"epochz": 3}, r"training: unknown key 'epochz'.*Did you mean 'epochs'"),
        ({"optimizer": {"type": "os.system"}}, r"unknown optimizer type 'os.system'"),
        ({"optimizer": {"type": "SGD", "learning_rat": 0.1}}, r"could not create SGD"),
    ],
)
def test_config_errors(training, match, data):
    x, y = data
    with pytest.raises(EngineError, match=match):
        nfe.fit_from_training_config(make_mlp(nfe.Model), training, x, y, verbose=0)
