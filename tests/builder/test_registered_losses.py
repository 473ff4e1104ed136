"""Losses and metrics registered with Keras are usable in a spec's ``training:`` as ``"package>Name"``."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import ops  # noqa: E402

import netform as nf  # noqa: E402
from netform.cli._main import main  # noqa: E402
from netform.engine import fit_from_training_config  # noqa: E402


@keras.saving.register_keras_serializable(package="nftest_loss")
class ScaledMSE(keras.losses.Loss):
    """scale * mean squared error."""

    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return self.scale * ops.mean(ops.square(y_true - y_pred), axis=-1)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="nftest_loss")
class Needs(keras.losses.Loss):
    def __init__(self, power, **kwargs):
        super().__init__(**kwargs)
        self.power = power

    def call(self, y_true, y_pred):
        return ops.mean(ops.abs(y_true - y_pred) ** self.power, axis=-1)

    def get_config(self):
        return {**super().get_config(), "power": self.power}


@keras.saving.register_keras_serializable(package="nftest_loss")
def mean_abs(y_true, y_pred):
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


@keras.saving.register_keras_serializable(package="nftest_loss")
class MeanGap(keras.metrics.MeanMetricWrapper):
    def __init__(self, name="mean_gap", dtype=None):
        super().__init__(mean_abs, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


SPEC = """
netform: 1
name: reg
kind: functional
inputs: {x: {shape: [4]}}
nodes:
  h: {type: Dense, units: 5, activation: tanh, in: x}
  out: {type: Dense, units: 2, in: h}
outputs: [out]
training:
  optimizer: {type: SGD, learning_rate: 0.05}
  loss: LOSS
  metrics: METRICS
  batch_size: 8
  epochs: 3
  shuffle: false
  steps_per_execution: 1
