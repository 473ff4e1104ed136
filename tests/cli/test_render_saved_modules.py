"""``render`` of a saved ``.keras`` model draws from the layers' static rules alone.

The diagram of a saved config needs the layer schemas (their shape and
parameter rules) and nothing of the spec's graph, YAML or model layers: the
shape formatter the rules' messages and the diagram's labels share lives
beside the ``Shape`` type, so drawing does not import the shape inference
module, which brings those layers (about a sixth of the command's time).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_RUN = """
import json, sys
from netform.cli._main import main
code = main({argv!r})
print('\\n' + json.dumps({{'code': code, 'modules': sorted(sys.modules)}}))
"""

#: The spec layer's graph, YAML and model modules (and PyYAML): what a diagram of a saved config does not use.
_NOT_NEEDED = ("netform.spec._shapes", "netform.spec._graph", "netform.spec._model", "netform.spec._yaml", "yaml")


@pytest.fixture(scope="module")
def saved_keras(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keras = pytest.importorskip("keras")
    import netform as nf

    x = keras.Input((8,), name="x")
    h = keras.layers.Dense(8, activation="relu")(x)
    h = keras.layers.BatchNormalization()(h)
    out = keras.layers.Dense(2, name="head")(keras.layers.Add()([keras.layers.Dropout(0.1)(h), x]))
    path = tmp_path_factory.mktemp("render_modules") / "mlp.keras"
    nf.save(keras.Model(x, out, name="mlp"), path)
    return path


def test_render_of_a_keras_file_imports_no_graph_or_yaml_layer(saved_keras: Path, tmp_path: Path) -> None:
    """Was: the layers' helper module imported ``format_shape`` from ``netform.spec._shapes``, which imports the
    graph, expansion, YAML and model modules (and their Pydantic models) that drawing never uses."""
    out = tmp_path / "m.dot"
    done = subprocess.run(
        [sys.executable, "-c", _RUN.format(argv=["render", str(saved_keras), "-o", str(out)])],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=True,
    )
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["code"] == 0, done.stderr
    assert "head" in out.read_text()
    assert [m for m in last["modules"] if m in _NOT_NEEDED] == []


def test_format_shape_is_one_function() -> None:
    """The rules' ``shape_str``, the diagrams' and the summary's formatter are the same function."""
    from netform.render import _bounded, _dot, _html
    from netform.spec import _shapes, _types, format_shape
    from netform.spec.layers import _util

    assert format_shape is _shapes.format_shape is _types.format_shape is _util.shape_str
    # the diagrams write shapes through their bounded text, which formats each with the same function
    assert _dot.shape_text is _html.shape_text is _bounded.shape_text
    assert _bounded.format_shape is _types.format_shape
    assert [format_shape(s) for s in [(None, 3), (None,), None, [(1, 2), (None,)]]] == [
        "(None, 3)",
        "(None,)",
        "? (inferred at build time)",
        "[(1, 2), (None,)]",
    ]
