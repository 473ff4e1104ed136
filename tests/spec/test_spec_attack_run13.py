"""Specs that validate used to take seconds or pass where Keras fails: each is refused (or answered) at
validate, in bounded time."""

from __future__ import annotations

import difflib
import random

import pytest

import netform
from netform import errors
from netform.errors import SpecError, did_you_mean
from tests._budget import assert_cpu_under

# -- "did you mean": bounded work ---------------------------------------------------------------------------


def _two_letter_names(count: int, width: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["n" + "".join(rng.choice("ab") for _ in range(width)) for _ in range(count)]


def test_a_long_name_gets_no_suggestion_by_likeness() -> None:
    known = _two_letter_names(5, 1_020, 1)
    bad = known[0][:-1] + ("a" if known[0][-1] == "b" else "b")
    assert did_you_mean(bad, known) == ""
    assert did_you_mean(known[0].upper(), known) == f" (Did you mean '{known[0]}'?)"  # another case: still found


def test_a_suggestion_compares_a_bounded_number_of_names(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = difflib.SequenceMatcher.ratio

    def counted(self: difflib.SequenceMatcher) -> float:
        calls.append(1)
        return real(self)

    monkeypatch.setattr(difflib.SequenceMatcher, "ratio", counted)
    known = _two_letter_names(200, 63, 2)
    did_you_mean(_two_letter_names(1, 63, 3)[0], known)
    assert 0 < len(calls) <= errors._MAX_WORK // (64 * 64) + 1


def test_suggestions_are_kept_for_short_names() -> None:
    assert did_you_mean("Dens", ["Dense", "Conv2D", "LSTM"]) == " (Did you mean 'Dense'?)"
    assert did_you_mean("lstm", ["Dense", "LSTM"]) == " (Did you mean 'LSTM'?)"
    assert (
        did_you_mean("convd", ["Conv1D", "Conv2D", "Conv3D"]) == " (Did you mean one of: 'Conv3D', 'Conv2D', 'Conv1D'?)"
    )
    known = [f"layer_{i}" for i in range(300)]
    assert did_you_mean("layer_2999", known) != ""


def _bad_references(count: int, width: int) -> str:
    names, bad = _two_letter_names(count, width, 3), _two_letter_names(count, width, 4)
    lines = ["netform: 1", "kind: functional", "inputs: {x: {shape: [4]}}", "nodes:"]
    lines += [f"  {n}: {{type: Dense, units: 2, in: {b}}}" for n, b in zip(names, bad)]
    return "\n".join(lines + [f"outputs: [{names[0]}]", ""])


@pytest.mark.parametrize(("count", "width"), [(100, 1_020), (5_000, 40), (5_000, 64)])
def test_many_similar_unknown_names_are_refused_in_time(count: int, width: int) -> None:
    """Nodes of long two-letter names, each naming another that does not exist: difflib is slowest there
    (100 names of 1,020 letters took 20 s)."""
    text = _bad_references(count, width)
    assert len(text) < 1_000_000

    def refuse() -> None:
        with pytest.raises(SpecError, match="unknown node or input"):
            netform.load_spec(text)

    assert_cpu_under(refuse, 2.0, f"{count:,} unknown names of {width:,} letters")
