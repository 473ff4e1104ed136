"""What netform reads from a model file without Keras agrees with loading it (run 11).

* A config naming a function Keras cannot resolve to one of its built-ins (``{"class_name": "function",
  "config": "eval"}``, with or without ``module: builtins``, a ``netform>`` name netform never registers, a
  ``Custom>`` or module-less class Keras does not have, a module attribute such as ``__class__``) is refused by
  ``inspect``, ``summary``, ``export-spec`` and ``render`` with the message ``nf.load`` gives (exit 6), and
  without importing Keras or TensorFlow: Keras's built-in names are known from tables checked against the
  installed Keras here.
* A Dense layer whose ``units`` or input size builds another kernel than the file stores is refused statically
  wherever it is: in a Sequential or Functional model nested in the model, at any depth, or wrapped in a
  ``TimeDistributed`` (``nf.load`` refuses each; ``inspect`` exits 5).
* A SavedModel carrying netform's ``assets.extra`` is held to the graph's operation allow-list on every path
  that reads it in safe mode (``load``, ``load_weights``, ``inspect``, the config readers), and on none with
  ``safe_mode=False``, as ``nf.load`` does.
* ``inspect`` of another tool's SavedModel reads ``variables/variables.index`` with netform's own reader first,
  as loading does: a malformed index or a truncated data shard is a FormatError naming the file (exit 5).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import keras
import pytest

import netform as nf
import netform.saving as nfs
from netform.cli._main import main
from netform.errors import FormatError, UnsafeFileError
from netform.saving import _safety
from netform.saving._static_reader import read_config, read_model

from ._helpers import json_member, rezip

tf = pytest.importorskip("tensorflow")

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["inspect", "summary", "export-spec", "render"]
L = keras.layers

_PROBE = """
import contextlib, io, json, sys
from netform.cli._main import main
out = []
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    out.append([code, err.getvalue()])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print(json.dumps({"runs": out, "modules": loaded}))
"""


def _probe(runs: list[list[str]]) -> dict[str, Any]:
    """Run ``netform`` once per argument list in one fresh process: exit codes, stderr, and what it imported."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("NETFORM_INSPECT_WITH_KERAS", None)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(runs)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _args(command: str, path: Path, tmp_path: Path) -> list[str]:
    return [command, str(path), "-o", str(tmp_path / "out.dot")] if command == "render" else [command, str(path)]


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().err


def _set(*keys: Any, value: Any) -> Callable[[Any], None]:
    def change(node: Any) -> None:
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("run11")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, L.Dense(2, name="d2")(L.Dense(3, name="d1")(x)), name="fm")
    nf.save(model, d / "m.keras")
    return d / "m.keras"


# --- 1. a function Keras does not have, refused without importing Keras -----------------------------------------

FUNCTIONS: dict[str, tuple[str, Any]] = {
    "builtins_eval": (
        "activation",
        {"module": "builtins", "class_name": "function", "config": "eval", "registered_name": "function"},
    ),
    "no_module_eval": ("activation", {"class_name": "function", "config": "eval"}),
    "netform_name": (
        "activation",
        {"module": "builtins", "class_name": "function", "config": "netform>eval", "registered_name": "function"},
    ),
    "dunder_name": (
        "activation",
        {"module": "builtins", "class_name": "function", "config": "__class__", "registered_name": "function"},
    ),
    "custom_class": ("kernel_initializer", {"class_name": "Custom>eval", "config": {}}),
    "null_module_class": ("kernel_initializer", {"module": None, "class_name": "eval", "config": {}}),
}


