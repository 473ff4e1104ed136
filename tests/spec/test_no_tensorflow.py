"""`import netform`, `netform validate` and `netform summary` never import TensorFlow."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import MODELS, ROOT


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_netform_leaves_tensorflow_out() -> None:
    out = _run("""
        import sys, netform
        netform.load_spec, netform.summary, netform.json_schema
        print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))
    """)
    assert out.strip() == "[]"


def test_validate_summary_schema_commands_leave_tensorflow_out() -> None:
    out = _run(f"""
        import sys, contextlib, io
        from netform.cli import main
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["validate", "{MODELS}"]) == 0
            for p in {sorted(str(p) for p in MODELS.glob('*.yaml'))!r}:
                assert main(["summary", p]) == 0
            assert main(["schema"]) == 0
        print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))
    """)
    assert out.strip() == "[]"


def test_public_namespace_is_explicit() -> None:
    import netform

    for name in netform.__all__:
        assert hasattr(netform, name) or name in netform._LAZY, name
    leaked = [n for n in dir(netform) if not n.startswith("_") and n not in netform.__all__
              and n not in ("errors", "spec", "builder", "engine", "saving", "render", "cli", "demo", "annotations")]
    assert leaked == [], f"names leak into the public namespace: {leaked}"
