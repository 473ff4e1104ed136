"""The output files of `netform predict` and `netform train`, refused before any time is spent.

`predict -o` names an `.npy` or an `.npz` (anything else was written as `.npy` content under that name);
`train -o` is checked against the save's own rules (format, what a save may replace, a writable folder) before
the model is built, with the error the save gives, and the save at the end checks again.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import netform.builder
from netform.cli import main

SPEC = textwrap.dedent("""\
    netform: 1
    name: reg
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 1}
    training:
      loss: mse
      batch_size: 8
      epochs: 1
    """)


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "reg.yaml").write_text(SPEC)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    np.savez(tmp_path / "d.npz", x=x, y=x.sum(axis=1, keepdims=True))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _never_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built although -o is refused")

    monkeypatch.setattr(netform.builder, "build", never)


# --- predict -o: .npy or .npz, nothing else ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["p.txt", "p", "p.csv", "p.npy.txt", "p.npz.bak"])
def test_predict_refuses_an_output_that_is_neither_npy_nor_npz_before_loading(
    work: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # missing.keras: a load would fail (exit 5), so exit 2 shows the name was refused before any load
    assert main(["predict", "missing.keras", "--data", "d.npz", "-o", name]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: -o {name}: predictions are written as .npy (one output) or .npz "), err
    assert not os.path.lexists(work / name)


def test_predict_takes_npy_and_npz_in_any_case(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from netform.builder import build
    from netform.saving import save

    save(build(str(work / "reg.yaml")), str(work / "m.keras"))
    for name in ("P.NPY", "p.Npz"):
        assert main(["predict", "m.keras", "--data", "d.npz", "-o", name]) == 0, capsys.readouterr().err
        assert "wrote 16 prediction(s)" in capsys.readouterr().out
    assert np.load(work / "P.NPY").shape == (16, 1)
    assert len(np.load(work / "p.Npz").files) == 1


# --- train -o: the save's refusals before training -----------------------------------------------------------


def _keras_text(work: Path) -> str:
    (work / "notes.keras").write_text("my notes")
    return "notes.keras"


def _folder_of_files(work: Path) -> str:
    (work / "results").mkdir()
    (work / "results" / "table.csv").write_text("a,b\n")
    return "results"


def _weights_text(work: Path) -> str:
    (work / "w.weights.h5").write_text("my weights? no")
    return "w.weights.h5"


def _no_format(work: Path) -> str:
    return "model.txt"


@pytest.mark.parametrize("make", [_keras_text, _folder_of_files, _weights_text, _no_format])
def test_train_refuses_before_training_what_the_save_would_refuse_after_it(
    work: Path, make: Callable[[Path], str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = make(work)
    before = sorted(os.listdir(work))
    code = main(["build", "reg.yaml", "-o", target])  # the save's own refusal, after the model is built
    saved = capsys.readouterr().err
    assert code == 5, saved
    _never_build(monkeypatch)
    assert main(["train", "reg.yaml", "--data", "d.npz", "--verbose", "0", "-o", target]) == 5
    assert capsys.readouterr().err == saved
    assert sorted(os.listdir(work)) == before


def test_train_refuses_an_output_folder_it_cannot_write(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (work / "ro").mkdir()
    access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: os.path.basename(p) != "ro" and access(p, mode, **kw))
    _never_build(monkeypatch)
    assert main(["train", "reg.yaml", "--data", "d.npz", "--verbose", "0", "-o", "ro/m.keras"]) == 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "ro/m.keras: the folder" in err and "is not writable (permission denied)" in err and "-o" in err


def test_the_save_after_training_still_checks_the_output(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that appears at -o during training is refused by the save at the end, and kept."""
    real: Any = netform.builder.build

    def build_then_a_file_appears(*args: object, **kwargs: object) -> Any:
        model = real(*args, **kwargs)
        (work / "m.keras").write_text("written while training")
        return model

    monkeypatch.setattr(netform.builder, "build", build_then_a_file_appears)
    assert main(["train", "reg.yaml", "--data", "d.npz", "--verbose", "0", "-o", "m.keras"]) == 5
    assert "m.keras: " in capsys.readouterr().err
    assert (work / "m.keras").read_text() == "written while training"
