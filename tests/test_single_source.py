"""Each closed list and each formatter is written once: the spec's schema and the engine read the same one."""

from __future__ import annotations

import typing

import pytest

from netform.spec import _shapes, _training
from netform.spec.layers import _util


def test_strategy_names_are_the_schemas() -> None:
    pytest.importorskip("tensorflow")
    from netform.engine import _distribute

    schema = typing.get_args(_training.DistributionSpec.model_fields["strategy"].annotation)
    assert schema == _training.STRATEGY_NAMES
    assert _distribute.STRATEGY_NAMES is _training.STRATEGY_NAMES


def test_engine_knows_every_training_key_of_the_spec_and_no_other_list() -> None:
    pytest.importorskip("tensorflow")
    from netform.engine import _config

    assert _training.TRAINING_KEYS == set(_training.TrainingSpec.model_fields)
    assert _config._KNOWN_KEYS == _training.TRAINING_KEYS | _training.CONFIG_ONLY_KEYS
    # a key of the dict form only is not a spec key: the spec refuses it (extra="forbid")
    assert not _training.TRAINING_KEYS & _training.CONFIG_ONLY_KEYS
    policy = typing.get_args(_training.TrainingSpec.model_fields["dtype_policy"].annotation)[0]
    assert typing.get_args(policy) == _training.DTYPE_POLICIES


def test_unknown_training_key_names_the_spec_keys() -> None:
    pytest.importorskip("tensorflow")
    from netform.engine._config import fit_from_training_config
    from netform.errors import EngineError

    with pytest.raises(EngineError, match=r"unknown key 'dtype_polcy'.*Did you mean 'dtype_policy'"):
        fit_from_training_config(None, {"dtype_polcy": "float32"}, None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape, text", [
    ((None, 32), "(None, 32)"),
    ((None,), "(None,)"),
    ((), "()"),
    ([(None, 2), (None, 3, 4)], "[(None, 2), (None, 3, 4)]"),
])
def test_one_shape_formatter(shape: object, text: str) -> None:
    assert _shapes.format_shape(shape) == text
    assert _util.shape_str is _shapes.format_shape


def test_engine_data_errors_write_shapes_with_the_same_formatter() -> None:
    pytest.importorskip("tensorflow")
    import numpy as np

    from netform.engine import _data

    assert _data._fmt((None, np.int64(32))) == _shapes.format_shape((None, 32)) == "(None, 32)"
    assert _data._fmt((5,)) == "(5,)"
