"""What validate refuses in tests/spec/test_keras_refusals_run15.py, Keras refuses; what it accepts, Keras builds.

The lists a spec's names are checked against cannot drift from Keras: every metric and loss name the spec
takes alone is compiled into a small model and evaluated on one batch, every activation name is run in a
layer, and the table of constructor arguments without a default is read from Keras's signatures.
"""

from __future__ import annotations

import inspect
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Any

import keras
import numpy as np
import pytest

from netform.errors import SpecError
from netform.spec import load_spec
from netform.spec._keras_args import KERAS_ARGS
from netform.spec._layer_base import _COMPLEX_ACTIVATIONS, _RANDOM_INITIALIZERS
from netform.spec._training import LOSSES, METRICS, REQUIRED_ARGUMENTS
from netform.spec._types import ACTIVATIONS, INITIALIZERS

pytestmark = pytest.mark.tf

SEQ = "netform: 1\nkind: sequential\ninputs: {x: {shape: [5]}}\nlayers: [{type: Dense, units: 3}]\ntraining:\n  %s\n"
FUNC = "netform: 1\nkind: functional\ninputs: {x: {shape: [3]}}\nnodes:\n  o: {type: Dense, units: 2, %s, in: x}\noutputs: [o]\n"


def _validates(text: str) -> bool:
    try:
        load_spec(text)
    except SpecError:
        return False
    return True


def _dense(x: np.ndarray, **kwargs: Any) -> None:
    """Make a Dense layer of 2 units as netform's builder does and run it on ``x``."""
    keras.layers.Dense(2, **kwargs)(x)


def _object(name: str, **config: Any) -> dict[str, Any]:
    return {"class_name": name, "config": config}  # how the builder passes a spec's {type: …}


X = np.ones((2, 3), "float32")


def _keras_refuses(**kwargs: Any) -> bool:
    try:
        _dense(X, **kwargs)
    except Exception:
        return True
    return False


def _run(metric: Any = None, loss: Any = "mse", sparse: bool = False) -> None:
    x = np.random.default_rng(0).random((4, 5)).astype("float32")
    labels = np.array([0, 1, 2, 1])
    inp = keras.Input((5,))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(inp))
    model.compile(loss=loss, metrics=None if metric is None else [metric], run_eagerly=True)
    model.evaluate(x, labels if sparse else np.eye(3, dtype="float32")[labels], batch_size=4, verbose=0)


def _sparse(name: str) -> bool:
    return "sparse" in name.lower()


@pytest.mark.slow
def test_every_metric_name_the_spec_takes_alone_compiles_and_evaluates() -> None:
    taken = [m for m in METRICS if _validates(SEQ % f"loss: mse\n  metrics: [{m}]")]
    assert "accuracy" in taken and "IoU" not in taken
    failed = {}
    for name in taken:
        try:
            _run(metric=name, loss="sparse_categorical_crossentropy" if _sparse(name) else "mse", sparse=_sparse(name))
        except Exception as err:
            failed[name] = f"{type(err).__name__}: {str(err)[:200]}"
    assert not failed


#: losses whose labels and predictions are not a batch of class scores: run with their own data
_OWN_DATA = ("CTC", "ctc", "Circle", "circle")


@pytest.mark.slow
def test_every_loss_name_the_spec_takes_alone_compiles_and_evaluates() -> None:
    taken = [n for n in LOSSES if _validates(SEQ % f"loss: {n}")]
    assert "mse" in taken
    failed = {}
    for name in taken:
        try:
            if name in ("CTC", "ctc"):  # (batch, time, classes) scores and (batch, time) label ids
                inp = keras.Input((6, 4))
                model = keras.Model(inp, keras.layers.Dense(5, activation="softmax")(inp))
                model.compile(loss=name, run_eagerly=True)
                model.evaluate(np.ones((2, 6, 4), "float32"), np.ones((2, 3), "int32"), verbose=0)
            elif name in ("Circle", "circle"):  # embeddings and one class id per sample
                inp = keras.Input((5,))
                model = keras.Model(inp, keras.layers.Dense(3)(inp))
                model.compile(loss=name, run_eagerly=True)
                model.evaluate(np.random.default_rng(0).random((4, 5)), np.array([0, 1, 0, 1]), verbose=0)
            else:
                _run(loss=name, sparse=_sparse(name))
        except Exception as err:
            failed[name] = f"{type(err).__name__}: {str(err)[:200]}"
    assert not failed


