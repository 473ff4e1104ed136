"""A generic ``KerasLayer``'s arguments are checked at validate as Keras's constructor checks them.

``{type: KerasLayer, class_name: Dense, config: {units: -5}}`` (or ``kernel_size: 0``, ``rate: .nan``, a
missing ``filters``) passed validate and failed at build. validate now refuses, where it is written, what
the constructor of Keras's class refuses, and takes what it takes: each rule is checked here against
Keras itself, value by value, so validate is neither stricter nor looser than Keras.
"""

from __future__ import annotations

import inspect
import itertools
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netform.errors import SpecError
from netform.spec import load_spec
from netform.spec._keras_arg_checks import _ARGUMENTS, _REQUIRED, _RULES, argument_problem

_VALUES = [
    -5, 0, 1, 3, 2.5, True, False, None, "abc", "3", math.nan, math.inf,
    [3], [3, 3], [3, 3, 3], [0, 3], [-1, 2], [0, 0], [math.nan, 2], ["3", "3"], [2.5, 2], [2, 2.5, 1], [], {},
    "valid", "same", "causal", "full", "SAME", "Causal", "channels_last", "Channels_First", "NHWC",
    [None], [None, 1], [1, None, 2], [True], [-1], [0],
]  # fmt: skip
#: Keys a config may hold that some of the classes do not take (Keras 2's names, other classes' arguments).
_OTHER_KEYS = ["implementation", "input_length", "time_major", "batch_input_shape", "batch_size", "weights", "groups",
               "output_padding", "lora_rank", "unroll", "trainable", "autocast", "data_format", "foo", "seed"]  # fmt: skip
_KEYWORD_ERRORS = ("Unrecognized keyword", "multiple values for", "unexpected keyword")


def _base(cls: str) -> dict:
    """The smallest arguments Keras makes ``cls`` with."""
    base = {"units": 3, "input_dim": 5, "output_dim": 3, "rate": 0.5, "num_heads": 2, "key_dim": 3,
            "filters": 4, "kernel_size": 3, "pool_size": 2}  # fmt: skip
    return {k: base[k] for k in _REQUIRED[cls]}


def _keras_makes(cls: str, args: dict) -> bool:
    import keras

    try:
        getattr(keras.layers, cls)(**args)
    except Exception:  # any refusal of Keras's constructor
        return False
    return True


@pytest.mark.parametrize("cls", sorted(_RULES))
def test_each_rule_agrees_with_keras(cls: str) -> None:
    disagree = []
    for key in _RULES[cls]:
        for value in _VALUES:
            args = {**_base(cls), key: value}
            if (argument_problem(cls, args) is None) != _keras_makes(cls, args):
                disagree.append((key, value))
    assert not disagree, f"{cls}: validate and Keras disagree on {disagree}"


@pytest.mark.parametrize("cls", sorted(_RULES))
def test_the_arguments_taken_are_keras_s(cls: str) -> None:
    import keras

    from netform.spec._keras_layer_defaults import KERAS_LAYER_DEFAULTS

    defaults = KERAS_LAYER_DEFAULTS.get(cls, {})
    disagree = []
    for key in sorted(_ARGUMENTS[cls] | set(_OTHER_KEYS)):
        args = {**_base(cls)}
        args.setdefault(key, defaults.get(key))
        found = argument_problem(cls, args)
        ours = found is not None and found[0] == key and "takes no argument" in found[1]
        try:
            getattr(keras.layers, cls).from_config(args)
            theirs = False
        except Exception as exc:  # any refusal: only one naming the keyword counts here
            theirs = any(text in str(exc) for text in _KEYWORD_ERRORS)
        if ours != theirs:
            disagree.append((key, "refused" if ours else "taken", "Keras refuses" if theirs else "Keras takes"))
    assert not disagree, f"{cls}: {disagree}"


@pytest.mark.parametrize("cls", sorted(c for c in _RULES if "Conv" in c))
def test_arguments_checked_together_agree_with_keras(cls: str) -> None:
    pairs = [("strides", "dilation_rate"), ("output_padding", "strides"), ("filters", "groups")]
    sizes = [1, 2, 3, [1, 2, 1][: int(cls[-2] if cls[-2].isdigit() else cls[-11])], 0, 4.5]
    import keras

    takes = inspect.signature(getattr(keras.layers, cls).__init__).parameters
    disagree = []
    for first, second in pairs:
        if first not in takes or second not in takes:
            continue
        for a, b in itertools.product(sizes, repeat=2):
            args = {**_base(cls), first: a, second: b}
            if (argument_problem(cls, args) is None) != _keras_makes(cls, args):
                disagree.append((first, a, second, b))
    assert not disagree, f"{cls}: validate and Keras disagree on {disagree}"


@pytest.mark.parametrize("cls", sorted(_RULES))
def test_the_required_arguments_are_keras_s(cls: str) -> None:
    import keras

    signature = inspect.signature(getattr(keras.layers, cls).__init__)
    required = {
        n for n, p in signature.parameters.items()
        if n != "self" and p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }  # fmt: skip
    assert set(_REQUIRED[cls]) == required


def _spec(layer: str, shape: str = "8, 8, 4") -> str:
    return textwrap.dedent(
        f"""\
        netform: 1
        name: t
        kind: sequential
        inputs:
          x: {{shape: [{shape}]}}
        layers:
          - {layer}
        """
    )


