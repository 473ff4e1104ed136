"""A generic ``KerasLayer``'s initializers, regularizers and constraints are checked at validate as Keras checks them.

``{type: KerasLayer, class_name: Dense, config: {kernel_initializer: {class_name: Foo, …}}}`` passed validate and
failed the build (Keras's ``initializers.get`` could not interpret it); a ``Constant`` whose value is text passed
validate and failed the build with TensorFlow's own message and the advice to make the layers smaller.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

import netform as nf
from netform.spec._types import _KERAS_ALIASES, _keras_names, identifier_problem

HEAD = "netform: 1\nname: e\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n"


def _generic(key: str, value: str) -> str:
    return HEAD + f"  - {{type: KerasLayer, class_name: Dense, config: {{units: 3, {key}: {value}}}}}\n"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("kernel_initializer", "{class_name: Foo, module: keras.initializers, config: {}}",
         r"config\.kernel_initializer: Keras has no initializer named 'Foo'"),
        ("kernel_initializer", "{class_name: 'evilmod>Init', module: evilmod, config: {}}",
         r"config\.kernel_initializer: Keras has no initializer named 'evilmod>Init'"),
        ("kernel_initializer",
         "{class_name: Constant, config: {value: {class_name: __numpy__, config: {value: [1], dtype: object}}}}",
         r"config\.kernel_initializer: Constant's value is an array of numbers with a numeric dtype"),
        ("kernel_initializer", "{class_name: Constant, config: {value: abc}}",
         r"Constant's value is a number or a list of numbers"),
        ("kernel_initializer", "ONES", r"Keras has no initializer named 'ONES'"),
        ("kernel_initializer", "Initializer", r"Initializer is the base class of Keras's initializers"),
        ("kernel_initializer", "5", r"Keras cannot interpret 5 as an initializer"),
        ("kernel_initializer", "{class_name: GlorotUniform, config: {bogus: 1}}",
         r"GlorotUniform takes no argument 'bogus'"),
        ("kernel_initializer", "{class_name: VarianceScaling, config: {mode: sideways}}",
         r"VarianceScaling's mode is one of fan_in, fan_out, fan_avg"),
        ("bias_regularizer", "l1_l2", r"Keras has no regularizer named 'l1_l2'.*Did you mean 'l1l2'"),
        ("bias_regularizer", "{class_name: L2, config: {l2: -1}}", r"L2's l2 must be a finite number ≥ 0"),
        ("kernel_constraint", "{class_name: MaxNorm, config: {max_value: 2, bogus: 1}}",
         r"MaxNorm takes no argument 'bogus'"),
        ("activity_regularizer", "[l2]", r"Keras cannot interpret \['l2'\]"),
    ],
)
def test_what_keras_cannot_make_is_refused_at_validate(key: str, value: str, message: str) -> None:
    with pytest.raises(nf.SpecError, match=rf"<string>:7:\d+: layers\[0\]: .*{message}"):
        nf.load_spec(_generic(key, value))


def test_a_nested_layer_s_initializer_is_checked_too() -> None:
    text = HEAD.replace("shape: [4]", "shape: [5, 4]") + (
        "  - {type: KerasLayer, class_name: TimeDistributed, config: {layer: {module: keras.layers, "
        "class_name: Dense, config: {units: 3, kernel_initializer: Nope}}}}\n"
    )
    with pytest.raises(nf.SpecError, match=r"config\.layer\.config\.kernel_initializer: Keras has no initializer"):
        nf.load_spec(text)


def test_a_native_constant_of_text_is_refused_at_validate() -> None:
    text = HEAD + "  - {type: Dense, units: 3, kernel_initializer: {type: Constant, value: abc}}\n"
    with pytest.raises(nf.SpecError, match=r"layers\[0\]\.kernel_initializer: Constant's value is a number or a "
                                           r"list of numbers \(a weight's values\); received 'abc'"):
        nf.load_spec(text)
    for value in ("null", "[1, [2]]", "{a: 1}"):
        with pytest.raises(nf.SpecError, match="Constant's value"):
            nf.load_spec(text.replace("abc", value))


@pytest.mark.parametrize(
    "value", ["1.5", "-2", "true", "[1, 2, 3]", "{class_name: __numpy__, config: {value: [1, 2, 3], dtype: float32}}"]
)
def test_constants_keras_takes_build(value: str) -> None:
    for text in (HEAD + f"  - {{type: Dense, units: 3, bias_initializer: {{type: Constant, value: {value}}}}}\n",
                 _generic("bias_initializer", f"{{class_name: Constant, config: {{value: {value}}}}}")):
        model = nf.build(nf.load_spec(text))
        assert model.layers[-1].bias.shape == (3,)


def test_the_name_tables_are_keras_s() -> None:
    """Every name Keras's ``get`` takes in a config is taken, and no other."""
    from keras.src.constraints import ALL_OBJECTS_DICT as constraints
    from keras.src.initializers import ALL_OBJECTS_DICT as initializers
    from keras.src.regularizers import ALL_OBJECTS_DICT as regularizers

    for kind, table in (("initializer", initializers), ("regularizer", regularizers), ("constraint", constraints)):
        assert set(_keras_names(kind)) == set(table), kind
        for alias, made in _KERAS_ALIASES[kind].items():
            assert made is None or table[alias] is table[made], (kind, alias)


