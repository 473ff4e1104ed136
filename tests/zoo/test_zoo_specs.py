"""The model zoo (``models/*.yaml``) and its data, checked in the spec layer only (no TensorFlow).

For every spec: it loads, its static summary has parameter totals, ``to_yaml``
round-trips, it validates against the JSON Schema, and a misspelt field makes
both the JSON Schema and ``load_spec`` reject it. Building and training the
zoo is tested in ``tests/builder``.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml

import netform as nf
from netform.spec._custom import model_classes

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
DIGITS = ROOT / "data" / "digits.npz"
SPEC_FILES = sorted(MODELS.glob("*.yaml"))
META_KEYS = {"type", "name", "in", "block", "shares", "repeat", "nested"}
# The architectures the zoo promises, by file stem (more are welcome).
REQUIRED = {
    "mlp", "lenet_digits", "resnet_small", "unet_small", "transformer_text", "mobilenet_small", "bilstm_text",
    "conv_autoencoder", "wide_deep", "ticket_router", "siamese", "residual_mlp",
}

by_stem = pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)


def _raw(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@functools.cache
def _model_class_registered(type_name: str) -> bool:
    """Whether a ``kind: subclass`` model type is registered (netform.builder registers the built-in ones)."""
    if type_name not in model_classes():
        try:
            import netform.builder  # noqa: F401  (registers the built-in model classes; imports TensorFlow)
        except ImportError:
            pass
    return type_name in model_classes()


def load(path: Path) -> nf.ModelSpec:
    """Load a zoo spec; a subclass spec whose model class is not registered yet is skipped."""
    data = _raw(path)
    if data.get("kind") == "subclass":
        type_name = (data.get("model") or {}).get("type", "")
        if not _model_class_registered(type_name):
            pytest.skip(f"{path.name}: model class '{type_name}' is not registered (yet)")
    return nf.load_spec(path)


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    # (that the schema itself is valid draft 2020-12 is tested in tests/spec/test_roundtrip.py)
    return jsonschema.Draft202012Validator(nf.json_schema())


def _schema_errors(data: Any) -> list[str]:
    return [e.message for e in _validator().iter_errors(data)]


def _misspell(field: str) -> str:
    """A plausible typo: swap the 2nd and 3rd letters (filters -> fliters), or double the last one."""
    if len(field) >= 4 and field[1] != field[2]:
        return field[0] + field[2] + field[1] + field[3:]
    return field + field[-1]


def _layer_dicts(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The layer mappings written at the top level (nodes or layers, and layers wrapped inside them)."""
    items = list((data.get("nodes") or {}).values()) + list(data.get("layers") or [])
    out: list[dict[str, Any]] = []
    while items:
        item = items.pop(0)
        if isinstance(item, dict) and "type" in item:
            out.append(item)
            items.extend(v for v in item.values() if isinstance(v, dict))  # e.g. Bidirectional's `layer`
    return out


# -- the zoo as a whole ------------------------------------------------------------------------


def test_zoo_has_the_promised_architectures() -> None:
    stems = {p.stem for p in SPEC_FILES}
    assert len(SPEC_FILES) >= 12
    assert REQUIRED <= stems, f"missing from models/: {sorted(REQUIRED - stems)}"


@by_stem
def test_file_name_is_model_name_and_it_has_training(path: Path) -> None:
    data = _raw(path)
    assert data["name"] == path.stem
    assert data.get("description"), "every zoo spec says what it is"
    training = data.get("training") or {}
    assert training.get("loss") and training.get("optimizer") and training.get("epochs"), path.name


# -- every spec, in the spec layer -------------------------------------------------------------


@by_stem
def test_spec_loads(path: Path) -> None:
    spec = load(path)
    assert spec.name == path.stem
    assert spec.training is not None and spec.training.loss is not None


@by_stem
def test_static_summary_has_parameter_totals(path: Path) -> None:
    spec = load(path)
    if spec.kind == "subclass":
        pytest.skip("a subclassed model's parameters are only known once it is built")
    info = nf.summary(spec)
    assert info.complete
    assert info.total_params is not None and 0 < info.total_params < 500_000, info.total_params
    assert info.total_params == info.trainable_params + info.non_trainable_params


@by_stem
def test_per_output_training_settings_name_real_outputs(path: Path) -> None:
    spec = load(path)
    training = spec.training
    assert training is not None
    outputs = set(spec.outputs or ())
    for section in (training.loss, training.metrics, training.loss_weights):
        if isinstance(section, dict):
            assert set(section) <= outputs, f"{sorted(section)} vs outputs {sorted(outputs)}"
    if isinstance(training.loss, dict):
        assert set(training.loss) == outputs, "a multi-output spec needs a loss for every output"


