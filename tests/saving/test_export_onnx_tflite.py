"""Deployment exports: ONNX (tf2onnx, run with onnxruntime) and LiteRT/TFLite (tf.lite, run with its interpreter).

Every zoo model is exported to both and its predictions compared with
Keras's own on the same data; detection by content, the replace-only-your-own
rule, quantization, the CLI and the refusals are checked on small models.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netform as nf
from netform.errors import FormatError, SaveError
from netform.saving import detect_format

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

ROOT = Path(__file__).resolve().parents[2]
ZOO = sorted(p.stem for p in (ROOT / "models").glob("*.yaml"))
#: Zoo models whose export and run take longest on a 2-core machine (bilstm_text: 8 s ONNX, 6 s TFLite;
#: resnet_small and mobilenet_small: 4 s TFLite; every other one under 4 s; all tests of this file 62 s).
SLOW_ONNX = {"bilstm_text"}
SLOW_TFLITE = {"bilstm_text", "resnet_small", "mobilenet_small"}
TOLERANCE = 1e-4


def _params(slow: set[str]) -> list[Any]:
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in ZOO]


_BUILT: dict[str, Any] = {}


def _zoo_model(name: str) -> Any:
    """The zoo model ``name``, built once per test run (the ONNX and TFLite tests share it)."""
    if name not in _BUILT:
        from netform.builder import build

        _BUILT[name] = build(str(ROOT / "models" / f"{name}.yaml"))
    return _BUILT[name]


def _input_data(inputs: list[tuple[str, tuple[int, ...], str]], batch: int) -> dict[str, np.ndarray]:
    """Random data for ``(name, shape without batch, dtype)`` inputs: token ids in [0, 50) for integers."""
    rng = np.random.default_rng(7)
    return {name: rng.integers(0, 50, (batch, *shape)).astype(np.int32) if "int" in dtype
            else rng.random((batch, *shape)).astype(np.float32) for name, shape, dtype in inputs}


def _keras_outputs(model: Any, data: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Keras's own predictions, the inputs passed in the model's order (matched by name)."""
    names = [t.name for t in model.inputs] if len(data) > 1 else list(data)
    xs = [data[n] for n in names]
    out = model(xs if len(xs) > 1 else xs[0], training=False)
    if isinstance(out, dict):
        out = list(out.values())
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def _interpreter(**kwargs: Any) -> Any:
    """LiteRT's interpreter (``ai-edge-litert``), or TensorFlow's deprecated one when it is not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # its deprecation notice
            return tf.lite.Interpreter(**kwargs)
    return Interpreter(**kwargs)


def _tflite_runner(path: str) -> tuple[Any, list[tuple[str, tuple[int, ...], str]]]:
    """The file's signature runner and its inputs as ``(name, shape without batch, dtype)``."""
    interpreter = _interpreter(model_path=path)
    (key,) = interpreter.get_signature_list()
    runner = interpreter.get_signature_runner(key)
    details = runner.get_input_details()
    inputs = [(n, tuple(int(d) for d in details[n]["shape"][1:]), np.dtype(details[n]["dtype"]).name)
              for n in details]
    return runner, inputs


def _run_tflite(runner: Any, data: dict[str, np.ndarray]) -> list[np.ndarray]:
    out = runner(**data)
    return [out[k] for k in sorted(out, key=lambda k: (len(k), k))]  # output_0, output_1, ... output_10


@pytest.mark.parametrize("name", _params(SLOW_ONNX))
def test_zoo_model_onnx_matches_keras(name: str, tmp_path: Path) -> None:
    model = _zoo_model(name)
    path = str(tmp_path / f"{name}.onnx")
    assert nf.save(model, path) == "onnx"
    assert detect_format(path) == "onnx"
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    data = _input_data([(i.name, tuple(i.shape[1:]), "int32" if "int" in i.type else "float32")
                        for i in session.get_inputs()], 3)
    if len(data) > 1:  # the ONNX inputs keep the Keras inputs' names
        assert sorted(data) == sorted(t.name for t in model.inputs)
    if getattr(model, "output_names", None):  # functional models' outputs keep the Keras outputs' names
        assert [o.name for o in session.get_outputs()] == list(model.output_names)
    got = session.run(None, data)
    want = _keras_outputs(model, data)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", _params(SLOW_TFLITE))
def test_zoo_model_tflite_matches_keras(name: str, tmp_path: Path) -> None:
    model = _zoo_model(name)
    path = str(tmp_path / f"{name}.tflite")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert nf.save(model, path) == "tflite"
    fixed_batch = any("one example per call" in str(w.message) for w in caught)
    assert detect_format(path) == "tflite"
    runner, inputs = _tflite_runner(path)
    data = _input_data(inputs, 1 if fixed_batch else 3)
    if len(data) > 1:
        assert sorted(data) == sorted(t.name for t in model.inputs)
    got = _run_tflite(runner, data)
    want = _keras_outputs(model, data)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=TOLERANCE, rtol=0)


