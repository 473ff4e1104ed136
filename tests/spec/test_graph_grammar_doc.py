"""Every example of the graph grammar in docs/spec-reference.md is a spec that loads and has static shapes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import netform as nf

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec-reference.md"


def _examples() -> list[tuple[str, str]]:
    text = DOC.read_text()
    start = text.index("## Graph grammar (`nodes:`)")
    section = text[start:text.index("\n## ", start + 1)]
    out = []
    heading = ""
    for part in re.split(r"(^### .*$)", section, flags=re.M):
        if part.startswith("### "):
            heading = part[4:].strip()
        for block in re.findall(r"```yaml\n(.*?)```", part, flags=re.S):
            out.append((heading, block))
    return out


def test_every_part_of_the_grammar_has_an_example() -> None:
    headings = [h for h, _ in _examples()]
    assert len(headings) == len(set(headings)) == 6
    for word in ("`in`", "`node.N`", "`call`", "`op`", "`shares`", "`block`"):
        assert any(word in h for h in headings), word


@pytest.mark.parametrize(("heading", "text"), _examples(), ids=[h for h, _ in _examples()])
def test_example_loads_with_static_shapes(heading: str, text: str) -> None:
    spec = nf.load_spec(text)
    assert nf.load_spec(spec.to_yaml()) == spec
    summary = nf.summary(spec)
    assert summary.complete, heading
    assert all(row.output_shape is not None for row in summary.rows)


def test_examples_load_and_summarise_without_tensorflow() -> None:
    """Op nodes, picks and call arguments are checked in pure Python, like the rest of a spec."""
    import subprocess
    import sys

    code = (
        "import sys, netform as nf\n"
        "from tests.spec.test_graph_grammar_doc import _examples\n"
        "for _, text in _examples():\n"
        "    assert nf.summary(nf.load_spec(text)).complete\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=DOC.parents[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
