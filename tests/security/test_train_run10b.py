"""``train``'s ``-o`` against the spec's callback files, and optimizer settings that silently ruin training.

A callback writing the file ``-o`` names (``CSVLogger filename: m.keras`` with ``-o m.keras``), or a folder
``-o`` lies in (a TensorBoard log_dir, a backup folder Keras deletes), made the save after a full training
refuse the target: the trained model was lost. ``train`` refuses such an ``-o`` before the model is built.

Keras takes ``clipnorm``/``clipvalue``/``global_clipnorm`` of 0 or less and then does not clip at all, a
``loss_scale_factor`` of 0 divides the gradients by zero (NaN), and ``gradient_accumulation_steps`` larger
than the steps a training runs never applies an update: ``validate`` and ``train`` refuse them.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

import netform.builder
from netform.cli import main


def _spec(tmp_path: Path, training: str) -> Path:
    text = textwrap.dedent("""\
        netform: 1
        name: tiny
        kind: functional
        inputs: {x: {shape: [4]}}
        nodes:
          d: {type: Dense, units: 2, activation: softmax, in: x}
        outputs: [d]
        training:
          loss: sparse_categorical_crossentropy
          epochs: 2
          batch_size: 8
        """) + textwrap.indent(textwrap.dedent(training), "  ")
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return path


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(16, 4)).astype("float32"), y=rng.integers(0, 2, size=16))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def no_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built although the run is refused")

    monkeypatch.setattr(netform.builder, "build", never)


# --- -o against the callbacks' files -------------------------------------------------------------------------


@pytest.mark.usefixtures("no_build")
def test_train_refuses_an_output_a_csv_logger_writes(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(work, "callbacks:\n  - {type: CSVLogger, filename: m.keras}\n")
    rc = main(["train", str(spec), "--data", "d.npz", "-o", "m.keras", "--verbose", "0"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "training.callbacks[0].filename" in err and "t.yaml:" in err, err
    assert "CSVLogger.filename 'm.keras'" in err and "-o m.keras" in err, err
    assert not (work / "m.keras").exists()


@pytest.mark.usefixtures("no_build")
@pytest.mark.parametrize(
    ("callbacks", "output", "where"),
    [
        # resolved under --out-dir, as the callbacks' paths are
        ("- {type: CSVLogger, filename: log.keras}\n", "od/log.keras", "CSVLogger.filename"),
        # a name ModelCheckpoint's template can produce, in its folder
        ("- {type: ModelCheckpoint, filepath: 'ck/m{epoch:02d}.keras'}\n", "od/ck/m01.keras", "ModelCheckpoint"),
        # inside a folder Keras writes into (TensorBoard's default log_dir) or deletes (BackupAndRestore)
        ("- {type: TensorBoard}\n", "od/logs/m.keras", "TensorBoard.log_dir"),
        ("- {type: BackupAndRestore, backup_dir: bk}\n", "od/bk/m.keras", "BackupAndRestore.backup_dir"),
        ("- {type: TrainingBackup, backup_dir: tb}\n", "od/tb/state/m.keras", "TrainingBackup.backup_dir"),
        # the same file through a link to the output folder
        ("- {type: CSVLogger, filename: m.keras}\n", "alias/m.keras", "CSVLogger.filename"),
    ],
)
def test_every_form_of_the_same_file_or_inside_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str], callbacks: str, output: str, where: str
) -> None:
    (work / "od").mkdir()
    os.symlink("od", work / "alias")
    (work / output).parent.mkdir(parents=True, exist_ok=True)  # -o's folder must exist
    spec = _spec(work, "callbacks:\n" + textwrap.indent(callbacks, "  "))
    rc = main(["train", str(spec), "--data", "d.npz", "--out-dir", "od", "-o", output, "--verbose", "0"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert where in err and f"-o {output}" in err, err


@pytest.mark.usefixtures("no_build")
def test_train_refuses_an_output_inside_backup_dir(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(work, "")
    (work / "bk" / "state").mkdir(parents=True)
    rc = main(["train", str(spec), "--data", "d.npz", "--backup-dir", "bk", "-o", "bk/state/m.keras", "--verbose", "0"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "-o bk/state/m.keras" in err and "--backup-dir bk" in err, err


def test_a_template_that_cannot_name_the_output_trains_and_saves(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(
        work,
        "callbacks:\n  - {type: ModelCheckpoint, filepath: 'm{epoch:02d}.keras'}\n  - {type: CSVLogger, filename: log.csv}\n",
    )
    rc = main(["train", str(spec), "--data", "d.npz", "-o", "m.keras", "--verbose", "0"])
    assert rc == 0, "".join(capsys.readouterr())
    assert (work / "m.keras").is_file() and (work / "m01.keras").is_file() and (work / "log.csv").is_file()


# --- optimizer settings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("optimizer", "arg", "words"),
    [
        ("{type: Adam, clipnorm: -1.0}", "clipnorm", "does not clip"),
        ("{type: Adam, clipnorm: 0.0}", "clipnorm", "does not clip"),
        ("{type: SGD, clipvalue: 0}", "clipvalue", "does not clip"),
        ("{type: Adam, global_clipnorm: -0.5}", "global_clipnorm", "does not clip"),
        ("{type: Adam, loss_scale_factor: 0}", "loss_scale_factor", "positive"),
        ("{type: Adam, loss_scale_factor: -2.0}", "loss_scale_factor", "positive"),
        ("{type: Adam, gradient_accumulation_steps: 4294967296}", "gradient_accumulation_steps", "at most"),
        (
            "{type: LossScaleOptimizer, inner_optimizer: {type: Adam, clipnorm: -1.0}}",
            "inner_optimizer",
            "does not clip",
        ),
    ],
)
def test_validate_refuses_optimizer_settings_that_ruin_training(
    work: Path, capsys: pytest.CaptureFixture[str], optimizer: str, arg: str, words: str
) -> None:
    spec = _spec(work, f"optimizer: {optimizer}\n")
    rc = main(["validate", str(spec)])
    text = "".join(capsys.readouterr())
    assert rc == 1, text
    assert f"training.optimizer.{arg}" in text and words in text, text


@pytest.mark.parametrize(
    "optimizer",
    [
        "{type: Adam, clipnorm: 1.0}",
        "{type: Adam, loss_scale_factor: 128.0}",
        "{type: Adam, gradient_accumulation_steps: 4}",
    ],
)
def test_validate_keeps_working_settings(work: Path, capsys: pytest.CaptureFixture[str], optimizer: str) -> None:
    spec = _spec(work, f"optimizer: {optimizer}\n")
    assert main(["validate", str(spec)]) == 0, "".join(capsys.readouterr())


@pytest.mark.usefixtures("no_build")
def test_train_refuses_accumulation_past_the_steps_it_runs(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 16 samples in batches of 8 for 2 epochs: 4 steps, so 5 accumulated steps never apply an update.
    spec = _spec(work, "optimizer: {type: Adam, gradient_accumulation_steps: 5}\n")
    rc = main(["train", str(spec), "--data", "d.npz", "--verbose", "0"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "training.optimizer.gradient_accumulation_steps" in err and "4 steps" in err, err


def test_accumulation_within_the_steps_trains(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(work, "optimizer: {type: Adam, gradient_accumulation_steps: 4}\n")
    assert main(["train", str(spec), "--data", "d.npz", "--verbose", "0"]) == 0, "".join(capsys.readouterr())
