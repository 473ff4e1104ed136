"""Building a spec leaves it as it was, so a second build and a subclassed model's saved spec still work.

Keras's ``from_config`` takes nested layers out of the config it is given (``RNN`` pops ``cell``,
``StackedRNNCells`` ``cells``, a wrapper ``layer``), and the build handed it the spec's own nested mappings:
after one ``nf.build`` the spec's YAML had lost them, a second build failed ("the config lacks the key
'cells'"), and ``netform train --api subclass`` saved a model whose carried spec no load could build (the
trained weights were lost).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netform as nf

STACKED = (
    "{type: KerasLayer, class_name: RNN, config: {cell: {module: keras.layers, class_name: StackedRNNCells, "
    "config: {cells: [{module: keras.layers, class_name: GRUCell, config: {units: 4}}, {module: keras.layers, "
    "class_name: LSTMCell, config: {units: 5}}]}}}}"
)
WRAPPED = (
    "{type: TimeDistributed, layer: {type: KerasLayer, class_name: RNN, config: {cell: {module: keras.layers, "
    "class_name: SimpleRNNCell, config: {units: 3}}}}}"
)


@pytest.mark.parametrize(("layer", "shape"), [(STACKED, "[5, 3]"), (WRAPPED, "[2, 5, 3]")])
@pytest.mark.parametrize("api", ["sequential", "functional", "subclass"])
def test_a_build_leaves_the_spec_whole(layer: str, shape: str, api: str, tmp_path: Path) -> None:
    spec = nf.load_spec(
        f"netform: 1\nkind: sequential\ninputs: {{x: {{shape: {shape}}}}}\nlayers:\n  - {layer}\n"
        "  - {type: Dense, units: 1}\n"
    )
    before = spec.to_yaml()
    first = nf.build(spec, api=api)
    assert spec.to_yaml() == before
    assert nf.build(spec, api=api).count_params() == first.count_params()
    path = tmp_path / "m.keras"
    nf.save(first, path)
    assert nf.load(path).count_params() == first.count_params()
