"""Every reader of a model file refuses what loading refuses, and accepts what it accepts (run 12).

``nf.load`` and the readers that describe a file without building it (``inspect``, ``summary``,
``export-spec``, ``render``) are run on each file of one table of hostile ``.keras`` archives, unzipped
``.keras`` folders, Keras-written ``.h5`` files and SavedModels netform wrote (the ``.keras`` copy they
embed), and must agree: each refuses (with the exit status of the error ``load`` raises) or each accepts.

* A layer whose ``config`` is a string, a list or a number (Keras: "Expected 'config' to be a dict"), a
  string in place of a layer, a model whose own config is no mapping, and an ``InputLayer`` with no shape:
  ``inspect`` of a Sequential skipped its input layer (exit 0) and ``summary``, ``export-spec`` and
  ``render`` stopped with an internal error (exit 70); each is now refused before Keras builds anything,
  with an ``IncompatibleFileError`` naming the layer (exit 5), by every reader and by ``load``.
* A ``metadata.json`` that is not a JSON object of text (invalid JSON, a list, ``keras_version: 3``,
  17 MiB), or a ``netform.json`` field of the wrong type (``netform_version: 3``): the readers refused it and
  ``load`` loaded the file; ``load`` now refuses it too, with the readers' error.
* A model or layer name that is no string, a ``compile_config`` that is no mapping (also a nested model's,
  which Keras compiles even when the file is loaded with ``compile=False``), one on a plain layer, a
  Sequential's config written as a list in a ``.keras`` file (only Keras's legacy HDF5 loader reads that),
  a ``build_config`` that builds no variables for a layer the file stores variables of: ``load`` refused
  each (Keras fails on them) and some or all readers described the file (exit 0) or stopped with an
  internal error (exit 70); now each reader refuses it (exit 5).
* A zip comment (60 KB, or the 65,535-byte maximum), directory entries (``assets/``, ``evil/``) and an entry
  Keras does not write are accepted by ``load``, as by Keras, and so by every reader; a file plain Keras
  wrote (``keras.saving.save_model``) is accepted everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any, Callable

import h5py
import keras
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError, IncompatibleFileError, NetformError
from netform.saving._static_reader import read_config, read_model

from ._helpers import json_member, rehash_embedded, rewrite_member, rezip

pytest.importorskip("tensorflow")

COMMANDS = ["inspect", "summary", "export-spec", "render"]
L = keras.layers


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The files each case starts from: netform's and plain Keras's saves of one Functional and one Sequential."""
    d = tmp_path_factory.mktemp("run12")
    x = keras.Input((4,), name="x")
    functional = keras.Model(x, L.Dense(2, name="d2")(L.Dense(3, name="d1")(x)), name="fm")
    sequential = keras.Sequential([keras.Input((4,)), L.Dense(3, name="d1"), L.Dense(2, name="d2")], name="sq")
    inner = keras.Sequential([keras.Input((4,)), L.Dense(3, name="i1")], name="inner")
    y = keras.Input((4,), name="y")
    nested = keras.Model(y, L.Dense(2, name="o")(inner(y)), name="outer")
    nf.save(nested, d / "nf_nested.keras")
    nf.save(functional, d / "nf_functional.keras")
    nf.save(sequential, d / "nf_sequential.keras")
    keras.saving.save_model(functional, d / "keras_functional.keras")
    keras.saving.save_model(sequential, d / "keras_sequential.keras")
    keras.saving.save_model(functional, d / "keras_functional.h5")
    return {p.name.split(".")[0] + p.suffix.replace(".", "_"): p for p in d.iterdir()}


Make = Callable[[Path, Path], None]


def _json(entry: str, edit: Callable[[Any], None]) -> Make:
    """Rewrite one JSON entry of the archive."""
    return lambda src, dst: rezip(str(src), str(dst), json_member(entry, edit))


def _raw(entry: str, data: bytes) -> Make:
    """Replace one entry's bytes."""
    return lambda src, dst: rezip(str(src), str(dst), rewrite_member(entry, lambda _: data))


def _set(*keys: Any, value: Any) -> Callable[[Any], None]:
    def change(node: Any) -> None:
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


def _config(*keys: Any, value: Any) -> Make:
    """Set one value of config.json."""
    return _json("config.json", _set(*keys, value=value))