def _small(name: str = "small", width: int = 32) -> Any:
    import keras

    inp = keras.Input((6,), name="features")
    hidden = keras.layers.Dense(width, activation="relu", name="hidden")(inp)
    hidden = keras.layers.Dense(width, activation="relu", name="hidden_2")(hidden)
    return keras.Model(inp, keras.layers.Dense(3, name="scores")(hidden), name=name)


def test_onnx_opset_is_recorded_in_metadata(tmp_path: Path) -> None:
    path = str(tmp_path / "m.onnx")
    nf.save(_small(), path, opset=15)
    proto = onnx.load(path)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["onnx_opset"] == "15" and meta["netform_format"] == "onnx"
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [15]
    onnx.checker.check_model(proto)


def test_tflite_quantized_files_are_smaller_and_close(tmp_path: Path) -> None:
    model = _small(width=128)  # weights of 1,024 values and more are quantized
    data = _input_data([("features", (6,), "float32")], 4)
    want = _keras_outputs(model, data)[0]
    sizes = {}
    for quantize in (None, "dynamic", "float16"):
        path = str(tmp_path / f"m_{quantize}.tflite")
        nf.save(model, path, quantize=quantize)
        sizes[quantize] = os.path.getsize(path)
        got = _run_tflite(_tflite_runner(path)[0], data)[0]
        np.testing.assert_allclose(got, want, atol=TOLERANCE if quantize is None else 0.05)
    assert sizes["dynamic"] < sizes["float16"] < sizes[None]


def test_export_options_are_checked(tmp_path: Path) -> None:
    model = _small()
    with pytest.raises(SaveError, match="quantize= applies to TFLite"):
        nf.save(model, str(tmp_path / "m.onnx"), quantize="dynamic")
    with pytest.raises(SaveError, match="opset= applies to ONNX"):
        nf.save(model, str(tmp_path / "m.tflite"), opset=13)
    with pytest.raises(SaveError, match="not one of dynamic, float16"):
        nf.save(model, str(tmp_path / "m.tflite"), quantize="int4")
    assert not list(tmp_path.iterdir())


def test_load_names_the_runtime(tmp_path: Path) -> None:
    model = _small()
    nf.save(model, str(tmp_path / "m.onnx"))
    nf.save(model, str(tmp_path / "m.tflite"))
    with pytest.raises(FormatError, match="onnxruntime"):
        nf.load(str(tmp_path / "m.onnx"))
    with pytest.raises(FormatError, match="LiteRT interpreter"):
        nf.load(str(tmp_path / "m.tflite"))
    with pytest.raises(FormatError, match="onnxruntime"):
        nf.load_weights(_small(), str(tmp_path / "m.onnx"))


def test_detection_is_by_content(tmp_path: Path) -> None:
    model = _small()
    nf.save(model, str(tmp_path / "m.onnx"))
    nf.save(model, str(tmp_path / "m.tflite"))
    (tmp_path / "a.bin").write_bytes((tmp_path / "m.onnx").read_bytes())
    (tmp_path / "b.bin").write_bytes((tmp_path / "m.tflite").read_bytes())
    assert detect_format(str(tmp_path / "a.bin")) == "onnx"
    assert detect_format(str(tmp_path / "b.bin")) == "tflite"
    for junk in (b"\x08\x00not onnx", b"\x08\x07\x12\xff\xff\xff\xff\x0f", b"hello world, plain text",
                 b"\x08\x07" + b"\xff" * 40):
        (tmp_path / "c.bin").write_bytes(junk)
        with pytest.raises(FormatError, match="not a model or weights file"):
            detect_format(str(tmp_path / "c.bin"))


def test_only_an_earlier_export_is_replaced(tmp_path: Path) -> None:
    model = _small()
    onnx_path, tfl_path = tmp_path / "m.onnx", tmp_path / "m.tflite"
    onnx_path.write_text("my notes\n")
    tfl_path.write_text("my notes\n")
    with pytest.raises(SaveError, match="not an ONNX model"):
        nf.save(model, str(onnx_path))
    with pytest.raises(SaveError, match="not a TFLite"):
        nf.save(model, str(tfl_path))
    assert onnx_path.read_text() == tfl_path.read_text() == "my notes\n"
    onnx_path.unlink()
    tfl_path.unlink()
    nf.save(model, str(onnx_path))
    nf.save(model, str(tfl_path))
    (tmp_path / "swap.onnx").write_bytes(tfl_path.read_bytes())  # a TFLite file named .onnx is not replaced
    with pytest.raises(SaveError, match="not an ONNX model"):
        nf.save(model, str(tmp_path / "swap.onnx"))
    before = onnx_path.read_bytes()
    nf.save(_small("other"), str(onnx_path))  # an earlier ONNX export is replaced
    assert onnx_path.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.tflite", "swap.onnx"]


