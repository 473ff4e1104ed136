"""to_yaml round trips, JSON Schema, custom layers in the spec layer."""

from __future__ import annotations

import json
import textwrap

import jsonschema
import pytest
import yaml

import netform as nf
from netform.errors import RegistryError, SpecError
from tests.conftest import MODELS

SPECS = sorted(MODELS.glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_to_yaml_round_trip(path) -> None:  # type: ignore[no-untyped-def]
    spec = nf.load_spec(path)
    text = spec.to_yaml()
    again = nf.load_spec(text)
    assert again == spec
    assert again.to_yaml() == text, "to_yaml is not stable"
    assert nf.summary(again).to_dict() == nf.summary(spec).to_dict()


def test_to_yaml_omits_defaults_and_keeps_order() -> None:
    spec = nf.load_spec(textwrap.dedent("""\
        netform: 1
        kind: sequential
        inputs: {x: {shape: [4]}}
        layers:
          - {type: Dense, units: 3, use_bias: true, activation: relu}
        """))
    assert spec.to_yaml() == textwrap.dedent("""\
        netform: 1
        name: model
        kind: sequential
        inputs:
          x: {shape: [4]}
        layers:
        - {type: Dense, units: 3, activation: relu}
        """)


def test_layer_schema_dump_is_identity() -> None:
    for name, cls in nf.spec.layer_specs().items():
        required = {k for k, f in cls.model_fields.items() if f.is_required()}
        if required - {"type"}:
            continue
        inst = cls()
        assert cls.model_validate(inst.model_dump()) == inst, name


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = nf.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_repo_spec_validates_against_json_schema(validator, path) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text())
    errors = [e.message for e in validator.iter_errors(data)]
    assert errors == []


def test_misspelt_field_fails_json_schema(validator) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((MODELS / "mlp.yaml").read_text())
    good = list(validator.iter_errors(data))
    assert good == []
    data["layers"][-1]["unitz"] = data["layers"][-1].pop("units")
    assert list(validator.iter_errors(data))
    data = yaml.safe_load((MODELS / "mlp.yaml").read_text())
    data["trainingg"] = data.pop("training")
    assert list(validator.iter_errors(data))


def test_schema_has_descriptions_for_hover() -> None:
    schema = nf.json_schema()
    dense = schema["$defs"]["DenseNode"]["properties"]
    assert "Dimensionality of the output space" in dense["units"]["description"]
    assert all("description" in v or "$ref" in v or "anyOf" in v for v in dense.values())
    json.dumps(schema)


def test_register_layer_in_spec_layer() -> None:
    from pydantic import BaseModel, Field

    class GainConfig(BaseModel):
        gain: float = Field(2.0, description="Multiplier applied to the input.")

    class Gain:  # stands in for a Keras layer class: registration needs no TensorFlow
        def __init__(self, config: GainConfig, **kwargs: object) -> None:
            self.netform_config = config

        def get_config(self) -> dict[str, object]:
            return {}

    nf.register_layer(Gain, config=GainConfig, name="TestGain")
    spec = nf.load_spec(textwrap.dedent("""\
        netform: 1
        kind: sequential
        inputs: {x: {shape: [4]}}
        layers:
          - {type: TestGain, gain: 3.0}
          - {type: Dense, units: 2}
        """))
    info = nf.summary(spec)
    assert info.total_params is None
    assert "inferred at build time" in info.to_text()
    assert "TestGainNode" in nf.json_schema()["$defs"]
    with pytest.raises(SpecError, match=r"layers\[0\]\.gain: input should be a valid number"):
        nf.load_spec("netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers: [{type: TestGain, gain: abc}]\n")


def test_register_layer_errors() -> None:
    class NoConfig:
        pass

    with pytest.raises(RegistryError, match="its configuration must be a Pydantic model"):
        nf.register_layer(NoConfig)

    from pydantic import BaseModel

    class Clash(BaseModel):
        name: str = "x"

    with pytest.raises(RegistryError, match="clashes with a field every layer has"):
        nf.register_layer(NoConfig, config=Clash, name="ClashLayer")


def test_unregistered_model_type() -> None:
    with pytest.raises(SpecError, match=r"model\.type: unknown model type 'ResidualMLPP' \(Did you mean 'ResidualMLP'\?\)"):
        nf.load_spec("netform: 1\nkind: subclass\ninputs: {x: {shape: [4]}}\nmodel: {type: ResidualMLPP}\n")


def test_lazy_catalog_table_is_in_sync() -> None:
    import importlib

    from netform.spec import layers

    for module, names in layers.CATALOG.items():
        mod = importlib.import_module(f"netform.spec.layers.{module}")
        defined = {obj.model_fields["type"].default for obj in vars(mod).values()
                   if isinstance(obj, type) and issubclass(obj, nf.LayerSpec) and obj.__module__ == mod.__name__
                   and isinstance(obj.model_fields["type"].default, str)}
        assert defined == set(names), f"layers.CATALOG[{module!r}] is out of date: {sorted(defined)}"
    assert len(layers.MODULE_OF) >= 60


def test_spec_reference_is_up_to_date() -> None:
    from netform.spec._reference import reference_markdown
    from tests.conftest import ROOT

    current = (ROOT / "docs" / "spec-reference.md").read_text()
    assert current == reference_markdown(), (
        "docs/spec-reference.md is out of date: run `python -m netform.spec._reference > docs/spec-reference.md`"
    )


def test_misspelt_field_inside_a_block_fails_json_schema(validator) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((MODELS / "lenet_digits.yaml").read_text())
    assert list(validator.iter_errors(data)) == []
    data["blocks"]["conv"]["layers"][0]["kernal_size"] = 3
    assert list(validator.iter_errors(data)), "a typo inside a block must be flagged"
    data["blocks"]["conv"]["layers"][0].pop("kernal_size")
    data["blocks"]["conv"]["layers"][0]["padding"] = "$pad"  # a parameter is fine anywhere
    assert list(validator.iter_errors(data)) == []
