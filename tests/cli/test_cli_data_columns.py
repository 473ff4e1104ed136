"""`netform train` on CSV columns: several columns into one input, class and sample weights, compared with Keras."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from netform.cli import main

# Seeded initializers and no shuffling: the same start and the same batches as the plain Keras model below.
SPEC = textwrap.dedent("""\
    netform: 1
    name: clf
    kind: sequential
    inputs:
      x: {shape: [3]}
    layers:
      - {type: Dense, units: 5, activation: relu, kernel_initializer: {type: GlorotUniform, seed: 1}}
      - {type: Dense, units: 3, activation: softmax, kernel_initializer: {type: GlorotUniform, seed: 2}}
    training:
      optimizer: {type: SGD, learning_rate: 0.1}
      loss: sparse_categorical_crossentropy
      batch_size: 8
      epochs: 2
      shuffle: false
    """)
N = 40


def _keras_model() -> object:
    import keras

    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(5, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed=1)),
        keras.layers.Dense(3, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(seed=2)),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("columns")
    (d / "clf.yaml").write_text(SPEC)
    rng = np.random.default_rng(0)
    f = rng.normal(size=(N, 3)).round(4).astype("float32")
    label = np.array([0] * 25 + [1] * 10 + [2] * 5)[rng.permutation(N)]
    weight = (1 + np.arange(N) % 3).astype("float32")
    colour = np.array(["red", "green", "blue", "green"] * (N // 4))
    # The columns f2, f0, f1 in this file order: a glob takes them in that order, not sorted.
    with open(d / "d.csv", "w") as fh:
        fh.write("id,f2,colour,f0,label,f1,w\n")
        for i in range(N):
            fh.write(f"s{i},{f[i, 2]},{colour[i]},{f[i, 0]},{label[i]},{f[i, 1]},{weight[i]}\n")
    np.savez(d / "arrays.npz", f=f, label=label, w=weight)
    return d


def _columns(work: Path) -> dict[str, np.ndarray]:
    with open(work / "d.csv") as fh:
        header = fh.readline().strip().split(",")
        rows = [line.strip().split(",") for line in fh]
    return {name: np.array([row[i] for row in rows]) for i, name in enumerate(header)}


def _netform(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("netform")  # the installed console script
    command = [str(script)] if script.exists() else [sys.executable, "-m", "netform.cli._main"]
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def _trained_weights(path: Path) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(path, compile=False).get_weights()


def _balanced(labels: np.ndarray) -> dict[int, float]:
    """scikit-learn's compute_class_weight('balanced'): n_samples / (n_classes * bincount(y))."""
    classes, counts = np.unique(labels, return_counts=True)
    return {int(c): len(labels) / (len(classes) * n) for c, n in zip(classes, counts)}


