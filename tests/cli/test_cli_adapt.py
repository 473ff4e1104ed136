"""`adapt: true` on Normalization: adapted from the training data before `netform train`, saved with the model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from netform.cli import main

SPEC = textwrap.dedent("""\
    netform: 1
    name: adapted
    kind: functional
    inputs:
      a: {shape: [3]}
      b: {shape: [2]}
    nodes:
      norm: {type: Normalization, adapt: true, in: a}
      fixed: {type: Normalization, mean: [1.0, 2.0], variance: [4.0, 9.0], in: b}
      both: {type: Concatenate, in: [norm, fixed]}
      out: {type: Dense, units: 1, in: both}
    outputs: [out]
    training:
      loss: mse
      batch_size: 16
      epochs: 1
    """)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("adapt")
    (d / "adapted.yaml").write_text(SPEC)
    rng = np.random.default_rng(3)
    a = (rng.normal(size=(64, 3)) * [1.0, 10.0, 0.1] + [5.0, -3.0, 100.0]).astype("float32")
    b = rng.normal(size=(64, 2)).astype("float32")
    np.savez(d / "d.npz", a=a, b=b, y=a[:, :1] - b[:, 1:])
    return d


def test_train_adapts_normalization_like_keras_and_the_state_survives_save_and_load(
        work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    import netform as nf

    out = work / "m.keras"
    assert main(["train", str(work / "adapted.yaml"), "--data", str(work / "d.npz"), "--verbose", "0",
                 "-o", str(out)]) == 0
    assert "adapted 'norm' to 64 sample(s) of input 'a'" in capsys.readouterr().out
    with np.load(work / "d.npz") as data:
        a, b = data["a"], data["b"]
    reference = keras.layers.Normalization()
    reference.adapt(a)
    for loaded in (keras.saving.load_model(out), nf.load(out)):
        layer = loaded.get_layer("norm")
        np.testing.assert_allclose(np.asarray(layer.mean), np.asarray(reference.mean), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(layer.variance), np.asarray(reference.variance), rtol=1e-6)
        normalized = keras.Model(loaded.inputs, loaded.get_layer("norm").output).predict([a, b], verbose=0)
        np.testing.assert_allclose(normalized, np.asarray(reference(a)), rtol=1e-5, atol=1e-5)
    assert abs(float(np.asarray(reference.mean)[0, 2]) - 100.0) < 1.0  # the data's own statistics, not 0 and 1


def test_adapt_must_be_fed_by_an_input_and_is_a_strict_bool(tmp_path: Path) -> None:
    """`netform validate` (no TensorFlow) and the JSON Schema agree."""
    late = SPEC.replace("norm: {type: Normalization, adapt: true, in: a}",
                        "pre: {type: Dense, units: 3, in: a}\n  norm: {type: Normalization, adapt: true, in: pre}")
    (tmp_path / "late.yaml").write_text(late)
    (tmp_path / "text.yaml").write_text(SPEC.replace("adapt: true", "adapt: 'true'"))
    (tmp_path / "both.yaml").write_text(SPEC.replace("adapt: true", "adapt: true, mean: 0.0, variance: 1.0"))
    (tmp_path / "ok.yaml").write_text(SPEC)
    script = Path(sys.executable).with_name("netform")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "netform.cli._main"]
    done = subprocess.run([*command, "validate", "late.yaml", "text.yaml", "both.yaml", "ok.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "late.yaml:9:31: nodes.norm.adapt: Normalization with `adapt: true` is fed by the node 'pre'; netform adapts "
        "a layer from the training data of the model input that feeds it, so it must take an input directly. Move it "
        "right after the input, or give `mean` and `variance`",
        "text.yaml:8:31: nodes.norm.adapt: input should be a valid boolean; received 'true'",
        "both.yaml:8:3: nodes.norm: `adapt: true` computes `mean` and `variance` from the training data; give them, "
        "or adapt, not both",
    ]
    assert "ok.yaml: ok" in done.stdout and "1 of 4 spec(s) valid." in done.stdout

    import jsonschema
    import yaml

    schema = json.loads(subprocess.run([*command, "schema"], capture_output=True, text=True, timeout=120).stdout)
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors(yaml.safe_load(SPEC)))
    assert list(validator.iter_errors(yaml.safe_load(SPEC.replace("adapt: true", "adapt: 'true'"))))
    assert list(validator.iter_errors(yaml.safe_load(SPEC.replace("adapt: true", "adapt: 1"))))


def test_adapt_in_a_wrapped_layer_is_refused(tmp_path: Path) -> None:
    import netform as nf
    from netform.errors import SpecError

    spec = textwrap.dedent("""\
        netform: 1
        name: wrapped
        kind: functional
        inputs:
          a: {shape: [4, 3]}
        nodes:
          each: {type: TimeDistributed, layer: {type: Normalization, adapt: true}, in: a}
        outputs: [each]
        """)
    with pytest.raises(SpecError, match=r"nodes\.each\.layer: Normalization with `adapt: true` is nested inside "
                                         r"TimeDistributed"):
        nf.load_spec(spec)


@pytest.mark.parametrize("api", ["sequential", "functional", "subclass"])
def test_adapt_layers_reaches_the_layer_in_every_api_and_inside_nested_blocks(api: str) -> None:
    import keras

    import netform as nf
    from netform.engine._adapt import adapt_layers

    x = (np.random.default_rng(0).normal(size=(50, 3)) * 5 + 2).astype("float32")
    reference = keras.layers.Normalization()
    reference.adapt(x)
    spec = nf.load_spec(textwrap.dedent("""\
        netform: 1
        name: s
        kind: sequential
        inputs:
          x: {shape: [3]}
        layers:
          - {type: Normalization, adapt: true}
          - {type: Dense, units: 1}
        """))
    model = nf.build(spec, api=api)
    assert adapt_layers(model, spec, x) == [("normalization", "x", 50)]
    layer = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    np.testing.assert_allclose(np.asarray(layer.variance), np.asarray(reference.variance), rtol=1e-6)
    if api == "sequential":
        return
    blocks = nf.load_spec(textwrap.dedent("""\
        netform: 1
        name: blocks
        kind: functional
        inputs:
          a: {shape: [3]}
        blocks:
          scale:
            inputs: [t]
            nodes:
              n: {type: Normalization, adapt: true, in: t}
            outputs: [n]
        nodes:
          flat: {block: scale, in: a}
          nested: {block: scale, nested: true, in: a}
          both: {type: Add, in: [flat, nested]}
        outputs: [both]
        """))
    model = nf.build(blocks, api=api)
    assert adapt_layers(model, blocks, {"a": x}) == [("flat.n", "a", 50), ("nested.n", "a", 50)]
    np.testing.assert_allclose(model.predict(x, verbose=0), 2 * np.asarray(reference(x)), rtol=1e-5, atol=1e-5)
