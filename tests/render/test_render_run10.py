"""graphviz's layout is bounded: dense graphs are drawn with dot's iteration limits, graphs too large to lay
out in seconds are refused before dot runs, and dot is killed (with its process group) past a timeout."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netform.errors import RenderError
from netform.render import diagram_of, render, to_dot_source
from netform.render import _dot, _graphviz

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
ROOT = Path(__file__).resolve().parents[2]
NETFORM = [sys.executable, "-m", "netform.cli._main"]


def dense_spec(n: int) -> str:
    """A functional spec of ``n`` layers each of which (past the first two) adds every earlier layer:
    about n²/2 edges, each crossing up to n ranks (a 4 KB spec at n = 40 kept dot busy for minutes)."""
    lines = ["netform: 1", "kind: functional", "inputs: {x: {shape: [4]}}", "nodes:",
             "  n0: {type: Dense, units: 4, in: x}", "  n1: {type: Dense, units: 4, in: n0}"]
    for i in range(2, n):
        lines.append(f"  n{i}: {{type: Add, in: [{', '.join(f'n{j}' for j in range(i))}]}}")
    lines.append(f"outputs: [n{n - 1}]")
    return "\n".join(lines) + "\n"


def _cli(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = subprocess.run([*NETFORM, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False)
    return proc, time.monotonic() - start


def test_layout_size_counts_ranks_crossed() -> None:
    dense = diagram_of(dense_spec(40))
    assert _dot.is_dense(dense)
    assert 9_000 < _dot.layout_size(dense) < _dot.LAYOUT_LIMIT
    big = diagram_of(dense_spec(100))
    assert _dot.layout_size(big) > _dot.LAYOUT_LIMIT
    for spec in sorted((ROOT / "models").glob("*.yaml")):
        diagram = diagram_of(spec)
        assert not _dot.is_dense(diagram), spec
        assert _dot.layout_size(diagram) < 1_000, spec


def test_dense_dot_has_bounded_passes_and_no_edge_labels() -> None:
    source = to_dot_source(dense_spec(40))
    graph = source.splitlines()[1]
    for attr in ("splines=line", "nslimit=1", "nslimit1=1", "mclimit=0.1", "searchsize=5", "remincross=false"):
        assert attr in graph, attr
    assert 'splines="true"' not in graph
    edges = [line for line in source.splitlines() if " -> " in line and "__legend" not in line]
    assert len(edges) == 781
    assert not any("label=" in line for line in edges)


def test_ordinary_dot_unchanged() -> None:
    source = to_dot_source(ROOT / "models" / "resnet_small.yaml")
    graph = source.splitlines()[1]
    assert 'splines="true"' in graph
    assert "nslimit" not in graph and "searchsize" not in graph
    assert "label=" in "".join(line for line in source.splitlines() if " -> " in line)


@needs_dot
def test_dense_spec_renders_in_seconds(tmp_path: Path) -> None:
    spec = tmp_path / "dense40.yaml"
    spec.write_text(dense_spec(40))
    proc, wall = _cli("render", str(spec), "-o", str(tmp_path / "d.svg"))
    assert proc.returncode == 0, proc.stderr
    assert wall < 30, wall  # was over 100 s (dot unbounded); about 2 s of CPU on a quiet machine
    assert (tmp_path / "d.svg").read_text().lstrip().startswith(("<?xml", "<svg", "<!DOCTYPE"))


@needs_dot
@pytest.mark.parametrize("suffix", ["svg", "png", "html"])
def test_too_large_refused_before_dot(tmp_path: Path, suffix: str) -> None:
    spec = tmp_path / "dense100.yaml"
    spec.write_text(dense_spec(100))
    out = tmp_path / f"d.{suffix}"
    proc, wall = _cli("render", str(spec), "-o", str(out))
    assert proc.returncode == 7, proc.stderr
    assert wall < 30, wall  # wall clock of a fresh process, generous: refused before dot, which ran for minutes
    assert "too large for graphviz to lay out" in proc.stderr
    assert "NAME.dot" in proc.stderr and "--collapse" in proc.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["dense100.yaml"]
    # the DOT source needs no layout: still written
    proc, _ = _cli("render", str(spec), "-o", str(tmp_path / "d.dot"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "d.dot").stat().st_size > 0


@needs_dot
def test_timeout_kills_dot_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the size check (limit lifted), dot would run for minutes: it is stopped at the timeout."""
    monkeypatch.setattr(_dot, "LAYOUT_LIMIT", 10**9)
    children: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        proc = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        children.append(proc)
        return proc

    monkeypatch.setattr(_graphviz.subprocess, "Popen", popen)
    before = resource.getrlimit(resource.RLIMIT_CPU)
    out = tmp_path / "d.svg"
    start = time.monotonic()
    with pytest.raises(RenderError, match=r"took more than 2 s .*NAME\.dot.*--timeout"):
        render(dense_spec(100), out, timeout=2)
    assert time.monotonic() - start < 30  # wall clock, generous: the 2 s timeout, not dot's minutes
    assert len(children) == 1 and children[0].returncode is not None  # killed and reaped
    with pytest.raises(ProcessLookupError):
        os.killpg(children[0].pid, 0)  # nothing of its process group is left
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert resource.getrlimit(resource.RLIMIT_CPU) == before  # netform's own limits untouched


