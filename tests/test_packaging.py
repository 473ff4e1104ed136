"""The installed package carries what pyproject.toml promises: ``py.typed`` (PEP 561) and the lint config."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_py_typed_exists_and_is_package_data() -> None:
    assert (ROOT / "netform" / "py.typed").is_file()
    assert "py.typed" in _pyproject()["tool"]["setuptools"]["package-data"]["netform"]


def test_make_test_runs_ruff_with_the_configured_rules() -> None:
    config = _pyproject()
    assert config["tool"]["ruff"]["lint"]["select"]
    assert any(dep.startswith("ruff") for dep in config["project"]["optional-dependencies"]["dev"])
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "-m ruff check netform" in target
