"""pyproject.toml's build and type-check settings hold what they promise."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_build_requires_a_setuptools_that_reads_the_license_string() -> None:
    config = _pyproject()
    assert isinstance(config["project"]["license"], str)  # PEP 639 SPDX expression: setuptools >= 77
    setuptools = [r for r in config["build-system"]["requires"] if r.startswith("setuptools")]
    assert len(setuptools) == 1
    match = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools[0].replace(" ", ""))
    assert match and int(match.group(1)) >= 77, setuptools


def test_make_test_runs_mypy_with_the_pydantic_plugin() -> None:
    config = _pyproject()
    mypy = config["tool"]["mypy"]
    assert "pydantic.mypy" in mypy["plugins"]
    assert mypy["files"] == ["netform"]
    assert any(dep.startswith("mypy") for dep in config["project"]["optional-dependencies"]["dev"])
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "typecheck" in test_target
    typecheck_target = makefile.split("\ntypecheck:", 1)[1].split("\n\n", 1)[0]
    assert "-m mypy" in typecheck_target


def test_every_excluded_module_exists() -> None:
    """An entry of [tool.mypy] exclude names a module of netform/ (a moved or deleted one leaves the list)."""
    patterns = _pyproject()["tool"]["mypy"]["exclude"]
    assert patterns == sorted(set(patterns))
    for pattern in patterns:
        path = pattern.removeprefix("^").removesuffix("$").replace("[.]", ".")
        assert (ROOT / path).is_file(), f"{pattern} names no module: remove it from [tool.mypy] exclude"


def test_every_noqa_comment_is_needed_by_an_enabled_rule() -> None:
    """RUF100 is in the lint rules `make test` runs, so a `noqa` for a rule that is off or does not fire fails."""
    assert "RUF100" in _pyproject()["tool"]["ruff"]["lint"]["select"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check netform" in test_target
