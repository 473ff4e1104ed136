"""Safe-by-default checks run before anything in a file is deserialized.

A saved model is data, and netform treats it as untrusted. Before Keras sees
a config, :func:`check_config` walks it and refuses Python bytecode (Lambda
layers, ``__lambda__`` functions) and any class or function that is neither a
Keras built-in nor registered with ``keras.saving.register_keras_serializable``
(or passed in ``custom_objects``); while Keras is not imported (``inspect``,
``summary``, ``export-spec`` and ``render`` read a config without it), its
built-in names are told from tables of the installed Keras's names, so the
check never imports Keras itself. Before an archive or HDF5 file is opened
for real, :func:`check_zip` and :func:`check_h5` refuse escaping entry names,
links, and bombs. ``safe_mode=False`` turns off the code checks, never the
structural ones.
"""

from __future__ import annotations

import io
import os
import re
import sys
import unicodedata
import zipfile
from typing import Any, Mapping, TypeGuard

from netform.errors import FormatError, UnsafeFileError

from ._h5_attrs import attribute_bytes, check_btrees, raw_reader

__all__ = ["check_config", "check_zip", "check_h5", "MAX_RATIO", "MAX_DATASET_BYTES", "VALUE_MARKERS"]

#: A zip entry that inflates more than this many times its stored size is a bomb.
MAX_RATIO = 200
#: ... but only when it inflates to more than this many bytes (tiny files compress well).
MIN_BOMB_BYTES = 16 * 2**20
#: No one zip entry or HDF5 dataset may declare more than this.
MAX_DATASET_BYTES = 32 * 2**30
#: Total declared HDF5 data may not exceed the file size by more than this factor (+ slack).
MAX_H5_EXPANSION = 64
#: How deep HDF5 groups may nest (a model nested in a model adds two levels).
MAX_H5_DEPTH = 512

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SAFE_MODULE_ROOTS = ("keras",)
# Keras's own markers for values, not classes.
VALUE_MARKERS = {
    "__tuple__",
    "__numpy__",
    "__tensor__",
    "__bytes__",
    "__typespec__",
    "__ellipsis__",
    "__slice__",
    "__passive_serialization__",
    "__keras_tensor__",
}
_UNSAFE_HINT = "Load it with safe_mode=False only if you trust the file and wrote its code yourself."


#: The package of the classes netform registers with Keras when it loads a model.
_NETFORM_PACKAGE = "netform>"


def _registered(name: str, custom_objects: Mapping[str, Any]) -> bool:
    """Whether ``name`` is in ``custom_objects`` or Keras's registry of serializable objects.

    Keras's registry holds only what code that imported Keras put there. While
    Keras is not imported (``inspect``, ``summary``, ``export-spec`` and
    ``render`` read a config without it), the only names it will hold once
    netform loads the model are netform's own (package ``netform``): any other
    name is unregistered, decided without importing Keras, so a config naming
    ``builtins.eval`` or ``os>system`` is refused statically, with the message
    loading gives; netform's own names are told from the classes netform
    registers (:func:`_netform_registered`), also without Keras.
    """
    if name in custom_objects:
        return True
    if "keras" not in sys.modules:
        return name.startswith(_NETFORM_PACKAGE) and _netform_registered(name)
    from keras.saving import get_custom_objects

    return name in get_custom_objects()


#: The names netform's own modules register with Keras (``netform.engine``'s models, ``netform.builder``'s
#: ``SpecModel`` and zoo models) once :func:`~._meta.register_netform_classes` runs.
_NETFORM_REGISTERED = frozenset(
    _NETFORM_PACKAGE + name for name in ("Model", "Functional", "Sequential", "SpecModel", "ResidualMLP")
)


def _netform_registered(name: str) -> bool:
    """Whether ``name`` (``netform>...``) will be registered once netform loads the model, told without Keras.

    netform's classes, and the custom layer types declared in this process
    (``netform.spec``'s ``custom_layer``), which netform registers when Keras
    is imported.
    """
    if name in _NETFORM_REGISTERED:
        return True
    custom = sys.modules.get("netform.spec._custom")
    declared = getattr(custom, "_KERAS_CLASSES", None)
    return isinstance(declared, dict) and name[len(_NETFORM_PACKAGE) :] in declared


#: The Keras release whose names :data:`_KERAS_FUNCTION_NAMES` and :data:`_KERAS_CLASS_NAMES` list.
_KERAS_NAMES_VERSION = "3.15.1"


def _keras_names_current() -> bool:
    """Whether the installed Keras is the one the name tables list (read from its package metadata, no import)."""
    from importlib import metadata

    try:
        return metadata.version("keras") == _KERAS_NAMES_VERSION
    except metadata.PackageNotFoundError:
        return True  # no Keras: nothing can load the model anyway, and the tables say what it would name


def _keras_builtin(class_name: str) -> bool:
    if "keras" not in sys.modules:
        # Decided without importing Keras (inspect, summary, export-spec and render stay free of it): a name the
        # tables hold is Keras's; another is not, unless a Keras other than the tables' is installed.
        if class_name in _KERAS_CLASS_NAMES:
            return True
        if class_name.startswith("_") or _keras_names_current():
            return False
    if class_name.startswith("_"):
        return False  # a module's attributes (__class__...), never a Keras class
    import keras

    for namespace in (
        keras.layers,
        keras.models,
        keras.optimizers,
        keras.losses,
        keras.metrics,
        keras.initializers,
        keras.regularizers,
        keras.constraints,
        keras.activations,
        keras.optimizers.schedules,
        keras.dtype_policies,
        keras,
    ):
        if isinstance(getattr(namespace, class_name, None), type):
            return True
    return False


