"""Long names, layer names, specs without training, long callback paths and CSV separators.

- A file of 230 to 255 bytes can be written: the atomic writer's temporary name (``.<16 hex>.nf-tmp-<name>``)
  keeps only the end of a name too long for it, within 255 bytes; a directory swap's parking name likewise.
- An output path with a name over 255 bytes or over 4,096 bytes in all is refused before any work (exit 2),
  and so is a ``train -o`` whose Ctrl-C save (``NAME.interrupted.EXT``) would not fit.
- A layer's ``name:`` follows the node-name rule (letters, digits, _), at most 1,024 characters; a model's
  name at most 233, so ``<name>.interrupted-100.keras`` fits in a file name.
- ``netform train`` of a spec without ``training:`` is a SpecError saying how to add one (it crashed).
- A callback path over 4,096 bytes or with a folder name over 255 bytes, and a CSVLogger separator that
  makes the log unreadable (NUL, a quote, a line break) are refused by ``validate``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import netform as nf
from netform import _files
from netform.cli import main
from netform.errors import SpecError

SPEC = textwrap.dedent("""\
    netform: 1
    name: {name}
    kind: sequential
    inputs:
      x: {{shape: [4]}}
    layers:
      - {{type: Dense, units: 1{layer}}}
    {training}
    """)
TRAINING = "training: {loss: mse, epochs: 1, batch_size: 8}"


def _spec(name: str = "m", layer: str = "", training: str = TRAINING) -> str:
    return SPEC.format(name=name, layer=layer, training=training)


# -- 1. temporary names within NAME_MAX ---------------------------------------------------------------------


@pytest.mark.parametrize("base", ["o" * 240 + ".keras", "é" * 125 + ".keras", "x" * 255, "é" * 127])
def test_temp_name_fits_in_255_bytes_and_keeps_the_end(tmp_path: Path, base: str) -> None:
    name = os.path.basename(_files.temp_name(tmp_path / base))
    assert len(name.encode()) <= 255
    assert _files.TMP_MARK in name
    assert base.endswith(name.split(_files.TMP_MARK, 1)[1])
    assert name.endswith(base[-6:])


def test_short_temp_name_keeps_the_whole_name(tmp_path: Path) -> None:
    assert os.path.basename(_files.temp_name(tmp_path / "m.keras")).endswith(_files.TMP_MARK + "m.keras")


@pytest.mark.parametrize("base", ["f" * 249 + ".keras", "é" * 126 + ".h5"])
def test_long_file_name_is_written(tmp_path: Path, base: str) -> None:
    _files.write_bytes(tmp_path / base, b"data")
    assert (tmp_path / base).read_bytes() == b"data"
    assert os.listdir(tmp_path) == [base]


def test_long_folder_name_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / ("d" * 254)
    for content in (b"one", b"two"):
        with _files.atomic_path(target) as tmp:
            os.mkdir(tmp)
            Path(tmp, "f").write_bytes(content)
    assert (target / "f").read_bytes() == b"two"
    assert os.listdir(tmp_path) == [target.name]


def test_long_parked_folder_is_recovered(tmp_path: Path) -> None:
    target = str(tmp_path / ("p" * 254))
    os.mkdir(target)
    backup = _files._park(target)
    assert len(os.path.basename(backup + _files.PARKED_NOTE).encode()) <= 255
    assert _files.recover(target)
    assert os.path.isdir(target) and os.listdir(tmp_path) == [os.path.basename(target)]


def test_schema_written_to_a_long_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = "r" * 245 + ".json"
    assert main(["schema", "-o", out]) == 0
    assert os.listdir(tmp_path) == [out]


# -- 1. output paths too long are refused before any work ----------------------------------------------------


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(_spec())
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    np.savez(tmp_path / "d.npz", x=x, y=x.sum(axis=1, keepdims=True))
    return tmp_path


@pytest.mark.parametrize(
    "output",
    [
        "o" * 250 + ".keras",  # fits, but its Ctrl-C save's name does not
        "o" * 256 + ".keras",
        "é" * 128 + ".keras",  # 262 bytes in 134 characters
        "/".join(["d" * 200] * 21) + "/m.keras",
    ],
)
def test_train_refuses_too_long_output_before_training(
    work: Path, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "m.yaml", "--data", "d.npz", "-o", output]) == 2
    err = capsys.readouterr().err
    assert "bytes" in err and "shorter" in err
    assert sorted(os.listdir(work)) == ["d.npz", "m.yaml"]


def test_schema_refuses_too_long_name(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "-o", "r" * 256]) == 2
    assert "255 bytes" in capsys.readouterr().err


def test_train_writes_output_of_240_characters(work: Path) -> None:
    out = "o" * 236 + ".keras"
    assert main(["train", "m.yaml", "--data", "d.npz", "-o", out]) == 0
    assert sorted(os.listdir(work)) == sorted(["d.npz", "m.yaml", out])


# -- 2. layer and model names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["café", "a b", "a:b", "a\u200bb", "a\nb", "a\\\\b", "a/b", "1a", "-a", ".a"])
def test_sequential_layer_name_follows_the_node_name_rule(name: str) -> None:
    with pytest.raises(SpecError, match=r"layers\[0\]\.name"):
        nf.load_spec(_spec(layer=f', name: "{name}"'))


def test_functional_and_nested_layer_names_follow_the_rule() -> None:
    text = textwrap.dedent("""\
        netform: 1
        kind: functional
        inputs: {x: {shape: [3, 4]}}
        nodes:
          r: {type: Bidirectional, layer: {type: LSTM, units: 2, name: "a b"}, in: x}
        outputs: [r]
        """)
    with pytest.raises(SpecError, match="name"):
        nf.load_spec(text)


def test_layer_name_length_is_bounded() -> None:
    nf.load_spec(_spec(layer=", name: " + "n" * 1024))
    with pytest.raises(SpecError, match="1024"):
        nf.load_spec(_spec(layer=", name: " + "n" * 1025))


def test_block_prefixed_layer_name_length_is_bounded() -> None:
    text = textwrap.dedent(f"""\
        netform: 1
        kind: functional
        inputs: {{x: {{shape: [4]}}}}
        blocks:
          b: {{layers: [{{type: Dense, units: 1, name: {"n" * 1000}}}]}}
        nodes:
          {"u" * 100}: {{block: b, in: x}}
        outputs: [{"u" * 100}]
        """)
    with pytest.raises(SpecError, match="at most 1,024 characters"):
        nf.load_spec(text)


def test_model_name_length_is_bounded() -> None:
    nf.load_spec(_spec(name="m" * 233))
    with pytest.raises(SpecError, match="233"):
        nf.load_spec(_spec(name="m" * 234))


# -- 3. train without a training section ---------------------------------------------------------------------


@pytest.mark.parametrize("training", ["", "training: null"])
def test_require_training(training: str) -> None:
    from netform.spec._training_checks import require_training, spec_log_names

    spec = nf.load_spec(_spec(training=training))  # a spec to build only is valid
    for check in (require_training, spec_log_names):
        with pytest.raises(SpecError, match="no `training:` section"):
            check(spec)
    require_training(nf.load_spec(_spec()))


def test_train_without_training_is_a_spec_error(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "n.yaml").write_text(_spec(training=""))
    assert main(["train", "n.yaml", "--data", "d.npz"]) == SpecError.exit_code
    assert "add one with at least a loss" in capsys.readouterr().err


# -- 5. callback paths too long ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/".join(["d" * 250] * 17) + "/m{epoch}.keras",  # 4,268 bytes, each name under 255
        "d" * 256 + "/m.keras",
    ],
)
def test_checkpoint_path_too_long_is_refused(path: str) -> None:
    training = f"training: {{loss: mse, callbacks: [{{type: ModelCheckpoint, filepath: '{path}'}}]}}"
    with pytest.raises(SpecError, match="bytes"):
        nf.load_spec(_spec(training=training))


# -- 7. CSV separators ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("separator", ['"\\0"', "'\"'", '"\\n"', '"\\r"', '"\\u200b"', '";;"'])
def test_csv_separator_that_cannot_be_read_back_is_refused(separator: str) -> None:
    training = f"training: {{loss: mse, callbacks: [{{type: CSVLogger, filename: l.csv, separator: {separator}}}]}}"
    with pytest.raises(SpecError, match="CSVLogger.separator"):
        nf.load_spec(_spec(training=training))


@pytest.mark.parametrize("separator", ['";"', '"\\t"', '"|"', '" "'])
def test_csv_separator_accepted(separator: str) -> None:
    training = f"training: {{loss: mse, callbacks: [{{type: CSVLogger, filename: l.csv, separator: {separator}}}]}}"
    nf.load_spec(_spec(training=training))


# -- 8. YAML 1.1 base-60 numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1:20", "-1:20", "1:20.5", "190:20:30", "!!int 1:20"])
def test_base_60_number_is_refused(value: str) -> None:
    with pytest.raises(SpecError, match="base-60"):
        nf.load_spec(_spec().replace("units: 1}", f"units: {value}}}"))


def test_base_60_number_in_an_override_is_refused(work: Path) -> None:
    from netform.cli._train_cmds import apply_overrides

    with pytest.raises(SpecError, match="base-60"):
        apply_overrides("m.yaml", ["training.epochs=1:20"])
    assert apply_overrides("m.yaml", ["training.epochs=3"]).training.epochs == 3


def test_train_without_training_is_refused_before_tensorflow_starts(work: Path) -> None:
    (work / "n.yaml").write_text(_spec(training=""))
    code = (
        "import sys\nfrom netform.cli import main\nrc = main(['train', 'n.yaml', '--data', 'd.npz'])\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'\n"
        "sys.exit(rc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True, timeout=120)
    assert done.returncode == SpecError.exit_code, done.stderr
    assert "add one with at least a loss" in done.stderr
