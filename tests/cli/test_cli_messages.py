"""The command line's messages: one mistake gives one error, at its place, in the command line's own words."""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import pytest

from netform.cli import main
from netform.cli._main import cli_words

FUNCTIONAL = textwrap.dedent("""\
    netform: 1
    name: heads
    kind: functional
    inputs:
      x: {shape: [4]}
    nodes:
      h: {type: Dense, units: 8, activation: relu, in: x}
      reg: {type: Dense, units: 1, in: h}
    outputs: [reg]
    training:
      loss: mse
      metrics: [mae]
    """)


def _errors(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    spec = tmp_path / "s.yaml"
    spec.write_text(text)
    assert main(["validate", str(spec)]) == 1
    return [line.replace(f"{spec}:", "", 1) for line in capsys.readouterr().err.splitlines()
            if not line.endswith("found.")]


def test_the_spec_used_here_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.yaml").write_text(FUNCTIONAL)
    assert main(["validate", str(tmp_path / "ok.yaml")]) == 0


@pytest.mark.parametrize(("old", "new", "line", "column"), [
    ("  x: {shape: [4]}", "\tx: {shape: [4]}", 5, 1),
    ("  h: {type: Dense", "  \th: {type: Dense", 7, 3),
])
def test_a_tab_in_the_indentation_is_named_at_its_place(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, line: int, column: int) -> None:
    assert _errors(tmp_path, FUNCTIONAL.replace(old, new), capsys) == [
        f"{line}:{column}: tabs are not allowed in YAML; indent with spaces"]


def test_input_instead_of_in_is_one_error_with_a_suggestion(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _errors(tmp_path, FUNCTIONAL.replace("units: 1, in: h", "units: 1, input: h"), capsys) == [
        "8:32: nodes.reg.input: unknown field 'input' (Did you mean 'in'?); a node names the node or input that "
        "feeds it with `in`, e.g. in: h"]


def test_a_missing_outputs_section_is_one_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _errors(tmp_path, FUNCTIONAL.replace("outputs: [reg]\n", ""), capsys) == [
        "3:1: kind: a functional spec needs `outputs:`"]
    assert _errors(tmp_path, FUNCTIONAL.replace("outputs: [reg]", "outputs: []"), capsys) == [
        "9:1: outputs: a functional spec needs at least one output: `outputs: [node_name]`"]


@pytest.mark.parametrize(("metrics", "expected"), [
    ("[maee]", "12:13: training.metrics[0]: unknown metric 'maee' (Did you mean 'mae'?); use one of Keras's "
               "built-in metrics"),
    ("{reg: [maee]}", "12:19: training.metrics.reg[0]: unknown metric 'maee' (Did you mean 'mae'?); use one of "
                      "Keras's built-in metrics"),
    ("3", "12:3: training.metrics: expected a valid dictionary or a valid tuple; received 3"),
])
def test_a_misspelt_metric_is_one_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], metrics: str, expected: str) -> None:
    assert _errors(tmp_path, FUNCTIONAL.replace("metrics: [mae]", f"metrics: {metrics}"), capsys) == [expected]


def test_library_messages_name_the_command_line_options() -> None:
    assert cli_words("x.bmp: use .svg, .png, .pdf or .dot, or pass format= (one of svg, png)") == \
        "x.bmp: use .svg, .png, .pdf or .dot, or pass --format (one of svg, png)"
    assert cli_words("write DOT source with format='dot' (a .dot file); try format=\"dot\", or "
                     "expand_nested=False to draw blocks as single boxes") == \
        "write DOT source with --format dot (a .dot file); try --format dot, or --collapse to draw blocks as " \
        "single boxes"
    assert cli_words("m.bin: cannot tell the format from this name. Pass format= with one of: keras, h5") == \
        "m.bin: cannot tell the format from this name. Pass --format with one of: keras, h5"
    assert cli_words("Load it with safe_mode=False only if you trust the file") == \
        "Load it from Python with netform.load(path, safe_mode=False) only if you trust the file"
    assert cli_words("outside the output directory; write a path under it, or pass allow_paths=True (netform train "
                     "--allow-paths) to let this spec write anywhere") == \
        "outside the output directory; write a path under it, or pass --allow-paths to let this spec write anywhere"
    assert cli_words("a spec may not use the network unless you pass allow_network=True (netform train "
                     "--allow-network)") == "a spec may not use the network unless you pass --allow-network"
    assert cli_words("data_format=None keeps channels_last") == "data_format=None keeps channels_last"


def test_a_save_error_on_the_command_line_names_format_as_an_option(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.yaml").write_text(FUNCTIONAL)
    assert main(["build", str(tmp_path / "ok.yaml"), "-o", str(tmp_path / "m.unknownext")]) != 0
    err = capsys.readouterr().err
    assert "--format" in err and "format=" not in err


def test_diagrams_get_the_same_file_mode_as_other_outputs(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(FUNCTIONAL)
    assert main(["schema", "-o", str(tmp_path / "schema.json")]) == 0
    assert main(["render", str(tmp_path / "ok.yaml"), "-o", str(tmp_path / "d.dot")]) == 0
    umask = os.umask(0)
    os.umask(umask)
    expected = 0o666 & ~umask
    for name in ("schema.json", "d.dot"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name