#: The namespaces where Keras looks up a function saved by name (its ``BUILTIN_MODULES``), as the spec layer
#: lists them (:data:`netform.spec._access.BUILTIN_NAMESPACES`; the tests check the two are one).
_FUNCTION_NAMESPACES = ("activations", "constraints", "initializers", "losses", "metrics", "optimizers", "regularizers")

#: The public callables of Keras's function namespaces (:data:`_FUNCTION_NAMESPACES`), in Keras
#: :data:`_KERAS_NAMES_VERSION` (the tests check both tables against the installed Keras).
_KERAS_FUNCTION_NAMES: frozenset[str] = frozenset(
    """
AUC Accuracy Adadelta Adafactor Adagrad Adam AdamW Adamax BinaryAccuracy BinaryCrossentropy
BinaryFocalCrossentropy BinaryIoU CTC CategoricalAccuracy CategoricalCrossentropy CategoricalFocalCrossentropy
CategoricalGeneralizedCrossEntropy CategoricalHinge Circle ConcordanceCorrelation Constant Constraint
CosineSimilarity Dice F1Score FBetaScore FalseNegatives FalsePositives Ftrl GlorotNormal GlorotUniform HeNormal
HeUniform Hinge Huber Identity IdentityInitializer Initializer IoU KLDivergence L1 L1L2 L2 Lamb LecunNormal
LecunUniform Lion LogCosh LogCoshError Loss LossScaleOptimizer MaxNorm Mean MeanAbsoluteError
MeanAbsolutePercentageError MeanIoU MeanMetricWrapper MeanSquaredError MeanSquaredLogarithmicError Metric
MinMaxNorm MultiOptimizer Muon Nadam NonNeg OneHotIoU OneHotMeanIoU Ones Optimizer OptimizerMap Orthogonal
OrthogonalInitializer OrthogonalRegularizer PearsonCorrelation Poisson Precision PrecisionAtRecall R2Score
RMSprop RandomNormal RandomUniform Recall RecallAtPrecision Regularizer RootMeanSquaredError SGD STFT
STFTInitializer ScheduleFreeAdamW SensitivityAtSpecificity SparseCategoricalAccuracy
SparseCategoricalCrossentropy SparseTopKCategoricalAccuracy SpecificityAtSensitivity SquaredHinge Sum
TopKCategoricalAccuracy TrueNegatives TruePositives TruncatedNormal Tversky UnitNorm VarianceScaling Zeros
binary_accuracy binary_crossentropy binary_focal_crossentropy categorical_accuracy categorical_crossentropy
categorical_focal_crossentropy categorical_generalized_cross_entropy categorical_hinge celu circle
concordance_correlation constant cosine_similarity ctc deserialize dice elu exponential gelu get glorot_normal
glorot_uniform glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh he_normal he_uniform hinge huber
identity kl_divergence l1 l1_l2 l2 leaky_relu lecun_normal lecun_uniform linear log_cosh log_sigmoid log_softmax
max_norm mean_absolute_error mean_absolute_percentage_error mean_squared_error mean_squared_logarithmic_error
min_max_norm mish non_neg ones orthogonal orthogonal_regularizer pearson_correlation poisson random_normal
random_uniform relu relu6 selu serialize sigmoid silu soft_shrink softmax softplus softsign
sparse_categorical_accuracy sparse_categorical_crossentropy sparse_plus sparse_sigmoid
sparse_top_k_categorical_accuracy sparsemax squared_hinge squareplus stft swish tanh tanh_shrink threshold
top_k_categorical_accuracy truncated_normal tversky unit_norm variance_scaling zeros
""".split()
)

