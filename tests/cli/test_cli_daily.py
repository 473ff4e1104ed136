"""Daily use of the command line: every output predicted, training names checked, plugins, warnings, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from netform.cli import main
from netform.cli._main import COMMANDS
from tests._helpers import heads_data, heads_spec

HEADS = heads_spec("epochs: 1")


@pytest.fixture(scope="module")
def heads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("heads")
    (d / "heads.yaml").write_text(HEADS)
    x, y = heads_data(13)
    np.savez(d / "d.npz", x=x, **y)
    assert main(["build", str(d / "heads.yaml"), "-o", str(d / "m.keras")]) == 0
    return d


def _keras_predictions(d: Path) -> list[np.ndarray]:
    import keras

    model = keras.saving.load_model(d / "m.keras", compile=False)
    return model.predict(np.load(d / "d.npz")["x"], verbose=0)


def test_predict_writes_every_output_to_an_npz(heads: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = heads / "p.npz"
    assert main(["predict", str(heads / "m.keras"), "--data", str(heads / "d.npz"), "-o", str(out),
                 "--batch-size", "5"]) == 0
    assert "wrote 13 prediction(s) of outputs cls, reg" in capsys.readouterr().out
    expected = _keras_predictions(heads)
    with np.load(out) as got:
        assert list(got) == ["cls", "reg"]
        np.testing.assert_allclose(got["cls"], expected[0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got["reg"], expected[1], rtol=1e-6, atol=1e-6)
    assert [p.name for p in heads.iterdir() if p.suffix not in (".npz", ".yaml", ".keras", ".npy")] == []  # no temp


def test_predict_npy_for_several_outputs_is_a_usage_error(heads: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = heads / "p.npy"
    assert main(["predict", str(heads / "m.keras"), "--data", str(heads / "d.npz"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: -o {out}: the model has 2 outputs (cls, reg) and an .npy file holds one; write them all to " \
           f"an .npz (-o {str(out)[:-4]}.npz, one array per output), or choose one with --output-name cls" in err
    assert not out.exists()


def test_predict_one_chosen_output_to_npy(heads: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = heads / "reg.npy"
    assert main(["predict", str(heads / "m.keras"), "--data", str(heads / "d.npz"), "-o", str(out),
                 "--output-name", "reg", "--batch-size", "4"]) == 0
    np.testing.assert_allclose(np.load(out), _keras_predictions(heads)[1], rtol=1e-6, atol=1e-6)
    out.unlink()
    assert main(["predict", str(heads / "m.keras"), "--data", str(heads / "d.npz"), "-o", str(out),
                 "--output-name", "regg"]) == 2
    assert "error: --output-name regg: the model has no output 'regg' (Did you mean 'reg'?); its outputs: cls, reg" \
        in capsys.readouterr().err
    assert not out.exists()


def test_predict_a_sequential_model_to_an_npz_names_its_output_after_the_last_layer(tmp_path: Path) -> None:
    import keras

    (tmp_path / "s.yaml").write_text("netform: 1\nkind: sequential\ninputs: {x: {shape: [3]}}\n"
                                     "layers: [{type: Dense, units: 2, name: scores}]\n")
    x = np.arange(15, dtype="float32").reshape(5, 3)
    np.savez(tmp_path / "d.npz", x=x)
    assert main(["build", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "m.keras")]) == 0
    assert main(["predict", str(tmp_path / "m.keras"), "--data", str(tmp_path / "d.npz"), "-o",
                 str(tmp_path / "p.npz"), "--batch-size", "2"]) == 0
    expected = keras.saving.load_model(tmp_path / "m.keras", compile=False).predict(x, verbose=0)
    with np.load(tmp_path / "p.npz") as got:
        assert list(got) == ["scores"]
        np.testing.assert_allclose(got["scores"], expected, rtol=1e-6, atol=1e-6)


def _no_such_plugin_args(command: str, d: Path) -> list[str]:
    spec, model, data = str(d / "heads.yaml"), str(d / "m.keras"), str(d / "d.npz")
    return {
        "validate": [spec], "summary": [spec], "schema": [], "render": [spec, "-o", str(d / "r.svg")],
        "build": [spec, "-o", str(d / "b.keras")], "export-spec": [model], "train": [spec, "--data", data],
        "evaluate": [model, "--data", data], "predict": [model, "--data", data, "-o", str(d / "q.npz")],
        "inspect": [model], "convert": [model, str(d / "c.h5")],
    }[command]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_takes_plugin_and_a_missing_one_is_a_usage_error(
        command: str, heads: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.name for p in heads.iterdir())
    code = main([command, *_no_such_plugin_args(command, heads), "--plugin", "no_such_plugin_xyz"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: --plugin no_such_plugin_xyz: no module named 'no_such_plugin_xyz'; give the "
                          "module's import name")
    assert sorted(p.name for p in heads.iterdir()) == before


def test_a_plugin_that_fails_to_import_what_it_needs_is_a_usage_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "needy_plugin.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["schema", "--plugin", "needy_plugin"]) == 2
    assert "error: --plugin needy_plugin: cannot import the plugin module (No module named " \
           "'no_such_dependency_xyz')" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unexpected_error_in_any_command_is_exit_70_and_one_line(
        command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib

    module, func, _ = COMMANDS[command]

    def explode(args: object) -> int:
        raise ValueError("Graph execution error:\n\nDetected at node X defined at (most recent call last):\n"
                         '  File "x.py", line 1, in <module>')

    monkeypatch.setattr(importlib.import_module(module), func, explode)
    monkeypatch.setattr("netform.cli._args.check_files", lambda args: None)  # the arguments name no real files
    assert main([command, *_no_such_plugin_args(command, Path("."))]) == 70
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"error: unexpected ValueError (in {command}): Graph execution error:"
    assert "Detected at node" not in err and "Traceback" not in err and "File " not in err


def _netform(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    script = Path(sys.executable).with_name("netform")  # the installed console script
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from netform.cli import main; "
                                                                            "raise SystemExit(main())"]
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_wrong_loss_key_is_a_located_error_in_validate_and_train(heads: Path) -> None:
    """The report's case: `loss: {classification: …}` passed validate, then train died in a 95-line traceback."""
    bad = heads / "bad.yaml"
    bad.write_text(HEADS.replace("loss: {cls:", "loss: {classification:"))
    expected = (f"{bad}:12:10: training.loss.classification: 'classification' is not an output of the model "
                "(Did you mean 'cls'?); the keys of `loss` are output names: cls, reg")
    try:
        checked = _netform("validate", str(bad), cwd=heads)
        assert checked.returncode == 1 and expected in checked.stderr
        trained = _netform("train", str(bad), "--data", str(heads / "d.npz"), "--verbose", "0", cwd=heads)
        assert trained.returncode == 1, trained.stderr
        assert trained.stderr.strip().splitlines() == [f"error: {expected}"]
    finally:
        bad.unlink()


