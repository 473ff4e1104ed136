"""Sizes edited into a small model file that Keras allocates before a weight is read are counted first.

- A Keras ``Dense`` with LoRA writes ``lora_alpha`` beside ``lora_rank``; netform's schema of ``Dense`` lacked
  ``lora_alpha``, so the layer was counted by its largest size argument alone: a 35 KB file whose rank was
  edited to 100,000 loaded 826,140,673 values (7.3 GB, 10 s).
- A float8 layer's ``amax_history_length`` (its dtype's config) was not counted: edited to 200,000,000 in a
  10 KB file, each describing command allocated 7 GB before Keras's assign failed.
- Metrics in the compile configuration are not weights (Keras saves no metric state): a ``MeanIoU`` edited to
  30,000 classes made ``nf.load`` allocate a 30,000 x 30,000 confusion matrix (7.8 GB), ``evaluate`` ran 30 s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import pytest

import netform as nf
from netform.cli import main
from netform.errors import FormatError

from ._helpers import json_member, rezip


def _edited(source: Path, target: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    return Path(rezip(str(source), str(target), json_member("config.json", edit)))


def _dense_configs(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [layer["config"] for layer in config["config"]["layers"] if layer["class_name"] == "Dense"]


def test_a_lora_rank_edited_beside_its_alpha_is_counted(tmp_path: Path) -> None:
    inputs = keras.Input((64,))
    hidden = keras.layers.Dense(512, lora_rank=4, lora_alpha=8)(inputs)
    small = tmp_path / "lora.keras"
    keras.Model(inputs, keras.layers.Dense(1)(hidden)).save(small)
    assert nf.load(small).count_params() == keras.saving.load_model(small).count_params()

    def edit(config: dict[str, Any]) -> None:
        _dense_configs(config)[0]["lora_rank"] = 100_000  # (lora_alpha stays beside it, as Keras writes it)

    bomb = _edited(small, tmp_path / "bomb.keras", edit)
    # 100,000 x (64 + 512) LoRA values, the frozen kernel and both layers' weights: Dense's static rule, exactly
    # (the file holds the kernel with the LoRA update merged into it)
    with pytest.raises(FormatError, match=r"declares 57,633,793 weight values, more than the 33,793 weight"):
        nf.load(bomb)
    assert main(["inspect", str(bomb)]) == 5


def test_a_lora_rank_in_a_config_the_schema_refuses_is_counted_by_its_factor() -> None:
    from netform.saving._config_bounds import _scanned_count

    # a Dense config no schema takes (an unknown key): rank x units, not the rank alone
    config = {"units": 8192, "lora_rank": 100_000, "lora_alpha": 1, "made_up": True}
    assert _scanned_count(config) == 819_200_000
    assert _scanned_count({"units": 8192}) == 8192


def test_an_amax_history_length_edited_is_counted(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32), keras.layers.Dense(4)])
    model.quantize("float8")
    small = tmp_path / "f8.keras"
    model.save(small)
    x = np.ones((2, 64), "float32")
    np.testing.assert_allclose(nf.load(small).predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)

    def edit(config: dict[str, Any]) -> None:
        for layer in _dense_configs(config):
            layer["dtype"]["config"]["amax_history_length"] = 200_000_000

    bomb = _edited(small, tmp_path / "bomb.keras", edit)
    with pytest.raises(FormatError, match=r"declares 1,200,00\d,\d{3} weight values"):
        nf.load(bomb)
    for command in (["inspect", str(bomb)], ["summary", str(bomb)]):
        assert main(command) == 5


@pytest.mark.parametrize(
    "metric, edit",
    [
        (lambda: keras.metrics.MeanIoU(num_classes=2, sparse_y_pred=False), {"num_classes": 30_000}),
        (lambda: keras.metrics.AUC(num_thresholds=200), {"num_thresholds": 5_000_000, "num_labels": 100}),
    ],
    ids=["MeanIoU", "AUC"],
)
def test_a_metric_size_edited_is_refused_before_compiling(tmp_path: Path, metric: Any, edit: dict) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[metric()])
    small = tmp_path / "m.keras"
    model.save(small)
    assert nf.load(small).compiled

    def change(config: dict[str, Any]) -> None:
        config["compile_config"]["metrics"][0]["config"].update(edit)

    bomb = _edited(small, tmp_path / "bomb.keras", change)
    with pytest.raises(FormatError, match=r"declares metrics holding [\d,]+ values, more than 2 times the 10 weight "
                                          r"values the file holds plus 16,777,216; \w+ at compile_config\.metrics\[0\] "
                                          r"alone holds"):
        nf.load(bomb)
    assert nf.load(bomb, compile=False).count_params() == 10  # (the model itself is sound)


def test_a_metric_size_edited_into_a_legacy_h5_is_refused(tmp_path: Path) -> None:
    import h5py

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[keras.metrics.MeanIoU(2, sparse_y_pred=False)])
    path = tmp_path / "m.h5"
    model.save(path)
    assert nf.load(path).compiled
    with h5py.File(path, "r+") as f:
        training = json.loads(f.attrs["training_config"])
        found = json.dumps(training).count('"num_classes": 2')
        assert found >= 1
        f.attrs["training_config"] = json.dumps(training).replace('"num_classes": 2', '"num_classes": 30000')
    with pytest.raises(FormatError, match=r"declares metrics holding 900,000,000 values.*training_config"):
        nf.load(path)
