"""Seeds take 64 bits, as in Keras; every other integer setting stays 32-bit.

``GRU(3, seed=2**40, dropout=0.2)`` builds and trains in Keras (TensorFlow draws with 64-bit seeds), but
validate refused ``seed: 1099511627776`` with the 2**31 - 1 bound of sizes. Seeds now go up to 2**63 - 1,
where Keras stops (2**63 fails to become a tensor).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from netform.errors import SpecError
from netform.spec import load_spec


def _spec(seed: int) -> str:
    return textwrap.dedent(
        f"""\
        netform: 1
        kind: sequential
        inputs:
          x: {{shape: [5, 4]}}
        layers:
          - {{type: GRU, units: 3, seed: {seed}, dropout: 0.2, return_sequences: true}}
          - {{type: KerasLayer, class_name: GRU, config: {{units: 3, seed: {seed}, dropout: 0.2}}}}
          - {{type: Dense, units: 2, kernel_initializer: {{type: GlorotUniform, seed: {seed}}}}}
        """
    )


@pytest.mark.parametrize("seed", [2**40, 2**63 - 1, -(2**40)])
def test_a_64_bit_seed_validates_and_builds(seed: int) -> None:
    import netform as nf

    model = nf.build(load_spec(_spec(seed), source="s.yaml"))
    out = model(np.ones((2, 5, 4), "float32"), training=True)
    assert tuple(out.shape) == (2, 2)


def test_a_seed_past_64_bits_is_refused_with_its_bound() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(_spec(2**63), source="s.yaml")
    assert "9,223,372,036,854,775,807" in str(info.value)
    assert "2,147,483,647" not in str(info.value)


def test_other_settings_keep_the_32_bit_bound() -> None:
    text = _spec(1).replace("units: 2,", f"units: {2**40},")
    with pytest.raises(SpecError, match="2,147,483,647"):
        load_spec(text, source="s.yaml")


@pytest.mark.parametrize("seed", [-(2**63), -(2**63) - 1])
def test_the_smallest_64_bit_seed_is_taken_and_one_below_refused(seed: int) -> None:
    text = _spec(seed)
    if seed >= -(2**63):
        load_spec(text, source="s.yaml")
        return
    with pytest.raises(SpecError) as info:
        load_spec(text, source="s.yaml")
    assert "too small" in str(info.value) and "larger" not in str(info.value)
