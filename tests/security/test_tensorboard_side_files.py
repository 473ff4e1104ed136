"""TensorBoard's other side files: profiles (``profile_batch``) and embedding weights (``embeddings_freq``).

TensorFlow's profiler writes ``log_dir/train/plugins/profile/<local time>/<host>.xplane.pb`` with its own
writer: a user's file at the name of the next seconds passed ``validate`` and ``train`` and was overwritten.
Keras saves ``log_dir/train/keras_embedding.ckpt-<epoch>.weights.h5`` each ``embeddings_freq`` epochs: a user's
file there passed ``validate`` and stopped training after its first steps. Both are refused before training now.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import pytest

from netform.cli._main import main

SPEC = """\
netform: 1
name: emb
kind: sequential
inputs: {x: {shape: [5], dtype: int32}}
layers:
  - {type: Embedding, input_dim: 10, output_dim: 4}
  - {type: GlobalAveragePooling1D}
  - {type: Dense, units: 1}
training:
  loss: mse
  epochs: 2
  batch_size: 8
  callbacks:
    - {type: TensorBoard, log_dir: tb, OPTION}
"""


def _spec(tmp_path: Path, option: str) -> Path:
    spec = tmp_path / "emb.yaml"
    spec.write_text(SPEC.replace("OPTION", option))
    (tmp_path / "out").mkdir(exist_ok=True)
    return spec


def _data(tmp_path: Path) -> Path:
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 10, (32, 5)).astype("int32"), y=rng.random((32, 1)).astype("float32"))
    return path


def _profile_folder(tmp_path: Path, seconds: float) -> Path:
    name = time.strftime("%Y_%m_%d_%H_%M_%S", time.localtime(time.time() + seconds))
    folder = tmp_path / "out" / "tb" / "train" / "plugins" / "profile" / name
    folder.mkdir(parents=True)
    (folder / "host.xplane.pb").write_text("MY NOTES")
    return folder / "host.xplane.pb"


@pytest.mark.parametrize("option", ["profile_batch: 2", "profile_batch: '2,3'", "profile_batch: [2, 3]"])
def test_a_file_at_a_profile_to_come_is_refused(
    tmp_path: Path, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, option)
    planted = [_profile_folder(tmp_path, s) for s in (0, 2, 45)]
    out = ["--out-dir", str(tmp_path / "out")]
    assert main(["validate", *out, str(spec)]) == 1
    assert "named for a time to come" in capsys.readouterr().err
    assert main(["train", *out, str(spec), "--data", str(_data(tmp_path)), "--verbose", "0"]) != 0
    assert all(p.read_text() == "MY NOTES" for p in planted)


def test_past_profiles_and_no_profiling_pass(tmp_path: Path) -> None:
    _profile_folder(tmp_path, -3600)  # an earlier run's profile: a time gone by, never written again
    out = ["--out-dir", str(tmp_path / "out")]
    assert main(["validate", *out, str(_spec(tmp_path, "profile_batch: 2"))]) == 0
    _profile_folder(tmp_path, 30)
    assert main(["validate", *out, str(_spec(tmp_path, "profile_batch: 0"))]) == 0


def test_a_file_at_an_embedding_checkpoint_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, "embeddings_freq: 1")
    (tmp_path / "out" / "tb" / "train").mkdir(parents=True)
    planted = tmp_path / "out" / "tb" / "train" / "keras_embedding.ckpt-1.weights.h5"
    planted.write_text("MY NOTES")
    out = ["--out-dir", str(tmp_path / "out")]
    assert main(["validate", *out, str(spec)]) == 1
    assert "not embedding weights Keras wrote" in capsys.readouterr().err
    assert main(["train", *out, str(spec), "--data", str(_data(tmp_path)), "--verbose", "0"]) == 1
    assert planted.read_text() == "MY NOTES"
    assert not (tmp_path / "out" / "tb" / "train" / "keras_embedding.ckpt-0.weights.h5").exists()


def test_embedding_weights_keras_wrote_are_replaced(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "embeddings_freq: 1")
    out = ["--out-dir", str(tmp_path / "out")]
    data = str(_data(tmp_path))
    assert main(["train", *out, str(spec), "--data", data, "--verbose", "0"]) == 0
    written = sorted((tmp_path / "out" / "tb" / "train").glob("keras_embedding.ckpt-*.weights.h5"))
    assert written
    assert main(["train", *out, str(spec), "--data", data, "--verbose", "0"]) == 0
    model = keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(10, 4)])
    model.load_weights(written[0], skip_mismatch=True)


@pytest.mark.parametrize(
    ("value", "profiles"),
    [(0, False), ("0", False), ("00", False), ("+0", False), ("0,0", False), ([0, 0], False), (None, False)]
    + [(2, True), ("2,3", True), ([2, 3], True), ("0,5", True)],
)
def test_profile_batch_is_read_as_keras_reads_it(value: object, profiles: bool) -> None:
    from netform.spec._callback_files import _profiles

    assert _profiles(value) is profiles


def test_names_in_other_digits_are_no_profile(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "tb" / "train" / "plugins" / "profile" / "２０９９_01_01_00_00_00"
    folder.mkdir(parents=True)
    spec = _spec(tmp_path, "profile_batch: 2")
    assert main(["validate", "--out-dir", str(tmp_path / "out"), str(spec)]) == 0


def test_the_hour_that_comes_again_when_daylight_saving_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 01:45 EDT on the night daylight saving ends, a profile folder of 01:30 that day is named for a time to
    come: the clock goes back to 01:00 at 02:00 and passes 01:30 again."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        first_pass = 1_793_511_900.0  # 2026-11-01 05:45 UTC, 01:45 EDT
        assert time.strftime("%H_%M %Z", time.localtime(first_pass)) == "01_45 EDT"
        monkeypatch.setattr(time, "time", lambda: first_pass)
        folder = tmp_path / "out" / "tb" / "train" / "plugins" / "profile" / "2026_11_01_01_30_00"
        folder.mkdir(parents=True)
        spec = _spec(tmp_path, "profile_batch: 2")
        assert main(["validate", "--out-dir", str(tmp_path / "out"), str(spec)]) == 1
        assert "named for a time to come" in capsys.readouterr().err
        monkeypatch.setattr(time, "time", lambda: first_pass - 86_400 * 30)  # a month before: gone by
        folder.rename(folder.with_name("2026_10_01_01_30_00"))
        assert main(["validate", "--out-dir", str(tmp_path / "out"), str(spec)]) == 0
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("sub", ["train", "validation"])
def test_a_file_at_an_events_file_to_come_is_refused(
    tmp_path: Path, sub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """TensorFlow names an events file ``events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2`` and empties what
    is there: a user's file at the name of the next seconds was rewritten with events."""
    import os
    import socket

    spec = _spec(tmp_path, "histogram_freq: 0")
    folder = tmp_path / "out" / "tb" / sub
    folder.mkdir(parents=True)
    now = int(time.time())
    planted = [folder / f"events.out.tfevents.{t}.{socket.gethostname()}.{os.getpid()}.0.v2" for t in range(now, now + 30)]
    for path in planted:
        path.write_text("MY NOTES")
    out = ["--out-dir", str(tmp_path / "out")]
    assert main(["validate", *out, str(spec)]) == 1
    assert "named for a time to come" in capsys.readouterr().err
    assert main(["train", *out, str(spec), "--data", str(_data(tmp_path)), "--verbose", "0"]) == 1
    assert all(path.read_text() == "MY NOTES" for path in planted)
    (folder / f"events.out.tfevents.{now - 3600}.host.1.0.v2").write_text("an earlier run's events")
    for path in planted:
        path.unlink()
    assert main(["validate", *out, str(spec)]) == 0


