"""A spec is untrusted input: what its callbacks and generic layers may touch.

Callbacks of ``training:`` write only under the output directory the user
chooses (``--out-dir``, ``out_dir=``), never phone home, and ``validate``
already says so; a generic ``KerasLayer`` never reads a local file, is built
under Keras's safe mode, and every Keras layer class it may name either builds
or gives a netform error.
"""

from __future__ import annotations

import inspect
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from netform.cli import main
from netform.errors import BuildError, EngineError, NetformError, SpecError
from netform.spec import load_spec

HEAD = textwrap.dedent("""\
    netform: 1
    name: tiny
    kind: sequential
    inputs:
      x: {shape: [4]}
    layers:
      - {type: Dense, units: 2, name: out}
    training:
      loss: mse
      epochs: 1
      batch_size: 8
      callbacks:
    """)


def _spec(tmp_path: Path, callback: str, name: str = "evil.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + f"        - {callback}\n")
    return path


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, x=rng.normal(size=(16, 4)).astype("float32"), y=rng.normal(size=(16, 2)).astype("float32"))
    return path


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    """A folder outside the output directory, with a file the attacker wants gone."""
    d = tmp_path / "precious"
    d.mkdir()
    (d / "keep.txt").write_text("precious")
    return d


def _hostile(outside: Path) -> dict[str, str]:
    return {
        "BackupAndRestore": f"{{type: BackupAndRestore, backup_dir: {outside}}}",
        "CSVLogger": f"{{type: CSVLogger, filename: {outside / 'keep.txt'}}}",
        "ModelCheckpoint": f"{{type: ModelCheckpoint, filepath: {outside / 'm.keras'}}}",
        "TensorBoard": f"{{type: TensorBoard, log_dir: {outside / 'tb'}}}",
        "climb": "{type: CSVLogger, filename: ../../precious/keep.txt}",
        "home": "{type: CSVLogger, filename: ~/log.csv}",
    }


HOSTILE = ["BackupAndRestore", "CSVLogger", "ModelCheckpoint", "TensorBoard", "climb", "home"]


# --- point 7: callbacks ------------------------------------------------------

@pytest.mark.parametrize("which", HOSTILE)
def test_validate_reports_paths_out_of_the_output_directory(tmp_path: Path, outside: Path, which: str) -> None:
    path = _spec(tmp_path, _hostile(outside)[which])
    with pytest.raises(SpecError, match=r"--allow-paths") as info:
        load_spec(path)
    diag = info.value.diagnostics[0]
    assert diag.source == str(path) and diag.line == 13 and diag.column is not None
    assert diag.dotted_path.startswith("training.callbacks[0]")
    assert main(["validate", str(path)]) == 1
    # --allow-paths lifts the path rule only: a user's file or folder of files there is refused as train refuses it
    refused = which in ("BackupAndRestore", "CSVLogger")
    assert main(["validate", "--allow-paths", str(path)]) == (1 if refused else 0)


def test_validate_reports_network_callbacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i, cb in enumerate(["{type: RemoteMonitor, root: 'http://127.0.0.1:9'}", "{type: RemoteMonitor}",
                            "{type: TensorBoard, log_dir: 'gs://bucket/logs'}"]):
        path = _spec(tmp_path, cb, f"net{i}.yaml")
        with pytest.raises(SpecError, match=r"--allow-network"):
            load_spec(path)
        assert main(["validate", str(path)]) == 1
        assert f"{path}:13:" in capsys.readouterr().err
        assert main(["validate", "--allow-network", str(path)]) == 0


@pytest.mark.parametrize("template", ["ck/{epoch.__class__.__init__}.keras", "ck/{epoch!r}.keras",
                                      "ck/{epoch:{x}}.keras", "ck/{logs[0]}.keras", "ck/{epoch.keras",
                                      # `c` writes the epoch as a character: chr(46) is '.', so '../' at epoch 46
                                      "{epoch:c}{epoch:c}/precious.keras", "m_{epoch:c}.keras", "m_{loss:s}.keras",
                                      # fields in a folder name: 'l{epoch}' could be a link planted in out_dir
                                      "l{epoch}/x.keras", "run_{epoch:02d}/m.keras",
                                      "m_{epoch:\u202e>4d}.keras", "x{epoch:=+999d}.keras"])
