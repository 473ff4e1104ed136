"""A LoRA rank edited into a small file is counted before Keras builds it.

A 13 KB ``.keras`` of ``Dense(2, lora_rank=2)`` whose ``lora_rank`` was edited to 100,000,000 made ``nf.load``
and ``inspect`` allocate 5.5 GB (600,000,010 values) before anything was compared: the size check counted only
``units`` for a layer it has no static rule for, and ``lora_rank`` is a size too (Dense, EinsumDense, Embedding
and the convolutions make weights of ``rank`` columns).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

import netform as nf
from netform.cli import main
from netform.errors import FormatError


def test_an_edited_lora_rank_is_refused_and_the_saved_one_loads(tmp_path: Path) -> None:
    import keras

    inputs = keras.Input((4,))
    small = tmp_path / "lora.keras"
    keras.Model(inputs, keras.layers.Dense(2, lora_rank=2)(inputs)).save(small)
    with zipfile.ZipFile(small) as z:
        config = json.loads(z.read("config.json"))
        members = {n: z.read(n) for n in z.namelist()}
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Dense":
            layer["config"]["lora_rank"] = layer["config"]["lora_alpha"] = 100_000_000
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w") as z:
        for name, data in members.items():
            z.writestr(name, json.dumps(config) if name == "config.json" else data)
    with pytest.raises(FormatError, match=r"declares 600,000,010 weight values"):  # rank x (4 + 2) and the rest
        nf.load(bomb)
    assert main(["inspect", str(bomb)]) == 5
    assert nf.load(small).count_params() > 0
