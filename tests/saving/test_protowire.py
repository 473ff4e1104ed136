"""The one protobuf wire reader netform's SavedModel, ONNX layout and ONNX inspect walks share."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from netform.errors import FormatError
from netform.saving import _protowire as protowire
from netform.saving._protowire import Budget, TooManyFields, WireError, fields, mapped, read_varint, varint_or_none


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _tag(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _len_field(number: int, payload: bytes) -> bytes:
    return _tag(number, 2) + _varint(len(payload)) + payload


def _all(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int, int, int]]:
    return list(fields(data, start, end))


def test_each_wire_type_and_its_span() -> None:
    data = (
        _tag(1, 0) + _varint(150)
        + _len_field(2, b"hi")
        + _tag(3, 1) + (2**40).to_bytes(8, "little")
        + _tag(4, 5) + (7).to_bytes(4, "little")
        + _tag(2000, 0) + _varint(2**64 - 1)  # a two-byte tag; the largest 64-bit number (ten bytes)
    )
    found = _all(data)
    assert [(n, w) for n, w, _, _ in found] == [(1, 0), (2, 2), (3, 1), (4, 5), (2000, 0)]
    assert found[0][2] == 150
    _, _, start, stop = found[1]
    assert data[start:stop] == b"hi"
    _, _, start, stop = found[2]
    assert int.from_bytes(data[start:stop], "little") == 2**40
    _, _, start, stop = found[3]
    assert int.from_bytes(data[start:stop], "little") == 7
    assert found[4][2] == 2**64 - 1 and found[4][3] == len(data)


def test_read_varint_and_its_ten_byte_limit() -> None:
    assert read_varint(b"\xac\x02", 0, 2) == (300, 2)
    ten = _varint(2**64 - 1)
    assert len(ten) == 10 and read_varint(ten, 0, 10) == (2**64 - 1, 10)
    eleven = b"\xff" * 10 + b"\x01"
    with pytest.raises(WireError, match="longer than ten bytes") as err:
        read_varint(eleven, 0, len(eleven))
    assert err.value.kind == "varint" and err.value.at == 0
    # the same number as a tag, and as a field's value
    with pytest.raises(WireError) as err:
        _all(eleven)
    assert err.value.number is None and err.value.kind == "varint"
    with pytest.raises(WireError) as err:
        _all(_tag(5, 0) + eleven)
    assert (err.value.number, err.value.wire, err.value.kind) == (5, 0, "varint")


def test_truncated_varint() -> None:
    for data in (b"\x80", _tag(1, 0) + b"\xff\xff", _tag(1, 2) + b"\x80", b"\x80\x80\x80"):
        with pytest.raises(WireError, match="cut short") as err:
            _all(data)
        assert isinstance(err.value, FormatError)
    # a varint must end inside its own message even where the buffer goes on
    data = _tag(1, 0) + b"\x96\x01"
    with pytest.raises(WireError, match="cut short"):
        _all(data, 0, len(data) - 1)
    assert varint_or_none(b"\x96", 0) == (None, 1)
    assert varint_or_none(b"\xff" * 12, 0) == (None, 10)  # where reading stopped: ten bytes on
    assert varint_or_none(b"\x96\x01", 0) == (150, 2)
    assert varint_or_none(b"\x01", 5) == (None, 5)


def test_length_past_the_end() -> None:
    data = _tag(7, 2) + _varint(2**40)
    with pytest.raises(WireError, match=r"field 7 declares 1,099,511,627,776 bytes, more than its message holds"):
        _all(data)
    good = _len_field(7, b"abc")
    assert _all(good) == [(7, 2, 2, 5)]
    with pytest.raises(WireError) as err:
        _all(good[:-1])
    assert (err.value.kind, err.value.number, err.value.wire) == ("bounds", 7, 2)
    for wire, size in ((1, 8), (5, 4)):
        with pytest.raises(WireError, match="field 3 runs past its message"):
            _all(_tag(3, wire) + b"\x00" * (size - 1))


@pytest.mark.parametrize("wire", [3, 4, 6, 7])
def test_wire_types_protobuf_does_not_define_or_netform_does_not_read(wire: int) -> None:
    data = _tag(1, 0) + b"\x01" + _tag(9, wire) + b"\x00" * 16
    found = fields(data)
    assert next(found) == (1, 0, 1, 2)  # the fields before it are read
    with pytest.raises(WireError, match=f"field 9 has wire type {wire}") as err:
        next(found)
    assert (err.value.kind, err.value.number, err.value.wire, err.value.at) == ("wire", 9, wire, 2)


def test_field_number_zero_is_refused() -> None:
    for data in (b"\x00", b"\x02\x00", b"\x05\x00\x00\x00\x00", _tag(1, 0) + b"\x01" + b"\x00\x05"):
        with pytest.raises(WireError, match="number 0, which protobuf does not allow") as err:
            _all(data)
        assert err.value.kind == "number" and err.value.number == 0
    with pytest.raises(WireError, match="field 0 has wire type 4") as err:  # what is wrong first
        _all(b"\x04")
    assert err.value.kind == "wire"


def test_nested_messages_are_bounded_by_their_parent() -> None:
    inner = _tag(1, 0) + _varint(42) + _len_field(2, b"name")
    data = _len_field(1, _len_field(3, inner)) + _tag(2, 0) + b"\x07"
    (number, wire, start, stop), after = _all(data)
    assert (number, wire, after) == (1, 2, (2, 0, 7, len(data)))
    ((_, _, start, stop),) = _all(data, start, stop)
    (a, b) = _all(data, start, stop)
    assert a == (1, 0, 42, start + 2)
    assert data[b[2] : b[3]] == b"name"
    # a nested field that claims bytes of its parent's next field: the buffer holds them, the message does not
    claims = _tag(1, 2) + _varint(5) + b"ab"  # a 5-byte string in a 4-byte message
    outer = _len_field(1, claims) + _len_field(2, b"xyz")
    ((_, _, start, stop), _) = _all(outer)
    with pytest.raises(WireError, match="field 1 declares 5 bytes, more than its message holds"):
        _all(outer, start, stop)


def test_budget_is_shared_by_nested_walks() -> None:
    inner = _tag(1, 0) + b"\x01" + _tag(2, 0) + b"\x02"
    data = _len_field(1, inner) + _len_field(1, inner)
    budget = Budget(6)
    for _, _, start, stop in fields(data, budget=budget):
        assert len(list(fields(data, start, stop, budget))) == 2
    assert budget.left == 0
    budget = Budget(5)
    with pytest.raises(TooManyFields, match="more than 5 protobuf fields"):
        for _, _, start, stop in fields(data, budget=budget):
            list(fields(data, start, stop, budget))


def test_memoryview_mmap_and_empty_buffers(tmp_path: Path) -> None:
    data = _len_field(2, b"hi") + _tag(1, 0) + b"\x05"
    expected = _all(data)
    assert list(fields(memoryview(data))) == expected
    assert list(fields(bytearray(data))) == expected
    assert _all(b"") == []
    path = tmp_path / "m.pb"
    path.write_bytes(data)
    with open(path, "rb") as fh, mapped(fh) as view:
        assert list(fields(view)) == expected
    empty = tmp_path / "empty.pb"
    empty.write_bytes(b"")
    with open(empty, "rb") as fh, mapped(fh) as view:
        assert list(fields(view)) == []


def _walk(data: bytes, start: int, end: int, depth: int) -> int:
    """Every field, descending into each length-delimited one as a message where it parses as one."""
    count = 0
    for _, wire, start_, stop in fields(data, start, end, _BUDGET):
        count += 1
        if wire == protowire.LEN and depth < 8:
            try:
                count += _walk(data, start_, stop, depth + 1)
            except WireError:
                pass  # a string or bytes, not a message
    return count


_BUDGET = Budget(10**9)


def test_random_bytes_give_fields_or_a_format_error() -> None:
    rng = random.Random(20261202)
    seed = _len_field(1, _len_field(2, _tag(1, 0) + b"\x05" + _len_field(3, b"text"))) + _tag(3, 5) + b"\x00" * 4
    outcomes = {"fields": 0, "error": 0}
    for i in range(600):
        if i % 2:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        else:  # a valid message, damaged: closer to the files a reader meets
            data = bytearray(seed)
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data[: rng.randrange(len(data) + 1)])
        try:
            found = list(fields(data))
            _walk(data, 0, len(data), 0)
        except FormatError as err:
            assert isinstance(err, WireError) and err.why in str(err)
            outcomes["error"] += 1
            continue
        outcomes["fields"] += 1
        for number, wire, value, stop in found:  # every span lies inside the message, in order
            assert number > 0 and wire in (0, 1, 2, 5)
            assert stop <= len(data) and (wire == 0 or 0 <= value <= stop)
    assert outcomes["fields"] > 20 and outcomes["error"] > 20, outcomes


def test_the_readers_refuse_a_field_number_zero_as_protobuf_parsers_do(tmp_path: Path) -> None:
    """A field 0 (which TensorFlow's and onnx's parsers refuse) is corruption to each reader, not a field to skip."""
    from netform.saving._export import describe_export
    from netform.saving._onnx_layout import onnx_problem
    from netform.saving._savedmodel_reader import read_saved_graph

    saved = tmp_path / "zero_savedmodel"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(_tag(1, 0) + b"\x01" + _len_field(2, _tag(0, 0) + b"\x01"))
    with pytest.raises(FormatError, match=r"zero_savedmodel: the SavedModel graph \(saved_model.pb\) is truncated or "
                                          r"corrupt \(a field has number 0, which protobuf does not allow\)"):
        read_saved_graph(str(saved))

    def model(type_proto: bytes) -> bytes:
        value_info = _len_field(1, b"x") + _len_field(2, type_proto)
        graph = _len_field(1, _len_field(4, b"Relu")) + _len_field(11, value_info) + _len_field(12, value_info)
        return _tag(1, 0) + b"\x08" + _len_field(7, graph) + _len_field(8, _tag(2, 0) + b"\x11")

    tensor_type = _len_field(1, _tag(1, 0) + b"\x01")  # TypeProto.tensor_type, elem_type FLOAT
    path = tmp_path / "m.onnx"
    path.write_bytes(model(tensor_type))
    info = describe_export(str(path), "onnx")
    assert info["inputs"] == [{"name": "x", "dtype": "float32", "shape": None}] and info["opset"] == 17
    path.write_bytes(model(tensor_type + _tag(0, 0) + b"\x01"))  # the layout walk opens each TypeProto too
    with pytest.raises(FormatError, match=r"m.onnx: the ONNX file is corrupt \(protobuf field number 0\)"):
        describe_export(str(path), "onnx")
    assert onnx_problem(path.read_bytes()) == "the model.graph.input[0].type: field 0 is no field of an ONNX type"
    assert onnx_problem(model(tensor_type) + _tag(0, 0) + b"\x01") == "the model: field 0 is no field of an ONNX model"
