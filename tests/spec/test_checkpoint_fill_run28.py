"""A ModelCheckpoint name whose format fills with '/' or '\\' is refused saying so.

``{epoch:/>2}x.keras`` (which could write ``../1x.keras`` from ``..{epoch:/>2}x.keras``) was refused as "not a
valid format template (unmatched '{' in format spec)", which Python's formatter does not say of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netform.cli import main


@pytest.mark.parametrize(
    "name", ["{epoch:/>2}x.keras", "{loss:/>12.2f}.keras", "{epoch:\\\\>3}.keras", "..{epoch:/>2}x.keras"]
)
def test_a_separator_fill_is_named(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers: [{type: Dense, units: 2}]\n"
        f"training: {{loss: mse, callbacks: [{{type: ModelCheckpoint, filepath: '{name}'}}]}}\n"
    )
    assert main(["validate", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "with '/' or '\\' in its format" in err
    assert "unmatched" not in err


def test_a_plain_fill_is_still_taken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers: [{type: Dense, units: 2}]\n"
        "training: {loss: mse, callbacks: [{type: ModelCheckpoint, filepath: 'm{epoch:_>4}.keras'}]}\n"
    )
    assert main(["validate", str(spec)]) == 0