@by_stem
def test_to_yaml_round_trips(path: Path) -> None:
    spec = load(path)
    text = spec.to_yaml()
    again = nf.load_spec(text)
    assert again == spec
    assert again.to_yaml() == text


@by_stem
def test_validates_against_json_schema(path: Path) -> None:
    assert _schema_errors(_raw(path)) == []


@by_stem
def test_misspelt_layer_field_is_rejected(path: Path) -> None:
    data = _raw(path)
    mutated = copy.deepcopy(data)
    candidates = [d for d in _layer_dicts(mutated) if set(d) - META_KEYS]
    if not candidates:
        pytest.skip("no layer with fields at the top level (all layers are inside blocks)")
    layer = candidates[-1]
    field = sorted(set(layer) - META_KEYS)[0]
    typo = _misspell(field)
    assert typo not in nf.spec.get_layer_spec(layer["type"]).model_fields
    layer[typo] = layer.pop(field)
    assert _schema_errors(mutated), f"JSON Schema accepted {layer['type']}.{typo}"
    with pytest.raises(nf.SpecError, match=f"unknown field '{typo}'"):
        nf.load_spec(yaml.safe_dump(mutated, sort_keys=False))


@by_stem
def test_misspelt_field_in_a_block_is_rejected(path: Path) -> None:
    # Block bodies hold `$param` placeholders, so the JSON Schema leaves them open;
    # load_spec checks them at each use of the block.
    mutated = copy.deepcopy(_raw(path))
    bodies = [b.get("layers") or list((b.get("nodes") or {}).values()) for b in (mutated.get("blocks") or {}).values()]
    candidates = [d for body in bodies for d in body if "type" in d and set(d) - META_KEYS]
    if not candidates:
        pytest.skip("no blocks with layers")
    layer = candidates[0]
    field = sorted(set(layer) - META_KEYS)[0]
    typo = _misspell(field)
    layer[typo] = layer.pop(field)
    with pytest.raises(nf.SpecError, match=f"unknown field '{typo}'"):
        nf.load_spec(yaml.safe_dump(mutated, sort_keys=False))


@by_stem
def test_misspelt_training_field_is_rejected(path: Path) -> None:
    mutated = copy.deepcopy(_raw(path))
    mutated["training"]["batch_szie"] = mutated["training"].pop("batch_size", 32)
    assert _schema_errors(mutated)
    with pytest.raises(nf.SpecError, match="batch_szie"):
        nf.load_spec(yaml.safe_dump(mutated, sort_keys=False))


# -- particular promises ---------------------------------------------------------------------


def test_lenet_digits_fits_the_digits_data() -> None:
    spec = load(MODELS / "lenet_digits.yaml")
    assert spec.inputs["image"].shape == (8, 8, 1)
    info = nf.summary(spec)
    assert info.row(info.outputs[0]).output_shape == (None, 10)


def test_siamese_branches_share_weights() -> None:
    spec = load(MODELS / "siamese.yaml")
    graph = nf.spec.graph_of(spec)
    shared = [n for n in graph.nodes.values() if n.shared]
    assert shared and all(n.owner.startswith("left_emb.") for n in shared)
    # counted once: the shared encoder's weights are not added twice
    info = nf.summary(spec)
    encoder = sum(r.params or 0 for r in info.rows if r.scope and r.scope[0] == "left_emb")
    assert encoder > 0 and info.total_params < 2 * encoder


def test_ticket_router_has_two_inputs_and_two_outputs() -> None:
    spec = load(MODELS / "ticket_router.yaml")
    assert set(spec.inputs) == {"text", "image"}
    assert spec.outputs == ("category", "priority")


# -- the digits data -------------------------------------------------------------------------


def test_digits_npz() -> None:
    with np.load(DIGITS) as d:
        assert sorted(d.files) == ["x", "y"]
        x, y = d["x"], d["y"]
    assert x.dtype == np.uint8 and x.shape == (1797, 8, 8, 1)
    assert y.dtype == np.uint8 and y.shape == (1797,)
    assert x.min() == 0 and x.max() == 16
    counts = np.bincount(y, minlength=10)
    assert len(counts) == 10 and counts.min() >= 170
    assert 20_000 < DIGITS.stat().st_size < 300_000
