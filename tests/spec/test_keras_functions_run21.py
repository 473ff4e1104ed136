"""A function or activation a ``KerasLayer`` config names (``{class_name: function, module: M, config: NAME}``) is checked at
validate against what Keras's deserializer resolves, read from a table made from the installed Keras.

Keras resolves a function of a ``keras.…`` module by its public API name only (``keras.ops.relu``, not
``keras.ops.numpy.relu`` nor ``keras.losses.mean_squared_error``), and one of ``builtins`` among its built-in
namespaces; validate said "ok" to the others and the build failed.
"""

from __future__ import annotations

import importlib.util
import random
from types import ModuleType

import pytest

from netform.errors import SpecError
from netform.spec import load_spec
from netform.spec._access import unresolved_function
from netform.spec._keras_functions import KERAS_ACTIVATIONS, KERAS_FUNCTIONS
from tests.conftest import ROOT

SPEC = (
    "netform: 1\nkind: sequential\ninputs: {x: {shape: [8]}}\nlayers:\n"
    "  - {type: KerasLayer, class_name: Activation, config: {activation: "
    "{module: %s, class_name: function, config: '%s', registered_name: null}}}\n"
)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_keras_functions", ROOT / "scripts" / "gen_keras_functions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_function_table_is_the_installed_keras() -> None:
    current = (ROOT / "netform" / "spec" / "_keras_functions.py").read_text()
    assert current == _generator().render(), "run `python scripts/gen_keras_functions.py` to regenerate the table"


@pytest.mark.parametrize(
    ("module", "name", "fix"),
    [
        ("keras.ops.numpy", "relu", "write module: keras.ops"),
        ("keras.ops.nn", "softmax", "write module: keras.ops"),
        ("keras.ops.linalg", "qr", "write module: keras.ops"),
        ("keras.losses", "mean_squared_error", "write module: keras.metrics"),
        ("builtins", "sin", "write module: keras.ops"),  # what Keras itself writes for keras.ops.sin
        ("builtins", "uniform", "write module: keras.random"),
        ("builtins", "nosuch", "name a function of keras.activations, keras.ops"),
        ("keras.activations", "sin", "write module: keras.ops"),
    ],
)
def test_validate_refuses_a_function_keras_cannot_resolve_and_names_the_module_to_write(module, name, fix) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(SPEC % (module, name), source="f.yaml")
    text = str(info.value)
    assert "Keras cannot resolve the function" in text and fix in text, text
    assert "config.activation" in text and "f.yaml:5" in text, text


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("keras.ops", "relu"),
        ("builtins", "relu"),
        ("keras.activations", "gelu"),
        ("builtins", "my_package>my_function"),  # a registered custom function: the build decides
    ],
)
def test_validate_accepts_what_keras_resolves(module, name) -> None:
    load_spec(SPEC % (module, name), source="f.yaml")


@pytest.mark.parametrize(
    ("module", "name"),
    [("keras.ops.image", "resize"), ("keras.random", "normal"), ("keras.metrics", "mean_squared_error")],
)
def test_a_function_keras_resolves_that_is_no_activation_is_refused_as_an_activation(module, name) -> None:
    with pytest.raises(SpecError, match=rf"config\.activation: the function {module}\.{name} is not an activation"):
        load_spec(SPEC % (module, name), source="f.yaml")


def test_the_functions_keras_writes_are_told_as_keras_reads_them() -> None:
    """Keras writes every function of its own as ``module: builtins``; it reads back only those of its built-in
    namespaces (an op such as ``keras.ops.sin`` it cannot load again), and validate says the same."""
    import keras

    for function in (keras.ops.relu, keras.activations.gelu, keras.ops.sin, keras.random.uniform, keras.ops.mean):
        config = keras.saving.serialize_keras_object(function)
        try:
            keras.saving.deserialize_keras_object(config)
            resolves = True
        except Exception:
            resolves = False
        assert (unresolved_function(config["module"], config["config"]) is None) == resolves, config


@pytest.mark.slow
def test_validate_agrees_with_keras_and_the_build_on_a_sample_of_names() -> None:
    """Validate and Keras's deserializer agree, name by name, on names Keras resolves and names it does not."""
    import keras

    rng = random.Random(21)
    every = sorted({name for names in KERAS_FUNCTIONS.values() for name in names} | {"nosuch", "load_data"})
    cases = [(module, rng.choice(every)) for module in sorted(KERAS_FUNCTIONS) for _ in range(6)]
    cases += [(module, rng.choice(names)) for module, names in sorted(KERAS_FUNCTIONS.items()) if names]
    disagree = []
    for module, name in cases:
        config = {"module": module, "class_name": "function", "config": name, "registered_name": None}
        try:
            keras.saving.deserialize_keras_object(config)
            resolves = True
        except Exception:
            resolves = False
        try:
            spec = load_spec(SPEC % (module, name), source="f.yaml")
        except SpecError:
            spec = None
        # an activation slot takes, of what Keras resolves, the functions named as Keras's activations
        if (spec is not None) != (resolves and name in KERAS_ACTIVATIONS):
            disagree.append((module, name, spec is not None, resolves))
    assert disagree == [], disagree
    assert len(cases) > 60, len(cases)


