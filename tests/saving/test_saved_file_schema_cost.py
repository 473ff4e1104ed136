"""Reading a saved model's config builds the schemas of the layer families it uses, not all sixteen.

``export-spec`` and ``render`` of a ``.keras`` file convert each layer's
config through netform's layer schemas (Pydantic classes, costly to
build); the file's own checks (the weights its config declares) and the
export itself must import only the families its layers belong to. The
answer is still the loaded model's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import netform.saving as nfs

keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parents[2]

_READ = """
import json, sys
from netform.saving._config_walk import spec_from_file
from netform.render import to_dot_source
spec = spec_from_file(sys.argv[1])
to_dot_source(sys.argv[1])
print(json.dumps([spec.to_yaml(), sorted(m for m in sys.modules if m.startswith("netform.spec.layers."))]))
"""


def test_only_the_used_layer_families_are_built(tmp_path: Path) -> None:
    from netform.builder import from_keras

    x = keras.Input((8,), name="x")
    h = keras.layers.BatchNormalization()(keras.layers.Dense(4, activation="relu")(x))
    model = keras.Model(x, keras.layers.Dense(2)(h), name="small")
    path = tmp_path / "small.keras"
    nfs.save(model, path)
    done = subprocess.run([sys.executable, "-c", _READ, str(path)], capture_output=True, text=True, timeout=300,
                          check=True, cwd=ROOT)
    text, modules = json.loads(done.stdout.strip().splitlines()[-1])
    families = {m.rsplit(".", 1)[1] for m in modules if not m.rsplit(".", 1)[1].startswith("_")}
    assert families == {"core", "normalization"}  # InputLayer has no schema: it no longer loads every family
    assert text == from_keras(nfs.load(path, compile=False)).to_yaml()
