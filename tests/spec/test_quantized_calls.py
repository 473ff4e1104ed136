"""A quantized dtype policy on a layer Keras has no quantized call for, and a generic layer naming no class of
keras.layers, are refused at validate.

Keras computes in ``int8_from_float32`` (and int4, float8) only in the layers with a call of their own for the
mode (Dense, EinsumDense, Embedding, ReversibleEmbedding): a ``Conv1D`` in ``int8_from_float32`` built, saved,
and then failed the first time it ran with Keras's ``NotImplementedError`` ("does not have a `_int8_call`
method"), which the command line reported as a bug (exit 70). ``class_name: Dens`` passed validate and was
refused only by the build.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import SpecError
from netform.spec._keras_layer_args import KERAS_LAYER_ARGS
from netform.spec._layer_base import QUANTIZED_CALLS, quantization_mode

_CLI = [sys.executable, "-c", "import sys; from netform.cli._main import _entry; sys.exit(_entry())"]


def _spec(layer: str, shape: str = "[6, 4]") -> str:
    return f"netform: 1\nkind: sequential\ninputs: {{x: {{shape: {shape}}}}}\nlayers:\n  - {layer}\n"


def test_the_table_is_keras_own():
    # every exported layer class whose own method runs in a mode, and no other
    quantized_modes = ("int8", "int4", "float8", "gptq", "awq")
    assert set(QUANTIZED_CALLS) == set(quantized_modes)
    for mode in quantized_modes:
        base = getattr(keras.layers.Layer, f"_{mode}_call")
        takers = set()
        for name in KERAS_LAYER_ARGS:
            cls = getattr(keras.layers, name)
            if getattr(cls, f"_{mode}_call", base) is not base:
                takers.add(cls.__name__)
        assert takers == set(QUANTIZED_CALLS[mode]), mode


@pytest.mark.parametrize(
    "layer",
    [
        "{type: Conv1D, filters: 2, kernel_size: 2, dtype: int8_from_float32}",
        "{type: LSTM, units: 2, dtype: int4_from_float32}",
        "{type: LayerNormalization, dtype: int8_from_bfloat16}",
        "{type: Embedding, input_dim: 5, output_dim: 2, dtype: float8_from_float32}",
        "{type: Bidirectional, layer: {type: GRU, units: 2}, dtype: int8_from_float32}",
        "{type: KerasLayer, class_name: Conv1D, config: {filters: 2, kernel_size: 2}, dtype: int8_from_float32}",
        "{type: KerasLayer, class_name: SimpleRNN, config: {units: 2, dtype: int4_from_float32}}",
        "{type: KerasLayer, class_name: Conv1D, config: {filters: 2, kernel_size: 2, dtype: {module: keras, "
        "class_name: QuantizedDTypePolicy, config: {mode: int8, source_name: float32}}}}",
    ],
)
def test_a_layer_without_a_quantized_call_is_refused(layer: str):
    with pytest.raises(
        nf.SpecError,
        match=r"<string>:5:\d+: layers\[0\]: .*Keras has no (int8|int4|float8) call "
        r"for a \w+ layer, so it fails the first time it runs",
    ):
        nf.load_spec(_spec(layer))


@pytest.mark.parametrize(
    "layer, shape",
    [
        ("{type: Dense, units: 3, dtype: int8_from_float32}", "[4]"),
        ("{type: Dense, units: 3, dtype: float8_from_float32}", "[4]"),
        ("{type: EinsumDense, equation: 'ab,bc->ac', output_shape: [3], dtype: int4_from_float32}", "[4]"),
        ("{type: Embedding, input_dim: 5, output_dim: 2, dtype: int8_from_float32}", "[4]"),
        ("{type: KerasLayer, class_name: Dense, config: {units: 3, dtype: int8_from_bfloat16}}", "[4]"),
    ],
)
def test_a_layer_with_one_builds_and_runs(layer: str, shape: str):
    spec = nf.load_spec(_spec(layer, shape))
    model = nf.build(spec, api="functional")
    x = np.ones((2, 4), "int32" if "Embedding" in layer else "float32")
    assert np.all(np.isfinite(np.asarray(model.predict(x, verbose=0), dtype="float32")))


def test_the_mode_of_every_form():
    assert quantization_mode("int8_from_float32") == "int8"
    assert quantization_mode("float8_from_mixed_bfloat16") == "float8"
    assert quantization_mode({"class_name": "QuantizedDTypePolicy", "config": {"mode": "int4"}}) == "int4"
    assert quantization_mode({"class_name": "Int4DTypePolicy", "config": {"mode": "int4/128"}}) == "int4"
    assert quantization_mode({"class_name": "DTypePolicy", "config": {"name": "float32"}}) is None
    assert quantization_mode("float32") is None


@pytest.mark.parametrize("name, hint", [("Dens", "Dense"), ("Sequential", None), ("Functional", None), ("Op", None)])
def test_a_generic_layer_names_a_class_of_keras_layers(name: str, hint: str | None):
    with pytest.raises(
        nf.SpecError, match=rf"layers\[0\]\.class_name: '{name}' is not a layer class of keras\.layers"
    ) as info:
        nf.load_spec(_spec(f"{{type: KerasLayer, class_name: {name}, config: {{units: 3}}}}"))
    if hint is not None:
        assert f"Did you mean '{hint}'?" in str(info.value)


def test_keras_other_names_of_a_class_are_taken():
    spec = nf.load_spec(_spec("{type: KerasLayer, class_name: Convolution1D, config: {filters: 2, kernel_size: 2}}"))
    assert nf.build(spec).output_shape == (None, 5, 2)


def test_a_foreign_file_keras_cannot_run_is_a_keras_refusal(tmp_path: Path):
    # a plain Keras file of a Conv1D in int8: Keras saves and loads it, and fails when it runs; the command line
    # says so with the data commands' exit code, not as a bug
    model = keras.Sequential([keras.Input((6, 4)), keras.layers.Conv1D(2, 2, dtype="int8_from_float32")])
    model.save(tmp_path / "c.keras")
    np.savez(tmp_path / "d.npz", x=np.ones((4, 6, 4), "float32"))
    run = subprocess.run(
        [*_CLI, "predict", "c.keras", "--data", "d.npz", "--x", "x", "-o", "p.npy"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 4, run.stderr
    assert "Keras refused to run the model (NotImplementedError)" in run.stderr
    assert "Layer Conv1D does not have a `_int8_call` method implemented; check" in run.stderr
    assert "unexpected" not in run.stderr and not (tmp_path / "p.npy").exists()


def test_from_keras_of_a_model_keras_cannot_run_says_so():
    model = keras.Sequential([keras.Input((6, 4)), keras.layers.Conv1D(2, 2, dtype="int8_from_float32")])
    with pytest.raises(
        nf.BuildError,
        match=r"model '\w+' cannot run in Keras, so it has no spec: .*Keras has no "
        r"int8 call for a Conv1D layer",
    ) as info:
        nf.from_keras(model)
    assert "please report" not in str(info.value)


@pytest.mark.parametrize(
    "layer, where, message",
    [
        (
            "{type: KerasLayer, class_name: TimeDistributed, config: {layer: {module: keras.layers, "
            "class_name: Dens, config: {units: 2}}}}",
            r"config\.layer\.class_name",
            r"'Dens' is not a layer class of keras\.layers \(Did you mean 'Dense'\?\)",
        ),
        (
            "{type: KerasLayer, class_name: Bidirectional, config: {layer: {module: keras.layers, "
            "class_name: LSTM, config: {units: 2, dtype: int8_from_float32}}}}",
            r"config\.layer\.config\.dtype",
            r"Keras has no int8 call for a LSTM layer",
        ),
    ],
    ids=["class", "quantized"],
)
def test_a_layer_a_wrapper_holds_is_held_to_the_same_rules(layer: str, where: str, message: str):
    # before, the first was refused only by the build, the second built and failed when it ran
    with pytest.raises(nf.SpecError, match=rf"layers\[0\]: {where}: {message}"):
        nf.load_spec(_spec(layer))


def test_a_wrapped_quantized_dense_is_taken():
    layer = (
        "{type: KerasLayer, class_name: TimeDistributed, config: {layer: {module: keras.layers, "
        "class_name: Dense, config: {units: 2, dtype: int8_from_float32}}}}"
    )
    model = nf.build(nf.load_spec(_spec(layer)))
    assert model.predict(np.ones((1, 6, 4), "float32"), verbose=0).shape == (1, 6, 2)


@pytest.mark.parametrize("dtype", ["int8_from_float16", "int8_from_mixed_float16"])
def test_int8_over_float16_is_refused_as_keras_refuses_it(dtype: str):
    # validate said ok and the build failed: "Quantization mode='int8' doesn't work well with compute_dtype='float16'"
    with pytest.raises(nf.SpecError, match=r"Keras refuses int8 quantization with a float16 compute dtype"):
        nf.load_spec(_spec(f"{{type: Dense, units: 3, dtype: {dtype}}}", "[4]"))
    with pytest.raises(ValueError, match="doesn't work well with compute_dtype='float16'"):
        keras.layers.Dense(3, dtype=dtype)


@pytest.mark.parametrize(
    "dtype", ["int4_from_float16", "int4_from_mixed_float16", "float8_from_float16", "int8_from_mixed_bfloat16"]
)
def test_the_other_quantized_policies_over_16_bit_floats_build(dtype: str):
    model = nf.build(nf.load_spec(_spec(f"{{type: Dense, units: 3, dtype: {dtype}}}", "[4]")))
    assert model.predict(np.ones((2, 4), "float32"), verbose=0).shape == (2, 3)


@pytest.mark.parametrize(
    "layer",
    [
        "{type: Dense, units: 4, lora_rank: 2, dtype: float8_from_float32}",
        "{type: EinsumDense, equation: 'ab,bc->ac', output_shape: [4], lora_rank: 2, dtype: float8_from_float32}",
        "{type: KerasLayer, class_name: Dense, config: {units: 4, lora_rank: 2, dtype: float8_from_float32}}",
        "{type: KerasLayer, class_name: Dense, config: {units: 4, lora_rank: 2}, dtype: float8_from_float32}",
    ],
)
def test_lora_in_float8_is_refused(layer: str):
    # validate said ok; the build of a subclassed model exited 70, fit and predict failed:
    # "Currently, `_float8_call` doesn't support LoRA"
    with pytest.raises(nf.SpecError, match=r"Keras's float8 call does not support LoRA"):
        nf.load_spec(_spec(layer, "[8]"))


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_lora_in_int8_and_int4_builds_and_runs(mode: str):
    model = nf.build(nf.load_spec(_spec(f"{{type: Dense, units: 4, lora_rank: 2, dtype: {mode}_from_float32}}", "[8]")))
    assert model.predict(np.ones((2, 8), "float32"), verbose=0).shape == (2, 4)


@pytest.mark.parametrize("dtype", ["gptq/4/-1_from_float32", "awq/4/128_from_float32"])
def test_calibrated_policies_are_refused_in_a_generic_config(dtype: str):
    # the build wrote a file nothing could load ("expected 5 variables, but received 4"); subclass exit 70
    layer = f"{{type: KerasLayer, class_name: Dense, config: {{units: 4, dtype: '{dtype}'}}}}"
    with pytest.raises(nf.SpecError, match=r"Keras builds no layer in a (gptq|awq) dtype policy from a config"):
        nf.load_spec(_spec(layer, "[8]"))


@pytest.mark.parametrize("name", ["int8_from_float32", "int4_from_float32", "float8_from_bfloat16"])
@pytest.mark.parametrize("policy", ["DTypePolicy", "FloatDTypePolicy"])
def test_a_float_policy_class_naming_a_quantized_policy_is_refused(name: str, policy: str):
    # validate said ok; Keras's DTypePolicy refuses a quantized name, so the build failed (exit 3)
    config = {"units": 4, "dtype": {"module": "keras", "class_name": policy, "config": {"name": name}}}
    spec = {
        "netform": 1,
        "kind": "functional",
        "inputs": {"x": {"shape": [6]}},
        "nodes": {"d": {"type": "KerasLayer", "class_name": "Dense", "config": config, "in": "x"}},
        "outputs": ["d"],
    }
    with pytest.raises(SpecError, match=rf"{policy} computes in a float policy and cannot take the quantized"):
        nf.load_spec(spec)
    with pytest.raises(ValueError):  # Keras refuses the same config
        keras.layers.Dense.from_config({"units": 4, "dtype": keras.dtype_policies.deserialize(config["dtype"])})
    config["dtype"] = name  # the name alone is Keras's quantized policy
    assert nf.build(nf.load_spec(spec)).count_params() > 0


@pytest.mark.parametrize(
    ("dtype", "message"),
    [
        (
            {"module": "keras", "class_name": "QuantizedDTypePolicy", "config": {"name": "int8_from_float32"}},
            r"QuantizedDTypePolicy takes mode, source_name; remove name",
        ),
        ({"config": {"name": "int8_from_float32"}}, r"None is not a dtype policy class of Keras"),
        (
            {
                "module": "keras",
                "class_name": "QuantizedFloat8DTypePolicy",
                "config": {"mode": "float8", "amax_history_length": -3},
            },
            r"amax_history_length is a positive whole number",
        ),
        ({"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32", "extra": 1}}, r"remove extra"),
        ({"module": None, "class_name": "pkg>Pol", "config": {"name": "float32"}}, r"'pkg>Pol' is not a dtype policy"),
        (
            {"module": "keras", "class_name": "Int4DTypePolicy", "config": {"source_name": "float32"}},
            r"needs its `mode`",
        ),
    ],
)
def test_a_dtype_policy_mapping_keras_cannot_make_is_refused(dtype: dict, message: str):
    # each passed validate and failed the build (Keras makes a policy with cls(**config))
    spec = {
        "netform": 1,
        "kind": "functional",
        "inputs": {"x": {"shape": [4]}},
        "nodes": {
            "d": {"type": "KerasLayer", "class_name": "Dense", "config": {"units": 3, "dtype": dtype}, "in": "x"}
        },
        "outputs": ["d"],
    }
    with pytest.raises(SpecError, match=message):
        nf.load_spec(spec)
    with pytest.raises(Exception):  # Keras's own refusal (TypeError or ValueError)
        layer = keras.layers.Dense.from_config({"units": 3, "dtype": dtype})
        layer(np.ones((1, 4), "float32"))


def test_spectral_normalization_of_a_quantized_layer_is_refused():
    # validate said ok; the build failed ("Cannot convert 0.0 to EagerTensor of dtype int8")
    layer = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 4, "dtype": "int8_from_float32"}}
    spec = {
        "netform": 1,
        "kind": "sequential",
        "inputs": {"x": {"shape": [8]}},
        "layers": [{"type": "KerasLayer", "class_name": "SpectralNormalization", "config": {"layer": layer}}],
    }
    with pytest.raises(SpecError, match=r"SpectralNormalization cannot wrap a layer in a quantized dtype policy"):
        nf.load_spec(spec)
    with pytest.raises(Exception):  # Keras's own refusal, at build
        model = keras.Sequential(
            [keras.Input((8,)), keras.layers.SpectralNormalization(keras.layers.Dense(4, dtype="int8_from_float32"))]
        )
        model(np.ones((1, 8), "float32"))
    layer["config"]["dtype"] = "float32"
    assert nf.build(nf.load_spec(spec)).count_params() > 0