@pytest.mark.parametrize("case", sorted(FUNCTIONS))
def test_a_function_keras_does_not_have_is_refused_without_importing_keras(
    plain: Path, case: str, tmp_path: Path
) -> None:
    """Was: ``inspect`` imported Keras (and TensorFlow) to look the name up; a module-less one was even passed."""
    key, value = FUNCTIONS[case]
    path = Path(
        rezip(
            str(plain),
            str(tmp_path / f"{case}.keras"),
            json_member("config.json", _set("config", "layers", 1, "config", key, value=value)),
        )
    )
    with pytest.raises(UnsafeFileError) as info:
        nf.load(path)
    said = str(info.value).split("; refused in safe mode")[0]
    found = _probe([_args(command, path, tmp_path) for command in COMMANDS])
    for command, (code, err) in zip(COMMANDS, found["runs"]):
        assert code == 6, (command, err)
        assert said in err, (command, said, err)
    assert found["modules"] == [], found["modules"]


def test_a_keras_function_by_name_is_accepted_without_importing_keras() -> None:
    """Keras's own functions, written as Keras writes a function, pass the check without Keras."""
    code = (
        "import sys\n"
        "from netform.saving._safety import check_config\n"
        "for name in ('relu', 'mean_squared_error', 'glorot_uniform'):\n"
        "    check_config({'module': 'builtins', 'class_name': 'function', 'config': name,"
        " 'registered_name': 'function'}, where='f')\n"
        "check_config({'module': None, 'class_name': 'Dense', 'registered_name': None}, where='f')\n"
        "check_config({'class_name': 'Custom>Adam', 'config': {}, 'module': None}, where='f')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_name_tables_are_the_installed_keras() -> None:
    """The tables the keras-free check reads list exactly what the check asks Keras when it is imported."""
    if keras.__version__ != _safety._KERAS_NAMES_VERSION:
        pytest.skip(f"tables list Keras {_safety._KERAS_NAMES_VERSION}; Keras {keras.__version__} is installed")
    functions = {
        name
        for space in _safety._FUNCTION_NAMESPACES
        for name in dir(getattr(keras, space))
        if not name.startswith("_") and callable(getattr(getattr(keras, space), name, None))
    }
    namespaces = [keras.layers, keras.models, keras.optimizers, keras.losses, keras.metrics, keras.initializers,
                  keras.regularizers, keras.constraints, keras.activations, keras.optimizers.schedules,
                  keras.dtype_policies, keras]  # fmt: skip
    classes = {
        name
        for space in namespaces
        for name in dir(space)
        if not name.startswith("_") and isinstance(getattr(space, name, None), type)
    }
    assert set(_safety._KERAS_FUNCTION_NAMES) == functions
    assert set(_safety._KERAS_CLASS_NAMES) == classes
    for name in sorted(classes)[:: max(len(classes) // 40, 1)]:
        assert _safety._keras_builtin(name), name


def test_netforms_registered_names_are_known_without_keras() -> None:
    from keras.saving import get_custom_objects

    from netform.saving._meta import register_netform_classes

    register_netform_classes()
    registered = [name for name in get_custom_objects() if name.startswith("netform>")]
    assert registered
    for name in registered:
        assert _safety._netform_registered(name), name
    assert not _safety._netform_registered("netform>eval")


# --- 2. the Dense shape check reaches nested models and wrapped layers ------------------------------------------


def _nested_sequential() -> Any:
    inner = keras.Sequential([keras.Input((6,)), L.Dense(4, name="in_a"), L.Dense(5, name="in_b")], name="inner")
    deeper = keras.Sequential([keras.Input((5,)), keras.Sequential([keras.Input((5,)), L.Dense(3, name="deep")],
                                                                   name="deepest")], name="deeper")  # fmt: skip
    return keras.Sequential([keras.Input((6,)), inner, deeper, L.Dense(2, name="top")], name="outer")


def _nested_functional() -> Any:
    fin = keras.Input((6,), name="fi")
    block = keras.Model(fin, L.Dense(3, name="f_d")(fin), name="block")
    x = keras.Input((6,), name="x")
    return keras.Model(x, L.Dense(2, name="head")(block(x)), name="outer_f")


def _time_distributed() -> Any:
    return keras.Sequential(
        [keras.Input((7, 6)), L.TimeDistributed(L.Dense(2, name="td_d"), name="td"), L.Flatten()], name="seq_td"
    )


def _in_layers(*names: str) -> Callable[[Any], Any]:
    """The config of the layer reached by following ``names`` through nested models' ``layers``."""

    def find(model: Any) -> Any:
        for name in names:
            model = next(layer for layer in model["config"]["layers"] if layer["config"]["name"] == name)
        return model

    return find


NESTED: dict[str, tuple[Callable[[], Any], Callable[[Any], Any], str]] = {
    "sequential_in_sequential": (_nested_sequential, _in_layers("inner", "in_b"), "in_b"),
    "three_deep": (_nested_sequential, _in_layers("deeper", "deepest", "deep"), "deep"),
    "functional_in_functional": (_nested_functional, _in_layers("block", "f_d"), "f_d"),
    "time_distributed": (_time_distributed, lambda c: _in_layers("td")(c)["config"]["layer"], "td_d"),
}


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("nested")
    out = {}
    for make in {make for make, _, _ in NESTED.values()}:
        model = make()
        out[model.name] = d / f"{model.name}.keras"
        nf.save(model, out[model.name])
    return out


@pytest.mark.parametrize("case", sorted(NESTED))
def test_a_nested_or_wrapped_dense_of_other_units_is_refused_statically(
    nested: dict[str, Path], case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: only the model's own Dense layers were checked; ``inspect`` described the edited file."""
    make, find, name = NESTED[case]
    source = nested[make().name]

    def edit(config: Any) -> None:
        find(config)["config"]["units"] = 9

    path = Path(rezip(str(source), str(tmp_path / f"{case}.keras"), json_member("config.json", edit)))
    with pytest.raises(FormatError):
        nf.load(path)
    with pytest.raises(FormatError, match=rf"layer '{name}' \(Dense, units 9, input size \d+\) builds a kernel"):
        read_model(str(path), "keras")
    with pytest.raises(FormatError, match=rf"layer '{name}' \(Dense, units 9"):
        read_config(str(path), "keras")
    code, err = _cli(["inspect", str(path)], capsys)
    assert code == 5, err
    assert f"layer '{name}' (Dense, units 9" in err, err


def test_nested_and_wrapped_dense_layers_as_saved_still_inspect(nested: dict[str, Path]) -> None:
    for path in nested.values():
        assert read_config(str(path), "keras") is not None
        info = nfs.inspect(path)
        assert info["parameters"] == nf.load(path).count_params()


@pytest.mark.parametrize("mode", ["int4", "int8"])
def test_a_quantized_dense_is_not_held_to_the_float_kernel_shape(tmp_path: Path, mode: str) -> None:
    """Was: an int4 model's packed kernel was refused as an edited config; the quantized kernels counted as
    trainable (Keras does not train them)."""
    model = keras.Sequential([keras.Input((8,)), L.Dense(4, name="q")], name="quant")
    model.quantize(mode)
    path = tmp_path / "q.keras"
    model.save(path)
    assert read_config(str(path), "keras") is not None
    info = nfs.inspect(path)
    assert info == nfs.inspect(path, with_keras=True)
    assert info["trainable_parameters"] == 4  # the bias


# --- 3. netform's assets.extra: checked in safe mode on every path, on none without ------------------------------


@pytest.fixture(scope="module")
def hybrid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A SavedModel whose graph reads a file, with a netform SavedModel's ``assets.extra`` copied in."""
    d = tmp_path_factory.mktemp("hybrid")
    model = nf.build(nf.load_spec(str(ROOT / "models" / "mlp.yaml")))
    nf.save(model, d / "netform_sm", format="savedmodel")
    secret = d / "secret.txt"
    secret.write_text("secret")
    module = tf.Module()
    module.f = tf.function(
        lambda x: {"o": x, "s": tf.io.read_file(str(secret))}, input_signature=[tf.TensorSpec([None], tf.float32)]
    )
    tf.saved_model.save(module, str(d / "hybrid"), signatures={"serving_default": module.f})
    shutil.copytree(d / "netform_sm" / "assets.extra", d / "hybrid" / "assets.extra")
    return d / "hybrid", model


def test_netforms_marker_is_op_checked_on_every_safe_mode_path(
    hybrid: tuple[Path, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, model = hybrid
    for read in (
        lambda: nf.load(path),
        lambda: nf.load_weights(model, path),
        lambda: nfs.inspect(path),
        lambda: read_model(str(path), "savedmodel"),
        lambda: read_config(str(path), "savedmodel"),
    ):
        with pytest.raises(UnsafeFileError, match="ReadFile"):
            read()
    for command in COMMANDS:
        code, err = _cli(_args(command, path, tmp_path), capsys)
        assert code == 6, (command, err)
        assert "ReadFile" in err, (command, err)


def test_safe_mode_false_reads_netforms_copy_as_loading_does(hybrid: tuple[Path, Any]) -> None:
    """Was: ``inspect`` and the config readers refused it even with ``safe_mode=False``, which loads it."""
    path, model = hybrid
    assert nf.load(path, safe_mode=False).count_params() == model.count_params()
    assert nfs.inspect(path, safe_mode=False)["parameters"] == model.count_params()
    assert read_config(str(path), "savedmodel", safe_mode=False) is not None
    assert read_model(str(path), "savedmodel", safe_mode=False) is not None


def test_the_graph_check_of_a_netform_savedmodel_is_cheap(hybrid: tuple[Path, Any]) -> None:
    """The allow-list check (netform's own reader, CPU time) is a small part of reading the model it guards."""
    from netform.saving._savedmodel import check_graph

    source = hybrid[0].parent / "netform_sm"
    check_graph(str(source), "netform", tensorflow=False)
    took = []
    for _ in range(3):
        start = time.process_time()
        check_graph(str(source), "netform", tensorflow=False)
        took.append(time.process_time() - start)
    assert min(took) < 0.5, took


# --- 4. inspect of another tool's SavedModel reads its variables' index first --------------------------------------


def _foreign(folder: Path) -> Path:
    class Affine(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(tf.ones([3, 4]))
            self.b = tf.Variable(tf.ones([4]))

        @tf.function(input_signature=[tf.TensorSpec([None, 3])])
        def serve(self, x: Any) -> dict[str, Any]:
            return {"y": tf.matmul(x, self.w) + self.b}

    module = Affine()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


def _garbled_index(folder: Path) -> None:
    from .test_checkpoint_run10 import _flip_length, read_table, write_table

    index = folder / "variables" / "variables.index"
    key = b"b/.ATTRIBUTES/VARIABLE_VALUE"
    entries = read_table(index.read_bytes())
    index.write_bytes(write_table([(k, _flip_length(v) if k == key else v) for k, v in entries]))


def _truncated_data(folder: Path) -> None:
    data = folder / "variables" / "variables.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:8])


@pytest.mark.parametrize("damage", [_garbled_index, _truncated_data], ids=["garbled_index", "truncated_data"])
def test_inspect_of_a_foreign_savedmodel_checks_its_variables_index(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    """Was: ``inspect`` described the graph and never read the variables; loading refuses the index."""
    path = _foreign(tmp_path / "sm")
    damage(path)
    index = str(path / "variables" / "variables.index")
    with pytest.raises(FormatError, match="variables.index"):
        nfs.inspect(path)
    found = _probe([["inspect", str(path)], ["inspect", "--format", "json", str(path)]])
    for code, err in found["runs"]:
        assert code == 5, err
        assert index in err, err
    assert found["modules"] == [], found["modules"]


def test_a_foreign_savedmodel_as_saved_still_inspects_without_tensorflow(tmp_path: Path) -> None:
    path = _foreign(tmp_path / "sm")
    assert nfs.inspect(path)["parameters"] == 16
    found = _probe([["inspect", str(path)]])
    assert found["runs"][0][0] == 0, found["runs"][0][1]
    assert found["modules"] == [], found["modules"]
