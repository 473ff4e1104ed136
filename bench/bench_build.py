"""Benchmark: netform.build() of a deep spec vs keras.models.model_from_json of the same architecture.

The spec is generated here: a CNN whose conv → batch-norm → ReLU block is
repeated to give 150+ layers (plus a residual variant built functionally).
Each figure is the median of --repeats runs; the goal is netform ≤ 1.5× Keras.
Like is compared with like: the Keras figure is ``model_from_json`` of a plain
``keras.Sequential`` of the same layers for a Sequential build, of a plain
``keras.Model`` (Functional) for a functional one. The runs interleave (netform
from a spec, netform from YAML text, Keras, in turn, the order rotating each
round), so a load spike on a shared machine hits every side alike.

    python bench/bench_build.py [--quick] [--repeats N] [--json PATH] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import median_times_interleaved  # noqa: E402

GOAL = 1.5


def deep_cnn_yaml(repeat: int) -> str:
    """A sequential CNN: 3 layers per block × ``repeat`` + head."""
    return f"""\
netform: 1
name: deep_cnn
kind: sequential
inputs:
  image: {{shape: [16, 16, 3]}}
blocks:
  conv_bn_relu:
    params: {{filters: 8}}
    layers:
      - {{type: Conv2D, filters: $filters, kernel_size: 3, padding: same, use_bias: false}}
      - {{type: BatchNormalization}}
      - {{type: ReLU}}
layers:
  - {{block: conv_bn_relu, filters: 8, repeat: {repeat}}}
  - {{type: GlobalAveragePooling2D}}
  - {{type: Dense, units: 10, activation: softmax}}
"""


def deep_resnet_yaml(repeat: int) -> str:
    """A functional residual MLP: 5 layers per block × ``repeat`` + stem and head."""
    return f"""\
netform: 1
name: deep_resnet
kind: functional
inputs:
  x: {{shape: [32]}}
blocks:
  residual:
    params: {{units: 32}}
    inputs: [x]
    nodes:
      d1:   {{type: Dense, units: $units, activation: relu, in: x}}
      d2:   {{type: Dense, units: $units, in: d1}}
      add:  {{type: Add, in: [x, d2]}}
      norm: {{type: LayerNormalization, in: add}}
      act:  {{type: Activation, activation: relu, in: norm}}
    outputs: [act]
nodes:
  stem:   {{type: Dense, units: 32, in: x}}
  blocks: {{block: residual, repeat: {repeat}, in: stem}}
  head:   {{type: Dense, units: 10, activation: softmax, in: blocks}}
outputs: [head]
"""


def keras_twin_json(model, api: str) -> str:
    """The JSON of a plain Keras model of ``model``'s layers, of the same kind (Sequential or Functional)."""
    import keras

    if api == "sequential":
        twin = keras.Sequential([keras.Input(model.input_shape[1:]), *model.layers], name="reference")
    else:
        twin = keras.Model(model.inputs, model.outputs, name="reference")
    text = twin.to_json()
    assert '"module": "netform' not in text
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (3 instead of 7), same model sizes")
    parser.add_argument("--repeats", type=int, default=None, help="runs per figure (median taken); default 7")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of netform's build")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    if not args.quick:
        repeats = max(repeats, 5)

    import keras

    import netform as nf

    cases = [
        ("deep CNN, sequential", deep_cnn_yaml(52), "sequential"),
        ("deep CNN, functional", deep_cnn_yaml(52), "functional"),
        ("deep residual MLP, functional", deep_resnet_yaml(32), "functional"),
    ]
    rows = []
    for figure, text, api in cases:
        spec = nf.load_spec(text)
        n_layers = len(nf.spec.graph_of(spec).nodes)
        assert n_layers >= 150, n_layers
        reference = nf.build(spec, api=api)
        # the Keras side: a plain Keras model of the same kind and layers, from its JSON
        model_json = keras_twin_json(reference, api)
        kind = type(keras.models.model_from_json(model_json)).__name__
        assert kind == ("Sequential" if api == "sequential" else "Functional"), kind
        params = reference.count_params()
        # warm every path once (imports, registries)
        nf.build(nf.load_spec(text), api=api)
        keras.models.model_from_json(model_json)
        keras.backend.clear_session()
        t_nf, t_nf_text, t_keras = median_times_interleaved(
            [lambda: nf.build(spec, api=api), lambda: nf.build(nf.load_spec(text), api=api),
             lambda: keras.models.model_from_json(model_json)], repeats, keras.backend.clear_session)
        for label, t in ((f"{figure}: build(spec)", t_nf), (f"{figure}: build(load_spec(yaml))", t_nf_text)):
            rows.append({"figure": label, "layers": n_layers, "params": params, "api": api, "keras_kind": kind,
                         "netform_s": round(t, 4), "keras_s": round(t_keras, 4),
                         "ratio": round(t / t_keras, 3), "goal": GOAL, "ok": t / t_keras <= GOAL,
                         "repeats": repeats})
        if args.profile:
            keras.backend.clear_session()
            prof = cProfile.Profile()
            prof.enable()
            nf.build(spec, api=api)
            prof.disable()
            print(f"\n## profile: {figure}")
            pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(25)

    print(f"\nbuild() vs keras.models.model_from_json of the same kind, median of {repeats} interleaved runs\n")
    print("| figure | layers | netform | keras (kind) | ratio | goal ≤1.5× |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['figure']} | {r['layers']} | {r['netform_s'] * 1000:.0f} ms | "
              f"{r['keras_s'] * 1000:.0f} ms ({r['keras_kind']}) | "
              f"{r['ratio']:.2f}× | {'yes' if r['ok'] else 'NO'} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
