"""Fuzz ``load_spec`` with mutated zoo specs: valid or a located SpecError, never a crash.

The mutations live in ``mutate.py`` (shared with ``bench/fuzz_specs.py``,
the 10,000-case run). Here Hypothesis drives the choices, derandomized so CI
is deterministic, and shrinks any failing case to few mutations.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import copy  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from .mutate import DATA_MUTATIONS, TEXT_MUTATIONS, ZOO, DataChooser, RandomChooser, check, make_case  # noqa: E402

FUZZ = settings(
    max_examples=750,
    derandomize=True,
    deadline=None,  # the 2 s limit is checked on CPU time in mutate.check
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _assert_ok(level: str, data: st.DataObject) -> None:
    case = make_case(DataChooser(data), level=level)
    outcome = check(case.text)
    assert outcome.kind != "failure", f"{case.describe()}\n" + "\n".join(outcome.problems) + f"\n---\n{case.text}"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # if a tag ever ran `touch NETFORM_FUZZ_MARKER`, the marker would land here, and be checked for
    monkeypatch.chdir(tmp_path)
    yield
    assert not (tmp_path / "NETFORM_FUZZ_MARKER").exists(), "a YAML tag ran a command"


@FUZZ
@given(st.data())
def test_text_mutations_end_valid_or_in_located_error(data: st.DataObject) -> None:
    _assert_ok("text", data)


@FUZZ
@given(st.data())
def test_data_mutations_end_valid_or_in_located_error(data: st.DataObject) -> None:
    _assert_ok("data", data)


@pytest.mark.parametrize("model", sorted(ZOO))
def test_unmutated_zoo_is_valid(model: str) -> None:
    outcome = check(ZOO[model])
    assert outcome.kind == "valid", outcome.problems


def test_every_mutation_changes_some_spec() -> None:
    """A mutation that never changes its input would make the fuzzer test nothing."""
    for name, op in TEXT_MUTATIONS.items():
        assert any(op(ZOO[m], RandomChooser(seed)) != ZOO[m] for seed in range(10) for m in ZOO), name
    trees = {m: yaml.safe_load(text) for m, text in ZOO.items()}
    for name, dop in DATA_MUTATIONS.items():

        def changes(model: str, seed: int) -> bool:
            tree = copy.deepcopy(trees[model])
            dop(tree, RandomChooser(seed))  # noqa: B023 - called at once, in this iteration
            return repr(tree) != repr(trees[model])

        assert any(changes(m, seed) for seed in range(10) for m in ZOO), name


def test_the_checker_reports_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself must flag what is not a SpecError (or it could never fail)."""
    import netform

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(netform, "load_spec", boom)
    outcome = check(ZOO["mlp"])
    assert outcome.kind == "failure" and "KeyError: 'boom'" in outcome.problems[0]
