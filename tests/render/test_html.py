"""The interactive HTML diagram: one self-contained file, checked as text and in a real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from netform.render import diagram_of, render
from netform.render._diagram import Diagram

from ._cdp import Browser, find_chromium
from ._specs import SHARED

ROOT = Path(__file__).resolve().parents[2]
RESNET = str(ROOT / "models" / "resnet_small.yaml")
TRANSFORMER = str(ROOT / "models" / "transformer_text.yaml")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH: install it with `apt-get install chromium` (make system-deps)")


def _data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="nf-data">(.*?)</script>', page, re.DOTALL)
    assert m is not None
    return json.loads(m.group(1).replace("<\\/", "</"))


@needs_dot
def test_html_is_one_self_contained_file(tmp_path: Path) -> None:
    out = render(RESNET, tmp_path / "r.html", collapse_depth=1)
    assert out == tmp_path / "r.html"
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert csp is not None and csp.group(1).startswith("default-src 'none';")
    assert "'unsafe-inline'" not in csp.group(1) and "'sha256-" in csp.group(1)
    # nothing to fetch: no URL, no external script, style sheet, image or frame
    assert not re.search(r"https?://", page)
    assert not re.search(r"<(link|iframe|img|object|embed)\b", page)
    assert not re.search(r"<script[^>]* src=", page)
    assert page.count("<svg") == 1 and "<?xml" not in page and "<!DOCTYPE svg" not in page
    data = _data(page)
    names = [n["id"] for n in data["nodes"]]
    assert len(names) == len(diagram_of(RESNET).nodes) and "stage2.down.proj" in names
    proj = data["nodes"][names.index("stage2.down.proj")]
    assert proj["config"]["strides"] == 2 and proj["shape"] == "(None, 16, 16, 16)" and proj["params"] == 128
    assert proj["inputs"] == ["(None, 32, 32, 8)"]
    clusters = {c["id"]: c for c in data["clusters"]}
    # blocks deeper than collapse_depth start collapsed; a box knows its block parameters and parameter count
    assert not clusters["stage2"]["collapsed"] and clusters["stage2.down"]["collapsed"]
    assert clusters["stage2.down"]["args"] == {"filters": 16}
    assert clusters["stage2.down"]["params"] == sum(n["params"] for n in data["nodes"]
                                                    if n["id"].startswith("stage2.down."))


@needs_dot
def test_html_default_is_expanded_and_cli_writes_it(tmp_path: Path) -> None:
    from netform.cli._main import main

    assert main(["render", TRANSFORMER, "-o", str(tmp_path / "t.html"), "--collapse-depth", "0"]) == 0
    data = _data((tmp_path / "t.html").read_text(encoding="utf-8"))
    assert all(c["collapsed"] for c in data["clusters"])
    assert {c["id"]: c["argsText"] for c in data["clusters"]}["encoders.1"].startswith("heads: 4, key_dim: 8")
    data = _data(render(SHARED, tmp_path / "s.htm").read_text(encoding="utf-8"))
    assert not data["clusters"] and {n["id"]: n["uses"] for n in data["nodes"]}["enc"] == 2
    assert main(["render", TRANSFORMER, "-o", str(tmp_path / "t.out"), "--format", "html"]) == 0
    assert (tmp_path / "t.out").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@needs_dot
def test_html_from_a_spec_imports_no_tensorflow(tmp_path: Path) -> None:
    code = ("import sys, netform as nf; nf.render(sys.argv[1], sys.argv[2]); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    proc = subprocess.run([sys.executable, "-c", code, RESNET, str(tmp_path / "r.html")], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "stage4.same.out" in (tmp_path / "r.html").read_text(encoding="utf-8")


def _visible(b: Browser, gid: str) -> bool:
    return bool(b.eval(f"getComputedStyle(document.getElementById({json.dumps(gid)})).display !== 'none'"))


def _panel(b: Browser) -> dict[str, str]:
    return b.eval("(function(){var o={};document.querySelectorAll('#nf-panel [data-key]').forEach("
                  "function(e){o[e.getAttribute('data-key')]=e.textContent;});"
                  "o.title=document.querySelector('#nf-panel h2').textContent;return o;})()")


def _viewbox(b: Browser) -> list[float]:
    return [float(v) for v in b.eval("document.querySelector('#nf-view svg').getAttribute('viewBox')").split()]


@needs_dot
@needs_chromium
def test_html_in_headless_chromium(tmp_path: Path) -> None:
    page = render(RESNET, tmp_path / "resnet.html", collapse_depth=1)
    full = diagram_of(RESNET)
    cid = {c: f"nf-c{i}" for i, c in enumerate(full.clusters)}
    nid = {n: f"nf-n{i}" for i, n in enumerate(full.nodes)}
    assert CHROMIUM is not None
    b = Browser(CHROMIUM)
    try:
        for domain in ("Network", "Page", "Runtime", "Log"):
            b.call(f"{domain}.enable")
        url = page.resolve().as_uri()
        b.call("Page.navigate", url=url)
        assert b.wait_for("document.body && document.body.getAttribute('data-ready')") == "1"

        # initial state: blocks nested deeper than 1 are boxes hiding their layers
        assert b.eval(f"document.getElementById('{cid['stage2.down']}').classList.contains('nf-collapsed')")
        assert not _visible(b, nid["stage2.down.proj"]) and _visible(b, nid["stem.conv2d"])

        # a click on the collapsed block expands it and shows it in the panel; a second click collapses it
        b.click(*b.center(f"#{cid['stage2.down']} path"))
        assert _visible(b, nid["stage2.down.proj"])
        assert not b.eval(f"document.getElementById('{cid['stage2.down']}').classList.contains('nf-collapsed')")
        panel = _panel(b)
        assert panel["title"] == "stage2.down" and panel["params"] == f"{full_params(full, 'stage2.down.'):,}"
        assert json.loads(panel["block parameters"]) == {"filters": 16}
        b.click(*b.center(f"#{cid['stage2.down']} text"))  # the cluster's label
        assert not _visible(b, nid["stage2.down.proj"])

        # search opens the collapsed block holding the match, centres on it and shows it in the panel
        b.click(*b.center("#nf-search"))
        b.type_text("stage3.down.proj_b")
        assert b.eval("document.getElementById('nf-count').textContent") == "1/1"
        b.press_enter()
        assert b.wait_for("document.getElementById('nf-panel').getAttribute('data-selected')") == "stage3.down.proj_bn"
        assert _visible(b, nid["stage3.down.proj_bn"])
        assert b.eval(f"document.getElementById('{nid['stage3.down.proj_bn']}').classList.contains('nf-current')")
        panel = _panel(b)
        assert panel["type"] == "BatchNormalization" and panel["output shape"] == "(None, 8, 8, 32)"
        assert panel["params"] == "128" and panel["input shapes"] == "(None, 8, 8, 32)"
        assert panel["in block"] == "stage3.down"

        # a click on a node shows its full configuration
        b.call("Runtime.evaluate", expression="document.getElementById('nf-fit').click()")
        b.click(*b.center(f"#{nid['logits']} path"))
        panel = _panel(b)
        assert panel["title"] == "logits" and panel["model output"] == "yes" and panel["params"] == "650"
        assert json.loads(panel["configuration"]) == {"units": 10, "activation": "softmax"}

        # wheel zooms in around the cursor; dragging pans
        before = _viewbox(b)
        x, y = b.center("#nf-view")
        b.wheel(x, y, -300)
        zoomed = _viewbox(b)
        assert zoomed[2] < before[2] * 0.8
        b.drag(x, y, 120, 60)
        panned = _viewbox(b)
        assert panned[2] == pytest.approx(zoomed[2]) and panned[0] < zoomed[0] and panned[1] < zoomed[1]

        shot = b.screenshot()
        (tmp_path / "shot.png").write_bytes(shot)
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", shot[16:24])[0] >= 800

        # the page fetched nothing but itself, and nothing was refused or failed
        requests = [e["params"]["request"]["url"] for e in b.events if e["method"] == "Network.requestWillBeSent"]
        assert requests == [url]
        problems = [e["params"] for e in b.events
                    if e["method"] in ("Runtime.exceptionThrown", "Log.entryAdded", "Network.loadingFailed")]
        assert problems == []
    finally:
        b.close()


def full_params(diagram: Diagram, prefix: str) -> int:
    """The parameters of the layers whose ids start with ``prefix``."""
    return sum(n.params or 0 for n in diagram.nodes.values() if n.id.startswith(prefix))
