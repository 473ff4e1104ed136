"""Model files that lie about their contents (run 11).

* A ``.keras`` archive holding two entries of one name (two ``config.json``, two ``model.weights.h5``) is two
  files in one: Python's ``zipfile`` (so Keras and netform) reads the last, ``unzip`` and other tools the first.
  Every reader refuses it with a FormatError naming the entry (exit 5).
* A ``.tflite`` file whose tensor names are not UTF-8 made ``inspect`` exit 70 with the interpreter's
  UnicodeDecodeError: it is a FormatError naming the file (exit 5).
* ``model_class`` in ``netform.json`` must be the class netform writes for the config's model: a made-up module
  ending in the right class name (``pwn1.Sequential``) was shown by ``inspect`` as it stood.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError

from ._helpers import json_member, rezip

ENTRIES = ["config.json", "model.weights.h5", "netform.json", "metadata.json"]
COMMANDS = ["inspect", "summary", "export-spec", "render", "convert"]


def _model() -> keras.Model:
    x = keras.Input((4,), name="x")
    return keras.Model(x, keras.layers.Dense(2, name="d")(x), name="fm")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("run11")
    model = _model()
    out = {"keras": d / "m.keras", "plain": d / "plain.keras", "tflite": d / "m.tflite"}
    nf.save(model, out["keras"])
    model.save(out["plain"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nf.save(model, out["tflite"])
    return out


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().err


def _args(command: str, path: Path, tmp_path: Path) -> list[str]:
    if command == "render":
        return [command, str(path), "-o", str(tmp_path / "out.dot")]
    if command == "convert":
        return [command, str(path), str(tmp_path / "out.h5")]
    return [command, str(path)]


def _twice(src: Path, dst: Path, name: str, second: bytes | None = None) -> Path:
    """A copy of ``src`` with a second entry ``name`` appended (the first's bytes, or ``second``)."""
    with zipfile.ZipFile(src) as archive:
        items = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(dst, "w") as out, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name it writes
        for entry, data in items:
            out.writestr(entry, data)
        out.writestr(name, dict(items)[name] if second is None else second)
    return dst


@pytest.mark.parametrize("name", ENTRIES)
@pytest.mark.parametrize("source", ["keras", "plain"])
def test_an_archive_holding_an_entry_twice_is_refused_by_load(
    saved: dict[str, Path], tmp_path: Path, name: str, source: str
) -> None:
    if name == "netform.json" and source == "plain":
        pytest.skip("plain Keras writes no netform.json")
    path = _twice(saved[source], tmp_path / "dup.keras", name)
    with pytest.raises(FormatError, match=f"two entries named '{name}'") as err:
        nf.load(str(path))
    assert "two different versions" in str(err.value)
    with pytest.raises(FormatError, match=f"two entries named '{name}'"):
        nf.inspect(str(path))


@pytest.mark.parametrize("command", COMMANDS)
def test_a_second_config_is_refused_by_every_command(
    saved: dict[str, Path], tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with zipfile.ZipFile(saved["keras"]) as archive:
        config = json.loads(archive.read("config.json"))
    config["config"]["layers"][-1]["config"]["activation"] = "tanh"  # what the last entry would have made it
    path = _twice(saved["keras"], tmp_path / "dup.keras", "config.json", json.dumps(config).encode())
    code, err = _cli(_args(command, path, tmp_path), capsys)
    assert code == 5, err
    assert "two entries named 'config.json'" in err
    assert "Traceback" not in err


def test_a_second_weights_entry_is_refused_by_load_weights(saved: dict[str, Path], tmp_path: Path) -> None:
    path = _twice(saved["keras"], tmp_path / "dup.keras", "model.weights.h5")
    model = _model()
    with pytest.raises(FormatError, match="two entries named 'model.weights.h5'"):
        nf.load_weights(model, str(path))


def test_entries_differing_only_in_case_are_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    # zipfile, Keras and netform look entries up by their exact name, but extracted on a file system that
    # ignores case CONFIG.JSON replaces config.json: the archive holds two models, and is refused
    path = _twice(saved["keras"], tmp_path / "case.keras", "config.json")
    with zipfile.ZipFile(path) as archive:
        assert [i.filename for i in archive.infolist()].count("config.json") == 2
    renamed = rezip(str(saved["keras"]), str(tmp_path / "upper.keras"), lambda i, d: (i.filename, d))
    with zipfile.ZipFile(renamed, "a") as archive:
        archive.writestr("CONFIG.JSON", b"{}")
    with pytest.raises(FormatError, match="name the same file once extracted"):
        nf.inspect(renamed)


def _bad_name(data: bytes) -> bytes:
    """The flatbuffer with the first byte of a tensor name replaced by a byte no UTF-8 text starts with."""
    at = data.find(b"StatefulPartitionedCall")
    assert at > 0
    return data[:at] + b"\x8c" + data[at + 1 :]


def _bad_names(data: bytes) -> list[bytes]:
    at = data.find(b"serving_default_")
    edits = [_bad_name(data)]
    if at > 0:
        edits.append(data[:at] + b"\xff\xfe" + data[at + 2 :])
        edits.append(data[: at + 5] + b"\xc3" + data[at + 6 :])  # a two-byte sequence cut short
    return edits


def test_a_tflite_name_that_is_not_utf8_is_a_format_error(
    saved: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = saved["tflite"].read_bytes()
    assert nf.inspect(str(saved["tflite"]))["format"] == "tflite"
    for i, data in enumerate(_bad_names(good)):
        path = tmp_path / f"bad{i}.tflite"
        path.write_bytes(data)
        with pytest.raises(FormatError, match="not a valid TFLite") as err:
            nf.inspect(str(path))
        assert str(path) in str(err.value)
        code, text = _cli(["inspect", str(path)], capsys)
        assert code == 5, text
        assert "UnicodeDecodeError" in text and "unexpected" not in text


def _model_class(value: str) -> Any:
    def edit(meta: dict[str, Any]) -> None:
        meta["model_class"] = value

    return json_member("netform.json", edit)


@pytest.mark.parametrize(
    "value",
    ["os.Functional", "pwn1.Functional", "keras.Functional", "netform.engine._models.Functional", "Functional"],
)
def test_a_model_class_netform_never_writes_is_refused(
    saved: dict[str, Path], tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with zipfile.ZipFile(saved["keras"]) as archive:
        written = json.loads(archive.read("netform.json"))["model_class"]
    assert written == "keras.src.models.functional.Functional"
    path = rezip(str(saved["keras"]), str(tmp_path / "mc.keras"), _model_class(value))
    with pytest.raises(FormatError, match="never writes"):
        nf.inspect(path)
    with pytest.raises(FormatError, match="never writes"):
        nf.load(path)
    code, err = _cli(["inspect", path], capsys)
    assert code == 5 and value in err


def test_the_model_classes_netform_writes_still_load(tmp_path: Path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text(
        "netform: 1\nname: tiny\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n  - {type: Dense, units: 2}\n"
    )
    built = [nf.build(str(spec), api=api) for api in ("sequential", "functional", "subclass")]
    models = [_model(), keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="ks"), *built]
    for i, m in enumerate(models):
        path = str(tmp_path / f"m{i}.keras")
        nf.save(m, path)
        shown = nf.inspect(path)["model_class"]
        loaded = nf.load(path)
        assert shown == f"{type(m).__module__}.{type(m).__qualname__}"
        x = np.ones((1, 4), "float32")
        np.testing.assert_allclose(loaded.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-5)


def test_a_registered_class_defined_in_a_function_loads(tmp_path: Path) -> None:
    """netform writes such a class as ``module.<qualified name>`` (``...<locals>.LocalModel``): it still loads.
    Was: refused as a model class netform never writes (Keras's own saving tests failed on it)."""

    @keras.saving.register_keras_serializable(package="netform_test_local")
    class LocalModel(keras.Model):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.out = keras.layers.Dense(2)

        def call(self, x: Any) -> Any:
            return self.out(x)

    model = LocalModel()
    x = np.linspace(0, 1, 8, dtype="float32").reshape(2, 4)
    expected = np.asarray(model(x))
    path = tmp_path / "local.keras"
    nf.save(model, path)
    shown = nf.inspect(path)["model_class"]
    assert shown.endswith(".<locals>.LocalModel") and shown.startswith(__name__ + ".")
    np.testing.assert_allclose(np.asarray(nf.load(path)(x)), expected, rtol=1e-6)
    for forged in ("pwn1.<locals>.LocalModel", "os.LocalModel", f"{__name__}.<locals>.os system.LocalModel"):

        def forge(meta: dict[str, Any], forged: str = forged) -> None:
            meta["model_class"] = forged

        bad = rezip(str(path), str(tmp_path / "forged.keras"), json_member("netform.json", forge))
        with pytest.raises(FormatError, match="which netform never writes|names the model class"):
            nf.load(bad)