@pytest.mark.parametrize(
    ("kind", "module"),
    [
        ("metric", keras.metrics),
        ("loss", keras.losses),
        ("optimizer", keras.optimizers),
        ("callback", keras.callbacks),
    ],
)
def test_the_table_of_required_arguments_is_keras_own(kind: str, module: Any) -> None:
    for name in KERAS_ARGS[kind]:
        cls = getattr(module, name)
        params = inspect.signature(cls).parameters.values()
        required = [
            p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        assert required == list(REQUIRED_ARGUMENTS.get((kind, name), {})), name


def test_a_metric_with_its_required_arguments_runs() -> None:
    _run(metric=keras.metrics.IoU(num_classes=2, target_class_ids=[0]))
    _run(metric=keras.metrics.SpecificityAtSensitivity(sensitivity=0.5))
    with pytest.raises(TypeError):
        _run(metric="IoU")
    with pytest.raises(ValueError, match="Could not interpret metric identifier"):
        _run(metric="crossentropy")


def test_activation_names_and_mappings_as_keras_reads_them() -> None:
    for name in ACTIVATIONS:
        assert _keras_refuses(activation=_object(name)), name
        assert not _validates(FUNC % f"activation: {{type: {name}}}"), name
        assert _keras_refuses(activation=name) == (not _validates(FUNC % f"activation: {name}")), name


def test_initializer_and_regularizer_arguments_as_keras_reads_them() -> None:
    refused = [
        _object("VarianceScaling", scale=-1),
        _object("VarianceScaling", scale=0),
        _object("VarianceScaling", mode="fan_x"),
        _object("VarianceScaling", distribution="gauss"),
        _object("GlorotUniform", seed=1.5),
        _object("HeNormal", seed="abc"),
    ]
    for init in refused:
        assert _keras_refuses(kernel_initializer=init), init
        written = ", ".join(f"{k}: {v}" for k, v in init["config"].items())
        assert not _validates(FUNC % f"kernel_initializer: {{type: {init['class_name']}, {written}}}"), init
    accepted = [
        ("VarianceScaling", {"scale": 0.5, "mode": "fan_avg", "distribution": "Uniform"}),
        ("VarianceScaling", {"distribution": "normal", "seed": 3}),
        ("VarianceScaling", {"distribution": "untruncated_normal", "mode": "fan_out"}),
    ]
    for name, config in accepted:
        assert not _keras_refuses(kernel_initializer=_object(name, **config))
        written = ", ".join(f"{k}: {v}" for k, v in config.items())
        assert _validates(FUNC % f"kernel_initializer: {{type: {name}, {written}}}")
    with pytest.raises(ValueError):
        keras.initializers.STFT(side="left")
    with pytest.raises(ValueError):
        keras.initializers.STFT(window=None, scaling="loud")
    assert not _validates(FUNC % "kernel_initializer: {type: STFT, side: left}")
    assert not _validates(FUNC % "kernel_initializer: {type: STFT, window: null, scaling: loud}")
    assert _keras_refuses(kernel_regularizer=_object("OrthogonalRegularizer", factor=1, mode="channels"))
    assert not _keras_refuses(kernel_regularizer=_object("OrthogonalRegularizer", factor=1, mode="columns"))
    assert _validates(FUNC % "kernel_regularizer: {type: OrthogonalRegularizer, factor: 1, mode: columns}")


def test_constant_shapes_as_keras_reads_them() -> None:
    for kernel, bias in [([[1, 2], [3, 4]], None), (None, [1, 2, 3]), (None, [[1], [2], [3]]), ([1, 2, 3], None)]:
        kwargs = {}
        if kernel is not None:
            kwargs["kernel_initializer"] = keras.initializers.Constant(kernel)
        if bias is not None:
            kwargs["bias_initializer"] = keras.initializers.Constant(bias)
        field = "kernel_initializer" if kernel is not None else "bias_initializer"
        assert _keras_refuses(**kwargs), kwargs
        assert not _validates(FUNC % f"{field}: {{type: Constant, value: {kernel or bias}}}")
    for kernel, bias in [([1, 2], [1]), ([[1], [2], [3]], 0.5), (2.0, [1, 2])]:
        init = {
            "kernel_initializer": keras.initializers.Constant(kernel),
            "bias_initializer": keras.initializers.Constant(bias),
        }
        assert not _keras_refuses(**init)
        assert _validates(
            FUNC
            % f"kernel_initializer: {{type: Constant, value: {kernel}}}, bias_initializer: {{type: Constant, value: {bias}}}"
        )


def test_complex_layers_as_keras_builds_them() -> None:
    assert _RANDOM_INITIALIZERS <= set(INITIALIZERS)
    for name in sorted(_RANDOM_INITIALIZERS):
        assert _keras_refuses(dtype="complex128", kernel_initializer=name), name
        assert not _validates(FUNC % f"dtype: complex128, kernel_initializer: {name}"), name
    for name in sorted(set(INITIALIZERS) - _RANDOM_INITIALIZERS - {"STFT", "Identity", "identity"}):
        if _keras_refuses(dtype="complex64", kernel_initializer=name):
            continue  # (refused for another reason, as validate knows nothing of it here)
        assert _validates(FUNC % f"dtype: complex64, kernel_initializer: {name}"), name
    assert not _keras_refuses(dtype="complex64", kernel_initializer="zeros", use_bias=False)
    assert not _keras_refuses(
        dtype="complex128", kernel_initializer="zeros", bias_initializer="glorot_uniform", use_bias=False
    )
    assert _validates(
        FUNC % "dtype: complex128, kernel_initializer: zeros, bias_initializer: he_normal, use_bias: false"
    )


def _keras_draws(dtype: str, initializer: Any) -> bool:
    """Whether Keras builds a Dense layer of ``dtype`` (on an input of that dtype) whose kernel ``initializer`` makes."""
    try:
        layer = keras.layers.Dense(2, dtype=dtype, kernel_initializer=initializer, use_bias=False)
        layer(keras.Input((3,), dtype=dtype))
    except Exception:
        return False
    return True


def test_random_initializers_in_every_dtype_as_keras_draws_them() -> None:
    """Integer, bool and bfloat16 layers: validate refuses exactly the random initializers Keras cannot draw."""
    typed = [
        ("RandomUniform", {"minval": -2, "maxval": 2}),
        ("RandomUniform", {"minval": -0.5, "maxval": 1.5}),
        ("RandomUniform", {"minval": 0.2, "maxval": 0.9}),
        ("VarianceScaling", {"distribution": "uniform"}),
        ("VarianceScaling", {"distribution": "untruncated_normal"}),
    ]
    written = [(name, {}) for name in sorted(_RANDOM_INITIALIZERS)] + typed
    for dtype in ("int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "bfloat16", "float16"):
        for name, args in written:
            keras_init = _object(name, **args) if args else name
            spec_init = "{type: %s, %s}" % (name, ", ".join(f"{k}: {v}" for k, v in args.items())) if args else name
            text = (
                f"netform: 1\nkind: functional\ninputs: {{x: {{shape: [3], dtype: {dtype}}}}}\nnodes:\n"
                f"  o: {{type: Dense, units: 2, dtype: {dtype}, use_bias: false, kernel_initializer: {spec_init}, "
                "in: x}\noutputs: [o]\n"
            )
            assert _validates(text) == _keras_draws(dtype, keras_init), (dtype, name, args)


def test_complex_activations_as_keras_computes_them() -> None:
    for name in ACTIVATIONS:
        refused = _keras_refuses(dtype="complex64", kernel_initializer="zeros", activation=name)
        assert refused == (name not in _COMPLEX_ACTIVATIONS), name
        written = FUNC % f"dtype: complex64, kernel_initializer: zeros, activation: {name}"
        assert _validates(written) == (not refused), name


def _fits(**kwargs: Any) -> bool:
    """Whether Keras builds a Dense layer of 2 units on 3 features and trains it one step."""
    try:
        inp = keras.Input((3,))
        model = keras.Model(inp, keras.layers.Dense(2, **kwargs)(inp))
        model.compile(loss="mse", run_eagerly=True)
        model.fit(X, np.zeros((2, 2), "float32"), verbose=0)
    except Exception:
        return False
    return True


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"bias_initializer": "orthogonal"}, "bias_initializer: orthogonal"),
        ({"bias_initializer": "identity"}, "bias_initializer: identity"),
        ({"bias_regularizer": "orthogonal_regularizer"}, "bias_regularizer: orthogonal_regularizer"),
        ({"kernel_initializer": "identity"}, "kernel_initializer: identity"),
        ({"kernel_initializer": "orthogonal"}, "kernel_initializer: orthogonal"),
        ({"kernel_regularizer": "orthogonal_regularizer"}, "kernel_regularizer: orthogonal_regularizer"),
    ],
)
def test_matrix_initializers_and_regularizers_as_keras_trains_them(kwargs: dict[str, Any], field: str) -> None:
    assert _fits(**kwargs) == _validates(FUNC % field)