#: The public classes of the namespaces :func:`_keras_builtin` searches, in Keras :data:`_KERAS_NAMES_VERSION`.
_KERAS_CLASS_NAMES: frozenset[str] = frozenset(
    """
AUC AWQDTypePolicy Accuracy Activation ActivityRegularization Adadelta Adafactor Adagrad Adam AdamW Adamax
AdaptiveAveragePooling1D AdaptiveAveragePooling2D AdaptiveAveragePooling3D AdaptiveMaxPooling1D
AdaptiveMaxPooling2D AdaptiveMaxPooling3D Add AdditiveAttention AlphaDropout Attention AugMix AutoContrast
Average AveragePooling1D AveragePooling2D AveragePooling3D AvgPool1D AvgPool2D AvgPool3D BatchNormalization
Bidirectional BinaryAccuracy BinaryCrossentropy BinaryFocalCrossentropy BinaryIoU CTC CategoricalAccuracy
CategoricalCrossentropy CategoricalFocalCrossentropy CategoricalGeneralizedCrossEntropy CategoricalHinge
CategoryEncoding CenterCrop Circle Concatenate ConcordanceCorrelation Constant Constraint
ContrastLimitedAdaptiveHistogramEqualization Conv1D Conv1DTranspose Conv2D Conv2DTranspose Conv3D
Conv3DTranspose ConvLSTM1D ConvLSTM2D ConvLSTM3D Convolution1D Convolution1DTranspose Convolution2D
Convolution2DTranspose Convolution3D Convolution3DTranspose CosineDecay CosineDecayRestarts CosineSimilarity
Cropping1D Cropping2D Cropping3D CutMix DTypePolicy DTypePolicyMap Dense DepthwiseConv1D DepthwiseConv2D Dice
Discretization Dot Dropout ELU EinsumDense Embedding Equalization ExponentialDecay F1Score FBetaScore
FalseNegatives FalsePositives Flatten FlaxLayer FloatDTypePolicy Ftrl Function GPTQDTypePolicy GRU GRUCell
GaussianDropout GaussianNoise GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D
GlobalAvgPool1D GlobalAvgPool2D GlobalAvgPool3D GlobalMaxPool1D GlobalMaxPool2D GlobalMaxPool3D
GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D GlorotNormal GlorotUniform GroupNormalization
GroupQueryAttention HashedCrossing Hashing HeNormal HeUniform Hinge Huber Identity IdentityInitializer
Initializer InputLayer InputSpec Int4DTypePolicy IntegerLookup InverseTimeDecay IoU JaxLayer KLDivergence
KerasTensor L1 L1L2 L2 LSTM LSTMCell Lamb Lambda Layer LayerNormalization LeakyReLU LearningRateSchedule
LecunNormal LecunUniform Lion LogCosh LogCoshError Loss LossScaleOptimizer Masking MaxNorm MaxNumBoundingBoxes
MaxPool1D MaxPool2D MaxPool3D MaxPooling1D MaxPooling2D MaxPooling3D Maximum Mean MeanAbsoluteError
MeanAbsolutePercentageError MeanIoU MeanMetricWrapper MeanSquaredError MeanSquaredLogarithmicError
MelSpectrogram Metric MinMaxNorm Minimum MixUp Model MultiHeadAttention MultiOptimizer Multiply Muon Nadam
NonNeg Normalization OneHotIoU OneHotMeanIoU Ones Operation Optimizer OptimizerMap Orthogonal
OrthogonalInitializer OrthogonalRegularizer PReLU PearsonCorrelation Permute PiecewiseConstantDecay Pipeline
Poisson PolynomialDecay Precision PrecisionAtRecall QuantizedDTypePolicy QuantizedFloat8DTypePolicy Quantizer
R2Score RMSNormalization RMSprop RNN RandAugment RandomBrightness RandomColorDegeneration RandomColorJitter
RandomContrast RandomCrop RandomElasticTransform RandomErasing RandomFlip RandomGaussianBlur RandomGrayscale
RandomHue RandomInvert RandomNormal RandomPerspective RandomPosterization RandomRotation RandomSaturation
RandomSharpness RandomShear RandomTranslation RandomUniform RandomZoom ReLU Recall RecallAtPrecision Regularizer
RematScope RepeatVector Rescaling Reshape Resizing ReversibleEmbedding RootMeanSquaredError SGD STFT
STFTInitializer STFTSpectrogram ScheduleFreeAdamW SensitivityAtSpecificity SeparableConv1D SeparableConv2D
SeparableConvolution1D SeparableConvolution2D Sequential SimpleRNN SimpleRNNCell Softmax Solarization
SparseCategoricalAccuracy SparseCategoricalCrossentropy SparseTopKCategoricalAccuracy SpatialDropout1D
SpatialDropout2D SpatialDropout3D SpecificityAtSensitivity SpectralNormalization SquaredHinge StackedRNNCells
StatelessScope StringLookup Subtract Sum SymbolicScope TFSMLayer TextVectorization TimeDistributed
TopKCategoricalAccuracy TorchModuleWrapper TrueNegatives TruePositives TruncatedNormal Tversky UnitNorm
UnitNormalization UpSampling1D UpSampling2D UpSampling3D Variable VarianceScaling Wrapper ZeroPadding1D
ZeroPadding2D ZeroPadding3D Zeros constant glorot_normal glorot_uniform he_normal he_uniform identity l1 l1_l2
l2 lecun_normal lecun_uniform max_norm min_max_norm name_scope non_neg ones orthogonal orthogonal_regularizer
random_normal random_uniform stft truncated_normal unit_norm variance_scaling zeros
""".split()
)


#: The Keras functions its deserialization refuses to return in any mode (Keras's ``NON_MODELING_APIS`` in
#: ``keras.src.saving.serialization_lib``, Keras :data:`_KERAS_NAMES_VERSION`; the tests check it against
#: the installed Keras): a config naming one, e.g. ``{"module": "keras.utils", "class_name": "function",
#: "config": "get_file"}``, downloads, loads or saves files, or turns safe mode off.
_KERAS_NON_MODELING_APIS: frozenset[str] = frozenset(
    """
keras.backend.clear_session keras.config.enable_unsafe_deserialization keras.models.load_model
keras.models.model_from_json keras.models.save_model keras.preprocessing.image_dataset_from_directory
keras.preprocessing.image.load_img keras.preprocessing.image.save_img keras.preprocessing.text_dataset_from_directory
keras.saving.deserialize_keras_object keras.saving.load_model keras.saving.load_weights
keras.saving.register_keras_serializable keras.saving.save_model keras.saving.save_weights
keras.saving.serialize_keras_object keras.utils.audio_dataset_from_directory keras.utils.clear_session
keras.utils.deserialize_keras_object keras.utils.get_file keras.utils.image_dataset_from_directory
keras.utils.load_img keras.utils.register_keras_serializable keras.utils.save_img
keras.utils.serialize_keras_object keras.utils.text_dataset_from_directory
""".split()
)


def _keras_module(module: Any) -> TypeGuard[str]:
    """Whether ``module`` names Keras's package, where Keras resolves a saved object by its public API name."""
    return isinstance(module, str) and (module == "keras" or module.startswith("keras."))


def _non_modeling_function(module: str, name: str) -> bool:
    """Whether Keras's safe mode refuses the function ``module.name``: a non-modelling API (a file, saving or
    safe-mode function), or a private module's (``keras.src...``), which Keras returns only when it is a
    serializable class, never a function."""
    if f"{module}.{name}" in _KERAS_NON_MODELING_APIS or name.startswith("_"):
        return True
    from netform.spec._access import MODELLING_FUNCTION_MODULES

    if module not in MODELLING_FUNCTION_MODULES:  # stricter than Keras: keras.datasets.*.load_data downloads
        return True
    return any(part == "src" or part.startswith("_") for part in module.split(".")[1:])


