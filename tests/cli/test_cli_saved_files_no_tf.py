"""Reading a saved file from the command line costs no TensorFlow.

``import netform`` imports only the error classes (everything else through
the package's PEP 562 ``__getattr__``), so ``netform inspect`` of a ``.keras``
file imports no TensorFlow and no Keras. It does use the layer schemas of the
spec layer (Pydantic): each layer's arguments are checked with them before the
file is described, so that ``inspect`` gives ``load``'s answer on an edited
value (``tests/security/test_readers_vouch_run14.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_HEAVY = ("tensorflow", "keras", "pydantic", "yaml")


def _modules(code: str) -> list[str]:
    code += ("\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
             f"{_HEAVY!r} or m.startswith('netform.spec'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_netform_imports_only_its_errors() -> None:
    assert _modules("import netform") == []


def test_public_names_still_resolve_lazily() -> None:
    import netform

    assert netform.load_spec is netform.spec.load_spec
    assert netform.json_schema is netform.spec._schema.json_schema
    assert {"load_spec", "ModelSpec", "summary", "json_schema", "register_layer", "build", "render"} <= set(
        netform.__all__)
    assert set(netform.__all__) <= set(dir(netform))
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        netform.nothing_here  # noqa: B018


def test_cli_inspect_of_a_keras_file_needs_no_tensorflow(tmp_path: Path) -> None:
    import netform.saving as nfs

    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="tiny")
    nfs.save(model, tmp_path / "tiny.keras")
    code = ("import contextlib, io\nfrom netform.cli._main import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    assert main(['inspect', {str(tmp_path / 'tiny.keras')!r}]) == 0")
    loaded = _modules(code)
    assert not [m for m in loaded if m.split(".")[0] in ("tensorflow", "keras", "yaml")], loaded
    assert "netform.spec.layers.core" in loaded  # Dense's schema, which checks the layer's arguments
