"""A layout timeout past a day is refused as 0, NaN and infinity are.

``netform render spec.yaml -o t.svg --timeout 1e9`` stopped with an unexpected OverflowError (exit 70: the
wait for ``dot`` is longer than the OS takes), and ``--timeout 1e19`` with a SubprocessError from setting
``dot``'s CPU limit. Now a timeout over 86,400 s is a render error (exit 7) before ``dot`` runs, the bound
stated in the message and in ``render --help``; a day itself is taken.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from netform.cli import main
from netform.errors import RenderError
from netform.render import _graphviz, render

SPEC = "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: 2}\n"


@pytest.mark.parametrize(
    "bad",
    [86_400.001, 1e9, 1e19, 1e308, 10**400, 10**5000],
    ids=["day+1ms", "1e9", "1e19", "1e308", "400 digits", "5001 digits"],
)
def test_a_timeout_over_a_day_is_refused(tmp_path: Path, bad: object) -> None:
    with pytest.raises(RenderError, match=r"greater than 0 and at most 86,400 \(a day; default 60\)"):
        render(SPEC, tmp_path / "d.svg", timeout=bad)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["1e9", "1e19", "86401", "0", "nan", "inf"])
def test_the_cli_refuses_it_with_exit_7(tmp_path: Path, capsys, value: str) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    capsys.readouterr()
    assert main(["render", str(spec), "-o", str(tmp_path / "t.svg"), "--timeout", value]) == 7
    err = capsys.readouterr().err
    assert "timeout must be a number of seconds greater than 0 and at most 86,400" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_a_day_is_taken_and_the_help_states_the_bound(tmp_path: Path, capsys) -> None:
    assert _graphviz.check_timeout(86_400) == 86_400.0
    assert _graphviz.check_timeout(None) == _graphviz.DEFAULT_TIMEOUT_S
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    assert "at most 86400" in " ".join(capsys.readouterr().out.split())
    if shutil.which("dot") is not None:
        spec = tmp_path / "s.yaml"
        spec.write_text(SPEC)
        assert main(["render", str(spec), "-o", str(tmp_path / "t.svg"), "--timeout", "86400"]) == 0
        assert (tmp_path / "t.svg").read_bytes().lstrip().startswith(b"<")