def _igamma_model() -> Any:
    import keras
    import tensorflow as tf

    class IncompleteGamma(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return tf.math.igamma(tf.nn.softplus(x) + 1.0, tf.nn.softplus(x) + 2.0)

    inp = keras.Input((4,), name="x")
    return keras.Model(inp, IncompleteGamma(name="odd_layer")(keras.layers.Dense(4)(inp)), name="gamma")


def test_an_op_no_converter_takes_names_op_and_layer(tmp_path: Path) -> None:
    model = _igamma_model()
    good = _small()
    nf.save(good, str(tmp_path / "m.onnx"))
    nf.save(good, str(tmp_path / "m.tflite"))
    kept = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(FormatError, match=r"op Igamma in layer 'odd_layer'"):
        nf.save(model, str(tmp_path / "m.onnx"))
    with pytest.raises(FormatError, match=r"op Igamma in layer 'odd_layer'"):
        nf.save(model, str(tmp_path / "m.tflite"))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == kept  # the earlier exports are intact


def test_missing_converter_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # import tf2onnx now raises ImportError
    with pytest.raises(SaveError, match=r"pip install netform\[onnx\]"):
        nf.save(_small(), str(tmp_path / "m.onnx"))
    assert not list(tmp_path.iterdir())


def test_cli_convert_and_build_export(tmp_path: Path) -> None:
    from netform.cli import main

    nf.save(_small(), str(tmp_path / "m.keras"))
    assert main(["convert", str(tmp_path / "m.keras"), str(tmp_path / "m.onnx")]) == 0
    assert main(["convert", str(tmp_path / "m.keras"), str(tmp_path / "q.tflite"), "--quantize", "dynamic"]) == 0
    assert main(["convert", str(tmp_path / "m.keras"), str(tmp_path / "f.tflite")]) == 0
    assert main(["convert", str(tmp_path / "m.keras"), str(tmp_path / "o15.onnx"), "--opset", "15"]) == 0
    assert detect_format(str(tmp_path / "m.onnx")) == "onnx"
    assert {p.key: p.value for p in onnx.load(str(tmp_path / "o15.onnx")).metadata_props}["onnx_opset"] == "15"
    assert os.path.getsize(tmp_path / "q.tflite") < os.path.getsize(tmp_path / "f.tflite")
    assert main(["build", str(ROOT / "models" / "mlp.yaml"), "-o", str(tmp_path / "b.onnx")]) == 0
    assert main(["build", str(ROOT / "models" / "mlp.yaml"), "-o", str(tmp_path / "b.tflite")]) == 0
    assert detect_format(str(tmp_path / "b.onnx")) == "onnx"
    assert detect_format(str(tmp_path / "b.tflite")) == "tflite"
    assert main(["convert", str(tmp_path / "m.keras"), str(tmp_path / "x.onnx"), "--quantize", "dynamic"]) != 0
    assert not (tmp_path / "x.onnx").exists()


def test_describe_export_reads_opset_and_inputs(tmp_path: Path) -> None:
    from netform.saving._export import describe_export

    model = _small()
    nf.save(model, str(tmp_path / "m.onnx"), opset=16)
    nf.save(model, str(tmp_path / "m.tflite"))
    info = describe_export(str(tmp_path / "m.onnx"), "onnx")
    proto = onnx.load(str(tmp_path / "m.onnx"))  # the onnx package's own reading, for comparison
    assert info["opset"] == 16 and info["metadata"]["onnx_opset"] == "16"
    assert info["ir_version"] == proto.ir_version
    assert [i["name"] for i in info["inputs"]] == [i.name for i in proto.graph.input] == ["features"]
    assert info["inputs"][0]["dtype"] == "float32" and info["inputs"][0]["shape"][1:] == [6]
    assert [o["shape"][1:] for o in info["outputs"]] == [[3]]
    lite = describe_export(str(tmp_path / "m.tflite"), "tflite")
    assert [(i["dtype"], i["shape"]) for i in lite["inputs"]] == [("float32", [None, 6])]
    assert [o["shape"] for o in lite["outputs"]] == [[None, 3]]
    data = (tmp_path / "m.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="truncated or corrupt"):
        describe_export(str(tmp_path / "cut.onnx"), "onnx")


def test_inspect_describes_exports(tmp_path: Path) -> None:
    """`netform inspect m.onnx` and `m.tflite` report the format, opset, inputs and outputs."""
    from netform.cli import main

    model = _small()
    nf.save(model, str(tmp_path / "m.onnx"), opset=16)
    nf.save(model, str(tmp_path / "m.tflite"))
    info = nf.inspect(str(tmp_path / "m.onnx"))
    assert info["format"] == "onnx" and info["opset"] == 16
    assert [i["name"] for i in info["inputs"]] == ["features"]
    lite = nf.inspect(str(tmp_path / "m.tflite"))
    assert lite["format"] == "tflite" and [o["shape"] for o in lite["outputs"]] == [[None, 3]]
    assert main(["inspect", str(tmp_path / "m.onnx")]) == 0