"""


def _spec(loss: str = '{type: "nftest_loss>ScaledMSE", scale: 2.0}', metrics: str = "[]") -> str:
    return SPEC.replace("LOSS", loss).replace("METRICS", metrics)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    return x, np.stack([x.sum(axis=1), x[:, 0] * x[:, 1]], axis=1).astype("float32")


def _keras_twin(model: keras.Model) -> keras.Model:
    """The same graph as a plain keras.Model, with the same weights."""
    x = keras.Input((4,))
    out = keras.layers.Dense(2, name="out")(keras.layers.Dense(5, activation="tanh", name="h")(x))
    twin = keras.Model(x, out)
    twin.set_weights(model.get_weights())
    return twin


def _train_both(spec_text: str, loss, metrics):
    spec = nf.load_spec(spec_text)
    x, y = _data()
    built: list[keras.Model] = []

    def make() -> keras.Model:
        built.append(nf.build(spec))
        built.append(_keras_twin(built[0]))  # its weights taken before any training
        return built[0]

    history = fit_from_training_config(make, spec.training.to_dict(), x, y, verbose=0)
    twin = built[1]
    twin.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss, metrics=metrics)
    reference = twin.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    return built[0], history, twin, reference


def _assert_same(model, history, twin, reference) -> None:
    for mine, theirs in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(mine, theirs, atol=1e-6)
    assert set(history.history) == set(reference.history)
    for key, values in reference.history.items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-6, atol=1e-6)


def test_a_spec_trains_with_a_registered_loss_and_metrics_like_keras():
    text = _spec(metrics='["nftest_loss>mean_abs", {type: "nftest_loss>MeanGap", name: gap}]')
    spec = nf.load_spec(text)
    assert spec.training.loss.type == "nftest_loss>ScaledMSE" and spec.training.loss.arguments == {"scale": 2.0}
    model, history, twin, reference = _train_both(text, ScaledMSE(2.0), [mean_abs, MeanGap(name="gap")])
    assert isinstance(model.loss, ScaledMSE) and model.loss.scale == 2.0
    assert {"loss", "mean_abs", "gap"} <= set(history.history)
    _assert_same(model, history, twin, reference)


def test_the_name_alone_makes_a_registered_class_with_its_defaults_or_uses_a_function():
    model, history, twin, reference = _train_both(_spec('"nftest_loss>ScaledMSE"'), ScaledMSE(), [])
    assert type(model.loss) is ScaledMSE and model.loss.scale == 1.0
    _assert_same(model, history, twin, reference)
    model, history, twin, reference = _train_both(_spec('{out: "nftest_loss>mean_abs"}'), {"out": mean_abs}, [])
    _assert_same(model, history, twin, reference)


@pytest.mark.parametrize(
    ("loss", "metrics", "match"),
    [
        ('"elsewhere>Loss"', "[]", r"training\.loss: unknown loss 'elsewhere>Loss': no Keras loss class or function "
                                   r"is registered under that name.*--plugin\).*register_keras_serializable"
                                   r"\(package=\"elsewhere\"\); a spec never imports"),
        ('{type: "nftest_loss>ScaledMSE", scal: 2.0}', "[]",
         r"training\.loss: .*nftest_loss>ScaledMSE takes no argument 'scal' \(Did you mean 'scale'\?\); its arguments: "
         r"scale, name, reduction, dtype"),
        ('{type: "nftest_loss>Needs"}', "[]", r"nftest_loss>Needs needs the argument power"),
        ('{type: "nftest_loss>mean_abs", delta: 1}', "[]", r"nftest_loss>mean_abs is a loss function, which takes "
                                                           r"no arguments"),
        ('"nftest_loss>MeanGap"', "[]", r"unknown loss 'nftest_loss>MeanGap'"),  # a metric, not a loss
        ("mse", '["nftest_loss>ScaledMSE"]', r"training\.metrics\[0\]: unknown metric 'nftest_loss>ScaledMSE'"),
    ],
)
def test_unregistered_or_misused_names_are_refused(loss: str, metrics: str, match: str):
    with pytest.raises(nf.SpecError, match=match):
        nf.load_spec(_spec(loss, metrics))


def test_a_refused_name_imports_nothing():
    assert "antigravity" not in sys.modules
    with pytest.raises(nf.SpecError, match="unknown loss 'antigravity>Fly'"):
        nf.load_spec(_spec('"antigravity>Fly"'))
    assert "antigravity" not in sys.modules


def test_the_engine_refuses_unregistered_names_of_a_plain_training_dict():
    x, y = _data()
    model = _keras_twin(nf.build(nf.load_spec(_spec())))
    with pytest.raises(nf.EngineError, match=r"training\.loss: unknown loss 'nowhere>L': no Keras loss class"):
        fit_from_training_config(model, {"loss": "nowhere>L"}, x, y, verbose=0)
    with pytest.raises(nf.EngineError, match=r"training\.metrics\[0\]: nftest_loss>MeanGap takes no argument 'k'"):
        fit_from_training_config(model, {"loss": "mse", "metrics": [{"type": "nftest_loss>MeanGap", "k": 1}]}, x, y,
                                 verbose=0)


def test_from_keras_writes_a_registered_loss_and_metrics_by_their_registered_names():
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(2, name="out")(x))
    model.compile(optimizer="adam", loss=ScaledMSE(3.0), metrics=[mean_abs, MeanGap()])
    spec = nf.from_keras(model)
    assert spec.training is not None
    assert spec.training.loss.type == "nftest_loss>ScaledMSE" and spec.training.loss.arguments == {"scale": 3.0}
    assert [m if isinstance(m, str) else m.type for m in spec.training.metrics] == [
        "nftest_loss>mean_abs", "nftest_loss>MeanGap"]
    text = spec.to_yaml()
    assert "type: nftest_loss>ScaledMSE" in text
    assert nf.load_spec(text).training == spec.training


def test_cli_train_loads_a_registered_loss_through_plugin(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_losses.py").write_text(
        "import keras\nfrom keras import ops\n\n"
        "@keras.saving.register_keras_serializable(package='plugloss')\n"
        "class Quartic(keras.losses.Loss):\n"
        "    def __init__(self, weight=1.0, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.weight = weight\n"
        "    def call(self, y_true, y_pred):\n"
        "        return self.weight * ops.mean((y_true - y_pred) ** 4, axis=-1)\n"
        "    def get_config(self):\n"
        "        return {**super().get_config(), 'weight': self.weight}\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(_spec('{type: "plugloss>Quartic", weight: 0.5}').replace("epochs: 3", "epochs: 1"))
    x, y = _data()
    np.savez(tmp_path / "d.npz", x=x, out=y)
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["train", str(spec), "--data", str(tmp_path / "d.npz"), "--verbose", "0", "--out-dir", str(tmp_path),
            "-o", str(tmp_path / "m.keras")]
    assert main(args) != 0
    assert "unknown loss 'plugloss>Quartic'" in capsys.readouterr().err
    assert main([*args, "--plugin", "my_losses"]) == 0
    assert "trained 'reg' for 1 epoch(s)" in capsys.readouterr().out
    quartic = sys.modules["my_losses"].Quartic
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.loss, quartic) and loaded.loss.weight == 0.5