def _keras_function(name: str, custom: Mapping[str, Any]) -> bool:
    """Whether Keras's safe mode resolves a function saved as ``name``: registered, or a Keras built-in.

    While Keras is not imported, its built-ins are told from :data:`_KERAS_FUNCTION_NAMES` (Keras is
    imported to ask it only where another Keras than the table's is installed and the name is not listed).
    """
    if _registered(name, custom):
        return True
    builtin = _IDENTIFIER.match(name) is not None and not name.startswith("_")
    if builtin and "keras" not in sys.modules and (name in _KERAS_FUNCTION_NAMES or _keras_names_current()):
        builtin = name in _KERAS_FUNCTION_NAMES
    elif builtin:
        import keras

        builtin = any(callable(getattr(getattr(keras, space), name, None)) for space in _FUNCTION_NAMESPACES)
    if builtin:
        return True
    # Keras 3.6 and earlier wrote a registered function by its bare name: Keras
    # matches it against the custom_objects passed in ("pkg>name").
    return ">" not in name and any(str(key).endswith(">" + name) for key in custom)


def check_config(
    config: Any, *, where: str, safe_mode: bool = True, custom_objects: Mapping[str, Any] | None = None
) -> None:
    """Refuse a model config that would import or run code.

    Args:
        config: The decoded JSON config (Keras 3 or legacy Keras 2 style).
        where: The file name, for messages.
        safe_mode: When False, only nothing is checked (the caller trusts the file).
        custom_objects: Extra names the caller allows.

    Raises:
        UnsafeFileError: The config names bytecode or an unregistered import, or holds a pattern Keras would
            match for longer than netform allows (:func:`netform.spec._patterns.check_patterns`, checked
            in every mode: it is the file's cost, not its code).
    """
    from ..spec._patterns import check_patterns

    check_patterns(config, where)
    if not safe_mode:
        return
    _walk(config, where, custom_objects or {}, "")


def _refuse(where: str, at: str, what: str) -> UnsafeFileError:
    return UnsafeFileError(
        f"{where}: {what} at config path '{at or '/'}'; refused in safe mode, as it could "
        f"allow arbitrary code execution. {_UNSAFE_HINT}"
    )


def _walk(node: Any, where: str, custom: Mapping[str, Any], at: str) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            _walk(item, where, custom, f"{at}[{i}]")
        return
    if not isinstance(node, dict):
        return
    class_name = node.get("class_name")
    if isinstance(class_name, str):
        _check_class(node, class_name, where, custom, at)
    for key, value in node.items():
        here = f"{at}.{key}" if at else str(key)
        if isinstance(value, str) and key.endswith(
            ("activation", "_initializer", "_regularizer", "_constraint", "initializer")
        ):
            if not _IDENTIFIER.match(value) and not _registered(value, custom):
                raise _refuse(where, here, f"'{value}' is not a Keras built-in name")
        _walk(value, where, custom, here)


def _check_class(node: dict[str, Any], class_name: str, where: str, custom: Mapping[str, Any], at: str) -> None:
    module = node.get("module")
    registered = node.get("registered_name")
    if class_name == "__lambda__" or (
        class_name == "function" and isinstance(node.get("config"), dict) and "code" in node["config"]
    ):
        raise _refuse(where, at, "Python bytecode (a lambda)")
    if class_name == "Lambda" and not _registered("Lambda", custom):
        raise _refuse(where, at, "a Lambda layer (it carries Python code)")
    if class_name == "TFSMLayer" and not _registered("TFSMLayer", custom):
        raise _refuse(where, at, "a TFSMLayer (it loads and runs an external SavedModel's graph)")
    config = node.get("config")
    if isinstance(config, dict) and isinstance(config.get("vocabulary"), str):
        raise _refuse(
            where,
            f"{at}.config.vocabulary" if at else "config.vocabulary",
            f"a {class_name} reading its vocabulary from the file '{config['vocabulary'][:200]}' "
            "outside the model file",
        )
    if class_name in VALUE_MARKERS:
        return
    if class_name == "function" and module in ("builtins", None) and isinstance(config, str):
        # How Keras writes a plain function (a loss, a metric, an activation):
        # by its registered name only. Keras's safe mode resolves it among
        # registered objects and its own built-in functions, never by import.
        # Keras never writes one without a module (Keras 2 wrote no such
        # object); it is held to the same rule, not passed as a legacy class.
        if _keras_function(config, custom):
            return
        raise _refuse(where, at, f"function '{config[:200]}' is neither a Keras built-in nor registered")
    if class_name == "function" and _keras_module(module) and isinstance(config, str):
        # Keras resolves a function saved under its own package by the public name module.config, and refuses
        # the non-modelling ones in every mode ("Non-modeling APIs are disallowed during deserialization")
        if not _registered(config, custom) and _non_modeling_function(module, config):
            raise _refuse(where, at, f"function '{module}.{config[:200]}', which is not a modelling function of Keras")
    if (
        _keras_module(module)
        and isinstance(registered, str)
        and registered
        and registered not in (class_name, config if class_name == "function" else class_name)
        and not _registered(registered, custom)
    ):
        # Keras refuses a registered_name on an object it resolves as its own built-in, and a registered name
        # nothing registered would name an object the file does not carry
        raise _refuse(
            where,
            at,
            f"registered name '{registered[:200]}' on Keras's own '{module}.{class_name}' (Keras writes none, "
            "and nothing of that name is registered)",
        )
    if class_name.startswith("Custom>") and _keras_builtin(class_name[len("Custom>") :]):
        return  # how Keras 2 names its own optimizers
    if isinstance(registered, str) and registered not in (class_name, "function") and _registered(registered, custom):
        return
    if _registered(class_name, custom):
        return
    if isinstance(module, str):
        root = module.split(".", 1)[0]
        if root in _SAFE_MODULE_ROOTS:
            return
        if module.startswith("netform.") and "." not in class_name:
            return
        raise _refuse(where, at, f"'{module}.{class_name}' is neither a Keras built-in nor registered")
    if module is None and _IDENTIFIER.match(class_name) and "config" in node and "module" not in node:
        # Legacy Keras 2 configs name only the class; an unknown name fails to
        # resolve later without importing anything, so only dotted names are refused.
        return
    if module is None and _IDENTIFIER.match(class_name) and _keras_builtin(class_name):
        return
    raise _refuse(where, at, f"class '{class_name}' is neither a Keras built-in nor registered")


