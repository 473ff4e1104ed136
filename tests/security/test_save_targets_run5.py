"""A save replaces only what an earlier save wrote: user data hidden in look-alike files is refused.

Each case plants a user's data where a save of the same format would put
files of the same name (an extra member or dataset in a ``.keras`` archive,
bytes after its end, a shard or fingerprint in a SavedModel folder, a
``.nf-old`` copy, a text file carrying the TFLite identifier), saves over
it, and checks that the save is refused with a SaveError naming the
intruder and that every byte of the user's data is still there. Real
earlier saves are still replaced.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile

import numpy as np
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import SaveError

SPEC = ("netform: 1\nname: tiny\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers:\n"
        "  - {type: Dense, units: 3}\n")
USER = b"USER DATA: my notes, not a model"


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("spec") / "s.yaml"
    path.write_text(SPEC)
    return str(path)


@pytest.fixture(scope="module")
def model(spec_path: str):
    return nf.build(nf.load_spec(spec_path))


@pytest.fixture(scope="module")
def saved_model_dir(model, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("sm") / "sm")
    nf.save(model, path, format="savedmodel")
    return path


@pytest.fixture(scope="module")
def keras_bytes(model, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    path = tmp_path_factory.mktemp("k") / "good.keras"
    nf.save(model, str(path))
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _archive(path, members: dict[str, bytes], comment: bytes = b"") -> bytes:
    with zipfile.ZipFile(path, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
        out.comment = comment
    return path.read_bytes()


# --- F3, F6: a file that only carries the TFLite identifier -----------------------------------------------------

FAKE_TFLITE = b"\x1c\x00\x00\x00TFL3 my notes, not a model" + b"\0" * 100


def test_tflite_lookalike_text_is_not_replaced(tmp_path, model) -> None:
    target = tmp_path / "u.tflite"
    target.write_bytes(FAKE_TFLITE)
    with pytest.raises(SaveError, match=r"u\.tflite.*no TFLite model"):
        nf.save(model, str(target))
    assert target.read_bytes() == FAKE_TFLITE


def test_tflite_structure_check_accepts_only_a_model() -> None:
    from netform.saving._tflite import tflite_problem

    rng = np.random.default_rng(5)
    for _ in range(200):
        junk = b"\x1c\x00\x00\x00TFL3" + rng.bytes(200)
        assert tflite_problem(junk) is not None
    assert tflite_problem(FAKE_TFLITE) is not None
    assert tflite_problem(b"TFL3") is not None


def test_inspect_of_junk_with_tflite_identifier_is_a_format_error(tmp_path, capsys) -> None:
    lie = tmp_path / "lie.tflite"
    lie.write_bytes(b"\x1c\x00\x00\x00TFL3" + np.random.default_rng(6).bytes(200))
    code = main(["inspect", str(lie)])
    err = capsys.readouterr().err
    assert code == 5, err
    assert "lie.tflite" in err and "unexpected" not in err


# --- F2: SavedModel folders --------------------------------------------------------------------------------------

@pytest.mark.parametrize("planted", ["variables/variables.data-00001-of-00002", "fingerprint.pb",
                                     "saved_model.pbtxt", "saved_model.pb", "variables/variables.index"])
def test_savedmodel_lookalike_user_files_are_not_replaced(tmp_path, model, saved_model_dir, planted) -> None:
    target = tmp_path / "sm"
    shutil.copytree(saved_model_dir, target)
    (target / planted).write_bytes(USER)
    with pytest.raises(SaveError, match=planted.replace(".", r"\.")):
        nf.save(model, str(target), format="savedmodel")
    assert (target / planted).read_bytes() == USER


def test_savedmodel_earlier_save_is_replaced(tmp_path, model, saved_model_dir) -> None:
    from netform.saving._target import check_target, index_shards

    target = tmp_path / "sm"
    shutil.copytree(saved_model_dir, target)
    assert index_shards(str(target / "variables" / "variables.index")) == 1
    check_target(str(target), "savedmodel")  # what TensorFlow wrote passes every rule


def test_a_users_nf_old_copy_is_never_deleted(tmp_path, model, saved_model_dir) -> None:
    target = tmp_path / "sm"
    shutil.copytree(saved_model_dir, target)
    copy = tmp_path / "sm.nf-old"
    shutil.copytree(saved_model_dir, copy)
    before = {p: (copy / p).read_bytes() for p in ("saved_model.pb", "variables/variables.index")}
    nf.save(model, str(target), format="savedmodel")
    assert {p: (copy / p).read_bytes() for p in before} == before
    assert nf.saving.detect_format(str(target)) == "savedmodel"
    assert sorted(os.listdir(tmp_path)) == ["sm", "sm.nf-old"]  # the swap's own parking name is gone


def test_a_foreign_nf_old_folder_is_not_recovered_into_a_save(tmp_path, model) -> None:
    parked = tmp_path / "sm.nf-old"
    parked.mkdir()
    (parked / "thesis.tex").write_bytes(USER)
    nf.save(model, str(tmp_path / "sm"), format="savedmodel")  # the folder beside it is not the save's business
    assert (parked / "thesis.tex").read_bytes() == USER
    assert sorted(os.listdir(tmp_path)) == ["sm", "sm.nf-old"]


# --- F1: .keras archives holding a user's data ------------------------------------------------------------------

def _with_user_data(tmp_path, keras_bytes: dict[str, bytes], kind: str) -> bytes:
    import h5py

    path = tmp_path / "m.keras"
    members = dict(keras_bytes)
    if kind == "asset":
        members["assets/notes.txt"] = USER
        return _archive(path, members)
    if kind == "vocabulary":  # the name Keras gives a lookup's vocabulary, in a model that has no lookup
        members["assets/layers/string_lookup/vocabulary.txt"] = USER
        return _archive(path, members)
    if kind == "h5_dataset":
        image = io.BytesIO(members["model.weights.h5"])
        with h5py.File(image, "a") as f:
            f.create_dataset("userdata", data=np.arange(10))
        members["model.weights.h5"] = image.getvalue()
        return _archive(path, members)
    if kind == "comment":
        return _archive(path, members, comment=USER)
    if kind == "metadata":
        members["metadata.json"] = USER
        return _archive(path, members)
    if kind == "under_entry":  # a member whose first folder has a Keras entry's name
        members["netform.json/notes.txt"] = USER
        return _archive(path, members)
    data = _archive(path, members)
    if kind == "trailer":
        data += USER
    elif kind == "prefix":
        data = USER + data
    path.write_bytes(data)
    return data


KINDS = ["asset", "vocabulary", "h5_dataset", "trailer", "comment", "prefix", "metadata", "under_entry"]


@pytest.mark.parametrize("kind", KINDS)
def test_keras_archive_with_user_data_is_not_replaced_by_nf_save(tmp_path, model, keras_bytes, kind) -> None:
    before = _with_user_data(tmp_path, keras_bytes, kind)
    with pytest.raises(SaveError, match=r"m\.keras: is .*not a \.keras archive netform would replace"):
        nf.save(model, str(tmp_path / "m.keras"))
    assert (tmp_path / "m.keras").read_bytes() == before


@pytest.mark.parametrize("kind", ["asset", "h5_dataset", "trailer", "comment"])
def test_keras_archive_with_user_data_is_not_replaced_by_model_save(tmp_path, model, keras_bytes, kind) -> None:
    """Keras's own API on a netform model (what ModelCheckpoint calls) refuses the same."""
    before = _with_user_data(tmp_path, keras_bytes, kind)
    with pytest.raises(SaveError, match=r"m\.keras"):
        model.save(str(tmp_path / "m.keras"))
    assert (tmp_path / "m.keras").read_bytes() == before


