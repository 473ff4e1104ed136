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


def _h5py_verdict(raw: bytes) -> Any:
    """h5py's view of a file, or the name of the error it raises, in a child process (HDF5 may crash)."""
    code = (
        "import sys, io, pickle\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_h5_plain import _h5py_view\n"
        "raw = sys.stdin.buffer.read()\n"
        "try:\n    out = ('ok', _h5py_view(raw))\n"
        "except Exception as err:\n    out = ('refused', type(err).__name__)\n"
        "sys.stdout.buffer.write(pickle.dumps(out))\n"
    )
    import pickle

    done = subprocess.run([sys.executable, "-c", code], input=raw, capture_output=True, timeout=120, check=False)
    return pickle.loads(done.stdout) if done.returncode == 0 else ("crashed", done.returncode)


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
    # h5py in one child for every accepted copy: it must accept each with the same view
    code = (
        "import sys, pickle\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_h5_plain import _h5py_view\n"
        "items = pickle.load(sys.stdin.buffer)\n"
        "out = []\n"
        "for raw in items:\n"
        "    try:\n        out.append(('ok', _h5py_view(raw)))\n"
        "    except Exception as err:\n        out.append(('refused', f'{type(err).__name__}: {err}'))\n"
        "pickle.dump(out, sys.stdout.buffer)\n"
    )
    import pickle

    done = subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps([m for m, _ in accepted]),
        capture_output=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:  # HDF5 crashed on one: find it, one child each
        verdicts = [_h5py_verdict(m) for m, _ in accepted]
    else:
        verdicts = pickle.loads(done.stdout)
    for (mutant, view), verdict in zip(accepted, verdicts):
        assert verdict[0] == "ok", verdict
        _agree(view, verdict[1])


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
