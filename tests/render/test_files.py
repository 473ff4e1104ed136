"""Image files, errors, the CLI, and that drawing a spec never imports TensorFlow."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from netform.errors import RenderError
from netform.render import render
from netform.render._diagram import Diagram, DNode
from netform.render._dot import to_dot
from netform.render._graphviz import run_dot

from ._specs import MULTI_IO, NESTED_TWICE, SHARED

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
ROOT = Path(__file__).resolve().parents[2]


def _svg_root(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


@needs_dot
def test_svg_is_valid_xml_with_every_node(tmp_path: Path) -> None:
    out = render(MULTI_IO, tmp_path / "m.svg")
    assert out == tmp_path / "m.svg"
    root = _svg_root(out)
    titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert {"text", "image", "merged", "cat", "prio", "pool_t->merged"} <= titles


@needs_dot
@pytest.mark.parametrize("expand", [True, False])
def test_png_has_magic_and_size(tmp_path: Path, expand: bool) -> None:
    out = render(NESTED_TWICE, tmp_path / "n.png", expand_nested=expand)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0 and height > 0


@needs_dot
def test_pdf_and_format_override(tmp_path: Path) -> None:
    assert render(SHARED, tmp_path / "s.pdf").read_bytes()[:5] == b"%PDF-"
    out = render(SHARED, tmp_path / "diagram.out", format="svg")
    _svg_root(out)


def test_dot_needs_no_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    out = render(SHARED, tmp_path / "s.dot")
    assert out.read_text().startswith('digraph "shared" {')
    assert render(SHARED, tmp_path / "s.gv").read_text() == out.read_text()


def test_missing_dot_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RenderError, match=r"`dot` program was not found.*apt-get install graphviz.*brew install graphviz"):
        render(SHARED, tmp_path / "s.svg")
    assert not (tmp_path / "s.svg").exists()


def test_bad_format_direction_and_source(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"cannot tell the diagram format from the extension '\.txt'; use \.svg"):
        render(SHARED, tmp_path / "a.txt")
    with pytest.raises(RenderError, match=r"unknown diagram format 'gif'; expected one of svg, png, pdf, dot"):
        render(SHARED, tmp_path / "a.svg", format="gif")
    with pytest.raises(RenderError, match=r"direction must be one of TB, LR, BT, RL; received direction='up'"):
        render(SHARED, tmp_path / "a.dot", direction="up")
    with pytest.raises(RenderError, match=r"nope\.yaml: no such spec or model file"):
        render("nope.yaml", tmp_path / "a.dot")
    with pytest.raises(RenderError, match=r"received int"):
        render(3, tmp_path / "a.dot")


@needs_dot
def test_dot_failure_is_a_render_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"graphviz `dot -Tsvg` failed \(exit 1\).*syntax error"):
        run_dot("digraph { -> }", "svg", tmp_path / "x.svg")


@needs_dot
def test_odd_names_are_escaped(tmp_path: Path) -> None:
    d = Diagram('odd "model"', "functional")
    odd = 'a"b\\c<&>'
    d.nodes[odd] = DNode(odd, odd, "Dense", "core", (None, 2), 6)
    d.nodes["in"] = DNode("in", "in", "InputLayer", "input", (None, 2), 0, role="input")
    d.add_edge("in", odd, (None, 2))
    run_dot(to_dot(d), "svg", tmp_path / "odd.svg")
    texts = [t.text for t in _svg_root(tmp_path / "odd.svg").iter("{http://www.w3.org/2000/svg}text")]
    assert 'a"b\\c<&>' in texts


def test_spec_file_renders_without_tensorflow(tmp_path: Path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text(MULTI_IO)
    code = ("import sys, netform as nf; nf.render(sys.argv[1], sys.argv[2]); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    proc = subprocess.run([sys.executable, "-c", code, str(spec), str(tmp_path / "m.dot")], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m.dot").read_text().startswith('digraph "multi_io"')


@pytest.mark.parametrize("first", ["import netform.render", "from netform.render import diagram_of",
                                   "from netform.cli._main import main; main(['render', '--help'])"])
def test_nf_render_is_callable_after_the_package_is_imported(tmp_path: Path, first: str) -> None:
    """Importing the package netform.render makes it netform's attribute `render`: it still draws."""
    spec = tmp_path / "m.yaml"
    spec.write_text(MULTI_IO)
    code = (f"import sys, netform as nf\ntry:\n    {first}\nexcept SystemExit:\n    pass\n"
            "print(nf.render(sys.argv[1], sys.argv[2]))")
    proc = subprocess.run([sys.executable, "-c", code, str(spec), str(tmp_path / "m.dot")], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("m.dot")
    assert (tmp_path / "m.dot").read_text().startswith('digraph "multi_io"')


@needs_dot
def test_cli_handler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from netform.cli._args import args_render
    from netform.cli._render_cmd import cmd_render
    import argparse

    spec = tmp_path / "n.yaml"
    spec.write_text(NESTED_TWICE)
    parser = argparse.ArgumentParser()
    args_render(parser)
    ns = parser.parse_args([str(spec), "-o", str(tmp_path / "n.svg"), "--collapse", "--direction", "LR",
                            "--no-params"])
    assert cmd_render(ns) == 0
    assert f"wrote {tmp_path / 'n.svg'}" in capsys.readouterr().out
    svg = (tmp_path / "n.svg").read_text()
    assert "conv_bn ×2" in svg and "params" not in svg


def test_cli_through_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from netform.cli._main import main

    spec = tmp_path / "s.yaml"
    spec.write_text(SHARED)
    assert main(["render", str(spec), "-o", str(tmp_path / "s.dot")]) == 0
    assert (tmp_path / "s.dot").read_text().startswith('digraph "shared"')
    assert main(["render", str(spec), "-o", str(tmp_path / "s.txt")]) == 7
    assert "cannot tell the diagram format" in capsys.readouterr().err
