"""Attention scores, made inside the layer at every call, are held to the per-sample tensor limit.

No output shows them: a ``MultiHeadAttention`` of 1,000 heads (key_dim 1) over 2,000 steps makes 4 x 10**9 scores a
sample with a few thousand weights, and an ``AdditiveAttention`` sums every query step with every key step feature
by feature (3,000 x 3,000 x 512 values a sample).
"""

from __future__ import annotations

import pytest

import netform as nf

FUNCTIONAL = """\
netform: 1
kind: functional
inputs:
  q: {shape: [T, F]}
nodes:
  a: {LAYER, in: [q, q]}
outputs: [a]
"""


def _spec(steps: int, features: int, layer: str) -> str:
    return FUNCTIONAL.replace("T", str(steps)).replace("F", str(features)).replace("LAYER", layer)


@pytest.mark.parametrize(
    ("steps", "features", "layer", "message"),
    [
        (2000, 8, "type: MultiHeadAttention, num_heads: 1000, key_dim: 1",
         r"MultiHeadAttention's attention scores hold 4,000,000,000 values a sample \(1,000 x 2,000 x 2,000\)"),
        (2000, 8, "type: GroupQueryAttention, num_query_heads: 1000, num_key_value_heads: 1, head_dim: 1",
         r"GroupQueryAttention's attention scores hold 4,000,000,000 values a sample"),
        (3000, 512, "type: AdditiveAttention",
         r"AdditiveAttention's attention scores hold 4,608,000,000 values a sample \(3,000 x 3,000 x 512\)"),
        (3000, 512, "type: Attention, score_mode: concat", r"Attention's attention scores hold 4,608,000,000"),
    ],
)
def test_scores_past_the_tensor_limit_are_refused(steps: int, features: int, layer: str, message: str) -> None:
    with pytest.raises(nf.SpecError, match=message):
        nf.load_spec(_spec(steps, features, layer))


@pytest.mark.parametrize(
    "layer",
    ["type: MultiHeadAttention, num_heads: 8, key_dim: 64", "type: Attention", "type: AdditiveAttention",
     "type: GroupQueryAttention, num_query_heads: 8, num_key_value_heads: 2, head_dim: 64"],
)
def test_ordinary_attention_passes(layer: str) -> None:
    nf.load_spec(_spec(512, 64, layer))
    nf.load_spec(_spec(3000, 512, "type: Attention"))  # dot scores: 3,000 x 3,000