def check_zip(archive: zipfile.ZipFile, where: str) -> None:
    """Refuse escaping entry names, and zip bombs, before reading any entry.

    Raises:
        FormatError: Two entries share a name (zipfile reads the last, other tools the first), or two
            names are one file once extracted (``./config.json`` and ``config.json``, ``CONFIG.JSON`` on a
            file system that ignores case), or a folder entry stores bytes.
        UnsafeFileError: An entry is absolute, climbs out with ``..``, or would
            inflate far beyond its stored size.
    """
    infos = archive.infolist()
    seen: set[str] = set()
    files: dict[str, str] = {}
    for info in infos:
        name = info.filename
        if name in seen:
            # zipfile (and so Keras and netform) reads the last entry of a name, unzip and other tools the first
            raise FormatError(
                f"{where}: the archive holds two entries named {name[:200]!r}, so the file holds two different "
                "versions of it (netform and Keras would read the last, other tools the first); refused. "
                "Keras and netform write each entry once: restore the file from a good copy."
            )
        seen.add(name)
        _check_entry_kind(info, where)
        key = _entry_key(name)
        if key in files:
            raise FormatError(
                f"{where}: archive entries {files[key][:200]!r} and {name[:200]!r} name the same file once "
                "extracted (names are compared as unzip and the file systems read them: './' and '//' "
                "dropped, '\\' as '/', letter case ignored, a name's closing dots and spaces and a ':' stream "
                "dropped as Windows drops them), so the file holds two different versions of it "
                "(netform and Keras read one, an extracted copy is the other); refused. Keras and netform "
                "write each entry once, under one name: restore the file from a good copy."
            )
        files[key] = name
        parts = re.split(r"[\\/]", name)
        short = next((part for part in parts if _SHORT_NAME.match(part)), None)
        if short is not None:
            raise FormatError(
                f"{where}: archive entry {name[:200]!r} has a Windows short (8.3) name, {short[:40]!r}, which on "
                "a Windows volume can be another entry's file (CONFIG~1.JSO is config.json's), so the file may "
                "hold two versions of it; refused. Keras and netform never write such names: restore the file "
                "from a good copy."
            )
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise UnsafeFileError(
                f"{where}: archive entry '{name}' points outside the archive folder; refused. "
                "A .keras file only holds relative names such as 'config.json'."
            )
        if info.file_size > MAX_DATASET_BYTES or (
            info.file_size > MIN_BOMB_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1)
        ):
            raise UnsafeFileError(
                f"{where}: archive entry '{name}' would inflate from {info.compress_size} to "
                f"{info.file_size} bytes (a zip bomb); refused."
            )
    _check_zip_total(archive, infos, where)


#: A Windows short (8.3) name: at most 6 characters, ``~`` and a number, an extension of at most 3 characters.
_SHORT_NAME = re.compile(r"^[^.~]{1,6}~[0-9]+(\.[^.]{0,3})?$")


def _entry_key(name: str) -> str:
    """The file an entry name extracts to, as the tools and file systems that compare names loosely see it.

    ``./``, empty parts and a trailing ``/`` are dropped, ``\\`` is a separator (Windows, and zipfile
    there), and letter case and Unicode normalisation are ignored (the default file systems of Windows and
    macOS), so ``./config.json``, ``CONFIG.JSON`` and ``config.json`` are one file. Windows also drops the dots
    and spaces that end a name and reads what follows a ``:`` as a stream of the file before it, so
    ``config.json.``, ``config.json `` and ``config.json::$DATA`` are that file too.
    """
    parts = [part.split(":", 1)[0].rstrip(". ") for part in re.split(r"[\\/]", name)]
    parts = [part for part in parts if part not in ("", ".")]
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", "/".join(parts)).casefold())


#: The compression methods zipfile reads (and so Keras): stored, deflate, bzip2, LZMA.
_READABLE_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def _check_entry_kind(info: zipfile.ZipInfo, where: str) -> None:
    """Refuse a directory entry that stores bytes (zipfile reads them as a file, unzip makes a folder), and an
    entry no reader here can open: encrypted, or compressed by a method zipfile does not read."""
    if info.flag_bits & 0x1 or info.compress_type not in _READABLE_COMPRESSION:
        what = "is encrypted" if info.flag_bits & 0x1 else f"is compressed by method {info.compress_type}"
        raise FormatError(
            f"{where}: archive entry {info.filename[:200]!r} {what}, which neither netform nor Keras reads "
            "(Keras and netform write entries unencrypted, stored or deflated); refused. Restore the file "
            "from a good copy or save the model again."
        )
    if info.is_dir() and info.file_size:
        raise FormatError(
            f"{where}: archive entry {info.filename[:200]!r} is a folder that stores {info.file_size} bytes, "
            "read as a file by some tools and as a folder by others; refused. A folder entry stores nothing: "
            "restore the file from a good copy."
        )


