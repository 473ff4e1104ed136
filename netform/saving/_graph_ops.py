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
"""

from __future__ import annotations

from typing import Any, Iterable

from ..errors import FormatError

__all__ = ["PURE_OPS", "FILE_OR_CODE_OPS", "refused_ops"]

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
RestoreSlice MergeV2Checkpoints PrintV2 Print
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
    stack = list(level)
    while stack:  # a callee is as exposed as its most exposed caller
        name = stack.pop()
        for node in functions[name].node_def:
            for callee in _called(node, library):
                if level[name] < level.get(callee, _SAVE + 1):
                    level[callee] = level[name]
                    stack.append(callee)
    for name in library:
        level.setdefault(name, _CALLABLE)  # reached from nowhere known: treat as callable
    found: list[tuple[str, str]] = []
    for node in graph.node:
        why = _problem(node, level_of(node.name), library)
        if why is not None:
            found.append((why, "the main graph"))
    for name, fn in functions.items():
        for node in fn.node_def:
            why = _problem(node, level[name], library)
            if why is not None:
                found.append((why, f"function '{name}'"))
    return found
