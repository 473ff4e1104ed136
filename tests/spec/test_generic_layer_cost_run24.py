"""A generic KerasLayer's schema form is made once per layer, not once for its shape and again for its count.

A 1 MB spec of 8,800 generic ``Conv2D`` layers took 3.0-3.8 s of CPU to validate, over the 2 s promise:
each layer made its schema form twice. Made once, the same spec takes 1.6 s (load 1.9).
"""

from __future__ import annotations

import pytest

import netform.spec.layers.generic as generic
from netform.spec import load_spec


def test_the_schema_form_is_made_once_per_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 60
    lines = ["netform: 1", "kind: sequential", "inputs:", "  x: {shape: [16, 16, 3]}", "layers:"]
    lines += [
        f"  - {{type: KerasLayer, class_name: Conv2D, config: {{filters: {i + 1}, kernel_size: 3, padding: same}}}}"
        for i in range(n)
    ]
    calls: list[str] = []
    real = generic.KerasLayer._make_schema_form
    monkeypatch.setattr(
        generic.KerasLayer, "_make_schema_form", lambda self: calls.append(self.class_name) or real(self)
    )
    model = load_spec("\n".join(lines) + "\n", source="s.yaml")
    assert 0 < len(calls) <= n
    layer = model.layers[-1].layer
    assert layer.schema_form() is layer.schema_form()
