"""A Lambda or TFSMLayer nested in a KerasLayer wrapper's config is refused by validate, as a top-level one is.

`{type: KerasLayer, class_name: TimeDistributed, config: {layer: <a Lambda>}}` passed validate; only build
refused it (Keras's safe mode). Validate now names it, where it is written, for every wrapper and depth.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from netform.errors import SpecError
from netform.spec import load_spec

LAMBDA = {
    "module": "keras.layers",
    "class_name": "Lambda",
    "config": {"name": "lam", "function": {"class_name": "__lambda__", "config": {"code": "AAAA"}}},
    "registered_name": None,
}
TFSM = {"module": "keras.layers", "class_name": "TFSMLayer", "config": {"filepath": "/etc", "call_endpoint": "x"}}
DENSE = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}, "registered_name": None}


def _spec(class_name: str, config: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {
            "netform": 1,
            "name": "m",
            "kind": "sequential",
            "inputs": {"x": {"shape": [2, 3]}},
            "layers": [{"type": "KerasLayer", "class_name": class_name, "config": config}],
        }
    )


CASES = [
    ("TimeDistributed", {"layer": LAMBDA}, "Lambda"),
    ("TimeDistributed", {"layer": TFSM}, "TFSMLayer"),
    ("Bidirectional", {"layer": {**LAMBDA, "registered_name": "keras.layers>Lambda"}}, "Lambda"),
    ("Pipeline", {"layers": [DENSE, LAMBDA]}, "Lambda"),
    (
        "TimeDistributed",
        {"layer": {"module": "keras", "class_name": "Sequential", "config": {"layers": [DENSE, LAMBDA]}}},
        "Lambda",
    ),
    ("TimeDistributed", {"layer": {"class_name": "Dense", "registered_name": "keras.layers>TFSMLayer"}}, "TFSMLayer"),
]


@pytest.mark.parametrize("class_name,config,found", CASES)
def test_a_nested_code_layer_is_refused_where_written(class_name: str, config: dict[str, Any], found: str) -> None:
    with pytest.raises(SpecError, match=rf"layers\[0\].*config\..*a {found} layer inside {class_name}"):
        load_spec(_spec(class_name, config))


def test_a_wrapper_of_plain_layers_still_validates() -> None:
    load_spec(_spec("TimeDistributed", {"layer": DENSE}))
