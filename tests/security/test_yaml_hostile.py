"""Hostile YAML: every file of the corpus is refused with a clear SpecError, fast, running nothing.

The corpus is written by ``make_yaml_corpus.py`` (run as a script, as a
user would) into a temporary directory.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

import netform  # noqa: E402
from netform.errors import SpecError  # noqa: E402

from tests._budget import assert_cpu_under
from tests.security.make_yaml_corpus import CORPUS, MARKER  # noqa: E402

HERE = Path(__file__).resolve().parent

TIME_LIMIT_S = 2.0
TOO_DEEP = r"the document is nested more than 64 levels deep; specs are shallow, is this the right file\?"
BOMB = r"the document expands to more than 200000 values \(a YAML alias bomb\?\); specs are refused past that size"
TAG = r"the YAML tag '{}' is not allowed; specs use plain YAML values only \(netform never constructs objects from tags\)"
TOO_BIG = r"the file is {} MB; specs are limited to 8 MB \(a model spec is usually a few KB: is this the right file\?\)"

# file → the whole first diagnostic after the file name (line:column: path: message)
EXPECTED: dict[str, str] = {
    "billion_laughs.yaml": rf"1:1: {BOMB}",
    "deep_flow_10000.yaml": rf"4:73: {TOO_DEEP}",
    "deep_block_10000.yaml": rf"5:\d+: {TOO_DEEP}",
    "deep_block_indented_3000.yaml": rf"\d+:\d+: {TOO_DEEP}",
    "python_object_apply_os_system.yaml": r"4:14: description: " + TAG.format("!!python/object/apply:os.system"),
    "python_object_new_popen.yaml": r"4:14: description: " + TAG.format("!!python/object/new:subprocess.Popen"),
    "python_name_eval.yaml": r"4:14: description: " + TAG.format("!!python/name:builtins.eval"),
    "python_object_apply_in_key.yaml": r"1:1: mapping keys must be plain scalars",
    "recursive_alias.yaml": r"\d+:\d+: an alias refers to the list or mapping that contains it",
    "merge_key_bomb.yaml": rf"1:1: {BOMB}",
    "merge_keys.yaml": r"6:5: layers\[0\]: YAML merge keys \('<<'\) are not supported in specs; write the keys out",
    "long_line_10mb.yaml": " " + TOO_BIG.format("10.0"),
    "long_line_7mb.yaml": r"3:7: name: a text of 7,000,001 characters; a spec.s texts are at most 100,000 characters",
    "keys_100000.yaml": r"\d+:\d+: the document has more than 200000 values \(keys and items\); specs are refused "
                        r"past that size",
    "large_50mb.yaml": " " + TOO_BIG.format("50.0"),
    "non_utf8.yaml": r"4:17: the file is not UTF-8 text \(invalid continuation byte at byte 58\); save it as UTF-8",
    "utf16_bom.yaml": r" the file is UTF-16 text \(it starts with a UTF-16 byte-order mark\); specs are UTF-8: "
                      r"save the file as UTF-8",
    "null_bytes.yaml": r"4:15: invalid YAML: the control character U\+0000 is not allowed in YAML text; remove it",
    "undefined_alias.yaml": r"4:9: invalid YAML: found undefined alias",
    "two_documents.yaml": r"5:1: invalid YAML: but found another document \(expected a single document in the stream\)",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("hostile")
    proc = subprocess.run([sys.executable, str(HERE / "make_yaml_corpus.py"), str(directory)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return directory


def test_every_corpus_file_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(CORPUS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_file_is_refused_quickly(name: str, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = corpus / name
    monkeypatch.chdir(corpus)  # a relative `touch MARKER` would land here too
    errors: list[SpecError] = []

    def refuse() -> None:
        with pytest.raises(SpecError, match=f"^{path}:{EXPECTED[name]}") as info:
            netform.load_spec(path)
        errors.append(info.value)

    # The goal is per size: a spec under 1 MB in under 2 s of CPU; a larger file (keys_100000.yaml, 1.6 MB,
    # read to its end) in proportion. Before, such files ran for minutes.
    limit = TIME_LIMIT_S * max(1.0, path.stat().st_size / 1_000_000)
    assert_cpu_under(refuse, limit, f"{name}: refused")
    assert len(errors[-1].diagnostics) == 1, errors[-1]
    assert not (corpus / MARKER).exists(), f"{name}: a tag ran a command"


@pytest.mark.parametrize("name", ["billion_laughs.yaml", "python_object_apply_os_system.yaml", "deep_block_10000.yaml"])
def test_hostile_text_is_refused_like_the_file(name: str, corpus: Path) -> None:
    """The same content given as text (not a path) ends in the same message."""
    text = (corpus / name).read_text(encoding="utf-8")
    with pytest.raises(SpecError, match=f"^<string>:{EXPECTED[name]}"):
        netform.load_spec(text)
    assert not (corpus / MARKER).exists()


def test_the_marker_check_can_fail(corpus: Path) -> None:
    """The command in the corpus is real: run by an unsafe loader, it makes the marker (so our check means something)."""
    import yaml

    text = (corpus / "python_object_apply_os_system.yaml").read_text(encoding="utf-8")
    yaml.unsafe_load(text)
    try:
        assert (corpus / MARKER).exists()
    finally:
        (corpus / MARKER).unlink(missing_ok=True)
