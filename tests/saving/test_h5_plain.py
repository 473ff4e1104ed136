"""The plain HDF5 reader (no h5py) only accepts what h5py's checked walk accepts, and reads it the same.

``inspect``, ``render``, ``summary`` and ``export-spec`` read a ``.keras``
archive's weights with :mod:`netform.saving._h5_plain` when they are the plain
HDF5 Keras writes, and with h5py and :func:`check_h5` otherwise. These tests
hold the reader to that: on files Keras and netform write it gives the same
datasets, shapes and attributes as h5py; every feature beyond the subset
(links, chunked, filtered, external, virtual or variable-length data, other
superblocks, a zip tail) is left to h5py; and on thousands of corrupted
copies of a real file, whatever it accepts h5py's walk accepts with the same
result.
"""

from __future__ import annotations

import io
import random
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from netform.saving._h5_plain import NotPlain, PlainDataset, read_plain

h5py = pytest.importorskip("h5py")
np = pytest.importorskip("numpy")
keras = pytest.importorskip("keras")
L = keras.layers


def _h5py_view(raw: bytes) -> tuple[dict[str, tuple[int, ...]], dict[str, dict[str, Any]]]:
    """Datasets (in h5py's walk order) and group attributes as h5py and check_h5 see them; raises if refused."""
    from netform.saving._safety import check_h5

    with h5py.File(io.BytesIO(raw), "r") as f:
        found: dict[str, Any] = {}
        check_h5(f, "w.h5", file_size=len(raw), datasets=found)
        shapes = {name: tuple(int(d) for d in (oid.shape or ())) for name, oid in found.items()}
        groups: dict[str, dict[str, Any]] = {"": dict(f.attrs)}

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Group):
                groups[name] = dict(obj.attrs)

        f.visititems(visit)
    return shapes, groups


def _plain_view(raw: bytes) -> tuple[dict[str, tuple[int, ...]], dict[str, dict[str, Any]]]:
    plain = read_plain(raw)
    return {name: d.shape for name, d in plain.datasets.items()}, {k: g.attrs for k, g in plain.groups.items()}


def _agree(plain: tuple[Any, Any], seen: tuple[Any, Any]) -> None:
    """The plain view equals h5py's: datasets in order with their shapes, attribute names, string values."""
    plain_shapes, plain_groups = plain
    shapes, groups = seen
    assert list(plain_shapes.items()) == list(shapes.items())
    assert plain_groups.keys() == groups.keys()
    for name, attrs in groups.items():
        assert plain_groups[name].keys() == attrs.keys(), name
        for key, value in attrs.items():
            if isinstance(value, str):
                assert plain_groups[name][key] == value
            else:  # numbers and byte strings are not read: only their names are asked for
                assert plain_groups[name][key] is ...


def _same(raw: bytes) -> None:
    _agree(_plain_view(raw), _h5py_view(raw))


def _weights_of(model: Any, tmp_path: Path, name: str = "m.keras") -> bytes:
    import netform as nf

    path = tmp_path / name
    nf.save(model, path)
    with zipfile.ZipFile(path) as zf:
        return zf.read("model.weights.h5")


def _trained(tmp_path: Path) -> bytes:
    x = keras.Input((6,), name="x")
    h = L.Dense(5, activation="relu", name="dense")(x)
    h = L.BatchNormalization(name="norm")(h)
    out = L.Dense(2, name="head")(h)
    model = keras.Model(x, out, name="trained")
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((8, 6), "float32"), np.zeros((8, 2), "float32"), epochs=1, verbose=0)
    return _weights_of(model, tmp_path)


def _models() -> dict[str, Any]:
    seq = keras.Sequential([keras.Input((4, 4, 3)), L.Conv2D(2, 3), L.Flatten(), L.Dense(3)], name="seq")
    x = keras.Input((7, 3), name="x")
    rnn = keras.Model(x, L.Bidirectional(L.LSTM(4))(L.Embedding(10, 3)(L.Flatten()(x))), name="rnn")
    inner = keras.Sequential([keras.Input((5,)), L.Dense(4)], name="inner")
    y = keras.Input((5,), name="y")
    nested = keras.Model(y, L.Dense(2)(inner(y)), name="nested")
    return {"seq": seq, "rnn": rnn, "nested": nested}


@pytest.mark.parametrize("name", ["seq", "rnn", "nested"])
def test_keras_written_weights_read_as_h5py_reads_them(tmp_path: Path, name: str) -> None:
    _same(_weights_of(_models()[name], tmp_path))


def test_trained_model_with_optimizer_state(tmp_path: Path) -> None:
    raw = _trained(tmp_path)
    _same(raw)
    plain = read_plain(raw)
    first = plain.get("optimizer/vars/0")
    assert isinstance(first, PlainDataset) and first.kind == "i"
    with h5py.File(io.BytesIO(raw), "r") as f:
        assert first.read_scalar(raw) == int(f["optimizer/vars/0"][()]) == 1