@pytest.mark.parametrize(
    ("module", "name"), [("keras.ops", "relu"), ("builtins", "gelu"), ("keras.activations", "tanh")]
)
def test_a_function_validate_accepts_builds(module, name) -> None:
    import numpy as np

    import netform as nf

    spec = load_spec(SPEC % (module, name), source="f.yaml")
    model = nf.build(spec)
    out = np.asarray(model(np.linspace(-1, 1, 8, dtype="float32")[None]))
    assert out.shape == (1, 8)


def test_the_saving_check_and_the_spec_check_look_in_the_same_namespaces() -> None:
    from netform.saving import _safety
    from netform.spec._access import BUILTIN_NAMESPACES

    assert _safety._FUNCTION_NAMESPACES == BUILTIN_NAMESPACES


LAYER = "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]%s}}\nlayers:\n  - {type: KerasLayer, %s}\n"


@pytest.mark.parametrize(
    ("layer", "where", "words"),
    [
        # functions of modules outside Keras, which Keras never resolves by a bare name
        (
            "class_name: Activation, config: {activation: {module: tensorflow.io, class_name: function, config: read_file}}",
            "config.activation",
            "tensorflow.io.read_file, which is not a function of Keras",
        ),
        (
            "class_name: Activation, config: {activation: {module: numpy, class_name: function, config: loadtxt}}",
            "config.activation",
            "numpy.loadtxt, which is not a function of Keras",
        ),
        # a string Keras looks up among its activations' names only
        (
            "class_name: Activation, config: {activation: keras.utils.get_file}",
            "config.activation",
            "no activation named 'keras.utils.get_file'",
        ),
        (
            "class_name: TimeDistributed, config: {layer: {class_name: Dense, config: {units: 2, activation: nope}}}",
            "config.layer.config.activation",
            "no activation named 'nope'",
        ),
        (
            "class_name: Bidirectional, config: {layer: {class_name: LSTM, config: {units: 2, recurrent_activation: "
            "hard_sigmoid2}}}",
            "config.layer.config.recurrent_activation",
            "no activation named 'hard_sigmoid2'",
        ),
    ],
)
def test_validate_refuses_functions_and_activations_keras_cannot_find(layer, where, words) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(LAYER % ("", layer), source="f.yaml")
    text = str(info.value)
    assert f"{where}:" in text and words in text, text


@pytest.mark.parametrize("cls", ["StringLookup", "IntegerLookup", "TextVectorization"])
def test_a_string_idf_weights_is_refused_at_validate(cls) -> None:
    vocabulary = "[1, 2]" if cls == "IntegerLookup" else "[a, b]"
    layer = f"class_name: {cls}, config: {{vocabulary: {vocabulary}, output_mode: tf_idf, idf_weights: /etc/passwd}}"
    with pytest.raises(SpecError, match=rf"config\.idf_weights: {cls}\.idf_weights is the string '/etc/passwd'; "):
        load_spec(LAYER % (", dtype: string", layer), source="f.yaml")


def test_a_registered_function_and_every_keras_activation_name_pass() -> None:
    from netform.spec._keras_functions import KERAS_ACTIVATIONS

    layer = "class_name: Activation, config: {activation: {module: my_plugin, class_name: function, config: 'pkg>fn'}}"
    load_spec(LAYER % ("", layer), source="f.yaml")
    for name in KERAS_ACTIVATIONS:
        load_spec(LAYER % ("", f"class_name: Activation, config: {{activation: {name}}}"), source="f.yaml")


def test_validate_and_keras_agree_on_activation_names() -> None:
    import keras

    for name in ["relu", "swish", "hard_swish", "linear", "keras.activations.relu", "Relu", "get", "serialize", ""]:
        try:
            keras.activations.get(name)
            takes = True
        except ValueError:
            takes = False
        try:
            load_spec(LAYER % ("", f"class_name: Activation, config: {{activation: '{name}'}}"), source="f.yaml")
            accepted = True
        except SpecError:
            accepted = False
        assert accepted == takes, name


# An activation given as a function mapping must be an activation; a function needs its module.

DENSE = (
    "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n"
    "  - {type: KerasLayer, class_name: Dense, config: {units: 2, activation: %s}}\n"
)


@pytest.mark.parametrize(
    "activation",
    [
        "{class_name: function, module: keras.activations, config: deserialize}",
        "{class_name: function, module: keras.ops, config: fori_loop}",
        "{class_name: function, module: keras.ops, config: vectorized_map}",
    ],
)
def test_an_activation_that_is_no_activation_is_refused(activation: str) -> None:
    with pytest.raises(SpecError, match=r"config\.activation: the function .* is not an activation"):
        load_spec(DENSE % activation)


@pytest.mark.parametrize(
    "activation",
    [
        "{class_name: function, module: keras.ops, config: tanh}",
        "{class_name: function, module: keras.activations, config: relu}",
        "{class_name: function, module: builtins, config: gelu, registered_name: function}",
        "relu",
    ],
)
def test_an_activation_function_of_an_activations_name_validates(activation: str) -> None:
    load_spec(DENSE % activation)


@pytest.mark.parametrize(
    "activation, message",
    [
        ("{class_name: function, registered_name: 'keras.utils>get_file', config: get_file}", "without its module"),
        ("{class_name: function, config: get_file}", "without its module"),
        (
            "{class_name: get_file, module: keras.utils, registered_name: null, config: {}}",
            "keras.utils.get_file as a class",
        ),
    ],
)
def test_a_function_keras_cannot_find_or_refuses_is_refused_at_validate(activation: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(DENSE % activation)