def test_checkpoint_templates_are_plain_fields(template: str) -> None:
    """Keras formats filepath with the logs: no attribute access that could put '/' or '..' in a name."""
    text = HEAD + f"        - {{type: ModelCheckpoint, filepath: '{template}'}}\n"
    with pytest.raises(SpecError, match=r"ModelCheckpoint.filepath .*plain fields"):
        load_spec(text)
    with pytest.raises(SpecError, match=r"plain fields"):
        from netform.spec import spec_access

        with spec_access(allow_paths=True, allow_network=True):
            load_spec(text)
    load_spec(HEAD + "        - {type: ModelCheckpoint, filepath: 'ck/{epoch:02d}-{val_loss:.2f}.keras'}\n")


@pytest.mark.parametrize("which", HOSTILE)
def test_train_refuses_before_writing(tmp_path: Path, outside: Path, data: Path, which: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    path = _spec(tmp_path, _hostile(outside)[which])
    assert main(["train", str(path), "--data", str(data), "--verbose", "0", "--out-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "--allow-paths" in err and "Traceback" not in err
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert (outside / "keep.txt").read_text() == "precious"
    assert list(out.iterdir()) == []


def test_remote_monitor_is_refused_without_a_connection(tmp_path: Path, data: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    try:
        path = _spec(tmp_path, f"{{type: RemoteMonitor, root: 'http://127.0.0.1:{port}'}}")
        assert main(["train", str(path), "--data", str(data), "--verbose", "0", "--out-dir", str(tmp_path)]) == 1
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()


def test_allow_paths_lets_the_user_write_outside(tmp_path: Path, data: Path) -> None:
    target = tmp_path / "elsewhere" / "log.csv"
    target.parent.mkdir()
    path = _spec(tmp_path, f"{{type: CSVLogger, filename: {target}}}")
    assert main(["train", str(path), "--data", str(data), "--verbose", "0", "--allow-paths",
                 "--out-dir", str(tmp_path / "out")]) == 0
    assert target.read_text().startswith("epoch,")


def test_relative_paths_land_under_out_dir(tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "out"
    path = tmp_path / "ok.yaml"
    path.write_text(HEAD + "        - {type: CSVLogger, filename: logs/train.csv}\n"
                           "        - {type: ModelCheckpoint, filepath: ckpt/best.weights.h5, save_weights_only: true}\n"
                           "        - {type: TensorBoard}\n"
                           "        - {type: BackupAndRestore, backup_dir: backup, delete_checkpoint: false}\n")
    assert main(["train", str(path), "--data", str(data), "--verbose", "0", "--out-dir", str(out)]) == 0
    assert (out / "logs" / "train.csv").is_file()
    assert (out / "ckpt" / "best.weights.h5").is_file()
    assert (out / "logs").is_dir() and any((out / "logs").rglob("*tfevents*"))
    assert (out / "backup").is_dir()
    assert list(cwd.iterdir()) == []


def test_callback_files_get_their_folder_and_never_replace_one(tmp_path: Path, data: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    path = _spec(tmp_path, "{type: CSVLogger, filename: deep/er/log.csv}")
    assert main(["train", str(path), "--data", str(data), "--verbose", "0", "--out-dir", str(out)]) == 0
    assert (out / "deep" / "er" / "log.csv").is_file()
    (out / "taken.csv").mkdir()
    path = _spec(tmp_path, "{type: CSVLogger, filename: taken.csv}")
    assert main(["train", str(path), "--data", str(data), "--verbose", "0", "--out-dir", str(out)]) != 0
    err = capsys.readouterr().err
    assert "is an existing folder" in err and "Traceback" not in err


def test_a_symlink_inside_out_dir_is_no_way_out(tmp_path: Path, outside: Path, data: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(outside, target_is_directory=True)
    path = _spec(tmp_path, "{type: CSVLogger, filename: link/keep.txt}")
    assert main(["train", str(path), "--data", str(data), "--verbose", "0", "--out-dir", str(out)]) != 0
    assert "outside the output directory" in capsys.readouterr().err
    assert (outside / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("backup_dir", [".", "work"])
def test_backup_dir_never_deletes_the_users_files(tmp_path: Path, data: Path, backup_dir: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """BackupAndRestore deletes its folder at the end: never the out-dir, never a folder of other files."""
    out = tmp_path / "out"
    (out / "work").mkdir(parents=True)
    (out / "work" / "notes.txt").write_text("mine")
    path = _spec(tmp_path, f"{{type: BackupAndRestore, backup_dir: {backup_dir}}}")
    assert main(["train", str(path), "--data", str(data), "--verbose", "0", "--out-dir", str(out)]) != 0
    assert "deletes" in capsys.readouterr().err
    assert (out / "work" / "notes.txt").read_text() == "mine"


def test_python_api_is_safe_by_default(tmp_path: Path, outside: Path) -> None:
    import keras

    from netform.engine import fit_from_training_config
    from netform.engine._config import resolve_callbacks

    x = np.zeros((8, 4), "float32")
    y = np.zeros((8, 2), "float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    hostile = {"loss": "mse", "callbacks": [{"type": "CSVLogger", "filename": str(outside / "keep.txt")}]}
    with pytest.raises(EngineError, match=r"training.callbacks\[0\].*filename.*allow_paths=True"):
        fit_from_training_config(model, hostile, x, y, verbose=0, out_dir=tmp_path)
    with pytest.raises(EngineError, match=r"is an absolute path.*allow_paths=True"):
        resolve_callbacks([{"type": "CSVLogger", "filename": outside / "keep.txt"}], out_dir=tmp_path)
    with pytest.raises(EngineError, match=r"RemoteMonitor.*allow_network=True"):
        resolve_callbacks([{"type": "RemoteMonitor"}])
    assert (outside / "keep.txt").read_text() == "precious"
    # allow_paths lets a spec write outside, never replace a file that is not its callback's own.
    with pytest.raises(EngineError, match=r"would replace .*keep\.txt, which is not a CSVLogger log"):
        fit_from_training_config(model, hostile, x, y, verbose=0, allow_paths=True)
    assert (outside / "keep.txt").read_text() == "precious"
    fresh = {"loss": "mse", "callbacks": [{"type": "CSVLogger", "filename": str(outside / "log.csv")}]}
    fit_from_training_config(model, fresh, x, y, verbose=0, allow_paths=True)
    assert (outside / "log.csv").read_text().startswith("epoch")
    (cb,) = resolve_callbacks([{"type": "CSVLogger", "filename": "a/log.csv"}], out_dir=tmp_path)
    assert Path(cb.filename) == (tmp_path / "a" / "log.csv").resolve()


def test_a_saved_subclass_model_with_allowed_paths_loads(tmp_path: Path) -> None:
    """Loading a model never makes its spec's callbacks, so their paths are not checked there."""
    import netform as nf
    from netform.spec import spec_access

    with spec_access(allow_paths=True):
        spec = load_spec(HEAD + f"        - {{type: CSVLogger, filename: {tmp_path / 'log.csv'}}}\n")
    model = nf.build(spec, api="subclass")
    nf.save(model, tmp_path / "m.keras")
    loaded = nf.load(tmp_path / "m.keras")
    assert loaded.spec == spec
    assert not (tmp_path / "log.csv").exists()


def test_path_arguments_table_follows_keras() -> None:
    """Every path-like argument of every public Keras callback is checked (derived from the signatures)."""
    import keras

    from netform.spec._training import CALLBACKS, NETWORK_CALLBACKS, PATH_ARGUMENTS

    names = [n for n in dir(keras.callbacks) if inspect.isclass(getattr(keras.callbacks, n))
             and issubclass(getattr(keras.callbacks, n), keras.callbacks.Callback)]
    assert set(CALLBACKS) <= set(names)
    for name in names:
        params = inspect.signature(getattr(keras.callbacks, name)).parameters
        pathlike = {p for p in params if set(p.split("_")) & {"dir", "directory", "file", "filename", "filepath",
                                                              "path", "root", "url", "metadata"}}
        if name in NETWORK_CALLBACKS:
            continue
        assert pathlike == set(PATH_ARGUMENTS.get(name, ())), name


# --- point 8: layer configs that read files; safe mode -------------------------

LAYER_HEAD = textwrap.dedent("""\
    netform: 1
    name: lookup
    kind: sequential
    inputs:
      x: {shape: [3], dtype: string}
    layers:
    """)


@pytest.mark.parametrize("cls, arg", [("StringLookup", "vocabulary"), ("IntegerLookup", "vocabulary"),
                                      ("TextVectorization", "vocabulary"), ("TextVectorization", "idf_weights")])
def test_layer_configs_never_name_files(tmp_path: Path, cls: str, arg: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("alpha\nbeta\n")
    text = LAYER_HEAD + f"  - {{type: KerasLayer, class_name: {cls}, config: {{{arg}: {secret}}}}}\n"
    with pytest.raises(SpecError, match=rf"{arg}.*file") as info:
        load_spec(text)
    assert info.value.diagnostics[0].line == 7
    from netform.builder._layers import to_keras_layer
    from netform.spec.layers.generic import KerasLayer

    sneaky = KerasLayer.model_construct(class_name=cls, config={arg: str(secret)})
    with pytest.raises(BuildError, match=rf"{cls}.*{arg}"):
        to_keras_layer(sneaky)


def test_a_list_vocabulary_still_builds() -> None:
    spec = load_spec(LAYER_HEAD + "  - {type: KerasLayer, class_name: StringLookup, config: {vocabulary: [a, b]}}\n")
    from netform.builder._layers import to_keras_layer

    layer = to_keras_layer(spec.layers[0].layer)
    assert layer.get_vocabulary() == ["[UNK]", "a", "b"]


SAFE_MODE_CHILD = """
import os, sys, keras
from netform.builder._layers import to_keras_layer
from netform.errors import BuildError
from netform.spec.layers.generic import KerasLayer
marker = sys.argv[1]
inner = keras.layers.TimeDistributed(keras.layers.Lambda(lambda x: (open(marker, "w").close(), x)[1]))
config = inner.get_config()
keras.config.enable_unsafe_deserialization()   # the user's global switch must not matter
try:
    to_keras_layer(KerasLayer.model_construct(class_name="TimeDistributed", config=config))  # validate refuses it first
except BuildError as err:
    print("refused:", str(err)[:200])
print("marker:", os.path.exists(marker))
"""


def test_keras_layer_builds_under_safe_mode_even_if_unsafe_is_enabled(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, "-c", SAFE_MODE_CHILD, str(marker)], capture_output=True, text=True,
                         timeout=120, env=env, cwd=Path(__file__).resolve().parents[2])
    assert "refused:" in out.stdout, out.stderr[-2000:]
    assert "marker: False" in out.stdout
    assert not marker.exists()


# --- point 10: every Keras layer class a KerasLayer may name --------------------

@pytest.mark.parametrize("cls, why", [("TorchModuleWrapper", "torch"), ("JaxLayer", "jax"), ("FlaxLayer", "flax")])
def test_other_backend_wrappers_are_located_spec_errors(cls: str, why: str) -> None:
    with pytest.raises(SpecError, match=rf"{cls}.*{why}") as info:
        load_spec(LAYER_HEAD + f"  - {{type: KerasLayer, class_name: {cls}, config: {{}}}}\n")
    assert info.value.diagnostics[0].line == 7


def test_every_keras_layer_class_builds_or_gives_a_netform_error() -> None:
    import keras

    from netform.builder._layers import to_keras_layer
    from netform.spec.layers.generic import KerasLayer

    names = [n for n in dir(keras.layers)
             if inspect.isclass(getattr(keras.layers, n)) and issubclass(getattr(keras.layers, n), keras.layers.Layer)]
    assert len(names) > 100
    outcomes: dict[str, str] = {}
    for name in names:
        for config in ({}, {"name": 3}, {"unknown_argument": 1}):
            try:
                to_keras_layer(KerasLayer(class_name=name, config=config))
                outcomes[name] = "built"
            except NetformError as err:
                assert str(err), name
                outcomes.setdefault(name, type(err).__name__)
            except Exception as err:  # noqa: BLE001 - the point of the test
                if type(err).__name__ == "ValidationError":
                    # the schema refused the class name, or a config Keras's constructor refuses (an argument it
                    # does not take, a missing one): a SpecError at load, naming the class or the config's key
                    written = ", ".join(f"{k}: {v}" for k, v in config.items())
                    with pytest.raises(SpecError, match=rf"{name}|config\."):
                        load_spec(LAYER_HEAD + f"  - {{type: KerasLayer, class_name: {name}, config: {{{written}}}}}\n")
                    outcomes.setdefault(name, "SpecError")
                    continue
                pytest.fail(f"KerasLayer {name} with config {config}: raw {type(err).__name__}: {err}")
    # Dense without units is refused where it is written now (it was a BuildError); ReLU takes an empty config
    assert outcomes.get("Dense") == "SpecError" and outcomes.get("ReLU") == "built"


def test_commands_that_never_make_callbacks_accept_such_specs(tmp_path: Path, outside: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """summary, render and build never create the training callbacks: where they would write is no concern there."""
    path = _spec(tmp_path, _hostile(outside)["CSVLogger"])
    assert main(["validate", str(path)]) == 1
    assert main(["summary", str(path)]) == 0
    assert "Total params" in capsys.readouterr().out
    assert main(["render", str(path), "-o", str(tmp_path / "arch.dot")]) == 0
    assert (tmp_path / "arch.dot").read_text().startswith("digraph")
    assert main(["build", str(path), "-o", str(tmp_path / "m.keras")]) == 0
    assert (outside / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("callback", [
    "{type: BackupAndRestore, backup_dir: ./}",
    "{type: ModelCheckpoint, filepath: 'm_{epoch:9999d}.keras'}",
    "{type: CSVLogger, filename: \"log\\ttab.csv\"}",
])
def test_callback_refusals_apply_only_where_callbacks_run(tmp_path: Path, data: Path, callback: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Refusals that nothing on the command line lifts still leave summary, render and build alone."""
    path = _spec(tmp_path, callback)
    assert main(["validate", str(path)]) == 1
    assert main(["summary", str(path)]) == 0
    assert main(["render", str(path), "-o", str(tmp_path / "arch.dot")]) == 0
    assert main(["build", str(path), "-o", str(tmp_path / "m.keras")]) == 0
    capsys.readouterr()
    code = main(["train", str(path), "--data", str(data), "-o", str(tmp_path / "t.keras"),
                 "--out-dir", str(tmp_path)])
    assert code not in (0, 70)
    assert not (tmp_path / "t.keras").exists()
    assert "Traceback" not in capsys.readouterr().err


def test_character_format_cannot_climb_out_at_epoch_46(tmp_path: Path) -> None:
    """The attack, whole: 46 epochs of `{epoch:c}{epoch:c}/precious.keras` would write ../precious.keras."""
    out = tmp_path / "out"
    out.mkdir()
    precious = tmp_path / "precious.keras"
    precious.write_text("my thesis")
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.normal(size=(4, 4)).astype("float32"), y=rng.normal(size=(4, 2)).astype("float32"))
    path = out / "evil.yaml"
    path.write_text(HEAD.replace("epochs: 1", "epochs: 46")
                    + "        - {type: ModelCheckpoint, filepath: '{epoch:c}{epoch:c}/precious.keras'}\n")
    assert main(["validate", str(path)]) == 1
    assert main(["train", str(path), "--data", str(data), "--out-dir", str(out)]) != 0
    assert precious.read_text() == "my thesis"
    assert sorted(p.name for p in out.iterdir()) == ["evil.yaml"]


def test_template_folder_cannot_follow_a_planted_link(tmp_path: Path, outside: Path, data: Path) -> None:
    """`l{epoch}/x.keras` with `l1 -> outside` planted in the output folder is refused before training."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "l1").symlink_to(outside)
    path = _spec(out, "{type: ModelCheckpoint, filepath: 'l{epoch}/x.keras'}")
    assert main(["train", str(path), "--data", str(data), "--out-dir", str(out)]) != 0
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("callback, message", [
    ("{type: CSVLogger, filename: 5}", r"CSVLogger.filename must be a string; received the whole number 5"),
    ("{type: CSVLogger, filename: [a, b]}", r"CSVLogger.filename must be a string; received the list"),
    ("{type: EarlyStopping, patience: '3'}", r"EarlyStopping.patience must be a whole number; received the string"),
    ("{type: ModelCheckpoint, filepath: m.keras, save_best_only: 1}", r"save_best_only must be a true/false"),
    ("{type: LearningRateScheduler, schedule: os.system}",
     r"LearningRateScheduler cannot be used in a spec: its `schedule` is a Python function"),
    ("{type: CSVLogger, filename: \"a\\u202eb.csv\"}", r"contains a control or formatting character"),
    ("{type: CSVLogger, filename: \"a\\x7fb.csv\"}", r"contains a control or formatting character"),
    ("{type: CSVLogger, filename: \"a\\x85b.csv\"}", r"contains a control or formatting character"),
])
def test_callback_arguments_of_the_wrong_kind_are_located_errors(tmp_path: Path, data: Path, callback: str,
                                                                 message: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Caught at validate and at train, as a located error before anything is written (not exit 70 or fd 5)."""
    path = _spec(tmp_path, callback)
    with pytest.raises(SpecError, match=message):
        load_spec(path)
    assert main(["validate", str(path)]) == 1
    assert f"{path}:13:" in capsys.readouterr().err
    code = main(["train", str(path), "--data", str(data), "--out-dir", str(tmp_path), "-o", str(tmp_path / "m.keras")])
    assert code not in (0, 70)
    assert not (tmp_path / "m.keras").exists()
    assert "Traceback" not in capsys.readouterr().err


def test_a_link_planted_at_a_templated_checkpoint_name_is_never_followed(tmp_path: Path, outside: Path,
                                                                        data: Path) -> None:
    """`ck/e{epoch:02d}.keras` with `ck/e01.keras -> outside`: the save refuses the link when it meets it."""
    out = tmp_path / "out"
    (out / "ck").mkdir(parents=True)
    (out / "ck" / "e01.keras").symlink_to(outside / "keep.txt")
    path = _spec(out, "{type: ModelCheckpoint, filepath: 'ck/e{epoch:02d}.keras'}")
    assert main(["train", str(path), "--data", str(data), "--out-dir", str(out), "-o", str(out / "m.keras")]) != 0
    assert (outside / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("callback, name, content", [
    ("{type: CSVLogger, filename: d.npz}", "d.npz", b"PK\x03\x04 user data"),
    ("{type: ModelCheckpoint, filepath: thesis.keras}", "thesis.keras", b"my thesis"),
    ("{type: ModelCheckpoint, filepath: w.weights.h5, save_weights_only: true}", "w.weights.h5", b"notes"),
])
def test_callbacks_never_replace_a_users_file_in_the_output_folder(tmp_path: Path, data: Path, callback: str,
                                                                  name: str, content: bytes) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_bytes(content)
    path = _spec(out, callback)
    assert main(["train", str(path), "--data", str(data), "--out-dir", str(out), "-o", str(out / "m.keras")]) != 0
    assert (out / name).read_bytes() == content
    assert not (out / "m.keras").exists()


def test_callback_files_of_an_earlier_run_are_still_replaced(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    path = _spec(out, "{type: CSVLogger, filename: log.csv}")
    path.write_text(path.read_text() + "        - {type: ModelCheckpoint, filepath: best.keras}\n")
    for _ in range(2):
        assert main(["train", str(path), "--data", str(data), "--out-dir", str(out), "-o", str(out / "m.keras")]) == 0
    assert (out / "log.csv").read_text().startswith("epoch")
