"""Dependencies point one way (ARCHITECTURE.md): no package imports one drawn above it.

Every import in netform/ is read with ``ast``, the ones inside functions
(lazy imports) included, relative imports resolved against their module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "netform"

# package (or module) -> the netform packages it must never import (the README's "Layout" states this order)
_PACKAGES = {"spec", "builder", "engine", "saving", "render", "cli"}
FORBIDDEN = {
    "errors.py": _PACKAGES,
    "_files.py": _PACKAGES,
    "_compat": _PACKAGES,
    "spec": {"builder", "engine", "saving", "render", "cli"},
    "render": {"cli"},
    "engine": {"cli"},
    "saving": {"cli", "render"},
}


def _sources(package: str) -> list[Path]:
    where = PACKAGE / package
    return [where] if where.suffix == ".py" else sorted(where.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """``(line, module)`` of every netform module ``path`` (or ``source`` read as ``path``) imports."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    text = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from .. import cli` names a package as well as an attribute
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            found.append((node.lineno, target))
    return [(line, name) for line, name in found if name == "netform" or name.startswith("netform.")]


def _violations(package: str) -> list[str]:
    out = []
    for path in _sources(package):
        for line, name in _imports(path):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] in FORBIDDEN[package]:
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    return sorted(set(out))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_up(package: str) -> None:
    assert _violations(package) == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_above_is_named_in_a_string(package: str) -> None:
    """A module named in a string (``"netform.builder._zoo_models:ResidualMLP"`` for importlib) points up too."""
    named = []
    for path in _sources(package):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = re.fullmatch(r"netform\.(\w+)[\w.]*(:\w+)?", node.value.strip())
                if match and match.group(1) in FORBIDDEN[package]:
                    named.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value!r}")
    assert named == []


def test_the_reader_sees_relative_and_lazy_imports() -> None:
    """The check itself: the import forms a violation could take are all read."""
    source = (
        "from ..cli._spec_cmds import load_plugins\n"
        "def f():\n    from .. import cli\n    import netform.cli._main\n"
        "from . import _diagram\n"
    )
    path = PACKAGE / "render" / "_structure_probe.py"
    names = [name for _, name in _imports(path, source)]
    assert "netform.cli._spec_cmds" in names and "netform.cli" in names and "netform.cli._main" in names
    assert "netform.render._diagram" in names