def _check_zip_total(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], where: str) -> None:
    """Refuse entries that share their stored bytes, and bombs made of many modest entries."""
    stored = sum(info.compress_size for info in infos)
    inflated = sum(info.file_size for info in infos)
    size = _archive_size(archive)
    offsets = {info.header_offset for info in infos}
    hdf5 = _hdf5_inside(archive, infos, size)
    if hdf5 is not None:
        raise UnsafeFileError(
            f"{where}: the archive is also an HDF5 file (its signature at byte {hdf5}), so one file holds two "
            "models (plain Keras reads a .h5 name as HDF5); refused. Keras and netform never write such a file."
        )
    if offsets and min(offsets) > 0:
        # zipfile reads an archive appended to other bytes; an HDF5 file before it makes one file two models
        # (plain Keras reads a .h5 name as HDF5, netform the archive): Keras and netform start at the first entry
        raise UnsafeFileError(
            f"{where}: {min(offsets)} bytes come before the archive's first entry (another file's: a file "
            "that is both an archive and, e.g., an HDF5 model is two models); refused. An archive written by "
            "Keras or netform starts with its first entry."
        )
    if len(offsets) < len(infos) or (size is not None and stored > size):
        raise UnsafeFileError(
            f"{where}: archive entries overlap ({len(infos)} entries declare {stored} stored bytes "
            f"in a {size}-byte file), a zip bomb; refused. An archive written by Keras or netform "
            "stores each entry once."
        )
    if inflated > MAX_DATASET_BYTES or (inflated > MIN_BOMB_BYTES and inflated > MAX_RATIO * max(stored, 1)):
        raise UnsafeFileError(
            f"{where}: the {len(infos)} archive entries would inflate from {stored} to {inflated} "
            f"bytes in all (more than {MAX_RATIO} times), a zip bomb; refused."
        )


#: Where HDF5 looks for its superblock's signature: byte 0, then 512 and each power of two after it.
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _hdf5_inside(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], size: int | None) -> int | None:
    """The offset of an HDF5 superblock signature where HDF5 would find one in the archive's file, other than
    the start of the archive's own weights, or None.

    A ``.keras`` archive's ``model.weights.h5``, stored, may begin at byte 1024: HDF5 reads the file as those
    weights (no model; Keras finds no model config in them). A signature anywhere else, inside another entry
    (one stored so that a whole HDF5 model begins at byte 512) or between entries, is a second model.
    """
    fp = archive.fp
    if fp is None or size is None:
        return None
    here = fp.tell()
    try:
        found = []
        offset = 0
        while offset + 8 <= size:
            fp.seek(offset)
            if fp.read(8) == _HDF5_SIGNATURE:
                found.append(offset)
            offset = 512 if offset == 0 else offset * 2
        if not found:
            return None
        weights = set()
        for info in infos:
            if info.filename != "model.weights.h5" or info.compress_type != zipfile.ZIP_STORED:
                continue
            fp.seek(info.header_offset)
            header = fp.read(30)
            if len(header) < 30:
                continue
            start = info.header_offset + 30 + int.from_bytes(header[26:28], "little")
            weights.add(start + int.from_bytes(header[28:30], "little"))
        return next((o for o in found if o not in weights), None)
    except (OSError, ValueError):
        return None
    finally:
        fp.seek(here)


#: How far from the end of a file zipfile (and so Keras) looks for an archive's end record: the record and the
#: longest comment, as ``zipfile._EndRecData`` reads it.
_ZIP_TAIL = (1 << 16) + 22


def zip_tail(read: Any, size: int) -> bool:
    """Whether a file of ``size`` bytes (``read(offset, n)``) holds a zip archive's end record where zip readers
    look for one, pointing at a central directory: then zipfile, and Keras, open the file as an archive.

    zipfile takes an end record anywhere in the last 64 KiB + 22 bytes, whatever follows it (a comment
    longer than it declares, or any other bytes), and finds the central directory from the record's own
    position; other readers take the directory's offset as written. Each end record in that tail is tried
    both ways, so bytes appended after an archive do not hide it.
    """
    span = min(size, _ZIP_TAIL)
    start = size - span
    tail = read(start, span)
    at = tail.rfind(b"PK\x05\x06")
    while at >= 0:
        if at + 22 <= len(tail) and _zip_directory(read, size, start + at, tail[at : at + 22]):
            return True
        at = tail.rfind(b"PK\x05\x06", 0, at)
    return False


def _zip_directory(read: Any, size: int, record: int, data: bytes) -> bool:
    """Whether the end record ``data``, at byte ``record`` of the file, leads a zip reader to an archive."""
    if record >= 20 and read(record - 20, 4) == b"PK\x06\x07":
        return True  # a zip64 locator: the directory is found through it
    directory_size = int.from_bytes(data[12:16], "little")
    directory_offset = int.from_bytes(data[16:20], "little")
    for at in (record - directory_size, directory_offset):
        if 0 <= at and at + 4 <= record and read(at, 4) == b"PK\x01\x02":
            return True
    return False


def _archive_size(archive: zipfile.ZipFile) -> int | None:
    """Size of the file an open archive reads, None when it cannot be told."""
    fp = archive.fp
    if fp is None:  # a closed archive
        return None
    try:
        here = fp.tell()
        size = fp.seek(0, os.SEEK_END)
        fp.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return int(size)