def _layer(index: int, key: str, value: Any) -> Make:
    return _config("config", "layers", index, key, value=value)


def _append(edit: Callable[[zipfile.ZipFile], None]) -> Make:
    def make(src: Path, dst: Path) -> None:
        if src != dst:
            shutil.copyfile(src, dst)
        with zipfile.ZipFile(dst, "a") as zf:
            edit(zf)

    return make


def _comment(size: int) -> Make:
    return _append(lambda zf: setattr(zf, "comment", b"c" * size))


def _dirs(*names: str) -> Make:
    def edit(zf: zipfile.ZipFile) -> None:
        for name in names:
            zf.writestr(zipfile.ZipInfo(name), b"")

    return _append(edit)


def _hdf5_comment(src: Path, dst: Path) -> None:
    """A comment holding an HDF5 signature where HDF5 looks for one (a power of two): one file, two models."""
    size = os.path.getsize(src)
    at = 1 << max(size - 1, 511).bit_length()
    _comment(0)(src, dst)
    with zipfile.ZipFile(dst, "a") as zf:
        zf.comment = bytes(at - size) + b"\x89HDF\r\n\x1a\n"


def _unzipped(make: Make | None) -> Make:
    """The case in Keras's unzipped form (a folder of the archive's entries)."""

    def folder(src: Path, dst: Path) -> None:
        archive = dst.with_name(dst.name + ".zip")
        if make is None:
            shutil.copyfile(src, archive)
        else:
            make(src, archive)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dst)
        archive.unlink()

    return folder


def _h5_config(edit: Callable[[Any], None]) -> Make:
    def make(src: Path, dst: Path) -> None:
        shutil.copyfile(src, dst)
        with h5py.File(dst, "a") as f:
            config = json.loads(f.attrs["model_config"])
            edit(config)
            f.attrs["model_config"] = json.dumps(config)

    return make


