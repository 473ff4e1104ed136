"""A generic ``KerasLayer``'s dtype is held to the rules of netform's own layer types.

A generic ``Dense`` whose config gave ``dtype: string``, ``bool``, ``uint8`` or ``float8_e4m3fn`` passed validate,
and the build refused it (for ``string`` with a misleading message). Now validate refuses what the build
would, where the dtype is written (in the config or beside it), and each refusal is checked against plain
Keras here: the layer Keras makes from the same config fails too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import netform as nf
from netform.errors import SpecError


def _spec(node: str) -> str:
    return f"netform: 1\nkind: functional\ninputs: {{x: {{shape: [4]}}}}\nnodes:\n  g: {node}\noutputs: [g]\n"


def _keras_builds(class_name: str, config: dict[str, Any]) -> bool:
    import keras

    try:
        layer = keras.layers.deserialize({"class_name": class_name, "module": "keras.layers", "config": config})
        layer(np.zeros((2, 4), "float32"))
    except Exception:
        return False
    return True


REFUSED = [
    ("{units: 3, dtype: string}", {"units": 3, "dtype": "string"}, "not a dtype policy"),
    ("{units: 3, dtype: float8_e4m3fn}", {"units": 3, "dtype": "float8_e4m3fn"}, "not a dtype policy"),
    ("{units: 3, dtype: bool}", {"units": 3, "dtype": "bool"}, "cannot draw bool"),
    ("{units: 3, dtype: uint8}", {"units": 3, "dtype": "uint8"}, "cannot draw uint8"),
    ("{units: 3, dtype: complex64}", {"units": 3, "dtype": "complex64"}, "only real numbers"),
    (
        "{units: 3, dtype: {module: keras, class_name: DTypePolicy, config: {name: bool}}}",
        {"units": 3, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "bool"}}},
        "cannot draw bool",
    ),
]


@pytest.mark.parametrize(("config", "keras_config", "words"), REFUSED)
def test_a_config_dtype_the_build_refuses_is_refused_at_validate(
    config: str, keras_config: dict[str, Any], words: str
) -> None:
    with pytest.raises(SpecError, match=words) as err:
        nf.load_spec(_spec(f"{{type: KerasLayer, class_name: Dense, config: {config}, in: x}}"))
    assert "nodes.g" in str(err.value)
    assert not _keras_builds("Dense", keras_config)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int16"])
def test_a_dtype_beside_the_config_is_checked_against_the_weights_too(dtype: str) -> None:
    with pytest.raises(SpecError, match=f"dtype {dtype} cannot be used with kernel_initializer"):
        nf.load_spec(_spec(f"{{type: KerasLayer, class_name: Dense, dtype: {dtype}, config: {{units: 3}}, in: x}}"))


ACCEPTED = [
    "{units: 3, dtype: float64}",
    "{units: 3, dtype: bfloat16}",
    "{units: 3, dtype: mixed_float16}",
    "{units: 3, dtype: {module: keras, class_name: DTypePolicy, config: {name: float64}}}",
    "{units: 3, dtype: int32, kernel_initializer: zeros}",
    "{units: 3, dtype: int8_from_float32}",
]


@pytest.mark.parametrize("config", ACCEPTED)
def test_what_keras_builds_is_accepted_and_builds(config: str) -> None:
    spec = nf.load_spec(_spec(f"{{type: KerasLayer, class_name: Dense, config: {config}, in: x}}"))
    model = nf.build(spec)
    row = {r.name: r for r in nf.summary(spec).rows}["g"]
    if row.params is not None:
        assert row.params == model.get_layer("g").count_params()


def test_a_preprocessing_layer_keeps_its_integer_dtype() -> None:
    spec = nf.load_spec(
        "netform: 1\nkind: functional\ninputs: {x: {shape: [4], dtype: int64}}\nnodes:\n"
        "  g: {type: KerasLayer, class_name: CategoryEncoding, config: {num_tokens: 6, output_mode: multi_hot, "
        "dtype: int64}, in: x}\noutputs: [g]\n"
    )
    model = nf.build(spec)
    assert str(model.output.dtype) == "int64"
