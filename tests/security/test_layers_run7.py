"""Layers and op nodes that ``validate`` passed but build or predict failed on, and specs slow to refuse.

``validate`` saying ok promises that build and predict do not fail with an error that is not netform's,
and that the static shapes agree with Keras. Op nodes broke it: ``einsum`` with subscripts TensorFlow
refuses (``"zz->zzz"``), ``matmul`` summing over the batch axis, ``repeat``/``tile``/``pad`` of the batch
axis, and axes out of range (``argsort`` axis 5 on a rank-2 tensor). Each rule is compared here with
Keras's static shape (``keras.ops.<op>`` on ``KerasTensor``s) and with real runs at batch 1 and 3.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import textwrap
from typing import Any

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netform.errors import SpecError
from netform.spec import load_spec
from netform.spec.layers.ops import Op

SPEC = textwrap.dedent("""\
    netform: 1
    name: f
    kind: functional
    inputs:
      x: {shape: [4]}
    nodes:
      o: %s
    outputs: [o]
    """)


def _error(node: str) -> Any:
    with pytest.raises(SpecError) as info:
        load_spec(SPEC % node)
    return info.value.diagnostics[0]


def _static(op: str, shapes: list[tuple[Any, ...]], **kwargs: Any) -> Any:
    """netform's static shape, or None when the node or its rule refuses (with the op's name in the message)."""
    try:
        node = Op(op=op, args=tuple(f"t{i}" for i in range(len(shapes))), kwargs=kwargs)
        return node.output_shape(list(shapes) if len(shapes) > 1 else shapes[0])
    except ValueError as err:  # a pydantic ValidationError (a setting Keras does not take) is a ValueError too
        assert f"op {op}" in str(err)
        return None


def _keras_static(op: str, shapes: list[tuple[Any, ...]], **kwargs: Any) -> Any:
    tensors = [keras.KerasTensor(s, dtype="int32" if op == "one_hot" else "float32") for s in shapes]
    try:
        if op == "einsum":
            return tuple(keras.ops.einsum(kwargs["subscripts"], *tensors).shape)
        return tuple(getattr(keras.ops, op)(*tensors, **kwargs).shape)
    except Exception:  # noqa: BLE001 - any refusal of Keras is the point
        return None


def _real(op: str, shapes: list[tuple[Any, ...]], batch: int, **kwargs: Any) -> Any:
    """The shape Keras computes on real tensors (None sizes are the batch), or None when it fails."""
    dtype = "int32" if op == "one_hot" else "float32"
    values = [np.ones(tuple(batch if d is None else d for d in s), dtype) for s in shapes]
    try:
        if op == "einsum":
            return tuple(keras.ops.einsum(kwargs["subscripts"], *values).shape)
        return tuple(getattr(keras.ops, op)(*values, **kwargs).shape)
    except Exception:  # noqa: BLE001 - any failure of Keras or TensorFlow is the point
        return None


def _one_per_sample(static: Any, op: str, shapes: list[tuple[Any, ...]], **kwargs: Any) -> bool:
    """Real runs at batch 1 and 3 succeed, give the batch first and every size the static shape claims."""
    for batch in (1, 3):
        real = _real(op, shapes, batch, **kwargs)
        if real is None or len(real) != len(static) or (static and static[0] is None and real[0] != batch):
            return False
        if any(s is not None and s != r for s, r in zip(static, real)):
            return False
    return True


# -- einsum -------------------------------------------------------------------
def test_the_reported_einsum_is_a_located_error() -> None:
    assert _real("einsum", [(None, 4)], 3, subscripts="zz->zzz") is None  # TensorFlow refuses it
    diag = _error('{op: einsum, in: [x], subscripts: "zz->zzz"}')
    assert (diag.path, diag.line) == (("nodes", "o"), 7)
    assert "repeat 'z', the batch axis" in diag.message
    assert _static("einsum", [(3, 3)], subscripts="ii->iii") is None


_LETTERS = "abcA"


@st.composite
def _einsum_case(draw: st.DrawFn) -> tuple[str, list[tuple[int, ...]]]:
    """Subscripts and fixed shapes that TensorFlow and Keras accept or refuse in every way they can."""
    sizes = {c: draw(st.integers(1, 3)) for c in _LETTERS}
    ell = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    terms, shapes = [], []
    for _ in range(draw(st.integers(1, 2))):
        letters = "".join(draw(st.lists(st.sampled_from(_LETTERS), max_size=3)))
        dots = draw(st.integers(-1, len(letters)))
        term = letters if dots < 0 else letters[:dots] + "..." + letters[dots:]
        mine = ell[draw(st.integers(0, len(ell))) :] if dots >= 0 else ()
        shape = [sizes[c] for c in letters[: max(dots, 0)]] + list(mine) + [sizes[c] for c in letters[max(dots, 0) :]]
        if dots < 0:
            shape = [sizes[c] for c in letters]
        if shape and draw(st.integers(0, 5)) == 0:  # a size that disagrees, or a missing axis
            i = draw(st.integers(0, len(shape) - 1))
            shape = (
                shape[:i] + shape[i + 1 :] if draw(st.booleans()) else [*shape[:i], shape[i] % 3 + 1, *shape[i + 1 :]]
            )
        terms.append(term)
        shapes.append(tuple(shape))
    text = ",".join(terms)
    if draw(st.booleans()):
        out = "".join(draw(st.lists(st.sampled_from(_LETTERS + "d"), max_size=3)))
        if draw(st.booleans()):
            i = draw(st.integers(0, len(out)))
            out = out[:i] + "..." + out[i:]
        text += "->" + out
    return text, shapes


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_einsum_case())
def test_einsum_validates_exactly_when_keras_and_tensorflow_agree(case: tuple[str, list[tuple[int, ...]]]) -> None:
    """netform accepts exactly the subscripts whose Keras static shape is the shape TensorFlow computes."""
    text, shapes = case
    static = _static("einsum", shapes, subscripts=text)
    keras_static = _keras_static("einsum", shapes, subscripts=text)
    real = _real("einsum", shapes, 1, subscripts=text)
    fine = real is not None and keras_static == real
    assert (static is not None) == fine, (text, shapes, static, keras_static, real)
    if fine:
        assert tuple(static) == keras_static


@pytest.mark.parametrize(
    "subscripts, shapes",
    [
        ("bij,bkj->bik", [(None, 3, 4), (None, 5, 4)]),
        ("bij,jk->bik", [(None, 3, 4), (4, 2)]),
        ("bij->b", [(None, 3, 4)]),
        ("...ij,jk->...ik", [(None, 3, 4), (4, 2)]),
        ("bi,bi->b", [(None, 4), (None, 4)]),
        ("bij->bji", [(None, 3, 4)]),
        ("zz->zzz", [(None, 4)]),
        ("zz->z", [(None, 4)]),
        ("bij->ij", [(None, 3, 4)]),
        ("...ij->ij", [(None, 3, 4)]),
        ("bi,ci->bc", [(None, 4), (None, 4)]),
        ("bi,ij->bj", [(None, 4), (None, 4)]),
        ("...ij,...jk->...ik", [(None, 3, 4), (2, 4, 5)]),
        ("bij,bjk", [(None, 3, 4), (None, 4, 2)]),
    ],
    ids=str,
)
def test_einsum_on_a_model_batch_validates_exactly_when_it_gives_one_result_per_sample(
    subscripts: str, shapes: list[tuple[Any, ...]]
) -> None:
    static = _static("einsum", shapes, subscripts=subscripts)
    if static is not None:
        assert tuple(static) == _keras_static("einsum", shapes, subscripts=subscripts)
    assert (static is not None) == _one_per_sample(static or (None,), "einsum", shapes, subscripts=subscripts)


# -- matmul and the ops that change the batch axis ------------------------------------------------
@pytest.mark.parametrize(
    "shapes",
    [
        [(None, 4), (None, 4)],
        [(None, 4), (4, 3)],
        [(None, 3, 4), (None, 4, 2)],
        [(None, 3, 4), (2, 4, 5)],
        [(None, 3, 4), (4,)],
        [(None,), (None, 4)],
        [(4,), (None, 4, 2)],
        [(None, 3, 4), (1, 4, 5)],
    ],
    ids=str,
)
def test_matmul_validates_exactly_when_it_gives_one_result_per_sample(shapes: list[tuple[Any, ...]]) -> None:
    static = _static("matmul", shapes)
    if static is not None:
        assert tuple(static) == _keras_static("matmul", shapes)
    assert (static is not None) == _one_per_sample(static or (None,), "matmul", shapes)


def test_the_reported_matmul_is_a_located_error() -> None:
    assert _keras_static("matmul", [(None, 4), (None, 4)]) == (None, 4)  # Keras's static shape says nothing
    diag = _error("{op: matmul, in: [x, x]}")
    assert (diag.path, diag.line) == (("nodes", "o"), 7) and "the batch axis" in diag.message


@pytest.mark.parametrize(
    "op, kwargs, fine",
    [
        ("repeat", {"repeats": 1_000_000_000, "axis": 0}, False),
        ("repeat", {"repeats": 2, "axis": 0}, False),
        ("repeat", {"repeats": 2}, False),
        ("repeat", {"repeats": 1, "axis": 0}, True),
        ("repeat", {"repeats": 3, "axis": 1}, True),
        ("tile", {"repeats": [100_000, 1]}, False),
        ("tile", {"repeats": [2, 1]}, False),
        ("tile", {"repeats": [1, 1, 2]}, False),
        ("tile", {"repeats": [1, 3]}, True),
        ("tile", {"repeats": 3}, True),
        ("pad", {"pad_width": [[100_000, 0], [0, 2]]}, False),
        ("pad", {"pad_width": [[0, 1], [0, 2]]}, False),
        ("pad", {"pad_width": [[0, 0], [1, 2]]}, True),
        ("pad", {"pad_width": 1}, False),
    ],
    ids=str,
)
def test_ops_that_change_the_batch_axis_are_refused(op: str, kwargs: dict[str, Any], fine: bool) -> None:
    static = _static(op, [(None, 4)], **kwargs)
    assert (static is not None) == fine
    if fine:
        assert tuple(static) == _keras_static(op, [(None, 4)], **kwargs)
        assert _one_per_sample(static, op, [(None, 4)], **kwargs)
    elif max(np.ravel(kwargs.get("repeats", kwargs.get("pad_width", 0)))) < 1000:  # small enough to run
        assert not _one_per_sample((None, None), op, [(None, 4)], **kwargs)


def test_the_reported_batch_changes_are_located_errors() -> None:
    for node in (
        "{op: repeat, in: x, repeats: 1000000000, axis: 0}",
        "{op: tile, in: x, repeats: [100000, 1]}",
        "{op: pad, in: x, pad_width: [[100000, 0], [0, 2]]}",
    ):
        diag = _error(node)
        assert (diag.path, diag.line) == (("nodes", "o"), 7) and "the batch axis" in diag.message, node
    assert "whole numbers ≥ 0" in _error("{op: tile, in: x, repeats: [1, -2]}").message
    assert "values per sample" in _error("{op: repeat, in: x, repeats: 1000000000, axis: 1}").message


@pytest.mark.parametrize(
    "op, kwargs",
    [
        ("argsort", {"axis": 5}),
        ("sort", {"axis": -3}),
        ("cumsum", {"axis": 2}),
        ("cumprod", {"axis": 7}),
        ("flip", {"axis": 2}),
        ("roll", {"shift": 1, "axis": 3}),
        ("one_hot", {"num_classes": 3, "axis": 3}),
    ],
    ids=str,
)
def test_axes_out_of_range_are_refused(op: str, kwargs: dict[str, Any]) -> None:
    """Keras's static shape may pass them; on real tensors they fail."""
    assert _real(op, [(None, 4)], 3, **kwargs) is None
    diag = _error(f"{{op: {op}, in: x, " + ", ".join(f"{k}: {v}" for k, v in kwargs.items()) + "}")
    assert (diag.path, diag.line) == (("nodes", "o"), 7) and "out of range" in diag.message
    fine = {**kwargs, "axis": 1}
    assert _static(op, [(None, 4)], **fine) == _keras_static(op, [(None, 4)], **fine)


