"""Byte-level fuzzing of saved files: only netform's errors, or a good load.

For every format a small trained model is saved, then mutated copies (bit
flips, byte overwrites, truncations, inserted and deleted chunks; a seeded
generator, so every case is reproducible by its number) go through
``nf.detect_format``, ``nf.load`` and ``nf.load_weights``. Each call must
either succeed or raise a :class:`netform.NetformError` subclass. The loop
runs in a subprocess (``python test_file_fuzz.py FORMAT DIR``), so a segfault
or a hang is caught as a failure, with the case it happened in.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CASES_PER_FORMAT = 36
TIMEOUT_S = 120

#: format -> (file name, files of the saved path to mutate, relative to it; None: the file itself)
FORMATS: dict[str, tuple[str, tuple[str | None, ...]]] = {
    "keras": ("m.keras", (None,)),
    "h5": ("m.h5", (None,)),
    # netform's SavedModel reader restores the model from the copy it embeds
    # in assets.extra/, so those files are fuzzed too.
    "savedmodel": ("m_savedmodel", ("saved_model.pb", "variables/variables.index",
                                    "variables/variables.data-00000-of-00001",
                                    "assets.extra/netform.keras", "assets.extra/netform.json")),
    "weights_h5": ("m.weights.h5", (None,)),
    "tf_checkpoint": ("m.ckpt", (".index", ".data-00000-of-00002")),
}


# ------------------------------------------------------------------ mutations
def _flip_bits(data: bytearray, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    return "flip"


def _overwrite(data: bytearray, rng: random.Random) -> str:
    i = rng.randrange(len(data))
    n = rng.randint(1, 32)
    data[i:i + n] = bytes(rng.choice((0, 0xFF, rng.randrange(256))) for _ in range(min(n, len(data) - i)))
    return "overwrite"


def _truncate(data: bytearray, rng: random.Random) -> str:
    del data[rng.randrange(len(data)):]
    return "truncate"


def _insert(data: bytearray, rng: random.Random) -> str:
    i = rng.randrange(len(data) + 1)
    data[i:i] = rng.randbytes(rng.randint(1, 64))
    return "insert"


def _delete(data: bytearray, rng: random.Random) -> str:
    i = rng.randrange(len(data))
    del data[i:i + rng.randint(1, 64)]
    return "delete"


MUTATIONS: tuple[Callable[[bytearray, random.Random], str], ...] = (_flip_bits, _overwrite, _truncate, _insert, _delete)


def mutate(path: str, rng: random.Random) -> str:
    """Mutate the file at ``path`` in place; return what was done."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    kind = MUTATIONS[rng.randrange(len(MUTATIONS))](data, rng) if data else "empty"
    with open(path, "wb") as f:
        f.write(bytes(data))
    return kind


def _target(saved: str, member: str | None) -> str:
    if member is None:
        return saved
    if member.startswith("."):  # a checkpoint prefix's file
        return saved + member
    return os.path.join(saved, member)


def _copy(saved: str, dest: str) -> None:
    if os.path.isdir(saved):
        shutil.copytree(saved, dest)
    elif FORMATS_BY_NAME.get(os.path.basename(saved)) == "tf_checkpoint":
        for name in os.listdir(os.path.dirname(saved)):
            if name.startswith(os.path.basename(saved) + "."):
                shutil.copy(os.path.join(os.path.dirname(saved), name), dest + name[len(os.path.basename(saved)):])
    else:
        shutil.copy(saved, dest)


FORMATS_BY_NAME = {name: fmt for fmt, (name, _) in FORMATS.items()}


# --------------------------------------------------------------- the worker
def _model() -> Any:
    import keras

    import netform as nf

    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = nf.Model(inputs, keras.layers.Dense(3, name="out")(hidden), name="fuzzed")
    model.compile(optimizer="adam", loss="mse")
    return model