@pytest.mark.parametrize("kind", ["asset", "trailer"])
def test_keras_archive_with_user_data_is_not_replaced_by_cli_build(tmp_path, keras_bytes, spec_path, kind,
                                                                   capsys) -> None:
    before = _with_user_data(tmp_path, keras_bytes, kind)
    code = main(["build", spec_path, "-o", str(tmp_path / "m.keras")])
    assert code == 5, capsys.readouterr().err
    assert (tmp_path / "m.keras").read_bytes() == before


def test_earlier_keras_saves_are_still_replaced(tmp_path, model) -> None:
    import keras

    target = tmp_path / "m.keras"
    nf.save(model, str(target))
    nf.save(model, str(target))
    model.save(str(target))  # Keras's own writer
    nf.save(model, str(target))
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    plain.compile("adam", "mse")
    plain.fit(np.ones((4, 4)), np.ones((4, 3)), verbose=0)  # optimizer variables in the weights too
    plain.save(str(target))
    nf.save(model, str(target))
    assert nf.saving.detect_format(str(target)) == "keras"


def test_lookup_vocabularies_keras_writes_are_replaced(tmp_path) -> None:
    """A model whose lookup layers write assets/…/vocabulary.txt is an earlier save, as Keras wrote it."""
    import keras

    from netform.saving._target import check_target

    lookup = keras.layers.StringLookup()
    lookup.adapt(np.array(["a", "b", "c"]))
    vectorize = keras.layers.TextVectorization()
    vectorize.adapt(np.array(["hello world", "foo"]))
    inner = keras.Sequential([keras.Input((1,), dtype="int64"), keras.layers.IntegerLookup(vocabulary=None)])
    inner.layers[0].adapt(np.array([1, 2, 3]))
    text = keras.Input((1,), dtype="string")
    numbers = keras.Input((1,), dtype="int64")
    both = keras.Model([text, numbers], [lookup(text), vectorize(text), inner(numbers)])
    target = tmp_path / "lookup.keras"
    both.save(str(target))
    with zipfile.ZipFile(target) as archive:
        vocabularies = [n for n in archive.namelist() if n.startswith("assets/")]
    assert len(vocabularies) == 4, vocabularies
    check_target(str(target), "keras")
    members = {}
    with zipfile.ZipFile(target) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members["assets/layers/string_lookup/notes.txt"] = USER
    _archive(target, members)
    with pytest.raises(SaveError, match=r"assets/layers/string_lookup/notes\.txt"):
        check_target(str(target), "keras")


