"""YAML in and out: positions, safety limits, stable dumping.

Time limits are checked on this process's CPU time after a first untimed call (tests/_budget.py), so neither
a busy machine nor the modules a first call imports make them flaky.
"""

from __future__ import annotations

import pickle
import re

import pytest

from netform.errors import SpecError
from netform.spec import load_spec
from netform.spec._yaml import load_yaml
from tests._budget import assert_cpu_under


def test_positions_of_keys_and_items() -> None:
    data, smap = load_yaml("a: 1\nb:\n  - x\n  - {c: 2}\n", "f.yaml")
    assert data == {"a": 1, "b": ["x", {"c": 2}]}
    assert smap.positions[("a",)] == (1, 1)
    assert smap.positions[("b", 1, "c")] == (4, 6)
    assert smap.locate(("b", 1, "c", "missing")) == (4, 6)


def test_positions_of_a_plain_document_and_a_problem_found_after_reading() -> None:
    text = "netform: 1\nname: m\nkind: functional\ninputs:\n  x: {shape: [4]}\nnodes:\n" + "".join(
        f"  n{i}: {{op: add, in: [{'x' if i == 0 else f'n{i - 1}'}, 1.0]}}\n" for i in range(50)
    )
    data, smap = load_yaml(text + "outputs: [n49]\n", "f.yaml")
    assert pickle.loads(pickle.dumps(smap)).locate(("nodes", "n7", "in", 1)) == (14, 26)  # a spec pickles
    assert smap.locate(("nodes", "n7", "in", 1)) == (14, 26)
    assert smap.positions[("outputs",)] == (57, 1)
    # a problem found after reading (here by the shape rules) is placed at its line
    bad = text.replace("n30: {op: add, in: [n29, 1.0]}", "n30: {op: reshape, in: n29, newshape: [3]}")
    with pytest.raises(SpecError, match=r"^f\.yaml:37:3: nodes\.n30: op reshape"):
        load_spec(bad + "outputs: [n49]\n", source="f.yaml")


def test_syntax_error_is_located() -> None:
    with pytest.raises(SpecError, match=r"^f\.yaml:2:\d+: invalid YAML: "):
        load_yaml("a: [1, 2\nb: 3\n", "f.yaml")


def test_duplicate_key() -> None:
    with pytest.raises(SpecError, match=r"f\.yaml:2:1: a: duplicate key 'a' \(the first one is at line 1\)"):
        load_yaml("a: 1\na: 2\n", "f.yaml")


def test_empty_document() -> None:
    with pytest.raises(SpecError, match=r"the document is empty; a spec starts with `netform: 1`"):
        load_yaml("", "f.yaml")


def test_python_tag_is_refused_and_never_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "marker"
    text = f"netform: 1\nname: !!python/object/apply:os.system ['touch {marker}']\nkind: sequential\n"
    with pytest.raises(SpecError, match=r"2:7: name: the YAML tag '!!python/object/apply:os.system' is not allowed"):
        load_spec(text)
    assert not marker.exists()


@pytest.mark.parametrize("tag", ["!custom", "!!binary", "!!set", "!!omap", "!!timestamp"])
def test_other_tags_are_refused(tag: str) -> None:
    with pytest.raises(SpecError, match="is not allowed; specs use plain YAML values only"):
        load_yaml(f"a: {tag} x\n")


def test_alias_bomb_is_refused_fast() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    text = "\n".join(lines)

    def run() -> None:
        with pytest.raises(SpecError, match=r"expands to more than \d+ values \(a YAML alias bomb\?\)"):
            load_spec(text)

    assert_cpu_under(run, 2.0, "refusing the alias bomb")


def test_deep_nesting_is_refused_fast() -> None:
    text = "a: " + "[" * 10_000 + "]" * 10_000

    def run() -> None:
        with pytest.raises(SpecError, match=r"nested more than 64 levels deep"):
            load_spec(text)

    assert_cpu_under(run, 2.0, "refusing 10,000 nested lists")


def test_deep_block_nesting_is_refused() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n"
    with pytest.raises(SpecError, match=r"nested more than 64 levels deep"):
        load_spec(text)


def test_huge_file_is_refused_fast(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "huge.yaml"
    with path.open("w") as f:
        line = "# " + "x" * 1000 + "\n"
        for _ in range(50 * 1024):
            f.write(line)
    assert path.stat().st_size > 50_000_000

    def run() -> None:
        with pytest.raises(SpecError, match=r"huge\.yaml: the file is 5\d\.\d MB; specs are limited to 8 MB"):
            load_spec(path)

    assert_cpu_under(run, 2.0, "refusing a 50 MB file")


def test_huge_text_is_refused() -> None:
    with pytest.raises(SpecError, match="specs are limited to 8 MB"):
        load_spec("a: 1\n" + "#" * 9_000_000)


def test_merge_keys_are_refused() -> None:
    with pytest.raises(SpecError, match=r"merge keys \('<<'\) are not supported"):
        load_yaml("base: &b {x: 1}\nc:\n  <<: *b\n")


def test_not_utf8() -> None:
    with pytest.raises(SpecError, match="the file is not UTF-8 text"):
        load_yaml(b"a: \xff\xfe\n")


def test_missing_file() -> None:
    with pytest.raises(SpecError, match=r"nope\.yaml: no such spec file"):
        load_spec("nope.yaml")


@pytest.mark.parametrize("name", ["results/model", "my_savedmodel", "spec.yml.bak"])
def test_missing_file_without_a_spec_extension(name: str) -> None:
    """One word is read as YAML (a scalar, not a spec); the error also says no file has that name."""
    with pytest.raises(SpecError, match=rf"received str \({re.escape(repr(name))} is no file either: looked in "):
        load_spec(name)


def test_recursive_alias() -> None:
    with pytest.raises(SpecError, match=r"<string>:1:\d+: an alias refers to the list or mapping that contains it"):
        load_spec("a: &a [*a]\n")


def test_unquoted_date_says_quote_it() -> None:
    with pytest.raises(SpecError, match=r"name: '2020-01-01' reads as a YAML date/time.*quote it"):
        load_spec("netform: 1\nname: 2020-01-01\n")
