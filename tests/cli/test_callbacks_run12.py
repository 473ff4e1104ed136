"""A spec's callbacks: what `validate` accepts, `train` does not refuse once TensorFlow has started.

* A ModelCheckpoint name is measured at its longest: each float field up to the largest value Keras can log
  (float32's 3.4e38 writes 39 digits with `.0f`), `{epoch}` up to `training.epochs`; a name that can pass
  255 bytes is refused before training (before: seven `{loss:.0f}` passed, and the first save failed with a
  259-byte name after the epoch was trained, exit 5, nothing saved).
* Two TrainingBackup callbacks, or one beside `--backup-dir`, a TensorBoard `log_dir` that is a file, a
  CSVLogger file under a file, and two CSVLoggers on one file are located SpecErrors of `validate` and of
  `train` before the model is built (before: fit's "backup_dir=", TensorFlow's FailedPrecondition, exit 4).
* `-o` inside a callback's folder says which lies in which, and the fix.
"""

from __future__ import annotations

import math
import re
import string
import textwrap
from pathlib import Path

import numpy as np
import pytest

import netform.builder
from netform.cli import main
from netform.errors import SpecError
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


def _spec(callbacks: str) -> str:
    return HEAD + f"  callbacks: {callbacks}\n"


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(16) % 3)
    monkeypatch.chdir(tmp_path)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built although the spec's callbacks are refused")

    monkeypatch.setattr(netform.builder, "build", never)
    return tmp_path


def _validate(path: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["validate", path])
    return rc, capsys.readouterr().err


def _train(path: str, capsys: pytest.CaptureFixture[str], *more: str) -> tuple[int, str]:
    rc = main(["train", path, "--data", "d.npz", "--verbose", "0", *more])
    return rc, capsys.readouterr().err


# -- ModelCheckpoint names at their longest ------------------------------------------------------------


