"""Data: from whatever the user passes to batches the step functions consume.

Keras's data adapters (isolated in :mod:`netform._compat._keras_engine`) turn arrays,
``tf.data`` datasets, generators and ``PyDataset`` objects into a
``tf.data.Dataset``. :class:`DataStream` adds what netform's loops need on
top: early, readable errors (empty data, inputs that do not fit the model),
distribution of the dataset under the model's strategy, and the epoch
schedule of execution calls, which is ``keras``'s epoch iterator's (the same
callback batch indices, re-iterations and step counts as ``keras.Model.fit``).
For ``fit``, in-memory arrays stay on the device instead (see
:mod:`netform.engine._device_data`): the same batches in the same order,
gathered by the compiled loop.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Iterator

import keras
import numpy as np
import tensorflow as tf
from keras import tree

from .._compat import _keras_arrays
from .._compat import _keras_engine as ki
from ..errors import DataError
from ..spec._shapes import format_shape
from ._device_data import DeviceArrays, device_arrays

__all__ = ["DataStream", "capped_epochs", "check_inputs_fit", "default_eval_batch_size", "split_validation"]

# evaluate/predict's default batch for in-memory arrays (see default_eval_batch_size): at most
# EVAL_MAX_BATCH samples, and at most EVAL_BATCH_BYTES of inputs and layer outputs per batch.
KERAS_DEFAULT_BATCH = 32
EVAL_MAX_BATCH = 1024
EVAL_BATCH_BYTES = 16 * 2**20


def _num_samples(x: Any) -> int | None:
    for leaf in tree.flatten(x):
        shape = getattr(leaf, "shape", None)
        if shape is not None and len(shape) > 0 and shape[0] is not None:
            return int(shape[0])
    return None


def _fmt(shape: Any) -> str:
    return format_shape(tuple(None if d is None else int(d) for d in shape))


def _expected_inputs(model: keras.Model) -> list[tuple[str, tuple[int | None, ...]]] | None:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    out = []
    for t in tree.flatten(inputs):
        name = getattr(t, "name", None) or "input"
        out.append((str(name), tuple(t.shape)))
    return out


def _optional_inputs(model: keras.Model) -> set[int]:
    """``id`` of each model input declared ``keras.Input(optional=True)``."""
    return {
        id(layer.output)
        for layer in getattr(model, "layers", [])
        if isinstance(layer, keras.layers.InputLayer) and getattr(layer, "optional", False)
    }


def _is_none_spec(spec: Any) -> bool:
    """Whether a batch leaf stands for ``None`` (an optional input fed ``None``, as Keras's adapters carry it)."""
    return (
        spec is None
        or isinstance(spec, (tf.OptionalSpec, tf.experimental.Optional))
        or (
            type(spec).__name__ in ("NoneTensorSpec", "NoneTensor")  # tf.data's stand-in for None; not public
        )
    )


def _shape_fits(expected: tuple[int | None, ...], received: tuple[int | None, ...]) -> bool:
    if len(received) == len(expected) + 1 and received[-1] == 1:
        received = received[:-1]  # Keras squeezes a trailing 1
    elif len(received) + 1 == len(expected) and expected[-1] == 1:
        expected = expected[:-1]  # ...or expands one
    if len(received) != len(expected):
        return False
    return all(e is None or r is None or int(e) == int(r) for e, r in zip(expected[1:], received[1:]))


def _optional_names(model: keras.Model) -> set[str]:
    """Names (as `_expected_inputs` gives them) of the inputs declared optional."""
    ids = _optional_inputs(model)
    if not ids:
        return set()
    return {str(getattr(t, "name", None) or "input") for t in tree.flatten(model.inputs) if id(t) in ids}


def check_inputs_fit(model: keras.Model, x_spec: Any, *, where: str) -> None:
    """Check that the inputs part of a batch fits the model's ``Input``s.

    Args:
        model: The model (checked only if it declares its inputs).
        x_spec: The inputs of one batch: tensors or ``tf.TensorSpec``s.
        where: The call being checked (``"fit"``, ``"evaluate"``, ...).

    Raises:
        DataError: Wrong number of inputs, a missing named input, or a shape
            that does not match (the message names the input and both shapes).
    """
    expected = _expected_inputs(model)
    if expected is None or x_spec is None:
        return
    names = [n for n, _ in expected]
    if isinstance(x_spec, dict):
        missing = [n for n in names if n not in x_spec]
        if missing and len(x_spec) == len(names) and len(names) == 1:
            pairs = [(names[0], next(iter(x_spec.values())))]
        elif missing:
            raise DataError(
                f"{where}(): the data has no entry for input {missing[0]!r} of model {model.name!r}. "
                f"Expected a dict with keys {names}; received keys {sorted(x_spec)}. "
                "Rename the dict keys to the model's input names."
            )
        else:
            pairs = [(n, x_spec[n]) for n in names]
    else:
        flat = tree.flatten(x_spec)
        if len(flat) != len(names):
            raise DataError(
                f"{where}(): model {model.name!r} expects {len(names)} input(s) {names}, "
                f"but the data provides {len(flat)} input array(s)/tensor(s). "
                "Pass one array per model input (a list in input order, or a dict keyed by input name)."
            )
        pairs = list(zip(names, flat))
    shapes = dict(expected)
    optional = _optional_names(model)
    for name, spec in pairs:
        if _is_none_spec(spec):
            if name in optional:
                continue  # an optional input fed None, as Keras allows
            raise DataError(
                f"{where}(): input {name!r} of model {model.name!r} received None, but it is not optional. "
                f"Pass data for {name!r}, or declare it with `keras.Input(..., optional=True)`."
            )
        received = tuple(getattr(spec, "shape", ()) or ())
        want = shapes[name]
        if not _shape_fits(want, received):
            raise DataError(
                f"{where}(): input {name!r} of model {model.name!r} expects shape {_fmt(want)} "
                f"(batch first), but received data of shape {_fmt(received)}. "
                f"Reshape the data for {name!r} to {_fmt(want)} or change the model's Input shape."
            )


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or (
        isinstance(value, tf.Tensor) and not isinstance(value, (tf.SparseTensor, tf.RaggedTensor))
    )


def _all_layers(model: keras.Model) -> list[Any]:
    """Every layer of ``model``, nested models' layers included."""
    out: list[Any] = []
    for layer in model.layers:
        out.append(layer)
        if isinstance(layer, keras.Model):
            out.extend(_all_layers(layer))
    return out


def _per_sample_bytes(tensor: Any) -> int | None:
    shape = tuple(tensor.shape)[1:]
    if any(d is None for d in shape):
        return None
    try:
        itemsize = np.dtype(str(keras.backend.standardize_dtype(tensor.dtype))).itemsize
    except TypeError:
        itemsize = 4  # bfloat16 and other types numpy does not name: counted as 4 bytes
    return int(np.prod(shape, dtype=np.int64)) * itemsize


def _keras_object(value: Any) -> bool:
    """Whether a serialized loss/metric (``get_compile_config``) is Keras's own: a name, or a Keras class/function."""
    if isinstance(value, str):
        return True
    if isinstance(value, dict) and "class_name" in value:
        return str(value.get("module", "")).startswith("keras.")
    return False


def _leaves(config: Any) -> list[Any]:
    if config is None:
        return []
    if isinstance(config, dict) and "class_name" in config:
        return [config]
    if isinstance(config, dict):
        return [leaf for v in config.values() for leaf in _leaves(v)]
    if isinstance(config, (list, tuple)):
        return [leaf for v in config for leaf in _leaves(v)]
    return [config]


def _batch_invariant_evaluation(model: keras.Model, sample_weight: Any) -> bool:
    """Whether ``evaluate``'s results do not depend on the batch size (Keras's steps, losses and metrics)."""
    from ._steps import StepsMixin  # netform's default steps

    cls = type(model)
    if cls.test_step is not StepsMixin.test_step:
        return False
    if cls.compute_loss is not keras.Model.compute_loss or cls.compute_metrics is not keras.Model.compute_metrics:
        return False
    try:
        config = model.get_compile_config() or {}
    except (TypeError, ValueError, NotImplementedError):
        return False
    losses = _leaves(config.get("loss"))
    metrics = _leaves(config.get("metrics")) + _leaves(config.get("weighted_metrics"))
    if not losses or not all(_keras_object(v) for v in losses + metrics):
        return False
    try:
        outputs = len(tree.flatten(model.outputs))
    except (AttributeError, ValueError):
        return False
    if len(losses) != 1 or outputs != 1:
        # Keras logs each output's loss of a multi-output model as the plain mean of the
        # batches' losses (weighted by the batch's static size, unknown in a traced step),
        # which depends on where the batches end.
        return False
    # Losses reduced to the mean over the batch: Keras's loss tracker weights each batch's
    # loss by its size, so the evaluated loss is the mean over all samples, whatever the batch.
    invariant = {"sum_over_batch_size", "mean"} | ({"mean_with_sample_weight"} if sample_weight is None else set())
    for loss in losses:
        if isinstance(loss, dict) and loss.get("class_name") != "function":
            reduction = (loss.get("config") or {}).get("reduction", "sum_over_batch_size")
            if reduction not in invariant:
                return False
    return True


def default_eval_batch_size(
    model: keras.Model,
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    *,
    mode: str,
    steps: int | None,
    strategy: tf.distribute.Strategy | None,
    sparse_hooks_only: bool,
) -> int | None:
    """``evaluate``/``predict``'s batch size when none is given, or ``None`` for Keras's 32.

    Keras evaluates and predicts arrays in batches of 32 unless told otherwise;
    on a small model most of the time then goes to the loop, not the math.
    netform takes bigger batches when they give the same results as 32 and
    no callback sees the difference. The rule: the data are in-memory arrays
    (numpy or dense tensors), ``steps`` is not given (it counts batches of
    32), no distribution strategy, no callback with batch hooks other than
    those that need not see every batch (a progress bar, see
    :func:`~netform.engine._steps.auto_steps_cap`), a model whose every layer
    is a Keras layer (no ``Lambda``, no stateful layer, no custom layer:
    each sample's outputs then do not depend on the others in its batch)
    with Keras's ``call`` and netform's ``predict_step``/``test_step``, and
    for ``evaluate`` one output, Keras's ``compute_loss``/``compute_metrics``
    with one Keras loss reduced as a mean over the batch and Keras's metrics
    (the results are then means over all samples, whatever the batch; a
    multi-output model's per-output losses are not, and keep batches of 32). The batch is then
    the largest power of two up to :data:`EVAL_MAX_BATCH` (1024) whose inputs
    and layer outputs take at most :data:`EVAL_BATCH_BYTES` (16 MiB); the
    results equal Keras's up to float rounding.

    Returns:
        The batch size, or ``None`` to keep Keras's default.
    """
    if steps is not None or strategy is not None or not sparse_hooks_only or mode not in ("test", "predict"):
        return None
    x_leaves = tree.flatten(x)
    if not x_leaves or not all(_is_array(v) for v in x_leaves):
        return None
    if not all(v is None or _is_array(v) for v in tree.flatten((y, sample_weight))):
        return None
    from ._steps import StepsMixin  # netform's default steps

    cls = type(model)
    if (
        not str(getattr(cls.call, "__module__", "")).startswith("keras.")
        or cls.predict_step is not StepsMixin.predict_step
    ):
        return None
    if mode == "test" and not _batch_invariant_evaluation(model, sample_weight):
        return None
    try:
        layers = _all_layers(model)
        outputs = [t for layer in layers for t in tree.flatten(layer.output)]
    except (AttributeError, ValueError):
        return None  # a layer without one known output (not called, or called more than once)
    for layer in layers:
        if not type(layer).__module__.startswith("keras.") or isinstance(layer, keras.layers.Lambda):
            return None
        if getattr(layer, "stateful", False):
            return None
    per_sample = 0
    for leaf in x_leaves + [v for v in tree.flatten((y, sample_weight)) if v is not None] + outputs:
        size = _per_sample_bytes(leaf)
        if size is None:
            return None
        per_sample += size
    batch = KERAS_DEFAULT_BATCH
    while batch * 2 <= EVAL_MAX_BATCH and batch * 2 * per_sample <= EVAL_BATCH_BYTES:
        batch *= 2
    return batch if batch > KERAS_DEFAULT_BATCH else None


def _array_batches(inputs: Any, batch_size: int) -> tf.data.Dataset:
    """Consecutive batches of in-memory arrays: those of Keras's unshuffled array pipeline, built without tracing."""
    dataset = tf.data.Dataset.from_tensor_slices(inputs).batch(batch_size)
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False  # as Keras's array pipeline
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def capped_epochs(epochs: int) -> int:
    """``epochs``, capped by ``keras.config.set_max_epochs`` as ``keras.Model.fit`` caps it.

    Args:
        epochs: The epochs ``fit`` was asked for.

    Returns:
        The epochs to run (with Keras's warning when the cap lowers them).
    """
    max_epochs = keras.config.max_epochs()  # a debugging cap for the whole process, set by the user
    if max_epochs and max_epochs < epochs:
        warnings.warn(f"Limiting epochs to {max_epochs}", stacklevel=3)
        return max_epochs
    return epochs


def array_samples(x: Any) -> int | None:
    """How many samples array data holds (the first axis of its first array); ``None`` for other data."""
    for part in keras.tree.flatten(x):
        shape = getattr(part, "shape", None)
        if shape is not None and len(shape) > 0 and shape[0] is not None:
            return int(shape[0])
    return None


def largest_split(samples: int) -> float:
    """The largest ``validation_split`` that leaves one of ``samples`` (at least 2) to train on, by Keras's rule.

    Keras trains on the first ``floor(samples * (1 - validation_split))``; in floating point the fraction
    ``(samples - 1) / samples`` itself may round to none (0.9 of 10 samples does), so the value is the
    largest float that keeps one.
    """
    value = (samples - 1) / samples
    while value > 0 and math.floor(samples * (1.0 - value)) < 1:
        value = float(np.nextafter(value, 0.0))
    return value


def split_problem(samples: int, validation_split: float) -> tuple[str, str | None] | None:
    """Why Keras's split of ``samples`` by ``validation_split`` leaves no sample on one side, or None when not.

    Keras (``train_validation_split``) trains on the first ``floor(samples * (1 - validation_split))``
    samples and validates on the rest, and refuses an empty side (a ValueError).

    Returns:
        ``(why, values)``: what the split leaves, and the values that work (``"at most X"`` with X the
        largest, ``"a larger fraction"``, or None when no value does), for the caller's own words.
    """
    kept = int(math.floor(samples * (1.0 - validation_split)))  # Keras's own split
    if 0 < kept < samples:
        return None
    if samples < 2:
        return (
            f"the training data holds {samples} sample(s), which cannot be split into training and validation data",
            None,
        )
    if kept <= 0:
        why = f"it holds out all {samples} training samples for validation, leaving none to train on"
        return why, f"with {samples} samples {{verb}} at most {largest_split(samples)!r} (e.g. 0.2)"
    return (
        f"{samples} samples x {validation_split!r} rounds down to no validation sample",
        "{verb} a larger fraction (e.g. 0.2)",
    )


def split_validation(x: Any, y: Any, sample_weight: Any, validation_split: float) -> tuple[Any, Any]:
    """Keep the last ``validation_split`` of array data for validation.

    Raises:
        DataError: The data is not arrays (datasets, generators cannot be split), or the split leaves
            no sample to train or to validate on (a ValueError, as Keras's).
    """
    samples = array_samples((x, y, sample_weight))
    problem = split_problem(samples, validation_split) if samples is not None else None
    if problem is not None:
        why, values = problem
        fix = (
            "pass validation_data= or more samples"
            if values is None
            else f"{values.format(verb='pass')}, or pass validation_data="
        )
        raise DataError(f"fit(): validation_split={validation_split!r}, but {why}; {fix}")
    try:
        return ki.train_validation_split((x, y, sample_weight), validation_split)
    except (ValueError, TypeError) as err:
        raise DataError(
            f"fit(): validation_split={validation_split} works only with array data (numpy/tensors); "
            f"received x of type {type(x).__name__}. Pass `validation_data=` instead. ({err})"
        ) from err


class DataStream:
    """One source of batches for a ``fit``/``evaluate``/``predict`` run.

    Args:
        model: The model the data feeds (for input checks).
        x, y, sample_weight, class_weight: As in ``keras.Model.fit``.
        batch_size: Batch size for array data.
        steps: Steps per epoch (``steps_per_epoch``/``steps``), or ``None``
            to run until the data ends; capped by
            ``keras.config.set_max_steps_per_epoch`` as in Keras.
        shuffle: Shuffle array data each epoch.
        strategy: The strategy to distribute the dataset with, or ``None``.
        where: Name of the public call, for error messages.
        device: Keep in-memory arrays on the device and let the compiled
            loop gather the batches there (see
            :mod:`netform.engine._device_data`), when they qualify: the caller
            says its step functions are netform's own. Batches and their
            order are those of Keras's pipeline.
    """

    def __init__(
        self,
        model: keras.Model,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        *,
        batch_size: int | None = None,
        steps: int | None = None,
        shuffle: bool | str = False,
        class_weight: dict[int, float] | None = None,
        strategy: tf.distribute.Strategy | None = None,
        where: str = "fit",
        device: bool = False,
    ) -> None:
        self.where = where
        if x is None:
            raise DataError(
                f"{where}(): no data was given (x=None). Pass arrays, a tf.data.Dataset, a generator or a PyDataset."
            )
        if not isinstance(x, (tf.data.Dataset, keras.utils.PyDataset)) and _num_samples(x) == 0:
            raise DataError(
                f"{where}(): the data is empty (0 samples in x). "
                "Expected at least one sample; check how the arrays were loaded or filtered."
            )
        if isinstance(x, tf.data.Dataset) and int(x.cardinality()) == 0:
            raise DataError(
                f"{where}(): the tf.data.Dataset is empty (cardinality 0). "
                "Expected at least one batch; check filters, take()/skip() and batch(drop_remainder=True)."
            )
        max_steps = keras.config.max_steps_per_epoch()  # a debugging cap, honoured as keras.Model.fit does
        if max_steps and (not steps or max_steps < steps):
            warnings.warn(f"Limiting steps_per_epoch to {max_steps}", stacklevel=3)
            steps = max_steps
        try:
            self.adapter = ki.get_data_adapter(
                x,
                y,
                sample_weight,
                batch_size=batch_size,
                steps_per_epoch=steps,
                shuffle=shuffle,
                class_weight=class_weight,
            )
            arrays = None
            on_device = None
            self.batch_size: int | None = None  # samples per batch, when known before reading
            if device and strategy is None:
                arrays = _keras_arrays.dense_array_inputs(self.adapter)
                if arrays is not None:
                    on_device = device_arrays(arrays, batch_size=int(self.adapter.batch_size), shuffle=shuffle)
            elif not shuffle and class_weight is None and strategy is None:
                arrays = _keras_arrays.dense_array_inputs(self.adapter)
            if on_device is not None:
                # Arrays on the device, batches gathered by the compiled loop in Keras's order.
                dataset = on_device
                self.batch_size = on_device.batch_size
            elif arrays is not None and not shuffle and class_weight is None:
                # Unshuffled arrays: the same batches as Keras's pipeline, without the
                # map functions it traces anew on every call (0.1-0.4 s per evaluate).
                samples = _num_samples(arrays)  # dense arrays: never None
                size = batch_size or (
                    math.ceil(samples / steps) if steps and samples is not None else KERAS_DEFAULT_BATCH
                )
                dataset = _array_batches(arrays, int(size))
                self.batch_size = int(size)
            else:
                dataset = self.adapter.get_tf_dataset()
        except DataError:
            raise
        except (ValueError, TypeError) as err:
            raise DataError(f"{where}(): the data could not be read: {err}") from err
        self.element_spec = dataset.element_spec
        self.on_device = on_device is not None
        if not isinstance(dataset, tf.distribute.DistributedDataset):
            x_spec, _, _ = keras.utils.unpack_x_y_sample_weight(self.element_spec)
            check_inputs_fit(model, x_spec, where=where)
        cardinality_of = dataset.cardinality  # a method of a tf.data.Dataset, a value of a distributed one
        cardinality = int(cardinality_of() if callable(cardinality_of) else cardinality_of)
        self.infinite = cardinality == int(tf.data.INFINITE_CARDINALITY)
        self.steps = steps
        self._num_batches: int | None = self.adapter.num_batches
        if self._num_batches == 0:
            raise DataError(f"{where}(): the data yields no batch. Expected at least one batch.")
        self.strategy = strategy
        if strategy is not None and not isinstance(dataset, (tf.distribute.DistributedDataset, DeviceArrays)):
            dataset = strategy.experimental_distribute_dataset(dataset)
        self.dataset = dataset
        # Batches an iterator over the data yields, when known before reading it.
        self._exact_batches: int | None = self._num_batches
        self._iterator: Any = None
        self._seen = 0  # steps scheduled on the current iterator (Keras's count)
        self._position = 0  # batches actually read from the current iterator
        self.exhausted = False
        self.fresh = True  # the current epoch started on a new iterator
        # Unshuffled arrays: every iterator yields the same batches, creating one draws no randomness.
        self._replayable = (
            not shuffle and not isinstance(x, (tf.data.Dataset, keras.utils.PyDataset)) and _num_samples(x) is not None
        )
        self._keras_reads_to_build = isinstance(x, tf.data.Dataset)

    @property
    def num_batches(self) -> int | None:
        """Steps in one epoch, when known (as ``keras``'s epoch iterator counts them)."""
        return self.steps or self._num_batches

    def first_batch_spec(self) -> Any:
        """The element spec of one (undistributed) batch."""
        return self.element_spec

    def available(self, n: int) -> int | None:
        """How many of the next ``n`` batches are sure to be there, or ``None`` if unknown.

        Exact for arrays, datasets of known cardinality (the position in the
        current iterator is tracked) and infinite datasets; ``None`` for data
        whose length is found only by reading it to its end.
        """
        if self.infinite:
            return n
        if self._exact_batches is None:
            return None
        return max(0, min(n, self._exact_batches - self._position))

    def epoch(self, steps_per_execution: int) -> Iterator[tuple[int, int, Any]]:
        """Yield ``(first_step, n_steps, iterator)`` for each execution call of an epoch.

        The schedule is ``keras``'s epoch iterator's: every call asks for
        ``steps_per_execution`` steps (a ``steps_per_epoch`` that is not a
        multiple of it runs into the next multiple, as in Keras), an iterator
        over a finite dataset is kept across epochs while ``steps_per_epoch``
        leaves batches in it and re-created once it was read to its end, and
        an epoch stops early when the data known to be left is used up. The
        caller runs up to ``n_steps`` steps on ``iterator``, reports them with
        :meth:`advance`, and calls :meth:`end_of_data` when a call found no
        batch at all (the epoch then ends).
        """
        spe = max(1, int(steps_per_execution))
        self.adapter.on_epoch_begin()
        self.exhausted = False
        steps_per_epoch = self.steps or self._num_batches or -1
        self.fresh = self._iterator is None or not self.steps
        if steps_per_epoch > 0:
            if self.fresh:
                self._new_iterator()
            for step in range(0, steps_per_epoch, spe):
                if self._num_batches and self._seen >= self._num_batches:
                    if self.steps:
                        self._interrupted_warning()
                    break
                self._seen += spe
                yield step, spe, self._iterator
                if self.exhausted:
                    return
            if self._num_batches and self._seen >= self._num_batches:
                # Keras re-creates the iterator here (and again at the next epoch
                # without steps_per_epoch): a dataset reshuffled on each iteration
                # then draws the same orders as under keras.Model.fit. Unshuffled
                # arrays give the same batches from any iterator: the throwaway
                # one (tens of ms) is skipped.
                if self.steps or not self._replayable:
                    self._new_iterator()
                else:
                    self._iterator = None
        else:
            self._new_iterator()
            step = 0
            while True:
                self._seen = step + spe
                yield step, spe, self._iterator
                if self.exhausted:
                    return
                step += spe
        self.adapter.on_epoch_end()

    def read_one_batch_like_keras(self) -> None:
        """Read one batch from a new iterator and start over, as Keras's build under a strategy does.

        Under a distribution strategy ``keras.Model.fit``/``evaluate`` build the
        model from a batch read this way; a dataset reshuffled on each
        iteration has then drawn one order, and netform's next orders are
        Keras's only if it draws it too. Only ``tf.data`` datasets are read:
        a generator or ``PyDataset`` would lose the batch, and arrays (even
        shuffled) draw the same orders either way.
        """
        if not self._keras_reads_to_build:
            return
        self.adapter.on_epoch_begin()
        try:
            next(iter(self.dataset))
        except (StopIteration, tf.errors.OutOfRangeError):
            pass
        self.reset()

    def reset(self) -> None:
        """Start again from the first batch, as Keras does before each evaluation."""
        self._iterator = None
        self._num_batches = self.adapter.num_batches
        self._seen = 0
        self._position = 0
        self.adapter.on_epoch_end()

    def _new_iterator(self) -> None:
        self._iterator = iter(self.dataset)
        self._seen = 0
        self._position = 0

    def advance(self, steps_done: int) -> None:
        """Record that ``steps_done`` batches were read from the current iterator."""
        self._position += int(steps_done)

    def _interrupted_warning(self) -> None:
        warnings.warn(
            f"{self.where}(): your input ran out of data; interrupting the epoch. Make sure the dataset "
            "or generator can yield at least `steps_per_epoch * epochs` batches (e.g. use `.repeat()`).",
            stacklevel=4,
        )

    def end_of_data(self) -> None:
        """Record that an execution call found no batch: the epoch ends here.

        As in Keras, data of unknown length takes the steps scheduled so far as
        its length, and the next epoch starts on a new iterator.
        """
        self.exhausted = True
        if self._num_batches is None:
            self._num_batches = self._seen
        if self.steps:
            self._interrupted_warning()
        self._iterator = None
        self.adapter.on_epoch_end()