#: case: (source, how the file is made, the exit status of every reader: 0 accepted, else load's error's).
CASES: dict[str, tuple[str, Make, int]] = {
    # 1. a layer config that is no mapping, in each place a model holds one
    "layer_config_str": ("nf_functional_keras", _layer(1, "config", "x"), 5),
    "layer_config_list": ("nf_functional_keras", _layer(2, "config", ["a"]), 5),
    "layer_config_int": ("nf_functional_keras", _layer(1, "config", 3), 5),
    "input_config_str": ("nf_functional_keras", _layer(0, "config", "x"), 5),
    "sequential_input_config_str": ("nf_sequential_keras", _layer(0, "config", "x"), 5),
    "sequential_input_config_null": ("nf_sequential_keras", _layer(0, "config", None), 5),
    "sequential_layer_config_str": ("keras_sequential_keras", _layer(1, "config", "x"), 5),
    "sequential_layer_str": ("nf_sequential_keras", _config("config", "layers", 1, value="x"), 5),
    "functional_layer_str": ("nf_functional_keras", _config("config", "layers", 1, value="x"), 5),
    "model_config_str": ("nf_functional_keras", _config("config", value="x"), 5),
    "sequential_config_str": ("keras_sequential_keras", _config("config", value="x"), 5),
    "nested_layer_config_str": (
        "nf_nested_keras",
        _config("config", "layers", 1, "config", "layers", 1, "config", value="x"),
        5,
    ),
    "sequential_config_list": (
        "nf_sequential_keras",
        _json("config.json", lambda c: c.update(config=c["config"]["layers"])),
        5,
    ),
    "nested_sequential_config_list": (
        "nf_nested_keras",
        _json(
            "config.json",
            lambda c: c["config"]["layers"][1].update(config=c["config"]["layers"][1]["config"]["layers"]),
        ),
        5,
    ),
    "layer_class_int": ("nf_functional_keras", _layer(1, "class_name", 3), 5),
    "layer_config_str_unzipped": ("nf_functional_keras", _unzipped(_layer(1, "config", "x")), 5),
    "h5_layer_config_str": ("keras_functional_h5", _h5_config(_set("config", "layers", 1, "config", value="x")), 5),
    "h5_input_config_null": ("keras_functional_h5", _h5_config(_set("config", "layers", 0, "config", value=None)), 5),
    "h5_model_config_str": ("keras_functional_h5", _h5_config(_set("config", value="x")), 5),
    # 2. what Keras's zip reader accepts, and Keras's own files
    "comment_60k": ("nf_functional_keras", _comment(60_000), 0),
    "comment_max": ("keras_functional_keras", _comment(65_535), 0),
    "directory_entries": ("nf_functional_keras", _dirs("assets/", "evil/"), 0),
    "directory_entries_keras": ("keras_sequential_keras", _dirs("assets/", "evil/"), 0),
    "extra_entry": ("nf_functional_keras", _append(lambda zf: zf.writestr("evil/x.py", b"print(1)")), 0),
    "comment_and_directories": ("keras_functional_keras", lambda s, d: (_comment(60_000)(s, d), _dirs("a/")(d, d)), 0),
    "plain_keras_functional": ("keras_functional_keras", lambda s, d: shutil.copyfile(s, d), 0),
    "plain_keras_sequential": ("keras_sequential_keras", lambda s, d: shutil.copyfile(s, d), 0),
    "plain_keras_unzipped": ("keras_functional_keras", _unzipped(None), 0),
    "plain_keras_h5": ("keras_functional_h5", lambda s, d: shutil.copyfile(s, d), 0),
    # 3. other disagreements: metadata load did not read, names, compile and build configs
    "metadata_not_json": ("nf_functional_keras", _raw("metadata.json", b"{not json"), 5),
    "metadata_list": ("keras_functional_keras", _raw("metadata.json", b"[1]"), 5),
    "metadata_version_int": ("nf_functional_keras", _json("metadata.json", _set("keras_version", value=3)), 5),
    "metadata_17mib": ("nf_functional_keras", _raw("metadata.json", b'{"a": "' + b"x" * (17 << 20) + b'"}'), 5),
    "metadata_list_unzipped": ("keras_functional_keras", _unzipped(_raw("metadata.json", b"[1]")), 5),
    "netform_version_int": ("nf_functional_keras", _json("netform.json", _set("netform_version", value=3)), 5),
    "model_name_int": ("nf_functional_keras", _config("config", "name", value=3), 5),
    "layer_name_int": ("nf_functional_keras", _config("config", "layers", 1, "config", "name", value=3), 5),
    "sequential_layer_name_list": (
        "keras_sequential_keras",
        _config("config", "layers", 2, "config", "name", value=[]),
        5,
    ),
    "compile_config_str": ("nf_functional_keras", _config("compile_config", value="x"), 5),
    "nested_compile_config_str": ("nf_nested_keras", _layer(1, "compile_config", "x"), 5),
    "layer_compile_config": ("nf_functional_keras", _layer(1, "compile_config", {"optimizer": "adam"}), 5),
    "compile_config_list": ("keras_sequential_keras", _config("compile_config", value=[1]), 5),
    "build_config_str": ("nf_functional_keras", _layer(1, "build_config", "x"), 5),
    "build_config_no_shape": ("keras_sequential_keras", _layer(2, "build_config", {"shape": [None, 3]}), 5),
    # already agreeing: kept so they stay so
    "config_not_json": ("nf_functional_keras", _raw("config.json", b"{not json"), 5),
    "lambda_layer": ("nf_functional_keras", _layer(1, "class_name", "Lambda"), 6),
    "layers_str": ("nf_functional_keras", _config("config", "layers", value="x"), 5),
    "hdf5_in_comment": ("nf_functional_keras", lambda s, d: _hdf5_comment(s, d), 6),
}


def _status(run: Callable[[], Any]) -> tuple[int, str]:
    try:
        run()
    except NetformError as err:
        return err.exit_code, str(err)
    return 0, ""


