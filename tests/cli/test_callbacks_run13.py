"""Two callbacks that can write one file, read with a ModelCheckpoint template as the names it can produce.

A template (``m{epoch}.keras``) names a set of files; the check compared each path as written, so
``m{epoch}.keras`` beside ``m1.keras`` (both wrote m1.keras), ``m{epoch}.keras`` beside a CSVLogger on
``m1.keras`` (training stopped, exit 5, an empty m1.keras left), ``m{epoch}`` beside ``m{epoch:d}``, a CSVLogger
file inside TensorBoard's ``log_dir`` ("Is a directory" once training started) were valid, and
``{epoch:m>2}.interrupted.keras`` (a fill character) was not seen to write the Ctrl-C save of ``-o m1.keras``.
Now each path is the set of names its fields' formats can write; a name two callbacks share, a file at,
inside or above another callback's folder, and a name of the Ctrl-C save are refused before anything is built.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import netform.builder
from netform.cli import main
from netform.spec._access import SpecAccess
from netform.spec._callback_files import _Names, _field_part, _path_part, _shared_name, shared_files

HEAD = textwrap.dedent("""\
    netform: 1
    name: cbt
    kind: sequential
    inputs:
      x: {shape: [8]}
    layers:
      - {type: Dense, units: 3, activation: softmax}
    training:
      loss: sparse_categorical_crossentropy
      epochs: 2
      callbacks:
    """)


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(16, 8)).astype("float32"), y=np.arange(16) % 3)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def no_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built although the spec's callbacks are refused")

    monkeypatch.setattr(netform.builder, "build", never)


def _spec(*callbacks: str) -> str:
    Path("s.yaml").write_text(HEAD + "".join(f"    - {c}\n" for c in callbacks))
    return "s.yaml"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(list(argv))
    return rc, capsys.readouterr().err


@pytest.mark.usefixtures("work", "no_build")
@pytest.mark.parametrize(
    ("callbacks", "where", "said"),
    [
        (
            ["{type: ModelCheckpoint, filepath: 'm{epoch}.keras'}", "{type: ModelCheckpoint, filepath: m1.keras}"],
            "training.callbacks[1].filepath",
            "m1.keras, a file ModelCheckpoint.filepath 'm{epoch}.keras' (training.callbacks[0]) can write too",
        ),
        (
            [
                "{type: ModelCheckpoint, filepath: 'm{epoch}.keras'}",
                "{type: ModelCheckpoint, filepath: 'M{epoch}.keras'}",
                "{type: CSVLogger, filename: m1.keras}",
            ],
            "training.callbacks[2].filename",
            "CSVLogger.filename 'm1.keras' can write",
        ),
        (
            [
                "{type: ModelCheckpoint, filepath: 'm{epoch}.keras'}",
                "{type: ModelCheckpoint, filepath: 'm{epoch:d}.keras'}",
            ],
            "training.callbacks[1].filepath",
            "can write too",
        ),
        (
            [
                "{type: ModelCheckpoint, filepath: 'ck/e{epoch:03d}.keras'}",
                "{type: CSVLogger, filename: ck/e010.keras}",
            ],
            "training.callbacks[1].filename",
            "e010.keras",
        ),
        (
            ["{type: CSVLogger, filename: tb/train}", "{type: TensorBoard, log_dir: tb}"],
            "training.callbacks[1].log_dir",
            "is a folder TensorBoard makes and writes train, validation and projector_config.pbtxt into during "
            "training, and CSVLogger.filename 'tb/train' (training.callbacks[0]) can write",
        ),
        (
            ["{type: TensorBoard, log_dir: tb}", "{type: CSVLogger, filename: tb/train}"],
            "training.callbacks[1].filename",
            "which lies in what TensorBoard writes into the folder (train, validation and projector_config.pbtxt) "
            "of TensorBoard.log_dir 'tb' (training.callbacks[0])",
        ),
        (
            ["{type: TensorBoard, log_dir: tb/run}", "{type: CSVLogger, filename: tb}"],
            "training.callbacks[1].filename",
            "which is a folder above the folder of TensorBoard.log_dir 'tb/run'",
        ),
        (
            ["{type: TensorBoard, log_dir: tb}", "{type: ModelCheckpoint, filepath: 'tb/validation/m{epoch}.keras'}"],
            "training.callbacks[1].filepath",
            "tb/validation/m1.keras, which lies in what TensorBoard writes",
        ),
        (
            ["{type: ModelCheckpoint, filepath: 'tb/validation/m{epoch}.keras'}", "{type: TensorBoard, log_dir: tb}"],
            "training.callbacks[1].log_dir",
            "tb/validation/m1.keras, which lies in what it writes there",
        ),
        (
            ["{type: TensorBoard, log_dir: ck.keras}", "{type: ModelCheckpoint, filepath: ck.keras}"],
            "training.callbacks[1].filepath",
            "which is the folder TensorBoard.log_dir 'ck.keras'",
        ),
    ],
)
def test_callbacks_that_can_meet_are_refused_by_validate_and_train(
    capsys: pytest.CaptureFixture[str], callbacks: list[str], where: str, said: str
) -> None:
    path = _spec(*callbacks)
    for rc, err in (_run(capsys, "validate", path), _run(capsys, "train", path, "--data", "d.npz", "--verbose", "0")):
        assert rc == 1, err
        assert where in err and said in err, err
    assert sorted(p.name for p in Path(".").iterdir()) == ["d.npz", "s.yaml"]


@pytest.mark.usefixtures("work", "no_build")
def test_a_template_with_a_fill_character_naming_the_interrupted_save_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Path("of").mkdir()
    path = _spec("{type: ModelCheckpoint, filepath: '{epoch:m>2}.interrupted.keras'}")
    rc, err = _run(capsys, "train", path, "--data", "d.npz", "--verbose", "0", "--out-dir", "of", "-o", "of/m1.keras")
    assert rc == 1, err
    assert "m1.interrupted.keras" in err and "Ctrl-C" in err and "training.callbacks[0].filepath" in err, err
    assert list(Path("of").iterdir()) == []


@pytest.mark.parametrize(
    "callbacks",
    [
        ["{type: ModelCheckpoint, filepath: 'm{epoch}.keras'}", "{type: ModelCheckpoint, filepath: 'M{epoch}.keras'}"],
        ["{type: ModelCheckpoint, filepath: 'm{epoch:02d}.keras'}", "{type: ModelCheckpoint, filepath: m.keras}"],
        [
            "{type: ModelCheckpoint, filepath: 'm{epoch:02d}-{loss:.2f}.keras'}",
            "{type: ModelCheckpoint, filepath: 'm{epoch:02d}.keras'}",
        ],
        ["{type: ModelCheckpoint, filepath: 'm{epoch}.keras'}", "{type: CSVLogger, filename: mx.keras}"],
        ["{type: TensorBoard, log_dir: tb}", "{type: CSVLogger, filename: tbx.csv}"],
        # TensorBoard writes train/, validation/ and projector_config.pbtxt in its folder: a log beside them is fine
        ["{type: TensorBoard}", "{type: CSVLogger, filename: logs/train.csv}"],
        ["{type: TensorBoard, log_dir: tb}", "{type: ModelCheckpoint, filepath: 'tb/m{epoch}.keras'}"],
        ["{type: TensorBoard, log_dir: tb}", "{type: TensorBoard, log_dir: tb2}"],
    ],
)
def test_callbacks_that_never_meet_stay_valid(
    work: Path, capsys: pytest.CaptureFixture[str], callbacks: list[str]
) -> None:
    rc, err = _run(capsys, "validate", _spec(*callbacks))
    assert rc == 0, err


def test_training_with_a_template_and_a_file_it_cannot_name_writes_both(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _spec("{type: ModelCheckpoint, filepath: 'm{epoch}.keras'}", "{type: CSVLogger, filename: m.csv}")
    rc, err = _run(capsys, "train", path, "--data", "d.npz", "--verbose", "0", "-o", "final.keras")
    assert rc == 0, err
    assert all((work / n).is_file() for n in ("m1.keras", "m2.keras", "m.csv", "final.keras"))


@pytest.mark.parametrize(
    ("field", "spec", "value"),
    [
        ("epoch", "", 1),
        ("epoch", "d", 12),
        ("epoch", "03d", 7),
        ("epoch", "m>2", 1),
        ("epoch", "*^7,", 12345),
        ("epoch", "+", 3),
        ("epoch", "#x", 255),
        ("epoch", "#b", 5),
        ("epoch", ".2f", 4),
        ("epoch", "e", 4),
        ("epoch", "%", 2),
        ("batch", "_", 1234567),
        ("loss", "", 0.25),
        ("loss", "", 1e20),
        ("loss", "", -3.5e-7),
        ("loss", ".2f", -12.345),
        ("loss", ".0f", 3.0),
        ("loss", "#.0f", 3.0),
        ("loss", ".3e", 123456.0),
        ("loss", "E", float("inf")),
        ("loss", "g", 1234567.0),
        ("loss", ".4", 0.0001234),
        ("loss", "+.1f", 2.5),
        ("loss", " .1f", float("nan")),
        ("loss", "010.3f", -1.5),
        ("loss", "x<12,.2f", 123456.789),
        ("loss", ".1%", 0.5),
    ],
)
def test_each_field_names_what_its_format_writes(field: str, spec: str, value: float) -> None:
    text = format(value, spec)
    assert _shared_name(_Names(_field_part(field, spec)), _Names(_path_part(text))) == text


@pytest.mark.parametrize(
    ("field", "spec", "text"),
    [("epoch", "", "x"), ("epoch", "", "-1"), ("epoch", "03d", "1.0"), ("loss", "", "3"), ("loss", ".2f", "1.5")],
)
def test_a_field_names_nothing_its_format_cannot_write(field: str, spec: str, text: str) -> None:
    assert _shared_name(_Names(_field_part(field, spec)), _Names(_path_part(text))) is None


def test_fit_from_python_refuses_a_template_and_a_file_it_names(tmp_path: Path) -> None:
    listed = [
        (0, "ModelCheckpoint", {"filepath": "ck/m{epoch:02d}.keras"}),
        (1, "CSVLogger", {"filename": "ck/m07.keras"}),
    ]
    found = shared_files(listed, tmp_path, SpecAccess())
    assert [i for i, _ in found] == [1] and "m07.keras" in str(found[0][1])


def test_an_existing_file_the_template_cannot_name_is_not_its_concern(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # m{epoch}.keras writes m1.keras, m2.keras, ...: a user's mnotes.keras is never replaced, m3.keras would be.
    (work / "mnotes.keras").write_text("notes")
    path = _spec("{type: ModelCheckpoint, filepath: 'm{epoch}.keras'}")
    rc, err = _run(capsys, "validate", path)
    assert rc == 0, err
    (work / "m3.keras").write_text("notes")
    rc, err = _run(capsys, "validate", path)
    assert rc == 1 and "which can name" in err and "m3.keras" in err and "mnotes" not in err, err
