"""Validate refuses, where the spec writes it, what Keras refuses when the model is built or compiled.

* A built-in activation written as a mapping (``{type: softmax, axis: 1}``): Keras reads a mapping as a class
  to deserialize, and no built-in activation is one; ``threshold`` as a layer's activation (it needs two
  arguments a layer never passes).
* A complex layer dtype where a random initializer makes a weight (it draws real numbers only).
* A complex layer dtype with an activation Keras computes on real numbers only (relu).
* A ``Constant`` initializer whose value does not broadcast to the Dense or Embedding weight it fills; an
  Orthogonal or Identity initializer, or an OrthogonalRegularizer, on a Dense bias (a weight of one axis).
* ``VarianceScaling``'s scale (above 0), mode and distribution, a random initializer's seed, STFT's side and
  scaling, ``OrthogonalRegularizer``'s mode.
* A metric, optimizer or callback class whose constructor has arguments without a default, named without
  them (``metrics: [IoU]``); the metric names Keras cannot read (``crossentropy``, ``logcosh``).

tests/spec/test_keras_agrees_run15.py checks each of these against Keras itself.
"""

from __future__ import annotations

import pytest

from netform.errors import SpecError
from netform.spec import load_spec

FUNC = "netform: 1\nkind: functional\ninputs: {x: {shape: [8, 8, 3]}}\nnodes:\n  o: {type: Dense, units: 2, %s, in: x}\noutputs: [o]\n"
SEQ = "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers: [{type: Dense, units: 2}]\ntraining:\n  loss: mse\n  %s\n"


def _refused(text: str) -> tuple[str, int | None, int | None, tuple[str | int, ...]]:
    with pytest.raises(SpecError) as info:
        load_spec(text)
    diag = info.value.diagnostics[0]
    return diag.message, diag.line, diag.column, diag.path


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("activation: {type: softmax, axis: 7}", ["activation: softmax", "Softmax (axis)"]),
        ("activation: {type: relu}", ["by its name only", "activation: relu"]),
        ("activation: {type: leaky_relu, negative_slope: 0.1}", ["LeakyReLU (negative_slope)"]),
        ("activation: threshold", ["threshold needs", "default_value"]),
        (
            "kernel_initializer: {type: VarianceScaling, scale: -1, mode: fan_x}",
            ["mode is one of fan_in, fan_out, fan_avg", "scale is a number above 0"],
        ),
        ("kernel_initializer: {type: VarianceScaling, scale: 0}", ["scale is a number above 0"]),
        ("kernel_initializer: {type: variance_scaling, distribution: gauss}", ["distribution is one of"]),
        ("kernel_initializer: {type: GlorotUniform, seed: 1.5}", ["seed is a whole number"]),
        ("kernel_initializer: {type: he_normal, seed: abc}", ["seed is a whole number"]),
        ("kernel_regularizer: {type: OrthogonalRegularizer, factor: 1, mode: channels}", ["mode is one of rows"]),
        ("kernel_regularizer: {type: OrthogonalRegularizer, factor: -1}", ["factor must be a finite number"]),
    ],
)
def test_layer_arguments_keras_refuses_are_refused_at_the_field(field: str, words: list[str]) -> None:
    message, line, column, path = _refused(FUNC % field)
    assert (line, column) == (5, 30), message  # the field of node o
    assert path[-1] == field.split(":")[0]
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "field",
    [
        "activation: softmax",
        "activation: leaky_relu",
        "kernel_initializer: {type: VarianceScaling, scale: 0.5, mode: fan_avg, distribution: Uniform}",
        "kernel_initializer: {type: VarianceScaling, distribution: normal, seed: 3}",
        "kernel_initializer: {type: VarianceScaling, distribution: untruncated_normal, seed: null}",
        "kernel_regularizer: {type: OrthogonalRegularizer, factor: 0, mode: columns}",
        "kernel_initializer: {type: Constant, value: [1, 2]}",
        "kernel_initializer: {type: Constant, value: [[1], [2], [3]]}",
        "kernel_initializer: {type: Constant, value: 0.5}",
        "bias_initializer: {type: Constant, value: [1]}",
        "dtype: complex128, kernel_initializer: zeros, use_bias: false",
        "dtype: complex64, kernel_initializer: {type: Constant, value: 1}",
        "dtype: float64",
    ],
)
def test_what_keras_builds_still_validates(field: str) -> None:
    load_spec(FUNC.replace("shape: [8, 8, 3]", "shape: [3]") % field)


def test_a_constant_that_does_not_broadcast_is_refused_at_its_node() -> None:
    message, line, column, path = _refused(FUNC % "kernel_initializer: {type: Constant, value: [[1,2],[3,4]]}")
    assert (line, column, path) == (5, 3, ("nodes", "o"))
    assert "kernel_initializer is a Constant of shape (2, 2)" in message
    assert "of shape (3, 2)" in message
    assert "smaller" not in message
    message, *_ = _refused(FUNC % "bias_initializer: {type: Constant, value: [1, 2, 3]}")
    assert "bias_initializer is a Constant of shape (3,)" in message and "(2,)" in message
    # broadcasting with the weight, but widening it: Keras makes a (3, 2) bias, and the layer fails when called
    message, *_ = _refused(FUNC % "bias_initializer: {type: Constant, value: [[1], [2], [3]]}")
    assert "bias_initializer is a Constant of shape (3, 1)" in message


def test_an_embedding_constant_is_checked_against_its_table() -> None:
    text = (
        "netform: 1\nkind: sequential\ninputs: {x: {shape: [4], dtype: int32}}\n"
        "layers:\n  - {type: Embedding, input_dim: 10, output_dim: 3, embeddings_initializer: %s}\n"
    )
    load_spec(text % "{type: Constant, value: [1, 2, 3]}")
    message, line, *_ = _refused(text % "{type: Constant, value: [1, 2]}")
    assert line == 5 and "of shape (10, 3)" in message


