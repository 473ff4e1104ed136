"""Which TensorFlow graph operations a foreign SavedModel may hold in safe mode.

A SavedModel's graph is code. Instead of listing the operations known to be
dangerous (there are always more: ``tf.print`` to a ``file://`` stream, a
lookup table filled from a text file, ``Dataset.cache(path)``...), netform
lists the operations known to be pure computation — arithmetic, tensor
shuffling, neural-network kernels, control flow, variables and in-memory
lookup tables — and refuses anything else, naming the operation and the
function that holds it.

The list was built from what real models need: every zoo model exported by
netform, ``keras`` ``model.export()`` of Dense, convolution, recurrent,
normalization, embedding, attention and preprocessing layers, and
``tf.saved_model.save`` of ``tf.Module`` objects with variables, conditions,
loops, printing and lookup tables (``tests/security/test_model_untrusted.py``
checks all of them).

TensorFlow itself runs a SavedModel's checkpoint machinery, and that part of
the graph legitimately holds file operations: the saver (``SaveV2``,
``MergeV2Checkpoints``, reached only from the ``saver_def``'s save tensor,
which loading never runs) and the restorer (``RestoreV2``, reached from its
restore op). :func:`refused_ops` classifies each function by every place
that can reach it and grants those operations only to functions that nothing
but the saver (or restorer) reaches: the same ``MergeV2Checkpoints`` inside a
function the model can call is refused.

Some functions run while the SavedModel loads, before any input is fed, and
whatever they compute cannot be bounded by the caller's data: each
resource's ``_create_resource``, ``_initialize`` and ``_destroy_resource``
(lookup tables), each checkpointed object's restore function, and the main
graph's restore op and init op (``__saved_model_init_op``, a TF1 graph's main
op, table initializers and local variables' initializers, which TF1 loading
and TensorFlow Serving run). Those, and every function they call, may hold
only :data:`LOAD_OPS`: create, fill and read variables and tables, and reshape
or slice what they hold. A loop (``While``, TF1's ``Enter``...), an op whose
output size a value sets (``Fill``, ``Range``, random ops, ``Tile``...), a
constant declared larger than :data:`MAX_LOAD_ELEMENTS` elements (TensorFlow
fills a constant from one written value), a dense table of more initial
buckets, or a function that calls itself is refused there, so loading does
work proportional to the graph and checkpoint files, never an unbounded
amount. Functions only the model's signatures call keep the rules above:
what they compute is what the caller asks for.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..errors import FormatError
from . import _protowire as protowire

__all__ = ["PURE_OPS", "LOAD_OPS", "FILE_OR_CODE_OPS", "MAX_LOAD_ELEMENTS", "refused_ops"]

#: Operations that compute on tensors in memory and touch nothing else.
PURE_OPS: frozenset[str] = frozenset(
    """
