"""A generic layer with a quantized dtype is counted at build time, and weights calls on an inference-only model
are refused with netform's errors.

* ``{type: KerasLayer, class_name: Dense, config: {units: 4, dtype: <QuantizedDTypePolicy int8>}}`` (what
  Keras's ``get_config`` writes after ``model.quantize("int8")``) was counted as a float Dense: 36 trainable,
  where Keras makes 4 trainable and 36 non-trainable values.
* ``nf.save``/``nf.save_weights``/``nf.load_weights`` of the inference-only model ``nf.load`` gives for another
  tool's SavedModel raised a raw ``AttributeError`` (no attribute 'weights').
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netform as nf
from netform.errors import FormatError, SaveError

QUANTIZED = (
    "{module: keras.dtype_policies, class_name: QuantizedDTypePolicy, config: {mode: int8, source_name: float32}}"
)


@pytest.mark.parametrize("dtype", [QUANTIZED, "int8_from_float32"])
def test_a_quantized_generic_layer_is_counted_at_build(dtype: str) -> None:
    text = (
        "netform: 1\nkind: functional\ninputs: {x: {shape: [8]}}\nnodes:\n"
        f"  n: {{type: KerasLayer, class_name: Dense, config: {{units: 4, dtype: {dtype}}}, in: x}}\noutputs: [n]\n"
    )
    spec = nf.load_spec(text)
    row = {r.name: r for r in nf.summary(spec).rows}["n"]
    assert row.trainable is None  # never the float layer's 36 trainable
    layer = nf.build(spec).get_layer("n")
    assert layer.dtype_policy.name == "int8_from_float32"


@pytest.fixture(scope="module")
def inference(tmp_path_factory: pytest.TempPathFactory) -> object:
    import tensorflow as tf

    class Scale(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.v = tf.Variable([1.0, 2.0])

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def __call__(self, x: tf.Tensor) -> tf.Tensor:
            return x * self.v

    folder = tmp_path_factory.mktemp("foreign") / "sm"
    tf.saved_model.save(Scale(), str(folder))
    return nf.load(str(folder))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("x.weights.h5", {}),
        ("y.weights.h5", {"format": "weights_h5"}),
        ("ck/w.ckpt", {"format": "tf_checkpoint"}),
    ],
)
def test_saving_weights_of_an_inference_model_is_a_save_error(
    inference: object, tmp_path: Path, name: str, kwargs: dict[str, str]
) -> None:
    with pytest.raises(SaveError, match="inference-only model"):
        nf.save(inference, tmp_path / name, **kwargs)
    with pytest.raises(SaveError, match="inference-only model"):
        nf.save_weights(inference, tmp_path / name)
    assert not any(tmp_path.rglob("*.h5")) and not any(tmp_path.rglob("*.index"))


def test_loading_weights_into_an_inference_model_is_a_format_error(inference: object, tmp_path: Path) -> None:
    m = nf.build(
        nf.load_spec("netform: 1\nkind: sequential\ninputs: {x: {shape: [2]}}\nlayers: [{type: Dense, units: 2}]\n")
    )
    nf.save_weights(m, tmp_path / "w.weights.h5")
    with pytest.raises(FormatError, match="inference-only model"):
        nf.load_weights(inference, tmp_path / "w.weights.h5")