def _case(sources: dict[str, Path], tmp_path: Path, case: str) -> tuple[Path, int]:
    source, make, expected = CASES[case]
    src = sources[source]
    dst = tmp_path / (case + (".h5" if src.suffix == ".h5" else ".keras"))
    make(src, dst)
    return dst, expected


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_reader_agrees_with_load(
    sources: dict[str, Path], tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, expected = _case(sources, tmp_path, case)
    loaded, said = _status(lambda: nf.load(path))
    assert loaded == expected, (case, said)
    for command in COMMANDS:
        args = [command, str(path)] + (["-o", str(tmp_path / "out.dot")] if command == "render" else [])
        capsys.readouterr()
        code = main(args)
        err = capsys.readouterr().err
        assert code == expected, (case, command, err, said)
        if expected:
            assert str(path) in err, (command, err)


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("layer_config_str", "layer 'd1' ('Dense')"),
        ("input_config_str", "layer 'x' ('InputLayer')"),
        ("sequential_input_config_str", "layer number 0 ('InputLayer') of model 'sq'"),
        ("sequential_layer_config_str", "layer number 1 ('Dense') of model 'sq'"),
        ("h5_layer_config_str", "layer 'd1' ('Dense')"),
    ],
)
def test_a_layer_config_that_is_no_mapping_is_refused_naming_the_layer(
    sources: dict[str, Path], tmp_path: Path, case: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: ``inspect`` of a Sequential exited 0, the others 70; ``load`` named no layer (Keras's TypeError)."""
    path, _ = _case(sources, tmp_path, case)
    with pytest.raises(IncompatibleFileError) as loading:
        nf.load(path)
    assert named in str(loading.value) and "not a mapping" in str(loading.value)
    fmt = "h5" if path.suffix == ".h5" else "keras"
    with pytest.raises(IncompatibleFileError) as reading:
        read_config(str(path), fmt, compile=True)
    assert str(reading.value) == str(loading.value)
    if fmt == "keras":  # a Keras 2 config (Keras's .h5) is described by loading it
        with pytest.raises(IncompatibleFileError):
            read_model(str(path), fmt)
    for command in COMMANDS:
        args = [command, str(path)] + (["-o", str(tmp_path / "out.dot")] if command == "render" else [])
        capsys.readouterr()
        assert main(args) == 5
        assert named in capsys.readouterr().err


def test_metadata_inspect_refuses_is_refused_by_load(sources: dict[str, Path], tmp_path: Path) -> None:
    """Was: ``load`` never read ``metadata.json``, so it loaded a file every describing reader refused."""
    path, _ = _case(sources, tmp_path, "metadata_version_int")
    with pytest.raises(FormatError) as loading:
        nf.load(path)
    with pytest.raises(FormatError) as inspecting:
        nf.saving.inspect(path)
    assert str(loading.value) == str(inspecting.value)
    assert "metadata.json field 'keras_version' holds int" in str(loading.value)


def test_a_file_plain_keras_wrote_reads_the_same_everywhere(sources: dict[str, Path]) -> None:
    """Keras's own archive (no netform.json) and HDF5 file: loaded, and described as loading builds them."""
    for name in ("keras_functional_keras", "keras_sequential_keras", "keras_functional_h5"):
        path = sources[name]
        model = nf.load(path)
        info = nf.saving.inspect(path)
        assert info["parameters"] == model.count_params(), name
        assert info["keras_version"] == keras.__version__, name
    assert os.path.getsize(sources["keras_functional_keras"]) > 0


SAVEDMODEL_CASES: dict[str, tuple[Make, int]] = {
    "layer_config_str": (_layer(1, "config", "x"), 5),
    "compile_config_str": (_config("compile_config", value="x"), 5),
    "metadata_list": (_raw("metadata.json", b"[1]"), 5),
    "comment_60k": (_comment(60_000), 0),
}


@pytest.fixture(scope="module")
def savedmodel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("run12_savedmodel")
    x = keras.Input((4,), name="x")
    nf.save(keras.Model(x, L.Dense(2, name="d2")(L.Dense(3, name="d1")(x)), name="fm"), d / "sm", format="savedmodel")
    return d / "sm"


@pytest.mark.parametrize("case", sorted(SAVEDMODEL_CASES))
def test_every_reader_agrees_on_the_model_a_savedmodel_embeds(
    savedmodel: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """netform's copy of the model in a SavedModel (``assets.extra/netform.keras``) is read as a ``.keras`` file."""
    make, expected = SAVEDMODEL_CASES[case]
    path = tmp_path / "sm"
    shutil.copytree(savedmodel, path)
    archive = path / "assets.extra" / "netform.keras"
    make(savedmodel / "assets.extra" / "netform.keras", archive)
    rehash_embedded(path)
    loaded, said = _status(lambda: nf.load(path))
    assert loaded == expected, (case, said)
    for command in COMMANDS:
        args = [command, str(path)] + (["-o", str(tmp_path / "out.dot")] if command == "render" else [])
        capsys.readouterr()
        assert main(args) == expected, (case, command, capsys.readouterr().err, said)