def check_h5(
    file: Any,
    where: str,
    *,
    file_size: int | None = None,
    datasets: dict[str, Any] | None = None,
    raw: io.BytesIO | int | None = None,
) -> None:
    """Refuse HDF5 links, data kept outside the file, and datasets that declare absurd sizes.

    Variable-length data (strings, sequences) is measured before anything
    reads it whole: its elements may all name one large heap object, so a
    small file can expand into gigabytes. Datasets are read in bounded
    slices; attributes, which HDF5 reads whole, are measured from the
    descriptors in the file's bytes (see :mod:`._h5_attrs`).

    Args:
        file: An open ``h5py.File`` (or group).
        where: The file name, for messages.
        file_size: Size of the file on disk, to bound declared data.
        datasets: When given, filled with ``{name: h5py.h5d.DatasetID}`` of
            every dataset, so checksums need no second walk of the file.
        raw: The file's bytes (a ``BytesIO``) or an open descriptor of it, to
            measure attributes from; found from ``file`` when not given.

    Raises:
        UnsafeFileError: The file holds an external or soft link, an external
            or virtual dataset, or a bomb.
    """
    import h5py

    limit = MAX_H5_EXPANSION * file_size + MIN_BOMB_BYTES if file_size else MAX_DATASET_BYTES
    total = 0
    attributes = 0
    problems: list[Exception] = []
    read = raw_reader(file, raw)
    measured: set[int] = set()

    def measure_attributes(oid: Any, what: str) -> None:
        nonlocal attributes
        addr = int(h5py.h5o.get_info(oid).addr)
        if addr in measured:
            return
        measured.add(addr)
        attributes += attribute_bytes(file, oid, read, file_size=file_size, where=where, what=what)
        if attributes > limit:
            raise UnsafeFileError(
                f"{where}: HDF5 attributes expand to more than {attributes} bytes when read (up to "
                f"'{what}'), in a {file_size}-byte file: their elements name the same stored data over "
                "and over; refused as a bomb."
            )

    def visit(raw: bytes, info: Any) -> int | None:
        try:
            return check_link(raw, info)
        except Exception as err:  # raised after the walk; HDF5 callbacks must not raise
            problems.append(err)
            return 1

    groups: dict[bytes, Any] = {}  # open groups by path: each object opens from its parent, not from the root

    def check_link(raw: bytes, info: Any) -> int | None:
        # Low-level link walk: far cheaper than h5py's high-level objects.
        nonlocal total
        name = raw.decode("utf-8", "replace")
        depth = raw.count(b"/") + 1
        if depth > MAX_H5_DEPTH:
            problems.append(
                UnsafeFileError(
                    f"{where}: HDF5 groups nested more than {MAX_H5_DEPTH} deep (at '/{name[:80]}…'); Keras and "
                    "netform files nest a few dozen levels at most, so the file is refused."
                )
            )
            return 1
        if info.type == h5py.h5l.TYPE_EXTERNAL:
            target_file, target_path = (v.decode("utf-8", "replace") for v in file.id.links.get_val(raw))
            problems.append(
                UnsafeFileError(
                    f"{where}: HDF5 external link '/{name}' -> '{target_file}:{target_path}' (an ExternalLink); "
                    "links out of the file are refused."
                )
            )
        elif info.type != h5py.h5l.TYPE_HARD:
            target = file.id.links.get_val(raw)
            shown = target.decode("utf-8", "replace") if isinstance(target, bytes) else target
            problems.append(
                UnsafeFileError(
                    f"{where}: HDF5 soft link '/{name}' -> '{shown}' (a SoftLink); netform and Keras never "
                    "write links, so the file is refused."
                )
            )
        else:
            parent, _, leaf = raw.rpartition(b"/")
            # Opening by the full path walks every level again: quadratic in the depth.
            oid = h5py.h5o.open(groups[parent], leaf) if parent in groups else h5py.h5o.open(file.id, raw)
            if isinstance(oid, h5py.h5g.GroupID):
                groups[raw] = oid
            measure_attributes(oid, f"/{name}")
            if isinstance(oid, h5py.h5d.DatasetID):
                problem = _outside_data(oid, name, where)
                if problem is not None:
                    problems.append(problem)
                    return 1
                if datasets is not None:
                    datasets[name] = oid
                dtype = oid.get_type()
                n = _declared_bytes(oid, dtype)
                if n > MAX_DATASET_BYTES:
                    problems.append(
                        UnsafeFileError(
                            f"{where}: HDF5 dataset '/{name}' declares shape {tuple(oid.shape or ())} "
                            f"({n} bytes); refused as a bomb."
                        )
                    )
                    return 1
                total += n
                if dtype.detect_class(h5py.h5t.VLEN) or (
                    dtype.get_class() == h5py.h5t.STRING and dtype.is_variable_str()
                ):
                    _vlen_descriptors_fit(file, oid, read, f"/{name}", where, file_size, limit - total)
                    total += _vlen_dataset_bytes(oid, f"/{name}", where, file_size, limit - total)
        return 1 if problems else None  # anything but None stops the walk

    if file_size:  # before h5py lists any group: a B-tree that loops crashes libhdf5
        check_btrees(read, file_size, where)
    if file_size is not None and file_size >= 22 and isinstance(file, h5py.File):
        try:
            also_zip = zip_tail(read, file_size)
        except Exception:  # an unreadable tail: the checks below read the file again and say why
            also_zip = False
        if also_zip:
            raise UnsafeFileError(
                f"{where}: the HDF5 file ends with a zip archive's end record (within the last 64 KiB, where "
                "zipfile finds one), so one file holds two models (plain Keras reads a .keras name as a zip); "
                "refused. Keras and netform never write such a file."
            )
    if file_size:  # before h5py decodes any string: a looping heap would hold the interpreter for good
        from ._h5_attrs import check_global_heaps

        check_global_heaps(read, file_size, where)
    measure_attributes(h5py.h5o.open(file.id, b"/"), "/")
    file.id.links.visit(visit, info=True)
    if problems:
        raise problems[0]
    if file_size is not None and total > limit:
        raise UnsafeFileError(
            f"{where}: HDF5 datasets declare {total} bytes in a {file_size}-byte file; refused as a bomb."
        )


def _declared_bytes(oid: Any, dtype: Any) -> int:
    n = int(dtype.get_size())
    for dim in oid.shape or ():
        n *= int(dim)
    return n


#: HDF5's built-in filters (deflate, shuffle, fletcher32, szip, nbit, scaleoffset) and h5py's own LZF.
_BUILTIN_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})