NoOp Identity IdentityN Const Placeholder PlaceholderWithDefault StopGradient PreventGradient Snapshot
StatefulPartitionedCall PartitionedCall If StatelessIf While StatelessWhile Case StatelessCase
Enter Exit Merge Switch NextIteration LoopCond ControlTrigger RefIdentity RefSwitch RefEnter RefExit RefMerge
Assert CheckNumerics CheckNumericsV2 EnsureShape Rank Shape ShapeN Size ZerosLike OnesLike Fill Range LinSpace
VarHandleOp ReadVariableOp AssignVariableOp AssignAddVariableOp AssignSubVariableOp VarIsInitializedOp
DestroyResourceOp ResourceGather ResourceGatherNd ResourceScatterAdd ResourceScatterUpdate ResourceScatterSub
ResourceScatterMul ResourceScatterDiv ResourceScatterMin ResourceScatterMax ResourceScatterNdUpdate
ResourceScatterNdAdd ResourceScatterNdSub VariableShape DisableCopyOnRead
VariableV2 Variable Assign AssignAdd AssignSub IsVariableInitialized
Add AddV2 AddN Sub Mul MulNoNan Div DivNoNan RealDiv FloorDiv FloorMod TruncateDiv TruncateMod Mod Pow Neg
Abs Sign Square Sqrt Rsqrt Exp Expm1 Log Log1p Sin Cos Tan Asin Acos Atan Atan2 Sinh Cosh Tanh Asinh Acosh
Atanh Sigmoid Erf Erfc Erfinv Ndtri Floor Ceil Round Rint Reciprocal Inv Maximum Minimum SquaredDifference
Xlogy Xdivy Xlog1py Lgamma Digamma IsNan IsInf IsFinite Equal NotEqual Less LessEqual Greater GreaterEqual
ApproximateEqual LogicalAnd LogicalOr LogicalNot Select SelectV2 Sum Prod Mean Max Min All Any EuclideanNorm
ArgMax ArgMin Cumsum Cumprod CumulativeLogsumexp MatMul BatchMatMul BatchMatMulV2 BatchMatMulV3 Einsum Cast
Bitcast BitwiseAnd BitwiseOr BitwiseXor Invert LeftShift RightShift PopulationCount ClipByValue
BiasAdd BiasAddV1 Relu Relu6 Elu Selu LeakyRelu Softplus Softsign Softmax LogSoftmax
Conv2D Conv3D DepthwiseConv2dNative Conv2DBackpropInput Conv3DBackpropInputV2 DepthwiseConv2dNativeBackpropInput
MaxPool MaxPoolV2 MaxPool3D AvgPool AvgPool3D MaxPoolWithArgmax FractionalMaxPool FractionalAvgPool
FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3 LRN L2Loss TopKV2 InTopKV2 NthElement
SoftmaxCrossEntropyWithLogits SparseSoftmaxCrossEntropyWithLogits Dilation2D
Reshape Squeeze ExpandDims Transpose ConjugateTranspose ConcatV2 Concat ConcatOffset Pack Unpack Split SplitV
Slice StridedSlice Tile Pad PadV2 MirrorPad Gather GatherV2 GatherNd ScatterNd TensorScatterUpdate
TensorScatterAdd TensorScatterSub TensorScatterMax TensorScatterMin Where Reverse ReverseV2 ReverseSequence
BroadcastTo BroadcastArgs BroadcastGradientArgs OneHot Roll Unique UniqueV2 UniqueWithCounts ListDiff
SetSize DenseToDenseSetOperation InvertPermutation MatrixBandPart MatrixDiag MatrixDiagV2 MatrixDiagV3
MatrixDiagPart MatrixDiagPartV2 MatrixDiagPartV3 MatrixSetDiag MatrixSetDiagV2 MatrixSetDiagV3 Diag DiagPart
Cholesky MatrixInverse MatrixDeterminant LogMatrixDeterminant Qr Svd SelfAdjointEigV2 MatrixTriangularSolve
MatrixSolve MatrixSolveLs Lu Complex Real Imag Angle ComplexAbs Conj FFT IFFT FFT2D IFFT2D FFT3D IFFT3D RFFT
IRFFT RFFT2D IRFFT2D RFFT3D IRFFT3D
ResizeBilinear ResizeNearestNeighbor ResizeBicubic ResizeArea ScaleAndTranslate CropAndResize
SpaceToDepth DepthToSpace SpaceToBatchND BatchToSpaceND SpaceToBatch BatchToSpace ExtractImagePatches
ExtractVolumePatches AdjustContrastv2 AdjustHue AdjustSaturation RGBToHSV HSVToRGB ImageProjectiveTransformV3
SegmentSum SegmentMean SegmentMax SegmentMin SegmentProd UnsortedSegmentSum UnsortedSegmentMax
UnsortedSegmentMin UnsortedSegmentProd SparseSegmentSum SparseSegmentMean SparseSegmentSqrtN
SparseToDense SparseTensorDenseMatMul SparseReshape SparseFillEmptyRows SparseReorder SparseSlice
SparseConcat SparseAdd SparseTensorDenseAdd SparseReduceSum SparseSegmentSumWithNumSegments
Bucketize Bincount DenseBincount RaggedBincount SparseBincount UnravelIndex HistogramFixedWidth
RandomUniform RandomStandardNormal TruncatedNormal RandomUniformInt RandomShuffle Multinomial
StatelessRandomUniform StatelessRandomNormal StatelessTruncatedNormal StatelessRandomUniformInt
StatelessRandomUniformV2 StatelessRandomNormalV2 StatelessTruncatedNormalV2 StatelessRandomUniformIntV2
StatelessRandomUniformFullIntV2 StatelessRandomGetKeyCounter StatelessRandomGetAlg StatelessRandomGetKeyCounterAlg
StatelessMultinomial StatelessRandomBinomial RngReadAndSkip RngSkip StatefulUniform StatefulStandardNormalV2
StatefulTruncatedNormal StatefulUniformInt StatefulUniformFullInt
StringJoin StaticRegexFullMatch StaticRegexReplace RegexFullMatch RegexReplace StringSplit StringSplitV2
StringLower StringUpper StringStrip StringLength Substr StringToHashBucket StringToHashBucketFast
StringToHashBucketStrong StringToNumber AsString StringFormat StringNGrams ReduceJoin UnicodeDecode
UnicodeDecodeWithOffsets UnicodeEncode UnicodeScript UnicodeTranscode ShardedFilename ShardedFilespec
HashTable HashTableV2 MutableHashTable MutableHashTableV2 MutableHashTableOfTensorsV2 MutableDenseHashTableV2
AnonymousHashTable AnonymousMutableHashTable AnonymousMutableHashTableOfTensors AnonymousMutableDenseHashTable
InitializeTable InitializeTableV2 LookupTableFind LookupTableFindV2 LookupTableImportV2 LookupTableInsertV2
LookupTableSizeV2 LookupTableExportV2 LookupTableRemoveV2
RaggedTensorToTensor RaggedTensorFromVariant RaggedTensorToVariant RaggedRange RaggedGather RaggedTensorToSparse
RaggedCross RaggedFillEmptyRows
TensorListReserve TensorListFromTensor TensorListStack TensorListSetItem TensorListGetItem TensorListLength
TensorListElementShape TensorListPushBack TensorListPopBack EmptyTensorList TensorListConcatV2 TensorListGather
TensorListScatterIntoExistingList TensorListSplit TensorListResize
TensorArrayV3 TensorArrayWriteV3 TensorArrayReadV3 TensorArrayGatherV3 TensorArrayScatterV3
TensorArraySizeV3 TensorArrayConcatV3 TensorArraySplitV3 TensorArrayCloseV3
CudnnRNN CudnnRNNV2 CudnnRNNV3 CudnnRNNCanonicalToParams CudnnRNNCanonicalToParamsV2 CudnnRNNParamsSize
BlockLSTM BlockLSTMV2 LSTMBlockCell GRUBlockCell OptionalFromValue OptionalGetValue OptionalHasValue OptionalNone
PrintV2
""".split()
)

#: Operations a function TensorFlow runs while loading may hold: none loops or makes more elements than it
#: is given (a constant, a variable, a table are as large as the file they come from).
LOAD_OPS: frozenset[str] = frozenset(
    """
