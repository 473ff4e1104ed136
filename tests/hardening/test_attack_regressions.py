"""Regressions from a second, independent run of the attacks on the safety promises.

Each case ended in a raw exception (CLI exit 70) before it was fixed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netform
from netform.cli import main
from netform.errors import SpecError

TINY = """\
netform: 1
name: tiny
kind: sequential
inputs:
  x: {shape: [4]}
layers:
  - {type: Dense, units: 2}
training:
  optimizer: adam
  loss: mse
  epochs: 1
"""


def test_an_empty_sequential_layers_list_is_a_located_spec_error() -> None:
    text = "netform: 1\nname: e\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers: []\n"
    with pytest.raises(SpecError, match=r"^<string>:6:1: layers: the model has an empty `layers:` list"):
        netform.load_spec(text)


@pytest.mark.parametrize("value", ["0", "-3", "9" * 30, "1e3", "many"])
def test_predict_batch_size_out_of_range_is_a_usage_error(tmp_path: Path, value: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 4), "float32"))
    with pytest.raises(SystemExit) as info:
        main(["predict", str(tmp_path / "m.keras"), "--data", str(tmp_path / "d.npz"), "-o",
              str(tmp_path / "p.npy"), "--batch-size", value])
    assert info.value.code == 2
    assert "expected a whole number from 1 to 2,147,483,647" in capsys.readouterr().err


def test_an_override_with_a_5000_digit_number_is_a_spec_error(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 4), "float32"), y=np.zeros((4, 2), "float32"))
    code = main(["train", str(spec), "--data", str(tmp_path / "d.npz"), "--verbose", "0",
                 "training.epochs=" + "9" * 5000])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "override training.epochs:1:1:" in err and "cannot be read as a YAML int" in err


BACKUP_FULL_DISK = """
import os, resource, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, keras, netform as nf
from netform.errors import SaveError
inputs = keras.Input((64,))
model = nf.Model(inputs, keras.layers.Dense(256)(keras.layers.Dense(256)(inputs)))
model.compile(optimizer="adam", loss="mse")
x, y = np.zeros((32, 64), "float32"), np.zeros((32, 256), "float32")
class Limit(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == int(sys.argv[2]):  # from this epoch on, no file may grow past 64 KB
            resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
try:
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, backup_dir=sys.argv[1], callbacks=[Limit()])
except SaveError as err:
    print("SaveError", err)
