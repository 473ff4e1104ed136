"""Static readers (``inspect``, ``export-spec``) describe the model ``nf.load`` builds, or refuse (run 10).

* A Functional config whose ``output_layers`` names an inner layer: Keras builds only the layers the outputs
  reach, and ``inspect`` lists and counts those same layers.
* A layer connected to nothing that declares more weights than the file holds is refused by ``inspect`` too.
* A layer name holding ``/`` (Keras refuses it) is refused by every static reader, with a FormatError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError

from ._helpers import json_member, rezip


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("agree10")
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(3, name="d1")(x)
    model = keras.Model(x, keras.layers.Dense(2, name="d2")(h), name="fm")
    path = d / "m.keras"
    nf.save(model, path)
    return path


def _edit(base: Path, name: str, edit: Any) -> str:
    return rezip(str(base), str(base.parent / name), json_member("config.json", edit))


def test_edited_outputs_inspect_counts_what_load_builds(base: Path) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["config"]["output_layers"] = [["d1", 0, 0]]

    path = _edit(base, "outputs.keras", edit)
    model = nf.load(path)
    info = nf.inspect(path)
    assert [layer["name"] for layer in info["layers"]] == [layer.name for layer in model.layers]
    assert info["parameters"] == model.count_params() == 15


def test_orphan_layer_refused_by_export_and_load(base: Path) -> None:
    # the weights a config declares are counted by the export and by loading, which refuse the file
    def edit(cfg: dict[str, Any]) -> None:
        orphan = {
            "module": "keras.layers",
            "class_name": "Dense",
            "config": {"name": "orphan", "units": 3000, "trainable": True, "dtype": "float32"},
            "build_config": {"input_shape": [None, 3000]},
            "inbound_nodes": [],
        }
        cfg["config"]["layers"].append(orphan)

    path = _edit(base, "orphan.keras", edit)
    with pytest.raises(FormatError):
        nf.load(path)
    from netform.saving._config_walk import spec_from_file

    with pytest.raises(FormatError, match="declares"):
        spec_from_file(path)
    # inspect counts, as load does, the weights the config declares against those the file holds
    with pytest.raises(FormatError, match="declares 9,003,023 weight values, more than the 23"):
        nf.inspect(path)


def test_slash_in_layer_name_refused_statically(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        import json

        text = json.dumps(cfg).replace('"d1"', '"a/b"')
        cfg.clear()
        cfg.update(json.loads(text))

    path = _edit(base, "slash.keras", edit)
    with pytest.raises(FormatError):
        nf.load(path)
    with pytest.raises(FormatError, match="'/'"):
        nf.inspect(path)
    for command in ("inspect", "export-spec"):
        args = [command, path] + (["-o", str(base.parent / "s.yaml")] if command == "export-spec" else [])
        assert main(args) == 5, command
        assert "'/'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def h5_file(base: Path) -> Path:
    model = nf.load(str(base))
    path = base.parent / "m.h5"
    nf.save(model, path)
    return path


def _edit_h5(src: Path, dst: Path, edit: Any) -> str:
    import shutil

    import h5py

    from netform.saving._h5 import _write_attr_checksums

    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        edit(f)
        if "netform_attr_checksums" in f.attrs:
            del f.attrs["netform_attr_checksums"]
            _write_attr_checksums(f)
    return str(dst)


def test_h5_metadata_naming_another_class_refused_by_export_spec(
    h5_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    def edit(f: Any) -> None:
        meta = json.loads(f.attrs["netform_metadata"])
        meta["model_class"] = "os.system"
        f.attrs["netform_metadata"] = json.dumps(meta)

    path = _edit_h5(h5_file, h5_file.parent / "meta_class.h5", edit)
    for command in ("inspect", "export-spec"):
        args = [command, path] + (["-o", str(h5_file.parent / "mc.yaml")] if command == "export-spec" else [])
        capsys.readouterr()
        assert main(args) == 5, command
        assert "os.system" in capsys.readouterr().err


def test_h5_layer_names_keras_refuses_are_refused_statically(h5_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def edit(f: Any) -> None:
        f["model_weights"].attrs["layer_names"] = ["/", "..", "model_weights"]

    path = _edit_h5(h5_file, h5_file.parent / "layernames.h5", edit)
    with pytest.raises(FormatError):
        nf.load(path)
    for command in ("inspect", "export-spec"):
        args = [command, path] + (["-o", str(h5_file.parent / "ln.yaml")] if command == "export-spec" else [])
        capsys.readouterr()
        assert main(args) == 5, command
        assert "layer_names" in capsys.readouterr().err


def test_long_layer_name_refused_before_the_walk(base: Path) -> None:
    """Was: six 630 KB layer names kept export-spec busy 9 s in a config within the 16 MiB bound."""
    import json

    long_name = "W" * 1025

    def edit(cfg: dict[str, Any]) -> None:
        text = json.dumps(cfg).replace('"d1"', json.dumps(long_name))
        cfg.clear()
        cfg.update(json.loads(text))

    path = _edit(base, "long_name.keras", edit)
    with pytest.raises(FormatError, match="1,024 characters"):
        nf.inspect(path)
    with pytest.raises(FormatError, match="1,024 characters"):
        nf.saving._static_reader.read_config(path, "keras")


def test_huge_string_in_config_refused(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: a 15 MB string as a layer argument took 743 MB to render as HTML."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["config"]["layers"][1]["config"]["kernel_initializer"] = {
            "module": "keras.initializers",
            "class_name": "Constant",
            "config": {"value": "x" * (1 << 20 | 1)},
        }

    path = _edit(base, "big_str.keras", edit)
    for command in ("inspect", "export-spec", "render"):
        out = str(base.parent / ("bs.yaml" if command == "export-spec" else "bs.html"))
        args = [command, path] + ([] if command == "inspect" else ["-o", out])
        capsys.readouterr()
        assert main(args) == 5, command
        assert "1,048,576 characters" in capsys.readouterr().err


@pytest.mark.parametrize("change", ["units", "build_config"])
def test_dense_config_not_matching_its_weights_refused_statically(
    base: Path, change: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: inspect and export-spec accepted (and exported units: 2) what load refuses (incompatible shapes)."""

    def edit(cfg: dict[str, Any]) -> None:
        layer = next(layer for layer in cfg["config"]["layers"] if layer["config"]["name"] == "d1")
        if change == "units":
            layer["config"]["units"] = 2
        else:
            layer["build_config"]["input_shape"] = [None, 5]

    path = _edit(base, f"dense_{change}.keras", edit)
    with pytest.raises(FormatError):
        nf.load(path)
    for command in ("inspect", "export-spec"):
        args = [command, path] + (["-o", str(base.parent / "d.yaml")] if command == "export-spec" else [])
        capsys.readouterr()
        assert main(args) == 5, command
        assert "builds a kernel of shape" in capsys.readouterr().err