NoOp Identity IdentityN Const Placeholder PlaceholderWithDefault StopGradient Snapshot Assert
StatefulPartitionedCall PartitionedCall If StatelessIf Case StatelessCase
VarHandleOp ReadVariableOp AssignVariableOp VarIsInitializedOp DestroyResourceOp DisableCopyOnRead
VariableV2 Variable Assign IsVariableInitialized RefIdentity
HashTable HashTableV2 MutableHashTable MutableHashTableV2 MutableHashTableOfTensors MutableHashTableOfTensorsV2
MutableDenseHashTableV2 AnonymousHashTable AnonymousMutableHashTable AnonymousMutableHashTableOfTensors
AnonymousMutableDenseHashTable InitializeTable InitializeTableV2 LookupTableImportV2 LookupTableInsertV2
LookupTableExportV2 LookupTableSizeV2 LookupTableFindV2 LookupTableRemoveV2
Cast Reshape Squeeze ExpandDims Shape ShapeN Size Rank Slice StridedSlice
""".split()
)

#: The most elements a constant (or a dense table's initial buckets) of a load-time function may declare.
MAX_LOAD_ELEMENTS = 2**26

#: Object-graph children holding the functions TensorFlow runs for a resource (creating, filling, freeing it).
_RESOURCE_FUNCTIONS = frozenset({"_create_resource", "_initialize", "_destroy_resource"})
#: Collections of a graph whose nodes TF1 loading and TensorFlow Serving run before the first call.
_INIT_COLLECTIONS = ("saved_model_main_op", "legacy_init_op", "table_initializer")
_INIT_SIGNATURE = "__saved_model_init_op"

#: Stream values of ``PrintV2`` that do not name a file.
_SAFE_PRINT_STREAMS = frozenset({"stderr", "stdout", "log(info)", "log(warning)", "log(error)"})

#: Refused operations that are known to touch files or run Python (for the wording of messages).
FILE_OR_CODE_OPS: frozenset[str] = frozenset(
    """
