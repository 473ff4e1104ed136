"""Every name the CLI prints is escaped: a folder of specs whose file names hold an escape sequence, a bell,
an OSC window title or a line break printed them raw in validate's ``PATH: ok`` lines (its errors escaped
them), and ``render``'s ``wrote PATH``, ``build``'s ``→ PATH``, ``export-spec``'s and ``convert``'s lines
printed the ``-o`` name raw; warnings and usage errors quote names escaped too."""

from __future__ import annotations

import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import pytest

from netform.cli._main import _show_warning, main

SPEC = "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: 2}\n"
WARNED = SPEC + (
    "training:\n  optimizer: adam\n  loss: mse\n  epochs: 1\n  callbacks: [{type: EarlyStopping, patience: 2}]\n"
)
# an escape sequence (conceal), an OSC window title ended by a bell, a screen clear, a line break
NAMES = ("a\x1b[8mx", "ok\x1b]0;OWNED\x07\x1b[2Jy", "two\nlines")
RAW = ("\x1b", "\x07")


def assert_clean(text: str) -> None:
    assert not any(c in text for c in RAW), repr(text)


def test_validate_of_a_folder_escapes_the_file_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    for name in NAMES:
        (folder / f"{name}.yaml").write_text(SPEC)
    assert main(["validate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert_clean(out)
    lines = out.splitlines()
    assert len(lines) == 4 and lines[-1] == "3 of 3 spec(s) valid.", lines
    assert f"{folder}/a\\x1b[8mx.yaml: ok (sequential model 'model')" in lines
    assert f"{folder}/ok\\x1b]0;OWNED\\x07\\x1b[2Jy.yaml: ok (sequential model 'model')" in lines
    assert f"{folder}/two\\nlines.yaml: ok (sequential model 'model')" in lines


def test_validate_warnings_escape_the_file_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "w\x1b]0;T\x07\n.yaml"
    spec.write_text(WARNED)
    assert main(["validate", str(spec)]) == 0
    captured = capsys.readouterr()
    assert_clean(captured.out + captured.err)
    assert "warning(s)." in captured.out
    warnings = captured.err.splitlines()
    assert warnings and all(line.startswith(f"{tmp_path}/w\\x1b]0;T\\x07\\n.yaml:") for line in warnings), warnings


def test_render_prints_the_written_name_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "d\x1b]0;T\x07\n.dot"
    assert main(["render", str(spec), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert_clean(printed)
    assert printed == f"wrote {tmp_path}/d\\x1b]0;T\\x07\\n.dot\n"
    assert out.exists()


def test_build_export_and_convert_print_names_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    model = tmp_path / "m\x1b[2J\n.keras"
    assert main(["build", str(spec), "-o", str(model)]) == 0
    printed = capsys.readouterr().out
    assert_clean(printed)
    assert printed.endswith(f"→ {tmp_path}/m\\x1b[2J\\n.keras [keras]\n"), printed
    exported = tmp_path / "e\x1b]0;T\x07.yaml"
    assert main(["export-spec", str(model), "-o", str(exported)]) == 0
    printed = capsys.readouterr().out
    assert_clean(printed)
    assert printed == f"wrote the spec of 'model' to {tmp_path}/e\\x1b]0;T\\x07.yaml\n"
    converted = tmp_path / "c\x1b[8m.h5"
    assert main(["convert", str(model), str(converted)]) == 0
    printed = capsys.readouterr().out
    assert_clean(printed)
    assert printed.startswith(f"converted {tmp_path}/m\\x1b[2J\\n.keras → {tmp_path}/c\\x1b[8m.h5"), printed
    assert converted.exists()


def test_a_usage_error_quotes_the_argument_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["render", "s.yaml", "-o", "x.svg", "--direction", "\x1b]0;T\x07"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert_clean(err)
    assert "invalid choice: '\\x1b]0;T\\x07'" in err, err
    with pytest.raises(SystemExit):
        main(["validate", "s.yaml", "--\x1b[2J"])
    err = capsys.readouterr().err
    assert_clean(err)
    assert "unrecognized arguments: --\\x1b[2J" in err, err


def test_a_warning_is_printed_escaped() -> None:
    out = io.StringIO()
    _show_warning(UserWarning("file 'x\x1b[2J.npz'\n  is odd"), UserWarning, "f.py", 1, out)
    assert out.getvalue() == "warning: file 'x\\x1b[2J.npz' is odd\n"