def _outside_data(oid: Any, name: str, where: str) -> UnsafeFileError | None:
    """The refusal for a dataset whose values live in other files, or need a filter plugin, if it is one."""
    import h5py

    plist = oid.get_create_plist()
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in _BUILTIN_FILTERS:
            # HDF5 looks for an unknown filter in plugin libraries on its search path and loads every one it
            # finds there (a relative folder when TensorFlow set HDF5_PLUGIN_PATH=disable): code from the disk
            return UnsafeFileError(
                f"{where}: HDF5 dataset '/{name}' is compressed with filter {code}, which is not one HDF5 or "
                "h5py builds in (gzip, shuffle, fletcher32, szip, nbit, scaleoffset, lzf); reading it would load "
                "a plugin library from the disk, so the file is refused. Netform and Keras never write one."
            )
    if plist.get_external_count() > 0:
        return UnsafeFileError(
            f"{where}: HDF5 dataset '/{name}' keeps its data in an external file; data outside the file is refused."
        )
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        sources = sorted(
            {
                f"{plist.get_virtual_filename(i)}:{plist.get_virtual_dsetname(i)}"
                for i in range(plist.get_virtual_count())
            }
        )
        shown = ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")
        return UnsafeFileError(
            f"{where}: HDF5 dataset '/{name}' is a virtual dataset, which reads other files "
            f"({shown}); data outside the file is refused. Netform and Keras never write one."
        )
    return None


def _value_bytes(value: Any) -> int:
    """Bytes a value read from variable-length HDF5 data holds in memory."""
    if isinstance(value, (bytes, str)):
        return len(value)
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return sum(_value_bytes(v) for v in value) if isinstance(value, (list, tuple)) else 8
    if not dtype.hasobject:
        return int(value.nbytes)
    if dtype.names:
        return sum(_value_bytes(value[field]) for field in dtype.names)
    return sum(_value_bytes(v) for v in value.flat)


def _vlen_bomb(where: str, what: str, total: int, file_size: int | None) -> UnsafeFileError:
    return UnsafeFileError(
        f"{where}: variable-length HDF5 data {what} expands to more than {total} bytes in a "
        f"{file_size}-byte file (its elements name the same stored data over and over); refused "
        "as a bomb."
    )


def _vlen_descriptors_fit(
    file: Any, oid: Any, read: Any, what: str, where: str, file_size: int | None, budget: int
) -> None:
    """Refuse a variable-length dataset whose stored descriptors declare more data than the file or ``budget`` holds.

    Each element is stored as its length, then where its data lies; HDF5 allocates the length it reads
    before it finds the data shorter (a 17 KB file whose one element claims 4 GiB took 4.2 GB to refuse).
    The lengths are read from the file's bytes first, as for attributes (:mod:`._h5_attrs`). Only data
    stored contiguously can be measured so: a variable-length dataset stored in chunks or in its header
    (which netform and Keras never write) is refused.

    Raises:
        UnsafeFileError: The dataset cannot be measured, or an element or all of them declare too much.
    """
    import struct

    import h5py

    from ._h5_attrs import PER_ELEMENT_BYTES

    t = oid.get_type()
    if t.get_class() == h5py.h5t.STRING:
        unit = 1
    elif t.get_class() == h5py.h5t.VLEN and not t.get_super().detect_class(h5py.h5t.VLEN):
        unit = max(int(t.get_super().get_size()), 1)
    else:
        unit = 0  # variable-length data nested in another type: not measured from its bytes
    n = int(oid.get_space().get_simple_extent_npoints())
    sizeof_addr = int(file.id.get_create_plist().get_sizes()[0])
    element = 4 + sizeof_addr + 4  # length, heap collection address, object index
    offset = oid.get_offset()
    if n == 0:
        return
    if not unit or offset is None or oid.get_storage_size() != n * element:
        raise UnsafeFileError(
            f"{where}: HDF5 dataset '{what}' holds variable-length data stored in chunks, in its header or "
            "nested in another type, which cannot be measured before it is read; netform and Keras never "
            "write one, so the file is refused."
        )
    try:
        raw = read(offset, n * element)
    except Exception:  # past the end of the file, or unreadable: nothing HDF5 should be left to allocate for
        raw = b""
    if len(raw) < n * element:
        raise UnsafeFileError(f"{where}: HDF5 dataset '{what}' lies past the end of the file; refused.")
    total = 0
    for (length,) in struct.iter_unpack("<I", b"".join(raw[i : i + 4] for i in range(0, len(raw), element))):
        nbytes = length * unit
        if file_size and nbytes > file_size:
            raise UnsafeFileError(
                f"{where}: HDF5 dataset '{what}' has an element of {nbytes} bytes in a {file_size}-byte file; "
                "refused as corrupt or hostile."
            )
        total += nbytes + PER_ELEMENT_BYTES
        if total > budget:
            raise _vlen_bomb(where, f"'{what}'", total, file_size)


def _vlen_dataset_bytes(oid: Any, what: str, where: str, file_size: int | None, budget: int) -> int:
    """Bytes a variable-length dataset holds, read in slices that never exceed ``budget``.

    Each element's data is stored once in the file, so it is at most the
    file's size: slices of ``budget // file_size`` elements bound every read.
    """
    import h5py

    dataset = h5py.Dataset(oid)
    shape = dataset.shape or ()
    if not shape:
        n = _value_bytes(dataset[()])
        if n > budget:
            raise _vlen_bomb(where, f"'{what}'", n, file_size)
        return n
    per_row = 1
    for dim in shape[1:]:
        per_row *= int(dim)
    step = max(1, budget // (max(file_size or MAX_DATASET_BYTES, 1) * max(per_row, 1)))
    total = 0
    for start in range(0, int(shape[0]), step):
        total += _value_bytes(dataset[start : start + step])
        if total > budget:
            raise _vlen_bomb(where, f"'{what}'", total, file_size)
    return total


def file_size(path: str) -> int:
    """Size of a file, 0 when unknown."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
