"""Benchmark: netform.from_keras() of a keras.applications model vs keras.models.clone_model of it.

Both read every layer's config and re-create the graph: ``clone_model`` as
Keras layers, ``from_keras`` as a validated spec. EfficientNetB0 (about 240
layers with ``keras.ops`` calls) and ResNet50 (about 175 layers), made with
``weights=None`` at a 96×96 input. Each figure is the median of --repeats
runs; the runs interleave (netform, Keras, in turn, the order rotating each
round), so a load spike on a shared machine hits both sides alike. The goal
is netform ≤ 1.5× ``clone_model``.

    python bench/bench_from_keras.py [--quick] [--repeats N] [--json PATH] [--profile]
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
SIZE = 96
MODELS = ("EfficientNetB0", "ResNet50")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (3 instead of 7), same models")
    parser.add_argument("--repeats", type=int, default=None, help="runs per figure (median taken); default 7")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of netform's from_keras")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)

    import keras

    import netform as nf

    rows = []
    for name in MODELS:
        model = getattr(keras.applications, name)(weights=None, input_shape=(SIZE, SIZE, 3))
        n_layers = len(model.layers)
        spec = nf.from_keras(model)  # warm both paths once (imports, registries)
        assert nf.summary(spec).total_params == model.count_params()
        keras.models.clone_model(model)
        t_nf, t_keras = median_times_interleaved(
            [lambda m=model: nf.from_keras(m), lambda m=model: keras.models.clone_model(m)], repeats
        )
        rows.append(
            {
                "figure": f"{name} ({n_layers} layers, {SIZE}×{SIZE}, weights=None): from_keras vs "
                f"keras.models.clone_model ({repeats} interleaved runs)",
                "layers": n_layers,
                "netform_s": round(t_nf, 4),
                "keras_s": round(t_keras, 4),
                "ratio": round(t_nf / t_keras, 3),
                "goal": GOAL,
                "ok": t_nf / t_keras <= GOAL,
                "repeats": repeats,
            }
        )
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            nf.from_keras(model)
            prof.disable()
            print(f"\n## profile: {name}")
            pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
        keras.backend.clear_session()

    print(f"\nfrom_keras() vs keras.models.clone_model, median of {repeats} interleaved runs\n")
    print("| figure | netform | keras | ratio | goal ≤1.5× |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['figure']} | {r['netform_s'] * 1000:.0f} ms | {r['keras_s'] * 1000:.0f} ms | "
            f"{r['ratio']:.2f}× | {'yes' if r['ok'] else 'NO'} |"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
