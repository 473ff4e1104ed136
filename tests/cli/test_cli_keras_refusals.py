"""What Keras itself refuses on the command line is the spec's or the data's fault, never exit 70.

``validate`` checks what netform knows of Keras's rules. An argument combination it does not know is refused
by Keras's own code when the model is built or first traced; the command then exits with its own code (build 3,
train/evaluate/predict 4) and a one-line reason. An error raised in netform's own code stays exit 70 (a bug).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from netform.cli._main import INTERNAL_ERROR, main

SPEC = textwrap.dedent("""\
    netform: 1
    name: t
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 3, activation: softmax}
    training:
      batch_size: 4
      epochs: 1
    """)


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.normal(size=(16, 4)).astype("float32"), y=rng.integers(0, 3, 16))
    return path


@pytest.mark.parametrize(
    "training",
    [
        "loss: categorical_crossentropy",  # integer labels: Keras's "must have the same rank"
        # R2Score takes 2-D labels, and the data's are class ids (a Mean metric, once here, is refused by validate)
        "loss: sparse_categorical_crossentropy\n  metrics: [{type: R2Score}]",
    ],
)
def test_keras_refusing_the_training_section_is_exit_4(
    tmp_path: Path, data: Path, training: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC + "  " + training + "\n")
    assert main(["validate", str(spec)]) == 0
    capsys.readouterr()
    code = main(["train", str(spec), "--data", str(data), "--y", "y", "--out-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "Keras refused to run the model" in err and "unexpected" not in err
    assert len(err.strip().splitlines()) == 1


def test_an_op_keras_cannot_build_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "netform: 1\nname: t\nkind: functional\ninputs:\n  x: {shape: [8, 3]}\nnodes:\n"
        "  p: {op: max_pool, in: x, pool_size: 2, strides: 0}\noutputs: [p]\n"
    )
    code = main(["build", str(spec), "-o", str(tmp_path / "m.keras")])
    err = capsys.readouterr().err
    assert code in (1, 3), err  # refused at validate (1) or when Keras builds it (3), never 70
    assert "unexpected" not in err


def test_an_error_in_netform_itself_stays_exit_70(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from netform.cli import _train_cmds

    def broken(args: object) -> int:
        raise ValueError("a bug")

    monkeypatch.setattr(_train_cmds, "cmd_train", broken)
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC + "  loss: sparse_categorical_crossentropy\n")
    code = main(["train", str(spec), "--data", str(data), "--y", "y", "--out-dir", str(tmp_path / "out")])
    assert code == INTERNAL_ERROR
    assert "unexpected ValueError" in capsys.readouterr().err


def test_the_library_build_raises_build_error_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    import netform as nf

    # validate refuses every max_pool argument Keras is known to refuse; a refusal from Keras itself is stood in
    spec = nf.load_spec(
        "netform: 1\nname: t\nkind: functional\ninputs:\n  x: {shape: [8, 3]}\nnodes:\n"
        "  p: {op: max_pool, in: x, pool_size: 2}\noutputs: [p]\n"
    )

    def refuse(*args: object, **kwargs: object) -> None:
        raise ValueError("Keras refuses these pooling arguments")

    monkeypatch.setattr(keras.ops, "max_pool", refuse)
    with pytest.raises(nf.BuildError, match="max_pool"):
        nf.build(spec)
