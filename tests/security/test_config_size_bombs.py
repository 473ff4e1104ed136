"""A saved config that declares far more weights than its file holds is refused before Keras allocates them.

The attack: a 12 KB ``.keras`` whose ``config.json`` was edited to give its
one Dense ``units: 300000000``. Keras creates every variable of a config
before it matches the weights file, so loading it used 12–16 s of CPU and
5.4 GB of memory before failing. netform now counts what the config
declares against what the file's datasets hold (shapes only) and refuses it.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import netform as nf
from netform.errors import FormatError
from netform.saving._config_bounds import DECLARED_SLACK, declared_weights, stored_weights
from tests._budget import assert_cpu_under, assert_seconds_under
from tests.conftest import MODELS

ROOT = Path(__file__).resolve().parents[2]
SPEC = "netform: 1\nname: tiny\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n  - {type: Dense, units: 3}\n"
#: The attack's Dense: 300,000,000 units on 4 inputs (1,500,000,000 weight values, 6 GB of float32).
DECLARED = "1,500,000,000"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("size_bombs")
    (d / "s.yaml").write_text(SPEC)
    model = nf.build(nf.load_spec(d / "s.yaml"))
    nf.save(model, d / "m.keras")
    nf.save(model, d / "m.h5")
    with zipfile.ZipFile(d / "m.keras") as z:
        entries = {n: z.read(n) for n in z.namelist()}
    entries["config.json"] = entries["config.json"].replace(b'"units": 3', b'"units": 300000000')
    assert b"300000000" in entries["config.json"]
    with zipfile.ZipFile(d / "huge.keras", "w") as out:
        for name, data in entries.items():
            out.writestr(name, data)
    np.savez(d / "d.npz", x=np.random.default_rng(0).random((5, 4)).astype("float32"))
    return {"dir": d, "keras": d / "m.keras", "h5": d / "m.h5", "huge": d / "huge.keras", "data": d / "d.npz"}


def _huge_h5(src: Path, dst: Path, key: str) -> Path:
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as f:
        raw = f.attrs[key]
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        assert '"units": 3' in text
        f.attrs[key] = text.replace('"units": 3', '"units": 300000000')
        # An attacker drops netform's attribute checksums (files written before them still load); with them,
        # the edit is refused first as a changed attribute.
        f.attrs.pop("netform_attr_checksums", None)
    return dst


def test_attack_refused_by_load_in_well_under_a_second(files: dict[str, Path]) -> None:
    assert files["huge"].stat().st_size < 20_000
    errors: list[FormatError] = []

    def refuse() -> None:
        with pytest.raises(FormatError) as err:
            nf.load(files["huge"])
        errors.append(err.value)

    assert_cpu_under(refuse, 2.0, "nf.load refusing the 300,000,000-unit Dense")  # was 12-16 s
    message = str(errors[-1])
    assert "'dense'" in message and DECLARED in message and "15 weight values" in message


def test_honest_file_still_loads_and_predicts_as_before(files: dict[str, Path]) -> None:
    model = nf.load(files["keras"])
    x = np.ones((2, 4), "float32")
    assert model.count_params() == 15
    assert np.allclose(model.predict(x, verbose=0), nf.load(files["h5"]).predict(x, verbose=0))


def test_h5_variant_refused(files: dict[str, Path], tmp_path: Path) -> None:
    with h5py.File(files["h5"], "r") as f:
        key = "netform_model_config" if "netform_model_config" in f.attrs else "model_config"
    bomb = _huge_h5(files["h5"], tmp_path / "huge.h5", key)

    def refuse() -> None:
        with pytest.raises(FormatError, match=f"(?s)'dense'.*{DECLARED}|{DECLARED}.*'dense'"):
            nf.load(bomb)

    assert_cpu_under(refuse, 2.0, "nf.load refusing the .h5 variant")


# Runs the command and writes the process's own CPU seconds and peak RSS (KB) to the file named first. The peak is
# /proc's VmHWM, which starts afresh at exec; ru_maxrss keeps the peak of the forked test process before exec.
_MEASURED = (
    "import resource, sys\n"
    "out = sys.argv.pop(1)\n"
    "try:\n"
    "    from netform.cli._main import _entry\n"
    "    _entry()\n"
    "finally:\n"
    "    u = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    hwm = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
    "    open(out, 'w').write(f'{u.ru_utime + u.ru_stime} {hwm}')\n"
)


def _cli(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """Run the command; its own CPU seconds and peak RSS (KB), measured inside that process alone.

    (RUSAGE_CHILDREN's ru_maxrss is the largest of every child the test process ever waited for.)
    """
    measured = cwd / "usage.txt"
    done = subprocess.run([sys.executable, "-c", _MEASURED, str(measured), *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    cpu, rss = measured.read_text().split()
    measured.unlink()
    return done, float(cpu), int(rss)


@pytest.mark.parametrize("command", ["render", "export-spec"])
def test_cli_without_tensorflow_refuses_the_attack(files: dict[str, Path], command: str) -> None:
    out = "r.svg" if command == "render" else "e.yaml"
    done, cpu, _ = _cli([command, str(files["huge"]), "-o", out], files["dir"])
    assert done.returncode == 5, done.stderr[-2000:]
    assert "'dense'" in done.stderr and DECLARED in done.stderr
    assert not (files["dir"] / out).exists()
    # The whole fresh process, its imports included.
    assert_seconds_under(
        cpu, 2.0, f"netform {command} refusing the attack, in a fresh process",
        again=lambda: _cli([command, str(files["huge"]), "-o", out], files["dir"])[1],
    )


def test_cli_predict_refuses_the_attack_without_allocating_it(files: dict[str, Path]) -> None:
    done, cpu, max_rss_kb = _cli(["predict", str(files["huge"]), "--data", str(files["data"]), "--x", "x",
                                  "-o", "p.npy"], files["dir"])
    assert done.returncode == 5, done.stderr[-2000:]
    assert "'dense'" in done.stderr and DECLARED in done.stderr
    # Importing TensorFlow is most of this; the attack alone used 12-16 s and 5.4 GB.
    # TensorFlow's import alone peaks near 2 GB on a loaded machine; the attack's 5.4 GB is far above this bound.
    assert max_rss_kb < 3_000_000, max_rss_kb
    # 20 s: TensorFlow's import takes 8-9.5 s of CPU at a load average of 9 on 2 cores; the memory bound above
    # catches the attack's 5.4 GB at once.
    assert_seconds_under(
        cpu, 20.0, "netform predict refusing the attack, in a fresh process (TensorFlow's import included)",
        again=lambda: _cli(["predict", str(files["huge"]), "--data", str(files["data"]), "--x", "x", "-o", "p.npy"],
                           files["dir"])[1],
    )


def _keras_parts(path: Path) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
        weights = io.BytesIO(z.read("model.weights.h5"))
    shapes: list[tuple[str, Any]] = []
    with h5py.File(weights, "r") as f:
        f.visititems(lambda n, o: shapes.append((n, o.shape)) if isinstance(o, h5py.Dataset) else None)
    return config, shapes


def test_every_zoo_model_declares_exactly_what_it_stores(tmp_path: Path) -> None:
    """Measured: every zoo Functional/Sequential declares exactly its stored weights (= count_params)."""
    for spec_path in sorted(MODELS.glob("*.yaml")):
        model = nf.build(nf.load_spec(spec_path))
        path = tmp_path / f"{spec_path.stem}.keras"
        nf.save(model, path)
        config, shapes = _keras_parts(path)
        declared, layer, _ = declared_weights(config)
        stored = stored_weights(iter(shapes))
        assert stored == model.count_params(), spec_path.stem
        if isinstance(config["config"].get("layers"), list):
            assert declared == stored, (spec_path.stem, declared, stored, layer)
        else:  # a subclassed model: a lower bound from its arguments
            assert 0 < declared <= stored, (spec_path.stem, declared, stored)
    # Loading each zoo model (trained, in every format) runs the check: tests/zoo/test_zoo_models.py.


def test_zoo_h5_declares_exactly_what_it_stores(tmp_path: Path) -> None:
    model = nf.build(nf.load_spec(MODELS / "lenet_digits.yaml"))
    nf.save(model, tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        config = json.loads(f.attrs["netform_model_config"])
        shapes: list[tuple[str, Any]] = []
        f.visititems(lambda n, o: shapes.append((n, o.shape)) if isinstance(o, h5py.Dataset) else None)
    assert declared_weights(config)[0] == stored_weights(iter(shapes)) == model.count_params()
    nf.load(tmp_path / "m.h5")


def test_custom_layer_model_loads_and_is_bounded(tmp_path: Path) -> None:
    import keras

    @keras.saving.register_keras_serializable(package="size_bombs")
    class Scale(keras.layers.Layer):
        def __init__(self, units: int = 4, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape: Any) -> None:
            self.w = self.add_weight(shape=(self.units,), initializer="ones")

        def call(self, x: Any) -> Any:
            return x * self.w

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "units": self.units}

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2)(Scale(4, name="scale")(inp)))
    path = tmp_path / "c.keras"
    nf.save(model, path)
    config, shapes = _keras_parts(path)
    declared, _, _ = declared_weights(config)
    assert declared == stored_weights(iter(shapes)) == model.count_params() == 14
    x = np.ones((1, 4), "float32")
    assert np.allclose(nf.load(path).predict(x, verbose=0), model.predict(x, verbose=0))
    # The same custom layer declaring far more than the file holds is refused before it is built.
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    entries["config.json"] = entries["config.json"].replace(b'"units": 4', b'"units": 400000000')
    bomb = tmp_path / "cb.keras"
    with zipfile.ZipFile(bomb, "w") as out:
        for name, data in entries.items():
            out.writestr(name, data)
    with pytest.raises(FormatError, match="'scale' alone declares 400,000,000"):
        nf.load(bomb)
    assert 400_000_000 > 14 + DECLARED_SLACK