@pytest.mark.parametrize(
    ("layer", "where", "message"),
    [
        ("{type: KerasLayer, class_name: Dense, config: {units: -5}}", "config.units", "positive whole number"),
        ("{type: KerasLayer, class_name: Dense, config: {units: abc}}", "config.units", "received 'abc'"),
        ("{type: KerasLayer, class_name: Conv2D, config: {filters: 4, kernel_size: 0}}", "config.kernel_size", "above 0"),
        ("{type: KerasLayer, class_name: Convolution2D, config: {filters: 4, kernel_size: [3]}}", "config.kernel_size", "list of 2"),
        ("{type: KerasLayer, class_name: Conv2D, config: {kernel_size: 3}}", "config.filters", "needs its filters"),
        ("{type: KerasLayer, class_name: Dropout, config: {rate: .nan}}", "config.rate", "received NaN"),
        ("{type: KerasLayer, class_name: Dropout, config: {rate: 1.5}}", "config.rate", "from 0 to 1"),
        ("{type: KerasLayer, class_name: Conv2D, config: {filters: 4, kernel_size: 3, strides: 2, dilation_rate: 2}}", "config.strides", "not both"),
        ("{type: KerasLayer, class_name: Conv2D, config: {filters: 6, kernel_size: 3, groups: 4}}", "config.filters", "divisible"),
        ("{type: KerasLayer, class_name: Conv2D, config: {filters: 4, kernel_size: 3, padding: causal}}", "config.padding", "'valid', 'same'"),
        ("{type: KerasLayer, class_name: ConvLSTM1D, config: {filters: 2, kernel_size: 3, padding: full}}", "config.padding", "one of"),
        ("{type: KerasLayer, class_name: Conv2DTranspose, config: {filters: 4, kernel_size: 3, groups: 1}}", "config.groups", "takes no argument 'groups'"),
        ("{type: KerasLayer, class_name: TimeDistributed, config: {layer: {class_name: Dense, module: keras.layers, config: {units: 0}}}}",
         "config.layer.config.units", "positive whole number"),
        ("{type: KerasLayer, class_name: Bidirectional, config: {layer: {class_name: LSTM, module: keras.layers, config: {units: -1}}}}",
         "config.layer.config.units", "positive number"),
    ],
)  # fmt: skip
def test_validate_names_the_argument(layer: str, where: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(_spec(layer), source="t.yaml")
    text = str(info.value)
    assert where in text and message in text, text


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        ("{type: KerasLayer, class_name: Dense, config: {units: 3}}", "4"),
        ("{type: KerasLayer, class_name: Conv2D, config: {filters: 4, kernel_size: [3, 1], strides: 2}}", "8, 8, 4"),
        ("{type: KerasLayer, class_name: Dropout, config: {rate: 1.0}}", "4"),
        ("{type: KerasLayer, class_name: MaxPooling2D, config: {}}", "8, 8, 4"),
        ("{type: KerasLayer, class_name: Conv1D, config: {filters: 4, kernel_size: 3, padding: Causal}}", "8, 4"),
        ("{type: KerasLayer, class_name: LSTM, config: {units: 4, implementation: 1}}", "8, 4"),
        ("{type: KerasLayer, class_name: TimeDistributed, config: {layer: {class_name: Dense, module: keras.layers, config: {units: 3}}}}", "5, 4"),
    ],
)  # fmt: skip
def test_what_keras_takes_validates(layer: str, shape: str) -> None:
    load_spec(_spec(layer, shape), source="t.yaml")


def test_a_plugin_s_class_of_the_same_name_is_not_checked_as_keras_s() -> None:
    layer = "{type: KerasLayer, class_name: TimeDistributed, config: {layer: {class_name: Dense, registered_name: 'pkg>Dense', config: {units: -1}}}}"  # fmt: skip
    try:
        load_spec(_spec(layer, "5, 4"), source="t.yaml")
    except SpecError as exc:
        assert "Keras refuses it when the layer is made" not in str(exc) and "needs `module" not in str(exc), str(exc)


@pytest.mark.parametrize(
    ("wrapper", "key", "inner"),
    [
        ("TimeDistributed", "layer", {"class_name": "Dense", "config": {"units": 3}}),
        ("Bidirectional", "layer", {"class_name": "LSTM", "config": {"units": 3}}),
        ("RNN", "cell", {"class_name": "LSTMCell", "config": {"units": 3}}),
        ("StackedRNNCells", "cells", [{"class_name": "LSTMCell", "config": {"units": 3}}]),
        ("Pipeline", "layers", [{"class_name": "Rescaling", "config": {"scale": 2.0, "offset": 0.0}}]),
    ],
)
def test_a_nested_layer_without_its_module_is_refused_as_keras_refuses_it(wrapper: str, key: str, inner) -> None:
    import keras

    from netform.spec.layers.generic import _argument_problem

    with_module = (
        [{**item, "module": "keras.layers"} for item in inner] if isinstance(inner, list)
        else {**inner, "module": "keras.layers"}
    )  # fmt: skip
    for value, keras_makes in ((inner, False), (with_module, True)):
        assert (_argument_problem(wrapper, {key: value}, ("config",)) is None) == keras_makes
        if keras_makes:
            getattr(keras.layers, wrapper).from_config({key: value})
        else:
            with pytest.raises(Exception, match="Could not locate class"):
                getattr(keras.layers, wrapper).from_config({key: value})


def test_validate_does_not_import_tensorflow(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(_spec("{type: KerasLayer, class_name: Dense, config: {units: -5}}"))
    code = (
        "import sys, netform.spec as s\n"
        f"try:\n    s.load_spec({str(spec)!r})\nexcept Exception as e:\n    print(type(e).__name__)\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["SpecError", "False", "False"]
