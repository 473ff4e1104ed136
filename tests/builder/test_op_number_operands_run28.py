"""Every two-operand op a spec may give a number operand builds with one, as validate accepts it.

``{op: heaviside, in: [x, 0.5]}`` passed validate and the build failed: Keras's ``heaviside`` and ``hypot``
read each operand's ``dtype`` and fail on a Python number (the other ops take one).
"""

from __future__ import annotations

import numpy as np
import pytest

import netform as nf

BINARY = sorted(
    {"add", "subtract", "multiply", "maximum", "minimum", "power", "floor_divide", "heaviside", "hypot", "arctan2"}
    | {"greater", "greater_equal", "less", "less_equal", "divide", "divide_no_nan", "true_divide", "mod", "equal"}
)


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("first", [True, False])
def test_a_number_operand_builds_and_computes_as_numpy_does(op: str, first: bool) -> None:
    operands = "[x, 0.5]" if first else "[0.5, x]"
    spec = nf.load_spec(
        f"netform: 1\nkind: functional\ninputs: {{x: {{shape: [4]}}}}\nnodes:\n  o: {{op: {op}, in: {operands}}}\n"
        "outputs: [o]\n"
    )
    model = nf.build(spec)
    x = np.array([[-1.0, 0.0, 0.5, 2.0]], "float32")
    out = np.asarray(model(x))
    assert out.shape == (1, 4)
    if op in ("heaviside", "hypot"):
        numpy_op = getattr(np, op)
        expected = numpy_op(x, np.float32(0.5)) if first else numpy_op(np.float32(0.5), x)
        np.testing.assert_allclose(out, expected, rtol=1e-6)