def _fake_dot(tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "fake-dot"
    exe.write_text("#!/bin/sh\ncat >/dev/null\n" + body)
    exe.chmod(0o755)
    monkeypatch.setattr(_graphviz, "find_dot", lambda: str(exe))


@pytest.mark.skipif(os.name != "posix", reason="process groups and rlimits are POSIX")
def test_dot_child_gets_a_cpu_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dot(tmp_path, "ulimit -t\n", monkeypatch)
    assert _graphviz.layout("digraph {}", "svg", 3).strip() == b"4"
    assert _graphviz.layout("digraph {}", "svg").strip() == b"61"  # default: 60 s


@pytest.mark.skipif(os.name != "posix", reason="process groups and rlimits are POSIX")
def test_timeout_kills_the_whole_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pidfile = tmp_path / "grandchild.pid"
    _fake_dot(tmp_path, f"sleep 300 &\necho $! > {pidfile}\nwait\n", monkeypatch)
    start = time.monotonic()
    with pytest.raises(RenderError, match="took more than 1 s"):
        _graphviz.layout("digraph {}", "svg", 1)
    assert time.monotonic() - start < 30  # wall clock, generous: the 1 s timeout, not the grandchild's 300 s
    pid = int(pidfile.read_text())
    for _ in range(100):  # the grandchild, killed, is reaped by init
        if not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            break
        time.sleep(0.05)
    else:
        pytest.fail("dot's own child outlived the timeout")


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "5"])
def test_bad_timeout_refused(tmp_path: Path, bad: object) -> None:
    with pytest.raises(RenderError, match="timeout must be a number of seconds"):
        render(dense_spec(3), tmp_path / "d.svg", timeout=bad)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@needs_dot
def test_cli_handler_passes_the_timeout(tmp_path: Path) -> None:
    from netform.cli._render_cmd import cmd_render

    args = argparse.Namespace(source=dense_spec(50), output=str(tmp_path / "d.svg"), format=None, direction="TB",
                              collapse=False, collapse_depth=None, details=False, no_shapes=False, no_params=False,
                              plugin=None, timeout=0.2)
    with pytest.raises(RenderError, match=r"took more than 0\.2 s"):
        cmd_render(args)
    assert list(tmp_path.iterdir()) == []


@needs_dot
def test_cli_timeout_stops_dot(tmp_path: Path) -> None:
    spec = tmp_path / "dense40.yaml"
    spec.write_text(dense_spec(50))  # 1.2 s of dot on a 2-core machine (40 layers took 0.4 s there), under the limit
    proc, wall = _cli("render", str(spec), "-o", str(tmp_path / "d.svg"), "--timeout", "0.2")
    assert proc.returncode == 7, proc.stderr
    assert wall < 30, wall  # wall clock of a fresh process, generous: the 0.2 s timeout stops dot
    assert "took more than 0.2 s" in proc.stderr and "--timeout S" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["dense40.yaml"]
    proc, _ = _cli("render", str(spec), "-o", str(tmp_path / "d.svg"), "--timeout", "0")
    assert proc.returncode == 7 and "timeout must be a number of seconds" in proc.stderr, proc.stderr
