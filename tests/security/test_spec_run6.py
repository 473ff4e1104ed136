"""Specs that ``validate`` passed and that then ate memory, failed as a bug, or hung, found by a blind attack.

``training.steps_per_execution: 2147483647`` trained until the memory ran out (Keras's progress bar is drawn
from the reported batch number); ``full_like`` with a text ``fill_value`` failed only at predict; and
``netform summary`` on a FIFO waited for a writer forever. Each is now refused where it is written, or runs.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from netform.errors import SpecError
from netform.spec import load_spec
from netform.spec._training import MAX_STEPS_PER_EXECUTION

SEQ = textwrap.dedent("""\
    netform: 1
    name: t
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 2, activation: softmax}
    training: {loss: sparse_categorical_crossentropy, batch_size: 4, epochs: 1, steps_per_execution: %s}
    """)

OPS = textwrap.dedent("""\
    netform: 1
    name: f
    kind: functional
    inputs: {x: {shape: [4]}}
    nodes:
      o: %s
    outputs: [o]
    """)


def _diag(text: str) -> Any:
    with pytest.raises(SpecError) as info:
        load_spec(text)
    return info.value.diagnostics[0]


# --- steps_per_execution ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2147483647, MAX_STEPS_PER_EXECUTION + 1])
def test_a_huge_steps_per_execution_is_refused_where_it_is_written(value: int) -> None:
    diag = _diag(SEQ % value)
    assert diag.path == ("training", "steps_per_execution")
    assert diag.line == 8
    assert "65536" in diag.message


def test_the_largest_steps_per_execution_is_accepted() -> None:
    assert load_spec(SEQ % MAX_STEPS_PER_EXECUTION).training.steps_per_execution == MAX_STEPS_PER_EXECUTION


class _Ends(keras.callbacks.Callback):
    """The batch number of every ``on_train_batch_end`` (grouped calls report their last batch)."""

    sparse_batch_hooks = True

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[int] = []

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.ends.append(batch)


def _mlp(cls: type) -> Any:
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Dense(3, activation="relu")(inputs))
    return cls(inputs, outputs)


def test_a_steps_per_execution_beyond_the_epoch_trains_as_keras_and_reports_keras_batches(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """2**31 - 1 steps per call on a 4-batch epoch: the same training and callback batches as Keras.

    Keras's schedule reports batch 2**31 - 2 to callbacks (its own tests count on ``begin + spe - 1``),
    and netform's does too; a call runs only the epoch's 4 steps. Keras's progress bar then draws a
    line of billions of characters (a MemoryError or the OOM killer); netform's bar stops at the
    epoch's last batch.
    """
    import netform.engine as nfe

    spe = 2147483647
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = rng.integers(0, 2, 16)
    results = []
    for cls in (nfe.Model, keras.Model):
        model = _mlp(cls)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", steps_per_execution=spe)
        ends = _Ends()
        hist = model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[ends])
        results.append((ends.ends, hist.history["loss"], model.get_weights()))
    (ends, loss, weights), (k_ends, k_loss, k_weights) = results
    assert ends == k_ends == [spe - 1, spe - 1]
    np.testing.assert_allclose(loss, k_loss, rtol=1e-6)
    for a, b in zip(weights, k_weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

    model = _mlp(nfe.Model)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", steps_per_execution=spe)
    capsys.readouterr()
    model.fit(x, y, batch_size=4, epochs=2, verbose=1)
    shown = capsys.readouterr().out
    assert len(shown) < 5_000 and "4/4" in shown


# --- op value arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "node, key",
    [
        ("{op: full_like, in: x, fill_value: abc}", "fill_value"),
        ("{op: full_like, in: x, fill_value: null}", "fill_value"),
        ("{op: full_like, in: x, fill_value: [1, b]}", "fill_value"),
        ("{op: pad, in: x, pad_width: [[0, 0], [1, 1]], constant_values: abc}", "constant_values"),
        ("{op: clip, in: x, x_min: low, x_max: 1}", "x_min"),
        ("{op: nan_to_num, in: x, nan: zero}", "nan"),
        ("{op: where, in: x, x1: a, x2: 0}", "x1"),
        ("{op: add, in: x, x2: {a: 1}}", "x2"),
    ],
)
def test_a_text_value_argument_of_an_op_is_refused_where_it_is_written(node: str, key: str) -> None:
    diag = _diag(OPS % node)
    assert diag.path == ("nodes", "o", key)
    assert diag.line == 6
    assert f"{key} must be a number, a bool or a list of numbers" in diag.message


@pytest.mark.parametrize("fill", [2.5, 7, True])
def test_a_number_fill_value_builds_and_predicts_as_keras_ops_full_like(fill: Any) -> None:
    from netform.builder import build

    model = build(load_spec(OPS % f"{{op: full_like, in: x, fill_value: {str(fill).lower()}}}"))
    x = np.arange(8, dtype="float32").reshape(2, 4)
    np.testing.assert_array_equal(model.predict(x, verbose=0), keras.ops.convert_to_numpy(keras.ops.full_like(x, fill)))


# --- summary of a FIFO -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_summary_of_a_fifo_is_refused_at_once(tmp_path: Path, fmt: str) -> None:
    """`mkfifo s.yaml; netform summary s.yaml` waited for a writer forever; it is refused as validate refuses it."""
    fifo = tmp_path / "s.yaml"
    os.mkfifo(fifo)
    code = f"import sys; from netform.cli import main; sys.exit(main(['summary', '--format', {fmt!r}, {str(fifo)!r}]))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "this is a FIFO (named pipe), not a spec file" in run.stderr


# --- minors: `netform: true`, a backup's step beyond the epoch -------------------------------------------


@pytest.mark.parametrize("version, valid", [("true", False), ("1.0", True), ("1", True)])
def test_the_format_version_is_read_as_its_json_schema_reads_it(version: str, valid: bool) -> None:
    """`netform: true` was read as 1 (``True == 1`` in Python); JSON Schema's ``const: 1`` refuses it."""
    import jsonschema
    import yaml

    from netform.spec._schema import json_schema

    text = (SEQ % "auto").replace("netform: 1", f"netform: {version}")
    assert jsonschema.Draft202012Validator({"const": 1}).is_valid(yaml.safe_load(text)["netform"]) is valid
    assert json_schema()["properties"]["netform"]["const"] == 1
    if valid:
        assert load_spec(text).netform == 1
    else:
        diag = _diag(text)
        assert diag.path == ("netform",)
        assert "unsupported spec format version True" in diag.message


def test_a_backup_step_beyond_the_epoch_is_a_damaged_backup_naming_the_field(tmp_path: Path) -> None:
    """`step: 1000000` in state.json was read as a resume point past the data: "the data is empty"."""
    import json

    import netform as nf
    from netform.errors import FormatError

    x = np.ones((16, 4), "float32")
    y = np.zeros((16,), "int64")

    def fit() -> None:
        model = _mlp(nf.Model)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", steps_per_execution=1)
        backup = nf.TrainingBackup(tmp_path / "b", save_every_steps=1, save_every_epoch=False, delete_on_finish=False)
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[backup])

    fit()
    (state,) = (tmp_path / "b").rglob("state.json")
    meta = json.loads(state.read_text())
    meta.update(epoch=1, step=1_000_000)
    state.write_text(json.dumps(meta))
    with pytest.raises(FormatError, match=r"state.json: field `step` is 1000000; expected an integer from 0 to 4"):
        fit()
