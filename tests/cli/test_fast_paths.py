"""Commands that need no TensorFlow do not import it, and import no more of netform than they use.

Each command runs in a fresh interpreter (``netform.cli._main.main``), which
then prints the heavy packages in ``sys.modules``: an import moved to module
level, or a refusal that loads the model first, shows here.

- ``export-spec`` and ``render`` of a LiteRT (``.tflite``) or ONNX file refuse
  it, as before, with the same message and exit code, without importing
  TensorFlow, Keras or the spec layer's schemas (the file holds no Keras config).
- ``export-spec`` and ``render`` of a ``.keras`` file import neither
  TensorFlow nor Keras, and only the layer families the model names.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_HEAVY = ("tensorflow", "keras", "tf_keras", "jax", "torch", "graphviz", "jsonschema", "pydantic", "yaml")
#: What a command reading a .keras file's config needs: the spec layer's schemas and its YAML writer.
_SPEC_LAYER = ("pydantic", "yaml")
#: The spec layer's modules that hold no schema (the access policy of ``render``'s spec loading).
_NO_SCHEMA = ["netform.spec", "netform.spec._access"]

#: A LiteRT flatbuffer's first bytes (its root offset, then the file identifier), as detect_format reads them,
#: and a whole ONNX ModelProto (one Neg node, opset 17), as in tests/security/test_model_files_run7.py.
_TFLITE = b"\x1c\x00\x00\x00TFL3" + bytes(56)
_ONNX = (
    b'\x08\x08\x12\x07netform:2\n\x0b\n\x01x\x12\x01y"\x03Neg\x12\x01gZ\x0f\n\x01x\x12\n\n\x08\x08\x01\x12'
    b"\x04\n\x02\x08\x01b\x0f\n\x01y\x12\n\n\x08\x08\x01\x12\x04\n\x02\x08\x01B\x04\n\x00\x10\x11"
)

_RUN = """
import json, sys
from netform.cli._main import main
code = main({argv!r})
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})
spec = sorted(m for m in sys.modules if m.startswith('netform.spec'))
sys.stderr.flush()
print('\\n' + json.dumps({{'code': code, 'heavy': heavy, 'spec': spec}}))
"""


def _run(argv: list[str]) -> tuple[int, list[str], list[str], str]:
    """Exit code, heavy packages imported, netform.spec modules imported, and standard error of a CLI run."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN.format(argv=argv, heavy=_HEAVY)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=True,
    )
    last = json.loads(done.stdout.strip().splitlines()[-1])
    return last["code"], last["heavy"], last["spec"], done.stderr


_DEPLOY_MESSAGE = {
    "tflite": "is a TFLite (LiteRT) model, a deployment format netform writes but does not load as a Keras model; "
    "run it with the LiteRT interpreter",
    "onnx": "is a ONNX model, a deployment format netform writes but does not load as a Keras model; run it with",
}


@pytest.mark.parametrize("command", ["export-spec", "render"])
@pytest.mark.parametrize(("fmt", "name"), [("tflite", "m.tflite"), ("tflite", "m.bin"), ("onnx", "m.onnx")])
def test_deployment_file_is_refused_without_tensorflow(command: str, fmt: str, name: str, tmp_path: Path) -> None:
    """Was: ``export-spec m.tflite`` imported TensorFlow (over a minute on a cold cache) to have ``load`` refuse
    the file. The refusal is ``load``'s, word for word (exit 5), before anything of Keras is imported."""
    path = tmp_path / name
    path.write_bytes(_TFLITE if fmt == "tflite" else _ONNX)
    argv = [command, str(path)] + (["-o", str(tmp_path / "m.dot")] if command == "render" else [])
    code, heavy, spec, err = _run(argv)
    assert code == 5, err
    assert err.startswith(f"error: {path}: {_DEPLOY_MESSAGE[fmt]}"), err
    assert "or load the .keras file it was exported from." in err, err
    assert heavy == [], heavy
    assert set(spec) <= set(_NO_SCHEMA), spec
    assert not (tmp_path / "m.dot").exists()


def test_deployment_refusal_is_loads_message(tmp_path: Path) -> None:
    """The CLI's words are those of ``netform.load`` on the same file (one message for the three paths)."""
    import netform as nf

    path = tmp_path / "m.tflite"
    path.write_bytes(_TFLITE)
    with pytest.raises(nf.FormatError) as info:
        nf.load(path)
    for command in ("export-spec", "render"):
        argv = [command, str(path)] + (["-o", str(tmp_path / "m.dot")] if command == "render" else [])
        code, _, _, err = _run(argv)
        assert (code, err.strip()) == (5, f"error: {info.value}")


@pytest.fixture(scope="module")
def dense_dropout_keras(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved Functional model of Dense, Dropout, BatchNormalization and Add layers (no convolution)."""
    keras = pytest.importorskip("keras")
    import netform as nf

    x = keras.Input((8,), name="x")
    h = keras.layers.Dense(8, activation="relu")(x)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Dropout(0.1)(h)
    out = keras.layers.Dense(2, name="head")(keras.layers.Add()([h, x]))
    path = tmp_path_factory.mktemp("fast") / "mlp.keras"
    nf.save(keras.Model(x, out, name="mlp"), path)
    return path


@pytest.mark.parametrize("command", ["export-spec", "render"])
def test_keras_file_commands_import_only_what_they_use(
    command: str, dense_dropout_keras: Path, tmp_path: Path
) -> None:
    """Without TensorFlow or Keras, and without the schemas of the layer families the model does not name
    (a Dropout's family does not bring in the convolutions'), nor the custom-layer registry's module."""
    argv = [command, str(dense_dropout_keras)] + (["-o", str(tmp_path / "m.dot")] if command == "render" else [])
    code, heavy, spec, err = _run(argv)
    assert code == 0, err
    assert [m for m in heavy if m.split(".")[0] not in _SPEC_LAYER] == [], heavy
    from netform.spec.layers import CATALOG

    families = {m.rsplit(".", 1)[1] for m in spec if m.rsplit(".", 1)[0] == "netform.spec.layers"} & set(CATALOG)
    assert families == {"core", "regularization", "normalization", "merge"}, spec
    assert "netform.spec._custom" not in spec, spec
