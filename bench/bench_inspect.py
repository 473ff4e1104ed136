"""`netform inspect`, `export-spec` and `render` on a 150-layer `.keras` file, as whole processes (goal: under 0.5 s).

Each command reads the archive's config (and, for `inspect`, the shapes of
its weights) without TensorFlow; the comparison is the same command made to
load the model with Keras (``NETFORM_INSPECT_WITH_KERAS=1``,
``NETFORM_EXPORT_WITH_KERAS=1``, ``NETFORM_RENDER_WITH_KERAS=1``: what the
commands did before), timed in the same run, and a bare `python -c pass` for
the interpreter's start-up. Both paths must give the same output.

Python's bytecode cache is on (in a temporary ``PYTHONPYCACHEPREFIX``, even
where ``PYTHONDONTWRITEBYTECODE`` is set), as for an installed package: without
it every run compiles netform's modules from source (about 0.3 s of CPU).

    python bench/bench_inspect.py [--json PATH] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_S = 0.5


def make_model(path: Path, n_layers: int = 150) -> int:
    """Save a functional model of ``n_layers`` layers (Dense, BatchNormalization, Dropout, Add) to ``path``.

    Returns:
        The number of layers Keras lists for it.
    """
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    import netform as nf

    layers = keras.layers
    x = keras.Input((32,), name="x")
    h, skip, made = x, None, 1
    while made < n_layers - 1:
        h = layers.Dense(32, activation="relu")(h)
        h = layers.BatchNormalization()(h)
        h = layers.Dropout(0.1)(h)
        made += 3
        if skip is not None and made < n_layers - 1:
            h = layers.Add()([h, skip])
            made += 1
        skip = h
    out = layers.Dense(10, name="head")(h)
    model = keras.Model(x, out, name=f"deep_{n_layers}")
    model.compile(optimizer="adam", loss="mse")
    nf.save(model, path)
    return len(model.layers)


def _time(cmd: list[str], repeat: int, env: dict[str, str]) -> tuple[float, float, float]:
    """Median wall-clock, median CPU and least CPU (user + system) seconds of ``cmd`` as a whole process.

    The CPU figure is what the process itself costs; on a busy machine the
    wall-clock figure also holds the time spent waiting for a core, and even
    the CPU time of one run varies by 1.5x with what shares the cores (caches,
    hyper-threads), so the least of the runs is reported beside the median.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=ROOT)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus), min(cpus)


def _command() -> list[str]:
    """The installed ``netform`` command beside this interpreter, else the CLI's main run by ``-c``."""
    script = Path(sys.executable).with_name("netform")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from netform.cli._main import main; sys.exit(main())"]


def _output(cmd: list[str], env: dict[str, str], tmp: str) -> str:
    """What a command writes: its standard output, and for `render` the diagram file."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=ROOT).stdout
    if "render" in cmd:
        return (Path(tmp) / "deep.dot").read_text()
    if "inspect" in cmd:
        return json.dumps(json.loads(out), sort_keys=True)
    return out


def main() -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write the rows as JSON here")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeat = 3 if args.quick else 7
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    for switch in ("NETFORM_INSPECT_WITH_KERAS", "NETFORM_EXPORT_WITH_KERAS", "NETFORM_RENDER_WITH_KERAS"):
        env.pop(switch, None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")  # filled by the untimed first runs below
        path = Path(tmp) / "deep.keras"
        n = make_model(path)
        python_s, _, _ = _time([sys.executable, "-c", "pass"], repeat, env)
        commands = {
            "inspect": ([*_command(), "inspect", "--format", "json", str(path)], "NETFORM_INSPECT_WITH_KERAS"),
            "export-spec": ([*_command(), "export-spec", str(path)], "NETFORM_EXPORT_WITH_KERAS"),
            "render": ([*_command(), "render", str(path), "-o", str(Path(tmp) / "deep.dot")],
                       "NETFORM_RENDER_WITH_KERAS"),
        }
        for name, (cmd, switch) in commands.items():
            with_keras = dict(env, **{switch: "1"})
            free = _output(cmd, env, tmp)
            loaded = _output(cmd, with_keras, tmp)
            if free != loaded:
                raise SystemExit(f"{name} without TensorFlow and with Keras disagree on the benchmark model")
            load_before = os.getloadavg()[0]  # what shares the cores: the figures hold only with it
            netform_s, netform_cpu, netform_least = _time(cmd, repeat, env)
            load_after = os.getloadavg()[0]
            keras_s, keras_cpu, _ = _time(cmd, max(1, repeat // 2), with_keras)
            rows.append({
                "figure": f"`netform {name}` {n}-layer .keras, whole process, wall-clock (s); comparison: the same "
                          f"command loading the model with Keras (CPU time: {netform_cpu:.3f} s, least of "
                          f"{repeat} runs {netform_least:.3f} s, against {keras_cpu:.3f} s; python start-up "
                          f"alone: {python_s:.3f} s)",
                "netform": round(netform_s, 3), "keras": round(keras_s, 3), "ratio": round(netform_s / keras_s, 3),
                "goal": f"< {LIMIT_S} s", "met": netform_s < LIMIT_S, "netform_cpu": round(netform_cpu, 3),
                "netform_cpu_least": round(netform_least, 3), "keras_cpu": round(keras_cpu, 3),
                "load_average": [round(load_before, 1), round(load_after, 1)]})
    print("| figure | without TensorFlow | loading with Keras | ratio | goal |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['figure']} | {r['netform']} | {r['keras']} | {r['ratio']} | {r['goal']} |")
    print("load average (1 min) before and after each command's runs:", [r["load_average"] for r in rows])
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
