"""`netform build | export-spec | train | evaluate | predict | inspect | convert`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from netform.cli import main

SPEC = textwrap.dedent("""\
    netform: 1
    name: tiny
    kind: sequential
    inputs:
      x: {shape: [6]}
    layers:
      - {type: Dense, units: 8, activation: relu, name: hidden}
      - {type: Dense, units: 3, activation: softmax, name: out}
    training:
      optimizer: {type: Adam, learning_rate: 0.01}
      loss: sparse_categorical_crossentropy
      metrics: [accuracy]
      batch_size: 16
      epochs: 2
    """)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    (d / "tiny.yaml").write_text(SPEC)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1).astype("int64")
    np.savez(d / "data.npz", x=x, y=y)
    header = ",".join([f"f{i}" for i in range(6)] + ["label"])
    rows = "\n".join(",".join(f"{v:.5f}" for v in row) + f",{int(t)}" for row, t in zip(x, y))
    (d / "data.csv").write_text(header + "\n" + rows + "\n")
    return d


def test_train_with_overrides_saves_and_reports(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = workdir / "model.keras"
    code = main(["train", str(workdir / "tiny.yaml"), "--data", str(workdir / "data.npz"), "--verbose", "0",
                 "training.epochs=3", "layers.0.units=5", "-o", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "trained 'tiny' for 3 epoch(s)" in text
    assert "final: " in text and "accuracy=" in text
    assert out.exists()


def test_train_override_is_validated(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", str(workdir / "tiny.yaml"), "--data", str(workdir / "data.npz"), "layers.0.units=-4"])
    assert code == 1
    assert "(with overrides): layers[0].units: input should be greater than 0; received -4" in capsys.readouterr().err


def test_train_unknown_override_path(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", str(workdir / "tiny.yaml"), "--data", str(workdir / "data.npz"), "nodes.a.units=3"])
    assert code == 1
    assert "override 'nodes.a.units=3': 'nodes' is not in the spec" in capsys.readouterr().err


def test_train_missing_column(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", str(workdir / "tiny.yaml"), "--data", str(workdir / "data.npz"), "--y", "label"])
    assert code == 4
    assert "no array or column named 'label' for the y; it has: x, y" in capsys.readouterr().err


def test_evaluate_predict_inspect_convert_export(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = workdir / "trained.keras"
    assert main(["train", str(workdir / "tiny.yaml"), "--data", str(workdir / "data.npz"), "--verbose", "0",
                 "-o", str(model)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model), "--data", str(workdir / "data.npz"), "--format", "json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert "loss" in metrics

    preds = workdir / "preds.npy"
    assert main(["predict", str(model), "--data", str(workdir / "data.npz"), "--x", "x", "-o", str(preds),
                 "--batch-size", "10"]) == 0
    assert "wrote 64 prediction(s)" in capsys.readouterr().out
    arr = np.load(preds)
    assert arr.shape == (64, 3)
    np.testing.assert_allclose(arr.sum(axis=1), 1.0, atol=1e-5)

    assert main(["inspect", str(model), "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "keras"

    converted = workdir / "model_savedmodel"
    assert main(["convert", str(model), str(converted)]) == 0
    capsys.readouterr()
    assert main(["predict", str(converted), "--data", str(workdir / "data.npz"), "--x", "x",
                 "-o", str(workdir / "p2.npy")]) == 0
    np.testing.assert_allclose(np.load(workdir / "p2.npy"), arr, atol=1e-6)

    spec_out = workdir / "exported.yaml"
    capsys.readouterr()
    assert main(["export-spec", str(model), "-o", str(spec_out)]) == 0
    assert main(["validate", str(spec_out)]) == 0


TWO_COLUMNS = textwrap.dedent("""\
    netform: 1
    name: two
    kind: functional
    inputs:
      f0: {shape: [1]}
      f1: {shape: [1]}
    nodes:
      both: {type: Concatenate, in: [f0, f1]}
      out: {type: Dense, units: 3, activation: softmax, in: both}
    outputs: [out]
    training:
      optimizer: {type: Adam, learning_rate: 0.01}
      loss: sparse_categorical_crossentropy
      batch_size: 16
      epochs: 2
    """)


@pytest.mark.slow
def test_build_all_apis_and_csv_training(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import netform as nf

    classes = {"sequential": "Sequential", "functional": "Functional", "subclass": "SpecModel"}
    for api, cls in classes.items():
        out = workdir / f"b_{api}.keras"
        assert main(["build", str(workdir / "tiny.yaml"), "--api", api, "-o", str(out)]) == 0
        assert capsys.readouterr().out == f"built {cls} 'tiny' (83 params) → {out} [keras]\n"
        model = nf.load(out)
        assert type(model).__name__ == cls and model.count_params() == 83
        assert [w.shape for w in model.get_weights()] == [(6, 8), (8,), (8, 3), (3,)]

    # one column is not the 6 features the model takes: the engine says so, naming the input and both shapes
    code = main(["train", str(workdir / "tiny.yaml"), "--data", str(workdir / "data.csv"), "--verbose", "0",
                 "--x", "f0", "--y", "label", "layers.0.units=4"])
    assert code == 4
    assert capsys.readouterr().err == (
        "error: fit(): input 'x' of model 'tiny' expects shape (None, 6) (batch first), but received data of "
        "shape (16,). Reshape the data for 'x' to (None, 6) or change the model's Input shape.\n")

    # a model with one input per column trains from the CSV, each column feeding the input of its name
    (workdir / "two.yaml").write_text(TWO_COLUMNS)
    trained = workdir / "two.keras"
    code = main(["train", str(workdir / "two.yaml"), "--data", str(workdir / "data.csv"), "--verbose", "0",
                 "--y", "label", "-o", str(trained)])
    assert code == 0, capsys.readouterr().err
    assert "trained 'two' for 2 epoch(s)" in capsys.readouterr().out
    model = nf.load(trained)
    assert int(model.optimizer.iterations.numpy()) == 2 * 4  # 64 rows, batches of 16
    columns = np.loadtxt(workdir / "data.csv", delimiter=",", skiprows=1, dtype="float32")
    probs = np.asarray(model.predict({"f0": columns[:, :1], "f1": columns[:, 1:2]}, verbose=0))
    assert probs.shape == (64, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_bad_data_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = workdir / "data.txt"
    bad.write_text("1,2,3")
    model = workdir / "untrained.keras"
    assert main(["build", str(workdir / "tiny.yaml"), "-o", str(model)]) == 0
    assert main(["evaluate", str(model), "--data", str(bad)]) == 4
    assert "data must be .npz (named arrays) or .csv (named columns)" in capsys.readouterr().err


def test_load_missing_model(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(workdir / "missing.keras")]) == 5
    assert "missing.keras" in capsys.readouterr().err


def test_evaluate_uncompiled_model(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = workdir / "uncompiled.keras"
    assert main(["build", str(workdir / "tiny.yaml"), "-o", str(model)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model), "--data", str(workdir / "data.npz")]) == 4
    assert "compile" in capsys.readouterr().err


@pytest.mark.parametrize("strategy", ["one_device", "mirrored"])
def test_train_under_a_distribution_strategy(workdir: Path, capsys: pytest.CaptureFixture[str], strategy: str) -> None:
    code = main(["train", str(workdir / "tiny.yaml"), "--data", str(workdir / "data.npz"), "--verbose", "0",
                 "training.epochs=1", f"training.distribution={{strategy: {strategy}}}"])
    assert code == 0, capsys.readouterr().err
    assert "trained 'tiny' for 1 epoch(s)" in capsys.readouterr().out


def test_convert_names_the_formats_it_writes(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    import netform as nf

    source = workdir / "to_convert.keras"
    nf.save(keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)]), source)
    capsys.readouterr()
    assert main(["convert", str(source), str(workdir / "out.bin")]) != 0
    said = capsys.readouterr().err
    assert "'keras', 'h5', 'savedmodel', 'onnx', 'tflite'" in said and ".onnx, .tflite" in said
    assert "weights_h5" not in said and ".ckpt" not in said and ".weights.h5" not in said
    for target, extra in (("w.weights.h5", []), ("w.ckpt", []), ("w", ["--format", "tf_checkpoint"])):
        assert main(["convert", str(source), str(workdir / target), *extra]) != 0
        said = capsys.readouterr().err
        assert "or exports them (onnx, tflite)" in said, said
        assert not (workdir / target).exists()