def test_validate_lists_warnings_after_errors_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "logits.yaml"
    spec.write_text(HEADS.replace("loss: {cls: sparse_categorical_crossentropy, reg: mse}",
                                  "loss: {cls: {type: SparseCategoricalCrossentropy, from_logits: true}, reg: mse}"
                                  "\n  callbacks: [{type: EarlyStopping, patience: 2}]"))
    broken = tmp_path / "broken.yaml"
    broken.write_text(HEADS.replace("units: 8", "units: '8'"))
    assert main(["validate", str(spec)]) == 0
    captured = capsys.readouterr()
    assert "1 of 1 spec(s) valid, 2 warning(s)." in captured.out
    assert captured.err.splitlines() == [
        f"{spec}:12:10: warning: training.loss.cls: output 'cls' already applies softmax, and its loss "
        "SparseCategoricalCrossentropy has from_logits: true, so softmax is applied twice and training barely "
        "moves; remove the output's activation, or set from_logits: false",
        f"{spec}:13:15: warning: training.callbacks[0]: EarlyStopping watches 'val_loss', but training holds out "
        "no validation data (validation_split is 0), so 'val_loss' is never logged and EarlyStopping does nothing; "
        "set training.validation_split (e.g. 0.2), or watch 'loss'",
    ]
    assert main(["validate", str(broken), str(spec)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert "layers" not in err[0] and "units: input should be a valid integer; received '8'" in err[0]
    assert [line.split(": ")[1] for line in err[1:]] == ["warning", "warning"]
    assert main(["validate", "--format", "json", str(spec)]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert [w["path"] for w in files[0]["warnings"]] == ["training.loss.cls", "training.callbacks[0]"]


def test_train_prints_the_warnings_before_training(heads: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = heads / "twice.yaml"
    spec.write_text(HEADS.replace("sparse_categorical_crossentropy",
                                  "{type: SparseCategoricalCrossentropy, from_logits: true}"))
    try:
        assert main(["train", str(spec), "--data", str(heads / "d.npz"), "--verbose", "0"]) == 0
    finally:
        spec.unlink()
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0].startswith(
        f"{spec}:12:10: warning: training.loss.cls: output 'cls' already applies softmax")
    assert "trained 'heads' for 1 epoch(s)" in captured.out
