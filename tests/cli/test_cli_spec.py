"""`netform validate | summary | schema`: exit codes and output."""

from __future__ import annotations

import json

import pytest

from netform.cli import main
from tests.conftest import MODELS


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(MODELS / "mlp.yaml")]) == 0
    assert "mlp.yaml: ok (sequential model 'mlp')" in capsys.readouterr().out


def test_validate_bad_exit_1(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: -2}\n")
    assert main(["validate", str(MODELS / "mlp.yaml"), str(bad)]) == 1
    captured = capsys.readouterr()
    assert f"{bad}:5:19: layers[0].units: input should be greater than 0; received -2" in captured.err
    assert "1 of 2 spec(s) valid." in captured.out


def test_validate_json(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("netform: 1\nkind: sequential\n")
    assert main(["validate", "--format", "json", str(bad)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    messages = [e["message"] for e in report["files"][0]["errors"]]
    assert any(m.startswith("a sequential spec needs `layers:`") for m in messages)


def test_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", str(MODELS / "mlp.yaml")]) == 0
    out = capsys.readouterr().out
    assert 'Model: "mlp" (sequential)' in out
    assert "Total params: 17,226" in out


def test_summary_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--format", "json", str(MODELS / "mlp.yaml")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_params"] == 17226
    assert data["rows"][0] == {"name": "pixels", "type": "InputLayer", "inputs": [], "output_shape": [None, 64],
                               "trainable": 0, "non_trainable": 0, "shared_with": None}


def test_summary_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "nope.yaml"]) == 1
    assert "nope.yaml: no such spec file" in capsys.readouterr().err


def test_schema(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "netform model spec"
    out = tmp_path / "s.json"
    assert main(["schema", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == schema


def test_plugin_import_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--plugin", "no_such_module_xyz", str(MODELS / "mlp.yaml")]) == 2
    assert "error: --plugin no_such_module_xyz: no module named 'no_such_module_xyz'" in capsys.readouterr().err


def test_an_unexpected_error_is_exit_70_without_a_traceback(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """A plugin (or a bug) raising a plain exception gives exit code 70 and one message; --debug shows the traceback."""
    (tmp_path / "bad_plugin.py").write_text("raise RuntimeError('plugin exploded')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = str(MODELS / "mlp.yaml")
    assert main(["summary", spec, "--plugin", "bad_plugin"]) == 70
    err = capsys.readouterr().err
    assert "unexpected RuntimeError (in summary): plugin exploded" in err
    assert "--debug" in err and "Traceback" not in err
    monkeypatch.delitem(__import__("sys").modules, "bad_plugin", raising=False)
    assert main(["summary", spec, "--plugin", "bad_plugin", "--debug"]) == 70
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "plugin exploded" in err