def test_keras_function_named_as_a_class_refused_statically(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: an activation ``{module: keras.utils, class_name: get_file}`` passed inspect and was exported as a
    spec; Keras cannot deserialize a function named as a class, so load refuses it."""

    def edit(cfg: dict[str, Any]) -> None:
        layer = next(layer for layer in cfg["config"]["layers"] if layer["config"]["name"] == "d1")
        layer["config"]["activation"] = {
            "module": "keras.utils",
            "class_name": "get_file",
            "config": {"fname": "x", "origin": "file:///nonexistent"},
            "registered_name": "get_file",
        }

    path = _edit(base, "get_file.keras", edit)
    with pytest.raises(FormatError):
        nf.load(path)
    for command in ("inspect", "export-spec"):
        args = [command, path] + (["-o", str(base.parent / "g.yaml")] if command == "export-spec" else [])
        capsys.readouterr()
        assert main(args) == 5, command
        assert "'keras.utils.get_file'" in capsys.readouterr().err


def test_metadata_naming_another_model_class_is_refused_by_load_too(base: Path, tmp_path: Path) -> None:
    # inspect and export-spec refused it; load built the config's Functional as if nothing was said
    def lie(meta: dict[str, Any]) -> None:
        meta["model_class"] = "os.system"

    keras_path = rezip(str(base), str(tmp_path / "lie.keras"), json_member("netform.json", lie))
    with pytest.raises(FormatError, match=r"netform.json names the model class 'os.system'"):
        nf.load(keras_path)
    nf.load(base)  # the file as netform wrote it still loads
