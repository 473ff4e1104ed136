"""Specs shared by the render tests, written inline as YAML."""

from __future__ import annotations

SEQUENTIAL = """
netform: 1
name: seq
kind: sequential
inputs:
  pixels: {shape: [64]}
layers:
  - {type: Dense, units: 32, activation: relu, name: hidden}
  - {type: Dropout, rate: 0.1}
  - {type: Dense, units: 10, activation: softmax, name: probs}
"""

MULTI_IO = """
netform: 1
name: multi_io
kind: functional
inputs:
  text: {shape: [100], dtype: int32}
  image: {shape: [32, 32, 3]}
nodes:
  emb: {type: Embedding, input_dim: 1000, output_dim: 16, in: text}
  pool_t: {type: GlobalAveragePooling1D, in: emb}
  conv: {type: Conv2D, filters: 8, kernel_size: 3, in: image}
  pool_i: {type: GlobalAveragePooling2D, in: conv}
  merged: {type: Concatenate, in: [pool_t, pool_i]}
  cat: {type: Dense, units: 5, activation: softmax, in: merged}
  prio: {type: Dense, units: 1, activation: sigmoid, in: merged}
outputs: [cat, prio]
"""

NESTED_TWICE = """
netform: 1
name: nested_twice
kind: functional
inputs:
  image: {shape: [16, 16, 3]}
blocks:
  conv_bn:
    params: {filters: null}
    nested: true
    layers:
      - {type: Conv2D, filters: $filters, kernel_size: 3, padding: same}
      - {type: BatchNormalization}
nodes:
  c1: {block: conv_bn, filters: 8, repeat: 2, in: image}
  c2: {block: conv_bn, filters: 4, in: c1}
  pool: {type: GlobalAveragePooling2D, in: c2}
  head: {type: Dense, units: 3, in: pool}
outputs: [head]
"""

SHARED = """
netform: 1
name: shared
kind: functional
inputs:
  left: {shape: [8]}
  right: {shape: [8]}
nodes:
  enc: {type: Dense, units: 4, activation: relu, in: left}
  enc_r: {shares: enc, in: right}
  diff: {type: Subtract, in: [enc, enc_r]}
  score: {type: Dense, units: 1, activation: sigmoid, in: diff}
outputs: [score]
"""

FLAT_BLOCKS = """
netform: 1
name: flat_blocks
kind: sequential
inputs:
  x: {shape: [12]}
blocks:
  hidden:
    params: {units: 8}
    layers:
      - {type: Dense, units: $units, activation: relu}
      - {type: Dropout, rate: 0.1}
layers:
  - {block: hidden, units: 16}
  - {block: hidden, units: 8}
  - {type: Dense, units: 2}
"""

ALL = {"sequential": SEQUENTIAL, "multi_io": MULTI_IO, "nested_twice": NESTED_TWICE, "shared": SHARED,
       "flat_blocks": FLAT_BLOCKS}