"""


@pytest.mark.parametrize("full_from_epoch", [0, 1])
def test_a_training_backup_on_a_full_disk_is_a_save_error(tmp_path: Path, full_from_epoch: int) -> None:
    """The message says what is kept: the previous backup, or (the first backup failing) nothing, and a rerun then
    starts from the beginning (it spoke of a previous backup that was never written)."""
    import os
    import subprocess
    import sys

    backup = tmp_path / "backup"
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run([sys.executable, "-c", BACKUP_FULL_DISK, str(backup), str(full_from_epoch)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": root}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("SaveError"), proc.stdout + proc.stderr[-2000:]
    assert "the training backup could not be written" in proc.stdout
    if full_from_epoch:
        assert "the previous backup is left as it was" in proc.stdout
        assert "resumes from the previous backup" in proc.stdout
        assert (backup / "state" / "meta.json").exists() or any(backup.rglob("*.json"))
    else:
        assert "no earlier backup was written, so nothing is kept" in proc.stdout
        assert "it starts from the beginning" in proc.stdout and "previous backup" not in proc.stdout
    left = [n for root_, dirs, files in os.walk(tmp_path) for n in dirs + files if ".nf-" in n]
    assert left == []


def test_a_spec_path_that_is_a_fifo_or_a_device_is_refused_at_once(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # nobody ever writes to it: opening it for reading would wait forever
    with pytest.raises(SpecError, match=r"fifo\.yaml: this is a FIFO \(named pipe\), not a spec file"):
        netform.load_spec(fifo)
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")  # endless bytes
    with pytest.raises(SpecError, match=r"zero\.yaml: this is a character device, not a spec file"):
        netform.load_spec(zero)
    assert main(["validate", str(tmp_path)]) == 1


def test_a_callback_path_with_a_nul_byte_is_refused_even_with_allow_paths(tmp_path: Path) -> None:
    text = TINY + '  callbacks:\n    - {type: CSVLogger, filename: "a\\0b.csv"}\n'
    spec = tmp_path / "nul.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError, match=r"CSVLogger\.filename 'a\\x00b\.csv' contains a control or formatting character"):
        netform.load_spec(spec)
    assert main(["validate", "--allow-paths", str(spec)]) == 1


def test_checkpoint_files_linking_out_of_their_folder_are_refused(tmp_path: Path) -> None:
    import keras

    import netform.saving as nfs
    from netform.errors import UnsafeFileError

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    outside = tmp_path / "outside"
    nfs.save_weights(model, outside / "w.ckpt", format="tf_checkpoint")
    folder = tmp_path / "folder"
    folder.mkdir()
    for src in outside.iterdir():
        if src.name.startswith("w.ckpt.") and (src.name.endswith(".index") or ".data-" in src.name) \
                and ".nf-set-" not in src.name:
            (folder / src.name.replace("w.ckpt", "evil")).symlink_to(src)
    (folder / "checkpoint").write_text('model_checkpoint_path: "evil"\nall_model_checkpoint_paths: "evil"\n')
    with pytest.raises(UnsafeFileError, match=r"evil\.(index|data-\S+): a checkpoint (index|data shard) is a link "
                                              r"pointing outside its folder"):
        nfs.load_weights(model, folder)


def test_a_zip_of_user_files_named_keras_is_never_replaced(tmp_path: Path) -> None:
    import zipfile

    import keras

    import netform.saving as nfs
    from netform.errors import SaveError

    photos = tmp_path / "photos.keras"
    with zipfile.ZipFile(photos, "w") as archive:
        archive.writestr("img/holiday.jpg", b"JPEGDATA")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(SaveError, match=r"is a zip archive holding files a \.keras archive does not: img/holiday\.jpg"):
        nfs.save(model, photos)
    assert zipfile.ZipFile(photos).read("img/holiday.jpg") == b"JPEGDATA"
    assert main(["convert", str(photos), str(photos)]) != 0
    assert zipfile.ZipFile(photos).read("img/holiday.jpg") == b"JPEGDATA"


@pytest.mark.parametrize("template", ["{epoch:999999999999d}.keras", "m{epoch:99999999999999999999d}.keras",
                                      "m{loss:.5000f}.keras"])
def test_checkpoint_templates_with_huge_widths_are_refused_at_validate(tmp_path: Path, template: str) -> None:
    spec = tmp_path / "w.yaml"
    spec.write_text(TINY + f'  callbacks:\n    - {{type: ModelCheckpoint, filepath: "{template}"}}\n')
    with pytest.raises(SpecError, match=r"with a (width|precision) of [0-9,]+; file names take at most 255 bytes"):
        netform.load_spec(spec)


TRAIN_FULL_DISK = """
import resource, sys
from netform.cli._main import _entry
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))  # no file past 64 KB
sys.exit(_entry())
"""


def test_train_names_the_backup_as_what_could_not_be_written(tmp_path: Path) -> None:
    """A full disk under --backup-dir was reported as "because a callback's file could not be written" (the run
    had no callback), and the failure that stopped it came last."""
    import os
    import subprocess
    import sys

    spec = tmp_path / "m.yaml"
    spec.write_text("netform: 1\nname: m\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n"
                    "  - {type: Dense, units: 8000}\n  - {type: Dense, units: 1}\n"
                    "training: {loss: mse, epochs: 2, batch_size: 8}\n")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(16, 4)).astype("float32"), y=rng.normal(size=(16, 1)))
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run([sys.executable, "-c", TRAIN_FULL_DISK, "train", str(spec), "--data", str(tmp_path / "d.npz"),
                           "--x", "x", "--y", "y", "--backup-dir", str(tmp_path / "bk")],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": root}, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 5, proc.stdout + proc.stderr[-2000:]
    assert "callback's file" not in proc.stdout + proc.stderr
    stopped = next(line for line in proc.stdout.splitlines() if line.startswith("training stopped after"))
    assert "the training backup could not be written" in stopped, proc.stdout