ReadFile WriteFile MatchingFiles ImmutableConst TextLineDataset TFRecordDataset TFRecordDatasetV2
FixedLengthRecordDataset FixedLengthRecordDatasetV2 ExperimentalCSVDataset CSVDatasetV2 SaveDataset
SaveDatasetV2 LoadDataset DatasetToTFRecord ExperimentalDatasetToTFRecord SnapshotDataset SnapshotDatasetV2
CacheDataset CacheDatasetV2 CreateSummaryFileWriter WriteSummary WriteScalarSummary WriteHistogramSummary
WriteImageSummary WriteAudioSummary WriteGraphSummary WriteRawProtoSummary PyFunc PyFuncStateless EagerPyFunc
DebugIdentity DebugIdentityV2 DebugIdentityV3 DebugNanCount DebugNumericSummary DebugNumericSummaryV2
InitializeTableFromTextFile InitializeTableFromTextFileV2 SaveV2 Save SaveSlices RestoreV2 Restore
RestoreSlice MergeV2Checkpoints PrintV2 Print DecodeProtoV2 EncodeProto
""".split()
)

#: Checkpoint operations TensorFlow's own saver needs, granted only where nothing else reaches.
_SAVER_OPS = frozenset({"SaveV2", "SaveSlices", "MergeV2Checkpoints"})
_RESTORE_OPS = frozenset({"RestoreV2", "RestoreSlice"})

# Reach levels: what may run a node. The strictest place that reaches a function decides.
_CALLABLE, _RESTORE, _SAVE = 0, 1, 2
_ALLOWED = {_CALLABLE: frozenset(), _RESTORE: _RESTORE_OPS, _SAVE: _SAVER_OPS}


def _node_name(tensor: str) -> str:
    return tensor.lstrip("^").split(":", 1)[0]


def _closure(nodes: dict[str, Any], roots: Iterable[str]) -> set[str]:
    """Names of the top-level nodes ``roots`` depend on (data and control inputs)."""
    seen: set[str] = set()
    stack = [r for r in roots if r in nodes]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(n for n in (_node_name(i) for i in nodes[name].input) if n in nodes and n not in seen)
    return seen


def _called(node: Any, library: set[str]) -> set[str]:
    """Functions a node calls: as its op, or through function-valued attributes."""
    out = {node.op} & library
    for value in node.attr.values():
        if value.HasField("func"):
            out.add(value.func.name)
        if value.HasField("list"):
            out.update(f.name for f in value.list.func)
    return out


def _problem(node: Any, level: int, library: set[str]) -> str | None:
    """Why a node is refused at this reach level, or None."""
    op = node.op
    if op in library:
        return None
    if op == "PrintV2":
        stream = node.attr["output_stream"].s.decode("utf-8", "replace") if "output_stream" in node.attr else "stderr"
        return None if stream in _SAFE_PRINT_STREAMS else f"PrintV2 to '{stream}'"
    if op in PURE_OPS or op in _ALLOWED[level]:
        return None
    return op


def _declared_elements(node: Any) -> int:
    """Elements a node's constant value or dense table declares (0 when it declares none)."""
    if node.op == "Const" and "value" in node.attr:
        total = 1
        for dim in node.attr["value"].tensor.tensor_shape.dim:
            total *= max(int(dim.size), 0)
        return total
    if node.op == "MutableDenseHashTableV2" and "initial_num_buckets" in node.attr:
        return int(node.attr["initial_num_buckets"].i)
    return 0