def _keras_makes(key: str, value: Any) -> bool:
    """Whether Keras makes a ``Dense`` with ``key: value`` from its config, builds it and applies what it holds."""
    try:
        with keras.saving.custom_object_scope({}):
            layer = keras.layers.Dense.from_config({"units": 3, key: value})
            out = layer(np.ones((2, 4), "float32"))
            float(np.sum(keras.ops.convert_to_numpy(out)))
            if layer.losses:
                float(keras.ops.convert_to_numpy(layer.losses[0]))
            if layer.kernel_constraint is not None:
                layer.kernel_constraint(layer.kernel)
        return True
    except Exception:  # noqa: BLE001 - any failure is Keras's refusal
        return False


CORPUS: list[tuple[str, Any]] = [
    *[("kernel_initializer", v) for v in (
        None, "Ones", "ones", "one", "zero", "IdentityInitializer", "ONES", "Initializer", "initializer", "uniform",
        "glorot_uniform", "nope", 5, [1], True,
        {"class_name": "Ones"}, {"class_name": "Ones", "config": None}, {"class_name": "ones", "config": {}},
        {"class_name": "Ones", "config": {}, "module": "evilmod"}, {"class_name": "Foo", "config": {}},
        {"class_name": "Dense", "config": {"units": 2}}, {"config": {}}, {"class_name": "Ones", "config": []},
        {"class_name": "GlorotUniform", "config": {"seed": 3}}, {"class_name": "GlorotUniform", "config": {"x": 1}},
        {"class_name": "Constant", "config": {"value": 2.5}}, {"class_name": "Constant", "config": {"value": "a"}},
        {"class_name": "Constant", "config": {"value": None}}, {"class_name": "Constant", "config": {"value": [1, 2, 3]}},
        {"class_name": "Constant", "config": {"value": [[1], [2, 3]]}},
        {"class_name": "Constant", "config": {"value": {"class_name": "__numpy__",
                                                          "config": {"value": [1, 2, 3], "dtype": "float32"}}}},
        {"class_name": "Constant", "config": {"value": {"class_name": "__numpy__",
                                                          "config": {"value": ["a"], "dtype": "str"}}}},
        {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.1, "seed": None}},
        {"class_name": "VarianceScaling", "config": {"mode": "fan_out", "distribution": "uniform"}},
        {"class_name": "VarianceScaling", "config": {"mode": "nope"}},
    )],
    *[("kernel_regularizer", v) for v in (
        None, "l1", "L2", "l1l2", "l1_l2", "Regularizer", "orthogonal_regularizer", "nope", 0.1,
        {"class_name": "L2", "config": {"l2": 0.01}}, {"class_name": "L2", "config": {"l2": -1.0}},
        {"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}, {"class_name": "L1", "config": {"l2": 0.1}},
        {"class_name": "Foo", "config": {}},
    )],
    *[("kernel_constraint", v) for v in (
        None, "max_norm", "NonNeg", "Constraint", "nope", {"class_name": "MaxNorm", "config": {"max_value": 2}},
        {"class_name": "MinMaxNorm", "config": {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}},
        {"class_name": "UnitNorm", "config": {"axes": 0}},
    )],
]


@pytest.mark.parametrize(("key", "value"), CORPUS, ids=[f"{k}={v!r:.40}" for k, v in CORPUS])
def test_each_rule_is_keras_s(key: str, value: Any) -> None:
    kind = key.rpartition("_")[2]
    assert (identifier_problem(kind, value) is None) == _keras_makes(key, value)


def test_a_tensorflow_error_making_weights_names_its_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TensorFlow error other than running out of memory is not answered with "make the layers smaller", and
    the wrapped function's node TensorFlow puts before its message is left out."""
    import tensorflow as tf

    from netform.builder import _build

    def fails(*_: object) -> None:
        raise tf.errors.UnimplementedError(
            None, None, "{{function_node __wrapped__Cast_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
            "Cast string to float is not supported [Op:Cast] name: ")

    monkeypatch.setattr(_build, "_functional", fails)
    spec = nf.load_spec(HEAD + "  - {type: Dense, units: 3}\n")
    with pytest.raises(nf.BuildError) as caught:
        nf.build(spec, api="functional")
    message = str(caught.value)
    assert "(UnimplementedError: Cast string to float is not supported [Op:Cast] name:); check the layers' " \
           "initializers and arguments" in message, message
    assert "function_node" not in message and "smaller" not in message


def test_a_keras_layer_without_a_schema_points_at_the_generic_form() -> None:
    text = "netform: 1\nkind: sequential\ninputs: {x: {shape: [2, 2, 3]}}\nlayers:\n  - {type: Equalization}\n"
    with pytest.raises(nf.SpecError, match=r"'Equalization' is one of Keras's layers .*\{type: KerasLayer, "
                                           r"class_name: Equalization, config: \{\.\.\.\}\}"):
        nf.load_spec(text)
    with pytest.raises(nf.SpecError, match=r"unknown layer type 'Lambda'"):  # no form takes it
        nf.load_spec(text.replace("Equalization", "Lambda"))
    nf.load_spec(text.replace("{type: Equalization}", "{type: KerasLayer, class_name: Equalization}"))
