"""``KEY=VALUE`` overrides take a place as netform's messages write it: ``layers[0].scale`` as ``layers.0.scale``.

``netform train mlp.yaml … 'layers[0].scale=1'`` said "'layers[0]' is not in the spec", naming the file
``<string>``, though ``layers.0.scale`` worked and netform's own errors spell places ``layers[0].scale``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netform as nf
from netform.cli._train_cmds import apply_overrides

SPEC = str(Path(__file__).resolve().parents[2] / "models" / "mlp.yaml")


@pytest.mark.parametrize("key", ["layers[0].scale", "layers.0.scale"])
def test_both_spellings_of_a_list_index_override(key: str) -> None:
    spec = apply_overrides(SPEC, [f"{key}=0.5"])
    assert spec.to_dict()["layers"][0]["scale"] == 0.5


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("layers[9].scale=1", "'layers[9]' is not in the spec"),
        ("layers..scale=1", "is no path in a spec"),
        ("layers[x].scale=1", "is no path in a spec"),
    ],
)
def test_a_wrong_place_is_named_with_the_file(item: str, message: str) -> None:
    with pytest.raises(nf.SpecError, match="mlp.yaml") as caught:
        apply_overrides(SPEC, [item])
    assert message in str(caught.value)


@pytest.mark.parametrize("item", ["layers.0.scale=", "training= ", "training.epochs=\t"])
def test_an_empty_value_is_named_as_such(item: str) -> None:
    """``layers.0.scale=`` was answered "the document is empty; a spec starts with `netform: 1`"."""
    with pytest.raises(nf.SpecError, match="mlp.yaml") as caught:
        apply_overrides(SPEC, [item])
    message = str(caught.value)
    assert "the value after '=' is empty" in message and "=null for none" in message
    assert "netform: 1" not in message
