"""``--class-weight`` JSON bounds, the backup marker in a shared folder, write errors' advice.

- ``--class-weight`` nested past any class weight (thousands of brackets) is a usage error (exit 2), not a
  ``RecursionError`` (exit 70); two keys naming the same class (``"00"`` and ``"0"``) are refused, naming both.
- A ``TrainingBackup`` folder netform made, which another callback (TensorBoard) also writes to, loses
  netform's marker when training ends, with or without ``-o``; the folder stays with the other files.
- ``export-spec -o`` / ``schema -o`` and the predictions writer give the advice that fits the failure
  (a folder in the way, no permission, a name too long, a full disk), naming the path; "free some space"
  only for a full disk.
"""

from __future__ import annotations

import errno
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

import netform.builder
from netform.cli import main

SPEC = textwrap.dedent("""\
    netform: 1
    name: cls
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 3, activation: softmax}
    training:
      loss: sparse_categorical_crossentropy
      batch_size: 8
      epochs: 2
    """)


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cls.yaml").write_text(SPEC)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(16, 4)).astype("float32"), y=np.arange(16) % 3)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def no_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built although the run is refused")

    monkeypatch.setattr(netform.builder, "build", never)


# ---------------------------------------------------------------- 1. --class-weight


def _class_weight(text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["train", "cls.yaml", "--data", "d.npz", "--verbose", "0", "--class-weight", text])
    return rc, capsys.readouterr().err


@pytest.mark.usefixtures("work", "no_build")
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deeply_nested_class_weights_are_a_usage_error(opening: str, capsys: pytest.CaptureFixture[str]) -> None:
    closing = "]" if opening == "[" else "}"
    rc, err = _class_weight('{"0":' + opening * 50_000 + "1" + closing * 50_000 + "}", capsys)
    assert rc == 2, err
    assert "--class-weight" in err and "nested" in err and "RecursionError" not in err, err