def test_a_complex_dtype_with_random_weights_is_refused() -> None:
    message, line, column, _ = _refused(FUNC % "dtype: complex128")
    assert (line, column) == (5, 3)
    assert "dtype complex128" in message and "kernel_initializer glorot_uniform" in message
    message, *_ = _refused(FUNC % "dtype: complex64, kernel_initializer: zeros, bias_initializer: random_normal")
    assert "bias_initializer random_normal" in message


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("metrics: [crossentropy]", ["unknown metric 'crossentropy'"]),
        ("metrics: [logcosh]", ["unknown metric 'logcosh'"]),
        ("metrics: [IoU]", ["IoU cannot be named alone", "{type: IoU, num_classes: 2, target_class_ids: [0]}"]),
        ("metrics: [SpecificityAtSensitivity]", ["{type: SpecificityAtSensitivity, sensitivity: 0.5}"]),
        ("metrics: [MeanIoU]", ["MeanIoU cannot be named alone"]),
        ("metrics: [OneHotIoU]", ["OneHotIoU cannot"]),
        ("metrics: [OneHotMeanIoU]", ["OneHotMeanIoU cannot"]),
        ("metrics: [PrecisionAtRecall]", ["recall: 0.5"]),
        ("metrics: [RecallAtPrecision]", ["precision: 0.5"]),
        ("metrics: [SensitivityAtSpecificity]", ["specificity: 0.5"]),
        ("metrics: [{type: IoU, num_classes: 3}]", ["IoU needs target_class_ids (Keras has no default for it)"]),
        ("metrics: [{type: MeanIoU}]", ["MeanIoU needs num_classes"]),
        ("optimizer: LossScaleOptimizer", ["LossScaleOptimizer cannot be named alone", "inner_optimizer: adam"]),
        ("callbacks: [{type: CSVLogger}]", ["CSVLogger needs filename"]),
        ("callbacks: [{type: BackupAndRestore}]", ["BackupAndRestore needs backup_dir"]),
    ],
)
def test_training_names_keras_cannot_make_are_refused(entry: str, words: list[str]) -> None:
    message, line, column, path = _refused(SEQ % entry)
    assert line == 7 and column is not None
    assert path[:2] == ("training", entry.split(":")[0])
    for word in words:
        assert word in message


def test_logcosh_is_no_loss_name() -> None:
    message, *_ = _refused((SEQ % "metrics: [mae]").replace("loss: mse", "loss: logcosh"))
    assert "unknown loss 'logcosh'" in message


@pytest.mark.parametrize(
    "entry",
    [
        "metrics: [{type: IoU, num_classes: 2, target_class_ids: [0]}]",
        "metrics: [{type: MeanIoU, num_classes: 2}, BinaryIoU, log_cosh_error]",
        "metrics: [{type: PrecisionAtRecall, recall: 0.5}]",
        "optimizer: {type: LossScaleOptimizer, inner_optimizer: adam}",
    ],
)
def test_the_same_classes_with_their_arguments_validate(entry: str) -> None:
    load_spec(SEQ % entry)


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("bias_initializer: orthogonal", ["bias_initializer orthogonal fills only weights of two or more axes"]),
        ("bias_initializer: {type: Identity}", ["bias_initializer Identity fills only weights of two axes"]),
        ("bias_regularizer: {type: OrthogonalRegularizer}", ["bias_regularizer OrthogonalRegularizer reads only"]),
    ],
)
def test_initializers_and_regularizers_of_matrices_are_refused_on_a_bias(field: str, words: list[str]) -> None:
    message, line, column, path = _refused(FUNC % field)
    assert (line, column, path) == (5, 3, ("nodes", "o"))
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "field",
    [
        "kernel_initializer: identity",
        "kernel_initializer: orthogonal, bias_initializer: orthogonal, use_bias: false",
        "kernel_regularizer: {type: OrthogonalRegularizer, mode: columns}",
    ],
)
def test_initializers_and_regularizers_of_matrices_still_validate_on_a_kernel(field: str) -> None:
    load_spec(FUNC.replace("shape: [8, 8, 3]", "shape: [3]") % field)


def test_a_complex_dtype_with_a_real_activation_is_refused() -> None:
    message, *_ = _refused(FUNC % "dtype: complex64, kernel_initializer: zeros, activation: relu")
    assert "dtype complex64 cannot be used with activation relu" in message and "tanh" in message
    load_spec(FUNC % "dtype: complex64, kernel_initializer: zeros, activation: tanh")


def test_conv_kernels_and_biases_are_checked_with_their_shapes() -> None:
    conv = (
        "netform: 1\nkind: functional\ninputs: {x: {shape: [5, 5, 4]}}\n"
        "nodes:\n  o: {type: Conv2D, filters: 2, kernel_size: 3, groups: 2, %s, in: x}\noutputs: [o]\n"
    )
    message, line, *_ = _refused(conv % "kernel_initializer: {type: Constant, value: [[1], [2], [3], [4]]}")
    assert line == 5 and "Conv2D's kernel_initializer is a Constant of shape (4, 1)" in message
    assert "(3, 3, 2, 2)" in message
    message, *_ = _refused(conv % "kernel_initializer: identity")
    assert "kernel_initializer identity fills only weights of two axes" in message
    message, *_ = _refused(conv % "kernel_regularizer: {type: OrthogonalRegularizer}")
    assert "kernel_regularizer OrthogonalRegularizer reads only weights of two axes" in message
    load_spec(conv % "kernel_initializer: orthogonal, bias_initializer: {type: Constant, value: [1, 2]}")