# -- the generic KerasLayer form is bounded like the schemas -------------------------------------
SEQ = "netform: 1\nname: t\nkind: sequential\ninputs:\n  x: {shape: %s}\nlayers:\n  - %s\n"


@pytest.mark.parametrize(
    "layer, message",
    [
        ("{type: KerasLayer, class_name: Dense, config: {units: 2000000000}}", "has 10,000,000,000 weights"),
        (
            "{type: KerasLayer, class_name: Embedding, config: {input_dim: 100000000, output_dim: 100}}",
            "has 10,000,000,000 weights",
        ),
        (
            "{type: KerasLayer, class_name: Dense, config: {units: 1000000000000}}",
            "config.units: 1,000,000,000,000 is larger than 2,147,483,647",
        ),
        (
            "{type: KerasLayer, class_name: Conv1D, config: {filters: 3, kernel_size: [2], strides: [-1099511627776]}}",
            "config.strides.0: -1,099,511,627,776 is larger",
        ),
    ],
    ids=["dense", "embedding", "units", "nested"],
)
def test_generic_keras_layers_are_bounded_at_validate(layer: str, message: str) -> None:
    """A KerasLayer naming a class netform has a schema for takes that schema's static shape and parameter count.

    The count is computed in pure Python from the config (the schema form ``from_keras`` would write), so no
    weights are allocated and TensorFlow is not imported; building the layer on a ``KerasTensor`` to count its
    weights would allocate them (Keras creates variables in ``build``), which is what must not happen. Every
    integer of any config is also bounded like every schema's integer fields. The built-in schema refuses the
    same layer with the same count.
    """
    with pytest.raises(SpecError) as info:
        load_spec(SEQ % ("[4]", layer))
    diag = info.value.diagnostics[0]
    assert message in diag.message and diag.line == 7, diag.message
    if "weights" in message:
        config = layer.split("config: ")[1][:-1]
        builtin = "{type: " + layer.split("class_name: ")[1].split(",")[0] + ", " + config[1:-1] + "}"
        with pytest.raises(SpecError, match=message):
            load_spec(SEQ % ("[4]", builtin))


