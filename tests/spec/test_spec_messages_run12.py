"""A spec whose whole text is one word says whether that word names a file."""

from __future__ import annotations

from pathlib import Path

import pytest

import netform as nf
from netform.errors import SpecError


def test_a_spec_holding_the_path_of_a_file_says_to_give_that_path(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("netform: 1\nname: m\nlayers: []\n")
    pointer = tmp_path / "pointer.yaml"
    pointer.write_text(f"{real}\n")
    with pytest.raises(SpecError, match=r"it holds only the path of the file '.*real\.yaml': give that path itself"):
        nf.load_spec(pointer)


def test_a_spec_holding_a_word_that_names_no_file_says_so(tmp_path: Path) -> None:
    pointer = tmp_path / "pointer.yaml"
    pointer.write_text("no_such_model.yaml\n")
    with pytest.raises(SpecError, match=r"'no_such_model\.yaml' is no file either: looked in "):
        nf.load_spec(pointer)
