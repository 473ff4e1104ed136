"""Patterns a model file hands to Keras's matcher are costed before Keras matches them.

A ``DTypePolicyMap`` (its keys), a ``MultiOptimizer``'s ``OptimizerMap`` (its keys) and ``Muon``
(``exclude_layers``) hold regular expressions Keras matches with Python's backtracking ``re`` against the
model's layer and variable paths. A 13 KB ``.keras`` whose map held ``(((a+)+)+)+b`` beside a layer named
``aaaa…`` kept ``inspect``, ``summary`` and ``nf.load`` busy for as long as one waited (a 25 KB one with a
``MultiOptimizer`` the same).
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import keras
import pytest

import netform as nf
from netform.cli._main import main
from netform.spec._patterns import check_patterns

BOMB = "(((a+)+)+)+b"
NAME = "a" * 26


def _edited(src: Path, dst: Path, old: str, new: str) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                assert old.encode() in data
                data = data.replace(old.encode(), new.encode())
            zout.writestr(info, data)
    return dst


def _policy_map_file(tmp_path: Path) -> Path:
    policies = keras.dtype_policies.DTypePolicyMap(
        default_policy="float32", policy_map={"xyz": keras.dtype_policies.DTypePolicy("float32")}
    )
    inputs = keras.Input((3,))
    keras.Model(inputs, keras.layers.Dense(2, name=NAME, dtype=policies)(inputs)).save(tmp_path / "src.keras")
    return _edited(tmp_path / "src.keras", tmp_path / "bomb.keras", '"xyz"', f'"{BOMB}"')


def _optimizer_file(tmp_path: Path, kind: str) -> Path:
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name=NAME)(inputs))
    if kind == "MultiOptimizer":
        mapping = keras.optimizers.OptimizerMap(keras.optimizers.Adam(), {"zzz": keras.optimizers.SGD()})
        optimizer: keras.optimizers.Optimizer = keras.optimizers.MultiOptimizer(mapping)
    else:
        optimizer = keras.optimizers.Muon(exclude_layers=["zzz"])
    model.compile(optimizer=optimizer, loss="mse")
    model.save(tmp_path / "src.keras")
    return _edited(tmp_path / "src.keras", tmp_path / "bomb.keras", '"zzz"', f'"{BOMB}"')


@pytest.mark.parametrize("kind", ["DTypePolicyMap", "MultiOptimizer", "Muon"])
def test_a_backtracking_pattern_in_a_model_file_is_refused_at_once(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _policy_map_file(tmp_path) if kind == "DTypePolicyMap" else _optimizer_file(tmp_path, kind)
    start = time.process_time()
    with pytest.raises(nf.UnsafeFileError, match=r"holds the pattern '\(\(\(a\+\)\+\)\+\)\+b'"):
        nf.load(path)
    for command in ("inspect", "summary"):
        assert main([command, str(path)]) == 6  # an unsafe file
        assert "nested repeats" in capsys.readouterr().err
    assert time.process_time() - start < 20  # each refusal is a walk of the config: well under a second


def test_the_patterns_people_write_load(tmp_path: Path) -> None:
    policies = keras.dtype_policies.DTypePolicyMap(
        default_policy="float32", policy_map={".*dense.*": keras.dtype_policies.DTypePolicy("float32")}
    )
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, name="my_dense", dtype=policies)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="encoder_out")(hidden))
    mapping = keras.optimizers.OptimizerMap(keras.optimizers.Adam(), {"encoder.*": keras.optimizers.SGD()})
    model.compile(optimizer=keras.optimizers.MultiOptimizer(mapping), loss="mse")
    model.save(tmp_path / "ok.keras")
    assert nf.load(tmp_path / "ok.keras").count_params() == model.count_params()


def _map_config(pattern: object, name: str) -> dict[str, object]:
    return {
        "class_name": "Functional",
        "config": {
            "name": "m",
            "layers": [
                {
                    "class_name": "Dense",
                    "config": {
                        "name": name,
                        "dtype": {"class_name": "DTypePolicyMap", "config": {"policy_map": {pattern: "float32"}}},
                    },
                }
            ],
        },
    }


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [
        ("functional/dense_3", False),
        ("encoder/.*", False),
        (".*attention.*", False),
        ("layer_[0-9]{1,3}/kernel", False),
        # each try starts with a character nothing else in it matches: the text fixes the tries (linear)
        ("[a-z_]+(/[a-z_]+)*", False),
        ("(ab|cd)+", False),
        ("(/[^/]+)*", False),
        (r"(/[a-z]+\.[a-z]+)*", False),
        # ... but not how each try matches, or where one starts
        ("(a|a)*b", True),
        ("(/a*a*)*b", True),
        ("(/[a-z/]+)*b", True),
        ("(?i)(k\u212a*)*b", True),  # the Kelvin sign matches k when case is ignored: 2**n ways
        ("(a+)+b", True),
        ("(a|aa)*c", True),
        (r"(a)\1", True),
        ("x" * 1001, True),
        ("[unclosed", True),
        (7, True),
    ],
)
def test_patterns_are_costed(pattern: object, refused: bool) -> None:
    config = _map_config(pattern, "a" * 40)
    if refused:
        with pytest.raises(nf.UnsafeFileError, match="DTypePolicyMap in the config holds"):
            check_patterns(config, "m.keras")
    else:
        check_patterns(config, "m.keras")


def test_a_long_string_passed_to_an_op_is_refused(tmp_path: Path) -> None:
    # Keras parses a rearrange pattern with backtracking regular expressions (quadratic): a 210 KB .keras whose
    # pattern held 100,000 spaces and "(" took nf.load 62 s of CPU
    inputs = keras.Input(batch_shape=(2, 4, 6))
    keras.Model(inputs, keras.ops.rearrange(inputs, "b h w -> b w h")).save(tmp_path / "r.keras")
    assert nf.load(tmp_path / "r.keras").output_shape == (2, 6, 4)
    pattern = '"b h w -> b w h"'
    bomb = _edited(tmp_path / "r.keras", tmp_path / "bomb.keras", pattern, pattern[:-1] + " " * 3000 + '("')
    start = time.process_time()
    with pytest.raises(nf.UnsafeFileError, match="op node \\(Rearrange\\).* 3,015 characters"):
        nf.load(bomb)
    assert time.process_time() - start < 5


@pytest.mark.parametrize(
    ("layers", "keys"),
    [
        (30, [".*attention.*"]),
        (5, ["[a-z]+_[0-9]+/.*"]),
        (80, [f"dense_{i}" for i in range(80)]),
        (40, ["encoder/.*", ".*_norm", "head"]),
    ],
)
def test_a_policy_map_many_layers_share_is_costed_once(layers: int, keys: list[str]) -> None:
    # Keras serializes the map into every layer sharing it: each pattern was counted once a layer (and the
    # map's own policies as paths), so 30 layers with `.*attention.*` or 80 literal keys were refused as hostile
    policies = keras.dtype_policies.DTypePolicyMap(
        default_policy="float32", policy_map={key: keras.dtype_policies.DTypePolicy("float32") for key in keys}
    )
    inputs = keras.Input((4,))
    hidden = inputs
    for i in range(layers):
        hidden = keras.layers.Dense(4, name=f"dense_{i}", dtype=policies)(hidden)
    check_patterns(keras.Model(inputs, hidden).get_config(), "m.keras")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [("(a+)+b", "itself repeats or alternates"), ("a*a*a*a*a*b", "repeats one after another")],
)
def test_the_refusal_names_the_kind_of_cost(pattern: str, reason: str) -> None:
    config = _map_config(pattern, "a" * 1000)
    with pytest.raises(nf.UnsafeFileError, match=reason):
        check_patterns(config, "m.keras")


def test_telling_a_linear_repeat_is_bounded_itself() -> None:
    """94 branches led by 4,096-character ranges and a tail of 330 characters: telling whether the repeat is
    linear looked at every lead character against every tail character (10 minutes)."""
    ways = "|".join(f"[{chr(0x100 + i * 4096)}-{chr(0x100 + i * 4096 + 4095)}]x" for i in range(94))
    pattern = f"(?:(?:{ways})[{''.join(chr(0x70000 + j) for j in range(330))}])*"
    config = _map_config(pattern, "d")
    start = time.process_time()
    with pytest.raises(nf.UnsafeFileError):
        check_patterns(config, "m.keras")
    assert time.process_time() - start < 10


def test_alternatives_that_start_alike_are_costed_without_any_repeat() -> None:
    """``(?:ab|[ax]b)`` 28 times has no repeat, and 2**28 ways on a layer named ``abab…``: 70 s of ``nf.load``."""
    with pytest.raises(nf.UnsafeFileError, match="alternatives that start alike"):
        check_patterns(_map_config("(?:ab|[ax]b)" * 28 + "c", "ab" * 28 + "zz"), "m.keras")
    check_patterns(_map_config("(?:ab|[ax]b)" * 8 + "c", "ab" * 8 + "zz"), "m.keras")
    check_patterns(_map_config("(conv|dense)_(kernel|bias)/(a|b|c)" * 20, "dense_kernel"), "m.keras")


def test_a_spec_s_optimizer_patterns_are_costed_at_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from netform.cli._main import main

    spec = tmp_path / "muon.yaml"
    text = (
        "netform: 1\nname: m\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n"
        f"  - {{type: Dense, units: 2, name: {'ab' * 28}zz}}\n"
        "training:\n  optimizer: {type: Muon, exclude_layers: ['PATTERN']}\n  loss: mse\n"
    )
    spec.write_text(text.replace("PATTERN", "(?:ab|[ax]b)" * 28 + "c"))
    assert main(["validate", str(spec)]) == 1
    assert "alternatives that start alike" in capsys.readouterr().err
    spec.write_text(text.replace("PATTERN", "dense.*"))
    assert main(["validate", str(spec)]) == 0


def test_a_long_refused_pattern_is_quoted_closed_with_its_length() -> None:
    """The quote of a 300-character pattern was cut at 120 characters, without its closing quote."""
    pattern = "(a+)+" + "x" * 300 + "b"
    with pytest.raises(nf.UnsafeFileError) as caught:
        check_patterns(_map_config(pattern, "a" * 1000), "m.keras")
    message = str(caught.value)
    assert f"{pattern[:100]!r}… (306 characters)" in message
    assert pattern[:101] not in message
    with pytest.raises(nf.UnsafeFileError, match=r"holds \'\(a\+\)\+b\',|holds the pattern \'\(a\+\)\+b\',"):
        check_patterns(_map_config("(a+)+b", "a" * 1000), "m.keras")


@pytest.mark.parametrize(("keys", "length", "refused"), [(1_000, 1_000, True), (50_000, 8, True), (256, 200, False),
                                                         (230, 300, True)])
def test_many_patterns_are_bounded_together(tmp_path: Path, keys: int, length: int, refused: bool) -> None:
    """Keras tries every key of a DTypePolicyMap at each lookup of a layer's dtype, compiling each again once
    Python's cache of 512 patterns is full: 1,000 never-matching keys of 1,000 characters in a 37 KB file kept
    ``inspect`` busy 47 s (each pattern alone costs nothing)."""
    import json

    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(4, name="d0")(inputs)).save(tmp_path / "base.keras")
    with zipfile.ZipFile(tmp_path / "base.keras") as archive:
        config = json.loads(archive.read("config.json"))
        members = {name: archive.read(name) for name in archive.namelist()}
    policy_map = {"q" * (length - 6) + f"{i:06d}": "float32" for i in range(keys)}
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Dense":
            layer["config"]["dtype"] = {"module": "keras.dtype_policies", "class_name": "DTypePolicyMap",
                                        "registered_name": None,
                                        "config": {"default_policy": "float32", "policy_map": policy_map}}
    members["config.json"] = json.dumps(config).encode()
    path = tmp_path / "many.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    start = time.process_time()
    if refused:
        with pytest.raises(nf.UnsafeFileError, match=r"distinct patterns of [\d,]+ characters in all; netform takes "
                                                     r"at most 256 patterns of 65,536 characters"):
            nf.inspect(path)
        assert time.process_time() - start < 10
    else:
        check_patterns(config, "many.keras")