CONV = (
    "netform: 1\nkind: functional\ninputs: {x: {shape: [5, 5, 4]}}\n"
    "nodes:\n  o: {type: Conv2D, filters: 2, kernel_size: 3, %s, in: x}\noutputs: [o]\n"
)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kernel_initializer": [1, 2]}, "kernel_initializer: {type: Constant, value: [1, 2]}"),
        ({"kernel_initializer": [[1, 2], [3, 4]]}, "kernel_initializer: {type: Constant, value: [[1, 2], [3, 4]]}"),
        (
            {"kernel_initializer": [[1], [2], [3], [4]]},
            "kernel_initializer: {type: Constant, value: [[1], [2], [3], [4]]}",
        ),
        (
            {"kernel_initializer": [[[1]], [[2]], [[3]]]},
            "kernel_initializer: {type: Constant, value: [[[1]], [[2]], [[3]]]}",
        ),
        ({"kernel_initializer": "identity"}, "kernel_initializer: identity"),
        ({"kernel_initializer": "orthogonal"}, "kernel_initializer: orthogonal"),
        ({"kernel_regularizer": "orthogonal_regularizer"}, "kernel_regularizer: orthogonal_regularizer"),
        ({"bias_initializer": "orthogonal"}, "bias_initializer: orthogonal"),
        ({"bias_initializer": [1, 2]}, "bias_initializer: {type: Constant, value: [1, 2]}"),
        (
            {"groups": 2, "kernel_initializer": [[1], [2]]},
            "groups: 2, kernel_initializer: {type: Constant, value: [[1], [2]]}",
        ),
        (
            {"groups": 2, "kernel_initializer": [[1], [2], [3], [4]]},
            "groups: 2, kernel_initializer: {type: Constant, value: [[1], [2], [3], [4]]}",
        ),
    ],
)
def test_conv_weights_as_keras_trains_them(kwargs: dict[str, Any], field: str) -> None:
    args = {k: keras.initializers.Constant(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    x = np.ones((2, 5, 5, 4), "float32")
    try:
        inp = keras.Input((5, 5, 4))
        model = keras.Model(inp, keras.layers.Conv2D(2, 3, **args)(inp))
        model.compile(loss="mse", run_eagerly=True)
        model.fit(x, np.zeros((2, 3, 3, 2), "float32"), verbose=0)
        fits = True
    except Exception:
        fits = False
    assert fits == _validates(CONV % field)
