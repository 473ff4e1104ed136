"""A ModelCheckpoint name is measured once, exactly, by the spec's checks and by the engine.

* The spec's form check estimated 24 + precision characters per field, so ten `{loss:.4e}` fields
  ("-3.4028e+38": 11 characters each, 117 bytes in all) were refused as "287 characters"; they are valid now,
  and a name is refused exactly when its longest formatting passes 255 bytes (both sides of the limit).
* The engine (``resolve_callbacks``, a training config from Python) measured with that estimate too, and took
  seven `{loss:.0f}` (287 bytes: the first save failed after the epoch); it now refuses them before training.
* A CSVLogger file or a BackupAndRestore folder is named as written, braces and all: a name over 255 bytes
  with a `{` in it is refused like any other (before: it was taken for a template and not measured).
"""

from __future__ import annotations

import math
import string
import textwrap
from pathlib import Path

import pytest

from netform.errors import EngineError, SpecError
from netform.spec import load_spec

HEAD = textwrap.dedent("""\
    netform: 1
    name: base
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 3, activation: softmax}
    training:
      loss: sparse_categorical_crossentropy
      epochs: 2
    """)

#: The longest "{loss:.4e}" writes for a float32 value: -3.4028e+38.
FIELD = "{loss:.4e}"


def _spec(callback: str, arg: str, value: str, head: str = HEAD) -> str:
    return head + f'  callbacks: [{{type: {callback}, {arg}: "{value}"}}]\n'


def _longest(template: str, values: list[float]) -> int:
    """The most bytes the template's file name formats to, over ``values`` (epoch 2)."""
    longest = 0
    for value in values:
        name = "".join(
            literal + (format(2 if field == "epoch" else value, spec) if field else "")
            for literal, field, spec, _ in string.Formatter().parse(template)
        )
        longest = max(longest, len(name.encode()))
    return longest


FLOAT32 = [-3.4028234663852886e38, -1.401298464324817e-45, -9.999999e-5, -1.2345678e-5, math.nan, -math.inf]


def test_ten_exponent_fields_are_valid() -> None:
    template = "m" + FIELD * 10 + ".keras"
    assert _longest(template, FLOAT32) == 117
    spec = load_spec(_spec("ModelCheckpoint", "filepath", template))
    assert spec.training is not None


@pytest.mark.parametrize("pad", [138, 139])
def test_a_name_of_255_bytes_at_its_longest_is_valid(pad: int) -> None:
    template = "p" * pad + FIELD * 10 + ".keras"
    assert _longest(template, FLOAT32) == pad + 116 <= 255
    load_spec(_spec("ModelCheckpoint", "filepath", template))


@pytest.mark.parametrize("pad", [140, 141])
def test_a_name_of_256_bytes_at_its_longest_is_refused(pad: int) -> None:
    template = "p" * pad + FIELD * 10 + ".keras"
    with pytest.raises(SpecError) as info:
        load_spec(_spec("ModelCheckpoint", "filepath", template))
    message = str(info.value)
    assert f"can make a file name of {pad + 116} bytes" in message, message
    assert "training.callbacks[0].filepath" in message, message


def test_float64_values_are_measured_at_their_longest() -> None:
    """A float64 metric logs up to 1.8e308: ".4e" writes -1.7977e+308, 12 characters."""
    head = HEAD.replace("  epochs: 2\n", "  epochs: 2\n  metrics: [{type: MeanSquaredError, dtype: float64}]\n")
    field = "{mean_squared_error:.4e}"
    load_spec(_spec("ModelCheckpoint", "filepath", "p" * 129 + field * 10 + ".keras", head))  # 255
    with pytest.raises(SpecError, match="can make a file name of 256 bytes"):
        load_spec(_spec("ModelCheckpoint", "filepath", "p" * 130 + field * 10 + ".keras", head))


@pytest.mark.parametrize("pad", range(0, 256, 17))
@pytest.mark.parametrize("field", ["{loss:.4e}", "{loss:.2f}", "{val_loss:+012.3g}", "{epoch:03d}", "{loss}"])
def test_validate_accepts_exactly_the_names_that_always_fit(pad: int, field: str) -> None:
    template = "p" * pad + field * 3 + ".keras"
    fits = _longest(template, FLOAT32) <= 255
    try:
        load_spec(_spec("ModelCheckpoint", "filepath", template))
    except SpecError as err:
        assert not fits, (template, str(err))
        assert "file name of" in str(err), str(err)
    else:
        assert fits, template


# -- the engine: a training config's callbacks, from Python ------------------------------------------


def _resolve(tmp_path: Path, callback: dict[str, object]) -> list[object]:
    from netform.engine._config import resolve_callbacks

    return resolve_callbacks([callback], out_dir=tmp_path)


def test_the_engine_takes_the_ten_exponent_fields(tmp_path: Path) -> None:
    (cb,) = _resolve(tmp_path, {"type": "ModelCheckpoint", "filepath": "p" * 139 + FIELD * 10 + ".keras"})
    assert type(cb).__name__ == "ModelCheckpoint"


def test_the_engine_refuses_a_name_longer_than_255_bytes_before_training(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="can make a file name of 256 bytes"):
        _resolve(tmp_path, {"type": "ModelCheckpoint", "filepath": "p" * 140 + FIELD * 10 + ".keras"})
    with pytest.raises(EngineError, match=r"can make a file name of 287 bytes.*\{loss:\.0e\}"):
        _resolve(tmp_path, {"type": "ModelCheckpoint", "filepath": "m" + "{loss:.0f}" * 7 + ".keras"})


# -- names that are not templates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("callback", "arg", "value"),
    [("CSVLogger", "filename", "log{x}" + "a" * 250 + ".csv"), ("BackupAndRestore", "backup_dir", "b{" + "a" * 254)],
)
def test_a_long_name_with_braces_is_measured_as_written(callback: str, arg: str, value: str) -> None:
    with pytest.raises(SpecError, match="file systems take names of at most 255 bytes"):
        load_spec(_spec(callback, arg, value))
    load_spec(_spec(callback, arg, value[:255]))
