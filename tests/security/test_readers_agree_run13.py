"""A malformed layer argument is refused by every reader of a ``.keras`` file as ``load`` refuses it (run 13).

* ``bias_initializer`` whose ``class_name`` is a mapping, a dtype policy whose ``config`` is a string: ``inspect``
  described the file, ``summary``, ``export-spec`` and ``render`` stopped on a raw TypeError or AttributeError
  (exit 70), ``load`` refused it. A ``netform.json`` whose ``keras_classes`` path is a number: exit 70 everywhere.
* ``kernel_regularizer: "float64"`` (a name no Keras regularizer has; the same for an activation, initializer or
  constraint, a number or list in their place, or a class ``keras.regularizers`` does not have): ``inspect``,
  ``summary`` and ``export-spec`` described the layer, ``render`` fell back to Keras, ``load`` refused it.

Each is now refused by every reader and by ``load``, without TensorFlow, with an IncompatibleFileError
(exit 5) naming the layer and the argument. A fuzz of ``config.json`` (values swapped for values of other
types at random places) checks that no reader ever stops on a raw exception (exit 70), and that where the
swapped value is one of a layer's object arguments, every reader gives ``load``'s answer.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import copy
import json
import random
import zipfile
from pathlib import Path
from typing import Any, Callable

import keras
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError, IncompatibleFileError, UnsafeFileError
from netform.saving._api import check_save_path
from netform.saving._config_bounds import KERAS_POLICY_NAMES, keras_argument_names

from ._helpers import json_member, rezip

COMMANDS = ["inspect", "summary", "export-spec", "render"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("agree13")
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, activation="relu", kernel_regularizer="l2", name="d1"),
            keras.layers.Dense(2, name="d2"),
        ],
        name="m",
    )
    model.compile(optimizer="adam", loss="mse")
    nf.save(model, d / "m.keras")
    return d / "m.keras"


def _exit(error: BaseException | None) -> int:
    if error is None:
        return 0
    if isinstance(error, UnsafeFileError):
        return 6
    return 5 if isinstance(error, FormatError) else 70


def _cli(command: str, path: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    args = [command, str(path), "-o", str(out / ("o.svg" if command == "render" else "o.yaml"))]
    code = main(args if command in ("render", "export-spec") else args[:2])
    return code, capsys.readouterr().err


def _load_error(path: Path) -> BaseException | None:
    try:
        nf.load(path)
    except Exception as err:  # the verdict, whatever it is: a raw exception is a failure of its own
        return err
    return None


def _layer_arg(key: str, value: Any, index: int = 1) -> Callable[[Any], None]:
    def edit(config: Any) -> None:
        config["config"]["layers"][index]["config"][key] = value

    return edit


def _regularizer(class_name: str) -> dict[str, Any]:
    return {"module": "keras.regularizers", "class_name": class_name, "config": {"l2": 0.01}, "registered_name": None}


REFUSED: dict[str, tuple[Callable[[Any], None], str]] = {
    "initializer_class_name_mapping": (
        lambda c: c["config"]["layers"][1]["config"]["bias_initializer"].update(class_name={}),
        "bias_initializer",
    ),
    "dtype_config_string": (
        lambda c: c["config"]["layers"][1]["config"]["dtype"].update(config="x"),
        "dtype",
    ),
    "regularizer_float64": (_layer_arg("kernel_regularizer", "float64"), "'float64', which names no Keras regularizer"),
    "activation_float64": (_layer_arg("activation", "float64"), "'float64', which names no Keras activation"),
    "initializer_float64": (_layer_arg("kernel_initializer", "float64"), "names no Keras initializer"),
    "constraint_float64": (_layer_arg("kernel_constraint", "float64"), "names no Keras constraint"),
    "dtype_unknown_name": (_layer_arg("dtype", "x"), "'x', which names no Keras dtype policy"),
    "dtype_policy_unknown_name": (
        lambda c: c["config"]["layers"][1]["config"]["dtype"]["config"].update(name="double"),
        "'double', which Keras has no policy for",
    ),
    "activation_number": (_layer_arg("activation", 3), "activation: 3"),
    "regularizer_list": (_layer_arg("kernel_regularizer", [1]), "kernel_regularizer: [1]"),
    "regularizer_unknown_class": (_layer_arg("kernel_regularizer", _regularizer("L9")), "'L9'"),
    "initializer_seed_object": (
        lambda c: c["config"]["layers"][1]["config"]["kernel_initializer"]["config"].update(
            seed={"class_name": {}, "config": {}}
        ),
        "kernel_initializer",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_malformed_layer_argument_is_refused_by_every_reader_as_by_load(
    case: str, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit, word = REFUSED[case]
    path = Path(rezip(str(saved), str(tmp_path / f"{case}.keras"), json_member("config.json", edit)))
    with pytest.raises(IncompatibleFileError):  # a name: Keras's own refusal, as custom_objects may add names
        nf.load(path)
    with pytest.raises(IncompatibleFileError) as raised:
        nf.inspect(path)
    assert word in str(raised.value) and "'d1'" in str(raised.value), raised.value
    for command in COMMANDS:
        code, err = _cli(command, path, tmp_path, capsys)
        assert code == 5 and word in err, (command, code, err)


def test_a_netform_class_path_that_is_no_list_is_refused_everywhere(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def edit(meta: Any) -> None:
        meta["keras_classes"] = [{"path": 1.5, "registered_name": "netform>Sequential"}]

    path = Path(rezip(str(saved), str(tmp_path / "path.keras"), json_member("netform.json", edit)))
    with pytest.raises(FormatError, match="config path 1.5"):
        nf.load(path)
    for command in COMMANDS:
        code, err = _cli(command, path, tmp_path, capsys)
        assert code == 5 and "config path 1.5" in err, (command, code, err)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("kernel_regularizer", "l1"),
        ("kernel_regularizer", _regularizer("L2")),
        ("activation", "swish"),
        ("kernel_constraint", "non_neg"),
        ("kernel_initializer", "he_uniform"),
        ("kernel_initializer", "uniform"),
        ("dtype", "float64"),
        ("dtype", "mixed_float16"),
    ],
)
def test_keras_names_and_objects_are_still_read_everywhere(
    key: str, value: Any, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(rezip(str(saved), str(tmp_path / "ok.keras"), json_member("config.json", _layer_arg(key, value))))
    nf.load(path)
    for command in COMMANDS:
        code, err = _cli(command, path, tmp_path, capsys)
        assert code == 0, (command, err)


def test_a_name_load_finds_in_custom_objects_still_loads(saved: Path, tmp_path: Path) -> None:
    class ZeroInit(keras.initializers.Initializer):
        def __call__(self, shape: Any, dtype: Any = None) -> Any:
            return keras.ops.zeros(shape, dtype=dtype)

    path = rezip(str(saved), str(tmp_path / "c.keras"), json_member("config.json", _layer_arg("kernel_initializer", "ZeroInit")))  # fmt: skip
    nf.load(path, custom_objects={"ZeroInit": ZeroInit})
    with pytest.raises(IncompatibleFileError, match="'ZeroInit', which names no Keras initializer"):
        nf.inspect(path)  # the readers take no custom_objects


def test_the_argument_names_are_the_installed_keras_names() -> None:
    from keras.src import activations, constraints, initializers, regularizers

    assert keras.__version__ == "3.15.1", "update _KERAS_ARGUMENT_NAMES_TEXT for this Keras"
    table = keras_argument_names()
    assert table["activation"] == frozenset(activations.ALL_OBJECTS_DICT)
    assert table["initializer"] == frozenset(initializers.ALL_OBJECTS_DICT)
    assert table["regularizer"] == frozenset(regularizers.ALL_OBJECTS_DICT)
    assert table["constraint"] == frozenset(constraints.ALL_OBJECTS_DICT)


def test_the_policy_names_are_ones_the_installed_keras_takes() -> None:
    from keras.src import dtype_policies

    for name in KERAS_POLICY_NAMES:
        if not name.startswith(("int8", "float8")):  # read as a quantized policy's name: left to Keras
            dtype_policies.get(name)
    for name in ("x", "double", "Float32", "object"):
        with pytest.raises(ValueError):
            dtype_policies.get(name)


_VALUES: list[Any] = [
    {},
    [],
    "x",
    "float64",
    1.5,
    -1,
    None,
    True,
    [None],
    {"class_name": {}, "config": {}},
    {"class_name": "Dense", "config": "x"},
]
_ARGUMENT_KEYS = ("dtype", "activation", "kernel_initializer", "bias_initializer", "kernel_regularizer")


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _places(value, (*path, index))
    return found


def _argument_place(path: tuple[Any, ...]) -> bool:
    """One of a layer's object arguments, or a field of it: every reader must give load's answer there (the
    values an object's own config holds, an initializer's seed, are left to Keras)."""
    return (
        5 <= len(path) <= 6 and path[:2] == ("config", "layers") and path[3] == "config" and path[4] in _ARGUMENT_KEYS
    )


def test_fuzzed_configs_never_stop_a_reader_and_argument_edits_agree_with_load(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with zipfile.ZipFile(saved) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    base = json.loads(entries["config.json"])
    places = _places(base)[1:]
    arguments = [p for p in places if _argument_place(p)]
    rng = random.Random(13)
    disagree = []
    for case in range(200):
        config = copy.deepcopy(base)
        path = rng.choice(arguments if case % 2 else places)  # half at the layers' object arguments
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = copy.deepcopy(rng.choice(_VALUES))
        target = tmp_path / f"c{case}.keras"
        with zipfile.ZipFile(target, "w") as out:
            for name, data in entries.items():
                out.writestr(name, json.dumps(config) if name == "config.json" else data)
        loaded = _exit(_load_error(target))
        assert loaded != 70, (path, _load_error(target))
        codes = {command: _cli(command, target, tmp_path, capsys) for command in COMMANDS}
        for command, (code, err) in codes.items():
            assert code in (0, 5, 6), (case, path, command, code, err)
        if _argument_place(path) and loaded and any(code != loaded for code, _ in codes.values()):
            disagree.append((case, path, loaded, {c: code for c, (code, _) in codes.items()}))
        target.unlink()
    assert not disagree, disagree


def test_save_writes_the_legacy_h5_weights_format_the_readme_lists(tmp_path: Path) -> None:
    # README's formats table lists legacy_h5_weights under format=; nf.save called it an unknown format
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")], name="w")
    path = tmp_path / "w.h5"
    assert check_save_path(str(path), format="legacy_h5_weights") == "legacy_h5_weights"
    assert nf.save(model, path, format="legacy_h5_weights") == "legacy_h5_weights"
    assert nf.detect_format(path) == "legacy_h5_weights"
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")], name="w")
    other.load_weights(path)  # Keras reads it without netform, as save_weights' file
    for mine, read in zip(model.get_weights(), other.get_weights()):
        assert (mine == read).all()
