"""A generic ``KerasLayer``'s static counts are the built layer's, and the build honours what the node says.

Three disagreements with Keras (found from the outside):

* ``trainable: false`` in the config (as Keras's ``get_config`` writes it) was ignored by ``summary``: a frozen
  ``Conv2D`` was counted as 112 trainable parameters, Keras has 112 non-trainable ones (wrappers too:
  ``TimeDistributed``, ``Bidirectional``).
* ``trainable: false`` beside the config (as every layer takes it) was shown as frozen by ``summary`` but
  dropped by the build: the layer the user froze was trained.
* ``LayerNormalization {rms_scaling: true}`` was counted with a beta Keras does not make: a key netform's schema
  lacks was taken to change no size. Such a key now leaves the shapes to build time unless it holds Keras's
  default.
"""

from __future__ import annotations

from typing import Any

import pytest

import netform as nf
from netform.errors import SpecError


def _spec(node: str, shape: str = "[12, 12, 3]") -> str:
    return f"netform: 1\nkind: functional\ninputs: {{x: {{shape: {shape}}}}}\nnodes:\n  n: {node}\noutputs: [n]\n"


CASES = [
    ("{type: KerasLayer, class_name: Conv2D, config: {filters: 4, kernel_size: 3, trainable: false}, in: x}", None),
    ("{type: KerasLayer, class_name: Conv2D, trainable: false, config: {filters: 4, kernel_size: 3}, in: x}", None),
    (
        "{type: KerasLayer, class_name: Conv2D, trainable: true, config: {filters: 4, kernel_size: 3, "
        "trainable: false}, in: x}",
        None,
    ),
    ("{type: KerasLayer, class_name: BatchNormalization, config: {trainable: false}, in: x}", None),
    ("{type: KerasLayer, class_name: Dense, config: {units: 3, lora_rank: 2, trainable: false}, in: x}", "[5]"),
    (
        "{type: KerasLayer, class_name: TimeDistributed, config: {trainable: false, layer: {module: keras.layers, "
        "class_name: Dense, config: {units: 3}}}, in: x}",
        "[4, 7]",
    ),
    (
        "{type: KerasLayer, class_name: Bidirectional, config: {trainable: false, layer: {module: keras.layers, "
        "class_name: LSTM, config: {units: 4}}}, in: x}",
        "[4, 7]",
    ),
    ("{type: KerasLayer, class_name: LayerNormalization, config: {rms_scaling: true}, in: x}", None),
    (
        "{type: KerasLayer, class_name: LayerNormalization, config: {rms_scaling: true, center: false, "
        "scale: false}, in: x}",
        None,
    ),
    ("{type: KerasLayer, class_name: LayerNormalization, config: {rms_scaling: false}, in: x}", None),
]


def _keras_counts(model: Any) -> tuple[int, int]:
    layer = model.get_layer("n")
    trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
    frozen = sum(int(w.numpy().size) for w in layer.non_trainable_weights)
    return trainable, frozen


@pytest.mark.parametrize(("node", "shape"), CASES)
def test_static_counts_are_keras_counts(node: str, shape: str | None) -> None:
    spec = nf.load_spec(_spec(node, shape or "[12, 12, 3]"))
    row = {r.name: r for r in nf.summary(spec).rows}["n"]
    model = nf.build(spec)
    if row.trainable is None:  # left to build time: never a wrong static answer
        assert "rms_scaling: true" in node
        return
    assert (row.trainable, row.non_trainable) == _keras_counts(model)


def test_the_node_trainable_reaches_the_built_layer() -> None:
    frozen = nf.build(
        _spec("{type: KerasLayer, class_name: Conv2D, trainable: false, config: {filters: 4, kernel_size: 3}, in: x}")
    )
    assert frozen.get_layer("n").trainable is False and not frozen.get_layer("n").trainable_weights
    both = nf.build(
        _spec(
            "{type: KerasLayer, class_name: Conv2D, trainable: true, config: {filters: 4, kernel_size: 3, "
            "trainable: false}, in: x}"
        )
    )
    assert both.get_layer("n").trainable is False


def test_the_node_dtype_reaches_the_built_layer() -> None:
    model = nf.build(
        _spec("{type: KerasLayer, class_name: Dense, dtype: float64, config: {units: 2}, in: x}", shape="[3]")
    )
    assert model.get_layer("n").dtype_policy.name == "float64"


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ("{type: KerasLayer, class_name: Dense, config: {units: 2, trainable: maybe}, in: x}", "true or false"),
        (
            "{type: KerasLayer, class_name: Dense, dtype: float64, config: {units: 2, dtype: float16}, in: x}",
            "give the layer's dtype once",
        ),
    ],
)
def test_settings_given_twice_or_wrong_are_refused(node: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        nf.load_spec(_spec(node, shape="[3]"))


def test_the_same_dtype_twice_is_accepted() -> None:
    nf.load_spec(
        _spec("{type: KerasLayer, class_name: Dense, dtype: float64, config: {units: 2, dtype: float64}, in: x}", "[3]")
    )


def test_a_dtype_policy_without_a_mapping_config_is_a_spec_error() -> None:
    # a policy whose config is no mapping crashed the check with a raw AttributeError (exit 70)
    with pytest.raises(SpecError, match="give the layer's dtype once"):
        nf.load_spec(
            _spec(
                "{type: KerasLayer, class_name: Dense, dtype: float32, config: {units: 2, dtype: "
                "{class_name: DTypePolicy, config: abc}}, in: x}",
                shape="[3]",
            )
        )