@pytest.mark.parametrize("planted", ["assets/notes.txt", "metadata.json"])
def test_unzipped_keras_directory_with_user_files_is_not_replaced(tmp_path, model, planted) -> None:
    target = tmp_path / "m_dir"
    nf.save(model, str(target), zipped=False)
    nf.save(model, str(target), zipped=False)  # an earlier save is replaced
    (target / planted).parent.mkdir(exist_ok=True)
    (target / planted).write_bytes(USER)
    with pytest.raises(SaveError, match=planted.replace(".", r"\.")):
        nf.save(model, str(target), zipped=False)
    assert (target / planted).read_bytes() == USER


def test_checkpoint_shard_its_index_does_not_name_is_not_replaced(tmp_path, model) -> None:
    prefix = tmp_path / "ckpt"
    nf.save_weights(model, str(prefix), format="tf_checkpoint")
    nf.save_weights(model, str(prefix), format="tf_checkpoint")  # an earlier checkpoint is replaced
    planted = tmp_path / "ckpt.data-00002-of-00003"
    planted.write_bytes(USER)
    with pytest.raises(SaveError, match=r"ckpt\.data-00002-of-00003.*does not name"):
        nf.save_weights(model, str(prefix), format="tf_checkpoint")
    assert planted.read_bytes() == USER


def test_a_tf_keras_savedmodel_passes_and_its_metadata_is_checked(tmp_path) -> None:
    """TensorFlow's files written by tf_keras (Keras 2) pass each rule; user text under their names does not."""
    from netform.saving._target import check_target

    fixture = os.path.join(os.path.dirname(__file__), os.pardir, "saving", "fixtures", "k2_savedmodel")
    target = tmp_path / "k2"
    shutil.copytree(fixture, target)
    check_target(str(target), "savedmodel")
    (target / "keras_metadata.pb").write_bytes(USER)
    with pytest.raises(SaveError, match=r"keras_metadata\.pb \(not what TensorFlow writes there\)"):
        check_target(str(target), "savedmodel")


def test_a_swap_cut_short_is_recovered_from_its_own_parking_name(tmp_path) -> None:
    from netform import _files

    target = tmp_path / "d"
    target.mkdir()
    (target / "x").write_text("old save")
    users = tmp_path / "d.nf-old"
    users.mkdir()
    (users / "mine.txt").write_bytes(USER)
    parked = _files._park(str(target))  # as if killed between the swap's two renames
    assert parked != str(users)
    assert _files.recover(target)
    assert (target / "x").read_text() == "old save"
    assert (users / "mine.txt").read_bytes() == USER
    assert sorted(os.listdir(tmp_path)) == ["d", "d.nf-old"]
