"""A callback path written as a ``file://`` URL is refused whatever the flags: it is the local disk.

netform took ``file://`` for a remote file system, so ``--allow-network`` alone let a spec's ``CSVLogger`` at
``file:///elsewhere/a.csv`` truncate and rewrite a user's file outside ``--out-dir`` (the check that a
CSVLogger replaces only its own logs was skipped too, as for a remote path).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netform.cli._main import main
from netform.engine._config import resolve_callbacks
from netform.errors import EngineError

SPEC = """\
netform: 1
name: m
kind: sequential
inputs:
  pixels: {shape: [4]}
layers:
  - {type: Dense, units: 2}
training:
  loss: mse
  callbacks:
    - {type: CALLBACK, ARG: "URL"}
"""


@pytest.mark.parametrize(
    ("callback", "arg"), [("CSVLogger", "filename"), ("BackupAndRestore", "backup_dir"), ("TensorBoard", "log_dir")]
)
@pytest.mark.parametrize("scheme", ["file://", "FILE://"])
@pytest.mark.parametrize("flags", [["--allow-network"], ["--allow-paths"], ["--allow-network", "--allow-paths"]])
def test_a_file_url_is_refused_with_any_flag(
    tmp_path: Path, callback: str, arg: str, scheme: str, flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "elsewhere" / "a.csv"
    victim.parent.mkdir()
    victim.write_text("my thesis line 1\n")
    spec = tmp_path / "s.yaml"
    url = f"{scheme}{victim if arg == 'filename' else victim.parent}"
    spec.write_text(SPEC.replace("CALLBACK", callback).replace("ARG", arg).replace("URL", url))
    (tmp_path / "out").mkdir()
    assert main(["validate", str(spec), "--out-dir", str(tmp_path / "out"), *flags]) == 1
    assert "file://" in capsys.readouterr().err
    assert victim.read_text() == "my thesis line 1\n"


def test_resolve_callbacks_refuses_a_file_url(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="file://"):
        resolve_callbacks(
            [{"type": "CSVLogger", "filename": f"file://{tmp_path}/a.csv"}],
            out_dir=tmp_path,
            allow_paths=True,
            allow_network=True,
        )