def _load_problem(node: Any, level: int, library: set[str]) -> str | None:
    """Why a node of a function run while loading is refused there, or None."""
    op = node.op
    if op in library or op in _ALLOWED[level]:
        return None
    if op not in LOAD_OPS:
        return f"{op} (a loop)" if op in _LOOP_OPS else op
    if _declared_elements(node) > MAX_LOAD_ELEMENTS:
        return f"{op} of {_declared_elements(node):,} elements"
    return None


#: TensorFlow's loops (functional and TF1 dataflow), named in the refusal.
_LOOP_OPS = frozenset(
    {"While", "StatelessWhile", "For", "Enter", "RefEnter", "NextIteration", "RefNextIteration", "LoopCond"}
)


def _functions_of(obj: Any) -> list[str]:
    """The concrete functions a node of the object graph stands for (a function or a bare concrete function)."""
    return [*obj.function.concrete_functions, obj.bare_concrete_function.concrete_function_name]


def _variable_initializer(data: bytes) -> str:
    """The ``initializer_name`` (field 2) of a serialized ``VariableDef``, or ""."""
    try:
        for number, wire, value, stop in protowire.fields(data):
            if number == 2 and wire == protowire.LEN:
                return bytes(data[value:stop]).decode("utf-8", "replace")
    except protowire.WireError:
        return ""  # TensorFlow refuses such a graph itself
    return ""


def _load_roots(meta_graph: Any) -> tuple[set[str], list[str]]:
    """The functions and the main-graph nodes TensorFlow runs while loading (see the module's docstring)."""
    objects = list(meta_graph.object_graph_def.nodes)
    functions: set[str] = set()
    for obj in objects:
        for child in obj.children:
            if child.local_name in _RESOURCE_FUNCTIONS and 0 <= child.node_id < len(objects):
                functions.update(_functions_of(objects[child.node_id]))
        for saveable in obj.saveable_objects.values():
            if 0 <= saveable.restore_function < len(objects):
                functions.update(_functions_of(objects[saveable.restore_function]))
    nodes = [meta_graph.saver_def.restore_op_name]
    init = getattr(meta_graph, "init_op_outputs", None)  # netform's reader decodes them, TensorFlow's proto not
    if init is None and _INIT_SIGNATURE in meta_graph.signature_def:
        init = [t.name for t in meta_graph.signature_def[_INIT_SIGNATURE].outputs.values()]
    nodes += init or []
    collections = meta_graph.collection_def
    for key in _INIT_COLLECTIONS:
        if key in collections:
            nodes += list(collections[key].node_list.value)
    if "local_variables" in collections:
        nodes += [_variable_initializer(v) for v in collections["local_variables"].bytes_list.value]
    functions.discard("")
    return functions, [_node_name(n) for n in nodes if n]


def _calling_itself(callees: Callable[[str], set[str]], names: set[str]) -> set[str]:
    """Those of ``names`` (closed under calls) that call themselves, directly or through others."""
    left = set(names)
    while True:  # peel off the functions that call nothing left: what remains lies on a cycle
        done = {name for name in left if not callees(name) & left}
        if not done:
            return left
        left -= done


