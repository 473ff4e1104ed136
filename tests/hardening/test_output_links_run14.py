"""An output that is a link to the process's own output, or to a FIFO or device, is never replaced.

``netform render s.yaml -o /dev/stdout > o.txt`` renamed the diagram over ``/dev/stdout`` itself (a link to
``/proc/self/fd/1``): the system's link was gone for every process, and nothing reached the output. A link
that leads through ``/dev``, ``/proc`` or ``/sys``, or to anything but a regular file, is now a usage error
(exit 2) before the command starts, and the atomic writer refuses it too (the library's ``render``, ``save``).
A link to a regular file is still replaced by the file written, never followed, as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import netform as nf
from netform._files import special_link_problem, write_bytes
from netform.cli._main import main
from netform.errors import RenderError

SPEC = "netform: 1\nname: s\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: 2}\n"


@pytest.fixture()
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SPEC)
    return path


def test_a_link_to_the_process_output_is_refused_by_the_cli(spec: Path, tmp_path: Path) -> None:
    link = tmp_path / "out"
    link.symlink_to("/proc/self/fd/1")
    with open(tmp_path / "o.txt", "w") as stdout:  # the output a file: the link resolves to a regular file
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from netform.cli._main import main; sys.exit(main())",
             "render", str(spec), "-o", str(link), "--format", "dot"],
            stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "/proc/self/fd/1" in done.stderr
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"


@pytest.mark.parametrize("command", ["render", "schema"])
def test_dev_stdout_is_refused_before_anything_is_written(
    command: str, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not os.path.islink("/dev/stdout"):
        pytest.skip("no /dev/stdout link on this system")
    args = (
        ["render", str(spec), "-o", "/dev/stdout", "--format", "dot"]
        if command == "render"
        else ["schema", "-o", "/dev/stdout"]
    )
    assert main(args) == 2
    assert "a path among the system's devices" in capsys.readouterr().err
    assert os.path.islink("/dev/stdout")


def test_a_link_to_a_fifo_is_refused(spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "out.dot"
    link.symlink_to(fifo)
    assert main(["render", str(spec), "-o", str(link)]) == 2
    assert "neither a regular file nor a folder" in capsys.readouterr().err
    assert link.is_symlink()
    with pytest.raises(RenderError, match="neither a regular file nor a folder"):
        nf.render(str(spec), link, format="dot")
    assert link.is_symlink()


def test_the_library_writer_refuses_a_link_into_proc(tmp_path: Path) -> None:
    link = tmp_path / "out"
    link.symlink_to("/proc/self/fd/1")
    with pytest.raises(FileExistsError, match="system's devices"):
        write_bytes(link, b"x")
    assert link.is_symlink()
    chain = tmp_path / "chain"
    chain.symlink_to(link)  # through another link: the same
    assert special_link_problem(str(chain)) is not None


def test_a_link_to_a_regular_file_is_replaced_as_before(spec: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.dot"
    real.write_text("old")
    link = tmp_path / "out.dot"
    link.symlink_to(real)
    assert main(["render", str(spec), "-o", str(link)]) == 0
    assert not link.is_symlink() and "digraph" in link.read_text()
    assert real.read_text() == "old"  # never followed
    dangling = tmp_path / "dangling.dot"
    dangling.symlink_to(tmp_path / "nothing")
    assert special_link_problem(str(dangling)) is None
    assert special_link_problem(str(tmp_path / "plain.dot")) is None
