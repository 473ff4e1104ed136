"""A training run to kill: ``python crash_worker.py ENGINE BACKUP_DIR OUT.npz``.

``ENGINE`` is ``netform`` (netform's fit + ``TrainingBackup``) or ``keras``
(``keras.Model.fit`` + ``keras.callbacks.BackupAndRestore``). The run trains
a tiny MLP with dropout on generated data (shuffled, small batches, a backup
every few steps) and writes its final weights to ``OUT.npz``.

The worker reports on stdout, one flushed line per event, so the test knows
where it is: ``STEP <global step>`` after each step, ``PAUSED <step>`` and
``IN_WRITE <step>`` before it sleeps (then the test kills it). Environment:

* ``NF_PAUSE_AT_STEP=k``: sleep after the k-th step of this process.
* ``NF_SLOW_WRITE_AT=k``: sleep in the middle of writing the backup taken
  after the k-th step of this process (variables written, metadata not yet).
* ``NF_CALLBACKS=<dir>``: train up to 8 epochs with stateful callbacks
  (``ReduceLROnPlateau``, ``EarlyStopping``, ``ModelCheckpoint`` writing
  ``ckpt-<epoch>.weights.h5`` into ``<dir>`` with ``save_best_only``) whose
  ``min_delta`` makes only the first epoch an improvement, so their counters
  alone decide when the rate drops and when training stops.
* ``NF_PAUSE_AT_EPOCH=k``: print ``PAUSED_EPOCH k`` and sleep when epoch ``k``
  (0-based) begins, i.e. after the backup of epoch ``k - 1``'s end.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import netform.engine as nfe  # noqa: E402
from netform.engine import _backup  # noqa: E402

EPOCHS = 3
BATCH = 8
SAMPLES = 100  # 13 steps per epoch, the last one partial
SAVE_EVERY = 4
STEPS_PER_EPOCH = -(-SAMPLES // BATCH)


def build(engine: str) -> keras.Model:
    inputs = keras.Input((6,))
    h = keras.layers.Dense(16, activation="relu")(inputs)
    h = keras.layers.Dropout(0.3)(h)
    outputs = keras.layers.Dense(3)(h)
    cls = nfe.Model if engine == "netform" else keras.Model
    model = cls(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class Report(keras.callbacks.Callback):
    """Prints ``STEP n`` after each step; pauses where asked."""

    def __init__(self, pause_at: int | None) -> None:
        super().__init__()
        self.steps = 0
        self.pause_at = pause_at

    def on_train_batch_end(self, batch: int, logs: object = None) -> None:
        self.steps += 1
        print(f"STEP {self.steps}", flush=True)
        if self.pause_at is not None and self.steps == self.pause_at:
            print(f"PAUSED {self.steps}", flush=True)
            time.sleep(120)


class EpochReport(keras.callbacks.Callback):
    """Prints ``EPOCH_END k`` after each epoch; pauses when epoch ``pause_at`` begins."""

    def __init__(self, pause_at: int | None) -> None:
        super().__init__()
        self.pause_at = pause_at
        self.ended: list[int] = []

    def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
        if self.pause_at is not None and epoch == self.pause_at:
            print(f"PAUSED_EPOCH {epoch}", flush=True)
            time.sleep(120)

    def on_epoch_end(self, epoch: int, logs: object = None) -> None:
        self.ended.append(epoch)
        print(f"EPOCH_END {epoch}", flush=True)


def stateful_callbacks(ckpt_dir: str) -> list[keras.callbacks.Callback]:
    """Callbacks whose state a resumed run must get back (see the module docstring)."""
    return [
        keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e3, min_lr=1e-6),
        keras.callbacks.EarlyStopping(monitor="loss", patience=3, min_delta=1e3),
        keras.callbacks.ModelCheckpoint(
            os.path.join(ckpt_dir, "ckpt-{epoch}.weights.h5"), monitor="loss", mode="max",
            save_best_only=True, save_weights_only=True,
        ),
    ]


def main() -> None:
    engine, backup_dir, out = sys.argv[1:4]
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(1234)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(SAMPLES, 6)).astype("float32")
    y = rng.integers(0, 3, size=(SAMPLES,)).astype("int64")
    model = build(engine)

    pause = os.environ.get("NF_PAUSE_AT_STEP")
    report = Report(int(pause) if pause else None)
    slow = os.environ.get("NF_SLOW_WRITE_AT")
    if slow:
        write_meta = _backup._write_meta

        def slow_write_meta(path: str, meta: dict) -> None:
            if report.steps == int(slow):
                print(f"IN_WRITE {report.steps}", flush=True)
                time.sleep(120)
            write_meta(path, meta)

        _backup._write_meta = slow_write_meta

    epochs, extra = EPOCHS, []
    ckpt_dir = os.environ.get("NF_CALLBACKS")
    pause_epoch = os.environ.get("NF_PAUSE_AT_EPOCH")
    if ckpt_dir or pause_epoch:
        extra = [EpochReport(int(pause_epoch) if pause_epoch else None)]
    if ckpt_dir:
        epochs = 8
        extra += stateful_callbacks(ckpt_dir)

    if engine == "netform":
        backup = nfe.TrainingBackup(backup_dir, save_every_steps=SAVE_EVERY)
    else:
        backup = keras.callbacks.BackupAndRestore(backup_dir, save_freq=SAVE_EVERY)
    # The reporter goes first, so that during the backup taken after step n
    # `report.steps == n`.
    model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0, callbacks=[report, *extra, backup])
    results = {"steps": np.asarray(report.steps)}
    if extra:  # the learning rate reached and the last epoch run
        results["lr"] = np.asarray(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
        results["last_epoch"] = np.asarray(extra[0].ended[-1])
    np.savez(out, *[np.asarray(w) for w in model.get_weights()], **results)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
