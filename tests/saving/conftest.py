"""Tiny representative models and data for the saving tests."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dataclasses import dataclass  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@dataclass
class Case:
    """A model factory with matching data."""

    name: str
    build: Callable[[], Any]
    x: Any
    y: Any

    def fresh(self) -> Any:
        """A new compiled model."""
        return self.build()

    def trained(self, epochs: int = 1) -> Any:
        model = self.build()
        model.fit(self.x, self.y, epochs=epochs, batch_size=8, shuffle=False, verbose=0)
        return model


def _mlp() -> Any:
    import keras

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")], name="mlp")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _cnn() -> Any:
    import keras

    model = keras.Sequential([
        keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(),
        keras.layers.ReLU(), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)], name="cnn")
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse", metrics=["mae"])
    return model


def _multi_io() -> Any:
    import keras

    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    h = keras.layers.Concatenate()([keras.layers.Dense(5, activation="tanh")(a), b])
    o1 = keras.layers.Dense(2, name="o1")(h)
    o2 = keras.layers.Dense(1, activation="sigmoid", name="o2")(h)
    model = keras.Model([a, b], [o1, o2], name="multi_io")
    model.compile(optimizer="rmsprop", loss={"o1": "mse", "o2": "binary_crossentropy"},
                  metrics={"o2": ["accuracy"]})
    return model


def _lstm() -> Any:
    import keras

    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(1)],
                             name="lstm")
    model.compile(optimizer="adam", loss="mae")
    return model


def _nested() -> Any:
    import keras

    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, keras.layers.Dense(6, activation="relu")(inner_in), name="encoder")
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(2)(inner(x)), name="nested")
    model.compile(optimizer="adam", loss="mse")
    return model


def _cases() -> dict[str, Case]:
    rng = np.random.default_rng(0)
    f = lambda *s: rng.standard_normal(s).astype("float32")  # noqa: E731
    return {
        "mlp": Case("mlp", _mlp, f(16, 8), rng.integers(0, 3, (16,))),
        "cnn": Case("cnn", _cnn, f(16, 6, 6, 1), f(16, 2)),
        "multi_io": Case("multi_io", _multi_io, [f(16, 4), f(16, 3)],
                         {"o1": f(16, 2), "o2": rng.integers(0, 2, (16, 1)).astype("float32")}),
        "lstm": Case("lstm", _lstm, f(16, 5, 3), f(16, 1)),
        "nested": Case("nested", _nested, f(16, 4), f(16, 2)),
    }


CASE_NAMES = ["mlp", "cnn", "multi_io", "lstm", "nested"]


@pytest.fixture(scope="session")
def cases() -> dict[str, Case]:
    return _cases()


@pytest.fixture(scope="session")
def trained(cases: dict[str, Case]) -> dict[str, Any]:
    """One trained model per case, shared by every read-only test."""
    return {name: case.trained(1) for name, case in cases.items()}


def predict(model: Any, x: Any) -> list[np.ndarray]:
    out = model.predict(x, verbose=0) if hasattr(model, "predict") else model(x)
    if isinstance(out, dict):
        out = [out[k] for k in sorted(out)]
    return [np.asarray(o) for o in (out if isinstance(out, list) else [out])]
