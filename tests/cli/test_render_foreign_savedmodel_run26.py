"""``netform render`` of a SavedModel another tool wrote is refused as ``summary`` refuses it, never exit 70.

A SavedModel of a ``tf.Module`` (a graph and its signatures, no Keras model) loads as an inference-only
model, which has no layers to draw: ``render`` crashed with ``AttributeError: 'InferenceModel' object has no
attribute 'layers'`` (exit 70) after loading TensorFlow (5 s, 520 MB). It is now a ``FormatError`` (exit 5)
that names ``inspect`` for the signatures, found from the folder without loading it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netform as nf
from netform.cli import main
from netform.errors import FormatError


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tensorflow as tf

    class Scale(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.v = tf.Variable([1.0, 2.0, 3.0])

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def __call__(self, x: tf.Tensor) -> tf.Tensor:
            return x * self.v

    folder = tmp_path_factory.mktemp("foreign") / "benign"
    tf.saved_model.save(Scale(), str(folder))
    return folder


@pytest.mark.parametrize("ext", ["svg", "dot", "html"])
def test_the_cli_refuses_it_with_a_format_error(
    foreign: Path, tmp_path: Path, ext: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"b.{ext}"
    assert main(["render", str(foreign), "-o", str(out)]) == 5
    err = capsys.readouterr().err
    assert "without a Keras architecture" in err and "netform inspect" in err
    assert "bug" not in err and "AttributeError" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_the_library_refuses_it(foreign: Path, tmp_path: Path) -> None:
    from netform.render import diagram_of

    with pytest.raises(FormatError, match="without a Keras architecture"):
        nf.render(str(foreign), tmp_path / "b.svg")
    with pytest.raises(FormatError, match="without a Keras architecture"):
        diagram_of(str(foreign))


def test_a_loaded_inference_model_is_no_keras_model(foreign: Path) -> None:
    # drawing the loaded object (NETFORM_RENDER_WITH_KERAS, or a caller's own load) names what it is
    from netform.render import diagram_of

    model = nf.load(str(foreign))
    with pytest.raises(Exception) as info:
        diagram_of(model)
    assert not isinstance(info.value, AttributeError)
    assert "InferenceModel" in str(info.value)


def test_the_keras_path_refuses_it_too(foreign: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netform.render import diagram_of

    monkeypatch.setenv("NETFORM_RENDER_WITH_KERAS", "1")
    with pytest.raises(FormatError, match="without a Keras architecture"):
        diagram_of(str(foreign))


def test_export_spec_refuses_it_as_a_format_error(
    foreign: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # it said "(InferenceModel) is a subclassed model: its computation is Python code in call()" (exit 3)
    out = tmp_path / "s.yaml"
    assert main(["export-spec", str(foreign), "-o", str(out)]) == 5
    err = capsys.readouterr().err
    assert "without a Keras architecture" in err and "subclassed" not in err
    assert not out.exists()


def test_from_keras_names_an_inference_model(foreign: Path) -> None:
    from netform.errors import BuildError

    with pytest.raises(BuildError, match="inference-only model") as info:
        nf.from_keras(nf.load(str(foreign)))
    assert "subclassed" not in str(info.value)
    with pytest.raises(BuildError, match="takes a keras.Model; received dict"):
        nf.from_keras({})  # type: ignore[arg-type]


def test_evaluate_refuses_it_as_a_format_error(
    foreign: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # it crashed with "'InferenceModel' object has no attribute 'evaluate'" (exit 70)
    import numpy as np

    data = tmp_path / "d.npz"
    np.savez(data, x=np.ones((4, 3), "float32"), y=np.ones((4, 3), "float32"))
    assert main(["evaluate", str(foreign), "--data", str(data)]) == 5
    err = capsys.readouterr().err
    assert "no loss or metrics to evaluate" in err and "netform predict" in err and "bug" not in err