@pytest.mark.parametrize(
    "shape, class_name, config",
    [
        ([4], "Dense", {"units": 3, "activation": "relu"}),
        ([5], "Embedding", {"input_dim": 10, "output_dim": 2}),
        ([8, 8, 3], "Conv2D", {"filters": 4, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same"}),
        ([6, 3], "LSTM", {"units": 5, "return_sequences": True}),
    ],
    ids=str,
)
def test_generic_keras_layer_static_shapes_equal_keras(
    shape: list[int], class_name: str, config: dict[str, Any]
) -> None:
    import netform as nf
    from netform.spec._load import shapes_of

    spec = load_spec(SEQ % (shape, {"type": "KerasLayer", "class_name": class_name, "config": config}))
    layer = getattr(keras.layers, class_name).from_config(config)
    out = layer(keras.Input(tuple(shape)))
    assert nf.build(spec).count_params() == layer.count_params()
    static = list(shapes_of(spec).values())[-1]
    assert static.output_shape == tuple(out.shape)
    assert (static.trainable, static.non_trainable) == (layer.count_params(), 0)


def test_generic_keras_layer_keys_the_schema_lacks_do_not_hide_its_size() -> None:
    """Dense's ``lora_alpha`` is Keras's but not the schema's: it changes no size, so the count still applies."""
    assert "lora_alpha" in keras.layers.Dense(2).get_config() or hasattr(keras.layers.Dense(2), "lora_alpha")
    layer = "{type: KerasLayer, class_name: Dense, config: {units: 2000000000, lora_alpha: 2}}"
    with pytest.raises(SpecError, match="has 10,000,000,000 weights"):
        load_spec(SEQ % ("[4]", layer))


# -- many unknown keys in one layer or op mapping ------------------------------------------------
@pytest.mark.parametrize(
    "node, first",
    [
        ("{type: Dense, units: 3, in: x, %s}", "unknown field 'k0'; Dense accepts: type, name"),
        ("{op: relu, in: x, %s}", "op relu has no argument 'k0'; its arguments: x"),
    ],
    ids=["layer", "op"],
)
def test_many_unknown_keys_in_one_mapping_are_refused_fast(node: str, first: str) -> None:
    """90,000 unknown keys (a 979 KB spec) took 6-7 s of CPU and 225 MB: one suggestion worked out per key."""
    from tests._budget import assert_cpu_under

    text = SPEC.replace("%s", node % ", ".join(f"k{i}: 1" for i in range(90_000)))
    assert len(text) < 1_000_000
    errors: list[SpecError] = []

    def refuse() -> None:
        with pytest.raises(SpecError) as info:
            load_spec(text)
        errors.append(info.value)

    # The YAML reading is most of it now: about 1 s on a quiet machine, 1.6-2 s on a loaded one.
    assert_cpu_under(refuse, 3.0, "refusing 90,000 unknown keys in one mapping")
    diags = errors[-1].diagnostics
    assert len(diags) == 101 and first in diags[0].message and diags[0].path[-1] == "k0"
    assert "89,900 more unknown" in diags[-1].message and "90,000 in all" in diags[-1].message


# -- dtypes and regularizer factors that failed only at build --------------------------------------
def _dense_runs(**kwargs: Any) -> bool:
    try:
        inputs = keras.Input((4,))
        keras.Model(inputs, keras.layers.Dense(2, **kwargs)(inputs)).predict(np.ones((2, 4), "float32"), verbose=0)
    except Exception:  # noqa: BLE001 - Keras's and TensorFlow's errors differ by dtype; that it fails is the point
        return False
    return True


@pytest.mark.parametrize("dtype", ["string", "object", "str", "float", "float8_e4m3fn"])
def test_layer_dtypes_no_layer_computes_with_are_refused(dtype: str) -> None:
    """``dtype: string`` passed validate; the build then failed with "make the layers smaller"."""
    assert not _dense_runs(dtype=dtype)
    with pytest.raises(SpecError) as info:
        load_spec(SEQ % ("[4]", f"{{type: Dense, units: 2, dtype: {dtype}}}"))
    diag = info.value.diagnostics[0]
    assert diag.path == ("layers", 0, "dtype") and f"dtype '{dtype}' is not a dtype policy" in diag.message


@pytest.mark.parametrize("dtype", ["float32", "float64", "mixed_float16", "int32", "int8_from_float32"])
def test_layer_dtypes_keras_computes_with_still_validate(dtype: str) -> None:
    assert _dense_runs(dtype=dtype)
    load_spec(SEQ % ("[4]", f"{{type: Dense, units: 2, dtype: {dtype}}}"))


@pytest.mark.parametrize(
    "regularizer",
    [
        "{type: L2, l2: .nan}",
        "{type: L1, l1: .inf}",
        "{type: L1L2, l1: -1}",
        "{type: OrthogonalRegularizer, factor: -0.5}",
    ],
)
def test_regularizer_factors_keras_refuses_are_refused_at_validate(regularizer: str) -> None:
    import yaml

    config = yaml.safe_load(regularizer)
    name = config.pop("type")
    with pytest.raises(ValueError, match="Invalid value for argument"):  # as Keras itself says
        getattr(keras.regularizers, name)(**config)
    with pytest.raises(SpecError) as info:
        load_spec(SEQ % ("[4]", f"{{type: Dense, units: 2, kernel_regularizer: {regularizer}}}"))
    diag = info.value.diagnostics[0]
    assert diag.path == ("layers", 0, "kernel_regularizer") and "must be a finite number ≥ 0" in diag.message


def test_keras_other_names_of_layers_take_the_schema_too() -> None:
    """``Convolution2D`` is Keras's ``Conv2D`` under another name; it is bounded the same way."""
    from netform.spec.layers.generic import KERAS_ALIASES

    for alias, name in KERAS_ALIASES.items():
        assert getattr(keras.layers, alias) is getattr(keras.layers, name), alias
    layer = "{type: KerasLayer, class_name: Convolution1D, config: {filters: 2000000000, kernel_size: 3}}"
    with pytest.raises(SpecError, match="has 14,000,000,000 weights"):
        load_spec(SEQ % ("[4, 2]", layer))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interpolation": "bogus"},
        {"fill_mode": "wrap", "pad_to_aspect_ratio": True},
        {"pad_to_aspect_ratio": True, "crop_to_aspect_ratio": True},
        {"data_format": "channels_middle"},
    ],
    ids=str,
)
def test_resize_settings_keras_checks_only_when_the_model_runs_are_refused(kwargs: dict[str, Any]) -> None:
    """Keras builds the model and fails at predict; netform refuses the node where it is written."""
    images = keras.Input((8, 8, 3))
    try:
        model = keras.Model(images, keras.ops.image.resize(images, (4, 4), **kwargs))
        model.predict(np.ones((2, 8, 8, 3), "float32"), verbose=0)
        ran = True
    except Exception:  # noqa: BLE001 - Keras's refusal is the point
        ran = False
    assert not ran
    assert _static("image.resize", [(None, 8, 8, 3)], size=[4, 4], **kwargs) is None
    assert _static("image.resize", [(None, 8, 8, 3)], size=[4, 4], interpolation="area") == (None, 4, 4, 3)