def worker(fmt: str, directory: str, cases: list[int]) -> None:
    """Fuzz one format; print one JSON line per call (``START`` before each case)."""
    import numpy as np

    import netform as nf

    model = _model()
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    model.fit(x, x[:, :3], epochs=1, batch_size=8, verbose=0)
    name, members = FORMATS[fmt]
    saved = os.path.join(directory, name)
    nf.save(model, saved)
    blank = _model()
    # Control: the unmutated file loads, so failures below are the mutations' doing.
    nf.load_weights(blank, saved)
    assert nf.detect_format(saved) == fmt
    if fmt not in ("weights_h5", "tf_checkpoint"):
        nf.load(saved)
    for case in cases:
        rng = random.Random(f"{fmt}-{case}")
        path = os.path.join(directory, f"c{case}_{name}")
        _copy(saved, path)
        member = members[case % len(members)]
        kind = mutate(_target(path, member), rng)
        print(json.dumps({"start": case}), flush=True)
        calls = {
            "detect_format": lambda: nf.detect_format(path),
            "load": lambda: nf.load(path),
            "load_weights": lambda: nf.load_weights(blank, path),
        }
        for op, call in calls.items():
            try:
                call()
                outcome = "ok"
            except nf.NetformError as err:
                outcome = f"netform:{type(err).__name__}"
            except Exception as err:  # noqa: BLE001 - the leak being looked for
                outcome = f"LEAK:{type(err).__module__}.{type(err).__name__}: {str(err)[:300]}"
            print(json.dumps({"case": case, "member": member, "mutation": kind, "op": op, "outcome": outcome}),
                  flush=True)
        if os.path.isdir(path):
            shutil.rmtree(path)
    print(json.dumps({"done": True}), flush=True)


# ---------------------------------------------------------------- the tests
def run_worker(fmt: str, directory: Path, cases: list[int]) -> list[dict[str, Any]]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run(
            [sys.executable, __file__, fmt, str(directory), ",".join(map(str, cases))],
            capture_output=True, text=True, timeout=TIMEOUT_S, env=env, cwd=ROOT,
        )
        stdout, stderr, rc = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as err:
        stdout = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        last = [line for line in stdout.splitlines() if line.startswith("{")][-1:]
        pytest.fail(f"{fmt}: the fuzz loop hung (> {TIMEOUT_S}s); last record: {last}")
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    started = [r["start"] for r in records if "start" in r]
    assert rc == 0, (
        f"{fmt}: the fuzz process died (rc={rc}) in case {started[-1] if started else None}:\n{stderr[-3000:]}"
    )
    assert records and records[-1] == {"done": True}
    return [r for r in records if "op" in r]


#: Cases that once leaked a non-netform exception, kept as regression cases:
#: each must now end in a netform error (or a successful load).
#: Cases past CASES_PER_FORMAT were found by longer runs of the same generator.
_H5_ATTRS = (
    "h5py raises RuntimeError ({}) reading the root attributes; it escapes detect_format, load and "
    "load_weights because netform/saving/_detect.py::_hdf5_kind catches only OSError"
)
KNOWN_LEAKS: dict[tuple[str, int], str] = {
    ("h5", 15): _H5_ATTRS.format("bad version number for datatype message"),
    ("h5", 79): _H5_ATTRS.format("integer offset out of bounds"),
    ("h5", 208): _H5_ATTRS.format("bad version number for attribute message"),
    ("h5", 271): _H5_ATTRS.format("integer offset+precision out of bounds"),
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_mutated_files_raise_only_netform_errors(tmp_path, fmt):
    results = run_worker(fmt, tmp_path, list(range(CASES_PER_FORMAT)))
    assert len({r["case"] for r in results}) == CASES_PER_FORMAT
    leaks = [r for r in results if r["outcome"].startswith("LEAK")]
    assert not leaks, "\n".join(json.dumps(r) for r in leaks)
    # The fuzzing must reach the readers, not only the format sniffing.
    assert any(r["op"] == "load_weights" and r["outcome"].startswith("netform:") for r in results)


@pytest.fixture(scope="module")
def known_leak_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The known-leak cases, all formats' in one subprocess each."""
    results = []
    for fmt in sorted({f for f, _ in KNOWN_LEAKS}):
        cases = sorted(c for f, c in KNOWN_LEAKS if f == fmt)
        results += [{**r, "fmt": fmt} for r in run_worker(fmt, tmp_path_factory.mktemp(fmt), cases)]
    return results


@pytest.mark.parametrize(
    ("fmt", "case"),
    [pytest.param(f, c, id=f"{f}-{c}") for (f, c) in KNOWN_LEAKS],
)
def test_former_leak_now_gives_a_netform_error(known_leak_results, fmt, case):
    results = [r for r in known_leak_results if r["fmt"] == fmt]
    assert {r["case"] for r in results} >= {case}
    leaks = [r for r in results if r["case"] == case and r["outcome"].startswith("LEAK")]
    assert not leaks, "\n".join(json.dumps(r) for r in leaks)


if __name__ == "__main__":
    worker(sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3].split(",")])