@pytest.mark.usefixtures("work", "no_build")
def test_brackets_inside_a_key_are_no_nesting(capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _class_weight('{"' + "[" * 1000 + '": 1}', capsys)
    assert rc == 2, err
    assert "is not a class index" in err and "nested" not in err, err


@pytest.mark.usefixtures("work", "no_build")
def test_class_weights_past_any_class_count_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _class_weight("{" + " " * (2 << 20) + "}", capsys)
    assert rc == 2, err
    assert "--class-weight" in err and "characters" in err, err


@pytest.mark.usefixtures("work", "no_build")
def test_a_weight_of_thousands_of_digits_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _class_weight('{"0": ' + "1" * 5000 + "}", capsys)
    assert rc == 2, err
    assert "--class-weight" in err and "digits" in err, err


@pytest.mark.usefixtures("work", "no_build")
@pytest.mark.parametrize(
    ("text", "named"),
    [('{"00": 1, "0": 2}', ["'00'", "'0'", "class 0"]), ('{"1": 1, "0": 1, "1": 3}', ["'1'", "twice"])],
)
def test_two_keys_naming_one_class_are_refused(text: str, named: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _class_weight(text, capsys)
    assert rc == 2, err
    assert all(n in err for n in named), err


def test_distinct_classes_still_train(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _class_weight('{"0": 1, "1": 2, "02": 3}', capsys)
    assert rc == 0, err


# ---------------------------------------------------------------- 2. the backup marker


def _fake_state(directory: Path) -> None:
    (directory / "state").mkdir()
    (directory / "state" / "state.json").write_text('{"format": "netform-training-backup", "version": 1}')


def test_the_marker_goes_when_training_ends_beside_another_callbacks_files(tmp_path: Path) -> None:
    from netform.engine import TrainingBackup
    from netform.engine._backup_lock import CREATED_NAME

    folder = tmp_path / "tb" / "train"
    backup = TrainingBackup(folder)
    backup.acquire()
    assert (folder / CREATED_NAME).is_file()
    (folder / "events.out.tfevents").write_text("TensorBoard")
    backup.on_train_end()
    assert sorted(os.listdir(folder)) == ["events.out.tfevents"]


def test_a_kept_backup_keeps_its_marker_until_it_is_discarded(tmp_path: Path) -> None:
    from netform.engine import TrainingBackup
    from netform.engine._backup_lock import CREATED_NAME

    folder = tmp_path / "tb" / "train"
    backup = TrainingBackup(folder, delete_on_finish=False)
    backup.acquire()
    (folder / "events.out.tfevents").write_text("TensorBoard")
    _fake_state(folder)
    backup.on_train_end()  # `train -o`: the backup outlives fit until the model is saved
    assert (folder / CREATED_NAME).is_file() and (folder / "state" / "state.json").is_file()
    backup.discard()
    assert sorted(os.listdir(folder)) == ["events.out.tfevents"]
    os.remove(folder / "events.out.tfevents")
    backup = TrainingBackup(folder)  # the folder is the user's now: netform leaves it, empty or not
    backup.acquire()
    backup.on_train_end()
    assert folder.is_dir() and os.listdir(folder) == []


def test_the_marker_of_an_emptied_folder_goes_with_the_folder(tmp_path: Path) -> None:
    from netform.engine import TrainingBackup

    folder = tmp_path / "bk"
    backup = TrainingBackup(folder, delete_on_finish=False)
    backup.acquire()
    _fake_state(folder)
    backup.release()
    assert folder.is_dir()
    backup.discard()
    assert not folder.exists()


@pytest.mark.parametrize("output", [["-o", "m.keras"], []])
def test_train_leaves_no_marker_in_a_tensorboard_folder(
    work: Path, output: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "cls.yaml").write_text(
        SPEC
        + "  callbacks:\n    - {type: TensorBoard, log_dir: tb}\n    - {type: TrainingBackup, backup_dir: tb/train}\n"
    )
    rc = main(["train", "cls.yaml", "--data", "d.npz", "--verbose", "0", "--out-dir", ".", *output])
    assert rc == 0, capsys.readouterr().err
    left = sorted(os.listdir(work / "tb" / "train"))
    assert left and all(name.startswith("events.out.tfevents") for name in left), left


# ---------------------------------------------------------------- 3. write errors' advice


@pytest.mark.parametrize("command", [["schema"], ["export-spec", "m.keras"]])
def test_o_naming_a_folder_says_so(work: Path, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    if command[0] == "export-spec":
        assert main(["train", "cls.yaml", "--data", "d.npz", "--verbose", "0", "-o", "m.keras"]) == 0
    (work / "out").mkdir()
    capsys.readouterr()
    rc = main([*command, "-o", "out"])
    err = capsys.readouterr().err
    assert rc == 5, err
    assert "free some space" not in err.lower(), err
    assert "out is a folder" in err and "name a file" in err, err
    assert (work / "out").is_dir() and not os.listdir(work / "out")


def _advice(monkeypatch: pytest.MonkeyPatch, err: OSError, path: str = "out/p.npy") -> str:
    from netform import _files
    from netform.cli._npy_stream import write_npy_stream
    from netform.errors import SaveError

    def fail(target: object) -> None:
        raise err

    monkeypatch.setattr(_files, "atomic_file", fail)
    with pytest.raises(SaveError) as info:
        write_npy_stream(path, [np.zeros((2, 3))], 2)
    return str(info.value)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.ENOSPC, "free some space on the disk holding"),
        (errno.EDQUOT, "free some space on the disk holding"),
        (errno.EACCES, "make the folder"),
        (errno.EROFS, "read-only"),
        (errno.ENAMETOOLONG, "shorter name"),
        (errno.EISDIR, "is a folder"),
        (errno.ENOTDIR, "is not a folder"),
    ],
)
def test_the_predictions_writer_gives_the_advice_of_the_cause(
    monkeypatch: pytest.MonkeyPatch, code: int, expected: str
) -> None:
    message = _advice(monkeypatch, OSError(code, os.strerror(code)))
    assert expected in message.lower() and "out/p.npy" in message, message
    if code not in (errno.ENOSPC, errno.EDQUOT):
        assert "free some space" not in message.lower(), message


def test_an_error_without_errno_is_read_by_its_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _advice(monkeypatch, IsADirectoryError("out/p.npy is a directory; it was left in place"))
    assert "out/p.npy is a folder" in message and "free some space" not in message.lower(), message
    message = _advice(monkeypatch, PermissionError("denied"))
    assert "writable" in message and "free some space" not in message.lower(), message