def test_telemetry_refuses_a_file_at_its_events_file_to_come(tmp_path: Path) -> None:
    import os
    import socket

    import netform as nf

    folder = tmp_path / "tel" / "train"
    folder.mkdir(parents=True)
    now = int(time.time())
    planted = [folder / f"events.out.tfevents.{t}.{socket.gethostname()}.{os.getpid()}.0.v2" for t in range(now, now + 30)]
    for path in planted:
        path.write_text("MY NOTES")
    model = nf.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(nf.EngineError, match="named for a time to come"):
        model.fit(np.zeros((8, 3)), np.zeros((8, 1)), callbacks=[nf.Telemetry(tensorboard=tmp_path / "tel")], verbose=0)
    assert all(path.read_text() == "MY NOTES" for path in planted)


@pytest.mark.parametrize(
    "name",
    [
        "events.out.tfevents.{t}.otherhost.1.0.v2",  # another machine's: never this one's to write
        "events.out.tfevents.{t}.{host}.1.0.v3",
        "events.out.tfevents.{t}.{host}.1.0",
        "events.out.tfevents.0{t}.{host}.1.0.v2",
    ],
)
def test_names_tensorflow_never_writes_here_are_left(tmp_path: Path, name: str) -> None:
    import socket

    folder = tmp_path / "out" / "tb" / "train"
    folder.mkdir(parents=True)
    (folder / name.format(t=int(time.time()) + 5, host=socket.gethostname())).write_text("MY NOTES")
    assert main(["validate", "--out-dir", str(tmp_path / "out"), str(_spec(tmp_path, "histogram_freq: 0"))]) == 0
