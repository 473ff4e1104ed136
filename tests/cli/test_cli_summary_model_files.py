"""``netform summary model.keras|model.h5``: the exported spec's table, without TensorFlow where the config allows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import netform as nf
from tests.conftest import MODELS

ROOT = Path(__file__).resolve().parents[2]
_HEAVY = ("tensorflow", "keras")


def _run(args: list[str], cwd: Path) -> tuple[int, str, str, list[str]]:
    """Run the CLI in a fresh interpreter; also report which heavy modules it imported."""
    code = (f"import sys\nfrom netform.cli._main import main\nrc = main({args!r})\nimport json\n"
            f"print('MODULES=' + json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {_HEAVY!r})))\n"
            "sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    lines = done.stdout.splitlines()
    modules = json.loads(lines[-1].removeprefix("MODULES=")) if lines and lines[-1].startswith("MODULES=") else []
    return done.returncode, "\n".join(lines[:-1]), done.stderr, modules


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("summary_files")
    model = nf.build(nf.load_spec(MODELS / "lenet_digits.yaml"))
    nf.save(model, d / "m.keras")
    nf.save(model, d / "m.h5")
    nf.save_weights(model, d / "w.weights.h5")
    return d


def test_summary_of_a_model_file_is_the_exported_specs_without_tensorflow(saved: Path) -> None:
    rc, _, err, _ = _run(["export-spec", "m.keras", "-o", "m.yaml"], saved)
    assert rc == 0, err[-2000:]
    rc, expected, err, _ = _run(["summary", "m.yaml"], saved)
    assert rc == 0, err[-2000:]
    assert "Total params: 28,714" in expected
    for name in ("m.keras", "m.h5"):
        rc, out, err, modules = _run(["summary", name], saved)
        assert rc == 0, err[-2000:]
        assert modules == []
        assert out == expected
    rc, out, err, modules = _run(["summary", "m.keras", "--format", "json"], saved)
    assert rc == 0 and modules == [], err[-2000:]
    assert json.loads(out)["total_params"] == nf.load(saved / "m.keras").count_params() == 28_714


def test_summary_of_weights_only_file_says_it_needs_the_architecture(saved: Path) -> None:
    rc, out, err, modules = _run(["summary", "w.weights.h5"], saved)
    assert rc == 5, (out, err)
    assert "holds only weights" in err and "no architecture" in err and "netform inspect" in err
    assert modules == []


def test_summary_falls_back_to_keras_where_the_walk_cannot_tell(tmp_path: Path) -> None:
    import keras

    from netform.builder import from_keras

    inp = keras.Input((5, 3), name="seq")
    out, h, c = keras.layers.LSTM(4, return_state=True, name="lstm")(inp)
    model = keras.Model(inp, keras.layers.Concatenate(name="cat")([out, h, c]), name="stateful")
    nf.save(model, tmp_path / "s.keras")
    from netform.saving._config_walk import spec_from_file

    assert spec_from_file(tmp_path / "s.keras") is None  # a layer with several outputs: only Keras tells
    rc, text, err, modules = _run(["summary", "s.keras"], tmp_path)
    assert rc == 0, err[-2000:]
    assert "tensorflow" in modules
    expected = nf.summary(from_keras(nf.load(tmp_path / "s.keras", compile=False)))
    assert text == expected.to_text()
    assert expected.total_params == model.count_params()
