"""Every zoo spec trains a few steps and round-trips through every save format."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netform as nf
from netform.engine import fit_from_training_config
from tests.conftest import MODELS

SPECS = sorted(MODELS.glob("*.yaml"))
N = 16


def _inputs(spec: nf.ModelSpec, rng: np.random.Generator) -> Any:
    arrays = []
    for inp in spec.inputs.values():
        shape = (N, *[d or 4 for d in inp.shape])
        if inp.dtype.startswith("int"):
            arrays.append(rng.integers(0, 8, size=shape).astype(inp.dtype))
        else:
            arrays.append(rng.normal(size=shape).astype("float32"))
    return arrays[0] if len(arrays) == 1 else arrays


def _loss_for(training: dict[str, Any], name: str, index: int) -> str:
    loss = training.get("loss")
    if isinstance(loss, dict):
        loss = loss.get(name, next(iter(loss.values())))
    return str(loss if isinstance(loss, str) else (loss or {}).get("type", "mse")).lower()


def _targets(model: Any, spec: nf.ModelSpec, x: Any, training: dict[str, Any], rng: np.random.Generator) -> Any:
    sample = model.predict(x, verbose=0)
    shapes = [tuple(np.shape(o)) for o in (sample if isinstance(sample, (list, tuple)) else [sample])]
    names = list(spec.outputs or []) or [model.name]
    ys = []
    for i, shape in enumerate(shapes):
        loss = _loss_for(training, names[i] if i < len(names) else "", i)
        full = (N, *[d or 4 for d in shape[1:]])
        if "sparse" in loss:
            ys.append(rng.integers(0, shape[-1], size=full[:-1]))
        elif "binary" in loss:
            ys.append(rng.integers(0, 2, size=full).astype("float32"))
        else:
            ys.append(rng.normal(size=full).astype("float32"))
    return ys[0] if len(ys) == 1 else ys


@pytest.fixture(scope="module", params=SPECS, ids=lambda p: p.stem)
def trained(request: pytest.FixtureRequest) -> tuple[nf.ModelSpec, Any, Any]:
    import keras

    keras.utils.set_random_seed(0)
    spec = nf.load_spec(request.param)
    rng = np.random.default_rng(0)
    model = nf.build(spec)
    training = spec.training.to_dict() if spec.training else {}
    training.update(epochs=1, batch_size=8, validation_split=0.0, callbacks=[])
    x = _inputs(spec, rng)
    y = _targets(model, spec, x, training, rng)
    history = fit_from_training_config(model, training, x, y, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    return spec, model, x


def _predict(model: Any, x: Any) -> list[np.ndarray]:
    out = model.predict(x, verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


@pytest.mark.parametrize("fmt, name", [("keras", "m.keras"), ("h5", "m.h5"), ("savedmodel", "m_savedmodel")])
def test_full_model_formats(trained, tmp_path: Path, fmt: str, name: str) -> None:  # type: ignore[no-untyped-def]
    spec, model, x = trained
    path = tmp_path / name
    nf.save(model, path, format=fmt)
    assert nf.detect_format(path) == fmt
    again = nf.load(path)
    assert type(again).__name__ == type(model).__name__
    for a, b in zip(_predict(model, x), _predict(again, x)):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("fmt, name", [("weights_h5", "w.weights.h5"), ("tf_checkpoint", "ckpt/w")])
def test_weight_formats(trained, tmp_path: Path, fmt: str, name: str) -> None:  # type: ignore[no-untyped-def]
    spec, model, x = trained
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nf.save_weights(model, path, format=fmt)
    fresh = nf.build(spec)
    nf.load_weights(fresh, path)
    for a, b in zip(_predict(model, x), _predict(fresh, x)):
        np.testing.assert_allclose(a, b, atol=1e-5)