def test_seven_loss_fields_with_0f_are_refused_with_their_true_length(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "m" + "{loss:.0f}" * 7 + ".keras"
    Path("s.yaml").write_text(_spec(f'[{{type: ModelCheckpoint, filepath: "{name}"}}]'))
    for rc, err in (_validate("s.yaml", capsys), _train("s.yaml", capsys)):
        assert rc == 1, err
        # 7 × 40 ('-' and 39 digits: float32's largest value, 3.4e38) + 'm' + '.keras'
        assert "can make a file name of 287 bytes" in err, err
        assert "{loss:.0e}" in err and "training.callbacks[0].filepath" in err, err


@pytest.mark.parametrize(
    "template",
    ["m{epoch:02d}-{val_loss:.2f}.keras", "m{loss:.200f}.keras", "m{loss:.4e}" * 5 + ".keras"],
)
def test_names_that_always_fit_stay_valid(template: str) -> None:
    spec = load_spec(_spec(f'[{{type: ModelCheckpoint, filepath: "{template}"}}]'))
    assert spec.training is not None


@pytest.mark.parametrize(
    "template",
    ["m{loss:.220f}.keras", "m{epoch:0250d}.keras", "m" + "{loss:#.30g}" * 7 + ".keras", "m{loss:_.60f}" * 3],
)
def test_every_name_validate_accepts_is_short_enough(template: str) -> None:
    """A template either is refused, or formats to 255 bytes at most for the longest values Keras logs."""
    text = _spec(f'[{{type: ModelCheckpoint, filepath: "{template}"}}]')
    try:
        load_spec(text)
    except SpecError:
        return
    values = [-3.4028234663852886e38, -1.401298464324817e-45, -1.2345678e-5, -9.999999e15, math.nan, -math.inf]
    longest = 0
    for value in values:
        name = "".join(
            literal + (format(2 if field == "epoch" else value, spec) if field else "")
            for literal, field, spec, _ in string.Formatter().parse(template)
        )
        longest = max(longest, len(name.encode()))
    assert longest <= 255, (template, longest)


def test_a_zero_padded_width_is_reported_as_written() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(_spec('[{type: ModelCheckpoint, filepath: "m{epoch:0250d}.keras"}]'))
    assert "1,000" not in str(info.value) and "257" in str(info.value), str(info.value)


def test_a_float64_metric_is_measured_as_float64() -> None:
    """A metric of dtype float64 logs values up to 1.8e308: `.2f` can write 309 digits before the point."""
    text = HEAD.replace("  epochs: 2\n", "  epochs: 2\n  metrics: [{type: MeanSquaredError, dtype: float64}]\n") + (
        '  callbacks: [{type: ModelCheckpoint, filepath: "m{mean_squared_error:.2f}.keras"}]\n'
    )
    with pytest.raises(SpecError, match=r"309 digits.*\{mean_squared_error:\.2e\}"):
        load_spec(text)


# -- what train refused only after TensorFlow started --------------------------------------------------


def test_two_training_backups_are_refused_by_validate(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("s.yaml").write_text(_spec("[{type: TrainingBackup, backup_dir: bk}, {type: TrainingBackup, backup_dir: bk}]"))
    for rc, err in (_validate("s.yaml", capsys), _train("s.yaml", capsys)):
        assert rc == 1, err
        assert "training.callbacks[1].backup_dir" in err and "second training backup" in err, err
        assert "backup_dir=" not in err and "fit()" not in err, err
    assert not Path("bk").exists()


def test_a_spec_training_backup_and_backup_dir_name_the_option(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("s.yaml").write_text(_spec("[{type: TrainingBackup, backup_dir: bk}]"))
    rc, err = _train("s.yaml", capsys, "--backup-dir", "bk2")
    assert rc == 1, err
    assert "--backup-dir 'bk2'" in err and "leave out --backup-dir" in err, err
    assert "backup_dir=" not in err and "fit()" not in err, err
    assert not Path("bk").exists() and not Path("bk2").exists()


def test_a_tensorboard_log_dir_that_is_a_file_is_refused(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("afile").write_text("mine\n")
    Path("s.yaml").write_text(_spec("[{type: TensorBoard, log_dir: afile}]"))
    for rc, err in (_validate("s.yaml", capsys), _train("s.yaml", capsys)):
        assert rc == 1, err
        assert "TensorBoard.log_dir 'afile' is an existing file" in err and "name a folder" in err, err
    assert Path("afile").read_text() == "mine\n"


@pytest.mark.parametrize("callback", ["CSVLogger, filename: afile/log.csv", "TensorBoard, log_dir: afile/tb"])
def test_a_callback_path_under_a_file_is_refused(callback: str, work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("afile").write_text("mine\n")
    Path("s.yaml").write_text(_spec(f"[{{type: {callback}}}]"))
    for rc, err in (_validate("s.yaml", capsys), _train("s.yaml", capsys)):
        assert rc == 1, err
        assert re.search(r"lies under \S*afile, which is a file, not a folder", err), err


def test_two_csv_loggers_on_one_file_are_refused(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("s.yaml").write_text(_spec("[{type: CSVLogger, filename: log.csv}, {type: CSVLogger, filename: ./log.csv}]"))
    for rc, err in (_validate("s.yaml", capsys), _train("s.yaml", capsys)):
        assert rc == 1, err
        assert "training.callbacks[1].filename" in err and "CSVLogger.filename 'log.csv' (training.callbacks[0])" in err
        assert "give each callback a file of its own" in err, err
    assert not Path("log.csv").exists()


def test_output_inside_a_tensorboard_folder_says_which_lies_in_which(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("s.yaml").write_text(_spec("[{type: TensorBoard, log_dir: .}]"))
    rc, err = _train("s.yaml", capsys, "-o", "final.keras")
    assert rc == 1, err
    assert "-o final.keras" in err and "lies inside the folder of TensorBoard.log_dir '.'" in err, err
    assert "is a folder that holds" not in err and f"give -o a path outside {work}" in err, err


# -- a checkpoint write that still fails ----------------------------------------------------------------


def test_a_failed_checkpoint_write_keeps_the_trained_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A disk that fills up under a ModelCheckpoint stops training (exit 5); the epochs trained so far are saved
    beside -o as a Ctrl-C saves them, not lost with the checkpoint."""
    import keras

    from netform.errors import SaveError

    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(16) % 3)
    monkeypatch.chdir(tmp_path)

    def full_disk(self: object, epoch: int, batch: object, logs: object) -> None:
        raise SaveError("ck/m.keras: cannot write the checkpoint (No space left on device)")

    monkeypatch.setattr(keras.callbacks.ModelCheckpoint, "_save_model", full_disk)
    Path("s.yaml").write_text(_spec("[{type: ModelCheckpoint, filepath: 'ck/m{epoch:02d}.keras'}]"))
    rc = main(["train", "s.yaml", "--data", "d.npz", "--verbose", "0", "-o", "final.keras"])
    out, err = capsys.readouterr()
    assert rc == 5, err
    assert "No space left on device" in err, err
    assert "saved the interrupted model → final.interrupted.keras" in out, (out, err)
    assert not Path("final.keras").exists()
    model = netform.load("final.interrupted.keras")
    assert int(model.optimizer.iterations) == 1  # one epoch of 16 samples in batches of 32


def test_fit_from_training_config_refuses_two_callbacks_on_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From Python, as `train` refuses it: a SpecError at the second callback, before the model is built."""
    from netform.engine import fit_from_training_config

    monkeypatch.chdir(tmp_path)

    def never() -> None:
        raise AssertionError("the model was built although the callbacks are refused")

    training = {
        "loss": "mse",
        "callbacks": [{"type": "CSVLogger", "filename": "log.csv"}, {"type": "CSVLogger", "filename": "log.csv"}],
    }
    x = np.zeros((4, 4), "float32")
    with pytest.raises(SpecError, match=r"training\.callbacks\.1\.filename|give each callback a file of its own"):
        fit_from_training_config(never, training, x, x, verbose=0)  # type: ignore[arg-type]
    assert not Path("log.csv").exists()
