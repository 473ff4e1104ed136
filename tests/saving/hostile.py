"""Builds hostile model files for the security tests.

Every function writes one crafted file and returns its path. Code-carrying
files would create ``marker`` if anything in them ran; the tests check that
the marker never appears. Run directly to write the whole set into a folder:
``python -m tests.saving.hostile OUT_DIR``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable


def _keras():
    import keras

    return keras


def _plain_model() -> Any:
    keras = _keras()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="relu")], name="victim")
    model.compile(optimizer="adam", loss="mse")
    return model


def _lambda_model(marker: Path) -> Any:
    keras = _keras()
    fn = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")  # noqa: S307
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(fn), keras.layers.Dense(2)])
    return model


def lambda_keras(out: Path, marker: Path) -> Path:
    """A .keras whose Lambda layer holds bytecode that touches ``marker``."""
    path = out / "lambda.keras"
    _keras().saving.save_model(_lambda_model(marker), path)
    marker.unlink(missing_ok=True)  # building the model ran the lambda once
    return path


def lambda_h5(out: Path, marker: Path) -> Path:
    """A legacy .h5 whose Lambda layer holds bytecode that touches ``marker``."""
    import warnings

    path = out / "lambda.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _keras().saving.save_model(_lambda_model(marker), path)
    marker.unlink(missing_ok=True)
    return path


def _rewrite_config(src: Path, dst: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            zout.writestr(info, data)
    return dst


def _base_keras(out: Path) -> Path:
    path = out / "base.keras"
    if not path.exists():
        _keras().saving.save_model(_plain_model(), path)
    return path


def _dense(config: dict[str, Any]) -> dict[str, Any]:
    return config["config"]["layers"][-1]


def import_layer(out: Path, marker: Path) -> Path:
    """A layer whose class is ``os.system``."""
    def edit(c: dict[str, Any]) -> None:
        c["config"]["layers"][-1] = {"module": "os", "class_name": "system",
                                     "config": f"touch {marker}", "registered_name": None}
    return _rewrite_config(_base_keras(out), out / "os_system_layer.keras", edit)


def eval_activation(out: Path, marker: Path) -> Path:
    """An activation that is ``builtins.eval``."""
    def edit(c: dict[str, Any]) -> None:
        _dense(c)["config"]["activation"] = {
            "module": "builtins", "class_name": "function", "registered_name": "function",
            "config": f"__import__('pathlib').Path({str(marker)!r}).touch()"}
    return _rewrite_config(_base_keras(out), out / "eval_activation.keras", edit)


def popen_initializer(out: Path, marker: Path) -> Path:
    """A kernel initializer that is ``subprocess.Popen``."""
    def edit(c: dict[str, Any]) -> None:
        _dense(c)["config"]["kernel_initializer"] = {
            "module": "subprocess", "class_name": "Popen", "registered_name": None,
            "config": {"args": ["touch", str(marker)]}}
    return _rewrite_config(_base_keras(out), out / "popen_initializer.keras", edit)


def system_activation_h5(out: Path, marker: Path) -> Path:
    """A full-model .h5 whose configs name ``os.system`` as an activation."""
    import h5py

    import netform.saving as nfs

    path = out / "os_system.h5"
    nfs.save(_plain_model(), str(path))
    hostile = {"module": "os", "class_name": "system", "config": f"touch {marker}",
               "registered_name": None}
    with h5py.File(path, "a") as f:
        for key in ("model_config", "netform_model_config"):
            config = json.loads(f.attrs[key])
            _dense(config)["config"]["activation"] = hostile
            f.attrs[key] = json.dumps(config)
    return path


def _base_h5(out: Path, name: str) -> Path:
    import netform.saving as nfs

    path = out / name
    nfs.save(_plain_model(), str(path))
    return path


def h5_external_link(out: Path) -> Path:
    """An .h5 with an external link to a file outside it."""
    import h5py

    path = _base_h5(out, "external_link.h5")
    with h5py.File(path, "a") as f:
        f["model_weights/leak"] = h5py.ExternalLink("/etc/passwd", "/")
    return path


def h5_soft_link(out: Path) -> Path:
    """An .h5 with a soft link (netform and Keras never write links)."""
    import h5py

    path = _base_h5(out, "soft_link.h5")
    with h5py.File(path, "a") as f:
        f["model_weights/dense/alias"] = h5py.SoftLink("/../../etc/passwd")
    return path


def h5_shape_bomb(out: Path) -> Path:
    """An .h5 holding a dataset that declares 4 TB but stores nothing."""
    import h5py

    path = _base_h5(out, "shape_bomb.h5")
    with h5py.File(path, "a") as f:
        f["model_weights"].create_dataset("bomb", shape=(10**6, 10**6), dtype="float32", chunks=(1, 1024))
    return path


def zip_traversal(out: Path, name: str) -> Path:
    """A .keras with an entry named ``name`` (``../x`` or ``/abs/x``)."""
    dst = out / ("abs_entry.keras" if name.startswith("/") else "dotdot_entry.keras")
    shutil.copy(_base_keras(out), dst)
    with zipfile.ZipFile(dst, "a") as zf:
        zf.writestr(zipfile.ZipInfo(name), b"pwned")
    return dst


def zip_bomb(out: Path) -> Path:
    """A .keras with an entry that inflates 64 MiB of zeros from ~64 KB."""
    dst = out / "bomb.keras"
    shutil.copy(_base_keras(out), dst)
    with zipfile.ZipFile(dst, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("assets/bomb.bin", b"\0" * (64 * 2**20))
    return dst


def build_all(out: Path, marker: Path) -> dict[str, Path]:
    """Write every hostile file into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    return {
        "lambda_keras": lambda_keras(out, marker),
        "lambda_h5": lambda_h5(out, marker),
        "os_system_layer": import_layer(out, marker),
        "eval_activation": eval_activation(out, marker),
        "popen_initializer": popen_initializer(out, marker),
        "os_system_h5": system_activation_h5(out, marker),
        "h5_external_link": h5_external_link(out),
        "h5_soft_link": h5_soft_link(out),
        "h5_shape_bomb": h5_shape_bomb(out),
        "zip_dotdot": zip_traversal(out, "../../evil.txt"),
        "zip_absolute": zip_traversal(out, "/tmp/evil.txt"),
        "zip_bomb": zip_bomb(out),
    }


if __name__ == "__main__":  # pragma: no cover
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile_files")
    for key, value in build_all(target, target / "MARKER").items():
        print(f"{key}: {value}")
    os.sys.exit(0)
