"""Spec messages are built from Pydantic's error types and context, never from the wording of its messages.

Each case validates real data, then hands the diagnostics builder the same errors with every ``msg``
reworded (as a Pydantic release or translation might word them): the messages users read must not change.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from netform.spec._parse import pydantic_diagnostics
from netform.spec._training import TrainingSpec
from netform.spec._yaml import SourceMap


class _Reworded:
    """A ``ValidationError`` stand-in whose errors carry other English than Pydantic's."""

    def __init__(self, error: ValidationError) -> None:
        self._errors = error.errors(include_url=False)

    def errors(self, include_url: bool = False) -> list[dict[str, Any]]:
        return [{**e, "msg": f"Reworded: {e['type']} at {e['loc']}"} for e in self._errors]


def _messages(model: type, data: dict[str, Any], *, reword: bool) -> list[str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    error: Any = _Reworded(info.value) if reword else info.value
    return [d.message for d in pydantic_diagnostics(error, data, SourceMap(), (), model)]


@pytest.mark.parametrize(("model", "data", "expected"), [
    # a validator's ValueError: its own words, without Pydantic's "Value error, " prefix
    (TrainingSpec, {"optimizer": "adamm"},
     "unknown optimizer 'adamm' (Did you mean 'adam'?); use one of Keras's built-in optimizers"),
    # several type errors at one place: what each branch expected, from the error type and its context
    (TrainingSpec, {"steps_per_execution": 0}, "expected 'auto' or greater than or equal to 1; received 0"),
    (TrainingSpec, {"steps_per_execution": "fast"}, "expected 'auto' or a valid integer; received 'fast'"),
    (TrainingSpec, {"metrics": 3}, "expected a valid dictionary or a valid tuple; received 3"),
    (TrainingSpec, {"jit_compile": "yes"}, "expected 'auto' or a valid boolean; received 'yes'"),
])
def test_messages_do_not_depend_on_pydantic_wording(model: type, data: dict[str, Any], expected: str) -> None:
    assert _messages(model, data, reword=False) == [expected]
    assert _messages(model, data, reword=True) == [expected]


def test_value_error_message_comes_from_the_raised_exception() -> None:
    with pytest.raises(ValidationError) as info:
        TrainingSpec.model_validate({"callbacks": [{"type": "TrainingBackup"}]})
    reworded = [d.message for d in pydantic_diagnostics(_Reworded(info.value), {}, SourceMap(), (), TrainingSpec)]
    assert reworded == ["TrainingBackup needs `backup_dir`: the folder its backup is kept in, e.g. "
                        "{type: TrainingBackup, backup_dir: backup}"]