@pytest.mark.slow
def test_a_glob_joins_columns_in_file_order_and_balanced_class_weights_train_like_keras(work: Path) -> None:
    done = _netform("train", "clf.yaml", "--data", "d.csv", "--x", "f*", "--y", "label", "--class-weight",
                    "balanced", "--verbose", "0", "-o", "glob.keras", cwd=work)
    assert done.returncode == 0, done.stderr
    cols = _columns(work)
    x = np.stack([cols["f2"], cols["f0"], cols["f1"]], axis=1).astype("float32")
    y = cols["label"].astype("int64")
    weights = _balanced(y)
    assert weights == pytest.approx({0: 40 / 75, 1: 40 / 30, 2: 40 / 15})
    model = _keras_model()
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, class_weight=weights, verbose=0)
    for got, expected in zip(_trained_weights(work / "glob.keras"), model.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    unweighted = _keras_model()
    unweighted.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert not np.allclose(unweighted.get_weights()[0], model.get_weights()[0], atol=1e-4)  # the weights told


def test_named_columns_and_a_sample_weight_column_train_like_keras(
        work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import re

    monkeypatch.chdir(work)
    # the validation file has the weight column too: validation is weighted by it, as fit(validation_data=(x, y, w))
    assert main(["train", "clf.yaml", "--data", "d.csv", "--x", "x=f0,f1,f2", "--y", "label", "--sample-weight", "w",
                 "--val-data", "d.csv", "--verbose", "0", "-o", "sw.keras"]) == 0
    val_loss = float(re.search(r"val_loss=([0-9.e+-]+)", capsys.readouterr().out)[1])
    cols = _columns(work)
    x = np.stack([cols["f0"], cols["f1"], cols["f2"]], axis=1).astype("float32")
    y, w = cols["label"].astype("int64"), cols["w"].astype("float32")
    model = _keras_model()
    history = model.fit(x, y, sample_weight=w, validation_data=(x, y, w), batch_size=8, epochs=2, shuffle=False,
                        verbose=0)
    for got, expected in zip(_trained_weights(work / "sw.keras"), model.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert val_loss == pytest.approx(history.history["val_loss"][-1], rel=1e-3)  # printed with 4 digits
    assert val_loss != pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-3)  # not the unweighted loss


def test_a_json_class_weight_and_npz_weights_train_like_keras(work: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import keras

    with np.load(work / "arrays.npz") as data:
        x, y, w = data["f"], data["label"], data["w"]
    assert main(["train", str(work / "clf.yaml"), "--data", str(work / "arrays.npz"), "--x", "f", "--y", "label",
                 "--class-weight", '{"0": 1.0, "2": 3.5}', "--verbose", "0", "-o", str(work / "cw.keras")]) == 0
    model = _keras_model()
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, class_weight={0: 1.0, 2: 3.5}, verbose=0)
    for got, expected in zip(_trained_weights(work / "cw.keras"), model.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    # evaluate takes --sample-weight too, with Keras's weighted loss
    capsys.readouterr()
    assert main(["evaluate", str(work / "cw.keras"), "--data", str(work / "arrays.npz"), "--x", "f", "--y", "label",
                 "--sample-weight", "w", "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)["loss"]
    trained = keras.saving.load_model(work / "cw.keras")
    expected = trained.evaluate(x, y, sample_weight=w, batch_size=32, verbose=0, return_dict=True)["loss"]
    unweighted = trained.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)["loss"]
    assert got == pytest.approx(expected, rel=1e-6) and got != pytest.approx(unweighted, rel=1e-3)


def test_one_hot_targets_are_counted_by_argmax() -> None:
    from netform.cli._columns import class_weights

    labels = np.array([0, 0, 0, 1, 2, 2])
    one_hot = np.eye(3, dtype="float32")[labels]
    assert class_weights("balanced", one_hot, "d.npz") == _balanced(labels)
    assert class_weights("balanced", labels.reshape(-1, 1).astype("float32"), "d.npz") == _balanced(labels)
    assert class_weights({1: 2.0}, one_hot, "d.npz") == {1: 2.0}


BAD = [
    (["--x", "g*"], 4, "error: d.csv: --x g*: the pattern 'g*' matches no column or array; it has: id, f2, colour, "
                       "f0, label, f1, w"),
    (["--x", "f0,colour,f1"], 4, "error: d.csv: row 2, column 3 ('colour'): 'red' is not a number; --x "
                                 "f0,colour,f1 joins columns of numbers; the input 'x' takes numbers (float32). A "
                                 "column of categories goes to an input with `dtype: string` whose first layer is "
                                 "StringLookup (it maps each string to an index)"),
    (["--x", "colour"], 4, "error: d.csv: row 2, column 3 ('colour'): 'red' is not a number; the input 'x' takes "
                           "numbers (float32). A column of categories goes to an input with `dtype: string` whose "
                           "first layer is StringLookup (it maps each string to an index)"),
    (["--x", "f0,f9"], 4, "error: d.csv: no array or column named 'f9' for the x; it has: id, f2, colour, f0, label, "
                          "f1, w (choose with --x NAME)"),
    (["--x", "f0,,f1"], 2, "error: --x f0,,f1: write a column name, several joined by commas (f0,f1,f2), a glob "
                           "pattern ('f*'), or INPUT=COLUMNS to name the input they feed"),
    (["--x", "inputs=f*"], 2, "error: --x inputs=f*: the model has no input 'inputs'; its inputs: x"),
    (["--x", "f0", "--x", "f1"], 2, "error: --x is given 2 times but the model has 1 input(s) (x)"),
    (["--x", "x=f0", "--x", "f1"], 2, "error: --x: name the input of every --x (NAME=COLUMNS) or of none; "
                                      "received x=f0, f1"),
    (["--x", "x=f0", "--x", "x=f1"], 2, "error: --x x=…: the input 'x' is given twice; give each one once (join "
                                        "its columns with commas)"),
    (["--y", "colour"], 4, "error: d.csv: row 2, column 3 ('colour'): 'red' is not a number; the targets of 'y' must "
                           "be numbers: write the classes as integers 0, 1, …"),
    (["--class-weight", "{\"0\": 1.0, \"7\": 2}"], 2,
     "error: --class-weight: class 7 is not among the classes of the targets in d.csv (0, 1, 2); weight those classes"),
    (["--class-weight", "{0: 1.0}"], 2, "error: --class-weight {0: 1.0}: not valid JSON (Expecting property name "
                                        "enclosed in double quotes at column 2)"),
    (["--class-weight", "{\"a\": 1.0}"], 2, "error: --class-weight: 'a' is not a class index"),
    (["--class-weight", "{\"0\": -1}"], 2, "error: --class-weight: the weight of class 0 is -1; a weight is a "
                                          "finite number, 0 or more"),
    (["--class-weight", "balanced", "--sample-weight", "w"], 2,
     "error: --class-weight and --sample-weight cannot be used together"),
    (["--sample-weight", "colour"], 4, "error: d.csv: row 2, column 3 ('colour'): 'red' is not a number; "
                                       "--sample-weight colour must hold one number per sample"),
    (["--sample-weight", "weight"], 4, "error: d.csv: no array or column named 'weight' for --sample-weight"),
]


def test_bad_columns_and_weights_are_refused_before_tensorflow_starts(work: Path) -> None:
    """Each mistake through the real command line, all in one process: none of them imports TensorFlow."""
    runs = []
    for args, _, _ in BAD:
        y = [] if "--y" in args else ["--y", "label"]
        runs.append(["train", "clf.yaml", "--data", "d.csv", *y, *(["--x", "f*"] if "--x" not in args else []),
                     *args])
    script = textwrap.dedent(f"""\
        import contextlib, io, json, sys
        from netform.cli import main
        out = []
        for argv in {runs!r}:
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = main(argv)
            out.append([rc, err.getvalue()])
        print(json.dumps([out, 'tensorflow' in sys.modules, 'keras' in sys.modules]))
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=work, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr
    import json

    results, tensorflow, keras = json.loads(done.stdout)
    for (args, code, message), (rc, err) in zip(BAD, results, strict=True):
        assert (rc, err[: len(message)]) == (code, message), args
        assert err.count("\n") == 1, err  # one line
    assert (tensorflow, keras) == (False, False)