def _h5(build: Any, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w", **kwargs) as f:
        f.create_group("layers/dense/vars").attrs["name"] = "dense"
        build(f)
    return buf.getvalue()


def _vds(f: Any) -> None:
    layout = h5py.VirtualLayout(shape=(4,), dtype="float32")
    layout[:] = h5py.VirtualSource("other.h5", "data", shape=(4,))
    f.create_virtual_dataset("layers/dense/vars/0", layout)


_BEYOND = {
    "soft link": lambda f: f.__setitem__("layers/dense/vars/1", h5py.SoftLink("/layers")),
    "external link": lambda f: f.__setitem__("layers/dense/vars/1", h5py.ExternalLink("other.h5", "/x")),
    "hard link twice": lambda f: f.__setitem__("again", f["layers"]),
    "chunked": lambda f: f.create_dataset("layers/dense/vars/0", data=np.zeros(8, "float32"), chunks=(4,)),
    "gzip": lambda f: f.create_dataset("layers/dense/vars/0", data=np.zeros(8, "float32"), compression="gzip"),
    "external data": lambda f: f.create_dataset("layers/dense/vars/0", shape=(4,), dtype="f4", external=[("x", 0, 16)]),
    "virtual": _vds,
    "vlen dataset": lambda f: f.create_dataset("s", data=["a", "bb"], dtype=h5py.string_dtype()),
    "string dataset": lambda f: f.create_dataset("s", data=np.array([b"ab"])),
    "compound": lambda f: f.create_dataset("c", data=np.zeros(2, [("a", "f4"), ("b", "i4")])),
    "bool": lambda f: f.create_dataset("b", data=np.zeros(2, bool)),
    "huge declared": lambda f: f.create_dataset("big", shape=(2**40,), dtype="f4"),
    "vlen list attribute": lambda f: f["layers"].attrs.__setitem__("names", ["a", "b"]),
    "object reference attribute": lambda f: f["layers"].attrs.__setitem__("ref", f["layers"].ref),
    "many attributes (dense storage)": lambda f: [f["layers"].attrs.__setitem__(f"a{i}", i) for i in range(20)],
}


@pytest.mark.parametrize("name", sorted(_BEYOND))
def test_features_beyond_the_subset_are_left_to_h5py(name: str) -> None:
    raw = _h5(_BEYOND[name])
    try:
        plain = _plain_view(raw)
    except NotPlain:
        return
    _agree(plain, _h5py_view(raw))  # only what h5py's checked walk reads the same may be accepted


@pytest.mark.parametrize("kwargs", [{"libver": "latest"}, {"userblock_size": 512}, {"track_order": True}])
def test_other_file_layouts_are_left_to_h5py(kwargs: dict[str, Any]) -> None:
    raw = _h5(lambda f: f.create_dataset("layers/dense/vars/0", data=np.ones(3, "float32")), **kwargs)
    with pytest.raises(NotPlain):  # the caller reads them with h5py and check_h5
        read_plain(raw)


def test_zip_tail_and_deep_nesting_are_left_to_h5py(tmp_path: Path) -> None:
    from netform.saving._safety import MAX_H5_DEPTH

    raw = _h5(lambda f: None)
    tail = io.BytesIO()
    with zipfile.ZipFile(tail, "w") as zf:
        zf.writestr("a", "b")
    with pytest.raises(NotPlain, match="zip"):
        read_plain(raw + tail.getvalue())
    deep = _h5(lambda f: f.create_group("/".join(["g"] * (MAX_H5_DEPTH + 1))))
    with pytest.raises(NotPlain, match="depth"):
        read_plain(deep)


def test_plain_file_answers_what_the_checks_ask(tmp_path: Path) -> None:
    raw = _trained(tmp_path)
    plain = read_plain(raw)
    assert "layers" in plain and "model_weights" not in plain and "model_config" not in plain.attrs
    assert plain.get("layers/dense/vars").attrs["name"] == "dense"
    assert plain.get("nothing/here") is None
    assert sorted(plain.keys_under("optimizer/vars")) == sorted(
        name.rsplit("/", 1)[1] for name in plain.datasets if name.startswith("optimizer/vars/")
    )


def _metadata_ranges(raw: bytes) -> list[int]:
    """Offsets of the file's bytes outside its datasets' values (the structure a corruption would hit)."""
    data = [d.data for d in read_plain(raw).datasets.values() if d.data is not None]
    inside = bytearray(len(raw))
    for offset, size in data:
        inside[offset : offset + size] = b"\1" * size
    return [i for i, flag in enumerate(inside) if not flag]


def _mutants(raw: bytes, n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    places = _metadata_ranges(raw)
    out = []
    for _ in range(n):
        buf = bytearray(raw)
        for _ in range(rng.choice((1, 1, 2, 4))):
            at = rng.choice(places)
            buf[at] = rng.choice((0, 1, 0xFF, buf[at] ^ (1 << rng.randrange(8)), rng.randrange(256)))
        if rng.random() < 0.05:
            del buf[rng.randrange(len(buf)) :]
        out.append(bytes(buf))
    return out


_CHILD = (
    "import sys, pickle\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from test_h5_plain import _h5py_view\n"
    "items = pickle.load(sys.stdin.buffer)\n"
    "for i, raw in enumerate(items):\n"
    "    try:\n        out = ('ok', _h5py_view(raw))\n"
    "    except Exception as err:\n        out = ('refused', f'{type(err).__name__}: {err}')\n"
    "    sys.stdout.buffer.write(pickle.dumps((i, out)).hex().encode() + b'\\n')\n"
    "    sys.stdout.flush()\n"
)


def _h5py_verdicts(items: list[bytes], patience: float = 20.0) -> list[Any]:
    """h5py's view of each file, or ``("refused", error)``, or ``("hung", None)`` where HDF5 never returns.

    One child reads them in turn; a child that says nothing for ``patience``
    seconds is killed (HDF5 holds the interpreter, so no signal handler runs)
    and the next child starts after the file it hung on.
    """
    import pickle
    import threading

    verdicts: list[Any] = []
    while len(verdicts) < len(items):
        base = len(verdicts)
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(Path(__file__).parent)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(pickle.dumps(items[base:]))
        child.stdin.close()
        lines: list[bytes] = []
        got = threading.Event()

        def pump(stream: Any = child.stdout) -> None:
            for line in stream:
                lines.append(line)
                got.set()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        while reader.is_alive():
            got.clear()
            if not got.wait(patience) and reader.is_alive():
                child.kill()
                break
        reader.join()
        child.wait()
        for line in lines:
            verdicts.append(pickle.loads(bytes.fromhex(line.decode().strip()))[1])
        if len(verdicts) < len(items):
            verdicts.append(("hung", child.returncode))  # the next file: the child never answered for it
    return verdicts


def test_corrupted_structure_is_accepted_only_where_h5py_accepts_it(tmp_path: Path) -> None:
    raw = _trained(tmp_path)
    accepted = []
    refused = 0
    for mutant in _mutants(raw, 3000, seed=11):
        try:
            view = _plain_view(mutant)
        except NotPlain:
            refused += 1
            continue
        accepted.append((mutant, view))
    assert refused > 500 and len(accepted) > 500  # the structure was hit, and often read past
    verdicts = _h5py_verdicts([m for m, _ in accepted])
    for (mutant, view), verdict in zip(accepted, verdicts):
        assert verdict[0] == "ok", verdict
        _agree(view, verdict[1])


def _looping_heap(raw: bytes) -> bytes:
    """``raw`` with the free space of its global heap shortened to 16 bytes: zeros follow, HDF5's decoder stops moving."""
    at = raw.index(b"GCOL\x01\x00\x00\x00")
    end = at + int.from_bytes(raw[at + 8 : at + 16], "little")
    p = at + 16
    while True:
        idx, n = int.from_bytes(raw[p : p + 2], "little"), int.from_bytes(raw[p + 8 : p + 16], "little")
        if idx == 0:
            break
        p += 16 + ((n + 7) & ~7)
    assert p + 32 < end and raw[p + 16 : end] == bytes(end - p - 16)
    return raw[: p + 8] + (16).to_bytes(8, "little") + raw[p + 16 :]


def test_a_global_heap_hdf5_decodes_forever_is_refused_before_h5py_reads_it(tmp_path: Path) -> None:
    from netform.errors import UnsafeFileError
    from netform.saving._safety import check_h5

    hostile = _looping_heap(_trained(tmp_path))
    with pytest.raises(NotPlain, match="forever"):
        read_plain(hostile)
    with h5py.File(io.BytesIO(hostile), "r") as f, pytest.raises(UnsafeFileError, match="decodes forever"):
        check_h5(f, "w.h5", file_size=len(hostile))


def test_every_reader_refuses_a_looping_heap_without_hanging(tmp_path: Path) -> None:
    import netform as nf

    x = keras.Input((3,), name="x")
    model = keras.Model(x, L.Dense(2, name="d")(x), name="small")
    model.compile(optimizer="adam", loss="mse")
    good = tmp_path / "good.keras"
    nf.save(model, good)
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, _looping_heap(data) if info.filename == "model.weights.h5" else data)
    h5 = tmp_path / "bad.weights.h5"
    with zipfile.ZipFile(bad) as zf:
        h5.write_bytes(zf.read("model.weights.h5"))
    for argv in (["inspect", str(bad)], ["export-spec", str(bad)], ["summary", str(bad)], ["inspect", str(h5)]):
        done = subprocess.run(
            [sys.executable, "-m", "netform.cli._main", *argv], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 6, (argv, done.stdout[-500:], done.stderr[-1500:])
        assert "decodes forever" in done.stderr, done.stderr[-1500:]
    with pytest.raises(nf.UnsafeFileError, match="decodes forever"):
        nf.load_weights(model, h5)


def test_commands_read_plain_weights_without_h5py_or_numpy(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    import netform as nf

    nf.save(_models()["seq"], path)
    code = (
        "import sys\n"
        "from netform.cli._main import main\n"
        "for argv in (['inspect', sys.argv[1]], ['export-spec', sys.argv[1]], ['summary', sys.argv[1]]):\n"
        "    assert main(argv) == 0, argv\n"
        "bad = sorted(m for m in ('h5py', 'numpy', 'tensorflow', 'keras') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