def _missing_function(graph: Any, functions: dict[str, Any], where: str) -> None:
    """Refuse a graph whose node calls a function (through an attribute) that its function library lacks.

    TensorFlow's graphs name each function they call in the library beside them; such a graph is damaged.

    Raises:
        FormatError: Naming ``where``, the function and the node that calls it.
    """
    places = [("the main graph", graph.node)] + [(f"function '{name}'", fn.node_def) for name, fn in functions.items()]
    for place, nodes in places:
        for node in nodes:
            for value in node.attr.values():
                names = [value.func.name] if value.HasField("func") else []
                if value.HasField("list"):
                    names += [f.name for f in value.list.func]
                for name in names:
                    if name not in functions:
                        raise FormatError(
                            f"{where}: node '{node.name}' of {place} calls function {name!r:.200}, which the graph's "
                            "function library does not hold; the SavedModel is damaged or truncated: export it again"
                        )


def refused_ops(meta_graph: Any, *, where: str = "saved_model.pb") -> list[tuple[str, str]]:
    """``(operation, place)`` of every node a safe-mode load must refuse.

    Args:
        meta_graph: A ``MetaGraphDef`` of the SavedModel.
        where: The SavedModel, for the message of a damaged graph.

    Returns:
        One pair per refused operation and function (``place`` is
        ``"function '<name>'"`` or ``"the main graph"``), in graph order.

    Raises:
        FormatError: A node calls a function the graph's function library does not hold.
    """
    graph = meta_graph.graph_def
    functions = {fn.signature.name: fn for fn in graph.library.function}
    _missing_function(graph, functions, where)
    library = set(functions)
    nodes = {n.name: n for n in graph.node}
    saver = meta_graph.saver_def
    save_nodes = _closure(nodes, [_node_name(saver.save_tensor_name)]) if saver.save_tensor_name else set()
    restore_nodes = _closure(nodes, [_node_name(saver.restore_op_name)]) if saver.restore_op_name else set()

    def level_of(name: str) -> int:
        if name in restore_nodes:
            return _RESTORE
        return _SAVE if name in save_nodes else _CALLABLE

    # Seed each function with the places that call it directly; the object graph's
    # functions can be called by whoever loads the model.
    level: dict[str, int] = {}
    for node in graph.node:
        for fn in _called(node, library):
            level[fn] = min(level.get(fn, _SAVE), level_of(node.name))
    for name in meta_graph.object_graph_def.concrete_functions:
        if name in library:
            level[name] = _CALLABLE
    calls: dict[str, set[str]] = {}

    def callees(name: str) -> set[str]:
        if name not in calls:
            calls[name] = {c for node in functions[name].node_def for c in _called(node, library)}
        return calls[name]

    stack = list(level)
    while stack:  # a callee is as exposed as its most exposed caller
        name = stack.pop()
        for callee in callees(name):
            if level[name] < level.get(callee, _SAVE + 1):
                level[callee] = level[name]
                stack.append(callee)
    for name in library:
        level.setdefault(name, _CALLABLE)  # reached from nowhere known: treat as callable
    load_functions, load_roots = _load_roots(meta_graph)
    load_nodes = _closure(nodes, load_roots)
    stack = [fn for fn in load_functions if fn in library]
    stack += [fn for name in load_nodes for fn in _called(nodes[name], library)]
    load_functions = set()
    while stack:  # everything a load-time function calls runs while loading too
        name = stack.pop()
        if name not in load_functions:
            load_functions.add(name)
            stack.extend(callees(name))
    found: list[tuple[str, str]] = []
    for node in graph.node:
        why = _problem(node, level_of(node.name), library)
        if why is None and node.name in load_nodes:
            why = _load_problem(node, level_of(node.name), library)
            why = why and f"{why} while loading"
        if why is not None:
            found.append((why, "the main graph"))
    for name, fn in functions.items():
        for node in fn.node_def:
            why = _problem(node, level[name], library)
            if why is None and name in load_functions:
                why = _load_problem(node, level[name], library)
                why = why and f"{why} while loading"
            if why is not None:
                found.append((why, f"function '{name}'"))
    for name in sorted(_calling_itself(callees, load_functions)):
        found.append(("a call of itself while loading", f"function '{name}'"))
    return found
