"""An error printed by the CLI never sends a terminal escape: a model file's edited value (``units:
"\\x1b[2J3"``) quoted into the refusal was printed raw (the screen cleared); spec diagnostics were escaped
already, every other error now is too, line by line."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json
import zipfile
from pathlib import Path

import keras
import pytest

import netform as nf
from netform.cli._main import _terminal_safe, main


def test_a_refusal_quoting_an_escape_prints_it_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d1")], name="m")
    nf.save(model, tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        items = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(items["config.json"])
    config["config"]["layers"][1]["config"]["units"] = "\x1b[2J3"
    items["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "e.keras", "w") as out:
        for name, data in items.items():
            out.writestr(name, data)
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "e.keras")]) == 5
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b[2J3" in err


def test_lines_are_kept_and_each_is_escaped() -> None:
    assert _terminal_safe("a\x1b[31m\nb\x00") == "a\\x1b[31m\nb\\x00"
    assert _terminal_safe("plain – é …") == "plain – é …"
